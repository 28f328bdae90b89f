// Tensor storage handed to JS as external ArrayBuffers over allocator blocks.
#pragma once
#include <napi.h>

namespace tensorjit {
namespace binding {

// A new zero-filled ArrayBuffer of `bytes` backed by the caching allocator; the block
// goes back to the allocator when the buffer is garbage-collected or freed.
Napi::ArrayBuffer allocStorage(Napi::Env env, size_t bytes, bool zeroFill);
// Explicit release (dispose): returns the block now and detaches the buffer.
// Buffers not made by allocStorage (wrapped user memory) are left alone.
void freeStorage(Napi::ArrayBuffer buffer);

}  // namespace binding
}  // namespace tensorjit
