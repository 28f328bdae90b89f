// Direct convolution for conv2d.cc (float32, NCHW), compiled in each ISA pass.
//
// The register tile is MR output pixels of one output row x NR output channels: per tap
// (c, ky, kx) it loads NV vectors of prepacked weights (NR channels) and broadcasts MR
// input pixels straight from a zero-padded copy of the rows it reads, so no im2col
// panel is ever packed (the implicit-GEMM path spent ~20% of its time packing). Output
// tiles come out pixel-major and are transposed in registers to NCHW as they are
// stored, with bias, activation and residual applied on the way.
//
// Each thread pads its own band of input rows (plus the kernel's halo) into private
// scratch, so a conv is one parallel region with no barrier. Every output element is
// summed in (c, ky, kx) order by one thread: results do not depend on the thread count.
// No include guard on purpose: conv2d.cc includes it inside each ISA pass.

namespace direct {

// MR pixels x NR output channels (NV weight vectors) per tile: the GEMM's register tile.
#include "kernels/gemm/fma_tile.h"
// Output rows per work item handed out to threads: enough that the halo rows padded
// twice stay cheap, few enough that a thread the OS delays can be caught up.
constexpr int64_t kBandRows = 8;
constexpr int64_t kMaxTaps = 64;  // kh * kw; larger kernels take the GEMM path

// The per-group geometry (C is channels per group) plus what the GEMM path leaves to
// its problem list: batch, groups and the output and residual strides.
struct Geometry : ConvGeometry {
  int64_t N = 1, groups = 1, Og = 0, xsN = 0;
  int64_t osN = 0, osC = 0, rsN = 0, rsC = 0;
};

struct Epilogue {
  const float* bias = nullptr;      // [O]
  const float* residual = nullptr;  // same layout as the output (strides rsN, rsC, OW, 1)
  int residualMode = 0;             // 1: act(conv + b) + r, 2: act(conv + b + r)
  Activation act = Activation::None;
};

// Whether the direct kernel should beat the implicit GEMM. Both waste the padding of
// their partial tiles (direct: along OW and Og; GEMM: along Og and OH*OW). The GEMM
// also packs each B panel, which only its Og rows amortise: the Og / (Og + 35) factor
// fits measured 3x3 convs (64 channels: direct 1.3x faster; 512 channels on 7x7: GEMM
// faster). Rows narrower than one tile leave each weight load too few pixels to feed,
// and fewer than NR / 2 channels per group (depthwise) leave most of each FMA idle.
inline bool preferred(int64_t Og, int64_t OW, int64_t spatial) {
  if (OW < MR || 2 * Og < NR) return false;
  auto fill = [](int64_t n, int64_t tile) { return static_cast<double>(n) / static_cast<double>((n + tile - 1) / tile * tile); };
  const double packing = static_cast<double>(Og) / static_cast<double>(Og + 35);
  // the GEMM's tile is the same MR x NR, over (Og, spatial) instead of (OW, Og)
  return fill(OW, MR) * fill(Og, NR) >= packing * fill(Og, MR) * fill(spatial, NR);
}

// Weights of each group as K x NR panels per block of NR output channels, k = (c, ky, kx)
// in the order the tile sums them; channels past Og are zero.
inline void packWeights(const float* w, int64_t wsO, int64_t wsC, int64_t wsH, int64_t wsW, const Geometry& g,
                        float* dst) {
  const int64_t K = g.C * g.kh * g.kw, blocks = (g.Og + NR - 1) / NR;
  for (int64_t grp = 0; grp < g.groups; ++grp)
    for (int64_t b = 0; b < blocks; ++b) {
      float* d = dst + (grp * blocks + b) * K * NR;
      for (int64_t c = 0, k = 0; c < g.C; ++c)
        for (int64_t y = 0; y < g.kh; ++y)
          for (int64_t x = 0; x < g.kw; ++x, ++k)
            for (int j = 0; j < NR; ++j) {
              const int64_t o = b * NR + j;
              d[k * NR + j] = o < g.Og ? w[(grp * g.Og + o) * wsO + c * wsC + y * wsH + x * wsW] : 0.f;
            }
    }
}

// The MR x NR tile (M_ pixels) over all taps, summed in (c, tap) order. `a` points at
// the tile's first pixel for tap 0 in channel 0 of the padded band; pixel i of tap t in
// channel c is a[c * chPitch + tapOff[t] + i * sw]. (Splitting C into slices whose
// weights stay in L1 measured slower: the tile sums' round trips cost more.)
template <int M_, int SW>
inline void tileKernel(int64_t C, int taps, const int64_t* tapOff, int64_t chPitch, const float* a, int64_t sw,
                       const float* __restrict w, R (&sum)[MR][NV]) {
  const int64_t step = SW > 0 ? SW : sw;
  // Local accumulators: the vector type may alias floats, so summing into `sum` would
  // make the compiler store it after every FMA.
  R acc[M_][NV];
#pragma GCC unroll 16
  for (int i = 0; i < M_; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = Vec::zero();
  for (int64_t c = 0; c < C; ++c, a += chPitch) {
    for (int t = 0; t < taps; ++t) {
      const float* p = a + tapOff[t];
      R bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) bv[v] = Vec::load(w + v * L);
#pragma GCC unroll 16
      for (int i = 0; i < M_; ++i) {
        const R av = Vec::set1(p[i * step]);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] = Vec::fma(av, bv[v], acc[i][v]);
      }
      w += NR;
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < M_; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) sum[i][v] = acc[i][v];
}

// Writes m pixels x nc channels of a finished tile to NCHW: `out` and `res` point at
// (channel 0, first pixel); channel rows are osC / rsC apart.
inline void storeTile(R (&acc)[MR][NV], int m, int nc, float* out, int64_t osC, const float* res, int64_t rsC,
                      const float* bias, const Epilogue& ep) {
  for (int v = 0; v < NV && v * L < nc; ++v) {
    const int lanes = std::min(L, nc - v * L);
    const R b = bias ? Vec::loadPartial(bias + v * L, lanes) : Vec::zero();
    for (int i0 = 0; i0 < m; i0 += L) {
      const int px = std::min(L, m - i0);
      R t[L];
      for (int r = 0; r < L; ++r) t[r] = i0 + r < m ? Vec::add(acc[i0 + r][v], b) : Vec::zero();
      transposeSquare<Vec>(t);  // t[lane] = the pixels of channel v * L + lane
      for (int lane = 0; lane < lanes; ++lane) {
        const int64_t ch = v * L + lane;
        R x = t[lane];
        if (ep.residualMode == 2) x = Vec::add(x, Vec::loadPartial(res + ch * rsC + i0, px));
        x = act::apply<Vec>(ep.act, x);
        if (ep.residualMode == 1) x = Vec::add(x, Vec::loadPartial(res + ch * rsC + i0, px));
        Vec::storePartial(out + ch * osC + i0, x, px);
      }
    }
  }
}

template <int SW>
using TileFn = void (*)(int64_t, int, const int64_t*, int64_t, const float*, int64_t, const float*, R (&)[MR][NV]);

template <int SW, int... Ms>
constexpr std::array<TileFn<SW>, sizeof...(Ms) + 1> makeTiles(std::integer_sequence<int, Ms...>) {
  return {{nullptr, &tileKernel<Ms + 1, SW>...}};
}
// kTiles<SW>[m] handles m pixels (1..MR); SW is the stride when 1 or 2, else 0 (runtime).
template <int SW>
constexpr auto kTiles = makeTiles<SW>(std::make_integer_sequence<int, MR>());

// Copies input rows [iy0, iy0 + rows) of one image and group, all its C channels, into
// dst with `pl` zero columns on the left and zeros wherever a row or column is outside
// the image: dst[c * rows * Wp + r * Wp + px] = x[c, iy0 + r, px - pl].
inline void padBand(const float* x, const Geometry& g, int64_t iy0, int64_t rows, int64_t Wp, float* dst) {
  const int64_t lo = std::min(Wp, g.pl), hi = std::max(lo, std::min(Wp, g.pl + g.W));  // valid columns [lo, hi)
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t r = 0; r < rows; ++r) {
      float* d = dst + (c * rows + r) * Wp;
      const int64_t iy = iy0 + r;
      if (iy < 0 || iy >= g.H) {
        zeroRun(d, Wp);
        continue;
      }
      const float* src = x + c * g.xsC + iy * g.xsH;
      zeroRun(d, lo);
      if (g.xsW == 1) copyRun(d + lo, src + (lo - g.pl), hi - lo);
      else
        for (int64_t px = lo; px < hi; ++px) d[px] = src[(px - g.pl) * g.xsW];
      zeroRun(d + hi, Wp - hi);
    }
}

// Output rows [oy0, oy1) of one image and group.
template <int SW>
inline void runBand(const float* image, const Geometry& g, const float* wPacked, int64_t grp, float* outImage,
                    const float* resImage, const Epilogue& ep, int64_t oy0, int64_t oy1, float* band) {
  const int64_t rows = (oy1 - oy0 - 1) * g.sh + (g.kh - 1) * g.dh + 1;
  const int64_t Wp = (g.OW - 1) * g.sw + (g.kw - 1) * g.dw + 1;
  padBand(image, g, oy0 * g.sh - g.pt, rows, Wp, band);
  const int taps = static_cast<int>(g.kh * g.kw);
  int64_t off[kMaxTaps];
  for (int64_t y = 0; y < g.kh; ++y)
    for (int64_t x = 0; x < g.kw; ++x) off[y * g.kw + x] = y * g.dh * Wp + x * g.dw;
  const int64_t K = g.C * taps, blocks = (g.Og + NR - 1) / NR, chPitch = rows * Wp;
  for (int64_t b = 0; b < blocks; ++b) {
    const float* w = wPacked + (grp * blocks + b) * K * NR;
    const int nc = static_cast<int>(std::min<int64_t>(NR, g.Og - b * NR));
    const int64_t oc = grp * g.Og + b * NR;
    for (int64_t oy = oy0; oy < oy1; ++oy) {
      const float* rowIn = band + (oy - oy0) * g.sh * Wp;
      for (int64_t ox = 0; ox < g.OW; ox += MR) {
        const int m = static_cast<int>(std::min<int64_t>(MR, g.OW - ox));
        R acc[MR][NV];
        kTiles<SW>[m](g.C, taps, off, chPitch, rowIn + ox * g.sw, g.sw, w, acc);
        const int64_t at = oy * g.OW + ox;
        storeTile(acc, m, nc, outImage + oc * g.osC + at, g.osC,
                  resImage ? resImage + oc * g.rsC + at : nullptr, g.rsC, ep.bias ? ep.bias + oc : nullptr, ep);
      }
    }
  }
}

// The whole conv: work items are bands of about kBandRows output rows of one image and
// group, handed out from a shared counter; their count is rounded up to a multiple of the
// thread count so that equal bands keep the threads equally busy.
inline void run(const float* x, const Geometry& g, const float* wPacked, float* out, const Epilogue& ep) {
  const int64_t threads = numThreads(), images = g.N * g.groups;
  int64_t bands = std::min(g.OH, (g.OH + kBandRows - 1) / kBandRows);
  while (bands < g.OH && (images * bands) % threads != 0) ++bands;
  const int64_t items = images * bands;
  const int64_t maxRows = ((g.OH + bands - 1) / bands - 1) * g.sh + (g.kh - 1) * g.dh + 1;
  const int64_t Wp = (g.OW - 1) * g.sw + (g.kw - 1) * g.dw + 1;
  const size_t bandFloats = static_cast<size_t>(g.C * maxRows * Wp);
  std::atomic<int64_t> next{0};
  parallelFor(std::min(items, threads), 1, [&](int64_t, int64_t) {
    static thread_local std::vector<float> scratch;
    if (scratch.size() < bandFloats) scratch.resize(bandFloats);
    for (;;) {
      const int64_t item = next.fetch_add(1, std::memory_order_relaxed);
      if (item >= items) break;
      const int64_t img = item / bands, band = item % bands, n = img / g.groups, grp = img % g.groups;
      const int64_t oy0 = g.OH * band / bands, oy1 = g.OH * (band + 1) / bands;
      const float* image = x + n * g.xsN + grp * g.C * g.xsC;
      float* outImage = out + n * g.osN;
      const float* resImage = ep.residual ? ep.residual + n * g.rsN : nullptr;
      if (g.sw == 1) runBand<1>(image, g, wPacked, grp, outImage, resImage, ep, oy0, oy1, scratch.data());
      else if (g.sw == 2) runBand<2>(image, g, wPacked, grp, outImage, resImage, ep, oy0, oy1, scratch.data());
      else runBand<0>(image, g, wPacked, grp, outImage, resImage, ep, oy0, oy1, scratch.data());
    }
  });
}

}  // namespace direct
