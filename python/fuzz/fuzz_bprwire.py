"""Atheris fuzz harness for the bprwire Python package.

Every public entry point gets bytes, arrays, dtypes and shapes chosen by the
fuzzer; the only exceptions allowed out are the package's own errors
(``EncodeError``, ``DecodeError``, ``LayoutError``) and ``MemoryError``.
Anything else — a ``PanicException`` (a ``BaseException``), a ``TypeError``
from numpy, a crash of the interpreter — is a finding, and so is a Rust
panic that something caught (``bprwire._panics()`` grows).

Run (libFuzzer flags pass through)::

    pip install ./python atheris
    python python/fuzz/fuzz_bprwire.py -max_total_time=30 -rss_limit_mb=4096

The decoders get both raw bytes and valid messages (written by the package's
own writers) with a few fuzzer-chosen bytes changed, so that the fuzzer
reaches deep into records without a corpus.
"""

import sys

import atheris
import numpy as np

import bprwire

ALLOWED = (bprwire.EncodeError, bprwire.DecodeError, bprwire.LayoutError, MemoryError)

LAYOUTS = [
    {
        "continuous": {"ids": [1, 2, 3], "dtype": "float32", "default": "nan"},
        "binary": {"ids": [10, 11], "dtype": "float32"},
        "discrete": {"ids": [20], "default": -1},
        "tensors": [{"id": 30, "width": 2, "dtype": "float32"}, {"id": 31, "width": 3, "dtype": "int64"}],
    },
    {"continuous": {"ids": [1], "dtype": "float64"}, "binary": {"ids": [2], "dtype": "uint8"}},
    {"tensors": [{"id": 5, "width": 0, "dtype": "float64"}]},
    {},
]
LAYOUT_OBJECTS = [bprwire.FeatureLayout(d) for d in LAYOUTS]

DTYPES = [
    np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_,
    np.float16, np.int8, np.uint64, np.complex64, ">f4", ">i8", "S1", "S5", "U3", object,
]


def seeds():
    """Valid responses, replies and requests to mutate."""
    rng = np.random.default_rng(7)
    out = []
    w = bprwire.BatchPredictionWriter([1, 2, 3])
    out.append(bytes(w.encode(rng.random((3, 3), dtype=np.float32))))
    tw = bprwire.BatchPredictionTensorWriter([7, 8, 9])
    tensors = [rng.random((2, 2, 2)), np.array([[b"ab"], [b"c"]], dtype="S2"), np.arange(2, dtype=np.int32)]
    out.append(bytes(tw.encode(tensors)))
    out.append(bytes(bprwire.BatchPredictionTensorWriter([7, 8, 9], typed=True).encode(tensors)))
    out.append(bytes(tw.reply(tensors, seqid=3, framed=True)))
    lay = LAYOUT_OBJECTS[0]
    rows = {
        "continuous": rng.random((2, 3), dtype=np.float32),
        "binary": np.array([[1, 0], [0, 1]], dtype=np.float32),
        "discrete": np.array([[4], [5]], dtype=np.int64),
        "tensor_30": rng.random((2, 2), dtype=np.float32),
        "tensor_31": np.arange(6, dtype=np.int64).reshape(2, 3),
    }
    common = {k: v[:1] for k, v in rows.items()}
    common["binary"] = np.zeros((1, 2), dtype=np.float32)
    out.append(lay.write_request(rows, common))
    return out


SEEDS = seeds()


@atheris.instrument_func
def message(fdp):
    """Raw bytes, or a seed with up to 8 bytes changed, cut or extended."""
    if fdp.ConsumeBool():
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4096))
    b = bytearray(SEEDS[fdp.ConsumeIntInRange(0, len(SEEDS) - 1)])
    for _ in range(fdp.ConsumeIntInRange(0, 8)):
        op = fdp.ConsumeIntInRange(0, 3)
        at = fdp.ConsumeIntInRange(0, max(len(b) - 1, 0))
        if op == 0 and b:
            b[at] = fdp.ConsumeIntInRange(0, 255)
        elif op == 1:
            del b[at:]
        elif op == 2:
            b[at:at] = fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 8))
        elif b:
            # A 4-byte size field set to something large or negative.
            b[at:at + 4] = fdp.ConsumeIntInRange(-(2**31), 2**31 - 1).to_bytes(4, "big", signed=True)
    return bytes(b)


@atheris.instrument_func
def array(fdp, batch=None):
    """An array of a fuzzer-chosen dtype, rank 0 to 3, and dims 0 to 4
    (dim 0 = ``batch`` if given), maybe transposed or strided."""
    dtype = np.dtype(DTYPES[fdp.ConsumeIntInRange(0, len(DTYPES) - 1)])
    rank = fdp.ConsumeIntInRange(0, 3)
    shape = [fdp.ConsumeIntInRange(0, 4) for _ in range(rank)]
    if batch is not None and rank:
        shape[0] = batch
    n = int(np.prod(shape)) if shape else 1
    if dtype.kind == "O":
        items = [fdp.ConsumeUnicode(4) if fdp.ConsumeBool() else fdp.ConsumeBytes(4) for _ in range(n)]
        a = np.empty(n, dtype=object)
        a[:] = items
        a = a.reshape(shape)
    elif dtype.kind == "U":
        a = np.array([fdp.ConsumeUnicode(3) for _ in range(n)], dtype=dtype).reshape(shape)
    else:
        raw = fdp.ConsumeBytes(n * dtype.itemsize).ljust(n * dtype.itemsize, b"\0")
        a = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    if rank >= 2 and fdp.ConsumeBool():
        a = a.T
    if rank >= 1 and fdp.ConsumeIntInRange(0, 3) == 0:
        a = a[::2]
    return a


@atheris.instrument_func
def exercise_response(r):
    len(r)
    r.skipped_fields
    r.continuous()
    for k in r.tensor_keys():
        r.tensor(k)
    for i in range(min(len(r), 4)):
        rec = r[i]
        rec.continuous()
        for k in rec.tensor_keys():
            rec.tensor(k)
        repr(rec)


@atheris.instrument_func
def one_input(data):
    fdp = atheris.FuzzedDataProvider(data)
    target = fdp.ConsumeIntInRange(0, 7)
    if target == 0:
        exercise_response(bprwire.decode(message(fdp)))
    elif target == 1:
        exercise_response(bprwire.decode_reply(message(fdp), framed=fdp.ConsumeBool()))
    elif target == 2:
        bprwire.request_info(message(fdp))
    elif target == 3:
        lay = LAYOUT_OBJECTS[fdp.ConsumeIntInRange(0, len(LAYOUT_OBJECTS) - 1)]
        max_rows = fdp.ConsumeIntInRange(0, 64) if fdp.ConsumeBool() else None
        if fdp.ConsumeBool():
            lay.scatter(message(fdp), max_rows=max_rows)
        else:
            out = {name: array(fdp) for name in lay.outputs}
            lay.scatter(message(fdp), out=out)
    elif target == 4:
        keys = [fdp.ConsumeIntInRange(-3, 3) for _ in range(fdp.ConsumeIntInRange(0, 3))]
        w = bprwire.BatchPredictionWriter(keys)
        values = array(fdp)
        getattr(w, ["__call__", "encode", "encoded_len", "reply"][fdp.ConsumeIntInRange(0, 3)])(values)
    elif target == 5:
        n = fdp.ConsumeIntInRange(0, 3)
        keys = [fdp.ConsumeIntInRange(-3, 3) for _ in range(n)]
        w = bprwire.BatchPredictionTensorWriter(keys, typed=fdp.ConsumeBool(), binary=fdp.ConsumeBool())
        batch = fdp.ConsumeIntInRange(0, 3)
        tensors = [array(fdp, batch) for _ in range(fdp.ConsumeIntInRange(0, 3))]
        if fdp.ConsumeBool():
            out = array(fdp)
            if out.flags.writeable:
                try:
                    w.encode_into(tensors, out)
                except BufferError:
                    pass  # a buffer Python itself cannot export as bytes
        else:
            w(tensors)
    elif target == 6:
        bprwire.FeatureLayout(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 512)))
    else:
        lay = LAYOUT_OBJECTS[fdp.ConsumeIntInRange(0, len(LAYOUT_OBJECTS) - 1)]
        rows = fdp.ConsumeIntInRange(0, 3)
        arrays = {name: array(fdp, rows) for name in lay.outputs if fdp.ConsumeIntInRange(0, 7)}
        lay.write_request(arrays)


@atheris.instrument_func
def test_one_input(data):
    before = bprwire._panics()
    try:
        one_input(data)
    except ALLOWED:
        pass
    if bprwire._panics() != before:
        raise RuntimeError("a Rust panic happened (and was caught) under this input")


def main():
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
