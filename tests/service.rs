//! The service envelope against the reference's generated service code:
//! bprwire's replies are byte-identical to what the generated processor
//! writes (success, declared PredictionServiceException, TApplicationException;
//! framed and not), the generated client accepts them, and bprwire's
//! reader decodes the processor's bytes. Then the reader's refusals.

mod common;

use bprwire::decode::DecodeErrorKind;
use bprwire::service::{self, ApplicationErrorKind, Envelope, MessageType, Reply};
use bprwire_reference::twml::data::DataRecord;
use bprwire_reference::twml::prediction_service::{
    BatchPredictionRequest, PredictionRequest, PredictionResponse,
};
use bprwire_reference::Handle;
use common::{case, records, Case, Inputs};
use proptest::prelude::*;

fn check_success(c: &Case, seqid: i32, framed: bool) -> Result<(), TestCaseError> {
    let views = c.views();
    let tensors = c.tensors(&views);
    let inputs = c.inputs(&tensors);
    let enc = inputs.encoder().unwrap();
    let env = Envelope { seqid, framed };

    let len = enc.reply_len(env).unwrap();
    let mut buf = vec![0xEE; len + 9];
    prop_assert_eq!(enc.encode_reply_into(env, &mut buf).unwrap(), len);
    prop_assert!(buf[len..].iter().all(|&b| b == 0xEE));
    buf.truncate(len);
    prop_assert_eq!(&enc.encode_reply_to_vec(env).unwrap(), &buf);

    // Read back by bprwire: the response inside is encode_to_vec's bytes.
    let msg = service::decode_reply(&buf, framed).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(msg.seqid, seqid);
    prop_assert_eq!(msg.message_type, MessageType::Reply);
    let Reply::Success(resp) = msg.body else {
        return Err(TestCaseError::fail("not a success"));
    };
    prop_assert_eq!(resp.reencode(), enc.encode_to_vec());

    // The generated processor writes the same bytes for the same response
    // (when keys ascend: its maps are sorted).
    let expected = bprwire_reference::build(&inputs);
    if c.keys_ascending() {
        let reference = bprwire_reference::server_reply(Handle::Ok(expected.clone()), seqid, framed);
        prop_assert_eq!(&buf, &reference);
    }
    // The generated client accepts the reply to its first call (seqid 1).
    if seqid == 1 {
        let got = bprwire_reference::client_receive(&buf, framed)
            .map_err(|e| TestCaseError::fail(format!("reference client: {e}")))?;
        prop_assert_eq!(
            bprwire_reference::serialize(&got),
            bprwire_reference::serialize(&expected)
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn success_replies(c in case(Inputs::Both), seqid in prop_oneof![Just(1), any::<i32>()], framed in any::<bool>()) {
        check_success(&c, seqid, framed)?;
    }

    #[test]
    fn service_exception_replies(desc in proptest::option::of("\\PC{0,20}"), seqid in any::<i32>(), framed in any::<bool>()) {
        let env = Envelope { seqid, framed };
        let ours = service::service_exception_reply(env, desc.as_deref()).unwrap();
        let reference = bprwire_reference::server_reply(Handle::ServiceException(desc.clone()), seqid, framed);
        prop_assert_eq!(&ours, &reference);
        let msg = service::decode_reply(&ours, framed).unwrap();
        prop_assert_eq!(msg.seqid, seqid);
        prop_assert_eq!(msg.body, Reply::ServiceException { description: desc.as_deref() });
    }

    #[test]
    fn application_exceptions(msg in "\\PC{0,20}", kind in 0..=10i32, seqid in any::<i32>(), framed in any::<bool>()) {
        let kinds = [
            ApplicationErrorKind::Unknown, ApplicationErrorKind::UnknownMethod,
            ApplicationErrorKind::InvalidMessageType, ApplicationErrorKind::WrongMethodName,
            ApplicationErrorKind::BadSequenceId, ApplicationErrorKind::MissingResult,
            ApplicationErrorKind::InternalError, ApplicationErrorKind::ProtocolError,
            ApplicationErrorKind::InvalidTransform, ApplicationErrorKind::InvalidProtocol,
            ApplicationErrorKind::UnsupportedClientType,
        ];
        let ours = service::application_exception(Envelope { seqid, framed }, &msg, kinds[kind as usize]).unwrap();
        let reference_kind = thrift::ApplicationErrorKind::try_from(kind).unwrap();
        let reference = bprwire_reference::server_reply(Handle::Application(reference_kind, msg.clone()), seqid, framed);
        prop_assert_eq!(&ours, &reference);
        let got = service::decode_reply(&ours, framed).unwrap();
        prop_assert_eq!(got.message_type, MessageType::Exception);
        prop_assert_eq!(got.body, Reply::ApplicationException { message: Some(&msg), kind: Some(kind) });
    }
}

#[test]
fn reference_client_sees_the_declared_exception() {
    let bytes = service::service_exception_reply(
        Envelope {
            seqid: 1,
            framed: false,
        },
        Some("model not loaded"),
    )
    .unwrap();
    let err = bprwire_reference::client_receive(&bytes, false).unwrap_err();
    let thrift::Error::User(user) = err else {
        panic!("{err:?}")
    };
    let declared = user
        .downcast_ref::<bprwire_reference::twml::prediction_service::PredictionServiceException>()
        .expect("a PredictionServiceException");
    assert_eq!(declared.description.as_deref(), Some("model not loaded"));
    let bytes = service::application_exception(
        Envelope {
            seqid: 1,
            framed: true,
        },
        "boom",
        ApplicationErrorKind::InternalError,
    )
    .unwrap();
    let err = bprwire_reference::client_receive(&bytes, true).unwrap_err();
    assert!(
        matches!(err, thrift::Error::Application(ref a) if a.message == "boom" && a.kind == thrift::ApplicationErrorKind::InternalError),
        "{err:?}"
    );
}

#[test]
fn the_worked_example_as_a_framed_reply() {
    let enc = bprwire::BatchPrediction::new()
        .continuous(&[7], &[0.5f32], &[1])
        .encoder()
        .unwrap();
    let bytes = enc
        .encode_reply_to_vec(Envelope {
            seqid: 3,
            framed: true,
        })
        .unwrap();
    let mut expected = vec![0, 0, 0, 69, 0x80, 0x01, 0x00, 0x02, 0, 0, 0, 18];
    expected.extend_from_slice(b"getBatchPrediction");
    expected.extend_from_slice(&[0, 0, 0, 3, 0x0C, 0, 0]);
    expected.extend_from_slice(&enc.encode_to_vec());
    expected.push(0);
    assert_eq!(bytes, expected);
    assert_eq!(bytes.len(), 4 + 69); // header 30, field 0 header 3, response 35, STOP 1
}

fn reply(framed: bool) -> Vec<u8> {
    let enc = bprwire::BatchPrediction::new()
        .continuous(&[7], &[0.5f32], &[1])
        .encoder()
        .unwrap();
    enc.encode_reply_to_vec(Envelope { seqid: 9, framed }).unwrap()
}

#[test]
fn refusals() {
    let kind = |b: &[u8], framed| service::decode_reply(b, framed).unwrap_err().kind().clone();
    let mut b = reply(false);
    b[0] = 0x7F;
    assert_eq!(kind(&b, false), DecodeErrorKind::BadVersion { word: 0x7F01_0002 });
    let mut b = reply(false);
    b[3] = 1;
    assert_eq!(
        kind(&b, false),
        DecodeErrorKind::UnexpectedMessageType { found: 1 }
    );
    let mut b = reply(false);
    b[8] = b'x';
    let e = service::decode_reply(&b, false).unwrap_err();
    assert_eq!((e.kind(), e.offset()), (&DecodeErrorKind::WrongMethod, 4));
    let mut b = reply(false);
    b.push(0);
    assert_eq!(kind(&b, false), DecodeErrorKind::TrailingBytes { count: 1 });
    // Frame length one short / one long / negative.
    let mut b = reply(true);
    b[3] -= 1;
    assert!(matches!(kind(&b, true), DecodeErrorKind::FrameLength { .. }));
    b[3] += 2;
    assert!(matches!(kind(&b, true), DecodeErrorKind::FrameLength { .. }));
    b[0] = 0xFF;
    assert!(matches!(
        kind(&b, true),
        DecodeErrorKind::FrameLength { declared: ..=-1, .. }
    ));
    // An error in the response: its offset counts from the frame's start.
    let mut b = reply(true);
    let resp_at = 4 + 30 + 3;
    b[resp_at] = 0x0D; // predictions as a MAP
    let e = service::decode_reply(&b, true).unwrap_err();
    assert_eq!(e.offset(), resp_at);
    assert_eq!(e.item(), "BatchPredictionResponse.predictions");
    // A result with both fields, and with none.
    let mut none = reply(false)[..30].to_vec();
    none.push(0);
    assert_eq!(kind(&none, false), DecodeErrorKind::UnionFields { count: 0 });
    let mut both = reply(false);
    both.pop();
    both.extend_from_slice(&[0x0C, 0, 1, 0, 0]);
    assert_eq!(kind(&both, false), DecodeErrorKind::UnionFields { count: 2 });
    // Every truncation is refused.
    for framed in [false, true] {
        let b = reply(framed);
        for n in 0..b.len() {
            assert!(
                service::decode_reply(&b[..n], framed).is_err(),
                "prefix {n} decoded"
            );
        }
    }
}

/// A framed reply whose message would not fit its i32 length prefix is
/// refused by the streaming writer before any byte goes out (the response
/// itself, 2^31-1 records of a zero-width tensor, is legal unframed).
#[test]
fn write_reply_to_refuses_a_frame_too_long_before_writing() {
    let t = [bprwire::Tensor::new(&[] as &[f32], &[i32::MAX as usize, 0])];
    let enc = bprwire::BatchPrediction::new().dense(&[1], &t).encoder().unwrap();
    let env = Envelope {
        seqid: 1,
        framed: true,
    };
    let too_large = enc.reply_len(env).unwrap_err();
    let mut out = Vec::new();
    let err = enc.write_reply_to(env, &mut out).unwrap_err();
    assert_eq!(err.written(), 0);
    assert!(out.is_empty());
    assert_eq!(err.io_error().kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains(&too_large.to_string()), "{err}");
}

/// The one record's bytes, as the reference writes it (a
/// `BatchPredictionRequest` of one record has a one-record response's
/// shape: field 1, a list of one struct, the record, STOP).
fn record_bytes(record: &DataRecord) -> Vec<u8> {
    let request = BatchPredictionRequest::new(vec![record.clone()], None);
    let bytes = bprwire_reference::serialize_request(&request);
    service::one_record(&bytes).expect("one record").to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn a_get_prediction_call_reads_as_a_batch_of_its_one_record(record in records::record(), seqid in any::<i32>()) {
        let call = bprwire_reference::prediction_call_bytes(&PredictionRequest::new(record.clone()), seqid);
        let call = service::decode_call(&call).unwrap();
        prop_assert!(call.is_prediction() && !call.is_batch_prediction());
        let request = call.prediction_request().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let view = bprwire::decode::decode_request(&request).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let read = bprwire_reference::request_from_view(&view);
        let expected = BatchPredictionRequest::new(vec![record], None);
        prop_assert_eq!(bprwire_reference::serialize_request(&read), bprwire_reference::serialize_request(&expected));
    }

    #[test]
    fn get_prediction_replies_are_the_generated_processors_bytes(record in records::record(), seqid in any::<i32>(), framed in any::<bool>()) {
        let env = Envelope { seqid, framed };
        let ours = service::prediction_reply(env, &record_bytes(&record)).unwrap();
        let response = PredictionResponse::new(record);
        let reference = bprwire_reference::server_reply(Handle::Prediction(Box::new(response.clone())), seqid, framed);
        prop_assert_eq!(&ours, &reference);
        if seqid == 1 {
            let got = bprwire_reference::prediction_client_receive(&ours, framed).unwrap();
            prop_assert_eq!(got, response);
        }
    }

    #[test]
    fn get_prediction_exceptions_are_the_generated_processors_bytes(desc in proptest::option::of("\\PC{0,20}"), msg in "\\PC{0,20}", seqid in any::<i32>(), framed in any::<bool>()) {
        let env = Envelope { seqid, framed };
        let ours = service::service_exception_reply_to(service::PREDICTION_METHOD, env, desc.as_deref()).unwrap();
        let reference = bprwire_reference::server_reply_to("getPrediction", Handle::ServiceException(desc), seqid, framed);
        prop_assert_eq!(&ours, &reference);
        let ours = service::application_exception_to(service::PREDICTION_METHOD, env, &msg, ApplicationErrorKind::InternalError).unwrap();
        let kind = thrift::ApplicationErrorKind::InternalError;
        let reference = bprwire_reference::server_reply_to("getPrediction", Handle::Application(kind, msg), seqid, framed);
        prop_assert_eq!(&ours, &reference);
    }
}

#[test]
fn a_get_prediction_call_without_its_record_or_with_bytes_after_is_refused_naming_it() {
    // args { request { } }: no features.
    let mut msg = 0x8001_0001u32.to_be_bytes().to_vec();
    msg.extend(13i32.to_be_bytes());
    msg.extend(b"getPrediction");
    msg.extend(5i32.to_be_bytes());
    let head = msg.len();
    msg.extend([0x0C, 0, 1, 0, 0]);
    let e = service::decode_call(&msg)
        .unwrap()
        .prediction_request()
        .unwrap_err();
    assert_eq!(e.kind(), &DecodeErrorKind::MissingField);
    assert_eq!(e.item(), "PredictionRequest.features");
    // args { }: no request.
    msg.truncate(head);
    msg.extend([0]);
    let e = service::decode_call(&msg)
        .unwrap()
        .prediction_request()
        .unwrap_err();
    assert_eq!(e.item(), "getPrediction_args.request");
    // args { request { features { } } } and a stray byte.
    msg.truncate(head);
    msg.extend([0x0C, 0, 1, 0x0C, 0, 1, 0, 0, 0, 9]);
    let e = service::decode_call(&msg)
        .unwrap()
        .prediction_request()
        .unwrap_err();
    assert!(
        matches!(e.kind(), DecodeErrorKind::TrailingBytes { count: 1 }),
        "{e}"
    );
    // A response of two records has no one record.
    assert_eq!(
        service::one_record(&[0x0F, 0, 1, 0x0C, 0, 0, 0, 2, 0, 0, 0]),
        None
    );
}
