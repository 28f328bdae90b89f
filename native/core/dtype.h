// Element types shared by the kernels, the graph executor and the binding.
// The numeric codes are part of the JS<->C++ contract (lib/dtype.ts mirrors them).
#pragma once
#include <cstddef>
#include <cstdint>

namespace tensorjit {

enum class DType : uint8_t { Float32 = 0, Int32 = 1, Int64 = 2, Bool = 3, Float16 = 4, BFloat16 = 5 };
constexpr int kNumDTypes = 6;

inline size_t itemSize(DType t) {
  switch (t) {
    case DType::Float32: return 4;
    case DType::Int32: return 4;
    case DType::Int64: return 8;
    case DType::Bool: return 1;
    case DType::Float16: return 2;
    case DType::BFloat16: return 2;
  }
  return 0;
}

inline const char* dtypeName(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
    case DType::Float16: return "float16";
    case DType::BFloat16: return "bfloat16";
  }
  return "?";
}

inline bool isValidDType(int code) { return code >= 0 && code < kNumDTypes; }

}  // namespace tensorjit
