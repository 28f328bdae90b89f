// GEMM epilogue activations over the shared vector math (kernels/math/vmath.h), so a
// fused linear+gelu gives the same bits as linear followed by the eager gelu.
// No include guard on purpose: included once per ISA pass by kernels/gemm/gemm_body.h,
// inside namespace tensorjit::TJ_ISA_NS, after vmath.h.

namespace act {

template <class V>
inline typename V::Reg reluV(typename V::Reg x) {
  // max(x, 0) but NaN stays NaN (torch.relu(nan) = nan).
  return V::select(V::cmpLt(x, V::zero()), V::zero(), x);
}

template <class V>
inline typename V::Reg apply(Activation a, typename V::Reg x) {
  switch (a) {
    case Activation::None: return x;
    case Activation::Relu: return reluV<V>(x);
    case Activation::GeluErf: return vmath::gelu<V>(x);
    case Activation::GeluTanh: return vmath::geluTanh<V>(x);
    case Activation::Silu: return vmath::silu<V>(x);
    case Activation::Sigmoid: return vmath::sigmoid<V>(x);
    case Activation::Tanh: return vmath::tanh<V>(x);
  }
  return x;
}

}  // namespace act
