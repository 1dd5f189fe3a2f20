//! A generated feature layout scattering arbitrary bytes. The input is a
//! length byte `n`, `n` bytes from which `arbitrary` builds a layout spec,
//! then the request bytes. For any input:
//! - no panic; a layout is refused only for a repeated id;
//! - bytes `decode_request` refuses are refused by `scatter_bytes` with the
//!   same decode error, the outputs untouched;
//! - an accepted request scatters, at every kernel level this CPU has, to
//!   the bits the naive scatter over the reference decoder's structs gives
//!   (`bprwire_reference::naive`), or to the same tensor error (record and
//!   feature id), and writes nothing past its rows;
//! - scattering allocates nothing (a counting allocator checks it).

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use bprwire::decode::decode_request;
use bprwire::features::{Array, Buffers, FeatureError, FeatureLayout, LayoutError, OutputType};
use bprwire::Level;
use bprwire_reference::alloc_count::{allocated_by, Counting};
use bprwire_reference::naive::{self, as_naive, bits, NaiveError, NaiveLayout};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Ids from a small pool, so that generated layouts and requests meet.
fn id(b: u8) -> i64 {
    match b % 16 {
        12 => i64::MIN,
        13 => i64::MAX,
        14 => -1,
        15 => 0x5D8A_3F11_0C2B_7E44,
        n => i64::from(n),
    }
}

fn ids(v: &[u8]) -> Vec<i64> {
    v.iter().take(24).map(|&b| id(b)).collect()
}

fn dtype(b: u8, of: &[OutputType]) -> OutputType {
    of[b as usize % of.len()]
}

#[derive(Arbitrary, Debug)]
struct Spec {
    continuous: Option<(Vec<u8>, u8, f64)>,
    binary: Option<(Vec<u8>, u8)>,
    discrete: Option<(Vec<u8>, i64)>,
    tensors: Vec<(u8, u8, u8)>,
}

impl Spec {
    fn layout(&self) -> Result<FeatureLayout, LayoutError> {
        use OutputType::*;
        let mut l = FeatureLayout::builder();
        if let Some((v, t, d)) = &self.continuous {
            l = l.continuous(&ids(v), dtype(*t, &[F32, F64]), *d);
        }
        if let Some((v, t)) = &self.binary {
            l = l.binary(&ids(v), dtype(*t, &[F32, I64, U8]));
        }
        if let Some((v, d)) = &self.discrete {
            l = l.discrete(&ids(v), *d);
        }
        for (i, w, t) in self.tensors.iter().take(4) {
            l = l.tensor(id(*i), usize::from(*w % 6), dtype(*t, &[F32, F64, I64]));
        }
        l.build()
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (spec, bytes) = rest.split_at(usize::from(n).min(rest.len()));
    let Ok(spec) = Spec::arbitrary(&mut Unstructured::new(spec)) else {
        return;
    };
    let layout = match spec.layout() {
        Ok(l) => l,
        Err(e) => {
            assert!(matches!(e, LayoutError::RepeatedId { .. }), "{e}");
            return;
        }
    };
    let request = match decode_request(bytes) {
        Ok(r) => r,
        Err(e) => {
            let mut buffers = Buffers::new(&layout, 1).unwrap();
            let got = layout.scatter_bytes(bytes, &mut buffers.outputs());
            assert_eq!(got, Err(FeatureError::Decode(e)));
            return;
        }
    };
    let rows = request.len();
    let columns = layout.continuous_ids().len()
        + layout.binary_ids().len()
        + layout.discrete_ids().len()
        + layout.tensors().iter().map(|t| t.width).sum::<usize>();
    if (rows + 1).saturating_mul(columns) > 1 << 20 {
        return;
    }
    // The reference refuses only what bprwire skips (an unknown STRING
    // that is not UTF-8): then there is nothing to compare with.
    let Ok(reference) = bprwire_reference::deserialize_request(bytes) else {
        return;
    };
    let want = naive::scatter(&NaiveLayout::new(&layout), &reference);
    for level in Level::available() {
        let mut buffers = Buffers::new(&layout, rows + 1).unwrap();
        let mut outputs = buffers.outputs();
        let (got, allocated) = allocated_by(|| layout.scatter_with(&request, &mut outputs, level));
        assert_eq!(allocated, 0, "scatter allocated {allocated} bytes");
        drop(outputs);
        let want = match (got, &want) {
            (Ok(done), Ok(w)) => {
                assert_eq!(done.rows, rows);
                w
            }
            (Err(e), Err(w)) => {
                // The same record; with two bad tensors in one record,
                // bprwire names the first on the wire, the naive scatter the
                // first in key order, which may be another one.
                let location = |n: &NaiveError| match *n {
                    NaiveError::Width { at, .. }
                    | NaiveError::Type { at, .. }
                    | NaiveError::RawContent { at, .. } => Some(at),
                    NaiveError::Decode(_) => None,
                };
                assert_eq!(as_naive(&e).as_ref().and_then(location), location(w), "{e}");
                continue;
            }
            (got, want) => panic!("bprwire {got:?}, naive {want:?}"),
        };
        let check = |got: Option<&Array>, want: &Option<Array>, n: usize| match (got, want) {
            (Some(g), Some(w)) => {
                assert_eq!(bits(g, rows * n), bits(w, rows * n));
                assert!(
                    bits(g, g.len())[rows * n..].iter().all(|&b| b == 0),
                    "wrote past its rows"
                );
            }
            (None, None) => {}
            _ => panic!("one side has no array"),
        };
        check(
            buffers.continuous(),
            &want.continuous,
            layout.continuous_ids().len(),
        );
        check(buffers.binary(), &want.binary, layout.binary_ids().len());
        check(buffers.discrete(), &want.discrete, layout.discrete_ids().len());
        for (t, (id, w)) in layout.tensors().iter().zip(&want.tensors) {
            check(buffers.tensor(*id), &Some(w.clone()), t.width);
        }
    }
});
