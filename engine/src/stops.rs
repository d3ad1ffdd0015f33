//! Untriggered stop orders of one side of one book, in trigger order.
//!
//! A buy stop triggers when the last trade price rises to its stop price or
//! above, a sell stop when it falls to its stop price or below. Among stops
//! that could trigger, the one whose stop price would be reached first goes
//! first (lowest buy stop, highest sell stop), then the oldest.
//!
//! Entries are kept in a vector sorted so that the next stop to trigger is
//! last: peeking and popping it are O(1), the operations that run after every
//! trade. Adding or cancelling a stop is a binary search and a `memmove`.
//!
//! This module holds order slots only; it does not trade them.

use crate::types::{Price, Side};

/// The stops of one side.
pub(crate) struct StopQueue {
    side: Side,
    /// `(priority, slot)`, descending by priority, so the next stop is last.
    entries: Vec<(StopPriority, u32)>,
}

impl Clone for StopQueue {
    fn clone(&self) -> StopQueue {
        StopQueue {
            side: self.side,
            entries: self.entries.clone(),
        }
    }

    fn clone_from(&mut self, source: &StopQueue) {
        self.side = source.side;
        self.entries.clone_from(&source.entries);
    }
}

/// Lower triggers first. Unique because arrivals are unique.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct StopPriority {
    /// The stop price, complemented for sell stops so that a higher sell stop
    /// sorts first.
    stop_key: u64,
    arrival: u64,
}

impl StopQueue {
    pub fn new(side: Side) -> StopQueue {
        StopQueue {
            side,
            entries: Vec::new(),
        }
    }

    fn priority(&self, stop_price: Price, arrival: u64) -> StopPriority {
        let stop_key = match self.side {
            Side::Buy => stop_price,
            Side::Sell => !stop_price,
        };
        StopPriority { stop_key, arrival }
    }

    /// Whether a stop at `stop_price` on this side triggers at `last_price`.
    pub fn triggers(&self, stop_price: Price, last_price: Price) -> bool {
        match self.side {
            Side::Buy => last_price >= stop_price,
            Side::Sell => last_price <= stop_price,
        }
    }

    pub fn insert(&mut self, stop_price: Price, arrival: u64, slot: u32) {
        let priority = self.priority(stop_price, arrival);
        let at = self.entries.partition_point(|&(p, _)| p > priority);
        self.entries.insert(at, (priority, slot));
    }

    pub fn remove(&mut self, stop_price: Price, arrival: u64) {
        let priority = self.priority(stop_price, arrival);
        let at = self.entries.partition_point(|&(p, _)| p > priority);
        debug_assert!(self.entries.get(at).is_some_and(|&(p, _)| p == priority));
        self.entries.remove(at);
    }

    /// The slot and arrival of the next stop to trigger.
    pub(crate) fn peek(&self) -> Option<(u32, u64)> {
        self.entries.last().map(|&(p, slot)| (slot, p.arrival))
    }

    pub fn pop(&mut self) -> Option<u32> {
        self.entries.pop().map(|(_, slot)| slot)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Slots from next-to-trigger to last.
    pub(crate) fn slots_in_trigger_order(&self) -> impl Iterator<Item = u32> + '_ {
        self.entries.iter().rev().map(|&(_, slot)| slot)
    }
}

#[cfg(any(test, feature = "validate"))]
impl StopQueue {
    /// Checks the queue against the arena, and returns its slots: strictly
    /// in trigger order, each an untriggered stop of this side and book,
    /// with something open, filed under its own stop price and arrival.
    pub fn validate(&self, orders: &crate::orders::Orders, book: u32) -> Result<Vec<u32>, String> {
        let side = self.side;
        if self.entries.windows(2).any(|w| w[0].0 <= w[1].0) {
            return Err(format!("{side:?} stops are out of trigger order"));
        }
        for &(priority, slot) in &self.entries {
            let Some(order) = orders.get_checked(slot) else {
                return Err(format!("{side:?} stop slot {slot} is past the arena"));
            };
            if order.side != side
                || order.book != book
                || order.level != crate::slot::NIL
                || !order.order_type.is_stop()
                || order.remaining() == 0
            {
                return Err(format!(
                    "{side:?} stop {slot} is a {:?} {:?} order of book {} at level {} with {} open",
                    order.side,
                    order.order_type,
                    order.book,
                    order.level,
                    order.remaining()
                ));
            }
            if priority != self.priority(order.stop_price, order.arrival) {
                return Err(format!(
                    "{side:?} stop {slot} is filed under another stop price or arrival"
                ));
            }
        }
        Ok(self.entries.iter().map(|&(_, slot)| slot).collect())
    }
}
