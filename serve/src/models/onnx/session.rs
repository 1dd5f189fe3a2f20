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

use crate::models::{Model, ModelError, OutputSpec};

/// ONNX Runtime allows one environment per process: made by the first
/// model loaded, from the library it names.
static ENVIRONMENT: OnceLock<ort::environment::Environment> = OnceLock::new();

/// Which layout array feeds an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Continuous,
    Binary,
    Discrete,
    Tensor(i64),
}

impl Source {
    fn parse(key: &str) -> Option<Source> {
        match key {
            "continuous" => Some(Source::Continuous),
            "binary" => Some(Source::Binary),
            "discrete" => Some(Source::Discrete),
            _ => key.strip_prefix("tensor.")?.parse().ok().map(Source::Tensor),
        }
    }

    fn array<'a>(&self, b: &'a Buffers) -> Option<&'a Array> {
        match *self {
            Source::Continuous => b.continuous(),
            Source::Binary => b.binary(),
            Source::Discrete => b.discrete(),
            Source::Tensor(id) => b.tensor(id),
        }
    }
}

/// A model input and what feeds it.
#[derive(Debug)]
struct Feed {
    input: String,
    source: Source,
    width: usize,
    /// The input's rank: 2 (`[rows, width]`), or 1 (`[rows]`, width 1).
    rank: usize,
}

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

/// A layout array's width, from its element count per row.
fn width_of(layout: &FeatureLayout, source: Source) -> Option<(OutputType, usize)> {
    use bprwire::features::FeatureKind;
    let columns = |kind, n: usize| layout.output_type(kind).map(|t| (t, n));
    match source {
        Source::Continuous => columns(FeatureKind::Continuous, layout.continuous_ids().len()),
        Source::Binary => columns(FeatureKind::Binary, layout.binary_ids().len()),
        Source::Discrete => columns(FeatureKind::Discrete, layout.discrete_ids().len()),
        Source::Tensor(id) => layout
            .tensors()
            .iter()
            .find(|t| t.id == id)
            .map(|t| (t.dtype, t.width)),
    }
}

/// The sources the layout has (arrays it fills).
fn sources(layout: &FeatureLayout) -> Vec<Source> {
    let mut out = Vec::new();
    for s in [Source::Continuous, Source::Binary, Source::Discrete] {
        if width_of(layout, s).is_some_and(|(_, w)| w > 0) {
            out.push(s);
        }
    }
    out.extend(layout.tensors().iter().map(|t| Source::Tensor(t.id)));
    out
}

fn describe(source: Source) -> String {
    match source {
        Source::Continuous => "continuous".into(),
        Source::Binary => "binary".into(),
        Source::Discrete => "discrete".into(),
        Source::Tensor(id) => format!("tensor.{id}"),
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
        let feeds = feeds(config, layout, first)?;
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

/// The feeds of `config.inputs`, checked against the session's inputs.
fn feeds(config: &super::OnnxConfig, layout: &FeatureLayout, session: &Session) -> Result<Vec<Feed>, String> {
    let mut feeds = Vec::new();
    for (key, input) in &config.inputs {
        let source = Source::parse(key).ok_or_else(|| {
            format!(
                "model.inputs: {key:?} is not a layout array (continuous, binary, discrete or tensor.<id>)"
            )
        })?;
        let (dtype, width) = width_of(layout, source)
            .filter(|&(_, w)| w > 0)
            .ok_or_else(|| format!("model.inputs: the layout has no {key} array"))?;
        let outlet = session
            .inputs()
            .iter()
            .find(|i| i.name() == input)
            .ok_or_else(|| {
                let names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
                format!("model.inputs: the model has no input {input:?} (it has {names:?})")
            })?;
        let ValueType::Tensor { ty, shape, .. } = outlet.dtype() else {
            return Err(format!("model input {input:?} is not a tensor"));
        };
        if output_type(*ty) != Some(dtype) {
            return Err(format!(
                "model input {input:?} is {ty:?}, the layout's {key} array is {dtype:?}"
            ));
        }
        let rank = match &shape[..] {
            [_, w] if *w < 0 || *w as usize == width => 2,
            [_] if width == 1 => 1,
            other => {
                return Err(format!(
                    "model input {input:?} has shape {other:?}, the layout's {key} array is [rows, {width}]"
                ))
            }
        };
        feeds.push(Feed {
            input: input.clone(),
            source,
            width,
            rank,
        });
    }
    for i in session.inputs() {
        if !feeds.iter().any(|f| f.input == i.name()) {
            return Err(format!(
                "model input {:?} is fed by no layout array (model.inputs)",
                i.name()
            ));
        }
    }
    for s in sources(layout) {
        if !feeds.iter().any(|f| f.source == s) {
            return Err(format!(
                "model.inputs: the layout's {} array feeds no model input",
                describe(s)
            ));
        }
    }
    Ok(feeds)
}

/// A borrowed `[rows, width]` (or `[rows]`) view of an array's first rows.
fn view<'a, T: ort::value::PrimitiveTensorElementType + std::fmt::Debug + Clone + 'static>(
    v: &'a [T],
    rows: usize,
    feed: &Feed,
) -> Result<ort::session::SessionInputValue<'a>, ModelError> {
    let data = &v[..rows * feed.width];
    let shape: Vec<i64> = if feed.rank == 2 {
        vec![rows as i64, feed.width as i64]
    } else {
        vec![rows as i64]
    };
    TensorRef::from_array_view((shape, data))
        .map(Into::into)
        .map_err(|e| ModelError(format!("input {:?}: {e}", feed.input)))
}

impl Model for Onnx {
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }

    fn run(&self, inputs: &Buffers, rows: usize) -> Result<Vec<Array>, ModelError> {
        let mut values = Vec::with_capacity(self.feeds.len());
        for feed in &self.feeds {
            let a = feed
                .source
                .array(inputs)
                .ok_or_else(|| ModelError(format!("no {} array", describe(feed.source))))?;
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
            .collect()
    }
}
