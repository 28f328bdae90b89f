// "cast": out <- in converted to out's dtype (x.to(dtype)); any dtype pair, any strides,
// in broadcast to out. attrs: none. Conversion rules: kernels/pointwise/elem.h.
// float32 <-> float16/bfloat16 on contiguous rows use the Vec table (F16C under AVX2 and
// AVX-512, bit code in scalar), which gives the same bits as elem.h's portable code.
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/kernel.h"
#include "core/thread_pool.h"
#include "kernels/common/strided_loop.h"
#include "kernels/pointwise/elem.h"

#ifndef TJ_ISA_PASS
#define TJ_ISA_SELF "kernels/pointwise/cast.cc"
#include "simd/foreach_isa.h"
#else
#include "kernels/math/vmath.h"
#include "kernels/pointwise/functors.h"
#include "kernels/pointwise/pointwise_loop.h"

namespace tensorjit {
namespace TJ_ISA_NS {
namespace pw {
namespace {

// Full vectors through load/store, the tail through a zero-padded lane buffer.
template <class Load, class Store, class Src, class Dst>
inline void halfRow(Dst* dst, const Src* src, int64_t n, Load load, Store store) {
  int64_t i = 0;
  for (; i + Vec::kLanes <= n; i += Vec::kLanes) store(dst + i, load(src + i));
  if (i < n) {
    Src in[Vec::kLanes] = {};
    Dst outLanes[Vec::kLanes];
    std::memcpy(in, src + i, static_cast<size_t>(n - i) * sizeof(Src));
    store(outLanes, load(in));
    std::memcpy(dst + i, outLanes, static_cast<size_t>(n - i) * sizeof(Dst));
  }
}

struct LoadF32 {
  Vec::Reg operator()(const float* p) const { return Vec::load(p); }
};
struct LoadF16 {
  Vec::Reg operator()(const uint16_t* p) const { return Vec::loadF16(p); }
};
struct LoadBF16 {
  Vec::Reg operator()(const uint16_t* p) const { return Vec::loadBF16(p); }
};
struct StoreF32 {
  void operator()(float* p, Vec::Reg v) const { Vec::store(p, v); }
};
struct StoreF16 {
  void operator()(uint16_t* p, Vec::Reg v) const { Vec::storeF16(p, v); }
};
struct StoreBF16 {
  void operator()(uint16_t* p, Vec::Reg v) const { Vec::storeBF16(p, v); }
};

// Contiguous float32 <-> 16-bit float rows; false when the pair has no SIMD path.
bool vectorCast(char* dst, DType dt, const char* src, DType st, int64_t n) {
  auto* d16 = reinterpret_cast<uint16_t*>(dst);
  auto* d32 = reinterpret_cast<float*>(dst);
  const auto* s16 = reinterpret_cast<const uint16_t*>(src);
  const auto* s32 = reinterpret_cast<const float*>(src);
  if (st == DType::Float32 && dt == DType::Float16) halfRow(d16, s32, n, LoadF32{}, StoreF16{});
  else if (st == DType::Float32 && dt == DType::BFloat16) halfRow(d16, s32, n, LoadF32{}, StoreBF16{});
  else if (st == DType::Float16 && dt == DType::Float32) halfRow(d32, s16, n, LoadF16{}, StoreF32{});
  else if (st == DType::BFloat16 && dt == DType::Float32) halfRow(d32, s16, n, LoadBF16{}, StoreF32{});
  else return false;
  return true;
}

void castKernel(const KernelArgs& args) {
  if (args.numInputs != 1 || args.numOutputs != 1 || args.numAttrs != 0)
    throwRangeError("cast: wrong number of operands or attributes");
  const TensorView& in = args.in(0);
  TensorView& out = args.out(0);
  checkBroadcastsTo("cast", in, out);
  const TensorView* views[2] = {&out, &in};
  const StridedLoop<2> loop(views, out.ndim, out.shape);
  if (loop.numel == 0) return;
  parallelFor(loop.numel, kGrain, [&](int64_t b, int64_t e) {
    loop.forRange(b, e, [&](char* const* p, int64_t n) {
      const int64_t so = loop.innerStride(0), si = loop.innerStride(1);
      if (so == 1 && si == 1 && vectorCast(p[0], out.dtype, p[1], in.dtype, n)) return;
      convertStrided(p[0], out.dtype, so, p[1], in.dtype, si, n);
    });
  });
}
TJ_REGISTER_KERNEL("cast", castKernel);

}  // namespace
}  // namespace pw
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
#endif
