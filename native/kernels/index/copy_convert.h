// Strided copies with broadcasting and dtype conversion, shared by cat, copy_ and index_copy_.
#pragma once
#include <cstdint>
#include <memory>

#include "core/tensor_view.h"

namespace tensorjit {
namespace index_kernels {

// dst <- src where src broadcasts to dst's shape; converts src's dtype to dst's.
// Equal dtypes with unit-stride rows are copied with memcpy; large copies run on the pool.
void copyConvert(const TensorView& dst, const TensorView& src);

// (Overlap of two views: overlaps() in core/tensor_view.h.)
bool sameLayout(const TensorView& a, const TensorView& b);
// True when two distinct positions of v share one memory location (a stride-0 dim of size > 1).
bool hasInternalOverlap(const TensorView& v);

// A contiguous copy of v in owned memory (to break aliasing between a kernel's input and output).
struct OwnedCopy {
  std::unique_ptr<char[]> memory;
  TensorView view;
};
OwnedCopy contiguousCopy(const TensorView& v);

}  // namespace index_kernels
}  // namespace tensorjit
