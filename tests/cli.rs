//! Integration tests of the `bprwire` binary: `.npy` fixtures are written
//! into a fresh temporary directory, the built binary runs on them, and the
//! output is checked twice: decoded with the official Thrift decoder
//! (`bprwire_reference::deserialize`), and compared byte for byte with what
//! the library gives for the same data passed as typed slices.
//!
//! Most fixtures are hand-written (header bytes and all) so that odd files
//! (Fortran order, truncation, big-endian, bad dtypes) are easy to make;
//! one test uses npyz's own writer to check interoperability.

#![cfg(feature = "cli")]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use bprwire::{BatchPrediction, Tensor, TensorData};
use bprwire_reference::twml::tensor::DataType as WireType;
use bprwire_reference::{
    BatchPredictionResponse, BoolTensor, DataRecord, DoubleTensor, FloatTensor, GeneralTensor, Int32Tensor,
    Int64Tensor, RawTypedTensor, StringTensor,
};
use thrift::OrderedFloat;

// ---------------------------------------------------------------------------
// Fixtures

/// A temporary directory, removed when dropped (also when a test fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("bprwire-cli-{test}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// Writes `bytes` to `name` in the directory.
    fn put(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.0.join(name), bytes).expect("write fixture");
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.0.join(name)).expect("read output")
    }

    /// Starts the binary in this directory, stdout to `stdout`, stderr
    /// piped (for the tests that watch it while it runs).
    fn spawn(&self, args: &[&str], stdout: std::process::Stdio) -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_bprwire"))
            .args(args)
            .current_dir(&self.0)
            .stdout(stdout)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn bprwire")
    }

    /// Runs the binary in this directory (so file names in messages are
    /// the short names the test passed).
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_bprwire"))
            .args(args)
            .current_dir(&self.0)
            .output()
            .expect("run bprwire")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An npy header (format 1.0) as numpy writes it: the dict padded with
/// spaces and a newline so the data starts on a 64-byte boundary.
fn npy_header(descr: &str, fortran: bool, shape: &[usize]) -> Vec<u8> {
    let shape = match shape {
        [] => "()".to_string(),
        [d] => format!("({d},)"),
        ds => format!(
            "({})",
            ds.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
        ),
    };
    let fortran = if fortran { "True" } else { "False" };
    let mut dict =
        format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}").into_bytes();
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(b' ');
    }
    dict.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((dict.len() as u16).to_le_bytes());
    out.extend(dict);
    out
}

/// A whole C-order npy file.
fn npy(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = npy_header(descr, false, shape);
    out.extend_from_slice(data);
    out
}

/// Elements as packed bytes, e.g. `bytes_of(&v, f32::to_le_bytes)`.
fn bytes_of<T: Copy, const N: usize>(v: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    v.iter().flat_map(|&x| f(x)).collect()
}

/// numpy `U<units>` data: UTF-32 code units, NUL-padded.
fn unicode_data(strings: &[&str], units: usize, big_endian: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for s in strings {
        let mut chars: Vec<u32> = s.chars().map(u32::from).collect();
        assert!(chars.len() <= units);
        chars.resize(units, 0);
        for c in chars {
            out.extend(if big_endian {
                c.to_be_bytes()
            } else {
                c.to_le_bytes()
            });
        }
    }
    out
}

/// numpy `S<len>` data: bytes, NUL-padded.
fn bytestr_data(strings: &[&[u8]], len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for s in strings {
        out.extend_from_slice(s);
        out.resize(out.len() + len - s.len(), 0);
    }
    out
}

fn keys_npy(keys: &[i64]) -> Vec<u8> {
    npy("<i8", &[keys.len()], &bytes_of(keys, i64::to_le_bytes))
}

// ---------------------------------------------------------------------------
// Checks

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "bprwire failed with {:?}: {}",
        out.status.code(),
        stderr(out)
    );
}

/// Exit status `code`, no panic, and stderr holding every one of `needles`.
fn assert_fails(out: &Output, code: i32, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "exit status; stderr: {err}");
    assert!(!err.contains("panicked"), "bprwire panicked: {err}");
    for needle in needles {
        assert!(err.contains(needle), "stderr lacks {needle:?}: {err}");
    }
}

fn decode(bytes: &[u8]) -> BatchPredictionResponse {
    bprwire_reference::deserialize(bytes).expect("the output decodes with the official Thrift decoder")
}

fn tensor(rec: &DataRecord, key: i64) -> &GeneralTensor {
    rec.tensors
        .as_ref()
        .expect("the record has tensors")
        .get(&key)
        .expect("tensor key present")
}

fn continuous_map(keys: &[i64], row: &[f64]) -> BTreeMap<i64, OrderedFloat<f64>> {
    keys.iter()
        .zip(row)
        .map(|(&k, &v)| (k, OrderedFloat(v)))
        .collect()
}

fn raw(dtype: bprwire::DataType, content: Vec<u8>, shape: &[i64]) -> GeneralTensor {
    GeneralTensor::RawTypedTensor(RawTypedTensor::new(
        WireType(dtype.code()),
        content,
        Some(shape.to_vec()),
    ))
}

// ---------------------------------------------------------------------------
// The one fixture with a tensor of every accepted dtype (batch 3)

const BATCH: usize = 3;
const DENSE_KEYS: [i64; 8] = [100, 101, 102, 103, 104, 105, 106, 107];

struct AllDtypes {
    f4: Vec<f32>,
    f8: Vec<f64>,
    i4: Vec<i32>,
    i8: Vec<i64>,
    u1: Vec<u8>,
    b1: Vec<bool>,
    u: Vec<&'static str>,
    s: Vec<&'static [u8]>,
}

impl AllDtypes {
    fn new() -> Self {
        AllDtypes {
            f4: (0..12).map(|x| x as f32 * 0.5 - 1.0).collect(),
            f8: vec![1.5, -2.25, 1e300],
            i4: vec![i32::MIN, -1, 0, 1, 7, i32::MAX],
            i8: vec![i64::MIN, -5, 0, 5, 1 << 40, i64::MAX],
            u1: (0..12).map(|x| x * 20).collect(),
            b1: vec![true, false, false, true, true, true],
            // Non-ASCII, a 4-byte UTF-8 char, an empty string; 5 code units wide.
            u: vec!["héllo", "a", "", "zé😀", "x", "yy"],
            // An embedded NUL stays (numpy strips trailing NULs only).
            s: vec![b"ab", b"", b"c\0d", b"e", b"f", b"gh"],
        }
    }

    /// Writes the tensor files and the key file; returns the CLI arguments.
    fn write(&self, dir: &TempDir) -> Vec<String> {
        dir.put("tk.npy", &keys_npy(&DENSE_KEYS));
        dir.put(
            "t_f4.npy",
            &npy("<f4", &[3, 2, 2], &bytes_of(&self.f4, f32::to_le_bytes)),
        );
        dir.put(
            "t_f8.npy",
            &npy("<f8", &[3], &bytes_of(&self.f8, f64::to_le_bytes)),
        );
        dir.put(
            "t_i4.npy",
            &npy("<i4", &[3, 2], &bytes_of(&self.i4, i32::to_le_bytes)),
        );
        dir.put(
            "t_i8.npy",
            &npy("<i8", &[3, 1, 2], &bytes_of(&self.i8, i64::to_le_bytes)),
        );
        dir.put("t_u1.npy", &npy("|u1", &[3, 4], &self.u1));
        dir.put(
            "t_b1.npy",
            &npy("|b1", &[3, 2], &bytes_of(&self.b1, |b| [b as u8])),
        );
        dir.put("t_U.npy", &npy("<U5", &[3, 2], &unicode_data(&self.u, 5, false)));
        dir.put("t_S.npy", &npy("|S3", &[3, 2], &bytestr_data(&self.s, 3)));
        let mut args = vec!["--tensor-keys".to_string(), "tk.npy".to_string()];
        for f in ["t_f4", "t_f8", "t_i4", "t_i8", "t_u1", "t_b1", "t_U", "t_S"] {
            args.push("--tensor".into());
            args.push(format!("{f}.npy"));
        }
        args
    }

    /// The same tensors as typed slices, for the library.
    fn tensors(&self) -> Vec<Tensor<'_>> {
        vec![
            Tensor::new(&self.f4, &[3, 2, 2]),
            Tensor::new(&self.f8, &[3]),
            Tensor::new(&self.i4, &[3, 2]),
            Tensor::new(&self.i8, &[3, 1, 2]),
            Tensor::new(&self.u1, &[3, 4]),
            Tensor::new(&self.b1, &[3, 2]),
            Tensor::new(TensorData::Str(&self.u), &[3, 2]),
            Tensor::new(TensorData::Bytes(&self.s), &[3, 2]),
        ]
    }

    /// Checks record `i`'s tensors, raw (twml's encoding) or typed.
    fn check_record(&self, rec: &DataRecord, i: usize, typed: bool) {
        use bprwire::DataType as D;
        assert_eq!(rec.tensors.as_ref().unwrap().len(), 8);
        let f4 = &self.f4[i * 4..][..4];
        let f8 = &self.f8[i..][..1];
        let i4 = &self.i4[i * 2..][..2];
        let i8 = &self.i8[i * 2..][..2];
        let b1 = &self.b1[i * 2..][..2];
        let u1 = self.u1[i * 4..][..4].to_vec();
        if typed {
            let floats = f4.iter().map(|&x| OrderedFloat(x as f64)).collect::<Vec<_>>();
            assert_eq!(
                tensor(rec, 100),
                &GeneralTensor::FloatTensor(FloatTensor::new(floats, Some(vec![2, 2])))
            );
            let doubles = f8.iter().map(|&x| OrderedFloat(x)).collect::<Vec<_>>();
            assert_eq!(
                tensor(rec, 101),
                &GeneralTensor::DoubleTensor(DoubleTensor::new(doubles, Some(vec![])))
            );
            assert_eq!(
                tensor(rec, 102),
                &GeneralTensor::Int32Tensor(Int32Tensor::new(i4.to_vec(), Some(vec![2])))
            );
            assert_eq!(
                tensor(rec, 103),
                &GeneralTensor::Int64Tensor(Int64Tensor::new(i8.to_vec(), Some(vec![1, 2])))
            );
            assert_eq!(
                tensor(rec, 105),
                &GeneralTensor::BoolTensor(BoolTensor::new(b1.to_vec(), Some(vec![2])))
            );
        } else {
            assert_eq!(
                tensor(rec, 100),
                &raw(D::Float, bytes_of(f4, f32::to_le_bytes), &[2, 2])
            );
            assert_eq!(
                tensor(rec, 101),
                &raw(D::Double, bytes_of(f8, f64::to_le_bytes), &[])
            );
            assert_eq!(
                tensor(rec, 102),
                &raw(D::Int32, bytes_of(i4, i32::to_le_bytes), &[2])
            );
            assert_eq!(
                tensor(rec, 103),
                &raw(D::Int64, bytes_of(i8, i64::to_le_bytes), &[1, 2])
            );
            assert_eq!(tensor(rec, 105), &raw(D::Bool, bytes_of(b1, |b| [b as u8]), &[2]));
        }
        // uint8 has no typed list: raw either way; strings are a StringTensor either way.
        assert_eq!(tensor(rec, 104), &raw(D::Uint8, u1, &[4]));
        let strings = self.u[i * 2..][..2]
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>();
        assert_eq!(
            tensor(rec, 106),
            &GeneralTensor::StringTensor(StringTensor::new(strings, Some(vec![2])))
        );
        let bytes = self.s[i * 2..][..2]
            .iter()
            .map(|s| String::from_utf8(s.to_vec()).unwrap())
            .collect::<Vec<_>>();
        assert_eq!(
            tensor(rec, 107),
            &GeneralTensor::StringTensor(StringTensor::new(bytes, Some(vec![2])))
        );
    }
}

fn args_of(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

// ---------------------------------------------------------------------------
// Good inputs

#[test]
fn continuous_f32() {
    let dir = TempDir::new("continuous_f32");
    let keys = [7i64, 3, 11];
    let values: Vec<f32> = vec![0.5, -1.25, 3.0e-8, 1.0, f32::MAX, -0.0];
    dir.put("keys.npy", &keys_npy(&keys));
    dir.put(
        "values.npy",
        &npy("<f4", &[2, 3], &bytes_of(&values, f32::to_le_bytes)),
    );
    let out = dir.run(&[
        "encode",
        "--keys",
        "keys.npy",
        "--values",
        "values.npy",
        "-o",
        "out.bin",
    ]);
    assert_success(&out);
    let bytes = dir.read("out.bin");

    let expected = BatchPrediction::new()
        .continuous(&keys, &values, &[2, 3])
        .encode_to_vec()
        .unwrap();
    assert_eq!(bytes, expected);
    let resp = decode(&bytes);
    assert_eq!(resp.predictions.len(), 2);
    for (i, rec) in resp.predictions.iter().enumerate() {
        let row: Vec<f64> = values[i * 3..][..3].iter().map(|&x| x as f64).collect();
        assert_eq!(
            rec.continuous_features.as_ref().unwrap(),
            &continuous_map(&keys, &row)
        );
        assert!(rec.tensors.is_none());
    }
    // The one-line summary: records, bytes, path.
    let err = stderr(&out);
    assert!(
        err.contains("2 records")
            && err.contains(&format!("{} bytes", bytes.len()))
            && err.contains("out.bin"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// float64 values written by npyz's own writer (not the hand-written
/// headers), shaped [batch] with one key.
#[test]
fn continuous_f64_from_npyz_writer() {
    use npyz::WriterBuilder;
    let dir = TempDir::new("continuous_f64");
    let write = |name: &str, data: &[f64], shape: &[u64]| {
        let mut buf = Vec::new();
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(shape)
            .writer(&mut buf)
            .begin_nd()
            .unwrap();
        w.extend(data.iter().copied()).unwrap();
        w.finish().unwrap();
        dir.put(name, &buf);
    };
    let mut keys_buf = Vec::new();
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[2])
        .writer(&mut keys_buf)
        .begin_nd()
        .unwrap();
    w.extend([5i64, -9]).unwrap();
    w.finish().unwrap();
    dir.put("keys2.npy", &keys_buf);
    dir.put("key1.npy", &keys_npy(&[42]));

    let values = [0.1f64, -2.5, 1e-300, 6.0];
    write("v2.npy", &values, &[2, 2]);
    write("v1.npy", &values, &[4]);

    let out = dir.run(&[
        "encode",
        "--keys",
        "keys2.npy",
        "--values",
        "v2.npy",
        "-o",
        "out2.bin",
    ]);
    assert_success(&out);
    let bytes = dir.read("out2.bin");
    assert_eq!(
        bytes,
        BatchPrediction::new()
            .continuous(&[5, -9], &values, &[2, 2])
            .encode_to_vec()
            .unwrap()
    );
    let resp = decode(&bytes);
    assert_eq!(resp.predictions.len(), 2);
    for (i, rec) in resp.predictions.iter().enumerate() {
        assert_eq!(
            rec.continuous_features.as_ref().unwrap(),
            &continuous_map(&[5, -9], &values[i * 2..][..2])
        );
    }

    let out = dir.run(&[
        "encode", "--keys", "key1.npy", "--values", "v1.npy", "-o", "out1.bin",
    ]);
    assert_success(&out);
    let bytes = dir.read("out1.bin");
    assert_eq!(
        bytes,
        BatchPrediction::new()
            .continuous(&[42], &values, &[4])
            .encode_to_vec()
            .unwrap()
    );
    let resp = decode(&bytes);
    assert_eq!(resp.predictions.len(), 4);
    for (i, rec) in resp.predictions.iter().enumerate() {
        assert_eq!(
            rec.continuous_features.as_ref().unwrap(),
            &continuous_map(&[42], &values[i..][..1])
        );
    }
}

#[test]
fn tensors_of_every_dtype() {
    let dir = TempDir::new("tensors_every_dtype");
    let data = AllDtypes::new();
    let mut args = vec!["encode".to_string()];
    args.extend(data.write(&dir));
    args.extend(["-o".to_string(), "out.bin".to_string()]);
    let out = dir.run(&args_of(&args));
    assert_success(&out);
    let bytes = dir.read("out.bin");

    let tensors = data.tensors();
    let expected = BatchPrediction::new()
        .dense(&DENSE_KEYS, &tensors)
        .encode_to_vec()
        .unwrap();
    assert_eq!(bytes, expected);
    let resp = decode(&bytes);
    assert_eq!(resp.predictions.len(), BATCH);
    for (i, rec) in resp.predictions.iter().enumerate() {
        assert!(rec.continuous_features.is_none());
        data.check_record(rec, i, false);
    }
}

#[test]
fn typed_flag_writes_typed_lists() {
    let dir = TempDir::new("typed");
    let data = AllDtypes::new();
    let mut args = vec!["encode".to_string(), "--typed".to_string()];
    args.extend(data.write(&dir));
    args.extend(["-o".to_string(), "out.bin".to_string()]);
    let out = dir.run(&args_of(&args));
    assert_success(&out);
    let bytes = dir.read("out.bin");

    let tensors = data.tensors();
    let expected = BatchPrediction::new()
        .dense(&DENSE_KEYS, &tensors)
        .typed()
        .encode_to_vec()
        .unwrap();
    assert_eq!(bytes, expected);
    let resp = decode(&bytes);
    assert_eq!(resp.predictions.len(), BATCH);
    for (i, rec) in resp.predictions.iter().enumerate() {
        data.check_record(rec, i, true);
    }
}

#[test]
fn continuous_and_tensors_together() {
    let dir = TempDir::new("both");
    let data = AllDtypes::new();
    let keys = [1i64, 2];
    let values: Vec<f32> = vec![0.25, 0.5, 0.75, 1.0, 1.25, 1.5];
    dir.put("keys.npy", &keys_npy(&keys));
    dir.put(
        "values.npy",
        &npy("<f4", &[3, 2], &bytes_of(&values, f32::to_le_bytes)),
    );
    let mut args: Vec<String> = ["encode", "--keys", "keys.npy", "--values", "values.npy"]
        .map(String::from)
        .into();
    args.extend(data.write(&dir));
    args.extend(["-o".to_string(), "out.bin".to_string()]);
    let out = dir.run(&args_of(&args));
    assert_success(&out);
    let bytes = dir.read("out.bin");

    let tensors = data.tensors();
    let expected = BatchPrediction::new()
        .continuous(&keys, &values, &[3, 2])
        .dense(&DENSE_KEYS, &tensors)
        .encode_to_vec()
        .unwrap();
    assert_eq!(bytes, expected);
    let resp = decode(&bytes);
    assert_eq!(resp.predictions.len(), BATCH);
    for (i, rec) in resp.predictions.iter().enumerate() {
        let row: Vec<f64> = values[i * 2..][..2].iter().map(|&x| x as f64).collect();
        assert_eq!(
            rec.continuous_features.as_ref().unwrap(),
            &continuous_map(&keys, &row)
        );
        data.check_record(rec, i, false);
    }
}

#[test]
fn output_dash_writes_stdout() {
    let dir = TempDir::new("stdout");
    let data = AllDtypes::new();
    let keys = [9i64];
    let values = [1.0f64, 2.0, 3.0];
    dir.put("keys.npy", &keys_npy(&keys));
    dir.put(
        "values.npy",
        &npy("<f8", &[3, 1], &bytes_of(&values, f64::to_le_bytes)),
    );
    let mut args: Vec<String> = ["encode", "--keys", "keys.npy", "--values", "values.npy"]
        .map(String::from)
        .into();
    args.extend(data.write(&dir));
    args.extend(["-o".to_string(), "-".to_string()]);
    let out = dir.run(&args_of(&args));
    assert_success(&out);
    let tensors = data.tensors();
    let expected = BatchPrediction::new()
        .continuous(&keys, &values, &[3, 1])
        .dense(&DENSE_KEYS, &tensors)
        .encode_to_vec()
        .unwrap();
    assert_eq!(out.stdout, expected);
    assert_eq!(decode(&out.stdout).predictions.len(), BATCH);
    assert!(out.stderr.is_empty(), "nothing but the data: {}", stderr(&out));
    assert!(!dir.0.join("-").exists(), "no file named '-'");
}

/// Big-endian files are byte-swapped into a copy: the output equals that
/// of the same data stored little-endian.
#[test]
fn big_endian_files_are_converted() {
    let dir = TempDir::new("big_endian");
    let keys = [4i64, 8];
    let values = [0.5f32, -0.25, 2.0, 8.0];
    let t_i4 = [1i32, -2, 3, -4];
    let t_f8 = [0.125f64, 1e10];
    let strs = ["ab", "ç"];
    dir.put("keys.npy", &npy(">i8", &[2], &bytes_of(&keys, i64::to_be_bytes)));
    dir.put(
        "values.npy",
        &npy(">f4", &[2, 2], &bytes_of(&values, f32::to_be_bytes)),
    );
    dir.put(
        "tk.npy",
        &npy(">i8", &[3], &bytes_of(&[1i64, 2, 3], i64::to_be_bytes)),
    );
    dir.put(
        "t_i4.npy",
        &npy(">i4", &[2, 2], &bytes_of(&t_i4, i32::to_be_bytes)),
    );
    dir.put("t_f8.npy", &npy(">f8", &[2], &bytes_of(&t_f8, f64::to_be_bytes)));
    dir.put("t_U.npy", &npy(">U3", &[2], &unicode_data(&strs, 3, true)));
    let out = dir.run(&[
        "encode",
        "--keys",
        "keys.npy",
        "--values",
        "values.npy",
        "--tensor-keys",
        "tk.npy",
        "--tensor",
        "t_i4.npy",
        "--tensor",
        "t_f8.npy",
        "--tensor",
        "t_U.npy",
        "-o",
        "out.bin",
    ]);
    assert_success(&out);
    let tensors = [
        Tensor::new(&t_i4, &[2, 2]),
        Tensor::new(&t_f8, &[2]),
        Tensor::new(&strs, &[2]),
    ];
    let expected = BatchPrediction::new()
        .continuous(&keys, &values, &[2, 2])
        .dense(&[1, 2, 3], &tensors)
        .encode_to_vec()
        .unwrap();
    let bytes = dir.read("out.bin");
    assert_eq!(bytes, expected);
    let resp = decode(&bytes);
    assert_eq!(
        tensor(&resp.predictions[1], 1),
        &raw(
            bprwire::DataType::Int32,
            bytes_of(&[3i32, -4], i32::to_le_bytes),
            &[2]
        )
    );
}

/// Zero-width strings (`<U0`, `|S0`) and an empty batch do not trip the
/// element splitting.
#[test]
fn zero_width_strings_and_empty_batch() {
    let dir = TempDir::new("zero_width");
    dir.put("tk.npy", &keys_npy(&[1, 2]));
    dir.put("u0.npy", &npy("<U0", &[2, 3], &[]));
    dir.put("s0.npy", &npy("|S0", &[2, 3], &[]));
    let out = dir.run(&[
        "encode",
        "--tensor-keys",
        "tk.npy",
        "--tensor",
        "u0.npy",
        "--tensor",
        "s0.npy",
        "-o",
        "out.bin",
    ]);
    assert_success(&out);
    let empty = [""; 6];
    let empty_b: [&[u8]; 6] = [b""; 6];
    let tensors = [Tensor::new(&empty, &[2, 3]), Tensor::new(&empty_b, &[2, 3])];
    let expected = BatchPrediction::new()
        .dense(&[1, 2], &tensors)
        .encode_to_vec()
        .unwrap();
    assert_eq!(dir.read("out.bin"), expected);
    assert_eq!(decode(&expected).predictions.len(), 2);

    dir.put("keys.npy", &keys_npy(&[1]));
    dir.put("values.npy", &npy("<f4", &[0, 1], &[]));
    let out = dir.run(&[
        "encode",
        "--keys",
        "keys.npy",
        "--values",
        "values.npy",
        "-o",
        "empty.bin",
    ]);
    assert_success(&out);
    assert_eq!(decode(&dir.read("empty.bin")).predictions.len(), 0);
}

// ---------------------------------------------------------------------------
// demo and --help

/// The demo's data, recomputed here to check its bytes.
fn demo_expected() -> Vec<u8> {
    let scores: Vec<f32> = (0..12).map(|x| (x + 1) as f32 / 16.0).collect();
    let embedding: Vec<f32> = (0..32).map(|x| (x as f32 - 16.0) / 8.0).collect();
    let ids: Vec<i64> = (0..8).map(|x| 1000 * (x / 2 + 1) + x % 2).collect();
    let labels: Vec<String> = (0..8)
        .map(|x| format!("row{}-{}", x / 2, ["a", "b"][x % 2]))
        .collect();
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    let tensors = [
        Tensor::new(&embedding, &[4, 8]),
        Tensor::new(&ids, &[4, 2]),
        Tensor::new(&labels, &[4, 2]),
    ];
    BatchPrediction::new()
        .continuous(&[1, 2, 3], &scores, &[4, 3])
        .dense(&[100, 101, 102], &tensors)
        .encode_to_vec()
        .unwrap()
}

#[test]
fn demo_writes_and_reports() {
    let dir = TempDir::new("demo");
    let out = dir.run(&["demo", "-o", "my-demo.bin"]);
    assert_success(&out);
    let bytes = dir.read("my-demo.bin");
    assert_eq!(bytes, demo_expected());

    let resp = decode(&bytes);
    assert_eq!(resp.predictions.len(), 4);
    let rec = &resp.predictions[1];
    assert_eq!(
        rec.continuous_features.as_ref().unwrap(),
        &continuous_map(&[1, 2, 3], &[0.25, 0.3125, 0.375])
    );
    assert_eq!(
        rec.tensors.as_ref().unwrap().keys().copied().collect::<Vec<_>>(),
        [100, 101, 102]
    );
    assert_eq!(
        tensor(rec, 102),
        &GeneralTensor::StringTensor(StringTensor::new(
            vec!["row1-a".into(), "row1-b".into()],
            Some(vec![2])
        ))
    );
    assert_eq!(
        tensor(rec, 101),
        &raw(
            bprwire::DataType::Int64,
            bytes_of(&[2000i64, 2001], i64::to_le_bytes),
            &[2]
        )
    );

    // The report: records, bytes, path, and 64 bytes of hex, 16 a line.
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(report.contains("4 records"), "{report}");
    assert!(report.contains(&format!("{} bytes", bytes.len())), "{report}");
    assert!(report.contains("my-demo.bin"), "{report}");
    // It decodes what it wrote and says the round trip holds.
    assert!(
        report.contains("decoded back with bprwire::decode: 4 records, every value equal to the inputs, re-encoded to the same 1041 bytes"),
        "{report}"
    );
    assert!(
        report.contains("record 0: continuousFeatures {1: 0.0625, 2: 0.125, 3: 0.1875}"),
        "{report}"
    );
    for (line, chunk) in bytes[..64].chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let expected = format!("{:08x}  {}", line * 16, hex.join(" "));
        assert!(
            report.lines().any(|l| l == expected),
            "no line {expected:?} in {report}"
        );
    }

    // Deterministic, and the default path is bprwire-demo.bin in the
    // current directory.
    let out = dir.run(&["demo"]);
    assert_success(&out);
    assert_eq!(dir.read("bprwire-demo.bin"), bytes);
    assert!(String::from_utf8_lossy(&out.stdout).contains("bprwire-demo.bin"));

    // `-o -`: the bytes on stdout, the report on stderr.
    let out = dir.run(&["demo", "-o", "-"]);
    assert_success(&out);
    assert_eq!(out.stdout, bytes);
    assert!(stderr(&out).contains("00000000  0f 00 01 0c"));
}

#[test]
fn help_on_every_subcommand() {
    let dir = TempDir::new("help");
    for args in [
        &["--help"][..],
        &["encode", "--help"],
        &["demo", "--help"],
        &["bench", "--help"],
        &["inspect", "--help"],
        &["help", "encode"],
        &["encode", "-h"],
    ] {
        let out = dir.run(args);
        assert_success(&out);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage: bprwire"),
            "{args:?}"
        );
    }
    let help = String::from_utf8(dir.run(&["encode", "--help"]).stdout).unwrap();
    for needle in [
        "--keys",
        "--values",
        "--tensor-keys",
        "--tensor",
        "--typed",
        "--output",
        "'<i8'",
        "'<f4'",
        "'<f8'",
        "'<i4'",
        "'|u1'",
        "'|b1'",
        "'<U…'",
        "'|S…'",
        "Big-endian",
        "Fortran",
    ] {
        assert!(help.contains(needle), "encode --help lacks {needle:?}:\n{help}");
    }
    let help = String::from_utf8(dir.run(&["demo", "--help"]).stdout).unwrap();
    assert!(help.contains("bprwire-demo.bin"), "{help}");
    let help = String::from_utf8(dir.run(&["inspect", "--help"]).stdout).unwrap();
    for needle in ["--envelope", "--framed", "--summary", "offset", "NaN"] {
        assert!(help.contains(needle), "inspect --help lacks {needle:?}:\n{help}");
    }
    let help = String::from_utf8(dir.run(&["encode", "--help"]).stdout).unwrap();
    for needle in ["--envelope", "--seqid", "--framed"] {
        assert!(help.contains(needle), "encode --help lacks {needle:?}:\n{help}");
    }
}

// ---------------------------------------------------------------------------
// Usage errors (exit 2) and library errors (exit 1, with the file named)

#[test]
fn usage_errors_exit_2() {
    let dir = TempDir::new("usage");
    dir.put("keys.npy", &keys_npy(&[1]));
    for args in [
        &["encode", "--keys", "keys.npy", "-o", "x.bin"][..],
        &["encode", "--values", "keys.npy", "-o", "x.bin"],
        &["encode", "--tensor-keys", "keys.npy", "-o", "x.bin"],
        &["encode", "--tensor", "keys.npy", "-o", "x.bin"],
        &["encode", "--keys", "keys.npy", "--values", "keys.npy"],
        &["encode", "--bogus"],
        &[],
    ] {
        let out = dir.run(args);
        assert_fails(&out, 2, &[]);
    }
    assert!(!dir.0.join("x.bin").exists());
}

#[test]
fn library_errors_name_the_file() {
    let dir = TempDir::new("library_errors");
    dir.put("keys.npy", &keys_npy(&[1, 2]));
    dir.put("dup.npy", &keys_npy(&[5, 5]));
    dir.put("tk.npy", &keys_npy(&[10, 20]));
    dir.put("v.npy", &npy("<f4", &[3, 2], &[0; 24]));
    dir.put("v3d.npy", &npy("<f4", &[3, 1, 2], &[0; 24]));
    dir.put("a.npy", &npy("<f4", &[3, 2], &[0; 24]));
    dir.put("b.npy", &npy("<i4", &[4], &[0; 16]));
    dir.put("scalar.npy", &npy("<i4", &[], &[0; 4]));

    // Neither input: the library's NoPredictions.
    assert_fails(&dir.run(&["encode", "-o", "x.bin"]), 1, &["nothing to encode"]);
    // Dim 0 differs: the second tensor's file is named.
    let out = dir.run(&[
        "encode",
        "--tensor-keys",
        "tk.npy",
        "--tensor",
        "a.npy",
        "--tensor",
        "b.npy",
        "-o",
        "x.bin",
    ]);
    assert_fails(&out, 1, &["dim 0", "b.npy"]);
    let out = dir.run(&[
        "encode",
        "--keys",
        "keys.npy",
        "--values",
        "v.npy",
        "--tensor-keys",
        "tk.npy",
        "--tensor",
        "a.npy",
        "--tensor",
        "b.npy",
        "-o",
        "x.bin",
    ]);
    assert_fails(&out, 1, &["b.npy"]);
    // Tensor count.
    let out = dir.run(&[
        "encode",
        "--tensor-keys",
        "tk.npy",
        "--tensor",
        "a.npy",
        "-o",
        "x.bin",
    ]);
    assert_fails(&out, 1, &["2 dense keys but 1 dense tensors", "tk.npy"]);
    // Repeated key.
    let out = dir.run(&[
        "encode",
        "--tensor-keys",
        "dup.npy",
        "--tensor",
        "a.npy",
        "--tensor",
        "a.npy",
        "-o",
        "x.bin",
    ]);
    assert_fails(&out, 1, &["twice", "dup.npy"]);
    let out = dir.run(&["encode", "--keys", "dup.npy", "--values", "v.npy", "-o", "x.bin"]);
    assert_fails(&out, 1, &["twice", "dup.npy"]);
    // Keys vs values' last dimension; rank 3 values.
    let out = dir.run(&["encode", "--keys", "tk.npy", "--values", "b.npy", "-o", "x.bin"]);
    assert_fails(&out, 1, &["b.npy", "float32"]);
    let out = dir.run(&[
        "encode",
        "--keys",
        "dup.npy",
        "--values",
        "a.npy",
        "--tensor-keys",
        "keys.npy",
        "--tensor",
        "a.npy",
        "--tensor",
        "a.npy",
        "-o",
        "x.bin",
    ]);
    assert_fails(&out, 1, &["dup.npy"]);
    let out = dir.run(&[
        "encode", "--keys", "keys.npy", "--values", "v3d.npy", "-o", "x.bin",
    ]);
    assert_fails(&out, 1, &["rank 3", "v3d.npy"]);
    // A rank-0 tensor.
    let out = dir.run(&[
        "encode",
        "--tensor-keys",
        "keys.npy",
        "--tensor",
        "a.npy",
        "--tensor",
        "scalar.npy",
        "-o",
        "x.bin",
    ]);
    assert_fails(&out, 1, &["rank 0", "scalar.npy"]);
    assert!(!dir.0.join("x.bin").exists(), "nothing written on error");
}

#[test]
fn unwritable_output_is_an_error() {
    let dir = TempDir::new("unwritable");
    dir.put("keys.npy", &keys_npy(&[1]));
    dir.put("v.npy", &npy("<f4", &[1], &[0; 4]));
    let out = dir.run(&[
        "encode",
        "--keys",
        "keys.npy",
        "--values",
        "v.npy",
        "-o",
        "no/such/dir/out.bin",
    ]);
    assert_fails(&out, 1, &["no/such/dir/out.bin"]);
}

// ---------------------------------------------------------------------------
// Bad files: exit 1, the file named, no panic

/// Runs `encode` with `file` as the one dense tensor and checks the error.
fn bad_tensor(dir: &TempDir, file: &str, bytes: &[u8], needles: &[&str]) {
    dir.put("tk1.npy", &keys_npy(&[1]));
    dir.put(file, bytes);
    let out = dir.run(&[
        "encode",
        "--tensor-keys",
        "tk1.npy",
        "--tensor",
        file,
        "-o",
        "x.bin",
    ]);
    let mut all = vec![file];
    all.extend_from_slice(needles);
    assert_fails(&out, 1, &all);
    assert!(!dir.0.join("x.bin").exists(), "{file}: nothing written on error");
}

#[test]
fn wrong_dtype_for_keys_or_values() {
    let dir = TempDir::new("wrong_dtype");
    dir.put("keys.npy", &keys_npy(&[1, 2]));
    dir.put("v.npy", &npy("<f4", &[1, 2], &[0; 8]));
    dir.put("keys_i4.npy", &npy("<i4", &[2], &[0; 8]));
    dir.put("keys_f8.npy", &npy("<f8", &[2], &[0; 16]));
    dir.put("keys_2d.npy", &npy("<i8", &[1, 2], &[0; 16]));
    dir.put("v_i8.npy", &npy("<i8", &[1, 2], &[0; 16]));
    dir.put("v_u.npy", &npy("<U1", &[1, 2], &[0; 8]));
    dir.put("v_f2.npy", &npy("<f2", &[1, 2], &[0; 4]));

    let run = |k: &str, v: &str| dir.run(&["encode", "--keys", k, "--values", v, "-o", "x.bin"]);
    assert_fails(
        &run("keys_i4.npy", "v.npy"),
        1,
        &["keys_i4.npy", "int64", "'<i4'"],
    );
    assert_fails(
        &run("keys_f8.npy", "v.npy"),
        1,
        &["keys_f8.npy", "int64", "'<f8'"],
    );
    assert_fails(&run("keys_2d.npy", "v.npy"), 1, &["keys_2d.npy", "1-D"]);
    assert_fails(&run("keys.npy", "v_i8.npy"), 1, &["v_i8.npy", "float32", "'<i8'"]);
    assert_fails(&run("keys.npy", "v_u.npy"), 1, &["v_u.npy", "float32", "'<U1'"]);
    assert_fails(
        &run("keys.npy", "v_f2.npy"),
        1,
        &["v_f2.npy", "unsupported dtype '<f2'"],
    );
    // Tensor keys too.
    let out = dir.run(&[
        "encode",
        "--tensor-keys",
        "keys_i4.npy",
        "--tensor",
        "v.npy",
        "-o",
        "x.bin",
    ]);
    assert_fails(&out, 1, &["keys_i4.npy", "int64"]);
}

#[test]
fn fortran_order_is_refused() {
    let dir = TempDir::new("fortran");
    let mut bytes = npy_header("<f4", true, &[2, 2]);
    bytes.extend([0; 16]);
    bad_tensor(&dir, "fortran.npy", &bytes, &["Fortran order"]);
    // Also as values.
    dir.put("keys.npy", &keys_npy(&[1, 2]));
    let out = dir.run(&[
        "encode",
        "--keys",
        "keys.npy",
        "--values",
        "fortran.npy",
        "-o",
        "x.bin",
    ]);
    assert_fails(&out, 1, &["fortran.npy", "Fortran order"]);
}

#[test]
fn truncated_files_are_refused() {
    let dir = TempDir::new("truncated");
    let full = npy("<f4", &[3, 2], &[0; 24]);
    bad_tensor(
        &dir,
        "short_data.npy",
        &full[..full.len() - 1],
        &["truncated data", "24 data bytes", "23"],
    );
    bad_tensor(
        &dir,
        "no_data.npy",
        &full[..full.len() - 24],
        &["truncated data", "file has 0"],
    );
    bad_tensor(&dir, "short_header.npy", &full[..40], &["truncated header"]);
    bad_tensor(&dir, "no_header_len.npy", &full[..9], &["truncated"]);
    bad_tensor(&dir, "no_version.npy", &full[..7], &["truncated"]);
    bad_tensor(&dir, "short_magic.npy", &full[..3], &["truncated"]);
    // Strings too.
    let s = npy("|S4", &[2], b"abcdefg");
    bad_tensor(&dir, "short_strings.npy", &s, &["truncated data"]);
    // And data past the end of the array.
    let mut long = full.clone();
    long.push(0);
    bad_tensor(
        &dir,
        "trailing.npy",
        &long,
        &["1 unexpected bytes after the data"],
    );
}

#[test]
fn not_an_npy_file() {
    let dir = TempDir::new("not_npy");
    bad_tensor(&dir, "text.npy", b"hello, world\n", &["not an npy file"]);
    bad_tensor(&dir, "empty.npy", b"", &["not an npy file", "empty"]);
    bad_tensor(
        &dir,
        "version.npy",
        b"\x93NUMPY\x09\x00\x10\x00{}",
        &["unsupported npy format version 9.0"],
    );
    // Magic right, header not a Python dict, or missing keys.
    let header = |text: &str| {
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((text.len() as u16).to_le_bytes());
        out.extend(text.as_bytes());
        out
    };
    bad_tensor(
        &dir,
        "garbage.npy",
        &header("not python {{{\n"),
        &["not a valid npy header"],
    );
    bad_tensor(
        &dir,
        "nodescr.npy",
        &header("{'fortran_order': False, 'shape': (1,), }\n"),
        &["not a valid npy header", "descr"],
    );
    bad_tensor(
        &dir,
        "badshape.npy",
        &header("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }\n"),
        &["not a valid npy header"],
    );
    // Missing file.
    let out = dir.run(&[
        "encode",
        "--tensor-keys",
        "tk1.npy",
        "--tensor",
        "missing.npy",
        "-o",
        "x.bin",
    ]);
    assert_fails(&out, 1, &["missing.npy", "cannot read"]);
}

#[test]
fn unsupported_dtypes() {
    let dir = TempDir::new("unsupported");
    let cases = [
        ("<i2", 2),
        ("<c8", 8),
        ("<c16", 16),
        ("|i1", 1),
        ("<u2", 2),
        ("<u4", 4),
        ("<u8", 8),
        ("<f2", 2),
        ("<M8[ns]", 8),
        ("<m8[s]", 8),
        ("|V4", 4),
    ];
    for (i, (descr, size)) in cases.into_iter().enumerate() {
        let file = format!("unsupported{i}.npy");
        let needle = format!("unsupported dtype '{descr}'");
        bad_tensor(&dir, &file, &npy(descr, &[2], &vec![0; 2 * size]), &[&needle]);
    }
    // Pickled objects and structured dtypes.
    bad_tensor(
        &dir,
        "object.npy",
        &npy("|O", &[2], &[0; 16]),
        &["unsupported dtype '|O'"],
    );
    let mut rec = b"\x93NUMPY\x01\x00".to_vec();
    let text = "{'descr': [('shape', '<i4'), ('b', '<f4')], 'fortran_order': False, 'shape': (2,), }\n";
    rec.extend((text.len() as u16).to_le_bytes());
    rec.extend(text.as_bytes());
    rec.extend([0; 16]);
    bad_tensor(&dir, "record.npy", &rec, &["structured"]);
}

#[test]
fn invalid_unicode_is_refused() {
    let dir = TempDir::new("bad_unicode");
    let mut data = unicode_data(&["ab", "c"], 2, false);
    data[4..8].copy_from_slice(&0xD800u32.to_le_bytes()); // a lone surrogate
    bad_tensor(
        &dir,
        "surrogate.npy",
        &npy("<U2", &[2], &data),
        &["element 0", "0xD800"],
    );
    let mut data = unicode_data(&["ab", "c"], 2, false);
    data[8..12].copy_from_slice(&0x110000u32.to_le_bytes());
    bad_tensor(
        &dir,
        "too_big.npy",
        &npy("<U2", &[2], &data),
        &["element 1", "0x110000"],
    );
}

/// Shapes whose element count overflows: refused with a message, never a
/// panic in the header parser.
#[test]
fn huge_shapes_are_refused() {
    let dir = TempDir::new("huge_shape");
    let t40 = 1usize << 40;
    bad_tensor(
        &dir,
        "huge3.npy",
        &npy_header("<f4", false, &[t40, t40, t40]),
        &["more elements"],
    );
    bad_tensor(
        &dir,
        "huge0.npy",
        &npy_header("<f4", false, &[0, t40, t40]),
        &["more elements"],
    );
    bad_tensor(
        &dir,
        "huge_bytes.npy",
        &npy_header("<f8", false, &[1 << 61]),
        &["more bytes"],
    );
    bad_tensor(
        &dir,
        "huge_data.npy",
        &npy_header("<f8", false, &[1 << 40]),
        &["truncated data"],
    );
    bad_tensor(
        &dir,
        "huge_unicode.npy",
        &npy_header("<U4611686018427387904", false, &[1]),
        &[],
    );
}

#[test]
fn bench_reports_every_field() {
    let dir = TempDir::new("bench");
    let out = dir.run(&[
        "bench",
        "--json",
        "--workload",
        "W1",
        "--workload",
        "w5",
        "--samples",
        "1",
        "--sample-ms",
        "1",
    ]);
    assert_success(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    // W1: 9 + 1 * (10 + 16 * 8) bytes.
    assert!(lines[0].starts_with("{\"workload\":\"W1\""), "{text}");
    assert!(lines[0].contains("\"bytes\":147,"), "{text}");
    assert!(lines[1].starts_with("{\"workload\":\"W5\""), "{text}");
    for line in &lines {
        for field in [
            "\"ns_per_encode\":",
            "\"gb_per_s\":",
            "\"memcpy_ns\":",
            "\"ratio_to_memcpy\":",
        ] {
            assert!(line.contains(field), "{field} missing: {line}");
        }
    }
    let table = dir.run(&["bench", "--workload", "W2", "--samples", "1", "--sample-ms", "1"]);
    assert_success(&table);
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.contains("x memcpy") && table.contains("W2"), "{table}");
    let unknown = dir.run(&["bench", "--workload", "W9"]);
    assert_fails(&unknown, 1, &["no workload 'W9'"]);
}

#[test]
fn bench_and_encode_take_a_kernel_level() {
    let dir = TempDir::new("levels");
    let all = dir.run(&[
        "bench",
        "--json",
        "--workload",
        "W2",
        "--level",
        "all",
        "--samples",
        "1",
        "--sample-ms",
        "1",
    ]);
    assert_success(&all);
    let text = String::from_utf8(all.stdout).unwrap();
    let levels: Vec<bprwire::Level> = bprwire::Level::available().collect();
    assert_eq!(text.lines().count(), levels.len(), "{text}");
    for level in &levels {
        assert!(
            text.contains(&format!("\"level\":\"{level}\"")),
            "{level} missing: {text}"
        );
    }

    // With the cap at scalar, a SIMD level is refused with a clear message,
    // by bench (usage error) and by encode (encode error); scalar works.
    std::fs::write(dir.0.join("k.npy"), keys_npy(&[1, 2])).unwrap();
    std::fs::write(
        dir.0.join("v.npy"),
        npy("<f4", &[1, 2], &bytes_of(&[0.5f32, 1.5], f32::to_le_bytes)),
    )
    .unwrap();
    let capped = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_bprwire"))
            .args(args)
            .current_dir(&dir.0)
            .env("BPRWIRE_MAX_LEVEL", "scalar")
            .output()
            .unwrap()
    };
    let bench = capped(&[
        "bench",
        "--workload",
        "W1",
        "--level",
        "avx2",
        "--samples",
        "1",
        "--sample-ms",
        "1",
    ]);
    assert_fails(
        &bench,
        1,
        &["kernel level avx2 is not available here", "available: scalar"],
    );
    let encode = capped(&[
        "encode", "--keys", "k.npy", "--values", "v.npy", "--level", "ssse3", "-o", "x.bin",
    ]);
    assert_fails(
        &encode,
        1,
        &["kernel level ssse3 was forced", "BPRWIRE_MAX_LEVEL cap: scalar"],
    );
    assert!(!dir.0.join("x.bin").exists());
    let scalar = capped(&[
        "encode", "--keys", "k.npy", "--values", "v.npy", "--level", "scalar", "-o", "x.bin",
    ]);
    assert_success(&scalar);
    let best = dir.run(&["encode", "--keys", "k.npy", "--values", "v.npy", "-o", "y.bin"]);
    assert_success(&best);
    assert_eq!(
        std::fs::read(dir.0.join("x.bin")).unwrap(),
        std::fs::read(dir.0.join("y.bin")).unwrap()
    );
}

// ---------------------------------------------------------------------------
// inspect, and encode --envelope

fn json(out: &Output) -> serde_json::Value {
    assert_success(out);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "inspect printed invalid JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn inspect_prints_every_record_as_json() {
    let dir = TempDir::new("inspect");
    assert_success(&dir.run(&["demo", "-o", "d.bin"]));
    let out = dir.run(&["inspect", "d.bin"]);
    // One line per record, between the opening and closing lines.
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 4 + 2);
    let v = json(&out);
    assert_eq!(v["bytes"], 1041);
    assert_eq!(v["records"], 4);
    let rec = &v["predictions"][1];
    assert_eq!(rec["continuousFeatures"]["2"], 0.3125);
    assert_eq!(rec["tensors"]["100"]["type"], "rawTypedTensor");
    assert_eq!(rec["tensors"]["100"]["dtype"], "FLOAT");
    assert_eq!(rec["tensors"]["100"]["shape"], serde_json::json!([8]));
    assert_eq!(rec["tensors"]["100"]["values"][0], -1.0);
    assert_eq!(rec["tensors"]["101"]["values"], serde_json::json!([2000, 2001]));
    assert_eq!(
        rec["tensors"]["102"]["values"],
        serde_json::json!(["row1-a", "row1-b"])
    );

    let v = json(&dir.run(&["inspect", "--summary", "d.bin"]));
    assert_eq!(
        v["fields"]["continuousFeatures"],
        serde_json::json!({"records": 4, "entries": 12})
    );
    assert_eq!(v["tensors"]["100"]["elements"], 32);
    assert_eq!(v["tensors"]["100"]["bytes"], 128);
    assert_eq!(v["tensors"]["102"]["type"], "stringTensor");
    assert!(v.get("predictions").is_none());
}

#[test]
fn inspect_shows_every_field_kind() {
    // A reference-encoded record with all nine fields, odd doubles, binary.
    use bprwire_reference::twml::tensor as t;
    use std::collections::BTreeSet;
    let mut rec = DataRecord::new(None, None, None, None, None, None, None, None, None);
    rec.binary_features = Some(BTreeSet::from([4, 5]));
    rec.continuous_features = Some(BTreeMap::from([
        (1, OrderedFloat(f64::NAN)),
        (2, OrderedFloat(f64::NEG_INFINITY)),
    ]));
    rec.discrete_features = Some(BTreeMap::from([(3, -9)]));
    rec.string_features = Some(BTreeMap::from([(4, "quote \" tab \t é".to_string())]));
    rec.sparse_binary_features = Some(BTreeMap::from([(5, BTreeSet::from(["x".to_string()]))]));
    rec.sparse_continuous_features = Some(BTreeMap::from([(
        6,
        BTreeMap::from([("w".to_string(), OrderedFloat(1e300))]),
    )]));
    rec.blob_features = Some(BTreeMap::from([(7, vec![0xde, 0xad])]));
    rec.tensors = Some(BTreeMap::from([
        (
            8,
            GeneralTensor::BoolTensor(BoolTensor::new(vec![true, false], None)),
        ),
        (
            9,
            GeneralTensor::BinaryTensor(t::BinaryTensor::new(vec![vec![0xff]], Some(vec![1]))),
        ),
        (10, raw(bprwire::DataType::Byte, vec![1, 2, 3], &[3])),
    ]));
    rec.sparse_tensors = Some(BTreeMap::from([(
        11,
        t::SparseTensor::CooSparseTensor(t::COOSparseTensor::new(
            vec![2, 2],
            Int64Tensor::new(vec![0, 1], None),
            GeneralTensor::DoubleTensor(DoubleTensor::new(vec![OrderedFloat(0.5)], None)),
        )),
    )]));
    let dir = TempDir::new("inspect_all");
    dir.put(
        "all.bin",
        &bprwire_reference::serialize(&BatchPredictionResponse::new(vec![rec])),
    );
    let v = json(&dir.run(&["inspect", "all.bin"]));
    let r = &v["predictions"][0];
    assert_eq!(r["binaryFeatures"], serde_json::json!([4, 5]));
    assert_eq!(
        r["continuousFeatures"],
        serde_json::json!({"1": "NaN", "2": "-inf"})
    );
    assert_eq!(r["discreteFeatures"]["3"], -9);
    assert_eq!(r["stringFeatures"]["4"], "quote \" tab \t é");
    assert_eq!(r["sparseBinaryFeatures"]["5"], serde_json::json!(["x"]));
    assert_eq!(r["sparseContinuousFeatures"]["6"]["w"], 1e300);
    assert_eq!(r["blobFeatures"]["7"], "dead");
    assert_eq!(
        r["tensors"]["8"],
        serde_json::json!({"type": "boolTensor", "values": [true, false]})
    );
    assert_eq!(
        r["tensors"]["9"],
        serde_json::json!({"type": "binaryTensor", "shape": [1], "values": ["ff"]})
    );
    assert_eq!(r["tensors"]["10"]["content_hex"], "010203");
    assert_eq!(r["sparseTensors"]["11"]["denseShape"], serde_json::json!([2, 2]));
    assert_eq!(
        r["sparseTensors"]["11"]["values"]["values"],
        serde_json::json!([0.5])
    );
}

#[test]
fn inspect_refuses_a_corrupted_file_with_the_offset() {
    let dir = TempDir::new("inspect_bad");
    assert_success(&dir.run(&["demo", "-o", "d.bin"]));
    let mut bytes = dir.read("d.bin");
    // Byte 11 is the key type of record 0's continuous map (I64 = 0x0A).
    assert_eq!(bytes[11], 0x0A);
    bytes[11] = 0x0B;
    dir.put("bad.bin", &bytes);
    let out = dir.run(&["inspect", "bad.bin"]);
    assert_fails(
        &out,
        1,
        &[
            "bad.bin",
            "at byte 11",
            "(record 0)",
            "DataRecord.continuousFeatures",
            "STRING (11)",
            "I64 (10)",
        ],
    );
    assert!(out.stdout.is_empty(), "printed JSON for a bad file");
    // Truncated, and a byte added.
    dir.put("short.bin", &dir.read("d.bin")[..500]);
    assert_fails(&dir.run(&["inspect", "short.bin"]), 1, &["short.bin", "at byte"]);
    let mut long = dir.read("d.bin");
    long.push(0);
    dir.put("long.bin", &long);
    assert_fails(
        &dir.run(&["inspect", "long.bin"]),
        1,
        &["at byte 1041", "1 bytes after the end"],
    );
    // A bare response is not a reply; a missing file.
    assert_fails(
        &dir.run(&["inspect", "--envelope", "d.bin"]),
        1,
        &["at byte 0", "message header"],
    );
    assert_fails(
        &dir.run(&["inspect", "nope.bin"]),
        1,
        &["nope.bin", "cannot read"],
    );
}

#[test]
fn encode_writes_replies_that_inspect_reads() {
    let dir = TempDir::new("envelope");
    dir.put("keys.npy", &keys_npy(&[7]));
    dir.put("values.npy", &npy("<f4", &[1, 1], &0.5f32.to_le_bytes()));
    let base = ["encode", "--keys", "keys.npy", "--values", "values.npy"];
    let run = |extra: &[&str]| {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let out = dir.run(&args);
        assert_success(&out);
        out
    };
    run(&["-o", "plain.bin"]);
    run(&["--envelope", "--seqid", "-5", "-o", "reply.bin"]);
    let out = run(&["--envelope", "--seqid", "7", "--framed", "-o", "framed.bin"]);
    assert!(
        stderr(&out).contains("framed reply (seqid 7)"),
        "{}",
        stderr(&out)
    );

    let plain = dir.read("plain.bin");
    let enc = BatchPrediction::new()
        .continuous(&[7], &[0.5f32], &[1])
        .encoder()
        .unwrap();
    use bprwire::service::{decode_reply, Envelope, Reply};
    for (file, env) in [
        (
            "reply.bin",
            Envelope {
                seqid: -5,
                framed: false,
            },
        ),
        (
            "framed.bin",
            Envelope {
                seqid: 7,
                framed: true,
            },
        ),
    ] {
        let bytes = dir.read(file);
        assert_eq!(bytes, enc.encode_reply_to_vec(env).unwrap());
        let msg = decode_reply(&bytes, env.framed).unwrap();
        assert_eq!(msg.seqid, env.seqid);
        let Reply::Success(resp) = msg.body else { panic!() };
        assert_eq!(resp.reencode(), plain);
    }
    let v = json(&dir.run(&["inspect", "--framed", "framed.bin"]));
    assert_eq!(
        v["message"],
        serde_json::json!({"type": "REPLY", "method": "getBatchPrediction", "seqid": 7, "framed": true})
    );
    assert_eq!(v["predictions"][0]["continuousFeatures"]["7"], 0.5);
    let v = json(&dir.run(&["inspect", "--envelope", "reply.bin"]));
    assert_eq!(v["message"]["seqid"], -5);
    // An exception reply.
    let exc = bprwire::service::service_exception_reply(
        Envelope {
            seqid: 1,
            framed: false,
        },
        Some("no model"),
    )
    .unwrap();
    dir.put("exc.bin", &exc);
    let v = json(&dir.run(&["inspect", "--envelope", "exc.bin"]));
    assert_eq!(v["predictionServiceException"]["description"], "no model");
    // --seqid and --framed need --envelope.
    let out = dir.run(&[
        "encode",
        "--keys",
        "keys.npy",
        "--values",
        "values.npy",
        "--framed",
        "-o",
        "x.bin",
    ]);
    assert_fails(&out, 2, &["--envelope"]);
}

// ---------------------------------------------------------------------------
// BPRWIRE_MAX_LEVEL: level names in any case, and a value that names no
// level is never silent.

/// Runs `encode --level ssse3` on a small continuous pair with
/// `BPRWIRE_MAX_LEVEL` set to `value`.
fn encode_ssse3_with_cap(value: &std::ffi::OsStr) -> Output {
    let dir = TempDir::new("cap");
    dir.put("k.npy", &keys_npy(&[1, 2]));
    dir.put(
        "v.npy",
        &npy("<f4", &[1, 2], &bytes_of(&[0.5f32, 1.5], f32::to_le_bytes)),
    );
    Command::new(env!("CARGO_BIN_EXE_bprwire"))
        .args([
            "encode", "--keys", "k.npy", "--values", "v.npy", "--level", "ssse3", "-o", "x.bin",
        ])
        .current_dir(&dir.0)
        .env("BPRWIRE_MAX_LEVEL", value)
        .output()
        .unwrap()
}

#[test]
fn max_level_names_are_read_in_any_case_and_empty_means_no_cap() {
    if !bprwire::Level::Ssse3.cpu_has() {
        eprintln!("skipped: this CPU has no SSSE3");
        return;
    }
    for value in ["AVX2", "Ssse3", " avx512 ", "", "  "] {
        let out = encode_ssse3_with_cap(value.as_ref());
        assert_success(&out);
        assert!(!stderr(&out).contains("warning"), "{value:?}: {}", stderr(&out));
    }
}

#[test]
fn a_max_level_that_names_no_level_warns_and_caps_at_scalar() {
    use std::os::unix::ffi::OsStrExt;
    for (value, shown) in [
        (std::ffi::OsStr::new("avx3"), "\"avx3\""),
        (std::ffi::OsStr::new("sse"), "\"sse\""),
        (std::ffi::OsStr::from_bytes(b"avx\xff2"), "\"avx\u{fffd}2\""),
    ] {
        let out = encode_ssse3_with_cap(value);
        assert_fails(
            &out,
            1,
            &[
                &format!("bprwire: warning: BPRWIRE_MAX_LEVEL={shown} names no level"),
                "capped at scalar",
                "kernel level ssse3 was forced",
            ],
        );
    }
}

// ---------------------------------------------------------------------------
// Hostile and careless use: every one of these crashed, lost data or wrote
// bytes no Thrift reader accepts before bprwire was hardened.

/// The outcome of a `bprwire` run: exit status and stderr.
struct Ran {
    code: Option<i32>,
    stderr: String,
}

/// Runs `bprwire args` in `dir` through `sh -c` with `shell_prefix` (e.g.
/// `ulimit -f 1;`), stdout discarded.
fn run_sh(dir: &TempDir, shell_prefix: &str, args: &[&str]) -> Ran {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!(
        "{shell_prefix} exec '{}' {}",
        env!("CARGO_BIN_EXE_bprwire"),
        quoted.join(" ")
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .current_dir(&dir.0)
        .stdout(std::process::Stdio::null())
        .output()
        .expect("run sh");
    Ran {
        code: out.status.code(),
        stderr: stderr(&out),
    }
}

/// A process's own peak resident set (`VmHWM`, KiB), read from /proc while
/// it runs. (A child's `ru_maxrss` is no use here: it counts the memory of
/// the test process it was forked from.)
fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process is alive");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Runs `bprwire args` in `dir` (stdout discarded) and samples its peak
/// memory (`VmHWM`, a high-water mark) every millisecond until it exits.
/// Returns the last sample (KiB) and the run's outcome.
fn peak_rss_polled(dir: &TempDir, args: &[&str]) -> (u64, Ran) {
    let mut child = dir.spawn(args, std::process::Stdio::null());
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        // The process may exit between the two calls: keep the last sample.
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", child.id())) {
            if let Some(kib) = status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            {
                peak = kib;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let out = child.wait_with_output().unwrap();
    (
        peak,
        Ran {
            code: out.status.code(),
            stderr: stderr(&out),
        },
    )
}

/// Runs `bprwire args` in `dir` with stdout to a pipe; reads all but the
/// last 1 MiB of its `total`-byte output, so that it is blocked near its
/// end, and reads its peak memory there (what it needs for that output);
/// then drains the rest and checks the total. Returns the peak (KiB) and
/// the run's outcome.
fn peak_rss_while_streaming(dir: &TempDir, args: &[&str], total: u64) -> (u64, Ran) {
    use std::io::Read;
    let mut child = dir.spawn(args, std::process::Stdio::piped());
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let stop_at = total.saturating_sub(1 << 20);
    let mut got = 0u64;
    while got < stop_at {
        let want = buf.len().min((stop_at - got) as usize);
        let n = stdout.read(&mut buf[..want]).expect("read stdout");
        assert!(n > 0, "bprwire stopped after {got} of {total} bytes");
        got += n as u64;
    }
    let peak = vm_hwm_kib(child.id());
    loop {
        let n = stdout.read(&mut buf).expect("read stdout");
        if n == 0 {
            break;
        }
        got += n as u64;
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(got, total, "output length");
    (
        peak,
        Ran {
            code: out.status.code(),
            stderr: stderr(&out),
        },
    )
}

/// Files left in `dir` besides `keep` (temporary files must not be).
fn leftovers(dir: &TempDir, keep: &[&str]) -> Vec<String> {
    std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect()
}

/// A 128-byte file that claims 2^31-1 empty strings (`|S0` and `<U0`): a
/// legal response of about 64 GB. bprwire streams it from the file's own
/// 128 bytes: memory stays small while it writes, and a reader that goes
/// away ends it quietly with status 0.
#[test]
fn a_tiny_file_claiming_two_billion_empty_strings_streams_in_small_memory() {
    use std::io::Read;
    for descr in ["|S0", "<U0"] {
        let dir = TempDir::new("claims");
        dir.put("tk.npy", &keys_npy(&[1]));
        let file = npy(descr, &[i32::MAX as usize], &[]);
        assert_eq!(file.len(), 128);
        dir.put("s0.npy", &file);
        let mut child = dir.spawn(
            &[
                "encode",
                "--tensor-keys",
                "tk.npy",
                "--tensor",
                "s0.npy",
                "-o",
                "-",
            ],
            std::process::Stdio::piped(),
        );
        let mut stdout = child.stdout.take().unwrap();
        let mut head = vec![0u8; 16 << 20];
        stdout.read_exact(&mut head).expect("the response streams out");
        let peak = vm_hwm_kib(child.id());
        eprintln!("{descr}: peak RSS {peak} KiB after 16 MiB out");
        assert!(peak < 100 * 1024, "{descr}: peak RSS {peak} KiB after 16 MiB out");
        // The first records, as the library writes them for the same input.
        let empty: [&[u8]; 3] = [b""; 3];
        let t = [Tensor::new(&empty, &[3])];
        let three = BatchPrediction::new().dense(&[1], &t).encode_to_vec().unwrap();
        let record = (three.len() - 9) / 3;
        assert_eq!(&head[..4], &three[..4], "{descr}");
        assert_eq!(&head[4..8], &(i32::MAX).to_be_bytes(), "{descr}: 2^31-1 records");
        assert_eq!(&head[8..8 + 3 * record], &three[8..8 + 3 * record], "{descr}");
        drop(stdout); // the reader goes away
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{descr}: a closed stdout is a quiet success: {}",
            stderr(&out)
        );
        assert!(out.stderr.is_empty(), "{descr}: {}", stderr(&out));
    }
}

/// A real `|S1` array is read in place: peak memory is the file plus a
/// small constant, not 16 bytes per element.
#[test]
fn byte_strings_cost_about_their_file_size_in_memory() {
    let dir = TempDir::new("s1_memory");
    let (rows, cols) = (400, 50_000); // 20 MB of one-byte strings
    let data: Vec<u8> = (0..rows * cols).map(|i| b'a' + (i % 26) as u8).collect();
    dir.put("tk.npy", &keys_npy(&[1]));
    dir.put("s1.npy", &npy("|S1", &[rows, cols], &data));
    let t = [Tensor::new(
        TensorData::Padded {
            bytes: &data,
            width: 1,
            kind: bprwire::StringKind::Text,
        },
        &[rows, cols],
    )];
    let total = BatchPrediction::new()
        .dense(&[1], &t)
        .encoder()
        .unwrap()
        .encoded_len() as u64;
    let args = [
        "encode",
        "--tensor-keys",
        "tk.npy",
        "--tensor",
        "s1.npy",
        "-o",
        "-",
    ];
    let (peak, ran) = peak_rss_while_streaming(&dir, &args, total);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let file_kib = (data.len() / 1024) as u64;
    eprintln!("peak RSS {peak} KiB for a {file_kib} KiB |S1 file");
    assert!(
        peak < file_kib + 16 * 1024,
        "peak RSS {peak} KiB for a {file_kib} KiB file"
    );
}

/// A response larger than memory (the format allows it) is streamed: about
/// 2.5 GB, 50,000,000 records of a zero-width tensor, plain and as a reply,
/// in under 100 MB: to /dev/null (bprwire's own peak sampled every
/// millisecond while it runs), and to a pipe the test drains (the peak read
/// while it is blocked near its end). Slow in a debug build: `.ci/run` runs
/// it (`--ignored`, release).
#[test]
#[ignore]
fn a_response_of_gigabytes_is_streamed_in_bounded_memory() {
    use bprwire::service::Envelope;
    let dir = TempDir::new("huge_response");
    let rows = 50_000_000;
    dir.put("tk.npy", &keys_npy(&[1]));
    dir.put("z.npy", &npy("<f4", &[rows, 0], &[]));
    let t = [Tensor::new(&[] as &[f32], &[rows, 0])];
    let enc = BatchPrediction::new().dense(&[1], &t).encoder().unwrap();
    assert!(enc.encoded_len() > 1_500_000_000, "{}", enc.encoded_len());
    let reply = enc
        .reply_len(Envelope {
            seqid: 9,
            framed: false,
        })
        .unwrap();
    for (extra, total) in [
        (&[][..], enc.encoded_len()),
        (&["--envelope", "--seqid", "9"], reply),
    ] {
        let mut args = vec!["encode", "--tensor-keys", "tk.npy", "--tensor", "z.npy"];
        args.extend_from_slice(extra);
        let (peak, ran) = peak_rss_while_streaming(&dir, &[&args[..], &["-o", "-"]].concat(), total as u64);
        assert_eq!(ran.code, Some(0), "{extra:?}: {}", ran.stderr);
        assert!(peak < 100 * 1024, "{extra:?}: peak RSS {peak} KiB");
        eprintln!("{extra:?}: peak RSS {peak} KiB with {total} bytes written");
        let (peak, ran) = peak_rss_polled(&dir, &[&args[..], &["-o", "/dev/null"]].concat());
        assert_eq!(ran.code, Some(0), "{extra:?} to /dev/null: {}", ran.stderr);
        assert!(
            peak > 0 && peak < 100 * 1024,
            "{extra:?} to /dev/null: peak RSS {peak} KiB"
        );
        eprintln!("{extra:?} to /dev/null: peak RSS {peak} KiB");
    }
    // Framed, the message would not fit its i32 length prefix: refused
    // before anything is written.
    let ran = run_sh(
        &dir,
        "",
        &[
            "encode",
            "--tensor-keys",
            "tk.npy",
            "--tensor",
            "z.npy",
            "--envelope",
            "--framed",
            "-o",
            "f.bin",
        ],
    );
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("framed message"), "{}", ran.stderr);
    assert_eq!(leftovers(&dir, &["tk.npy", "z.npy"]), Vec::<String>::new());
}

/// Over a file-size limit (`ulimit -f`), the write fails with EFBIG (not
/// SIGXFSZ): exit 1 with a message, the previous output kept byte for
/// byte, and no temporary file left behind.
#[test]
fn a_failed_write_keeps_the_previous_output() {
    let dir = TempDir::new("keep_old");
    dir.put("keys.npy", &keys_npy(&[1, 2]));
    dir.put(
        "small.npy",
        &npy("<f4", &[1, 2], &bytes_of(&[0.5f32, 1.5], f32::to_le_bytes)),
    );
    let big: Vec<f32> = (0..2 * 100_000).map(|i| i as f32).collect();
    dir.put(
        "big.npy",
        &npy("<f4", &[100_000, 2], &bytes_of(&big, f32::to_le_bytes)),
    );
    assert_success(&dir.run(&[
        "encode",
        "--keys",
        "keys.npy",
        "--values",
        "small.npy",
        "-o",
        "out.bin",
    ]));
    let good = dir.read("out.bin");
    // 1 block of sh's `ulimit -f` is at most 1 KiB; the big response is 4 MB.
    for extra in [&[][..], &["--envelope", "--framed"]] {
        let mut args = vec![
            "encode", "--keys", "keys.npy", "--values", "big.npy", "-o", "out.bin",
        ];
        args.extend_from_slice(extra);
        let m = run_sh(&dir, "ulimit -f 1;", &args);
        assert_eq!(
            m.code,
            Some(1),
            "{extra:?}: killed by a signal or succeeded: {}",
            m.stderr
        );
        assert!(m.stderr.contains("cannot write out.bin"), "{}", m.stderr);
        assert!(m.stderr.contains("File too large"), "{}", m.stderr);
        assert_eq!(dir.read("out.bin"), good, "{extra:?}: the old output changed");
        assert_eq!(
            leftovers(&dir, &["keys.npy", "small.npy", "big.npy", "out.bin"]),
            Vec::<String>::new()
        );
    }
}

/// A full device is an error with a message; a device or a symlink target
/// is written through, never replaced.
#[test]
fn devices_and_symlinks_are_written_through() {
    let dir = TempDir::new("devices");
    dir.put("keys.npy", &keys_npy(&[1]));
    dir.put("v.npy", &npy("<f4", &[1], &[0; 4]));
    let run = |out: &str| dir.run(&["encode", "--keys", "keys.npy", "--values", "v.npy", "-o", out]);
    assert_fails(
        &run("/dev/full"),
        1,
        &["cannot write /dev/full", "No space left on device"],
    );
    assert_success(&run("/dev/null"));
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
    // A symlink to a file: the file gets the bytes, the link stays a link.
    dir.put("real.bin", b"old");
    std::os::unix::fs::symlink("real.bin", dir.0.join("link.bin")).unwrap();
    assert_success(&run("link.bin"));
    assert!(std::fs::symlink_metadata(dir.0.join("link.bin"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(decode(&dir.read("real.bin")).predictions.len(), 1);
    // A FIFO is written directly (a reader drains it).
    let fifo = dir.0.join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let reader = std::thread::spawn(move || std::fs::read(fifo).unwrap());
    assert_success(&run("fifo"));
    assert_eq!(decode(&reader.join().unwrap()).predictions.len(), 1);
    assert!(std::fs::metadata(dir.0.join("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
}

/// `bprwire inspect big.bin | head`: the reader goes away after a line;
/// bprwire ends quietly with status 0. `encode -o - | head -c 10` too.
#[test]
fn a_closed_stdout_ends_quietly_with_status_0() {
    use std::io::{BufRead, Read};
    let dir = TempDir::new("pipe");
    let rows = 20_000;
    let values: Vec<f32> = (0..rows).map(|i| i as f32).collect();
    dir.put("keys.npy", &keys_npy(&[1]));
    dir.put(
        "v.npy",
        &npy("<f4", &[rows], &bytes_of(&values, f32::to_le_bytes)),
    );
    assert_success(&dir.run(&[
        "encode", "--keys", "keys.npy", "--values", "v.npy", "-o", "big.bin",
    ]));
    let spawn = |args: &[&str]| dir.spawn(args, std::process::Stdio::piped());
    let mut inspect = spawn(&["inspect", "big.bin"]);
    let mut line = String::new();
    std::io::BufReader::new(inspect.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with('{'), "{line}");
    let out = inspect.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));

    let mut encode = spawn(&["encode", "--keys", "keys.npy", "--values", "v.npy", "-o", "-"]);
    let mut ten = [0u8; 10];
    encode.stdout.take().unwrap().read_exact(&mut ten).unwrap();
    let out = encode.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    assert_eq!(ten, dir.read("big.bin")[..10]);

    let mut bench = spawn(&["bench", "--samples", "1", "--sample-ms", "1"]);
    drop(bench.stdout.take());
    let out = bench.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

/// numpy bytes that are not UTF-8 are refused for a stringTensor, naming
/// the file, the key, the row and the element; `--binary` writes them as a
/// binaryTensor that the reference decodes to the same bytes.
#[test]
fn non_utf8_bytes_are_refused_or_written_as_binary() {
    let dir = TempDir::new("binary");
    dir.put("tk.npy", &keys_npy(&[9]));
    let strings: [&[u8]; 4] = [b"ok", b"\xff\xfe", b"", b"a\x00b"];
    dir.put("s.npy", &npy("|S3", &[2, 2], &bytestr_data(&strings, 3)));
    let out = dir.run(&[
        "encode",
        "--tensor-keys",
        "tk.npy",
        "--tensor",
        "s.npy",
        "-o",
        "x.bin",
    ]);
    assert_fails(
        &out,
        1,
        &["s.npy", "key 9", "row 0, element 1", "not UTF-8", "binaryTensor"],
    );
    assert!(!dir.0.join("x.bin").exists());

    let out = dir.run(&[
        "encode",
        "--tensor-keys",
        "tk.npy",
        "--tensor",
        "s.npy",
        "--binary",
        "-o",
        "x.bin",
    ]);
    assert_success(&out);
    let resp = decode(&dir.read("x.bin"));
    let rows: Vec<Vec<Vec<u8>>> = resp
        .predictions
        .iter()
        .map(|r| match &r.tensors.as_ref().unwrap()[&9] {
            GeneralTensor::BinaryTensor(b) => b.binaries.clone(),
            other => panic!("a binaryTensor was expected: {other:?}"),
        })
        .collect();
    assert_eq!(
        rows,
        [
            vec![b"ok".to_vec(), b"\xff\xfe".to_vec()],
            vec![vec![], b"a\x00b".to_vec()]
        ]
    );
}

/// `|b1` bytes above 1 are written as 1: a consumer copying the content
/// into a C++ or TensorFlow bool gets valid values.
#[test]
fn bool_files_with_bytes_above_1_are_normalised() {
    let dir = TempDir::new("bool");
    dir.put("tk.npy", &keys_npy(&[3]));
    dir.put("b.npy", &npy("|b1", &[1, 4], &[0, 1, 2, 255]));
    assert_success(&dir.run(&[
        "encode",
        "--tensor-keys",
        "tk.npy",
        "--tensor",
        "b.npy",
        "-o",
        "x.bin",
    ]));
    let resp = decode(&dir.read("x.bin"));
    let GeneralTensor::RawTypedTensor(raw) = &resp.predictions[0].tensors.as_ref().unwrap()[&3] else {
        panic!("a raw tensor was expected")
    };
    assert_eq!(raw.content, [0, 1, 1, 1]);
}

/// Headers npyz would have multiplied with overflow (a panic in a debug
/// build): hex and underscored dims are refused by bprwire's own parser.
#[test]
fn hex_and_underscored_dims_are_refused_cleanly() {
    let dir = TempDir::new("hex");
    for (i, dims) in [
        "(0x100000000, 0x100000000)",
        "(4_294_967_296, 4_294_967_296)",
        "(1e9,)",
    ]
    .into_iter()
    .enumerate()
    {
        let text = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {dims}, }}\n");
        let mut file = b"\x93NUMPY\x01\x00".to_vec();
        file.extend((text.len() as u16).to_le_bytes());
        file.extend(text.as_bytes());
        bad_tensor(
            &dir,
            &format!("hex{i}.npy"),
            &file,
            &["not a valid npy header", "is not a non-negative decimal integer"],
        );
    }
    // An overflowing shape says so, with its dims.
    let t = 1usize << 40;
    bad_tensor(
        &dir,
        "overflow.npy",
        &npy_header("<f4", false, &[t, t]),
        &[&format!(
            "shape ({t}, {t}) has more elements than a 64-bit count holds"
        )],
    );
}

/// Interrupted (SIGINT, SIGTERM) while writing a large file: the temporary
/// file is removed, the previous output is intact, and the process ends as
/// the signal ends it.
#[test]
fn an_interrupted_write_leaves_no_temporary_file() {
    use std::os::unix::process::ExitStatusExt;
    let dir = TempDir::new("interrupted");
    dir.put("tk.npy", &keys_npy(&[1]));
    dir.put("z.npy", &npy("<f4", &[50_000_000, 0], &[]));
    dir.put("out.bin", b"the previous output");
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let mut child = dir.spawn(
            &[
                "encode",
                "--tensor-keys",
                "tk.npy",
                "--tensor",
                "z.npy",
                "-o",
                "out.bin",
            ],
            std::process::Stdio::null(),
        );
        // Wait until the temporary file has bytes in it.
        let started = std::time::Instant::now();
        loop {
            let writing = leftovers(&dir, &["tk.npy", "z.npy", "out.bin"])
                .iter()
                .any(|n| std::fs::metadata(dir.0.join(n)).is_ok_and(|m| m.len() > 0));
            if writing {
                break;
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "bprwire ended before it was interrupted"
            );
            assert!(started.elapsed().as_secs() < 30, "no temporary file appeared");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.signal(), Some(sig), "{}", stderr(&out));
        assert_eq!(
            leftovers(&dir, &["tk.npy", "z.npy", "out.bin"]),
            Vec::<String>::new()
        );
        assert_eq!(dir.read("out.bin"), b"the previous output");
    }
}

/// A target that may not be written (here immutable, which binds root too)
/// is refused up front: exit 1 with the reason, the file as it was, and no
/// temporary file left. (Without `chattr`, or on a filesystem without
/// immutable files, there is nothing to check.)
#[test]
fn a_target_that_may_not_be_written_is_refused_and_kept() {
    let dir = TempDir::new("immutable");
    dir.put("keys.npy", &keys_npy(&[1]));
    dir.put("v.npy", &npy("<f4", &[1], &[0; 4]));
    dir.put("locked.bin", b"locked");
    let lock = |flag: &str| {
        Command::new("chattr")
            .args([flag, "locked.bin"])
            .current_dir(&dir.0)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !lock("+i") {
        eprintln!("skipped: chattr +i is not available here");
        return;
    }
    let out = dir.run(&[
        "encode",
        "--keys",
        "keys.npy",
        "--values",
        "v.npy",
        "-o",
        "locked.bin",
    ]);
    let kept = dir.read("locked.bin");
    let left = leftovers(&dir, &["keys.npy", "v.npy", "locked.bin"]);
    assert!(lock("-i"), "chattr -i");
    assert_fails(&out, 1, &["cannot write locked.bin", "Operation not permitted"]);
    assert_eq!(kept, b"locked");
    assert_eq!(left, Vec::<String>::new());
}

// ---------------------------------------------------------------------------
// inspect --request, scatter, and the demo's serving loop

use bprwire::features::{Array, Buffers, FeatureLayout, OutputType, Rows};

/// The layout of the request fixtures, and the same layout as the JSON
/// that `bprwire scatter --layout` reads.
fn request_layout() -> (FeatureLayout, &'static str) {
    let layout = FeatureLayout::builder()
        .continuous(&[1, 2, 3], OutputType::F32, f64::NAN)
        .binary(&[10, 11], OutputType::F32)
        .discrete(&[20, 21], -1)
        .tensor(30, 4, OutputType::F32)
        .tensor(31, 2, OutputType::I64)
        .build()
        .unwrap();
    let json = r#"{"continuous": {"ids": [1, 2, 3], "dtype": "float32", "default": "nan"},
                   "binary":     {"ids": [10, 11], "dtype": "float32"},
                   "discrete":   {"ids": [20, 21], "default": -1},
                   "tensors":    [{"id": 30, "width": 4, "dtype": "float32"},
                                  {"id": 31, "width": 2, "dtype": "int64"}]}"#;
    (layout, json)
}

/// Three rows and a common row for [`request_layout`]: NaN where a
/// continuous feature is absent, odd values (-0.0, a subnormal, 1e30,
/// i64's extremes), a common continuous value a record overrides with NaN.
struct RequestRows {
    continuous: Vec<f32>,
    binary: Vec<f32>,
    discrete: Vec<i64>,
    t30: Vec<f32>,
    t31: Vec<i64>,
    common_continuous: Vec<f32>,
    common_binary: Vec<f32>,
    common_discrete: Vec<i64>,
    common_t30: Vec<f32>,
    common_t31: Vec<i64>,
}

const NAN: f32 = f32::NAN;

fn request_rows() -> RequestRows {
    RequestRows {
        continuous: vec![
            0.5,
            NAN,
            -0.0, //
            1e30,
            7.5,
            NAN, //
            NAN,
            2.0,
            f32::MIN_POSITIVE / 2.0,
        ],
        binary: vec![1.0, 1.0, 0.0, 1.0, 0.0, 1.0],
        discrete: vec![3, -1, -1, i64::MAX, 0, i64::MIN],
        t30: vec![0.25, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0],
        t31: vec![0, 0, 7, -7, i64::MAX, 1],
        common_continuous: vec![NAN, 7.5, NAN],
        common_binary: vec![0.0, 1.0],
        common_discrete: vec![3, -1],
        common_t30: vec![0.0; 4],
        common_t31: vec![0, 0],
    }
}

impl RequestRows {
    fn rows(&self) -> Rows<'_> {
        Rows::new(3)
            .continuous(&self.continuous)
            .binary(&self.binary)
            .discrete(&self.discrete)
            .tensor(30, &self.t30)
            .tensor(31, &self.t31)
    }

    fn common(&self) -> Rows<'_> {
        Rows::new(1)
            .continuous(&self.common_continuous)
            .binary(&self.common_binary)
            .discrete(&self.common_discrete)
            .tensor(30, &self.common_t30)
            .tensor(31, &self.common_t31)
    }

    /// The request, with or without the common row.
    fn request(&self, layout: &FeatureLayout, with_common: bool) -> Vec<u8> {
        let common = self.common();
        layout
            .write_request(&self.rows(), with_common.then_some(&common))
            .unwrap()
            .encode_to_vec()
    }
}

/// The files of a folder and their bytes.
fn snapshot(dir: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| {
                    let e = e.unwrap();
                    let bytes = std::fs::read(e.path()).unwrap_or_else(|_| b"<not a file>".to_vec());
                    (e.file_name().to_string_lossy().into_owned(), bytes)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A `.npy` file read by npyz: its descr, its shape, its values.
fn read_npy<T: npyz::Deserialize>(bytes: &[u8]) -> (String, Vec<u64>, Vec<T>) {
    let file = npyz::NpyFile::new(bytes).expect("npyz reads the header");
    assert_eq!(file.order(), npyz::Order::C);
    let descr = file.dtype().descr();
    let shape = file.shape().to_vec();
    (descr, shape, file.into_vec().expect("npyz reads the data"))
}

fn f32_bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn inspect_request_prints_the_records_then_the_common_features() {
    let dir = TempDir::new("inspect_request");
    let (layout, _) = request_layout();
    let rows = request_rows();
    let bytes = rows.request(&layout, true);
    dir.put("req.bin", &bytes);
    let out = dir.run(&["inspect", "--request", "req.bin"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // The top line, one line per record, "],", and commonFeatures alone.
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 3 + 2, "{text}");
    assert!(lines[0].ends_with("\"individualFeaturesList\": ["), "{text}");
    assert!(lines[5].starts_with("\"commonFeatures\": {"), "{text}");
    let v = json(&out);
    assert_eq!(v["bytes"], bytes.len());
    assert_eq!(v["records"], 3);
    assert_eq!(v["common"], true);
    assert_eq!(v["skipped_fields"], 0);
    let recs = v["individualFeaturesList"].as_array().unwrap();
    assert_eq!(recs.len(), 3);
    // Row 0: 0.5 and -0.0 differ from the common row, NaN (absent) does
    // not, 7.5 is common; binary 10 is its own, 11 common.
    assert_eq!(
        recs[0]["continuousFeatures"],
        serde_json::json!({"1": 0.5, "2": "NaN", "3": -0.0})
    );
    assert_eq!(recs[0]["binaryFeatures"], serde_json::json!([10]));
    assert!(recs[0].get("discreteFeatures").is_none());
    assert_eq!(recs[0]["tensors"]["30"]["type"], "floatTensor");
    assert_eq!(
        recs[0]["tensors"]["30"]["values"],
        serde_json::json!([0.25, -1.0, 0.0, 0.0])
    );
    assert_eq!(
        recs[1]["continuousFeatures"],
        serde_json::json!({"1": 1e30_f32 as f64})
    );
    assert_eq!(
        recs[1]["discreteFeatures"],
        serde_json::json!({"20": -1, "21": i64::MAX})
    );
    assert!(recs[1].get("tensors").is_none_or(|t| t.get("30").is_none()));
    assert_eq!(recs[1]["tensors"]["31"]["values"], serde_json::json!([7, -7]));
    assert_eq!(
        recs[2]["discreteFeatures"],
        serde_json::json!({"20": 0, "21": i64::MIN})
    );
    let common = &v["commonFeatures"];
    assert_eq!(common["continuousFeatures"], serde_json::json!({"2": 7.5}));
    assert_eq!(common["binaryFeatures"], serde_json::json!([11]));
    assert_eq!(common["discreteFeatures"], serde_json::json!({"20": 3}));
    assert!(common.get("tensors").is_none());

    // --summary: the records' counts, and commonFeatures' apart.
    let v = json(&dir.run(&["inspect", "--request", "--summary", "req.bin"]));
    assert_eq!(v["records"], 3);
    assert_eq!(
        v["fields"]["continuousFeatures"],
        serde_json::json!({"records": 3, "entries": 6})
    );
    assert_eq!(v["tensors"]["30"]["records"], 2);
    assert_eq!(v["tensors"]["30"]["type"], "floatTensor");
    assert_eq!(
        v["commonFeatures"]["fields"]["binaryFeatures"],
        serde_json::json!({"records": 1, "entries": 1})
    );
    assert!(v.get("individualFeaturesList").is_none());

    // Without commonFeatures: "common": false, and no such line.
    dir.put("plain.bin", &rows.request(&layout, false));
    let out = dir.run(&["inspect", "--request", "plain.bin"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1 + 3 + 1);
    let v = json(&out);
    assert_eq!(v["common"], false);
    assert!(v.get("commonFeatures").is_none());
    assert_eq!(
        v["individualFeaturesList"][1]["binaryFeatures"],
        serde_json::json!([11])
    );

    // A bad request: the file, the byte offset; nothing printed.
    dir.put("short.bin", &bytes[..bytes.len() - 9]);
    let out = dir.run(&["inspect", "--request", "short.bin"]);
    assert_fails(&out, 1, &["short.bin", "not a valid request", "at byte"]);
    assert!(out.stdout.is_empty());
    // individualFeaturesList (field 1) as a struct, not a list.
    let mut wrong = bytes.clone();
    assert_eq!(wrong[..3], [0x0F, 0, 1]);
    wrong[0] = 0x0C;
    dir.put("wrong.bin", &wrong);
    assert_fails(
        &dir.run(&["inspect", "--request", "wrong.bin"]),
        1,
        &["wrong.bin", "at byte 0", "individualFeaturesList", "STRUCT (12)"],
    );
    // --request is a request, not a reply.
    assert_fails(
        &dir.run(&["inspect", "--request", "--envelope", "req.bin"]),
        2,
        &["--request"],
    );
}

#[test]
fn scatter_writes_one_npy_per_output_equal_to_the_rows_bit_for_bit() {
    let dir = TempDir::new("scatter");
    let (layout, json_text) = request_layout();
    let rows = request_rows();
    let bytes = rows.request(&layout, true);
    dir.put("req.bin", &bytes);
    dir.put("layout.json", json_text.as_bytes());
    let out = dir.run(&["scatter", "--layout", "layout.json", "req.bin", "-o", "out"]);
    assert_success(&out);
    let files = snapshot(&dir.0.join("out"));
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        [
            "binary.npy",
            "continuous.npy",
            "discrete.npy",
            "tensor_30.npy",
            "tensor_31.npy"
        ]
    );
    // Every header ends on a 64-byte boundary, as numpy writes it.
    for (name, b) in &files {
        let header_len = 10 + usize::from(u16::from_le_bytes([b[8], b[9]]));
        assert_eq!(header_len % 64, 0, "{name}");
    }
    let (descr, shape, v) = read_npy::<f32>(&files["continuous.npy"]);
    assert_eq!((descr.as_str(), shape.as_slice()), ("'<f4'", &[3, 3][..]));
    assert_eq!(f32_bits(&v), f32_bits(&rows.continuous));
    let (descr, shape, v) = read_npy::<f32>(&files["binary.npy"]);
    assert_eq!((descr.as_str(), shape.as_slice()), ("'<f4'", &[3, 2][..]));
    assert_eq!(f32_bits(&v), f32_bits(&rows.binary));
    let (descr, shape, v) = read_npy::<i64>(&files["discrete.npy"]);
    assert_eq!((descr.as_str(), shape.as_slice()), ("'<i8'", &[3, 2][..]));
    assert_eq!(v, rows.discrete);
    let (descr, shape, v) = read_npy::<f32>(&files["tensor_30.npy"]);
    assert_eq!((descr.as_str(), shape.as_slice()), ("'<f4'", &[3, 4][..]));
    assert_eq!(f32_bits(&v), f32_bits(&rows.t30));
    let (descr, shape, v) = read_npy::<i64>(&files["tensor_31.npy"]);
    assert_eq!((descr.as_str(), shape.as_slice()), ("'<i8'", &[3, 2][..]));
    assert_eq!(v, rows.t31);
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    for needle in [
        "3 rows from req.bin (with commonFeatures",
        "continuous.npy  float32 [3, 3]",
        "tensor_31.npy   int64 [3, 2]",
        "skipped (ids the layout does not name): continuous 0, binary 0, discrete 0, tensors 0",
        "wrote 5 files to out",
    ] {
        assert!(report.contains(needle), "report lacks {needle:?}: {report}");
    }

    // A model that reads fewer features: only its outputs are written (in
    // a folder that exists, over what it held), the rest is skipped and
    // counted as the library counts it.
    dir.put(
        "narrow.json",
        br#"{"continuous": {"ids": [3, 1], "dtype": "float64", "default": "-Inf"},
             "binary": {"ids": [11], "dtype": "uint8"},
             "tensors": [{"id": 31, "width": 2, "dtype": "float64"}]}"#,
    );
    let out = dir.run(&["scatter", "--layout", "narrow.json", "req.bin", "-o", "out"]);
    assert_success(&out);
    let narrow = FeatureLayout::builder()
        .continuous(&[3, 1], OutputType::F64, f64::NEG_INFINITY)
        .binary(&[11], OutputType::U8)
        .tensor(31, 2, OutputType::F64)
        .build()
        .unwrap();
    let mut buffers = Buffers::new(&narrow, 3).unwrap();
    let done = narrow.scatter_bytes(&bytes, &mut buffers.outputs()).unwrap();
    assert!(done.skipped.continuous > 0 && done.skipped.discrete > 0 && done.skipped.tensors > 0);
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    let skipped = format!(
        "continuous {}, binary {}, discrete {}, tensors {}",
        done.skipped.continuous, done.skipped.binary, done.skipped.discrete, done.skipped.tensors
    );
    assert!(report.contains(&skipped), "report lacks {skipped:?}: {report}");
    let files2 = snapshot(&dir.0.join("out"));
    // The files it does not write are left as they were.
    assert_eq!(files2["discrete.npy"], files["discrete.npy"]);
    assert_eq!(files2["tensor_30.npy"], files["tensor_30.npy"]);
    let (descr, shape, v) = read_npy::<f64>(&files2["continuous.npy"]);
    assert_eq!((descr.as_str(), shape.as_slice()), ("'<f8'", &[3, 2][..]));
    let Some(Array::F64(want)) = buffers.continuous() else {
        panic!()
    };
    assert_eq!(
        v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        want.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
    // Column 0 is id 3: row 0's -0.0; row 1 does not have it (its NaN
    // was the first layout's default), so it gets this layout's -inf; row
    // 2's subnormal.
    assert_eq!(v[0].to_bits(), (-0.0f64).to_bits());
    assert_eq!(v[2], f64::NEG_INFINITY);
    assert_eq!(v[4], f64::from(f32::MIN_POSITIVE / 2.0));
    let (descr, shape, v) = read_npy::<u8>(&files2["binary.npy"]);
    assert_eq!((descr.as_str(), shape.as_slice()), ("'|u1'", &[3, 1][..]));
    assert_eq!(v, [1, 1, 1]);
    let (descr, _, v) = read_npy::<f64>(&files2["tensor_31.npy"]);
    assert_eq!(descr, "'<f8'");
    assert_eq!(v, [0.0, 0.0, 7.0, -7.0, i64::MAX as f64, 1.0]);

    // An empty layout writes nothing; a request of no record gives
    // [0, n] arrays.
    dir.put("empty.json", b"{}");
    let out = dir.run(&["scatter", "--layout", "empty.json", "req.bin", "-o", "none"]);
    assert_success(&out);
    assert!(snapshot(&dir.0.join("none")).is_empty());
    let none: Vec<f32> = Vec::new();
    let no_i64: Vec<i64> = Vec::new();
    let empty = layout
        .write_request(
            &Rows::new(0)
                .continuous(&none)
                .binary(&none)
                .discrete(&no_i64)
                .tensor(30, &none)
                .tensor(31, &no_i64),
            None,
        )
        .unwrap()
        .encode_to_vec();
    dir.put("empty.bin", &empty);
    let out = dir.run(&["scatter", "--layout", "layout.json", "empty.bin", "-o", "zero"]);
    assert_success(&out);
    let (_, shape, v) = read_npy::<f32>(&dir.read("zero/tensor_30.npy"));
    assert_eq!((shape.as_slice(), v.len()), (&[0, 4][..], 0));
}

#[test]
fn scatter_refuses_bad_layouts_and_requests_and_leaves_outdir_as_it_was() {
    let dir = TempDir::new("scatter_bad");
    let (layout, json_text) = request_layout();
    let rows = request_rows();
    let bytes = rows.request(&layout, true);
    dir.put("req.bin", &bytes);
    dir.put("short.bin", &bytes[..bytes.len() - 5]);
    dir.put("layout.json", json_text.as_bytes());
    std::fs::create_dir(dir.0.join("out")).unwrap();
    dir.put("out/continuous.npy", b"the previous output");
    dir.put("out/notes.txt", b"kept");
    let before = snapshot(&dir.0.join("out"));
    let cases: &[(&str, &[u8], &[&str])] = &[
        (
            "unknown.json",
            br#"{"continuous": {"ids": [1], "dflt": 0}}"#,
            &["unknown key \"dflt\" in continuous"],
        ),
        (
            "fraction.json",
            br#"{"binary": {"ids": [10, 11.5]}}"#,
            &["binary.ids[1]", "11.5 is not an integer"],
        ),
        (
            "huge.json",
            br#"{"discrete": {"ids": [18446744073709551615]}}"#,
            &["discrete.ids[0]", "does not fit in int64"],
        ),
        (
            "repeated.json",
            br#"{"continuous": {"ids": [1, 2, 1]}}"#,
            &["continuous feature id 1 is given twice"],
        ),
        (
            "repeated_key.json",
            br#"{"binary": {"ids": [10]}, "binary": {"ids": [11]}}"#,
            &["the key \"binary\" is repeated"],
        ),
        (
            "binary64.json",
            br#"{"binary": {"ids": [10], "dtype": "float64"}}"#,
            &["binary features cannot be float64"],
        ),
        (
            "dtype.json",
            br#"{"tensors": [{"id": 30, "width": 4, "dtype": "float16"}]}"#,
            &["tensors[0].dtype", "\"float16\""],
        ),
        (
            "width.json",
            br#"{"tensors": [{"id": 30, "width": -4}]}"#,
            &["tensors[0].width: -4 is negative"],
        ),
        (
            "syntax.json",
            br#"{"binary": {"ids": [10,]}}"#,
            &["not valid JSON", "line 1"],
        ),
    ];
    for (name, text, needles) in cases {
        dir.put(name, text);
        let out = dir.run(&["scatter", "--layout", name, "req.bin", "-o", "out"]);
        let mut all = vec![*name, "not a valid layout"];
        all.extend_from_slice(needles);
        assert_fails(&out, 1, &all);
        assert_eq!(snapshot(&dir.0.join("out")), before, "{name}");
        // A missing OUTDIR is not made for a failed run.
        let out = dir.run(&["scatter", "--layout", name, "req.bin", "-o", "new"]);
        assert_fails(&out, 1, &[name]);
        assert!(!dir.0.join("new").exists(), "{name}");
    }
    // A truncated request, a missing one, and one whose tensor is not the
    // layout's width.
    let wide = FeatureLayout::builder()
        .tensor(30, 5, OutputType::F32)
        .build()
        .unwrap();
    let five = [1.0f32; 5];
    dir.put(
        "wide.bin",
        &wide
            .write_request(&Rows::new(1).tensor(30, &five[..]), None)
            .unwrap()
            .encode_to_vec(),
    );
    for (request, needles) in [
        ("short.bin", &["short.bin", "not a valid request", "at byte"][..]),
        ("missing.bin", &["missing.bin", "cannot read"]),
        (
            "wide.bin",
            &[
                "wide.bin",
                "layout.json",
                "record 0",
                "tensor feature 30 has 5 elements",
                "width is 4",
            ],
        ),
    ] {
        for outdir in ["out", "new"] {
            let out = dir.run(&["scatter", "--layout", "layout.json", request, "-o", outdir]);
            assert_fails(&out, 1, needles);
        }
        assert_eq!(snapshot(&dir.0.join("out")), before, "{request}");
        assert!(!dir.0.join("new").exists(), "{request}");
    }
    // OUTDIR a file; a target that is a folder: refused before anything
    // is written.
    let out = dir.run(&[
        "scatter",
        "--layout",
        "layout.json",
        "req.bin",
        "-o",
        "layout.json",
    ]);
    assert_fails(&out, 1, &["layout.json: exists and is not a directory"]);
    std::fs::create_dir(dir.0.join("out/tensor_31.npy")).unwrap();
    let before = snapshot(&dir.0.join("out"));
    let out = dir.run(&["scatter", "--layout", "layout.json", "req.bin", "-o", "out"]);
    assert_fails(&out, 1, &["tensor_31.npy", "not a regular file"]);
    assert_eq!(snapshot(&dir.0.join("out")), before);
    // A layout that needs more memory than there is: an error, no abort.
    dir.put(
        "vast.json",
        br#"{"tensors": [{"id": 30, "width": 4611686018427387903, "dtype": "float64"}]}"#,
    );
    let out = dir.run(&["scatter", "--layout", "vast.json", "req.bin", "-o", "new"]);
    assert_fails(&out, 1, &["req.bin", "vast.json", "--max-output-bytes"]);
    assert!(!dir.0.join("new").exists());
    // Let through by a raised limit: 24 TiB cannot be allocated.
    dir.put(
        "vast2.json",
        br#"{"tensors": [{"id": 30, "width": 1099511627776, "dtype": "float64"}]}"#,
    );
    let out = dir.run(&[
        "scatter",
        "--layout",
        "vast2.json",
        "req.bin",
        "-o",
        "new",
        "--max-output-bytes",
        "32T",
    ]);
    assert_fails(&out, 1, &["req.bin", "tensor_30.npy", "cannot be allocated"]);
    assert!(!dir.0.join("new").exists());
}

#[test]
fn demo_shows_the_serving_loop() {
    let dir = TempDir::new("demo_loop");
    let out = dir.run(&["demo", "-o", "d.bin"]);
    assert_success(&out);
    let report = String::from_utf8(out.stdout).unwrap();
    // The scores of the stand-in model, recomputed from its documented
    // formula over the rows the report shows.
    let w = [0.5f32, -1.0, 0.25, 0.75, -0.5, 0.25, 0.25, -0.5, 1.0];
    let inputs: [[f32; 9]; 3] = [
        [0.5, 0.25, NAN, 1.0, 0.0, 0.5, -0.5, 0.25, 0.0],
        [1.5, 0.25, -1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0],
        [NAN, 0.25, 2.0, 1.0, 0.0, 1.0, 1.0, -1.0, 0.5],
    ];
    let scores: Vec<f32> = inputs
        .iter()
        .map(|x| {
            let z = x
                .iter()
                .zip(w)
                .fold(-0.125f32, |z, (&x, w)| if x.is_nan() { z } else { z + w * x });
            0.5 + 0.5 * z / (1.0 + z.abs())
        })
        .collect();
    for needle in [
        "serving loop: request -> dense inputs -> model -> response".to_string(),
        "a client wrote 3 records + commonFeatures (FeatureLayout::write_request)".into(),
        "3 rows; skipped 2 (continuous 2, binary 0, discrete 0, tensors 0)".into(),
        "row 0: continuous [0.5, 0.25, NaN], binary [1.0, 0.0], tensor [0.5, -0.5, 0.25, 0.0]".into(),
        format!("scores {scores:?}"),
        "response: continuousFeatures {1: score} per record (BatchPrediction): 87 bytes".into(),
        "decoded back (decode_response): 3 records, the same 3 scores bit for bit".into(),
    ] {
        assert!(
            report.contains(&needle),
            "demo report lacks {needle:?}:\n{report}"
        );
    }
    // The steps come in order, after the batch's report.
    let at = |s: &str| report.find(s).unwrap_or_else(|| panic!("{s:?} in {report}"));
    assert!(at("decoded back with bprwire::decode") < at("  1. request"));
    assert!(at("  1. request") < at("  2. decoded") && at("  2. decoded") < at("  3. model"));
    assert!(at("  3. model") < at("  4. response") && at("  4. response") < at("  5. decoded back"));
    // The same report, word for word, on every run (and on stderr for -o -).
    let again = dir.run(&["demo", "-o", "-"]);
    assert_success(&again);
    let loop_part = |r: &str| r[r.find("serving loop").unwrap()..].to_string();
    assert_eq!(loop_part(&stderr(&again)), loop_part(&report));
}

#[test]
fn scatter_and_inspect_request_have_help() {
    let dir = TempDir::new("help_scatter");
    let help = String::from_utf8(dir.run(&["scatter", "--help"]).stdout).unwrap();
    for needle in [
        "Usage: bprwire scatter",
        "--layout <LAYOUT.json>",
        "--output <OUTDIR>",
        "continuous.npy",
        "tensor_<id>.npy",
        "\"default\": \"nan\"",
        "float32 when left out",
        "Unknown or repeated keys are refused",
        "Examples:",
    ] {
        assert!(help.contains(needle), "scatter --help lacks {needle:?}:\n{help}");
    }
    let help = String::from_utf8(dir.run(&["inspect", "--help"]).stdout).unwrap();
    for needle in [
        "--request",
        "commonFeatures",
        "bprwire inspect --request request.bin",
    ] {
        assert!(help.contains(needle), "inspect --help lacks {needle:?}:\n{help}");
    }
    let help = String::from_utf8(dir.run(&["demo", "--help"]).stdout).unwrap();
    assert!(help.contains("serving loop"), "{help}");
    let help = String::from_utf8(dir.run(&["--help"]).stdout).unwrap();
    assert!(help.contains("scatter"), "{help}");
}

/// SIGINT or SIGTERM while scatter writes its files: every temporary file
/// is removed (the ones already written too), and OUTDIR is as it was.
#[test]
fn an_interrupted_scatter_leaves_outdir_as_it_was() {
    use std::os::unix::process::ExitStatusExt;
    let dir = TempDir::new("scatter_interrupted");
    let (layout, _) = request_layout();
    dir.put("req.bin", &request_rows().request(&layout, true));
    // Four tensors the request does not have: 4 files of 48 MB of zeros.
    dir.put(
        "big.json",
        br#"{"tensors": [{"id": 40, "width": 4194304}, {"id": 41, "width": 4194304},
                         {"id": 42, "width": 4194304}, {"id": 43, "width": 4194304}]}"#,
    );
    std::fs::create_dir(dir.0.join("out")).unwrap();
    dir.put("out/tensor_40.npy", b"the previous output");
    let before = snapshot(&dir.0.join("out"));
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let mut child = dir.spawn(
            &["scatter", "--layout", "big.json", "req.bin", "-o", "out"],
            std::process::Stdio::null(),
        );
        // Wait until the second temporary file has bytes in it (the first
        // one is then complete, and registered with it).
        let started = std::time::Instant::now();
        loop {
            let temps: Vec<u64> = std::fs::read_dir(dir.0.join("out"))
                .unwrap()
                .filter_map(|e| {
                    let e = e.ok()?;
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.ends_with(".tmp")
                        .then(|| e.metadata().map_or(0, |m| m.len()))
                })
                .collect();
            if temps.len() >= 2 && temps.iter().all(|&n| n > 0) {
                break;
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "bprwire ended before it was interrupted"
            );
            assert!(started.elapsed().as_secs() < 60, "no temporary files appeared");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.signal(), Some(sig), "{}", stderr(&out));
        assert_eq!(snapshot(&dir.0.join("out")), before);
    }
}

// ---------------------------------------------------------------------------
// Issue 22: scatter and the readers under hostile input and odd OUTDIRs

/// The layout of [`request_layout`] as JSON, the request with its common
/// row, and a folder `out` with files in it: the set-up of the OUTDIR
/// tests below.
fn scatter_fixture(test: &str) -> TempDir {
    let dir = TempDir::new(test);
    let (layout, json_text) = request_layout();
    dir.put("req.bin", &request_rows().request(&layout, true));
    dir.put("layout.json", json_text.as_bytes());
    dir
}

/// The names in a folder, sorted.
fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Runs bprwire as uid/gid 65533 (not root, no groups) through
/// `setpriv`, or `None` when setpriv is not there.
fn run_as_65533(dir: &TempDir, args: &[&str]) -> Option<Output> {
    let have = Command::new("setpriv")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        return None;
    }
    Some(
        Command::new("setpriv")
            .args(["--reuid=65533", "--regid=65533", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_bprwire"))
            .args(args)
            .current_dir(&dir.0)
            .output()
            .expect("run setpriv"),
    )
}

/// Issue 22, item 6: OUTDIR is a sticky folder (as /tmp) where
/// `binary.npy` is another user's (mode 666): every earlier check passes,
/// but only its owner may rename over it. Nothing may be replaced then:
/// `continuous.npy` (renamed first) stays as it was. The same through a
/// symlink from OUTDIR into the sticky folder. The tests run as root, so
/// bprwire runs as uid 65533 and the foreign file belongs to uid 65534.
#[test]
fn scatter_into_a_sticky_folder_replaces_all_files_or_none() {
    use std::os::unix::fs::{chown, symlink, PermissionsExt};
    let dir = scatter_fixture("sticky");
    let layout = r#"{"continuous": {"ids": [1, 2, 3]}, "binary": {"ids": [10, 11]}}"#;
    dir.put("cb.json", layout.as_bytes());
    let sticky = dir.0.join("sticky");
    std::fs::create_dir(&sticky).unwrap();
    std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let put = |path: &std::path::Path, bytes: &[u8], uid: u32, mode: u32| {
        std::fs::write(path, bytes).unwrap();
        chown(path, Some(uid), Some(uid)).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    put(&sticky.join("continuous.npy"), b"old continuous", 65533, 0o644);
    put(&sticky.join("binary.npy"), b"old binary", 65534, 0o666);
    let Some(out) = run_as_65533(
        &dir,
        &["scatter", "--layout", "cb.json", "req.bin", "-o", "sticky"],
    ) else {
        eprintln!(
            "skipped: setpriv (util-linux) is not installed, and the test needs another user than root"
        );
        return;
    };
    assert_fails(
        &out,
        1,
        &[
            "sticky/binary.npy: it belongs to another user (uid 65534)",
            "sticky folder",
            "Nothing was replaced",
        ],
    );
    assert_eq!(
        std::fs::read(sticky.join("continuous.npy")).unwrap(),
        b"old continuous"
    );
    assert_eq!(std::fs::read(sticky.join("binary.npy")).unwrap(), b"old binary");
    assert_eq!(names(&sticky), ["binary.npy", "continuous.npy"]);

    // Through a symlink: OUTDIR is this user's own folder, binary.npy a
    // link into the sticky folder.
    let out_dir = dir.0.join("out");
    std::fs::create_dir(&out_dir).unwrap();
    chown(&out_dir, Some(65533), Some(65533)).unwrap();
    put(&out_dir.join("continuous.npy"), b"old continuous", 65533, 0o644);
    symlink("../sticky/binary.npy", out_dir.join("binary.npy")).unwrap();
    let out = run_as_65533(&dir, &["scatter", "--layout", "cb.json", "req.bin", "-o", "out"]).unwrap();
    assert_fails(
        &out,
        1,
        &["binary.npy", "another user (uid 65534)", "Nothing was replaced"],
    );
    assert_eq!(
        std::fs::read(out_dir.join("continuous.npy")).unwrap(),
        b"old continuous"
    );
    assert_eq!(std::fs::read(sticky.join("binary.npy")).unwrap(), b"old binary");
    assert_eq!(names(&out_dir), ["binary.npy", "continuous.npy"]);
    assert_eq!(names(&sticky), ["binary.npy", "continuous.npy"]);

    // The user's own file in the sticky folder is replaced as usual.
    chown(sticky.join("binary.npy"), Some(65533), Some(65533)).unwrap();
    let out = run_as_65533(
        &dir,
        &["scatter", "--layout", "cb.json", "req.bin", "-o", "sticky"],
    )
    .unwrap();
    assert_success(&out);
    assert_eq!(names(&sticky), ["binary.npy", "continuous.npy"]);
    let (descr, shape, _) = read_npy::<f32>(&std::fs::read(sticky.join("binary.npy")).unwrap());
    assert_eq!((descr.as_str(), shape), ("'<f4'", vec![3, 2]));
}

/// Issue 22, item 7: two outputs that are one file (two symlinks to it,
/// or hard links) are refused before anything is written, naming both;
/// before, the second array silently overwrote the first.
#[test]
fn scatter_refuses_two_outputs_that_are_one_file() {
    use std::os::unix::fs::symlink;
    let dir = scatter_fixture("one_file");
    dir.put("same.npy", b"old");
    for (outdir, how) in [
        ("links", "symlinks"),
        ("spelled", "symlinks"),
        ("hard", "hard links"),
    ] {
        let d = dir.0.join(outdir);
        std::fs::create_dir(&d).unwrap();
        match outdir {
            "links" => {
                symlink("../same.npy", d.join("continuous.npy")).unwrap();
                symlink("../same.npy", d.join("binary.npy")).unwrap();
            }
            "spelled" => {
                symlink("../same.npy", d.join("discrete.npy")).unwrap();
                symlink(dir.0.join("links/../same.npy"), d.join("tensor_31.npy")).unwrap();
            }
            _ => {
                std::fs::write(d.join("binary.npy"), b"old").unwrap();
                std::fs::hard_link(d.join("binary.npy"), d.join("tensor_30.npy")).unwrap();
            }
        }
        let before = snapshot(&d);
        let out = dir.run(&["scatter", "--layout", "layout.json", "req.bin", "-o", outdir]);
        let (first, second) = match outdir {
            "links" => ("continuous.npy", "binary.npy"),
            "spelled" => ("discrete.npy", "tensor_31.npy"),
            _ => ("binary.npy", "tensor_30.npy"),
        };
        assert_fails(
            &out,
            1,
            &[
                &format!("cannot write {outdir}/{second}: it is the same file as {outdir}/{first}"),
                "each output needs a file of its own",
            ],
        );
        assert_eq!(snapshot(&d), before, "{how}");
        assert_eq!(dir.read("same.npy"), b"old", "{how}");
    }
}

/// Issue 22, item 8: a run that fails after it made OUTDIR (a file-size
/// limit while writing) removes every folder it made, parents too, and
/// no folder that was there; so does SIGINT or SIGTERM while it writes.
#[test]
fn a_failed_or_interrupted_scatter_removes_the_folders_it_made() {
    use std::os::unix::process::ExitStatusExt;
    let dir = scatter_fixture("made_dirs");
    dir.put("wide.json", br#"{"tensors": [{"id": 99, "width": 1000}]}"#);
    std::fs::create_dir(dir.0.join("keep")).unwrap();
    for outdir in ["new/a/b", "keep/a/b", "new"] {
        let m = run_sh(
            &dir,
            "ulimit -f 1;",
            &["scatter", "--layout", "wide.json", "req.bin", "-o", outdir],
        );
        assert_eq!(m.code, Some(1), "{outdir}: {}", m.stderr);
        assert!(m.stderr.contains("File too large"), "{}", m.stderr);
        assert!(!dir.0.join("new").exists(), "{outdir}");
        assert_eq!(names(&dir.0.join("keep")), Vec::<String>::new(), "{outdir}");
    }
    // Interrupted while the 48 MB temporary files are written.
    dir.put(
        "big.json",
        br#"{"tensors": [{"id": 40, "width": 4194304}, {"id": 41, "width": 4194304},
                         {"id": 42, "width": 4194304}, {"id": 43, "width": 4194304}]}"#,
    );
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let mut child = dir.spawn(
            &[
                "scatter",
                "--layout",
                "big.json",
                "req.bin",
                "-o",
                "fresh/sub/out",
            ],
            std::process::Stdio::null(),
        );
        let started = std::time::Instant::now();
        while std::fs::read_dir(dir.0.join("fresh/sub/out")).map_or(true, |mut e| e.next().is_none()) {
            assert!(
                child.try_wait().unwrap().is_none(),
                "bprwire ended before it was interrupted"
            );
            assert!(started.elapsed().as_secs() < 60, "no temporary file appeared");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.signal(), Some(sig), "{}", stderr(&out));
        assert!(!dir.0.join("fresh").exists(), "{sig}: {:?}", names(&dir.0));
    }
}

/// Runs `sh -c "PREFIX exec bprwire ARGS"` under a 3 GB address-space
/// limit, so that a reader that does not stop ends with an allocation
/// failure instead of taking the machine's memory.
fn run_capped_memory(dir: &TempDir, prefix: &str, args: &[&str]) -> Ran {
    run_sh(dir, &format!("ulimit -v 3000000; {prefix}"), args)
}

/// Issue 22, item 10: a layout from /dev/zero, a request or a response
/// from /dev/zero or an endless stdin, and `encode` inputs from /dev/zero
/// are refused at their limit (read to it plus one byte, not to the end),
/// with a message naming the input, the limit and the flag that raises
/// it; an input of exactly the limit is read.
#[test]
fn every_reader_stops_at_its_limit() {
    let dir = scatter_fixture("read_limits");
    let req_len = std::fs::metadata(dir.0.join("req.bin")).unwrap().len();
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "",
            &["scatter", "--layout", "/dev/zero", "req.bin", "-o", "out"],
            &[
                "/dev/zero: is longer than a layout file may be",
                "67108864 bytes (64 MiB)",
            ],
        ),
        (
            "",
            &["scatter", "--layout", "layout.json", "/dev/zero", "-o", "out"],
            &[
                "/dev/zero: is longer than a request may be",
                "268435456 bytes (256 MiB) (--max-request-bytes; raise it with --max-request-bytes N)",
            ],
        ),
        (
            "cat /dev/zero |",
            &[
                "scatter",
                "--layout",
                "layout.json",
                "-",
                "-o",
                "out",
                "--max-request-bytes",
                "1M",
            ],
            &[
                "-: is longer than a request may be",
                "1048576 bytes (1 MiB) (--max-request-bytes",
            ],
        ),
        (
            "",
            &["inspect", "/dev/zero"],
            &[
                "/dev/zero: is longer than a response may be",
                "(--max-input-bytes",
            ],
        ),
        (
            "cat /dev/zero |",
            &["inspect", "--request", "-", "--max-input-bytes", "64K"],
            &[
                "-: is longer than a request may be",
                "65536 bytes (64 KiB) (--max-input-bytes",
            ],
        ),
        (
            "cat /dev/zero |",
            &["inspect", "--framed", "-"],
            &["-: is longer than a reply may be", "(256 MiB)"],
        ),
        (
            "",
            &[
                "encode",
                "--keys",
                "/dev/zero",
                "--values",
                "/dev/zero",
                "-o",
                "x.bin",
                "--max-input-bytes",
                "100",
            ],
            &[
                "/dev/zero: is longer than an input file may be",
                "100 bytes (--max-input-bytes",
            ],
        ),
        (
            "",
            &[
                "scatter",
                "--layout",
                "layout.json",
                "req.bin",
                "-o",
                "out",
                "--max-request-bytes",
                &(req_len - 1).to_string(),
            ],
            &[&format!(
                "req.bin: is {req_len} bytes, more than a request may be"
            )],
        ),
        (
            "",
            &[
                "inspect",
                "--request",
                "req.bin",
                "--max-input-bytes",
                &(req_len - 1).to_string(),
            ],
            &[&format!(
                "req.bin: is {req_len} bytes, more than a request may be"
            )],
        ),
    ];
    for (prefix, args, needles) in cases {
        let m = run_capped_memory(&dir, prefix, args);
        assert_eq!(m.code, Some(1), "{args:?}: {}", m.stderr);
        for needle in *needles {
            assert!(
                m.stderr.contains(needle),
                "{args:?}: stderr lacks {needle:?}: {}",
                m.stderr
            );
        }
        assert!(!dir.0.join("out").exists() && !dir.0.join("x.bin").exists());
    }
    // Exactly the limit is read.
    let n = req_len.to_string();
    assert_success(&dir.run(&[
        "scatter",
        "--layout",
        "layout.json",
        "req.bin",
        "-o",
        "out",
        "--max-request-bytes",
        &n,
    ]));
    assert_success(&dir.run(&["inspect", "--request", "req.bin", "--max-input-bytes", &n]));
    // A bad byte count is a usage error.
    let out = dir.run(&["inspect", "req.bin", "--max-input-bytes", "lots"]);
    assert_fails(&out, 2, &["'lots' is not a byte count"]);
}

/// Issue 22, item 10: a request of many empty records (a byte each) with
/// a layout of many columns asks for rows x columns of arrays: refused
/// before anything is allocated when the rows pass `--max-rows` or the
/// arrays `--max-output-bytes`, naming the numbers and the flag.
#[test]
fn scatter_refuses_too_many_rows_or_bytes_before_allocating() {
    let dir = TempDir::new("amplification");
    let rows = 300_000;
    let request = FeatureLayout::builder()
        .build()
        .unwrap()
        .write_request(&Rows::new(rows), None)
        .unwrap()
        .encode_to_vec();
    assert!(request.len() < 310_000, "{}", request.len());
    dir.put("empty.bin", &request);
    let ids: Vec<String> = (1..=5293).map(|i| i.to_string()).collect();
    dir.put(
        "wide.json",
        format!(r#"{{"continuous": {{"ids": [{}]}}}}"#, ids.join(", ")).as_bytes(),
    );
    let scatter = |extra: &[&str]| {
        let mut args = vec!["scatter", "--layout", "wide.json", "empty.bin", "-o", "out"];
        args.extend_from_slice(extra);
        run_capped_memory(&dir, "", &args)
    };
    // 300,000 rows x 5,293 float32 columns: 6.35 GB.
    let m = scatter(&[]);
    assert_eq!(m.code, Some(1), "{}", m.stderr);
    for needle in [
        "empty.bin: 300000 rows with layout wide.json make 6351600000 bytes of arrays (21172 bytes per row)",
        "more than the 1073741824 bytes (1 GiB) scatter writes (--max-output-bytes; raise it with --max-output-bytes N)",
    ] {
        assert!(m.stderr.contains(needle), "stderr lacks {needle:?}: {}", m.stderr);
    }
    let m = scatter(&["--max-rows", "1000"]);
    assert_eq!(m.code, Some(1), "{}", m.stderr);
    assert!(
        m.stderr.contains(
            "empty.bin: 300000 rows (records), more than the 1000 rows scatter takes \
             (--max-rows; raise it with --max-rows N)"
        ),
        "{}",
        m.stderr
    );
    assert!(!dir.0.join("out").exists());
    // At the limits exactly: written.
    dir.put("narrow.json", br#"{"binary": {"ids": [1, 2], "dtype": "uint8"}}"#);
    let out = dir.run(&[
        "scatter",
        "--layout",
        "narrow.json",
        "empty.bin",
        "-o",
        "out",
        "--max-rows",
        "300000",
        "--max-output-bytes",
        "600000",
    ]);
    assert_success(&out);
    let (_, shape, _) = read_npy::<u8>(&dir.read("out/binary.npy"));
    assert_eq!(shape, [300_000, 2]);
    let out = dir.run(&[
        "scatter",
        "--layout",
        "narrow.json",
        "empty.bin",
        "-o",
        "out2",
        "--max-output-bytes",
        "599999",
    ]);
    assert_fails(
        &out,
        1,
        &["make 600000 bytes of arrays", "599999 bytes scatter writes"],
    );
    assert!(!dir.0.join("out2").exists());
}

/// Issue 22, item 11: a dangling symlink as OUTDIR (or as a parent of
/// it) is called one, not "File exists"; a full stdout after the files
/// are in place says that the files were written (which) and only the
/// report was lost (exit 1); layout numbers are judged as written.
#[test]
fn scatter_says_what_is_wrong() {
    use std::os::unix::fs::symlink;
    let dir = scatter_fixture("messages");
    symlink("nowhere", dir.0.join("dangling")).unwrap();
    for outdir in ["dangling", "dangling/sub"] {
        let out = dir.run(&["scatter", "--layout", "layout.json", "req.bin", "-o", outdir]);
        assert_fails(
            &out,
            1,
            &["dangling: is a dangling symlink: it points to nowhere, which does not exist"],
        );
        assert!(!dir.0.join("nowhere").exists());
    }

    // stdout on /dev/full: the files are in place, and the message says so.
    let out = Command::new(env!("CARGO_BIN_EXE_bprwire"))
        .args(["scatter", "--layout", "layout.json", "req.bin", "-o", "out"])
        .current_dir(&dir.0)
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    assert_fails(
        &out,
        1,
        &[
            "the 5 files were written to out (continuous.npy, binary.npy, discrete.npy, \
             tensor_30.npy, tensor_31.npy), but the report could not be printed: \
             cannot write stdout: No space left on device",
        ],
    );
    let written = snapshot(&dir.0.join("out"));
    assert_success(&dir.run(&["scatter", "--layout", "layout.json", "req.bin", "-o", "again"]));
    assert_eq!(written, snapshot(&dir.0.join("again")));

    // Layout numbers.
    dir.put(
        "zero.json",
        br#"{"discrete": {"ids": [-0, 5]}, "tensors": [{"id": -0, "width": 2}]}"#,
    );
    assert_success(&dir.run(&["scatter", "--layout", "zero.json", "req.bin", "-o", "zero"]));
    assert!(dir.0.join("zero/tensor_0.npy").exists());
    for (text, needle) in [
        (
            &br#"{"binary": {"ids": [-9223372036854775809]}}"#[..],
            "binary.ids[0]: -9223372036854775809 does not fit in int64: it is out of range",
        ),
        (
            br#"{"tensors": [{"id": 1, "width": 18446744073709551616}]}"#,
            "tensors[0].width: 18446744073709551616 does not fit in usize: it is out of range",
        ),
        (b"{\"\xff\": 1}", "not valid JSON: not UTF-8 at byte 2"),
    ] {
        dir.put("bad.json", text);
        let out = dir.run(&["scatter", "--layout", "bad.json", "req.bin", "-o", "bad"]);
        assert_fails(&out, 1, &["bad.json: not a valid layout", needle]);
    }
}

/// Issue 22: `--help` states the limits and their defaults.
#[test]
fn help_states_the_limits() {
    let dir = TempDir::new("help_limits");
    let help = |cmd: &str| String::from_utf8(dir.run(&[cmd, "--help"]).stdout).unwrap();
    let scatter = help("scatter");
    for needle in [
        "--max-request-bytes <N>",
        "[default: 256MiB]",
        "--max-rows <N>",
        "[default: 1000000]",
        "--max-output-bytes <N>",
        "[default: 1GiB]",
        "64 MiB",
        "Limits (",
        "dangling symlink",
        "same file",
        "sticky",
        "were written",
    ] {
        assert!(
            scatter.contains(needle),
            "scatter --help lacks {needle:?}:\n{scatter}"
        );
    }
    let inspect = help("inspect");
    assert!(
        inspect.contains("--max-input-bytes <N>") && inspect.contains("[default: 256MiB]"),
        "{inspect}"
    );
    let encode = help("encode");
    assert!(
        encode.contains("--max-input-bytes <N>") && encode.contains("[default: 4GiB]"),
        "{encode}"
    );
}
