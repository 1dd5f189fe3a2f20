//! bprwire-serve in-process on 127.0.0.1:0: pipelining, the queue and the
//! batcher's refusals (with a model the test holds shut), other methods,
//! limits, the configuration's refusals, the HTTP port (its KServe v2 REST
//! answers against the Thrift port's, byte for byte) and shutdown.
//! Requests are written by the reference's generated code; replies are
//! read by bprwire's reply decoder (checked against the reference in the
//! core crate's tests). Every wait is bounded.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use bprwire::service::{self, Reply};
use bprwire_reference::twml::data::DataRecord;
use bprwire_reference::twml::prediction_service::{BatchPredictionRequest, PredictionRequest};
use bprwire_serve::config::Config;
use bprwire_serve::Server;
use common::*;

#[test]
fn pipelined_calls_are_answered_in_order_with_their_seqids_framed_and_not() {
    let server = start(config(""), None);
    for framed in [true, false] {
        let mut s = server.connect();
        let calls: Vec<u8> = (0..20)
            .flat_map(|i| call(i % 5, 100 + i as i32, framed))
            .collect();
        s.write_all(&calls).unwrap();
        for i in 0..20 {
            let reply = read_reply(&mut s, framed);
            let msg = service::decode_reply(&reply, framed).unwrap();
            assert_eq!(msg.seqid, 100 + i as i32);
            let Reply::Success(r) = msg.body else {
                panic!("{:?}", msg.body)
            };
            assert_eq!(r.len(), i % 5);
        }
    }
    server.stop().unwrap();
}

#[test]
fn a_full_queue_refuses_the_client_holding_the_most_and_sheds_its_newest_for_a_bystander() {
    let gate = Gate::new(false);
    let cfg = config("[batching]\nmax_records = 1\nmax_wait_ms = 0\ndrop_after_ms = 60000\nqueue_requests = 3\nworkers = 1\ninline_records = 0\n[limits]\nshutdown_deadline_s = 120");
    let server = start(cfg, Some(Box::new(GateModel(gate.clone()))));
    // A runs (and waits at the gate); B, C and D fill the queue.
    // One at a time, so that the worker has taken A off the queue first.
    let mut heavy = server.connect();
    for i in 1..=4 {
        heavy.write_all(&call(1, i, true)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        wait_for(
            server.http,
            "bprwire_queue_depth{model=\"bprwire\",version=\"1\"} 3"
        ),
        "B, C and D not queued"
    );
    // The client holding every queued request is refused at once (its
    // answer comes in call order, after A-D's: the metric says it now).
    heavy.write_all(&call(1, 5, true)).unwrap();
    assert!(wait_for(
        server.http,
        "bprwire_failures_total{model=\"bprwire\",version=\"1\",reason=\"overloaded\"} 1"
    ));
    // A bystander holding none gets in: the heavy client's newest (D) is
    // shed for it.
    let mut bystander = server.connect();
    bystander.write_all(&call(1, 6, true)).unwrap();
    assert!(wait_for(
        server.http,
        "bprwire_shed_total{model=\"bprwire\",version=\"1\"} 1"
    ));
    gate.open();
    let msg = read_reply(&mut bystander, true);
    let reply = service::decode_reply(&msg, true).unwrap();
    assert_eq!(reply.seqid, 6);
    assert!(
        matches!(reply.body, Reply::Success(r) if r.len() == 1),
        "{:?}",
        reply.body
    );
    for i in 1..=5 {
        let msg = read_reply(&mut heavy, true);
        let reply = service::decode_reply(&msg, true).unwrap();
        assert_eq!(reply.seqid, i);
        match (i, reply.body) {
            (1..=3, Reply::Success(r)) => assert_eq!(r.len(), 1),
            (4 | 5, Reply::ServiceException { description: Some(d) }) => {
                assert!(d.contains("this connection holds the most"), "{d}")
            }
            (_, other) => panic!("call {i}: {other:?}"),
        }
    }
    let metrics = http_get(server.http, "/metrics");
    assert!(
        metrics.contains("bprwire_failures_total{model=\"bprwire\",version=\"1\",reason=\"overloaded\"} 2"),
        "{metrics}"
    );
    server.stop().unwrap();
}

#[test]
fn requests_past_max_queued_bytes_are_refused_as_overloaded() {
    let gate = Gate::new(false);
    let len = call(20, 1, true).len() - 4; // one message (over 512 bytes)
    assert!(2 * len >= 1024);
    let cfg = config(&format!(
        "[batching]\nmax_records = 32\nworkers = 1\ninline_records = 0\ndrop_after_ms = 60000\n[limits]\nshutdown_deadline_s = 120\nmax_records_per_request = 32\nmax_queued_bytes = {0}\nmax_message_bytes = {0}",
        2 * len
    ));
    let server = start(cfg, Some(Box::new(GateModel(gate.clone()))));
    let mut first = server.connect();
    first
        .write_all(&[call(20, 1, true), call(20, 2, true)].concat())
        .unwrap();
    assert!(wait_for(
        server.http,
        "bprwire_requests_total{model=\"bprwire\",version=\"1\"} 2"
    ));
    let mut second = server.connect();
    second.write_all(&call(20, 3, true)).unwrap();
    let bytes = read_reply(&mut second, true);
    match service::decode_reply(&bytes, true).unwrap().body {
        Reply::ServiceException { description: Some(d) } => {
            assert_eq!(
                d,
                format!("overloaded: over {} bytes of requests already queued", 2 * len)
            )
        }
        other => panic!("{other:?}"),
    }
    gate.open();
    for i in 1..=2 {
        let bytes = read_reply(&mut first, true);
        assert_eq!(service::decode_reply(&bytes, true).unwrap().seqid, i);
    }
    // Answered: their bytes are given back once the server has written
    // them (which may be just after this client has read them), and the
    // next call runs; within 2 s.
    let t = Instant::now();
    loop {
        second.write_all(&call(20, 4, true)).unwrap();
        let bytes = read_reply(&mut second, true);
        match service::decode_reply(&bytes, true).unwrap().body {
            Reply::Success(_) => break,
            other => assert!(t.elapsed() < Duration::from_secs(2), "{other:?}"),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    server.stop().unwrap();
}

#[test]
fn a_call_that_waited_past_drop_after_is_refused_and_a_model_error_reaches_its_batch() {
    let gate = Gate::new(true);
    let cfg = config(
        "[batching]\nmax_records = 1\nmax_wait_ms = 0\ndrop_after_ms = 50\nworkers = 1\ninline_records = 0",
    );
    let server = start(cfg, Some(Box::new(GateModel(gate.clone()))));
    let mut s = server.connect();
    s.write_all(&[call(1, 1, false), call(1, 2, false)].concat())
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    gate.open();
    let first = read_reply(&mut s, false);
    match service::decode_reply(&first, false).unwrap().body {
        Reply::ServiceException { description: Some(d) } => {
            assert_eq!(d, "model error: the gate model fails")
        }
        other => panic!("{other:?}"),
    }
    let second = read_reply(&mut s, false);
    match service::decode_reply(&second, false).unwrap().body {
        Reply::ServiceException { description: Some(d) } => {
            assert!(
                d.starts_with("overloaded: waited") && d.contains("drop_after_ms = 50"),
                "{d}"
            )
        }
        other => panic!("{other:?}"),
    }
    let metrics = http_get(server.http, "/metrics");
    assert!(
        metrics.contains("bprwire_dropped_total{model=\"bprwire\",version=\"1\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("bprwire_failures_total{model=\"bprwire\",version=\"1\",reason=\"model\"} 1"),
        "{metrics}"
    );
    server.stop().unwrap();
}

/// The text of a `PredictionServiceException` reply to `getPrediction`,
/// as the generated client reports it.
fn bytes_of_exception(reply: &[u8]) -> String {
    match bprwire_reference::prediction_client_receive(reply, true) {
        Err(e) => format!("{e:?}"),
        Ok(r) => panic!("not an exception: {r:?}"),
    }
}

#[test]
fn other_methods_limits_and_a_request_larger_than_the_batch() {
    let server = start(
        config(
            "[batching]\nmax_records = 4\n[limits]\nmax_records_per_request = 16\nmax_message_bytes = 4096",
        ),
        None,
    );
    let mut s = server.connect();
    // Another method: a TApplicationException under its name.
    let other = bprwire_reference::call_bytes(&request(1), "getFoo", 9);
    s.write_all(&frame(other, true)).unwrap();
    let bytes = read_reply(&mut s, true);
    let text = "unknown method \"getFoo\": this server answers getBatchPrediction and getPrediction";
    let env = service::Envelope {
        seqid: 9,
        framed: true,
    };
    let kind = service::ApplicationErrorKind::UnknownMethod;
    assert_eq!(
        bytes,
        service::application_exception_to("getFoo", env, text, kind).unwrap()
    );
    // getPrediction: one record in, one out, as the generated client reads
    // it: the record getBatchPrediction answers for the same record.
    let one = request(1).individual_features_list.remove(0);
    let single = bprwire_reference::prediction_call_bytes(&PredictionRequest::new(one), 1);
    s.write_all(&frame(single, true)).unwrap();
    let got = bprwire_reference::prediction_client_receive(&read_reply(&mut s, true), true).unwrap();
    s.write_all(&call(1, 1, true)).unwrap();
    let batch = bprwire_reference::client_receive(&read_reply(&mut s, true), true).unwrap();
    assert_eq!(batch.predictions, vec![got.prediction]);
    // A getPrediction call whose argument is not a PredictionRequest.
    let bad = bprwire_reference::call_bytes(&request(2), "getPrediction", 1);
    s.write_all(&frame(bad, true)).unwrap();
    let reply = bytes_of_exception(&read_reply(&mut s, true));
    assert!(reply.contains("not a getPrediction request"), "{reply}");
    // Over the record limit: refused by name; 10 records (more than a
    // batch of 4): run alone and answered.
    s.write_all(&[call(17, 10, true), call(10, 11, true)].concat())
        .unwrap();
    let bytes = read_reply(&mut s, true);
    match service::decode_reply(&bytes, true).unwrap().body {
        Reply::ServiceException { description: Some(d) } => {
            assert_eq!(d, "17 records, over the limit of 16 per request")
        }
        other => panic!("{other:?}"),
    }
    let bytes = read_reply(&mut s, true);
    let reply = service::decode_reply(&bytes, true).unwrap();
    assert!(matches!(reply.body, Reply::Success(r) if r.len() == 10));
    // A frame over max_message_bytes: a PROTOCOL_ERROR, then the connection closes.
    s.write_all(&5000i32.to_be_bytes()).unwrap();
    let bytes = read_reply(&mut s, true);
    let reply = service::decode_reply(&bytes, true).unwrap();
    assert!(
        matches!(reply.body, Reply::ApplicationException { kind: Some(7), .. }),
        "{:?}",
        reply.body
    );
    assert_eq!(s.read(&mut [0u8; 1]).unwrap(), 0, "still open");
    // Not Thrift at all (an HTTP request on the Thrift port): the same.
    let mut h = server.connect();
    h.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut rest = Vec::new();
    h.read_to_end(&mut rest).unwrap();
    let reply = service::decode_reply(&rest, true).unwrap();
    assert!(
        matches!(reply.body, Reply::ApplicationException { kind: Some(7), .. }),
        "{:?}",
        reply.body
    );
    server.stop().unwrap();
}

#[test]
fn the_http_port_reports_health_readiness_and_metrics_and_shutdown_ends_idle_connections() {
    let server = start(config(""), None);
    assert!(http_get(server.http, "/healthz").starts_with("HTTP/1.1 200"));
    assert!(http_get(server.http, "/ready").starts_with("HTTP/1.1 200"));
    let mut s = server.connect();
    s.write_all(&call(3, 1, true)).unwrap();
    let _ = read_reply(&mut s, true);
    let m = http_get(server.http, "/metrics");
    for line in [
        "bprwire_requests_total{model=\"bprwire\",version=\"1\"} 1",
        "bprwire_responses_total{model=\"bprwire\",version=\"1\"} 1",
        "bprwire_connections{port=\"thrift\"} 1",
        "bprwire_batch_records_sum{model=\"bprwire\",version=\"1\"} 3.0",
        "bprwire_latency_seconds_count{model=\"bprwire\",version=\"1\"} 1",
        "bprwire_model_seconds_count{model=\"bprwire\",version=\"1\"} 1",
    ] {
        assert!(m.contains(line), "no {line:?} in\n{m}");
    }
    // The idle connection is closed by shutdown, which returns Ok.
    let t = Instant::now();
    server.stop().unwrap();
    assert_eq!(s.read(&mut [0u8; 1]).unwrap(), 0);
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn bad_configurations_are_refused_with_the_file_the_key_and_the_reason() {
    let path = Path::new(EXAMPLES).join("bad.toml");
    let base = "[layout]\npath = \"layout.json\"\n[model]\nkind = \"logistic\"\nweights = \"weights.npy\"\nbias = \"bias.npy\"\n[response]\ncontinuous = { output = \"scores\", keys = [1, 2] }\n";
    let cases = [
        (
            format!("{base}[batching]\nmax_records = 0\n"),
            "batching.max_records: must be at least 1",
        ),
        (
            format!("{base}[batching]\nmax_recods = 4\n"),
            "unknown field `max_recods`",
        ),
        (
            format!("{base}[limits]\nread_timeout_s = -1.0\n"),
            "limits.read_timeout_s: -1 is not a duration",
        ),
        (
            base.replace("logistic", "tree"),
            "model.kind: unknown variant `tree`, expected one of `linear`, `logistic`, `onnx`",
        ),
        (
            base.replace("layout.json", "nope.json"),
            "layout.path: cannot read",
        ),
        (format!("{base}[listen]\nthrift = \"nowhere\"\n"), "listen.thrift"),
        (
            format!("{base}[limits]\nmax_connections = 2305843009213693952\n"),
            "limits.max_connections: 2305843009213693952 is more than",
        ),
        (
            format!("{base}[limits]\nmax_queued_bytes = 1000\n"),
            "limits.max_queued_bytes: 1000 is less than limits.max_message_bytes",
        ),
        (
            base.replace("weights = \"weights.npy\"\n", ""),
            "model: missing field `weights`",
        ),
        (
            base.replace("kind = \"logistic\"", "kind = \"onnx\""),
            "expected one of `path`, `inputs`, `threads`, `library`",
        ),
        (
            base.replace(
                "kind = \"logistic\"\nweights = \"weights.npy\"\nbias = \"bias.npy\"",
                "kind = \"onnx\"",
            ),
            "model: missing field `path`",
        ),
        (
            base.replace(
                "kind = \"logistic\"\nweights = \"weights.npy\"\nbias = \"bias.npy\"",
                "kind = \"onnx\"\npath = \"m.onnx\"\nthreads = 0",
            ),
            "model.threads: must be at least 1",
        ),
        (
            base.replace("bias = \"bias.npy\"", "bias = \"bias.npy\"\ndtype = \"int8\""),
            "model: unknown variant `int8`, expected `float32` or `float64`",
        ),
        (
            format!("{base}[kserve]\nmodel = \"a/b\"\n"),
            "kserve.model: \"a/b\" is not a model name",
        ),
        (format!("{base}[listen]\ngrpc = \"nowhere\"\n"), "listen.grpc"),
    ];
    for (text, want) in cases {
        let e = Config::parse(&path, &text).unwrap_err().to_string();
        assert!(e.starts_with(&path.display().to_string()), "{e}");
        assert!(e.contains(want), "{e:?} does not say {want:?}");
    }
    // Checked when the model is loaded: keys against the output's width,
    // an output the model lacks.
    let c = Config::parse(&path, &base.replace("keys = [1, 2]", "keys = [1, 2, 3]")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = rt.block_on(Server::bind(c)).err().unwrap().to_string();
    assert!(
        e.contains("response.continuous.keys: 3 keys for output \"scores\" of width 2"),
        "{e}"
    );
    let c = Config::parse(&path, &base.replace("output = \"scores\"", "output = \"probs\"")).unwrap();
    let e = rt.block_on(Server::bind(c)).err().unwrap().to_string();
    assert!(
        e.contains("response.continuous.output: the model has no output \"probs\""),
        "{e}"
    );
}

#[test]
fn eager_batches_gather_what_comes_while_every_worker_is_busy() {
    let gate = Gate::new(false);
    let cfg = config("[batching]\nmax_records = 64\nworkers = 1\ninline_records = 0\ndrop_after_ms = 60000\n[limits]\nshutdown_deadline_s = 120");
    let server = start(cfg, Some(Box::new(GateModel(gate.clone()))));
    let mut s = server.connect();
    // A starts at once (the worker is free) and waits at the gate.
    s.write_all(&call(2, 1, true)).unwrap();
    assert!(
        wait_for(
            server.http,
            "bprwire_batch_requests_count{model=\"bprwire\",version=\"1\"} 1"
        ),
        "A did not start alone"
    );
    // B, C, D come while the worker is busy: one batch.
    for i in 2..=4 {
        s.write_all(&call(1, i, true)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    gate.open();
    for i in 1..=4 {
        let bytes = read_reply(&mut s, true);
        let reply = service::decode_reply(&bytes, true).unwrap();
        assert_eq!(reply.seqid, i);
        assert!(matches!(reply.body, Reply::Success(_)), "{:?}", reply.body);
    }
    let m = http_get(server.http, "/metrics");
    assert!(
        m.contains("bprwire_batch_requests_count{model=\"bprwire\",version=\"1\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("bprwire_batch_requests_sum{model=\"bprwire\",version=\"1\"} 4.0"),
        "{m}"
    );
    assert!(
        m.contains("bprwire_batch_records_sum{model=\"bprwire\",version=\"1\"} 5.0"),
        "{m}"
    );
    server.stop().unwrap();
}

#[test]
fn a_small_call_runs_on_its_connections_thread_when_idle_and_a_large_one_queues() {
    let cfg = config("[batching]\nmax_records = 64\ninline_records = 4");
    let server = start(cfg, None);
    let mut s = server.connect();
    // Calls one at a time: each small one finds the server idle.
    for (i, records) in [(1, 1), (2, 4), (3, 5), (4, 2)] {
        s.write_all(&call(records, i, true)).unwrap();
        let bytes = read_reply(&mut s, true);
        let reply = service::decode_reply(&bytes, true).unwrap();
        assert_eq!(reply.seqid, i);
        assert!(matches!(reply.body, Reply::Success(_)), "{:?}", reply.body);
    }
    let m = http_get(server.http, "/metrics");
    // Three ran inline; the one of 5 records went through the queue.
    assert!(
        m.contains("bprwire_inline_total{model=\"bprwire\",version=\"1\"} 3"),
        "{m}"
    );
    assert!(
        m.contains("bprwire_batch_requests_count{model=\"bprwire\",version=\"1\"} 4"),
        "{m}"
    );
    server.stop().unwrap();
}

#[test]
fn a_stalled_inline_run_holds_only_its_own_connection_and_others_queue_behind_the_workers() {
    let gate = Gate::new(false);
    let cfg = config("[batching]\nmax_records = 64\nworkers = 2\ndrop_after_ms = 60000\n[limits]\nshutdown_deadline_s = 120");
    let server = start(cfg, Some(Box::new(GateModel(gate.clone()))));
    // The first call runs inline, on its connection's thread, and stalls.
    let mut first = server.connect();
    first.write_all(&call(1, 1, true)).unwrap();
    assert!(wait_for(
        server.http,
        "bprwire_inline_total{model=\"bprwire\",version=\"1\"} 1"
    ));
    // Probes are answered, and another client's call is not run inline
    // (one inline run at a time): it goes to a worker.
    assert!(http_get(server.http, "/healthz").starts_with("HTTP/1.1 200"));
    let mut second = server.connect();
    second.write_all(&call(1, 2, true)).unwrap();
    assert!(wait_for(
        server.http,
        "bprwire_batch_requests_count{model=\"bprwire\",version=\"1\"} 2"
    ));
    let m = http_get(server.http, "/metrics");
    assert!(
        m.contains("bprwire_inline_total{model=\"bprwire\",version=\"1\"} 1"),
        "{m}"
    );
    gate.open();
    for (s, seqid) in [(&mut first, 1), (&mut second, 2)] {
        let bytes = read_reply(s, true);
        let reply = service::decode_reply(&bytes, true).unwrap();
        assert_eq!(reply.seqid, seqid);
        assert!(matches!(reply.body, Reply::Success(_)), "{:?}", reply.body);
    }
    server.stop().unwrap();
}

/// A call message (unframed) of `method` with a ONEWAY type.
fn oneway_call(records: usize, seqid: i32) -> Vec<u8> {
    let mut msg = bprwire_reference::call_bytes(&request(records), "getBatchPrediction", seqid);
    msg[3] = 4; // the message type byte: ONEWAY
    frame(msg, true)
}

#[test]
fn oneway_calls_hold_their_place_among_the_calls_in_flight() {
    let gate = Gate::new(false);
    let cfg = config(
        "[batching]\nmax_records = 1\nworkers = 1\nqueue_requests = 256\ndrop_after_ms = 60000\n[limits]\nmax_in_flight_per_connection = 2\nshutdown_deadline_s = 120",
    );
    let server = start(cfg, Some(Box::new(GateModel(gate.clone()))));
    let mut s = server.connect();
    s.write_all(&(1..=20).flat_map(|i| oneway_call(1, i)).collect::<Vec<_>>())
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let m = http_get(server.http, "/metrics");
    let read: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("bprwire_requests_total{model=\"bprwire\",version=\"1\"} "))
        .unwrap()
        .parse()
        .unwrap();
    // One running, two waiting in the connection's window, one being handed over.
    assert!(read <= 4, "{read} ONEWAY calls read past a window of 2:\n{m}");
    gate.open();
    // All 20 run, none answered; a call after them is answered.
    s.write_all(&call(1, 99, true)).unwrap();
    let bytes = read_reply(&mut s, true);
    assert_eq!(service::decode_reply(&bytes, true).unwrap().seqid, 99);
    assert!(wait_for(
        server.http,
        "bprwire_requests_total{model=\"bprwire\",version=\"1\"} 21"
    ));
    server.stop().unwrap();
}

#[test]
fn shutdown_is_not_held_by_a_half_sent_http_request_or_a_client_that_keeps_sending() {
    let server = start(
        config("[limits]\nshutdown_deadline_s = 5\nread_timeout_s = 3"),
        None,
    );
    let mut http = TcpStream::connect(server.http).unwrap();
    http.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").unwrap(); // never finished
                                                                      // A Thrift client that always has half a call on the wire.
    let msg = call(1, 1, true);
    let mut busy = server.connect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let mut busy = busy.try_clone().unwrap();
        std::thread::spawn(move || {
            let (head, tail) = msg.split_at(msg.len() / 2);
            busy.write_all(head).ok();
            for _ in 0..200 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                if busy.write_all(tail).and_then(|_| busy.write_all(head)).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    let result = server.stop();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert_eq!(result, Ok(()));
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "shutdown took {:?}",
        t.elapsed()
    );
    let mut rest = Vec::new();
    let _ = busy.read_to_end(&mut rest); // closed (its answers, if any, came first)
    drop(http);
}

#[test]
fn replies_not_yet_taken_count_against_max_queued_bytes() {
    // Each reply: 30,000 records of two scores, about 1.3 MB; requests are
    // 30 KB. Nothing is read: replies pile up in the server once the
    // socket's buffers are full, and count until written.
    let cfg = config(
        "[batching]\nmax_records = 30000\ndrop_after_ms = 60000\n[limits]\nmax_queued_bytes = 4000000\nmax_message_bytes = 1000000\nmax_records_per_request = 30000\nread_timeout_s = 30\nshutdown_deadline_s = 120",
    );
    let server = start(cfg, None);
    let big = frame(
        bprwire_reference::call_bytes(
            &BatchPredictionRequest::new(
                vec![DataRecord::new(None, None, None, None, None, None, None, None, None); 30_000],
                None,
            ),
            "getBatchPrediction",
            1,
        ),
        true,
    );
    let mut hog = server.connect();
    hog.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    for _ in 0..60 {
        if hog.write_all(&big).is_err() {
            break;
        }
    }
    // Another client is refused for bytes once the replies pile up (it is
    // served until then; at most 50 tries, 50 ms apart).
    let t = Instant::now();
    let mut other = server.connect();
    let mut refused = false;
    for i in 0..50 {
        other.write_all(&call(1, i, true)).unwrap();
        let bytes = read_reply(&mut other, true);
        if let Reply::ServiceException { description: Some(d) } =
            service::decode_reply(&bytes, true).unwrap().body
        {
            assert!(d.starts_with("overloaded: over 4000000 bytes"), "{d}");
            refused = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        refused,
        "replies waiting to be taken were not counted:\n{}",
        http_get(server.http, "/metrics")
            .lines()
            .filter(|l| l.starts_with("bprwire_") && !l.contains("bucket"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(t.elapsed() < Duration::from_secs(20));
    drop(hog);
    server.stop().unwrap();
}

/// A POST with a body; the whole answer (status line, headers, body).
#[test]
fn the_kserve_rest_port_answers_what_the_thrift_port_answers_and_refuses_by_status() {
    let server = start(config(""), None);
    let requests: Vec<Vec<u8>> = [3usize, 0, 2]
        .iter()
        .map(|&n| bprwire_reference::serialize_request(&request(n)))
        .collect();
    // The Thrift port's responses to the same requests.
    let mut s = server.connect();
    let thrift: Vec<Vec<u8>> = [3usize, 0, 2]
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            s.write_all(&call(n, i as i32, true)).unwrap();
            let reply = read_reply(&mut s, true);
            match service::decode_reply(&reply, true).unwrap().body {
                Reply::Success(r) => r.reencode(),
                other => panic!("{other:?}"),
            }
        })
        .collect();
    let blob: Vec<u8> = requests
        .iter()
        .flat_map(|r| [&(r.len() as u32).to_le_bytes()[..], r].concat())
        .collect();
    let json = format!(
        r#"{{"id":"7","inputs":[{{"name":"request","shape":[3],"datatype":"BYTES","parameters":{{"binary_data_size":{}}}}}],
            "outputs":[{{"name":"response","parameters":{{"binary_data":true}}}},{{"name":"scores"}}]}}"#,
        blob.len()
    );
    let body = [json.as_bytes(), &blob].concat();
    let header = format!("Inference-Header-Content-Length: {}\r\n", json.len());
    let (status, head, out) = http_post(server.http, "/v2/models/bprwire/infer", &header, &body);
    assert_eq!(status, 200, "{head}{}", String::from_utf8_lossy(&out));
    let n: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("inference-header-content-length: "))
        .expect("the JSON's length")
        .trim()
        .parse()
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&out[..n]).unwrap();
    assert_eq!(answer["id"], "7");
    assert_eq!(answer["outputs"][0]["shape"], serde_json::json!([3]));
    // The scores, as JSON numbers: 5 records × 2 outputs.
    assert_eq!(answer["outputs"][1]["shape"], serde_json::json!([5, 2]));
    assert_eq!(answer["outputs"][1]["data"].as_array().unwrap().len(), 10);
    // The responses: what the Thrift port says, byte for byte.
    let mut rest = &out[n..];
    for want in &thrift {
        let len = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
        assert_eq!(&rest[4..4 + len], &want[..]);
        rest = &rest[4 + len..];
    }
    assert!(rest.is_empty());
    // Refusals, each with its status and a JSON error.
    let junk = [&5u32.to_le_bytes()[..], b"\x05junk"].concat();
    let bad = format!(
        r#"{{"inputs":[{{"name":"request","shape":[1],"datatype":"BYTES","parameters":{{"binary_data_size":{}}}}}],"outputs":[{{"name":"response","parameters":{{"binary_data":true}}}}]}}"#,
        junk.len()
    );
    let header = format!("Inference-Header-Content-Length: {}\r\n", bad.len());
    for (path, body, status, says) in [
        (
            "/v2/models/other/infer",
            body.clone(),
            404,
            "no model \\\"other\\\"",
        ),
        (
            "/v2/models/bprwire/infer",
            [bad.as_bytes(), &junk].concat(),
            400,
            "request 0: not a BatchPredictionRequest",
        ),
        (
            "/v2/models/bprwire/versions/2/infer",
            body.clone(),
            404,
            "has no version 2 serving",
        ),
    ] {
        let (got, _, out) = http_post(server.http, path, &header, &body);
        let text = String::from_utf8_lossy(&out);
        assert_eq!(got, status, "{path}: {text}");
        assert!(
            text.starts_with("{\"error\":") && text.contains(says),
            "{path}: {text}"
        );
    }
    server.stop().unwrap();
}

#[test]
fn a_rest_client_trickling_its_body_is_answered_408_and_holds_no_one_up() {
    let server = start(
        config("[limits]\nread_timeout_s = 0.5\n[batching]\ndrop_after_ms = 100.0\n"),
        None,
    );
    let mut slow = TcpStream::connect(server.http).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let t = Instant::now();
    write!(
        slow,
        "POST /v2/models/bprwire/infer HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n{{\"inp"
    )
    .unwrap();
    // Meanwhile another client is answered at once.
    assert!(http_get(server.http, "/v2/health/ready").starts_with("HTTP/1.1 200"));
    let mut answer = Vec::new();
    slow.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("the call took longer than 600ms"), "{answer}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    server.stop().unwrap();
}
