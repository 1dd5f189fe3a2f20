//! `bprwire`: encode model outputs saved as numpy `.npy` files into the
//! Thrift bytes of a twml `BatchPredictionResponse`.
//!
//! Exit status: 0 on success, 1 when an input file or the encoding fails
//! (the message names the file), 2 for usage errors (clap's convention).

// The library's lints: `unsafe` only where a function allows it with a
// reason (the signal handling of `cli::signals`), every block with a
// `// SAFETY:` comment.
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod cli;

use cli::encode::EncodeArgs;

#[derive(Parser)]
#[command(
    name = "bprwire",
    version,
    about = "Encode model outputs (.npy files) as a twml BatchPredictionResponse (Thrift binary protocol)",
    long_about = "Encode model outputs (.npy files) as a twml BatchPredictionResponse in the Thrift \
                  binary protocol, byte for byte as twml's BatchPredictionResponseWriter ops write it \
                  (one DataRecord per batch row).\n\n\
                  Exit status: 0 on success, 1 when an input file or the encoding fails, 2 for usage errors."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Encode continuous predictions and/or dense tensors read from .npy files.
    #[command(
        long_about = "Encode continuous predictions and/or dense tensors read from numpy .npy files \
                      into one BatchPredictionResponse.\n\n\
                      Give the continuous pair (--keys with --values), the dense tensors (--tensor-keys \
                      with one --tensor per key), or both. Every input must share the batch size (dim 0).",
        after_long_help = "Input files:\n  \
            .npy format 1.0, 2.0 or 3.0, C order; Fortran-ordered files (fortran_order: True) are refused.\n  \
            Little-endian data is passed to the encoder as the file's own bytes (no per-element conversion).\n  \
            Big-endian files ('>f4', '>i8', '>U5', ...) are accepted and byte-swapped into a copy first.\n  \
            Strings: numpy unicode '<U…' is converted from UTF-32 to UTF-8; bytes '|S…' are read in place and\n  \
            must be UTF-8 for a stringTensor (an element that is not is refused, naming its row and element),\n  \
            or go into a binaryTensor as they are with --binary. Trailing NULs are stripped from both, as numpy does.\n  \
            Memory: the input files, at most one converted copy of each, and a 64 KiB output buffer.\n  \
            Each input file is read whole, up to --max-input-bytes (default 4GiB): a longer one (or a\n  \
            device, an endless pipe) is refused with a message naming it and the limit.\n\n\
            Output:\n  \
            The response is streamed, never held whole. A file is written to a temporary file beside it and\n  \
            renamed over it only when complete: on failure (full disk, file-size limit) the old file is kept.\n  \
            '-', a pipe or a device is written directly; a reader of stdout that goes away ends bprwire quietly.\n\n\
            Examples:\n  \
            bprwire encode --keys keys.npy --values scores.npy -o response.bin\n  \
            bprwire encode --tensor-keys tk.npy --tensor emb.npy --tensor ids.npy --typed -o - | xxd | head"
    )]
    Encode(EncodeCli),
    /// Encode a built-in example batch and show what was written, then the whole serving loop.
    #[command(
        long_about = "Encode a built-in, deterministic example batch (4 rows: float32 predictions \
                      for 3 keys, plus a float32 embedding [4, 8], an int64 tensor [4, 2] and a \
                      string tensor [4, 2]), write it to a file and print the record count, the \
                      byte count, the path and the first 64 bytes as hex.\n\n\
                      Then show the whole serving loop, in memory: a built-in request (3 records and \
                      commonFeatures, written with FeatureLayout::write_request) is decoded and \
                      scattered into the model's dense inputs (continuous, binary and one tensor; a \
                      continuous id the model does not read is skipped), a small built-in scoring \
                      function stands in for the model, and its scores are encoded as a response and \
                      decoded back. Each step is printed and checked.",
        after_long_help = "Examples:\n  \
            bprwire demo                     # writes bprwire-demo.bin here\n  \
            bprwire demo -o - | bprwire inspect -"
    )]
    Demo(DemoCli),
    /// Time the benchmark workloads W1-W7 here, against a memcpy of the same bytes.
    #[command(
        long_about = "Time bprwire on the benchmark workloads W1-W7 (see docs/benchmarks.md) in this \
                      process: a warm-up, several samples, the median. Prints per workload the output \
                      bytes, ns per encode (check + size + encode into a reused buffer), GB/s, and the \
                      ratio to a memcpy of the same bytes measured in the same process. Takes a few \
                      seconds; the published figures come from `cargo bench`."
    )]
    Bench(BenchCli),
    /// Decode a response (or a getBatchPrediction reply, or a request) and print it as JSON.
    #[command(
        long_about = "Decode a BatchPredictionResponse from FILE with bprwire's checking decoder and \
                      print it as JSON on stdout: one line per record (DataRecord), every field it \
                      has; tensors with their type, dtype, shape and values. --summary prints counts \
                      and sizes only (per field, and per tensor key), for files too big to print.\n\n\
                      With --envelope (or --framed), FILE is a getBatchPrediction reply message: the \
                      message header is printed too, and a declared PredictionServiceException or a \
                      TApplicationException is shown instead of a response.\n\n\
                      With --request, FILE is a BatchPredictionRequest, printed in the same style: a \
                      first line with the counts (\"common\": true when the request has \
                      commonFeatures), one line per record of individualFeaturesList, then the \
                      commonFeatures record on a line of its own that starts with \"commonFeatures\". \
                      With --summary, the commonFeatures are counted apart from the records.\n\n\
                      A file that does not decode exits with status 1, and the message gives the byte \
                      offset, the schema item (e.g. DataRecord.tensors) and the record index. FILE is \
                      read up to --max-input-bytes (default 256MiB): a longer file, or an endless stdin, \
                      is refused (status 1) with a message naming it and the limit.",
        after_long_help = "JSON notes:\n  \
            Map keys (i64) become JSON object keys (strings). Doubles that are not finite are the \n  \
            strings \"NaN\", \"inf\", \"-inf\". binary values (blobFeatures, binaryTensor, raw content \n  \
            of a dtype without fixed size) are lowercase hex strings.\n\n\
            Examples:\n  \
            bprwire inspect response.bin | head\n  \
            bprwire inspect --summary response.bin\n  \
            bprwire inspect --request request.bin\n  \
            bprwire encode --keys k.npy --values v.npy --envelope --seqid 7 --framed -o - | bprwire inspect --framed -"
    )]
    Inspect(InspectCli),
    /// Scatter a request's features into dense .npy arrays, as a FeatureLayout says.
    #[command(
        long_about = "Decode the BatchPredictionRequest in REQUEST and scatter its features into dense, \
                      row-major arrays as the layout in LAYOUT.json says (bprwire::features::FeatureLayout), \
                      and write one .npy file per output into OUTDIR: continuous.npy, binary.npy, \
                      discrete.npy, and tensor_<id>.npy for each tensor feature (only the outputs the \
                      layout has). Each array is [rows, n] ([rows, width] for a tensor), rows being \
                      the request's records; column j holds the j-th id given for that kind.\n\n\
                      commonFeatures apply to every row (a record's own value wins); an absent \
                      continuous or discrete feature gets the layout's default, an absent binary \
                      feature 0, an absent tensor zeros. Features whose id the layout does not name \
                      are skipped and counted in the report.\n\n\
                      A bad layout or request file exits with status 1, with a message that names the \
                      file and the problem (for the request, the byte offset), and OUTDIR is left as \
                      it was: nothing is written until every array is ready.",
        after_long_help = "The layout file (JSON; every top-level key optional):\n  \
            {\"continuous\": {\"ids\": [1, 2, 3], \"dtype\": \"float32\", \"default\": \"nan\"},\n   \
             \"binary\":     {\"ids\": [10, 11], \"dtype\": \"float32\"},\n   \
             \"discrete\":   {\"ids\": [20], \"default\": 0},\n   \
             \"tensors\":    [{\"id\": 30, \"width\": 4, \"dtype\": \"float32\"}]}\n  \
            ids: integers that fit int64, none twice in one kind (\"ids\" is required in a kind; [] is allowed).\n  \
            dtype (numpy names): continuous float32 or float64; binary float32, int64 or uint8;\n  \
            discrete int64 only; tensors float32, float64 or int64. float32 when left out (discrete: int64).\n  \
            default: continuous, a number or \"nan\", \"inf\", \"-inf\" (NaN when left out);\n  \
            discrete, an integer (0 when left out). A tensor needs \"id\" and \"width\".\n  \
            Unknown or repeated keys are refused.\n\n\
            Output:\n  \
            .npy format 1.0, C order, little-endian ('<f4', '<f8', '<i8', '|u1'). OUTDIR is created if\n  \
            missing (with its parents). Each file is written to a temporary file beside its target, and all\n  \
            of them are renamed into place only when every one is written: all files or none. A failure or\n  \
            SIGINT, SIGTERM, SIGHUP removes the temporary files and the folders the run made. Files of\n  \
            OUTDIR that the layout does not name are left alone. A short report goes to stdout.\n  \
            Refused before anything is replaced (exit 1, the message names the file):\n    \
            OUTDIR (or a parent) that is a file, or a dangling symlink (\"is a dangling symlink\");\n    \
            a target that is not a regular file, or that may not be written;\n    \
            two targets that are the same file (symlinks to one file, hard links: \"is the same file as\");\n    \
            another user's file in a sticky folder such as /tmp, which only its owner may replace.\n  \
            If a rename fails anyway, the files already replaced are put back as they were. If stdout\n  \
            fails after the files are in place, exit 1 says that the files were written (naming them)\n  \
            and only the report was lost.\n\n\
            Limits (each refusal names the input, the limit and the flag that raises it; exit 1):\n  \
            LAYOUT.json: at most 64 MiB.\n  \
            REQUEST: at most --max-request-bytes (default 256MiB); reading stops there, so /dev/zero or an\n    \
            endless stdin is refused, not read to the end.\n  \
            Rows: at most --max-rows records (default 1000000), and the arrays at most --max-output-bytes\n    \
            in all (default 1GiB; rows x the layout's bytes per row): checked before anything is\n    \
            allocated, as a small request of empty records with a wide layout makes large arrays.\n\n\
            Examples:\n  \
            bprwire scatter --layout layout.json request.bin -o inputs/\n  \
            python -c \"import numpy; print(numpy.load('inputs/continuous.npy'))\""
    )]
    Scatter(ScatterCli),
}

#[derive(Args)]
struct InspectCli {
    /// The file to decode; '-' reads stdin
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// FILE is a getBatchPrediction reply message (strict binary protocol)
    #[arg(long)]
    envelope: bool,

    /// FILE is a framed message: an i32 length, then the message (implies --envelope)
    #[arg(long)]
    framed: bool,

    /// Print counts and sizes only, not the values
    #[arg(long)]
    summary: bool,

    /// FILE is a BatchPredictionRequest (records, then commonFeatures)
    #[arg(long, conflicts_with_all = ["envelope", "framed"])]
    request: bool,

    /// Refuse a FILE (or stdin) longer than N bytes; K, M, G, T suffixes (binary)
    ///
    /// Reading stops at N + 1 bytes: a longer input (/dev/zero, an endless pipe) is refused
    /// with a message naming the file and the limit, instead of filling the memory.
    #[arg(long, value_name = "N", default_value = "256MiB", alias = "max-request-bytes",
          value_parser = cli::limits::parse_bytes)]
    max_input_bytes: u64,
}

#[derive(Args)]
struct ScatterCli {
    /// The layout: which feature ids go to which column of which output (JSON, see below)
    #[arg(long, value_name = "LAYOUT.json")]
    layout: PathBuf,

    /// The BatchPredictionRequest to scatter; '-' reads stdin
    #[arg(value_name = "REQUEST")]
    request: PathBuf,

    /// The folder to write the .npy files into (created if missing)
    #[arg(short, long, value_name = "OUTDIR")]
    output: PathBuf,

    /// Refuse a REQUEST (or stdin) longer than N bytes; K, M, G, T suffixes (binary)
    #[arg(long, value_name = "N", default_value = "256MiB", value_parser = cli::limits::parse_bytes)]
    max_request_bytes: u64,

    /// Refuse a request of more than N records (rows), before allocating anything
    #[arg(long, value_name = "N", default_value_t = cli::limits::DEFAULT_MAX_ROWS)]
    max_rows: u64,

    /// Refuse a request whose arrays would take more than N bytes in all (rows x the
    /// layout's bytes per row), before allocating anything; K, M, G, T suffixes (binary)
    #[arg(long, value_name = "N", default_value = "1GiB", value_parser = cli::limits::parse_bytes)]
    max_output_bytes: u64,
}

#[derive(Args)]
struct BenchCli {
    /// Workloads to run, e.g. `--workload W2 --workload W3` (default: all)
    #[arg(long = "workload", value_name = "ID")]
    workloads: Vec<String>,

    /// Samples per measurement; the median is reported
    #[arg(long, default_value_t = 11, value_parser = clap::value_parser!(u16).range(1..))]
    samples: u16,

    /// Target length of one sample, in milliseconds
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
    sample_ms: u16,

    /// One JSON object per line instead of a table
    #[arg(long)]
    json: bool,

    /// Kernel level to time; repeat for several, or 'all' for every level this CPU has
    /// (default: the best one)
    #[arg(long = "level", value_name = "LEVEL",
          value_parser = clap::builder::PossibleValuesParser::new(["scalar", "ssse3", "avx2", "avx512", "all"]))]
    levels: Vec<String>,
}

#[derive(Args)]
struct EncodeCli {
    /// Continuous prediction keys: int64 ('<i8'), 1-D, one per column of --values
    ///
    /// Must come with --values; no key may repeat.
    #[arg(long, value_name = "KEYS.npy", requires = "values")]
    keys: Option<PathBuf>,

    /// Continuous prediction values: float32 ('<f4') or float64 ('<f8')
    ///
    /// Shaped [batch, n] (row i, column j is key j's prediction for record i), or 1-D
    /// of length batch (then there must be exactly one key). float32 is widened to double
    /// exactly. Must come with --keys.
    #[arg(long, value_name = "VALUES.npy", requires = "keys")]
    values: Option<PathBuf>,

    /// Dense tensor keys: int64 ('<i8'), 1-D, one per --tensor
    ///
    /// Must come with --tensor; no key may repeat.
    #[arg(long, value_name = "TK.npy", requires = "tensors")]
    tensor_keys: Option<PathBuf>,

    /// A dense tensor; repeat once per tensor key, in key order
    ///
    /// Any rank >= 1; dim 0 is the batch and must match the other inputs. Record i gets
    /// slice i (shape dims[1..]). Accepted dtypes: '<f4' '<f8' '<i4' '<i8' '|u1' (uint8)
    /// '|b1' (bool), '<U…' (numpy unicode) and '|S…' (numpy bytes). Must come with --tensor-keys.
    #[arg(
        long = "tensor",
        id = "tensors",
        value_name = "T.npy",
        requires = "tensor_keys"
    )]
    tensors: Vec<PathBuf>,

    /// Write typed lists instead of twml's rawTypedTensor
    ///
    /// float32 becomes floatTensor (widened to double), float64 doubleTensor, int32
    /// int32Tensor, int64 int64Tensor, bool boolTensor; uint8 has no typed list and stays
    /// a rawTypedTensor, strings are a stringTensor either way.
    #[arg(long)]
    typed: bool,

    /// Write numpy bytes arrays ('|S…') as a binaryTensor, bytes as they are
    ///
    /// By default they become a stringTensor, whose Thrift strings must be UTF-8 (checked).
    /// A binaryTensor (GeneralTensor arm 8, list<binary>) holds any bytes, but twml's readers
    /// do not read that arm.
    #[arg(long)]
    binary: bool,

    /// Force a kernel level (default: the best this CPU has); the bytes are the same
    #[arg(long, value_name = "LEVEL",
          value_parser = clap::builder::PossibleValuesParser::new(["scalar", "ssse3", "avx2", "avx512"]))]
    level: Option<String>,

    /// Write a getBatchPrediction REPLY message around the response
    ///
    /// Strict binary message header (REPLY, "getBatchPrediction", --seqid), then the result
    /// struct whose field 0 is the response. Written in one pass with the exact length known.
    #[arg(long)]
    envelope: bool,

    /// The sequence id of the request being answered (with --envelope)
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        requires = "envelope",
        allow_negative_numbers = true
    )]
    seqid: i32,

    /// Put the framed transport's i32 length prefix in front of the message (with --envelope)
    #[arg(long, requires = "envelope")]
    framed: bool,

    /// Output file; '-' writes the bytes to stdout
    ///
    /// After writing a file, a one-line summary (records, bytes, path) goes to stderr.
    #[arg(short, long, value_name = "OUT.bin")]
    output: PathBuf,

    /// Refuse an input .npy file longer than N bytes; K, M, G, T suffixes (binary)
    ///
    /// Each input file is read whole. Reading stops at N + 1 bytes: a longer input (a device,
    /// an endless pipe) is refused with a message naming the file and the limit.
    #[arg(long, value_name = "N", default_value = "4GiB", value_parser = cli::limits::parse_bytes)]
    max_input_bytes: u64,
}

#[derive(Args)]
struct DemoCli {
    /// Output file; '-' writes the bytes to stdout (the report then goes to stderr).
    #[arg(short, long, value_name = "PATH", default_value = "bprwire-demo.bin")]
    output: PathBuf,
}

fn main() -> ExitCode {
    cli::signals::init();
    let cli = Cli::parse();
    // A cap that names no level slows every kernel down: never silently.
    if let Some(warning) = bprwire::MaxLevel::from_env().warning() {
        eprintln!("bprwire: warning: {warning}");
    }
    let result = match cli.command {
        Command::Encode(e) => cli::encode::run(&EncodeArgs {
            keys: e.keys,
            values: e.values,
            tensor_keys: e.tensor_keys,
            tensors: e.tensors,
            typed: e.typed,
            binary: e.binary,
            level: e.level.as_deref().and_then(bprwire::Level::from_name),
            envelope: e.envelope.then_some(bprwire::service::Envelope {
                seqid: e.seqid,
                framed: e.framed,
            }),
            output: e.output,
            max_input_bytes: e.max_input_bytes,
        }),
        Command::Inspect(i) => cli::inspect::run(&cli::inspect::InspectArgs {
            file: i.file,
            framed: i.framed,
            envelope: i.envelope,
            summary: i.summary,
            request: i.request,
            max_bytes: i.max_input_bytes,
        }),
        Command::Scatter(s) => cli::scatter::run(&cli::scatter::ScatterArgs {
            layout: s.layout,
            request: s.request,
            outdir: s.output,
            max_request_bytes: s.max_request_bytes,
            max_rows: s.max_rows,
            max_output_bytes: s.max_output_bytes,
        }),
        Command::Demo(d) => cli::demo::run(&d.output),
        Command::Bench(b) => cli::bench::run(&cli::bench::BenchArgs {
            workloads: b.workloads,
            samples: b.samples.into(),
            sample_time: std::time::Duration::from_millis(b.sample_ms.into()),
            json: b.json,
            levels: if b.levels.iter().any(|l| l == "all") {
                bprwire::Level::available().collect()
            } else {
                b.levels
                    .iter()
                    .filter_map(|l| bprwire::Level::from_name(l))
                    .collect()
            },
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_closed_stdout() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bprwire: error: {e}");
            ExitCode::FAILURE
        }
    }
}
