"""bprwire-serve's optional mutual TLS (``[tls]``, what Navi's ``--ssl-dir``
gave) on the Thrift and gRPC ports, with a throwaway CA made at test time
by the ``openssl`` command: a client with a certificate from the CA is
answered (Apache Thrift Python's ``TSSLSocket``, grpcio's TLS channel,
the same scores on both); one without a certificate, with one from
another CA, or speaking plain TCP is refused; the HTTP port stays plain
(probes); ``--check`` refuses what start-up would (a key that is not the
certificate's, a missing file, a gRPC port TLS names but that is not
served).

Loopback only, ports the server picks, every server stopped by its pid.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import ssl
import subprocess
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from serving import K, SERVE, Server, random_request

grpc = pytest.importorskip("grpc")
# CI installs openssl: there, its absence fails rather than skips.
pytestmark = pytest.mark.skipif(shutil.which("openssl") is None and not os.environ.get("CI"),
                                reason="needs the openssl command")


def openssl(*args: str, cwd: Path):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def issue(d: Path, name: str, ca: str, server: bool):
    """A key and certificate `name` signed by CA `ca` (a server's names
    127.0.0.1 and localhost)."""
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
            "-subj", f"/CN={name}", "-out", f"{name}.csr", cwd=d)
    ext = d / f"{name}.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n" if server
                   else "extendedKeyUsage=clientAuth\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-days", "2", "-sha256", "-extfile", ext.name, "-out", f"{name}.crt", cwd=d)


def authority(d: Path, name: str):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            f"{name}.key", "-subj", f"/CN={name}", "-days", "2", "-out", f"{name}.crt", cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    authority(d, "ca")
    authority(d, "rogue")
    issue(d, "server", "ca", server=True)
    issue(d, "client", "ca", server=False)
    issue(d, "stranger", "rogue", server=False)
    return d


def tls_section(pki: Path, key: str = "server.key", ports: str = "") -> str:
    return (f'\n[tls]\ncert = "{pki / "server.crt"}"\nkey = "{pki / key}"\nclient_ca = "{pki / "ca.crt"}"\n'
            + (f"ports = {ports}\n" if ports else ""))


@pytest.fixture(scope="module")
def server(pki, tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("tls"), appended=tls_section(pki), limits={"handshake_timeout_s": 1.0})
    yield srv
    assert srv.stop() == 0, srv.log.read_text()


def read(p: Path) -> bytes:
    return p.read_bytes()


def grpc_channel(pki: Path, port: int, who: str | None):
    creds = grpc.ssl_channel_credentials(
        root_certificates=read(pki / "ca.crt"),
        private_key=read(pki / f"{who}.key") if who else None,
        certificate_chain=read(pki / f"{who}.crt") if who else None,
    )
    return grpc.secure_channel(f"127.0.0.1:{port}", creds)


def predict(channel, raws: list[bytes]) -> np.ndarray:
    tf = pytest.importorskip("tensorflow")
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    r = predict_pb2.PredictRequest()
    r.model_spec.name = "bprwire"
    r.inputs["examples"].CopyFrom(tf.make_tensor_proto(raws, dtype=tf.string))
    answer = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(r, timeout=10)
    return tf.make_ndarray(answer.outputs["scores"])


def thrift_call(ts, pki: Path, port: int, who: str | None, request):
    from thrift.protocol import TBinaryProtocol
    from thrift.transport import TSSLSocket, TTransport

    kw = {"keyfile": str(pki / f"{who}.key"), "certfile": str(pki / f"{who}.crt")} if who else {}
    sock = TSSLSocket.TSSLSocket("127.0.0.1", port, ca_certs=str(pki / "ca.crt"),
                                  cert_reqs=ssl.CERT_REQUIRED, **kw)
    sock.setTimeout(10_000)
    transport = TTransport.TFramedTransport(sock)
    transport.open()
    try:
        c = ts.PredictionService.Client(TBinaryProtocol.TBinaryProtocol(transport, strictWrite=True))
        return c.getBatchPrediction(request)
    finally:
        transport.close()


def test_a_client_with_the_cas_certificate_is_answered_the_same_on_thrift_and_grpc(ts, pki, server):
    pytest.importorskip("tensorflow_serving")
    rng = random.Random(17)
    reqs = [random_request(ts, rng, records=rng.randrange(1, 4)) for _ in range(3)]
    from serving import CONTINUOUS_KEYS

    via_thrift = np.concatenate([
        np.array([[rec.continuousFeatures[k] for k in CONTINUOUS_KEYS]
                  for rec in thrift_call(ts, pki, server.port, "client", r).predictions]).reshape(-1, K)
        for r in reqs
    ])
    via_grpc = predict(grpc_channel(pki, server.grpc_port, "client"), [ts.dumps(r) for r in reqs])
    np.testing.assert_array_equal(via_grpc.astype(np.float64), via_thrift)


@pytest.mark.parametrize("who", [None, "stranger"])
def test_a_client_without_a_certificate_from_the_ca_is_refused(ts, pki, server, who):
    pytest.importorskip("tensorflow_serving")
    request = random_request(ts, random.Random(2), records=1)
    from thrift.transport.TTransport import TTransportException

    # The handshake's alert (TLS 1.3: at the client's first read).
    with pytest.raises((ssl.SSLError, TTransportException, ConnectionError)) as e:
        thrift_call(ts, pki, server.port, who, request)
    with pytest.raises(grpc.RpcError) as e:
        predict(grpc_channel(pki, server.grpc_port, who), [ts.dumps(request)])
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    # The server goes on.
    assert thrift_call(ts, pki, server.port, "client", request).predictions


def test_plain_tcp_on_a_tls_port_is_refused_and_the_http_port_stays_plain(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"\x00\x00\x00\x05hello")
        s.settimeout(5)
        # The server answers a TLS alert, or closes: never a Thrift reply.
        got = s.recv(64)
        assert got == b"" or got[0] == 0x15, got
    with urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/ready", timeout=5) as r:
        assert r.status == 200


def test_a_client_that_never_says_hello_is_closed_after_the_handshake_timeout(server):
    import time

    with socket.create_connection(("127.0.0.1", server.grpc_port), timeout=10) as s:
        t0 = time.monotonic()
        assert s.recv(64) == b""  # closed by the server, nothing said
        assert 0.5 < time.monotonic() - t0 < 8
    assert 'reason="handshake"' in server.metrics()


@pytest.mark.parametrize("section, says", [
    (lambda pki: tls_section(pki, key="client.key"), "tls.key"),
    (lambda pki: tls_section(pki).replace("server.crt", "missing.crt"), "tls.cert"),
    (lambda pki: tls_section(pki).replace(str(pki / "ca.crt"), str(pki / "server.key")), "tls.client_ca"),
    (lambda pki: tls_section(pki, ports='["thrift", "smtp"]'), "smtp"),
    (lambda pki: tls_section(pki, ports="[]"), "tls.ports"),
])
def test_check_refuses_what_start_up_would(pki, server, section, says):
    folder = server.log.parent
    good = (folder / "serve.toml").read_text()
    head = good.split("\n[tls]\n")[0]
    for text, refused in ((good, None), (head + section(pki), says)):
        (folder / "check.toml").write_text(text)
        r = subprocess.run([str(SERVE), str(folder / "check.toml"), "--check"], capture_output=True, timeout=60)
        if refused is None:
            assert r.returncode == 0, r.stderr.decode()
        else:
            assert r.returncode != 0 and refused in r.stderr.decode(), r.stderr.decode()


def test_tls_naming_a_grpc_port_that_is_not_served_is_refused(pki, server):
    folder = server.log.parent
    text = (folder / "serve.toml").read_text().replace('grpc = "127.0.0.1:0"\n', "")
    (folder / "nogrpc.toml").write_text(text)
    r = subprocess.run([str(SERVE), str(folder / "nogrpc.toml"), "--check"], capture_output=True, timeout=60)
    assert r.returncode != 0 and "listen.grpc" in r.stderr.decode(), r.stderr.decode()
