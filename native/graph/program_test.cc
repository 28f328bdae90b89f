// Program decoding rejects malformed input; the planner reuses memory.
#include <cmath>
#include <random>
#include <vector>

#include "core/allocator.h"
#include "core/error.h"
#include "core/kernel.h"
#include "graph/executable.h"
#include "graph/memory_plan.h"
#include "graph/passes.h"
#include "graph/program.h"
#include "testing/check.h"

using namespace tensorjit;
using namespace tensorjit::graph;

namespace {

double kernel(const char* name) { return KernelRegistry::instance().idOf(name); }

// x:[n] input; chain of `steps` copies through temps; the last is the output.
std::vector<double> copyChain(int n, int steps) {
  std::vector<double> w = {double(kProgramMagic), 1, 1, 0, double(steps + 1)};
  w.insert(w.end(), {0, 0, 1, double(n), 0, 0});
  for (int s = 0; s < steps; ++s) w.insert(w.end(), {double(s + 1 == steps ? 3 : 2), 0, 1, double(n)});
  w.push_back(steps);
  for (int s = 0; s < steps; ++s) w.insert(w.end(), {kernel("copy"), 1, double(s), 1, double(s + 1), 0});
  w.insert(w.end(), {1, double(steps)});
  return w;
}

}  // namespace

TJ_TEST(decodesAValidProgram) {
  auto w = copyChain(16, 3);
  Program p = decodeProgram(w.data(), w.size(), {});
  TJ_CHECK(p.values.size() == 4 && p.instrs.size() == 3 && p.outputs.size() == 1);
}

TJ_TEST(rejectsMalformedPrograms) {
  auto base = copyChain(16, 3);
  auto bad = base;
  bad[0] = 1;
  TJ_CHECK_THROWS(decodeProgram(bad.data(), bad.size(), {}), "bad magic");
  bad = base;
  bad[1] = 2;
  TJ_CHECK_THROWS(decodeProgram(bad.data(), bad.size(), {}), "unsupported format version 2");
  TJ_CHECK_THROWS(decodeProgram(base.data(), base.size() - 1, {}), "truncated");
  bad = base;
  bad.push_back(0);
  TJ_CHECK_THROWS(decodeProgram(bad.data(), bad.size(), {}), "trailing");
  bad = base;
  bad[6] = 9;  // dtype of value 0
  TJ_CHECK_THROWS(decodeProgram(bad.data(), bad.size(), {}), "dtype");
  bad = base;
  bad[8] = -1;  // a negative size
  TJ_CHECK_THROWS(decodeProgram(bad.data(), bad.size(), {}), "dim size");
  bad = base;
  bad[8] = 0.5;
  TJ_CHECK_THROWS(decodeProgram(bad.data(), bad.size(), {}), "dim size");
  bad = base;
  bad[8] = NAN;
  TJ_CHECK_THROWS(decodeProgram(bad.data(), bad.size(), {}), "dim size");
  TJ_CHECK_THROWS(decodeProgram(base.data(), base.size(), {64}), "constant count");
}

// Sizes and strides whose products overflow int64 (and could wrap into range) are rejected
// before any product is formed.
TJ_TEST(rejectsSizesAndReachesThatWouldOverflow) {
  const double copy = kernel("copy");
  // x:[16]; a view of it with 2^24 + 1 elements 2^40 apart: 2^24 * 2^40 wraps to 0
  std::vector<double> view = {double(kProgramMagic), 1, 1, 0, 3,
                              0, 0, 1, 16, 0, 0,
                              4, 0, 1, 16777217, 0, 0, std::ldexp(1.0, 40),
                              3, 0, 1, 16777217,
                              1, copy, 1, 1, 1, 2, 0,
                              1, 2};
  TJ_CHECK_THROWS(decodeProgram(view.data(), view.size(), {}), "reaches outside");
  // an output of [2^32, 2^32]: 2^64 elements wrap to 0
  std::vector<double> big = {double(kProgramMagic), 1, 1, 0, 2,
                             0, 0, 1, 16, 0, 0,
                             3, 0, 2, std::ldexp(1.0, 32), std::ldexp(1.0, 32),
                             1, copy, 1, 0, 1, 1, 0,
                             1, 1};
  TJ_CHECK_THROWS(decodeProgram(big.data(), big.size(), {}), "too large");
}

TJ_TEST(rejectsUseBeforeDefinitionAndWritesToInputs) {
  // instruction 0 reads value 2 (defined by instruction 1)
  auto w = copyChain(8, 3);
  const size_t firstInstr = 5 + 6 + 3 * 4 + 1;
  w[firstInstr + 2] = 2;
  TJ_CHECK_THROWS(decodeProgram(w.data(), w.size(), {}), "before it is written");
  w = copyChain(8, 3);
  w[firstInstr + 4] = 0;  // writes the (read-only) input
  TJ_CHECK_THROWS(decodeProgram(w.data(), w.size(), {}), "read-only");
  w = copyChain(8, 3);
  w[firstInstr] = 1e9;  // unknown kernel
  TJ_CHECK_THROWS(decodeProgram(w.data(), w.size(), {}), "kernel id");
}

TJ_TEST(randomCorruptionNeverCrashes) {
  // Every single-word corruption either decodes or throws a tensorjit::Error.
  auto base = copyChain(8, 4);
  std::mt19937 gen(7);
  const double specials[] = {-1, 0, 1, 2, 7, 1e18, -1e18, NAN, INFINITY, 0.5, 4294967295.0};
  for (size_t i = 0; i < base.size(); ++i)
    for (double v : specials) {
      auto w = base;
      w[i] = v;
      try {
        Program p = decodeProgram(w.data(), w.size(), {});
        (void)p;
      } catch (const Error&) {
      }
    }
  TJ_CHECK(true);
}

TJ_TEST(plannerReusesMemoryAcrossAChain) {
  auto w = copyChain(1000, 6);  // 5 temps of 4000 bytes, at most 2 alive at once
  Program p = decodeProgram(w.data(), w.size(), {});
  MemoryPlan plan = planMemory(p);
  TJ_CHECK(plan.unplannedBytes == 5 * 4032);
  TJ_CHECK(plan.arenaBytes == 2 * 4032);
}

TJ_TEST(executableRunsTheChain) {
  auto w = copyChain(5, 4);
  Executable exe(decodeProgram(w.data(), w.size(), {}), {});
  float x[5] = {1, 2, 3, 4, 5};
  int64_t shape[1] = {5};
  auto outs = exe.run({contiguousView(x, DType::Float32, 1, shape)});
  TJ_CHECK(outs.size() == 1);
  const float* y = static_cast<const float*>(outs[0].data);
  TJ_CHECK(y[0] == 1 && y[4] == 5);
  int64_t wrong[1] = {4};
  TJ_CHECK_THROWS(exe.run({contiguousView(x, DType::Float32, 1, wrong)}), "must have shape [5]");
}

TJ_TEST(deadCodeAndCommonSubexpressionsAreRemoved) {
  // x -> a = copy(x); b = copy(x) (same as a); dead = copy(x); out = copy(b)
  const double c = kernel("copy");
  std::vector<double> w = {double(kProgramMagic), 1, 1, 0, 5,
                           0, 0, 1, 4, 0, 0,  // x
                           2, 0, 1, 4,        // a
                           2, 0, 1, 4,        // b
                           2, 0, 1, 4,        // dead
                           3, 0, 1, 4,        // out
                           4, c, 1, 0, 1, 1, 0, c, 1, 0, 1, 2, 0, c, 1, 0, 1, 3, 0, c, 1, 2, 1, 4, 0,
                           1, 4};
  Program p = decodeProgram(w.data(), w.size(), {});
  std::vector<ConstBuffer> consts;
  FoldedBuffers folded;
  PassStats s = optimize(p, consts, folded);
  TJ_CHECK(s.commonSubexpressions == 2);  // b and dead both equal a
  TJ_CHECK(s.deadInstrs == 0);
  TJ_CHECK(p.instrs.size() == 2);
  TJ_CHECK(p.instrs[1].inputs[0] == 1);  // out now reads a
  float x[4] = {1, 2, 3, 4};
  int64_t shape[1] = {4};
  Executable exe(decodeProgram(w.data(), w.size(), {}), {});
  auto outs = exe.run({contiguousView(x, DType::Float32, 1, shape)});
  TJ_CHECK(static_cast<float*>(outs[0].data)[3] == 4);
}

TJ_TEST(constantOnlyInstructionsAreFoldedOnce) {
  // y = x + exp(c) * 2, with c a constant: exp(c) and its doubling run when the executable is built.
  const double f32 = static_cast<double>(DType::Float32);
  std::vector<double> w = {double(kProgramMagic), 1, 1, 1, 5,
                           0, 0, 1, 4, 0, 0,  // x
                           1, 0, 1, 4, 0,     // c
                           2, 0, 1, 4,        // e = exp(c)
                           2, 0, 1, 4,        // d = e * 2
                           3, 0, 1, 4,        // y = x + d
                           3, kernel("exp"), 1, 1, 1, 2, 1, f32,
                           kernel("mul"), 1, 2, 1, 3, 2, f32, 2,
                           kernel("add"), 2, 0, 3, 1, 4, 1, f32,
                           1, 4};
  float c[4] = {0, 1, -1, 2};
  Executable exe(decodeProgram(w.data(), w.size(), {16}), {ConstBuffer{c, 16}});
  TJ_CHECK(exe.passStats().foldedConstants == 2);
  TJ_CHECK(exe.program().instrs.size() == 1);
  c[0] = 100;  // folded results do not read the constant again (the TS side rebuilds on writes)
  float x[4] = {1, 2, 3, 4};
  int64_t shape[1] = {4};
  auto outs = exe.run({contiguousView(x, DType::Float32, 1, shape)});
  const float* y = static_cast<float*>(outs[0].data);
  for (int i = 0; i < 4; ++i) {
    const double want = x[i] + 2 * std::exp(static_cast<double>(i == 0 ? 0 : c[i]));
    TJ_CHECK(std::abs(y[i] - want) <= 1e-5 * std::abs(want));
  }
  releaseBytes(outs[0].data, static_cast<size_t>(outs[0].bytes));
}

TJ_TEST_MAIN()
