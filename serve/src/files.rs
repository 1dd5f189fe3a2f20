//! Reading the files a configuration names (the configuration itself, the
//! layout, a model's weights, an ONNX file) so that no path can make the
//! server grow without bound or hang: each must be a regular file (not
//! `/dev/zero`, a FIFO, a socket or a folder) of at most its cap, checked
//! on the open descriptor before a byte is read, and read up to the cap
//! plus one byte at most (a file that grows while it is read is refused,
//! not followed). The open itself does not wait (a FIFO swapped in after
//! the check is opened non-blocking and refused as not a regular file).

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The largest configuration file: 1 MiB.
pub const CONFIG_BYTES: u64 = 1 << 20;
/// The largest layout file: 64 MiB (as the CLI's `scatter --layout`).
pub const LAYOUT_BYTES: u64 = 64 << 20;
/// The largest `.npy` file of a built-in model's weights or bias: 1 GiB.
pub const NPY_BYTES: u64 = 1 << 30;
/// The largest ONNX file: 2 GiB (protobuf's own limit on a message).
pub const ONNX_BYTES: u64 = 2 << 30;
/// A version's warmup file of requests: 64 MiB.
pub const WARMUP_BYTES: u64 = 64 << 20;
/// A shared library to load: 1 GiB.
pub const LIBRARY_BYTES: u64 = 1 << 30;

/// `n` bytes, with a binary unit when it is a round number of one.
pub fn size(n: u64) -> String {
    let unit = [(30, "GiB"), (20, "MiB"), (10, "KiB")]
        .into_iter()
        .find(|&(shift, _)| n >= 1 << shift && n.is_multiple_of(1 << shift));
    match unit {
        Some((shift, name)) => format!("{n} bytes ({} {name})", n >> shift),
        None => format!("{n} bytes"),
    }
}

/// Opens `path` without waiting and checks it is a regular file of at
/// most `cap` bytes; returns it and its length.
///
/// # Errors
///
/// A message naming the path: it cannot be opened, is not a regular file
/// (and what it is), or is larger than `cap`.
pub fn open_regular(path: &Path, cap: u64) -> Result<(File, u64), String> {
    let shown = path.display();
    // O_NONBLOCK: opening a FIFO for reading would wait for a writer.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "{shown} is {}, not a regular file: give a file of at most {}",
            kind(&meta.file_type()),
            size(cap)
        ));
    }
    if meta.len() > cap {
        return Err(format!(
            "{shown} is {} bytes, over the limit of {}",
            meta.len(),
            size(cap)
        ));
    }
    Ok((file, meta.len()))
}

/// The whole of `path`, a regular file of at most `cap` bytes.
///
/// # Errors
///
/// As [`open_regular`]; or the file could not be read, or grew past `cap`
/// while it was read.
pub fn read_regular(path: &Path, cap: u64) -> Result<Vec<u8>, String> {
    let (file, len) = open_regular(path, cap)?;
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > cap {
        return Err(format!(
            "{} grew past the limit of {} while it was read",
            path.display(),
            size(cap)
        ));
    }
    Ok(bytes)
}

/// Checks that `path` is a regular file of at most `cap` bytes, for a
/// file another library opens by name (an ONNX model, a shared library).
///
/// # Errors
///
/// As [`open_regular`].
pub fn check_regular(path: &Path, cap: u64) -> Result<(), String> {
    open_regular(path, cap).map(|_| ())
}

/// Linux's `O_NONBLOCK` (the same value on every architecture bprwire
/// builds for: x86_64 and aarch64).
const O_NONBLOCK: i32 = 0o4000;

fn kind(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a folder"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_and_folders_are_refused_before_a_byte_is_read() {
        let e = read_regular(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(
            e.contains("/dev/zero is a character device, not a regular file"),
            "{e}"
        );
        let e = read_regular(Path::new("/"), 1 << 20).unwrap_err();
        assert!(e.contains("is a folder"), "{e}");
        let dir = std::env::temp_dir().join(format!("bprwire-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        let _ = std::fs::remove_file(&fifo);
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        // Would wait forever for a writer if the open blocked.
        let e = read_regular(&fifo, 1 << 20).unwrap_err();
        assert!(e.contains("is a FIFO"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_over_its_cap_is_refused_by_its_length_and_one_within_is_read() {
        let dir = std::env::temp_dir().join(format!("bprwire-files-cap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("f");
        std::fs::write(&f, [7u8; 100]).unwrap();
        let e = read_regular(&f, 99).unwrap_err();
        assert!(e.contains("is 100 bytes, over the limit of 99 bytes"), "{e}");
        assert_eq!(read_regular(&f, 100).unwrap(), vec![7u8; 100]);
        assert_eq!(size(64 << 20), "67108864 bytes (64 MiB)");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
