// JS handle of a graph::Executable: built once per compile, run sync or async.
//   new Executable(program: Float64Array, consts: ArrayBuffer[], constOffsets: Float64Array)
//   run(buffers, meta[, numOutputs]) -> ArrayBuffer[]   (packed tensors as in exec)
//   runAsync(buffers, meta[, numOutputs]) -> Promise<ArrayBuffer[]>   (off the event loop)
// With numOutputs > 0 the last numOutputs packed tensors receive the program's outputs
// (the caller allocates them, so large output buffers are reused) and [] comes back;
// without, the outputs come back as fresh buffers.
//   describe() -> string; memoryPlan() -> {arenaBytes, unplannedBytes}
#include "binding/executable_wrap.h"

#include <atomic>
#include <chrono>
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

class RunWorker : public Napi::AsyncWorker {
 public:
  RunWorker(Napi::Env env, std::shared_ptr<graph::Executable> exe, std::shared_ptr<RunPlacement> placement,
            std::vector<TensorView> inputs, std::vector<TensorView> outputs, const Napi::Array& buffers)
      : Napi::AsyncWorker(env, "tensorjit.runAsync"), exe_(std::move(exe)), placement_(std::move(placement)),
        inputs_(std::move(inputs)), given_(std::move(outputs)), deferred_(Napi::Promise::Deferred::New(env)) {
    for (uint32_t i = 0; i < buffers.Length(); ++i) pins_.add(buffers.Get(i).As<Napi::ArrayBuffer>());
    // the event loop wakes promptly while this run computes (see core/short_slice.h);
    // constructed and finished on the JS thread
    beginShortSlice();
    sliced_ = true;
  }
  ~RunWorker() override { finishSlice(); }
  Napi::Promise promise() { return deferred_.Promise(); }

  // On a libuv worker: the run computes here or in the background (RunPlacement).
  void Execute() override {
    try {
      auto body = [&] { outputs_ = timedRun(*exe_, *placement_, inputs_, given_.empty() ? nullptr : &given_); };
      if (placement_->place() == RunPlacement::kLibuvWorker) body();
      else runInBackground(body);
    } catch (const Error& e) {
      kind_ = e.kind();
      message_ = e.what();
      failed_ = true;
    } catch (const std::exception& e) {
      kind_ = ErrorKind::Generic;
      message_ = e.what();
      failed_ = true;
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    pins_.clear();
    finishSlice();
    if (failed_) {
      deferred_.Reject(makeError(env, kind_, message_).Value());
      return;
    }
    deferred_.Resolve(wrapOutputs(env, outputs_));
  }

 private:
  void finishSlice() {
    if (sliced_) endShortSlice();
    sliced_ = false;
  }

  bool sliced_ = false;
  std::shared_ptr<graph::Executable> exe_;
  std::shared_ptr<RunPlacement> placement_;  // shared by the runs of one executable
  std::vector<TensorView> inputs_, given_;
  std::vector<graph::OutputBuffer> outputs_;
  PinnedBuffers pins_;
  Napi::Promise::Deferred deferred_;
  bool failed_ = false;
  ErrorKind kind_ = ErrorKind::Generic;
  std::string message_;
};

}  // namespace

struct ExecutableWrap::Impl {
  std::shared_ptr<graph::Executable> exe;
  PinnedBuffers consts;
  std::shared_ptr<RunPlacement> placement = std::make_shared<RunPlacement>();
};

Napi::Function ExecutableWrap::define(Napi::Env env) {
  return DefineClass(env, "Executable",
                     {InstanceMethod<&ExecutableWrap::run>("run"), InstanceMethod<&ExecutableWrap::runAsync>("runAsync"),
                      InstanceMethod<&ExecutableWrap::describe>("describe"),
                      InstanceMethod<&ExecutableWrap::memoryPlan>("memoryPlan")});
}

ExecutableWrap::ExecutableWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ExecutableWrap>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throw Napi::TypeError::New(env, "Executable: program must be a Float64Array");
  if (!info[1].IsArray()) throw Napi::TypeError::New(env, "Executable: consts must be an array of ArrayBuffers");
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throw Napi::TypeError::New(env, "Executable: constOffsets must be a Float64Array");
  Napi::Float64Array program = info[0].As<Napi::Float64Array>();
  Napi::Array consts = info[1].As<Napi::Array>();
  Napi::Float64Array offsets = info[2].As<Napi::Float64Array>();
  if (offsets.ElementLength() != consts.Length())
    throw Napi::RangeError::New(env, "Executable: one byte offset per constant");
  impl_ = std::make_unique<Impl>();
  guarded(env, [&] {
    std::vector<graph::ConstBuffer> constBuffers;
    std::vector<int64_t> constBytes;
    for (uint32_t i = 0; i < consts.Length(); ++i) {
      Napi::Value v = consts.Get(i);
      if (!v.IsArrayBuffer()) throwTypeError("Executable: constant " + std::to_string(i) + " is not an ArrayBuffer");
      Napi::ArrayBuffer ab = v.As<Napi::ArrayBuffer>();
      const double off = offsets[i];
      if (!(off >= 0 && off <= static_cast<double>(ab.ByteLength())) || off != static_cast<double>(static_cast<int64_t>(off)))
        throwRangeError("Executable: constant " + std::to_string(i) + " has a bad byte offset");
      constBuffers.push_back({static_cast<char*>(ab.Data()) + static_cast<int64_t>(off),
                              static_cast<int64_t>(ab.ByteLength()) - static_cast<int64_t>(off)});
      constBytes.push_back(constBuffers.back().bytes);
      impl_->consts.add(ab);
    }
    graph::Program p = graph::decodeProgram(program.Data(), program.ElementLength(), constBytes);
    impl_->exe = std::make_shared<graph::Executable>(std::move(p), std::move(constBuffers));
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
      try {
        deferred.Resolve(guarded(env, [&] {
          return wrapOutputs(env, timedRun(*impl_->exe, *impl_->placement, inputs, outputs.empty() ? nullptr : &outputs));
        }));
      } catch (const Napi::Error& e) {
        deferred.Reject(e.Value());
      }
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
