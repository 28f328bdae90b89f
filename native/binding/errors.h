// Turning C++ core errors into JS errors of the right class.
#pragma once
#include <napi.h>

#include <string>

#include "core/error.h"

namespace tensorjit {
namespace binding {

inline Napi::Error makeError(Napi::Env env, ErrorKind kind, const std::string& msg) {
  if (kind == ErrorKind::Type) return Napi::TypeError::New(env, msg);
  if (kind == ErrorKind::Range) return Napi::RangeError::New(env, msg);
  return Napi::Error::New(env, msg);
}

// Runs `body`, rethrowing tensorjit errors as JS TypeError/RangeError.
template <class F>
auto guarded(Napi::Env env, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Error& e) {
    throw makeError(env, e.kind(), e.what());
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Napi::RangeError::New(env, "tensorjit: out of memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("tensorjit: ") + e.what());
  }
}

}  // namespace binding
}  // namespace tensorjit
