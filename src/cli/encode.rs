//! `bprwire encode`: `.npy` files in, one encoded `BatchPredictionResponse`
//! out.

use std::path::{Path, PathBuf};

use bprwire::npy::{Elements, NpyArray, NpyError};
use bprwire::{BatchPrediction, DataType, Error, Input, KeyMap, StringKind, Tensor, Values};

use super::error::CliError;
use super::limits::{self, Cap};
use super::output;

/// What `encode` was asked to do (the parsed flags, minus clap).
pub struct EncodeArgs {
    /// Continuous keys file.
    pub keys: Option<PathBuf>,
    /// Continuous values file.
    pub values: Option<PathBuf>,
    /// Dense tensor keys file.
    pub tensor_keys: Option<PathBuf>,
    /// Dense tensor files, in key order.
    pub tensors: Vec<PathBuf>,
    /// Typed lists instead of raw tensors.
    pub typed: bool,
    /// numpy bytes arrays as a `binaryTensor` instead of a `StringTensor`.
    pub binary: bool,
    /// Forced kernel level (`None`: the best available).
    pub level: Option<bprwire::Level>,
    /// Write a `getBatchPrediction` reply around the response.
    pub envelope: Option<bprwire::service::Envelope>,
    /// Output path, `-` for stdout.
    pub output: PathBuf,
    /// The most bytes read from each input file (`--max-input-bytes`).
    pub max_input_bytes: u64,
}

/// Reads (at most `max_bytes`) and checks the `.npy` file at `path`;
/// errors name the file.
fn load(path: &Path, max_bytes: u64) -> Result<NpyArray, CliError> {
    let cap = Cap {
        bytes: max_bytes,
        flag: Some("--max-input-bytes"),
    };
    let bytes = limits::read_capped(path, cap, "an input file")?;
    NpyArray::parse(bytes).map_err(|e| CliError::file(path, e.to_string()))
}

/// Runs `encode`. Memory: the input files, at most one converted copy of
/// each (a big-endian or unicode array), and the output's staging buffer;
/// the response is streamed, never held whole.
pub fn run(args: &EncodeArgs) -> Result<(), CliError> {
    // Read every file first: a bad file is reported before anything is
    // encoded or written.
    let load = |path: &Path| load(path, args.max_input_bytes);
    let continuous = match (&args.keys, &args.values) {
        (Some(k), Some(v)) => Some((load(k)?, load(v)?)),
        _ => None,
    };
    let tensor_keys = args.tensor_keys.as_deref().map(load).transpose()?;
    let tensor_files: Vec<NpyArray> = args.tensors.iter().map(|p| load(p)).collect::<Result<_, _>>()?;

    let file_err = |path: &Path, e: NpyError| CliError::file(path, e.to_string());
    let continuous = match (&continuous, &args.keys, &args.values) {
        (Some((k, v)), Some(kp), Some(vp)) => {
            let keys = k.keys("--keys").map_err(|e| file_err(kp, e))?;
            let (dtype, bytes) = match v.fixed_le() {
                Some((dtype @ (DataType::Float | DataType::Double), bytes)) => (dtype, bytes),
                _ => {
                    return Err(CliError::file(
                        vp,
                        format!(
                            "--values must be float32 ('<f4') or float64 ('<f8'), but the dtype is '{}'",
                            v.descr()
                        ),
                    ))
                }
            };
            Some((keys, dtype, bytes, v.shape()))
        }
        _ => None,
    };
    let dense_keys = match (&tensor_keys, &args.tensor_keys) {
        (Some(k), Some(path)) => Some(k.keys("--tensor-keys").map_err(|e| file_err(path, e))?),
        _ => None,
    };
    let elements: Vec<Elements<'_>> = tensor_files
        .iter()
        .zip(&args.tensors)
        .map(|(file, path)| file.elements().map_err(|e| file_err(path, e)))
        .collect::<Result<_, _>>()?;
    let bytes_kind = if args.binary {
        StringKind::Binary
    } else {
        StringKind::Text
    };
    let tensors: Vec<Tensor<'_>> = elements
        .iter()
        .zip(&tensor_files)
        .map(|(e, file)| Tensor::new(e.tensor_data(bytes_kind), file.shape()))
        .collect();

    let mut inputs = BatchPrediction::new();
    if let Some((keys, dtype, bytes, shape)) = &continuous {
        inputs = inputs.continuous(keys, Values::Raw { dtype: *dtype, bytes }, shape);
    }
    if let Some(keys) = &dense_keys {
        inputs = inputs.dense(keys, &tensors);
    }
    if args.typed {
        inputs = inputs.typed();
    }
    if let Some(level) = args.level {
        inputs = inputs.level(level);
    }
    let encoder = inputs.encoder().map_err(|err| {
        let context = context(&err, args);
        CliError::Encode { err, context }
    })?;
    // Checked before the output is touched (a framed reply too long for
    // its prefix), so that nothing is written for it.
    let len = match args.envelope {
        Some(env) => encoder
            .reply_len(env)
            .map_err(|err| CliError::Encode { err, context: None })?,
        None => encoder.encoded_len(),
    };
    let written = output::write_with(&args.output, |w| {
        match args.envelope {
            Some(env) => encoder.write_reply_to(env, w)?,
            None => encoder.write_to(w)?,
        };
        Ok(())
    })?;
    if let Some(path) = written {
        let what = match args.envelope {
            Some(env) if env.framed => format!(" as a framed reply (seqid {})", env.seqid),
            Some(env) => format!(" as a reply (seqid {})", env.seqid),
            None => String::new(),
        };
        eprintln!(
            "bprwire: wrote {} records{what}, {len} bytes to {}",
            encoder.batch_size(),
            path.display()
        );
    }
    Ok(())
}

/// Names the file(s) a library error is about, so the message points at
/// the right one of many `--tensor` files.
fn context(err: &Error, args: &EncodeArgs) -> Option<String> {
    let show = |p: &Option<PathBuf>| p.as_deref().map(Path::display).map(|d| d.to_string());
    let tensor = |index: usize| {
        args.tensors
            .get(index)
            .map(|p| format!("--tensor #{index}: {}", p.display()))
    };
    let input = |input: &Input| match input {
        Input::Continuous => show(&args.values).map(|v| format!("--values {v}")),
        Input::Tensor { index, .. } => tensor(*index),
        Input::Keys(KeyMap::Continuous) => show(&args.keys).map(|k| format!("--keys {k}")),
        Input::Keys(KeyMap::Tensors) => None,
    };
    match err {
        Error::KeyCountMismatch { .. } => Some(format!(
            "--keys {}, --values {}",
            show(&args.keys).unwrap_or_default(),
            show(&args.values).unwrap_or_default()
        )),
        Error::DuplicateKey {
            map: KeyMap::Continuous,
            ..
        } => show(&args.keys).map(|k| format!("--keys {k}")),
        Error::DuplicateKey {
            map: KeyMap::Tensors, ..
        }
        | Error::TensorCountMismatch { .. } => show(&args.tensor_keys).map(|k| format!("--tensor-keys {k}")),
        _ => err.input().and_then(|i| input(&i)),
    }
}
