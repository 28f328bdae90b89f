// "gather" (torch.gather): out[..., i_dim, ...] = x[..., index[..., i_dim, ...], ...]
//   inputs: [x, index]; index int32/int64 with x's rank (0-d counts as 1-d) and
//   index.size(d) <= x.size(d) for d != dim; out has index's shape and x's dtype.
//   attrs: [dim] (normalised).
// "index_select" (torch.index_select and F.embedding): out = x with dim `dim` replaced
//   by the dims of index: out.shape = x.shape[:dim] + index.shape + x.shape[dim+1:]
//   (index_select passes a 1-D or 0-d index and out keeps one dim of index.numel();
//   embedding passes any rank). Rows of x after dim are copied with memcpy when contiguous.
//   inputs: [x, index]; attrs: [dim] (normalised).
// Indices must lie in [0, x.size(dim)); anything else is a RangeError naming the value
// and the size, and nothing outside x is ever read.
#include <string>

#include "core/error.h"
#include "core/kernel_registration.h"
#include "kernels/index/copy_convert.h"
#include "kernels/index/indexed_loop.h"

namespace tensorjit {
namespace index_kernels {
namespace {

void gatherKernel(const KernelArgs& a) {
  const int dim = checkedDimAttr(a, "gather", 2, 1);
  const TensorView x = atLeast1d(a.in(0));
  const TensorView index = atLeast1d(a.in(1));
  const TensorView out = atLeast1d(a.out(0));
  if (x.ndim != index.ndim)
    throwRangeError("index " + a.in(1).shapeString() + " must have the same number of dims as input " + a.in(0).shapeString());
  if (dim < 0 || dim >= x.ndim) throwRangeError("dim " + std::to_string(dim) + " out of range");
  if (out.ndim != index.ndim || out.dtype != x.dtype) throwRangeError("output must match index's shape and input's dtype");
  for (int d = 0; d < x.ndim; ++d) {
    if (out.shape[d] != index.shape[d]) throwRangeError("output must have index's shape");
    if (d != dim && index.shape[d] > x.shape[d])
      throwRangeError("index " + a.in(1).shapeString() + " is larger than input " + a.in(0).shapeString() +
                      " in dim " + std::to_string(d));
  }
  int64_t baseStrides[kMaxDims];
  for (int d = 0; d < x.ndim; ++d) baseStrides[d] = d == dim ? 0 : x.strides[d];
  const TensorView base = operandView(x.data, x.dtype, out.ndim, out.shape, baseStrides);
  runGather(out, base, index, x.strides[dim], x.shape[dim], dim);
}

void indexSelectKernel(const KernelArgs& a) {
  const int dim = checkedDimAttr(a, "index_select", 2, 1);
  const TensorView x = atLeast1d(a.in(0));
  const TensorView& rawIndex = a.in(1);
  const TensorView& out = a.out(0);
  if (dim < 0 || dim >= x.ndim) throwRangeError("dim " + std::to_string(dim) + " out of range");
  if (out.dtype != x.dtype) throwTypeError("output dtype must match the input's");
  // out = x.shape[:dim] + (k dims holding the index) + x.shape[dim+1:]
  const int k = a.in(0).ndim == 0 ? out.ndim : out.ndim - (x.ndim - 1);
  if (k < 0 || dim + k > out.ndim) throwRangeError("output " + out.shapeString() + " does not fit input " + x.shapeString());
  for (int d = 0; d < dim; ++d)
    if (out.shape[d] != x.shape[d]) throwRangeError("output " + out.shapeString() + " does not fit input " + x.shapeString());
  for (int d = dim + 1; d < x.ndim && a.in(0).ndim > 0; ++d)
    if (out.shape[d - 1 + k] != x.shape[d]) throwRangeError("output " + out.shapeString() + " does not fit input " + x.shapeString());

  int64_t n = 0, outBlockStride = 0;
  if (!collapseDims(out, dim, dim + k, &n, &outBlockStride)) throwRangeError("output layout cannot hold the index dims");
  if (n != rawIndex.numel()) throwRangeError("output " + out.shapeString() + " does not hold index " + rawIndex.shapeString());

  // The index as one strided dim (a contiguous copy when its layout does not collapse).
  OwnedCopy indexCopy;
  const TensorView* index = &rawIndex;
  int64_t idxCount = 0, idxStride = 0;
  if (!collapseDims(rawIndex, 0, rawIndex.ndim, &idxCount, &idxStride)) {
    indexCopy = contiguousCopy(rawIndex);
    index = &indexCopy.view;
    idxStride = 1;
  }

  int64_t shape[kMaxDims], outStrides[kMaxDims], baseStrides[kMaxDims], idxStrides[kMaxDims];
  for (int d = 0; d < x.ndim; ++d) {
    const bool isDim = d == dim;
    shape[d] = isDim ? n : x.shape[d];
    baseStrides[d] = isDim ? 0 : x.strides[d];
    idxStrides[d] = isDim ? idxStride : 0;
    if (isDim) outStrides[d] = outBlockStride;
    else if (a.in(0).ndim == 0) outStrides[d] = 0;
    else outStrides[d] = out.strides[d < dim ? d : d - 1 + k];
  }
  const TensorView dense = operandView(out.data, out.dtype, x.ndim, shape, outStrides);
  const TensorView base = operandView(x.data, x.dtype, x.ndim, shape, baseStrides);
  const TensorView idx = operandView(index->data, index->dtype, x.ndim, shape, idxStrides);
  runGather(dense, base, idx, x.strides[dim], x.shape[dim], dim);
}

TJ_REGISTER_SCALAR_KERNEL("gather", gatherKernel);
TJ_REGISTER_SCALAR_KERNEL("index_select", indexSelectKernel);

}  // namespace
}  // namespace index_kernels
}  // namespace tensorjit
