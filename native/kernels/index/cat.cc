// "cat": out = the inputs concatenated along dim.
//   attrs: [dim] (normalised, 0 <= dim < out.ndim)
//   inputs: any dtypes (each converted to out's dtype); every input has out's ndim and
//   out's sizes except along dim, and the sizes along dim add up to out's. The TS side
//   drops torch's legacy 1-D empty participants before calling.
// "copy_": dst <- src in place (lib/ops/indexing.ts copy_).
//   inputs: [dst, src], output 0 is dst itself; src broadcasts to dst; dtypes convert.
//   attrs: none.
#include <string>

#include "core/error.h"
#include "core/kernel_registration.h"
#include "kernels/index/copy_convert.h"

namespace tensorjit {
namespace index_kernels {
namespace {

void catKernel(const KernelArgs& a) {
  if (a.numOutputs != 1) throwRangeError("cat: expected 1 output");
  const TensorView& out = a.out(0);
  if (a.numAttrs < 1) throwRangeError("cat: missing dim attribute");
  const double dimAttr = a.attr(0);
  if (!(dimAttr >= 0 && dimAttr < out.ndim) || dimAttr != static_cast<double>(static_cast<int>(dimAttr)))
    throwRangeError("cat: dim " + std::to_string(dimAttr) + " out of range for output " + out.shapeString());
  const int64_t dim = static_cast<int64_t>(dimAttr);
  int64_t total = 0;
  for (int i = 0; i < a.numInputs; ++i) {
    const TensorView& in = a.in(i);
    if (in.ndim != out.ndim) throwRangeError("cat: input " + std::to_string(i) + " has the wrong rank");
    for (int d = 0; d < out.ndim; ++d)
      if (d != dim && in.shape[d] != out.shape[d])
        throwRangeError("cat: input " + std::to_string(i) + " " + in.shapeString() + " does not match output " +
                        out.shapeString() + " outside dim " + std::to_string(dim));
    total += in.shape[dim];
  }
  if (total != out.shape[dim]) throwRangeError("cat: input sizes along dim do not add up to the output's");

  const int64_t isz = static_cast<int64_t>(itemSize(out.dtype));
  int64_t start = 0;
  for (int i = 0; i < a.numInputs; ++i) {
    const TensorView& in = a.in(i);
    TensorView part = out;
    part.shape[dim] = in.shape[dim];
    part.data = static_cast<char*>(out.data) + start * out.strides[dim] * isz;
    copyConvert(part, in);
    start += in.shape[dim];
  }
}

void copyInplaceKernel(const KernelArgs& a) {
  if (a.numInputs != 2 || a.numOutputs != 1) throwRangeError("copy_: expected inputs [dst, src]");
  const TensorView& dst = a.out(0);
  const TensorView& src = a.in(1);
  if (src.ndim > dst.ndim) throwRangeError("copy_: src " + src.shapeString() + " has more dims than dst " + dst.shapeString());
  for (int d = 0; d < src.ndim; ++d) {
    const int64_t s = src.shape[d], t = dst.shape[dst.ndim - src.ndim + d];
    if (s != t && s != 1)
      throwRangeError("copy_: src " + src.shapeString() + " is not broadcastable to dst " + dst.shapeString());
  }
  if (hasInternalOverlap(dst))
    throwRangeError("copy_: more than one element of dst " + dst.shapeString() +
                    " refers to the same memory location (an expanded tensor); clone it first");
  if (sameLayout(dst, src)) return;  // x.copy_(x)
  if (overlaps(dst, src)) {
    const OwnedCopy tmp = contiguousCopy(src);
    copyConvert(dst, tmp.view);
    return;
  }
  copyConvert(dst, src);
}

TJ_REGISTER_SCALAR_KERNEL("cat", catKernel);
TJ_REGISTER_SCALAR_KERNEL("copy_", copyInplaceKernel);

}  // namespace
}  // namespace index_kernels
}  // namespace tensorjit
