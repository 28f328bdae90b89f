// Prepacking constant GEMM weights at compile time (linear's weight), so each run
// only streams the activations through the GEMM's panels.
#include <memory>
#include <vector>

#include "core/allocator.h"
#include "core/error.h"
#include "graph/passes.h"
#include "kernels/gemm/gemm.h"

namespace tensorjit {
namespace graph {
namespace {

// Rows of x ([..., K]) as a strided matrix; false when the leading dims don't collapse.
bool rowsOf(const TensorView& x, int64_t K, MatrixRef* out, int64_t* rows) {
  *rows = K == 0 ? 0 : x.numel() / K;
  const int last = x.ndim - 1;
  out->data = x.ptr<float>();
  out->colStride = x.strides[last];
  if (x.ndim == 1) {
    out->rowStride = 0;
    return true;
  }
  // Leading dims must form one arithmetic sequence of row starts.
  int64_t stride = 0;
  bool set = false;
  for (int d = last - 1; d >= 0; --d) {
    if (x.shape[d] == 1) continue;
    if (!set) {
      stride = x.strides[d];
      set = true;
      continue;
    }
    int64_t inner = 1;
    for (int e = d + 1; e < last; ++e) inner *= x.shape[e];
    if (x.strides[d] != stride * inner) return false;
  }
  out->rowStride = set ? stride : K;
  return true;
}

struct PrepackedLinear {
  PackedB weight;
  const float* constBias = nullptr;  // when the bias is a contiguous constant
  bool hasBias = false;

  void operator()(const KernelArgs& a) const {
    const TensorView& x = a.in(0);
    TensorView& out = a.out(0);
    const int64_t K = weight.k(), N = weight.n();
    if (x.dtype != DType::Float32 || x.ndim < 1 || x.shape[x.ndim - 1] != K)
      throwRangeError("linear: input " + x.shapeString() + " does not match the prepacked weight [" +
                      std::to_string(N) + ", " + std::to_string(K) + "]");
    GemmEpilogue ep;
    std::vector<float> biasCopy;
    if (hasBias) {
      if (constBias) {
        ep.bias = constBias;
      } else {
        const TensorView& b = a.in(2);
        biasCopy.resize(static_cast<size_t>(N));
        for (int64_t j = 0; j < N; ++j) biasCopy[j] = b.ptr<float>()[j * b.strides[0]];
        ep.bias = biasCopy.data();
      }
    }
    MatrixRef A;
    int64_t M;
    std::vector<float> staged;
    if (!rowsOf(x, K, &A, &M)) {
      staged.resize(static_cast<size_t>(x.numel()));
      TensorView dst = contiguousView(staged.data(), DType::Float32, x.ndim, x.shape);
      TensorView src = x;
      KernelArgs copy{&src, 1, &dst, 1, nullptr, 0};
      runKernel(KernelRegistry::instance().idOf("copy"), copy);
      A = MatrixRef{staged.data(), K, 1};
    }
    if (M == 0) return;
    sgemmPacked(M, A, weight, out.ptr<float>(), N, ep);
  }
};

}  // namespace

int prepackConstantWeights(Program& p, const std::vector<ConstBuffer>& consts, int64_t* packedBytes) {
  const int linearId = KernelRegistry::instance().idOf("linear");
  int count = 0;
  for (Instr& in : p.instrs) {
    if (in.run || in.kernelId != linearId || in.inputs.size() < 2) continue;
    const TensorView w = constantView(p, consts, in.inputs[1]);
    if (!w.data || w.ndim != 2 || w.dtype != DType::Float32) continue;
    const int64_t N = w.shape[0], K = w.shape[1];
    if (N == 0 || K == 0) continue;
    auto state = std::make_shared<PrepackedLinear>();
    // B = W^T: B(k, n) = W[n, k]
    state->weight = packBStrided(K, N, MatrixRef{w.ptr<float>(), w.strides[1], w.strides[0]});
    state->hasBias = !in.attrs.empty() && in.attrs[0] != 0 && in.inputs.size() == 3;
    if (state->hasBias) {
      const TensorView b = constantView(p, consts, in.inputs[2]);
      if (b.data && b.ndim == 1 && b.shape[0] == N && (N == 1 || b.strides[0] == 1)) state->constBias = b.ptr<float>();
    }
    *packedBytes += static_cast<int64_t>(state->weight.bytes());
    in.run = [state](const KernelArgs& a) { (*state)(a); };
    in.label = "linear[prepacked " + std::to_string(N) + "x" + std::to_string(K) + "]";
    ++count;
  }
  return count;
}

}  // namespace graph
}  // namespace tensorjit
