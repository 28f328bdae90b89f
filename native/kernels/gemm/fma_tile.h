// The register tile of an FMA outer-product kernel, per ISA: MR rows (broadcast operands)
// x NR = NV vectors (loaded operands). AVX-512 14x32 (28 accumulators + 2 loaded vectors +
// 1 broadcast of 32 zmm), AVX2 6x16 (12 + 2 + 1 of 16 ymm), NEON 8x12 (24 + 3 + 1 of 32
// q registers), scalar 4x4. Shared by the GEMM
// micro-kernel (gemm_body.h) and the direct conv (conv/conv_direct.h).
// No include guard on purpose: included inside a namespace of each ISA pass.
using R = Vec::Reg;
constexpr int L = Vec::kLanes;
constexpr int MR = L == 16 ? 14 : (L == 8 ? 6 : (L == 4 ? 8 : 4));
constexpr int NV = L == 1 ? 4 : (L == 4 ? 3 : 2);
constexpr int NR = NV * L;
