//! ONNX models (feature `onnx`): ONNX Runtime through the `ort` crate,
//! its library loaded at run time (`load-dynamic`: the `libonnxruntime.so`
//! of PyPI's `onnxruntime` wheel, say; nothing is downloaded at build
//! time). The layout's arrays feed the model's named inputs as
//! `[rows, width]` tensors, borrowed, not copied; every model output
//! (`[rows, width]` or `[rows]`, float, double or int64) is an output of
//! the server, for `[response]` and for KServe's native outputs.
//!
//! Everything is checked against the model's own metadata when it is
//! loaded: each input fed, by an array of its element type and width;
//! each output of a type and shape the server can carry. A refusal names
//! the input or output.

use std::sync::{Mutex, OnceLock};

use bprwire::features::{Array, Buffers, FeatureLayout, OutputType};
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};

use crate::models::feed::{self, Feed, Inlet};
use crate::models::{Model, ModelError, OutputSpec, Outputs};

/// ONNX Runtime allows one environment per process: made by the first
/// model loaded, from the library it names.
static ENVIRONMENT: OnceLock<ort::environment::Environment> = OnceLock::new();

/// An ONNX model: one session per worker (a session runs one batch at a
/// time), its inputs fed from the layout's arrays.
pub struct Onnx {
    sessions: Vec<Mutex<Session>>,
    feeds: Vec<Feed>,
    outputs: Vec<OutputSpec>,
}

impl std::fmt::Debug for Onnx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Onnx")
            .field("sessions", &self.sessions.len())
            .field("feeds", &self.feeds)
            .field("outputs", &self.outputs)
            .finish()
    }
}

/// What the server can carry of an element type.
fn output_type(t: TensorElementType) -> Option<OutputType> {
    match t {
        TensorElementType::Float32 => Some(OutputType::F32),
        TensorElementType::Float64 => Some(OutputType::F64),
        TensorElementType::Int64 => Some(OutputType::I64),
        TensorElementType::Uint8 => Some(OutputType::U8),
        _ => None,
    }
}

impl Onnx {
    /// Loads `model.path` for `layout`, with `sessions` sessions.
    ///
    /// # Errors
    ///
    /// A message naming what is wrong: the library, the file, an input not
    /// fed or fed by an array of another type or width, an output of a
    /// type or shape the server cannot carry.
    pub fn load(config: &super::OnnxConfig, layout: &FeatureLayout, sessions: usize) -> Result<Onnx, String> {
        let env = environment(config.library.as_deref())?;
        crate::files::check_regular(&config.path, crate::files::ONNX_BYTES)?;
        let mut loaded = Vec::with_capacity(sessions);
        for _ in 0..sessions.max(1) {
            let session = Session::builder(env)
                .and_then(|b| b.with_intra_threads(config.threads).map_err(Into::into))
                .and_then(|mut b| b.commit_from_file(&config.path))
                .map_err(|e| format!("{}: {e}", config.path.display()))?;
            loaded.push(session);
        }
        let first = &loaded[0];
        let feeds = feed::plan(&config.inputs, layout, &inlets(first))?;
        let outputs = first
            .outputs()
            .iter()
            .map(|o| {
                let name = o.name();
                let ValueType::Tensor { ty, shape, .. } = o.dtype() else {
                    return Err(format!("model output {name:?} is not a tensor"));
                };
                let dtype = output_type(*ty)
                    .ok_or_else(|| format!("model output {name:?} is {ty:?}: the server carries float, double, int64, uint8"))?;
                let width = match &shape[..] {
                    [_] => 1,
                    [_, w] if *w > 0 => *w as usize,
                    other => {
                        return Err(format!(
                            "model output {name:?} has shape {other:?}: the server carries [rows] or [rows, width] with a fixed width"
                        ))
                    }
                };
                Ok(OutputSpec {
                    name: name.to_string(),
                    width,
                    dtype,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Onnx {
            sessions: loaded.into_iter().map(Mutex::new).collect(),
            feeds,
            outputs,
        })
    }
}

/// The process's ONNX Runtime environment, made on first use from
/// `library` (or `ORT_DYLIB_PATH`).
fn environment(library: Option<&std::path::Path>) -> Result<&'static ort::environment::Environment, String> {
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env);
    }
    let path = match library {
        Some(p) => p.to_path_buf(),
        None => std::env::var_os("ORT_DYLIB_PATH")
            .map(Into::into)
            .ok_or("no ONNX Runtime library: set model.library or ORT_DYLIB_PATH (the onnxruntime wheel has one: onnxruntime/capi/libonnxruntime.so.*)")?,
    };
    crate::files::check_regular(&path, crate::files::LIBRARY_BYTES)
        .map_err(|e| format!("ONNX Runtime library {}: {e}", path.display()))?;
    let env = ort::init_from(&path)
        .map_err(|e| format!("ONNX Runtime library {}: {e}", path.display()))?
        .with_name("bprwire-serve")
        .build()
        .map_err(|e| format!("ONNX Runtime: {e}"))?;
    Ok(ENVIRONMENT.get_or_init(|| env))
}

/// The session's inputs, as the feed plan reads them.
fn inlets(session: &Session) -> Vec<Inlet> {
    session
        .inputs()
        .iter()
        .map(|i| {
            let (dtype, type_name, shape) = match i.dtype() {
                ValueType::Tensor { ty, shape, .. } => {
                    (output_type(*ty), format!("{ty:?}"), Some(shape.to_vec()))
                }
                other => (None, format!("{other:?}"), None),
            };
            Inlet {
                name: i.name().to_string(),
                dtype,
                type_name,
                shape,
            }
        })
        .collect()
}

/// A borrowed `[rows, width]` (or `[rows]`) view of an array's first rows.
fn view<'a, T: ort::value::PrimitiveTensorElementType + std::fmt::Debug + Clone + 'static>(
    v: &'a [T],
    rows: usize,
    feed: &Feed,
) -> Result<ort::session::SessionInputValue<'a>, ModelError> {
    let data = &v[..rows * feed.width];
    TensorRef::from_array_view((feed.dims(rows), data))
        .map(Into::into)
        .map_err(|e| ModelError(format!("input {:?}: {e}", feed.input)))
}

impl Model for Onnx {
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }

    fn run(&self, inputs: &Buffers, rows: usize) -> Result<Outputs, ModelError> {
        let mut values = Vec::with_capacity(self.feeds.len());
        for feed in &self.feeds {
            let a = feed
                .source
                .array(inputs)
                .ok_or_else(|| ModelError(format!("no {} array", feed.source.key())))?;
            let value = match a {
                Array::F32(v) => view(v, rows, feed)?,
                Array::F64(v) => view(v, rows, feed)?,
                Array::I64(v) => view(v, rows, feed)?,
                Array::U8(v) => view(v, rows, feed)?,
            };
            values.push((feed.input.as_str(), value));
        }
        // A free session, else wait for the first.
        let mut session = self
            .sessions
            .iter()
            .find_map(|s| s.try_lock().ok())
            .map_or_else(|| self.sessions[0].lock(), Ok)
            .map_err(|_| ModelError("a session's lock is poisoned".into()))?;
        let outputs = session.run(values).map_err(|e| ModelError(e.to_string()))?;
        self.outputs
            .iter()
            .map(|spec| {
                let value = outputs
                    .get(&spec.name)
                    .ok_or_else(|| ModelError(format!("no output {:?}", spec.name)))?;
                let want = rows * spec.width;
                let array = match spec.dtype {
                    OutputType::F32 => value
                        .try_extract_tensor::<f32>()
                        .map(|(_, d)| Array::F32(d.to_vec())),
                    OutputType::F64 => value
                        .try_extract_tensor::<f64>()
                        .map(|(_, d)| Array::F64(d.to_vec())),
                    OutputType::I64 => value
                        .try_extract_tensor::<i64>()
                        .map(|(_, d)| Array::I64(d.to_vec())),
                    OutputType::U8 => value
                        .try_extract_tensor::<u8>()
                        .map(|(_, d)| Array::U8(d.to_vec())),
                }
                .map_err(|e| ModelError(format!("output {:?}: {e}", spec.name)))?;
                if array.len() != want {
                    return Err(ModelError(format!(
                        "output {:?}: {} elements for {rows} rows of width {}",
                        spec.name,
                        array.len(),
                        spec.width
                    )));
                }
                Ok(array)
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Outputs::Dense)
    }
}
