#include "binding/gc_freed_buffer.h"

#include <v8.h>

#include <memory>

namespace tensorjit {
namespace binding {
namespace {

// This file's one dependency on Node internals: a napi_value is a V8 local handle
// (v8impl::JsValueFromV8LocalValue casts one to the other in every Node release).
napi_value toNapiValue(v8::Local<v8::Value> value) { return reinterpret_cast<napi_value>(*value); }

// V8 runs a young-generation collection when the backing stores of young ArrayBuffers add up
// to twice the semi-space, but it checks only when it allocates a backing store itself
// (Heap::AllocateExternalBackingStore); ours wrap allocator blocks and skip that check. So
// every MiB of buffers made here, V8 is asked for a 1-byte backing store, which runs the
// check: dropped tensors are collected by scavenges as they add up, instead of piling up
// until a full mark-compact (200 dropped 4 MiB results beside a 690 MB heap: 1.4 s and
// 980 MiB live without it). Counted per thread: each worker_thread has its own isolate.
constexpr size_t kBytesBetweenChecks = size_t(1) << 20;
thread_local size_t bytesSinceCheck = 0;

void letV8CheckExternalMemory(v8::Isolate* isolate, size_t bytes) {
  bytesSinceCheck += bytes;
  if (bytesSinceCheck < kBytesBetweenChecks) return;
  bytesSinceCheck = 0;
  std::unique_ptr<v8::BackingStore> probe = v8::ArrayBuffer::NewBackingStore(isolate, 1);
}

}  // namespace

Napi::ArrayBuffer newGcFreedArrayBuffer(Napi::Env env, void* data, size_t bytes, GcBufferDeleter deleter, void* hint) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  letV8CheckExternalMemory(isolate, bytes);
  // Node-API callbacks run inside a handle scope, which keeps `buffer` valid on return.
  std::unique_ptr<v8::BackingStore> store = v8::ArrayBuffer::NewBackingStore(data, bytes, deleter, hint);
  v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate, std::move(store));
  return Napi::ArrayBuffer(env, toNapiValue(buffer));
}

}  // namespace binding
}  // namespace tensorjit
