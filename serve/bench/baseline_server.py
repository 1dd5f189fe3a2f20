"""The benchmark's baseline: what a Python user serves without bprwire.

Apache Thrift's own Python server (``TThreadedServer``, framed transport,
the accelerated binary protocol) with the generated ``PredictionService``
handler: thrift decodes each request into generated objects, a Python
scatter fills numpy arrays by dict lookups (the layout of ``bprwire-load
setup``), the same logistic model runs in numpy (``x @ w + b``), and the
response goes back as generated objects that thrift encodes.

    python baseline_server.py DIR PORT GEN_DIR

DIR is a ``bprwire-load setup`` folder (layout.json, weights.npy,
bias.npy); GEN_DIR holds the Python classes of ``schema/``
(``python/tests/thrift_gen.py``). Listens on 127.0.0.1 only; prints one
line when ready; stops on SIGTERM.
"""

import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from python_model import load_model, scores  # noqa: E402


def main() -> None:
    folder, port, gen = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    sys.path.insert(0, gen)
    from data.ttypes import DataRecord
    from prediction_service import PredictionService
    from prediction_service.ttypes import BatchPredictionResponse
    from thrift.protocol import TBinaryProtocol
    from thrift.server import TServer
    from thrift.transport import TSocket, TTransport

    model = load_model(folder)

    class Handler:
        def getBatchPrediction(self, request):
            y = scores(model, request)
            return BatchPredictionResponse(
                predictions=[DataRecord(continuousFeatures=dict(zip(model["keys"], map(float, row)))) for row in y]
            )

    processor = PredictionService.Processor(Handler())
    server = TServer.TThreadedServer(
        processor,
        TSocket.TServerSocket(host="127.0.0.1", port=port),
        TTransport.TFramedTransportFactory(),
        TBinaryProtocol.TBinaryProtocolAcceleratedFactory(),
        daemon=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"baseline: thrift on 127.0.0.1:{port}", flush=True)
    server.serve()


if __name__ == "__main__":
    main()
