// N-d iteration over K strided operands that share one (broadcast) shape.
//
// Operands are described by element strides already broadcast to the loop shape
// (0 where an operand is broadcast). Dims are coalesced where every operand allows,
// so contiguous and row-broadcast cases collapse to long innermost rows. The loop
// is addressed by linear element index, so a parallelFor over [0, numel) can hand
// each thread any sub-range: forRange() walks the rows that cover [begin, end).
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace tensorjit {

template <int K>
struct StridedLoop {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[K][kMaxDims] = {};  // elements
  char* base[K] = {};
  int64_t itemSize[K] = {};
  int64_t numel = 1;

  // `views[k]` must have ndim <= outNdim; missing leading dims and size-1 dims broadcast.
  StridedLoop(const TensorView* const views[K], int outNdim, const int64_t* outShape) {
    int64_t tmp[K][kMaxDims];
    for (int k = 0; k < K; ++k) {
      const TensorView& v = *views[k];
      base[k] = static_cast<char*>(v.data);
      itemSize[k] = static_cast<int64_t>(itemSize_(v.dtype));
      const int lead = outNdim - v.ndim;
      for (int d = 0; d < outNdim; ++d) {
        const int vd = d - lead;
        tmp[k][d] = (vd < 0 || v.shape[vd] == 1) ? 0 : v.strides[vd];
      }
    }
    // Drop size-1 dims, then merge neighbours whose strides chain for every operand.
    for (int d = 0; d < outNdim; ++d) {
      numel *= outShape[d];
      if (outShape[d] == 1) continue;
      if (ndim > 0) {
        bool mergeable = true;
        for (int k = 0; k < K; ++k)
          if (strides[k][ndim - 1] != tmp[k][d] * outShape[d]) mergeable = false;
        if (mergeable) {
          shape[ndim - 1] *= outShape[d];
          for (int k = 0; k < K; ++k) strides[k][ndim - 1] = tmp[k][d];
          continue;
        }
      }
      shape[ndim] = outShape[d];
      for (int k = 0; k < K; ++k) strides[k][ndim] = tmp[k][d];
      ++ndim;
    }
    if (ndim == 0) {  // 0-d or all-ones: one element
      ndim = 1;
      shape[0] = 1;
      for (int k = 0; k < K; ++k) strides[k][0] = 0;
    }
  }

  int64_t rowLength() const { return shape[ndim - 1]; }
  int64_t innerStride(int k) const { return strides[k][ndim - 1]; }

  // Calls row(ptrs, n) for pieces of rows covering linear indices [begin, end);
  // ptrs[k] points at operand k's first element of the piece (stride innerStride(k)).
  template <class F>
  void forRange(int64_t begin, int64_t end, F&& row) const {
    if (begin >= end) return;
    int64_t idx[kMaxDims];
    int64_t rem = begin;
    for (int d = ndim - 1; d >= 0; --d) {
      idx[d] = rem % shape[d];
      rem /= shape[d];
    }
    char* ptrs[K];
    for (int k = 0; k < K; ++k) {
      int64_t off = 0;
      for (int d = 0; d < ndim; ++d) off += idx[d] * strides[k][d];
      ptrs[k] = base[k] + off * itemSize[k];
    }
    int64_t pos = begin;
    const int64_t len = shape[ndim - 1];
    while (pos < end) {
      const int64_t n = (end - pos) < (len - idx[ndim - 1]) ? (end - pos) : (len - idx[ndim - 1]);
      row(ptrs, n);
      pos += n;
      // advance the multi-index by n along the innermost dim, carrying outward
      for (int k = 0; k < K; ++k) ptrs[k] += n * strides[k][ndim - 1] * itemSize[k];
      idx[ndim - 1] += n;
      for (int d = ndim - 1; d > 0 && idx[d] == shape[d]; --d) {
        idx[d] = 0;
        ++idx[d - 1];
        for (int k = 0; k < K; ++k)
          ptrs[k] += (strides[k][d - 1] - shape[d] * strides[k][d]) * itemSize[k];
      }
    }
  }

 private:
  static size_t itemSize_(DType t) { return ::tensorjit::itemSize(t); }
};

}  // namespace tensorjit
