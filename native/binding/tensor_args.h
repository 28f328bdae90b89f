// Decoding of packed tensor descriptors (see lib/native.ts `packTensors`).
#pragma once
#include <napi.h>

#include <vector>

#include "core/tensor_view.h"

namespace tensorjit {
namespace binding {

// meta: [count, then per tensor: dtype, ndim, offset, shape..., strides...];
// buffers[i] is tensor i's storage. Every view is bounds-checked against its buffer.
std::vector<TensorView> decodeTensors(const Napi::Array& buffers, const Napi::Float64Array& meta,
                                      const char* what);

}  // namespace binding
}  // namespace tensorjit
