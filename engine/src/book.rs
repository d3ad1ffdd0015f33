//! The book of one symbol: both ladders, the untriggered stops, the symbol's
//! rules, the last trade, and the depth last emitted.
//!
//! Each ladder keeps its best [`DEPTH_LEVELS`](crate::DEPTH_LEVELS) levels
//! current as levels change. At the end of a command, a book whose top
//! changed compares it with the depth it last emitted, so "depth changed" is
//! exact (changes undone within one command emit nothing) and commands that
//! stay below the top cost nothing.
//!
//! The book does not match; `Engine` does, using the pieces kept here.

use crate::config::SymbolRules;
use crate::event::{Depth, DepthSide};
use crate::ids::Symbol;
use crate::ladder::Ladder;
use crate::stops::StopQueue;
use crate::types::{Price, Qty, Side};

#[derive(Clone)]
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
    /// Set by an operator's halt: new orders and replaces are refused and
    /// stops wait, until a resume.
    pub halted: bool,
    /// The `orders` partition of the input that created the book, `-1`
    /// until an input from a partition names it (books from the config,
    /// tools and older snapshots). A move carries a partition's books.
    pub partition: i32,
    /// Released to another engine, or moved there and emptied: this
    /// engine does not trade it until it takes it back.
    pub away: bool,
    /// The depth in the last `Depth` event.
    emitted_bids: DepthSide,
    emitted_asks: DepthSide,
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
            halted: false,
            partition: -1,
            away: false,
            emitted_bids: DepthSide::default(),
            emitted_asks: DepthSide::default(),
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

    /// Whether any stop order waits on this book.
    pub(crate) fn has_stops(&self) -> bool {
        self.buy_stops.len() + self.sell_stops.len() > 0
    }

    /// The price the band is measured from and stops trigger on: the last
    /// trade, else the reference (configured, or set by an operator).
    pub fn reference_price(&self) -> Option<Price> {
        if self.last_price != 0 {
            Some(self.last_price)
        } else {
            self.rules.reference_price
        }
    }

    /// Whether the top of the book differs from the last `Depth` event; if
    /// so, records the current top as emitted. Sides are compared in place
    /// and only a changed side is copied.
    pub(crate) fn take_depth_change(&mut self) -> bool {
        let bids_touched = self.bids.take_top_changed();
        let asks_touched = self.asks.take_top_changed();
        let bids_changed = bids_touched && *self.bids.depth() != self.emitted_bids;
        let asks_changed = asks_touched && *self.asks.depth() != self.emitted_asks;
        if bids_changed {
            self.emitted_bids = *self.bids.depth();
        }
        if asks_changed {
            self.emitted_asks = *self.asks.depth();
        }
        bids_changed || asks_changed
    }

    /// The depth as last emitted.
    pub(crate) fn emitted_depth(&self) -> Depth {
        Depth {
            symbol: self.symbol,
            bids: self.emitted_bids,
            asks: self.emitted_asks,
            last_price: self.last_price,
            last_qty: self.last_qty,
        }
    }

    /// After a restore: the current top counts as already emitted.
    pub(crate) fn mark_depth_emitted(&mut self) {
        self.bids.take_top_changed();
        self.asks.take_top_changed();
        self.emitted_bids = *self.bids.depth();
        self.emitted_asks = *self.asks.depth();
    }
}

#[cfg(any(test, feature = "validate"))]
impl Book {
    /// Checks both ladders and both stop queues against the arena, that
    /// the depth last emitted is the book's top (every command publishes
    /// what it changed), and that the book is not crossed at rest. Returns
    /// the slots of every order the book holds.
    pub fn validate(&self, orders: &crate::orders::Orders, book: u32) -> Result<Vec<u32>, String> {
        let mut held = self.bids.validate(orders, book)?;
        held.extend(self.asks.validate(orders, book)?);
        held.extend(self.buy_stops.validate(orders, book)?);
        held.extend(self.sell_stops.validate(orders, book)?);
        if self.bids.top_changed()
            || self.asks.top_changed()
            || *self.bids.depth() != self.emitted_bids
            || *self.asks.depth() != self.emitted_asks
        {
            return Err("the top of the book changed without a depth event".into());
        }
        if let (Some(bid), Some(ask)) = (self.bids.best_price(), self.asks.best_price())
            && bid >= ask
        {
            return Err(format!("the book is crossed at rest: bid {bid}, ask {ask}"));
        }
        Ok(held)
    }
}
