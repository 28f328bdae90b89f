// Static registration of kernel bodies (see simd/foreach_isa.h).
#pragma once
#include "core/kernel.h"

namespace tensorjit {

struct KernelRegistration {
  KernelRegistration(const char* name, Isa isa, KernelFn fn) {
    KernelRegistry::instance().add(name, isa, fn);
  }
};

// Per-ISA companions of a kernel (its weight packing, its prepared-program runner): each
// ISA pass sets its own entry, and forActiveIsa() returns the entry of the body the kernel
// runs with now, so state prepared through it fits the kernel that later uses it.
template <class T>
class IsaCompanions {
 public:
  explicit IsaCompanions(const char* kernel) : kernel_(kernel) {}
  void set(Isa isa, const T& value) { byIsa_[static_cast<int>(isa)] = value; }
  const T& forActiveIsa() const {
    const KernelRegistry& reg = KernelRegistry::instance();
    return byIsa_[static_cast<int>(reg.isaOf(reg.idOf(kernel_)))];
  }

 private:
  const char* kernel_;
  T byIsa_[kNumIsas] = {};
};

}  // namespace tensorjit

#define TJ_CONCAT_INNER(a, b) a##b
#define TJ_CONCAT(a, b) TJ_CONCAT_INNER(a, b)
// Registers `fn` under `name` for the ISA of the current pass.
#define TJ_REGISTER_KERNEL(name, fn) \
  static const ::tensorjit::KernelRegistration TJ_CONCAT(kRegistration, __LINE__)(name, TJ_ISA_ENUM, fn)
// For kernels that need no SIMD (gathers, copies of ints): register once, outside any pass.
#define TJ_REGISTER_SCALAR_KERNEL(name, fn)                                   \
  static const ::tensorjit::KernelRegistration TJ_CONCAT(kScalarRegistration, \
                                                         __LINE__)(name, ::tensorjit::Isa::Scalar, fn)
