// conv2d's entry points besides the registered kernel "conv2d" (conv2d.cc): a weight
// packed once, for the direct kernel or as the GEMM path's A panels, so a compiled graph
// with a constant weight packs it at compile time (graph/prepack_pass.cc) instead of on
// every call.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/cpu_features.h"
#include "core/kernel.h"
#include "kernels/gemm/gemm.h"

namespace tensorjit {

// A conv2d weight [O, C/groups, kh, kw] packed for one ISA: in the direct kernel's panel
// layout (`direct`), or, for convs the direct kernel does not take, per group as the
// GEMM's A ([O/groups, C/groups*kh*kw] rows, `gemmA`).
struct PackedConvWeights {
  int64_t O = 0, Cg = 0, kh = 0, kw = 0, groups = 1;
  std::vector<float> direct;
  std::vector<PackedA> gemmA;
  // conv2d's body of the ISA that packed it (its tile width), resolved once when packing
  void (*run)(const KernelArgs& args, const PackedConvWeights* packed) = nullptr;
  size_t bytes() const {
    size_t n = direct.size() * sizeof(float);
    for (const PackedA& a : gemmA) n += a.bytes();
    return n;
  }
};

// Packs weight w (float32, any strides) of a conv2d call with attrs `attrs` (the kernel's
// layout) for the ISA conv2d runs on now: for the direct kernel when a call with this
// weight and these attrs can take it (not a 1x1 stride-1 unpadded conv, enough channels
// per group, few enough taps), else for the GEMM path. Null when the operands are
// malformed (the kernel reports those when it runs).
std::shared_ptr<const PackedConvWeights> packConvWeights(const TensorView& w, const std::vector<double>& attrs);

// Runs kernel conv2d's call (same operands and attrs; args.in(1) is the weight `packed`
// was made from) with the packed weight, on the ISA that packed it. A call it does not
// fit (another weight shape or groups, or a call whose image sends it down the other
// path) packs per call as the plain kernel does.
void conv2dPrepacked(const KernelArgs& args, const PackedConvWeights& packed);

// ---- internal: filled by conv2d.cc's ISA passes.
struct ConvImpl {
  bool (*pack)(const TensorView& w, const std::vector<double>& attrs, PackedConvWeights& out) = nullptr;
  void (*run)(const KernelArgs& args, const PackedConvWeights* packed) = nullptr;
};
void registerConvImpl(Isa isa, const ConvImpl& impl);

}  // namespace tensorjit
