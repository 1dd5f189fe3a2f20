//! A TensorFlow SavedModel as a [`Model`] (feature `tensorflow`): loaded
//! with its op libraries, its signature checked against the layout (every
//! input fed by an array of its type and width) and against what the
//! server carries (each output `[rows]` or `[rows, width]` of float,
//! double, int64 or uint8; or the one `uint8` output of the response the
//! model writes). One session, run by every worker at once (TensorFlow's
//! sessions allow it).

use bprwire::features::{Array, Buffers, FeatureLayout, OutputType};

use super::library::{RawOutput, Session, Tensor, Tf};
use super::signature::{self, Port};
use super::TensorflowConfig;
use crate::models::feed::{self, Feed};
use crate::models::{Model, ModelError, OutputSpec, Outputs};

/// What the model is fed.
enum Feeds {
    /// The layout's arrays, each to its input.
    Arrays(Vec<(Feed, RawOutput)>),
    /// The batch's serialized requests, to this input.
    Requests(RawOutput),
}

/// What the model gives back.
enum Fetch {
    /// Dense outputs, one per signature output.
    Dense(Vec<RawOutput>),
    /// The response the model writes, from this output.
    Written(RawOutput),
}

/// A SavedModel, loaded.
pub struct Tensorflow {
    tf: &'static Tf,
    session: Session,
    feeds: Feeds,
    fetch: Fetch,
    outputs: Vec<OutputSpec>,
    /// Each dense output's rank (1 or 2).
    ranks: Vec<usize>,
}

impl std::fmt::Debug for Tensorflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tensorflow")
            .field("version", &self.tf.version())
            .field("reads_requests", &matches!(self.feeds, Feeds::Requests(_)))
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

impl Tensorflow {
    /// Loads the SavedModel `config.path` for `layout`.
    ///
    /// # Errors
    ///
    /// A message naming what is wrong: the library, an op library, the
    /// SavedModel, its signature, an input not fed or fed by an array of
    /// another type or width, an output the server cannot carry.
    pub fn load(config: &TensorflowConfig, layout: &FeatureLayout) -> Result<Tensorflow, String> {
        let tf = Tf::get(config.library.as_deref())?;
        for lib in &config.op_libraries {
            check_built_for(lib, tf.version())?;
            tf.load_op_library(lib)?;
        }
        let dir = &config.path;
        if !dir.join("saved_model.pb").is_file() && !dir.join("saved_model.pbtxt").is_file() {
            return Err(format!(
                "{}: no SavedModel here (no saved_model.pb)",
                dir.display()
            ));
        }
        let session_config = signature::session_config(config.intra_op_threads, config.inter_op_threads);
        let (session, meta) = tf
            .load_saved_model(dir, &config.tags, &session_config)
            .map_err(|e| format!("SavedModel {}: {e}", dir.display()))?;
        let sig = signature::read(&meta, &config.signature)?;
        let feeds = match &config.request_input {
            Some(key) => {
                let feed = request_feed(&session, &sig.inputs, key)?;
                check_scatter_layouts(&sig.scatter_layouts, layout)?;
                Feeds::Requests(feed)
            }
            None => Feeds::Arrays(array_feeds(&session, &sig.inputs, config, layout)?),
        };
        let (fetch, outputs, ranks) = match &config.response_output {
            Some(name) => {
                let port = sig.outputs.iter().find(|p| &p.key == name).ok_or_else(|| {
                    let names: Vec<&str> = sig.outputs.iter().map(|p| p.key.as_str()).collect();
                    format!("model.response_output: the signature has no output {name:?} (it has {names:?})")
                })?;
                check_written(port)?;
                (
                    Fetch::Written(session.output(&port.tensor)?),
                    Vec::new(),
                    Vec::new(),
                )
            }
            None => {
                let specs = sig
                    .outputs
                    .iter()
                    .map(dense_output)
                    .collect::<Result<Vec<_>, _>>()?;
                let raw = sig
                    .outputs
                    .iter()
                    .map(|p| {
                        session
                            .output(&p.tensor)
                            .map_err(|e| format!("signature output {:?}: {e}", p.key))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let ranks = sig
                    .outputs
                    .iter()
                    .map(|p| p.shape.as_ref().map_or(0, Vec::len))
                    .collect();
                (Fetch::Dense(raw), specs, ranks)
            }
        };
        Ok(Tensorflow {
            tf,
            session,
            feeds,
            fetch,
            outputs,
            ranks,
        })
    }

    /// Runs the session on `tensors` fed to `feeds`, and reads what it
    /// gives back.
    fn fetch(&self, feeds: &[RawOutput], tensors: &[&Tensor]) -> Result<Outputs, ModelError> {
        match &self.fetch {
            Fetch::Written(out) => {
                let got = self.session.run(feeds, tensors, &[*out]).map_err(ModelError)?;
                let t = &got[0];
                let dims = t.dims();
                if !matches!(dims[..], [_] | [1, _]) {
                    return Err(ModelError(format!(
                        "the response output has shape {dims:?}, not [1, len] or [len]"
                    )));
                }
                t.to_vec::<u8>()
                    .map(Outputs::Written)
                    .map_err(|e| ModelError(format!("the response output: {e}")))
            }
            Fetch::Dense(fetches) => {
                let got = self.session.run(feeds, tensors, fetches).map_err(ModelError)?;
                self.outputs
                    .iter()
                    .zip(&self.ranks)
                    .zip(&got)
                    .map(|((spec, &rank), t)| {
                        // The declared shape: [rows] or [rows, width] (the
                        // runner checks rows × width elements).
                        let dims = t.dims();
                        if dims.len() != rank || (rank == 2 && dims[1] != spec.width as i64) {
                            return Err(ModelError(format!(
                                "output {:?} has shape {dims:?}, declared {}",
                                spec.name,
                                if rank == 2 {
                                    format!("[rows, {}]", spec.width)
                                } else {
                                    "[rows]".into()
                                }
                            )));
                        }
                        let array = match spec.dtype {
                            OutputType::F32 => t.to_vec().map(Array::F32),
                            OutputType::F64 => t.to_vec().map(Array::F64),
                            OutputType::I64 => t.to_vec().map(Array::I64),
                            OutputType::U8 => t.to_vec().map(Array::U8),
                        };
                        array.map_err(|e| ModelError(format!("output {:?}: {e}", spec.name)))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Outputs::Dense)
            }
        }
    }
}

/// The layout's arrays, each to its signature input.
fn array_feeds(
    session: &Session,
    inputs: &[Port],
    config: &TensorflowConfig,
    layout: &FeatureLayout,
) -> Result<Vec<(Feed, RawOutput)>, String> {
    let inlets: Vec<_> = inputs.iter().map(Port::inlet).collect();
    feed::plan(&config.inputs, layout, &inlets)?
        .into_iter()
        .map(|f| {
            let port = inputs
                .iter()
                .find(|p| p.key == f.input)
                .ok_or_else(|| format!("signature input {:?} is gone", f.input))?;
            let out = session
                .output(&port.tensor)
                .map_err(|e| format!("signature input {:?}: {e}", port.key))?;
            Ok((f, out))
        })
        .collect()
}

/// The signature input `key` that takes the serialized requests: a
/// `DT_STRING` vector, the signature's only input.
fn request_feed(session: &Session, inputs: &[Port], key: &str) -> Result<RawOutput, String> {
    let names: Vec<&str> = inputs.iter().map(|p| p.key.as_str()).collect();
    let port = inputs.iter().find(|p| p.key == key).ok_or_else(|| {
        format!("model.request_input: the signature has no input {key:?} (it has {names:?})")
    })?;
    if port.type_name != "DT_STRING" || !matches!(port.shape.as_deref(), None | Some([-1])) {
        return Err(format!(
            "model.request_input {key:?} is {} of shape {:?}: the serialized requests are DT_STRING [n]",
            port.type_name, port.shape
        ));
    }
    if let Some(other) = inputs.iter().find(|p| p.key != key) {
        return Err(format!(
            "signature input {:?} is fed by nothing: with model.request_input the requests are the only input",
            other.key
        ));
    }
    session
        .output(&port.tensor)
        .map_err(|e| format!("signature input {key:?}: {e}"))
}

/// A model that reads the requests scatters them with the server's own
/// layout (the server refuses, before the batch, every request that
/// layout refuses; a model with another layout could fail a whole batch
/// on one client's request): every request op's `layout` must be it.
fn check_scatter_layouts(layouts: &[Vec<u8>], layout: &FeatureLayout) -> Result<(), String> {
    if layouts.is_empty() {
        return Err(
            "model.request_input: the graph has no BatchPredictionRequestScatter op (tfop) to read the requests".into(),
        );
    }
    let ours = layout.to_json();
    for json in layouts {
        let theirs = FeatureLayout::from_json(json).map_err(|e| {
            format!("the graph's BatchPredictionRequestScatter has a layout bprwire refuses: {e}")
        })?;
        if theirs.to_json() != ours {
            return Err(format!(
                "the graph's BatchPredictionRequestScatter scatters with another layout than [layout]: {} (the server's: {ours})",
                theirs.to_json()
            ));
        }
    }
    Ok(())
}

/// An op library built for another TensorFlow minor release is refused
/// before it is loaded when a `TF_VERSION` file beside it says so (as
/// `tfop/build.sh` writes it). Patch releases of one minor release keep
/// TensorFlow's C++ ABI: the same rule as `bprwire_tfop`'s own check and
/// the `tensorflow-cpu==X.Y.*` its wheel requires.
fn check_built_for(lib: &std::path::Path, version: &str) -> Result<(), String> {
    let minor = |v: &str| v.trim().split('.').take(2).collect::<Vec<_>>().join(".");
    let stamp = lib.with_file_name("TF_VERSION");
    match std::fs::read_to_string(&stamp) {
        Ok(built) if minor(&built) != minor(version) => Err(format!(
            "op library {}: built for TensorFlow {} ({}), this TensorFlow is {version}",
            lib.display(),
            built.trim(),
            stamp.display()
        )),
        _ => Ok(()),
    }
}

/// A signature output as a dense output of the server.
fn dense_output(p: &Port) -> Result<OutputSpec, String> {
    let dtype = p.dtype.ok_or_else(|| {
        format!(
            "signature output {:?} is {}: the server carries DT_FLOAT, DT_DOUBLE, DT_INT64, DT_UINT8",
            p.key, p.type_name
        )
    })?;
    let width = match p.shape.as_deref() {
        Some([r]) if *r < 0 => 1,
        Some([r, w]) if *r < 0 && *w > 0 => *w as usize,
        other => {
            return Err(format!(
                "signature output {:?} has shape {}: the server carries [rows] or [rows, width] with any rows (-1) and a fixed width",
                p.key,
                other.map_or_else(|| "unknown".to_string(), |s| format!("{s:?}"))
            ))
        }
    };
    Ok(OutputSpec {
        name: p.key.clone(),
        width,
        dtype,
    })
}

/// The response output: `uint8`, `[len]` or `[1, len]` (the writer op's).
fn check_written(p: &Port) -> Result<(), String> {
    if p.dtype != Some(OutputType::U8) {
        return Err(format!(
            "model.response_output {:?} is {}, not DT_UINT8 (the writer op's response bytes)",
            p.key, p.type_name
        ));
    }
    match p.shape.as_deref() {
        None | Some([_]) | Some([1 | -1, _]) => Ok(()),
        Some(other) => Err(format!(
            "model.response_output {:?} has shape {other:?}: the writer op's is [1, len] (or [len])",
            p.key
        )),
    }
}

/// The input tensor of `feed` for the first `rows` rows of `array`.
fn input(tf: &'static Tf, feed: &Feed, array: &Array, rows: usize) -> Result<Tensor, String> {
    let dims = feed.dims(rows);
    let n = rows * feed.width;
    match array {
        Array::F32(v) => Tensor::from_slice(tf, &dims, &v[..n]),
        Array::F64(v) => Tensor::from_slice(tf, &dims, &v[..n]),
        Array::I64(v) => Tensor::from_slice(tf, &dims, &v[..n]),
        Array::U8(v) => Tensor::from_slice(tf, &dims, &v[..n]),
    }
}

impl Model for Tensorflow {
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }

    fn writes_response(&self) -> bool {
        matches!(self.fetch, Fetch::Written(_))
    }

    fn reads_requests(&self) -> bool {
        matches!(self.feeds, Feeds::Requests(_))
    }

    fn run(&self, inputs: &Buffers, rows: usize) -> Result<Outputs, ModelError> {
        let Feeds::Arrays(arrays) = &self.feeds else {
            return Err(ModelError("this model reads the requests themselves".into()));
        };
        let mut tensors = Vec::with_capacity(arrays.len());
        let mut feeds = Vec::with_capacity(arrays.len());
        for (feed, out) in arrays {
            let array = feed
                .source
                .array(inputs)
                .ok_or_else(|| ModelError(format!("no {} array", feed.source.key())))?;
            let t = input(self.tf, feed, array, rows)
                .map_err(|e| ModelError(format!("input {:?}: {e}", feed.input)))?;
            tensors.push(t);
            feeds.push(*out);
        }
        let tensors: Vec<&Tensor> = tensors.iter().collect();
        self.fetch(&feeds, &tensors)
    }

    fn run_requests(&self, requests: &[&[u8]]) -> Result<Outputs, ModelError> {
        let Feeds::Requests(out) = &self.feeds else {
            return Err(ModelError("this model does not read requests".into()));
        };
        let strings =
            Tensor::strings(self.tf, requests).map_err(|e| ModelError(format!("the requests: {e}")))?;
        self.fetch(&[*out], &[&strings])
    }
}

#[cfg(test)]
mod tests {
    use super::check_built_for;

    #[test]
    fn an_op_library_is_refused_for_another_minor_release_but_not_another_patch() {
        let dir = std::env::temp_dir().join(format!("bprwire-built-for-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let lib = dir.join("libops.so");
        // No stamp: nothing to check.
        assert!(check_built_for(&lib, "2.21.0").is_ok());
        std::fs::write(dir.join("TF_VERSION"), "2.21.0\n").expect("write");
        assert!(check_built_for(&lib, "2.21.0").is_ok());
        assert!(check_built_for(&lib, "2.21.3").is_ok());
        let refused = check_built_for(&lib, "2.22.0").expect_err("another minor release");
        assert!(refused.contains("built for TensorFlow 2.21.0"), "{refused}");
        assert!(refused.contains("this TensorFlow is 2.22.0"), "{refused}");
        assert!(check_built_for(&lib, "3.21.0").is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
