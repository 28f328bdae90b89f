// The loop behind gather, index_select/embedding and index_copy_.
//
// All three walk one loop space L with three operands laid over it:
//   - `dense`: the side addressed directly (gather's output, index_copy_'s source),
//   - `base`:  the indexed tensor with stride 0 along the indexed dim, so its pointer
//              tracks every other coordinate, and the position along the indexed dim
//              comes from idx * dimStride,
//   - `idx`:   the index values broadcast over L (stride 0 where they do not vary).
// When idx is constant along a row (index_select's inner dims) the row is one index
// check and, for unit strides, one memcpy.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/kernel.h"
#include "core/thread_pool.h"
#include "kernels/common/strided_loop.h"

namespace tensorjit {
namespace index_kernels {

constexpr int64_t kIndexGrain = 1 << 15;  // elements per thread before splitting pays

struct BadIndex {
  bool found = false;
  int64_t value = 0;
};

// Collapses dims [begin, end) of `v` into one (size = their product) when their strides
// chain; returns false when the layout does not allow it.
inline bool collapseDims(const TensorView& v, int begin, int end, int64_t* size, int64_t* stride) {
  int64_t n = 1;
  for (int d = begin; d < end; ++d) n *= v.shape[d];
  *size = n;
  *stride = 1;
  if (n == 0) return true;
  int64_t expected = -1;
  for (int d = end - 1; d >= begin; --d) {
    if (v.shape[d] == 1) continue;
    if (expected < 0) *stride = v.strides[d];
    else if (v.strides[d] != expected) return false;
    expected = v.strides[d] * v.shape[d];
  }
  return true;
}

// Checks operand counts and reads attrs[0] = dim (an integer in [0, kMaxDims)): graph
// programs are built outside this code and are not trusted.
inline int checkedDimAttr(const KernelArgs& a, const char* op, int numInputs, int numOutputs) {
  if (a.numInputs != numInputs || a.numOutputs != numOutputs)
    throwRangeError(std::string(op) + ": expected " + std::to_string(numInputs) + " inputs and " +
                    std::to_string(numOutputs) + " output, got " + std::to_string(a.numInputs) + " and " +
                    std::to_string(a.numOutputs));
  if (a.numAttrs < 1) throwRangeError(std::string(op) + ": missing the dim attribute");
  const double d = a.attr(0);
  if (!(d >= 0 && d < kMaxDims) || d != static_cast<double>(static_cast<int>(d)))
    throwRangeError(std::string(op) + ": dim attribute " + std::to_string(d) + " is out of range");
  return static_cast<int>(d);
}

// 0-d tensors act as 1-d of size 1 (torch's ensure_nonempty_dim).
inline TensorView atLeast1d(const TensorView& v) {
  if (v.ndim > 0) return v;
  TensorView r = v;
  r.ndim = 1;
  r.shape[0] = 1;
  r.strides[0] = 0;
  return r;
}

// A view of `shape`/`strides` over `data` (the loop's operand description).
inline TensorView operandView(void* data, DType dtype, int ndim, const int64_t* shape, const int64_t* strides) {
  TensorView v;
  v.data = data;
  v.dtype = dtype;
  v.ndim = ndim;
  for (int d = 0; d < ndim; ++d) {
    v.shape[d] = shape[d];
    v.strides[d] = strides[d];
  }
  return v;
}

template <class I>
inline int64_t indexAt(const char* p) {
  return static_cast<int64_t>(*reinterpret_cast<const I*>(p));
}

// gather: dense[i] = base[i + idx[i] * dimStride]. Bad indices are recorded, never read.
template <class T, class I>
void gatherRows(const StridedLoop<3>& loop, int64_t b, int64_t e, int64_t dimStride, int64_t dimSize, BadIndex& bad) {
  const int64_t so = loop.innerStride(0), sb = loop.innerStride(1), si = loop.innerStride(2);
  loop.forRange(b, e, [&](char* const* p, int64_t n) {
    if (bad.found) return;
    T* out = reinterpret_cast<T*>(p[0]);
    const T* base = reinterpret_cast<const T*>(p[1]);
    const I* idx = reinterpret_cast<const I*>(p[2]);
    if (si == 0) {
      const int64_t v = static_cast<int64_t>(idx[0]);
      if (v < 0 || v >= dimSize) {
        bad = {true, v};
        return;
      }
      const T* src = base + v * dimStride;
      if (so == 1 && sb == 1) {
        std::memcpy(out, src, static_cast<size_t>(n) * sizeof(T));
      } else {
        for (int64_t i = 0; i < n; ++i) out[i * so] = src[i * sb];
      }
      return;
    }
    for (int64_t i = 0; i < n; ++i) {
      const int64_t v = static_cast<int64_t>(idx[i * si]);
      if (v < 0 || v >= dimSize) {
        bad = {true, v};
        return;
      }
      out[i * so] = base[i * sb + v * dimStride];
    }
  });
}

// index_copy: base[i + idx[i] * dimStride] = dense[i]; indices were validated beforehand.
template <class T, class I>
void scatterRows(const StridedLoop<3>& loop, int64_t b, int64_t e, int64_t dimStride) {
  const int64_t ss = loop.innerStride(0), sb = loop.innerStride(1), si = loop.innerStride(2);
  loop.forRange(b, e, [&](char* const* p, int64_t n) {
    const T* src = reinterpret_cast<const T*>(p[0]);
    T* base = reinterpret_cast<T*>(p[1]);
    const I* idx = reinterpret_cast<const I*>(p[2]);
    if (si == 0) {
      T* dst = base + static_cast<int64_t>(idx[0]) * dimStride;
      if (ss == 1 && sb == 1) {
        std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(T));
      } else {
        for (int64_t i = 0; i < n; ++i) dst[i * sb] = src[i * ss];
      }
      return;
    }
    for (int64_t i = 0; i < n; ++i) base[i * sb + static_cast<int64_t>(idx[i * si]) * dimStride] = src[i * ss];
  });
}

// Calls f(T{}, I{}) with an element type of the data's size and the index type.
template <class F>
void withCopyTypes(DType data, DType index, F&& f) {
  auto withIndex = [&](auto t) {
    if (index == DType::Int32) f(t, int32_t{});
    else if (index == DType::Int64) f(t, int64_t{});
    else throwTypeError(std::string("index must be int32 or int64, got ") + dtypeName(index));
  };
  switch (itemSize(data)) {
    case 1: withIndex(uint8_t{}); break;
    case 2: withIndex(uint16_t{}); break;
    case 4: withIndex(uint32_t{}); break;
    default: withIndex(uint64_t{}); break;
  }
}

// Runs a gather over the loop; throws a RangeError naming the first bad index found.
inline void runGather(const TensorView& dense, const TensorView& base, const TensorView& idx, int64_t dimStride,
                      int64_t dimSize, int dimForMessage) {
  const TensorView* views[3] = {&dense, &base, &idx};
  StridedLoop<3> loop(views, dense.ndim, dense.shape);
  if (loop.numel == 0) return;
  std::vector<BadIndex> bad(static_cast<size_t>(numChunks(loop.numel, kIndexGrain)));
  withCopyTypes(base.dtype, idx.dtype, [&](auto t, auto i) {
    using T = decltype(t);
    using I = decltype(i);
    parallelChunks(loop.numel, kIndexGrain, [&](int c, int64_t b, int64_t e) {
      gatherRows<T, I>(loop, b, e, dimStride, dimSize, bad[static_cast<size_t>(c)]);
    });
  });
  for (const BadIndex& b : bad)
    if (b.found)
      throwRangeError("index " + std::to_string(b.value) + " is out of bounds for dim " + std::to_string(dimForMessage) +
                      " with size " + std::to_string(dimSize));
}

}  // namespace index_kernels
}  // namespace tensorjit
