//! The CLI's one error type. Every message says which file (or which
//! output) it is about, so a user with many `--tensor` files can tell which
//! one is wrong; `main` prints it and exits with status 1.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Why a command failed (usage errors are clap's and never get here).
#[derive(Debug)]
pub enum CliError {
    /// An input file that cannot be read or is not what its flag takes.
    File {
        /// The path as the user gave it.
        path: PathBuf,
        /// What is wrong with it.
        msg: String,
    },
    /// The library refused the inputs; `context` names the files involved
    /// when the error points at one input.
    Encode {
        /// The library's error, printed with its own Display text.
        err: bprwire::Error,
        /// e.g. "values V.npy", "dense tensor file T2.npy".
        context: Option<String>,
    },
    /// A request that parses but cannot be met (e.g. an unknown workload).
    Usage(String),
    /// A self-check failed (the demo's round trip): a bug, reported.
    Check(String),
    /// The work was done (the message says what), but a last step failed:
    /// e.g. `scatter`'s files are in place and only its report could not
    /// be printed.
    Partial(String),
    /// Writing the output failed.
    Output {
        /// The output path, or "stdout".
        target: String,
        /// The I/O error.
        err: io::Error,
    },
}

impl CliError {
    /// Writing stdout failed.
    pub fn stdout(err: io::Error) -> Self {
        CliError::Output {
            target: "stdout".into(),
            err,
        }
    }

    /// Whether the reader of stdout went away (`| head`): the program then
    /// ends quietly with status 0, as `cat` and `grep` do.
    pub fn is_closed_stdout(&self) -> bool {
        matches!(self, CliError::Output { target, err }
            if target == "stdout" && err.kind() == io::ErrorKind::BrokenPipe)
    }

    /// An error about input file `path`.
    pub fn file(path: &Path, msg: impl Into<String>) -> Self {
        CliError::File {
            path: path.to_path_buf(),
            msg: msg.into(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::File { path, msg } => write!(f, "{}: {msg}", path.display()),
            CliError::Encode {
                err,
                context: Some(ctx),
            } => write!(f, "{err} ({ctx})"),
            CliError::Encode { err, context: None } => write!(f, "{err}"),
            CliError::Usage(msg) | CliError::Check(msg) | CliError::Partial(msg) => f.write_str(msg),
            CliError::Output { target, err } => write!(f, "cannot write {target}: {err}"),
        }
    }
}

impl std::error::Error for CliError {}
