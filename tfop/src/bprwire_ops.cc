// twml's two writer ops, registered under twml's names, attributes, inputs
// and outputs, with bprwire (through its C ABI) doing the writing: a graph
// or SavedModel that references them runs with this library loaded in
// place of libtwml. Each kernel makes one bprwire call, which sizes the
// response, asks the kernel (a callback) to allocate the output as
// [1, len], and writes into it; a refusal becomes InvalidArgument carrying
// bprwire's message.
//
// And the request side, bprwire's own (twml has no such op):
// BatchPredictionRequestScatter reads serialized BatchPredictionRequests
// into a feature layout's dense arrays, so that a model can take the raw
// request bytes in and end in the writer op.

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

// ---- the request side: requests in, the layout's dense arrays out ----

REGISTER_OP("BatchPredictionRequestScatter")
    .Attr("layout: string")
    .Attr("out_types: list({float, double, int64, uint8}) >= 1")
    .Attr("widths: list(int) >= 1")
    .Input("requests: string")
    .Output("arrays: out_types")
    .Output("records: int64")
    .SetShapeFn([](tensorflow::shape_inference::InferenceContext* c) {
      // Checked here too: a graph whose attributes disagree is refused
      // when it is imported, not at its first run.
      std::vector<int64_t> widths;
      std::vector<DataType> types;
      TF_RETURN_IF_ERROR(c->GetAttr("widths", &widths));
      TF_RETURN_IF_ERROR(c->GetAttr("out_types", &types));
      if (widths.size() != types.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("widths has ", widths.size(), " entries, out_types ", types.size()));
      }
      tensorflow::shape_inference::ShapeHandle requests;
      TF_RETURN_IF_ERROR(c->WithRankAtMost(c->input(0), 1, &requests));
      for (size_t i = 0; i < widths.size(); i++) {
        if (widths[i] < 0) return absl::InvalidArgumentError(absl::StrCat("widths[", i, "] is negative"));
        c->set_output(static_cast<int>(i), c->Matrix(c->UnknownDim(), widths[i]));
      }
      auto n = !c->RankKnown(requests) ? c->UnknownDim()
               : c->Rank(requests) == 1 ? c->Dim(requests, 0)
                                        : c->MakeDim(1);
      c->set_output(static_cast<int>(widths.size()), c->Vector(n));
      return absl::OkStatus();
    })
    .Doc(R"doc(
Scatters serialized BatchPredictionRequests into a feature layout's dense
arrays (bprwire's FeatureLayout scatter, through its C ABI): the records
of every request, in order, one row each.

layout: the layout's JSON (bprwire's docs/features.md).
out_types: each array's element type, in the layout's order (continuous,
  binary, discrete, then each tensor), as the layout says.
widths: each array's width (elements per record), as the layout says.
requests: the serialized requests, [n] (or a scalar: one).
arrays: one [records, width] array per layout array.
records: each request's record count, [n].
)doc");

class BatchPredictionRequestScatter : public OpKernel {
 public:
  explicit BatchPredictionRequestScatter(OpKernelConstruction* ctx) : OpKernel(ctx) {
    std::string json;
    std::vector<DataType> types;
    std::vector<int64_t> widths;
    OP_REQUIRES_OK(ctx, ctx->GetAttr("layout", &json));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("out_types", &types));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("widths", &widths));
    bprwire_layout* layout = nullptr;
    if (bprwire_layout_from_json(reinterpret_cast<const uint8_t*>(json.data()), json.size(), &layout) != BPRWIRE_OK) {
      const char* m = bprwire_last_error();
      ctx->CtxFailure(absl::InvalidArgumentError(absl::StrCat("layout: bprwire: ", m ? m : "unknown error")));
      return;
    }
    layout_ = layout;
    size_t n = 0;
    OP_REQUIRES(ctx, bprwire_layout_arrays(layout_, nullptr, 0, &n) == BPRWIRE_OK,
                absl::InternalError("bprwire_layout_arrays"));
    arrays_.resize(n);
    OP_REQUIRES(ctx, bprwire_layout_arrays(layout_, arrays_.data(), n, &n) == BPRWIRE_OK,
                absl::InternalError("bprwire_layout_arrays"));
    OP_REQUIRES(ctx, types.size() == n && widths.size() == n,
                absl::InvalidArgumentError(absl::StrCat("the layout has ", n, " arrays; out_types has ", types.size(),
                                                        ", widths ", widths.size())));
    for (size_t i = 0; i < n; i++) {
      DataType want = tensorflow::DT_INVALID;
      switch (arrays_[i].dtype) {
        case BPRWIRE_FLOAT: want = tensorflow::DT_FLOAT; break;
        case BPRWIRE_DOUBLE: want = tensorflow::DT_DOUBLE; break;
        case BPRWIRE_INT64: want = tensorflow::DT_INT64; break;
        case BPRWIRE_UINT8: want = tensorflow::DT_UINT8; break;
      }
      OP_REQUIRES(ctx, types[i] == want && widths[i] == static_cast<int64_t>(arrays_[i].width),
                  absl::InvalidArgumentError(absl::StrCat("array ", i, ": the layout says ", tensorflow::DataTypeString(want),
                                                          " of width ", arrays_[i].width, ", the attributes ",
                                                          tensorflow::DataTypeString(types[i]), " of width ", widths[i])));
    }
  }

  ~BatchPredictionRequestScatter() override { bprwire_layout_free(layout_); }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& input = ctx->input(0);
    OP_REQUIRES(ctx, input.dims() <= 1,
                absl::InvalidArgumentError(absl::StrCat("requests: [n] or a scalar, not ", input.shape().DebugString())));
    auto requests = input.flat<tensorflow::tstring>();
    const int64_t n = requests.size();
    // Each request's records first (its header only), to size the arrays.
    std::vector<size_t> records(n);
    size_t total = 0;
    for (int64_t i = 0; i < n; i++) {
      const auto& r = requests(i);
      if (bprwire_request_records(reinterpret_cast<const uint8_t*>(r.data()), r.size(), &records[i]) != BPRWIRE_OK) {
        return Fail(ctx, i);
      }
      total += records[i];
      OP_REQUIRES(ctx, total <= (size_t{1} << 40), absl::InvalidArgumentError("requests: too many records"));
    }
    std::vector<Tensor*> outs(arrays_.size());
    for (size_t j = 0; j < arrays_.size(); j++) {
      OP_REQUIRES_OK(ctx, ctx->allocate_output(static_cast<int>(j),
                                               TensorShape({static_cast<int64_t>(total),
                                                            static_cast<int64_t>(arrays_[j].width)}),
                                               &outs[j]));
    }
    Tensor* counts = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(static_cast<int>(arrays_.size()), TensorShape({n}), &counts));
    // Then each request into its rows.
    absl::InlinedVector<bprwire_output, 8> place(arrays_.size());
    size_t row = 0;
    for (int64_t i = 0; i < n; i++) {
      for (size_t j = 0; j < arrays_.size(); j++) {
        const size_t element = tensorflow::DataTypeSize(outs[j]->dtype());
        place[j].kind = arrays_[j].kind;
        place[j].tensor_id = arrays_[j].tensor_id;
        place[j].dtype = arrays_[j].dtype;
        place[j].data = const_cast<char*>(outs[j]->tensor_data().data()) + row * arrays_[j].width * element;
        place[j].count = records[i] * arrays_[j].width;
      }
      const auto& r = requests(i);
      size_t got = 0;
      if (bprwire_layout_scatter(layout_, reinterpret_cast<const uint8_t*>(r.data()), r.size(), place.data(),
                                 place.size(), &got) != BPRWIRE_OK) {
        return Fail(ctx, i);
      }
      OP_REQUIRES(ctx, got == records[i],
                  absl::InternalError(absl::StrCat("requests[", i, "]: ", got, " records scattered, ", records[i],
                                                   " declared")));
      counts->flat<int64_t>()(i) = static_cast<int64_t>(got);
      row += got;
    }
  }

 private:
  static void Fail(OpKernelContext* ctx, int64_t i) {
    const char* m = bprwire_last_error();
    ctx->CtxFailure(absl::InvalidArgumentError(absl::StrCat("requests[", i, "]: bprwire: ", m ? m : "unknown error")));
  }

  bprwire_layout* layout_ = nullptr;
  std::vector<bprwire_array> arrays_;
};

REGISTER_KERNEL_BUILDER(Name("BatchPredictionRequestScatter").Device(tensorflow::DEVICE_CPU),
                        BatchPredictionRequestScatter);
