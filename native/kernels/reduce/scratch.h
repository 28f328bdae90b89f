// Temporary kernel memory from the caching allocator (no fresh page faults per call),
// and the copy of a strided view into it.
#pragma once
#include <cstddef>

#include "core/allocator.h"
#include "core/error.h"
#include "core/kernel.h"
#include "core/tensor_view.h"

namespace tensorjit {

class ScratchBuffer {
 public:
  ScratchBuffer() = default;
  explicit ScratchBuffer(size_t bytes) { reset(bytes); }
  ~ScratchBuffer() { release(); }
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;

  void reset(size_t bytes) {
    release();
    bytes_ = bytes ? bytes : 1;
    ptr_ = allocateBytes(bytes_);
  }
  template <class T>
  T* as() const { return static_cast<T*>(ptr_); }

 private:
  void release() {
    if (ptr_) releaseBytes(ptr_, bytes_);
    ptr_ = nullptr;
  }
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// A contiguous copy of x in `buf` (through the registered "copy" kernel, which is
// parallel); returns the view of the copy.
inline TensorView contiguousCopy(const TensorView& x, ScratchBuffer& buf) {
  buf.reset(static_cast<size_t>(x.numel()) * itemSize(x.dtype));
  TensorView c = contiguousView(buf.as<void>(), x.dtype, x.ndim, x.shape);
  static const KernelFn copy = KernelRegistry::instance().get("copy");
  if (!copy) throwRangeError("internal: the copy kernel is not registered");
  KernelArgs args{&x, 1, &c, 1, nullptr, 0};
  copy(args);
  return c;
}

}  // namespace tensorjit
