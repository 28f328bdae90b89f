// Turning C++ core errors into JS errors of the right class.
#pragma once
#include <napi.h>

#include <exception>
#include <new>
#include <string>

#include "core/error.h"

namespace tensorjit {
namespace binding {

inline Napi::Error makeError(Napi::Env env, ErrorKind kind, const std::string& msg) {
  if (kind == ErrorKind::Type) return Napi::TypeError::New(env, msg);
  if (kind == ErrorKind::Range) return Napi::RangeError::New(env, msg);
  return Napi::Error::New(env, msg);
}

// The JS error class and message for a C++ exception: tensorjit errors keep their kind,
// running out of memory is a RangeError, anything else an Error. Call inside a catch
// block for a std::exception (it rethrows the one being handled to tell them apart).
struct ErrorReport {
  ErrorKind kind = ErrorKind::Generic;
  std::string message;
};
inline ErrorReport reportCurrentException() {
  try {
    throw;
  } catch (const Error& e) {
    return {e.kind(), e.what()};
  } catch (const std::bad_alloc&) {
    return {ErrorKind::Range, "tensorjit: out of memory"};
  } catch (const std::exception& e) {
    return {ErrorKind::Generic, std::string("tensorjit: ") + e.what()};
  }
}

// Runs `body`, rethrowing C++ errors as JS errors (reportCurrentException).
template <class F>
auto guarded(Napi::Env env, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception&) {
    const ErrorReport r = reportCurrentException();
    throw makeError(env, r.kind, r.message);
  }
}

}  // namespace binding
}  // namespace tensorjit
