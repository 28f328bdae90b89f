// Fused softmax / logSoftmax of one contiguous float32 row, one body per ISA, callable
// on raw pointers (the graph executor reuses them for fused reductions).
//
// Include INSIDE an ISA pass, after kernels/reduce/reduce_row.h, kernels/math/vmath.h and
// kernels/common/store_row.h (no include guards: see reduce_row.h).
//
// softmaxRow: pass 1 max (NaN-propagating), pass 2 e = exp(x - max) stored in out
// and summed, pass 3 out *= 1/sum. Sum order: blocks as in sumRow (double across
// blocks); inside a block, pairs of vectors go to accumulators (a0, a1) on even
// steps and (a2, a3) on odd steps, a lone last vector to a0, the partial tail to
// a1, then reduceAdd((a0 + a1) + (a2 + a3)).
// logSoftmaxRow: pass 1 max, pass 2 the same sum without storing, pass 3
// out = (x - max) - log(sum). A row of -inf (or holding +inf or NaN) gives NaN
// everywhere, as torch. in == out is allowed.
namespace tensorjit {
namespace TJ_ISA_NS {
namespace reduce_row {

// exp for the shifted logits x - max (<= 0, or NaN): vmath::exp (<= 1.05 ulp) with
// results below the normal range flushed to 0 (x < -87: exact value < 1.7e-38).
// Producing subnormals costs ~20x per element even with vscalefps (measured), and
// rows with large gaps (masked logits) would hit it on every element. The input is
// clamped first so no lane ever computes a subnormal; NaN passes through (the
// table's max returns its second operand on NaN).
template <class V>
inline typename V::Reg softmaxExp(typename V::Reg x) {
  const auto lo = V::set1(-87.0f);
  return V::select(V::cmpLt(x, lo), V::zero(), vmath::exp<V>(V::max(lo, x)));
}

// sum of exp(in[i] - m); with kStore also writes the exponentials to out. A non-null
// `next` (a row of at least n floats read next) is prefetched while this compute-bound
// pass runs, so the next row's max pass reads cache, not memory.
template <class V, bool kStore>
inline double expSumRow(const float* in, float* out, int64_t n, float m, const float* next = nullptr) {
  constexpr int64_t L = V::kLanes;
  constexpr int64_t kBlock = kSumBlockVectors * L;
  const auto vm = V::set1(m);
  double total = 0.0;
  for (int64_t start = 0; start < n; start += kBlock) {
    const int64_t len = (n - start) < kBlock ? (n - start) : kBlock;
    const float* q = in + start;
    float* o = kStore ? out + start : nullptr;
    auto a0 = V::zero(), a1 = V::zero(), a2 = V::zero(), a3 = V::zero();
    int64_t i = 0;
    for (; i + 2 * L <= len; i += 2 * L) {
      if (next) pw::prefetchAhead(next + start + i, 2 * L, 0);
      const auto e0 = softmaxExp<V>(V::sub(V::load(q + i), vm));
      const auto e1 = softmaxExp<V>(V::sub(V::load(q + i + L), vm));
      if (kStore) {
        V::store(o + i, e0);
        V::store(o + i + L, e1);
      }
      if ((i / (2 * L)) & 1) {
        a2 = V::add(a2, e0);
        a3 = V::add(a3, e1);
      } else {
        a0 = V::add(a0, e0);
        a1 = V::add(a1, e1);
      }
    }
    for (; i + L <= len; i += L) {
      const auto e = softmaxExp<V>(V::sub(V::load(q + i), vm));
      if (kStore) V::store(o + i, e);
      a0 = V::add(a0, e);
    }
    if (i < len) {
      const int r = static_cast<int>(len - i);
      // dead lanes would hold exp(0 - m): keep them out of the sum
      float tmp[V::kLanes];
      V::store(tmp, softmaxExp<V>(V::sub(V::loadPartial(q + i, r), vm)));
      for (int k = r; k < V::kLanes; ++k) tmp[k] = 0.f;
      const auto e = V::load(tmp);
      if (kStore) V::storePartial(o + i, e, r);
      a1 = V::add(a1, e);
    }
    total += static_cast<double>(V::reduceAdd(V::add(V::add(a0, a1), V::add(a2, a3))));
  }
  return total;
}

// dst[i] = src[i] * s. kStream: dst is written with non-temporal stores (no fence).
template <class V, bool kStream = false>
inline void scaleRow(const float* src, float* dst, int64_t n, float s) {
  const auto vs = V::set1(s);
  pw::storeRow<V, kStream, false>(
      dst, n, [&](int64_t i) { return V::mul(V::load(src + i), vs); },
      [&](int64_t i, int r) { return V::mul(V::loadPartial(src + i, r), vs); }, [](int64_t) {});
}

// out[i] = (in[i] - m) - c. kStream as scaleRow.
template <class V, bool kStream = false>
inline void subSubRow(const float* in, float* out, int64_t n, float m, float c) {
  const auto vm = V::set1(m), vc = V::set1(c);
  pw::storeRow<V, kStream, false>(
      out, n, [&](int64_t i) { return V::sub(V::sub(V::load(in + i), vm), vc); },
      [&](int64_t i, int r) { return V::sub(V::sub(V::loadPartial(in + i, r), vm), vc); }, [](int64_t) {});
}

template <class V>
inline void softmaxRow(const float* in, float* out, int64_t n) {
  const float m = maxRow<V>(in, n);
  const double s = expSumRow<V, true>(in, out, n, m);
  scaleRow<V>(out, out, n, static_cast<float>(1.0 / s));
}

// softmaxRow / logSoftmaxRow for large outputs: out is written once, with non-temporal
// stores (no read-for-ownership; the caller fences once per thread after its last row).
// softmax keeps the exponentials in `scratch` (n floats, cache-resident) instead of out.
// Same bits as the plain rows.
template <class V>
inline void softmaxRowStreamed(const float* in, float* out, int64_t n, float* scratch, const float* next) {
  const float m = maxRow<V>(in, n);
  const double s = expSumRow<V, true>(in, scratch, n, m, next);
  scaleRow<V, true>(scratch, out, n, static_cast<float>(1.0 / s));
}
template <class V>
inline void logSoftmaxRowStreamed(const float* in, float* out, int64_t n, const float* next) {
  const float m = maxRow<V>(in, n);
  const double s = expSumRow<V, false>(in, nullptr, n, m, next);
  subSubRow<V, true>(in, out, n, m, static_cast<float>(std::log(s)));
}

template <class V>
inline void logSoftmaxRow(const float* in, float* out, int64_t n) {
  const float m = maxRow<V>(in, n);
  const double s = expSumRow<V, false>(in, nullptr, n, m);
  subSubRow<V>(in, out, n, m, static_cast<float>(std::log(s)));
}

// Softmax / logSoftmax of w adjacent columns (unit stride) along rows of n elements:
// row k of the input starts at in + k*is, of the output at out + k*os. The same
// three passes as the row functions, vectorized across the columns. Sum order per
// column: rows in order into float lanes, flushed into double every
// kSumBlockRows rows. work: 4*w floats of workspace.
template <class V, bool kLog>
inline void softmaxColumns(const float* in, float* out, int64_t n, int64_t w, int64_t is, int64_t os, float* work) {
  constexpr int64_t L = V::kLanes;
  float* m = work;
  float* acc = work + w;
  double* s = reinterpret_cast<double*>(work + 2 * w);
  const int64_t full = w / L * L;
  const int rest = static_cast<int>(w - full);
  for (int64_t c = 0; c < w; ++c) {
    m[c] = -std::numeric_limits<float>::infinity();
    acc[c] = 0.f;
    s[c] = 0.0;
  }
  for (int64_t k = 0; k < n; ++k) {
    const float* row = in + k * is;
    for (int64_t c = 0; c < full; c += L) V::store(m + c, maxNan<V>(V::load(row + c), V::load(m + c)));
    for (int64_t c = full; c < w; ++c) m[c] = maxNanScalar(m[c], row[c]);
  }
  int64_t pending = 0;
  auto flush = [&] {
    for (int64_t c = 0; c < w; ++c) {
      s[c] += static_cast<double>(acc[c]);
      acc[c] = 0.f;
    }
    pending = 0;
  };
  for (int64_t k = 0; k < n; ++k) {
    const float* row = in + k * is;
    float* orow = out + k * os;
    for (int64_t c = 0; c < full; c += L) {
      const auto e = softmaxExp<V>(V::sub(V::load(row + c), V::load(m + c)));
      if (!kLog) V::store(orow + c, e);
      V::store(acc + c, V::add(V::load(acc + c), e));
    }
    if (rest) {
      const auto e = softmaxExp<V>(V::sub(V::loadPartial(row + full, rest), V::loadPartial(m + full, rest)));
      if (!kLog) V::storePartial(orow + full, e, rest);
      V::storePartial(acc + full, V::add(V::loadPartial(acc + full, rest), e), rest);
    }
    if (++pending == kSumBlockRows) flush();
  }
  flush();
  // acc now holds the per-column factor: 1/sum (softmax) or log(sum) (logSoftmax)
  for (int64_t c = 0; c < w; ++c) acc[c] = static_cast<float>(kLog ? std::log(s[c]) : 1.0 / s[c]);
  for (int64_t k = 0; k < n; ++k) {
    const float* row = in + k * is;
    float* orow = out + k * os;
    for (int64_t c = 0; c < full; c += L) {
      if (kLog) V::store(orow + c, V::sub(V::sub(V::load(row + c), V::load(m + c)), V::load(acc + c)));
      else V::store(orow + c, V::mul(V::load(orow + c), V::load(acc + c)));
    }
    if (rest) {
      const auto f = V::loadPartial(acc + full, rest);
      if (kLog) V::storePartial(orow + full, V::sub(V::sub(V::loadPartial(row + full, rest), V::loadPartial(m + full, rest)), f), rest);
      else V::storePartial(orow + full, V::mul(V::loadPartial(orow + full, rest), f), rest);
    }
  }
}

}  // namespace reduce_row
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
