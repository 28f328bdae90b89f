// "conv2d" (float32, NCHW). Shapes with rows at least one pixel tile wide and enough
// output channels per group run the direct kernel (conv_direct.h: no im2col at all);
// the rest run as GEMMs: per image and group, out[Og, OH*OW] =
// weight[Og, Cg*kh*kw] x cols[Cg*kh*kw, OH*OW] + bias (per row). The columns are never
// materialised: the GEMM asks ConvColumns for kc x nr panels and they are gathered
// straight from the image (implicit im2col), so the working set stays in cache. A 1x1,
// stride-1, unpadded conv reads the image as the B matrix directly.
//
// inputs: x [N, C, H, W] or [C, H, W], weight [O, C/groups, kh, kw], optional bias [O];
// output [N, O, OH, OW] (or [O, OH, OW]), contiguous.
// attrs: [strideH, strideW, padTop, padLeft, padBottom, padRight, dilationH, dilationW,
//         groups, hasBias (0|1)], optionally followed by an epilogue [activation, residualMode]
//         (graph pass reduction_fusion.cc): activation is a gemm.h Activation (0 none,
//         1 relu, 2 gelu, 3 gelu-tanh, 4 silu, 5 sigmoid, 6 tanh); residualMode 0 = none,
//         1 = act(conv + bias) + residual, 2 = act(conv + bias + residual). The residual is
//         the last input, float32 of the output's shape. Asymmetric padding carries padding='same'.
// The epilogue runs on each output tile while it is in cache: in the direct kernel's
// store, or in the GEMM's built-in epilogue (GemmEpilogue::residualFirst for mode 2).
#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/kernel_registration.h"
#include "core/tensor_view.h"
#include "core/thread_pool.h"
#include "kernels/conv/conv2d.h"
#include "kernels/gemm/gemm.h"
#include "kernels/gemm/view_util.h"

// GCC 12 flags the intrinsics' own _mm512_undefined_* placeholders as uninitialised.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#ifndef TJ_ISA_PASS
namespace tensorjit {
namespace {
// The packed layout follows the conv2d body that runs it.
IsaCompanions<ConvImpl>& convImpls() {
  static IsaCompanions<ConvImpl> table("conv2d");
  return table;
}
}  // namespace

void registerConvImpl(Isa isa, const ConvImpl& impl) { convImpls().set(isa, impl); }

std::shared_ptr<const PackedConvWeights> packConvWeights(const TensorView& w, const std::vector<double>& attrs) {
  const ConvImpl& impl = convImpls().forActiveIsa();
  auto packed = std::make_shared<PackedConvWeights>();
  if (!impl.pack(w, attrs, *packed)) return nullptr;
  packed->run = impl.run;
  return packed;
}

void conv2dPrepacked(const KernelArgs& args, const PackedConvWeights& packed) { packed.run(args, &packed); }
}  // namespace tensorjit

#define TJ_ISA_SELF "kernels/conv/conv2d.cc"
#include "simd/foreach_isa.h"
#else
#include "kernels/math/vmath.h"
#include "simd/vec_transpose.h"

namespace tensorjit {
namespace TJ_ISA_NS {
#include "kernels/gemm/activation.h"
namespace {

struct ConvGeometry {
  int64_t C = 0, H = 0, W = 0;  // per group: C is channels per group
  int64_t kh = 0, kw = 0, sh = 1, sw = 1, pt = 0, pl = 0, dh = 1, dw = 1;
  int64_t OH = 0, OW = 0;
  int64_t xsC = 0, xsH = 0, xsW = 0;  // image strides (elements)
};

// dst[0, n) = 0.
inline void zeroRun(float* dst, int64_t n) {
  int64_t t = 0;
  for (; t + Vec::kLanes <= n; t += Vec::kLanes) Vec::store(dst + t, Vec::zero());
  if (t < n) Vec::storePartial(dst + t, Vec::zero(), static_cast<int>(n - t));
}

// dst[0, n) = src[0, n).
inline void copyRun(float* dst, const float* src, int64_t n) {
  int64_t t = 0;
  for (; t + Vec::kLanes <= n; t += Vec::kLanes) Vec::store(dst + t, Vec::load(src + t));
  if (t < n) {
    const int r = static_cast<int>(n - t);
    Vec::storePartial(dst + t, Vec::loadPartial(src + t, r), r);
  }
}

#include "kernels/conv/conv_direct.h"

// B = im2col(x) for one image and group, packed panel by panel.
struct ConvColumns final : BPanelSource {
  const float* x = nullptr;  // this image's first channel of the group
  ConvGeometry g;

  void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nr, int width, float* dst) const override {
    // The panel's columns split into runs along output rows; the split is the same for
    // every k, so it is worked out once.
    struct Run {
      int64_t at, len, oy, ox;
    };
    Run runs[64];  // nr <= the panel width (<= 64): at most one run per column
    int numRuns = 0;
    for (int64_t jj = 0, oy = j0 / g.OW, ox = j0 % g.OW; jj < nr; ++oy, ox = 0) {
      const int64_t len = std::min(nr - jj, g.OW - ox);
      runs[numRuns++] = Run{jj, len, oy, ox};
      jj += len;
    }
    const bool unitStride = g.sw == 1 && g.xsW == 1;
    int64_t c = k0 / (g.kh * g.kw), ky = (k0 / g.kw) % g.kh, kx = k0 % g.kw;
    for (int64_t kk = 0; kk < kc; ++kk) {
      const float* plane = x + c * g.xsC;
      float* d = dst + kk * width;
      const int64_t iyOff = ky * g.dh - g.pt, ixOff = kx * g.dw - g.pl;
      for (int r = 0; r < numRuns; ++r) {
        const Run& run = runs[r];
        float* seg = d + run.at;
        const int64_t iy = run.oy * g.sh + iyOff;
        if (iy < 0 || iy >= g.H) {
          zeroRun(seg, run.len);
          continue;
        }
        const float* row = plane + iy * g.xsH;
        const int64_t ix0 = run.ox * g.sw + ixOff;
        if (unitStride) {
          // Valid taps are one contiguous stretch: zeros, a copy, zeros.
          const int64_t t0 = std::min(run.len, std::max<int64_t>(0, -ix0));
          const int64_t t1 = std::max(t0, std::min(run.len, g.W - ix0));
          if (t0 > 0) zeroRun(seg, t0);
          copyRun(seg + t0, row + ix0 + t0, t1 - t0);
          if (t1 < run.len) zeroRun(seg + t1, run.len - t1);
        } else {
          for (int64_t t = 0; t < run.len; ++t) {
            const int64_t ix = ix0 + t * g.sw;
            seg[t] = (ix >= 0 && ix < g.W) ? row[ix * g.xsW] : 0.f;
          }
        }
      }
      if (nr < width) zeroRun(d + nr, width - nr);
      if (++kx == g.kw) {
        kx = 0;
        if (++ky == g.kh) {
          ky = 0;
          ++c;
        }
      }
    }
  }
};

// The weight [O, Cg, kh, kw] as the GEMM's A rows: element (o, k) with k = (c*kh + ky)*kw
// + kx, read in place when (c, ky, kx) collapse to one stride, else copied into `copy`.
MatrixRef weightRows(const TensorView& w, std::vector<float>& copy) {
  const int64_t O = w.shape[0], Cg = w.shape[1], kh = w.shape[2], kw = w.shape[3], K = Cg * kh * kw;
  int64_t colStride = 1;
  if (collapseDims(w, 1, 3, &colStride)) return MatrixRef{w.ptr<float>(), w.strides[0], colStride};
  copy.resize(static_cast<size_t>(O * K));
  const float* src = w.ptr<float>();
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < Cg; ++c)
      for (int64_t i = 0; i < kh; ++i)
        for (int64_t j = 0; j < kw; ++j)
          copy[static_cast<size_t>(((o * Cg + c) * kh + i) * kw + j)] =
              src[o * w.strides[0] + c * w.strides[1] + i * w.strides[2] + j * w.strides[3]];
  return MatrixRef{copy.data(), K, 1};
}

// Group g's rows of weightRows' view (Og output channels per group).
MatrixRef groupRows(const MatrixRef& all, int64_t g, int64_t Og) {
  return MatrixRef{all.data + g * Og * all.rowStride, all.rowStride, all.colStride};
}

void expectFloat(const char* arg, const TensorView& v) {
  if (v.dtype != DType::Float32)
    throwTypeError(std::string("conv2d: argument '") + arg + "' must be float32, got " + dtypeName(v.dtype));
}

// Kernel conv2d; `prepacked` (or null) is the weight already packed, used when it fits
// this call.
void conv2dRun(const KernelArgs& args, const PackedConvWeights* prepacked) {
  if (args.numAttrs != 10 && args.numAttrs != 12)
    throwRangeError("conv2d: expects 10 attrs, or 12 with an epilogue [activation, residualMode]");
  const int64_t sh = args.intAttr(0), sw = args.intAttr(1), pt = args.intAttr(2), pl = args.intAttr(3),
                pb = args.intAttr(4), pr = args.intAttr(5), dh = args.intAttr(6), dw = args.intAttr(7),
                groups = args.intAttr(8);
  const bool hasBias = args.attr(9) != 0;
  const int64_t actCode = args.numAttrs == 12 ? args.intAttr(10) : 0, residualMode = args.numAttrs == 12 ? args.intAttr(11) : 0;
  if (actCode < 0 || actCode > static_cast<int64_t>(Activation::Tanh) || residualMode < 0 || residualMode > 2)
    throwRangeError("conv2d: epilogue activation " + std::to_string(actCode) + " or residual mode " +
                    std::to_string(residualMode) + " is out of range");
  const Activation activation = static_cast<Activation>(actCode);
  const bool hasResidual = residualMode != 0;
  if (args.numInputs != 2 + int(hasBias) + int(hasResidual) || args.numOutputs != 1)
    throwRangeError("conv2d: bad operand count");
  if (sh < 1 || sw < 1 || dh < 1 || dw < 1 || pt < 0 || pl < 0 || pb < 0 || pr < 0 || groups < 1)
    throwRangeError("conv2d: stride and dilation must be >= 1, padding >= 0, groups >= 1");
  const TensorView& x = args.in(0);
  const TensorView& w = args.in(1);
  const TensorView& out = args.out(0);
  expectFloat("input", x);
  expectFloat("weight", w);
  if ((x.ndim != 3 && x.ndim != 4) || w.ndim != 4 || out.ndim != x.ndim)
    throwRangeError("conv2d: input " + x.shapeString() + " must be 3-D or 4-D and weight " + w.shapeString() + " 4-D");
  const bool batched = x.ndim == 4;
  const int lead = batched ? 1 : 0;
  const int64_t N = batched ? x.shape[0] : 1, C = x.shape[lead], H = x.shape[lead + 1], W = x.shape[lead + 2];
  const int64_t O = w.shape[0], Cg = w.shape[1], kh = w.shape[2], kw = w.shape[3];
  if (Cg * groups != C || O % groups != 0 || kh < 1 || kw < 1)
    throwRangeError("conv2d: input " + x.shapeString() + " and weight " + w.shapeString() + " do not match for groups=" +
                    std::to_string(groups));
  const int64_t OH = (H + pt + pb - dh * (kh - 1) - 1) / sh + 1, OW = (W + pl + pr - dw * (kw - 1) - 1) / sw + 1;
  if (H + pt + pb < dh * (kh - 1) + 1 || W + pl + pr < dw * (kw - 1) + 1)
    throwRangeError("conv2d: kernel " + w.shapeString() + " is larger than the padded input " + x.shapeString());
  const int64_t wantOut[4] = {N, O, OH, OW};
  for (int d = 0; d < out.ndim; ++d)
    if (out.shape[d] != wantOut[d + (batched ? 0 : 1)])
      throwRangeError("conv2d: output " + out.shapeString() + " does not match the inputs");
  if (out.dtype != DType::Float32) throwTypeError("conv2d: output must be float32");
  // The output may be a strided view (e.g. a channel slice of a concatenation) as long
  // as each channel's pixels are one unit-stride run.
  int64_t pixelStep = 1;
  if (!collapseDims(out, out.ndim - 2, out.ndim - 1, &pixelStep) || (OH * OW > 1 && pixelStep != 1))
    throwRangeError("conv2d: output " + out.shapeString() + " needs unit-stride, row-contiguous pixels");
  const int64_t osN = batched ? out.strides[0] : 0, osC = out.strides[batched ? 1 : 0];
  const int64_t Og = O / groups, K = Cg * kh * kw, spatial = OH * OW;
  if (out.numel() == 0) return;

  std::vector<float> biasCopy;
  const float* bias = nullptr;
  if (hasBias) {
    const TensorView& b = args.in(2);
    expectFloat("bias", b);
    if (b.ndim != 1 || b.shape[0] != O) throwRangeError("conv2d: bias " + b.shapeString() + " must be [" + std::to_string(O) + "]");
    bias = b.ptr<float>();
    if (O > 1 && b.strides[0] != 1) {
      biasCopy.resize(static_cast<size_t>(O));
      for (int64_t o = 0; o < O; ++o) biasCopy[o] = bias[o * b.strides[0]];
      bias = biasCopy.data();
    }
  }

  // The residual's channels must be unit-stride pixel runs, as the output's; else staged.
  std::vector<float> residualCopy;
  const float* residual = nullptr;
  int64_t rsN = 0, rsC = 0;
  if (hasResidual) {
    const TensorView& r = args.in(args.numInputs - 1);
    expectFloat("residual", r);
    bool same = r.ndim == out.ndim;
    for (int d = 0; same && d < r.ndim; ++d) same = r.shape[d] == out.shape[d];
    if (!same) throwRangeError("conv2d: residual " + r.shapeString() + " must match the output " + out.shapeString());
    int64_t step = 1;
    // Staged too when it shares memory with out: the GEMM path writes partial sums first.
    if (collapseDims(r, r.ndim - 2, r.ndim - 1, &step) && (OH * OW == 1 || step == 1) && !overlaps(r, out)) {
      residual = r.ptr<float>();
      rsN = batched ? r.strides[0] : 0;
      rsC = r.strides[batched ? 1 : 0];
    } else {
      residualCopy.resize(static_cast<size_t>(r.numel()));
      const int64_t n0 = batched ? N : 1;
      const int lo = batched ? 1 : 0;
      for (int64_t n = 0; n < n0; ++n)
        for (int64_t o = 0; o < O; ++o)
          for (int64_t yy = 0; yy < OH; ++yy)
            for (int64_t xx = 0; xx < OW; ++xx)
              residualCopy[static_cast<size_t>(((n * O + o) * OH + yy) * OW + xx)] =
                  r.ptr<float>()[(batched ? n * r.strides[0] : 0) + o * r.strides[lo] + yy * r.strides[lo + 1] +
                                 xx * r.strides[lo + 2]];
      residual = residualCopy.data();
      rsN = O * OH * OW;
      rsC = OH * OW;
    }
  }

  const int64_t xsN = batched ? x.strides[0] : 0, xsC = x.strides[lead], xsH = x.strides[lead + 1],
                xsW = x.strides[lead + 2];
  ConvGeometry geo;
  geo.C = Cg;
  geo.H = H;
  geo.W = W;
  geo.kh = kh;
  geo.kw = kw;
  geo.sh = sh;
  geo.sw = sw;
  geo.pt = pt;
  geo.pl = pl;
  geo.dh = dh;
  geo.dw = dw;
  geo.OH = OH;
  geo.OW = OW;
  geo.xsC = xsC;
  geo.xsH = xsH;
  geo.xsW = xsW;
  // A 1x1 stride-1 unpadded conv is a plain GEMM over the image when H and W merge.
  const bool imageIsB = kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pl == 0 && pb == 0 && pr == 0 &&
                      (H == 1 || W == 1 || xsH == W * xsW);
  const int64_t pixelStride = W == 1 ? xsH : xsW;

  float* outData = out.ptr<float>();
  const bool packedFits = prepacked && prepacked->O == O && prepacked->Cg == Cg && prepacked->kh == kh &&
                          prepacked->kw == kw && prepacked->groups == groups;
  if (!imageIsB && K > 0 && kh * kw <= direct::kMaxTaps && direct::preferred(Og, OW, spatial)) {
    direct::Geometry dg;
    static_cast<ConvGeometry&>(dg) = geo;
    dg.N = N;
    dg.groups = groups;
    dg.Og = Og;
    dg.xsN = xsN;
    dg.osN = osN;
    dg.osC = osC;
    dg.rsN = rsN;
    dg.rsC = rsC;
    const float* wPacked = nullptr;
    std::vector<float> packedHere;
    if (packedFits && !prepacked->direct.empty()) {
      wPacked = prepacked->direct.data();
    } else {
      packedHere.resize(static_cast<size_t>(groups * ((Og + direct::NR - 1) / direct::NR) * K * direct::NR));
      direct::packWeights(w.ptr<float>(), w.strides[0], w.strides[1], w.strides[2], w.strides[3], dg, packedHere.data());
      wPacked = packedHere.data();
    }
    direct::Epilogue dep;
    dep.bias = bias;
    dep.residual = residual;
    dep.residualMode = static_cast<int>(residualMode);
    dep.act = activation;
    direct::run(x.ptr<float>(), dg, wPacked, outData, dep);
    return;
  }

  const bool gemmPacked = packedFits && !prepacked->gemmA.empty();
  std::vector<float> wCopy;
  const MatrixRef wAll = gemmPacked ? MatrixRef{} : weightRows(w, wCopy);
  std::vector<ConvColumns> sources(imageIsB ? 0 : static_cast<size_t>(N * groups));
  const GemmImpl& impl = gemmImpl(TJ_ISA_ENUM);
  runGemmList(impl, N * groups, [&](int64_t t, GemmProblem& p) {
    const int64_t n = t / groups, g = t % groups;
    const float* image = x.ptr<float>() + n * xsN + g * Cg * xsC;
    p.M = Og;
    p.N = spatial;
    p.K = K;
    if (gemmPacked) p.packedA = &prepacked->gemmA[static_cast<size_t>(g)];
    else p.A = groupRows(wAll, g, Og);
    if (imageIsB) {
      p.B = MatrixRef{image, xsC, pixelStride};
    } else {
      ConvColumns& src = sources[static_cast<size_t>(t)];
      src.x = image;
      src.g = geo;
      p.source = &src;
    }
    p.C = outData + n * osN + g * Og * osC;
    p.ldc = Og > 1 ? osC : spatial;
    p.ep.bias = bias ? bias + g * Og : nullptr;
    p.ep.biasMode = BiasMode::PerRow;
    const float* res = residual ? residual + n * rsN + g * Og * rsC : nullptr;
    const int64_t ldRes = Og > 1 ? rsC : spatial;
    p.ep.act = activation;
    p.ep.residual = res;
    p.ep.ldResidual = ldRes;
    p.ep.residualFirst = residualMode == 2;
  });
}

void conv2dKernel(const KernelArgs& args) { conv2dRun(args, nullptr); }

// Packs a constant weight for the direct kernel when some call could take it: not a 1x1
// stride-1 unpadded conv (a plain GEMM over the image), channels per group to fill half
// a tile, taps within the kernel's limit. Whether a call does also depends on its image
// width (direct::preferred). Other weights are packed as the GEMM path's A, per group.
bool packWeights(const TensorView& w, const std::vector<double>& attrs, PackedConvWeights& out) {
  if ((attrs.size() != 10 && attrs.size() != 12) || w.dtype != DType::Float32 || w.ndim != 4) return false;
  const int64_t O = w.shape[0], Cg = w.shape[1], kh = w.shape[2], kw = w.shape[3];
  // range-checked before the cast (the program is not trusted; casting NaN is undefined)
  if (!(attrs[8] >= 1 && attrs[8] <= static_cast<double>(O)) || attrs[8] != static_cast<double>(static_cast<int64_t>(attrs[8])))
    return false;
  const int64_t groups = static_cast<int64_t>(attrs[8]);
  if (O % groups != 0 || Cg < 1 || kh < 1 || kw < 1) return false;
  const bool plainGemm = kh == 1 && kw == 1 && attrs[0] == 1 && attrs[1] == 1 && attrs[2] == 0 && attrs[3] == 0 &&
                         attrs[4] == 0 && attrs[5] == 0;
  const int64_t Og = O / groups, K = Cg * kh * kw;
  out.O = O;
  out.Cg = Cg;
  out.kh = kh;
  out.kw = kw;
  out.groups = groups;
  if (plainGemm || 2 * Og < direct::NR || kh * kw > direct::kMaxTaps) {
    std::vector<float> copy;
    const MatrixRef wAll = weightRows(w, copy);
    for (int64_t g = 0; g < groups; ++g)
      out.gemmA.push_back(packAStrided(Og, K, groupRows(wAll, g, Og), TJ_ISA_ENUM));
    return true;
  }
  direct::Geometry g;
  g.C = Cg;
  g.kh = kh;
  g.kw = kw;
  g.groups = groups;
  g.Og = Og;
  out.direct.resize(static_cast<size_t>(groups * ((Og + direct::NR - 1) / direct::NR) * K * direct::NR));
  direct::packWeights(w.ptr<float>(), w.strides[0], w.strides[1], w.strides[2], w.strides[3], g, out.direct.data());
  return true;
}

struct RegisterConvImpl {
  RegisterConvImpl() { registerConvImpl(TJ_ISA_ENUM, ConvImpl{&packWeights, &conv2dRun}); }
} registerConvImplOnce;

TJ_REGISTER_KERNEL("conv2d", conv2dKernel);

}  // namespace
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
#endif
