//! ONNX models: their configuration ([`OnnxConfig`], `kind = "onnx"`),
//! and, with the cargo feature `onnx`, the model itself ([`Onnx`], in
//! `session.rs`: ONNX Runtime loaded at run time).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bprwire::features::FeatureLayout;
use serde::Deserialize;

use super::Model;

#[cfg(feature = "onnx")]
mod session;
#[cfg(feature = "onnx")]
pub use session::Onnx;

/// `[model]` of `kind = "onnx"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnnxConfig {
    /// The `.onnx` file.
    pub path: PathBuf,
    /// Which of the layout's arrays feeds which of the model's inputs:
    /// `continuous`, `binary`, `discrete` or `tensor.<id>` → the input's
    /// name. Every model input is fed, every array feeds one.
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
    /// ONNX Runtime's intra-op threads per session (default 1: the server
    /// runs `batching.workers` batches at once, one session each).
    #[serde(default = "default_threads")]
    pub threads: usize,
    /// The ONNX Runtime shared library (default: `ORT_DYLIB_PATH`).
    #[serde(default)]
    pub library: Option<PathBuf>,
}

fn default_threads() -> usize {
    1
}

impl OnnxConfig {
    /// Paths made relative to `dir`; `threads` checked.
    ///
    /// # Errors
    ///
    /// The key at fault and why.
    pub fn resolve(&mut self, dir: &Path) -> Result<(), (&'static str, String)> {
        self.path = dir.join(&self.path);
        if let Some(lib) = &mut self.library {
            *lib = dir.join(&*lib);
        }
        if self.threads == 0 {
            return Err(("model.threads", "must be at least 1".into()));
        }
        if self.threads > 1024 {
            return Err((
                "model.threads",
                format!("{} is more than the 1024 this server allows", self.threads),
            ));
        }
        Ok(())
    }

    /// The model, with `sessions` sessions (one per worker).
    ///
    /// # Errors
    ///
    /// What is wrong, naming it; in a build without the feature `onnx`,
    /// that.
    pub fn load(&self, layout: &FeatureLayout, sessions: usize) -> Result<Box<dyn Model>, String> {
        #[cfg(feature = "onnx")]
        {
            Ok(Box::new(Onnx::load(self, layout, sessions)?))
        }
        #[cfg(not(feature = "onnx"))]
        {
            let _ = (layout, sessions);
            Err("this build has no ONNX support (cargo feature `onnx`)".into())
        }
    }
}
