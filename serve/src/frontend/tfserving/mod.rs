//! TensorFlow Serving's API (what Navi speaks and its clients call), over
//! gRPC ([`grpc`]: `tensorflow.serving.PredictionService`, on the KServe
//! gRPC port) and REST ([`rest`]: `/v1/models/...`, on the HTTP port), over
//! the same models and engine as every other front end: a call's requests
//! batch with Thrift and KServe traffic.
//!
//! A `Predict` call's input (`examples`) holds `BatchPredictionRequest`s,
//! one per element; its outputs are the model's, `[records, width]` each,
//! rows in request order, and `response` (one `BatchPredictionResponse`
//! per element) when asked for or when the model has no other output.
//!
//! This module holds what both protocols share: which model version a
//! call names, the input it must carry, the outputs it gets, running it,
//! and the signature. Errors are TensorFlow Serving's statuses (its
//! canonical codes, as [`Status`]); REST maps them to HTTP as TensorFlow
//! Serving does.

pub mod grpc;
pub mod rest;

use bytes::Bytes;
use tonic::Status;

use super::kserve::{self, Data, InputTensor, Kserve, OutputTensor, Served, REQUEST, RESPONSE};
use crate::proto::tensorflow::{self as tf, DataType};

/// `[tfserving]`: TensorFlow Serving's API.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TfServingConfig {
    /// The input a `Predict` call carries its requests in (default
    /// `examples`, Navi's).
    pub input: String,
}

impl Default for TfServingConfig {
    fn default() -> Self {
        TfServingConfig {
            input: "examples".into(),
        }
    }
}

impl TfServingConfig {
    /// Checks the input name.
    ///
    /// # Errors
    ///
    /// The key at fault and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.input.is_empty() || self.input.len() > 256 {
            return Err(("tfserving.input", "give a name of 1 to 256 bytes".into()));
        }
        Ok(())
    }
}

/// The one signature served; a call may name it or leave it empty.
pub const SIGNATURE: &str = "serving_default";

/// The signature's method.
pub const METHOD: &str = "tensorflow/serving/predict";

/// The version a call asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// The highest serving.
    Latest,
    /// This number.
    Number(i64),
    /// A label (this server has none).
    Label(String),
}

/// The model version a call runs on, and what its answer's `model_spec`
/// says.
#[derive(Clone, Debug)]
pub struct Target {
    /// The version (held for the call).
    pub served: Served,
    /// Its number, as `model_spec.version` carries it.
    pub version: Option<i64>,
}

/// A version's state as TensorFlow Serving's `GetModelStatus` tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionState {
    /// The version's number.
    pub version: i64,
    /// `AVAILABLE`, or `END` for one that failed to load.
    pub state: &'static str,
    /// The error's code name (`OK` when available).
    pub error_code: &'static str,
    /// Why it is not available ("" when it is).
    pub error_message: String,
}

/// TensorFlow Serving's API over the models.
#[derive(Clone, Debug)]
pub struct TfServing {
    kserve: Kserve,
    config: TfServingConfig,
}

impl TfServing {
    /// The API over `kserve`'s models, as `config` sets it.
    pub fn new(kserve: Kserve, config: TfServingConfig) -> TfServing {
        TfServing { kserve, config }
    }

    /// The input a call carries its requests in.
    pub fn input(&self) -> &str {
        &self.config.input
    }

    /// The version `name` and `choice` name, checking `signature` (empty:
    /// the default).
    ///
    /// # Errors
    ///
    /// TensorFlow Serving's NOT_FOUND for an unknown model, version or
    /// label ("Servable not found for request: ..."), UNAVAILABLE for a
    /// model with no version loaded, FAILED_PRECONDITION for a signature
    /// other than `serving_default`.
    pub fn target(&self, name: &str, choice: &Choice, signature: &str) -> Result<Target, Status> {
        let version = match choice {
            Choice::Latest => String::new(),
            Choice::Number(v) => v.to_string(),
            Choice::Label(label) => {
                return Err(Status::not_found(format!(
                    "Servable not found for request: Specific({name}, label {label:?}): this server has no version labels"
                )))
            }
        };
        let served = self.kserve.model(name, &version).map_err(|e| match e.code {
            kserve::Code::NotFound => Status::not_found(format!(
                "Servable not found for request: {}: {}",
                match choice {
                    Choice::Number(v) => format!("Specific({name}, {v})"),
                    _ => format!("Latest({name})"),
                },
                e.message
            )),
            _ => Status::from(e),
        })?;
        if !signature.is_empty() && signature != SIGNATURE {
            return Err(Status::failed_precondition(format!(
                "Serving signature name: \"{signature}\" not found in signature def (it has \"{SIGNATURE}\")"
            )));
        }
        let version = served.version().parse::<i64>().ok();
        Ok(Target { served, version })
    }

    /// The versions of `name` (all, or the one `choice` names) and their
    /// states.
    ///
    /// # Errors
    ///
    /// NOT_FOUND for an unknown model, version or label, or a model with
    /// no version at all.
    pub fn states(&self, name: &str, choice: &Choice) -> Result<Vec<VersionState>, Status> {
        if let Choice::Label(label) = choice {
            return Err(Status::not_found(format!(
                "Could not find version label {label:?} of model {name}: this server has no version labels"
            )));
        }
        let states: Vec<VersionState> = self
            .kserve
            .index()
            .into_iter()
            .filter(|s| s.model == name)
            .filter_map(|s| {
                let version = s.version.parse::<i64>().ok()?;
                let available = s.state == "READY";
                Some(VersionState {
                    version,
                    state: if available { "AVAILABLE" } else { "END" },
                    error_code: if available { "OK" } else { "UNKNOWN" },
                    error_message: s.reason,
                })
            })
            .filter(|s| match choice {
                Choice::Number(v) => s.version == *v,
                _ => true,
            })
            .collect();
        if states.is_empty() {
            return Err(Status::not_found(match choice {
                Choice::Number(v) => format!("Could not find version {v} of model {name}"),
                _ => format!("Could not find any versions of model {name}"),
            }));
        }
        Ok(states)
    }

    /// Runs `requests` (each one `BatchPredictionRequest`) on `target`
    /// for client `source`, answering the outputs `filter` names (none:
    /// every dense output, or `response` for a model with none).
    ///
    /// # Errors
    ///
    /// UNAVAILABLE when shutting down; INVALID_ARGUMENT for an output not
    /// in the signature or a bad request; the engine's refusals as their
    /// statuses (RESOURCE_EXHAUSTED when overloaded...).
    pub async fn predict(
        &self,
        target: &Target,
        requests: Vec<Bytes>,
        filter: &[String],
        source: u64,
    ) -> Result<Vec<OutputTensor>, Status> {
        if !self.kserve.serving() {
            return Err(Status::unavailable("shutting down"));
        }
        let wanted = wanted(&target.served, filter)?;
        let input = InputTensor {
            name: REQUEST.into(),
            datatype: "BYTES".into(),
            shape: vec![requests.len() as i64],
            data: Data::Elements(requests),
        };
        Ok(target.served.infer(vec![input], &wanted, source).await?)
    }

    /// The signature `serving_default` of `target`: its one input (the
    /// requests, `DT_STRING [-1]`) and every output.
    pub fn signature(&self, target: &Target) -> tf::SignatureDef {
        let info = |name: &str, dtype: DataType, shape: &[i64]| tf::TensorInfo {
            name: name.into(),
            dtype: dtype as i32,
            tensor_shape: Some(tf::TensorShapeProto::of(shape)),
        };
        let outputs = target
            .served
            .outputs()
            .into_iter()
            .map(|o| (o.name.clone(), info(&o.name, dtype(o.datatype), &o.shape)))
            .collect();
        tf::SignatureDef {
            inputs: [(
                self.config.input.clone(),
                info(&self.config.input, DataType::DtString, &[-1]),
            )]
            .into(),
            outputs,
            method_name: METHOD.into(),
        }
    }
}

/// TensorFlow's type for a KServe datatype name.
pub fn dtype(datatype: &str) -> DataType {
    match datatype {
        "FP32" => DataType::DtFloat,
        "FP64" => DataType::DtDouble,
        "INT64" => DataType::DtInt64,
        "UINT8" => DataType::DtUint8,
        _ => DataType::DtString,
    }
}

/// Checks that a call's inputs, by name, are exactly `input`.
///
/// # Errors
///
/// TensorFlow Serving's INVALID_ARGUMENT, naming the extra inputs and the
/// missing one.
pub fn check_inputs(input: &str, mut names: Vec<&str>) -> Result<(), Status> {
    if names == [input] {
        return Ok(());
    }
    names.sort_unstable();
    let has = names.contains(&input);
    names.retain(|n| *n != input);
    Err(Status::invalid_argument(if has {
        format!(
            "input size does not match signature: {}!=1: extra inputs {names:?} (the signature's one input is \"{input}\")",
            names.len() + 1
        )
    } else {
        format!(
            "input size does not match signature: {}!=1 for inputs {names:?}: missing [\"{input}\"]",
            names.len()
        )
    }))
}

/// The outputs a call gets: those `filter` names, each checked, or by
/// default every dense output (`response` when there is none).
fn wanted(served: &Served, filter: &[String]) -> Result<Vec<String>, Status> {
    let outputs = served.outputs();
    if filter.is_empty() {
        let dense: Vec<String> = outputs
            .iter()
            .map(|o| o.name.clone())
            .filter(|n| n != RESPONSE)
            .collect();
        return Ok(if dense.is_empty() {
            vec![RESPONSE.to_string()]
        } else {
            dense
        });
    }
    for name in filter {
        if !outputs.iter().any(|o| &o.name == name) {
            let names: Vec<&str> = outputs.iter().map(|o| o.name.as_str()).collect();
            return Err(Status::invalid_argument(format!(
                "output tensor alias not found in signature: {name} (the outputs are {names:?})"
            )));
        }
    }
    Ok(filter.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_one_input_passes_and_any_other_set_is_refused_naming_extra_and_missing() {
        assert!(check_inputs("examples", vec!["examples"]).is_ok());
        let extra = check_inputs("examples", vec!["x", "examples"]).unwrap_err();
        assert_eq!(extra.code(), tonic::Code::InvalidArgument);
        assert!(
            extra.message().contains("extra inputs [\"x\"]"),
            "{}",
            extra.message()
        );
        let missing = check_inputs("examples", vec!["b", "a"]).unwrap_err();
        assert!(
            missing
                .message()
                .contains("[\"a\", \"b\"]: missing [\"examples\"]"),
            "{}",
            missing.message()
        );
        let none = check_inputs("examples", vec![]).unwrap_err();
        assert!(
            none.message().contains("missing [\"examples\"]"),
            "{}",
            none.message()
        );
    }

    #[test]
    fn each_output_datatype_has_its_tensorflow_type() {
        assert_eq!(dtype("FP32"), DataType::DtFloat);
        assert_eq!(dtype("FP64"), DataType::DtDouble);
        assert_eq!(dtype("INT64"), DataType::DtInt64);
        assert_eq!(dtype("UINT8"), DataType::DtUint8);
        assert_eq!(dtype("BYTES"), DataType::DtString);
    }
}
