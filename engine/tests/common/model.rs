//! A slow, obviously correct reference matcher.
//!
//! Every live order sits in one flat `Vec`. The best maker is found by
//! scanning all of them; depth is recomputed from scratch after every
//! command; stops are scanned for triggers. Nothing is incremental, nothing
//! is cached, so there is little to get wrong. It implements the rules of
//! `docs/engine.md` and the event order documented on `engine::Engine`, and the
//! differential tests require the real engine to agree with it event for
//! event.

use std::collections::BTreeMap;

use engine::sequenced::Input;
use engine::{
    Action, AdminAction, AdminCommand, AdminRef, CancelReason, Command, Depth, DepthLevel,
    DepthSide, EngineConfig, Event, OrderId, OrderRef, OrderSpec, OrderType, OrderView, Price, Qty,
    RejectReason, ReplaceSpec, SelfTradePrevention, Side, Symbol, SymbolRules, TimeInForce, Trade,
    TradeParty, UserId,
};

#[derive(Clone, Debug)]
struct ModelOrder {
    symbol: Symbol,
    user_id: UserId,
    order_id: OrderId,
    side: Side,
    order_type: OrderType,
    tif: TimeInForce,
    post_only: bool,
    price: Price,
    stop_price: Price,
    quantity: Qty,
    filled: Qty,
    /// When the order entered (for stop time priority).
    arrival: u64,
    /// When the order last joined the back of its price level.
    queue_time: u64,
    /// The ingress time of the command that put it there (or that added
    /// it to the stop list).
    entered_ns: u64,
    /// Waiting for its trigger (not in the book).
    waiting_stop: bool,
}

impl ModelOrder {
    fn remaining(&self) -> Qty {
        self.quantity - self.filled
    }

    fn order_ref(&self) -> OrderRef {
        OrderRef {
            symbol: self.symbol,
            user_id: self.user_id,
            order_id: self.order_id,
        }
    }

    fn view(&self) -> OrderView {
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

struct ModelBook {
    symbol: Symbol,
    rules: SymbolRules,
    last_price: Price,
    last_qty: Qty,
    halted: bool,
    published: (DepthSide, DepthSide),
}

/// The reference engine.
pub struct Model {
    config: EngineConfig,
    books: Vec<ModelBook>,
    orders: Vec<ModelOrder>,
    next_trade_id: u64,
    clock: u64,
}

impl Model {
    pub fn new(config: EngineConfig) -> Model {
        let books = config
            .symbols
            .iter()
            .map(|(&symbol, &rules)| ModelBook {
                symbol,
                rules,
                last_price: 0,
                last_qty: 0,
                halted: false,
                published: Default::default(),
            })
            .collect();
        Model {
            config,
            books,
            orders: Vec::new(),
            next_trade_id: 1,
            clock: 0,
        }
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn book(&self, symbol: &Symbol) -> Option<usize> {
        self.books.iter().position(|b| b.symbol == *symbol)
    }

    fn live(&self, cmd: &Command) -> Option<usize> {
        self.orders.iter().position(|o| {
            o.symbol == cmd.symbol && o.user_id == cmd.user_id && o.order_id == cmd.order_id
        })
    }

    /// Applies one command and returns its events.
    pub fn apply(&mut self, cmd: &Command) -> Vec<Event> {
        let mut out = Vec::new();
        match cmd.action {
            Action::Add(spec) => self.add(cmd, spec, &mut out),
            Action::Cancel => self.cancel(cmd, &mut out),
            Action::Replace(spec) => self.replace(cmd, spec, &mut out),
        }
        if let Some(b) = self.book(&cmd.symbol) {
            self.publish_depth(b, &mut out);
        }
        out
    }

    /// Applies one journaled input: a command, an admin command, or a
    /// malformed message (which the matcher never sees: no events).
    pub fn apply_input(&mut self, input: &Input) -> Vec<Event> {
        match input {
            Input::Command(cmd) => self.apply(cmd),
            Input::Admin(cmd) => self.apply_admin(cmd),
            Input::Malformed(_) | Input::MalformedAdmin(_) => Vec::new(),
            // One engine that never moves a book is the reference a move's
            // two engines are compared against.
            Input::Handover(_) => panic!("the reference model has no moves"),
        }
    }

    /// Applies one admin command and returns its events.
    pub fn apply_admin(&mut self, cmd: &AdminCommand) -> Vec<Event> {
        let mut out = Vec::new();
        let request = AdminRef {
            request_id: cmd.request_id,
            action: cmd.action,
        };
        let rejected = |reason| vec![Event::AdminRejected { request, reason }];
        let mut cancelled = 0;
        match cmd.action {
            AdminAction::Release { .. } => panic!("the reference model has no moves"),
            AdminAction::Halt { symbol } => {
                let Some(b) = self.book(&symbol) else {
                    return rejected(RejectReason::UnknownSymbol);
                };
                self.books[b].halted = true;
            }
            AdminAction::Resume { symbol } => {
                let Some(b) = self.book(&symbol) else {
                    return rejected(RejectReason::UnknownSymbol);
                };
                self.books[b].halted = false;
                self.triggers(b, cmd.ts, &mut out);
                self.publish_depth(b, &mut out);
            }
            AdminAction::SetReferencePrice { symbol, price } => {
                let Some(b) = self.book(&symbol) else {
                    return rejected(RejectReason::UnknownSymbol);
                };
                if price == 0 {
                    return rejected(RejectReason::InvalidPrice);
                }
                if !price.is_multiple_of(self.books[b].rules.tick_size) {
                    return rejected(RejectReason::TickSizeViolation);
                }
                self.books[b].rules.reference_price = Some(price);
                self.triggers(b, cmd.ts, &mut out);
                self.publish_depth(b, &mut out);
            }
            AdminAction::MassCancel { symbol, user_id } => {
                let books: Vec<usize> = match symbol {
                    Some(symbol) => match self.book(&symbol) {
                        Some(b) => vec![b],
                        None => return rejected(RejectReason::UnknownSymbol),
                    },
                    None => (0..self.books.len()).collect(),
                };
                for b in books {
                    let symbol = self.books[b].symbol;
                    // The documented order: bids, asks, buy stops, sell
                    // stops, each as the book lists them.
                    let mut doomed = Vec::new();
                    for side in [Side::Buy, Side::Sell] {
                        doomed.extend(self.resting_orders(&symbol, side));
                    }
                    for side in [Side::Buy, Side::Sell] {
                        doomed.extend(self.stop_orders(&symbol, side));
                    }
                    for view in doomed {
                        if user_id.is_some_and(|u| u != view.user_id) {
                            continue;
                        }
                        let i = self
                            .orders
                            .iter()
                            .position(|o| o.user_id == view.user_id && o.order_id == view.order_id)
                            .expect("listed orders are live");
                        let gone = self.orders.remove(i);
                        out.push(Event::Cancelled {
                            order: gone.order_ref(),
                            remaining: gone.remaining(),
                            reason: CancelReason::MassCancel,
                        });
                        cancelled += 1;
                    }
                    self.publish_depth(b, &mut out);
                }
            }
        }
        out.push(Event::AdminApplied { request, cancelled });
        out
    }

    /// Whether an operator halted `symbol`.
    pub fn is_halted(&self, symbol: &Symbol) -> bool {
        self.book(symbol).is_some_and(|b| self.books[b].halted)
    }

    fn add(&mut self, cmd: &Command, mut spec: OrderSpec, out: &mut Vec<Event>) {
        // Market and stop orders trade at any price: a price sent with one
        // is ignored, as if it had not been sent.
        if matches!(
            spec.order_type,
            OrderType::Market | OrderType::Stop | OrderType::MarketToLimit
        ) {
            spec.price = 0;
        }
        let order = OrderRef {
            symbol: cmd.symbol,
            user_id: cmd.user_id,
            order_id: cmd.order_id,
        };
        let b = match self.book(&cmd.symbol) {
            Some(b) => b,
            None if self.books.len() < self.config.max_symbols as usize => {
                self.books.push(ModelBook {
                    symbol: cmd.symbol,
                    rules: self.config.default_rules,
                    last_price: 0,
                    last_qty: 0,
                    halted: false,
                    published: Default::default(),
                });
                self.books.len() - 1
            }
            None => {
                out.push(Event::Rejected {
                    order,
                    reason: RejectReason::UnknownSymbol,
                });
                return;
            }
        };
        // Ids are unique per user across all symbols.
        if self
            .orders
            .iter()
            .any(|o| o.user_id == cmd.user_id && o.order_id == cmd.order_id)
        {
            out.push(Event::Rejected {
                order,
                reason: RejectReason::DuplicateOrderId,
            });
            return;
        }
        if self.books[b].halted {
            out.push(Event::Rejected {
                order,
                reason: RejectReason::SymbolHalted,
            });
            return;
        }
        if let Some(reason) = self.invalid_new_order(b, &spec) {
            out.push(Event::Rejected { order, reason });
            return;
        }
        if spec.post_only && self.would_take(cmd.symbol, spec.side, spec.price) {
            out.push(Event::Rejected {
                order,
                reason: RejectReason::PostOnlyWouldTake,
            });
            return;
        }
        if spec.order_type == OrderType::MarketToLimit {
            // Its limit is the best opposite price; with none it is refused.
            let best = self.resting_orders(&cmd.symbol, spec.side.opposite());
            match best.first() {
                Some(best) => spec.price = best.price,
                None => {
                    out.push(Event::Rejected {
                        order,
                        reason: RejectReason::NoLiquidity,
                    });
                    return;
                }
            }
        }
        out.push(Event::Accepted { order, spec });
        let arrival = self.tick();
        let new = ModelOrder {
            symbol: cmd.symbol,
            user_id: cmd.user_id,
            order_id: cmd.order_id,
            side: spec.side,
            order_type: spec.order_type,
            tif: spec.tif,
            post_only: spec.post_only,
            price: spec.price,
            stop_price: spec.stop_price,
            quantity: spec.quantity,
            filled: 0,
            arrival,
            queue_time: arrival,
            entered_ns: cmd.ts,
            waiting_stop: spec.order_type == OrderType::Stop
                || spec.order_type == OrderType::StopLimit,
        };
        if new.waiting_stop {
            self.orders.push(new);
        } else {
            self.execute(b, new, spec.max_notional, cmd.ts, out);
        }
        self.triggers(b, cmd.ts, out);
    }

    fn cancel(&mut self, cmd: &Command, out: &mut Vec<Event>) {
        let order = OrderRef {
            symbol: cmd.symbol,
            user_id: cmd.user_id,
            order_id: cmd.order_id,
        };
        match self.live(cmd) {
            None => out.push(Event::CancelRejected {
                order,
                reason: RejectReason::UnknownOrder,
            }),
            Some(i) => {
                let gone = self.orders.remove(i);
                out.push(Event::Cancelled {
                    order,
                    remaining: gone.remaining(),
                    reason: CancelReason::Requested,
                });
            }
        }
    }

    fn replace(&mut self, cmd: &Command, spec: ReplaceSpec, out: &mut Vec<Event>) {
        let order = OrderRef {
            symbol: cmd.symbol,
            user_id: cmd.user_id,
            order_id: cmd.order_id,
        };
        let reject =
            |out: &mut Vec<Event>, reason| out.push(Event::ReplaceRejected { order, reason });
        let Some(i) = self.live(cmd) else {
            return reject(out, RejectReason::UnknownOrder);
        };
        if self.book(&cmd.symbol).is_some_and(|b| self.books[b].halted) {
            return reject(out, RejectReason::SymbolHalted);
        }
        if spec.new_price.is_none() && spec.new_quantity.is_none() {
            return reject(out, RejectReason::EmptyReplace);
        }
        if self.orders[i].waiting_stop {
            return reject(out, RejectReason::OrderNotReplaceable);
        }
        let b = self.book(&cmd.symbol).expect("a live order has a book");
        let current = self.orders[i].clone();
        if let Some(q) = spec.new_quantity {
            if q == 0 {
                return reject(out, RejectReason::InvalidQuantity);
            }
            if q <= current.filled {
                self.orders.remove(i);
                out.push(Event::Cancelled {
                    order,
                    remaining: current.remaining(),
                    reason: CancelReason::ReplacedToFilled,
                });
                return;
            }
            if let Some(reason) = self.invalid_quantity(b, q) {
                return reject(out, reason);
            }
        }
        if let Some(p) = spec.new_price
            && let Some(reason) = self.invalid_price(b, p)
        {
            return reject(out, reason);
        }
        let price = spec.new_price.unwrap_or(current.price);
        let quantity = spec.new_quantity.unwrap_or(current.quantity);
        if current.post_only
            && price != current.price
            && self.would_take(cmd.symbol, current.side, price)
        {
            return reject(out, RejectReason::PostOnlyWouldTake);
        }
        let kept_priority = price == current.price && quantity <= current.quantity;
        out.push(Event::Replaced {
            order,
            spec,
            price,
            quantity,
            remaining: quantity - current.filled,
            kept_priority,
        });
        if kept_priority {
            self.orders[i].quantity = quantity;
        } else {
            let mut moved = self.orders.remove(i);
            moved.price = price;
            moved.quantity = quantity;
            self.execute(b, moved, 0, cmd.ts, out);
            self.triggers(b, cmd.ts, out);
        }
    }

    /// First failing rule for a new order, in the documented order.
    fn invalid_new_order(&self, b: usize, spec: &OrderSpec) -> Option<RejectReason> {
        if let Some(reason) = self.invalid_quantity(b, spec.quantity) {
            return Some(reason);
        }
        if spec.post_only && !(spec.order_type == OrderType::Limit && spec.tif == TimeInForce::Gtc)
        {
            return Some(RejectReason::InvalidOrderCombination);
        }
        if spec.order_type == OrderType::MarketToLimit && spec.tif != TimeInForce::Gtc {
            return Some(RejectReason::InvalidTimeInForce);
        }
        let budget_allowed = spec.tif == TimeInForce::Fok
            && matches!(spec.order_type, OrderType::Limit | OrderType::Market);
        if spec.max_notional != 0 && !budget_allowed {
            return Some(RejectReason::InvalidNotional);
        }
        let limit_priced = matches!(spec.order_type, OrderType::Limit | OrderType::StopLimit);
        if limit_priced && let Some(reason) = self.invalid_price(b, spec.price) {
            return Some(reason);
        }
        let is_stop = matches!(spec.order_type, OrderType::Stop | OrderType::StopLimit);
        let tick = self.books[b].rules.tick_size;
        let stop_ok = if is_stop {
            spec.stop_price > 0 && spec.stop_price.is_multiple_of(tick)
        } else {
            spec.stop_price == 0
        };
        if !stop_ok {
            return Some(RejectReason::InvalidStopPrice);
        }
        None
    }

    fn invalid_quantity(&self, b: usize, q: Qty) -> Option<RejectReason> {
        let rules = &self.books[b].rules;
        if q == 0 {
            Some(RejectReason::InvalidQuantity)
        } else if !q.is_multiple_of(rules.lot_size) {
            Some(RejectReason::LotSizeViolation)
        } else if q < rules.min_quantity {
            Some(RejectReason::QuantityBelowMinimum)
        } else if q > rules.max_quantity {
            Some(RejectReason::QuantityAboveMaximum)
        } else {
            None
        }
    }

    fn invalid_price(&self, b: usize, p: Price) -> Option<RejectReason> {
        let book = &self.books[b];
        if p == 0 {
            return Some(RejectReason::InvalidPrice);
        }
        if !p.is_multiple_of(book.rules.tick_size) {
            return Some(RejectReason::TickSizeViolation);
        }
        let reference = if book.last_price > 0 {
            Some(book.last_price)
        } else {
            book.rules.reference_price
        };
        if let (Some(r), Some(bps)) = (reference, book.rules.price_band_bps) {
            // Plain arithmetic on u128: reference ± reference·bps/10000.
            let width = r as u128 * bps as u128 / 10_000;
            let (low, high) = (r as u128 - width, r as u128 + width);
            if (p as u128) < low || (p as u128) > high {
                return Some(RejectReason::PriceOutOfBand);
            }
        }
        None
    }

    fn crosses(side: Side, limit: Option<Price>, maker_price: Price) -> bool {
        match (side, limit) {
            (_, None) => true,
            (Side::Buy, Some(l)) => maker_price <= l,
            (Side::Sell, Some(l)) => maker_price >= l,
        }
    }

    fn would_take(&self, symbol: Symbol, side: Side, price: Price) -> bool {
        self.orders.iter().any(|o| {
            o.symbol == symbol
                && !o.waiting_stop
                && o.side != side
                && Self::crosses(side, Some(price), o.price)
        })
    }

    /// Resting orders opposite `side` that cross `limit`, best first.
    fn makers(&self, symbol: Symbol, side: Side, limit: Option<Price>) -> Vec<usize> {
        let mut found: Vec<usize> = (0..self.orders.len())
            .filter(|&i| {
                let o = &self.orders[i];
                o.symbol == symbol
                    && !o.waiting_stop
                    && o.side != side
                    && Self::crosses(side, limit, o.price)
            })
            .collect();
        found.sort_by_key(|&i| {
            let o = &self.orders[i];
            let price_rank = match o.side {
                Side::Sell => o.price,
                Side::Buy => u64::MAX - o.price,
            };
            (price_rank, o.queue_time)
        });
        found
    }

    /// `budget`: a FOK order's `max_notional`, `0` for none.
    fn execute(
        &mut self,
        b: usize,
        mut taker: ModelOrder,
        budget: u64,
        ts: u64,
        out: &mut Vec<Event>,
    ) {
        let symbol = self.books[b].symbol;
        let is_market = matches!(taker.order_type, OrderType::Market | OrderType::Stop);
        let limit = if is_market { None } else { Some(taker.price) };
        let stp = self.config.self_trade_prevention;

        if taker.tif == TimeInForce::Fok {
            // The fills it would make, in order, and what they cost.
            let mut left = taker.remaining();
            let mut cost: u128 = 0;
            for i in self.makers(symbol, taker.side, limit) {
                let maker = &self.orders[i];
                if stp != SelfTradePrevention::Allow && maker.user_id == taker.user_id {
                    if stp == SelfTradePrevention::CancelResting {
                        continue;
                    }
                    break;
                }
                let fill = left.min(maker.remaining());
                left -= fill;
                cost += maker.price as u128 * fill as u128;
            }
            let within_budget = match taker.side {
                _ if budget == 0 => true,
                Side::Buy => cost <= budget as u128,
                Side::Sell => cost >= budget as u128,
            };
            if left > 0 || !within_budget {
                out.push(Event::Expired {
                    order: taker.order_ref(),
                    remaining: taker.remaining(),
                });
                return;
            }
        }

        while taker.remaining() > 0 {
            let Some(&i) = self.makers(symbol, taker.side, limit).first() else {
                break;
            };
            if stp != SelfTradePrevention::Allow && self.orders[i].user_id == taker.user_id {
                if matches!(
                    stp,
                    SelfTradePrevention::CancelResting | SelfTradePrevention::CancelBoth
                ) {
                    let gone = self.orders.remove(i);
                    out.push(Event::Cancelled {
                        order: gone.order_ref(),
                        remaining: gone.remaining(),
                        reason: CancelReason::SelfTrade,
                    });
                }
                if matches!(
                    stp,
                    SelfTradePrevention::CancelIncoming | SelfTradePrevention::CancelBoth
                ) {
                    out.push(Event::Cancelled {
                        order: taker.order_ref(),
                        remaining: taker.remaining(),
                        reason: CancelReason::SelfTrade,
                    });
                    return;
                }
                continue;
            }
            let quantity = taker.remaining().min(self.orders[i].remaining());
            taker.filled += quantity;
            self.orders[i].filled += quantity;
            let maker = self.orders[i].clone();
            let trade_id = self.next_trade_id;
            self.next_trade_id += 1;
            self.books[b].last_price = maker.price;
            self.books[b].last_qty = quantity;
            let party = |o: &ModelOrder| TradeParty {
                order_id: o.order_id,
                user_id: o.user_id,
                remaining: o.remaining(),
            };
            let (buyer, seller) = match taker.side {
                Side::Buy => (party(&taker), party(&maker)),
                Side::Sell => (party(&maker), party(&taker)),
            };
            out.push(Event::Trade(Trade {
                trade_id,
                symbol,
                price: maker.price,
                quantity,
                aggressor: taker.side,
                buyer,
                seller,
                ts,
            }));
            if maker.remaining() == 0 {
                self.orders.remove(i);
            }
        }

        if taker.remaining() == 0 {
            return;
        }
        if is_market || taker.tif != TimeInForce::Gtc {
            out.push(Event::Expired {
                order: taker.order_ref(),
                remaining: taker.remaining(),
            });
            return;
        }
        taker.waiting_stop = false;
        taker.queue_time = self.tick();
        taker.entered_ns = ts;
        self.orders.push(taker);
    }

    fn triggers(&mut self, b: usize, ts: u64, out: &mut Vec<Event>) {
        loop {
            let book = &self.books[b];
            let symbol = book.symbol;
            if book.halted {
                return;
            }
            // Stops trigger on the last trade, or before the first one on
            // the reference price.
            let last = if book.last_price > 0 {
                book.last_price
            } else {
                match book.rules.reference_price {
                    Some(reference) => reference,
                    None => return,
                }
            };
            // The next stop per side: the one whose stop the price reaches
            // first, then the oldest. Between sides, the older goes first.
            let next_of = |side: Side| {
                self.orders
                    .iter()
                    .enumerate()
                    .filter(|(_, o)| o.symbol == symbol && o.waiting_stop && o.side == side)
                    .filter(|(_, o)| match side {
                        Side::Buy => last >= o.stop_price,
                        Side::Sell => last <= o.stop_price,
                    })
                    .min_by_key(|(_, o)| {
                        let reach = match side {
                            Side::Buy => o.stop_price,
                            Side::Sell => u64::MAX - o.stop_price,
                        };
                        (reach, o.arrival)
                    })
                    .map(|(i, o)| (i, o.arrival))
            };
            let chosen = match (next_of(Side::Buy), next_of(Side::Sell)) {
                (Some(buy), Some(sell)) => Some(if sell.1 < buy.1 { sell.0 } else { buy.0 }),
                (one, other) => one.or(other).map(|(i, _)| i),
            };
            let Some(i) = chosen else { return };
            let mut stop = self.orders.remove(i);
            stop.waiting_stop = false;
            out.push(Event::Triggered {
                order: stop.order_ref(),
                stop_price: stop.stop_price,
                last_price: last,
            });
            self.execute(b, stop, 0, ts, out);
        }
    }

    fn depth_side(&self, symbol: Symbol, side: Side) -> DepthSide {
        let mut by_price: BTreeMap<Price, (Qty, u32)> = BTreeMap::new();
        for o in self
            .orders
            .iter()
            .filter(|o| o.symbol == symbol && !o.waiting_stop && o.side == side)
        {
            let entry = by_price.entry(o.price).or_default();
            entry.0 += o.remaining();
            entry.1 += 1;
        }
        let levels: Vec<DepthLevel> = by_price
            .into_iter()
            .map(|(price, (quantity, orders))| DepthLevel {
                price,
                quantity,
                orders,
            })
            .collect();
        let best_first: Vec<DepthLevel> = match side {
            Side::Buy => levels.into_iter().rev().collect(),
            Side::Sell => levels,
        };
        DepthSide::from_best_first(&best_first)
    }

    fn publish_depth(&mut self, b: usize, out: &mut Vec<Event>) {
        let symbol = self.books[b].symbol;
        let now = (
            self.depth_side(symbol, Side::Buy),
            self.depth_side(symbol, Side::Sell),
        );
        if now != self.books[b].published {
            self.books[b].published = now;
            out.push(Event::Depth(Depth {
                symbol,
                bids: now.0,
                asks: now.1,
                last_price: self.books[b].last_price,
                last_qty: self.books[b].last_qty,
            }));
        }
    }

    /// Resting orders of one side, best price first, oldest first.
    pub fn resting_orders(&self, symbol: &Symbol, side: Side) -> Vec<OrderView> {
        let limit = None;
        self.makers(*symbol, side.opposite(), limit)
            .into_iter()
            .map(|i| self.orders[i].view())
            .collect()
    }

    /// Untriggered stops of one side, next to trigger first.
    pub fn stop_orders(&self, symbol: &Symbol, side: Side) -> Vec<OrderView> {
        let mut stops: Vec<&ModelOrder> = self
            .orders
            .iter()
            .filter(|o| o.symbol == *symbol && o.waiting_stop && o.side == side)
            .collect();
        stops.sort_by_key(|o| {
            let reach = match side {
                Side::Buy => o.stop_price,
                Side::Sell => u64::MAX - o.stop_price,
            };
            (reach, o.arrival)
        });
        stops.into_iter().map(|o| o.view()).collect()
    }

    pub fn live_orders(&self) -> usize {
        self.orders.len()
    }

    pub fn symbols(&self) -> Vec<Symbol> {
        self.books.iter().map(|b| b.symbol).collect()
    }
}
