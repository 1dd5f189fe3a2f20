//! What the server's integration tests share: a configuration on the
//! example files, a model the test holds shut, a server started
//! in-process on 127.0.0.1:0, requests written by the reference's
//! generated code, replies read whole, and HTTP by hand. Every wait is
//! bounded.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bprwire::features::{Array, Buffers, OutputType};
use bprwire::service;
use bprwire_reference::twml::data::DataRecord;
use bprwire_reference::twml::prediction_service::BatchPredictionRequest;
use bprwire_serve::config::Config;
use bprwire_serve::models::{Model, ModelError, OutputSpec, Outputs};
use bprwire_serve::Server;
use tokio_util::sync::CancellationToken;

pub const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");

pub fn config(extra: &str) -> Config {
    Config::parse(&Path::new(EXAMPLES).join("test.toml"), &config_text(extra, false))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Loads the configuration at `path` and builds all that start-up builds
/// but the listeners (what `--check` does); the error as text.
pub fn prepare(path: &Path) -> Result<(), String> {
    Config::load(path).map_err(|e| e.to_string()).and_then(|c| {
        bprwire_serve::Prepared::new(c)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}

/// As [`config`], with the KServe gRPC port on too.
pub fn config_grpc(extra: &str) -> Config {
    Config::parse(&Path::new(EXAMPLES).join("test.toml"), &config_text(extra, true))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The text of [`config`]: the example layout and linear model, every
/// port on 127.0.0.1:0, `extra` appended.
pub fn config_text(extra: &str, grpc: bool) -> String {
    config_text_with(
        "[response]\ncontinuous = { output = \"scores\", keys = [1, 2] }",
        extra,
        grpc,
    )
}

/// As [`config_text`], with `response` in place of its `[response]`.
pub fn config_text_with(response: &str, extra: &str, grpc: bool) -> String {
    let grpc = if grpc { "grpc = \"127.0.0.1:0\"" } else { "" };
    format!(
        r#"
[listen]
thrift = "127.0.0.1:0"
http = "127.0.0.1:0"
{grpc}
[layout]
path = "layout.json"
[model]
kind = "logistic"
weights = "weights.npy"
bias = "bias.npy"
{response}
{extra}
"#
    )
}

/// A model whose batches wait until the test opens it (at most 10 s).
pub struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
    fail: bool,
    spec: [OutputSpec; 1],
}

impl Gate {
    pub fn new(fail: bool) -> Arc<Gate> {
        Arc::new(Gate {
            open: Mutex::new(false),
            cv: Condvar::new(),
            fail,
            spec: [OutputSpec {
                name: "scores".into(),
                width: 2,
                dtype: OutputType::F32,
            }],
        })
    }
    pub fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }
}

pub struct GateModel(pub Arc<Gate>);

impl Model for GateModel {
    fn outputs(&self) -> &[OutputSpec] {
        &self.0.spec
    }
    fn run(&self, _: &Buffers, rows: usize) -> Result<Outputs, ModelError> {
        let open = self.0.open.lock().unwrap();
        let _ = self
            .0
            .cv
            .wait_timeout_while(open, Duration::from_secs(10), |o| !*o)
            .unwrap();
        if self.0.fail {
            return Err(ModelError("the gate model fails".into()));
        }
        Ok(Outputs::Dense(vec![Array::F32(
            (0..rows * 2).map(|i| i as f32).collect(),
        )]))
    }
}

/// A running server: its ports, its shutdown, its thread.
pub struct Running {
    pub thrift: std::net::SocketAddr,
    pub http: std::net::SocketAddr,
    pub grpc: Option<std::net::SocketAddr>,
    pub shutdown: CancellationToken,
    pub done: std::sync::mpsc::Receiver<Result<(), String>>,
}

pub fn start(config: Config, model: Option<Box<dyn Model>>) -> Running {
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done) = std::sync::mpsc::channel();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server = match model {
                Some(m) => Server::with_model(config, m).await,
                None => Server::bind(config).await,
            }
            .unwrap();
            tx.send((server.thrift_addr(), server.http_addr(), server.grpc_addr()))
                .unwrap();
            let r = server.run(token).await.map_err(|e| e.to_string());
            let _ = done_tx.send(r);
        });
    });
    let (thrift, http, grpc) = rx.recv_timeout(Duration::from_secs(10)).expect("server started");
    Running {
        thrift,
        http,
        grpc,
        shutdown,
        done,
    }
}

impl Running {
    pub fn stop(self) -> Result<(), String> {
        self.shutdown.cancel();
        self.done
            .recv_timeout(Duration::from_secs(15))
            .expect("server stopped in time")
    }
    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.thrift).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }
}

pub fn request(records: usize) -> BatchPredictionRequest {
    let record = |i: usize| {
        let cont = [
            (101i64, thrift::OrderedFloat(i as f64)),
            (999, thrift::OrderedFloat(1.0)),
        ];
        DataRecord {
            continuous_features: Some(cont.into_iter().collect()),
            ..Default::default()
        }
    };
    BatchPredictionRequest::new((0..records).map(record).collect::<Vec<_>>(), None)
}

pub fn call(records: usize, seqid: i32, framed: bool) -> Vec<u8> {
    let msg = bprwire_reference::call_bytes(&request(records), "getBatchPrediction", seqid);
    frame(msg, framed)
}

pub fn frame(msg: Vec<u8>, framed: bool) -> Vec<u8> {
    if framed {
        [&(msg.len() as i32).to_be_bytes()[..], &msg].concat()
    } else {
        msg
    }
}

/// One reply off `s`: a framed reply by its prefix, an unframed one by
/// the message scanner (byte by byte, so nothing of the next is taken).
pub fn read_reply(s: &mut TcpStream, framed: bool) -> Vec<u8> {
    let mut read = |buf: &mut Vec<u8>, n: usize| {
        let start = buf.len();
        buf.resize(start + n, 0);
        s.read_exact(&mut buf[start..]).expect("a whole reply in time");
    };
    let mut buf = Vec::new();
    if framed {
        read(&mut buf, 4);
        let n = i32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
        read(&mut buf, n);
        return buf;
    }
    let mut scanner = service::MessageScanner::new(1 << 24);
    loop {
        match scanner.scan(&buf).expect("a reply the scanner reads") {
            service::Scan::Complete(_) => return buf,
            service::Scan::NeedMore(n) => {
                let more = n - buf.len();
                read(&mut buf, more)
            }
        }
    }
}

/// Polls `/metrics` until it has `line` (at most 5 s).
pub fn wait_for(http: std::net::SocketAddr, line: &str) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        if http_get(http, "/metrics").lines().any(|l| l == line) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

pub fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

pub fn http_post(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &str,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n{headers}\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
    let head = String::from_utf8(out[..split].to_vec()).unwrap();
    let status = head[9..12].parse().unwrap();
    (status, head.to_ascii_lowercase(), out[split..].to_vec())
}

// ---------------------------------------------------------------- a server process

/// A server process on `config`: the child, its Thrift and HTTP ports
/// (from the line it prints), and its stderr, collected.
pub struct Process {
    pub child: std::process::Child,
    pub thrift: std::net::SocketAddr,
    pub http: std::net::SocketAddr,
    log: std::sync::mpsc::Receiver<String>,
}

impl Process {
    pub fn start(config: &Path) -> Process {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bprwire-serve"))
            .arg(config)
            .env("BPRWIRE_LOG", "info")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let addr = |after: &str| -> std::net::SocketAddr {
            let at = line
                .find(after)
                .unwrap_or_else(|| panic!("no {after:?} in {line:?}"))
                + after.len();
            line[at..]
                .split([',', '\n'])
                .next()
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        let (thrift, http) = (addr("thrift on "), addr("http on "));
        let (tx, log) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        Process {
            child,
            thrift,
            http,
            log,
        }
    }

    pub fn signal(&self, name: &str) {
        let ok = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Its exit code, within `limit` (killed, and a panic, past it).
    pub fn wait(&mut self, limit: Duration) -> i32 {
        let t = Instant::now();
        while t.elapsed() < limit {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!("the server did not exit within {limit:?}");
    }

    /// Whether a log line containing `text` comes within 5 s.
    pub fn logged(&self, text: &str) -> bool {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if let Ok(l) = self.log.recv_timeout(Duration::from_millis(100)) {
                if l.contains(text) {
                    return true;
                }
            }
        }
        false
    }

    /// Peak resident memory (VmHWM), bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .unwrap()
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .unwrap();
        kb * 1024
    }
}

// ---------------------------------------------------------------- gRPC by hand

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

pub async fn h2_client(addr: std::net::SocketAddr) -> h2::client::SendRequest<bytes::Bytes> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

pub fn grpc_head(method: &str) -> tonic::codegen::http::Request<()> {
    tonic::codegen::http::Request::builder()
        .method("POST")
        .uri(format!(
            "http://localhost/inference.GRPCInferenceService/{method}"
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap()
}

pub fn grpc_frame(message: &[u8]) -> bytes::Bytes {
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(message);
    framed.into()
}

/// A unary call: its `grpc-status` (headers or trailers) and body.
pub async fn unary(
    client: &h2::client::SendRequest<bytes::Bytes>,
    method: &str,
    message: &[u8],
) -> (String, Vec<u8>) {
    let mut client = client.clone().ready().await.unwrap();
    let (response, mut send) = client.send_request(grpc_head(method), false).unwrap();
    send.send_data(grpc_frame(message), true).unwrap();
    let response = response.await.unwrap();
    let mut status = response
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_string());
    let mut body = response.into_body();
    let mut data = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    if let Ok(Some(trailers)) = body.trailers().await {
        if let Some(v) = trailers.get("grpc-status") {
            status = Some(v.to_str().unwrap().to_string());
        }
    }
    (status.unwrap_or_default(), data)
}
