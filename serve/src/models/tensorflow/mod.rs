//! TensorFlow SavedModels: their configuration ([`TensorflowConfig`],
//! `kind = "tensorflow"`), and, with the cargo feature `tensorflow`, the
//! model itself ([`Tensorflow`], in `model.rs`), run through TensorFlow's
//! C library loaded at run time (`library.rs`), its signature read from
//! the SavedModel's own `MetaGraphDef` (`signature.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bprwire::features::FeatureLayout;
use serde::Deserialize;

use super::Model;

#[cfg(feature = "tensorflow")]
mod library;
#[cfg(feature = "tensorflow")]
mod model;
#[cfg(feature = "tensorflow")]
mod signature;
#[cfg(feature = "tensorflow")]
pub use model::Tensorflow;

/// The environment variable naming TensorFlow's C library when
/// `model.library` does not.
pub const LIBRARY_ENV: &str = "BPRWIRE_TENSORFLOW_LIBRARY";

/// `[model]` of `kind = "tensorflow"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorflowConfig {
    /// The SavedModel folder (default `.`: in a repository, the version
    /// folder itself).
    #[serde(default = "here")]
    pub path: PathBuf,
    /// The MetaGraph's tags (default `["serve"]`).
    #[serde(default = "default_tags")]
    pub tags: Vec<String>,
    /// The signature (default `serving_default`).
    #[serde(default = "default_signature")]
    pub signature: String,
    /// Which of the layout's arrays feeds which signature input:
    /// `continuous`, `binary`, `discrete` or `tensor.<id>` → the input's
    /// name. Empty (the default): each array feeds the input named as
    /// bprwire's Python `FeatureLayout.scatter` names it (`continuous`,
    /// `tensor_30`, ...).
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
    /// The signature input fed the batch's serialized requests instead
    /// (`DT_STRING`, `[n]`): a model whose first op is `tfop`'s
    /// `BatchPredictionRequestScatter`. Then it is the only input, and
    /// `inputs` is left out.
    #[serde(default)]
    pub request_input: Option<String>,
    /// The signature output holding the response the model writes itself
    /// (twml's writer op: `uint8`, `[1, len]` or `[len]`, one
    /// `BatchPredictionResponse` for the batch). Unset: every signature
    /// output is a dense output, for `[response]`.
    #[serde(default)]
    pub response_output: Option<String>,
    /// TensorFlow's intra-op threads for this model's session (default 1:
    /// the server runs `batching.workers` batches at once).
    #[serde(default = "one")]
    pub intra_op_threads: usize,
    /// TensorFlow's inter-op threads for this model's session (default 1).
    #[serde(default = "one")]
    pub inter_op_threads: usize,
    /// TensorFlow's C library (default: the environment's
    /// `BPRWIRE_TENSORFLOW_LIBRARY`).
    #[serde(default)]
    pub library: Option<PathBuf>,
    /// Op libraries loaded before the model (`TF_LoadLibrary`): those of
    /// the custom ops the SavedModel uses, such as bprwire's `tfop` with
    /// twml's writer ops.
    #[serde(default)]
    pub op_libraries: Vec<PathBuf>,
}

fn here() -> PathBuf {
    PathBuf::from(".")
}

fn default_tags() -> Vec<String> {
    vec!["serve".into()]
}

fn default_signature() -> String {
    "serving_default".into()
}

fn one() -> usize {
    1
}

impl TensorflowConfig {
    /// Paths made relative to `dir`; the thread counts and tags checked.
    ///
    /// # Errors
    ///
    /// The key at fault and why.
    pub fn resolve(&mut self, dir: &Path) -> Result<(), (&'static str, String)> {
        self.path = dir.join(&self.path);
        if let Some(lib) = &mut self.library {
            *lib = dir.join(&*lib);
        }
        for lib in &mut self.op_libraries {
            *lib = dir.join(&*lib);
        }
        for (key, n) in [
            ("model.intra_op_threads", self.intra_op_threads),
            ("model.inter_op_threads", self.inter_op_threads),
        ] {
            if n == 0 || n > 1024 {
                return Err((key, format!("{n} is not between 1 and 1024")));
            }
        }
        if self.request_input.is_some() && !self.inputs.is_empty() {
            return Err((
                "model.inputs",
                "with model.request_input the requests are the model's one input: leave inputs out".into(),
            ));
        }
        if self.tags.is_empty() {
            return Err((
                "model.tags",
                "give at least one tag (a SavedModel's is \"serve\")".into(),
            ));
        }
        Ok(())
    }

    /// The model, loaded for `layout`.
    ///
    /// # Errors
    ///
    /// What is wrong, naming it; in a build without the feature
    /// `tensorflow`, that.
    pub fn load(&self, layout: &FeatureLayout) -> Result<Box<dyn Model>, String> {
        #[cfg(feature = "tensorflow")]
        {
            Ok(Box::new(Tensorflow::load(self, layout)?))
        }
        #[cfg(not(feature = "tensorflow"))]
        {
            let _ = layout;
            Err("this build has no TensorFlow support (cargo feature `tensorflow`)".into())
        }
    }
}
