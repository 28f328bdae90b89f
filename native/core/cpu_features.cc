#include "core/cpu_features.h"

#include <cctype>
#include <cstdint>
#include <string>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define TJ_X86 1
#endif

namespace tensorjit {

const char* isaName(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Neon: return "neon";
  }
  return "?";
}

bool parseIsa(const char* text, Isa* out) {
  std::string s;
  for (const char* p = text; *p; ++p) s += static_cast<char>(std::tolower(*p));
  if (s == "scalar") *out = Isa::Scalar;
  else if (s == "avx2") *out = Isa::Avx2;
  else if (s == "avx512") *out = Isa::Avx512;
  else if (s == "neon") *out = Isa::Neon;
  else return false;
  return true;
}

#ifdef TJ_X86
static uint64_t readXcr0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}
#endif

Isa bestSupportedIsa() {
#ifdef TJ_X86
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return Isa::Scalar;
  const bool osxsave = c & (1u << 27), fma = c & (1u << 12), f16c = c & (1u << 29);
  if (!osxsave) return Isa::Scalar;
  const uint64_t xcr0 = readXcr0();
  const bool ymmOs = (xcr0 & 0x6) == 0x6;
  const bool zmmOs = (xcr0 & 0xe6) == 0xe6;
  if (__get_cpuid_max(0, nullptr) < 7) return Isa::Scalar;
  __cpuid_count(7, 0, a, b, c, d);
  const bool avx2 = b & (1u << 5);
  const bool avx512f = b & (1u << 16), avx512dq = b & (1u << 17), avx512bw = b & (1u << 30),
             avx512vl = b & (1u << 31);
  if (!(ymmOs && avx2 && fma && f16c)) return Isa::Scalar;
  if (zmmOs && avx512f && avx512dq && avx512bw && avx512vl) return Isa::Avx512;
  return Isa::Avx2;
#elif defined(__aarch64__)
  return Isa::Neon;  // Advanced SIMD is mandatory in AArch64
#else
  return Isa::Scalar;
#endif
}

}  // namespace tensorjit
