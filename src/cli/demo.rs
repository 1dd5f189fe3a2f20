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
    output::write_with(path, |w| w.write_all(&bytes))?;

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
    let inputs = Inputs {
        scores: &scores,
        embedding: &embedding,
        ids: &ids,
        labels: &labels,
    };
    round_trip(&bytes, &inputs, &mut report).map_err(CliError::Check)?;
    if !output::is_stdout(path) {
        let _ = writeln!(report, "all of it as JSON: bprwire inspect {shown}");
    }
    if output::is_stdout(path) {
        eprint!("{report}");
    } else {
        output::print(&report)?;
    }
    Ok(())
}

/// The demo's inputs, to compare the decoded response with.
struct Inputs<'a> {
    scores: &'a [f32],
    embedding: &'a [f32],
    ids: &'a [i64],
    labels: &'a [&'a str],
}

/// Decodes what was written with bprwire's decoder, checks every value
/// against the inputs and that re-encoding gives the same bytes, and adds
/// what it saw to the report. A mismatch is an error (a bug).
fn round_trip(bytes: &[u8], inputs: &Inputs<'_>, report: &mut String) -> Result<(), String> {
    use bprwire::decode::{self, GeneralTensor};
    let fail = |what: String| format!("demo round trip failed: {what}");
    let resp = decode::decode_response(bytes).map_err(|e| fail(e.to_string()))?;
    if resp.len() != BATCH {
        return Err(fail(format!("{} records decoded, {BATCH} written", resp.len())));
    }
    let n = CONTINUOUS_KEYS.len();
    let mut first = String::new();
    for (row, rec) in resp.records().enumerate() {
        let cont: Vec<(i64, f64)> = rec
            .continuous_features
            .map(|m| m.iter().collect())
            .unwrap_or_default();
        let want: Vec<(i64, f64)> = CONTINUOUS_KEYS
            .iter()
            .zip(&inputs.scores[row * n..][..n])
            .map(|(&k, &v)| (k, f64::from(v)))
            .collect();
        if cont != want {
            return Err(fail(format!(
                "record {row}: continuous {cont:?}, expected {want:?}"
            )));
        }
        let tensors: Vec<(i64, GeneralTensor<'_>)> =
            rec.tensors.map(|m| m.iter().collect()).unwrap_or_default();
        let ok = match tensors.as_slice() {
            [(100, GeneralTensor::Raw(e)), (101, GeneralTensor::Raw(i)), (102, GeneralTensor::String(l))] => {
                e.content == bytemuck::cast_slice::<f32, u8>(&inputs.embedding[row * 8..][..8])
                    && i.content == bytemuck::cast_slice::<i64, u8>(&inputs.ids[row * 2..][..2])
                    && l.values.iter().eq(inputs.labels[row * 2..][..2].iter().copied())
            }
            _ => false,
        };
        if !ok {
            return Err(fail(format!("record {row}: tensors {tensors:?}")));
        }
        if row == 0 {
            let _ = write!(first, "  record 0: continuousFeatures {{");
            for (i, (k, v)) in cont.iter().enumerate() {
                let _ = write!(first, "{}{k}: {v}", if i > 0 { ", " } else { "" });
            }
            let _ = write!(first, "}}, tensors {{");
            for (i, (k, t)) in tensors.iter().enumerate() {
                let shape: Vec<i64> = t.shape().map(|s| s.iter().collect()).unwrap_or_default();
                let dtype = match t {
                    GeneralTensor::Raw(r) => r.dtype().map_or(String::new(), |d| format!(" {d}")),
                    _ => String::new(),
                };
                let _ = write!(
                    first,
                    "{}{k}: {}{dtype} {shape:?}",
                    if i > 0 { ", " } else { "" },
                    t.arm_name()
                );
            }
            let _ = writeln!(first, "}}");
        }
    }
    if resp.reencode() != bytes {
        return Err(fail("re-encoding the decoded views gave other bytes".into()));
    }
    let _ = writeln!(
        report,
        "decoded back with bprwire::decode: {} records, every value equal to the inputs, \
         re-encoded to the same {} bytes",
        resp.len(),
        bytes.len()
    );
    report.push_str(&first);
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
