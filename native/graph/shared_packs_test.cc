// Prepacked weights shared between executables: one pack per constant content and layout,
// alive while an executable holds it; folded (unversioned) constants are never shared.
#include <memory>
#include <vector>

#include "graph/executable.h"
#include "graph/program.h"
#include "graph/shared_packs.h"
#include "testing/check.h"

using namespace tensorjit;
using namespace tensorjit::graph;

namespace {

int makes = 0;
std::function<std::shared_ptr<const int>()> maker(int value) {
  return [value] {
    ++makes;
    return std::make_shared<const int>(value);
  };
}

double kernel(const char* name) { return KernelRegistry::instance().idOf(name); }

// y = linear(x[rows, 8], W[4, 8]) with W constant 0.
std::vector<double> linearProgram(int rows) {
  return {double(kProgramMagic), 1, 1, 1, 3,
          0, 0, 2, double(rows), 8, 0, 0,  // x
          1, 0, 2, 4, 8, 0,                // W
          3, 0, 2, double(rows), 4,        // y
          1, kernel("linear"), 2, 0, 1, 1, 2, 1, 0,
          1, 2};
}

}  // namespace

TJ_TEST(oneSharedPackPerKeyWhileHeld) {
  int data[4] = {};
  const PackKey a{data, 1, {0, 8, 4}}, newer{data, 2, {0, 8, 4}}, other{data + 1, 1, {0, 8, 4}};
  bool reused = false;
  makes = 0;
  auto p1 = sharedPack<int>(a, maker(1), &reused);
  TJ_CHECK(!reused && makes == 1 && *p1 == 1);
  auto p2 = sharedPack<int>(a, maker(2), &reused);
  TJ_CHECK(reused && makes == 1 && p2 == p1);
  auto p3 = sharedPack<int>(newer, maker(3), &reused);  // a write moved the version: packed again
  TJ_CHECK(!reused && makes == 2 && *p3 == 3);
  auto p4 = sharedPack<int>(other, maker(4), &reused);
  TJ_CHECK(!reused && makes == 3 && *p4 == 4);
  const size_t held = sharedPackCount();
  p1.reset();
  p2.reset();  // nobody holds a's pack: it is gone, and a new request packs again
  TJ_CHECK(sharedPackCount() == held - 1);
  auto p5 = sharedPack<int>(a, maker(5), &reused);
  TJ_CHECK(!reused && makes == 4 && *p5 == 5);
}

TJ_TEST(executablesOfTwoShapesShareTheirWeightsPack) {
  std::vector<float> w(32, 0.5f);
  auto build = [&](int rows, bool versioned, uint64_t version) {
    auto words = linearProgram(rows);
    ConstBuffer c{w.data(), 128};
    c.versioned = versioned;
    c.version = version;
    return std::make_unique<Executable>(decodeProgram(words.data(), words.size(), {128}), std::vector<ConstBuffer>{c});
  };
  auto e1 = build(2, true, 7);
  auto e2 = build(3, true, 7);
  TJ_CHECK(e1->passStats().prepackedWeights == 1 && e1->passStats().sharedWeights == 0);
  TJ_CHECK(e2->passStats().prepackedWeights == 1 && e2->passStats().sharedWeights == 1);
  auto e3 = build(3, true, 8);  // the weight was written since
  TJ_CHECK(e3->passStats().sharedWeights == 0);
  auto e4 = build(5, false, 7);  // no version: its own pack
  TJ_CHECK(e4->passStats().sharedWeights == 0);
  // the shared pack computes: x of ones times W of halves is 4 in every output
  std::vector<float> x(3 * 8, 1.0f), y(3 * 4, 0.0f);
  std::vector<TensorView> in{contiguousView(x.data(), DType::Float32, 2, std::vector<int64_t>{3, 8}.data())};
  std::vector<TensorView> out{contiguousView(y.data(), DType::Float32, 2, std::vector<int64_t>{3, 4}.data())};
  e1.reset();  // the first holder goes; the second still has the pack
  e2->run(in, &out);
  for (float v : y) TJ_CHECK(v == 4.0f);
}

TJ_TEST_MAIN()
