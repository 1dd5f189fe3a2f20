//! `bprwire encode`: `.npy` files in, one encoded `BatchPredictionResponse`
//! out.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use bprwire::{BatchPrediction, DataType, Error, Input, KeyMap, Tensor, TensorData, Values};

use super::error::CliError;
use super::npy::{Elem, NpyArray, Utf8Strings};
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
    /// Forced kernel level (`None`: the best available).
    pub level: Option<bprwire::Level>,
    /// Write a `getBatchPrediction` reply around the response.
    pub envelope: Option<bprwire::service::Envelope>,
    /// Output path, `-` for stdout.
    pub output: PathBuf,
}

/// A dense tensor's elements ready for the library: fixed-size data stays
/// the file's bytes; only strings are converted.
enum Prepared<'a> {
    Fixed(DataType, Cow<'a, [u8]>),
    Unicode(Utf8Strings),
    Bytes(Vec<&'a [u8]>),
}

impl<'a> Prepared<'a> {
    fn of(array: &'a NpyArray) -> Result<Self, CliError> {
        Ok(match array.elem {
            Elem::Fixed { .. } => {
                let (dtype, bytes) = array.fixed_le().expect("a fixed-size array");
                Prepared::Fixed(dtype, bytes)
            }
            Elem::Unicode { .. } => Prepared::Unicode(array.unicode()?),
            Elem::ByteStr { .. } => Prepared::Bytes(array.byte_strs()),
        })
    }
}

/// Runs `encode`.
pub fn run(args: &EncodeArgs) -> Result<(), CliError> {
    // Read every file first: a bad file is reported before anything is
    // encoded or written.
    let continuous = match (&args.keys, &args.values) {
        (Some(k), Some(v)) => Some((NpyArray::load(k)?, NpyArray::load(v)?)),
        _ => None,
    };
    let tensor_keys = args.tensor_keys.as_deref().map(NpyArray::load).transpose()?;
    let tensor_files: Vec<NpyArray> = args
        .tensors
        .iter()
        .map(|p| NpyArray::load(p))
        .collect::<Result<_, _>>()?;

    let continuous = match &continuous {
        Some((k, v)) => {
            let keys = k.keys("--keys")?;
            let (dtype, bytes) = match v.fixed_le() {
                Some((dtype @ (DataType::Float | DataType::Double), bytes)) => (dtype, bytes),
                _ => {
                    return Err(v.error(format!(
                        "--values must be float32 ('<f4') or float64 ('<f8'), but the dtype is '{}'",
                        v.descr
                    )))
                }
            };
            Some((keys, dtype, bytes, &v.shape))
        }
        None => None,
    };
    let dense_keys = tensor_keys
        .as_ref()
        .map(|k| k.keys("--tensor-keys"))
        .transpose()?;
    let prepared: Vec<Prepared<'_>> = tensor_files.iter().map(Prepared::of).collect::<Result<_, _>>()?;
    let strs: Vec<Vec<&str>> = prepared
        .iter()
        .map(|p| match p {
            Prepared::Unicode(s) => s.strs(),
            _ => Vec::new(),
        })
        .collect();
    let tensors: Vec<Tensor<'_>> = prepared
        .iter()
        .zip(&strs)
        .zip(&tensor_files)
        .map(|((p, strs), file)| {
            let data = match p {
                Prepared::Fixed(dtype, bytes) => TensorData::Raw { dtype: *dtype, bytes },
                Prepared::Unicode(_) => TensorData::Str(strs),
                Prepared::Bytes(b) => TensorData::Bytes(b),
            };
            Tensor::new(data, &file.shape)
        })
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
    let bytes = match args.envelope {
        Some(env) => encoder
            .encode_reply_to_vec(env)
            .map_err(|err| CliError::Encode { err, context: None })?,
        None => encoder.encode_to_vec(),
    };
    if let Some(path) = output::write(&args.output, &bytes)? {
        let what = match args.envelope {
            Some(env) if env.framed => format!(" as a framed reply (seqid {})", env.seqid),
            Some(env) => format!(" as a reply (seqid {})", env.seqid),
            None => String::new(),
        };
        eprintln!(
            "bprwire: wrote {} records{what}, {} bytes to {}",
            encoder.batch_size(),
            bytes.len(),
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
        Error::ElementCountMismatch { input: i, .. }
        | Error::RawByteLength { input: i, .. }
        | Error::UnsupportedDataType { input: i, .. }
        | Error::TooLarge { input: Some(i), .. } => input(i),
        Error::ScalarTensor { index, .. } | Error::BatchSizeMismatch { index, .. } => tensor(*index),
        Error::ContinuousRank { .. } => show(&args.values).map(|v| format!("--values {v}")),
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
        _ => None,
    }
}
