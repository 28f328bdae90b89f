// A prepared fused program (decoded and planned once) computes what the registered
// kernel computes per call, with separate and with in-place outputs, in every ISA table.
#include <vector>

#include "core/kernel.h"
#include "kernels/fused/fused_pointwise.h"
#include "testing/check.h"

using namespace tensorjit;

namespace {

// y = x * 2 + x: Load r0, Const r1 = 2, Mul r2 = r0 r1, Add r3 = r2 r0, Store out0 = r3.
const std::vector<double> kTripleProgram = {4, 5, 0, 0, 0, 0, 0, 1, 1, 2, 0, 0, 42, 2, 0, 1, 0,
                                            40, 3, 2, 0, 0, 2, 3, 0, 0, 0};

// 5000 floats: two full blocks of the VM and a partial one, ending in a partial vector.
constexpr int64_t kN = 5000;

std::vector<float> ramp() {
  std::vector<float> x(kN);
  for (int64_t i = 0; i < kN; ++i) x[static_cast<size_t>(i)] = 0.37f * static_cast<float>(i) - 900.f;
  return x;
}

// Runs `run` on x (in place when inPlace, else into a fresh buffer) and checks y = 3x.
template <class Run>
bool triplesEveryElement(const Run& run, bool inPlace) {
  std::vector<float> x = ramp(), expected = ramp(), y(kN, -1.f);
  for (float& e : expected) e *= 3.f;
  int64_t shape[1] = {kN};
  TensorView in = contiguousView(x.data(), DType::Float32, 1, shape);
  TensorView out = contiguousView(inPlace ? x.data() : y.data(), DType::Float32, 1, shape);
  run(KernelArgs{&in, 1, &out, 1, kTripleProgram.data(), static_cast<int>(kTripleProgram.size())});
  const std::vector<float>& got = inPlace ? x : y;
  for (int64_t i = 0; i < kN; ++i)
    if (got[static_cast<size_t>(i)] != expected[static_cast<size_t>(i)]) return false;
  return true;
}

}  // namespace

TJ_TEST(preparedProgramMatchesTheKernelInEveryTable) {
  KernelRegistry& reg = KernelRegistry::instance();
  const int id = reg.idOf("fused_pointwise");
  TJ_CHECK(id >= 0);
  for (int isa = 0; isa <= static_cast<int>(bestSupportedIsa()); ++isa) {
    reg.selectIsa(static_cast<Isa>(isa));
    if (reg.isaOf(id) != static_cast<Isa>(isa)) continue;  // a table this build does not have
    const KernelFn kernel = reg.get(id);
    const auto prepared = prepareFusedPointwise(kTripleProgram, 1, 1);
    for (bool inPlace : {false, true}) {
      TJ_CHECK(triplesEveryElement(kernel, inPlace));
      TJ_CHECK(triplesEveryElement(prepared, inPlace));
    }
  }
  reg.selectIsa(bestSupportedIsa());
}

TJ_TEST(preparingChecksTheProgramAndCallsCheckTheOperands) {
  std::vector<double> readsUnwritten = kTripleProgram;
  readsUnwritten[14] = 3;  // Mul reads r3 before anything writes it
  TJ_CHECK_THROWS(prepareFusedPointwise(readsUnwritten, 1, 1), "register 3 is read before it is written");
  TJ_CHECK_THROWS(prepareFusedPointwise(kTripleProgram, 0, 1), "bad input index");
  const auto prepared = prepareFusedPointwise(kTripleProgram, 1, 1);
  std::vector<float> x = ramp(), y(kN);
  int64_t shape[1] = {kN};
  const TensorView xView = contiguousView(x.data(), DType::Float32, 1, shape);
  TensorView ins[2] = {xView, xView};
  TensorView out = contiguousView(y.data(), DType::Float32, 1, shape);
  TJ_CHECK_THROWS(prepared(KernelArgs{ins, 2, &out, 1, nullptr, 0}), "prepared for 1 and 1");
}

TJ_TEST_MAIN()
