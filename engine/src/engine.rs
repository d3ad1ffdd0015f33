//! The matcher: applies one command at a time to the books, deterministically.
//!
//! `Engine::apply` is a pure function of the engine's state and the command.
//! It must never read a clock, do I/O, block, use randomness, or depend on
//! the iteration order of a hash table; after warm-up it must not allocate.
//! Anything that breaks one of those rules breaks journal replay.

use std::collections::HashMap;

use rustc_hash::FxBuildHasher;

use crate::book::Book;
use crate::command::{Action, AdminAction, AdminCommand, Command, OrderSpec, ReplaceSpec};
use crate::config::{ConfigError, EngineConfig, SelfTradePrevention, SymbolRules};
use crate::event::{
    AdminRef, CancelReason, Depth, Event, EventSink, OrderRef, RejectReason, Trade, TradeParty,
};
use crate::ids::{OrderId, Symbol, UserId};
use crate::orders::{Order, OrderView, Orders, key_hash};
use crate::slot::NIL;
use crate::types::{OrderType, Price, Qty, Side, TimeInForce};

/// The matching engine: every symbol's book and every live order.
///
/// # Event order
///
/// Each command produces its events in this order; consumers number outputs
/// by it, so it is part of the contract.
///
/// - **ADD**
///   1. Exactly one `Rejected` if the symbol is unknown (and the symbol limit
///      is reached), the id is live for the user, the order breaks its
///      symbol's rules, or a post-only order would take. Nothing else follows.
///   2. Otherwise `Accepted`, then:
///      - a FOK order that cannot fill completely: `Expired`;
///      - else, per execution in price-time order: `Trade`; self-trade
///        prevention may interleave `Cancelled` (resting first, then
///        incoming);
///      - an IOC or market remainder: `Expired`. A GTC limit remainder rests
///        silently. A stop order rests in the stop list silently.
///   3. Stops that the new last price triggers, one at a time: `Triggered`,
///      then that order's events as in step 2.
///   4. `Depth`, if the top five levels of either side changed.
/// - **CANCEL**: `Cancelled` or `CancelRejected`, then `Depth` if changed.
/// - **REPLACE**: `ReplaceRejected`; or `Cancelled` when the new total is at
///   or below the filled quantity; or `Replaced`, then (when priority is
///   lost) the order's executions as in step 2, triggered stops, and `Depth`.
///
/// A halted symbol answers ADD with `Rejected` and REPLACE with
/// `ReplaceRejected`, both `SYMBOL_HALTED`; CANCEL works as usual. Admin
/// commands' events are listed on [`Engine::apply_admin`].
pub struct Engine {
    pub(crate) config: EngineConfig,
    /// Symbol to book index. Looked up, never iterated: `books` holds the
    /// canonical order.
    pub(crate) symbols: HashMap<Symbol, u32, FxBuildHasher>,
    pub(crate) books: Vec<Book>,
    pub(crate) orders: Orders,
    /// The id of the next trade; trade ids start at 1.
    pub(crate) next_trade_id: u64,
    /// The arrival number of the next order; orders stops by time.
    pub(crate) next_arrival: u64,
    /// The partition moves under way here, at most one each way.
    pub(crate) moves: crate::moves::MoveState,
}

/// A full copy of the state. `clone_from` reuses the target's memory: a
/// server keeps a spare engine and copies into it to snapshot, so the
/// matcher pays for a memory copy and not for fresh pages or serialising.
impl Clone for Engine {
    fn clone(&self) -> Engine {
        Engine {
            config: self.config.clone(),
            symbols: self.symbols.clone(),
            books: self.books.clone(),
            orders: self.orders.clone(),
            next_trade_id: self.next_trade_id,
            next_arrival: self.next_arrival,
            moves: self.moves.clone(),
        }
    }

    fn clone_from(&mut self, source: &Engine) {
        self.config.clone_from(&source.config);
        self.symbols.clone_from(&source.symbols);
        self.books.clone_from(&source.books);
        self.orders.clone_from(&source.orders);
        self.next_trade_id = source.next_trade_id;
        self.next_arrival = source.next_arrival;
        self.moves.clone_from(&source.moves);
    }
}

/// Book-level figures for one symbol, for tools and benchmarks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookSummary {
    /// The highest bid, if any.
    pub best_bid: Option<Price>,
    /// The lowest ask, if any.
    pub best_ask: Option<Price>,
    /// Orders resting on the bid side.
    pub bid_orders: usize,
    /// Orders resting on the ask side.
    pub ask_orders: usize,
    /// Distinct bid prices.
    pub bid_levels: usize,
    /// Distinct ask prices.
    pub ask_levels: usize,
    /// Untriggered stop orders, both sides.
    pub stop_orders: usize,
    /// The last trade price, if any trade happened.
    pub last_price: Option<Price>,
    /// The last trade quantity, `0` if none.
    pub last_qty: Qty,
}

/// What `replace` checks of the order it changes.
#[derive(Clone, Copy)]
struct Resting {
    level: u32,
    side: Side,
    price: Price,
    quantity: Qty,
    filled: Qty,
    post_only: bool,
}

/// How matching an aggressor ended.
enum MatchEnd {
    /// Matching stopped: filled, or no more crossing liquidity.
    Stopped,
    /// Self-trade prevention cancelled the aggressor.
    TakerCancelled,
}

impl Engine {
    /// Builds an empty engine. Configured symbols get their books at once.
    pub fn new(config: EngineConfig) -> Result<Engine, ConfigError> {
        config.validate()?;
        let mut engine = Engine {
            symbols: HashMap::with_capacity_and_hasher(config.max_symbols as usize, FxBuildHasher),
            books: Vec::with_capacity(config.max_symbols as usize),
            orders: Orders::with_capacity(
                config.memory.order_capacity as usize,
                config.memory.prefault,
            ),
            next_trade_id: 1,
            next_arrival: 0,
            moves: Default::default(),
            config,
        };
        for (symbol, rules) in engine.config.symbols.clone() {
            engine.create_book(symbol, rules);
        }
        Ok(engine)
    }

    /// The configuration in force.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Applies one command, reporting its outcomes to `sink` in the order
    /// documented on [`Engine`].
    pub fn apply<S: EventSink + ?Sized>(&mut self, command: &Command, sink: &mut S) {
        self.apply_from(command, -1, sink);
    }

    /// Applies one command that came from `orders` partition `partition`
    /// (`-1`: from no partition). A book an `ADD` creates records the
    /// partition, which is what a move of that partition carries.
    pub fn apply_from<S: EventSink + ?Sized>(
        &mut self,
        command: &Command,
        partition: i32,
        sink: &mut S,
    ) {
        match command.action {
            Action::Add(spec) => self.add(command, spec, partition, sink),
            Action::Cancel => self.cancel(command, sink),
            Action::Replace(spec) => self.replace(command, spec, sink),
        }
    }

    /// Applies one operator command. Its events, in order:
    ///
    /// - `AdminRejected` alone if it names a symbol without a book, or a
    ///   reference price of 0 or off the symbol's tick grid.
    /// - **HALT**: `AdminApplied`. Halting a halted symbol is accepted and
    ///   changes nothing, so an operator may retry.
    /// - **RESUME**: the stops that the reference price reached while the
    ///   symbol was halted, as after an ADD (`Triggered`, executions,
    ///   `Depth`), then `AdminApplied`.
    /// - **MASS_CANCEL**: book by book in the order books were created, the
    ///   matching orders' `Cancelled` (reason `MASS_CANCEL`): bids in
    ///   priority order, then asks, then buy stops and sell stops in
    ///   trigger order; then that book's `Depth` if it changed. Last,
    ///   `AdminApplied` with the count.
    /// - **SET_REFERENCE_PRICE**: before the symbol's first trade, stops
    ///   the new reference reaches trigger (unless halted); then
    ///   `AdminApplied`.
    ///
    /// A mass cancel scans the books it covers rather than keep a list of
    /// each user's orders, which every order would pay for. It allocates
    /// its list of matches; admin commands are not the hot path.
    pub fn apply_admin<S: EventSink + ?Sized>(&mut self, command: &AdminCommand, sink: &mut S) {
        let request = AdminRef {
            request_id: command.request_id,
            action: command.action,
        };
        let reject =
            |sink: &mut S, reason| sink.on_event(&Event::AdminRejected { request, reason });
        // A symbol released or moved away is another engine's to answer for.
        let book_of = |engine: &Engine, symbol: &Symbol| {
            let b = *engine
                .symbols
                .get(symbol)
                .ok_or(RejectReason::UnknownSymbol)? as usize;
            if engine.books[b].away {
                return Err(RejectReason::SymbolMoved);
            }
            Ok(b)
        };
        let mut cancelled = 0;
        match command.action {
            AdminAction::Halt { symbol } => {
                let b = match book_of(self, &symbol) {
                    Ok(b) => b,
                    Err(reason) => return reject(sink, reason),
                };
                self.books[b].halted = true;
            }
            AdminAction::Resume { symbol } => {
                let b = match book_of(self, &symbol) {
                    Ok(b) => b,
                    Err(reason) => return reject(sink, reason),
                };
                self.books[b].halted = false;
                self.run_triggers(b, command.ts, sink);
                self.publish_depth(b, sink);
            }
            AdminAction::MassCancel { symbol, user_id } => {
                let books = match symbol {
                    Some(symbol) => match book_of(self, &symbol) {
                        Ok(b) => b..b + 1,
                        Err(reason) => return reject(sink, reason),
                    },
                    None => 0..self.books.len(),
                };
                for b in books {
                    if !self.books[b].away {
                        cancelled += self.mass_cancel_book(b, user_id.as_ref(), sink);
                    }
                }
            }
            AdminAction::SetReferencePrice { symbol, price } => {
                let b = match book_of(self, &symbol) {
                    Ok(b) => b,
                    Err(reason) => return reject(sink, reason),
                };
                let tick = self.books[b].rules.tick_size;
                if price == 0 {
                    return reject(sink, RejectReason::InvalidPrice);
                }
                if price % tick != 0 {
                    return reject(sink, RejectReason::TickSizeViolation);
                }
                self.books[b].rules.reference_price = Some(price);
                self.run_triggers(b, command.ts, sink);
                self.publish_depth(b, sink);
            }
            AdminAction::Release {
                partition,
                to,
                after_offset,
            } => {
                if let Err(reason) =
                    self.release(command.request_id, partition, to, after_offset, sink)
                {
                    return reject(sink, reason);
                }
            }
        }
        sink.on_event(&Event::AdminApplied { request, cancelled });
    }

    /// Cancels book `b`'s live orders (of `user`, if given) in the order
    /// [`Engine::apply_admin`] documents; returns how many.
    fn mass_cancel_book<S: EventSink + ?Sized>(
        &mut self,
        b: usize,
        user: Option<&UserId>,
        sink: &mut S,
    ) -> u32 {
        let mut slots = self.live_slots_of(b);
        if let Some(user) = user {
            slots.retain(|&slot| self.orders.get(slot).user_id == *user);
        }
        let symbol = self.books[b].symbol;
        for &slot in &slots {
            let order = *self.orders.get(slot);
            let remaining = self.remove_live(b, slot);
            sink.on_event(&Event::Cancelled {
                order: OrderRef {
                    symbol,
                    user_id: order.user_id,
                    order_id: order.order_id,
                },
                remaining,
                reason: CancelReason::MassCancel,
            });
        }
        self.publish_depth(b, sink);
        slots.len() as u32
    }

    /// Book `b`'s live orders: bids in priority order, then asks, then buy
    /// stops and sell stops in trigger order.
    pub(crate) fn live_slots_of(&self, b: usize) -> Vec<u32> {
        let book = &self.books[b];
        let mut slots = Vec::new();
        for side in [Side::Buy, Side::Sell] {
            for level in book.ladder(side).levels_best_first() {
                let mut slot = level.head;
                while slot != NIL {
                    slots.push(slot);
                    slot = self.orders.get(slot).next;
                }
            }
        }
        for queue in [&book.buy_stops, &book.sell_stops] {
            slots.extend(queue.slots_in_trigger_order());
        }
        slots
    }

    /// Whether `symbol` has a book and an operator halted it.
    pub fn is_halted(&self, symbol: &Symbol) -> bool {
        self.symbols
            .get(symbol)
            .is_some_and(|&b| self.books[b as usize].halted)
    }

    /// Starts pulling into cache what applying `command` will look up
    /// first. A pure hint with no effect on state: a caller that holds a
    /// batch of commands calls it a few commands ahead of `apply`, so the
    /// memory round trip of the order-id lookup overlaps useful work.
    pub fn prefetch(&self, command: &Command) {
        self.orders
            .prefetch(key_hash(&command.user_id, &command.order_id));
    }

    /// Starts pulling `command` itself into cache, for a caller that will
    /// [`prefetch`](Self::prefetch) it a few commands later: reading its
    /// ids to hash them would otherwise wait for memory right there. A
    /// pure hint.
    pub fn prefetch_command(command: &Command) {
        let start: *const i8 = std::ptr::from_ref(command).cast();
        let mut line = 0;
        while line < std::mem::size_of::<Command>() {
            crate::index::prefetch_read(start.wrapping_add(line));
            line += 64;
        }
    }

    /// Figures for one symbol's book, if the symbol exists.
    pub fn book_summary(&self, symbol: &Symbol) -> Option<BookSummary> {
        let book = &self.books[*self.symbols.get(symbol)? as usize];
        Some(BookSummary {
            best_bid: book.bids.best_price(),
            best_ask: book.asks.best_price(),
            bid_orders: book.bids.order_count(),
            ask_orders: book.asks.order_count(),
            bid_levels: book.bids.level_count(),
            ask_levels: book.asks.level_count(),
            stop_orders: book.buy_stops.len() + book.sell_stops.len(),
            last_price: (book.last_price != 0).then_some(book.last_price),
            last_qty: book.last_qty,
        })
    }

    /// The current top of one symbol's book.
    pub fn depth(&self, symbol: &Symbol) -> Option<Depth> {
        let book = &self.books[*self.symbols.get(symbol)? as usize];
        Some(Depth {
            symbol: book.symbol,
            bids: *book.bids.depth(),
            asks: *book.asks.depth(),
            last_price: book.last_price,
            last_qty: book.last_qty,
        })
    }

    /// One side's resting orders in priority order: best price first, oldest
    /// first within a price. Empty if the symbol does not exist.
    pub fn resting_orders(&self, symbol: &Symbol, side: Side) -> Vec<OrderView> {
        let Some(&b) = self.symbols.get(symbol) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for level in self.books[b as usize].ladder(side).levels_best_first() {
            let mut slot = level.head;
            while slot != NIL {
                let order = self.orders.get(slot);
                out.push(order.view());
                slot = order.next;
            }
        }
        out
    }

    /// One side's untriggered stop orders, next to trigger first. Empty if
    /// the symbol does not exist.
    pub fn stop_orders(&self, symbol: &Symbol, side: Side) -> Vec<OrderView> {
        let Some(&b) = self.symbols.get(symbol) else {
            return Vec::new();
        };
        let book = &self.books[b as usize];
        let queue = match side {
            Side::Buy => &book.buy_stops,
            Side::Sell => &book.sell_stops,
        };
        queue
            .slots_in_trigger_order()
            .map(|slot| self.orders.get(slot).view())
            .collect()
    }

    /// The live order (resting or waiting for a trigger) of `user_id` with
    /// `order_id`, and its symbol.
    pub fn live_order(&self, user_id: &UserId, order_id: &OrderId) -> Option<(Symbol, OrderView)> {
        let slot = self
            .orders
            .find(key_hash(user_id, order_id), user_id, order_id)?;
        let order = self.orders.get(slot);
        Some((self.books[order.book as usize].symbol, order.view()))
    }

    /// How many orders are live (resting or waiting for a trigger).
    pub fn live_orders(&self) -> usize {
        self.orders.live()
    }

    /// How many symbols have a book.
    pub fn symbol_count(&self) -> usize {
        self.books.len()
    }

    // ----- commands -------------------------------------------------------

    fn add<S: EventSink + ?Sized>(
        &mut self,
        cmd: &Command,
        spec: OrderSpec,
        partition: i32,
        sink: &mut S,
    ) {
        let spec = spec.in_force();
        let order_ref = order_ref(cmd);
        let reject = |sink: &mut S, reason| {
            sink.on_event(&Event::Rejected {
                order: order_ref,
                reason,
            })
        };
        let Some(b) = self.book_for_add(cmd.symbol) else {
            return reject(sink, RejectReason::UnknownSymbol);
        };
        if self.books[b].away {
            return reject(sink, RejectReason::SymbolMoved);
        }
        if self.books[b].partition < 0 {
            self.books[b].partition = partition;
        }
        let hash = key_hash(&cmd.user_id, &cmd.order_id);
        if self
            .orders
            .find(hash, &cmd.user_id, &cmd.order_id)
            .is_some()
        {
            return reject(sink, RejectReason::DuplicateOrderId);
        }
        let book = &self.books[b];
        if book.halted {
            return reject(sink, RejectReason::SymbolHalted);
        }
        if let Err(reason) = check_new_order(&book.rules, book.reference_price(), &spec) {
            return reject(sink, reason);
        }
        if spec.post_only && would_take(book, spec.side, spec.price) {
            return reject(sink, RejectReason::PostOnlyWouldTake);
        }
        let mut spec = spec;
        if spec.order_type == OrderType::MarketToLimit {
            // It takes the best opposite price as its limit, so it trades
            // that level only and rests there.
            match book.ladder(spec.side.opposite()).best_price() {
                Some(best) => spec.price = best,
                None => return reject(sink, RejectReason::NoLiquidity),
            }
        }
        sink.on_event(&Event::Accepted {
            order: order_ref,
            spec,
        });

        let arrival = self.next_arrival;
        self.next_arrival += 1;
        let mut order = Order {
            user_id: cmd.user_id,
            order_id: cmd.order_id,
            hash,
            arrival,
            entered_ns: cmd.ts,
            price: spec.price,
            stop_price: spec.stop_price,
            quantity: spec.quantity,
            filled: 0,
            book: b as u32,
            level: NIL,
            prev: NIL,
            next: NIL,
            side: spec.side,
            order_type: spec.order_type,
            tif: spec.tif,
            post_only: spec.post_only,
        };
        if spec.order_type.is_stop() {
            let slot = self.orders.insert(order);
            self.books[b]
                .stops_mut(spec.side)
                .insert(spec.stop_price, arrival, slot);
        } else {
            self.execute(b, &mut order, NIL, spec.max_notional, cmd.ts, sink);
        }
        self.run_triggers(b, cmd.ts, sink);
        self.publish_depth(b, sink);
    }

    fn cancel<S: EventSink + ?Sized>(&mut self, cmd: &Command, sink: &mut S) {
        let order_ref = order_ref(cmd);
        let Some((b, slot)) = self.find_live(cmd) else {
            let reason = RejectReason::UnknownOrder;
            return sink.on_event(&Event::CancelRejected {
                order: order_ref,
                reason,
            });
        };
        if self.books[b].away {
            return sink.on_event(&Event::CancelRejected {
                order: order_ref,
                reason: RejectReason::SymbolMoved,
            });
        }
        let remaining = self.remove_live(b, slot);
        sink.on_event(&Event::Cancelled {
            order: order_ref,
            remaining,
            reason: CancelReason::Requested,
        });
        self.publish_depth(b, sink);
    }

    fn replace<S: EventSink + ?Sized>(&mut self, cmd: &Command, spec: ReplaceSpec, sink: &mut S) {
        let order_ref = order_ref(cmd);
        let reject = |sink: &mut S, reason| {
            sink.on_event(&Event::ReplaceRejected {
                order: order_ref,
                reason,
            })
        };
        let Some((b, slot)) = self.find_live(cmd) else {
            return reject(sink, RejectReason::UnknownOrder);
        };
        if self.books[b].away {
            return reject(sink, RejectReason::SymbolMoved);
        }
        if self.books[b].halted {
            return reject(sink, RejectReason::SymbolHalted);
        }
        if spec.new_price.is_none() && spec.new_quantity.is_none() {
            return reject(sink, RejectReason::EmptyReplace);
        }
        // The fields the checks need, not a copy of the whole order.
        let order = {
            let o = self.orders.get(slot);
            Resting {
                level: o.level,
                side: o.side,
                price: o.price,
                quantity: o.quantity,
                filled: o.filled,
                post_only: o.post_only,
            }
        };
        if order.level == NIL {
            // Only untriggered stops are live without a level.
            return reject(sink, RejectReason::OrderNotReplaceable);
        }
        let book = &self.books[b];
        if let Some(quantity) = spec.new_quantity {
            if quantity == 0 {
                return reject(sink, RejectReason::InvalidQuantity);
            }
            if quantity <= order.filled {
                let remaining = self.remove_live(b, slot);
                sink.on_event(&Event::Cancelled {
                    order: order_ref,
                    remaining,
                    reason: CancelReason::ReplacedToFilled,
                });
                return self.publish_depth(b, sink);
            }
            if let Err(reason) = check_quantity(&book.rules, quantity) {
                return reject(sink, reason);
            }
        }
        if let Some(price) = spec.new_price
            && let Err(reason) = check_price(&book.rules, book.reference_price(), price)
        {
            return reject(sink, reason);
        }
        let new_price = spec.new_price.unwrap_or(order.price);
        let new_quantity = spec.new_quantity.unwrap_or(order.quantity);
        if order.post_only && new_price != order.price && would_take(book, order.side, new_price) {
            return reject(sink, RejectReason::PostOnlyWouldTake);
        }

        let kept_priority = new_price == order.price && new_quantity <= order.quantity;
        sink.on_event(&Event::Replaced {
            order: order_ref,
            spec,
            price: new_price,
            quantity: new_quantity,
            remaining: new_quantity - order.filled,
            kept_priority,
        });
        let book = &mut self.books[b];
        if kept_priority {
            let cut = order.quantity - new_quantity;
            if cut > 0 {
                book.ladder_mut(order.side).reduce(order.level, cut);
                self.orders.get_mut(slot).quantity = new_quantity;
            }
        } else if !would_take(book, order.side, new_price) {
            // A move that does not cross rests at once, as `execute` would
            // rest it: updated in its slot, at the back of its new level,
            // without copying the order out and back.
            book.ladder_mut(order.side).unlink(&mut self.orders, slot);
            let moved = self.orders.get_mut(slot);
            moved.price = new_price;
            moved.quantity = new_quantity;
            moved.entered_ns = cmd.ts;
            self.books[b]
                .ladder_mut(order.side)
                .push_back(&mut self.orders, slot);
        } else {
            book.ladder_mut(order.side).unlink(&mut self.orders, slot);
            let mut taker = *self.orders.get(slot);
            taker.price = new_price;
            taker.quantity = new_quantity;
            self.execute(b, &mut taker, slot, 0, cmd.ts, sink);
            self.run_triggers(b, cmd.ts, sink);
        }
        self.publish_depth(b, sink);
    }

    // ----- matching -------------------------------------------------------

    /// Trades `taker` against book `b`, then rests, expires or drops what is
    /// left. `slot` is the taker's arena slot, or `NIL` for a new order that
    /// only enters the arena if it rests. `budget` is a FOK order's
    /// `max_notional` (`0`: none); only a new order has one, and it is not
    /// kept, since a FOK order never rests.
    fn execute<S: EventSink + ?Sized>(
        &mut self,
        b: usize,
        taker: &mut Order,
        slot: u32,
        budget: u64,
        ts: u64,
        sink: &mut S,
    ) {
        let is_market = matches!(taker.order_type, OrderType::Market | OrderType::Stop);
        if taker.tif == TimeInForce::Fok && !self.fills_whole(b, taker, is_market, budget) {
            self.expire(b, taker, slot, sink);
            return;
        }
        if let MatchEnd::TakerCancelled = self.match_against(b, taker, is_market, ts, sink) {
            self.drop_taker(slot);
            return;
        }
        if taker.remaining() == 0 {
            self.drop_taker(slot);
        } else if is_market || taker.tif != TimeInForce::Gtc {
            self.expire(b, taker, slot, sink);
        } else {
            // It joins the back of its level now.
            taker.entered_ns = ts;
            let slot = if slot == NIL {
                self.orders.insert(*taker)
            } else {
                *self.orders.get_mut(slot) = *taker;
                slot
            };
            let book = &mut self.books[b];
            book.ladder_mut(taker.side)
                .push_back(&mut self.orders, slot);
        }
    }

    /// The matching loop: walks the opposite side in price-time order.
    fn match_against<S: EventSink + ?Sized>(
        &mut self,
        b: usize,
        taker: &mut Order,
        is_market: bool,
        ts: u64,
        sink: &mut S,
    ) -> MatchEnd {
        let stp = self.config.self_trade_prevention;
        let Engine {
            books,
            orders,
            next_trade_id,
            ..
        } = self;
        let book = &mut books[b];
        let symbol = book.symbol;
        let mut end = MatchEnd::Stopped;
        'levels: while taker.remaining() > 0 {
            let ladder = match taker.side {
                Side::Buy => &mut book.asks,
                Side::Sell => &mut book.bids,
            };
            let Some(level_slot) = ladder.best() else {
                break;
            };
            let level_price = ladder.level(level_slot).price;
            if !is_market && !crosses(taker.side, taker.price, level_price) {
                break;
            }
            let mut maker_slot = ladder.level(level_slot).head;
            while maker_slot != NIL && taker.remaining() > 0 {
                let maker = orders.get(maker_slot);
                let next = maker.next;
                // In a deep queue the next maker joined long ago and is out
                // of cache: fetch it now, for this aggressor or the next.
                // The bucket this maker leaves the index through, if it
                // fills, is a random address too.
                orders.prefetch_slot(next);
                orders.prefetch(maker.hash);
                if stp != SelfTradePrevention::Allow && maker.user_id == taker.user_id {
                    if matches!(
                        stp,
                        SelfTradePrevention::CancelResting | SelfTradePrevention::CancelBoth
                    ) {
                        let maker = *maker;
                        ladder.unlink(orders, maker_slot);
                        orders.remove(maker_slot);
                        sink.on_event(&Event::Cancelled {
                            order: OrderRef {
                                symbol,
                                user_id: maker.user_id,
                                order_id: maker.order_id,
                            },
                            remaining: maker.remaining(),
                            reason: CancelReason::SelfTrade,
                        });
                    }
                    if matches!(
                        stp,
                        SelfTradePrevention::CancelIncoming | SelfTradePrevention::CancelBoth
                    ) {
                        sink.on_event(&Event::Cancelled {
                            order: OrderRef {
                                symbol,
                                user_id: taker.user_id,
                                order_id: taker.order_id,
                            },
                            remaining: taker.remaining(),
                            reason: CancelReason::SelfTrade,
                        });
                        end = MatchEnd::TakerCancelled;
                        break 'levels;
                    }
                    maker_slot = next;
                    continue;
                }
                let quantity = taker.remaining().min(maker.remaining());
                taker.filled += quantity;
                let maker = orders.get_mut(maker_slot);
                maker.filled += quantity;
                let maker_party = TradeParty {
                    order_id: maker.order_id,
                    user_id: maker.user_id,
                    remaining: maker.remaining(),
                };
                ladder.reduce(level_slot, quantity);
                let trade_id = *next_trade_id;
                *next_trade_id += 1;
                book.last_price = level_price;
                book.last_qty = quantity;
                let taker_party = TradeParty {
                    order_id: taker.order_id,
                    user_id: taker.user_id,
                    remaining: taker.remaining(),
                };
                let (buyer, seller) = match taker.side {
                    Side::Buy => (taker_party, maker_party),
                    Side::Sell => (maker_party, taker_party),
                };
                sink.on_event(&Event::Trade(Trade {
                    trade_id,
                    symbol,
                    price: level_price,
                    quantity,
                    aggressor: taker.side,
                    buyer,
                    seller,
                    ts,
                }));
                if maker_party.remaining == 0 {
                    ladder.unlink(orders, maker_slot);
                    orders.remove(maker_slot);
                }
                maker_slot = next;
            }
        }
        end
    }

    /// Whether a FOK `taker` would trade its whole quantity right now,
    /// within `budget` if it is not `0`, honouring self-trade prevention,
    /// without changing anything. It walks exactly the fills the match
    /// would make, and stops once the quantity is reached.
    fn fills_whole(&self, b: usize, taker: &Order, is_market: bool, budget: u64) -> bool {
        let stp = self.config.self_trade_prevention;
        let mut needed = taker.remaining();
        // Price × quantity of the fills, exact: u64 × u64 fits in u128.
        let mut cost: u128 = 0;
        'levels: for level in self.books[b]
            .ladder(taker.side.opposite())
            .levels_best_first()
        {
            if !is_market && !crosses(taker.side, taker.price, level.price) {
                break;
            }
            let mut slot = level.head;
            while slot != NIL {
                let maker = self.orders.get(slot);
                if stp != SelfTradePrevention::Allow && maker.user_id == taker.user_id {
                    if stp != SelfTradePrevention::CancelResting {
                        break 'levels;
                    }
                } else {
                    let quantity = needed.min(maker.remaining());
                    needed -= quantity;
                    cost += u128::from(level.price) * u128::from(quantity);
                    if needed == 0 {
                        break 'levels;
                    }
                }
                slot = maker.next;
            }
        }
        needed == 0
            && match (budget, taker.side) {
                (0, _) => true,
                (_, Side::Buy) => cost <= u128::from(budget),
                (_, Side::Sell) => cost >= u128::from(budget),
            }
    }

    /// Triggers stops on book `b` while the last trade price allows, one at
    /// a time, each trading before the next is considered.
    #[inline]
    fn run_triggers<S: EventSink + ?Sized>(&mut self, b: usize, ts: u64, sink: &mut S) {
        // Most books hold no stops: answer that without a call.
        if self.books[b].has_stops() {
            self.trigger_stops(b, ts, sink);
        }
    }

    #[inline(never)]
    fn trigger_stops<S: EventSink + ?Sized>(&mut self, b: usize, ts: u64, sink: &mut S) {
        loop {
            let book = &self.books[b];
            let Some(last_price) = book.reference_price().filter(|_| !book.halted) else {
                return;
            };
            let ready = |queue: &crate::stops::StopQueue| {
                queue.peek().filter(|&(slot, _)| {
                    queue.triggers(self.orders.get(slot).stop_price, last_price)
                })
            };
            let (side, slot) = match (ready(&book.buy_stops), ready(&book.sell_stops)) {
                (Some(buy), Some(sell)) if sell.1 < buy.1 => (Side::Sell, sell.0),
                (Some(buy), _) => (Side::Buy, buy.0),
                (None, Some(sell)) => (Side::Sell, sell.0),
                (None, None) => return,
            };
            self.books[b].stops_mut(side).pop();
            let mut taker = *self.orders.get(slot);
            sink.on_event(&Event::Triggered {
                order: OrderRef {
                    symbol: self.books[b].symbol,
                    user_id: taker.user_id,
                    order_id: taker.order_id,
                },
                stop_price: taker.stop_price,
                last_price,
            });
            self.execute(b, &mut taker, slot, 0, ts, sink);
        }
    }

    // ----- helpers --------------------------------------------------------

    fn expire<S: EventSink + ?Sized>(&mut self, b: usize, taker: &Order, slot: u32, sink: &mut S) {
        sink.on_event(&Event::Expired {
            order: OrderRef {
                symbol: self.books[b].symbol,
                user_id: taker.user_id,
                order_id: taker.order_id,
            },
            remaining: taker.remaining(),
        });
        self.drop_taker(slot);
    }

    /// Releases an aggressor that will not rest.
    fn drop_taker(&mut self, slot: u32) {
        if slot != NIL {
            self.orders.remove(slot);
        }
    }

    /// Takes a live order out of its book (or stop list) and the arena,
    /// returning its open quantity.
    pub(crate) fn remove_live(&mut self, b: usize, slot: u32) -> Qty {
        let order = *self.orders.get(slot);
        let book = &mut self.books[b];
        if order.level == NIL {
            book.stops_mut(order.side)
                .remove(order.stop_price, order.arrival);
        } else {
            book.ladder_mut(order.side).unlink(&mut self.orders, slot);
        }
        self.orders.remove(slot);
        order.remaining()
    }

    /// The book and slot of the live order a cancel or replace names.
    fn find_live(&self, cmd: &Command) -> Option<(usize, u32)> {
        let b = *self.symbols.get(&cmd.symbol)?;
        let hash = key_hash(&cmd.user_id, &cmd.order_id);
        let slot = self.orders.find(hash, &cmd.user_id, &cmd.order_id)?;
        (self.orders.get(slot).book == b).then_some((b as usize, slot))
    }

    fn book_for_add(&mut self, symbol: Symbol) -> Option<usize> {
        if let Some(&b) = self.symbols.get(&symbol) {
            return Some(b as usize);
        }
        if self.books.len() >= self.config.max_symbols as usize {
            return None;
        }
        Some(self.create_book(symbol, self.config.default_rules))
    }

    pub(crate) fn create_book(&mut self, symbol: Symbol, rules: SymbolRules) -> usize {
        let b = self.books.len();
        self.books.push(Book::new(symbol, rules));
        self.symbols.insert(symbol, b as u32);
        b
    }

    fn publish_depth<S: EventSink + ?Sized>(&mut self, b: usize, sink: &mut S) {
        let book = &mut self.books[b];
        if book.take_depth_change() {
            sink.on_event(&Event::Depth(book.emitted_depth()));
        }
    }
}

fn order_ref(cmd: &Command) -> OrderRef {
    OrderRef {
        symbol: cmd.symbol,
        user_id: cmd.user_id,
        order_id: cmd.order_id,
    }
}

/// Whether an aggressor with limit `limit` on `side` trades at `level_price`.
fn crosses(side: Side, limit: Price, level_price: Price) -> bool {
    match side {
        Side::Buy => level_price <= limit,
        Side::Sell => level_price >= limit,
    }
}

/// Whether a limit order at `price` on `side` would trade on arrival.
fn would_take(book: &Book, side: Side, price: Price) -> bool {
    book.ladder(side.opposite())
        .best_price()
        .is_some_and(|best| crosses(side, price, best))
}

/// Checks a new order against its symbol's rules. The order of the checks is
/// part of the contract: the first failure is the reason reported.
#[inline(always)]
fn check_new_order(
    rules: &SymbolRules,
    reference: Option<Price>,
    spec: &OrderSpec,
) -> Result<(), RejectReason> {
    check_quantity(rules, spec.quantity)?;
    // One test, without branches, keeps plain orders off the rarer rules.
    if spec.post_only | (spec.order_type == OrderType::MarketToLimit) | (spec.max_notional != 0) {
        check_combination(spec)?;
    }
    // `spec` is in force: market and stop orders arrive here without a price.
    if spec.order_type.has_limit_price() {
        check_price(rules, reference, spec.price)?;
    }
    let needs_stop = spec.order_type.is_stop();
    let stop_ok = if needs_stop {
        spec.stop_price != 0 && spec.stop_price.is_multiple_of(rules.tick_size)
    } else {
        spec.stop_price == 0
    };
    if !stop_ok {
        return Err(RejectReason::InvalidStopPrice);
    }
    Ok(())
}

/// The rules of post-only orders, market-to-limit orders and budgets:
/// what each combines with.
#[cold]
fn check_combination(spec: &OrderSpec) -> Result<(), RejectReason> {
    if spec.post_only && (spec.order_type != OrderType::Limit || spec.tif != TimeInForce::Gtc) {
        return Err(RejectReason::InvalidOrderCombination);
    }
    if spec.order_type == OrderType::MarketToLimit && spec.tif != TimeInForce::Gtc {
        return Err(RejectReason::InvalidTimeInForce);
    }
    if spec.max_notional != 0
        && (spec.tif != TimeInForce::Fok
            || !matches!(spec.order_type, OrderType::Limit | OrderType::Market))
    {
        return Err(RejectReason::InvalidNotional);
    }
    Ok(())
}

#[inline(always)]
fn check_quantity(rules: &SymbolRules, quantity: Qty) -> Result<(), RejectReason> {
    if quantity == 0 {
        Err(RejectReason::InvalidQuantity)
    } else if rules.lot_size != 1 && !quantity.is_multiple_of(rules.lot_size) {
        Err(RejectReason::LotSizeViolation)
    } else if quantity < rules.min_quantity {
        Err(RejectReason::QuantityBelowMinimum)
    } else if quantity > rules.max_quantity {
        Err(RejectReason::QuantityAboveMaximum)
    } else {
        Ok(())
    }
}

#[inline(always)]
fn check_price(
    rules: &SymbolRules,
    reference: Option<Price>,
    price: Price,
) -> Result<(), RejectReason> {
    if price == 0 {
        return Err(RejectReason::InvalidPrice);
    }
    // Most symbols trade in single ticks; skip the division for them.
    if rules.tick_size != 1 && !price.is_multiple_of(rules.tick_size) {
        return Err(RejectReason::TickSizeViolation);
    }
    if let Some((low, high)) = reference.and_then(|r| rules.band(r))
        && (price < low || price > high)
    {
        return Err(RejectReason::PriceOutOfBand);
    }
    Ok(())
}
