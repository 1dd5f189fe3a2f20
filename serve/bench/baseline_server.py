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

import json
import signal
import sys
from pathlib import Path

import numpy as np


def main() -> None:
    folder, port, gen = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    sys.path.insert(0, gen)
    from data.ttypes import DataRecord
    from prediction_service import PredictionService
    from prediction_service.ttypes import BatchPredictionResponse
    from thrift.protocol import TBinaryProtocol
    from thrift.server import TServer
    from thrift.transport import TSocket, TTransport

    layout = json.loads((folder / "layout.json").read_text())
    w = np.load(folder / "weights.npy")
    b = np.load(folder / "bias.npy")
    cont = {i: j for j, i in enumerate(layout.get("continuous", {}).get("ids", []))}
    binary = {i: j for j, i in enumerate(layout.get("binary", {}).get("ids", []))}
    disc = {i: j for j, i in enumerate(layout.get("discrete", {}).get("ids", []))}
    tensors = [(t["id"], t["width"]) for t in layout.get("tensors", [])]
    keys = [1001 + j for j in range(len(b))]

    class Handler:
        def getBatchPrediction(self, request):
            records = request.individualFeaturesList
            n = len(records)
            xc = np.full((n, len(cont)), np.nan, dtype=np.float32)
            xb = np.zeros((n, len(binary)), dtype=np.float32)
            xd = np.zeros((n, len(disc)), dtype=np.int64)
            xt = {tid: np.zeros((n, width), dtype=np.float32) for tid, width in tensors}
            common = request.commonFeatures
            for i, record in enumerate(records):
                for r in (common, record):  # the record's own values win
                    if r is None:
                        continue
                    if r.continuousFeatures:
                        for k, v in r.continuousFeatures.items():
                            j = cont.get(k)
                            if j is not None:
                                xc[i, j] = v
                    if r.binaryFeatures:
                        for k in r.binaryFeatures:
                            j = binary.get(k)
                            if j is not None:
                                xb[i, j] = 1
                    if r.discreteFeatures:
                        for k, v in r.discreteFeatures.items():
                            j = disc.get(k)
                            if j is not None:
                                xd[i, j] = v
                    if r.tensors:
                        for k, t in r.tensors.items():
                            if k in xt and t.floatTensor is not None:
                                xt[k][i, :] = t.floatTensor.floats
            x = np.concatenate([xc, xb, xd] + [xt[tid] for tid, _ in tensors], axis=1).astype(np.float64)
            x[np.isnan(x)] = 0.0
            with np.errstate(over="ignore"):
                y = (1.0 / (1.0 + np.exp(-(x @ w + b)))).astype(np.float32)
            return BatchPredictionResponse(
                predictions=[DataRecord(continuousFeatures=dict(zip(keys, map(float, row)))) for row in y]
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
