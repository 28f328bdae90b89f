{
  "targets": [
    {
      "target_name": "tensorjit",
      "sources": ["<!@(node native/sources.js addon)"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        # a worker thread terminated while inside one of our calls (or with async work
        # in flight) cannot take a JS exception: node-addon-api then drops it instead of
        # rethrowing into std::terminate, which aborted the whole process
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O3", "-fvisibility=hidden", "-fno-math-errno", "-Wall", "-Wno-unused-function"],
      "cflags": ["-O3"],
      # nodelete: a worker thread that alone loaded the addon dlcloses it before its isolate
      # frees the tensors' buffers, whose deleters live in the addon (binding/storage.cc).
      "ldflags": ["-pthread", "-Wl,-z,nodelete"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "MACOSX_DEPLOYMENT_TARGET": "11.0"
      }
    }
  ]
}
