//! Where encoded bytes go: a file, or stdout for `-o -`.

use std::io::Write;
use std::path::Path;

use super::error::CliError;

/// True when `path` means stdout.
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Writes `bytes` to `path` (stdout for `-`). Returns the path when a file
/// was written, so the caller can report it; `None` for stdout, where a
/// report would mix with the data a pipe expects.
pub fn write<'p>(path: &'p Path, bytes: &[u8]) -> Result<Option<&'p Path>, CliError> {
    if is_stdout(path) {
        let mut out = std::io::stdout().lock();
        out.write_all(bytes)
            .and_then(|()| out.flush())
            .map_err(|err| CliError::Output {
                target: "stdout".into(),
                err,
            })?;
        Ok(None)
    } else {
        std::fs::write(path, bytes).map_err(|err| CliError::Output {
            target: path.display().to_string(),
            err,
        })?;
        Ok(Some(path))
    }
}
