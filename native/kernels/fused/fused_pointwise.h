// Fused pointwise programs prepared once: the graph passes decode, check and plan each
// program when an executable is built, so a run only binds its operands (the registered
// "fused_pointwise" kernel does all of it on every call).
#pragma once
#include <functional>
#include <vector>

#include "core/kernel.h"

namespace tensorjit {

// attrs: a program in the kernel's attribute layout (kernels/fused/vm_ops.h), for calls
// with numInputs inputs and numOutputs outputs. Throws as the kernel would on a malformed
// program. The result runs the program with the ISA table selected now.
std::function<void(const KernelArgs&)> prepareFusedPointwise(const std::vector<double>& attrs, int numInputs,
                                                             int numOutputs);

}  // namespace tensorjit
