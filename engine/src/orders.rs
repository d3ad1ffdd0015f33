//! The order arena: every live order of every symbol, in one slab, with an
//! index from `(user_id, order_id)` to slot.
//!
//! Slots are recycled through an intrusive free list, so after warm-up adding
//! and removing orders never allocates. The index is a `hashbrown::HashTable`
//! of slot numbers with a fixed-key hash (`FxHasher`): lookups are O(1), the
//! hash of a live order is cached in its slot so removal does not re-hash its
//! ids, and because the hasher has no random state the table behaves the same
//! on every run. Nothing iterates the table, so its order never leaks into
//! outputs or snapshots.
//!
//! This module knows nothing about prices or matching; it must not decide
//! anything, only store.

use std::hash::Hasher;

use hashbrown::HashTable;
use rustc_hash::FxHasher;

use crate::engine::OrderView;
use crate::ids::{OrderId, UserId};
use crate::types::{OrderType, Price, Qty, Side, TimeInForce};

/// The "no slot" marker in intrusive links.
pub(crate) const NIL: u32 = u32::MAX;

/// One live order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Order {
    pub user_id: UserId,
    pub order_id: OrderId,
    /// `key_hash(user_id, order_id)`, cached for removal.
    pub hash: u64,
    /// Engine-wide entry number: orders untriggered stops by time.
    pub arrival: u64,
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
        }
    }
}

/// Hashes an order key with a fixed-key hasher, one 64-bit word at a time.
pub(crate) fn key_hash(user_id: &UserId, order_id: &OrderId) -> u64 {
    let mut hasher = FxHasher::default();
    for bytes in [user_id.as_padded_bytes(), order_id.as_padded_bytes()] {
        let (words, _) = bytes.as_chunks::<8>();
        for word in words {
            hasher.write_u64(u64::from_le_bytes(*word));
        }
    }
    hasher.finish()
}

/// The slab of live orders and its id index.
pub(crate) struct Orders {
    slots: Vec<Order>,
    free_head: u32,
    live: usize,
    index: HashTable<u32>,
}

impl Orders {
    /// Makes room for `capacity` live orders up front; with `prefault`, also
    /// touches that memory so the kernel maps it now rather than on first
    /// use inside the matcher.
    pub fn with_capacity(capacity: usize, prefault: bool) -> Orders {
        let mut orders = Orders {
            slots: Vec::with_capacity(capacity),
            free_head: NIL,
            live: 0,
            index: HashTable::with_capacity(capacity),
        };
        if prefault {
            orders.slots.resize(capacity, Order::VACANT);
            orders.slots.clear();
            // Spread the keys so every bucket page is written once.
            for slot in 0..capacity as u32 {
                let hash = u64::from(slot).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                orders.index.insert_unique(hash, slot, |&s| {
                    u64::from(s).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                });
            }
            orders.index.clear();
        }
        orders
    }

    /// How many orders are live.
    pub fn live(&self) -> usize {
        self.live
    }

    /// The slot of the live order with this key, if any.
    pub fn find(&self, hash: u64, user_id: &UserId, order_id: &OrderId) -> Option<u32> {
        let slots = &self.slots;
        self.index
            .find(hash, |&slot| {
                let order = &slots[slot as usize];
                order.order_id == *order_id && order.user_id == *user_id
            })
            .copied()
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
            .insert_unique(order.hash, slot, |&s| slots[s as usize].hash);
        self.live += 1;
        slot
    }

    /// Removes a live order from the index and frees its slot.
    pub fn remove(&mut self, slot: u32) {
        let hash = self.slots[slot as usize].hash;
        if let Ok(entry) = self.index.find_entry(hash, |&s| s == slot) {
            entry.remove();
        } else {
            debug_assert!(false, "live order {slot} missing from the index");
        }
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
