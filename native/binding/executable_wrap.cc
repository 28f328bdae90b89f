// JS handle of a graph::Executable: built once per compile, run sync or async.
//   new Executable(program: Float64Array, consts: ArrayBuffer[], constOffsets: Float64Array
//                  [, constVersions: Float64Array])
//   Executable.build(program, consts, constOffsets[, constVersions]) -> Promise<Executable>
//     (built off the event loop: folding and prepacking a large model's constants takes
//     100+ ms). With versions, prepacked weights are shared with other executables built
//     from the same constants at the same versions (graph/shared_packs.h).
//   run(buffers, meta[, numOutputs]) -> ArrayBuffer[]   (packed tensors as in exec)
//   runAsync(buffers, meta[, numOutputs]) -> Promise<ArrayBuffer[]>   (off the event loop)
// With numOutputs > 0 the last numOutputs packed tensors receive the program's outputs
// (the caller allocates them, so large output buffers are reused) and [] comes back;
// without, the outputs come back as fresh buffers.
//   describe() -> string; memoryPlan() -> {arenaBytes, unplannedBytes}
#include "binding/executable_wrap.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "binding/errors.h"
#include "binding/storage.h"
#include "binding/tensor_args.h"
#include "core/error.h"
#include "core/short_slice.h"
#include "core/thread_pool.h"
#include "graph/executable.h"

namespace tensorjit {
namespace binding {
namespace {

// Keeps JS buffers and their native blocks alive while native code holds pointers to them.
class PinnedBuffers {
 public:
  PinnedBuffers() = default;
  PinnedBuffers(PinnedBuffers&&) = default;
  PinnedBuffers& operator=(PinnedBuffers&& other) {
    clear();
    refs_ = std::move(other.refs_);
    tokens_ = std::move(other.tokens_);
    other.tokens_.clear();
    return *this;
  }
  void add(Napi::ArrayBuffer buffer) {
    refs_.push_back(Napi::Persistent(buffer.As<Napi::Object>()));
    tokens_.push_back(pinStorage(buffer));
  }
  // Must run on the JS thread.
  void clear() {
    for (void* t : tokens_) unpinStorage(t);
    tokens_.clear();
    refs_.clear();
  }
  ~PinnedBuffers() { clear(); }

 private:
  std::vector<Napi::ObjectReference> refs_;
  std::vector<void*> tokens_;
};

Napi::Array wrapOutputs(Napi::Env env, const std::vector<graph::OutputBuffer>& outs) {
  Napi::Array arr = Napi::Array::New(env, outs.size());
  for (size_t i = 0; i < outs.size(); ++i)
    arr.Set(static_cast<uint32_t>(i), adoptStorage(env, outs[i].data, static_cast<size_t>(outs[i].bytes)));
  return arr;
}

// Where an executable's runAsync computes, from the compute time of its last run:
// - under 30 us, on the calling (event-loop) thread, the promise settled at once: queueing
//   the run costs the loop more than that (a one-op graph: ~55 us per runAsync, ~4 us per
//   call), besides the two thread wake-ups;
// - under 250 us, on the libuv worker itself with the normal pool: too short to hold the
//   loop up, it would spend more on the hand-off than the lower priority saves;
// - over 1 ms, handed to the low-priority background threads (core/thread_pool.h:
//   runInBackground).
// Between the limits a run keeps its place, so a run near one does not alternate between
// two pools (each alternation finds the other pool's workers asleep: a batch-1 MLP of
// ~90 us took 230-260 us per runAsync with one 100 us limit, ~180 always in the
// background, ~150 always on the libuv worker). The first run goes to the background.
class RunPlacement {
 public:
  enum Place { kCallingThread, kLibuvWorker, kBackground };
  Place place() const { return place_.load(std::memory_order_relaxed); }
  void record(int64_t computeNs) {
    const Place now = place();
    Place next = now;
    if (computeNs < kCallingThreadBelowNs) next = kCallingThread;
    else if (computeNs > kBackgroundAboveNs) next = kBackground;
    else if (now == kBackground && computeNs < kLibuvWorkerBelowNs) next = kLibuvWorker;
    else if (now == kCallingThread && computeNs > 2 * kCallingThreadBelowNs) next = kLibuvWorker;
    if (next != now) place_.store(next, std::memory_order_relaxed);
  }

 private:
  static constexpr int64_t kCallingThreadBelowNs = 30 * 1000, kLibuvWorkerBelowNs = 250 * 1000,
                           kBackgroundAboveNs = 1000 * 1000;
  std::atomic<Place> place_{kBackground};
};

// Runs exe and tells placement how long it computed.
std::vector<graph::OutputBuffer> timedRun(graph::Executable& exe, RunPlacement& placement,
                                          const std::vector<TensorView>& inputs, std::vector<TensorView>* outputs) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<graph::OutputBuffer> result = exe.run(inputs, outputs);
  placement.record(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
  return result;
}

// A failure on a worker thread, kept for the JS thread to turn into a JS error.
class WorkerFailure {
 public:
  // Runs body, keeping what it throws.
  template <class F>
  void capture(F&& body) {
    try {
      body();
    } catch (const std::exception&) {
      report_ = reportCurrentException();
      failed_ = true;
    }
  }
  bool failed() const { return failed_; }
  Napi::Error toJs(Napi::Env env) const { return makeError(env, report_.kind, report_.message); }

 private:
  bool failed_ = false;
  ErrorReport report_;
};

// The event loop wakes promptly while work it waits for computes (see core/short_slice.h).
// Begun and ended on the JS thread (a worker's constructor and OnOK or destructor).
class PromptLoopWakeups {
 public:
  PromptLoopWakeups() { beginShortSlice(); }
  ~PromptLoopWakeups() { end(); }
  void end() {
    if (active_) endShortSlice();
    active_ = false;
  }

 private:
  bool active_ = true;
};

// Settles a promise on the JS thread: body resolves or rejects it, and a JS error it
// throws rejects it. (In a worker thread being terminated JS cannot run and every N-API
// call fails; node-addon-api then drops the error, NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
// in binding.gyp, where it would otherwise abort the whole process.)
template <class F>
void settle(Napi::Promise::Deferred& deferred, F&& body) {
  try {
    body();
  } catch (const Napi::Error& e) {
    deferred.Reject(e.Value());
  }
}

class RunWorker : public Napi::AsyncWorker {
 public:
  RunWorker(Napi::Env env, std::shared_ptr<graph::Executable> exe, std::shared_ptr<RunPlacement> placement,
            std::vector<TensorView> inputs, std::vector<TensorView> outputs, const Napi::Array& buffers)
      : Napi::AsyncWorker(env, "tensorjit.runAsync"), exe_(std::move(exe)), placement_(std::move(placement)),
        inputs_(std::move(inputs)), given_(std::move(outputs)), deferred_(Napi::Promise::Deferred::New(env)) {
    for (uint32_t i = 0; i < buffers.Length(); ++i) pins_.add(buffers.Get(i).As<Napi::ArrayBuffer>());
  }
  Napi::Promise promise() { return deferred_.Promise(); }

  // On a libuv worker: the run computes here or in the background (RunPlacement).
  void Execute() override {
    failure_.capture([&] {
      auto body = [&] { outputs_ = timedRun(*exe_, *placement_, inputs_, given_.empty() ? nullptr : &given_); };
      if (placement_->place() == RunPlacement::kLibuvWorker) body();
      else runInBackground(body);
    });
  }
  void OnOK() override {
    pins_.clear();
    wakeups_.end();
    settle(deferred_, [&] {
      Napi::Env env = Env();
      Napi::HandleScope scope(env);
      if (failure_.failed()) deferred_.Reject(failure_.toJs(env).Value());
      else deferred_.Resolve(wrapOutputs(env, outputs_));
    });
  }

 private:
  PromptLoopWakeups wakeups_;
  std::shared_ptr<graph::Executable> exe_;
  std::shared_ptr<RunPlacement> placement_;  // shared by the runs of one executable
  std::vector<TensorView> inputs_, given_;
  std::vector<graph::OutputBuffer> outputs_;
  PinnedBuffers pins_;
  Napi::Promise::Deferred deferred_;
  WorkerFailure failure_;
};

// What building an executable takes, read and checked on the JS thread: the decoded
// program, its constants' memory, and pins keeping that memory alive.
struct BuildArgs {
  graph::Program program;
  std::vector<graph::ConstBuffer> consts;
  PinnedBuffers pins;
};

BuildArgs readBuildArgs(const Napi::CallbackInfo& info, const std::string& what) {
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throwTypeError(what + ": program must be a Float64Array");
  if (!info[1].IsArray()) throwTypeError(what + ": consts must be an array of ArrayBuffers");
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throwTypeError(what + ": constOffsets must be a Float64Array");
  Napi::Float64Array program = info[0].As<Napi::Float64Array>();
  Napi::Array consts = info[1].As<Napi::Array>();
  Napi::Float64Array offsets = info[2].As<Napi::Float64Array>();
  if (offsets.ElementLength() != consts.Length()) throwRangeError(what + ": one byte offset per constant");
  // Optional: each constant's content version (it changes when the constant is written),
  // which lets executables built from the same constants share their prepacked forms.
  const bool versioned = info.Length() > 3 && !info[3].IsUndefined();
  if (versioned && (!info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
                    info[3].As<Napi::Float64Array>().ElementLength() != consts.Length()))
    throwTypeError(what + ": constVersions must be a Float64Array with one version per constant");
  BuildArgs args;
  std::vector<int64_t> constBytes;
  for (uint32_t i = 0; i < consts.Length(); ++i) {
    Napi::Value v = consts.Get(i);
    if (!v.IsArrayBuffer()) throwTypeError(what + ": constant " + std::to_string(i) + " is not an ArrayBuffer");
    Napi::ArrayBuffer ab = v.As<Napi::ArrayBuffer>();
    const double off = offsets[i];
    if (!(off >= 0 && off <= static_cast<double>(ab.ByteLength())) || off != static_cast<double>(static_cast<int64_t>(off)))
      throwRangeError(what + ": constant " + std::to_string(i) + " has a bad byte offset");
    graph::ConstBuffer c{static_cast<char*>(ab.Data()) + static_cast<int64_t>(off),
                         static_cast<int64_t>(ab.ByteLength()) - static_cast<int64_t>(off)};
    if (versioned) {
      const double version = info[3].As<Napi::Float64Array>()[i];
      if (!(version >= 0 && version <= 9007199254740992.0) || version != std::floor(version))
        throwRangeError(what + ": constant " + std::to_string(i) + " has a bad version");
      c.versioned = true;
      c.version = static_cast<uint64_t>(version);
    }
    args.consts.push_back(c);
    constBytes.push_back(args.consts.back().bytes);
    args.pins.add(ab);
  }
  args.program = graph::decodeProgram(program.Data(), program.ElementLength(), constBytes);
  return args;
}

}  // namespace

struct ExecutableWrap::Impl {
  std::shared_ptr<graph::Executable> exe;
  PinnedBuffers consts;
  std::shared_ptr<RunPlacement> placement = std::make_shared<RunPlacement>();
};

namespace {

// Builds an executable on a background thread (as a long run: low priority, its own pool),
// then wraps it in a JS Executable made with `ctor`.
class BuildWorker : public Napi::AsyncWorker {
 public:
  BuildWorker(Napi::Env env, Napi::Function ctor, BuildArgs args)
      : Napi::AsyncWorker(env, "tensorjit.buildExecutable"), ctor_(Napi::Persistent(ctor)), args_(std::move(args)),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    failure_.capture([&] {
      runInBackground([&] { exe_ = std::make_shared<graph::Executable>(std::move(args_.program), std::move(args_.consts)); });
    });
  }
  void OnOK() override {
    wakeups_.end();
    if (failure_.failed()) args_.pins.clear();
    settle(deferred_, [&] {
      Napi::Env env = Env();
      Napi::HandleScope scope(env);
      if (failure_.failed()) {
        deferred_.Reject(failure_.toJs(env).Value());
        return;
      }
      auto impl = std::make_unique<ExecutableWrap::Impl>();
      impl->exe = std::move(exe_);
      impl->consts = std::move(args_.pins);
      Napi::Object wrapped = ctor_.New({Napi::External<ExecutableWrap::Impl>::New(env, impl.get())});
      impl.release();  // the new Executable owns it
      deferred_.Resolve(wrapped);
    });
  }

 private:
  PromptLoopWakeups wakeups_;
  Napi::FunctionReference ctor_;
  BuildArgs args_;
  std::shared_ptr<graph::Executable> exe_;
  Napi::Promise::Deferred deferred_;
  WorkerFailure failure_;
};

}  // namespace

Napi::Function ExecutableWrap::define(Napi::Env env) {
  return DefineClass(env, "Executable",
                     {InstanceMethod<&ExecutableWrap::run>("run"), InstanceMethod<&ExecutableWrap::runAsync>("runAsync"),
                      InstanceMethod<&ExecutableWrap::describe>("describe"),
                      InstanceMethod<&ExecutableWrap::memoryPlan>("memoryPlan"),
                      // writable and configurable, as a JS class's static methods are
                      StaticMethod<&ExecutableWrap::build>(
                          "build", static_cast<napi_property_attributes>(napi_writable | napi_configurable))});
}

ExecutableWrap::ExecutableWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ExecutableWrap>(info) {
  // From BuildWorker: an executable already built. (JS cannot make an External.)
  if (info.Length() == 1 && info[0].IsExternal()) {
    impl_.reset(info[0].As<Napi::External<Impl>>().Data());
    return;
  }
  impl_ = std::make_unique<Impl>();
  guarded(info.Env(), [&] {
    BuildArgs args = readBuildArgs(info, "Executable");
    impl_->exe = std::make_shared<graph::Executable>(std::move(args.program), std::move(args.consts));
    impl_->consts = std::move(args.pins);
  });
}

Napi::Value ExecutableWrap::build(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info.This().IsFunction()) throw Napi::TypeError::New(env, "Executable.build: call it as Executable.build(...)");
  return guarded(env, [&] {
    auto* worker = new BuildWorker(env, info.This().As<Napi::Function>(), readBuildArgs(info, "Executable.build"));
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return static_cast<Napi::Value>(promise);
  });
}

ExecutableWrap::~ExecutableWrap() = default;

namespace {
// Splits the packed tensors of run/runAsync into inputs and caller-given outputs.
std::vector<TensorView> splitOutputs(const Napi::CallbackInfo& info, std::vector<TensorView>& tensors, const char* what) {
  if (!info[0].IsArray() || !info[1].IsTypedArray() || (info.Length() > 2 && !info[2].IsUndefined() && !info[2].IsNumber()))
    throwTypeError(std::string(what) + ": expected (buffers: ArrayBuffer[], meta: Float64Array[, numOutputs: number])");
  const double n = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : 0;
  if (!(n >= 0 && n <= static_cast<double>(tensors.size())) || n != static_cast<double>(static_cast<int64_t>(n)))
    throwRangeError(std::string(what) + ": numOutputs " + std::to_string(n) + " out of range for " +
                    std::to_string(tensors.size()) + " tensors");
  std::vector<TensorView> outputs(tensors.end() - static_cast<int64_t>(n), tensors.end());
  tensors.resize(tensors.size() - static_cast<size_t>(n));
  return outputs;
}
}  // namespace

Napi::Value ExecutableWrap::run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray() || !info[1].IsTypedArray())
    throw Napi::TypeError::New(env, "run: expected (buffers: ArrayBuffer[], meta: Float64Array[, numOutputs])");
  return guarded(env, [&] {
    std::vector<TensorView> inputs =
        decodeTensors(info[0].As<Napi::Array>(), info[1].As<Napi::Float64Array>(), "run");
    std::vector<TensorView> outputs = splitOutputs(info, inputs, "run");
    return static_cast<Napi::Value>(wrapOutputs(env, impl_->exe->run(inputs, outputs.empty() ? nullptr : &outputs)));
  });
}

Napi::Value ExecutableWrap::runAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray() || !info[1].IsTypedArray())
    throw Napi::TypeError::New(env, "runAsync: expected (buffers: ArrayBuffer[], meta: Float64Array[, numOutputs])");
  return guarded(env, [&] {
    Napi::Array buffers = info[0].As<Napi::Array>();
    std::vector<TensorView> inputs = decodeTensors(buffers, info[1].As<Napi::Float64Array>(), "runAsync");
    std::vector<TensorView> outputs = splitOutputs(info, inputs, "runAsync");
    if (impl_->placement->place() == RunPlacement::kCallingThread) {
      Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
      settle(deferred, [&] {
        deferred.Resolve(guarded(env, [&] {
          return wrapOutputs(env, timedRun(*impl_->exe, *impl_->placement, inputs, outputs.empty() ? nullptr : &outputs));
        }));
      });
      return static_cast<Napi::Value>(deferred.Promise());
    }
    auto* worker = new RunWorker(env, impl_->exe, impl_->placement, std::move(inputs), std::move(outputs), buffers);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return static_cast<Napi::Value>(promise);
  });
}

Napi::Value ExecutableWrap::describe(const Napi::CallbackInfo& info) {
  const auto& exe = *impl_->exe;
  return Napi::String::New(info.Env(), exe.program().describe() + exe.passStats().describe() +
                                             exe.plan().describe(exe.program()));
}

Napi::Value ExecutableWrap::memoryPlan(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("arenaBytes", static_cast<double>(impl_->exe->plan().arenaBytes));
  o.Set("unplannedBytes", static_cast<double>(impl_->exe->plan().unplannedBytes));
  return o;
}

}  // namespace binding
}  // namespace tensorjit
