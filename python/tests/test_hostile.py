"""Hostile and careless input (issue 22): every refusal is one of the
package's errors or a MemoryError naming the sizes; nothing aborts the
interpreter, nothing panics (conftest's ``no_rust_panic`` fails any test
during which Rust panicked), nothing comes back silently wrong.

Each test names the item of the issue it covers."""

import struct
import threading
import time

import numpy as np
import pytest

import bprwire

# --- wire helpers: small hand-written Thrift (binary protocol) pieces -----

STOP = b"\x00"


def list_header(field_id, count, elem_type=0x0C):
    return struct.pack(">bhbi", 0x0F, field_id, elem_type, count)


def continuous_record(key, value):
    """A DataRecord with one continuous feature."""
    return struct.pack(">bhbbi", 0x0D, 2, 0x0A, 0x04, 1) + struct.pack(">qd", key, value) + STOP


def response_of(records):
    return list_header(1, len(records)) + b"".join(records) + STOP


def request_of_empty_records(n):
    return list_header(1, n) + STOP * n + STOP


def overcommit_heuristic():
    """Linux refuses an allocation larger than RAM + swap only in the
    default heuristic mode (0): then numpy's calloc fails at once."""
    try:
        with open("/proc/sys/vm/overcommit_memory") as f:
            return f.read().strip() == "0"
    except OSError:
        return False


# --- item 1: an allocation sized from input never aborts ------------------


def test_continuous_of_many_distinct_keys_is_a_memory_error_not_an_abort():
    # 300,000 records, each with its own key: 7.8 MB of response, and
    # records x keys = 9e10 doubles (720 GB) to gather. This aborted the
    # interpreter (SIGABRT) in vec![NAN; ..].
    n = 300_000
    data = response_of([continuous_record(k, 1.0) for k in range(n)])
    assert len(data) == 7_800_009
    r = bprwire.decode(data)
    with pytest.raises(MemoryError) as e:
        r.continuous()
    assert "300000 records" in str(e.value) and "300000 distinct keys" in str(e.value)
    # The response is still usable afterwards.
    assert len(r) == n and r[5].continuous() == {5: 1.0}


def test_continuous_of_many_records_with_the_same_keys_still_works():
    data = response_of([continuous_record(7, float(i)) for i in range(1000)])
    keys, values = bprwire.decode(data).continuous()
    assert keys.tolist() == [7] and values[:, 0].tolist() == [float(i) for i in range(1000)]


# --- item 2: numpy allocation failures are MemoryError, not PanicException --


@pytest.mark.skipif(not overcommit_heuristic(), reason="needs vm.overcommit_memory=0 to refuse 59 GiB at once")
def test_scatter_without_out_whose_arrays_do_not_fit_memory_raises_memory_error():
    # 3 MB of empty records x 5,293 columns = 59 GiB of float32.
    lay = bprwire.FeatureLayout({"continuous": {"ids": list(range(1, 5294))}})
    req = request_of_empty_records(3_000_000)
    with pytest.raises(MemoryError) as e:
        lay.scatter(req)
    assert '"continuous" of 3000000 rows' in str(e.value)


def test_scatter_of_a_tensor_wider_than_an_array_can_be_raises_memory_error():
    lay = bprwire.FeatureLayout({"tensors": [{"id": 1, "width": 2**62, "dtype": "float32"}]})
    with pytest.raises(MemoryError) as e:
        lay.scatter(request_of_empty_records(1))
    assert "4611686018427387904 columns" in str(e.value)


@pytest.mark.skipif(not overcommit_heuristic(), reason="needs vm.overcommit_memory=0 to refuse 28 GB at once")
def test_a_writer_call_whose_response_does_not_fit_memory_raises_memory_error():
    # 4 GiB of float32 zeros (calloc'd, never touched) become ~28 GB of
    # response: 26 bytes per record.
    values = np.zeros((2**30, 1), dtype=np.float32)
    w = bprwire.BatchPredictionWriter([1])
    assert w.encoded_len(values) > 24 * 2**30
    with pytest.raises(MemoryError) as e:
        w(values)
    assert "the encoded response" in str(e.value)


# --- item 3: another thread writing an input while the GIL is released ----


def race(work, mutate, calls=60, seconds=20.0):
    """Calls ``work`` up to ``calls`` times (at most ``seconds``) while
    another thread runs ``mutate`` in a loop; returns the results and
    exceptions of the calls."""
    stop = threading.Event()

    def mutator():
        while not stop.is_set():
            mutate()

    t = threading.Thread(target=mutator)
    t.start()
    results = []
    deadline = time.monotonic() + seconds
    try:
        for _ in range(calls):
            if time.monotonic() > deadline:
                break
            try:
                results.append(work())
            except bprwire.EncodeError as e:
                results.append(e)
    finally:
        stop.set()
        t.join(timeout=10)
    assert not t.is_alive()
    return results


def test_write_request_while_another_thread_flips_values_is_a_request_or_an_encode_error():
    # Large enough (>= RELEASE_GIL_FROM) that the GIL is released while
    # writing; the values flip between the default (NaN) and not, which
    # changes the request's size between sizing and writing. ~14% of the
    # calls panicked ("request writer: size and bytes disagree").
    lay = bprwire.FeatureLayout({"continuous": {"ids": list(range(1, 65)), "default": "nan"}})
    rows = np.full((512, 64), np.nan, dtype=np.float32)
    other = np.arange(512 * 64, dtype=np.float32).reshape(512, 64)
    nan = np.full_like(rows, np.nan)
    flip = [0]

    def mutate():
        flip[0] ^= 1
        np.copyto(rows, other if flip[0] else nan)

    results = race(lambda: lay.write_request({"continuous": rows}), mutate)
    assert results
    for r in results:
        if isinstance(r, bprwire.EncodeError):
            assert "changed while the request was being written" in str(r)
        else:
            # Whatever was read, the bytes are one well-formed request.
            assert bprwire.request_info(r) == (512, False)
            assert lay.scatter(r)["continuous"].shape == (512, 64)


def test_an_s_array_rewritten_by_another_thread_while_encoding_gives_whole_responses():
    # A numpy S array is read in place, its strings' lengths from their
    # trailing NULs; a thread rewriting them between sizing and writing
    # made the encoder panic ("mid > len"). The GIL is now held for S
    # arrays, so each response holds the strings as one state or the other.
    n = 4096
    a = np.full((n, 1), b"x" * 8, dtype="S8")
    short = np.full((n, 1), b"x", dtype="S8")
    long = a.copy()
    flip = [0]

    def mutate():
        flip[0] ^= 1
        np.copyto(a, short if flip[0] else long)

    w = bprwire.BatchPredictionTensorWriter([1])
    results = race(lambda: bytes(w.encode([a])), mutate)
    assert results
    for r in results:
        assert not isinstance(r, Exception), r
        strings = bprwire.decode(r).tensor(1)
        assert strings.shape == (n, 1)
        assert set(strings[:, 0].tolist()) <= {"x", "x" * 8}


# --- item 4: scatter(out=...) refuses arrays it would scramble ------------


def out_layout():
    return bprwire.FeatureLayout({"continuous": {"ids": [1, 2, 3], "default": 0}})


def two_rows():
    lay = out_layout()
    return lay.write_request({"continuous": np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32)})


@pytest.mark.parametrize(
    "array, needle",
    [
        (np.zeros((8, 3), dtype=np.float32, order="F"), "not C-contiguous"),
        (np.zeros((4, 4), dtype=np.float32), "expected an array of shape [rows, 3], got [4, 4]"),
        (np.zeros(24, dtype=np.float32), "expected an array of shape [rows, 3], got [24]"),
        (np.zeros((8, 3, 1), dtype=np.float32), "got [8, 3, 1]"),
        (np.zeros((8, 6), dtype=np.float32)[:, ::2], "not C-contiguous"),
    ],
)
def test_scatter_into_an_array_of_another_shape_or_order_is_refused(array, needle):
    with pytest.raises(bprwire.DecodeError) as e:
        out_layout().scatter(two_rows(), out={"continuous": array})
    assert needle in str(e.value)
    assert not array.any()


def test_scatter_into_a_c_ordered_array_with_room_fills_its_first_rows():
    out = np.full((8, 3), -1, dtype=np.float32)
    got = out_layout().scatter(two_rows(), out={"continuous": out})["continuous"]
    assert got.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert (out[2:] == -1).all()


# --- item 5: layout ids chosen to collide -----------------------------------

MIX = 0x9E3779B97F4A7C15


def test_a_layout_of_ids_that_share_one_home_slot_builds_and_scatters_right():
    # ids whose products with the table's multiplier are 0..n-1: all in
    # one home slot (100k took 11.1 s to build from Python, quadratic).
    # The table now rehashes them (tests of table.rs bound the probes);
    # here: the layout is right.
    inverse = pow(MIX, -1, 2**64)
    ids = [(((k * inverse) % 2**64) ^ 2**63) - 2**63 for k in range(20_000)]  # as int64
    lay = bprwire.FeatureLayout({"continuous": {"ids": ids, "default": 0}})
    rows = np.arange(2 * 20_000, dtype=np.float32).reshape(2, 20_000) + 1
    got = lay.scatter(lay.write_request({"continuous": rows}))["continuous"]
    assert np.array_equal(got, rows)


# --- item 10: a row limit the caller sets -----------------------------------


def test_scatter_refuses_more_rows_than_max_rows_before_allocating():
    lay = bprwire.FeatureLayout({"continuous": {"ids": list(range(1, 5294))}})
    req = request_of_empty_records(25_000)  # 505 MB of arrays without a limit
    with pytest.raises(bprwire.DecodeError) as e:
        lay.scatter(req, max_rows=4096)
    assert "25000 records, more than max_rows=4096" in str(e.value)
    assert lay.scatter(request_of_empty_records(10), max_rows=10)["continuous"].shape == (10, 5293)


# --- item 11: messages that say what is wrong -------------------------------


def test_a_lone_surrogate_in_an_object_array_is_an_encode_error_naming_the_element():
    w = bprwire.BatchPredictionTensorWriter([5])
    with pytest.raises(bprwire.EncodeError) as e:
        w([np.array(["ok", "bad\ud800"], dtype=object)])
    assert "element 1 is a str that is not valid Unicode" in str(e.value)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.uint8])
def test_encode_into_any_c_contiguous_writable_buffer_by_bytes(dtype):
    w = bprwire.BatchPredictionWriter([1, 2])
    values = np.array([[0.5, 1.5]], dtype=np.float32)
    want = w.encode(values)
    out = np.zeros(64, dtype=dtype)
    n = w.encode_into(values, out)
    assert out.view(np.uint8)[:n].tobytes() == want


@pytest.mark.parametrize(
    "out",
    [
        np.empty(64, dtype=object),  # pointers: writing bytes over them crashed the interpreter
        np.zeros(8, dtype=[("a", "i4"), ("b", "f8")]),
        np.zeros(8, dtype="U4"),
    ],
)
def test_encode_into_a_buffer_of_objects_or_records_is_refused_and_left_untouched(out):
    # Found by the atheris harness: the bytes fallback cast an object
    # array's buffer to bytes and wrote over its pointers (segfault).
    before = out.copy()
    with pytest.raises(bprwire.EncodeError) as e:
        bprwire.BatchPredictionWriter([1]).encode_into(np.ones((1, 1), np.float32), out)
    assert "cannot be written as bytes" in str(e.value)
    assert out.tobytes() == before.tobytes() if out.dtype != object else list(out) == list(before)


def test_encode_into_a_fortran_ordered_buffer_is_refused():
    w = bprwire.BatchPredictionWriter([1])
    out = np.zeros((8, 16), dtype=np.float32, order="F")
    with pytest.raises(bprwire.EncodeError) as e:
        w.encode_into(np.ones((1, 1), np.float32), out)
    assert "not C-contiguous" in str(e.value)


@pytest.mark.parametrize(
    "values, dtype_name",
    [
        (np.array([[1.0]], dtype=object), "object"),
        (np.array([[1.0]], dtype=np.float16), "float16"),
        (np.array([[1]], dtype=np.int64), "int64"),
    ],
)
def test_continuous_values_of_another_dtype_name_it_and_the_two_allowed(values, dtype_name):
    with pytest.raises(bprwire.EncodeError) as e:
        bprwire.BatchPredictionWriter([1])(values)
    msg = str(e.value)
    assert "continuous values" in msg and "(float32, float64)" in msg
    assert "str or bytes" not in msg and "uint8" not in msg
    with pytest.raises(bprwire.EncodeError):
        bprwire.encode(continuous=([1], values))


def test_write_request_blames_the_array_whose_rows_disagree():
    lay = bprwire.FeatureLayout(
        {"continuous": {"ids": [1, 2]}, "tensors": [{"id": 30, "width": 2, "dtype": "float32"}]}
    )
    rows = {"tensor_30": np.zeros((2, 2), np.float32), "continuous": np.zeros((3, 2), np.float32)}
    with pytest.raises(bprwire.EncodeError) as e:
        lay.write_request(rows)
    assert "'tensor_30' has 2 rows but 'continuous' has 3" in str(e.value).replace('"', "'")
    with pytest.raises(bprwire.EncodeError) as e:
        lay.write_request({"continuous": np.zeros((2, 3), np.float32), "tensor_30": np.zeros((2, 2), np.float32)})
    assert "expected an array of shape [rows, 2], got [2, 3]" in str(e.value)


def tensor_response(thrift_types, shape, content=b""):
    t = thrift_types.tensor
    raw = t.RawTypedTensor(dataType=t.DataType.FLOAT, content=content, shape=shape)
    record = thrift_types.data.DataRecord(tensors={9: t.GeneralTensor(rawTypedTensor=raw)})
    return thrift_types.dumps(thrift_types.ps.BatchPredictionResponse(predictions=[record]))


@pytest.mark.parametrize("shape", [[2**40, 2**40, 0], [0, 2**62]])
def test_an_empty_tensor_of_a_huge_shape_is_a_decode_error_naming_it(thrift_types, shape):
    r = bprwire.decode(tensor_response(thrift_types, shape))
    with pytest.raises(bprwire.DecodeError) as e:
        r.tensor(9)
    assert str([1] + shape) in str(e.value)
    assert "more than numpy can make" in str(e.value)


def test_an_empty_tensor_of_a_modest_shape_still_reads(thrift_types):
    r = bprwire.decode(tensor_response(thrift_types, [0, 5]))
    assert r.tensor(9).shape == (1, 0, 5)


def test_a_layout_description_of_bytes_that_are_not_utf8_is_refused_not_read_lossily():
    with pytest.raises(bprwire.LayoutError) as e:
        bprwire.FeatureLayout(b'{"\xff":1}')
    assert "\ufffd" not in str(e.value)


def test_trailing_bytes_after_a_response_are_named_without_an_empty_item():
    data = bytes(bprwire.BatchPredictionWriter([1])(np.ones((1, 1), np.float32))) + b"\0\0\0\0"
    with pytest.raises(bprwire.DecodeError) as e:
        bprwire.decode(data)
    assert "4 bytes after the end of the message" in str(e.value)
    assert "in :" not in str(e.value)
