// twml's DataRecord: one prediction row of a BatchPredictionResponse.
// Field ids and types: docs/wire-format.md.

include "tensor.thrift"

namespace java com.twitter.ml.api
namespace py com.twitter.ml.api
namespace rs twml

// Every field is optional; twml writes a map only when it has entries.
struct DataRecord {
  1: optional set<i64> binaryFeatures
  2: optional map<i64, double> continuousFeatures
  3: optional map<i64, i64> discreteFeatures
  4: optional map<i64, string> stringFeatures
  5: optional map<i64, set<string>> sparseBinaryFeatures
  6: optional map<i64, map<string, double>> sparseContinuousFeatures
  7: optional map<i64, binary> blobFeatures
  8: optional map<i64, tensor.GeneralTensor> tensors
  9: optional map<i64, tensor.SparseTensor> sparseTensors
}
