// twml's two writer ops, registered under twml's names, attributes, inputs
// and outputs, with bprwire (through its C ABI) doing the writing: a graph
// or SavedModel that references them runs with this library loaded in
// place of libtwml. Each kernel makes one bprwire call, which sizes the
// response, asks the kernel (a callback) to allocate the output as
// [1, len], and writes into it; a refusal becomes InvalidArgument carrying
// bprwire's message.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "bprwire.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace {

using tensorflow::DataType;
using tensorflow::OpInputList;
using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using tensorflow::TensorShape;

// twml leaves the shape unknown; the output is always one row of bytes.
absl::Status OneRowOfBytes(tensorflow::shape_inference::InferenceContext* c) {
  c->set_output(0, c->MakeShape({1, c->UnknownDim()}));
  return absl::OkStatus();
}

// A tensor's dimensions as bprwire takes them; on the stack for rank <= 4.
using Dims = absl::InlinedVector<size_t, 4>;

Dims DimsOf(const Tensor& t) {
  Dims dims(t.dims());
  for (int i = 0; i < t.dims(); i++) dims[i] = static_cast<size_t>(t.dim_size(i));
  return dims;
}

// bprwire's `alloc` callback: allocates output 0 as [1, len] once bprwire
// knows the exact length, and hands its bytes over; a failure is recorded
// on the context (NULL makes bprwire return BPRWIRE_ERR_ALLOC). It does
// not throw: TensorFlow reports allocation failure as a status.
uint8_t* AllocateOutput(void* p, size_t len) {
  auto* ctx = static_cast<OpKernelContext*>(p);
  Tensor* out = nullptr;
  absl::Status s = ctx->allocate_output(0, TensorShape({1, static_cast<int64_t>(len)}), &out);
  if (!s.ok()) {
    ctx->SetStatus(s);
    return nullptr;
  }
  return out->flat<uint8_t>().data();
}

// A bprwire status as the op's: nothing on success, the allocation's own
// failure if that was it, bprwire's message otherwise.
void Finish(OpKernelContext* ctx, int32_t status) {
  if (status == BPRWIRE_OK || !ctx->status().ok()) return;
  const char* message = bprwire_last_error();
  ctx->CtxFailure(absl::InvalidArgumentError(absl::StrCat("bprwire: ", message ? message : "unknown error")));
}

}  // namespace

REGISTER_OP("BatchPredictionResponseWriter")
    .Attr("T: {float, double}")
    .Input("keys: int64")
    .Input("values: T")
    .Output("result: uint8")
    .SetShapeFn(OneRowOfBytes)
    .Doc(R"doc(
Packages keys and values into a BatchPredictionResponse (bprwire).

keys: continuous feature ids, one per column of values (int64).
values: predictions, [batch, keys] or [batch] (float/double).
result: the response's Thrift bytes, [1, len] uint8.
)doc");

template <typename T>
class BatchPredictionResponseWriter : public OpKernel {
 public:
  explicit BatchPredictionResponseWriter(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& keys = ctx->input(0);
    const Tensor& values = ctx->input(1);
    // twml's own check first, with its rule.
    OP_REQUIRES(ctx, keys.dims() >= 1 && values.dims() >= 1 &&
                         values.dim_size(values.dims() - 1) == keys.dim_size(keys.dims() - 1),
                absl::InvalidArgumentError(absl::StrCat("The last dimension of values and keys must match: values ",
                                        values.shape().DebugString(), ", keys ", keys.shape().DebugString())));
    const int32_t dtype = std::is_same<T, float>::value ? BPRWIRE_FLOAT : BPRWIRE_DOUBLE;
    const Dims shape = DimsOf(values);
    size_t written = 0;
    Finish(ctx, bprwire_continuous_encode_alloc(keys.flat<int64_t>().data(), static_cast<size_t>(keys.NumElements()),
                                               dtype, values.tensor_data().data(), shape.data(), shape.size(),
                                               AllocateOutput, ctx, &written));
  }
};

REGISTER_KERNEL_BUILDER(
    Name("BatchPredictionResponseWriter").Device(tensorflow::DEVICE_CPU).TypeConstraint<float>("T"),
    BatchPredictionResponseWriter<float>);
REGISTER_KERNEL_BUILDER(
    Name("BatchPredictionResponseWriter").Device(tensorflow::DEVICE_CPU).TypeConstraint<double>("T"),
    BatchPredictionResponseWriter<double>);

REGISTER_OP("BatchPredictionTensorResponseWriter")
    .Attr("T: list({string, int32, int64, float, double})")
    .Input("keys: int64")
    .Input("values: T")
    .Output("result: uint8")
    .SetShapeFn(OneRowOfBytes)
    .Doc(R"doc(
Packages keys and dense tensors into a BatchPredictionResponse (bprwire).

keys: tensor feature ids, one per tensor in values (int64).
values: the tensors, dim 0 the batch (string, int32, int64, float, double).
result: the response's Thrift bytes, [1, len] uint8.
)doc");

class BatchPredictionTensorResponseWriter : public OpKernel {
 public:
  explicit BatchPredictionTensorResponseWriter(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& keys = ctx->input(0);
    OpInputList values;
    OP_REQUIRES_OK(ctx, ctx->input_list("values", &values));
    const size_t n_keys = static_cast<size_t>(keys.NumElements());
    const size_t n = static_cast<size_t>(values.size());
    // twml's own check first, with its rule (a multiple; bprwire then
    // writes one tensor per key, and says so if there are more).
    OP_REQUIRES(ctx, n_keys == 0 ? n == 0 : n % n_keys == 0,
                absl::InvalidArgumentError(absl::StrCat("Number of dense tensors not multiple of dense keys")));
    absl::InlinedVector<Dims, 4> shapes(n);
    absl::InlinedVector<std::vector<bprwire_str>, 4> strings(n);
    absl::InlinedVector<bprwire_tensor, 4> tensors(n);
    for (size_t i = 0; i < n; i++) {
      const Tensor& t = values[i];
      shapes[i] = DimsOf(t);
      bprwire_tensor& bt = tensors[i];
      bt.count = static_cast<size_t>(t.NumElements());
      bt.shape = shapes[i].data();
      bt.rank = shapes[i].size();
      switch (t.dtype()) {
        case tensorflow::DT_FLOAT: bt.dtype = BPRWIRE_FLOAT; break;
        case tensorflow::DT_DOUBLE: bt.dtype = BPRWIRE_DOUBLE; break;
        case tensorflow::DT_INT32: bt.dtype = BPRWIRE_INT32; break;
        case tensorflow::DT_INT64: bt.dtype = BPRWIRE_INT64; break;
        case tensorflow::DT_STRING: bt.dtype = BPRWIRE_STRING; break;
        default:
          return ctx->CtxFailure(absl::InvalidArgumentError(absl::StrCat("values[", i, "]: unsupported type")));
      }
      if (bt.dtype == BPRWIRE_STRING) {
        auto flat = t.flat<tensorflow::tstring>();
        strings[i].resize(flat.size());
        for (int64_t j = 0; j < flat.size(); j++) {
          strings[i][j].ptr = reinterpret_cast<const uint8_t*>(flat(j).data());
          strings[i][j].len = flat(j).size();
        }
        bt.data = strings[i].data();
      } else {
        bt.data = t.tensor_data().data();
      }
    }
    const int64_t* k = keys.flat<int64_t>().data();
    if (n != n_keys) {
      return ctx->CtxFailure(absl::InvalidArgumentError(absl::StrCat("bprwire writes one tensor per key: ", n_keys, " keys, ", n,
                                                     " tensors")));
    }
    size_t written = 0;
    Finish(ctx, bprwire_dense_encode_alloc(k, n, tensors.data(), AllocateOutput, ctx, &written));
  }
};

REGISTER_KERNEL_BUILDER(Name("BatchPredictionTensorResponseWriter").Device(tensorflow::DEVICE_CPU),
                        BatchPredictionTensorResponseWriter);
