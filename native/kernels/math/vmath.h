// Vectorized float32 math over the Vec API (simd/vec_*.h), shared by the eager
// pointwise kernels, the reductions (softmax) and the fused graph executor.
//
// Include INSIDE an ISA pass (simd/foreach_isa.h), once per pass: there is no include
// guard on purpose, each pass compiles these templates for its own target. Every
// function is `template <class V> typename V::Reg f(typename V::Reg x)` in namespace
// tensorjit::TJ_ISA_NS::vmath, branch-free except where noted (sin/cos huge-argument
// fallback, gelu tail), lane-independent, and gives the same bits on every table for the same
// inputs (the scalar table uses std::fma, so FMA rounding matches).
//
// Error bounds ("ERROR <= ...") are stated beside each function, in float32 ulps at the
// exact result (subnormal results: in units of the subnormal spacing). They are measured
// against float64 libm references by native/kernels/math/vmath_test.cc (ctest; run with
// TJ_VMATH_STEP=61: every 61st float32 bit pattern, ~70M inputs per function, plus pow
// on a grid) and
// re-checked on a dense sweep by test/ops/pointwise_accuracy.test.ts on every table.
// Polynomial coefficients come from native/kernels/math/fit_coefficients.py.
#include "kernels/math/poly.h"
#include "kernels/math/exp_log.h"
#include "kernels/math/hyperbolic.h"
#include "kernels/math/erf_gelu.h"
#include "kernels/math/trig.h"
