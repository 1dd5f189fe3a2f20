//! Compiles serve/proto/ (the KServe v2 / Triton gRPC service, the few
//! TensorFlow messages the TensorFlow engine reads, TensorFlow Serving's
//! PredictionService) into Rust with
//! protox (a protobuf compiler in Rust: no `protoc` needed) and
//! tonic-prost-build (the server side only).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let files = protox::compile(
        [
            "grpc_service.proto",
            "tensorflow.proto",
            "tensorflow_serving.proto",
        ],
        ["proto"],
    )?;
    tonic_prost_build::configure()
        .build_client(false)
        // Tensor bytes as `bytes::Bytes`: the request's are sliced, not copied.
        .bytes(".inference.ModelInferRequest.raw_input_contents")
        .bytes(".inference.ModelInferResponse.raw_output_contents")
        .bytes(".inference.InferTensorContents.bytes_contents")
        // TensorFlow Serving's request strings, sliced from the message.
        .bytes(".tensorflow.TensorProto.string_val")
        .compile_fds(files)?;
    Ok(())
}
