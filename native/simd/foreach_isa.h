// Compiles the including kernel file once per ISA (the Highway foreach_target idea).
//
// A kernel file looks like:
//     #include <cmath>                       // ordinary headers first: baseline code
//     #include "kernels/common.h"
//     #ifndef TJ_ISA_PASS
//     #define TJ_ISA_SELF "kernels/pointwise/binary.cc"
//     #include "simd/foreach_isa.h"
//     #else
//     namespace tensorjit { namespace TJ_ISA_NS {
//       template <class V> void addF32(...) { ... }      // one body
//       TJ_REGISTER_KERNEL("add", (addKernel<Vec>));      // registered per ISA
//     }}
//     #endif
//
// Each pass wraps the file in `#pragma GCC target(...)`, so the ISA code lives in
// its own namespace with its own target attributes while std:: and core code stay
// baseline: the shipped binary runs on any x86-64 and no ISA code leaks across
// tables through the linker (what per-file -mavx512f flags would risk).
// No include guard on purpose.
#include "core/kernel_registration.h"

#define TJ_ISA_PASS 1

// ---- scalar
#define TJ_ISA_NS scalar
#define TJ_ISA_ENUM ::tensorjit::Isa::Scalar
#include "simd/vec_scalar.h"
#include TJ_ISA_SELF
#undef TJ_ISA_NS
#undef TJ_ISA_ENUM

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// ---- AVX2 + FMA + F16C
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,bmi2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,bmi2")
#endif
#define TJ_ISA_NS avx2
#define TJ_ISA_ENUM ::tensorjit::Isa::Avx2
#include "simd/vec_avx2.h"
#include TJ_ISA_SELF
#undef TJ_ISA_NS
#undef TJ_ISA_ENUM
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

// ---- AVX-512 F/BW/DQ/VL
#if defined(__clang__)
#pragma clang attribute push(                                                                  \
    __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c,bmi2"))), \
    apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c,bmi2")
#endif
#define TJ_ISA_NS avx512
#define TJ_ISA_ENUM ::tensorjit::Isa::Avx512
#include "simd/vec_avx512.h"
#include TJ_ISA_SELF
#undef TJ_ISA_NS
#undef TJ_ISA_ENUM
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#elif defined(__aarch64__)
// ---- NEON (part of the AArch64 base ISA: no target attributes needed)
#define TJ_ISA_NS neon
#define TJ_ISA_ENUM ::tensorjit::Isa::Neon
#include "simd/vec_neon.h"
#include TJ_ISA_SELF
#undef TJ_ISA_NS
#undef TJ_ISA_ENUM
#endif  // x86-64 / aarch64
