// How a reduction walks its input: which dims are kept (one output element each) and
// which are reduced, in what order, and whether the reduced block has a contiguous
// innermost run ("inner" mode: vectorize along the run) or the kept dims do ("outer"
// mode: vectorize across kept columns while walking the reduced dims). ISA-independent.
#pragma once
#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/tensor_view.h"

namespace tensorjit {

// Row-major walk over up to kMaxDims dims of one operand (strides in elements).
struct DimWalk {
  int ndim = 0;
  int64_t size[kMaxDims] = {};
  int64_t stride[kMaxDims] = {};

  int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < ndim; ++d) n *= size[d];
    return n;
  }
  int64_t innerStride() const { return ndim ? stride[ndim - 1] : 0; }

  // Calls f(offset, linearIndex, length) for the pieces of innermost runs that cover
  // linear indices [begin, end), in increasing linear order.
  template <class F>
  void runs(int64_t begin, int64_t end, F&& f) const {
    if (begin >= end) return;
    if (ndim == 0) {
      f(int64_t{0}, int64_t{0}, int64_t{1});
      return;
    }
    int64_t idx[kMaxDims];
    int64_t rem = begin, off = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      idx[d] = rem % size[d];
      rem /= size[d];
      off += idx[d] * stride[d];
    }
    const int last = ndim - 1;
    for (int64_t pos = begin; pos < end;) {
      const int64_t len = (end - pos) < (size[last] - idx[last]) ? (end - pos) : (size[last] - idx[last]);
      f(off, pos, len);
      pos += len;
      off += len * stride[last];
      idx[last] += len;
      for (int d = last; d > 0 && idx[d] == size[d]; --d) {
        idx[d] = 0;
        ++idx[d - 1];
        off += stride[d - 1] - size[d] * stride[d];
      }
    }
  }
};

struct ReducePlan {
  bool inner = true;
  // Views of the kept dims only (same shape in both): the input's strides and the
  // output's. In outer mode the last kept dim has input stride 1 (the vector dim).
  TensorView inKept, outKept;
  // Reduced dims in walk order. Inner mode: the innermost has stride 1.
  DimWalk reduced;
  int64_t outNumel = 1, redNumel = 1;
};

// Checks `out` against `x` reduced over `mask` (bit d = dim d) and returns the
// number of output elements; throws RangeError naming `op` on a mismatch.
inline int64_t checkReducedOutput(const char* op, const TensorView& x, const TensorView& out, uint32_t mask,
                                  bool keepdim) {
  int kept = 0;
  for (int d = 0; d < x.ndim; ++d) kept += (mask >> d) & 1u ? 0 : 1;
  const int want = keepdim ? x.ndim : kept;
  bool ok = out.ndim == want;
  for (int d = 0, o = 0; ok && d < x.ndim; ++d) {
    const bool red = (mask >> d) & 1u;
    if (red && !keepdim) continue;
    ok = out.shape[o++] == (red ? 1 : x.shape[d]);
  }
  if (!ok)
    throwRangeError(std::string(op) + ": output " + out.shapeString() + " does not match input " + x.shapeString() +
                    " reduced" + (keepdim ? " with keepdim" : ""));
  return out.numel();
}

// Fills `plan` for reducing x over `mask` into out (shapes already checked, no
// reduced dim of size 0). `ordered`: the walk must follow the logical order of
// the reduced dims (argmax indices); otherwise dims are reordered for locality.
// Returns false when neither mode applies (no unit stride where needed): the
// caller copies x to contiguous memory and plans again.
inline bool planReduce(const TensorView& x, const TensorView& out, uint32_t mask, bool keepdim, bool ordered,
                       ReducePlan* plan) {
  int64_t kSize[kMaxDims], kIn[kMaxDims], kOut[kMaxDims];
  int64_t rSize[kMaxDims], rIn[kMaxDims];
  int nk = 0, nr = 0;
  plan->outNumel = 1;
  plan->redNumel = 1;
  for (int d = 0, o = 0; d < x.ndim; ++d) {
    const bool red = (mask >> d) & 1u;
    if (red) {
      plan->redNumel *= x.shape[d];
      if (keepdim) ++o;
      if (x.shape[d] != 1) {
        rSize[nr] = x.shape[d];
        rIn[nr++] = x.strides[d];
      }
    } else {
      plan->outNumel *= x.shape[d];
      if (x.shape[d] != 1) {
        kSize[nk] = x.shape[d];
        kIn[nk] = x.strides[d];
        kOut[nk++] = out.strides[o];
      }
      ++o;
    }
  }

  int unitRed = -1, unitKept = -1;
  for (int i = 0; i < nr; ++i)
    if (rIn[i] == 1) unitRed = i;
  for (int i = 0; i < nk; ++i)
    if (kIn[i] == 1) unitKept = i;
  if (ordered && unitRed != nr - 1) unitRed = -1;

  auto swapDims = [](int64_t* a, int i, int j) {
    const int64_t t = a[i];
    a[i] = a[j];
    a[j] = t;
  };
  if (nr == 0 || unitRed >= 0) {
    plan->inner = true;
    if (!ordered && nr > 0) {
      // Unit-stride dim last, the rest by decreasing stride: the walk then moves
      // through memory as monotonically as the layout allows.
      swapDims(rSize, unitRed, nr - 1);
      swapDims(rIn, unitRed, nr - 1);
      for (int i = 0; i + 1 < nr - 1; ++i)
        for (int j = i + 1; j < nr - 1; ++j)
          if (rIn[j] > rIn[i]) {
            swapDims(rSize, i, j);
            swapDims(rIn, i, j);
          }
    }
  } else if (unitKept >= 0) {
    plan->inner = false;
    // Move the vector dim last (outputs are addressed through kOut, so order is free).
    for (int i = unitKept; i + 1 < nk; ++i) {
      swapDims(kSize, i, i + 1);
      swapDims(kIn, i, i + 1);
      swapDims(kOut, i, i + 1);
    }
  } else {
    return false;
  }

  // Merge neighbouring reduced dims whose strides chain (keeps the linear order).
  DimWalk& w = plan->reduced;
  w.ndim = 0;
  for (int i = 0; i < nr; ++i) {
    if (w.ndim > 0 && w.stride[w.ndim - 1] == rSize[i] * rIn[i]) {
      w.size[w.ndim - 1] *= rSize[i];
      w.stride[w.ndim - 1] = rIn[i];
      continue;
    }
    w.size[w.ndim] = rSize[i];
    w.stride[w.ndim++] = rIn[i];
  }

  TensorView& ik = plan->inKept;
  TensorView& ok = plan->outKept;
  ik = TensorView();
  ok = TensorView();
  ik.data = x.data;
  ik.dtype = x.dtype;
  ok.data = out.data;
  ok.dtype = out.dtype;
  ik.ndim = ok.ndim = nk;
  for (int i = 0; i < nk; ++i) {
    ik.shape[i] = ok.shape[i] = kSize[i];
    ik.strides[i] = kIn[i];
    ok.strides[i] = kOut[i];
  }
  return true;
}

// Reads the reduced-dims attribute list (attrs[first..]) into a bit mask,
// rejecting dims out of range or repeated.
inline uint32_t reducedMask(const char* op, const double* attrs, int first, int numAttrs, int ndim) {
  uint32_t mask = 0;
  for (int i = first; i < numAttrs; ++i) {
    const int64_t d = static_cast<int64_t>(attrs[i]);
    if (d < 0 || d >= ndim)
      throwRangeError(std::string(op) + ": dim " + std::to_string(d) + " is out of range for a " +
                      std::to_string(ndim) + "-d tensor");
    if ((mask >> d) & 1u) throwRangeError(std::string(op) + ": dim " + std::to_string(d) + " appears twice");
    mask |= 1u << d;
  }
  return mask;
}

}  // namespace tensorjit
