#include "binding/gc_freed_buffer.h"

#include <v8.h>

#include <memory>

namespace tensorjit {
namespace binding {
namespace {

// This file's one dependency on Node internals: a napi_value is a V8 local handle
// (v8impl::JsValueFromV8LocalValue casts one to the other in every Node release).
napi_value toNapiValue(v8::Local<v8::Value> value) { return reinterpret_cast<napi_value>(*value); }

}  // namespace

Napi::ArrayBuffer newGcFreedArrayBuffer(Napi::Env env, void* data, size_t bytes, GcBufferDeleter deleter, void* hint) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  // Node-API callbacks run inside a handle scope, which keeps `buffer` valid on return.
  std::unique_ptr<v8::BackingStore> store = v8::ArrayBuffer::NewBackingStore(data, bytes, deleter, hint);
  v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate, std::move(store));
  return Napi::ArrayBuffer(env, toNapiValue(buffer));
}

}  // namespace binding
}  // namespace tensorjit
