//! A writer that fails when the peer takes no bytes for a while: the
//! timeout runs from the moment a write could make no progress and is
//! reset by any progress, so a client that reads a large reply slowly,
//! but reads, is never cut off, and one that stops reading is let go after
//! `limit` (on every port: Thrift replies, HTTP and gRPC responses).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// `inner`, whose writes fail with `TimedOut` after `limit` without
/// progress. Reads pass through.
#[derive(Debug)]
pub struct Stall<S> {
    inner: S,
    limit: Duration,
    /// Armed while a write, flush or shutdown is waiting.
    waiting: Option<Pin<Box<Sleep>>>,
}

impl<S> Stall<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, limit: Duration) -> Stall<S> {
        Stall {
            inner,
            limit,
            waiting: None,
        }
    }

    /// The stream inside.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// What a write's poll becomes: progress disarms the timer; waiting
    /// arms it (once) and fails when it fires.
    fn watch<T>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(r) => {
                self.waiting = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let limit = self.limit;
                let timer = self
                    .waiting
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        self.waiting = None;
                        Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("the peer took no bytes for {limit:?}"),
                        )))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Stall<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Stall<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.watch(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_is_served_and_a_stopped_one_is_let_go() {
        // A pipe of 64 bytes: the writer waits whenever the reader lags.
        let (client, server) = tokio::io::duplex(64);
        let mut w = Stall::new(server, Duration::from_secs(1));
        let reader = tokio::spawn(async move {
            let mut client = client;
            let mut got = Vec::new();
            let mut buf = [0u8; 16];
            // 16 bytes every 0.5 s: slow, but never a whole second idle.
            while got.len() < 1024 {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let n = client.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            (client, got)
        });
        w.write_all(&[7u8; 1024])
            .await
            .expect("a slow reader gets it all");
        let (client, got) = reader.await.unwrap();
        assert_eq!(got, vec![7u8; 1024]);
        // The reader stops: the writer fails after 1 s without progress.
        let e = w.write_all(&[1u8; 1024]).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        drop(client);
    }
}
