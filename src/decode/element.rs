//! Borrowed containers ([`List`], [`Set`], [`Map`]) over checked bytes, and
//! the element types they hold.
//!
//! A container is checked once, when the response is decoded; after that
//! its iterator only re-reads bytes known to be well formed, so iterating
//! cannot fail and allocates nothing.

use core::fmt;
use core::marker::PhantomData;

use super::reader::{Reader, Result};
use crate::kernels::Kernels;
use crate::wire::{ttype, PutHeader};

pub(crate) mod sealed {
    use super::super::reader::{Reader, Result};

    /// How one schema type is read (checked), and written back.
    pub trait Wire<'a>: Sized {
        /// Its type code.
        const TTYPE: u8;
        /// The fewest bytes one value takes on the wire.
        const MIN: usize;
        /// Every `MIN` bytes are a valid value (no per-element check):
        /// containers of it are checked by their size alone.
        const FIXED: bool = false;
        /// Reads and checks one value (after its field or container header).
        fn read(r: &mut Reader<'a>) -> Result<Self>;
        /// Re-reads one value from checked bytes (a view being iterated):
        /// `read` without building a `Result` (the structs with a fast
        /// path try it first).
        #[inline]
        fn read_checked(r: &mut Reader<'a>) -> Option<Self> {
            let value = Self::read(r);
            debug_assert!(value.is_ok(), "re-reading checked bytes failed");
            value.ok()
        }
        /// For a `FIXED` type: the value in exactly `MIN` checked bytes.
        /// Iterators over fixed-size containers use it instead of `read`.
        fn from_fixed(_b: &'a [u8]) -> Option<Self> {
            None
        }
        /// Writes the value back (the canonical encoding).
        fn write(&self, out: &mut Vec<u8>);
    }
}
use sealed::Wire;

/// A type that can be an element of a decoded container: `i64`, `i32`,
/// `f64`, `bool`, `&[u8]` (Thrift `binary`), `&str` (Thrift `string`,
/// checked to be UTF-8), and the decoded structs and containers.
pub trait Element<'a>: Wire<'a> {}
impl<'a, T: Wire<'a>> Element<'a> for T {}

/// A big-endian integer of the protocol.
macro_rules! be_integer {
    ($t:ty, $code:expr, $read:ident) => {
        impl<'a> Wire<'a> for $t {
            const TTYPE: u8 = $code;
            const MIN: usize = core::mem::size_of::<$t>();
            const FIXED: bool = true;
            fn read(r: &mut Reader<'a>) -> Result<Self> {
                r.$read()
            }
            #[inline(always)]
            fn from_fixed(b: &'a [u8]) -> Option<Self> {
                Some(<$t>::from_be_bytes(b.try_into().ok()?))
            }
            fn write(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
        }
    };
}
be_integer!(i64, ttype::I64, i64);
be_integer!(i32, ttype::I32, i32);

impl<'a> Wire<'a> for f64 {
    const TTYPE: u8 = ttype::DOUBLE;
    const MIN: usize = 8;
    const FIXED: bool = true;
    fn read(r: &mut Reader<'a>) -> Result<Self> {
        r.f64()
    }
    #[inline(always)]
    fn from_fixed(b: &'a [u8]) -> Option<Self> {
        Some(f64::from_bits(u64::from_be_bytes(b.try_into().ok()?)))
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bits().to_be_bytes());
    }
}

impl<'a> Wire<'a> for bool {
    const TTYPE: u8 = ttype::BOOL;
    const MIN: usize = 1;
    fn read(r: &mut Reader<'a>) -> Result<Self> {
        r.bool()
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

impl<'a> Wire<'a> for &'a [u8] {
    const TTYPE: u8 = ttype::STRING;
    const MIN: usize = 4;
    fn read(r: &mut Reader<'a>) -> Result<Self> {
        r.binary()
    }
    fn write(&self, out: &mut Vec<u8>) {
        put_binary(self, out);
    }
}

impl<'a> Wire<'a> for &'a str {
    const TTYPE: u8 = ttype::STRING;
    const MIN: usize = 4;
    fn read(r: &mut Reader<'a>) -> Result<Self> {
        r.string()
    }
    fn write(&self, out: &mut Vec<u8>) {
        put_binary(self.as_bytes(), out);
    }
}

pub(crate) fn put_binary(b: &[u8], out: &mut Vec<u8>) {
    // The length was read from an i32: it fits.
    out.i32(crate::wire::to_i32(b.len()));
    out.extend_from_slice(b);
}

/// A Thrift `list<T>` in the input: its element count and the bytes of its
/// elements, checked.
pub struct List<'a, T> {
    bytes: &'a [u8],
    len: usize,
    _t: PhantomData<fn() -> T>,
}

// Manual impls: a derive would demand `T: Clone`.
impl<T> Clone for List<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for List<'_, T> {}

impl<'a, T: Element<'a>> List<'a, T> {
    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the list has no element.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements' bytes as they are on the wire (big-endian for numbers).
    #[inline]
    pub fn wire_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The elements, in wire order. Cannot fail: they were checked when
    /// the response was decoded.
    #[inline]
    pub fn iter(&self) -> Iter<'a, T> {
        Iter {
            rest: self.bytes,
            left: self.len,
            _t: PhantomData,
        }
    }

    /// Reads the container header (element type, size) and checks every
    /// element.
    fn read_as(r: &mut Reader<'a>) -> Result<Self> {
        r.enter()?;
        r.expect_type(T::TTYPE)?;
        let len = r.size(T::MIN)?;
        let start = r.pos();
        if T::FIXED {
            // size() checked len * MIN <= remaining.
            r.bytes(len * T::MIN)?;
        } else {
            for _ in 0..len {
                T::read(r)?;
            }
        }
        r.leave();
        Ok(List {
            bytes: r.since(start),
            len,
            _t: PhantomData,
        })
    }

    pub(crate) fn from_parts(bytes: &'a [u8], len: usize) -> Self {
        List {
            bytes,
            len,
            _t: PhantomData,
        }
    }

    fn write_as(&self, out: &mut Vec<u8>) {
        out.list(T::TTYPE, self.len);
        for e in self.iter() {
            e.write(out);
        }
    }
}

impl<'a, T: Element<'a>> Wire<'a> for List<'a, T> {
    const TTYPE: u8 = ttype::LIST;
    const MIN: usize = 5;
    fn read(r: &mut Reader<'a>) -> Result<Self> {
        Self::read_as(r)
    }
    fn write(&self, out: &mut Vec<u8>) {
        self.write_as(out);
    }
}

impl<'a, T: Element<'a>> IntoIterator for List<'a, T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<'a, T: Element<'a> + fmt::Debug> fmt::Debug for List<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a, T: Element<'a> + PartialEq> PartialEq for List<'a, T> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

macro_rules! fixed_list {
    ($t:ty, $w:expr, $swap:ident, $doc:literal) => {
        impl<'a> List<'a, $t> {
            /// Element `i`, if in range (read from its big-endian bytes).
            #[inline]
            pub fn get(&self, i: usize) -> Option<$t> {
                let b = self.bytes.get(i.checked_mul($w)?..)?.get(..$w)?;
                Some(<$t>::from_be_bytes(b.try_into().ok()?))
            }

            #[doc = $doc]
            pub fn to_vec(&self) -> Vec<$t> {
                let mut v: Vec<$t> = vec![Default::default(); self.len];
                Kernels::best().$swap(self.bytes, bytemuck::cast_slice_mut(&mut v));
                v
            }
        }
    };
}
fixed_list!(
    i64,
    8,
    swap8,
    "The elements in native order, byte-swapped by the SIMD kernels in one pass."
);
fixed_list!(
    f64,
    8,
    swap8,
    "The elements in native order, byte-swapped by the SIMD kernels in one pass."
);
fixed_list!(
    i32,
    4,
    swap4,
    "The elements in native order, byte-swapped by the SIMD kernels in one pass."
);

/// Iterator over a [`List`] or [`Set`].
pub struct Iter<'a, T> {
    /// The elements not yet returned (checked bytes).
    rest: &'a [u8],
    left: usize,
    _t: PhantomData<fn() -> T>,
}

impl<'a, T: Element<'a>> Iterator for Iter<'a, T> {
    type Item = T;
    #[inline]
    fn next(&mut self) -> Option<T> {
        if T::FIXED {
            // Exactly `len` elements' bytes (checked): they end with them.
            return next_checked(&mut self.rest);
        }
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        next_checked(&mut self.rest)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = if T::FIXED {
            self.rest.len() / T::MIN
        } else {
            self.left
        };
        (left, Some(left))
    }
}

impl<'a, T: Element<'a>> ExactSizeIterator for Iter<'a, T> {}

/// Re-reads one checked value of `T` at the start of `rest` and moves past
/// it: fixed-size values straight from their bytes, others through a
/// reader of checked bytes.
#[inline(always)]
fn next_checked<'a, T: Wire<'a>>(rest: &mut &'a [u8]) -> Option<T> {
    if T::FIXED {
        if rest.len() < T::MIN {
            return None;
        }
        let (b, tail) = rest.split_at(T::MIN);
        *rest = tail;
        return T::from_fixed(b);
    }
    let mut r = Reader::checked(rest);
    let value = T::read_checked(&mut r)?;
    *rest = rest.get(r.pos()..)?;
    Some(value)
}

/// A Thrift `set<T>` in the input: a [`List`] with the set type code.
/// Elements come in wire order; a repeated element is kept as it is.
pub struct Set<'a, T>(pub List<'a, T>);

impl<T> Clone for Set<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Set<'_, T> {}

impl<'a, T> core::ops::Deref for Set<'a, T> {
    type Target = List<'a, T>;
    fn deref(&self) -> &List<'a, T> {
        &self.0
    }
}

impl<'a, T: Element<'a>> Wire<'a> for Set<'a, T> {
    const TTYPE: u8 = ttype::SET;
    const MIN: usize = 5;
    fn read(r: &mut Reader<'a>) -> Result<Self> {
        List::read_as(r).map(Set)
    }
    fn write(&self, out: &mut Vec<u8>) {
        self.0.write_as(out);
    }
}

impl<'a, T: Element<'a> + fmt::Debug> fmt::Debug for Set<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl<'a, T: Element<'a> + PartialEq> PartialEq for Set<'a, T> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

/// A Thrift `map<K, V>` in the input. Entries come in wire order; a
/// repeated key is kept as it is (the reference decoder keeps the last).
pub struct Map<'a, K, V> {
    bytes: &'a [u8],
    len: usize,
    _kv: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for Map<'_, K, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K, V> Copy for Map<'_, K, V> {}

impl<'a, K: Element<'a>, V: Element<'a>> Map<'a, K, V> {
    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the map has no entry.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entries' bytes as they are on the wire.
    #[inline]
    pub fn wire_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub(crate) fn from_parts(bytes: &'a [u8], len: usize) -> Self {
        Map {
            bytes,
            len,
            _kv: PhantomData,
        }
    }

    /// The entries, in wire order. Cannot fail (checked at decode).
    #[inline]
    pub fn iter(&self) -> MapIter<'a, K, V> {
        MapIter {
            rest: self.bytes,
            fixed: self.bytes.chunks_exact((K::MIN + V::MIN).max(1)),
            left: self.len,
            _kv: PhantomData,
        }
    }
}

impl<'a, K: Element<'a>, V: Element<'a>> Wire<'a> for Map<'a, K, V> {
    const TTYPE: u8 = ttype::MAP;
    const MIN: usize = 6;
    fn read(r: &mut Reader<'a>) -> Result<Self> {
        r.enter()?;
        r.expect_type(K::TTYPE)?;
        r.expect_type(V::TTYPE)?;
        let len = r.size(K::MIN + V::MIN)?;
        let start = r.pos();
        if K::FIXED && V::FIXED {
            r.bytes(len * (K::MIN + V::MIN))?;
        } else {
            for _ in 0..len {
                K::read(r)?;
                V::read(r)?;
            }
        }
        r.leave();
        Ok(Map {
            bytes: r.since(start),
            len,
            _kv: PhantomData,
        })
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.map(K::TTYPE, V::TTYPE, self.len);
        for (k, v) in self.iter() {
            k.write(out);
            v.write(out);
        }
    }
}

impl<'a, K: Element<'a>, V: Element<'a>> IntoIterator for Map<'a, K, V> {
    type Item = (K, V);
    type IntoIter = MapIter<'a, K, V>;
    fn into_iter(self) -> MapIter<'a, K, V> {
        self.iter()
    }
}

impl<'a, K: Element<'a> + fmt::Debug, V: Element<'a> + fmt::Debug> fmt::Debug for Map<'a, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<'a, K: Element<'a> + PartialEq, V: Element<'a> + PartialEq> PartialEq for Map<'a, K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

/// Iterator over a [`Map`]'s entries.
pub struct MapIter<'a, K, V> {
    /// The entries not yet returned (checked bytes).
    rest: &'a [u8],
    /// The same as chunks of one entry, when keys and values are
    /// fixed-size (then `rest` is not used): exactly `len` of them.
    fixed: core::slice::ChunksExact<'a, u8>,
    left: usize,
    _kv: PhantomData<fn() -> (K, V)>,
}

impl<'a, K: Element<'a>, V: Element<'a>> Iterator for MapIter<'a, K, V> {
    type Item = (K, V);
    #[inline]
    fn next(&mut self) -> Option<(K, V)> {
        if K::FIXED && V::FIXED {
            let (k, v) = self.fixed.next()?.split_at(K::MIN);
            return Some((K::from_fixed(k)?, V::from_fixed(v)?));
        }
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let k = next_checked(&mut self.rest)?;
        Some((k, next_checked(&mut self.rest)?))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = if K::FIXED && V::FIXED {
            self.fixed.len()
        } else {
            self.left
        };
        (left, Some(left))
    }
}

impl<'a, K: Element<'a>, V: Element<'a>> ExactSizeIterator for MapIter<'a, K, V> {}
