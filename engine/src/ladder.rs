//! One side of one book: its price levels and their FIFO queues.
//!
//! # Data structure
//!
//! Levels live in a slab (`levels`), so an order can name its level by slot
//! and a cancel reaches it in O(1). The price order is a separate vector of
//! `(key, slot)` sorted ascending by key, **best price last**. The key is the
//! price for bids and its bitwise complement for asks, so "best" is always the
//! largest key and one code path serves both sides.
//!
//! Why a sorted vector and not a tree or a price-indexed array:
//! - best price is `last()`, and removing an exhausted best level (the common
//!   case when matching) is `pop()`: O(1), no rebalancing;
//! - inserting a level costs a binary search plus a `memmove` of the levels
//!   *better* than it. Activity clusters at the top of the book, so that tail
//!   is short; a 750-level side moves at most 12 KiB;
//! - the top [`DEPTH_LEVELS`] levels are the last entries, contiguous, so depth
//!   is read without a walk;
//! - unlike a B-tree it never allocates once its capacity is reached, and
//!   unlike a price-indexed array it has no bounded price range to configure.
//!
//! Within a level, orders form a doubly-linked FIFO through their slots in the
//! order arena (`prev`/`next`), so unlinking any order is O(1).
//!
//! This module keeps aggregates (quantity, order count) exact; it does not
//! decide who trades.

use crate::event::{DEPTH_LEVELS, DepthLevel, DepthSide};
use crate::orders::{NIL, Orders};
use crate::types::{Price, Qty, Side};

/// One price level.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Level {
    pub price: Price,
    /// Sum of the open quantity of the level's orders.
    pub quantity: Qty,
    /// How many orders rest here.
    pub orders: u32,
    /// Oldest order (first to trade), or `NIL`.
    pub head: u32,
    /// Newest order, or `NIL`.
    pub tail: u32,
}

/// The levels of one side of a book.
pub(crate) struct Ladder {
    side: Side,
    /// `(key, level slot)`, ascending by key; best level last.
    sorted: Vec<(u64, u32)>,
    levels: Vec<Level>,
    /// Free level slots, reused before `levels` grows.
    free: Vec<u32>,
    /// Orders resting on this side.
    order_count: usize,
}

impl Ladder {
    pub fn new(side: Side) -> Ladder {
        Ladder {
            side,
            sorted: Vec::new(),
            levels: Vec::new(),
            free: Vec::new(),
            order_count: 0,
        }
    }

    /// Maps a price to its sort key: larger key = better price.
    fn key(&self, price: Price) -> u64 {
        match self.side {
            Side::Buy => price,
            Side::Sell => !price,
        }
    }

    /// The best level's slot.
    pub fn best(&self) -> Option<u32> {
        self.sorted.last().map(|&(_, slot)| slot)
    }

    /// The best level's price.
    pub fn best_price(&self) -> Option<Price> {
        self.best().map(|slot| self.levels[slot as usize].price)
    }

    pub fn level(&self, slot: u32) -> &Level {
        &self.levels[slot as usize]
    }

    /// How many orders rest on this side.
    pub fn order_count(&self) -> usize {
        self.order_count
    }

    /// How many price levels this side has.
    pub fn level_count(&self) -> usize {
        self.sorted.len()
    }

    /// Whether a level at `price` is (or, if new, would be) among the best
    /// [`DEPTH_LEVELS`], so that changing it changes the published depth.
    pub fn in_depth(&self, price: Price) -> bool {
        let len = self.sorted.len();
        len < DEPTH_LEVELS || self.key(price) >= self.sorted[len - DEPTH_LEVELS].0
    }

    /// Levels from best to worst.
    pub fn levels_best_first(&self) -> impl Iterator<Item = &Level> {
        self.sorted
            .iter()
            .rev()
            .map(|&(_, slot)| &self.levels[slot as usize])
    }

    /// The best [`DEPTH_LEVELS`] levels, aggregated, best first.
    pub fn depth_levels(&self) -> impl Iterator<Item = DepthLevel> + '_ {
        self.levels_best_first()
            .take(DEPTH_LEVELS)
            .map(|level| DepthLevel {
                price: level.price,
                quantity: level.quantity,
                orders: level.orders,
            })
    }

    /// The best [`DEPTH_LEVELS`] levels.
    pub fn depth(&self) -> DepthSide {
        let mut side = DepthSide::default();
        side.refresh(self.depth_levels());
        side
    }

    /// Appends the order in `slot` to the back of its price level, creating
    /// the level if needed.
    pub fn push_back(&mut self, orders: &mut Orders, slot: u32) {
        let (price, remaining) = {
            let order = orders.get(slot);
            (order.price, order.remaining())
        };
        let level_slot = self.find_or_insert_level(price);
        let level = &mut self.levels[level_slot as usize];
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
    }

    /// Unlinks the order in `slot` from its level, dropping the level if it
    /// empties. The order's open quantity leaves the level's aggregate.
    pub fn unlink(&mut self, orders: &mut Orders, slot: u32) {
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
            self.remove_level(level_slot);
        }
    }

    /// Records that `qty` of a resting order traded or was cancelled down
    /// without the order leaving its level.
    pub fn reduce(&mut self, level_slot: u32, qty: Qty) {
        self.levels[level_slot as usize].quantity -= qty;
    }

    fn find_or_insert_level(&mut self, price: Price) -> u32 {
        let key = self.key(price);
        // Fast path: most inserts land on the best level or just behind it.
        if let Some(&(best_key, best_slot)) = self.sorted.last()
            && best_key == key
        {
            return best_slot;
        }
        let at = self.sorted.partition_point(|&(k, _)| k < key);
        if let Some(&(k, slot)) = self.sorted.get(at)
            && k == key
        {
            return slot;
        }
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
                // Levels are bounded by the orders resting on this side, which
                // are bounded by u32 slots in the arena.
                (self.levels.len() - 1) as u32
            }
        };
        self.sorted.insert(at, (key, slot));
        slot
    }

    fn remove_level(&mut self, level_slot: u32) {
        let key = self.key(self.levels[level_slot as usize].price);
        if self.sorted.last().is_some_and(|&(k, _)| k == key) {
            self.sorted.pop();
        } else {
            let at = self.sorted.partition_point(|&(k, _)| k < key);
            debug_assert_eq!(self.sorted.get(at).map(|&(_, s)| s), Some(level_slot));
            self.sorted.remove(at);
        }
        self.free.push(level_slot);
    }
}
