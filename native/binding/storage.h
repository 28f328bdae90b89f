// Tensor storage handed to JS as ArrayBuffers over allocator blocks, freed by the GC
// that collects them (gc_freed_buffer.h) or by an explicit dispose.
#pragma once
#include <napi.h>

namespace tensorjit {
namespace binding {

// A new zero-filled ArrayBuffer of `bytes` backed by the caching allocator; the block
// goes back to the allocator when the buffer is garbage-collected or freed.
Napi::ArrayBuffer allocStorage(Napi::Env env, size_t bytes, bool zeroFill);
// Wraps a block already taken from the allocator (executable outputs) as storage.
Napi::ArrayBuffer adoptStorage(Napi::Env env, void* data, size_t bytes);
// Keeps a storage's block alive while native code uses it off the JS thread (runAsync)
// or holds it (executable constants): a dispose() in between is deferred to unpin.
// Returns an opaque token (nullptr for memory not made by allocStorage).
void* pinStorage(Napi::ArrayBuffer buffer);
void unpinStorage(void* token);
// Parking: JS keeps a large freed buffer for reuse instead of creating a new external
// ArrayBuffer per tensor (each one of tens of MB makes V8 collect, see lib/storage.ts).
// park() refuses (false) while native code holds the storage; a parked block counts as cached.
bool parkStorage(Napi::ArrayBuffer buffer);
void unparkStorage(Napi::ArrayBuffer buffer, bool zeroFill);
// Explicit release (dispose): returns the block now and detaches the buffer.
// Buffers not made by allocStorage (wrapped user memory) are left alone.
void freeStorage(Napi::ArrayBuffer buffer);
// Storages JS holds that are neither freed, collected nor parked: the data buffers of
// live tensors (views share one).
size_t liveStorageCount();

}  // namespace binding
}  // namespace tensorjit
