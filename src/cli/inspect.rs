//! `bprwire inspect`: decodes a response (or a service reply, or with
//! `--request` a `BatchPredictionRequest`) from a file and prints it as
//! JSON: in full, one line per record, or as a summary of counts and sizes
//! for files too big to print.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bprwire::decode::{self, GeneralTensor, List, Record, Request, Response, SparseTensor, TypedTensor};
use bprwire::service::{self, MessageType, Reply};
use bprwire::DataType;

use super::error::CliError;
use super::json;
use super::limits::{self, Cap};

/// What `inspect` was asked to do.
pub struct InspectArgs {
    /// Input file, `-` for stdin.
    pub file: PathBuf,
    /// The input is a message with the framed transport's length prefix
    /// (implies `envelope`).
    pub framed: bool,
    /// The input is a `getBatchPrediction` reply message.
    pub envelope: bool,
    /// Counts and sizes only.
    pub summary: bool,
    /// The input is a `BatchPredictionRequest` (not with `envelope`).
    pub request: bool,
    /// The most bytes read from `file` (`--max-input-bytes`).
    pub max_bytes: u64,
}

/// Runs `inspect`.
pub fn run(args: &InspectArgs) -> Result<(), CliError> {
    let cap = Cap {
        bytes: args.max_bytes,
        flag: Some("--max-input-bytes"),
    };
    let what = if args.request {
        "a request"
    } else if args.envelope || args.framed {
        "a reply"
    } else {
        "a response"
    };
    let bytes = limits::read_capped(&args.file, cap, what)?;
    let envelope = args.envelope || args.framed;
    let out = io::stdout().lock();
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    let written = if args.request {
        let req = decode::decode_request(&bytes)
            .map_err(|e| CliError::file(&args.file, format!("not a valid request: {e}")))?;
        write_request(&mut out, &req, bytes.len(), args.summary)
    } else if envelope {
        let msg = service::decode_reply(&bytes, args.framed).map_err(|e| bad(&args.file, &e, args.framed))?;
        write_message(&mut out, &msg, bytes.len(), args)
    } else {
        let resp = decode::decode_response(&bytes).map_err(|e| bad(&args.file, &e, false))?;
        write_top(&mut out, &resp, bytes.len(), None, args.summary)
    };
    written
        .and_then(|()| out.flush())
        .map_err(|err| CliError::Output {
            target: "stdout".into(),
            err,
        })
}

fn bad(path: &Path, e: &decode::DecodeError, framed: bool) -> CliError {
    let what = if framed { "framed reply" } else { "input" };
    CliError::file(path, format!("not a valid {what}: {e}"))
}

fn write_message(
    w: &mut dyn Write,
    msg: &service::Message<'_>,
    len: usize,
    args: &InspectArgs,
) -> io::Result<()> {
    let kind = match msg.message_type {
        MessageType::Reply => "REPLY",
        MessageType::Exception => "EXCEPTION",
        MessageType::Call => "CALL",
        MessageType::Oneway => "ONEWAY",
    };
    let head = format!(
        "{{\"type\": \"{kind}\", \"method\": \"{}\", \"seqid\": {}, \"framed\": {}}}",
        service::METHOD,
        msg.seqid,
        args.framed
    );
    match msg.body {
        Reply::Success(resp) => write_top(w, &resp, len, Some(&head), args.summary),
        Reply::ServiceException { description } => {
            write!(
                w,
                "{{\"bytes\": {len}, \"message\": {head}, \"predictionServiceException\": {{"
            )?;
            if let Some(d) = description {
                w.write_all(b"\"description\": ")?;
                json::string(w, d)?;
            }
            w.write_all(b"}}\n")
        }
        Reply::ApplicationException { message, kind } => {
            write!(
                w,
                "{{\"bytes\": {len}, \"message\": {head}, \"applicationException\": {{"
            )?;
            let mut sep = "";
            if let Some(m) = message {
                w.write_all(b"\"message\": ")?;
                json::string(w, m)?;
                sep = ", ";
            }
            if let Some(k) = kind {
                write!(w, "{sep}\"type\": {k}")?;
            }
            w.write_all(b"}}\n")
        }
    }
}

fn write_top(
    w: &mut dyn Write,
    resp: &Response<'_>,
    len: usize,
    message: Option<&str>,
    summary: bool,
) -> io::Result<()> {
    write!(
        w,
        "{{\"bytes\": {len}, \"records\": {}, \"skipped_fields\": {}",
        resp.len(),
        resp.skipped_fields()
    )?;
    if let Some(m) = message {
        write!(w, ", \"message\": {m}")?;
    }
    if summary {
        w.write_all(b", ")?;
        write_summary(w, resp.records())?;
        return w.write_all(b"}\n");
    }
    w.write_all(b", \"predictions\": [")?;
    for (i, rec) in resp.records().enumerate() {
        w.write_all(if i == 0 { b"\n  " } else { b",\n  " })?;
        write_record(w, &rec)?;
    }
    w.write_all(if resp.is_empty() { b"]}\n" } else { b"\n]}\n" })
}

/// A request: the top line (`"common"` says whether `commonFeatures`
/// follow), one line per record of `individualFeaturesList`, then the
/// `commonFeatures` record on a line of its own that starts with its name.
/// `--summary`: counts and sizes of the records, and of `commonFeatures`
/// apart.
fn write_request(w: &mut dyn Write, req: &Request<'_>, len: usize, summary: bool) -> io::Result<()> {
    let common = req.common_features();
    write!(
        w,
        "{{\"bytes\": {len}, \"records\": {}, \"common\": {}, \"skipped_fields\": {}",
        req.len(),
        common.is_some(),
        req.skipped_fields()
    )?;
    if summary {
        w.write_all(b", ")?;
        write_summary(w, req.records())?;
        if let Some(c) = common {
            w.write_all(b", \"commonFeatures\": {")?;
            write_summary(w, std::iter::once(c))?;
            w.write_all(b"}")?;
        }
        return w.write_all(b"}\n");
    }
    w.write_all(b", \"individualFeaturesList\": [")?;
    for (i, rec) in req.records().enumerate() {
        w.write_all(if i == 0 { b"\n  " } else { b",\n  " })?;
        write_record(w, &rec)?;
    }
    w.write_all(if req.is_empty() { b"]" } else { b"\n]" })?;
    if let Some(c) = common {
        w.write_all(b",\n\"commonFeatures\": ")?;
        write_record(w, &c)?;
    }
    w.write_all(b"}\n")
}

fn write_record(w: &mut dyn Write, r: &Record<'_>) -> io::Result<()> {
    w.write_all(b"{")?;
    let mut sep = "";
    let mut field = |w: &mut dyn Write, name: &str| -> io::Result<()> {
        write!(w, "{sep}\"{name}\": ")?;
        sep = ", ";
        Ok(())
    };
    if let Some(s) = r.binary_features {
        field(w, "binaryFeatures")?;
        json::array(w, s.iter(), |w, x| write!(w, "{x}"))?;
    }
    if let Some(m) = r.continuous_features {
        field(w, "continuousFeatures")?;
        json::int_object(w, m.iter(), json::double)?;
    }
    if let Some(m) = r.discrete_features {
        field(w, "discreteFeatures")?;
        json::int_object(w, m.iter(), |w, v| write!(w, "{v}"))?;
    }
    if let Some(m) = r.string_features {
        field(w, "stringFeatures")?;
        json::int_object(w, m.iter(), json::string)?;
    }
    if let Some(m) = r.sparse_binary_features {
        field(w, "sparseBinaryFeatures")?;
        json::int_object(w, m.iter(), |w, set| json::array(w, set.iter(), json::string))?;
    }
    if let Some(m) = r.sparse_continuous_features {
        field(w, "sparseContinuousFeatures")?;
        json::int_object(w, m.iter(), |w, inner| {
            w.write_all(b"{")?;
            for (i, (k, v)) in inner.iter().enumerate() {
                if i > 0 {
                    w.write_all(b", ")?;
                }
                json::string(w, k)?;
                w.write_all(b": ")?;
                json::double(w, v)?;
            }
            w.write_all(b"}")
        })?;
    }
    if let Some(m) = r.blob_features {
        field(w, "blobFeatures")?;
        json::int_object(w, m.iter(), json::hex)?;
    }
    if let Some(m) = r.tensors {
        field(w, "tensors")?;
        json::int_object(w, m.iter(), |w, t| write_tensor(w, &t))?;
    }
    if let Some(m) = r.sparse_tensors {
        field(w, "sparseTensors")?;
        json::int_object(w, m.iter(), |w, SparseTensor::Coo(c)| {
            w.write_all(b"{\"type\": \"cooSparseTensor\", \"denseShape\": ")?;
            json::array(w, c.dense_shape.iter(), |w, x| write!(w, "{x}"))?;
            w.write_all(b", \"indices\": ")?;
            write_typed(w, "int64Tensor", &c.indices, |w, x| write!(w, "{x}"))?;
            w.write_all(b", \"values\": ")?;
            write_tensor(w, &c.values)?;
            w.write_all(b"}")
        })?;
    }
    w.write_all(b"}")
}

fn write_shape(w: &mut dyn Write, shape: Option<List<'_, i64>>) -> io::Result<()> {
    if let Some(s) = shape {
        w.write_all(b", \"shape\": ")?;
        json::array(w, s.iter(), |w, x| write!(w, "{x}"))?;
    }
    Ok(())
}

fn write_typed<'a, T: decode::Element<'a>>(
    w: &mut dyn Write,
    arm: &str,
    t: &TypedTensor<'a, T>,
    f: impl FnMut(&mut dyn Write, T) -> io::Result<()>,
) -> io::Result<()> {
    write!(w, "{{\"type\": \"{arm}\"")?;
    write_shape(w, t.shape)?;
    w.write_all(b", \"values\": ")?;
    json::array(w, t.values.iter(), f)?;
    w.write_all(b"}")
}

fn write_tensor(w: &mut dyn Write, t: &GeneralTensor<'_>) -> io::Result<()> {
    let arm = t.arm_name();
    match t {
        GeneralTensor::Raw(r) => {
            write!(w, "{{\"type\": \"{arm}\", \"dtype\": ")?;
            match r.dtype() {
                Some(d) => write!(w, "\"{d}\"")?,
                None => write!(w, "{}", r.data_type)?,
            }
            write_shape(w, r.shape)?;
            write_raw_values(w, r.dtype(), r.content)?;
            w.write_all(b"}")
        }
        GeneralTensor::String(s) => write_typed(w, arm, s, json::string),
        GeneralTensor::Int32(s) => write_typed(w, arm, s, |w, x| write!(w, "{x}")),
        GeneralTensor::Int64(s) => write_typed(w, arm, s, |w, x| write!(w, "{x}")),
        GeneralTensor::Float(s) | GeneralTensor::Double(s) => write_typed(w, arm, s, json::double),
        GeneralTensor::Bool(s) => write_typed(w, arm, s, |w, x| write!(w, "{x}")),
        GeneralTensor::Binary(s) => write_typed(w, arm, s, json::hex),
    }
}

/// A raw tensor's content as numbers when its dtype is fixed-size and the
/// content is whole elements; else as hex.
fn write_raw_values(w: &mut dyn Write, dtype: Option<DataType>, b: &[u8]) -> io::Result<()> {
    let size = dtype
        .and_then(DataType::fixed_size)
        .filter(|s| b.len().is_multiple_of(*s));
    let (Some(dtype), Some(size)) = (dtype, size) else {
        w.write_all(b", \"content_hex\": ")?;
        return json::hex(w, b);
    };
    w.write_all(b", \"values\": ")?;
    json::array(w, b.chunks_exact(size), |w, c| match dtype {
        DataType::Float => json::double(w, f32::from_le_bytes([c[0], c[1], c[2], c[3]]).into()),
        DataType::Double => json::double(w, f64::from_le_bytes(c.try_into().unwrap_or_default())),
        DataType::Int32 => write!(w, "{}", i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        DataType::Int64 => write!(w, "{}", i64::from_le_bytes(c.try_into().unwrap_or_default())),
        DataType::Bool => write!(w, "{}", c[0] != 0),
        _ => write!(w, "{}", c[0]),
    })
}

/// Per field: records that have it and entries in all; per tensor key:
/// arm, dtype, shapes, elements and content bytes.
fn write_summary<'a>(w: &mut dyn Write, records: impl Iterator<Item = Record<'a>>) -> io::Result<()> {
    const NAMES: [&str; 9] = [
        "binaryFeatures",
        "continuousFeatures",
        "discreteFeatures",
        "stringFeatures",
        "sparseBinaryFeatures",
        "sparseContinuousFeatures",
        "blobFeatures",
        "tensors",
        "sparseTensors",
    ];
    let mut fields = [(0usize, 0usize); 9];
    #[derive(Default)]
    struct TensorStats {
        arm: &'static str,
        dtype: Option<i32>,
        shape: Option<Vec<i64>>,
        shapes_vary: bool,
        records: usize,
        elements: usize,
        bytes: usize,
    }
    let mut tensors: BTreeMap<i64, TensorStats> = BTreeMap::new();
    for r in records {
        let lens = [
            r.binary_features.map(|x| x.len()),
            r.continuous_features.map(|x| x.len()),
            r.discrete_features.map(|x| x.len()),
            r.string_features.map(|x| x.len()),
            r.sparse_binary_features.map(|x| x.len()),
            r.sparse_continuous_features.map(|x| x.len()),
            r.blob_features.map(|x| x.len()),
            r.tensors.map(|x| x.len()),
            r.sparse_tensors.map(|x| x.len()),
        ];
        for (f, l) in fields.iter_mut().zip(lens) {
            if let Some(l) = l {
                f.0 += 1;
                f.1 += l;
            }
        }
        for (key, t) in r.tensors.into_iter().flatten() {
            let s = tensors.entry(key).or_default();
            let shape: Option<Vec<i64>> = t.shape().map(|s| s.iter().collect());
            if s.records == 0 {
                s.arm = t.arm_name();
                s.dtype = match t {
                    GeneralTensor::Raw(r) => Some(r.data_type),
                    _ => None,
                };
                s.shape = shape;
            } else if s.shape != shape || s.arm != t.arm_name() {
                s.shapes_vary = true;
            }
            s.records += 1;
            s.elements += t.element_count().unwrap_or(0);
            s.bytes += match t {
                GeneralTensor::Raw(r) => r.content.len(),
                GeneralTensor::String(v) => v.values.wire_bytes().len(),
                GeneralTensor::Binary(v) => v.values.wire_bytes().len(),
                GeneralTensor::Int32(v) => v.values.wire_bytes().len(),
                GeneralTensor::Int64(v) => v.values.wire_bytes().len(),
                GeneralTensor::Float(v) | GeneralTensor::Double(v) => v.values.wire_bytes().len(),
                GeneralTensor::Bool(v) => v.values.wire_bytes().len(),
            };
        }
    }
    w.write_all(b"\"fields\": {")?;
    let mut first = true;
    for (name, (records, entries)) in NAMES.iter().zip(fields) {
        if records == 0 {
            continue;
        }
        if !first {
            w.write_all(b", ")?;
        }
        first = false;
        write!(
            w,
            "\"{name}\": {{\"records\": {records}, \"entries\": {entries}}}"
        )?;
    }
    w.write_all(b"}, \"tensors\": ")?;
    json::int_object(w, tensors, |w, s| {
        write!(w, "{{\"type\": \"{}\"", s.arm)?;
        if let Some(d) = s.dtype {
            match DataType::from_code(d) {
                Some(d) => write!(w, ", \"dtype\": \"{d}\"")?,
                None => write!(w, ", \"dtype\": {d}")?,
            }
        }
        if let Some(shape) = &s.shape {
            w.write_all(b", \"shape\": ")?;
            json::array(w, shape, |w, x| write!(w, "{x}"))?;
        }
        write!(
            w,
            ", \"shapes_vary\": {}, \"records\": {}, \"elements\": {}, \"bytes\": {}}}",
            s.shapes_vary, s.records, s.elements, s.bytes
        )
    })
}
