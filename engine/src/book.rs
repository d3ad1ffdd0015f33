//! The book of one symbol: both ladders, the untriggered stops, the symbol's
//! rules, the last trade, and the depth last published.
//!
//! Depth is maintained incrementally: every mutation that touches one of the
//! best [`DEPTH_LEVELS`](crate::DEPTH_LEVELS) levels marks the book dirty, and
//! at the end of a command a dirty book compares its current top levels with
//! the ones it last published. That makes "depth changed" exact (a change
//! that is undone within the command emits nothing) while costing nothing for
//! commands that stay below the top.
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
    depth_dirty: bool,
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
            depth_dirty: false,
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
        if !self.depth_dirty && self.ladder(side).in_depth(price) {
            self.depth_dirty = true;
        }
    }

    /// Notes a change known to be at the top of the book (a trade).
    pub fn touch_top(&mut self) {
        self.depth_dirty = true;
    }

    /// If the top of the book changed since it was last published, returns
    /// the new depth and remembers it as published.
    pub fn take_depth_change(&mut self) -> Option<Depth> {
        if !self.depth_dirty {
            return None;
        }
        self.depth_dirty = false;
        let bids = self.bids.depth();
        let asks = self.asks.depth();
        if bids == self.published_bids && asks == self.published_asks {
            return None;
        }
        self.published_bids = bids;
        self.published_asks = asks;
        Some(Depth {
            symbol: self.symbol,
            bids,
            asks,
            last_price: self.last_price,
            last_qty: self.last_qty,
        })
    }

    /// After a restore: the current top is what was last published.
    pub fn mark_depth_published(&mut self) {
        self.published_bids = self.bids.depth();
        self.published_asks = self.asks.depth();
        self.depth_dirty = false;
    }
}
