// The N-API surface of tensorjit: checks, converts, forwards, converts back.
// lib/native.ts types exactly what is exported here.
#include <napi.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "binding/errors.h"
#include "binding/executable_wrap.h"
#include "binding/storage.h"
#include "binding/tensor_args.h"
#include "core/allocator.h"
#include "core/error.h"
#include "core/kernel.h"
#include "core/thread_pool.h"

namespace tensorjit {
namespace binding {
namespace {

int64_t requireInt(const Napi::Value& v, const char* what) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), std::string(what) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d)))
    throw Napi::RangeError::New(v.Env(), std::string(what) + " must be an integer");
  return static_cast<int64_t>(d);
}

Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t bytes = requireInt(info[0], "alloc: bytes");
  if (bytes < 0) throw Napi::RangeError::New(env, "alloc: bytes must be >= 0");
  const bool zero = info.Length() > 1 && info[1].ToBoolean();
  return guarded(env, [&] { return allocStorage(env, static_cast<size_t>(bytes), zero); });
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  if (!info[0].IsArrayBuffer()) throw Napi::TypeError::New(info.Env(), "free: expected an ArrayBuffer");
  freeStorage(info[0].As<Napi::ArrayBuffer>());
  return info.Env().Undefined();
}

Napi::Value Park(const Napi::CallbackInfo& info) {
  if (!info[0].IsArrayBuffer()) throw Napi::TypeError::New(info.Env(), "park: expected an ArrayBuffer");
  return Napi::Boolean::New(info.Env(), parkStorage(info[0].As<Napi::ArrayBuffer>()));
}

Napi::Value Unpark(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer()) throw Napi::TypeError::New(env, "unpark: expected an ArrayBuffer");
  const bool zero = info.Length() > 1 && info[1].ToBoolean();
  guarded(env, [&] { unparkStorage(info[0].As<Napi::ArrayBuffer>(), zero); });
  return env.Undefined();
}

// exec(kernelId, buffers, meta, numInputs, attrs)
Napi::Value Exec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t id = requireInt(info[0], "exec: kernel id");
  if (!info[1].IsArray()) throw Napi::TypeError::New(env, "exec: buffers must be an array");
  if (!info[2].IsTypedArray()) throw Napi::TypeError::New(env, "exec: meta must be a Float64Array");
  const int64_t numInputs = requireInt(info[3], "exec: numInputs");
  if (!info[4].IsTypedArray()) throw Napi::TypeError::New(env, "exec: attrs must be a Float64Array");
  Napi::TypedArray metaArr = info[2].As<Napi::TypedArray>(), attrArr = info[4].As<Napi::TypedArray>();
  if (metaArr.TypedArrayType() != napi_float64_array || attrArr.TypedArrayType() != napi_float64_array)
    throw Napi::TypeError::New(env, "exec: meta and attrs must be Float64Arrays");
  guarded(env, [&] {
    KernelFn fn = KernelRegistry::instance().get(static_cast<int>(id));
    if (!fn) throwRangeError("exec: unknown kernel id " + std::to_string(id));
    std::vector<TensorView> views =
        decodeTensors(info[1].As<Napi::Array>(), metaArr.As<Napi::Float64Array>(), "exec");
    if (numInputs < 0 || numInputs > static_cast<int64_t>(views.size()))
      throwRangeError("exec: bad input count");
    Napi::Float64Array attrs = attrArr.As<Napi::Float64Array>();
    KernelArgs args{views.data(), static_cast<int>(numInputs), views.data() + numInputs,
                    static_cast<int>(views.size() - numInputs), attrs.Data(),
                    static_cast<int>(attrs.ElementLength())};
    fn(args);
  });
  return env.Undefined();
}

Napi::Value KernelNames(const Napi::CallbackInfo& info) {
  const auto& names = KernelRegistry::instance().names();
  Napi::Array out = Napi::Array::New(info.Env(), names.size());
  for (size_t i = 0; i < names.size(); ++i) out.Set(static_cast<uint32_t>(i), names[i]);
  return out;
}

Napi::Value KernelIsa(const Napi::CallbackInfo& info) {
  const int64_t id = requireInt(info[0], "kernelIsa: id");
  auto& reg = KernelRegistry::instance();
  if (id < 0 || id >= static_cast<int64_t>(reg.names().size()))
    throw Napi::RangeError::New(info.Env(), "kernelIsa: unknown kernel id");
  return Napi::String::New(info.Env(), isaName(reg.isaOf(static_cast<int>(id))));
}

Napi::Value IsaInfo(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("selected", isaName(KernelRegistry::instance().selectedIsa()));
  o.Set("best", isaName(bestSupportedIsa()));
  return o;
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  const int64_t n = requireInt(info[0], "setNumThreads: n");
  guarded(info.Env(), [&] { setNumThreads(n); });  // the core checks the range
  return info.Env().Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), numThreads()); }

Napi::Value MemoryStatsJs(const Napi::CallbackInfo& info) {
  MemoryStats s = memoryStats();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("liveBytes", static_cast<double>(s.liveBytes));
  o.Set("peakBytes", static_cast<double>(s.peakBytes));
  o.Set("cachedBytes", static_cast<double>(s.cachedBytes));
  o.Set("liveBlocks", static_cast<double>(s.liveBlocks));
  o.Set("liveBuffers", static_cast<double>(binding::liveStorageCount()));
  return o;
}

Napi::Value EmptyCacheJs(const Napi::CallbackInfo& info) {
  emptyCache();
  return info.Env().Undefined();
}

Napi::Value ResetPeakJs(const Napi::CallbackInfo& info) {
  resetPeakBytes();
  return info.Env().Undefined();
}

// ISA selection happens once per process, at the first load.
void selectIsaOnce() {
  static bool done = false;
  if (done) return;
  done = true;
  Isa cap = kHighestIsa;
  if (const char* env = std::getenv("TENSORJIT_ISA")) parseIsa(env, &cap);
  KernelRegistry::instance().selectIsa(cap);
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  selectIsaOnce();
  exports.Set("alloc", Napi::Function::New(env, Alloc, "alloc"));
  exports.Set("free", Napi::Function::New(env, Free, "free"));
  exports.Set("park", Napi::Function::New(env, Park, "park"));
  exports.Set("unpark", Napi::Function::New(env, Unpark, "unpark"));
  exports.Set("exec", Napi::Function::New(env, Exec, "exec"));
  exports.Set("kernelNames", Napi::Function::New(env, KernelNames, "kernelNames"));
  exports.Set("kernelIsa", Napi::Function::New(env, KernelIsa, "kernelIsa"));
  exports.Set("isaInfo", Napi::Function::New(env, IsaInfo, "isaInfo"));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads, "getNumThreads"));
  exports.Set("memoryStats", Napi::Function::New(env, MemoryStatsJs, "memoryStats"));
  exports.Set("emptyCache", Napi::Function::New(env, EmptyCacheJs, "emptyCache"));
  exports.Set("resetPeakBytes", Napi::Function::New(env, ResetPeakJs, "resetPeakBytes"));
  exports.Set("Executable", ExecutableWrap::define(env));
  return exports;
}

}  // namespace binding
}  // namespace tensorjit

static Napi::Object InitTensorjit(Napi::Env env, Napi::Object exports) {
  return tensorjit::binding::Init(env, exports);
}
NODE_API_MODULE(tensorjit, InitTensorjit)
