//! bprwire-serve against hostile clients and careless operators: files
//! that never end, SIGHUP, stops with half-open and stalled connections,
//! configurations `--check` must refuse as start-up does, one client
//! taking the whole queue, JSON bombs' memory, health checks behind slow
//! calls, idle sockets holding every slot, slow readers, malformed
//! protobuf, and the process metrics an operator watches. Each test failed
//! on the server before these were handled. Traffic goes to loopback only;
//! every wait is bounded; every process started is stopped by its pid.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bprwire::features::{Array, Buffers, OutputType};
use bprwire::service::{self, Reply};
use bprwire_serve::config::Config;
use bprwire_serve::frontend::kserve::grpc::pb;
use bprwire_serve::models::{Model, ModelError, OutputSpec, Outputs};
use bytes::Bytes;
use common::*;
use prost::Message;

const BIN: &str = env!("CARGO_BIN_EXE_bprwire-serve");

/// A fresh folder for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bprwire-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// [`config_text`] with the example files named by absolute path, so that
/// the file can be written anywhere.
fn portable_text(extra: &str, grpc: bool) -> String {
    let mut text = config_text(extra, grpc);
    for f in ["layout.json", "weights.npy", "bias.npy"] {
        text = text.replace(&format!("\"{f}\""), &format!("\"{EXAMPLES}/{f}\""));
    }
    text
}

/// Runs `bprwire-serve ARGS` to its end (at most `limit`: killed past it,
/// and `None`), with its exit code and stderr.
fn run_bin(args: &[&Path], limit: Duration) -> Option<(i32, String)> {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            return Some((status.code().unwrap_or(-1), err));
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the peer has closed `s` (a read ends, by EOF or reset, within
/// `limit`; data read first is skipped).
fn closed_by_peer(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 4096];
    while t.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

// ---------------------------------------------------------------- gRPC by hand

/// An infer stream that sent its headers and `sent` bytes of a message
/// that says it is longer, and stalls (kept open while the result lives).
async fn stalled_infer(client: &h2::client::SendRequest<Bytes>, sent: usize) -> impl Sized {
    let mut client = client.clone().ready().await.unwrap();
    let (response, mut send) = client.send_request(grpc_head("ModelInfer"), false).unwrap();
    let mut head = vec![0u8];
    head.extend_from_slice(&1000u32.to_be_bytes());
    head.resize(sent, 7);
    send.send_data(head.into(), false).unwrap();
    (client, response, send)
}

// ---------------------------------------------------------------- 1. files

#[test]
fn a_configuration_layout_or_weights_file_that_never_ends_is_refused_at_once() {
    let dir = scratch("files");
    // The configuration itself.
    let (code, err) = run_bin(
        &[Path::new("/dev/zero"), Path::new("--check")],
        Duration::from_secs(10),
    )
    .expect("`bprwire-serve /dev/zero --check` returns at once");
    assert_eq!(code, 2);
    assert!(
        err.contains("/dev/zero is a character device, not a regular file"),
        "{err}"
    );
    // A layout, the weights: a device, a FIFO (whose open would wait).
    let fifo = dir.join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let fifo = fifo.display().to_string();
    let layout = format!("\"{EXAMPLES}/layout.json\"");
    let weights = format!("\"{EXAMPLES}/weights.npy\"");
    for (from, to, key, says) in [
        (&layout, "\"/dev/zero\"", "layout.path", "is a character device"),
        (&layout, &format!("\"{fifo}\""), "layout.path", "is a FIFO"),
        (&weights, "\"/dev/zero\"", "model", "is a character device"),
        (&weights, &format!("\"{fifo}\""), "model", "is a FIFO"),
        (&weights, "\"/\"", "model", "is a folder"),
    ] {
        let path = dir.join("serve.toml");
        std::fs::write(&path, portable_text("", false).replace(from.as_str(), to)).unwrap();
        let (code, err) = run_bin(&[&path, Path::new("--check")], Duration::from_secs(10))
            .unwrap_or_else(|| panic!("{to} as {key}: --check did not return"));
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(key) && err.contains(says), "{to} as {key}: {err}");
    }
    // A .npy whose header claims more than the file holds: refused on its
    // header, naming both sizes.
    let mut npy = std::fs::read(Path::new(EXAMPLES).join("weights.npy")).unwrap();
    npy.truncate(npy.len() - 8);
    let short = dir.join("short.npy");
    std::fs::write(&short, &npy).unwrap();
    let path = dir.join("serve.toml");
    let text = portable_text("", false).replace(&weights, &format!("\"{}\"", short.display()));
    std::fs::write(&path, text).unwrap();
    let e = prepare(&path).unwrap_err();
    assert!(e.contains("its header says a file of"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------- 2. SIGHUP

#[test]
fn sighup_is_logged_and_serving_goes_on_then_sigterm_stops_the_server_cleanly() {
    let dir = scratch("sighup");
    let path = dir.join("serve.toml");
    std::fs::write(&path, portable_text("", false)).unwrap();
    let mut server = Process::start(&path);
    server.signal("HUP");
    assert!(server.logged("SIGHUP received"), "no SIGHUP log line");
    assert!(http_get(server.http, "/healthz").starts_with("HTTP/1.1 200"));
    let mut s = TcpStream::connect(server.thrift).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&call(2, 9, true)).unwrap();
    let reply = read_reply(&mut s, true);
    assert_eq!(service::decode_reply(&reply, true).unwrap().seqid, 9);
    server.signal("TERM");
    assert_eq!(server.wait(Duration::from_secs(10)), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------- 3. stops

#[test]
fn shutdown_closes_at_once_every_connection_that_owes_no_answer_on_every_port() {
    let server = start(
        config_grpc("[limits]\nshutdown_deadline_s = 5\nread_timeout_s = 3"),
        None,
    );
    let grpc = server.grpc.unwrap();
    // gRPC: a socket that never sends a byte, one that sent only the
    // HTTP/2 preface, and a stream that sent HEADERS and 8 bytes of its
    // message, then stalled.
    let mut silent = TcpStream::connect(grpc).unwrap();
    let mut preface = TcpStream::connect(grpc).unwrap();
    preface.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    let rt = runtime();
    let stalled = rt.block_on(async {
        let client = h2_client(grpc).await;
        let stream = stalled_infer(&client, 8).await;
        (client, stream)
    });
    // Thrift: half a call. HTTP: half a request's headers.
    let mut thrift = server.connect();
    let c = call(3, 1, true);
    thrift.write_all(&c[..c.len() / 2]).unwrap();
    let mut http = TcpStream::connect(server.http).unwrap();
    http.write_all(b"POST /v2/models/bprwire/infer HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    assert_eq!(server.stop(), Ok(()));
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "stop took {:?}",
        t.elapsed()
    );
    for (name, s) in [
        ("silent", &mut silent),
        ("preface", &mut preface),
        ("thrift", &mut thrift),
        ("http", &mut http),
    ] {
        assert!(closed_by_peer(s, Duration::from_secs(2)), "{name} still open");
    }
    drop(stalled);
}

#[test]
fn a_stop_fails_only_when_a_call_read_whole_is_left_unanswered() {
    let gate = Gate::new(false);
    let cfg = config("[batching]\nworkers = 1\ndrop_after_ms = 100\n[limits]\nread_timeout_s = 0.2\nshutdown_deadline_s = 1");
    let server = start(cfg, Some(Box::new(GateModel(gate.clone()))));
    let mut s = server.connect();
    s.write_all(&call(1, 1, true)).unwrap();
    assert!(wait_for(
        server.http,
        "bprwire_requests_total{model=\"bprwire\",version=\"1\"} 1"
    ));
    let e = server.stop().unwrap_err();
    assert!(e.contains("with 1 calls read and not answered"), "{e}");
    gate.open();
}

#[test]
fn a_configuration_whose_call_bound_reaches_the_shutdown_deadline_is_refused() {
    let text = config_text(
        "[batching]\ndrop_after_ms = 90\n[limits]\nread_timeout_s = 10\nshutdown_deadline_s = 10",
        false,
    );
    let e = Config::parse(&Path::new(EXAMPLES).join("t.toml"), &text).unwrap_err();
    assert_eq!(e.key, "limits.shutdown_deadline_s");
    assert!(e.reason.contains("10.09 s"), "{e}");
}

// ---------------------------------------------------------------- 4 and 10. --check

#[test]
fn every_configuration_start_up_refuses_check_refuses_too_naming_the_key() {
    let dir = scratch("check");
    let continuous = "continuous = { output = \"scores\", keys = [1, 2] }";
    let cases: &[(&str, &str, &str)] = &[
        // (the response line, or "" to keep it; extra; what is said)
        (
            "continuous = { output = \"scores\", keys = [1] }",
            "",
            "response.continuous.keys: 1 keys for output \"scores\" of width 2",
        ),
        (
            "continuous = { output = \"nope\", keys = [1, 2] }",
            "",
            "response.continuous.output: the model has no output \"nope\"",
        ),
        (
            "continuous = { output = \"scores\", keys = [1, 1] }",
            "",
            "response:",
        ),
        (
            "tensors = [{ output = \"scores\", key = 5 }, { output = \"scores\", key = 5 }]",
            "",
            "response:",
        ),
        (
            "",
            "[batching]\nmax_records = 2147483647",
            "batching.max_records: 2147483647 rows",
        ),
        (
            "",
            "[limits]\nread_timeout_s = 0",
            "limits.read_timeout_s: 0 must be more than 0",
        ),
        (
            "",
            "[limits]\nidle_timeout_s = 0",
            "limits.idle_timeout_s: 0 must be more than 0",
        ),
        (
            "",
            "[limits]\nhandshake_timeout_s = 0",
            "limits.handshake_timeout_s: 0 must be more than 0",
        ),
        (
            "",
            "[batching]\ndrop_after_ms = 0",
            "batching.drop_after_ms: 0 must be more than 0",
        ),
        (
            "",
            "[limits]\nmax_message_bytes = 1",
            "limits.max_message_bytes: 1 is under 1024",
        ),
        (
            "",
            "[limits]\nshutdown_deadline_s = 10",
            "limits.shutdown_deadline_s: 10 s is not more than",
        ),
        (
            "",
            "[limits]\nmax_connections = 1000000",
            "limits.max_connections: 1000000 connections on each of 2 ports",
        ),
    ];
    for (i, (response, extra, says)) in cases.iter().enumerate() {
        let mut text = portable_text(extra, false);
        if !response.is_empty() {
            text = text.replace(continuous, response);
        }
        let path = dir.join(format!("bad{i}.toml"));
        std::fs::write(&path, &text).unwrap();
        // In process: the same refusal from what --check and start-up build.
        let in_process = prepare(&path);
        let e = in_process.expect_err(says);
        assert!(e.contains(says), "case {i}: {e}");
        // The binary: --check, and start-up, both exit 2 saying it.
        for args in [vec![path.as_path(), Path::new("--check")], vec![path.as_path()]] {
            let (code, err) = run_bin(&args, Duration::from_secs(10))
                .unwrap_or_else(|| panic!("case {i} ({says}): {args:?} was not refused"));
            assert_eq!(code, 2, "case {i} {args:?}: {err}");
            assert!(err.contains(says), "case {i} {args:?}: {err}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------- 5. fairness

#[test]
fn a_bystander_with_one_call_is_not_refused_while_one_rest_call_holds_the_queue() {
    let gate = Gate::new(false);
    // The first call holds the one worker (not the connection thread:
    // inline runs off).
    let cfg = config("[batching]\nmax_records = 1\nworkers = 1\ninline_records = 0\nqueue_requests = 8\ndrop_after_ms = 60000\n[limits]\nshutdown_deadline_s = 120");
    let server = start(cfg, Some(Box::new(GateModel(gate.clone()))));
    // A Thrift call runs first and holds the worker at the gate.
    let mut first = server.connect();
    first.write_all(&call(1, 1, true)).unwrap();
    assert!(wait_for(
        server.http,
        "bprwire_requests_total{model=\"bprwire\",version=\"1\"} 1"
    ));
    std::thread::sleep(Duration::from_millis(100));
    // One REST call of 8 requests fills the queue.
    let one = bprwire_reference::serialize_request(&request(1));
    let blob: Vec<u8> = (0..8)
        .flat_map(|_| [&(one.len() as u32).to_le_bytes()[..], &one].concat())
        .collect();
    let head = format!(
        r#"{{"inputs":[{{"name":"request","shape":[8],"datatype":"BYTES","parameters":{{"binary_data_size":{}}}}}],"outputs":[{{"name":"response","parameters":{{"binary_data":true}}}}]}}"#,
        blob.len()
    );
    let body = [head.as_bytes(), &blob].concat();
    let http = server.http;
    let hog = std::thread::spawn(move || {
        let headers = format!("Inference-Header-Content-Length: {}\r\n", head.len());
        http_post(http, "/v2/models/bprwire/infer", &headers, &body)
    });
    assert!(wait_for(
        server.http,
        "bprwire_queue_depth{model=\"bprwire\",version=\"1\"} 8"
    ));
    // The bystander's one call gets in: the hog's newest request is shed.
    let mut bystander = server.connect();
    bystander.write_all(&call(1, 2, true)).unwrap();
    assert!(wait_for(
        server.http,
        "bprwire_shed_total{model=\"bprwire\",version=\"1\"} 1"
    ));
    gate.open();
    let msg = read_reply(&mut bystander, true);
    let reply = service::decode_reply(&msg, true).unwrap();
    assert!(matches!(reply.body, Reply::Success(_)), "{:?}", reply.body);
    let (status, _, body) = hog.join().unwrap();
    assert_eq!(status, 429, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("request 7: overloaded"));
    let msg = read_reply(&mut first, true);
    assert!(matches!(
        service::decode_reply(&msg, true).unwrap().body,
        Reply::Success(_)
    ));
    server.stop().unwrap();
}

// ---------------------------------------------------------------- 6. JSON bombs

#[test]
fn four_clients_posting_4_mib_json_bodies_keep_the_server_under_150_mb() {
    let dir = scratch("json");
    let path = dir.join("serve.toml");
    std::fs::write(&path, portable_text("", false)).unwrap();
    let server = Process::start(&path);
    // 2,000,000 UINT8 elements as JSON: 4 MB of text, one tree of which
    // took 50-100 MB as serde_json::Value.
    let n = 2_000_000;
    let mut json = String::with_capacity(2 * n + 100);
    json.push_str(&format!(
        r#"{{"inputs":[{{"name":"request","shape":[{n}],"datatype":"UINT8","data":["#
    ));
    for i in 0..n {
        json.push_str(if i + 1 == n { "0" } else { "0," });
    }
    json.push_str("]}]}");
    assert!(json.len() <= 4 << 20);
    let json = Arc::new(json);
    let http = server.http;
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let json = json.clone();
            std::thread::spawn(move || {
                (0..2)
                    .map(|_| http_post(http, "/v2/models/bprwire/infer", "", json.as_bytes()).0)
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    for c in clients {
        for status in c.join().unwrap() {
            // Parsed, then refused as not a request: what matters is the
            // memory it took to read.
            assert!(status == 400 || status == 200, "{status}");
        }
    }
    let peak = server.peak_rss();
    eprintln!(
        "peak RSS after 8 bodies of 4 MB JSON from 4 clients: {} MB",
        peak >> 20
    );
    assert!(peak < 150 << 20, "peak RSS {} MB", peak >> 20);
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------- 7. health

#[test]
fn health_and_metadata_are_answered_while_slow_infer_calls_hold_every_slot() {
    let server = start(
        config_grpc("[limits]\nmax_connections = 4\nmax_in_flight_per_connection = 2\nread_timeout_s = 20\nshutdown_deadline_s = 30"),
        None,
    );
    // REST: every connection slot holds an infer call whose body never
    // comes.
    let slow: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(server.http).unwrap();
            s.write_all(
                b"POST /v2/models/bprwire/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"inp",
            )
            .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    for path in [
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/bprwire",
        "/healthz",
        "/ready",
    ] {
        let mut s = TcpStream::connect(server.http).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(out.starts_with("HTTP/1.1 200"), "{path}: {out}");
    }
    // An infer call on a spare slot is told to come back.
    let (status, _, body) = http_post(server.http, "/v2/models/bprwire/infer", "", b"{}");
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
    drop(slow);
    // gRPC: six stalled infer streams on one connection, past both the
    // per-connection (2) and the global (4) infer limits.
    let grpc = server.grpc.unwrap();
    let rt = runtime();
    rt.block_on(async {
        let client = h2_client(grpc).await;
        let mut stalled = Vec::new();
        for _ in 0..6 {
            stalled.push(stalled_infer(&client, 8).await);
        }
        let other = h2_client(grpc).await;
        for (who, c) in [("same connection", &client), ("new connection", &other)] {
            let live = tokio::time::timeout(Duration::from_secs(3), unary(c, "ServerLive", &[]))
                .await
                .unwrap_or_else(|_| panic!("ServerLive on the {who} waited"));
            assert_eq!(live.0, "0");
            assert!(pb::ServerLiveResponse::decode(&live.1[5..]).unwrap().live);
            let meta = pb::ModelMetadataRequest {
                name: "bprwire".into(),
                version: String::new(),
            };
            let got = tokio::time::timeout(
                Duration::from_secs(3),
                unary(c, "ModelMetadata", &meta.encode_to_vec()),
            )
            .await
            .unwrap_or_else(|_| panic!("ModelMetadata on the {who} waited"));
            assert_eq!(got.0, "0");
        }
        drop(stalled);
    });
    server.stop().unwrap();
}

// ---------------------------------------------------------------- 8. idle sockets

#[test]
fn idle_sockets_are_closed_after_the_handshake_time_and_the_idle_longest_makes_room() {
    let server = start(
        config_grpc("[limits]\nmax_connections = 4\nhandshake_timeout_s = 1\nidle_timeout_s = 1"),
        None,
    );
    let grpc = server.grpc.unwrap();
    // Every slot of every port taken by a socket that sends nothing.
    let mut idle: Vec<(&str, TcpStream)> = Vec::new();
    for (name, addr) in [("thrift", server.thrift), ("http", server.http), ("grpc", grpc)] {
        for _ in 0..4 {
            idle.push((name, TcpStream::connect(addr).unwrap()));
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    // A new client still gets in on each port: the idle longest makes room.
    let mut s = server.connect();
    s.write_all(&call(1, 1, true)).unwrap();
    let msg = read_reply(&mut s, true);
    assert!(matches!(
        service::decode_reply(&msg, true).unwrap().body,
        Reply::Success(_)
    ));
    assert!(http_get(server.http, "/healthz").starts_with("HTTP/1.1 200"));
    let rt = runtime();
    rt.block_on(async {
        let c = h2_client(grpc).await;
        assert_eq!(unary(&c, "ServerLive", &[]).await.0, "0");
    });
    // The silent sockets are closed by the server within the handshake
    // time; so is a partial HTTP header and a bare HTTP/2 preface, and a
    // Thrift connection idle after its call.
    let mut partial = TcpStream::connect(server.http).unwrap();
    partial.write_all(b"GET /healthz HTTP/1.1\r\nHo").unwrap();
    let mut preface = TcpStream::connect(grpc).unwrap();
    preface.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    for (name, mut sock) in idle.into_iter().chain([
        ("partial http", partial),
        ("preface", preface),
        ("thrift after a call", s),
    ]) {
        assert!(
            closed_by_peer(&mut sock, Duration::from_secs(4)),
            "{name}: still open"
        );
    }
    let m = http_get(server.http, "/metrics");
    for line in [
        "bprwire_connections_closed_total{port=\"thrift\",reason=\"evicted\"} ",
        "bprwire_connections_closed_total{port=\"http\",reason=\"evicted\"} ",
        "bprwire_connections_closed_total{port=\"grpc\",reason=\"evicted\"} ",
        "bprwire_connections_closed_total{port=\"thrift\",reason=\"handshake\"} ",
        "bprwire_connections_closed_total{port=\"thrift\",reason=\"idle\"} 1",
    ] {
        assert!(m.contains(line), "no {line} in\n{m}");
    }
    server.stop().unwrap();
}

// ---------------------------------------------------------------- 9. slow readers

/// A model of one wide output (4,096 floats a row): large replies.
struct Wide([OutputSpec; 1]);

impl Model for Wide {
    fn outputs(&self) -> &[OutputSpec] {
        &self.0
    }
    fn run(&self, _: &Buffers, rows: usize) -> Result<Outputs, ModelError> {
        Ok(Outputs::Dense(vec![Array::F32(vec![0.5; rows * 4096])]))
    }
}

#[test]
fn a_client_reading_a_large_reply_slowly_gets_it_all_and_one_that_stops_is_let_go() {
    let text = config_text(
        "[batching]\nmax_records = 2048\n[limits]\nread_timeout_s = 1\nshutdown_deadline_s = 5",
        false,
    )
    .replace(
        "continuous = { output = \"scores\", keys = [1, 2] }",
        "tensors = [{ output = \"wide\", key = 7 }]",
    );
    let cfg = Config::parse(&Path::new(EXAMPLES).join("t.toml"), &text).unwrap();
    let wide = Wide([OutputSpec {
        name: "wide".into(),
        width: 4096,
        dtype: OutputType::F32,
    }]);
    let server = start(cfg, Some(Box::new(wide)));
    // 1,536 records x 16 KiB: a 25 MB reply, more than the sockets hold.
    let mut s = server.connect();
    s.write_all(&call(1536, 1, true)).unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    let t = Instant::now();
    // 1 MiB every 100 ms: the whole reply takes over 2 s, twice the 1 s
    // without progress that lets a client go.
    let whole = |got: &[u8]| {
        got.len() >= 4 && got.len() == 4 + i32::from_be_bytes(got[..4].try_into().unwrap()) as usize
    };
    while !whole(&got) {
        std::thread::sleep(Duration::from_millis(100));
        let mut slot = 0;
        while slot < buf.len() && !whole(&got) {
            match s.read(&mut buf[slot..]) {
                Ok(0) => panic!("closed after {} bytes", got.len()),
                Ok(n) => {
                    got.extend_from_slice(&buf[slot..slot + n]);
                    slot += n;
                }
                Err(e) => panic!("after {} bytes: {e}", got.len()),
            }
        }
    }
    assert!(t.elapsed() > Duration::from_secs(1));
    let reply = service::decode_reply(&got, true).unwrap();
    assert!(matches!(reply.body, Reply::Success(_)), "{:?}", reply.body);
    // Now a client that stops reading: let go after 1 s without progress.
    s.write_all(&call(1536, 2, true)).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let mut rest = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.read_to_end(&mut rest);
    assert!(
        rest.len() < got.len(),
        "a client that stopped reading got all {} bytes",
        rest.len()
    );
    server.stop().unwrap();
}

// ---------------------------------------------------------------- 11. protobuf

#[test]
fn a_grpc_message_that_is_not_protobuf_is_invalid_argument() {
    let server = start(config_grpc(""), None);
    let grpc = server.grpc.unwrap();
    runtime().block_on(async {
        let c = h2_client(grpc).await;
        let (status, _) = unary(&c, "ModelInfer", &[0xff, 0xff, 0xff, 0xff]).await;
        assert_eq!(status, "3", "INVALID_ARGUMENT");
        let (status, _) = unary(&c, "ServerLive", &[0x0a]).await;
        assert_eq!(status, "3");
    });
    server.stop().unwrap();
}

#[test]
fn a_grpc_call_whose_stream_never_ends_is_cut_at_its_time_bound() {
    let server = start(
        config_grpc("[limits]\nread_timeout_s = 0.5\nshutdown_deadline_s = 5"),
        None,
    );
    let grpc = server.grpc.unwrap();
    runtime().block_on(async {
        let c = h2_client(grpc).await;
        let mut client = c.clone().ready().await.unwrap();
        // ServerLive's message, but the stream is never ended.
        let (response, mut send) = client.send_request(grpc_head("ServerLive"), false).unwrap();
        send.send_data(grpc_frame(&[]), false).unwrap();
        let t = Instant::now();
        let response = tokio::time::timeout(Duration::from_secs(5), response)
            .await
            .expect("answered within the bound")
            .unwrap();
        assert!(t.elapsed() >= Duration::from_millis(400), "{:?}", t.elapsed());
        assert_eq!(
            response.headers().get("grpc-status").unwrap(),
            "4",
            "DEADLINE_EXCEEDED"
        );
        drop(send);
    });
    server.stop().unwrap();
}

#[test]
fn an_idle_keep_alive_connection_lasts_its_idle_time_not_the_handshake_time() {
    let server = start(
        config("[limits]\nhandshake_timeout_s = 0.5\nidle_timeout_s = 3"),
        None,
    );
    let mut s = TcpStream::connect(server.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let t = Instant::now();
    assert!(
        !closed_by_peer(&mut s, Duration::from_millis(1500)),
        "closed after the handshake time"
    );
    assert!(
        closed_by_peer(&mut s, Duration::from_secs(4)),
        "still open after the idle time"
    );
    assert!(t.elapsed() >= Duration::from_millis(2500), "{:?}", t.elapsed());
    server.stop().unwrap();
}

// ---------------------------------------------------------------- process metrics

#[test]
fn metrics_carry_the_process_figures_every_exporter_has() {
    let server = start(config(""), None);
    let m = http_get(server.http, "/metrics");
    for name in [
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_max_fds ",
        "process_start_time_seconds ",
    ] {
        let line = m
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in\n{m}"));
        let v: f64 = line[name.len()..].trim().parse().unwrap();
        assert!(v >= 0.0, "{line}");
    }
    server.stop().unwrap();
}
