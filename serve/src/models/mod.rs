//! Models: a batch of dense inputs in, named dense outputs out
//! ([`Model`]); each kind's configuration beside its code, one tagged
//! `[model]` section ([`ModelConfig`]): the built-in [`linear`] model,
//! [`onnx`] models and [`tensorflow`] SavedModels.

pub mod feed;
pub mod linear;
pub mod onnx;
pub mod tensorflow;

use std::fmt;
use std::path::Path;

use bprwire::features::{Array, Buffers, FeatureLayout, OutputType};
use serde::Deserialize;

pub use linear::{feature_count, Linear, LinearConfig};

/// What a model says about one of its outputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputSpec {
    /// Its name (what `[response]` refers to).
    pub name: String,
    /// Elements per row.
    pub width: usize,
    /// `F32`, `F64` or `I64`.
    pub dtype: OutputType,
}

/// A model's failure on one batch: every request of the batch gets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelError(pub String);

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ModelError {}

/// What a model gives back for a batch.
#[derive(Debug)]
pub enum Outputs {
    /// One array per [`Model::outputs`] entry, `rows × width` elements of
    /// its type, row-major: the server writes the responses
    /// (`[response]`).
    Dense(Vec<Array>),
    /// The bytes of one `BatchPredictionResponse` for the whole batch, one
    /// record per row in row order, written by the model itself (twml's
    /// writer op at the end of a TensorFlow model): the server checks it
    /// and cuts it into each request's response.
    Written(Vec<u8>),
}

/// A model the server runs: a batch of `rows` rows of the layout's dense
/// inputs (the first `rows` rows of every array of `inputs`) in, its
/// [`Outputs`] out. Called on the worker threads, one batch at a time per
/// worker.
pub trait Model: Send + Sync + 'static {
    /// The dense outputs, in the order [`run`](Model::run) returns them
    /// (none for a model that writes the response).
    fn outputs(&self) -> &[OutputSpec];

    /// Whether [`run`](Model::run) gives [`Outputs::Written`]: the model
    /// writes the responses itself (a TensorFlow model ending in twml's
    /// writer op), and `[response]` is left out.
    fn writes_response(&self) -> bool {
        false
    }

    /// Runs one batch.
    ///
    /// # Errors
    ///
    /// [`ModelError`], which every request of the batch is answered with.
    fn run(&self, inputs: &Buffers, rows: usize) -> Result<Outputs, ModelError>;

    /// Whether the model reads the requests' bytes itself (a TensorFlow
    /// model whose first op scatters them): then the server calls
    /// [`run_requests`](Model::run_requests), not [`run`](Model::run).
    fn reads_requests(&self) -> bool {
        false
    }

    /// Runs one batch of serialized `BatchPredictionRequest`s (each
    /// already checked by the server's own scatter), its rows the records
    /// of each in turn.
    ///
    /// # Errors
    ///
    /// [`ModelError`], which every request of the batch is answered with;
    /// by default, that the model does not read requests.
    fn run_requests(&self, requests: &[&[u8]]) -> Result<Outputs, ModelError> {
        let _ = requests;
        Err(ModelError("this model does not read requests".into()))
    }
}

/// `[model]`: which model, by `kind`, and that kind's own keys.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ModelConfig {
    /// The built-in linear model.
    Linear(LinearConfig),
    /// The built-in model with a sigmoid on each sum.
    Logistic(LinearConfig),
    /// An ONNX model (cargo feature `onnx`).
    Onnx(onnx::OnnxConfig),
    /// A TensorFlow SavedModel (cargo feature `tensorflow`).
    Tensorflow(tensorflow::TensorflowConfig),
}

impl ModelConfig {
    /// Paths made relative to `dir` (the configuration file's folder),
    /// and each kind's own checks.
    ///
    /// # Errors
    ///
    /// The key at fault (under `model.`) and why.
    pub fn resolve(&mut self, dir: &Path) -> Result<(), (&'static str, String)> {
        match self {
            ModelConfig::Linear(c) | ModelConfig::Logistic(c) => {
                c.resolve(dir);
                Ok(())
            }
            ModelConfig::Onnx(c) => c.resolve(dir),
            ModelConfig::Tensorflow(c) => c.resolve(dir),
        }
    }

    /// Loads the model for `layout`, with `sessions` sessions where the
    /// kind keeps one per worker.
    ///
    /// # Errors
    ///
    /// What is wrong (its files, their shapes, an input not fed), naming
    /// it.
    pub fn load(&self, layout: &FeatureLayout, sessions: usize) -> Result<Box<dyn Model>, String> {
        match self {
            ModelConfig::Linear(c) => Ok(Box::new(c.load(layout, false)?)),
            ModelConfig::Logistic(c) => Ok(Box::new(c.load(layout, true)?)),
            ModelConfig::Onnx(c) => c.load(layout, sessions),
            ModelConfig::Tensorflow(c) => c.load(layout),
        }
    }
}
