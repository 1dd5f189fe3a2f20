//! Criterion benches of the output sinks: one response per iteration to a
//! real transport (a Unix socket pair and a pipe), a thread on the other
//! end reading and discarding. Per workload and transport:
//!
//! - `copy`: `encode_into` a reused buffer, then `write_all` it (the
//!   response is copied once in user space, then by the kernel);
//! - `write_to`: `Encoder::write_to_with` through a reused 64 KiB staging
//!   buffer (bounded memory; long raw rows bypass it);
//! - `vectored`: `Encoder::vectored_into` a reused plan with the default
//!   threshold (rows of 8 KiB or more borrowed), then `Vectored::write_to`;
//! - `vectored_all`: the same borrowing every raw row however short (raw
//!   rows are not copied in user space: `writev` points the kernel at the
//!   caller's tensors);
//! - `write_only`: `write_all` of the already-encoded bytes, no encoding
//!   at all: the transport's own cost, the floor of the three.
//!
//! The transports get 4 MB socket buffers and 1 MB pipes (Linux's default
//! ceilings), so that a writer is seldom held up by the reader: the times
//! are then the writer's cost, not the pace of the pipeline. A third
//! "transport", `null`, is a writer that accepts every byte (vectored too)
//! and does nothing: the user-space cost alone.
//!
//! Before each workload it prints the bytes each path copies in user space
//! per response. Quote ratios from one run: the machine is shared (2
//! cores, and the reader thread takes one).
//!
//! `cargo bench --bench sinks [-- W5]`

use std::hint::black_box;
use std::io::IoSlice;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::Duration;

use bprwire::internals::workloads;
use bprwire::sink::{Vectored, DEFAULT_MIN_BORROW, DEFAULT_STAGING};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Reads and discards everything from `r` until EOF, on its own thread.
fn drain(mut r: impl Read + Send + 'static) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 20];
        while matches!(r.read(&mut buf), Ok(n) if n > 0) {}
    })
}

fn bench_to<W: Write>(c: &mut Criterion, transport: &str, w: &mut W, id: &str) {
    let work = workloads::get(id).expect("workload");
    work.with_inputs(|bp| {
        let enc = bp.encoder().unwrap();
        let len = enc.encoded_len();
        let plan = enc.vectored();
        let mut all = Vectored::default();
        enc.vectored_into(&mut all, 1);
        eprintln!(
            "{id} ({transport}): {len} bytes a response; copied in user space: copy {len}, write_to {}, \
             vectored {} ({} borrowed in {} chunks), vectored_all {} ({} borrowed in {} chunks)",
            len - staged_bypass(&enc),
            plan.copied_bytes(),
            plan.borrowed_bytes(),
            plan.chunk_count(),
            all.copied_bytes(),
            all.borrowed_bytes(),
            all.chunk_count(),
        );
        let mut g = c.benchmark_group(format!("sink_{transport}/{id}"));
        g.throughput(Throughput::Bytes(len as u64));

        let mut buf = Vec::with_capacity(len);
        g.bench_function("copy", |b| {
            b.iter(|| {
                let enc = black_box(bp).encoder().unwrap();
                enc.encode_into_vec(&mut buf);
                w.write_all(&buf).unwrap();
            })
        });
        let mut staging = vec![0u8; DEFAULT_STAGING];
        g.bench_function("write_to", |b| {
            b.iter(|| {
                let enc = black_box(bp).encoder().unwrap();
                enc.write_to_with(w, &mut staging).unwrap()
            })
        });
        let mut plan = Vectored::default();
        g.bench_function("vectored", |b| {
            b.iter(|| {
                let enc = black_box(bp).encoder().unwrap();
                enc.vectored_into(&mut plan, DEFAULT_MIN_BORROW);
                plan.write_to(w).unwrap()
            })
        });
        // Every raw row borrowed, however short: the plan with the most
        // zero-copy and the most iovecs.
        g.bench_function("vectored_all", |b| {
            b.iter(|| {
                let enc = black_box(bp).encoder().unwrap();
                enc.vectored_into(&mut plan, 1);
                plan.write_to(w).unwrap()
            })
        });
        let bytes = enc.encode_to_vec();
        g.bench_function("write_only", |b| {
            b.iter(|| w.write_all(black_box(&bytes)).unwrap())
        });
        g.finish();
    });
}

/// Bytes `write_to` sends without staging them (raw rows at least as long
/// as the 64 KiB staging buffer): the vectored plan with that threshold.
fn staged_bypass(enc: &bprwire::Encoder<'_>) -> usize {
    let mut plan = Vectored::default();
    enc.vectored_into(&mut plan, DEFAULT_STAGING - 9);
    plan.borrowed_bytes()
}

/// Accepts everything, touches nothing.
struct Null;

impl Write for Null {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(black_box(buf).len())
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        Ok(black_box(bufs).iter().map(|b| b.len()).sum())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sets a socket option of `int` type (Linux caps it at net.core.*mem_max).
fn set_buffer(fd: &impl AsRawFd, option: libc::c_int, bytes: libc::c_int) {
    // SAFETY: a valid open socket, and a pointer to a live c_int of the
    // size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&bytes as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt");
}

const WORKLOADS: [&str; 3] = ["W5", "W7", "W3"];

/// Where borrowing starts to pay: 1 MiB of raw f32 rows of 512 B to
/// 64 KiB, to a socket, copied (`copy`) or every row borrowed (`vectored_all`).
fn row_bytes(c: &mut Criterion) {
    let (mut w, r) = UnixStream::pair().unwrap();
    set_buffer(&w, libc::SO_SNDBUF, 4 << 20);
    set_buffer(&r, libc::SO_RCVBUF, 4 << 20);
    let reader = drain(r);
    let data: Vec<f32> = (0..1 << 18).map(|i| i as f32).collect();
    for row in [512usize, 2048, 4096, 8192, 32768, 65536] {
        let cols = row / 4;
        let tensors = [bprwire::Tensor::new(&data, &[data.len() / cols, cols])];
        let bp = bprwire::BatchPrediction::new().dense(&[1], &tensors);
        let len = bp.encoded_len().unwrap();
        let mut g = c.benchmark_group(format!("sink_row_bytes/{row}"));
        g.throughput(Throughput::Bytes(len as u64));
        let mut buf = Vec::with_capacity(len);
        g.bench_function("copy", |b| {
            b.iter(|| {
                bp.encoder().unwrap().encode_into_vec(&mut buf);
                w.write_all(&buf).unwrap();
            })
        });
        let mut plan = Vectored::default();
        g.bench_function("vectored_all", |b| {
            b.iter(|| {
                bp.encoder().unwrap().vectored_into(&mut plan, 1);
                plan.write_to(&mut w).unwrap()
            })
        });
        g.finish();
    }
    drop(w);
    reader.join().unwrap();
}

fn null(c: &mut Criterion) {
    for id in WORKLOADS {
        bench_to(c, "null", &mut Null, id);
    }
}

fn socket(c: &mut Criterion) {
    let (mut w, r) = UnixStream::pair().unwrap();
    set_buffer(&w, libc::SO_SNDBUF, 4 << 20);
    set_buffer(&r, libc::SO_RCVBUF, 4 << 20);
    let reader = drain(r);
    for id in WORKLOADS {
        bench_to(c, "socket", &mut w, id);
    }
    drop(w);
    reader.join().unwrap();
}

fn pipe(c: &mut Criterion) {
    let (r, mut w) = std::io::pipe().unwrap();
    // SAFETY: a valid open pipe; F_SETPIPE_SZ takes an int.
    let rc = unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20) };
    assert!(rc >= 0, "F_SETPIPE_SZ");
    let reader = drain(r);
    for id in WORKLOADS {
        bench_to(c, "pipe", &mut w, id);
    }
    drop(w);
    reader.join().unwrap();
}

criterion_group! {
    name = sinks;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    targets = null, socket, pipe, row_bytes
}
criterion_main!(sinks);
