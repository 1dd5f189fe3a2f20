//! The response side: a model's outputs into the bytes of a
//! `BatchPredictionResponse`, in the order the data goes.
//!
//! - [`input`]: what the caller lends (continuous values, dense tensors),
//!   and the views the writer reads them through (`Source`, `Strings`).
//! - [`size`]: every size rule and limit of the response (one record, the
//!   whole response, the wire's `i32` sizes), shared by both planners.
//! - [`layout`]: what every row of a tensor looks like on the wire
//!   (`RowLayout`, its `Template`s), fixed by key, type and row shape.
//! - [`plan`]: the one-shot planner (`BatchPrediction` → `Plan`), and the
//!   per-batch checks it shares with the signature.
//! - [`signature`]: prepared signatures (`Signature`), laid out once per
//!   model and bound to each batch.
//! - [`write`]: the one layout writer (`write_response`) over any `Emit`
//!   output, and `Out`, the slice cursor behind `encode_into`.
//! - [`encoder`]: `Encoder`, a checked response ready to encode.
//! - [`error`]: `Error`, the response side's one error type.
//!
//! The sinks (`crate::sink`) and the reply envelope (`crate::service`)
//! write through the same writer.

pub(crate) mod encoder;
pub(crate) mod error;
pub(crate) mod input;
pub(crate) mod layout;
pub(crate) mod plan;
pub(crate) mod signature;
pub(crate) mod size;
pub(crate) mod write;
