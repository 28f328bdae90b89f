// A minimal test harness for the C++ tests (native/**/*_test.cc, run by ctest).
#pragma once
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace tensorjit {
namespace testing {

struct Case {
  const char* name;
  std::function<void()> body;
};

inline std::vector<Case>& cases() {
  static std::vector<Case> all;
  return all;
}
inline int& failures() {
  static int n = 0;
  return n;
}

struct Register {
  Register(const char* name, std::function<void()> body) { cases().push_back({name, std::move(body)}); }
};

inline int runAll() {
  int failedCases = 0;
  for (auto& c : cases()) {
    const int before = failures();
    try {
      c.body();
    } catch (const std::exception& e) {
      std::printf("  unexpected exception: %s\n", e.what());
      ++failures();
    }
    const bool ok = failures() == before;
    failedCases += ok ? 0 : 1;
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", c.name);
  }
  std::printf("%d passed, %d failed\n", static_cast<int>(cases().size()) - failedCases, failedCases);
  return failedCases ? 1 : 0;
}

}  // namespace testing
}  // namespace tensorjit

#define TJ_TEST(name)                                                         \
  static void name();                                                         \
  static const ::tensorjit::testing::Register name##_registration(#name, name); \
  static void name()

#define TJ_CHECK(cond)                                                              \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::printf("  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);       \
      ++::tensorjit::testing::failures();                                           \
    }                                                                               \
  } while (0)

// Expects `expr` to throw tensorjit::Error whose message contains `text`.
#define TJ_CHECK_THROWS(expr, text)                                                   \
  do {                                                                                \
    bool thrown = false;                                                              \
    try {                                                                             \
      expr;                                                                           \
    } catch (const std::exception& e) {                                               \
      thrown = std::string(e.what()).find(text) != std::string::npos;                 \
      if (!thrown) std::printf("  %s:%d: wrong error: %s\n", __FILE__, __LINE__, e.what()); \
    }                                                                                 \
    if (!thrown) {                                                                    \
      std::printf("  %s:%d: expected an error containing '%s'\n", __FILE__, __LINE__, text); \
      ++::tensorjit::testing::failures();                                             \
    }                                                                                 \
  } while (0)

#define TJ_TEST_MAIN() \
  int main() { return ::tensorjit::testing::runAll(); }
