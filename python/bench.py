"""Benchmarks of the Python package, side by side in one run.

For each workload of ``src/workloads.rs`` (shapes mirrored in numpy):

- W1-W7 (responses): bprwire's writer called as twml's op (``writer(x)``,
  a new ``uint8 [1, len]`` array) and with ``encode_into`` a reused buffer;
  the same prepared-signature call in Rust, timed inside the extension
  (``_bench_rust``, no Python in the loop), so the binding's overhead is
  the Python call minus the Rust call; and the Apache thrift library
  building the generated classes from the same numpy arrays and
  serializing them with ``TBinaryProtocolAccelerated`` (its C extension,
  checked to be in use).
- R1-R3 (requests): ``FeatureLayout.scatter`` (new arrays) and with
  ``out=`` reused arrays; the same decode + scatter in Rust; and thrift
  deserializing the request (accelerated) followed by a plain-Python
  scatter into numpy arrays (a Navi-style converter).

Usage (from the repository root, with the package and ``thrift``
installed, and Debian's thrift-compiler for the generated classes)::

    python python/bench.py [--quick] [--json]

Each figure is the best of 5 repeats of the mean time per call.
"""

import argparse
import json
import pathlib
import sys
import tempfile
import time

import numpy as np

import bprwire

HERE = pathlib.Path(__file__).resolve().parent


def thrift_modules():
    """The generated classes of schema/ and the accelerated protocol."""
    sys.path.insert(0, str(HERE / "tests"))
    import thrift_gen

    out = pathlib.Path(tempfile.mkdtemp(prefix="bprwire-bench-"))
    thrift_gen.generate(out)
    sys.path.insert(0, str(out))
    import data.ttypes as data
    import prediction_service.ttypes as ps
    import tensor.ttypes as tensor
    from thrift.protocol import fastbinary  # noqa: F401  (fails if the C extension is missing)
    from thrift.protocol.TBinaryProtocol import TBinaryProtocolAcceleratedFactory
    from thrift.transport.TTransport import TMemoryBuffer

    factory = TBinaryProtocolAcceleratedFactory()
    probe = factory.getProtocol(TMemoryBuffer())
    assert probe._fast_encode is not None and probe._fast_decode is not None, "fastbinary is not in use"

    def dumps(obj):
        buf = TMemoryBuffer()
        obj.write(factory.getProtocol(buf))
        return buf.getvalue()

    def loads(cls, b):
        obj = cls()
        obj.read(factory.getProtocol(TMemoryBuffer(b)))
        return obj

    return ps, data, tensor, dumps, loads


def best(fn, budget):
    """Best of 5 repeats of the mean seconds per call, each repeat about
    `budget` seconds long."""
    fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    n = max(1, int(budget / one))
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - t0) / n)
    return min(times)


# ---- the workloads, as numpy arrays ------------------------------------------


def response_workloads():
    r = np.random.default_rng(0x5EED)

    def scores(batch, n, dtype):
        return (r.random((batch, n)) * 2 - 1).astype(dtype)

    def strings(batch, k):
        lengths = r.integers(5, 41, size=batch * k)
        letters = r.integers(ord("a"), ord("z") + 1, size=lengths.sum()).astype(np.uint8).tobytes().decode()
        out, at = [], 0
        for n in lengths:
            out.append(letters[at : at + n])
            at += n
        return np.array(out).reshape(batch, k)

    emb = (r.random((256, 128)) * 2 - 1).astype(np.float32)
    w6 = strings(64, 3)
    ids = r.integers(-(1 << 62), 1 << 62, size=(256, 4))
    return [
        ("W1", "continuous, batch 1, 8 keys, f32", "c", list(range(1, 9)), scores(1, 8, np.float32)),
        ("W2", "continuous, batch 128, 16 keys, f32", "c", list(range(1, 17)), scores(128, 16, np.float32)),
        ("W3", "continuous, batch 4096, 64 keys, f32", "c", list(range(1, 65)), scores(4096, 64, np.float32)),
        ("W4", "continuous, batch 1024, 32 keys, f64", "c", list(range(1, 33)), scores(1024, 32, np.float64)),
        ("W5", "dense: 100 -> f32 [256,128], 200 -> i64 [256,4]", "t", [100, 200], [emb, ids]),
        ("W6", "dense: 300 -> str [64,3], 5-40 chars (numpy U)", "t", [300], [w6]),
        ("W6-S", "W6 as a numpy S array (read in place)", "t", [300], [w6.astype("S")]),
        ("W6-O", "W6 as an object array of str", "t", [300], [w6.astype(object)]),
        ("W7", "W5, typed encoding", "typed", [100, 200], [emb, ids]),
    ]


def thrift_response(ps, data, tensor, kind, keys, x):
    """The generated classes built from the arrays, as a Python user of
    the thrift library would write it."""
    if kind == "c":
        return ps.BatchPredictionResponse(
            predictions=[data.DataRecord(continuousFeatures=dict(zip(keys, row))) for row in x.tolist()]
        )
    batch = x[0].shape[0]
    records = [data.DataRecord(tensors={}) for _ in range(batch)]
    codes = {np.dtype(np.float32): 0, np.dtype(np.float64): 1, np.dtype(np.int64): 3}
    typed = {np.dtype(np.float32): ("floatTensor", tensor.FloatTensor), np.dtype(np.int64): ("int64Tensor", tensor.Int64Tensor)}
    for key, a in zip(keys, x):
        shape = list(a.shape[1:])
        if a.dtype.kind in "USO":
            rows = a.astype(str).tolist() if a.dtype.kind == "S" else a.tolist()
            for rec, row in zip(records, rows):
                rec.tensors[key] = tensor.GeneralTensor(stringTensor=tensor.StringTensor(strings=row, shape=shape))
        elif kind == "typed":
            arm, cls = typed[a.dtype]
            for rec, row in zip(records, a.tolist()):
                rec.tensors[key] = tensor.GeneralTensor(**{arm: cls(row, shape)})
        else:
            code = codes[a.dtype]
            for rec, row in zip(records, a):
                rec.tensors[key] = tensor.GeneralTensor(
                    rawTypedTensor=tensor.RawTypedTensor(dataType=code, content=row.tobytes(), shape=shape)
                )
    return ps.BatchPredictionResponse(predictions=records)


def request_workloads():
    r = np.random.default_rng(0x21)

    def ids(n):
        return r.choice(np.iinfo(np.int64).max, size=n, replace=False).tolist()

    def sparse(rows, n, present):
        return r.random((rows, n)) < present / n

    # R1: Navi's home-timeline shape.
    rows, nc, nb, width = 256, 5293, 149, 200
    layout = bprwire.FeatureLayout(
        {
            "continuous": {"ids": ids(nc), "dtype": "float32"},
            "binary": {"ids": ids(nb), "dtype": "int64"},
            "tensors": [{"id": 1000 + t, "width": width, "dtype": "float32"} for t in range(3)],
        }
    )
    c_cont = np.where(sparse(1, nc, 300), r.random((1, nc)), np.nan).astype(np.float32)
    own = np.where(sparse(rows, nc, 800), r.random((rows, nc)), np.nan).astype(np.float32)
    cont = np.where(np.isnan(own), c_cont, own).astype(np.float32)
    c_bin = (np.arange(nb) % 15 == 0).astype(np.int64)[None]
    binary = (sparse(rows, nb, 40) | c_bin.astype(bool)).astype(np.int64)
    embs = {1000 + t: r.random((rows, width)).astype(np.float32) for t in range(3)}
    common = {"continuous": c_cont, "binary": c_bin, **{k: np.zeros((1, width), np.float32) for k in embs}}
    r1 = layout.write_request({"continuous": cont, "binary": binary, **embs}, common)
    out = [("R1", "256 records; 5,293 continuous (~800 present), 149 binary, 3 x floatTensor[200]; common", layout, r1)]
    for name, summary, n_rows, n in [
        ("R2", "1 record, 40 continuous features", 1, 40),
        ("R3", "1,024 records x 64 continuous, all present", 1024, 64),
    ]:
        l = bprwire.FeatureLayout({"continuous": {"ids": ids(n)}})
        out.append((name, summary, l, l.write_request({"continuous": r.random((n_rows, n)).astype(np.float32)})))
    return out


def thrift_scatter(ps, loads, layout):
    """Deserialize with the accelerated protocol, then scatter in Python."""
    outputs = layout.outputs
    index = {
        "continuous": {fid: j for j, fid in enumerate(layout.continuous_ids)},
        "binary": {fid: j for j, fid in enumerate(layout.binary_ids)},
    }
    tensor_ids = {int(k[7:]): k for k in outputs if k.startswith("tensor_")}

    def scatter(b):
        req = loads(ps.BatchPredictionRequest, b)
        rows = len(req.individualFeaturesList)
        res = {}
        if "continuous" in outputs:
            res["continuous"] = np.full((rows, outputs["continuous"][0]), np.nan, np.float32)
        if "binary" in outputs:
            res["binary"] = np.zeros((rows, outputs["binary"][0]), outputs["binary"][1])
        for fid, name in tensor_ids.items():
            res[name] = np.zeros((rows, outputs[name][0]), np.float32)
        cont_ix, bin_ix = index["continuous"], index["binary"]
        common = req.commonFeatures
        for i, rec in enumerate(req.individualFeaturesList):
            for src in (common, rec):
                if src is None:
                    continue
                if src.continuousFeatures:
                    row = res["continuous"][i]
                    for fid, v in src.continuousFeatures.items():
                        j = cont_ix.get(fid)
                        if j is not None:
                            row[j] = v
                if src.binaryFeatures:
                    row = res["binary"][i]
                    for fid in src.binaryFeatures:
                        j = bin_ix.get(fid)
                        if j is not None:
                            row[j] = 1
                if src.tensors:
                    for fid, t in src.tensors.items():
                        name = tensor_ids.get(fid)
                        if name is not None:
                            res[name][i] = t.floatTensor.floats
        return res

    return scatter


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter repeats (noisier)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = ap.parse_args()
    budget = 0.05 if args.quick else 0.25
    ps, data, tensor, dumps, loads = thrift_modules()
    results = []

    print("| workload | thrift accelerated | bprwire `writer(x)` | bprwire `encode_into` | Rust call | overhead (call - Rust) | vs thrift |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for wid, summary, kind, keys, x in response_workloads():
        if kind == "c":
            w = bprwire.BatchPredictionWriter(keys)
        else:
            w = bprwire.BatchPredictionTensorWriter(keys, typed=(kind == "typed"))
        buf = np.empty(w.encoded_len(x), np.uint8)
        mine = w.encode(x)
        theirs = dumps(thrift_response(ps, data, tensor, kind, keys, x))
        same = mine == theirs
        if not same:  # the same response, whatever the bytes' order
            same = loads(ps.BatchPredictionResponse, mine) == loads(ps.BatchPredictionResponse, theirs)
        assert same, f"{wid}: thrift and bprwire disagree"
        t_thrift = best(lambda: dumps(thrift_response(ps, data, tensor, kind, keys, x)), budget)
        t_call = best(lambda: w(x), budget)
        t_into = best(lambda: w.encode_into(x, buf), budget)
        n_rust = max(1, int(budget / max(t_into, 1e-7)))
        t_rust = min(w._bench_rust(x, n_rust, buf) for _ in range(5)) * 1e-9  # into the same buffer
        res = dict(
            id=wid, summary=summary, bytes=len(mine), identical_bytes=mine == theirs,
            thrift_s=t_thrift, call_s=t_call, encode_into_s=t_into, rust_s=t_rust,
            overhead_s=t_call - t_rust, overhead_into_s=t_into - t_rust, speedup=t_thrift / t_call,
        )
        results.append(res)
        print(
            f"| {wid} ({len(mine):,} B) | {fmt(t_thrift)} | {fmt(t_call)} | {fmt(t_into)} | {fmt(t_rust)} "
            f"| {fmt(t_call - t_rust)} / {fmt(t_into - t_rust)} | {t_thrift / t_call:,.0f}x |"
        )

    print()
    print("| workload | thrift accelerated + Python scatter | bprwire `scatter` | bprwire `scatter(out=)` | Rust call | overhead (out= - Rust) | vs thrift |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for rid, summary, layout, req in request_workloads():
        scatter = thrift_scatter(ps, loads, layout)
        want = layout.scatter(req)
        got = scatter(req)
        for name in got:
            np.testing.assert_array_equal(got[name], want[name], err_msg=f"{rid} {name}")
        out = {k: np.empty_like(v) for k, v in want.items()}
        t_thrift = best(lambda: scatter(req), budget)
        t_new = best(lambda: layout.scatter(req), budget)
        t_out = best(lambda: layout.scatter(req, out=out), budget)
        n_rust = max(1, int(budget / max(t_out, 1e-7)))
        t_rust = min(layout._bench_rust(req, n_rust) for _ in range(5)) * 1e-9
        results.append(
            dict(id=rid, summary=summary, bytes=len(req), thrift_s=t_thrift, call_s=t_new, out_s=t_out,
                 rust_s=t_rust, overhead_s=t_out - t_rust, speedup=t_thrift / t_new)
        )
        print(
            f"| {rid} ({len(req):,} B) | {fmt(t_thrift)} | {fmt(t_new)} | {fmt(t_out)} | {fmt(t_rust)} "
            f"| {fmt(t_out - t_rust)} | {t_thrift / t_new:,.0f}x |"
        )
    if args.json:
        print(json.dumps(results, indent=1))


def fmt(seconds):
    """Seconds as ns, µs or ms with 3 significant digits."""
    for unit, scale in (("ns", 1e9), ("µs", 1e6), ("ms", 1e3)):
        v = seconds * scale
        if abs(v) < 1000 or unit == "ms":
            return f"{v:.3g} {unit}" if abs(v) >= 1 else f"{v:.2g} {unit}"
    return f"{seconds:.3g} s"


if __name__ == "__main__":
    main()
