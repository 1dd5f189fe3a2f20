//! The model repository: versions rolled in and out while every front end
//! serves, broken versions that change nothing, the repository API, two
//! models side by side, and the configuration's refusals.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bprwire::service::{self, Reply};
use bprwire_reference::twml::data::DataRecord;
use bprwire_reference::twml::prediction_service::BatchPredictionRequest;
use bprwire_serve::config::Config;
use bprwire_serve::frontend::kserve::grpc::pb;
use common::*;
use prost::Message;

/// A repository folder of its own, removed when dropped.
struct Repo {
    root: PathBuf,
}

impl Drop for Repo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The ranker's layout (the example's), and a second model's.
const OTHER_LAYOUT: &str = r#"{"continuous": {"ids": [7, 8, 9], "dtype": "float32"}}"#;

impl Repo {
    /// `server.toml` with a `[repository]` of `models/` polled every
    /// `poll_s`, and the ranker model's `model.toml` (logistic over the
    /// example layout, its weights in each version folder).
    fn new(name: &str, poll_s: f64, extra: &str) -> Repo {
        let root = std::env::temp_dir().join(format!("bprwire-repo-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let ranker = root.join("models/ranker");
        std::fs::create_dir_all(&ranker).unwrap();
        std::fs::copy(
            Path::new(EXAMPLES).join("layout.json"),
            ranker.join("layout.json"),
        )
        .unwrap();
        std::fs::write(
            ranker.join("model.toml"),
            "[layout]\npath = \"layout.json\"\n[model]\nkind = \"logistic\"\nweights = \"weights.npy\"\nbias = \"bias.npy\"\n[response]\ncontinuous = { output = \"scores\", keys = [1, 2] }\n[batching]\nworkers = 1\n",
        )
        .unwrap();
        std::fs::write(
            root.join("server.toml"),
            format!(
                "[listen]\nthrift = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\ngrpc = \"127.0.0.1:0\"\n[repository]\npath = \"models\"\npoll_s = {poll_s}\ncontrol_api = true\n{extra}"
            ),
        )
        .unwrap();
        Repo { root }
    }

    fn config(&self) -> Config {
        Config::load(&self.root.join("server.toml")).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Writes version `v` of the ranker (weights scaled by `scale`; a
    /// broken one has weights of the wrong shape) the documented way:
    /// into a folder whose name is not a number, then renamed.
    fn put_version(&self, v: u64, scale: f32, broken: bool) {
        let partial = self.write_version(v, scale, broken);
        std::fs::rename(&partial, self.root.join("models/ranker").join(v.to_string())).unwrap();
    }

    /// Writes version `v` under `.v.partial` (not a number: not taken).
    fn write_version(&self, v: u64, scale: f32, broken: bool) -> PathBuf {
        let partial = self.root.join("models/ranker").join(format!(".{v}.partial"));
        std::fs::create_dir_all(&partial).unwrap();
        let rows = if broken { 9 } else { 10 };
        let weights: Vec<f32> = (0..rows * 2).map(|i| scale * (i as f32 - 9.5) / 10.0).collect();
        std::fs::write(partial.join("weights.npy"), npy(&[rows, 2], &weights)).unwrap();
        std::fs::write(partial.join("bias.npy"), npy(&[2], &[0.25 * scale, -0.5])).unwrap();
        partial
    }

    /// A second model, `other`, over another layout, version 1.
    fn put_other(&self) {
        let other = self.root.join("models/other");
        std::fs::create_dir_all(other.join("1")).unwrap();
        std::fs::write(
            other.join("model.toml"),
            format!("versions = \"all\"\n[layout]\ninline = '{OTHER_LAYOUT}'\n[model]\nkind = \"linear\"\nweights = \"w.npy\"\nbias = \"b.npy\"\n[response]\ntensors = [{{ output = \"scores\", key = 5 }}]\n"),
        )
        .unwrap();
        std::fs::write(other.join("1/w.npy"), npy(&[3, 1], &[1.0, 10.0, 100.0])).unwrap();
        std::fs::write(other.join("1/b.npy"), npy(&[1], &[0.5])).unwrap();
    }

    /// What the version files in `dir` answer to `call`, from a
    /// one-model server built on them alone (the server as it was before
    /// repositories).
    fn expected(&self, dir: &Path, call: &[u8]) -> Vec<u8> {
        let ranker = self.root.join("models/ranker");
        let text = format!(
            "[layout]\npath = \"{}\"\n[model]\nkind = \"logistic\"\nweights = \"{dir}/weights.npy\"\nbias = \"{dir}/bias.npy\"\n[response]\ncontinuous = {{ output = \"scores\", keys = [1, 2] }}\n[batching]\nworkers = 1\n",
            ranker.join("layout.json").display(),
            dir = dir.display()
        );
        let config = Config::parse(&ranker.join("single.toml"), &text).unwrap();
        let prepared = bprwire_serve::Prepared::new(config).unwrap();
        let version = prepared.repository().pick("bprwire", None).unwrap();
        let reply = version.engine().run_one(call[4..].to_vec().into(), true).unwrap();
        response_of(&reply)
    }
}

/// A float32 `.npy` file.
fn npy(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for x in data {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// Two records with every continuous feature of the layout set: each
/// version's weights give them different scores.
fn ranker_request() -> BatchPredictionRequest {
    let record = |i: usize| DataRecord {
        continuous_features: Some(
            [101i64, 102, 103, 104]
                .iter()
                .map(|&id| (id, thrift::OrderedFloat((id - 100) as f64 * 0.5 + i as f64)))
                .collect(),
        ),
        ..Default::default()
    };
    BatchPredictionRequest::new((0..2).map(record).collect::<Vec<_>>(), None)
}

/// The bare response of a framed Thrift reply.
fn response_of(reply: &[u8]) -> Vec<u8> {
    match service::decode_reply(reply, true).unwrap().body {
        Reply::Success(r) => r.reencode(),
        other => panic!("not a response: {other:?}"),
    }
}

/// Which answers came back on one front end.
#[derive(Default, Debug)]
struct Seen {
    /// (when the call was sent, which version answered: 1 or 2).
    answers: Vec<(Instant, u8)>,
    failures: Vec<String>,
}

/// A client sending one call after another until `stop`, each answer
/// matched against the two versions' answers.
fn client(
    name: &'static str,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    expected: [Vec<u8>; 2],
    mut send: impl FnMut() -> Result<Vec<u8>, String> + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stop.load(Ordering::Acquire) && Instant::now() < deadline {
            let at = Instant::now();
            let outcome = send();
            let mut seen = seen.lock().unwrap();
            match outcome {
                Ok(r) if r == expected[0] => seen.answers.push((at, 1)),
                Ok(r) if r == expected[1] => seen.answers.push((at, 2)),
                Ok(r) => seen.failures.push(format!(
                    "{name}: an answer of neither version ({} bytes)",
                    r.len()
                )),
                Err(e) => seen.failures.push(format!("{name}: {e}")),
            }
            drop(seen);
            std::thread::sleep(Duration::from_millis(2));
        }
    })
}

fn thrift_sender(addr: std::net::SocketAddr, call: Vec<u8>) -> impl FnMut() -> Result<Vec<u8>, String> {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    move || {
        s.write_all(&call).map_err(|e| e.to_string())?;
        let reply = read_reply(&mut s, true);
        match service::decode_reply(&reply, true)
            .map_err(|e| e.to_string())?
            .body
        {
            Reply::Success(r) => Ok(r.reencode()),
            other => Err(format!("{other:?}")),
        }
    }
}

/// The KServe REST call of one request, binary in and out.
fn rest_body(request: &[u8]) -> (String, Vec<u8>) {
    let blob = [&(request.len() as u32).to_le_bytes()[..], request].concat();
    let json = format!(
        r#"{{"inputs":[{{"name":"request","shape":[1],"datatype":"BYTES","parameters":{{"binary_data_size":{}}}}}],"outputs":[{{"name":"response","parameters":{{"binary_data":true}}}}]}}"#,
        blob.len()
    );
    let header = format!("Inference-Header-Content-Length: {}\r\n", json.len());
    (header, [json.as_bytes(), &blob].concat())
}

fn rest_sender(addr: std::net::SocketAddr, request: Vec<u8>) -> impl FnMut() -> Result<Vec<u8>, String> {
    let (header, body) = rest_body(&request);
    move || {
        let (status, head, out) = http_post(addr, "/v2/models/ranker/infer", &header, &body);
        if status != 200 {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&out)));
        }
        let n: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("inference-header-content-length: "))
            .ok_or("no JSON length")?
            .trim()
            .parse()
            .map_err(|_| "a bad JSON length")?;
        Ok(out.get(n + 4..).ok_or("no response")?.to_vec())
    }
}

fn infer_message(model: &str, request: &[u8]) -> Vec<u8> {
    pb::ModelInferRequest {
        model_name: model.into(),
        inputs: vec![pb::model_infer_request::InferInputTensor {
            name: "request".into(),
            datatype: "BYTES".into(),
            shape: vec![1],
            ..Default::default()
        }],
        raw_input_contents: vec![[&(request.len() as u32).to_le_bytes()[..], request]
            .concat()
            .into()],
        ..Default::default()
    }
    .encode_to_vec()
}

/// A gRPC ModelInfer: the `response` tensor's one element, or the status.
async fn grpc_infer(
    client: &h2::client::SendRequest<bytes::Bytes>,
    model: &str,
    request: &[u8],
) -> Result<Vec<u8>, String> {
    let (status, body) = unary(client, "ModelInfer", &infer_message(model, request)).await;
    if status != "0" {
        return Err(format!("grpc-status {status}"));
    }
    let answer =
        pb::ModelInferResponse::decode(body.get(5..).ok_or("no message")?).map_err(|e| e.to_string())?;
    let raw = answer.raw_output_contents.first().ok_or("no output")?;
    Ok(raw.get(4..).ok_or("a short output")?.to_vec())
}

fn grpc_sender(addr: std::net::SocketAddr, request: Vec<u8>) -> impl FnMut() -> Result<Vec<u8>, String> {
    let rt = runtime();
    let client = rt.block_on(h2_client(addr));
    move || rt.block_on(grpc_infer(&client, "ranker", &request))
}

/// Polls `check` every 20 ms for up to `within`.
fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < within {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn index(http: std::net::SocketAddr) -> serde_json::Value {
    let (status, _, out) = http_post(http, "/v2/repository/index", "", b"");
    assert_eq!(status, 200);
    serde_json::from_slice(&out).unwrap()
}

fn answers_of(seen: &[Arc<Mutex<Seen>>]) -> Vec<usize> {
    seen.iter().map(|s| s.lock().unwrap().answers.len()).collect()
}

#[test]
fn versions_roll_in_under_load_on_every_front_end_and_a_broken_one_changes_nothing() {
    let poll = Duration::from_millis(200);
    let repo = Repo::new("roll", poll.as_secs_f64(), "");
    repo.put_version(1, 1.0, false);
    let server = start(repo.config(), None);
    let request = bprwire_reference::serialize_request(&ranker_request());
    let call = frame(
        bprwire_reference::call_bytes(&ranker_request(), "getBatchPrediction", 1),
        true,
    );
    // Version 2's files are written beside the server (under a name that
    // is not a version) to know its answer; the versions differ.
    let held = repo.write_version(2, -2.0, false);
    let v2_dir = repo.root.join("models/ranker/2");
    let expected = [
        repo.expected(&repo.root.join("models/ranker/1"), &call),
        repo.expected(&held, &call),
    ];
    assert_ne!(expected[0], expected[1]);

    let stop = Arc::new(AtomicBool::new(false));
    let seen: Vec<Arc<Mutex<Seen>>> = (0..3).map(|_| Arc::default()).collect();
    let clients = vec![
        client(
            "thrift",
            stop.clone(),
            seen[0].clone(),
            expected.clone(),
            thrift_sender(server.thrift, call.clone()),
        ),
        client(
            "rest",
            stop.clone(),
            seen[1].clone(),
            expected.clone(),
            rest_sender(server.http, request.clone()),
        ),
        client(
            "grpc",
            stop.clone(),
            seen[2].clone(),
            expected.clone(),
            grpc_sender(server.grpc.unwrap(), request.clone()),
        ),
    ];
    assert!(eventually(Duration::from_secs(10), || answers_of(&seen)
        .iter()
        .all(|&n| n >= 20)));

    // Version 2 arrives (renamed into place whole).
    let arrived = Instant::now();
    std::fs::rename(&held, &v2_dir).unwrap();
    let on_v2 = |s: &Arc<Mutex<Seen>>| {
        s.lock()
            .unwrap()
            .answers
            .iter()
            .rev()
            .take(10)
            .filter(|a| a.1 == 2)
            .count()
            == 10
    };
    assert!(
        eventually(Duration::from_secs(10), || seen.iter().all(on_v2)),
        "not all on version 2: {seen:?}"
    );
    // Then a broken version 3: reported, and version 2 goes on serving.
    repo.put_version(3, 5.0, true);
    assert!(eventually(Duration::from_secs(10), || {
        http_get(server.http, "/metrics")
            .contains("bprwire_model_loads_total{model=\"ranker\",outcome=\"failed\"} 1")
    }));
    let after_v3 = answers_of(&seen);
    assert!(eventually(Duration::from_secs(10), || answers_of(&seen)
        .iter()
        .zip(&after_v3)
        .all(|(now, then)| *now >= then + 20)));
    stop.store(true, Ordering::Release);
    for c in clients {
        c.join().unwrap();
    }
    for (name, s) in ["thrift", "rest", "grpc"].iter().zip(&seen) {
        let s = s.lock().unwrap();
        assert!(s.failures.is_empty(), "{name}: {:?}", s.failures);
        // Each client's calls are sequential: once on version 2, never
        // back; every call sent a poll interval (and the load) after
        // version 2 arrived is answered by it.
        let first_v2 = s
            .answers
            .iter()
            .position(|a| a.1 == 2)
            .expect("version 2 answered");
        assert!(
            s.answers[first_v2..].iter().all(|a| a.1 == 2),
            "{name}: back to version 1"
        );
        let last_v1 = s.answers[..first_v2].last().unwrap().0;
        assert!(
            last_v1.saturating_duration_since(arrived) < poll + Duration::from_millis(500),
            "{name}: version 1 answered {:?} after version 2 arrived",
            last_v1 - arrived
        );
        assert!(s.answers.iter().skip(first_v2).count() >= 20);
    }
    let idx = index(server.http);
    let entry = |v: &str| {
        idx.as_array()
            .unwrap()
            .iter()
            .find(|e| e["version"] == v)
            .cloned()
    };
    assert_eq!(entry("2").unwrap()["state"], "READY");
    let three = entry("3").expect("version 3 listed");
    assert_eq!(three["state"], "UNAVAILABLE");
    assert!(three["reason"].as_str().unwrap().contains("weights"), "{three}");
    assert!(entry("1").is_none(), "version 1 retired: {idx}");
    let metrics = http_get(server.http, "/metrics");
    assert!(metrics.contains("bprwire_model_version_serving{model=\"ranker\",version=\"2\"} 1"));
    assert!(!metrics.contains("version=\"1\""), "version 1's metrics retired");

    // Unloaded through the API: every front end says so at once.
    let (status, _, out) = http_post(server.http, "/v2/repository/models/ranker/unload", "", b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
    let t = Instant::now();
    let (header, body) = rest_body(&request);
    let (status, _, out) = http_post(server.http, "/v2/models/ranker/infer", &header, &body);
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&out));
    assert!(String::from_utf8_lossy(&out).contains("no version loaded"));
    let mut s = server.connect();
    s.write_all(&call).unwrap();
    let reply = read_reply(&mut s, true);
    match service::decode_reply(&reply, true).unwrap().body {
        Reply::ServiceException { description } => {
            assert!(
                description.unwrap().contains("no version loaded"),
                "{description:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    let rt = runtime();
    let grpc = rt.block_on(h2_client(server.grpc.unwrap()));
    assert_eq!(
        rt.block_on(grpc_infer(&grpc, "ranker", &request)),
        Err("grpc-status 14".into())
    );
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // Each counted, once per call, under the model's name.
    assert!(http_get(server.http, "/metrics").contains("bprwire_model_unavailable_total{model=\"ranker\"} 3"));
    // The model is not ready; the server is (a model unloaded on purpose
    // is not one it waits for).
    assert!(http_get(server.http, "/v2/models/ranker/ready").starts_with("HTTP/1.1 503"));
    assert!(http_get(server.http, "/ready").starts_with("HTTP/1.1 200"));
    // Polling leaves it unloaded.
    std::thread::sleep(poll * 3);
    assert!(http_get(server.http, "/v2/models/ranker/ready").starts_with("HTTP/1.1 503"));

    // Loaded again through gRPC: version 3 is tried again, fails, and
    // version 2 (the next the policy takes) serves.
    let load = pb::RepositoryModelLoadRequest {
        model_name: "ranker".into(),
        ..Default::default()
    };
    let (status, _) = rt.block_on(unary(&grpc, "RepositoryModelLoad", &load.encode_to_vec()));
    assert_eq!(status, "0");
    assert_eq!(
        rt.block_on(grpc_infer(&grpc, "ranker", &request)),
        Ok(expected[1].clone())
    );
    let (status, body) = rt.block_on(unary(&grpc, "RepositoryIndex", &[]));
    assert_eq!(status, "0");
    let idx = pb::RepositoryIndexResponse::decode(&body[5..]).unwrap();
    let states: Vec<(&str, &str)> = idx
        .models
        .iter()
        .map(|m| (m.version.as_str(), m.state.as_str()))
        .collect();
    assert_eq!(states, [("2", "READY"), ("3", "UNAVAILABLE")]);
    assert!(http_get(server.http, "/ready").starts_with("HTTP/1.1 200"));
    drop(grpc);
    server.stop().unwrap();
}

#[test]
fn a_version_folder_is_taken_only_under_its_number_and_sighup_or_the_api_finds_it_without_polling() {
    let repo = Repo::new("rename", 0.0, "");
    repo.put_version(1, 1.0, false);
    let server = start(repo.config(), None);
    let call = frame(
        bprwire_reference::call_bytes(&ranker_request(), "getBatchPrediction", 1),
        true,
    );
    let v1 = repo.expected(&repo.root.join("models/ranker/1"), &call);
    // A folder being copied under another name is not a version, even
    // when asked to look.
    let partial = repo.root.join("models/ranker/tmp-2");
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join("weights.npy"), b"\x93NUMPY half written").unwrap();
    let (status, _, _) = http_post(server.http, "/v2/repository/models/ranker/load", "", b"");
    assert_eq!(status, 200);
    let mut thrift = thrift_sender(server.thrift, call.clone());
    assert_eq!(thrift().unwrap(), v1);
    // Whole and renamed: found when asked (poll_s = 0: no polling).
    std::fs::remove_dir_all(&partial).unwrap();
    repo.put_version(2, 3.0, false);
    let v2 = repo.expected(&repo.root.join("models/ranker/2"), &call);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(thrift().unwrap(), v1, "no polling: version 1 still");
    let (status, _, out) = http_post(server.http, "/v2/repository/models/ranker/load", "", b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
    assert_eq!(thrift().unwrap(), v2);
    // Unknown models and names that are not model names are refused.
    let (status, _, _) = http_post(server.http, "/v2/repository/models/nope/load", "", b"");
    assert_eq!(status, 500);
    let (status, _, _) = http_post(server.http, "/v2/repository/models/..%2Fx/load", "", b"");
    assert!(status == 500 || status == 404, "{status}");
    let (status, _, out) = http_post(server.http, "/v2/repository/models/nope/unload", "", b"");
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&out));
    server.stop().unwrap();
}

#[test]
fn two_models_with_different_layouts_serve_side_by_side() {
    let repo = Repo::new("two", 0.0, "thrift_model = \"ranker\"\n");
    repo.put_version(1, 1.0, false);
    repo.put_other();
    let server = start(repo.config(), None);
    // The other model: x·[1, 10, 100] + 0.5 for features 7, 8, 9.
    let record = DataRecord {
        continuous_features: Some(
            [(7i64, 1.0), (8, 2.0), (9, 3.0)]
                .iter()
                .map(|&(k, v)| (k, thrift::OrderedFloat(v)))
                .collect(),
        ),
        ..Default::default()
    };
    let request = bprwire_reference::serialize_request(&BatchPredictionRequest::new(vec![record], None));
    let json = r#"{"inputs":[{"name":"request","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":0}}],"outputs":[{"name":"scores"}]}"#;
    let blob = [&(request.len() as u32).to_le_bytes()[..], &request].concat();
    let json = json.replace(
        "\"binary_data_size\":0",
        &format!("\"binary_data_size\":{}", blob.len()),
    );
    let header = format!("Inference-Header-Content-Length: {}\r\n", json.len());
    let (status, _, out) = http_post(
        server.http,
        "/v2/models/other/versions/1/infer",
        &header,
        &[json.as_bytes(), &blob].concat(),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
    let answer: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(answer["model_name"], "other");
    assert_eq!(answer["model_version"], "1");
    assert_eq!(answer["outputs"][0]["data"], serde_json::json!([321.5]));
    // The ranker on the Thrift port and on KServe, each with its metadata.
    let call = frame(
        bprwire_reference::call_bytes(&ranker_request(), "getBatchPrediction", 1),
        true,
    );
    assert_eq!(
        thrift_sender(server.thrift, call.clone())().unwrap(),
        repo.expected(&repo.root.join("models/ranker/1"), &call)
    );
    let other = http_get(server.http, "/v2/models/other");
    assert!(other.contains("\"versions\":[\"1\"]"), "{other}");
    let stats = http_get(server.http, "/v2/models/stats");
    assert!(
        stats.contains("\"name\":\"other\"") && stats.contains("\"name\":\"ranker\""),
        "{stats}"
    );
    let metrics = http_get(server.http, "/metrics");
    assert!(
        metrics.contains("bprwire_requests_total{model=\"other\",version=\"1\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("bprwire_requests_total{model=\"ranker\",version=\"1\"} 1"),
        "{metrics}"
    );
    server.stop().unwrap();
}

/// A change made to a repository before it is checked.
type Change = dyn Fn(&Repo);

#[test]
fn every_repository_refusal_names_the_file_and_the_key() {
    // (what to write, which key or text the refusal names)
    let cases: [(&str, &Change, &str); 8] = [
        (
            "",
            &|r: &Repo| std::fs::remove_file(r.root.join("models/ranker/model.toml")).unwrap(),
            "holds no model",
        ),
        ("poll_s = -1", &|_| {}, "repository.poll_s"),
        ("thrift_model = \"absent\"", &|_| {}, "repository.thrift_model"),
        ("", &|r: &Repo| r.put_other(), "holds 2 models"),
        ("[batching]\nworkers = 2", &|_| {}, "each model's own"),
        ("[layout]\ninline = '{}'", &|_| {}, "not both"),
        (
            "",
            &|r: &Repo| {
                let p = r.root.join("models/ranker/model.toml");
                let t = std::fs::read_to_string(&p).unwrap();
                std::fs::write(p, format!("versions = {{ latest = 0 }}\n{t}")).unwrap();
            },
            "model.toml: versions",
        ),
        ("", &|r: &Repo| r.put_version(2, 1.0, true), "version 2"),
    ];
    for (i, (extra, change, says)) in cases.iter().enumerate() {
        let repo = Repo::new(&format!("bad{i}"), 1.0, extra);
        repo.put_version(1, 1.0, false);
        change(&repo);
        let path = repo.root.join("server.toml");
        let e = prepare(&path).unwrap_err();
        assert!(e.contains(says), "case {i}: {e}");
        // `--check` says the same, exit 2.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_bprwire-serve"))
            .arg(&path)
            .arg("--check")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "case {i}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(says), "case {i}");
    }
    // And a good one passes.
    let repo = Repo::new("good", 1.0, "");
    repo.put_version(1, 1.0, false);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bprwire-serve"))
        .arg(repo.root.join("server.toml"))
        .arg("--check")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A warmup file of `requests`: each a 4-byte big-endian length and the
/// request.
fn warmup(requests: &[Vec<u8>]) -> Vec<u8> {
    requests
        .iter()
        .flat_map(|r| [&(r.len() as u32).to_be_bytes()[..], r].concat())
        .collect()
}

#[test]
fn a_version_serves_only_after_its_warmup_and_a_failing_warmup_keeps_the_one_serving() {
    let repo = Repo::new("warm", 0.0, "");
    repo.put_version(1, 1.0, false);
    let server = start(repo.config(), None);
    let request = bprwire_reference::serialize_request(&ranker_request());
    // Version 2 with a warmup of three requests: run before it serves.
    let two = repo.write_version(2, 2.0, false);
    std::fs::write(
        two.join("warmup.bpr"),
        warmup(&[request.clone(), request.clone(), request.clone()]),
    )
    .unwrap();
    std::fs::rename(&two, repo.root.join("models/ranker/2")).unwrap();
    let (status, _, out) = http_post(server.http, "/v2/repository/models/ranker/load", "", b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
    let metrics = http_get(server.http, "/metrics");
    assert!(
        metrics.contains("bprwire_responses_total{model=\"ranker\",version=\"2\"} 3"),
        "{metrics}"
    );
    // Version 3's warmup holds a request that is not one: it never serves.
    let three = repo.write_version(3, 3.0, false);
    std::fs::write(
        three.join("warmup.bpr"),
        warmup(&[request.clone(), b"\x0bjunk".to_vec()]),
    )
    .unwrap();
    std::fs::rename(&three, repo.root.join("models/ranker/3")).unwrap();
    let (status, _, out) = http_post(server.http, "/v2/repository/models/ranker/load", "", b"");
    // Loaded: version 2 serves (the next the policy takes).
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
    let idx = index(server.http);
    let three = idx
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["version"] == "3")
        .unwrap();
    assert!(
        three["reason"].as_str().unwrap().contains("warmup")
            && three["reason"].as_str().unwrap().contains("request 1"),
        "{three}"
    );
    let call = frame(
        bprwire_reference::call_bytes(&ranker_request(), "getBatchPrediction", 1),
        true,
    );
    let v2 = repo.expected(&repo.root.join("models/ranker/2"), &call);
    assert_eq!(thrift_sender(server.thrift, call.clone())().unwrap(), v2);
    server.stop().unwrap();
}

#[test]
fn sighup_makes_the_server_look_at_its_repository_now() {
    let repo = Repo::new("hup", 0.0, "");
    repo.put_version(1, 1.0, false);
    let mut server = Process::start(&repo.root.join("server.toml"));
    let call = frame(
        bprwire_reference::call_bytes(&ranker_request(), "getBatchPrediction", 1),
        true,
    );
    let mut thrift = thrift_sender(server.thrift, call.clone());
    assert_eq!(
        thrift().unwrap(),
        repo.expected(&repo.root.join("models/ranker/1"), &call)
    );
    repo.put_version(2, 4.0, false);
    let v2 = repo.expected(&repo.root.join("models/ranker/2"), &call);
    // No polling: version 1 until the signal.
    std::thread::sleep(Duration::from_millis(200));
    assert_ne!(thrift().unwrap(), v2);
    server.signal("HUP");
    assert!(server.logged("version loaded"), "no load after SIGHUP");
    assert!(eventually(Duration::from_secs(5), || thrift().unwrap() == v2));
    server.signal("TERM");
    assert_eq!(server.wait(Duration::from_secs(10)), 0);
}

#[test]
fn a_version_with_a_warmup_file_serves_from_start_and_load_and_unload_need_control_api() {
    let repo = Repo::new("warmstart", 0.0, "");
    let one = repo.write_version(1, 1.0, false);
    let request = bprwire_reference::serialize_request(&ranker_request());
    std::fs::write(one.join("warmup.bpr"), warmup(&[request.clone(), request])).unwrap();
    std::fs::rename(&one, repo.root.join("models/ranker/1")).unwrap();
    // Started inside a runtime, as the binary starts: the warmup's waits
    // must not block the runtime's thread.
    let text = std::fs::read_to_string(repo.root.join("server.toml")).unwrap();
    std::fs::write(
        repo.root.join("server.toml"),
        text.replace("control_api = true", ""),
    )
    .unwrap();
    let server = start(repo.config(), None);
    let metrics = http_get(server.http, "/metrics");
    assert!(
        metrics.contains("bprwire_responses_total{model=\"ranker\",version=\"1\"} 2"),
        "{metrics}"
    );
    // control_api off: the index answers, load and unload are refused.
    assert_eq!(index(server.http).as_array().unwrap().len(), 1);
    for what in ["load", "unload"] {
        let (status, _, out) = http_post(
            server.http,
            &format!("/v2/repository/models/ranker/{what}"),
            "",
            b"",
        );
        assert_eq!(status, 403, "{}", String::from_utf8_lossy(&out));
        assert!(String::from_utf8_lossy(&out).contains("control_api"));
    }
    let rt = runtime();
    let grpc = rt.block_on(h2_client(server.grpc.unwrap()));
    let unload = pb::RepositoryModelUnloadRequest {
        model_name: "ranker".into(),
        ..Default::default()
    };
    let (status, _) = rt.block_on(unary(&grpc, "RepositoryModelUnload", &unload.encode_to_vec()));
    assert_eq!(status, "9", "FAILED_PRECONDITION");
    assert!(http_get(server.http, "/v2/models/ranker/ready").starts_with("HTTP/1.1 200"));
    drop(grpc);
    server.stop().unwrap();
}
