//! One side of one book: its price levels and their FIFO queues.
//!
//! # Data structure
//!
//! Levels live in a slab (`levels`), so an order names its level by slot and
//! a cancel reaches it in O(1). The price order is a separate vector of
//! `(key, slot)` sorted ascending by key, **best price last**. The key is the
//! price for bids and its bitwise complement for asks, so "best" is always
//! the largest key and one code path serves both sides.
//!
//! Levels that empty are not removed at once: they stay in the vector,
//! marked by `orders == 0`, until it pays to sweep them out. Only empties at
//! the best end are popped immediately, so **the last entry is always a live
//! level**. The sweep runs when empties exceed [`SWEEP_RATIO`] times the live
//! levels (plus [`SWEEP_SLACK`]), so memory stays bounded and its cost is
//! O(1) amortised per removal.
//!
//! Why a sorted vector with lazy removal:
//! - best price is `last()`; exhausting the best level (the common case when
//!   matching) is a `pop()`;
//! - orders churn across the whole book, not only at the top (the `ecore` mix
//!   moves random resting orders a few ticks). Eager removal would `memmove`
//!   half the side twice per move. With lazy removal a move usually re-fills
//!   an empty level that is already in place: a binary search, no shifting;
//! - a new price costs a binary search plus a `memmove` of the levels better
//!   than it, small for the top of the book and bounded by the side's size;
//! - it never allocates once its capacity is reached, and unlike a
//!   price-indexed array it has no price range to configure.
//!
//! A price that is already in `sorted` (a live level, or an empty one kept
//! in place) is found through `by_key`, a hash index from key to level slot,
//! in O(1): a binary search over a few thousand entries is a chain of a
//! dozen dependent loads, and it was a quarter of the `ecore` mix's time.
//! Only a price new to the side pays the binary search, to find where it
//! goes.
//!
//! Within a level, orders form a doubly-linked FIFO through their slots in the
//! order arena (`prev`/`next`), so unlinking any order is O(1).
//!
//! The side's depth (its best [`DEPTH_LEVELS`] live levels) is kept in step
//! with every level change rather than rebuilt per command: a change costs a
//! scan of at most five prices, and publishing depth becomes a comparison.
//!
//! This module keeps aggregates (quantity, order count) and the depth exact;
//! it does not decide who trades.

use crate::event::{DEPTH_LEVELS, DepthLevel, DepthSide};
use crate::index::SlotIndex;
use crate::orders::Orders;
use crate::slot::NIL;
use crate::types::{Price, Qty, Side};

/// A sweep runs when empty levels exceed `SWEEP_RATIO` times the live ones
/// plus `SWEEP_SLACK`. Keeping several empties per live level means a price
/// that was used recently usually still has its slot in place.
const SWEEP_RATIO: usize = 4;
const SWEEP_SLACK: usize = 64;

/// Prices a side's key index holds before it first grows.
const KEYS_AT_FIRST: usize = 64;

/// A price's sort key on `side`: larger key = better price, so "best" is
/// always the largest key.
fn key_on(side: Side, price: Price) -> u64 {
    match side {
        Side::Buy => price,
        Side::Sell => !price,
    }
}

/// The `by_key` hash of any level slot, for the index to re-file its
/// entries when it grows.
fn slot_hasher(levels: &[Level], side: Side) -> impl Fn(u32) -> u64 + '_ {
    move |slot| Ladder::key_hash(key_on(side, levels[slot as usize].price))
}

/// One price level.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Level {
    pub price: Price,
    /// Sum of the open quantity of the level's orders.
    pub quantity: Qty,
    /// How many orders rest here; `0` marks an empty level awaiting a sweep.
    pub orders: u32,
    /// Oldest order (first to trade), or `NIL`.
    pub head: u32,
    /// Newest order, or `NIL`.
    pub tail: u32,
}

/// The levels of one side of a book.
pub(crate) struct Ladder {
    side: Side,
    /// `(key, level slot)`, ascending by key; the last entry is live.
    sorted: Vec<(u64, u32)>,
    /// The slot of every level in `sorted`, by key.
    by_key: SlotIndex,
    levels: Vec<Level>,
    /// Free level slots, reused before `levels` grows.
    free: Vec<u32>,
    /// Orders resting on this side.
    order_count: usize,
    /// Levels with at least one order.
    live_levels: usize,
    /// Empty levels still in `sorted`.
    empty_levels: usize,
    /// The best live levels, always equal to what `levels_best_first` yields.
    top: DepthSide,
    /// Whether `top` changed since `take_top_changed` last ran.
    top_changed: bool,
}

impl Clone for Ladder {
    fn clone(&self) -> Ladder {
        let mut copy = Ladder::new(self.side);
        copy.clone_from(self);
        copy
    }

    /// Reuses `self`'s vectors, so copying into a warm spare touches no
    /// fresh memory.
    fn clone_from(&mut self, source: &Ladder) {
        self.side = source.side;
        self.sorted.clone_from(&source.sorted);
        self.by_key.clone_from(&source.by_key);
        self.levels.clone_from(&source.levels);
        self.free.clone_from(&source.free);
        self.order_count = source.order_count;
        self.live_levels = source.live_levels;
        self.empty_levels = source.empty_levels;
        self.top = source.top;
        self.top_changed = source.top_changed;
    }
}

impl Ladder {
    pub fn new(side: Side) -> Ladder {
        Ladder {
            side,
            sorted: Vec::new(),
            by_key: SlotIndex::with_capacity(KEYS_AT_FIRST),
            levels: Vec::new(),
            free: Vec::new(),
            order_count: 0,
            live_levels: 0,
            empty_levels: 0,
            top: DepthSide::default(),
            top_changed: false,
        }
    }

    /// Maps a price to its sort key: larger key = better price.
    fn key(&self, price: Price) -> u64 {
        key_on(self.side, price)
    }

    /// The hash `by_key` files a key under. Prices cluster, so the bits of
    /// the product are folded down into the low 32 bits the index uses.
    fn key_hash(key: u64) -> u64 {
        let mixed = key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        mixed ^ (mixed >> 32)
    }

    /// The `by_key` hash of the level in `slot`.
    fn slot_hash(&self, slot: u32) -> u64 {
        slot_hasher(&self.levels, self.side)(slot)
    }

    /// The best level's slot.
    pub fn best(&self) -> Option<u32> {
        self.sorted.last().map(|&(_, slot)| slot)
    }

    /// The best level's price.
    pub(crate) fn best_price(&self) -> Option<Price> {
        self.best().map(|slot| self.levels[slot as usize].price)
    }

    pub fn level(&self, slot: u32) -> &Level {
        &self.levels[slot as usize]
    }

    /// How many orders rest on this side.
    pub(crate) fn order_count(&self) -> usize {
        self.order_count
    }

    /// How many distinct prices have orders on this side.
    pub(crate) fn level_count(&self) -> usize {
        self.live_levels
    }

    /// Live levels from best to worst.
    pub(crate) fn levels_best_first(&self) -> impl Iterator<Item = &Level> {
        self.sorted
            .iter()
            .rev()
            .map(|&(_, slot)| &self.levels[slot as usize])
            .filter(|level| level.orders > 0)
    }

    /// The best [`DEPTH_LEVELS`] levels.
    pub fn depth(&self) -> &DepthSide {
        &self.top
    }

    /// Whether the best levels changed since the last call; resets the flag.
    pub(crate) fn take_top_changed(&mut self) -> bool {
        std::mem::take(&mut self.top_changed)
    }

    /// Appends the order in `slot` to the back of its price level, creating
    /// or re-filling the level if needed.
    pub(crate) fn push_back(&mut self, orders: &mut Orders, slot: u32) {
        let (price, remaining) = {
            let order = orders.get(slot);
            (order.price, order.remaining())
        };
        let level_slot = self.find_or_insert_level(price);
        let level = &mut self.levels[level_slot as usize];
        let was_empty = level.orders == 0;
        let old_tail = level.tail;
        level.quantity += remaining;
        level.orders += 1;
        level.tail = slot;
        if old_tail == NIL {
            level.head = slot;
        } else {
            orders.get_mut(old_tail).next = slot;
        }
        let order = orders.get_mut(slot);
        order.level = level_slot;
        order.prev = old_tail;
        order.next = NIL;
        self.order_count += 1;
        if was_empty {
            self.live_levels += 1;
            self.top_insert(level_slot);
        } else {
            self.top_update(level_slot);
        }
    }

    /// Unlinks the order in `slot` from its level. The order's open quantity
    /// leaves the level's aggregate; a level left without orders is retired.
    pub(crate) fn unlink(&mut self, orders: &mut Orders, slot: u32) {
        let (level_slot, prev, next, remaining) = {
            let order = orders.get(slot);
            (order.level, order.prev, order.next, order.remaining())
        };
        if prev == NIL {
            self.levels[level_slot as usize].head = next;
        } else {
            orders.get_mut(prev).next = next;
        }
        if next == NIL {
            self.levels[level_slot as usize].tail = prev;
        } else {
            orders.get_mut(next).prev = prev;
        }
        let order = orders.get_mut(slot);
        order.level = NIL;
        order.prev = NIL;
        order.next = NIL;
        self.order_count -= 1;
        let level = &mut self.levels[level_slot as usize];
        level.quantity -= remaining;
        level.orders -= 1;
        if level.orders == 0 {
            self.retire_level(level_slot);
        } else {
            self.top_update(level_slot);
        }
    }

    /// Records that `qty` of a resting order traded or was cancelled down
    /// without the order leaving its level.
    pub(crate) fn reduce(&mut self, level_slot: u32, qty: Qty) {
        self.levels[level_slot as usize].quantity -= qty;
        self.top_update(level_slot);
    }

    /// The level at `price`, live or empty, creating it if absent.
    fn find_or_insert_level(&mut self, price: Price) -> u32 {
        let key = self.key(price);
        // Fast path: most inserts land on the best level.
        if let Some(&(best_key, best_slot)) = self.sorted.last()
            && best_key == key
        {
            return best_slot;
        }
        let found = self.by_key.find(Self::key_hash(key), |slot| {
            self.levels[slot as usize].price == price
        });
        if let Some(slot) = found {
            if self.levels[slot as usize].orders == 0 {
                self.empty_levels -= 1;
            }
            return slot;
        }
        let at = self.sorted.partition_point(|&(k, _)| k < key);
        let level = Level {
            price,
            quantity: 0,
            orders: 0,
            head: NIL,
            tail: NIL,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.levels[slot as usize] = level;
                slot
            }
            None => {
                self.levels.push(level);
                // `sorted`, `by_key` and `free` never hold more entries than
                // there are level slots, so growing them with the slab means
                // they never reallocate later, when a sweep frees a record
                // number of slots at once or a record number of prices is
                // in `sorted`.
                let slots = self.levels.capacity();
                self.sorted.reserve(slots.saturating_sub(self.sorted.len()));
                self.free.reserve(slots.saturating_sub(self.free.len()));
                self.by_key
                    .reserve(slots, slot_hasher(&self.levels, self.side));
                // Levels are bounded by the orders resting on this side, which
                // are bounded by u32 slots in the arena.
                (self.levels.len() - 1) as u32
            }
        };
        self.sorted.insert(at, (key, slot));
        self.by_key.insert(
            Ladder::key_hash(key),
            slot,
            slot_hasher(&self.levels, self.side),
        );
        slot
    }

    /// The index in `sorted` of `key`, which must be present. The levels
    /// shown in depth sit at the best end, so a short backward scan finds
    /// them before a binary search over the whole side would.
    fn position_near_best(&self, key: u64) -> usize {
        const SCAN: usize = 16;
        let tail = self.sorted.len().saturating_sub(SCAN);
        match self.sorted[tail..].iter().rposition(|&(k, _)| k == key) {
            Some(at) => tail + at,
            None => self.sorted.partition_point(|&(k, _)| k < key),
        }
    }

    /// Handles a level that just lost its last order.
    fn retire_level(&mut self, level_slot: u32) {
        self.live_levels -= 1;
        let price = self.levels[level_slot as usize].price;
        if self.best() == Some(level_slot) {
            // Keep `last()` live: pop this level and any empties behind it.
            while let Some(&(_, slot)) = self.sorted.last() {
                if slot != level_slot && self.levels[slot as usize].orders > 0 {
                    break;
                }
                self.sorted.pop();
                self.by_key.remove(self.slot_hash(slot), slot);
                self.free.push(slot);
                if slot != level_slot {
                    self.empty_levels -= 1;
                }
            }
        } else {
            self.empty_levels += 1;
            if self.empty_levels > self.live_levels * SWEEP_RATIO + SWEEP_SLACK {
                self.sweep_empty_levels();
            }
        }
        self.top_remove(price);
    }

    /// Drops every empty level from `sorted`, freeing its slot.
    fn sweep_empty_levels(&mut self) {
        let Ladder {
            sorted,
            by_key,
            levels,
            free,
            ..
        } = self;
        sorted.retain(|&(key, slot)| {
            let live = levels[slot as usize].orders > 0;
            if !live {
                by_key.remove(Self::key_hash(key), slot);
                free.push(slot);
            }
            live
        });
        self.empty_levels = 0;
    }

    fn depth_level(&self, level_slot: u32) -> DepthLevel {
        let level = &self.levels[level_slot as usize];
        DepthLevel {
            price: level.price,
            quantity: level.quantity,
            orders: level.orders,
        }
    }

    /// Mirrors a changed live level into `top` if it is one of the best.
    fn top_update(&mut self, level_slot: u32) {
        let level = self.depth_level(level_slot);
        if let Some(rank) = self.top.rank_of(level.price) {
            self.top.set(rank, level);
            self.top_changed = true;
        }
    }

    /// Mirrors a level that just became live.
    fn top_insert(&mut self, level_slot: u32) {
        let level = self.depth_level(level_slot);
        let key = self.key(level.price);
        let shown = self.top.levels();
        // Below a full top: out of view, the common case deep in the book.
        if shown.len() == DEPTH_LEVELS && shown.last().is_some_and(|l| self.key(l.price) > key) {
            return;
        }
        let rank = shown
            .iter()
            .position(|l| self.key(l.price) < key)
            .unwrap_or(shown.len());
        self.top.insert(rank, level);
        self.top_changed = true;
    }

    /// Mirrors a level that just became empty: drops it from `top` and
    /// brings the next live level into view.
    fn top_remove(&mut self, price: Price) {
        let Some(rank) = self.top.rank_of(price) else {
            return;
        };
        self.top.remove(rank);
        self.top_changed = true;
        // The next live level is the best one worse than the worst shown.
        let shown = self.top.levels();
        let below = match shown.last() {
            Some(worst) => self.position_near_best(self.key(worst.price)),
            None => self.sorted.len(),
        };
        let refill = self.sorted[..below]
            .iter()
            .rev()
            .map(|&(_, slot)| slot)
            .find(|&slot| self.levels[slot as usize].orders > 0);
        if let Some(slot) = refill {
            let level = self.depth_level(slot);
            let end = self.top.levels().len();
            self.top.insert(end, level);
        }
    }
}

#[cfg(any(test, feature = "validate"))]
impl Ladder {
    /// Checks this side against itself and the arena, and returns the
    /// slots of the orders resting on it: `sorted` strictly ascending with
    /// each key its level's, its last entry live; every level slot either
    /// in `sorted` or free, once; `by_key` indexing exactly the levels in
    /// `sorted`; each live level's FIFO linked both ways through orders of
    /// this side, book and price whose open quantities add up to the
    /// level's; empty levels truly empty; the counts right; and `top` what
    /// the best levels say it is.
    pub fn validate(&self, orders: &Orders, book: u32) -> Result<Vec<u32>, String> {
        let side = self.side;
        if let Some(w) = self.sorted.windows(2).find(|w| w[0].0 >= w[1].0) {
            return Err(format!(
                "{side:?} prices out of order at keys {} and {}",
                w[0].0, w[1].0
            ));
        }
        let mut placed = vec![false; self.levels.len()];
        for &slot in self.sorted.iter().map(|(_, slot)| slot).chain(&self.free) {
            match placed.get_mut(slot as usize) {
                Some(seen @ false) => *seen = true,
                Some(true) => return Err(format!("{side:?} level slot {slot} is placed twice")),
                None => return Err(format!("{side:?} level slot {slot} is past the slab")),
            }
        }
        if let Some(lost) = placed.iter().position(|p| !p) {
            return Err(format!(
                "{side:?} level slot {lost} is neither in the book nor free"
            ));
        }
        if self
            .sorted
            .last()
            .is_some_and(|&(_, slot)| self.levels[slot as usize].orders == 0)
        {
            return Err(format!("{side:?} best level is empty"));
        }
        let in_sorted: Vec<bool> = {
            let mut mask = vec![false; self.levels.len()];
            for &(_, slot) in &self.sorted {
                mask[slot as usize] = true;
            }
            mask
        };
        let indexed = self
            .by_key
            .validate(|slot| {
                in_sorted
                    .get(slot as usize)
                    .copied()
                    .unwrap_or(false)
                    .then(|| self.slot_hash(slot))
            })
            .map_err(|e| format!("{side:?} price index: {e}"))?;
        if indexed.len() != self.sorted.len() {
            return Err(format!(
                "{side:?}: {} prices indexed, {} in the book",
                indexed.len(),
                self.sorted.len()
            ));
        }
        let (mut live_levels, mut empty_levels) = (0, 0);
        let mut resting = Vec::with_capacity(self.order_count);
        for &(key, slot) in &self.sorted {
            let level = &self.levels[slot as usize];
            if key != self.key(level.price) {
                return Err(format!(
                    "{side:?} level at {} is filed under key {key}",
                    level.price
                ));
            }
            let found = self.by_key.find(Self::key_hash(key), |s| {
                self.levels[s as usize].price == level.price
            });
            if found != Some(slot) {
                return Err(format!(
                    "{side:?} price {} does not find its level",
                    level.price
                ));
            }
            if level.orders == 0 {
                empty_levels += 1;
                if level.head != NIL || level.tail != NIL || level.quantity != 0 {
                    return Err(format!(
                        "{side:?} empty level at {} holds something",
                        level.price
                    ));
                }
                continue;
            }
            live_levels += 1;
            let (mut count, mut quantity, mut prev, mut at) = (0u32, 0, NIL, level.head);
            while at != NIL {
                if count == level.orders {
                    return Err(format!(
                        "{side:?} level at {} has more orders than it counts",
                        level.price
                    ));
                }
                let Some(order) = orders.get_checked(at) else {
                    return Err(format!(
                        "{side:?} queue at {} links to slot {at}, past the arena",
                        level.price
                    ));
                };
                if order.level != slot
                    || order.side != side
                    || order.book != book
                    || order.price != level.price
                {
                    return Err(format!(
                        "order {at} in the {side:?} queue at {} says level {}, side {:?}, book {}, price {}",
                        level.price, order.level, order.side, order.book, order.price
                    ));
                }
                if order.prev != prev {
                    return Err(format!(
                        "order {at} at {}: its back link is {}, not {prev}",
                        level.price, order.prev
                    ));
                }
                if order.remaining() == 0 {
                    return Err(format!(
                        "order {at} rests at {} with nothing open",
                        level.price
                    ));
                }
                count += 1;
                quantity += order.remaining();
                resting.push(at);
                prev = at;
                at = order.next;
            }
            if count != level.orders || quantity != level.quantity || prev != level.tail {
                return Err(format!(
                    "{side:?} level at {}: counts {} orders of {} open ending at {}, holds {count} of {quantity} ending at {prev}",
                    level.price, level.orders, level.quantity, level.tail
                ));
            }
        }
        if live_levels != self.live_levels
            || empty_levels != self.empty_levels
            || resting.len() != self.order_count
        {
            return Err(format!(
                "{side:?}: counts {} live and {} empty levels and {} orders, holds {live_levels}, {empty_levels} and {}",
                self.live_levels,
                self.empty_levels,
                self.order_count,
                resting.len()
            ));
        }
        let best: Vec<DepthLevel> = self
            .sorted
            .iter()
            .rev()
            .filter(|&&(_, slot)| self.levels[slot as usize].orders > 0)
            .take(DEPTH_LEVELS)
            .map(|&(_, slot)| self.depth_level(slot))
            .collect();
        if self.top != DepthSide::from_best_first(&best) {
            return Err(format!(
                "{side:?} top of book {:?} is not its best levels {best:?}",
                self.top.levels()
            ));
        }
        Ok(resting)
    }

    /// Whether the top changed since depth was last published.
    pub(crate) fn top_changed(&self) -> bool {
        self.top_changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{OrderId, UserId};
    use crate::orders::{Order, key_hash};
    use crate::types::{OrderType, TimeInForce};

    fn order(orders: &mut Orders, n: u32, price: Price) -> u32 {
        debug_assert!(n < u32::MAX);
        let user_id = UserId::new("u").unwrap();
        let order_id = OrderId::new(&n.to_string()).unwrap();
        orders.insert(Order {
            user_id,
            order_id,
            hash: key_hash(&user_id, &order_id),
            arrival: u64::from(n),
            entered_ns: u64::from(n),
            price,
            stop_price: 0,
            quantity: 10,
            filled: 0,
            book: 0,
            level: NIL,
            prev: NIL,
            next: NIL,
            side: Side::Buy,
            order_type: OrderType::Limit,
            tif: TimeInForce::Gtc,
            post_only: false,
        })
    }

    /// What the ladder should hold: price -> FIFO of (slot, open quantity).
    type Model = std::collections::BTreeMap<Price, Vec<(u32, Qty)>>;

    fn check(ladder: &Ladder, model: &Model, side: Side) {
        let mut want: Vec<(Price, Qty, u32)> = model
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(&p, q)| (p, q.iter().map(|&(_, r)| r).sum(), q.len() as u32))
            .collect();
        if side == Side::Buy {
            want.reverse();
        }
        let got: Vec<(Price, Qty, u32)> = ladder
            .levels_best_first()
            .map(|l| (l.price, l.quantity, l.orders))
            .collect();
        assert_eq!(got, want);
        assert_eq!(ladder.level_count(), want.len());
        assert_eq!(ladder.best_price(), want.first().map(|w| w.0));
        let depth: Vec<(Price, Qty, u32)> = ladder
            .depth()
            .levels()
            .iter()
            .map(|l| (l.price, l.quantity, l.orders))
            .collect();
        assert_eq!(
            depth,
            want.iter().take(DEPTH_LEVELS).copied().collect::<Vec<_>>()
        );
        assert!(
            ladder
                .best()
                .is_none_or(|s| ladder.levels[s as usize].orders > 0)
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(1_000))]

        /// Build-up and tear-down phases drive levels empty all over the
        /// side, past the sweep threshold; the ladder must agree with a plain
        /// map after every operation, depth and best price included.
        #[test]
        fn ladder_matches_a_sorted_map_through_sweeps(
            sell in proptest::bool::ANY,
            phases in proptest::collection::vec(
                (0usize..400, 0usize..400, proptest::collection::vec((1u64..300, 0u8..3), 400)),
                1..5,
            ),
        ) {
            let side = if sell { Side::Sell } else { Side::Buy };
            let mut orders = Orders::with_capacity(4096, false);
            let mut ladder = Ladder::new(side);
            let mut model = Model::new();
            let mut live: Vec<(u32, Price)> = Vec::new();
            let mut n = 0;
            for (pushes, unlinks, draws) in phases {
                for &(price, _) in draws.iter().take(pushes) {
                    n += 1;
                    let slot = order(&mut orders, n, price);
                    orders.get_mut(slot).side = side;
                    ladder.push_back(&mut orders, slot);
                    model.entry(price).or_default().push((slot, 10));
                    live.push((slot, price));
                    check(&ladder, &model, side);
                }
                for &(pick, how) in draws.iter().take(unlinks) {
                    if live.is_empty() {
                        break;
                    }
                    let at = pick as usize % live.len();
                    let (slot, price) = live[at];
                    let queue = model.get_mut(&price).unwrap();
                    let pos = queue.iter().position(|&(s, _)| s == slot).unwrap();
                    if how == 0 && orders.get(slot).remaining() > 1 {
                        // A partial fill: the order stays, the level shrinks.
                        orders.get_mut(slot).filled += 1;
                        ladder.reduce(orders.get(slot).level, 1);
                        queue[pos].1 -= 1;
                    } else {
                        ladder.unlink(&mut orders, slot);
                        orders.remove(slot);
                        queue.remove(pos);
                        live.swap_remove(at);
                    }
                    check(&ladder, &model, side);
                }
            }
        }
    }

    /// Emptying levels deep in the book leaves them in place (no shifting)
    /// until they pass the sweep threshold; then one sweep removes them all.
    #[test]
    fn empty_levels_stay_in_place_until_a_sweep() {
        let mut orders = Orders::with_capacity(1024, false);
        let mut ladder = Ladder::new(Side::Buy);
        let slots: Vec<u32> = (0..300)
            .map(|n| order(&mut orders, n, 1_000 + Price::from(n)))
            .collect();
        for &slot in &slots {
            ladder.push_back(&mut orders, slot);
        }
        // Empty the 250 worst levels: 250 <= 4 * 50 + 64, so no sweep yet.
        for &slot in &slots[..250] {
            ladder.unlink(&mut orders, slot);
            orders.remove(slot);
        }
        assert_eq!((ladder.level_count(), ladder.sorted.len()), (50, 300));
        // Three more: 253 > 4 * 47 + 64, so the sweep runs.
        for &slot in &slots[250..253] {
            ladder.unlink(&mut orders, slot);
            orders.remove(slot);
        }
        assert_eq!((ladder.level_count(), ladder.sorted.len()), (47, 47));
        assert_eq!(
            ladder.levels_best_first().next().map(|l| l.price),
            Some(1_299)
        );
    }

    /// Popping the best level also pops the empties right behind it, so the
    /// last entry is always live.
    #[test]
    fn retiring_the_best_level_pops_trailing_empties() {
        let mut orders = Orders::with_capacity(16, false);
        let mut ladder = Ladder::new(Side::Buy);
        let a = order(&mut orders, 1, 100);
        let b = order(&mut orders, 2, 101);
        let c = order(&mut orders, 3, 102);
        for slot in [a, b, c] {
            ladder.push_back(&mut orders, slot);
        }
        ladder.unlink(&mut orders, b); // 101 empties, stays in place
        assert_eq!(ladder.sorted.len(), 3);
        ladder.unlink(&mut orders, c); // best goes: 101 goes with it
        assert_eq!(ladder.sorted.len(), 1);
        assert_eq!(ladder.best_price(), Some(100));
        assert_eq!(ladder.depth().levels().len(), 1);
    }
}
