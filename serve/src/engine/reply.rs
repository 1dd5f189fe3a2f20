//! The response side of a batch: how the model's outputs become each
//! request's response, either encoded from its dense outputs through one
//! prepared `Signature` (`[response]`), or cut from the response the
//! model wrote for the whole batch.

use bprwire::features::Array;
use bprwire::{Element, Signature, TensorData, Values};

use super::job::{Form, Response};
use crate::config::{ConfigError, ModelSpec};
use crate::models::{Model, ModelError, OutputSpec, Outputs};

/// How a batch's outputs become its requests' responses.
#[derive(Debug)]
pub enum ResponsePlan {
    /// Encoded by the server from the model's dense outputs.
    Encoded(EncodePlan),
    /// Written by the model (twml's writer op): checked, then cut by
    /// request.
    Written,
}

/// One request's place in its batch: its first row, its records, how it
/// is answered.
#[derive(Clone, Copy, Debug)]
pub struct Part<'a> {
    /// Its first row in the batch.
    pub row: usize,
    /// Its records (rows).
    pub records: usize,
    /// How it is answered.
    pub form: &'a Form,
}

impl ResponsePlan {
    /// The plan for `config` and `model`: written by the model when it
    /// writes the response (then `[response]` must be empty), else encoded
    /// from its dense outputs as `[response]` says.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `response`: keys given for a model that
    /// writes the response, none for one that does not; and as
    /// [`EncodePlan::new`].
    pub fn new(config: &ModelSpec, model: &dyn Model) -> Result<ResponsePlan, ConfigError> {
        let empty = config.response.continuous.is_none() && config.response.tensors.is_empty();
        match (model.writes_response(), empty) {
            (true, true) => Ok(ResponsePlan::Written),
            (true, false) => Err(config.error(
                "response",
                "the model writes the response itself (model.response_output): leave [response] out",
            )),
            (false, true) => Err(config.error(
                "response",
                "missing [response] or its keys: give `continuous` or `tensors` (or both)",
            )),
            (false, false) => EncodePlan::new(config, model.outputs()).map(ResponsePlan::Encoded),
        }
    }

    /// Each part's response from the batch's `outputs` (`rows` rows; the
    /// parts in row order; rows of no part belong to requests refused
    /// before the model ran).
    ///
    /// # Errors
    ///
    /// A [`ModelError`] for the whole batch: outputs of the other kind, or
    /// a written response that does not decode or holds another number of
    /// records than the batch has rows. Within, each part's own encoding
    /// error, as text.
    pub fn respond_all(
        &self,
        outputs: &Outputs,
        rows: usize,
        parts: &[Part<'_>],
    ) -> Result<Vec<Result<Response, String>>, ModelError> {
        match (self, outputs) {
            (ResponsePlan::Encoded(plan), Outputs::Dense(arrays)) => Ok(parts
                .iter()
                .map(|p| plan.respond(arrays, p.row, p.records, p.form))
                .collect()),
            (ResponsePlan::Written, Outputs::Written(bytes)) => cut(bytes, rows, parts),
            (ResponsePlan::Encoded(_), Outputs::Written(_)) => Err(ModelError(
                "the model wrote a response, the server was to encode it from dense outputs".into(),
            )),
            (ResponsePlan::Written, Outputs::Dense(_)) => Err(ModelError(
                "the model gave dense outputs, not the response it was to write".into(),
            )),
        }
    }
}

/// The model's response for a batch of `rows` rows, checked (it decodes,
/// with one record per row) and cut into each part's, in its form.
fn cut(bytes: &[u8], rows: usize, parts: &[Part<'_>]) -> Result<Vec<Result<Response, String>>, ModelError> {
    let response = bprwire::decode::decode_response(bytes).map_err(|e| {
        ModelError(format!(
            "the model's response is not a BatchPredictionResponse: {e}"
        ))
    })?;
    if response.len() != rows {
        return Err(ModelError(format!(
            "the model's response holds {} records for a batch of {rows} rows",
            response.len()
        )));
    }
    // Counts in row order, with the rows of refused requests between.
    let mut counts = Vec::with_capacity(2 * parts.len() + 1);
    let mut at = 0;
    for p in parts {
        counts.push(p.row - at);
        counts.push(p.records);
        at = p.row + p.records;
    }
    counts.push(rows - at);
    let pieces = response
        .split(&counts)
        .ok_or_else(|| ModelError("the batch's parts do not cover its rows".into()))?;
    Ok(parts
        .iter()
        .zip(pieces.into_iter().skip(1).step_by(2))
        .map(|(p, piece)| written(piece, p.records, p.form))
        .collect())
}

/// A request's response from its piece of the model's response.
fn written(piece: Vec<u8>, records: usize, form: &Form) -> Result<Response, String> {
    let bytes = match form {
        Form::Call(env) => bprwire::service::batch_reply(*env, &piece).map_err(|e| e.to_string())?,
        Form::Single(env) => single_reply(*env, &piece, records)?,
        Form::Bare { .. } => piece,
    };
    Ok(Response {
        bytes,
        native: Vec::new(),
    })
}

/// A `getPrediction` reply carrying the one record of `response`.
fn single_reply(env: bprwire::service::Envelope, response: &[u8], records: usize) -> Result<Vec<u8>, String> {
    let record = bprwire::service::one_record(response)
        .ok_or_else(|| format!("getPrediction: a response of {records} records, not one"))?;
    bprwire::service::prediction_reply(env, record).map_err(|e| e.to_string())
}

/// How the model's outputs become the response: a prepared signature and,
/// for its continuous values and each tensor, which output and its width.
#[derive(Debug)]
pub struct EncodePlan {
    signature: Signature,
    continuous: Option<(usize, usize)>,
    tensors: Vec<(usize, usize)>,
    /// Every model output's width (elements per row), in the model's order.
    widths: Vec<usize>,
}

impl EncodePlan {
    /// The plan for `config`'s `[response]` over the model's `outputs`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the key: an unknown output, a wrong number
    /// of continuous keys, an output type the response cannot carry, a
    /// repeated key.
    pub fn new(config: &ModelSpec, outputs: &[OutputSpec]) -> Result<EncodePlan, ConfigError> {
        let find = |key: &str, name: &str| {
            outputs.iter().position(|o| o.name == name).ok_or_else(|| {
                let names: Vec<&str> = outputs.iter().map(|o| o.name.as_str()).collect();
                config.error(
                    key,
                    format!("the model has no output {name:?} (it has {names:?})"),
                )
            })
        };
        let element = |key: &str, o: &OutputSpec| match o.dtype {
            bprwire::features::OutputType::F32 => Ok(Element::F32),
            bprwire::features::OutputType::F64 => Ok(Element::F64),
            bprwire::features::OutputType::I64 if key.ends_with("tensors") => Ok(Element::I64),
            other => Err(config.error(
                key,
                format!(
                    "output {:?} is {other:?}, which this response cannot carry",
                    o.name
                ),
            )),
        };
        let mut builder = Signature::builder();
        let mut continuous = None;
        if let Some(c) = &config.response.continuous {
            let i = find("response.continuous.output", &c.output)?;
            let o = &outputs[i];
            if c.keys.len() != o.width {
                return Err(config.error(
                    "response.continuous.keys",
                    format!(
                        "{} keys for output {:?} of width {}",
                        c.keys.len(),
                        o.name,
                        o.width
                    ),
                ));
            }
            let keys: Vec<i64> = c.keys.iter().map(|k| k.id()).collect();
            builder = builder.continuous(&keys, element("response.continuous", o)?);
            continuous = Some((i, o.width));
        }
        let mut tensors = Vec::new();
        for t in &config.response.tensors {
            let i = find("response.tensors.output", &t.output)?;
            let o = &outputs[i];
            builder = builder.tensor(t.key.id(), element("response.tensors", o)?, &[o.width]);
            tensors.push((i, o.width));
        }
        let signature = builder
            .build()
            .map_err(|e| config.error("response", e.to_string()))?;
        Ok(EncodePlan {
            signature,
            continuous,
            tensors,
            widths: outputs.iter().map(|o| o.width).collect(),
        })
    }

    /// The response to a request of `records` records, from its rows
    /// (`row..row + records`) of `outputs`, in `form`: a Thrift reply
    /// message for a call (`getPrediction`'s carrying its one record); a
    /// bare response, and a copy of the rows of each output when asked,
    /// for a bare request.
    ///
    /// # Errors
    ///
    /// The encoder's refusal, as text.
    pub fn respond(
        &self,
        outputs: &[Array],
        row: usize,
        records: usize,
        form: &Form,
    ) -> Result<Response, String> {
        let continuous = self
            .continuous
            .map(|(i, k)| match &outputs[i] {
                Array::F32(v) => Ok(Values::F32(&v[row * k..(row + records) * k])),
                Array::F64(v) => Ok(Values::F64(&v[row * k..(row + records) * k])),
                _ => Err("continuous output is not a float".to_string()),
            })
            .transpose()?;
        let tensors = self
            .tensors
            .iter()
            .map(|&(i, w)| {
                let r = row * w..(row + records) * w;
                match &outputs[i] {
                    Array::F32(v) => Ok(TensorData::F32(&v[r])),
                    Array::F64(v) => Ok(TensorData::F64(&v[r])),
                    Array::I64(v) => Ok(TensorData::I64(&v[r])),
                    Array::U8(v) => Ok(TensorData::U8(&v[r])),
                }
            })
            .collect::<Result<Vec<_>, String>>()?;
        let enc = self
            .signature
            .encoder(records, continuous, &tensors)
            .map_err(|e| e.to_string())?;
        Ok(match form {
            Form::Call(env) => Response {
                bytes: enc.encode_reply_to_vec(*env).map_err(|e| e.to_string())?,
                native: Vec::new(),
            },
            Form::Single(env) => Response {
                bytes: single_reply(*env, &enc.encode_to_vec(), records)?,
                native: Vec::new(),
            },
            Form::Bare { native } => Response {
                bytes: enc.encode_to_vec(),
                native: if *native {
                    outputs
                        .iter()
                        .zip(&self.widths)
                        .map(|(a, &w)| rows_of(a, w * row..w * (row + records)))
                        .collect()
                } else {
                    Vec::new()
                },
            },
        })
    }
}

/// A copy of `range` of `a`.
fn rows_of(a: &Array, range: std::ops::Range<usize>) -> Array {
    match a {
        Array::F32(v) => Array::F32(v[range].to_vec()),
        Array::F64(v) => Array::F64(v[range].to_vec()),
        Array::I64(v) => Array::I64(v[range].to_vec()),
        Array::U8(v) => Array::U8(v[range].to_vec()),
    }
}
