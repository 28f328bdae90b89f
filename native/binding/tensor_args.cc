#include "binding/tensor_args.h"

#include <cmath>
#include <string>

#include "core/error.h"

namespace tensorjit {
namespace binding {

namespace {
int64_t asIndex(double v, const char* field, const char* what) {
  if (!(std::fabs(v) <= 9007199254740992.0) || v != std::floor(v))
    throwRangeError(std::string(what) + ": tensor " + field + " must be an integer, got " + std::to_string(v));
  return static_cast<int64_t>(v);
}
}  // namespace

std::vector<TensorView> decodeTensors(const Napi::Array& buffers, const Napi::Float64Array& meta,
                                      const char* what) {
  const double* m = meta.Data();
  const size_t len = meta.ElementLength();
  size_t pos = 0;
  auto next = [&](const char* field) -> double {
    if (pos >= len) throwRangeError(std::string(what) + ": truncated tensor descriptor (" + field + ")");
    return m[pos++];
  };
  const int64_t count = asIndex(next("count"), "count", what);
  if (count < 0 || count != static_cast<int64_t>(buffers.Length()))
    throwRangeError(std::string(what) + ": descriptor count does not match buffers");
  std::vector<TensorView> views(static_cast<size_t>(count));
  for (int64_t t = 0; t < count; ++t) {
    TensorView& v = views[static_cast<size_t>(t)];
    const int64_t dtype = asIndex(next("dtype"), "dtype", what);
    if (!isValidDType(static_cast<int>(dtype))) throwTypeError(std::string(what) + ": bad dtype code");
    v.dtype = static_cast<DType>(dtype);
    const int64_t ndim = asIndex(next("ndim"), "ndim", what);
    if (ndim < 0 || ndim > kMaxDims)
      throwRangeError(std::string(what) + ": tensors may have at most " + std::to_string(kMaxDims) +
                      " dims, got " + std::to_string(ndim));
    v.ndim = static_cast<int>(ndim);
    const int64_t offset = asIndex(next("offset"), "offset", what);
    for (int d = 0; d < v.ndim; ++d) v.shape[d] = asIndex(next("shape"), "shape", what);
    for (int d = 0; d < v.ndim; ++d) v.strides[d] = asIndex(next("stride"), "stride", what);

    Napi::Value b = buffers.Get(static_cast<uint32_t>(t));
    if (!b.IsArrayBuffer()) throwTypeError(std::string(what) + ": tensor storage is not an ArrayBuffer");
    Napi::ArrayBuffer ab = b.As<Napi::ArrayBuffer>();
    const int64_t capacity = static_cast<int64_t>(ab.ByteLength() / itemSize(v.dtype));

    for (int d = 0; d < v.ndim; ++d)
      if (v.shape[d] < 0) throwRangeError(std::string(what) + ": negative size in shape " + v.shapeString());
    const int64_t numel = boundedNumel(v.ndim, v.shape);
    if (numel < 0) throwRangeError(std::string(what) + ": shape " + v.shapeString() + " has more than 2^50 elements");
    if (!viewFits(v.ndim, v.shape, v.strides, offset, capacity))
      throwRangeError(std::string(what) + ": view " + v.shapeString() + " at offset " + std::to_string(offset) +
                      " reaches outside its storage of " + std::to_string(capacity) + " elements" +
                      (ab.ByteLength() == 0 ? " (was the tensor disposed?)" : ""));
    v.data = numel > 0 ? static_cast<char*>(ab.Data()) + offset * static_cast<int64_t>(itemSize(v.dtype))
                       : ab.Data();
  }
  if (pos != len) throwRangeError(std::string(what) + ": trailing data in tensor descriptor");
  return views;
}

}  // namespace binding
}  // namespace tensorjit
