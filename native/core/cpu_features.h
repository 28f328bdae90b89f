// CPU feature detection, done once at load. Kernels never test CPU flags themselves.
#pragma once

namespace tensorjit {

// Ordered within an architecture: a higher value implies every lower one of the same
// architecture is usable (x86-64: Scalar < Avx2 < Avx512; aarch64: Scalar < Neon). A
// build registers kernels only for its own architecture's tables, so capping at an ISA
// of the other one (e.g. "avx2" on arm64) falls back to the best lower table there.
enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2, Neon = 3 };
constexpr int kNumIsas = 4;
constexpr Isa kHighestIsa = Isa::Neon;

const char* isaName(Isa isa);
// Parses "scalar" | "avx2" | "avx512" | "neon" (case-insensitive); returns false if unknown.
bool parseIsa(const char* text, Isa* out);
// Best ISA this CPU and OS support (AVX-512F/BW/DQ/VL; AVX2+FMA+F16C; NEON on aarch64;
// else scalar).
Isa bestSupportedIsa();

}  // namespace tensorjit
