// Layer normalisation of one contiguous float32 row, one body per ISA, callable on raw
// pointers (the graph executor reuses it).
//
// Include INSIDE an ISA pass, after kernels/reduce/reduce_row.h and
// kernels/common/store_row.h (no include guard: see reduce_row.h).
//
// Two-pass moments over the (cache-resident) row: mean = sumRow / n, then the biased
// variance = sumSquaredDevRow(mean) / n (both in reduce_row.h's accumulation order,
// double across blocks), rstd = 1 / sqrt(var + eps) in double; a third pass writes
// y = (x - mean) * (rstd * w) + b. weight/bias may be null. x == y is allowed.
namespace tensorjit {
namespace TJ_ISA_NS {
namespace norm_row {

template <class V, bool kWeight, bool kBias, bool kStream>
inline void normalizeRow(const float* x, float* y, int64_t n, float mean, float rstd, const float* w, const float* b) {
  const auto vm = V::set1(mean), vr = V::set1(rstd);
  auto one = [&](typename V::Reg xv, typename V::Reg wv, typename V::Reg bv) {
    const auto scale = kWeight ? V::mul(vr, wv) : vr;
    const auto d = V::sub(xv, vm);
    return kBias ? V::fma(d, scale, bv) : V::mul(d, scale);
  };
  auto full = [&](int64_t i) {
    return one(V::load(x + i), kWeight ? V::load(w + i) : V::zero(), kBias ? V::load(b + i) : V::zero());
  };
  auto partial = [&](int64_t i, int r) {
    return one(V::loadPartial(x + i, r), kWeight ? V::loadPartial(w + i, r) : V::zero(),
               kBias ? V::loadPartial(b + i, r) : V::zero());
  };
  pw::storeRow<V, kStream, false>(y, n, full, partial, [](int64_t) {});
}

// kStream: y is written with non-temporal stores (large outputs; the caller fences once
// per thread after its last row).
template <class V, bool kStream = false>
inline void layerNormRow(const float* x, float* y, int64_t n, const float* w, const float* b, float eps) {
  if (n <= 0) return;
  const float mean = static_cast<float>(reduce_row::sumRow<V>(x, n) / static_cast<double>(n));
  const double var = reduce_row::sumSquaredDevRow<V>(x, n, mean) / static_cast<double>(n);
  const float rstd = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
  if (w && b) normalizeRow<V, true, true, kStream>(x, y, n, mean, rstd, w, b);
  else if (w) normalizeRow<V, true, false, kStream>(x, y, n, mean, rstd, w, b);
  else if (b) normalizeRow<V, false, true, kStream>(x, y, n, mean, rstd, w, b);
  else normalizeRow<V, false, false, kStream>(x, y, n, mean, rstd, w, b);
}

}  // namespace norm_row
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
