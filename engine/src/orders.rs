//! The order arena: every live order of every symbol, in one slab, with an
//! index from `(user_id, order_id)` to slot.
//!
//! Slots are recycled through an intrusive free list (last freed, first
//! reused, so a new order usually lands in a cache-warm slot), and after
//! warm-up adding and removing orders never allocates. The key index is an
//! [`SlotIndex`] with a fixed-key hash (`FxHasher`): lookups are O(1), the
//! hash of a live order is cached in its slot so removal does not re-hash its
//! ids, and because the hasher has no random state the index behaves the same
//! on every run.
//!
//! This module knows nothing about prices or matching; it must not decide
//! anything, only store.

use std::hash::Hasher;

use rustc_hash::FxHasher;

use crate::ids::{OrderId, UserId};
use crate::index::{SlotIndex, prefetch_read};
use crate::slot::NIL;
use crate::types::{OrderType, Price, Qty, Side, TimeInForce};

/// A read-only view of one live order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderView {
    /// The owner.
    pub user_id: UserId,
    /// The client's order id.
    pub order_id: OrderId,
    /// Buy or sell.
    pub side: Side,
    /// The order type as submitted (a triggered stop-limit stays `StopLimit`).
    pub order_type: OrderType,
    /// The limit price; `0` for a stop-market order.
    pub price: Price,
    /// The trigger price; `0` unless a stop.
    pub stop_price: Price,
    /// The total quantity, filled part included.
    pub quantity: Qty,
    /// How much has traded.
    pub filled: Qty,
    /// Ingress time (ns since the Unix epoch) of the command that gave the
    /// order its current place in the queue: its `ADD`, the `REPLACE` that
    /// lost its priority, or the trade that triggered a stop-limit.
    pub entered_ns: u64,
}

/// One live order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Order {
    pub user_id: UserId,
    pub order_id: OrderId,
    /// `key_hash(user_id, order_id)`, cached for removal.
    pub hash: u64,
    /// Engine-wide entry number: orders untriggered stops by time.
    pub arrival: u64,
    /// Ingress time (ns) at which the order took its current place: when
    /// it joined the back of its price level, or entered the stop list.
    pub entered_ns: u64,
    /// The limit price; `0` for market and stop-market orders.
    pub price: Price,
    /// The trigger price of a stop order; `0` otherwise.
    pub stop_price: Price,
    /// The total quantity, filled part included (FIX style).
    pub quantity: Qty,
    pub filled: Qty,
    /// Index of the order's book in the engine.
    pub book: u32,
    /// The price-level slot the order rests in, or `NIL` while it is an
    /// untriggered stop or is being matched as an aggressor.
    pub level: u32,
    /// FIFO neighbours within the level, or the next free slot when free.
    pub prev: u32,
    pub next: u32,
    pub side: Side,
    pub order_type: OrderType,
    pub tif: TimeInForce,
    pub post_only: bool,
}

impl Order {
    /// Filler for memory that holds no order.
    const VACANT: Order = Order {
        user_id: UserId::VACANT,
        order_id: OrderId::VACANT,
        hash: 0,
        arrival: 0,
        entered_ns: 0,
        price: 0,
        stop_price: 0,
        quantity: 0,
        filled: 0,
        book: NIL,
        level: NIL,
        prev: NIL,
        next: NIL,
        side: Side::Buy,
        order_type: OrderType::Limit,
        tif: TimeInForce::Gtc,
        post_only: false,
    };

    /// The open quantity.
    pub fn remaining(&self) -> Qty {
        self.quantity - self.filled
    }

    pub fn view(&self) -> OrderView {
        OrderView {
            user_id: self.user_id,
            order_id: self.order_id,
            side: self.side,
            order_type: self.order_type,
            price: self.price,
            stop_price: self.stop_price,
            quantity: self.quantity,
            filled: self.filled,
            entered_ns: self.entered_ns,
        }
    }
}

/// Hashes an order key with a fixed-key hasher, one 64-bit word at a time.
///
/// Ids are zero-padded and rarely longer than 16 bytes, so hashing stops at
/// the first all-zero word of each id: that word and everything after it is
/// padding, since no id holds a NUL byte. The id's word count goes in too,
/// keeping `("ab", "c")` and `("a", "bc")`-style splits apart.
pub(crate) fn key_hash(user_id: &UserId, order_id: &OrderId) -> u64 {
    let mut hasher = FxHasher::default();
    for bytes in [user_id.as_padded_bytes(), order_id.as_padded_bytes()] {
        let (words, _) = bytes.as_chunks::<8>();
        let mut count = 0;
        for word in words {
            let word = u64::from_le_bytes(*word);
            if word == 0 {
                break;
            }
            hasher.write_u64(word);
            count += 1;
        }
        hasher.write_u64(count);
    }
    hasher.finish()
}

/// The slab of live orders and its id index.
pub(crate) struct Orders {
    slots: Vec<Order>,
    free_head: u32,
    live: usize,
    index: SlotIndex,
}

impl Clone for Orders {
    fn clone(&self) -> Orders {
        Orders {
            slots: self.slots.clone(),
            free_head: self.free_head,
            live: self.live,
            index: self.index.clone(),
        }
    }

    /// `Order` is `Copy`, so this is a memory copy into `self`'s arena.
    fn clone_from(&mut self, source: &Orders) {
        self.slots.clone_from(&source.slots);
        self.free_head = source.free_head;
        self.live = source.live;
        self.index.clone_from(&source.index);
    }
}

impl Orders {
    /// Makes room for `capacity` live orders up front. The index is always
    /// written at once; with `prefault`, the arena is touched too, so the
    /// kernel maps it now rather than on first use inside the matcher.
    pub fn with_capacity(capacity: usize, prefault: bool) -> Orders {
        let mut slots = Vec::with_capacity(capacity);
        if prefault {
            slots.resize(capacity, Order::VACANT);
            slots.clear();
        }
        Orders {
            slots,
            free_head: NIL,
            live: 0,
            index: SlotIndex::with_capacity(capacity),
        }
    }

    /// How many orders are live.
    pub fn live(&self) -> usize {
        self.live
    }

    /// The slot of the live order with this key, if any.
    pub fn find(&self, hash: u64, user_id: &UserId, order_id: &OrderId) -> Option<u32> {
        self.index.find(hash, |slot| {
            let order = &self.slots[slot as usize];
            order.order_id == *order_id && order.user_id == *user_id
        })
    }

    /// Starts fetching the index bucket of a key the caller will look up soon.
    pub fn prefetch(&self, hash: u64) {
        self.index.prefetch(hash);
    }

    /// Starts fetching the order in `slot` (every cache line of it), which
    /// the caller will read soon: the next maker in a queue, whose line
    /// was last touched when it joined the back, long ago.
    pub(crate) fn prefetch_slot(&self, slot: u32) {
        if let Some(order) = self.slots.get(slot as usize) {
            let start: *const i8 = std::ptr::from_ref(order).cast();
            let mut line = 0;
            while line < std::mem::size_of::<Order>() {
                prefetch_read(start.wrapping_add(line));
                line += 64;
            }
        }
    }

    /// Stores a new order, indexes it by its key and returns its slot.
    ///
    /// The caller has checked that no live order has the same key.
    pub fn insert(&mut self, order: Order) -> u32 {
        let slot = if self.free_head == NIL {
            let slot = u32::try_from(self.slots.len()).unwrap_or(NIL);
            assert!(slot != NIL, "more than u32::MAX - 1 live orders");
            self.slots.push(order);
            slot
        } else {
            let slot = self.free_head;
            self.free_head = self.slots[slot as usize].next;
            self.slots[slot as usize] = order;
            slot
        };
        let slots = &self.slots;
        self.index
            .insert(order.hash, slot, |s| slots[s as usize].hash);
        self.live += 1;
        slot
    }

    /// Removes a live order from the index and frees its slot.
    pub fn remove(&mut self, slot: u32) {
        let hash = self.slots[slot as usize].hash;
        let removed = self.index.remove(hash, slot);
        debug_assert!(removed, "live order {slot} missing from the index");
        self.slots[slot as usize].next = self.free_head;
        self.free_head = slot;
        self.live -= 1;
    }

    /// The order in `slot`.
    pub fn get(&self, slot: u32) -> &Order {
        &self.slots[slot as usize]
    }

    /// The order in `slot`, for updates.
    pub fn get_mut(&mut self, slot: u32) -> &mut Order {
        &mut self.slots[slot as usize]
    }
}

#[cfg(any(test, feature = "validate"))]
impl Orders {
    /// The order in `slot`, or `None` past the arena: for checks that
    /// follow links they do not trust yet.
    pub(crate) fn get_checked(&self, slot: u32) -> Option<&Order> {
        self.slots.get(slot as usize)
    }

    /// Checks the arena and its index, and returns which slots are live:
    /// the free list is a chain without cycles over exactly the slots not
    /// live, every live order's cached hash is its key's, and the index
    /// holds every live order and nothing else, each found by its own key.
    pub fn validate(&self) -> Result<Vec<bool>, String> {
        let mut live = vec![true; self.slots.len()];
        let mut free = 0usize;
        let mut at = self.free_head;
        while at != NIL {
            let Some(is_live) = live.get_mut(at as usize) else {
                return Err(format!("the free list reaches slot {at}, past the arena"));
            };
            if !*is_live {
                return Err(format!("the free list loops at slot {at}"));
            }
            *is_live = false;
            free += 1;
            at = self.slots[at as usize].next;
        }
        if self.slots.len() - free != self.live {
            return Err(format!(
                "{} slots, {free} free, but {} live",
                self.slots.len(),
                self.live
            ));
        }
        for (slot, order) in self.slots.iter().enumerate() {
            if live[slot] && order.hash != key_hash(&order.user_id, &order.order_id) {
                return Err(format!("order {slot} caches a hash not of its key"));
            }
        }
        let indexed = self
            .index
            .validate(|slot| {
                live.get(slot as usize)
                    .copied()
                    .unwrap_or(false)
                    .then(|| self.slots[slot as usize].hash)
            })
            .map_err(|e| format!("order index: {e}"))?;
        if indexed.len() != self.live {
            return Err(format!(
                "{} orders indexed, {} live",
                indexed.len(),
                self.live
            ));
        }
        for (slot, order) in self.slots.iter().enumerate() {
            if live[slot]
                && self.find(order.hash, &order.user_id, &order.order_id) != Some(slot as u32)
            {
                return Err(format!(
                    "order {slot} ({} of {}) is not what its key finds",
                    order.order_id, order.user_id
                ));
            }
        }
        Ok(live)
    }
}
