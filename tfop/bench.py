"""The TensorFlow op's cost (docs/benchmarks.md; not in CI).

    PYTHON tfop/bench.py [--thrift-py DIR]

Per workload (W1: continuous [1, 8] f32; W2: continuous [128, 16] f32;
W5: tensors f32 [256, 128] and i64 [256, 4]), the median time per call of,
side by side in one process:
- the op, and tf.identity of the same input, each run LOOP times inside
  one graph, timed in alternation (the op's loop, then identity's, 21
  times; the difference is the median of the paired differences) (a tf.while_loop in a tf.function: the Python-to-graph
  dispatch, ~300 µs and noisy here, is paid once per LOOP calls). Each
  iteration adds `0 * i` to the input so that the loop optimizer cannot
  hoist the call out of the loop, in both, and the inputs' shapes are
  unknown to the graph so that no step is folded away; the difference is
  the op's own cost over an identity;
- the Python package's writer (bprwire, on numpy);
- tf.py_function running Apache Thrift Python (generated objects,
  TSerialization) inside a tf.function: what a TF user without bprwire can do;
- the Rust call itself (the Python package's _bench_rust: Rust's loop).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

# One thread each for TensorFlow's two pools: on this 2-core machine their
# spinning workers otherwise compete with the thread being measured, and
# the figures swing by 3x between runs.
tf.config.threading.set_inter_op_parallelism_threads(1)
tf.config.threading.set_intra_op_parallelism_threads(1)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bprwire  # noqa: E402
import bprwire_tfop  # noqa: E402


LOOP = 200


def looped(step, inputs):
    """A tf.function running `step` LOOP times on inputs that change each
    time (by 0 * i), summing the sizes of its outputs so they are needed."""

    # Shapes left unknown to the graph: with static shapes tf.size of an
    # identity (or of any op whose output shape is known) is folded to a
    # constant and the whole step pruned, so the identity loop would run
    # nothing at all (it did, in this file's first version).
    @tf.function(input_signature=[tf.TensorSpec([None] * len(v.shape), v.dtype) for v in inputs])
    def run(*vs):
        def body(i, acc):
            shifted = [v + tf.cast(i, v.dtype) * 0 for v in vs]
            outs = tf.nest.flatten(step(*shifted))
            return i + 1, acc + tf.cast(tf.add_n([tf.size(o) for o in outs]), tf.int64)

        return tf.while_loop(lambda i, _: i < LOOP, body, [tf.constant(0), tf.constant(0, tf.int64)])[1]

    return lambda: run(*inputs)


def paired_us(a, b, n, repeats=21):
    """Medians of `a`, of `b` and of their paired differences, per call:
    each repeat times n calls of a then n calls of b, back to back, so a
    burst of load on the shared machine lands on both of a pair."""
    a(), b()
    ta, tb, diff = [], [], []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            a()
        t_a = (time.perf_counter() - t) / n * 1e6
        t = time.perf_counter()
        for _ in range(n):
            b()
        t_b = (time.perf_counter() - t) / n * 1e6
        ta.append(t_a), tb.append(t_b), diff.append(t_a - t_b)
    return statistics.median(ta), statistics.median(tb), statistics.median(diff)


def median_us(fn, n, repeats=7):
    fn()
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - t) / n * 1e6)
    return statistics.median(runs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--thrift-py", required=True)
    args = ap.parse_args()
    sys.path.insert(0, args.thrift_py)
    from data.ttypes import DataRecord
    from prediction_service.ttypes import BatchPredictionResponse
    from tensor.ttypes import DataType, GeneralTensor, RawTypedTensor
    from thrift.protocol.TBinaryProtocol import TBinaryProtocolAcceleratedFactory
    from thrift.TSerialization import serialize

    factory = TBinaryProtocolAcceleratedFactory()
    rng = np.random.default_rng(1)
    workloads = {
        "W1": ("continuous", list(range(1, 9)), [rng.normal(size=(1, 8)).astype(np.float32)]),
        "W2": ("continuous", list(range(1, 17)), [rng.normal(size=(128, 16)).astype(np.float32)]),
        "W5": ("tensors", [100, 200], [rng.normal(size=(256, 128)).astype(np.float32),
                                      rng.integers(-(2**62), 2**62, size=(256, 4))]),
    }
    print(f"| workload | op in a graph loop | tf.identity in the same loop | op − identity (median of pairs) | Python writer | Rust call | tf.py_function + Apache Thrift (one tf.function call) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, (kind, keys, values) in workloads.items():
        k = tf.constant(keys, tf.int64)
        tvals = [tf.constant(v) for v in values]
        if kind == "continuous":
            op = tf.function(lambda v: bprwire_tfop.batch_prediction_response_writer(k, v))
            ident = tf.function(lambda v: tf.identity(v))
            writer = bprwire.BatchPredictionWriter(keys)
            call_op = lambda: op(tvals[0])  # noqa: E731
            call_id = lambda: ident(tvals[0])  # noqa: E731
            call_py = lambda: writer.encode(values[0])  # noqa: E731
            rust_ns = writer._bench_rust(values[0], 20000 if name == "W1" else 2000)

            def thrift(v):
                recs = [DataRecord(continuousFeatures=dict(zip(keys, map(float, row)))) for row in v.numpy()]
                return np.frombuffer(serialize(BatchPredictionResponse(predictions=recs), factory), np.uint8)

            pyfn = tf.function(lambda v: tf.py_function(thrift, [v], tf.uint8))
            call_thrift = lambda: pyfn(tvals[0])  # noqa: E731
        else:
            op = tf.function(lambda a, b: bprwire_tfop.batch_prediction_tensor_response_writer(k, [a, b]))
            ident = tf.function(lambda a, b: (tf.identity(a), tf.identity(b)))
            writer = bprwire.BatchPredictionTensorWriter(keys)
            call_op = lambda: op(*tvals)  # noqa: E731
            call_id = lambda: ident(*tvals)  # noqa: E731
            call_py = lambda: writer.encode(values)  # noqa: E731
            rust_ns = writer._bench_rust(values, 2000)

            def thrift(a, b):
                a, b = a.numpy(), b.numpy()
                recs = [
                    DataRecord(tensors={
                        100: GeneralTensor(rawTypedTensor=RawTypedTensor(dataType=DataType.FLOAT, content=a[i].tobytes())),
                        200: GeneralTensor(rawTypedTensor=RawTypedTensor(dataType=DataType.INT64, content=b[i].tobytes())),
                    })
                    for i in range(a.shape[0])
                ]
                return np.frombuffer(serialize(BatchPredictionResponse(predictions=recs), factory), np.uint8)

            pyfn = tf.function(lambda a, b: tf.py_function(thrift, [a, b], tf.uint8))
            call_thrift = lambda: pyfn(*tvals)  # noqa: E731
        n = 2000 if name != "W5" else 500
        if kind == "continuous":
            loop_op = looped(lambda v: bprwire_tfop.batch_prediction_response_writer(k, v), tvals)
            loop_id = looped(lambda v: tf.identity(v), tvals)
        else:
            loop_op = looped(lambda a, b: bprwire_tfop.batch_prediction_tensor_response_writer(k, [a, b]), tvals)
            loop_id = looped(lambda a, b: (tf.identity(a), tf.identity(b)), tvals)
        t_op, t_id, t_diff = (t / LOOP for t in paired_us(loop_op, loop_id, max(5, n // 200)))
        t_py = median_us(call_py, n)
        t_th = median_us(call_thrift, max(20, n // 20))
        print(f"| {name} | {t_op:.1f} µs | {t_id:.1f} µs | {t_diff:.1f} µs | {t_py:.1f} µs | {rust_ns / 1e3:.2f} µs | {t_th:.1f} µs |")


if __name__ == "__main__":
    main()
