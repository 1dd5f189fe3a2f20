//! The response side of a batch: how the model's outputs become each
//! request's response, through one prepared `Signature` (`[response]`).

use bprwire::features::Array;
use bprwire::{Element, Signature, TensorData, Values};

use super::job::{Form, Response};
use crate::config::{ConfigError, ModelSpec};
use crate::models::OutputSpec;

/// How the model's outputs become the response: a prepared signature and,
/// for its continuous values and each tensor, which output and its width.
#[derive(Debug)]
pub struct ResponsePlan {
    signature: Signature,
    continuous: Option<(usize, usize)>,
    tensors: Vec<(usize, usize)>,
    /// Every model output's width (elements per row), in the model's order.
    widths: Vec<usize>,
}

impl ResponsePlan {
    /// The plan for `config`'s `[response]` over the model's `outputs`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the key: an unknown output, a wrong number
    /// of continuous keys, an output type the response cannot carry, a
    /// repeated key.
    pub fn new(config: &ModelSpec, outputs: &[OutputSpec]) -> Result<ResponsePlan, ConfigError> {
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
        Ok(ResponsePlan {
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
            Form::Single(env) => {
                let response = enc.encode_to_vec();
                let record = bprwire::service::one_record(&response)
                    .ok_or_else(|| format!("getPrediction: a response of {records} records, not one"))?;
                Response {
                    bytes: bprwire::service::prediction_reply(*env, record).map_err(|e| e.to_string())?,
                    native: Vec::new(),
                }
            }
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
