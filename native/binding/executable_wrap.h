#pragma once
#include <napi.h>

#include <memory>

namespace tensorjit {
namespace binding {

class ExecutableWrap : public Napi::ObjectWrap<ExecutableWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit ExecutableWrap(const Napi::CallbackInfo& info);
  ~ExecutableWrap() override;

  struct Impl;  // the executable, its constants' pins, where its async runs go

 private:
  Napi::Value run(const Napi::CallbackInfo& info);
  Napi::Value runAsync(const Napi::CallbackInfo& info);
  Napi::Value describe(const Napi::CallbackInfo& info);
  Napi::Value memoryPlan(const Napi::CallbackInfo& info);
  static Napi::Value build(const Napi::CallbackInfo& info);

  std::unique_ptr<Impl> impl_;
};

}  // namespace binding
}  // namespace tensorjit
