//! `bprwire scatter`: a `BatchPredictionRequest` scattered into dense
//! arrays by a [`FeatureLayout`] read from JSON ([`super::layout`]), each
//! written to OUTDIR as a `.npy` file.
//!
//! Nothing is written until everything that can be checked is: the layout,
//! the request (at most `--max-request-bytes`), its size (at most
//! `--max-rows` rows, and arrays of at most `--max-output-bytes` in all,
//! checked before they are allocated), the scatter itself and OUTDIR (a
//! folder, or nothing yet, not a dangling symlink; each target a regular
//! file we may write, or nothing yet, and no two targets the same file).
//! Then every array goes to a temporary file beside its target, and only
//! when all of them are written and synced are they renamed into place,
//! with SIGINT, SIGTERM and SIGHUP held back for those few renames. Before
//! the renames, a target that this user may not replace (another user's
//! file in a sticky folder such as /tmp) is refused, and each existing
//! target is kept as a hard link beside it, so that if a rename still
//! fails, the files already renamed are put back as they were: all files
//! or none. An error before that (or a signal while the files are
//! written) removes the temporary files and leaves OUTDIR as it was: the
//! folders made for the run (OUTDIR and its missing parents) are removed
//! again, deepest first.

use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use bprwire::decode;
use bprwire::features::{Array, FeatureLayout, OutputType, Outputs};

use super::error::CliError;
use super::limits::{self, Cap};
use super::{layout, output, signals};

/// What `scatter` was asked to do.
pub struct ScatterArgs {
    /// The layout file (JSON).
    pub layout: PathBuf,
    /// The request file, `-` for stdin.
    pub request: PathBuf,
    /// The folder the `.npy` files go to.
    pub outdir: PathBuf,
    /// The most bytes read from `request` (`--max-request-bytes`).
    pub max_request_bytes: u64,
    /// The most rows (records) a request may have (`--max-rows`).
    pub max_rows: u64,
    /// The most bytes the arrays may take in all (`--max-output-bytes`).
    pub max_output_bytes: u64,
}

/// Runs `scatter`.
pub fn run(args: &ScatterArgs) -> Result<(), CliError> {
    let layout = layout::read(&args.layout)?;
    missing_dirs(&args.outdir)?;
    let cap = Cap {
        bytes: args.max_request_bytes,
        flag: Some("--max-request-bytes"),
    };
    let bytes = limits::read_capped(&args.request, cap, "a request")?;
    let request = decode::decode_request(&bytes)
        .map_err(|e| CliError::file(&args.request, format!("not a valid request: {e}")))?;
    let rows = request.len();
    check_size(&layout, rows, args)?;
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
    output::print(&report).map_err(|e| {
        if e.is_closed_stdout() || files.is_empty() {
            return e;
        }
        // The files are in place: say so, and that only the report is lost.
        CliError::Partial(format!(
            "the {} files were written to {} ({}), but the report could not be printed: {e}",
            files.len(),
            args.outdir.display(),
            files
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

/// Refuses a request of more rows than `--max-rows`, or whose arrays
/// would take more than `--max-output-bytes`, before anything is
/// allocated for it (a request of empty records is a byte or two per row,
/// and each row costs every column of the layout).
fn check_size(layout: &FeatureLayout, rows: usize, args: &ScatterArgs) -> Result<(), CliError> {
    use bprwire::features::FeatureKind as K;
    if rows as u64 > args.max_rows {
        return Err(CliError::file(
            &args.request,
            format!(
                "{rows} rows (records), more than the {} rows scatter takes \
                 (--max-rows; raise it with --max-rows N)",
                args.max_rows
            ),
        ));
    }
    let row_bytes = |n: usize, t: OutputType| (n as u128) * (t.size() as u128);
    let mut per_row: u128 = 0;
    for (ids, kind) in [
        (layout.continuous_ids(), K::Continuous),
        (layout.binary_ids(), K::Binary),
        (layout.discrete_ids(), K::Discrete),
    ] {
        if let Some(t) = layout.output_type(kind) {
            per_row += row_bytes(ids.len(), t);
        }
    }
    for t in layout.tensors() {
        per_row += row_bytes(t.width, t.dtype);
    }
    let total = per_row.saturating_mul(rows as u128);
    if total > u128::from(args.max_output_bytes) {
        return Err(CliError::file(
            &args.request,
            format!(
                "{rows} rows with layout {} make {total} bytes of arrays ({per_row} bytes per row), \
                 more than the {} scatter writes (--max-output-bytes; raise it with --max-output-bytes N)",
                args.layout.display(),
                limits::size(args.max_output_bytes)
            ),
        ));
    }
    Ok(())
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
    let made = make_dirs(dir)?;
    let result = targets(dir, files).and_then(|targets| write_and_rename(files, &targets));
    if result.is_err() {
        made.remove();
    }
    result
}

fn fail(target: &Path, err: io::Error) -> CliError {
    CliError::Output {
        target: target.display().to_string(),
        err,
    }
}

/// The folders of `dir` that do not exist yet, shallowest first (empty
/// when `dir` is a folder). Refused: `dir` or a parent that exists and is
/// not a folder, or that is a dangling symlink (which `mkdir` cannot
/// follow: "File exists").
fn missing_dirs(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let mut missing = Vec::new();
    for p in dir.ancestors().filter(|p| !p.as_os_str().is_empty()) {
        match fs::metadata(p) {
            Ok(m) if m.is_dir() => break,
            Ok(_) if p == dir => return Err(CliError::file(p, "exists and is not a directory")),
            Ok(_) => {
                return Err(CliError::file(
                    p,
                    format!(
                        "is not a directory, so OUTDIR {} cannot be made in it",
                        dir.display()
                    ),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Ok(to) = fs::read_link(p) {
                    return Err(CliError::file(
                        p,
                        format!(
                            "is a dangling symlink: it points to {}, which does not exist \
                             (create that folder, or give another OUTDIR)",
                            to.display()
                        ),
                    ));
                }
                missing.push(p.to_path_buf());
            }
            // A parent that is a file: reported when the loop gets to it.
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => missing.push(p.to_path_buf()),
            Err(e) => return Err(fail(p, e)),
        }
    }
    missing.reverse();
    Ok(missing)
}

/// The folders this run made (OUTDIR and its missing parents), deepest
/// first, registered for removal on a signal until dropped.
struct MadeDirs {
    dirs: Vec<PathBuf>,
    _registered: Option<signals::Registered>,
}

impl MadeDirs {
    /// Removes the folders made, deepest first (each only if empty: a
    /// folder someone else has put a file in meanwhile stays).
    fn remove(self) {
        for d in &self.dirs {
            let _ = fs::remove_dir(d);
        }
    }
}

/// Makes `dir` and its missing parents, with the cleanup signals held
/// back until each one made is registered for removal.
fn make_dirs(dir: &Path) -> Result<MadeDirs, CliError> {
    let missing = missing_dirs(dir)?;
    let _blocked = signals::block();
    let mut made = MadeDirs {
        dirs: Vec::new(),
        _registered: None,
    };
    for d in missing {
        match fs::create_dir(&d) {
            Ok(()) => {
                made.dirs.insert(0, d);
                let list: Vec<&Path> = made.dirs.iter().map(PathBuf::as_path).collect();
                // The new list is registered before the old guard is dropped.
                made._registered = Some(signals::remove_dirs_on_signal(&list));
            }
            // Made by someone else meanwhile: theirs, not removed.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => {}
            Err(e) => {
                made.remove();
                return Err(fail(&d, e));
            }
        }
    }
    Ok(made)
}

/// Where each file goes: its path in `dir`, through a symlink to a regular
/// file (as `encode -o` does). Refused before anything is written: a
/// target that is a folder or not a regular file, or that we may not
/// write, and two targets that are the same file (two symlinks to one
/// file, or hard links), which would leave one output holding another's
/// array.
fn targets(dir: &Path, files: &[NpyFile<'_>]) -> Result<Vec<PathBuf>, CliError> {
    // (device, inode), canonical path and name of each existing target.
    let mut seen: Vec<((u64, u64), PathBuf, PathBuf)> = Vec::new();
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
                    let canonical = fs::canonicalize(&path).map_err(|e| fail(&path, e))?;
                    let id = (m.dev(), m.ino());
                    if let Some((_, to, other)) = seen.iter().find(|(i, c, _)| *i == id || *c == canonical) {
                        let how = if *to == canonical {
                            format!("both lead to {}", canonical.display())
                        } else {
                            format!(
                                "hard links: {} and {} are one file",
                                to.display(),
                                canonical.display()
                            )
                        };
                        return Err(fail(
                            &path,
                            io::Error::other(format!(
                                "it is the same file as {} ({how}): each output needs a file \
                                 of its own, nothing was written",
                                other.display()
                            )),
                        ));
                    }
                    seen.push((id, canonical.clone(), path));
                    Ok(canonical)
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

/// Why `target` cannot be replaced by a file of the owner of `ours` (a
/// temporary file just made beside it), if it is another user's file in a
/// sticky folder that is not ours either: there only the file's owner, the
/// folder's owner or root may rename over it (`EPERM`). Root (uid 0) is
/// let through.
fn sticky_refusal(target: &Path, ours: &fs::Metadata) -> Option<String> {
    let me = ours.uid();
    if me == 0 {
        return None;
    }
    let file = fs::symlink_metadata(target).ok()?;
    let folder = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let d = fs::metadata(folder).ok()?;
    let sticky = d.permissions().mode() & 0o1000 != 0;
    (sticky && file.uid() != me && d.uid() != me).then(|| {
        format!(
            "it belongs to another user (uid {}) in the sticky folder {} (mode {:o}, owner uid {}), \
             where only its owner may replace it; this user is uid {me}. Nothing was replaced",
            file.uid(),
            folder.display(),
            d.permissions().mode() & 0o7777,
            d.uid()
        )
    })
}

/// Each file to a temporary file beside its target, then (when all are
/// written) every rename, with the cleanup signals held back; see the
/// module docs. On failure the temporary files not renamed are removed,
/// and the targets already replaced are put back.
fn write_and_rename(files: &[NpyFile<'_>], targets: &[PathBuf]) -> Result<(), CliError> {
    let mut temps: Vec<PathBuf> = Vec::with_capacity(files.len());
    let mut ours = None;
    let mut registered = None;
    let mut result = Ok(());
    for (f, target) in files.iter().zip(targets) {
        let blocked = signals::block();
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
        drop(blocked);
        let written = (|| {
            if let Ok(meta) = fs::metadata(target) {
                // Keep the mode of the file being replaced.
                file.set_permissions(meta.permissions())?;
            }
            file.write_all(&npy_header(f.dtype, &f.shape))?;
            file.write_all(f.data)?;
            file.sync_all()?;
            file.metadata()
        })();
        match written {
            Ok(meta) => ours = Some(meta),
            Err(e) => {
                result = Err(fail(target, e));
                break;
            }
        }
    }
    let blocked = signals::block();
    if result.is_ok() {
        result = replace_all(files, &temps, targets, ours.as_ref());
    }
    for tmp in &temps {
        // The ones renamed are gone already.
        let _ = fs::remove_file(tmp);
    }
    drop(registered);
    drop(blocked);
    result
}

/// Renames every temporary file over its target, all or none: checked
/// first (see [`sticky_refusal`]), then each existing target kept as a
/// backup, so that a rename that fails anyway puts back the ones done.
fn replace_all(
    files: &[NpyFile<'_>],
    temps: &[PathBuf],
    targets: &[PathBuf],
    ours: Option<&fs::Metadata>,
) -> Result<(), CliError> {
    if let Some(ours) = ours {
        for target in targets {
            if let Some(why) = sticky_refusal(target, ours) {
                return Err(fail(target, io::Error::new(io::ErrorKind::PermissionDenied, why)));
            }
        }
    }
    let mut backups: Vec<Option<PathBuf>> = Vec::with_capacity(targets.len());
    let mut result = Ok(());
    for target in targets {
        match output::backup_beside(target) {
            Ok(b) => backups.push(b),
            Err(e) => {
                result = Err(fail(
                    target,
                    io::Error::new(
                        e.kind(),
                        format!(
                            "cannot keep the previous file to put it back if a later rename \
                             fails ({e}); nothing was replaced"
                        ),
                    ),
                ));
                break;
            }
        }
    }
    let mut renamed = 0;
    if result.is_ok() {
        for (tmp, target) in temps.iter().zip(targets) {
            if let Err(e) = fs::rename(tmp, target) {
                let undone = restore(&files[..renamed], &targets[..renamed], &backups);
                result = Err(fail(target, io::Error::new(e.kind(), format!("{e}; {undone}"))));
                break;
            }
            renamed += 1;
        }
    }
    // The backups are no longer needed (those used to restore are gone).
    let mut left = Vec::new();
    for b in backups.iter().flatten() {
        if let Err(e) = fs::remove_file(b) {
            if e.kind() != io::ErrorKind::NotFound {
                left.push(format!("{} ({e})", b.display()));
            }
        }
    }
    if !left.is_empty() {
        eprintln!(
            "bprwire: warning: could not remove the backup file(s) {}",
            left.join(", ")
        );
    }
    result
}

/// Puts back the targets already replaced (`files` and `targets` are the
/// ones renamed, `backups` every target's backup), last first, and says
/// what came of it.
fn restore(files: &[NpyFile<'_>], targets: &[PathBuf], backups: &[Option<PathBuf>]) -> String {
    if files.is_empty() {
        return "nothing was replaced".into();
    }
    let mut failed = Vec::new();
    for (i, target) in targets.iter().enumerate().rev() {
        let undone = match &backups[i] {
            Some(b) => fs::rename(b, target),
            None => fs::remove_file(target),
        };
        if let Err(e) = undone {
            let kept = backups[i]
                .as_ref()
                .map(|b| format!(", the previous file is {}", b.display()))
                .unwrap_or_default();
            failed.push(format!("{} ({e}{kept})", files[i].name));
        }
    }
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    if failed.is_empty() {
        format!(
            "the {} already replaced ({}) were put back as they were: nothing was replaced",
            if names.len() == 1 { "file" } else { "files" },
            names.join(", ")
        )
    } else {
        format!(
            "{} of {} files were already in place ({}), and could not all be put back: {}",
            names.len(),
            backups.len(),
            names.join(", "),
            failed.join("; ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rename that fails after others succeeded puts the files already
    /// replaced back (here the second target's folder is missing, so its
    /// rename fails): the old file as it was, a new one removed, no
    /// backup left.
    #[test]
    fn a_failed_rename_puts_back_the_files_already_replaced() {
        let dir = std::env::temp_dir().join(format!("bprwire-restore-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("a.npy"), b"old a").unwrap();
        let data = [0u8; 4];
        let file = |name: &str| NpyFile {
            name: name.into(),
            dtype: OutputType::U8,
            shape: [1, 4],
            data: &data,
        };
        let files = [file("a.npy"), file("new.npy"), file("b.npy")];
        let targets = [dir.join("a.npy"), dir.join("new.npy"), dir.join("missing/b.npy")];
        let temps: Vec<PathBuf> = ["ta", "tn", "tb"].iter().map(|t| dir.join(t)).collect();
        for t in &temps {
            fs::write(t, b"new").unwrap();
        }
        let err = replace_all(&files, &temps, &targets, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing/b.npy"), "{err}");
        assert!(
            err.contains("the files already replaced (a.npy, new.npy) were put back as they were"),
            "{err}"
        );
        assert_eq!(fs::read(dir.join("a.npy")).unwrap(), b"old a");
        let mut left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["a.npy", "tb"]);
        // All renames succeed: no backup left either.
        fs::write(dir.join("ta"), b"new a").unwrap();
        let targets = [dir.join("a.npy")];
        replace_all(&files[..1], &[dir.join("ta")], &targets, None).unwrap();
        assert_eq!(fs::read(dir.join("a.npy")).unwrap(), b"new a");
        let left = fs::read_dir(&dir).unwrap().count();
        assert_eq!(left, 2, "a.npy and tb");
        fs::remove_dir_all(&dir).unwrap();
    }

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
