// Error sweep of kernels/math/vmath.h against float64 libm references, on every ISA
// table this CPU runs: every 251st float32 bit pattern by default (both signs, ~17M
// inputs per function; the documented figures were measured with TJ_VMATH_STEP=61,
// ~70M inputs), plus pow on a grid of bases x exponents.
// It prints the max error per function and per |x| range and fails if a bound stated
// in the headers is exceeded; the bounds below are those documented beside each function.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "core/cpu_features.h"
#include "testing/check.h"

#ifndef TJ_VMATH_TEST_DECLS
#define TJ_VMATH_TEST_DECLS
namespace tensorjit {
namespace vmath_test {

enum Fn { kExp, kLog, kTanh, kSigmoid, kSilu, kErf, kGelu, kGeluTanh, kSin, kCos, kNumFns };
const char* const kFnNames[kNumFns] = {"exp", "log", "tanh", "sigmoid", "silu", "erf", "gelu", "geluTanh", "sin", "cos"};

using UnaryEval = void (*)(int fn, const float* x, float* y, int64_t n);
using PowEval = void (*)(const float* x, const float* y, float* out, int64_t n);
struct IsaEntry {
  Isa isa;
  UnaryEval unary;
  PowEval pow;
};
inline std::vector<IsaEntry>& isaEntries() {
  static std::vector<IsaEntry> all;
  return all;
}
struct AddIsa {
  AddIsa(Isa isa, UnaryEval unary, PowEval pow) { isaEntries().push_back({isa, unary, pow}); }
};

}  // namespace vmath_test
}  // namespace tensorjit
#endif

#ifndef TJ_ISA_PASS
#define TJ_ISA_SELF "kernels/math/vmath_test.cc"
#include "simd/foreach_isa.h"

namespace tensorjit {
namespace vmath_test {
namespace {

double sigmoidRef(double x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); }

double reference(int fn, double x) {
  switch (fn) {
    case kExp: return std::exp(x);
    case kLog: return std::log(x);
    case kTanh: return std::tanh(x);
    case kSigmoid: return sigmoidRef(x);
    case kSilu: return std::isinf(x) && x < 0 ? NAN : x * sigmoidRef(x);
    case kErf: return std::erf(x);
    case kGelu: return std::isinf(x) && x < 0 ? NAN : 0.5 * x * std::erfc(-x * 0.70710678118654752440);
    case kGeluTanh: {
      if (std::isinf(x) && x < 0) return NAN;
      const double u = 0.79788456080286535588 * (x + 0.044715 * x * x * x);
      return x * sigmoidRef(2 * u);
    }
    case kSin: return std::sin(x);
    case kCos: return std::cos(x);
  }
  return NAN;
}

// Error of a float result in units of the float spacing at the reference (subnormal
// spacing below 2^-126); infinite when NaN-ness or infinities disagree.
double ulpError(float got, double ref) {
  if (std::isnan(ref)) return std::isnan(got) ? 0 : INFINITY;
  if (std::isnan(got)) return INFINITY;
  const float rounded = static_cast<float>(ref);
  if (std::isinf(rounded) || std::isinf(got)) return got == rounded ? 0 : INFINITY;
  const double a = std::fabs(ref);
  int e = 0;
  std::frexp(a, &e);
  const double ulp = a < 0x1p-126 ? 0x1p-149 : std::ldexp(1.0, e - 24);
  return std::fabs(static_cast<double>(got) - ref) / ulp;
}

// |x| ranges the errors are reported in
constexpr int kNumBuckets = 7;
const char* const kBucketNames[kNumBuckets] = {"<-10", "[-10,-5)", "[-5,-1)", "[-1,1)", "[1,5)", "[5,10)", ">=10"};
int bucketOf(float x) {
  if (x < -10) return 0;
  if (x < -5) return 1;
  if (x < -1) return 2;
  if (x < 1) return 3;
  if (x < 5) return 4;
  if (x < 10) return 5;
  return 6;
}

struct Stats {
  double maxUlp[kNumBuckets] = {};
  float worstX[kNumBuckets] = {};
  void add(float x, double err) {
    const int b = bucketOf(x);
    if (err > maxUlp[b]) {
      maxUlp[b] = err;
      worstX[b] = x;
    }
  }
  void merge(const Stats& o) {
    for (int b = 0; b < kNumBuckets; ++b)
      if (o.maxUlp[b] > maxUlp[b]) {
        maxUlp[b] = o.maxUlp[b];
        worstX[b] = o.worstX[b];
      }
  }
  double overall() const {
    double m = 0;
    for (double v : maxUlp) m = v > m ? v : m;
    return m;
  }
};

Stats sweep(const IsaEntry& isa, int fn, uint64_t step) {
  const int kThreads = 2;
  Stats perThread[kThreads];
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      constexpr int kBatch = 4096;
      std::vector<float> xs(kBatch), ys(kBatch);
      const uint64_t total = (uint64_t(1) << 32) / step;
      const uint64_t begin = total * t / kThreads, end = total * (t + 1) / kThreads;
      for (uint64_t i = begin; i < end; i += kBatch) {
        const int n = static_cast<int>(end - i < kBatch ? end - i : kBatch);
        for (int j = 0; j < n; ++j) {
          const uint32_t bits = static_cast<uint32_t>((i + j) * step);
          std::memcpy(&xs[j], &bits, 4);
        }
        isa.unary(fn, xs.data(), ys.data(), n);
        for (int j = 0; j < n; ++j) perThread[t].add(xs[j], ulpError(ys[j], reference(fn, xs[j])));
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 1; t < kThreads; ++t) perThread[0].merge(perThread[t]);
  return perThread[0];
}

// Documented bounds (ulp) per |x| bucket: see the comments beside each function.
const double kBounds[kNumFns][kNumBuckets] = {
    //              <-10  [-10,-5) [-5,-1) [-1,1) [1,5)  [5,10) >=10
    /* exp      */ {1.05, 1.05,    1.05,   1.05,  1.05,  1.05,  1.05},
    /* log      */ {1,    1,       1,      1,     1,     1,     1},
    /* tanh     */ {2.5,  2.5,     2.5,    2.5,   2.5,   2.5,   2.5},
    /* sigmoid  */ {2.5,  2.5,     2.5,    2.5,   2.5,   2.5,   2.5},
    /* silu     */ {3.5,  3.5,     3.5,    3.5,   3.5,   3.5,   3.5},
    /* erf      */ {1.5,  1.5,     1.5,    1.5,   1.5,   1.5,   1.5},
    /* gelu: pieces from -3 up, erfc form below */
    /* gelu     */ {7,    7,       7,      2.5,   2.5,   2.5,   2.5},
    /* geluTanh: in the negative tail the float32 rounding of u dominates (see erf_gelu.h) */
    /* geluTanh */ {250,  250,     35,     3,     3,     3,     3},
    /* sin      */ {2,    2,       2,      2,     2,     2,     2},
    /* cos      */ {2,    2,       2,      2,     2,     2,     2},
};

uint64_t stepFromEnv() {
  const char* s = std::getenv("TJ_VMATH_STEP");
  const long v = s ? std::atol(s) : 0;
  return v > 0 ? static_cast<uint64_t>(v) : 251;
}

}  // namespace

TJ_TEST(unaryErrorBounds) {
  const uint64_t step = stepFromEnv();
  const Isa best = bestSupportedIsa();
  for (const IsaEntry& isa : isaEntries()) {
    if (static_cast<int>(isa.isa) > static_cast<int>(best)) continue;
    for (int fn = 0; fn < kNumFns; ++fn) {
      const Stats s = sweep(isa, fn, step);
      std::printf("  %-7s %-8s max %.3g ulp |", isaName(isa.isa), kFnNames[fn], s.overall());
      for (int b = 0; b < kNumBuckets; ++b) std::printf(" %s %.3g (x=%.6g)", kBucketNames[b], s.maxUlp[b], s.worstX[b]);
      std::printf("\n");
      for (int b = 0; b < kNumBuckets; ++b) {
        if (!(s.maxUlp[b] <= kBounds[fn][b]))
          std::printf("  %s %s: %.3g ulp at x=%.9g exceeds the documented %.3g ulp\n", isaName(isa.isa), kFnNames[fn],
                      s.maxUlp[b], s.worstX[b], kBounds[fn][b]);
        TJ_CHECK(s.maxUlp[b] <= kBounds[fn][b]);
      }
    }
  }
}

TJ_TEST(powErrorBound) {
  // bases: every 4099th positive float and their negatives; exponents: integers, halves,
  // and a spread of non-integers (|y ln x| beyond ~104 only checks overflow/underflow)
  std::vector<float> ys;
  for (int i = -12; i <= 12; ++i) ys.push_back(static_cast<float>(i));
  for (float y : {0.5f, -0.5f, 1.5f, -2.5f, 0.3333333f, 2.71828f, -7.1f, 19.75f, 100.0f, -100.25f, 1e-3f, 3e5f})
    ys.push_back(y);
  const Isa best = bestSupportedIsa();
  for (const IsaEntry& isa : isaEntries()) {
    if (static_cast<int>(isa.isa) > static_cast<int>(best)) continue;
    // bound: 2 + |y ln|x|| / 2 ulp (the float-float ln|x| is good to ~2^-29 absolute)
    double worst = 0, worstRatio = 0;
    float wx = 0, wy = 0;
    std::vector<float> xs, yy, out;
    for (uint32_t bits = 0; bits < 0x7f800000u; bits += 4099) {
      float x;
      std::memcpy(&x, &bits, 4);
      for (float y : ys)
        for (float sx : {x, -x}) {
          xs.push_back(sx);
          yy.push_back(y);
        }
      if (xs.size() > 65536 || bits + 4099 >= 0x7f800000u) {
        out.resize(xs.size());
        isa.pow(xs.data(), yy.data(), out.data(), static_cast<int64_t>(xs.size()));
        for (size_t i = 0; i < xs.size(); ++i) {
          const double ref = std::pow(static_cast<double>(xs[i]), static_cast<double>(yy[i]));
          const double err = ulpError(out[i], ref);
          const double phi = std::fabs(static_cast<double>(yy[i]) * std::log(std::fabs(static_cast<double>(xs[i]))));
          const double ratio = err / (2 + 0.5 * (std::isfinite(phi) ? phi : 0));
          worst = err > worst ? err : worst;
          if (ratio > worstRatio) {
            worstRatio = ratio;
            wx = xs[i];
            wy = yy[i];
          }
        }
        xs.clear();
        yy.clear();
      }
    }
    std::printf("  %-7s pow      max %.3g ulp; max error / (2 + |y ln|x||/2) = %.3g (x=%.9g, y=%.9g)\n",
                isaName(isa.isa), worst, worstRatio, wx, wy);
    TJ_CHECK(worstRatio <= 1);
  }
}

}  // namespace vmath_test
}  // namespace tensorjit

TJ_TEST_MAIN()
#else  // ---- per-ISA part
#include "kernels/math/vmath.h"
namespace tensorjit {
namespace TJ_ISA_NS {
namespace {

template <class F>
void mapRow(const float* x, float* y, int64_t n, F f) {
  int64_t i = 0;
  for (; i + Vec::kLanes <= n; i += Vec::kLanes) Vec::store(y + i, f(Vec::load(x + i)));
  if (i < n) {
    const int r = static_cast<int>(n - i);
    Vec::storePartial(y + i, f(Vec::loadPartial(x + i, r)), r);
  }
}

void evalUnary(int fn, const float* x, float* y, int64_t n) {
  using R = Vec::Reg;
  switch (fn) {
    case vmath_test::kExp: mapRow(x, y, n, [](R v) { return vmath::exp<Vec>(v); }); break;
    case vmath_test::kLog: mapRow(x, y, n, [](R v) { return vmath::log<Vec>(v); }); break;
    case vmath_test::kTanh: mapRow(x, y, n, [](R v) { return vmath::tanh<Vec>(v); }); break;
    case vmath_test::kSigmoid: mapRow(x, y, n, [](R v) { return vmath::sigmoid<Vec>(v); }); break;
    case vmath_test::kSilu: mapRow(x, y, n, [](R v) { return vmath::silu<Vec>(v); }); break;
    case vmath_test::kErf: mapRow(x, y, n, [](R v) { return vmath::erf<Vec>(v); }); break;
    case vmath_test::kGelu: mapRow(x, y, n, [](R v) { return vmath::gelu<Vec>(v); }); break;
    case vmath_test::kGeluTanh: mapRow(x, y, n, [](R v) { return vmath::geluTanh<Vec>(v); }); break;
    case vmath_test::kSin: mapRow(x, y, n, [](R v) { return vmath::sin<Vec>(v); }); break;
    case vmath_test::kCos: mapRow(x, y, n, [](R v) { return vmath::cos<Vec>(v); }); break;
  }
}

void evalPow(const float* x, const float* y, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + Vec::kLanes <= n; i += Vec::kLanes)
    Vec::store(out + i, vmath::pow<Vec>(Vec::load(x + i), Vec::load(y + i)));
  for (; i < n; ++i) {
    float xs[Vec::kLanes] = {}, ys[Vec::kLanes] = {}, os[Vec::kLanes];
    xs[0] = x[i];
    ys[0] = y[i];
    Vec::store(os, vmath::pow<Vec>(Vec::load(xs), Vec::load(ys)));
    out[i] = os[0];
  }
}

const vmath_test::AddIsa kAddIsa(TJ_ISA_ENUM, evalUnary, evalPow);

}  // namespace
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
#endif
