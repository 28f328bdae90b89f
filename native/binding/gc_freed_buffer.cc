#include "binding/gc_freed_buffer.h"

#include <v8.h>

#include <atomic>
#include <memory>

namespace tensorjit {
namespace binding {
namespace {

// This file's one dependency on Node internals: a napi_value is a V8 local handle
// (v8impl::JsValueFromV8LocalValue casts one to the other in every Node release).
napi_value toNapiValue(v8::Local<v8::Value> value) { return reinterpret_cast<napi_value>(*value); }

}  // namespace

// One isolate per JS thread (the main thread, each worker_thread).
const ExternalLedger& externalLedger() {
  thread_local const ExternalLedger ledger = std::make_shared<std::atomic<int64_t>>(0);
  return ledger;
}

Napi::ArrayBuffer newGcFreedArrayBuffer(Napi::Env env, void* data, size_t bytes, GcBufferDeleter deleter, void* hint) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  // Node-API callbacks run inside a handle scope, which keeps `buffer` valid on return.
  std::unique_ptr<v8::BackingStore> store = v8::ArrayBuffer::NewBackingStore(data, bytes, deleter, hint);
  v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate, std::move(store));
  isolate->AdjustAmountOfExternalAllocatedMemory(static_cast<int64_t>(bytes) - externalLedger()->exchange(0, std::memory_order_relaxed));
  return Napi::ArrayBuffer(env, toNapiValue(buffer));
}

}  // namespace binding
}  // namespace tensorjit
