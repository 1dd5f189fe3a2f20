//! `bprwire scatter`: a `BatchPredictionRequest` scattered into dense
//! arrays by a [`FeatureLayout`] read from JSON ([`super::layout`]), each
//! written to OUTDIR as a `.npy` file.
//!
//! Nothing is written until everything that can be checked is: the layout,
//! the request, the scatter itself and OUTDIR (a folder, or nothing yet;
//! each target a regular file we may write, or nothing yet). Then every
//! array goes to a temporary file beside its target, and only when all of
//! them are written and synced are they renamed into place, with SIGINT,
//! SIGTERM and SIGHUP held back for those few renames. An error before
//! that (or a signal while the files are written) removes the temporary
//! files and leaves OUTDIR as it was (a folder made for the run is
//! removed again).

use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bprwire::decode;
use bprwire::features::{Array, FeatureLayout, OutputType, Outputs};

use super::error::CliError;
use super::{inspect, layout, output, signals};

/// What `scatter` was asked to do.
pub struct ScatterArgs {
    /// The layout file (JSON).
    pub layout: PathBuf,
    /// The request file, `-` for stdin.
    pub request: PathBuf,
    /// The folder the `.npy` files go to.
    pub outdir: PathBuf,
}

/// Runs `scatter`.
pub fn run(args: &ScatterArgs) -> Result<(), CliError> {
    let layout = layout::read(&args.layout)?;
    if fs::metadata(&args.outdir).is_ok_and(|m| !m.is_dir()) {
        return Err(CliError::file(&args.outdir, "exists and is not a directory"));
    }
    let bytes = inspect::read(&args.request)?;
    let request = decode::decode_request(&bytes)
        .map_err(|e| CliError::file(&args.request, format!("not a valid request: {e}")))?;
    let rows = request.len();
    let mut arrays = Arrays::new(&layout, rows).map_err(|e| {
        CliError::file(
            &args.request,
            format!("{rows} records with layout {}: {e}", args.layout.display()),
        )
    })?;
    let scattered = layout.scatter(&request, &mut arrays.outputs()).map_err(|e| {
        CliError::file(
            &args.request,
            format!("cannot be scattered with layout {}: {e}", args.layout.display()),
        )
    })?;
    let files = arrays.files();
    write_files(&args.outdir, &files)?;

    let mut report = String::new();
    let _ = writeln!(
        report,
        "bprwire scatter: {rows} rows from {}{}, layout {}",
        args.request.display(),
        if request.common_features().is_some() {
            " (with commonFeatures, applied to every row)"
        } else {
            ""
        },
        args.layout.display()
    );
    let width = files.iter().map(|f| f.name.len()).max().unwrap_or(0);
    for f in &files {
        let _ = writeln!(
            report,
            "  {:width$}  {} [{}, {}]",
            f.name, f.dtype, f.shape[0], f.shape[1]
        );
    }
    let s = scattered.skipped;
    let _ = writeln!(
        report,
        "skipped (ids the layout does not name): continuous {}, binary {}, discrete {}, tensors {}",
        s.continuous, s.binary, s.discrete, s.tensors
    );
    let _ = if files.is_empty() {
        writeln!(report, "no file written: the layout has no output")
    } else {
        writeln!(report, "wrote {} files to {}", files.len(), args.outdir.display())
    };
    output::print(&report)
}

/// The output arrays, exactly `rows × n` elements each, in layout order.
struct Arrays {
    continuous: Option<Array>,
    binary: Option<Array>,
    discrete: Option<Array>,
    tensors: Vec<(i64, Array)>,
    rows: usize,
    columns: [usize; 3],
    widths: Vec<usize>,
}

impl Arrays {
    /// Zeroed arrays, or which one could not be allocated and why.
    fn new(layout: &FeatureLayout, rows: usize) -> Result<Arrays, String> {
        use bprwire::features::FeatureKind as K;
        let kind = |name: &str, ids: &[i64], kind: K| {
            layout
                .output_type(kind)
                .map(|t| zeros(t, rows, ids.len()).map_err(|e| format!("{name}.npy: {e}")))
                .transpose()
        };
        Ok(Arrays {
            continuous: kind("continuous", layout.continuous_ids(), K::Continuous)?,
            binary: kind("binary", layout.binary_ids(), K::Binary)?,
            discrete: kind("discrete", layout.discrete_ids(), K::Discrete)?,
            tensors: layout
                .tensors()
                .iter()
                .map(|t| {
                    zeros(t.dtype, rows, t.width)
                        .map(|a| (t.id, a))
                        .map_err(|e| format!("tensor_{}.npy: {e}", t.id))
                })
                .collect::<Result<_, _>>()?,
            rows,
            columns: [
                layout.continuous_ids().len(),
                layout.binary_ids().len(),
                layout.discrete_ids().len(),
            ],
            widths: layout.tensors().iter().map(|t| t.width).collect(),
        })
    }

    /// Every array, to scatter into.
    fn outputs(&mut self) -> Outputs<'_> {
        let mut o = Outputs::new();
        if let Some(a) = &mut self.continuous {
            o = o.continuous(a.as_mut());
        }
        if let Some(a) = &mut self.binary {
            o = o.binary(a.as_mut());
        }
        if let Some(Array::I64(v)) = &mut self.discrete {
            o = o.discrete(v);
        }
        for (id, a) in &mut self.tensors {
            o = o.tensor(*id, a.as_mut());
        }
        o
    }

    /// The files to write, in layout order.
    fn files(&self) -> Vec<NpyFile<'_>> {
        fn file(name: String, a: &Array, shape: [usize; 2]) -> NpyFile<'_> {
            NpyFile {
                name,
                dtype: a.dtype(),
                shape,
                data: bytes(a),
            }
        }
        let kinds = [
            ("continuous.npy", &self.continuous),
            ("binary.npy", &self.binary),
            ("discrete.npy", &self.discrete),
        ];
        let mut files: Vec<NpyFile<'_>> = kinds
            .into_iter()
            .zip(self.columns)
            .filter_map(|((name, a), n)| a.as_ref().map(|a| file(name.into(), a, [self.rows, n])))
            .collect();
        for ((id, a), &w) in self.tensors.iter().zip(&self.widths) {
            files.push(file(format!("tensor_{id}.npy"), a, [self.rows, w]));
        }
        files
    }
}

/// `rows × n` zeros of `dtype`, allocated fallibly (a layout's width and a
/// request's rows are both the user's): an error says how much was asked.
fn zeros(dtype: OutputType, rows: usize, n: usize) -> Result<Array, String> {
    fn vec<T: Clone + Default>(len: usize) -> Result<Vec<T>, std::collections::TryReserveError> {
        let mut v = Vec::new();
        v.try_reserve_exact(len)?;
        v.resize(len, T::default());
        Ok(v)
    }
    let too_big = |e: &dyn std::fmt::Display| format!("{dtype} [{rows}, {n}] cannot be allocated ({e})");
    let len = rows
        .checked_mul(n)
        .ok_or_else(|| too_big(&"more elements than the address space holds"))?;
    match dtype {
        OutputType::F32 => vec(len).map(Array::F32),
        OutputType::F64 => vec(len).map(Array::F64),
        OutputType::I64 => vec(len).map(Array::I64),
        OutputType::U8 => vec(len).map(Array::U8),
    }
    .map_err(|e| too_big(&e))
}

/// An array's elements as they sit in memory (little-endian: bprwire
/// runs on little-endian targets only).
fn bytes(a: &Array) -> &[u8] {
    match a {
        Array::F32(v) => bytemuck::cast_slice(v),
        Array::F64(v) => bytemuck::cast_slice(v),
        Array::I64(v) => bytemuck::cast_slice(v),
        Array::U8(v) => v,
    }
}

/// One `.npy` file to write.
struct NpyFile<'a> {
    name: String,
    dtype: OutputType,
    shape: [usize; 2],
    data: &'a [u8],
}

/// The numpy descr of a type, little-endian.
fn descr(t: OutputType) -> &'static str {
    match t {
        OutputType::F32 => "<f4",
        OutputType::F64 => "<f8",
        OutputType::I64 => "<i8",
        OutputType::U8 => "|u1",
    }
}

/// A `.npy` format 1.0 header, as `numpy.save` writes it: the dict padded
/// with spaces and a newline so that the data starts on a 64-byte boundary.
pub fn npy_header(dtype: OutputType, shape: &[usize]) -> Vec<u8> {
    let shape = match shape {
        [d] => format!("({d},)"),
        ds => format!(
            "({})",
            ds.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
        ),
    };
    let mut dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
        descr(dtype)
    )
    .into_bytes();
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(b' ');
    }
    dict.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    // Two dims of at most 20 digits each: far below the 64 KiB of format 1.0.
    out.extend((dict.len() as u16).to_le_bytes());
    out.extend(dict);
    out
}

/// Writes every file into `dir`, all or none (see the module docs).
fn write_files(dir: &Path, files: &[NpyFile<'_>]) -> Result<(), CliError> {
    let created = match fs::metadata(dir) {
        Ok(m) if m.is_dir() => false,
        Ok(_) => return Err(CliError::file(dir, "exists and is not a directory")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
            true
        }
        Err(e) => return Err(fail(dir, e)),
    };
    let result = targets(dir, files).and_then(|targets| write_and_rename(files, &targets));
    if result.is_err() && created {
        let _ = fs::remove_dir(dir);
    }
    result
}

fn fail(target: &Path, err: io::Error) -> CliError {
    CliError::Output {
        target: target.display().to_string(),
        err,
    }
}

/// Where each file goes: its path in `dir`, through a symlink to a regular
/// file (as `encode -o` does). Refused before anything is written: a
/// target that is a folder or not a regular file, or that we may not
/// write.
fn targets(dir: &Path, files: &[NpyFile<'_>]) -> Result<Vec<PathBuf>, CliError> {
    files
        .iter()
        .map(|f| {
            let path = dir.join(&f.name);
            match fs::metadata(&path) {
                Ok(m) if m.is_file() => {
                    OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(|e| fail(&path, e))?;
                    fs::canonicalize(&path).map_err(|e| fail(&path, e))
                }
                Ok(_) => Err(fail(
                    &path,
                    io::Error::other("it exists and is not a regular file"),
                )),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(path),
                Err(e) => Err(fail(&path, e)),
            }
        })
        .collect()
}

/// Each file to a temporary file beside its target, then (when all are
/// written) every rename, with the cleanup signals held back. On failure
/// the temporary files not yet renamed are removed.
fn write_and_rename(files: &[NpyFile<'_>], targets: &[PathBuf]) -> Result<(), CliError> {
    let mut temps: Vec<PathBuf> = Vec::with_capacity(files.len());
    let mut registered = None;
    let mut result = Ok(());
    for (f, target) in files.iter().zip(targets) {
        let (tmp, mut file) = match output::temporary_beside(target) {
            Ok(x) => x,
            Err(e) => {
                result = Err(fail(target, e));
                break;
            }
        };
        temps.push(tmp);
        // The new list is registered before the old guard is dropped.
        registered = Some(signals::remove_all_on_signal(
            &temps.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
        ));
        let written = (|| {
            if let Ok(meta) = fs::metadata(target) {
                // Keep the mode of the file being replaced.
                file.set_permissions(meta.permissions())?;
            }
            file.write_all(&npy_header(f.dtype, &f.shape))?;
            file.write_all(f.data)?;
            file.sync_all()
        })();
        if let Err(e) = written {
            result = Err(fail(target, e));
            break;
        }
    }
    let mut renamed = 0;
    let blocked = signals::block();
    if result.is_ok() {
        for (tmp, target) in temps.iter().zip(targets) {
            if let Err(e) = fs::rename(tmp, target) {
                let done = if renamed == 0 {
                    String::new()
                } else {
                    format!(
                        " ({renamed} of {} files were already in place: {})",
                        targets.len(),
                        files[..renamed]
                            .iter()
                            .map(|f| f.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                result = Err(fail(target, io::Error::new(e.kind(), format!("{e}{done}"))));
                break;
            }
            renamed += 1;
        }
    }
    for tmp in &temps[renamed..] {
        let _ = fs::remove_file(tmp);
    }
    drop(registered);
    drop(blocked);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_end_on_a_64_byte_boundary_and_read_back() {
        for (t, shape) in [
            (OutputType::F32, vec![3, 4]),
            (OutputType::U8, vec![0, 0]),
            (OutputType::I64, vec![usize::MAX, usize::MAX]),
            (OutputType::F64, vec![7]),
        ] {
            let h = npy_header(t, &shape);
            assert_eq!(h.len() % 64, 0, "{t} {shape:?}");
            assert_eq!(*h.last().unwrap(), b'\n');
            if shape.contains(&0) {
                let a = bprwire::npy::NpyArray::parse(h).unwrap();
                assert_eq!(a.shape(), shape);
                assert_eq!(a.descr(), descr(t));
            }
        }
    }
}
