// The prediction service whose getBatchPrediction reply carries the
// BatchPredictionResponse that bprwire writes. See docs/wire-format.md.

include "data.thrift"

namespace java com.twitter.ml.prediction_service
namespace py com.twitter.ml.prediction_service
namespace rs twml

exception PredictionServiceException {
  1: optional string description
}

struct PredictionRequest {
  1: required data.DataRecord features
}

struct PredictionResponse {
  1: required data.DataRecord prediction
}

struct BatchPredictionRequest {
  1: required list<data.DataRecord> individualFeaturesList
  2: optional data.DataRecord commonFeatures
}

struct BatchPredictionResponse {
  1: required list<data.DataRecord> predictions
}

service PredictionService {
  PredictionResponse getPrediction(1: PredictionRequest request)
    throws (1: PredictionServiceException predictionServiceException)

  BatchPredictionResponse getBatchPrediction(1: BatchPredictionRequest batchRequest)
    throws (1: PredictionServiceException predictionServiceException)
}
