#include "graph/program.h"

#include <cmath>

#include "core/error.h"
#include "core/kernel.h"

namespace tensorjit {
namespace graph {

int64_t Value::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim; ++i) n *= shape[i];
  return n;
}

int64_t Value::bytes() const { return numel() * static_cast<int64_t>(itemSize(dtype)); }

int Program::rootOf(int v) const {
  while (values[v].kind == ValueKind::View) v = values[v].index;
  return v;
}

namespace {

constexpr int64_t kMaxCount = 1 << 24;  // values, instructions, operands

class Reader {
 public:
  Reader(const double* d, size_t n) : d_(d), n_(n) {}
  double raw(const char* what) {
    if (pos_ >= n_) throwRangeError(std::string("program: truncated at ") + what);
    return d_[pos_++];
  }
  int64_t integer(const char* what, int64_t lo, int64_t hi) {
    const double v = raw(what);
    if (!(v >= static_cast<double>(lo) && v <= static_cast<double>(hi)) || v != std::floor(v))
      throwRangeError(std::string("program: ") + what + " = " + std::to_string(v) + " is out of range [" +
                      std::to_string(lo) + ", " + std::to_string(hi) + "] at word " + std::to_string(pos_ - 1));
    return static_cast<int64_t>(v);
  }
  bool done() const { return pos_ == n_; }

 private:
  const double* d_;
  size_t n_;
  size_t pos_ = 0;
};

}  // namespace

Program decodeProgram(const double* data, size_t length, const std::vector<int64_t>& constBytes) {
  Reader r(data, length);
  if (r.integer("magic", 0, 0xffffffff) != kProgramMagic) throwRangeError("program: bad magic (not a tensorjit program)");
  const int64_t version = r.integer("version", 0, 1 << 20);
  if (version != kProgramVersion)
    throwRangeError("program: unsupported format version " + std::to_string(version) + " (this build reads " +
                    std::to_string(kProgramVersion) + ")");
  Program p;
  p.numInputs = static_cast<int>(r.integer("numInputs", 0, kMaxCount));
  p.numConsts = static_cast<int>(r.integer("numConsts", 0, kMaxCount));
  if (p.numConsts != static_cast<int>(constBytes.size())) throwRangeError("program: constant count mismatch");

  const int64_t numValues = r.integer("numValues", 0, kMaxCount);
  p.values.resize(static_cast<size_t>(numValues));
  std::vector<bool> inputSeen(p.numInputs, false);
  for (int64_t vi = 0; vi < numValues; ++vi) {
    Value& v = p.values[vi];
    v.kind = static_cast<ValueKind>(r.integer("value kind", 0, 4));
    v.dtype = static_cast<DType>(r.integer("dtype", 0, kNumDTypes - 1));
    v.ndim = static_cast<int>(r.integer("ndim", 0, kMaxDims));
    for (int d = 0; d < v.ndim; ++d) v.shape[d] = r.integer("dim size", 0, kMaxElements);
    if (boundedNumel(v.ndim, v.shape) < 0) throwRangeError("program: value " + std::to_string(vi) + " is too large");
    switch (v.kind) {
      case ValueKind::Input: {
        v.index = static_cast<int>(r.integer("input index", 0, p.numInputs - 1));
        if (inputSeen[v.index]) throwRangeError("program: input " + std::to_string(v.index) + " declared twice");
        inputSeen[v.index] = true;
        v.mutableInput = r.integer("mutable flag", 0, 1) != 0;
        break;
      }
      case ValueKind::Const: {
        v.index = static_cast<int>(r.integer("const index", 0, p.numConsts - 1));
        if (constBytes[v.index] < v.bytes())
          throwRangeError("program: constant " + std::to_string(v.index) + " holds " +
                          std::to_string(constBytes[v.index]) + " bytes, its value needs " + std::to_string(v.bytes()));
        break;
      }
      case ValueKind::View: {
        v.index = static_cast<int>(r.integer("view source", 0, vi - 1));
        v.offset = r.integer("view offset", 0, kMaxElements);
        for (int d = 0; d < v.ndim; ++d) v.strides[d] = r.integer("view stride", -kMaxElements, kMaxElements);
        const Value& src = p.values[v.index];
        if (src.dtype != v.dtype) throwTypeError("program: view " + std::to_string(vi) + " changes dtype");
        // The view must stay inside its source's (contiguous or view) extent.
        if (!viewFits(v.ndim, v.shape, v.strides, v.offset, p.values[p.rootOf(v.index)].numel()))
          throwRangeError("program: view " + std::to_string(vi) + " reaches outside its source buffer");
        break;
      }
      case ValueKind::Temp:
      case ValueKind::Output: break;
    }
  }
  for (int i = 0; i < p.numInputs; ++i)
    if (!inputSeen[i]) throwRangeError("program: input " + std::to_string(i) + " has no value");

  // Instructions: SSA over Temp/Output values; inputs, consts and views of defined values are readable.
  std::vector<bool> defined(p.values.size(), false);
  for (size_t vi = 0; vi < p.values.size(); ++vi) {
    const ValueKind k = p.values[vi].kind;
    if (k == ValueKind::Input || k == ValueKind::Const) defined[vi] = true;
  }
  auto isDefined = [&](int v) { return defined[p.rootOf(v)]; };
  const int64_t numKernels = static_cast<int64_t>(KernelRegistry::instance().names().size());
  const int64_t numInstrs = r.integer("numInstrs", 0, kMaxCount);
  p.instrs.resize(static_cast<size_t>(numInstrs));
  for (int64_t ii = 0; ii < numInstrs; ++ii) {
    Instr& in = p.instrs[ii];
    in.kernelId = static_cast<int>(r.integer("kernel id", 0, numKernels - 1));
    const std::string where = "program: instruction " + std::to_string(ii) + " (" +
                              KernelRegistry::instance().names()[in.kernelId] + ")";
    const int64_t nIn = r.integer("input count", 0, 1024);
    for (int64_t k = 0; k < nIn; ++k) {
      const int v = static_cast<int>(r.integer("operand", 0, numValues - 1));
      if (!isDefined(v)) throwRangeError(where + " reads value " + std::to_string(v) + " before it is written");
      in.inputs.push_back(v);
    }
    const int64_t nOut = r.integer("output count", 0, 1024);
    for (int64_t k = 0; k < nOut; ++k) {
      const int v = static_cast<int>(r.integer("result", 0, numValues - 1));
      const Value& root = p.values[p.rootOf(v)];
      const bool writable = root.kind == ValueKind::Temp || root.kind == ValueKind::Output ||
                            (root.kind == ValueKind::Input && root.mutableInput);
      if (!writable) throwRangeError(where + " writes value " + std::to_string(v) + ", which is read-only");
      defined[p.rootOf(v)] = true;
      in.outputs.push_back(v);
    }
    const int64_t nAttr = r.integer("attr count", 0, kMaxCount);
    for (int64_t k = 0; k < nAttr; ++k) in.attrs.push_back(r.raw("attr"));
  }
  const int64_t numOutputs = r.integer("numOutputs", 0, kMaxCount);
  for (int64_t k = 0; k < numOutputs; ++k) {
    const int v = static_cast<int>(r.integer("program output", 0, numValues - 1));
    if (p.values[v].kind != ValueKind::Output)
      throwRangeError("program: output " + std::to_string(k) + " must be an Output value");
    if (!defined[v]) throwRangeError("program: output " + std::to_string(k) + " is never written");
    for (int w : p.outputs)
      if (w == v) throwRangeError("program: value " + std::to_string(v) + " is returned twice");
    p.outputs.push_back(v);
  }
  if (!r.done()) throwRangeError("program: trailing words after the outputs");
  return p;
}

std::string Program::describe() const {
  static const char* kinds[] = {"input", "const", "temp", "output", "view"};
  std::string s;
  for (size_t i = 0; i < values.size(); ++i) {
    const Value& v = values[i];
    std::string shape = "[";
    for (int d = 0; d < v.ndim; ++d) shape += (d ? "," : "") + std::to_string(v.shape[d]);
    s += "  %" + std::to_string(i) + " : " + dtypeName(v.dtype) + shape + "] " + kinds[static_cast<int>(v.kind)];
    if (v.kind == ValueKind::View || v.kind == ValueKind::Input || v.kind == ValueKind::Const)
      s += " " + std::to_string(v.index);
    s += "\n";
  }
  for (const Instr& in : instrs) {
    s += "  ";
    for (size_t k = 0; k < in.outputs.size(); ++k) s += (k ? ", %" : "%") + std::to_string(in.outputs[k]);
    s += " = " + (in.label.empty() ? KernelRegistry::instance().names()[in.kernelId] : in.label) + "(";
    for (size_t k = 0; k < in.inputs.size(); ++k) s += (k ? ", %" : "%") + std::to_string(in.inputs[k]);
    if (!in.attrs.empty()) {
      s += "; attrs";
      for (double a : in.attrs) s += " " + std::to_string(a);
    }
    s += ")\n";
  }
  return s;
}

}  // namespace graph
}  // namespace tensorjit
