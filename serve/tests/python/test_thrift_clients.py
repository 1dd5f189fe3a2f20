"""bprwire-serve against clients nobody here wrote: the Apache Thrift Python
client generated from ``schema/`` (``TSocket`` + ``TFramedTransport`` or
``TBufferedTransport`` + ``TBinaryProtocol``), on random requests (every
feature kind, common features, ids the layout does not know). Every score
must equal what numpy computes from ``bprwire.FeatureLayout(...).scatter``
of the same request bytes and the same weights. Then concurrency, faults
and SIGTERM under load, on the real binary.

Everything runs on 127.0.0.1 with ports the server picks; every loop is
bounded in count and time; every server started is stopped by its pid.
"""

from __future__ import annotations

import random
import re
import socket
import struct
import threading
import time

import pytest

from serving import Server, check_response, random_request

# ---- clients ----


def client(ts, port: int, framed: bool, timeout_ms: int = 10_000):
    from thrift.protocol import TBinaryProtocol
    from thrift.transport import TSocket, TTransport

    sock = TSocket.TSocket("127.0.0.1", port)
    sock.setTimeout(timeout_ms)
    transport = TTransport.TFramedTransport(sock) if framed else TTransport.TBufferedTransport(sock)
    transport.open()
    c = ts.PredictionService.Client(TBinaryProtocol.TBinaryProtocol(transport, strictWrite=True))
    return c, transport


# ---- tests ----


@pytest.mark.parametrize("framed", [True, False], ids=["framed", "buffered"])
def test_the_thrift_python_client_gets_numpys_scores(ts, server, framed):
    rng = random.Random(1 if framed else 2)
    c, transport = client(ts, server.port, framed)
    try:
        for _ in range(60):
            req = random_request(ts, rng)
            check_response(ts, req, c.getBatchPrediction(req))
    finally:
        transport.close()


def test_sixteen_clients_get_their_own_answers_and_batches_merge(ts, server):
    errors: list[str] = []
    done = [0]
    lock = threading.Lock()

    def run(i):
        rng = random.Random(100 + i)
        try:
            c, transport = client(ts, server.port, framed=i % 2 == 0)
            try:
                for _ in range(200):
                    # 1-3 records, a seed the answer must match: each request
                    # is told apart by its own features.
                    req = random_request(ts, rng, records=rng.randrange(1, 4))
                    check_response(ts, req, c.getBatchPrediction(req))
                    with lock:
                        done[0] += 1
            finally:
                transport.close()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"client {i}: {e!r}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "clients still running after 120 s"
    assert not errors, errors[:3]
    assert done[0] == 16 * 200
    m = server.metrics()
    count = float(re.search(r'^bprwire_batch_requests_count\{model="bprwire",version="1"\} (\S+)', m, re.M)[1])
    single = float(re.search(r'^bprwire_batch_requests_bucket\{le="1.0",model="bprwire",version="1"\} (\S+)', m, re.M)[1])
    assert count < 16 * 200, "every request ran in a batch of its own"
    assert single < count, f"no batch merged requests ({single} of {count} had one)"
    assert re.search(r'^bprwire_responses_total\{model="bprwire",version="1"\} 3200$', m, re.M), m


def raw_call(method: bytes, seqid: int, args: bytes) -> bytes:
    return struct.pack(">Ii", 0x80010001, len(method)) + method + struct.pack(">i", seqid) + args


def read_reply(ts, sock: socket.socket, framed: bool):
    """One reply off `sock`, read by the generated client's recv."""
    from thrift.protocol import TBinaryProtocol
    from thrift.transport import TSocket, TTransport

    t = TSocket.TSocket()
    t.handle = sock
    transport = TTransport.TFramedTransport(t) if framed else TTransport.TBufferedTransport(t)
    return ts.PredictionService.Client(TBinaryProtocol.TBinaryProtocol(transport)).recv_getBatchPrediction()


def test_a_malformed_request_gets_its_exception_and_others_are_unaffected(ts, server):
    rng = random.Random(5)
    good, gt = client(ts, server.port, framed=True)
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            # args { 1: request { 1: i32 5 } }: individualFeaturesList of the wrong type
            msg = raw_call(b"getBatchPrediction", 77, bytes([12, 0, 1, 8, 0, 1, 0, 0, 0, 5, 0, 0]))
            s.sendall(struct.pack(">i", len(msg)) + msg)
            with pytest.raises(ts.prediction_service.PredictionServiceException) as e:
                read_reply(ts, s, framed=True)
            assert "not a BatchPredictionRequest" in e.value.description
            assert "individualFeaturesList" in e.value.description
            # The connection stays usable: a good call on it is answered.
            req = random_request(ts, rng, records=2)
            buf = ts.call_bytes(req, seqid=78)
            s.sendall(struct.pack(">i", len(buf)) + buf)
            check_response(ts, req, read_reply(ts, s, framed=True))
        req = random_request(ts, rng, records=3)
        check_response(ts, req, good.getBatchPrediction(req))
    finally:
        gt.close()


def test_an_oversized_frame_is_refused_before_its_body_is_sent(ts, server):
    from thrift.Thrift import TApplicationException

    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(struct.pack(">i", 100 << 20))  # 100 MiB declared, limit 1 MiB; no body
        with pytest.raises(TApplicationException) as e:
            read_reply(ts, s, framed=True)
        assert e.value.type == TApplicationException.PROTOCOL_ERROR
        assert "104857600 bytes refused" in e.value.message
        assert s.recv(1) == b"", "the connection was not closed"


def test_a_client_leaving_mid_frame_or_sending_a_byte_at_a_time_holds_no_one_up(ts, server):
    rng = random.Random(9)
    msg = ts.call_bytes(random_request(ts, rng, records=1), seqid=1)
    framed = struct.pack(">i", len(msg)) + msg
    # Leaves mid-frame.
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(framed[: len(framed) // 2])
    # Trickles: one byte every 100 ms for up to 3 s (bounded), while a
    # second client is answered at full speed.
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    stop = threading.Event()

    def trickle():
        for b in framed[:30]:
            if stop.is_set():
                return
            try:
                slow.sendall(bytes([b]))
            except OSError:
                return
            time.sleep(0.1)

    th = threading.Thread(target=trickle)
    th.start()
    try:
        c, transport = client(ts, server.port, framed=False)
        try:
            start = time.monotonic()
            for _ in range(50):
                req = random_request(ts, rng, records=2)
                check_response(ts, req, c.getBatchPrediction(req))
            assert time.monotonic() - start < 2.5, "the fast client was held up"
        finally:
            transport.close()
    finally:
        stop.set()
        th.join(5)
        slow.close()


def test_sigterm_under_load_loses_no_answered_request_and_exits_0(ts, tmp_path):
    srv = Server(tmp_path)
    answered = [0]
    errors: list[str] = []
    lock = threading.Lock()

    def run(i):
        rng = random.Random(500 + i)
        try:
            c, transport = client(ts, srv.port, framed=i % 2 == 0, timeout_ms=15_000)
        except Exception:  # noqa: BLE001 - the server may be gone already
            return
        try:
            for _ in range(10_000):  # bounded; the server's exit ends it first
                req = random_request(ts, rng, records=rng.randrange(1, 4))
                try:
                    resp = c.getBatchPrediction(req)
                except ts.prediction_service.PredictionServiceException as e:
                    assert "shutting down" in e.description, e.description
                    return
                except Exception:  # noqa: BLE001 - the connection closed: not an answer
                    return
                check_response(ts, req, resp)  # an answer given is a right answer
                with lock:
                    answered[0] += 1
        except AssertionError as e:
            errors.append(f"client {i}: {e}")
        finally:
            transport.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    try:
        for t in threads:
            t.start()
        time.sleep(1.0)
        before = answered[0]
        code = srv.stop(timeout=15)
        for t in threads:
            t.join(20)
        assert code == 0, srv.log.read_text()
        assert before > 0, "no request was answered before SIGTERM"
        assert not errors, errors
        assert not any(t.is_alive() for t in threads)
    finally:
        srv.kill()
