// A non-owning, strided view of tensor memory: what every kernel receives.
// Strides are in elements; `data` already points at the view's first element.
#pragma once
#include <cstdint>
#include <string>

#include "core/dtype.h"

namespace tensorjit {

constexpr int kMaxDims = 8;

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::Float32;
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
  int64_t size(int d) const { return shape[d < 0 ? d + ndim : d]; }
  int64_t stride(int d) const { return strides[d < 0 ? d + ndim : d]; }

  // Row-major contiguous (size-1 dims may carry any stride).
  bool isContiguous() const {
    int64_t expected = 1;
    for (int i = ndim - 1; i >= 0; --i) {
      if (shape[i] != 1 && strides[i] != expected) return false;
      expected *= shape[i];
    }
    return true;
  }

  template <class T>
  T* ptr() const { return static_cast<T*>(data); }

  std::string shapeString() const {
    std::string s = "[";
    for (int i = 0; i < ndim; ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
  }
};

// Contiguous view over `data` with the given shape.
inline TensorView contiguousView(void* data, DType dtype, int ndim, const int64_t* shape) {
  TensorView v;
  v.data = data;
  v.dtype = dtype;
  v.ndim = ndim;
  int64_t s = 1;
  for (int i = ndim - 1; i >= 0; --i) {
    v.shape[i] = shape[i];
    v.strides[i] = s;
    s *= shape[i];
  }
  return v;
}

}  // namespace tensorjit
