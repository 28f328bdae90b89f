// A lowered graph as the native executor runs it, and its compact wire format.
//
// The TS backend (lib/backends/native) lowers a GraphModule into one Float64Array
// (format below) plus the constant buffers; decodeProgram() checks every field
// before anything runs: the native side never trusts the JS side.
//
// Wire format, version 1 (every entry a double holding an integer unless noted):
//   magic 0x544A4731 ("TJG1"), version, numInputs, numConsts,
//   numValues, then per value:
//     kind, dtype, ndim, shape[ndim], then by kind:
//       Input:        inputIndex, mutable (0/1: the program may write into it)
//       Const:        constIndex
//       Temp, Output: (nothing; contiguous, Temp in the arena, Output fresh per run)
//       View:         srcValue, offset, strides[ndim]      (elements of src's buffer)
//   numInstrs, then per instruction:
//     kernelId, nIn, inValue[nIn], nOut, outValue[nOut], nAttr, attrs[nAttr] (any double)
//   numOutputs, outputValue[numOutputs]
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/kernel.h"
#include "core/tensor_view.h"

namespace tensorjit {
namespace graph {

constexpr uint32_t kProgramMagic = 0x544A4731;
constexpr int kProgramVersion = 1;

enum class ValueKind : uint8_t { Input = 0, Const = 1, Temp = 2, Output = 3, View = 4 };

struct Value {
  ValueKind kind = ValueKind::Temp;
  DType dtype = DType::Float32;
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};  // View only (others are contiguous)
  int64_t offset = 0;              // View only
  int index = -1;                  // Input: input index; Const: const index; View: source value
  bool mutableInput = false;

  int64_t numel() const;
  int64_t bytes() const;
};

inline bool sameShape(const Value& a, const Value& b) {
  if (a.ndim != b.ndim) return false;
  for (int d = 0; d < a.ndim; ++d)
    if (a.shape[d] != b.shape[d]) return false;
  return true;
}
inline bool sameType(const Value& a, const Value& b) { return a.dtype == b.dtype && sameShape(a, b); }

struct Instr {
  int kernelId = -1;
  std::vector<int> inputs, outputs;
  std::vector<double> attrs;
  // Set by compile-time passes: runs instead of the registered kernel, with state built
  // once (prepacked weights, fused pointwise programs). `label` names it in listings.
  std::function<void(const KernelArgs&)> run;
  std::string label;
};

struct Program {
  int numInputs = 0, numConsts = 0;
  std::vector<Value> values;
  std::vector<Instr> instrs;
  std::vector<int> outputs;

  // The value whose buffer `v` lives in (follows views to their root).
  int rootOf(int v) const;
  std::string describe() const;  // readable listing for logs
};

// Parses and validates; throws tensorjit::Error naming the first problem.
// constBytes[i] is the byte length of constant buffer i (checked against its value).
Program decodeProgram(const double* data, size_t length, const std::vector<int64_t>& constBytes);

}  // namespace graph
}  // namespace tensorjit
