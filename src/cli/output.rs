//! Where encoded bytes go: a file, or stdout for `-o -`, always streamed.
//!
//! A regular file (or a path that does not exist yet) is never written in
//! place: the bytes go to a temporary file in the same folder, which is
//! flushed to disk and renamed over the target only when every byte is
//! there. On any failure (a full disk, a file-size limit, a writer error, a
//! SIGINT, SIGTERM or SIGHUP) the temporary file is removed and the old
//! output is left as it was. A target that is not a regular file (`-`, a
//! pipe, `/dev/null`, a device) is written directly: renaming over it
//! would replace it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::error::CliError;
use super::signals;

/// True when `path` means stdout.
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Writes to `path` (stdout for `-`) whatever `write` writes, and returns
/// the path when a file was written, so the caller can report it (`None`
/// for stdout, where a report would mix with the data a pipe expects).
///
/// `write` gets a writer that needs no more buffering (the encoder's sinks
/// stage their own writes).
pub fn write_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<Option<&Path>, CliError> {
    if is_stdout(path) {
        let mut out = io::stdout().lock();
        write(&mut out)
            .and_then(|()| out.flush())
            .map_err(CliError::stdout)?;
        return Ok(None);
    }
    let fail = |err| CliError::Output {
        target: path.display().to_string(),
        err,
    };
    match fs::metadata(path) {
        // A pipe, a device: written directly, never renamed over.
        Ok(meta) if !meta.is_file() => {
            let mut file = OpenOptions::new().write(true).open(path).map_err(fail)?;
            write(&mut file).and_then(|()| file.flush()).map_err(fail)?;
        }
        // A regular file (through any symlinks), or nothing yet.
        Ok(_) => replace(&fs::canonicalize(path).map_err(fail)?, write).map_err(fail)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => replace(path, write).map_err(fail)?,
        Err(e) => return Err(fail(e)),
    }
    Ok(Some(path))
}

/// Writes through a temporary file beside `target` and renames it over
/// `target` once every byte is written and synced; on failure removes it.
fn replace(target: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    if target.exists() {
        // A file we may not write stays refused, as writing it in place
        // would be (renaming over it needs only the folder's permission).
        OpenOptions::new().write(true).open(target)?;
    }
    let (tmp, mut file) = temporary_beside(target)?;
    // Removed by the signal handler too, if SIGINT/SIGTERM/SIGHUP ends the
    // process before the rename.
    let _registered = signals::remove_on_signal(&tmp);
    let result = (|| {
        if let Ok(meta) = fs::metadata(target) {
            // Keep the mode of the file being replaced.
            file.set_permissions(meta.permissions())?;
        }
        write(&mut file)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, target)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// A new file `.NAME.bprwire-PID-N.tmp` in `target`'s folder (also used
/// by `scatter`, for each of its files).
pub fn temporary_beside(target: &Path) -> io::Result<(PathBuf, File)> {
    loop {
        let tmp = name_beside(target, "tmp");
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Keeps what is at `target` under a new name `.NAME.bprwire-PID-N.bak`
/// beside it, so that it can be renamed back if `target` is replaced and
/// must then be put back (`scatter`'s all-or-none): a hard link (the file
/// itself, owner and mode included), or, where none can be made, a copy.
/// `None` when there is nothing at `target`.
pub fn backup_beside(target: &Path) -> io::Result<Option<PathBuf>> {
    let meta = match fs::symlink_metadata(target) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    loop {
        let bak = name_beside(target, "bak");
        match fs::hard_link(target, &bak) {
            Ok(()) => return Ok(Some(bak)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(_) if meta.is_file() => break,
            Err(e) => return Err(e),
        }
    }
    let (bak, mut copy) = loop {
        let bak = name_beside(target, "bak");
        match OpenOptions::new().write(true).create_new(true).open(&bak) {
            Ok(file) => break (bak, file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    };
    let copied = (|| {
        copy.set_permissions(meta.permissions())?;
        io::copy(&mut File::open(target)?, &mut copy)?;
        copy.sync_all()
    })();
    match copied {
        Ok(()) => Ok(Some(bak)),
        Err(e) => {
            let _ = fs::remove_file(&bak);
            Err(e)
        }
    }
}

/// `.NAME.bprwire-PID-N.EXT` in `target`'s folder, N new on every call.
fn name_beside(target: &Path, ext: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = target.file_name().map_or("out".into(), |n| n.to_string_lossy());
    let n = N.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{name}.bprwire-{}-{n}.{ext}", std::process::id()))
}

/// Writes `text` to stdout (reports, JSON lines), as an error naming stdout.
pub fn print(text: &str) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(CliError::stdout)
}

/// Writes one line to stdout, as an error naming stdout.
pub fn println(args: std::fmt::Arguments<'_>) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(CliError::stdout)
}
