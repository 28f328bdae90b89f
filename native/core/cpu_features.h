// CPU feature detection, done once at load. Kernels never test CPU flags themselves.
#pragma once

namespace tensorjit {

// Ordered: a higher value implies every lower one is usable.
enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2 };
constexpr int kNumIsas = 3;

const char* isaName(Isa isa);
// Parses "scalar" | "avx2" | "avx512" (case-insensitive); returns false if unknown.
bool parseIsa(const char* text, Isa* out);
// Best ISA this CPU and OS support (AVX-512F/BW/DQ/VL; AVX2+FMA+F16C; else scalar).
Isa bestSupportedIsa();

}  // namespace tensorjit
