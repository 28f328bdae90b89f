// Layout helpers for the GEMM-based kernels (matmul, linear, conv2d, attention).
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace tensorjit {

// True when dims [d0, d1] of v can be walked as one index with a single stride (size-1
// dims place no constraint); *stride is that stride (0 when every dim has size 1).
inline bool collapseDims(const TensorView& v, int d0, int d1, int64_t* stride) {
  bool any = false;
  int64_t expect = 0;
  *stride = 0;
  for (int d = d1; d >= d0; --d) {
    if (v.shape[d] == 1) continue;
    if (!any) {
      *stride = v.strides[d];
      expect = v.strides[d] * v.shape[d];
      any = true;
    } else {
      if (v.strides[d] != expect) return false;
      expect *= v.shape[d];
    }
  }
  return true;
}

}  // namespace tensorjit
