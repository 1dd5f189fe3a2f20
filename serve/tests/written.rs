//! A model that writes the response itself (as a TensorFlow model ending
//! in twml's writer op does): the server checks the batch's response and
//! cuts it by request, with the rows of requests refused before the model
//! ran left out; a response that does not decode, or holds another number
//! of records than the batch has rows, fails every request of the batch as
//! a model error; `[response]` keys are refused for such a model, and
//! required for the others. Replies are read by the reference's generated
//! client.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;

use bprwire::features::{Array, Buffers};
use bprwire_reference::twml::data::DataRecord;
use bprwire_reference::twml::prediction_service::{BatchPredictionRequest, PredictionRequest};
use bprwire_reference::twml::tensor::{FloatTensor, GeneralTensor};
use bprwire_serve::config::Config;
use bprwire_serve::models::{Model, ModelError, OutputSpec, Outputs};
use bprwire_serve::Server;
use common::*;

/// What the model writes.
#[derive(Clone, Copy)]
enum Writes {
    /// One record per row: key 7 → the row's first continuous feature.
    Rows,
    /// Bytes that are no response.
    Garbage,
    /// One record fewer than the batch's rows.
    Short,
}

struct Writer(Writes);

/// A model that reads the requests' bytes itself (as one whose first op is
/// tfop's scatter): key 7 → each record's feature 101, read by bprwire's
/// decoder; it fails on a request it cannot read.
struct Reader;

impl Model for Reader {
    fn outputs(&self) -> &[OutputSpec] {
        &[]
    }
    fn writes_response(&self) -> bool {
        true
    }
    fn reads_requests(&self) -> bool {
        true
    }
    fn run(&self, _: &Buffers, _: usize) -> Result<Outputs, ModelError> {
        Err(ModelError("run, not run_requests".into()))
    }
    fn run_requests(&self, requests: &[&[u8]]) -> Result<Outputs, ModelError> {
        let mut values = Vec::new();
        for r in requests {
            let r = bprwire::decode::decode_request(r).map_err(|e| ModelError(e.to_string()))?;
            for rec in r.records() {
                let c = rec
                    .continuous_features
                    .ok_or_else(|| ModelError("no continuous".into()))?;
                let v = c.iter().find(|&(k, _)| k == 101).map(|(_, v)| v as f32);
                values.push(v.ok_or_else(|| ModelError("no feature 101".into()))?);
            }
        }
        let bytes = bprwire::BatchPrediction::new()
            .continuous(&[7], &values[..], &[values.len(), 1])
            .encode_to_vec()
            .map_err(|e| ModelError(e.to_string()))?;
        Ok(Outputs::Written(bytes))
    }
}

impl Model for Writer {
    fn outputs(&self) -> &[OutputSpec] {
        &[]
    }
    fn writes_response(&self) -> bool {
        true
    }
    fn run(&self, inputs: &Buffers, rows: usize) -> Result<Outputs, ModelError> {
        let Some(Array::F32(c)) = inputs.continuous() else {
            return Err(ModelError("no continuous array".into()));
        };
        let width = c.len() / inputs.capacity();
        let n = match self.0 {
            Writes::Garbage => return Ok(Outputs::Written(b"\x0f\x00\x01not a response".to_vec())),
            Writes::Short => rows.saturating_sub(1),
            Writes::Rows => rows,
        };
        let values: Vec<f32> = (0..n).map(|r| c[r * width]).collect();
        let bytes = bprwire::BatchPrediction::new()
            .continuous(&[7], &values[..], &[n, 1])
            .encode_to_vec()
            .map_err(|e| ModelError(e.to_string()))?;
        Ok(Outputs::Written(bytes))
    }
}

/// The example layout with `response` (no `[response]` keys when empty),
/// one worker that waits 200 ms for a batch to fill.
fn writer_config(response: &str) -> Config {
    let batching =
        "[batching]\nworkers = 1\neager = false\nmax_wait_ms = 200\ndrop_after_ms = 2000\nmax_records = 64";
    let text = config_text_with(response, batching, false);
    Config::parse(&Path::new(EXAMPLES).join("test.toml"), &text).unwrap_or_else(|e| panic!("{e}"))
}

/// `records` records whose first continuous feature (101) is `first + i`.
fn numbered(first: usize, records: usize) -> BatchPredictionRequest {
    let mut r = request(records);
    for (i, rec) in r.individual_features_list.iter_mut().enumerate() {
        let c = rec.continuous_features.get_or_insert_with(Default::default);
        c.insert(101, thrift::OrderedFloat((first + i) as f64));
    }
    r
}

/// A request whose tensor 401 has 2 elements, not the layout's 3: refused
/// when it is scattered, after admission.
fn refused_at_scatter() -> BatchPredictionRequest {
    let mut r = numbered(0, 2);
    let t = GeneralTensor::FloatTensor(FloatTensor::new(vec![1.0.into(), 2.0.into()], None));
    r.individual_features_list[1] = DataRecord {
        tensors: Some([(401, t)].into_iter().collect()),
        ..Default::default()
    };
    r
}

/// A framed call (seqid 1, as the reference's client expects) on a
/// connection of its own.
fn send(server: &Running, req: &BatchPredictionRequest) -> TcpStream {
    let mut s = server.connect();
    let call = bprwire_reference::call_bytes(req, "getBatchPrediction", 1);
    s.write_all(&frame(call, true)).unwrap();
    s
}

fn firsts(r: &bprwire_reference::twml::prediction_service::BatchPredictionResponse) -> Vec<f64> {
    r.predictions
        .iter()
        .map(|p| p.continuous_features.as_ref().unwrap()[&7].0)
        .collect()
}

#[test]
fn each_request_gets_its_own_records_of_the_response_the_model_wrote_for_the_batch() {
    each_request_gets_its_own_records(Box::new(Writer(Writes::Rows)));
}

#[test]
fn a_model_that_reads_requests_is_given_only_those_that_scattered_and_each_gets_its_own_records() {
    each_request_gets_its_own_records(Box::new(Reader));
}

fn each_request_gets_its_own_records(model: Box<dyn Model>) {
    let server = start(writer_config(""), Some(model));
    // Four calls at once (one batch, as the worker waits 200 ms for more):
    // the third is refused at scatter, its rows left in the batch.
    let mut conns = [
        send(&server, &numbered(10, 3)),
        send(&server, &numbered(20, 1)),
        send(&server, &refused_at_scatter()),
        send(&server, &numbered(30, 4)),
    ];
    let wants = [
        vec![10.0, 11.0, 12.0],
        vec![20.0],
        vec![],
        vec![30.0, 31.0, 32.0, 33.0],
    ];
    for (i, (s, want)) in conns.iter_mut().zip(wants).enumerate() {
        let got = bprwire_reference::client_receive(&read_reply(s, true), true);
        if i == 2 {
            let e = format!("{:?}", got.expect_err("refused at scatter"));
            assert!(e.contains("request refused"), "{e}");
        } else {
            assert_eq!(firsts(&got.unwrap()), want, "call {i}");
        }
    }
    // They were one batch.
    let m = http_get(server.http, "/metrics");
    assert!(
        m.contains("bprwire_batch_requests_count{model=\"bprwire\",version=\"1\"} 1\n"),
        "{m}"
    );
    assert!(
        m.contains("bprwire_batch_requests_sum{model=\"bprwire\",version=\"1\"} 4.0\n"),
        "{m}"
    );
    // getPrediction: the one record of its piece.
    let mut s = server.connect();
    let one = numbered(40, 1).individual_features_list.remove(0);
    let call = bprwire_reference::prediction_call_bytes(&PredictionRequest::new(one), 1);
    s.write_all(&frame(call, true)).unwrap();
    let got = bprwire_reference::prediction_client_receive(&read_reply(&mut s, true), true).unwrap();
    assert_eq!(got.prediction.continuous_features.unwrap()[&7].0, 40.0);
    // An empty request: a response of no record.
    let mut s = send(&server, &numbered(0, 0));
    let got = bprwire_reference::client_receive(&read_reply(&mut s, true), true).unwrap();
    assert!(got.predictions.is_empty());
    server.stop().unwrap();
}

#[test]
fn a_written_response_that_does_not_decode_or_miscounts_fails_the_batch_as_a_model_error() {
    for (writes, text) in [
        (
            Writes::Garbage,
            "the model's response is not a BatchPredictionResponse",
        ),
        (Writes::Short, "records for a batch of"),
    ] {
        let server = start(writer_config(""), Some(Box::new(Writer(writes))));
        let mut a = send(&server, &numbered(0, 2));
        let mut b = send(&server, &numbered(0, 3));
        for s in [&mut a, &mut b] {
            let e =
                bprwire_reference::client_receive(&read_reply(s, true), true).expect_err("a model failure");
            let e = format!("{e:?}");
            assert!(e.contains("model error") && e.contains(text), "{e}");
        }
        assert!(wait_for(
            server.http,
            "bprwire_failures_total{model=\"bprwire\",version=\"1\",reason=\"model\"} 2"
        ));
        server.stop().unwrap();
    }
}

#[test]
fn response_keys_are_refused_for_a_model_that_writes_and_required_for_one_that_does_not() {
    let rt = runtime();
    let keyed = writer_config("[response]\ncontinuous = { output = \"scores\", keys = [1, 2] }");
    let Err(e) = rt.block_on(Server::with_model(keyed, Box::new(Writer(Writes::Rows)))) else {
        panic!("keys for a writing model were taken")
    };
    let e = e.to_string();
    assert!(
        e.contains("response") && e.contains("leave [response] out"),
        "{e}"
    );
    let Err(e) = rt.block_on(Server::bind(writer_config(""))) else {
        panic!("no keys for the linear model were taken")
    };
    let e = e.to_string();
    assert!(e.contains("missing [response]"), "{e}");
}
