//! `bprwire bench`: the shared workloads W1–W7 timed in this process, with
//! a memcpy of the same bytes as the yardstick. No criterion: a warm-up,
//! several samples, the median. This is what a user runs to see the speed
//! on their own machine; the figures we quote come from `cargo bench`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bprwire::internals::workloads::{self, Workload};
use bprwire::Level;

use super::error::CliError;
use super::output;

/// What `bench` was asked to do.
pub struct BenchArgs {
    /// Workload ids to run (all when empty).
    pub workloads: Vec<String>,
    /// Samples per measurement (the median is reported).
    pub samples: usize,
    /// Target duration of one sample.
    pub sample_time: Duration,
    /// Print JSON lines instead of a table.
    pub json: bool,
    /// Kernel levels to time (the best available when empty).
    pub levels: Vec<Level>,
}

/// One workload's figures.
struct Row {
    id: &'static str,
    level: Level,
    summary: &'static str,
    bytes: usize,
    encode_ns: f64,
    memcpy_ns: f64,
}

/// Median nanoseconds per call of `f`, after a warm-up; each sample runs
/// enough calls to last about `sample_time`.
fn measure(mut f: impl FnMut(), samples: usize, sample_time: Duration) -> f64 {
    // Warm-up, and a first estimate of the cost of one call.
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < sample_time * 2 || calls < 3 {
        f();
        calls += 1;
    }
    let per_call = start.elapsed().as_secs_f64() / calls as f64;
    let iters = ((sample_time.as_secs_f64() / per_call) as u64).max(1);
    let mut ns: Vec<f64> = (0..samples.max(1))
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    ns.sort_by(f64::total_cmp);
    ns[ns.len() / 2]
}

fn run_one(w: &Workload, level: Level, args: &BenchArgs) -> Row {
    w.with_inputs(|bp| {
        let bp = &bp.clone().level(level);
        let len = bp.encoded_len().expect("workloads are valid");
        let mut buf = vec![0u8; len];
        // The serving-loop case: check, size and encode into a reused buffer.
        let encode_ns = measure(
            || {
                let enc = black_box(bp).encoder().expect("valid");
                black_box(enc.encode_into(black_box(&mut buf)).expect("sized"));
            },
            args.samples,
            args.sample_time,
        );
        let src = buf.clone();
        let mut dst = vec![0u8; len];
        let memcpy_ns = measure(
            || black_box(&mut dst[..]).copy_from_slice(black_box(&src)),
            args.samples,
            args.sample_time,
        );
        Row {
            id: w.id,
            level,
            summary: w.summary,
            bytes: len,
            encode_ns,
            memcpy_ns,
        }
    })
}

fn gb_per_s(bytes: usize, ns: f64) -> f64 {
    bytes as f64 / ns
}

/// Runs `bench`.
pub fn run(args: &BenchArgs) -> Result<(), CliError> {
    let chosen: Vec<Workload> = if args.workloads.is_empty() {
        workloads::all()
    } else {
        args.workloads
            .iter()
            .map(|id| {
                workloads::get(id).ok_or_else(|| CliError::Usage(format!("no workload '{id}' (W1 to W7)")))
            })
            .collect::<Result<_, _>>()?
    };
    let levels = if args.levels.is_empty() {
        vec![Level::best()]
    } else {
        args.levels.clone()
    };
    if let Some(&missing) = levels.iter().find(|l| !l.is_available()) {
        return Err(CliError::Usage(format!(
            "kernel level {missing} is not available here (available: {})",
            Level::available().map(Level::name).collect::<Vec<_>>().join(", ")
        )));
    }
    if !args.json {
        output::println(format_args!(
            "{:<4} {:<7} {:>10} {:>14} {:>9} {:>14} {:>9}  workload",
            "id", "level", "bytes", "ns/encode", "GB/s", "ns/memcpy", "x memcpy"
        ))?;
    }
    for (w, &level) in chosen.iter().flat_map(|w| levels.iter().map(move |l| (w, l))) {
        let r = run_one(w, level, args);
        let ratio = r.encode_ns / r.memcpy_ns;
        if args.json {
            output::println(format_args!(
                "{{\"workload\":\"{}\",\"level\":\"{}\",\"summary\":\"{}\",\"bytes\":{},\"ns_per_encode\":{:.1},\"gb_per_s\":{:.3},\"memcpy_ns\":{:.1},\"ratio_to_memcpy\":{:.3}}}",
                r.id,
                r.level,
                r.summary,
                r.bytes,
                r.encode_ns,
                gb_per_s(r.bytes, r.encode_ns),
                r.memcpy_ns,
                ratio
            ))?;
        } else {
            output::println(format_args!(
                "{:<4} {:<7} {:>10} {:>14.1} {:>9.2} {:>14.1} {:>9.2}  {}",
                r.id,
                r.level.name(),
                r.bytes,
                r.encode_ns,
                gb_per_s(r.bytes, r.encode_ns),
                r.memcpy_ns,
                ratio,
                r.summary
            ))?;
        }
    }
    Ok(())
}
