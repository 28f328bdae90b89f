// A view of `v` expanded to `target`'s shape by NumPy rules (stride 0 where v is
// broadcast), for kernels that take an optional broadcast operand from a graph pass.
// Throws a RangeError naming `op` and `arg` unless v broadcasts to target.
#pragma once
#include <string>

#include "core/error.h"
#include "core/tensor_view.h"

namespace tensorjit {

inline TensorView broadcastView(const TensorView& v, const TensorView& target, const char* op, const char* arg) {
  bool ok = v.ndim <= target.ndim;
  const int lead = target.ndim - v.ndim;
  for (int d = 0; ok && d < v.ndim; ++d) ok = v.shape[d] == target.shape[lead + d] || v.shape[d] == 1;
  if (!ok)
    throwRangeError(std::string(op) + ": " + arg + " " + v.shapeString() + " does not broadcast to " +
                    target.shapeString());
  TensorView out = v;
  out.ndim = target.ndim;
  for (int d = 0; d < target.ndim; ++d) {
    const int vd = d - lead;
    out.shape[d] = target.shape[d];
    out.strides[d] = (vd < 0 || v.shape[vd] == 1) ? 0 : v.strides[vd];
  }
  return out;
}

}  // namespace tensorjit
