//! The id → column table of one feature kind: open addressing over a
//! power-of-two array at most an eighth full (half full for very large id
//! sets), probed linearly (without
//! wrapping around: probes that run past the end go on into a tail of
//! extra slots) from a multiplicative hash of the id.
//!
//! No run of occupied slots is longer than [`MAX_RUN`], so no lookup costs
//! more than that many probes whatever the ids: a layout whose ids were
//! chosen to collide under the fixed multiplier is built again with a
//! random one (see [`IdTable::new`]).
//!
//! Why this and not a `HashMap`: the id set is known when the layout is
//! built and never changes, ids are already well-spread 64-bit hashes in
//! twml (and small integers in tests, which the multiply spreads), and a
//! lookup is the inner loop of the scatter. A hit costs one multiply, one
//! shift, one load and one compare; a miss stops at the first empty slot.
//! At a load of 1/8, a hit needs about 1.07 probes on average (1.5 at half
//! load, which cost R3 1.56 probes and 17 instructions per lookup;
//! docs/benchmarks.md has the measurements). A slot is 16 bytes: 128 bytes
//! per id at most while the table is sparse.

/// What an empty slot holds as its column, and what [`IdTable::get`]
/// returns for an id the table does not have.
pub(crate) const MISSING: usize = usize::MAX;

/// Fibonacci hashing: 2^64 / φ, odd. The first multiplier every table
/// tries, so that a layout's table is the same from run to run unless its
/// ids defeat it.
const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

/// The longest run of occupied slots a table may have. A lookup, hit or
/// miss, stops at the end of the run its home slot is in, so no lookup
/// probes more than this many slots, whatever ids a request holds.
///
/// Random ids reach it with odds far below one in a million even in a
/// table half full (where a run of `k` slots has odds about `e^(-0.19 k)`
/// per slot); ids chosen to collide under one multiplier reach it at
/// once, and the table is built again with another ([`ATTEMPTS`]).
const MAX_RUN: usize = 128;

/// Multipliers tried before the last attempt, which accepts any run
/// length: [`MIX`], then random odd ones. Ids that defeat a random
/// multiplier they cannot know 15 times in a row are not a practical
/// attack; the last attempt is there so that building always ends.
const ATTEMPTS: usize = 16;

#[derive(Clone, Copy, Debug)]
struct Slot {
    id: i64,
    column: usize,
}

/// A fixed set of ids, each with its column.
#[derive(Clone, Debug)]
pub(crate) struct IdTable {
    slots: Box<[Slot]>,
    /// The hash multiplier (odd): [`MIX`] unless the ids defeated it.
    mult: u64,
    /// `64 - log2(home slots)`: the hash is the top bits of the product.
    shift: u32,
}

/// Why one attempt at a table failed.
enum Failed {
    /// An id appears twice: the id and its two positions.
    Repeated((i64, usize, usize)),
    /// A run of occupied slots grew past [`MAX_RUN`].
    RunTooLong,
}

impl IdTable {
    /// The table of `ids`, column `i` for `ids[i]`. A repeated id is
    /// refused: the error is the id and its two positions.
    ///
    /// Building takes `O(n · MAX_RUN)` per attempt at worst, and no
    /// lookup in the result probes more than [`MAX_RUN`] slots: ids
    /// chosen so that their hashes share a home slot (hash flooding)
    /// make the first attempt fail fast, and the next one hashes with a
    /// random multiplier.
    ///
    /// (Choosing the multiplier among 16 for the fewest probes past the
    /// home slots was tried: on R1's 5,293 ids it cut them from 0.237 to
    /// 0.218 per id, and R1 by 0.6% of its instructions; not kept.)
    pub(crate) fn new(ids: &[i64]) -> Result<IdTable, (i64, usize, usize)> {
        // At most an eighth full while that takes at most 2^20 slots (16
        // MiB), at most half full beyond; at least 8 slots so the shift
        // stays below 64. On R1 (5,293 ids, 1 MiB of slots) an eighth
        // beat a quarter by 14% in wall time and 2% in instructions.
        let sparse = (ids.len() * 8).next_power_of_two().max(8);
        let homes = if sparse <= 1 << 20 {
            sparse
        } else {
            (ids.len() * 2).next_power_of_two()
        };
        // Empty slots hold an id that is not in the set: then a lookup of
        // that id stops at an empty slot and finds MISSING, as it should.
        let empty = Slot {
            id: smallest_absent(ids),
            column: MISSING,
        };
        let random = std::collections::hash_map::RandomState::new();
        let mut mult = MIX;
        for attempt in 1..=ATTEMPTS {
            let max_run = if attempt < ATTEMPTS { MAX_RUN } else { usize::MAX };
            match IdTable::attempt(ids, homes, mult, empty, max_run) {
                Ok(table) => return Ok(table),
                Err(Failed::Repeated(e)) => return Err(e),
                Err(Failed::RunTooLong) => {
                    mult = std::hash::BuildHasher::hash_one(&random, attempt) | 1;
                }
            }
        }
        unreachable!("the last attempt accepts any run length")
    }

    /// One attempt with multiplier `mult`: fails as soon as a run of
    /// occupied slots grows past `max_run`.
    fn attempt(ids: &[i64], homes: usize, mult: u64, empty: Slot, max_run: usize) -> Result<IdTable, Failed> {
        // Runs that start near the end go on into a tail of extra slots
        // (no wrapping around). A run holds at most `max_run` slots and
        // at most every id, so the last slot stays empty: every probe
        // ends inside the table.
        let tail = max_run.min(ids.len()) + 1;
        let mut table = IdTable {
            slots: vec![empty; homes + tail].into_boxed_slice(),
            mult,
            shift: 64 - homes.trailing_zeros(),
        };
        for (column, &id) in ids.iter().enumerate() {
            let home = table.home(id);
            let mut i = home;
            loop {
                let slot = &mut table.slots[i];
                if slot.column == MISSING {
                    *slot = Slot { id, column };
                    break;
                }
                if slot.id == id {
                    return Err(Failed::Repeated((id, slot.column, column)));
                }
                i += 1;
                if i - home >= max_run {
                    return Err(Failed::RunTooLong);
                }
            }
        }
        if table.longest_run() > max_run {
            return Err(Failed::RunTooLong);
        }
        Ok(table)
    }

    /// The longest run of occupied slots: the most slots any lookup
    /// probes.
    pub(crate) fn longest_run(&self) -> usize {
        let (mut longest, mut run) = (0, 0);
        for slot in self.slots.iter() {
            run = if slot.column == MISSING { 0 } else { run + 1 };
            longest = longest.max(run);
        }
        longest
    }

    #[inline(always)]
    fn home(&self, id: i64) -> usize {
        ((id as u64).wrapping_mul(self.mult) >> self.shift) as usize
    }

    /// The column of `id`, or [`MISSING`]. Callers index their row with
    /// the result through `get_mut`, so the miss costs no extra branch.
    ///
    /// The first two probes are inline (at a load of 1/8 they settle
    /// nearly every lookup); the rest of the probe sequence is out
    /// of line, so the inlined part stays small. Measured on R3 (iai):
    /// one inline probe cost 2.5 instructions more per lookup, a loop 2.0.
    #[inline(always)]
    pub(crate) fn get(&self, id: i64) -> usize {
        let i = self.home(id);
        let first = self.slots[i];
        if first.id == id || first.column == MISSING {
            // Found, or an empty slot: `column` is the answer either way
            // (an empty slot's id is never in the set).
            return first.column;
        }
        // `i + 1` is a slot: the home slots are followed by at least one.
        let second = self.slots[i + 1];
        if second.id == id || second.column == MISSING {
            return second.column;
        }
        self.probe(id, i + 2)
    }

    /// Probes on from slot `i` (whose id is not `id`). Ends at an empty
    /// slot at the latest: the last slot is one.
    #[inline(never)]
    fn probe(&self, id: i64, mut i: usize) -> usize {
        while let Some(slot) = self.slots.get(i) {
            if slot.id == id || slot.column == MISSING {
                // An empty slot's id is never in the set: found or not,
                // `column` is the answer.
                return slot.column;
            }
            i += 1;
        }
        MISSING
    }
}

/// The smallest id `>= 0` not in `ids` (`O(n log n)`, once per layout).
fn smallest_absent(ids: &[i64]) -> i64 {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    let mut want = 0;
    for id in sorted {
        if id == want {
            want += 1;
        } else if id > want {
            break;
        }
    }
    want
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_finds_its_column_and_others_find_nothing() {
        for n in [0usize, 1, 2, 7, 8, 9, 100, 5293] {
            let ids: Vec<i64> = (0..n as i64).map(|i| i.wrapping_mul(-0x1234_5678_9abc)).collect();
            let t = IdTable::new(&ids).unwrap();
            for (c, &id) in ids.iter().enumerate() {
                assert_eq!(t.get(id), c);
            }
            for probe in [1i64, -1, i64::MIN, i64::MAX, 0x1234_5678_9abc] {
                if !ids.contains(&probe) {
                    assert_eq!(t.get(probe), MISSING);
                }
            }
        }
    }

    #[test]
    fn the_empty_slot_id_is_not_found_even_when_it_is_zero() {
        let t = IdTable::new(&[5, 6]).unwrap();
        assert_eq!(t.get(0), MISSING);
        let t = IdTable::new(&[0, 1, 2]).unwrap();
        assert_eq!((t.get(0), t.get(3)), (0, MISSING));
    }

    #[test]
    fn consecutive_ids_and_colliding_ids_are_all_found() {
        // Ids that differ only in high bits collide on the home slot of a
        // plain mask; the multiply spreads them, and probing covers the rest.
        let ids: Vec<i64> = (0..1000i64).map(|i| i << 40).chain(1..1000).collect();
        let t = IdTable::new(&ids).unwrap();
        assert!(ids.iter().enumerate().all(|(c, &id)| t.get(id) == c));
    }

    /// `x` with `x * MIX == 1` (mod 2^64), by Newton's iteration.
    fn mix_inverse() -> u64 {
        let mut x = MIX;
        for _ in 0..6 {
            x = x.wrapping_mul(2u64.wrapping_sub(MIX.wrapping_mul(x)));
        }
        assert_eq!(x.wrapping_mul(MIX), 1);
        x
    }

    #[test]
    fn ids_chosen_to_share_a_home_slot_are_rehashed_and_every_lookup_stays_short() {
        // 100,000 ids whose products with MIX are 0..100,000: all in home
        // slot 0 under the fixed multiplier (the hash-flooding layout that
        // took 14.5 s to build). The table gives up on MIX after one run
        // of MAX_RUN slots and hashes with a random multiplier.
        let inverse = mix_inverse();
        let ids: Vec<i64> = (0..100_000u64).map(|k| k.wrapping_mul(inverse) as i64).collect();
        assert!(ids.iter().all(|&id| (id as u64).wrapping_mul(MIX) >> 44 == 0));
        let t = IdTable::new(&ids).unwrap();
        assert_ne!(t.mult, MIX);
        assert!(t.longest_run() <= MAX_RUN, "a run of {} slots", t.longest_run());
        assert!(ids.iter().enumerate().all(|(c, &id)| t.get(id) == c));
        // Ids that are not in the set, chosen the same way, miss.
        let misses = (100_000..200_000u64).map(|k| k.wrapping_mul(inverse) as i64);
        assert!(misses.clone().all(|id| t.get(id) == MISSING));
    }

    #[test]
    fn ordinary_ids_keep_the_fixed_multiplier() {
        for n in [1usize, 100, 5293, 200_000] {
            let ids: Vec<i64> = (0..n as i64)
                .map(|i| i.wrapping_mul(0x2545_F491_4F6C_DD1D))
                .collect();
            let t = IdTable::new(&ids).unwrap();
            assert_eq!(t.mult, MIX, "{n} ids");
            assert!(t.longest_run() <= MAX_RUN);
        }
    }

    #[test]
    fn a_repeated_id_among_colliding_ids_is_still_refused() {
        let inverse = mix_inverse();
        let mut ids: Vec<i64> = (0..1000u64).map(|k| k.wrapping_mul(inverse) as i64).collect();
        ids.push(ids[700]);
        assert_eq!(IdTable::new(&ids).unwrap_err(), (ids[700], 700, 1000));
    }

    #[test]
    fn a_repeated_id_is_refused_with_both_positions() {
        assert_eq!(IdTable::new(&[3, 4, 3]).unwrap_err(), (3, 0, 2));
    }
}
