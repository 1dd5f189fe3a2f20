//! Optional mutual TLS on the ports (what Navi's `--ssl-dir` gave): the
//! server's certificate chain and key, and the CAs whose certificates
//! every client must present (a client without one is refused in the
//! handshake). `[tls]` names the files and the ports it covers (by
//! default the Thrift and gRPC ports; the HTTP port too if asked, though
//! a kubelet's probes do not present certificates).
//!
//! The files are read and checked when the configuration is (so
//! `--check` refuses what start-up would); each port gets its own
//! acceptor (ALPN `h2` on the gRPC port, `http/1.1` on the HTTP port).
//! The handshake runs on the connection's own task, bounded as a first
//! call is (`handshake_timeout_s`), and a connection still in it is idle:
//! it may be evicted for another, and is closed at once on shutdown.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::conn::{Conn, Port};

/// The most bytes a certificate or key file may hold.
const PEM_BYTES: u64 = 1 << 20;

/// A port TLS may cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortName {
    /// The Thrift port.
    Thrift,
    /// The gRPC port (KServe's and TensorFlow Serving's services).
    Grpc,
    /// The HTTP port (probes, metrics, REST).
    Http,
}

/// `[tls]`: mutual TLS.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The server's certificate chain (PEM, leaf first), relative to the
    /// configuration's folder.
    pub cert: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// The CAs (PEM) whose certificates clients must present.
    pub client_ca: PathBuf,
    /// The ports it covers (default: `["thrift", "grpc"]`).
    #[serde(default = "TlsConfig::default_ports")]
    pub ports: Vec<PortName>,
}

impl TlsConfig {
    fn default_ports() -> Vec<PortName> {
        vec![PortName::Thrift, PortName::Grpc]
    }

    /// Reads the files (relative to `dir`) and builds each port's
    /// acceptor.
    ///
    /// # Errors
    ///
    /// The key at fault and why: a file unreadable, not PEM, holding no
    /// certificate or key, a key that is not the certificate's, no
    /// ports.
    pub fn load(&self, dir: &Path) -> Result<Tls, (&'static str, String)> {
        if self.ports.is_empty() {
            return Err(("tls.ports", "name at least one port (or leave out [tls])".into()));
        }
        let read = |key: &'static str, path: &Path| {
            let path = dir.join(path);
            crate::files::read_regular(&path, PEM_BYTES)
                .map_err(|e| (key, format!("{}: {e}", path.display())))
        };
        let certs = |key: &'static str, pem: &[u8]| {
            let certs = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| (key, format!("not PEM certificates: {e}")))?;
            if certs.is_empty() {
                return Err((key, "holds no certificate (PEM \"CERTIFICATE\")".into()));
            }
            Ok(certs)
        };
        let chain = certs("tls.cert", &read("tls.cert", &self.cert)?)?;
        let key = PrivateKeyDer::from_pem_slice(&read("tls.key", &self.key)?)
            .map_err(|e| ("tls.key", format!("no private key in it: {e}")))?;
        let mut roots = rustls::RootCertStore::empty();
        for ca in certs("tls.client_ca", &read("tls.client_ca", &self.client_ca)?)? {
            roots
                .add(ca)
                .map_err(|e| ("tls.client_ca", format!("not a CA certificate: {e}")))?;
        }
        // ring: no cmake or assembler toolchain at build time. rustls
        // 0.23.48 deprecates it for having no post-quantum key exchange
        // (X25519MLKEM768 needs aws-lc-rs): classical ECDHE only.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| ("tls.client_ca", e.to_string()))?;
        let base = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ("tls", e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|e| ("tls.key", format!("not the certificate's key, or refused: {e}")))?;
        let acceptor = |alpn: &[&[u8]]| {
            let mut config = base.clone();
            config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            TlsAcceptor::from(Arc::new(config))
        };
        let on = |p| self.ports.contains(&p);
        Ok(Tls {
            thrift: on(PortName::Thrift).then(|| acceptor(&[])),
            grpc: on(PortName::Grpc).then(|| acceptor(&[b"h2"])),
            http: on(PortName::Http).then(|| acceptor(&[b"http/1.1"])),
        })
    }
}

/// Each port's TLS acceptor, if it speaks TLS.
#[derive(Clone, Default)]
pub struct Tls {
    thrift: Option<TlsAcceptor>,
    grpc: Option<TlsAcceptor>,
    http: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("thrift", &self.thrift.is_some())
            .field("grpc", &self.grpc.is_some())
            .field("http", &self.http.is_some())
            .finish()
    }
}

impl Tls {
    /// `port`'s acceptor, if it speaks TLS.
    pub fn acceptor(&self, port: PortName) -> Option<TlsAcceptor> {
        match port {
            PortName::Thrift => self.thrift.clone(),
            PortName::Grpc => self.grpc.clone(),
            PortName::Http => self.http.clone(),
        }
    }
}

/// A connection's stream: TCP, or TLS over it.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS, the handshake done.
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A port's connections served by `serve`, each behind `acceptor`'s
/// handshake when there is one (a connection that fails it, or does not
/// finish it before it should close, is dropped and counted as a
/// protocol error or by why it closed).
pub fn handshaking<F, Fut>(
    acceptor: Option<TlsAcceptor>,
    port: Arc<Port>,
    shutdown: CancellationToken,
    serve: F,
) -> impl Fn(TcpStream, Arc<Conn>) -> Pin<Box<dyn Future<Output = ()> + Send>>
where
    F: Fn(Stream, Arc<Conn>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let serve = Arc::new(serve);
    move |tcp, conn| {
        let Some(acceptor) = acceptor.clone() else {
            return Box::pin(serve(Stream::Plain(tcp), conn));
        };
        let (serve, port, shutdown) = (serve.clone(), port.clone(), shutdown.clone());
        Box::pin(async move {
            let tls = tokio::select! {
                tls = acceptor.accept(tcp) => tls,
                why = conn.closing(&shutdown) => {
                    port.closed(why);
                    return;
                }
            };
            match tls {
                Ok(tls) => serve(Stream::Tls(Box::new(tls)), conn).await,
                Err(e) => {
                    port.protocol_error();
                    tracing::debug!(port = port.name(), error = %e, "TLS handshake failed");
                }
            }
        })
    }
}
