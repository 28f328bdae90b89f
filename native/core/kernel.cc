#include "core/kernel.h"

#include "core/error.h"

namespace tensorjit {

KernelRegistry& KernelRegistry::instance() {
  static KernelRegistry registry;  // function-local: safe during static init of kernel files
  return registry;
}

void KernelRegistry::add(const char* name, Isa isa, KernelFn fn) {
  int id = idOf(name);
  if (id < 0) {
    id = static_cast<int>(names_.size());
    names_.emplace_back(name);
    entries_.emplace_back();
  }
  entries_[id].byIsa[static_cast<int>(isa)] = fn;
  resolve(entries_[id]);
}

void KernelRegistry::resolve(Entry& e) const {
  // Best body not above the selected ISA; kernels without SIMD register scalar only.
  for (int i = static_cast<int>(selected_); i >= 0; --i) {
    if (e.byIsa[i]) {
      e.active = e.byIsa[i];
      e.activeIsa = static_cast<Isa>(i);
      return;
    }
  }
  e.active = nullptr;
}

void KernelRegistry::selectIsa(Isa cap) {
  Isa best = bestSupportedIsa();
  selected_ = static_cast<int>(cap) < static_cast<int>(best) ? cap : best;
  for (auto& e : entries_) resolve(e);
}

int KernelRegistry::idOf(const std::string& name) const {
  for (size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name) return static_cast<int>(i);
  return -1;
}

KernelFn KernelRegistry::get(int id) const {
  if (id < 0 || id >= static_cast<int>(entries_.size())) return nullptr;
  return entries_[id].active;
}

void KernelRegistry::setFusion(const char* name, FusionInfo info) {
  for (auto& f : fusion_)
    if (f.first == name) {
      f.second = info;
      return;
    }
  fusion_.emplace_back(name, info);
}

FusionInfo KernelRegistry::fusionOf(int id) const {
  if (id < 0 || id >= static_cast<int>(names_.size())) return {};
  for (const auto& f : fusion_)
    if (f.first == names_[id]) return f.second;
  return {};
}

Isa KernelRegistry::isaOf(int id) const { return entries_.at(id).activeIsa; }

void runKernel(int id, const KernelArgs& args) {
  KernelFn fn = KernelRegistry::instance().get(id);
  if (!fn) throwRangeError("unknown kernel id " + std::to_string(id));
  fn(args);
}

}  // namespace tensorjit
