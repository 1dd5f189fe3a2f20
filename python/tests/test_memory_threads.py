"""Large inputs: a C-contiguous array is read in place (peak memory), an
array that is not is copied once, and other Python threads run while a
large encode, decode or scatter is in progress (the GIL is released)."""

import json
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc

import numpy as np

import bprwire

MB = 1 << 20


def test_c_contiguous_input_is_not_copied_tracemalloc():
    emb = np.random.default_rng(1).standard_normal((2048, 4096), dtype=np.float32)  # 32 MiB
    w = bprwire.BatchPredictionTensorWriter([100])
    out = np.empty(w.encoded_len([emb]), dtype=np.uint8)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        n = w.encode_into([emb], out)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        w.encode_into([emb.T], np.empty(w.encoded_len([emb.T]), dtype=np.uint8))
        _, peak_transposed = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == out.size
    assert peak < 1 * MB, peak
    # The control: a transposed view is copied once (numpy.ascontiguousarray).
    assert peak_transposed >= emb.nbytes, peak_transposed


RSS_PROBE = textwrap.dedent(
    """
    import json, sys
    import numpy as np, bprwire

    def peak_kib():
        # VmHWM, the peak of this process's own memory: getrusage's
        # ru_maxrss keeps the peak of the process that forked us across
        # exec, which hides the growth when pytest itself is large.
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))

    transposed = sys.argv[1] == "T"
    emb = np.random.default_rng(1).standard_normal((4096, 4096), dtype=np.float32)  # 64 MiB
    x = emb.T if transposed else emb
    w = bprwire.BatchPredictionTensorWriter([100])
    out = np.empty(w.encoded_len([x]), dtype=np.uint8)
    out.fill(1)  # touch every page before measuring
    before = peak_kib()
    w.encode_into([x], out)
    after = peak_kib()
    print(json.dumps({"grew_kib": after - before}))
    """
)


def rss_growth_kib(mode):
    r = subprocess.run([sys.executable, "-c", RSS_PROBE, mode], check=True, capture_output=True, text=True)
    return json.loads(r.stdout)["grew_kib"]


def test_c_contiguous_input_is_not_copied_rss():
    # Peak resident memory of a fresh process, which Rust allocations count
    # in too: encoding 64 MiB in place grows it by far less than the input.
    assert rss_growth_kib("C") < 8 * 1024
    # The control: a transposed view is copied once (the measure can fall
    # short of the full 64 MiB: the peak before may exceed the RSS then).
    assert rss_growth_kib("T") >= 32 * 1024


def runs_alongside(work, seconds=0.05):
    """Runs `work` in a thread (repeatedly, at least `seconds`) and counts
    the main thread's loop iterations that happen while it runs."""
    spans = []

    def worker():
        start = time.perf_counter()
        while True:
            t0 = time.perf_counter()
            work()
            spans.append((t0, time.perf_counter()))
            if time.perf_counter() - start > seconds:
                return

    ticks = []
    old = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    try:
        t = threading.Thread(target=worker)
        t.start()
        while t.is_alive():
            ticks.append(time.perf_counter())
        t.join()
    finally:
        sys.setswitchinterval(old)
    inside = sum(1 for x in ticks if any(a < x < b for a, b in spans))
    longest = max(b - a for a, b in spans)
    return inside, longest, len(spans)


def test_another_thread_runs_while_a_large_encode_is_in_progress():
    values = np.random.default_rng(2).standard_normal((65536, 64), dtype=np.float32)
    w = bprwire.BatchPredictionWriter(list(range(1, 65)))
    out = np.empty(w.encoded_len(values), dtype=np.uint8)
    inside, longest, calls = runs_alongside(lambda: w.encode_into(values, out))
    assert longest > 0.002, "the encode is too short to tell"
    # With the GIL held through each call, the main loop could not run
    # inside one (a tick would only land at a call's edges).
    assert inside > 10 * calls, (inside, calls)


def test_another_thread_runs_while_a_large_decode_and_scatter_are_in_progress():
    values = np.random.default_rng(3).standard_normal((65536, 64), dtype=np.float32)
    data = bprwire.BatchPredictionWriter(list(range(1, 65))).encode(values)
    inside, _, calls = runs_alongside(lambda: bprwire.decode(data))
    assert inside > 10 * calls, (inside, calls)
    layout = bprwire.FeatureLayout({"continuous": {"ids": list(range(1, 65))}})
    request = layout.write_request({"continuous": values[:16384]})
    inside, _, calls = runs_alongside(lambda: layout.scatter(request))
    assert inside > 10 * calls, (inside, calls)


def test_one_writer_shared_by_threads_with_different_shapes():
    # The tensor writer's signature cache is shared: threads calling it with
    # other row shapes at once still get each their own bytes.
    from concurrent.futures import ThreadPoolExecutor

    w = bprwire.BatchPredictionTensorWriter([1, 2])
    r = np.random.default_rng(4)
    cases = []
    for i in range(24):  # more shapes than the cache keeps (16)
        a = r.standard_normal((300, 64 + i)).astype(np.float32)
        b = r.integers(0, 9, (300, i % 5 + 1))
        cases.append(([a, b], bprwire.encode(dense={1: a, 2: b})))

    def check(case):
        tensors, want = case
        for _ in range(5):
            assert w.encode(tensors) == want
        return True

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(check, cases * 3))
