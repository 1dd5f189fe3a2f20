//! `bprwire-load`: the load generator of `docs/benchmarks.md`. Loopback
//! only; every run bounded in requests and seconds.
//!
//! ```text
//! bprwire-load setup R1|R2|R3 DIR [--k K]     layout, weights, request and a config for the workload
//! bprwire-load run ADDR DIR/request.bin [--concurrency N] [--seconds S] [--max-requests N] [--unframed] [--server-pid PID]
//! bprwire-load inproc DIR/serve.toml DIR/request.bin [--iterations N]
//! bprwire-load bystander THRIFT_ADDR HTTP_ADDR DIR/request.bin [--seconds S] [--json-clients N] [--server-pid PID]
//! bprwire-load canned DIR/serve.toml DIR/request.bin [--seconds S]
//! ```
//!
//! `run` keeps `N` connections each sending the request and waiting for
//! its reply (closed loop), and prints one line: throughput, records per
//! second, p50 and p99 latency, and with `--server-pid` the server's CPU
//! time per request (user + system, from `/proc/PID/stat` before and
//! after). `inproc` times the same request through
//! the server's own steps on one thread (decode, scatter, model, encode;
//! `Engine::run_one`) and prints the median. `bystander` measures one
//! Thrift client's latency alone, then while `N` clients (default 4) post
//! 4 MB KServe REST bodies of JSON in a loop, in one run: p50, p99, max
//! and the ratio of the p99s; with `--server-pid`, the server's CPU
//! seconds in each phase and its peak resident memory. `canned` is the
//! floor any server pays on this machine: a server on the runtime
//! bprwire-serve uses (tokio, multi-threaded) that answers every framed
//! message with the reply bprwire-serve gives the request (made once, in
//! process) and does nothing else; `run --server-pid` against it gives
//! the CPU per request of the reads, writes and wake-ups alone. It prints
//! `canned on ADDR` and stops after `--seconds` (default 60).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bprwire::service::{self, Reply};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup(&args[1..]),
        Some("run") => run(&args[1..]),
        Some("inproc") => inproc(&args[1..]),
        Some("bystander") => bystander(&args[1..]),
        Some("canned") => canned(&args[1..]),
        _ => {
            Err("usage: bprwire-load setup|run|inproc|bystander|canned ... (see the source's header)".into())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bprwire-load: {e}");
            ExitCode::from(2)
        }
    }
}

/// `--name value` from `args`, parsed, or `default`.
fn opt<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} needs a value")),
    }
}

fn setup(args: &[String]) -> Result<(), String> {
    let [id, dir, ..] = args else {
        return Err("setup R1|R2|R3 DIR".into());
    };
    let k: usize = opt(args, "--k", 2)?;
    let w = bprwire::internals::workloads::get_request(id).ok_or_else(|| format!("no workload {id}"))?;
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let n = bprwire_serve::models::feature_count(&w.layout);
    // Small deterministic weights, float64; bias float64.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let weights: Vec<f64> = (0..n * k).map(|_| next() * 0.02).collect();
    let bias: Vec<f64> = (0..k).map(|_| next()).collect();
    let write =
        |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).map_err(|e| format!("{name}: {e}"));
    write("layout.json", w.layout.to_json().as_bytes())?;
    write("weights.npy", &npy_f64(&weights, &[n, k]))?;
    write("bias.npy", &npy_f64(&bias, &[k]))?;
    let keys: Vec<String> = (0..k).map(|j| (1001 + j).to_string()).collect();
    let config = format!(
        "# {id}: {summary}\n[listen]\nthrift = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\n[layout]\npath = \"layout.json\"\n\
         [model]\nkind = \"logistic\"\nweights = \"weights.npy\"\nbias = \"bias.npy\"\n\
         [response]\ncontinuous = {{ output = \"scores\", keys = [{keys}] }}\n\
         [batching]\nmax_records = {max}\nmax_wait_ms = 2.0\ndrop_after_ms = 90.0\nqueue_requests = 1024\n\
         [limits]\nmax_message_bytes = 67108864\nmax_records_per_request = 65536\nshutdown_deadline_s = 15.0\n",
        summary = w.summary,
        keys = keys.join(", "),
        max = w.rows.max(256),
    );
    write("serve.toml", config.as_bytes())?;
    // The call message, unframed; `run` frames it if asked.
    let mut msg = Vec::new();
    msg.extend(0x8001_0001u32.to_be_bytes());
    msg.extend((service::METHOD.len() as i32).to_be_bytes());
    msg.extend(service::METHOD.as_bytes());
    msg.extend(1i32.to_be_bytes());
    msg.extend([0x0C, 0, 1]);
    msg.extend(&w.bytes);
    msg.push(0);
    write("request.bin", &msg)?;
    println!(
        "{id}: {} records, {} features, k = {k}, request {} bytes, in {}",
        w.rows,
        n,
        msg.len(),
        dir.display()
    );
    Ok(())
}

/// A `.npy` (version 1.0) of little-endian float64.
fn npy_f64(values: &[f64], shape: &[usize]) -> Vec<u8> {
    let shape = match shape {
        [n] => format!("({n},)"),
        s => format!(
            "({})",
            s.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
        ),
    };
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    for v in values {
        out.extend(v.to_le_bytes());
    }
    out
}

fn run(args: &[String]) -> Result<(), String> {
    let [addr, request, ..] = args else {
        return Err(
            "run ADDR REQUEST [--concurrency N] [--seconds S] [--max-requests N] [--unframed]".into(),
        );
    };
    let addr: SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{addr} is not a loopback address: this generator loads only this machine"
        ));
    }
    let concurrency: usize = opt(args, "--concurrency", 1)?;
    let seconds: f64 = opt(args, "--seconds", 5.0)?;
    let max_requests: usize = opt(args, "--max-requests", 1_000_000)?;
    let framed = !args.iter().any(|a| a == "--unframed");
    let seconds = seconds.clamp(0.1, 600.0);
    let pid = server_pid(args)?;
    let (msg, records) = read_call(request)?;
    let wire = if framed {
        [&(msg.len() as i32).to_be_bytes()[..], &msg].concat()
    } else {
        msg
    };
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let per_thread = max_requests.div_ceil(concurrency.max(1));
    let cpu0 = pid.and_then(cpu_seconds);
    let started = Instant::now();
    let threads: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let wire = wire.clone();
            std::thread::spawn(move || client(addr, &wire, framed, records, deadline, per_thread))
        })
        .collect();
    let mut lat = Vec::new();
    for t in threads {
        lat.extend(t.join().map_err(|_| "a client thread panicked".to_string())??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = pid.and_then(cpu_seconds).zip(cpu0).map(|(b, a)| b - a);
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "concurrency {concurrency:>2}: {n} requests in {elapsed:.2} s: {rps:.0} req/s, {rec:.0} records/s, p50 {p50} us, p99 {p99} us{cpu}",
        n = lat.len(),
        rps = lat.len() as f64 / elapsed,
        rec = (lat.len() * records) as f64 / elapsed,
        p50 = pct(0.50),
        p99 = pct(0.99),
        cpu = cpu
            .map(|c| format!(", server CPU {:.1} us/request", c * 1e6 / lat.len().max(1) as f64))
            .unwrap_or_default(),
    );
    Ok(())
}

/// One connection, closed loop: latencies in microseconds.
fn client(
    addr: SocketAddr,
    wire: &[u8],
    framed: bool,
    records: usize,
    deadline: Instant,
    max: usize,
) -> Result<Vec<u64>, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut lat = Vec::with_capacity(max.min(1 << 20));
    let mut reply = Vec::new();
    let mut scanner = service::MessageScanner::new(1 << 30);
    while lat.len() < max && Instant::now() < deadline {
        let t = Instant::now();
        s.write_all(wire).map_err(|e| format!("write: {e}"))?;
        read_reply(&mut s, framed, &mut reply, &mut scanner)?;
        lat.push(t.elapsed().as_micros() as u64);
        if lat.len() == 1 {
            // The first reply decoded whole: the server's answer, not an exception.
            match service::decode_reply(&reply, framed)
                .map_err(|e| e.to_string())?
                .body
            {
                Reply::Success(r) if r.len() == records => {}
                other => return Err(format!("unexpected reply: {other:?}")),
            }
        } else if reply.get(if framed { 7 } else { 3 }) != Some(&2) {
            return Err("a reply that is not a REPLY message".into());
        }
    }
    Ok(lat)
}

/// One whole reply into `reply`.
fn read_reply(
    s: &mut TcpStream,
    framed: bool,
    reply: &mut Vec<u8>,
    scanner: &mut service::MessageScanner,
) -> Result<(), String> {
    reply.clear();
    let mut fill = |reply: &mut Vec<u8>, to: usize| {
        let start = reply.len();
        reply.resize(to, 0);
        s.read_exact(&mut reply[start..])
            .map_err(|e| format!("read: {e}"))
    };
    if framed {
        fill(reply, 4)?;
        let n = i32::from_be_bytes(reply[..4].try_into().expect("4 bytes")) as usize;
        return fill(reply, 4 + n);
    }
    scanner.reset();
    loop {
        match scanner.scan(reply).map_err(|e| e.to_string())? {
            service::Scan::Complete(_) => return Ok(()),
            service::Scan::NeedMore(n) => fill(reply, n)?,
        }
    }
}

/// The Thrift port's model version of the server that `config`
/// describes, built as start-up builds it (what holds it returned beside
/// it), and the call message in the file `request`.
fn served(
    config: &str,
    request: &str,
) -> Result<
    (
        bprwire_serve::Prepared,
        std::sync::Arc<bprwire_serve::repository::version::Version>,
        bytes::Bytes,
    ),
    String,
> {
    let config = bprwire_serve::config::Config::load(Path::new(config)).map_err(|e| e.to_string())?;
    let prepared = bprwire_serve::Prepared::new(config).map_err(|e| e.to_string())?;
    let repository = prepared.repository();
    let version = repository
        .pick(repository.thrift_model(), None)
        .map_err(|e| e.text().to_string())?;
    let msg = bytes::Bytes::from(std::fs::read(request).map_err(|e| format!("{request}: {e}"))?);
    Ok((prepared, version, msg))
}

fn inproc(args: &[String]) -> Result<(), String> {
    let [config, request, ..] = args else {
        return Err("inproc CONFIG REQUEST [--iterations N]".into());
    };
    let iterations: usize = opt(args, "--iterations", 2000)?;
    let (_prepared, version, msg) = served(config, request)?;
    let engine = version.engine();
    let mut times = Vec::with_capacity(iterations);
    for _ in 0..iterations.clamp(1, 1_000_000) {
        let t = Instant::now();
        let reply = engine.run_one(msg.clone(), true).ok_or("not a call")?;
        times.push(t.elapsed().as_nanos() as u64);
        std::hint::black_box(reply);
    }
    times.sort_unstable();
    println!(
        "in-process decode+scatter+model+encode: median {:.1} us over {} iterations",
        times[times.len() / 2] as f64 / 1e3,
        times.len()
    );
    let t = engine.metrics().statistics.snapshot();
    let per = |tally: bprwire_serve::metrics::Tally| tally.ns as f64 / 1e3 / tally.count.max(1) as f64;
    println!(
        "  per request: decode+scatter {:.1} us, model {:.1} us, encode {:.1} us (the server's own statistics)",
        per(t.compute_input),
        per(t.compute_infer),
        per(t.compute_output)
    );
    Ok(())
}

fn canned(args: &[String]) -> Result<(), String> {
    let [config, request, ..] = args else {
        return Err("canned CONFIG REQUEST [--seconds S]".into());
    };
    let seconds: f64 = opt(args, "--seconds", 60.0)?;
    let (_prepared, version, msg) = served(config, request)?;
    let reply = std::sync::Arc::new(version.engine().run_one(msg, true).ok_or("not a call")?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        println!("canned on {}", listener.local_addr().map_err(|e| e.to_string())?);
        let stop = tokio::time::sleep(Duration::from_secs_f64(seconds.clamp(0.1, 3600.0)));
        tokio::pin!(stop);
        loop {
            let (stream, _) = tokio::select! {
                _ = &mut stop => return Ok(()),
                a = listener.accept() => a.map_err(|e| e.to_string())?,
            };
            tokio::spawn(answer_canned(stream, reply.clone()));
        }
    })
}

/// Answers each framed message on `stream` with `reply`, until the client
/// closes (or sends a frame over 64 MiB).
async fn answer_canned(mut stream: tokio::net::TcpStream, reply: std::sync::Arc<Vec<u8>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = stream.set_nodelay(true);
    let mut body = Vec::new();
    loop {
        let mut head = [0u8; 4];
        if stream.read_exact(&mut head).await.is_err() {
            return;
        }
        let n = u32::from_be_bytes(head) as usize;
        if n > 64 << 20 {
            return;
        }
        body.resize(n, 0);
        if stream.read_exact(&mut body).await.is_err() || stream.write_all(&reply).await.is_err() {
            return;
        }
    }
}

/// A loopback address, or an error naming it.
fn loopback(addr: &str) -> Result<SocketAddr, String> {
    let a: SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    if !a.ip().is_loopback() {
        return Err(format!(
            "{a} is not a loopback address: this generator loads only this machine"
        ));
    }
    Ok(a)
}

/// A KServe REST infer body of JSON: one UINT8 tensor of `bytes / 2`
/// zeros (`0,0,...`), about `bytes` of text: what a careless client sends
/// instead of the binary extension.
fn json_body(bytes: usize) -> Vec<u8> {
    let n = bytes / 2;
    let mut json =
        format!(r#"{{"inputs":[{{"name":"request","shape":[{n}],"datatype":"UINT8","data":["#).into_bytes();
    for i in 0..n {
        json.extend_from_slice(if i + 1 == n { b"0" } else { b"0," });
    }
    json.extend_from_slice(b"]}]}");
    json
}

/// Posts `body` to `path` on `addr` (one connection per call) until
/// `deadline`: the calls answered.
fn post_loop(addr: SocketAddr, path: &str, body: &[u8], deadline: Instant) -> usize {
    let mut answered = 0;
    while Instant::now() < deadline {
        let Ok(mut s) = TcpStream::connect(addr) else {
            break;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if s.write_all(head.as_bytes())
            .and_then(|_| s.write_all(body))
            .is_err()
        {
            continue;
        }
        let mut out = Vec::new();
        if s.read_to_end(&mut out).is_ok() && out.starts_with(b"HTTP/1.1 ") {
            answered += 1;
        }
    }
    answered
}

/// A `getBatchPrediction` call message from `path`, and its records.
fn read_call(path: &str) -> Result<(Vec<u8>, usize), String> {
    let msg = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let records = service::decode_call(&msg)
        .and_then(|c| c.batch_request())
        .map_err(|e| format!("{path}: {e}"))?
        .len();
    Ok((msg, records))
}

/// `--server-pid PID`, if given.
fn server_pid(args: &[String]) -> Result<Option<u32>, String> {
    match args.iter().position(|a| a == "--server-pid") {
        Some(_) => Ok(Some(opt(args, "--server-pid", 0)?)),
        None => Ok(None),
    }
}

/// A process's user + system CPU seconds (`/proc/PID/stat`).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of proc(5); `f[0]` is field 3. Clock ticks of 1/100 s.
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// A process's peak resident memory in MB (`VmHWM`).
fn peak_rss_mb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb >> 10)
}

fn bystander(args: &[String]) -> Result<(), String> {
    let [thrift, http, request, ..] = args else {
        return Err("bystander THRIFT_ADDR HTTP_ADDR REQUEST [--seconds S] [--json-clients N] [--json-bytes B] [--model NAME] [--server-pid PID]".into());
    };
    let (thrift, http) = (loopback(thrift)?, loopback(http)?);
    let seconds: f64 = opt(args, "--seconds", 5.0)?;
    let seconds = seconds.clamp(0.5, 300.0);
    let clients: usize = opt(args, "--json-clients", 4)?;
    let json_bytes: usize = opt(args, "--json-bytes", 4_000_000)?;
    let model: String = opt(args, "--model", "bprwire".to_string())?;
    let pid = server_pid(args)?;
    let (msg, records) = read_call(request)?;
    let wire = [&(msg.len() as i32).to_be_bytes()[..], &msg].concat();
    let pct = |lat: &mut Vec<u64>, p: f64| {
        lat.sort_unstable();
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let body = std::sync::Arc::new(json_body(json_bytes));
    let path = format!("/v2/models/{model}/infer");
    let mut p99s = Vec::new();
    for (phase, posters) in [("idle", 0), ("json load", clients.min(64))] {
        let cpu0 = pid.and_then(cpu_seconds);
        let deadline = Instant::now() + Duration::from_secs_f64(seconds);
        let load: Vec<_> = (0..posters)
            .map(|_| {
                let (body, path) = (body.clone(), path.clone());
                std::thread::spawn(move || post_loop(http, &path, &body, deadline))
            })
            .collect();
        let mut lat = client(thrift, &wire, true, records, deadline, 10_000_000)?;
        let posted: usize = load.into_iter().map(|t| t.join().unwrap_or(0)).sum();
        let cpu = pid.and_then(cpu_seconds).zip(cpu0).map(|(b, a)| b - a);
        let (p50, p99) = (pct(&mut lat, 0.50), pct(&mut lat, 0.99));
        p99s.push(p99.max(1));
        println!(
            "{phase:>9}: bystander {} calls, p50 {p50} us, p99 {p99} us, max {} us; {posters} JSON clients, {posted} bodies of {} bytes answered{}",
            lat.len(),
            lat.last().copied().unwrap_or(0),
            body.len(),
            cpu.map(|c| format!("; server CPU {c:.2} s")).unwrap_or_default(),
        );
    }
    println!(
        "bystander p99 under JSON load / idle: {:.2}x{}",
        p99s[1] as f64 / p99s[0] as f64,
        pid.and_then(peak_rss_mb)
            .map(|m| format!("; server peak RSS {m} MB"))
            .unwrap_or_default()
    );
    Ok(())
}
