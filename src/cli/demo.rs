//! `bprwire demo`: encodes a fixed example batch, so the tool can be tried
//! (and its output fed to a decoder) without preparing any `.npy` file.
//! Then it runs the whole serving loop in memory (`serving_loop`): a
//! built-in request is scattered into dense inputs, a small scoring
//! function stands in for the model, and the response is encoded and
//! decoded back. Everything is computed from fixed values with IEEE
//! arithmetic only (no `exp`, whose last bit may vary between libms): the
//! output is the same on every run and every machine.

use std::fmt::Write as _;
use std::path::Path;

use bprwire::features::{Buffers, FeatureLayout, OutputType, Rows};
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
    serving_loop(&mut report).map_err(CliError::Check)?;
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

/// The serving loop's request: rows of the client's layout (continuous ids
/// 11-14, NaN where a feature is absent; binary 21, 22; tensor 31 of 4
/// floats), and the common row that becomes `commonFeatures`.
pub mod request {
    /// Records in the request.
    pub const ROWS: usize = 3;
    /// The client's continuous ids: the model reads 11-13, not 14.
    pub const CONTINUOUS_IDS: [i64; 4] = [11, 12, 13, 14];
    /// Binary ids.
    pub const BINARY_IDS: [i64; 2] = [21, 22];
    /// The tensor feature's id.
    pub const TENSOR_ID: i64 = 31;
    /// The tensor's width.
    pub const TENSOR_WIDTH: usize = 4;
    const NAN: f32 = f32::NAN;
    /// Continuous rows; 12 is 0.25 in every row, as in the common row.
    pub const CONTINUOUS: [f32; 12] = [
        0.5, 0.25, NAN, 3.0, //
        1.5, 0.25, -1.0, NAN, //
        NAN, 0.25, 2.0, 7.0,
    ];
    /// The common continuous row.
    pub const COMMON_CONTINUOUS: [f32; 4] = [NAN, 0.25, NAN, NAN];
    /// Binary rows: 21 in every row, as in the common row.
    pub const BINARY: [f32; 6] = [1.0, 0.0, 1.0, 1.0, 1.0, 0.0];
    /// The common binary row.
    pub const COMMON_BINARY: [f32; 2] = [1.0, 0.0];
    /// Tensor rows (row 1 is zeros, so it is left out of its record).
    pub const TENSOR: [f32; 12] = [
        0.5, -0.5, 0.25, 0.0, //
        0.0, 0.0, 0.0, 0.0, //
        1.0, 1.0, -1.0, 0.5,
    ];
    /// The common tensor row.
    pub const COMMON_TENSOR: [f32; 4] = [0.0; 4];
}

/// The stand-in model's weights, per input column of the model's layout
/// (continuous 11-13, binary 21-22, tensor 31), and its bias.
pub const WEIGHTS: [f32; 9] = [0.5, -1.0, 0.25, 0.75, -0.5, 0.25, 0.25, -0.5, 1.0];
/// The stand-in model's bias.
pub const BIAS: f32 = -0.125;
/// The response key of the score.
pub const SCORE_KEY: i64 = 1;

/// The stand-in model: `z = w . x + b` over one row of inputs (a NaN, an
/// absent continuous feature, counts as 0), squashed into (0, 1) by
/// `0.5 + 0.5 z / (1 + |z|)`: a sigmoid's shape with IEEE operations only.
pub fn score(inputs: &[f32]) -> f32 {
    let z = inputs
        .iter()
        .zip(WEIGHTS)
        .fold(BIAS, |z, (&x, w)| if x.is_nan() { z } else { z + w * x });
    0.5 + 0.5 * z / (1.0 + z.abs())
}

/// The serving loop, in memory: a client writes a request from its rows
/// with its layout; the server decodes it and scatters it with the model's
/// layout (which lacks continuous id 14: skipped), the model scores each
/// row, the scores are encoded as a response and decoded back. Every step
/// is checked and reported; a mismatch is an error (a bug).
fn serving_loop(report: &mut String) -> Result<(), String> {
    let _ = writeln!(
        report,
        "serving loop: request -> dense inputs -> model -> response"
    );
    let request = client_request(report)?;
    let (cont, bin, emb) = scatter_request(report, &request)?;
    let scores = model_scores(report, &cont, &bin, &emb);
    respond(report, &scores)
}

/// What a failed step of the serving loop says.
fn fail(what: String) -> String {
    format!("demo serving loop failed: {what}")
}

/// Step 1: a client writes a request from its rows.
fn client_request(report: &mut String) -> Result<Vec<u8>, String> {
    use request as q;
    let client = FeatureLayout::builder()
        .continuous(&q::CONTINUOUS_IDS, OutputType::F32, f64::NAN)
        .binary(&q::BINARY_IDS, OutputType::F32)
        .tensor(q::TENSOR_ID, q::TENSOR_WIDTH, OutputType::F32)
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let rows = Rows::new(q::ROWS)
        .continuous(&q::CONTINUOUS[..])
        .binary(&q::BINARY[..])
        .tensor(q::TENSOR_ID, &q::TENSOR[..]);
    let common = Rows::new(1)
        .continuous(&q::COMMON_CONTINUOUS[..])
        .binary(&q::COMMON_BINARY[..])
        .tensor(q::TENSOR_ID, &q::COMMON_TENSOR[..]);
    let request = client
        .write_request(&rows, Some(&common))
        .map_err(|e| fail(e.to_string()))?
        .encode_to_vec();
    let _ = writeln!(
        report,
        "  1. request: a client wrote {} records + commonFeatures (FeatureLayout::write_request): {} bytes",
        q::ROWS,
        request.len()
    );
    let _ = writeln!(
        report,
        "     client layout: continuous {:?}, binary {:?}, tensor {} [{}]",
        q::CONTINUOUS_IDS,
        q::BINARY_IDS,
        q::TENSOR_ID,
        q::TENSOR_WIDTH
    );

    Ok(request)
}

/// Step 2: the server decodes the request and scatters it into the
/// model's layout; the dense inputs are the client's rows, bit for bit.
#[allow(clippy::type_complexity)]
fn scatter_request(report: &mut String, bytes: &[u8]) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>), String> {
    use request as q;
    let model_ids = &q::CONTINUOUS_IDS[..3];
    let model = FeatureLayout::builder()
        .continuous(model_ids, OutputType::F32, f64::NAN)
        .binary(&q::BINARY_IDS, OutputType::F32)
        .tensor(q::TENSOR_ID, q::TENSOR_WIDTH, OutputType::F32)
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let decoded = bprwire::decode::decode_request(bytes).map_err(|e| fail(e.to_string()))?;
    let mut buffers = Buffers::new(&model, q::ROWS).map_err(|e| fail(e.to_string()))?;
    let done = model
        .scatter(&decoded, &mut buffers.outputs())
        .map_err(|e| fail(e.to_string()))?;
    let f32s = |a: Option<&bprwire::features::Array>| a.and_then(|a| a.as_f32()).map(<[f32]>::to_vec);
    let (Some(cont), Some(bin), Some(emb)) = (
        f32s(buffers.continuous()),
        f32s(buffers.binary()),
        f32s(buffers.tensor(q::TENSOR_ID)),
    ) else {
        return Err(fail("the buffers lack an array of the layout".into()));
    };
    let _ = writeln!(
        report,
        "  2. decoded (decode_request) and scattered (FeatureLayout::scatter) into the model's layout:\n     \
         continuous {model_ids:?} float32 (absent: NaN), binary {:?} float32, tensor {} float32 [{}]",
        q::BINARY_IDS,
        q::TENSOR_ID,
        q::TENSOR_WIDTH
    );
    let s = done.skipped;
    let _ = writeln!(
        report,
        "     {} rows; skipped {} (continuous {}, binary {}, discrete {}, tensors {}): id 14 is not in the model's layout",
        done.rows,
        s.total(),
        s.continuous,
        s.binary,
        s.discrete,
        s.tensors
    );
    // The dense inputs are the client's rows, bit for bit (NaN included).
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let want: Vec<f32> = q::CONTINUOUS.chunks(4).flat_map(|r| r[..3].to_vec()).collect();
    if done.rows != q::ROWS
        || s.continuous != 2
        || s.total() != 2
        || bits(&cont) != bits(&want)
        || bits(&bin) != bits(&q::BINARY)
        || bits(&emb) != bits(&q::TENSOR)
    {
        return Err(fail(format!(
            "scattered {done:?}: continuous {cont:?}, binary {bin:?}, tensor {emb:?}"
        )));
    }
    Ok((cont, bin, emb))
}

/// Step 3: the stand-in model scores each row.
fn model_scores(report: &mut String, cont: &[f32], bin: &[f32], emb: &[f32]) -> Vec<f32> {
    use request as q;
    let mut scores = Vec::with_capacity(q::ROWS);
    for r in 0..q::ROWS {
        let inputs: Vec<f32> = [&cont[r * 3..][..3], &bin[r * 2..][..2], &emb[r * 4..][..4]].concat();
        let _ = writeln!(
            report,
            "     row {r}: continuous {:?}, binary {:?}, tensor {:?}",
            &inputs[..3],
            &inputs[3..5],
            &inputs[5..]
        );
        scores.push(score(&inputs));
    }
    let _ = writeln!(
        report,
        "  3. model (stand-in): score = 0.5 + 0.5 z / (1 + |z|), z = w . x + b (NaN counted as 0),\n     \
         w = {WEIGHTS:?}, b = {BIAS:?}"
    );
    let _ = writeln!(report, "     scores {scores:?}");

    scores
}

/// Steps 4 and 5: the scores into a response, decoded back.
fn respond(report: &mut String, scores: &[f32]) -> Result<(), String> {
    use request as q;
    let response = BatchPrediction::new()
        .continuous(&[SCORE_KEY], scores, &[q::ROWS])
        .encode_to_vec()
        .map_err(|e| fail(e.to_string()))?;
    let _ = writeln!(
        report,
        "  4. response: continuousFeatures {{{SCORE_KEY}: score}} per record (BatchPrediction): {} bytes",
        response.len()
    );
    let resp = bprwire::decode::decode_response(&response).map_err(|e| fail(e.to_string()))?;
    let back: Vec<Vec<(i64, f64)>> = resp
        .records()
        .map(|r| {
            r.continuous_features
                .map(|m| m.iter().collect())
                .unwrap_or_default()
        })
        .collect();
    let want: Vec<Vec<(i64, f64)>> = scores.iter().map(|&x| vec![(SCORE_KEY, f64::from(x))]).collect();
    if back != want {
        return Err(fail(format!("decoded {back:?}, encoded {want:?}")));
    }
    let _ = writeln!(
        report,
        "  5. decoded back (decode_response): {} records, the same {} scores bit for bit",
        resp.len(),
        scores.len()
    );
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
