// "index_copy_" (torch.Tensor.index_copy_): x[..., index[j], ...] = source[..., j, ...] in place.
//   inputs: [x, index, source]; output 0 is x itself. index: 1-D or 0-d, int32/int64, every
//   value in [0, x.size(dim)); source: x's dtype and x's shape with dim replaced by
//   index.numel() (0-d x/source count as 1-d). attrs: [dim] (normalised).
// Indices are all checked before anything is written. Repeated indices: the last one wins
// (the copy then runs on one thread so the result is deterministic).
#include <algorithm>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/kernel_registration.h"
#include "kernels/index/copy_convert.h"
#include "kernels/index/indexed_loop.h"

namespace tensorjit {
namespace index_kernels {
namespace {

// Checks every index; returns true when some index repeats.
template <class I>
bool validateIndices(const TensorView& index, int64_t stride, int64_t n, int64_t size, int dim) {
  const I* p = index.ptr<I>();
  std::vector<int64_t> sorted(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    const int64_t v = static_cast<int64_t>(p[j * stride]);
    if (v < 0 || v >= size)
      throwRangeError("index " + std::to_string(v) + " is out of bounds for dim " + std::to_string(dim) + " with size " +
                      std::to_string(size));
    sorted[static_cast<size_t>(j)] = v;
  }
  std::sort(sorted.begin(), sorted.end());
  return std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end();
}

void indexCopyKernel(const KernelArgs& a) {
  const int dim = checkedDimAttr(a, "index_copy_ (inputs [x, index, source])", 3, 1);
  const TensorView x = atLeast1d(a.out(0));
  TensorView index = a.in(1);
  TensorView source = atLeast1d(a.in(2));
  if (dim < 0 || dim >= x.ndim) throwRangeError("dim " + std::to_string(dim) + " out of range");
  if (index.ndim > 1) throwRangeError("index " + index.shapeString() + " must be 1-D or 0-d");
  if (source.dtype != x.dtype)
    throwTypeError(std::string("source dtype ") + dtypeName(source.dtype) + " must match self dtype " + dtypeName(x.dtype));
  const int64_t n = index.numel();
  if (source.ndim != x.ndim) throwRangeError("source " + a.in(2).shapeString() + " must have the dims of self " + a.out(0).shapeString());
  for (int d = 0; d < x.ndim; ++d)
    if (source.shape[d] != (d == dim ? n : x.shape[d]))
      throwRangeError("source " + a.in(2).shapeString() + " does not match self " + a.out(0).shapeString() + " with dim " +
                      std::to_string(dim) + " of size " + std::to_string(n) + " (the number of indices)");
  if (hasInternalOverlap(x))
    throwRangeError("more than one element of self " + a.out(0).shapeString() +
                    " refers to the same memory location (an expanded tensor); clone it first");
  if (n == 0 || source.numel() == 0) return;

  // An index that lives in x's memory would change under the writes: validate and use a copy.
  OwnedCopy indexCopy;
  if (overlaps(x, index)) {
    indexCopy = contiguousCopy(index);
    index = indexCopy.view;
  }
  const int64_t idxStride = index.ndim == 0 ? 0 : index.strides[0];
  bool repeats = false;
  if (index.dtype == DType::Int64) repeats = validateIndices<int64_t>(index, idxStride, n, x.shape[dim], dim);
  else if (index.dtype == DType::Int32) repeats = validateIndices<int32_t>(index, idxStride, n, x.shape[dim], dim);
  else throwTypeError(std::string("index must be int32 or int64, got ") + dtypeName(index.dtype));

  OwnedCopy sourceCopy;
  if (overlaps(x, source)) {
    sourceCopy = contiguousCopy(source);
    source = sourceCopy.view;
  }

  int64_t baseStrides[kMaxDims], idxStrides[kMaxDims];
  for (int d = 0; d < x.ndim; ++d) {
    baseStrides[d] = d == dim ? 0 : x.strides[d];
    idxStrides[d] = d == dim ? idxStride : 0;
  }
  const TensorView base = operandView(x.data, x.dtype, x.ndim, source.shape, baseStrides);
  const TensorView idx = operandView(index.data, index.dtype, x.ndim, source.shape, idxStrides);
  const TensorView* views[3] = {&source, &base, &idx};
  StridedLoop<3> loop(views, source.ndim, source.shape);
  withCopyTypes(x.dtype, index.dtype, [&](auto t, auto i) {
    using T = decltype(t);
    using I = decltype(i);
    if (repeats) {
      scatterRows<T, I>(loop, 0, loop.numel, x.strides[dim]);  // row-major order: the last index wins
    } else {
      parallelFor(loop.numel, kIndexGrain, [&](int64_t b, int64_t e) { scatterRows<T, I>(loop, b, e, x.strides[dim]); });
    }
  });
}

TJ_REGISTER_SCALAR_KERNEL("index_copy_", indexCopyKernel);

}  // namespace
}  // namespace index_kernels
}  // namespace tensorjit
