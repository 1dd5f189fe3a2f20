//! Feature `bytes`: encoding into a `BytesMut` or any `BufMut`.

use super::stage::Staged;
use crate::encode::error::Error;
use crate::Encoder;
use bytes::{BufMut, BytesMut};
use core::convert::Infallible;

/// Staging for a `BufMut` that may not be one contiguous slice: on the
/// stack, small enough for L1.
const BUF_MUT_STAGING: usize = 4096;

impl Encoder<'_> {
    /// Appends the response to `buf`, reserving exactly
    /// [`encoded_len`](Self::encoded_len) bytes once, then encoding in place
    /// with the same code as [`encode_into`](Self::encode_into). Returns the
    /// number of bytes appended.
    ///
    /// ```
    /// use bprwire::BatchPrediction;
    /// use bytes::BytesMut;
    ///
    /// let enc = BatchPrediction::new().continuous(&[7], &[0.5_f32], &[1]).encoder()?;
    /// let mut buf = BytesMut::new();
    /// enc.encode_to_bytes_mut(&mut buf);
    /// let frame = buf.split().freeze(); // hand it to the transport
    /// assert_eq!(frame[..], enc.encode_to_vec()[..]);
    /// # Ok::<(), bprwire::Error>(())
    /// ```
    pub fn encode_to_bytes_mut(&self, buf: &mut BytesMut) -> usize {
        let len = self.encoded_len();
        let start = buf.len();
        buf.reserve(len);
        // Zeroing first keeps this safe; it is one `memset` of memory the
        // encoder is about to write (see docs/benchmarks.md).
        buf.resize(start + len, 0);
        self.encode_into(&mut buf[start..]).expect("sized to encoded_len")
    }

    /// Writes the response to any `BufMut` (a `BytesMut`, a `&mut [u8]`,
    /// a chain of buffers...), in pieces through a 4 KiB staging buffer on
    /// the stack; raw tensor rows of 4 KiB or more are put as they are. A
    /// `buf` whose `remaining_mut()` is shorter than the response is
    /// refused with [`Error::BufferTooSmall`] before anything is written.
    /// Returns the number of bytes put.
    ///
    /// For a `BytesMut`, [`encode_to_bytes_mut`](Self::encode_to_bytes_mut)
    /// is faster: one reservation, one contiguous write.
    ///
    /// # Errors
    ///
    /// [`Error::BufferTooSmall`] if `buf.remaining_mut()` is shorter than
    /// the response; nothing is put then.
    ///
    /// ```
    /// use bprwire::BatchPrediction;
    /// use bytes::BufMut;
    ///
    /// let enc = BatchPrediction::new().continuous(&[7], &[0.5_f32], &[1]).encoder()?;
    /// let (mut head, mut tail) = ([0u8; 10], [0u8; 64]);
    /// let mut out = (&mut head[..]).chain_mut(&mut tail[..]);
    /// let n = enc.encode_to_buf_mut(&mut out)?;
    /// let mut all = head.to_vec();
    /// all.extend_from_slice(&tail[..n - 10]);
    /// assert_eq!(all, enc.encode_to_vec());
    /// # Ok::<(), bprwire::Error>(())
    /// ```
    pub fn encode_to_buf_mut<B: BufMut + ?Sized>(&self, buf: &mut B) -> Result<usize, Error> {
        let len = self.encoded_len();
        crate::wire::check_room(len, buf.remaining_mut())?;
        let mut staging = [0u8; BUF_MUT_STAGING];
        let mut stage = Staged::new(&mut staging, |bytes: &[u8]| {
            buf.put_slice(bytes);
            Ok::<(), Infallible>(())
        });
        let Ok(()) = stage.response(self);
        let Ok(()) = stage.flush();
        Ok(len)
    }
}
