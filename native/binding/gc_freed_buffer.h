// ArrayBuffers over native memory whose deleter runs in the garbage collection that
// finds them dead, not on a later turn of the event loop.
//
// Why not napi_create_external_arraybuffer: Node runs that buffer's finalizer from
// SetImmediate, so the memory of tensors dropped inside one synchronous stretch of JS
// stays allocated whatever the GC does (40 dropped 64 MiB results of one loop held
// 2.7 GB). A V8 backing store with its own deleter is released by the collection itself,
// and V8 counts its bytes like any ArrayBuffer's, so dropping large buffers makes it collect.
#pragma once
#include <napi.h>

#include <cstddef>

namespace tensorjit {
namespace binding {

// Runs once, on any thread (V8 may free backing stores on a background thread), when
// the buffer is collected or detached, or its isolate is torn down. Must not touch JS.
using GcBufferDeleter = void (*)(void* data, size_t bytes, void* hint);

// A JS ArrayBuffer over `data` (bytes > 0); `deleter(data, bytes, hint)` runs as above.
Napi::ArrayBuffer newGcFreedArrayBuffer(Napi::Env env, void* data, size_t bytes, GcBufferDeleter deleter, void* hint);

}  // namespace binding
}  // namespace tensorjit
