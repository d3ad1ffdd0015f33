//! A map from a key's hash to a slot: the order-id index of the arena,
//! and each ladder's index from price to level.
//!
//! Open addressing with linear probing over a power-of-two array of 64-bit
//! entries. Each entry holds the low 32 bits of the key's hash (which fix
//! its home bucket and double as a fingerprint) and the slot:
//!
//! ```text
//!  63                 32 31                  0
//! +----------------------+--------------------+
//! |  hash bits 0..32     |  slot              |    EMPTY = all ones
//! +----------------------+--------------------+
//! ```
//!
//! Why not a general-purpose table (`hashbrown`, behind std's `HashMap`,
//! which the symbol map uses):
//! - **No tombstones, so no rehash stalls.** Removal shifts the following
//!   run back (backward-shift deletion). hashbrown marks deleted buckets and,
//!   once they pile up near capacity, rehashes the whole table in place on
//!   the matcher thread: milliseconds for a million-order book.
//! - **Prefetch.** The bucket of a key is an address the matcher can compute
//!   ahead of time. [`SlotIndex::prefetch`] lets it pull the bucket of the
//!   next command into cache while it works on this one; at a few million
//!   live orders the index no longer fits in cache and each probe otherwise
//!   costs a memory round trip.
//! - **Probes stay inside the index.** 32 stored hash bits reject almost
//!   every non-matching entry without touching the slots' own memory.
//!
//! The load factor is kept at or below one half, so a probe reads 1.5
//! entries on average, almost always one cache line. The table grows
//! (doubling, which allocates) only if live keys exceed the capacity it was
//! made with. It is never iterated, so its layout cannot leak into outputs.
//!
//! This module knows nothing about orders or prices; the caller supplies
//! equality and each slot's hash.

use crate::slot::NIL;

const EMPTY: u64 = u64::MAX;

/// Maps key hashes to slots.
pub(crate) struct SlotIndex {
    entries: Vec<u64>,
    mask: usize,
    len: usize,
}

impl Clone for SlotIndex {
    fn clone(&self) -> SlotIndex {
        SlotIndex {
            entries: self.entries.clone(),
            mask: self.mask,
            len: self.len,
        }
    }

    fn clone_from(&mut self, source: &SlotIndex) {
        self.entries.clone_from(&source.entries);
        self.mask = source.mask;
        self.len = source.len;
    }
}

fn entry(hash: u64, slot: u32) -> u64 {
    (hash << 32) | u64::from(slot)
}

fn entry_slot(entry: u64) -> u32 {
    entry as u32
}

fn entry_hash_bits(entry: u64) -> u32 {
    (entry >> 32) as u32
}

impl SlotIndex {
    /// An index for `capacity` keys before it must grow. Its memory is
    /// written (to EMPTY) here, so it is mapped before the first key.
    pub fn with_capacity(capacity: usize) -> SlotIndex {
        let buckets = (capacity.max(8) * 2).next_power_of_two();
        SlotIndex {
            entries: vec![EMPTY; buckets],
            mask: buckets - 1,
            len: 0,
        }
    }

    fn home(&self, hash_bits: u32) -> usize {
        hash_bits as usize & self.mask
    }

    /// The slot stored under `hash` for which `is_key(slot)` holds.
    pub fn find(&self, hash: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        let bits = hash as u32;
        let mut at = self.home(bits);
        loop {
            let e = self.entries[at];
            if e == EMPTY {
                return None;
            }
            if entry_hash_bits(e) == bits && is_key(entry_slot(e)) {
                return Some(entry_slot(e));
            }
            at = (at + 1) & self.mask;
        }
    }

    /// Stores `slot` under `hash`. The caller has checked the key is absent.
    /// `hash_of(slot)` gives any stored slot's hash, for growing.
    pub fn insert(&mut self, hash: u64, slot: u32, hash_of: impl Fn(u32) -> u64) {
        debug_assert_ne!(slot, NIL);
        if (self.len + 1) * 2 > self.entries.len() {
            self.grow(hash_of);
        }
        self.place(hash, slot);
    }

    /// Puts an entry in the first free bucket of its run; no growth check.
    fn place(&mut self, hash: u64, slot: u32) {
        let mut at = self.home(hash as u32);
        while self.entries[at] != EMPTY {
            at = (at + 1) & self.mask;
        }
        self.entries[at] = entry(hash, slot);
        self.len += 1;
    }

    /// Removes the entry for `slot` stored under `hash`; returns whether it
    /// was there.
    pub fn remove(&mut self, hash: u64, slot: u32) -> bool {
        let bits = hash as u32;
        let mut at = self.home(bits);
        loop {
            let e = self.entries[at];
            if e == EMPTY {
                return false;
            }
            if entry_slot(e) == slot {
                break;
            }
            at = (at + 1) & self.mask;
        }
        // Backward shift: walk the rest of the run and pull back every entry
        // whose home is not between the hole and its current bucket, so no
        // probe ever meets a gap before reaching its key.
        let mut hole = at;
        let mut next = at;
        loop {
            next = (next + 1) & self.mask;
            let e = self.entries[next];
            if e == EMPTY {
                break;
            }
            let home = self.home(entry_hash_bits(e));
            let stays = if hole <= next {
                hole < home && home <= next
            } else {
                hole < home || home <= next
            };
            if !stays {
                self.entries[hole] = e;
                hole = next;
            }
        }
        self.entries[hole] = EMPTY;
        self.len -= 1;
        true
    }

    /// Hints the CPU to fetch the bucket `hash` starts probing at.
    pub fn prefetch(&self, hash: u64) {
        let at = self.home(hash as u32);
        prefetch_read(self.entries.as_ptr().wrapping_add(at).cast());
    }

    /// Makes room for `keys` keys, so inserts up to that many never grow
    /// the table. `hash_of(slot)` gives any stored slot's hash.
    pub fn reserve(&mut self, keys: usize, hash_of: impl Fn(u32) -> u64) {
        while keys * 2 > self.entries.len() {
            self.grow(&hash_of);
        }
    }

    fn grow(&mut self, hash_of: impl Fn(u32) -> u64) {
        let doubled = vec![EMPTY; self.entries.len() * 2];
        let old = std::mem::replace(&mut self.entries, doubled);
        self.mask = self.entries.len() - 1;
        self.len = 0;
        for e in old.into_iter().filter(|&e| e != EMPTY) {
            let slot = entry_slot(e);
            self.place(hash_of(slot), slot);
        }
    }
}

/// A read prefetch into all cache levels; a no-op where there is no such
/// instruction.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)] // the crate's only unsafe block; see SAFETY
pub(crate) fn prefetch_read(address: *const i8) {
    // SAFETY: `_mm_prefetch` needs SSE, which is part of the x86_64 baseline
    // (every x86_64 CPU has it), and it is only a cache hint: it never
    // dereferences `address`, so any pointer value is sound.
    unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address) };
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn prefetch_read(_address: *const i8) {}

#[cfg(any(test, feature = "validate"))]
impl SlotIndex {
    /// Checks the table against itself and its owner, and returns the
    /// stored slots: a power-of-two array at most half full, `len` entries,
    /// no slot stored twice, each entry's hash bits those of
    /// `hash_of(slot)` (`None`: the owner says the slot should not be
    /// here), and each entry reachable from its home bucket without
    /// crossing an empty one, which is what `find` relies on.
    pub fn validate(&self, hash_of: impl Fn(u32) -> Option<u64>) -> Result<Vec<u32>, String> {
        let buckets = self.entries.len();
        if !buckets.is_power_of_two() || self.mask != buckets - 1 {
            return Err(format!("{buckets} buckets with mask {:#x}", self.mask));
        }
        if self.len * 2 > buckets {
            return Err(format!("{} keys in {buckets} buckets", self.len));
        }
        let mut slots = Vec::with_capacity(self.len);
        for (at, &e) in self.entries.iter().enumerate() {
            if e == EMPTY {
                continue;
            }
            let slot = entry_slot(e);
            let Some(hash) = hash_of(slot) else {
                return Err(format!(
                    "bucket {at} holds slot {slot}, which should not be indexed"
                ));
            };
            if entry_hash_bits(e) != hash as u32 {
                return Err(format!(
                    "bucket {at}: slot {slot} is filed under another hash"
                ));
            }
            let mut probe = self.home(entry_hash_bits(e));
            while probe != at {
                if self.entries[probe] == EMPTY {
                    return Err(format!(
                        "slot {slot} in bucket {at} is cut off from its home by an empty bucket {probe}"
                    ));
                }
                probe = (probe + 1) & self.mask;
            }
            slots.push(slot);
        }
        if slots.len() != self.len {
            return Err(format!("{} entries, len {}", slots.len(), self.len));
        }
        let mut sorted = slots.clone();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("slot {} is indexed twice", w[0]));
        }
        Ok(slots)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    /// Keys are slot numbers; their "hash" is chosen by the test so that
    /// collisions and wrap-around runs are common.
    fn check(ops: Vec<(bool, u32)>, hash_bits: u32) {
        let hash = |slot: u32| -> u64 {
            // Few distinct homes (hash_bits) force long, overlapping runs.
            let home = u64::from(slot % hash_bits.max(1)).wrapping_mul(0x9e37_79b9);
            (home << 32) | (home & 0xffff_ffff) ^ u64::from(slot) << 20
        };
        let mut index = SlotIndex::with_capacity(4);
        let mut model: HashMap<u32, ()> = HashMap::new();
        for (insert, slot) in ops {
            if insert && !model.contains_key(&slot) {
                index.insert(hash(slot), slot, hash);
                model.insert(slot, ());
            } else if !insert {
                assert_eq!(
                    index.remove(hash(slot), slot),
                    model.remove(&slot).is_some()
                );
            }
            assert_eq!(index.len, model.len());
            for probe in 0..64 {
                let found = index.find(hash(probe), |s| s == probe);
                assert_eq!(found.is_some(), model.contains_key(&probe), "slot {probe}");
            }
        }
    }

    proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(1_000))]

        #[test]
        fn behaves_like_a_map_under_inserts_and_removes(
            ops in prop::collection::vec((any::<bool>(), 0u32..64), 0..300),
            hash_bits in 1u32..40,
        ) {
            check(ops, hash_bits);
        }
    }

    #[test]
    fn removal_at_the_end_of_a_wrapped_run_keeps_the_rest_findable() {
        // Three keys homed at the last bucket wrap around to 0 and 1.
        let mut index = SlotIndex::with_capacity(4); // 8 buckets
        let last = 7u64;
        let hash = |slot: u32| last | (u64::from(slot) << 8);
        for slot in 0..3 {
            index.insert(hash(slot), slot, hash);
        }
        assert!(index.remove(hash(0), 0));
        for slot in 1..3 {
            assert_eq!(index.find(hash(slot), |s| s == slot), Some(slot));
        }
    }

    #[test]
    fn grows_past_its_capacity() {
        let hash = |slot: u32| u64::from(slot).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut index = SlotIndex::with_capacity(8);
        for slot in 0..1000 {
            index.insert(hash(slot), slot, hash);
        }
        assert!((0..1000).all(|s| index.find(hash(s), |x| x == s) == Some(s)));
    }

    #[test]
    fn a_reserved_index_takes_that_many_keys_without_growing() {
        let hash = |slot: u32| u64::from(slot).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut index = SlotIndex::with_capacity(8);
        index.insert(hash(0), 0, hash);
        index.reserve(1000, hash);
        let buckets = index.entries.len();
        for slot in 1..1000 {
            index.insert(hash(slot), slot, hash);
        }
        assert_eq!(index.entries.len(), buckets);
        assert!((0..1000).all(|s| index.find(hash(s), |x| x == s) == Some(s)));
    }
}
