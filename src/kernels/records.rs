//! What surrounds each record's continuous entries ([`Records`]): the
//! argument of every level's continuous kernels.

/// What surrounds each record's continuous entries, for
/// [`Kernels::continuous_f32`](super::Kernels::continuous_f32) and
/// [`Kernels::continuous_f64`](super::Kernels::continuous_f64). The
/// kernels write whole records: a caller that needs a record in pieces
/// (the staging sink, for a record larger than its buffer) makes each
/// piece a record of its own.
#[derive(Clone, Copy, Debug)]
pub struct Records<'k> {
    /// Written before each record's entries: the `continuousFeatures` field
    /// header and the map header (`0D 00 02 0A 04 <n>`).
    pub head: [u8; Records::HEAD],
    /// The map keys in native order; the kernel writes them big-endian.
    pub keys: &'k [i64],
    /// Whether a STOP byte (the end of the `DataRecord`) follows each
    /// record's entries.
    pub stop: bool,
}

impl Records<'_> {
    /// Bytes of a record's head: a field header and a map header.
    pub const HEAD: usize = crate::wire::FIELD_HEADER + crate::wire::MAP_HEADER;
    /// Bytes of one entry: the `i64` key and the `f64` value.
    pub const ENTRY: usize = crate::wire::CONTINUOUS_ENTRY;

    /// Output bytes of one record: head, [`Records::ENTRY`] per key, and
    /// the STOP if any.
    #[inline]
    pub fn record_len(&self) -> usize {
        Records::HEAD + Records::ENTRY * self.keys.len() + self.stop as usize
    }

    /// The number of records a destination of `dst_len` bytes holds, checking
    /// that `values_len` bytes hold exactly their values (`elem` bytes each).
    /// Panics otherwise: the planner computes both, so a mismatch is a bug.
    #[inline]
    pub(crate) fn rows(&self, values_len: usize, dst_len: usize, elem: usize) -> usize {
        let rows = dst_len / self.record_len();
        assert!(
            dst_len == rows * self.record_len() && values_len == rows * self.keys.len() * elem,
            "continuous kernel: bad lengths"
        );
        rows
    }
}
