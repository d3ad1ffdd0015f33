//! The book of one symbol: both ladders, the untriggered stops, the symbol's
//! rules, the last trade, and the depth last published.
//!
//! Depth is maintained incrementally: every mutation that touches one of the
//! best [`DEPTH_LEVELS`](crate::DEPTH_LEVELS) levels of a side marks that
//! side dirty, and at the end of a command each dirty side rewrites its
//! published levels in place, noting whether any differ. That makes "depth
//! changed" exact (a change undone within the command emits nothing) while
//! costing nothing for commands that stay below the top.
//!
//! The book does not match; `Engine` does, using the pieces kept here.

use crate::config::SymbolRules;
use crate::event::{Depth, DepthSide};
use crate::ids::Symbol;
use crate::ladder::Ladder;
use crate::stops::StopQueue;
use crate::types::{Price, Qty, Side};

pub(crate) struct Book {
    pub symbol: Symbol,
    pub rules: SymbolRules,
    pub bids: Ladder,
    pub asks: Ladder,
    pub buy_stops: StopQueue,
    pub sell_stops: StopQueue,
    /// The last trade's price and quantity; `0` before the first trade.
    pub last_price: Price,
    pub last_qty: Qty,
    published_bids: DepthSide,
    published_asks: DepthSide,
    /// Per side (`Side as usize`): a change may have reached its top levels.
    depth_dirty: [bool; 2],
}

impl Book {
    pub fn new(symbol: Symbol, rules: SymbolRules) -> Book {
        Book {
            symbol,
            rules,
            bids: Ladder::new(Side::Buy),
            asks: Ladder::new(Side::Sell),
            buy_stops: StopQueue::new(Side::Buy),
            sell_stops: StopQueue::new(Side::Sell),
            last_price: 0,
            last_qty: 0,
            published_bids: DepthSide::default(),
            published_asks: DepthSide::default(),
            depth_dirty: [false; 2],
        }
    }

    pub fn ladder(&self, side: Side) -> &Ladder {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    pub fn ladder_mut(&mut self, side: Side) -> &mut Ladder {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    pub fn stops_mut(&mut self, side: Side) -> &mut StopQueue {
        match side {
            Side::Buy => &mut self.buy_stops,
            Side::Sell => &mut self.sell_stops,
        }
    }

    /// The price the band is measured from: the last trade, else the
    /// configured reference.
    pub fn reference_price(&self) -> Option<Price> {
        if self.last_price != 0 {
            Some(self.last_price)
        } else {
            self.rules.reference_price
        }
    }

    /// Notes a change to the level at `price` on `side`, before the change
    /// is made (a level about to be removed is still findable).
    pub fn touch(&mut self, side: Side, price: Price) {
        if !self.depth_dirty[side as usize] && self.ladder(side).in_depth(price) {
            self.depth_dirty[side as usize] = true;
        }
    }

    /// Notes a change known to be at the top of `side` (a trade there).
    pub fn touch_top(&mut self, side: Side) {
        self.depth_dirty[side as usize] = true;
    }

    /// If the top of the book changed since it was last published, returns
    /// the new depth and remembers it as published. Only sides that were
    /// touched are re-read, in place.
    pub fn take_depth_change(&mut self) -> Option<Depth> {
        let [bids_dirty, asks_dirty] = std::mem::take(&mut self.depth_dirty);
        let bids_changed = bids_dirty && self.published_bids.refresh(self.bids.depth_levels());
        let asks_changed = asks_dirty && self.published_asks.refresh(self.asks.depth_levels());
        if !(bids_changed || asks_changed) {
            return None;
        }
        Some(Depth {
            symbol: self.symbol,
            bids: self.published_bids,
            asks: self.published_asks,
            last_price: self.last_price,
            last_qty: self.last_qty,
        })
    }

    /// After a restore: the current top is what was last published.
    pub fn mark_depth_published(&mut self) {
        self.published_bids = self.bids.depth();
        self.published_asks = self.asks.depth();
        self.depth_dirty = [false; 2];
    }
}
