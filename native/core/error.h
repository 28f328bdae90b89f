// Errors raised by the C++ core. The binding turns them into JS TypeError/RangeError;
// the core itself never sees JavaScript.
#pragma once
#include <stdexcept>
#include <string>

namespace tensorjit {

enum class ErrorKind { Type, Range, Generic };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& msg) : std::runtime_error(msg), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

[[noreturn]] inline void throwTypeError(const std::string& msg) { throw Error(ErrorKind::Type, msg); }
[[noreturn]] inline void throwRangeError(const std::string& msg) { throw Error(ErrorKind::Range, msg); }

}  // namespace tensorjit
