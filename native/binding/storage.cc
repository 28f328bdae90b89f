#include "binding/storage.h"

#include <cstring>
#include <mutex>
#include <unordered_map>

#include "binding/gc_freed_buffer.h"
#include "core/allocator.h"
#include "core/error.h"

namespace tensorjit {
namespace binding {
namespace {

// Lives until both its JS buffer is collected and native code has unpinned it (the two
// can happen in either order, e.g. during environment teardown). The collection may run
// the buffer's deleter on a V8 background thread: every change after creation holds gMu.
struct Storage {
  void* data;
  size_t bytes;
  bool released = false;
  int pins = 0;
  bool freeRequested = false;
  bool jsAlive = true;
  bool parked = false;  // kept by JS for reuse (lib/storage.ts), counted as cached
};

// data pointer -> storage, so dispose() can find the block behind a buffer.
std::mutex gMu;
std::unordered_map<void*, Storage*>& liveStorages() {
  static auto* m = new std::unordered_map<void*, Storage*>();
  return *m;
}

// Under gMu: the storage of a buffer JS passed in (live, so its deleter cannot run meanwhile).
Storage* findStorage(void* data) {
  auto it = data ? liveStorages().find(data) : liveStorages().end();
  return it == liveStorages().end() ? nullptr : it->second;
}

void releaseOnce(Storage* s) {
  if (s->released) return;
  s->released = true;
  if (s->parked) noteUnparked(s->bytes);
  s->parked = false;
  releaseBytes(s->data, s->bytes);
}

// The buffer's deleter: runs when V8 frees its backing store (collected, detached by
// freeStorage, or the isolate torn down), possibly off the JS thread.
void onBufferFreed(void*, size_t, void* hint) {
  auto* st = static_cast<Storage*>(hint);
  std::lock_guard<std::mutex> lk(gMu);
  auto it = liveStorages().find(st->data);
  if (it != liveStorages().end() && it->second == st) liveStorages().erase(it);
  st->jsAlive = false;
  if (st->pins > 0) return;  // the last unpin releases and deletes
  releaseOnce(st);
  delete st;
}

}  // namespace

Napi::ArrayBuffer allocStorage(Napi::Env env, size_t bytes, bool zeroFill) {
  if (bytes == 0) return Napi::ArrayBuffer::New(env, 0);
  void* data = allocateBytes(bytes);
  if (zeroFill) std::memset(data, 0, bytes);
  return adoptStorage(env, data, bytes);
}

Napi::ArrayBuffer adoptStorage(Napi::Env env, void* data, size_t bytes) {
  if (bytes == 0) {
    releaseBytes(data, 0);
    return Napi::ArrayBuffer::New(env, 0);
  }
  auto* s = new Storage{data, bytes};
  {
    std::lock_guard<std::mutex> lk(gMu);
    liveStorages()[data] = s;
  }
  return newGcFreedArrayBuffer(env, data, bytes, onBufferFreed, s);
}

void freeStorage(Napi::ArrayBuffer buffer) {
  void* data = buffer.Data();
  if (!data) return;
  {
    std::lock_guard<std::mutex> lk(gMu);
    auto it = liveStorages().find(data);
    if (it == liveStorages().end()) return;
    Storage* s = it->second;
    liveStorages().erase(it);
    if (s->pins > 0) s->freeRequested = true;  // native code still uses it: release at the last unpin
    else releaseOnce(s);
  }
  // No JS view can touch the block from here on. Detaching drops V8's reference to the
  // backing store, which runs onBufferFreed (so not under gMu), now or later.
  buffer.Detach();
}

void* pinStorage(Napi::ArrayBuffer buffer) {
  std::lock_guard<std::mutex> lk(gMu);
  Storage* s = findStorage(buffer.Data());
  if (s) ++s->pins;
  return s;
}

bool parkStorage(Napi::ArrayBuffer buffer) {
  std::lock_guard<std::mutex> lk(gMu);
  Storage* s = findStorage(buffer.Data());
  if (!s || s->parked || s->pins > 0) return false;
  s->parked = true;
  noteParked(s->bytes);
  return true;
}

void unparkStorage(Napi::ArrayBuffer buffer, bool zeroFill) {
  Storage* s = nullptr;
  {
    std::lock_guard<std::mutex> lk(gMu);
    s = findStorage(buffer.Data());
    if (!s || !s->parked) throwRangeError("unpark: the buffer is not parked");
    s->parked = false;
    noteUnparked(s->bytes);
  }
  if (zeroFill) std::memset(s->data, 0, s->bytes);
}

void unpinStorage(void* token) {
  if (!token) return;
  auto* s = static_cast<Storage*>(token);
  std::lock_guard<std::mutex> lk(gMu);
  if (--s->pins > 0) return;
  if (s->freeRequested || !s->jsAlive) releaseOnce(s);
  if (!s->jsAlive) delete s;
}

size_t liveStorageCount() {
  std::lock_guard<std::mutex> lk(gMu);
  size_t n = 0;
  for (const auto& entry : liveStorages()) n += entry.second->parked ? 0 : 1;
  return n;
}

}  // namespace binding
}  // namespace tensorjit
