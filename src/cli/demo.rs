//! `bprwire demo`: encodes a fixed example batch, so the tool can be tried
//! (and its output fed to a decoder) without preparing any `.npy` file.
//! Everything is computed from indices: the output is the same on every
//! run and every machine.

use std::fmt::Write as _;
use std::path::Path;

use bprwire::{BatchPrediction, Tensor};

use super::error::CliError;
use super::output;

/// Rows in the demo batch.
pub const BATCH: usize = 4;
/// Continuous prediction keys (one column each).
pub const CONTINUOUS_KEYS: [i64; 3] = [1, 2, 3];
/// Dense tensor keys: embedding, ids, labels.
pub const DENSE_KEYS: [i64; 3] = [100, 101, 102];

/// Runs `demo`, writing to `path` (`-` for stdout, then the report goes to
/// stderr so it does not mix with the data).
pub fn run(path: &Path) -> Result<(), CliError> {
    let n = CONTINUOUS_KEYS.len();
    let scores: Vec<f32> = (0..BATCH * n).map(|x| (x + 1) as f32 / 16.0).collect();
    let embedding: Vec<f32> = (0..BATCH * 8).map(|x| (x as f32 - 16.0) / 8.0).collect();
    let ids: Vec<i64> = (0..BATCH * 2)
        .map(|x| 1000 * (x as i64 / 2 + 1) + x as i64 % 2)
        .collect();
    let labels: Vec<String> = (0..BATCH * 2)
        .map(|x| format!("row{}-{}", x / 2, ["a", "b"][x % 2]))
        .collect();
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();

    let tensors = [
        Tensor::new(&embedding, &[BATCH, 8]),
        Tensor::new(&ids, &[BATCH, 2]),
        Tensor::new(&labels, &[BATCH, 2]),
    ];
    let encoder = BatchPrediction::new()
        .continuous(&CONTINUOUS_KEYS, &scores, &[BATCH, n])
        .dense(&DENSE_KEYS, &tensors)
        .encoder()
        .map_err(|err| CliError::Encode {
            err,
            context: Some("the built-in demo batch".into()),
        })?;
    let bytes = encoder.encode_to_vec();
    output::write(path, &bytes)?;

    let mut report = String::new();
    let shown = if output::is_stdout(path) {
        "stdout".to_string()
    } else {
        path.display().to_string()
    };
    let _ = writeln!(
        report,
        "bprwire demo: wrote {} records, {} bytes to {shown}",
        encoder.batch_size(),
        bytes.len()
    );
    let _ = writeln!(
        report,
        "  continuous keys {CONTINUOUS_KEYS:?}: float32 values [{BATCH}, {n}]"
    );
    let _ = writeln!(
        report,
        "  dense key {}: float32 embedding [{BATCH}, 8]",
        DENSE_KEYS[0]
    );
    let _ = writeln!(report, "  dense key {}: int64 ids [{BATCH}, 2]", DENSE_KEYS[1]);
    let _ = writeln!(
        report,
        "  dense key {}: string labels [{BATCH}, 2]",
        DENSE_KEYS[2]
    );
    let head = &bytes[..bytes.len().min(64)];
    let _ = writeln!(report, "first {} bytes:", head.len());
    report.push_str(&hex_dump(head));
    if output::is_stdout(path) {
        eprint!("{report}");
    } else {
        print!("{report}");
    }
    Ok(())
}

/// 16 bytes a line, each line starting with its offset in hex.
pub fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (line, chunk) in bytes.chunks(16).enumerate() {
        let _ = write!(out, "{:08x} ", line * 16);
        for b in chunk {
            let _ = write!(out, " {b:02x}");
        }
        out.push('\n');
    }
    out
}
