// Vectorized float32 reduction building blocks over raw pointers, one body per ISA.
// Reused by the reduction kernels, softmax/layerNorm and (later) fused graph kernels.
//
// Include INSIDE an ISA pass (after `#else` of the simd/foreach_isa.h pattern, at
// file scope): there is deliberately no include guard, each pass compiles its own
// copy in namespace tensorjit::TJ_ISA_NS with that pass's target attributes.
//
// Accumulation order of sums (deterministic; differs between ISAs only through the
// lane count L):
//   a contiguous row is cut into blocks of kSumBlockVectors*L elements; inside a
//   block, groups of four vectors are added lane-wise into accumulators a0..a3, the
//   remaining (< 4) full vectors into a0 and a partial last vector (zero-filled
//   lanes) into a1, each in element order; the block result is
//   reduceAdd((a0 + a1) + (a2 + a3)) (a fixed tree per ISA), and block results are
//   added in order into a double. Column sums (outer mode) take the rows of each
//   run of the walk in groups of four, ((r0 + r1) + (r2 + r3)) added to float
//   lanes, the last < 4 rows of a run one by one, and flush the lanes into double
//   once kSumBlockRows or more rows are pending.
//
// The including file must include <cmath>, <cstdint>, <cstring> and <limits> before
// the ISA passes (standard headers must be compiled for the baseline target).

namespace tensorjit {
namespace TJ_ISA_NS {
namespace reduce_row {

constexpr int64_t kSumBlockVectors = 256;
constexpr int64_t kSumBlockRows = 256;
// Widest column tile of the outer-mode helpers: rows are read in contiguous pieces
// of up to this many floats (long pieces keep the hardware prefetcher streaming)
// while the per-column state stays in L2.
constexpr int64_t kColTile = 16384;

// Max that propagates NaN from either side (hardware max keeps only the second operand's).
template <class V>
inline typename V::Reg maxNan(typename V::Reg x, typename V::Reg acc) {
  return V::select(V::isNan(x), x, V::max(x, acc));
}
template <class V>
inline typename V::Reg minNan(typename V::Reg x, typename V::Reg acc) {
  return V::select(V::isNan(x), x, V::min(x, acc));
}
inline float maxNanScalar(float a, float b) { return a != a ? a : (b != b ? b : (b > a ? b : a)); }
inline float minNanScalar(float a, float b) { return a != a ? a : (b != b ? b : (b < a ? b : a)); }

// Sum of p[0..n) (order in the header comment).
template <class V>
inline double sumRow(const float* p, int64_t n) {
  constexpr int64_t L = V::kLanes;
  constexpr int64_t kBlock = kSumBlockVectors * L;
  double total = 0.0;
  for (int64_t start = 0; start < n; start += kBlock) {
    const int64_t m = (n - start) < kBlock ? (n - start) : kBlock;
    const float* q = p + start;
    auto a0 = V::zero(), a1 = V::zero(), a2 = V::zero(), a3 = V::zero();
    int64_t i = 0;
    for (; i + 4 * L <= m; i += 4 * L) {
      a0 = V::add(a0, V::load(q + i));
      a1 = V::add(a1, V::load(q + i + L));
      a2 = V::add(a2, V::load(q + i + 2 * L));
      a3 = V::add(a3, V::load(q + i + 3 * L));
    }
    for (; i + L <= m; i += L) a0 = V::add(a0, V::load(q + i));
    if (i < m) a1 = V::add(a1, V::loadPartial(q + i, static_cast<int>(m - i)));
    total += static_cast<double>(V::reduceAdd(V::add(V::add(a0, a1), V::add(a2, a3))));
  }
  return total;
}

// Sum of (p[i] - c)^2, same order as sumRow.
template <class V>
inline double sumSquaredDevRow(const float* p, int64_t n, float c) {
  constexpr int64_t L = V::kLanes;
  constexpr int64_t kBlock = kSumBlockVectors * L;
  const auto vc = V::set1(c);
  double total = 0.0;
  for (int64_t start = 0; start < n; start += kBlock) {
    const int64_t m = (n - start) < kBlock ? (n - start) : kBlock;
    const float* q = p + start;
    auto a0 = V::zero(), a1 = V::zero(), a2 = V::zero(), a3 = V::zero();
    int64_t i = 0;
    for (; i + 4 * L <= m; i += 4 * L) {
      const auto d0 = V::sub(V::load(q + i), vc), d1 = V::sub(V::load(q + i + L), vc);
      const auto d2 = V::sub(V::load(q + i + 2 * L), vc), d3 = V::sub(V::load(q + i + 3 * L), vc);
      a0 = V::fma(d0, d0, a0);
      a1 = V::fma(d1, d1, a1);
      a2 = V::fma(d2, d2, a2);
      a3 = V::fma(d3, d3, a3);
    }
    for (; i + L <= m; i += L) {
      const auto d = V::sub(V::load(q + i), vc);
      a0 = V::fma(d, d, a0);
    }
    if (i < m) {
      const int r = static_cast<int>(m - i);
      // zero the dead lanes after subtracting c so they add nothing
      const auto d = V::loadPartial(q + i, r);
      float tmp[V::kLanes];
      V::store(tmp, V::sub(d, vc));
      for (int k = r; k < V::kLanes; ++k) tmp[k] = 0.f;
      const auto dd = V::load(tmp);
      a1 = V::fma(dd, dd, a1);
    }
    total += static_cast<double>(V::reduceAdd(V::add(V::add(a0, a1), V::add(a2, a3))));
  }
  return total;
}

// Max / min of p[0..n): NaN if any element is NaN; -inf / +inf for n == 0.
// The hot loop keeps plain max/min (NaN-free accumulators) and ORs NaN lanes into a
// mask on the side: no select in the accumulator dependency chain.
template <class V, bool kMax>
inline float extremumRow(const float* p, int64_t n) {
  constexpr int64_t L = V::kLanes;
  const float ident = kMax ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
  // plain max/min return the second operand on NaN: NaN inputs leave acc unchanged
  auto step = [](typename V::Reg x, typename V::Reg acc) { return kMax ? V::max(x, acc) : V::min(x, acc); };
  auto a0 = V::set1(ident), a1 = a0, a2 = a0, a3 = a0;
  auto nan = V::isNan(a0);
  int64_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L) {
    const auto x0 = V::load(p + i), x1 = V::load(p + i + L), x2 = V::load(p + i + 2 * L), x3 = V::load(p + i + 3 * L);
    a0 = step(x0, a0);
    a1 = step(x1, a1);
    a2 = step(x2, a2);
    a3 = step(x3, a3);
    nan = V::maskOr(nan, V::maskOr(V::maskOr(V::isNan(x0), V::isNan(x1)), V::maskOr(V::isNan(x2), V::isNan(x3))));
  }
  for (; i + L <= n; i += L) {
    const auto x = V::load(p + i);
    a0 = step(x, a0);
    nan = V::maskOr(nan, V::isNan(x));
  }
  const auto all = kMax ? V::max(V::max(a0, a1), V::max(a2, a3)) : V::min(V::min(a0, a1), V::min(a2, a3));
  // any NaN lane: reduce a 1/0 flag vector (the accumulators themselves hold no NaN)
  if (V::reduceMax(V::select(nan, V::set1(1.f), V::zero())) > 0.f) return std::numeric_limits<float>::quiet_NaN();
  float r = kMax ? V::reduceMax(all) : V::reduceMin(all);
  for (; i < n; ++i) r = kMax ? maxNanScalar(r, p[i]) : minNanScalar(r, p[i]);
  return r;
}

template <class V>
inline float maxRow(const float* p, int64_t n) { return extremumRow<V, true>(p, n); }
template <class V>
inline float minRow(const float* p, int64_t n) { return extremumRow<V, false>(p, n); }

// "b beats a" for argmax: strictly greater, or the first NaN (NaN counts as the maximum).
inline bool argmaxBeats(float b, float a) { return b > a || (b != b && a == a); }
template <class V>
inline typename V::Mask argmaxBeatsV(typename V::Reg b, typename V::Reg a) {
  return V::maskOr(V::cmpGt(b, a), V::maskAnd(V::isNan(b), V::cmpEq(a, a)));
}

template <class V>
inline typename V::Reg int32Bits(int32_t x) { return V::fromBits(V::iset1(x)); }

// Index of the first maximum of p[0..n) (NaN counts as maximum), with its value.
// n > 0. Lane indices are int32 bit patterns held in float registers (select is
// bitwise), so rows are processed in pieces below 2^30 elements.
template <class V>
inline int64_t argmaxRow(const float* p, int64_t n, float* bestValue) {
  constexpr int64_t L = V::kLanes;
  constexpr int64_t kPiece = int64_t{1} << 30;
  int64_t best = 0;
  float bestV = p[0];
  for (int64_t start = 0; start < n; start += kPiece) {
    const int64_t m = (n - start) < kPiece ? (n - start) : kPiece;
    const float* q = p + start;
    int64_t i = 0;
    if (m >= 2 * L) {
      // two independent (value, index) accumulators: even and odd vectors
      int32_t iota[2 * V::kLanes];
      for (int k = 0; k < 2 * L; ++k) iota[k] = k;
      float iotaBits[2 * V::kLanes];
      std::memcpy(iotaBits, iota, sizeof(iota));
      auto idx0 = V::load(iotaBits), idx1 = V::load(iotaBits + L);
      auto bv0 = V::load(q), bi0 = idx0, bv1 = V::load(q + L), bi1 = idx1;
      const auto step = V::iset1(static_cast<int32_t>(2 * L));
      for (i = 2 * L; i + 2 * L <= m; i += 2 * L) {
        idx0 = V::fromBits(V::iadd(V::bitsOf(idx0), step));
        idx1 = V::fromBits(V::iadd(V::bitsOf(idx1), step));
        const auto x0 = V::load(q + i), x1 = V::load(q + i + L);
        const auto b0 = argmaxBeatsV<V>(x0, bv0), b1 = argmaxBeatsV<V>(x1, bv1);
        bv0 = V::select(b0, x0, bv0);
        bi0 = V::select(b0, idx0, bi0);
        bv1 = V::select(b1, x1, bv1);
        bi1 = V::select(b1, idx1, bi1);
      }
      float vals[2 * V::kLanes], idxBits[2 * V::kLanes];
      V::store(vals, bv0);
      V::store(vals + L, bv1);
      V::store(idxBits, bi0);
      V::store(idxBits + L, bi1);
      int32_t lanesIdx[2 * V::kLanes];
      std::memcpy(lanesIdx, idxBits, sizeof(lanesIdx));
      // lanes hold candidates in different index order: pick the winner, ties -> lowest index
      float pv = vals[0];
      int64_t pi = lanesIdx[0];
      for (int k = 1; k < 2 * L; ++k) {
        const float v = vals[k];
        const int64_t ix = lanesIdx[k];
        if (argmaxBeats(v, pv) || (ix < pi && !argmaxBeats(pv, v))) {
          pv = v;
          pi = ix;
        }
      }
      if (start == 0 || argmaxBeats(pv, bestV)) {
        bestV = pv;
        best = start + pi;
      }
    }
    for (; i < m; ++i) {
      if ((start == 0 && i == 0) || argmaxBeats(q[i], bestV)) {
        bestV = q[i];
        best = start + i;
      }
    }
  }
  *bestValue = bestV;
  return best;
}

// ---- outer mode: w adjacent columns (unit stride) reduced over the rows of a walk.
// `walk.runs(rb, re, ...)` yields row offsets relative to p.

// Column sums into double sums[0..w); acc is a workspace of w floats.
template <class V, class Walk>
inline void sumColumns(const float* p, int64_t w, const Walk& walk, int64_t rb, int64_t re, double* sums,
                       float* acc) {
  constexpr int64_t L = V::kLanes;
  for (int64_t c = 0; c < w; ++c) {
    acc[c] = 0.f;
    sums[c] = 0.0;
  }
  const int64_t full = w / L * L;
  const int rest = static_cast<int>(w - full);
  int64_t pending = 0;
  auto flush = [&] {
    for (int64_t c = 0; c < w; ++c) {
      sums[c] += static_cast<double>(acc[c]);
      acc[c] = 0.f;
    }
    pending = 0;
  };
  const int64_t rs = walk.innerStride();
  walk.runs(rb, re, [&](int64_t off, int64_t, int64_t len) {
    int64_t k = 0;
    // four rows at a time: one load/store of the accumulators per four rows
    for (; k + 4 <= len; k += 4) {
      const float* r0 = p + off + k * rs;
      const float* r1 = r0 + rs;
      const float* r2 = r1 + rs;
      const float* r3 = r2 + rs;
      for (int64_t c = 0; c < full; c += L) {
        const auto t = V::add(V::add(V::load(r0 + c), V::load(r1 + c)), V::add(V::load(r2 + c), V::load(r3 + c)));
        V::store(acc + c, V::add(V::load(acc + c), t));
      }
      if (rest) {
        const auto t = V::add(V::add(V::loadPartial(r0 + full, rest), V::loadPartial(r1 + full, rest)),
                              V::add(V::loadPartial(r2 + full, rest), V::loadPartial(r3 + full, rest)));
        V::storePartial(acc + full, V::add(V::loadPartial(acc + full, rest), t), rest);
      }
      if ((pending += 4) >= kSumBlockRows) flush();
    }
    for (; k < len; ++k) {
      const float* row = p + off + k * rs;
      for (int64_t c = 0; c < full; c += L) V::store(acc + c, V::add(V::load(acc + c), V::load(row + c)));
      if (rest) V::storePartial(acc + full, V::add(V::loadPartial(acc + full, rest), V::loadPartial(row + full, rest)), rest);
      if (++pending >= kSumBlockRows) flush();
    }
  });
  flush();
}

// Column max / min (NaN-propagating) into out[0..w).
template <class V, bool kMax, class Walk>
inline void extremumColumns(const float* p, int64_t w, const Walk& walk, int64_t rb, int64_t re, float* out) {
  constexpr int64_t L = V::kLanes;
  const float ident = kMax ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
  for (int64_t c = 0; c < w; ++c) out[c] = ident;
  const int64_t full = w / L * L;
  const int64_t rs = walk.innerStride();
  walk.runs(rb, re, [&](int64_t off, int64_t, int64_t len) {
    for (int64_t k = 0; k < len; ++k) {
      const float* row = p + off + k * rs;
      for (int64_t c = 0; c < full; c += L) {
        const auto x = V::load(row + c), a = V::load(out + c);
        V::store(out + c, kMax ? maxNan<V>(x, a) : minNan<V>(x, a));
      }
      for (int64_t c = full; c < w; ++c) out[c] = kMax ? maxNanScalar(out[c], row[c]) : minNanScalar(out[c], row[c]);
    }
  });
}

// Column argmax: values and first-max walk indices into vals/idx[0..w); rb < re;
// work is a workspace of 2*w floats.
template <class V, class Walk>
inline void argmaxColumns(const float* p, int64_t w, const Walk& walk, int64_t rb, int64_t re, float* vals,
                          int64_t* idx, float* work) {
  constexpr int64_t L = V::kLanes;
  constexpr int64_t kPiece = int64_t{1} << 30;
  float* bestIdxBits = work;
  float* pieceVals = work + w;
  const int64_t full = w / L * L;
  const int64_t rs = walk.innerStride();
  for (int64_t c = 0; c < w; ++c) {
    vals[c] = std::numeric_limits<float>::quiet_NaN();
    idx[c] = -1;
  }
  for (int64_t pb = rb; pb < re; pb += kPiece) {
    const int64_t pe = (re - pb) < kPiece ? re : pb + kPiece;
    bool first = true;
    walk.runs(pb, pe, [&](int64_t off, int64_t lin, int64_t len) {
      for (int64_t k = 0; k < len; ++k) {
        const float* row = p + off + k * rs;
        const int32_t rel = static_cast<int32_t>(lin + k - pb);
        if (first) {
          for (int64_t c = 0; c < w; ++c) pieceVals[c] = row[c];
          const int32_t zero = 0;
          float zbits;
          std::memcpy(&zbits, &zero, 4);
          for (int64_t c = 0; c < w; ++c) bestIdxBits[c] = zbits;
          first = false;
          continue;
        }
        const auto ri = int32Bits<V>(rel);
        for (int64_t c = 0; c < full; c += L) {
          const auto x = V::load(row + c), bv = V::load(pieceVals + c);
          const auto beats = argmaxBeatsV<V>(x, bv);
          V::store(pieceVals + c, V::select(beats, x, bv));
          V::store(bestIdxBits + c, V::select(beats, ri, V::load(bestIdxBits + c)));
        }
        for (int64_t c = full; c < w; ++c) {
          if (argmaxBeats(row[c], pieceVals[c])) {
            pieceVals[c] = row[c];
            std::memcpy(&bestIdxBits[c], &rel, 4);
          }
        }
      }
    });
    for (int64_t c = 0; c < w; ++c) {
      int32_t rel;
      std::memcpy(&rel, &bestIdxBits[c], 4);
      if (idx[c] < 0 || argmaxBeats(pieceVals[c], vals[c])) {
        vals[c] = pieceVals[c];
        idx[c] = pb + rel;
      }
    }
  }
}

}  // namespace reduce_row
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
