// Reductions over a set of dims: "sum" "mean" "amax" "amin" "argmax".
//
// attrs: [keepdim (0/1), reduced dim, reduced dim, ...]: dims in [0, ndim), no
// repeats; the TS side passes every dim for "all dims" (an empty list reduces
// nothing). Input 0 is any strided view; output 0 has the reduced shape (keepdim:
// size-1 reduced dims) and may be strided too.
// dtypes: sum float32->float32, int32/int64/bool->int64; mean float32->float32;
// amax/amin float32/int32/int64/bool, same dtype out; argmax float32/int32/int64 ->
// int64 (index into the reduced dims in row-major order, first maximum, NaN counts
// as maximum).
//
// Walk (reduce_plan.h): if a reduced dim has unit stride, each output element
// reduces its block with contiguous vectorized runs (inner mode); else if a kept
// dim has unit stride, up to kColTile adjacent outputs are reduced together,
// vectorized across them, reading each row piece contiguously (outer mode); else
// the input is first copied to contiguous memory.
// Accumulation order (deterministic for a given ISA and thread count):
//   - float sums: see reduce_row.h; runs of the reduced block are combined in walk
//     order (reduced dims reordered by decreasing stride, unit-stride dim last) into
//     a double, rounded to float once at the end (mean divides the double first);
//   - threads split the OUTPUT elements (parallelFor), so each output's order does
//     not depend on the thread count; only when there are fewer outputs than
//     threads (or, in outer mode, too few columns to give each thread long row
//     pieces) is the reduced range cut into numChunks() chunks (parallelChunks),
//     whose partials are combined in chunk order;
//   - integer sums are exact (int64, wrapping like torch); max/min/argmax are exact.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "core/kernel_registration.h"
#include "core/thread_pool.h"
#include "kernels/common/strided_loop.h"
#include "kernels/reduce/reduce_plan.h"
#include "kernels/reduce/scratch.h"

#ifndef TJ_ISA_PASS
#define TJ_ISA_SELF "kernels/reduce/reduce.cc"
#include "simd/foreach_isa.h"
#else
#include "kernels/reduce/reduce_row.h"

namespace tensorjit {
namespace TJ_ISA_NS {
namespace {

using reduce_row::kColTile;

// An output's task must cover at least this many input elements.
constexpr int64_t kGrainElems = int64_t{1} << 15;
// With fewer outputs than threads, reductions at least this long are split.
constexpr int64_t kSplitMin = int64_t{1} << 16;
// Outer mode: threads split the columns only if each gets at least this many,
// else the rows, in chunks of at least kMinRowsPerChunk.
constexpr int64_t kMinColumnsPerThread = 4096;
constexpr int64_t kMinRowsPerChunk = 64;
// Bound on the per-chunk partials of a split reduction.
constexpr size_t kPartialBudget = size_t{8} << 20;
// Workspace of the columns() helpers, per column.
constexpr size_t kWorkPerColumn = sizeof(int64_t) + 3 * sizeof(float);

// ---- policies: In, Part (partial result), Out; init, combine(earlier, later),
// finalize(part, count), row(p, n, firstIndex) over a contiguous run, and
// columns(p, w, walk, rb, re, parts, work) over w <= kColTile unit-stride columns
// (work: kWorkPerColumn bytes per column).

// Scalar rows/columns for the integer policies (the compiler vectorizes what it can).
template <class D, class T, class PartT>
struct ScalarRows {
  static PartT row(const T* p, int64_t n, int64_t first) {
    PartT acc = D::init();
    for (int64_t i = 0; i < n; ++i) acc = D::combine(acc, D::elem(p[i], first + i));
    return acc;
  }
  static void columns(const T* p, int64_t w, const DimWalk& walk, int64_t rb, int64_t re, PartT* parts, void*) {
    for (int64_t c = 0; c < w; ++c) parts[c] = D::init();
    const int64_t rs = walk.innerStride();
    walk.runs(rb, re, [&](int64_t off, int64_t lin, int64_t len) {
      for (int64_t k = 0; k < len; ++k) {
        const T* r = p + off + k * rs;
        for (int64_t c = 0; c < w; ++c) parts[c] = D::combine(parts[c], D::elem(r[c], lin + k));
      }
    });
  }
};

template <class T>
struct SumInt : ScalarRows<SumInt<T>, T, int64_t> {
  using In = T;
  using Part = int64_t;
  using Out = int64_t;
  static Part init() { return 0; }
  static Part elem(T v, int64_t) { return static_cast<Part>(v); }
  static Part combine(Part a, Part b) { return static_cast<Part>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b)); }
  static Out finalize(Part p, int64_t) { return p; }
  static constexpr bool kSumsRepeats = true;
};

template <class T, bool kMax>
struct ExtremumInt : ScalarRows<ExtremumInt<T, kMax>, T, T> {
  using In = T;
  using Part = T;
  using Out = T;
  static Part init() { return kMax ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max(); }
  static Part elem(T v, int64_t) { return v; }
  static Part combine(Part a, Part b) { return kMax ? (b > a ? b : a) : (b < a ? b : a); }
  static Out finalize(Part p, int64_t) { return p; }
};

template <class V>
struct IndexedValue {
  V value;
  int64_t index;  // -1: nothing seen yet
};

template <class T>
struct ArgmaxInt : ScalarRows<ArgmaxInt<T>, T, IndexedValue<T>> {
  using In = T;
  using Part = IndexedValue<T>;
  using Out = int64_t;
  static Part init() { return {T(), -1}; }
  static Part elem(T v, int64_t i) { return {v, i}; }
  static Part combine(Part a, Part b) {
    if (a.index < 0) return b;
    if (b.index < 0) return a;
    return b.value > a.value ? b : a;
  }
  static Out finalize(Part p, int64_t) { return p.index; }
};

struct SumF32 {
  using In = float;
  using Part = double;
  using Out = float;
  static Part init() { return 0.0; }
  static Part combine(Part a, Part b) { return a + b; }
  static Out finalize(Part p, int64_t) { return static_cast<float>(p); }
  static constexpr bool kSumsRepeats = true;
  static Part row(const float* p, int64_t n, int64_t) { return reduce_row::sumRow<Vec>(p, n); }
  static void columns(const float* p, int64_t w, const DimWalk& walk, int64_t rb, int64_t re, Part* parts,
                      void* work) {
    reduce_row::sumColumns<Vec>(p, w, walk, rb, re, parts, static_cast<float*>(work));
  }
};

struct MeanF32 : SumF32 {
  static Out finalize(Part p, int64_t count) { return static_cast<float>(p / static_cast<double>(count)); }
  static constexpr bool kSumsRepeats = false;  // the mean of repeats is the mean of one copy
};

// Whether a policy's result over `r` repeats of every element is r times its result over one
// copy (sums) rather than the same (mean, max, min).
template <class P, class = void>
struct SumsRepeats : std::false_type {};
template <class P>
struct SumsRepeats<P, std::void_t<decltype(P::kSumsRepeats)>> : std::bool_constant<P::kSumsRepeats> {};

template <bool kMax>
struct ExtremumF32 {
  using In = float;
  using Part = float;
  using Out = float;
  static Part init() { return kMax ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity(); }
  static Part combine(Part a, Part b) {
    return kMax ? reduce_row::maxNanScalar(a, b) : reduce_row::minNanScalar(a, b);
  }
  static Out finalize(Part p, int64_t) { return p; }
  static Part row(const float* p, int64_t n, int64_t) { return reduce_row::extremumRow<Vec, kMax>(p, n); }
  static void columns(const float* p, int64_t w, const DimWalk& walk, int64_t rb, int64_t re, Part* parts, void*) {
    reduce_row::extremumColumns<Vec, kMax>(p, w, walk, rb, re, parts);
  }
};

struct ArgmaxF32 {
  using In = float;
  using Part = IndexedValue<float>;
  using Out = int64_t;
  static Part init() { return {0.f, -1}; }
  static Part combine(Part a, Part b) {
    if (a.index < 0) return b;
    if (b.index < 0) return a;
    return reduce_row::argmaxBeats(b.value, a.value) ? b : a;
  }
  static Out finalize(Part p, int64_t) { return p.index; }
  static Part row(const float* p, int64_t n, int64_t first) {
    Part r;
    r.index = first + reduce_row::argmaxRow<Vec>(p, n, &r.value);
    return r;
  }
  static void columns(const float* p, int64_t w, const DimWalk& walk, int64_t rb, int64_t re, Part* parts,
                      void* work) {
    // work: [idx: w int64][vals: w floats][argmaxColumns' own 2*w floats]
    int64_t* idx = static_cast<int64_t*>(work);
    float* vals = reinterpret_cast<float*>(idx + w);
    reduce_row::argmaxColumns<Vec>(p, w, walk, rb, re, vals, idx, vals + w);
    for (int64_t c = 0; c < w; ++c) parts[c] = {vals[c], idx[c]};
  }
};

// ---- the driver

template <class P>
typename P::Part reduceRuns(const typename P::In* base, const DimWalk& walk, int64_t rb, int64_t re) {
  typename P::Part acc = P::init();
  walk.runs(rb, re, [&](int64_t off, int64_t lin, int64_t len) { acc = P::combine(acc, P::row(base + off, len, lin)); });
  return acc;
}

// Per-task buffers for the outer-mode helpers (tile state), from the caching allocator.
struct ColumnWork {
  ScratchBuffer work;
  void reserve(const ReducePlan& plan, int64_t n) {
    if (!plan.inner) work.reset(static_cast<size_t>(std::min<int64_t>(n, kColTile)) * kWorkPerColumn);
  }
};

// Partials over reduced range [rb, re) for n outputs whose inputs start at x, x+is, ...
// (outer mode: is == 1, tiles of kColTile columns).
template <class P>
void piecePartials(const ReducePlan& plan, const typename P::In* x, int64_t n, int64_t is, int64_t rb, int64_t re,
                   typename P::Part* parts, ColumnWork& cw) {
  if (plan.inner) {
    for (int64_t i = 0; i < n; ++i) parts[i] = reduceRuns<P>(x + i * is, plan.reduced, rb, re);
    return;
  }
  for (int64_t c0 = 0; c0 < n; c0 += kColTile) {
    const int64_t w = std::min<int64_t>(kColTile, n - c0);
    P::columns(x + c0, w, plan.reduced, rb, re, parts + c0, cw.work.as<void>());
  }
}

template <class P>
void execute(const ReducePlan& plan) {
  using In = typename P::In;
  using Out = typename P::Out;
  using Part = typename P::Part;
  const TensorView* views[2] = {&plan.outKept, &plan.inKept};
  StridedLoop<2> loop(views, plan.outKept.ndim, plan.outKept.shape);
  const int64_t red = plan.redNumel, outs = loop.numel;
  const int64_t os = loop.innerStride(0), is = loop.innerStride(1);
  if (!plan.inner && is != 1) throwRangeError("internal: outer-mode reduction without a unit-stride dim");

  // Threads split the outputs when there are enough of them (outer mode: enough
  // columns for long contiguous row pieces), else the reduced range.
  const int threads = numThreads();
  bool splitReduced = false;
  int64_t grain = 0;
  if (threads > 1 && outs * red >= 2 * kGrainElems) {
    if (plan.inner) {
      splitReduced = outs < threads && red >= kSplitMin;
      grain = kSplitMin / 2;
    } else {
      splitReduced = outs < threads * kMinColumnsPerThread && red >= 2 * kMinRowsPerChunk &&
                     static_cast<size_t>(outs) * threads * sizeof(Part) <= kPartialBudget;
      grain = std::max<int64_t>(kMinRowsPerChunk, kGrainElems / outs);
    }
  }
  if (splitReduced) {
    const int chunks = numChunks(red, grain);
    ScratchBuffer partialBuf(static_cast<size_t>(chunks * outs) * sizeof(Part));
    Part* partial = partialBuf.as<Part>();
    parallelChunks(red, grain, [&](int c, int64_t rb, int64_t re) {
      ColumnWork cw;
      cw.reserve(plan, outs);
      int64_t j = 0;
      loop.forRange(0, outs, [&](char* const* p, int64_t n) {
        piecePartials<P>(plan, reinterpret_cast<const In*>(p[1]), n, is, rb, re, partial + c * outs + j, cw);
        j += n;
      });
    });
    int64_t j = 0;
    loop.forRange(0, outs, [&](char* const* p, int64_t n) {
      Out* o = reinterpret_cast<Out*>(p[0]);
      for (int64_t i = 0; i < n; ++i, ++j) {
        Part acc = partial[j];
        for (int c = 1; c < chunks; ++c) acc = P::combine(acc, partial[c * outs + j]);
        o[i * os] = P::finalize(acc, red);
      }
    });
    return;
  }

  grain = plan.inner ? std::max<int64_t>(1, kGrainElems / red)
                     : std::max<int64_t>(std::min(outs, kMinColumnsPerThread), kGrainElems / red);
  parallelFor(outs, grain, [&](int64_t b, int64_t e) {
    ColumnWork cw;
    cw.reserve(plan, e - b);
    ScratchBuffer partsBuf(static_cast<size_t>(std::min<int64_t>(e - b, kColTile)) * sizeof(Part));
    Part* parts = partsBuf.as<Part>();
    loop.forRange(b, e, [&](char* const* p, int64_t n) {
      Out* o = reinterpret_cast<Out*>(p[0]);
      const In* x = reinterpret_cast<const In*>(p[1]);
      for (int64_t c0 = 0; c0 < n; c0 += kColTile) {
        const int64_t w = std::min<int64_t>(kColTile, n - c0);
        piecePartials<P>(plan, x + c0 * is, w, is, 0, red, parts, cw);
        for (int64_t c = 0; c < w; ++c) o[(c0 + c) * os] = P::finalize(parts[c], red);
      }
    });
  });
}

// f(element) for every element of a (strided) output.
template <class Out, class F>
void forEachOutput(TensorView& out, F f) {
  const TensorView* views[1] = {&out};
  StridedLoop<1> loop(views, out.ndim, out.shape);
  loop.forRange(0, loop.numel, [&](char* const* p, int64_t n) {
    for (int64_t i = 0; i < n; ++i) f(reinterpret_cast<Out*>(p[0])[i * loop.innerStride(0)]);
  });
}

template <class P>
void runReduce(const KernelArgs& a, const char* op, bool ordered, bool emptyIsError) {
  const TensorView& x = a.in(0);
  TensorView& out = a.out(0);
  if (a.numAttrs < 1) throwRangeError(std::string(op) + ": missing the keepdim attribute");
  const bool keepdim = a.attr(0) != 0;
  const uint32_t mask = reducedMask(op, a.attrs, 1, a.numAttrs, x.ndim);
  const int64_t outs = checkReducedOutput(op, x, out, mask, keepdim);
  int64_t red = 1;
  for (int d = 0; d < x.ndim; ++d)
    if ((mask >> d) & 1u) red *= x.shape[d];
  if (red == 0 && emptyIsError)
    throwRangeError(std::string(op) + ": cannot reduce over a dim of size 0 (input " + x.shapeString() + ")");
  if (outs == 0) return;
  using Out = typename P::Out;
  if (red == 0) {
    const Out v = P::finalize(P::init(), 0);
    forEachOutput<Out>(out, [&](Out& o) { o = v; });
    return;
  }
  // A reduced dim of stride 0 (an expanded view) repeats every element: max, min and mean
  // are the same over one copy, a sum is `repeat` times it. Reducing one copy avoids the
  // contiguous copy that would materialise the view (sum of a [20000, 20000] expand of one
  // element: 1.6 GB). argmax (ordered) keeps them: its index counts every position.
  TensorView xs = x;
  int64_t repeat = 1;
  if (!ordered)
    for (int d = 0; d < xs.ndim; ++d)
      if (((mask >> d) & 1u) && xs.shape[d] > 1 && xs.strides[d] == 0) {
        repeat *= xs.shape[d];
        xs.shape[d] = 1;
      }
  ReducePlan plan;
  ScratchBuffer copy;
  if (!planReduce(xs, out, mask, keepdim, ordered, &plan)) {
    const TensorView xc = contiguousCopy(xs, copy);
    if (!planReduce(xc, out, mask, keepdim, ordered, &plan))
      throwRangeError("internal: reduction plan failed on a contiguous input");
  }
  execute<P>(plan);
  if constexpr (SumsRepeats<P>::value) {
    if (repeat > 1)
      forEachOutput<Out>(out, [&](Out& v) {
        if constexpr (std::is_floating_point_v<Out>) v = static_cast<Out>(static_cast<double>(v) * static_cast<double>(repeat));
        else v = static_cast<Out>(static_cast<uint64_t>(v) * static_cast<uint64_t>(repeat));  // wraps, as repeated adds
      });
  }
}

void checkCall(const KernelArgs& a, const char* op, DType outDtype) {
  if (a.numInputs != 1 || a.numOutputs != 1)
    throwRangeError(std::string(op) + ": expected 1 input and 1 output, got " + std::to_string(a.numInputs) + " and " +
                    std::to_string(a.numOutputs));
  if (a.out(0).dtype != outDtype)
    throwTypeError(std::string(op) + ": output dtype " + dtypeName(a.out(0).dtype) + " should be " +
                   dtypeName(outDtype) + " for input dtype " + dtypeName(a.in(0).dtype));
}

[[noreturn]] void unsupported(const KernelArgs& a, const char* op) {
  throwTypeError(std::string(op) + ": input dtype " + dtypeName(a.in(0).dtype) + " is not supported");
}

void sumKernel(const KernelArgs& a) {
  const DType in = a.numInputs > 0 ? a.in(0).dtype : DType::Float32;
  checkCall(a, "sum", in == DType::Float32 ? DType::Float32 : DType::Int64);
  switch (in) {
    case DType::Float32: return runReduce<SumF32>(a, "sum", false, false);
    case DType::Int32: return runReduce<SumInt<int32_t>>(a, "sum", false, false);
    case DType::Int64: return runReduce<SumInt<int64_t>>(a, "sum", false, false);
    case DType::Bool: return runReduce<SumInt<uint8_t>>(a, "sum", false, false);
    default: unsupported(a, "sum");
  }
}

void meanKernel(const KernelArgs& a) {
  checkCall(a, "mean", DType::Float32);
  if (a.in(0).dtype != DType::Float32) unsupported(a, "mean");
  runReduce<MeanF32>(a, "mean", false, false);
}

template <bool kMax>
void extremumKernel(const KernelArgs& a) {
  const char* op = kMax ? "amax" : "amin";
  const DType in = a.numInputs > 0 ? a.in(0).dtype : DType::Float32;
  checkCall(a, op, in);
  switch (in) {
    case DType::Float32: return runReduce<ExtremumF32<kMax>>(a, op, false, true);
    case DType::Int32: return runReduce<ExtremumInt<int32_t, kMax>>(a, op, false, true);
    case DType::Int64: return runReduce<ExtremumInt<int64_t, kMax>>(a, op, false, true);
    case DType::Bool: return runReduce<ExtremumInt<uint8_t, kMax>>(a, op, false, true);
    default: unsupported(a, op);
  }
}

void argmaxKernel(const KernelArgs& a) {
  checkCall(a, "argmax", DType::Int64);
  switch (a.in(0).dtype) {
    case DType::Float32: return runReduce<ArgmaxF32>(a, "argmax", true, true);
    case DType::Int32: return runReduce<ArgmaxInt<int32_t>>(a, "argmax", true, true);
    case DType::Int64: return runReduce<ArgmaxInt<int64_t>>(a, "argmax", true, true);
    default: unsupported(a, "argmax");
  }
}

TJ_REGISTER_KERNEL("sum", sumKernel);
TJ_REGISTER_KERNEL("mean", meanKernel);
TJ_REGISTER_KERNEL("amax", extremumKernel<true>);
TJ_REGISTER_KERNEL("amin", extremumKernel<false>);
TJ_REGISTER_KERNEL("argmax", argmaxKernel);

}  // namespace
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
#endif
