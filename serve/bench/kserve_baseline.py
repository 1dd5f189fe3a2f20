"""The KServe baseline of serve/bench/perf.sh: the KServe Python model
server (``kserve`` from PyPI) hosting the same model as bprwire-serve, the
way a Python user would write it without bprwire.

A ``kserve.Model`` named ``bprwire`` (bprwire-serve's default ``[kserve]
model``) with bprwire-serve's tensors: input ``request`` BYTES [n], each
element one Thrift ``BatchPredictionRequest``; output ``response`` BYTES
[n], each element one ``BatchPredictionResponse``. Each request is decoded
by Apache Thrift's Python classes (the accelerated binary protocol), a
Python scatter fills numpy arrays by dict lookups (the layout of
``bprwire-load setup``; the same scatter as baseline_server.py), the same
logistic model runs in numpy (``x @ w + b``), and the response is encoded
by thrift with the response keys of the folder's serve.toml.

    python kserve_baseline.py DIR HTTP_PORT GRPC_PORT GEN_DIR
        [--log-requests] [--max-message-bytes N] [--stock]

DIR is a ``bprwire-load setup`` folder (layout.json, weights.npy,
bias.npy, serve.toml); GEN_DIR holds the Python classes of ``schema/``.
Prints one line when started; stops on SIGTERM.

KServe's servers bind every interface (uvicorn on 0.0.0.0, gRPC on
[::]); here they are subclassed to bind 127.0.0.1 only. One process (one
uvicorn worker, the gRPC server on the same event loop), as KServe's
default. KServe's per-request log lines (uvicorn's access log, the timing
middleware's and the model's latency lines, the gRPC logging
interceptor) are off unless --log-requests: the baseline is measured
without them. Its gRPC message limit is raised from 8 MiB to
bprwire-serve's 64 MiB (a call of three R1 requests is 13.8 MB).

Two adaptations for perf_analyzer and Thrift bytes, each the least that
makes the run possible:

- KServe 0.21.0 has no Triton ``ModelConfig`` (gRPC: UNIMPLEMENTED) nor
  ``/v2/models/NAME/config`` (REST: FastAPI's 404), which perf_analyzer
  asks for before it sends anything; both are added here (``KserveGaps``,
  the REST route) with the content bprwire-serve gives (``max_batch_size``
  0, the two BYTES tensors). ModelStatistics is not needed: perf_analyzer
  asks for it only when the server metadata lists "statistics".
- KServe 0.21.0's REST decode turns a binary BYTES input into UTF-8
  strings (``InferRequest.from_bytes`` calls
  ``set_data_from_numpy(..., binary_data=False)``), which refuses Thrift
  bytes ("Failed to encode ... using UTF-8", HTTP 500); binary BYTES
  inputs are kept as bytes here (less work than KServe's own path, so the
  fix does not slow the baseline).

``--stock`` leaves both out (KServe as it is), to show what perf_analyzer
and tritonclient say to it. Two KServe 0.21.0 faults are worked around
either way: ``InferResponse.to_grpc`` tests a numpy ``data`` for truth
(an error for more than one element), so the output is set as raw bytes
first; and SIGTERM stops only the gRPC server, so ``stop`` also ends the
single uvicorn server.
"""

import argparse
import asyncio
import logging
import sys
from concurrent import futures
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from python_model import load_model, scores  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path)
    p.add_argument("http_port", type=int)
    p.add_argument("grpc_port", type=int)
    p.add_argument("gen")
    p.add_argument("--log-requests", action="store_true", help="keep KServe's per-request log lines")
    p.add_argument("--max-message-bytes", type=int, default=64 << 20,
                   help="gRPC message limit, both ways (KServe's default: 8 MiB)")
    p.add_argument("--stock", action="store_true",
                   help="KServe as it is: no Triton config, and its own REST decode of BYTES inputs")
    args = p.parse_args()
    # kserve parses sys.argv itself when imported (parse_known_args): give
    # it nothing of ours.
    sys.argv = sys.argv[:1]
    sys.path.insert(0, args.gen)

    import grpc
    from grpc import aio
    from data.ttypes import DataRecord
    from prediction_service.ttypes import BatchPredictionRequest, BatchPredictionResponse
    from thrift.protocol import TBinaryProtocol
    from thrift.transport import TTransport

    import kserve
    from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
    from kserve.errors import InvalidInput
    from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
    from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor, LoggingInterceptor
    from kserve.protocol.grpc.server import GRPCServer
    from kserve.protocol.grpc.servicer import InferenceServicer
    from kserve.protocol.rest.server import RESTServer
    from kserve.model_server import FASTAPI_APP_IMPORT_STRING, app as fastapi_app
    from kserve.model_server import args as kserve_args

    m = load_model(args.folder)
    proto = TBinaryProtocol.TBinaryProtocolAcceleratedFactory()

    def answer(element: bytes) -> bytes:
        request = BatchPredictionRequest()
        request.read(proto.getProtocol(TTransport.TMemoryBuffer(element)))
        y = scores(m, request)
        response = BatchPredictionResponse(
            predictions=[DataRecord(continuousFeatures=dict(zip(m["keys"], map(float, row)))) for row in y]
        )
        out = TTransport.TMemoryBuffer()
        response.write(proto.getProtocol(out))
        return out.getvalue()

    class Bprwire(Model):
        def __init__(self, name: str):
            super().__init__(name)
            self.ready = True

        def get_input_types(self):
            return [{"name": "request", "datatype": "BYTES", "shape": [-1]}]

        def get_output_types(self):
            return [{"name": "response", "datatype": "BYTES", "shape": [-1]}]

        def predict(self, payload: InferRequest, headers=None) -> InferResponse:
            if len(payload.inputs) != 1 or payload.inputs[0].name != "request":
                raise InvalidInput("one input, \"request\" (BYTES [n])")
            inp = payload.inputs[0]
            if inp.datatype != "BYTES":
                raise InvalidInput(f"input \"request\" is {inp.datatype}: it is BYTES")
            elements = inp.as_numpy().reshape(-1)
            replies = np.empty(len(elements), dtype=object)
            for i, e in enumerate(elements):
                replies[i] = answer(e if isinstance(e, bytes) else bytes(e))
            out = InferOutput(name="response", shape=[len(replies)], datatype="BYTES")
            # Set as raw bytes now: KServe 0.21.0's to_grpc tests a numpy
            # `data` for truth ("ambiguous" for more than one element).
            out.set_data_from_numpy(replies, binary_data=True)
            return InferResponse(
                response_id=payload.id,
                model_name=self.name,
                infer_outputs=[out],
                use_binary_outputs=True,  # BYTES of Thrift are not JSON text
                requested_outputs=payload.request_outputs,
            )

    # --- What perf_analyzer asks for that KServe 0.21.0 does not have. ---
    from google.protobuf import json_format
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    config_json = {
        "name": "bprwire",
        "platform": "kserve",
        "backend": "python",
        "max_batch_size": 0,
        "input": [{"name": "request", "data_type": "TYPE_STRING", "dims": [-1]}],
        "output": [{"name": "response", "data_type": "TYPE_STRING", "dims": [-1]}],
    }

    def config_messages():
        """Triton's ModelConfigRequest/Response, as far as perf_analyzer
        reads them (field numbers of tritonclient 2.51.0's model_config.proto
        and grpc_service.proto), built at run time: KServe's proto has none."""
        f = descriptor_pb2.FileDescriptorProto(name="bprwire_kserve_gap.proto", package="inference", syntax="proto3")
        T = descriptor_pb2.FieldDescriptorProto

        def msg(name, *fields):
            d = f.message_type.add(name=name)
            for fname, num, ftype, label, tname in fields:
                fd = d.field.add(name=fname, number=num, type=ftype, label=label)
                if tname:
                    fd.type_name = tname

        opt, rep = T.LABEL_OPTIONAL, T.LABEL_REPEATED
        e = f.enum_type.add(name="DataType")
        for i, n in enumerate(["TYPE_INVALID", "TYPE_BOOL", "TYPE_UINT8", "TYPE_UINT16", "TYPE_UINT32",
                               "TYPE_UINT64", "TYPE_INT8", "TYPE_INT16", "TYPE_INT32", "TYPE_INT64",
                               "TYPE_FP16", "TYPE_FP32", "TYPE_FP64", "TYPE_STRING", "TYPE_BF16"]):
            e.value.add(name=n, number=i)
        msg("ModelInput", ("name", 1, T.TYPE_STRING, opt, None), ("data_type", 2, T.TYPE_ENUM, opt, ".inference.DataType"),
            ("dims", 4, T.TYPE_INT64, rep, None))
        msg("ModelOutput", ("name", 1, T.TYPE_STRING, opt, None), ("data_type", 2, T.TYPE_ENUM, opt, ".inference.DataType"),
            ("dims", 3, T.TYPE_INT64, rep, None))
        msg("ModelConfig", ("name", 1, T.TYPE_STRING, opt, None), ("platform", 2, T.TYPE_STRING, opt, None),
            ("max_batch_size", 4, T.TYPE_INT32, opt, None),
            ("input", 5, T.TYPE_MESSAGE, rep, ".inference.ModelInput"),
            ("output", 6, T.TYPE_MESSAGE, rep, ".inference.ModelOutput"),
            ("backend", 17, T.TYPE_STRING, opt, None))
        msg("ModelConfigRequest", ("name", 1, T.TYPE_STRING, opt, None), ("version", 2, T.TYPE_STRING, opt, None))
        msg("ModelConfigResponse", ("config", 1, T.TYPE_MESSAGE, opt, ".inference.ModelConfig"))
        pool = descriptor_pool.DescriptorPool()
        pool.Add(f)
        get = lambda n: message_factory.GetMessageClass(pool.FindMessageTypeByName("inference." + n))
        return get("ModelConfigRequest"), get("ModelConfigResponse")

    ConfigRequest, ConfigResponse = config_messages()

    class KserveGaps(grpc.GenericRpcHandler):
        """Triton's ModelConfig over gRPC. (ModelStatistics is not needed:
        perf_analyzer asks for it only from a server whose metadata lists
        the "statistics" extension, and KServe's lists only
        "model_repository_extension".)"""

        def service(self, details):
            if details.method == "/inference.GRPCInferenceService/ModelConfig":
                async def config(req, ctx):
                    if req.name != "bprwire":
                        await ctx.abort(grpc.StatusCode.NOT_FOUND, f"no model {req.name!r}")
                    return json_format.ParseDict({"config": config_json}, ConfigResponse())
                return grpc.unary_unary_rpc_method_handler(
                    config, request_deserializer=ConfigRequest.FromString,
                    response_serializer=ConfigResponse.SerializeToString)
            return None

    # --- Loopback only. ---
    class LoopbackGRPCServer(GRPCServer):
        async def start(self, max_workers):
            servicer = InferenceServicer(self._data_plane, self._model_repository_extension)
            interceptors = (LoggingInterceptor(), ExceptionToStatusInterceptor()) if args.log_requests \
                else (ExceptionToStatusInterceptor(),)
            self._server = aio.server(
                futures.ThreadPoolExecutor(max_workers=max_workers),
                interceptors=interceptors,
                options=[
                    ("grpc.max_send_message_length", self._kwargs.get("grpc_max_send_message_length")),
                    ("grpc.max_receive_message_length", self._kwargs.get("grpc_max_receive_message_length")),
                ],
            )
            grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, self._server)
            if not args.stock:
                self._server.add_generic_rpc_handlers((KserveGaps(),))
            addr = f"127.0.0.1:{self._port}"
            self._server.add_insecure_port(addr)
            kserve.logging.logger.info("Starting gRPC server on %s (loopback only)", addr)
            await self._server.start()
            await self._server.wait_for_termination()

    class LoopbackRESTServer(RESTServer):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.config.host = "127.0.0.1"
            self._server = type(self._server)(self.config)

        def create_application(self):
            super().create_application()
            if args.stock:
                return
            from fastapi.responses import ORJSONResponse

            async def config(model_name: str):
                if model_name != "bprwire":
                    return ORJSONResponse({"error": f"no model {model_name!r}"}, status_code=404)
                return config_json

            fastapi_app.add_api_route("/v2/models/{model_name}/config", config, methods=["GET"])
            fastapi_app.add_api_route("/v2/models/{model_name}/versions/{model_version}/config", config, methods=["GET"])

    class LoopbackModelServer(ModelServer):
        def start(self, models):
            self._register_and_check_atleast_one_model_is_ready(models)
            self._rest_server = LoopbackRESTServer(
                FASTAPI_APP_IMPORT_STRING,
                self.dataplane,
                self.model_repository_extension,
                self.http_port,
                access_log_format=self.access_log_format,
                workers=1,
                grace_period=self.grace_period,
                event_loop=self.event_loop,
                timeout_keep_alive=self.timeout_keep_alive,
            )
            self.servers.append(self._rest_server.start())
            self._grpc_server = LoopbackGRPCServer(
                self.grpc_port,
                self.dataplane,
                self.model_repository_extension,
                # KServe's default is 8 MiB; bprwire-serve's serve.toml
                # (bprwire-load setup) allows 64 MiB.
                kwargs={**vars(kserve_args),
                        "grpc_max_send_message_length": args.max_message_bytes,
                        "grpc_max_receive_message_length": args.max_message_bytes},
                grace_period=1,
            )
            self.servers.append(self._grpc_server.start(self.max_threads))
            self.setup_event_loop()
            self.register_signal_handler()
            asyncio.run(self._serve())

        def stop(self, sig):
            # KServe 0.21.0 stops only the gRPC server (and a multi-process
            # REST server) on SIGTERM; a single uvicorn goes on serving.
            super().stop(sig)
            if self._rest_server is not None:
                self._rest_server._server.should_exit = True

    if not args.stock:
        from kserve.protocol import infer_type

        original = infer_type.InferInput.set_data_from_numpy

        def keep_bytes(self, tensor, binary_data=True):
            # KServe's REST decode re-encodes a binary BYTES input as UTF-8
            # JSON strings; keep it as the bytes it is.
            if self.datatype == "BYTES" and not binary_data and self._raw_data is not None:
                return
            return original(self, tensor, binary_data)

        infer_type.InferInput.set_data_from_numpy = keep_bytes

    server = LoopbackModelServer(
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        workers=1,
        enable_grpc=True,
        enable_latency_logging=args.log_requests,
        grace_period=1,
    )
    if not args.log_requests:
        for name in ("uvicorn.access", "kserve.trace"):
            logging.getLogger(name).setLevel(logging.WARNING)
    from importlib.metadata import version

    print(
        f"kserve-baseline: kserve {version('kserve')}{' (stock)' if args.stock else ''}: "
        f"http on 127.0.0.1:{args.http_port}, grpc on 127.0.0.1:{args.grpc_port}",
        flush=True,
    )
    server.start([Bprwire("bprwire")])


if __name__ == "__main__":
    main()
