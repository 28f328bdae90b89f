// ArrayBuffers over native memory whose deleter runs in the garbage collection that
// finds them dead, not on a later turn of the event loop.
//
// Why not napi_create_external_arraybuffer: Node runs that buffer's finalizer from
// SetImmediate, so the memory of tensors dropped inside one synchronous stretch of JS
// stays allocated whatever the GC does (40 dropped 64 MiB results of one loop held
// 2.7 GB). A V8 backing store with its own deleter is released by the collection itself.
#pragma once
#include <napi.h>

#include <atomic>
#include <cstddef>
#include <memory>

namespace tensorjit {
namespace binding {

// Runs once, on any thread (V8 may free backing stores on a background thread), when
// the buffer is collected or its isolate is torn down. Must not touch JS.
using GcBufferDeleter = void (*)(void* data, size_t bytes, void* hint);

// Bytes of one isolate's buffers released but not yet reported to it (the isolate may
// only be told on its own thread). Shared with the buffers' owners, which may outlive it.
using ExternalLedger = std::shared_ptr<std::atomic<int64_t>>;

// A JS ArrayBuffer over `data`. Its bytes count as V8 external memory until released
// through the ledger of the calling thread's isolate (externalLedger()), so growth of
// dropped buffers makes V8 collect; what was released since the last call is reported here.
Napi::ArrayBuffer newGcFreedArrayBuffer(Napi::Env env, void* data, size_t bytes, GcBufferDeleter deleter, void* hint);
const ExternalLedger& externalLedger();
// Any thread: `bytes` of a buffer made above went back to the allocator.
inline void noteReleased(const ExternalLedger& ledger, size_t bytes) {
  ledger->fetch_add(static_cast<int64_t>(bytes), std::memory_order_relaxed);
}

}  // namespace binding
}  // namespace tensorjit
