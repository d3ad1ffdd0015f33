//! One scenario per matching rule of `docs/engine.md`, and one per reject
//! reason.
//! Each test's name states the behaviour it pins.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{oid, sym, user};
use engine::{
    AdminAction, AdminCommand, CancelReason, Command, Engine, EngineConfig, Event, OrderSpec,
    OrderType, Price, Qty, RejectReason, ReplaceSpec, SelfTradePrevention, Side, SymbolRules,
    TimeInForce,
};

/// A one-symbol ("AAPL") session with short helpers.
struct Session {
    engine: Engine,
    ts: u64,
}

impl Session {
    fn new() -> Session {
        Session::with(EngineConfig::default())
    }

    fn with(config: EngineConfig) -> Session {
        Session {
            engine: Engine::new(config).unwrap(),
            ts: 0,
        }
    }

    fn with_stp(stp: SelfTradePrevention) -> Session {
        Session::with(EngineConfig {
            self_trade_prevention: stp,
            ..EngineConfig::default()
        })
    }

    fn send(&mut self, command: Command) -> Vec<Event> {
        let mut out = Vec::new();
        self.engine.apply(&command, &mut out);
        out
    }

    fn add_on(&mut self, symbol: &str, who: &str, id: &str, spec: OrderSpec) -> Vec<Event> {
        self.ts += 1;
        self.send(Command::add(self.ts, sym(symbol), user(who), oid(id), spec))
    }

    fn add(&mut self, who: &str, id: &str, spec: OrderSpec) -> Vec<Event> {
        self.add_on("AAPL", who, id, spec)
    }

    fn limit(&mut self, who: &str, id: &str, side: Side, price: Price, qty: Qty) -> Vec<Event> {
        self.add(who, id, OrderSpec::limit(side, price, qty))
    }

    fn admin(&mut self, action: AdminAction) -> Vec<Event> {
        self.ts += 1;
        let command = AdminCommand {
            ts: self.ts,
            request_id: oid(&format!("r{}", self.ts)),
            action,
        };
        let mut out = Vec::new();
        self.engine.apply_admin(&command, &mut out);
        out
    }

    fn cancel(&mut self, who: &str, id: &str) -> Vec<Event> {
        self.ts += 1;
        self.send(Command::cancel(self.ts, sym("AAPL"), user(who), oid(id)))
    }

    fn replace(
        &mut self,
        who: &str,
        id: &str,
        new_price: Option<Price>,
        new_quantity: Option<Qty>,
    ) -> Vec<Event> {
        self.ts += 1;
        let spec = ReplaceSpec {
            new_price,
            new_quantity,
        };
        self.send(Command::replace(
            self.ts,
            sym("AAPL"),
            user(who),
            oid(id),
            spec,
        ))
    }

    fn bids(&self) -> Vec<(String, Price, Qty)> {
        self.book(Side::Buy)
    }

    fn asks(&self) -> Vec<(String, Price, Qty)> {
        self.book(Side::Sell)
    }

    /// `(order id, price, open quantity)` in priority order.
    fn book(&self, side: Side) -> Vec<(String, Price, Qty)> {
        self.engine
            .resting_orders(&sym("AAPL"), side)
            .iter()
            .map(|o| (o.order_id.to_string(), o.price, o.quantity - o.filled))
            .collect()
    }
}

fn spec(side: Side, order_type: OrderType, tif: TimeInForce, price: Price, qty: Qty) -> OrderSpec {
    OrderSpec {
        side,
        order_type,
        tif,
        post_only: false,
        price,
        stop_price: 0,
        quantity: qty,
        max_notional: 0,
    }
}

fn stop(side: Side, stop_price: Price, limit: Option<Price>, qty: Qty) -> OrderSpec {
    OrderSpec {
        side,
        order_type: if limit.is_some() {
            OrderType::StopLimit
        } else {
            OrderType::Stop
        },
        tif: TimeInForce::Gtc,
        post_only: false,
        price: limit.unwrap_or(0),
        stop_price,
        quantity: qty,
        max_notional: 0,
    }
}

/// `(price, qty, buy order id, sell order id)` of each trade.
fn trades(events: &[Event]) -> Vec<(Price, Qty, String, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Trade(t) => Some((
                t.price,
                t.quantity,
                t.buyer.order_id.to_string(),
                t.seller.order_id.to_string(),
            )),
            _ => None,
        })
        .collect()
}

/// A compact name for each non-trade, non-depth event.
fn statuses(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Accepted { order, .. } => Some(format!("ACCEPTED {}", order.order_id)),
            Event::Rejected { order, reason } => {
                Some(format!("REJECTED {} {}", order.order_id, reason.as_str()))
            }
            Event::Cancelled {
                order,
                remaining,
                reason,
            } => Some(format!(
                "CANCELLED {} {remaining} {}",
                order.order_id,
                reason.as_str()
            )),
            Event::CancelRejected { order, reason } => Some(format!(
                "CANCEL_REJECTED {} {}",
                order.order_id,
                reason.as_str()
            )),
            Event::Replaced {
                order,
                kept_priority,
                ..
            } => Some(format!("REPLACED {} kept={kept_priority}", order.order_id)),
            Event::ReplaceRejected { order, reason } => Some(format!(
                "REPLACE_REJECTED {} {}",
                order.order_id,
                reason.as_str()
            )),
            Event::Expired { order, remaining } => {
                Some(format!("EXPIRED {} {remaining}", order.order_id))
            }
            Event::Triggered { order, .. } => Some(format!("TRIGGERED {}", order.order_id)),
            Event::AdminApplied { request, cancelled } => {
                Some(format!("APPLIED {} {cancelled}", request.action.as_str()))
            }
            Event::AdminRejected { request, reason } => Some(format!(
                "ADMIN_REJECTED {} {}",
                request.action.as_str(),
                reason.as_str()
            )),
            Event::MoveStepped { step, .. } => Some(format!("MOVE {}", step.as_str())),
            Event::Trade(_) | Event::Depth(_) => None,
        })
        .collect()
}

fn owned(v: &[(&str, Price, Qty)]) -> Vec<(String, Price, Qty)> {
    v.iter().map(|&(id, p, q)| (id.to_string(), p, q)).collect()
}

fn trade(p: Price, q: Qty, buy: &str, sell: &str) -> (Price, Qty, String, String) {
    (p, q, buy.to_string(), sell.to_string())
}

// ----- priority -------------------------------------------------------------

#[test]
fn price_time_priority_fills_best_price_then_oldest() {
    let mut s = Session::new();
    s.limit("a", "s1", Side::Sell, 101, 10);
    s.limit("a", "s2", Side::Sell, 100, 10); // better price, later
    s.limit("b", "s3", Side::Sell, 100, 10); // same price, later still
    let events = s.limit("c", "b1", Side::Buy, 101, 25);
    assert_eq!(
        trades(&events),
        vec![
            trade(100, 10, "b1", "s2"),
            trade(100, 10, "b1", "s3"),
            trade(101, 5, "b1", "s1")
        ]
    );
    assert_eq!(s.asks(), owned(&[("s1", 101, 5)]));
}

#[test]
fn trades_happen_at_the_resting_orders_price() {
    let mut s = Session::new();
    s.limit("a", "b1", Side::Buy, 105, 10);
    let events = s.limit("b", "s1", Side::Sell, 99, 10);
    assert_eq!(trades(&events), vec![trade(105, 10, "b1", "s1")]);
}

#[test]
fn trade_ids_start_at_one_and_increase() {
    let mut s = Session::new();
    s.limit("a", "s1", Side::Sell, 100, 1);
    s.limit("a", "s2", Side::Sell, 100, 1);
    let events = s.limit("b", "b1", Side::Buy, 100, 2);
    let ids: Vec<u64> = events
        .iter()
        .filter_map(|e| {
            if let Event::Trade(t) = e {
                Some(t.trade_id)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(ids, vec![1, 2]);
}

// ----- order types and time in force ---------------------------------------

#[test]
fn market_order_remainder_expires_and_never_rests() {
    let mut s = Session::new();
    s.limit("a", "s1", Side::Sell, 100, 10);
    s.limit("a", "s2", Side::Sell, 500, 10); // far away: a market order still takes it
    let events = s.add("b", "m1", OrderSpec::market(Side::Buy, 30));
    assert_eq!(
        trades(&events),
        vec![trade(100, 10, "m1", "s1"), trade(500, 10, "m1", "s2")]
    );
    assert_eq!(statuses(&events), vec!["ACCEPTED m1", "EXPIRED m1 10"]);
    assert!(s.bids().is_empty());
}

#[test]
fn market_order_into_an_empty_book_expires_whole() {
    let mut s = Session::new();
    let events = s.add("b", "m1", OrderSpec::market(Side::Sell, 30));
    assert_eq!(statuses(&events), vec!["ACCEPTED m1", "EXPIRED m1 30"]);
    assert_eq!(s.engine.live_orders(), 0);
}

/// Upstream REST clients must send a price with every order, market ones
/// included, so the price is accepted and ignored: the order trades exactly
/// as it would without one, through any price, and even a price off the tick
/// grid or outside the band is not a reason to refuse it (`docs/engine.md`,
/// "Checks on a new order").
#[test]
fn market_order_with_a_price_ignores_it() {
    let rules = SymbolRules {
        tick_size: 5,
        price_band_bps: Some(1_000),
        reference_price: Some(100),
        ..SymbolRules::default()
    };
    let priced = |session: &mut Session, id: &str, price| {
        let spec = OrderSpec {
            price,
            ..OrderSpec::market(Side::Buy, 30)
        };
        session.add("b", id, spec)
    };
    for price in [1, 103, 100, 5_000] {
        let config = EngineConfig {
            default_rules: rules,
            ..EngineConfig::default()
        };
        let mut with = Session::with(config.clone());
        let mut without = Session::with(config);
        for s in [&mut with, &mut without] {
            s.limit("a", "s1", Side::Sell, 100, 10);
            s.limit("a", "s2", Side::Sell, 105, 10);
        }
        let got = priced(&mut with, "m1", price);
        let expected = without.add("b", "m1", OrderSpec::market(Side::Buy, 30));
        assert_eq!(got, expected, "market buy with price {price}");
        assert_eq!(statuses(&got), vec!["ACCEPTED m1", "EXPIRED m1 10"]);
        assert_eq!(
            trades(&got),
            vec![trade(100, 10, "m1", "s1"), trade(105, 10, "m1", "s2")]
        );
    }
}

/// A stop-market order's price is ignored in the same way: it rests as a
/// stop, triggers, and then trades at market.
#[test]
fn stop_order_with_a_price_ignores_it() {
    let mut s = Session::new();
    s.limit("m", "s1", Side::Sell, 100, 5);
    s.limit("m", "s2", Side::Sell, 103, 50);
    let priced = OrderSpec {
        price: 1,
        ..stop(Side::Buy, 101, None, 10)
    };
    let events = s.add("t", "stop", priced);
    assert_eq!(
        events,
        vec![Event::Accepted {
            order: engine::OrderRef {
                symbol: sym("AAPL"),
                user_id: user("t"),
                order_id: oid("stop"),
            },
            spec: stop(Side::Buy, 101, None, 10),
        }],
        "the ignored price is not echoed"
    );
    // A trade at 100 is below the stop; one at 103 triggers it at market.
    s.limit("x", "b1", Side::Buy, 100, 5);
    let events = s.limit("x", "b2", Side::Buy, 103, 1);
    assert_eq!(
        trades(&events),
        vec![trade(103, 1, "b2", "s2"), trade(103, 10, "stop", "s2")]
    );
}

#[test]
fn ioc_trades_what_it_can_and_expires_the_rest() {
    let mut s = Session::new();
    s.limit("a", "s1", Side::Sell, 100, 10);
    s.limit("a", "s2", Side::Sell, 102, 10); // beyond the IOC's limit
    let events = s.add(
        "b",
        "i1",
        spec(Side::Buy, OrderType::Limit, TimeInForce::Ioc, 101, 25),
    );
    assert_eq!(trades(&events), vec![trade(100, 10, "i1", "s1")]);
    assert_eq!(statuses(&events), vec!["ACCEPTED i1", "EXPIRED i1 15"]);
    assert!(s.bids().is_empty());
}

#[test]
fn fok_that_cannot_fill_completely_does_nothing() {
    let mut s = Session::new();
    s.limit("a", "s1", Side::Sell, 100, 10);
    s.limit("a", "s2", Side::Sell, 101, 10);
    let events = s.add(
        "b",
        "f1",
        spec(Side::Buy, OrderType::Limit, TimeInForce::Fok, 101, 21),
    );
    assert_eq!(statuses(&events), vec!["ACCEPTED f1", "EXPIRED f1 21"]);
    assert!(trades(&events).is_empty());
    assert!(
        !events.iter().any(|e| matches!(e, Event::Depth(_))),
        "book must be untouched"
    );
    assert_eq!(s.asks(), owned(&[("s1", 100, 10), ("s2", 101, 10)]));
}

#[test]
fn fok_that_can_fill_completely_fills() {
    let mut s = Session::new();
    s.limit("a", "s1", Side::Sell, 100, 10);
    s.limit("a", "s2", Side::Sell, 101, 10);
    let events = s.add(
        "b",
        "f1",
        spec(Side::Buy, OrderType::Limit, TimeInForce::Fok, 101, 20),
    );
    assert_eq!(
        trades(&events),
        vec![trade(100, 10, "f1", "s1"), trade(101, 10, "f1", "s2")]
    );
    assert_eq!(statuses(&events), vec!["ACCEPTED f1"]);
}

#[test]
fn fok_does_not_count_own_orders_that_self_trade_prevention_would_cancel() {
    let mut s = Session::new(); // default: cancel resting
    s.limit("b", "own", Side::Sell, 100, 10);
    s.limit("a", "s1", Side::Sell, 100, 5);
    let events = s.add(
        "b",
        "f1",
        spec(Side::Buy, OrderType::Limit, TimeInForce::Fok, 100, 10),
    );
    assert_eq!(statuses(&events), vec!["ACCEPTED f1", "EXPIRED f1 10"]);
    assert_eq!(
        s.asks().len(),
        2,
        "a killed FOK has no side effects, not even STP cancels"
    );
}

#[test]
fn post_only_is_rejected_when_it_would_take() {
    let mut s = Session::new();
    s.limit("a", "s1", Side::Sell, 100, 10);
    let mut po = OrderSpec::limit(Side::Buy, 100, 10);
    po.post_only = true;
    let events = s.add("b", "p1", po);
    assert_eq!(statuses(&events), vec!["REJECTED p1 POST_ONLY_WOULD_TAKE"]);
    po.price = 99;
    let events = s.add("b", "p2", po);
    assert_eq!(statuses(&events), vec!["ACCEPTED p2"]);
    assert_eq!(s.bids(), owned(&[("p2", 99, 10)]));
}

#[test]
fn post_only_is_only_for_gtc_limit_orders() {
    let mut s = Session::new();
    let mut ioc = spec(Side::Buy, OrderType::Limit, TimeInForce::Ioc, 99, 10);
    ioc.post_only = true;
    assert_eq!(
        statuses(&s.add("b", "p1", ioc)),
        vec!["REJECTED p1 INVALID_ORDER_COMBINATION"]
    );
    let mut market = OrderSpec::market(Side::Buy, 10);
    market.post_only = true;
    assert_eq!(
        statuses(&s.add("b", "p2", market)),
        vec!["REJECTED p2 INVALID_ORDER_COMBINATION"]
    );
}

// ----- stops -----------------------------------------------------------------

#[test]
fn buy_stop_triggers_when_last_trade_reaches_its_stop_and_trades_at_market() {
    let mut s = Session::new();
    s.limit("m", "s1", Side::Sell, 100, 5);
    s.limit("m", "s2", Side::Sell, 103, 50);
    assert_eq!(
        statuses(&s.add("t", "stop", stop(Side::Buy, 101, None, 10))),
        vec!["ACCEPTED stop"]
    );
    // A trade at 100 is below the stop: nothing happens.
    let events = s.limit("x", "b1", Side::Buy, 100, 5);
    assert_eq!(statuses(&events), vec!["ACCEPTED b1"]);
    // A trade at 103 reaches it: the stop becomes a market buy.
    let events = s.limit("x", "b2", Side::Buy, 103, 1);
    assert_eq!(statuses(&events), vec!["ACCEPTED b2", "TRIGGERED stop"]);
    assert_eq!(
        trades(&events),
        vec![trade(103, 1, "b2", "s2"), trade(103, 10, "stop", "s2")]
    );
}

#[test]
fn triggered_stop_limit_rests_at_its_limit() {
    let mut s = Session::new();
    s.limit("m", "b1", Side::Buy, 100, 5);
    s.add("t", "sl", stop(Side::Sell, 100, Some(99), 10));
    let events = s.limit("x", "s1", Side::Sell, 100, 5); // trades at 100: triggers
    assert_eq!(statuses(&events), vec!["ACCEPTED s1", "TRIGGERED sl"]);
    assert_eq!(s.asks(), owned(&[("sl", 99, 10)]));
    // Once resting it is an ordinary order: it can be replaced.
    assert_eq!(
        statuses(&s.replace("t", "sl", None, Some(8))),
        vec!["REPLACED sl kept=true"]
    );
}

#[test]
fn untriggered_stop_can_be_cancelled_but_not_replaced() {
    let mut s = Session::new();
    s.add("t", "st", stop(Side::Buy, 110, None, 10));
    assert_eq!(
        statuses(&s.replace("t", "st", Some(120), None)),
        vec!["REPLACE_REJECTED st ORDER_NOT_REPLACEABLE"]
    );
    assert_eq!(
        statuses(&s.cancel("t", "st")),
        vec!["CANCELLED st 10 REQUESTED"]
    );
    assert_eq!(s.engine.live_orders(), 0);
}

#[test]
fn stop_already_through_the_last_price_triggers_on_arrival() {
    let mut s = Session::new();
    s.limit("a", "s1", Side::Sell, 100, 5);
    s.limit("b", "b1", Side::Buy, 100, 5); // last trade 100
    s.limit("a", "s2", Side::Sell, 104, 5);
    let events = s.add("t", "st", stop(Side::Buy, 95, None, 5));
    assert_eq!(statuses(&events), vec!["ACCEPTED st", "TRIGGERED st"]);
    assert_eq!(trades(&events), vec![trade(104, 5, "st", "s2")]);
}

#[test]
fn triggered_stops_cascade_lowest_buy_stop_first() {
    let mut s = Session::new();
    s.limit("m", "s1", Side::Sell, 100, 1);
    s.limit("m", "s2", Side::Sell, 101, 1);
    s.limit("m", "s3", Side::Sell, 102, 1);
    s.add("t", "stB", stop(Side::Buy, 101, None, 1)); // triggered by a trade at 101
    s.add("t", "stA", stop(Side::Buy, 100, None, 1)); // later, but its stop is reached first
    let events = s.limit("x", "b1", Side::Buy, 100, 1);
    assert_eq!(
        statuses(&events),
        vec!["ACCEPTED b1", "TRIGGERED stA", "TRIGGERED stB"]
    );
    assert_eq!(
        trades(&events),
        vec![
            trade(100, 1, "b1", "s1"),
            trade(101, 1, "stA", "s2"),
            trade(102, 1, "stB", "s3")
        ]
    );
}

#[test]
fn stop_order_needs_a_stop_price_and_others_must_not_have_one() {
    let mut s = Session::new();
    assert_eq!(
        statuses(&s.add("t", "st", stop(Side::Buy, 0, None, 10))),
        vec!["REJECTED st INVALID_STOP_PRICE"]
    );
    let mut limit = OrderSpec::limit(Side::Buy, 100, 10);
    limit.stop_price = 90;
    assert_eq!(
        statuses(&s.add("t", "l1", limit)),
        vec!["REJECTED l1 INVALID_STOP_PRICE"]
    );
}

// ----- self-trade prevention -------------------------------------------------

#[test]
fn self_trade_default_cancels_the_resting_order_and_keeps_matching() {
    let mut s = Session::new();
    s.limit("u", "own", Side::Sell, 100, 10);
    s.limit("o", "other", Side::Sell, 100, 10);
    let events = s.limit("u", "b1", Side::Buy, 100, 10);
    assert_eq!(
        statuses(&events),
        vec!["ACCEPTED b1", "CANCELLED own 10 SELF_TRADE_PREVENTION"]
    );
    assert_eq!(trades(&events), vec![trade(100, 10, "b1", "other")]);
}

#[test]
fn self_trade_cancel_incoming_keeps_the_resting_order() {
    let mut s = Session::with_stp(SelfTradePrevention::CancelIncoming);
    s.limit("o", "other", Side::Sell, 100, 5);
    s.limit("u", "own", Side::Sell, 100, 10);
    let events = s.limit("u", "b1", Side::Buy, 100, 20);
    assert_eq!(trades(&events), vec![trade(100, 5, "b1", "other")]);
    assert_eq!(
        statuses(&events),
        vec!["ACCEPTED b1", "CANCELLED b1 15 SELF_TRADE_PREVENTION"]
    );
    assert_eq!(s.asks(), owned(&[("own", 100, 10)]));
    assert!(s.bids().is_empty());
}

#[test]
fn self_trade_cancel_both_cancels_resting_then_incoming() {
    let mut s = Session::with_stp(SelfTradePrevention::CancelBoth);
    s.limit("u", "own", Side::Sell, 100, 10);
    let events = s.limit("u", "b1", Side::Buy, 100, 20);
    assert_eq!(
        statuses(&events),
        vec![
            "ACCEPTED b1",
            "CANCELLED own 10 SELF_TRADE_PREVENTION",
            "CANCELLED b1 20 SELF_TRADE_PREVENTION"
        ]
    );
    assert_eq!(s.engine.live_orders(), 0);
}

#[test]
fn self_trade_allow_lets_users_trade_with_themselves() {
    let mut s = Session::with_stp(SelfTradePrevention::Allow);
    s.limit("u", "own", Side::Sell, 100, 10);
    let events = s.limit("u", "b1", Side::Buy, 100, 10);
    assert_eq!(trades(&events), vec![trade(100, 10, "b1", "own")]);
}

// ----- cancel ------------------------------------------------------------------

#[test]
fn cancel_removes_a_resting_order() {
    let mut s = Session::new();
    s.limit("a", "b1", Side::Buy, 100, 10);
    assert_eq!(
        statuses(&s.cancel("a", "b1")),
        vec!["CANCELLED b1 10 REQUESTED"]
    );
    assert!(s.bids().is_empty());
}

#[test]
fn cancel_of_unknown_filled_or_cancelled_order_is_rejected() {
    let mut s = Session::new();
    assert_eq!(
        statuses(&s.cancel("a", "nope")),
        vec!["CANCEL_REJECTED nope UNKNOWN_ORDER"]
    );
    s.limit("a", "s1", Side::Sell, 100, 10);
    s.limit("b", "b1", Side::Buy, 100, 10); // fills s1
    assert_eq!(
        statuses(&s.cancel("a", "s1")),
        vec!["CANCEL_REJECTED s1 UNKNOWN_ORDER"]
    );
    s.limit("a", "s2", Side::Sell, 100, 10);
    s.cancel("a", "s2");
    assert_eq!(
        statuses(&s.cancel("a", "s2")),
        vec!["CANCEL_REJECTED s2 UNKNOWN_ORDER"]
    );
}

#[test]
fn cancel_must_come_from_the_owner_on_the_right_symbol() {
    let mut s = Session::new();
    s.limit("a", "b1", Side::Buy, 100, 10);
    assert_eq!(
        statuses(&s.cancel("mallory", "b1")),
        vec!["CANCEL_REJECTED b1 UNKNOWN_ORDER"]
    );
    let wrong_symbol = Command::cancel(99, sym("MSFT"), user("a"), oid("b1"));
    assert_eq!(
        statuses(&s.send(wrong_symbol)),
        vec!["CANCEL_REJECTED b1 UNKNOWN_ORDER"]
    );
    assert_eq!(s.bids().len(), 1);
}

// ----- replace -----------------------------------------------------------------

#[test]
fn replace_to_smaller_quantity_at_same_price_keeps_priority() {
    let mut s = Session::new();
    s.limit("a", "b1", Side::Buy, 100, 10);
    s.limit("b", "b2", Side::Buy, 100, 10);
    assert_eq!(
        statuses(&s.replace("a", "b1", None, Some(4))),
        vec!["REPLACED b1 kept=true"]
    );
    assert_eq!(s.bids(), owned(&[("b1", 100, 4), ("b2", 100, 10)]));
}

#[test]
fn replace_to_larger_quantity_loses_priority() {
    let mut s = Session::new();
    s.limit("a", "b1", Side::Buy, 100, 10);
    s.limit("b", "b2", Side::Buy, 100, 10);
    assert_eq!(
        statuses(&s.replace("a", "b1", None, Some(11))),
        vec!["REPLACED b1 kept=false"]
    );
    assert_eq!(s.bids(), owned(&[("b2", 100, 10), ("b1", 100, 11)]));
}

#[test]
fn replace_to_a_new_price_loses_priority_and_may_match() {
    let mut s = Session::new();
    s.limit("a", "b1", Side::Buy, 99, 10);
    s.limit("m", "s1", Side::Sell, 101, 4);
    let events = s.replace("a", "b1", Some(101), None);
    assert_eq!(statuses(&events), vec!["REPLACED b1 kept=false"]);
    assert_eq!(trades(&events), vec![trade(101, 4, "b1", "s1")]);
    assert_eq!(s.bids(), owned(&[("b1", 101, 6)]));
}

#[test]
fn replace_quantity_is_the_new_total_including_fills() {
    let mut s = Session::new();
    s.limit("a", "s1", Side::Sell, 100, 10);
    s.limit("b", "b1", Side::Buy, 100, 4); // s1: 4 filled, 6 open
    let events = s.replace("a", "s1", None, Some(8));
    assert!(matches!(
        events[0],
        Event::Replaced {
            quantity: 8,
            remaining: 4,
            kept_priority: true,
            ..
        }
    ));
    assert_eq!(s.asks(), owned(&[("s1", 100, 4)]));
}

#[test]
fn replace_down_to_or_below_the_filled_quantity_cancels() {
    let mut s = Session::new();
    s.limit("a", "s1", Side::Sell, 100, 10);
    s.limit("b", "b1", Side::Buy, 100, 4);
    assert_eq!(
        statuses(&s.replace("a", "s1", Some(105), Some(4))),
        vec!["CANCELLED s1 6 REPLACED_TO_FILLED"]
    );
    assert!(s.asks().is_empty());
}

#[test]
fn replace_must_change_something_and_target_a_live_order() {
    let mut s = Session::new();
    s.limit("a", "b1", Side::Buy, 100, 10);
    assert_eq!(
        statuses(&s.replace("a", "b1", None, None)),
        vec!["REPLACE_REJECTED b1 EMPTY_REPLACE"]
    );
    assert_eq!(
        statuses(&s.replace("a", "zz", Some(100), None)),
        vec!["REPLACE_REJECTED zz UNKNOWN_ORDER"]
    );
}

#[test]
fn replace_of_post_only_order_may_not_cross() {
    let mut s = Session::new();
    s.limit("m", "s1", Side::Sell, 101, 10);
    let mut po = OrderSpec::limit(Side::Buy, 100, 10);
    po.post_only = true;
    s.add("a", "p1", po);
    assert_eq!(
        statuses(&s.replace("a", "p1", Some(101), None)),
        vec!["REPLACE_REJECTED p1 POST_ONLY_WOULD_TAKE"]
    );
    assert_eq!(s.bids(), owned(&[("p1", 100, 10)]));
}

// ----- ids -----------------------------------------------------------------------

#[test]
fn duplicate_live_order_id_is_rejected_and_reusable_once_finished() {
    let mut s = Session::new();
    s.limit("a", "x", Side::Buy, 100, 10);
    assert_eq!(
        statuses(&s.limit("a", "x", Side::Buy, 99, 10)),
        vec!["REJECTED x DUPLICATE_ORDER_ID"]
    );
    // Live on another symbol counts too: ids are unique per user.
    let events = s.add_on("MSFT", "a", "x", OrderSpec::limit(Side::Buy, 99, 10));
    assert_eq!(statuses(&events), vec!["REJECTED x DUPLICATE_ORDER_ID"]);
    // Another user may use the same id.
    assert_eq!(
        statuses(&s.limit("b", "x", Side::Buy, 99, 10)),
        vec!["ACCEPTED x"]
    );
    s.cancel("a", "x");
    assert_eq!(
        statuses(&s.limit("a", "x", Side::Buy, 98, 10)),
        vec!["ACCEPTED x"]
    );
}

// ----- symbols and rules ---------------------------------------------------------

fn ruled() -> Session {
    Session::with(EngineConfig {
        symbols: [(
            sym("AAPL"),
            SymbolRules {
                tick_size: 5,
                lot_size: 10,
                min_quantity: 20,
                max_quantity: 1_000,
                price_band_bps: Some(1_000),
                reference_price: Some(10_000),
            },
        )]
        .into(),
        max_symbols: 2,
        ..EngineConfig::default()
    })
}

#[test]
fn every_reject_reason_of_an_add_is_reported() {
    let limit = |price, qty| OrderSpec::limit(Side::Buy, price, qty);
    let cases: Vec<(OrderSpec, RejectReason)> = vec![
        (limit(10_000, 0), RejectReason::InvalidQuantity),
        (limit(10_000, 25), RejectReason::LotSizeViolation),
        (limit(10_000, 10), RejectReason::QuantityBelowMinimum),
        (limit(10_000, 1_010), RejectReason::QuantityAboveMaximum),
        (limit(0, 20), RejectReason::InvalidPrice),
        (limit(10_003, 20), RejectReason::TickSizeViolation),
        (limit(11_005, 20), RejectReason::PriceOutOfBand),
        (limit(8_995, 20), RejectReason::PriceOutOfBand),
        (
            stop(Side::Buy, 10_001, None, 20),
            RejectReason::InvalidStopPrice,
        ),
    ];
    for (i, (spec, reason)) in cases.into_iter().enumerate() {
        let mut s = ruled();
        let events = s.add("a", &format!("o{i}"), spec);
        assert_eq!(
            events,
            vec![Event::Rejected {
                order: engine::OrderRef {
                    symbol: sym("AAPL"),
                    user_id: user("a"),
                    order_id: oid(&format!("o{i}")),
                },
                reason
            }],
            "case {i}: {spec:?}"
        );
    }
}

#[test]
fn band_edges_are_inclusive() {
    let mut s = ruled();
    assert_eq!(
        statuses(&s.limit("a", "lo", Side::Buy, 9_000, 20)),
        vec!["ACCEPTED lo"]
    );
    assert_eq!(
        statuses(&s.limit("a", "hi", Side::Sell, 11_000, 20)),
        vec!["ACCEPTED hi"]
    );
}

#[test]
fn price_band_moves_with_the_last_trade() {
    let mut s = ruled();
    // Trade at 10,500, within the reference band of 9,000..=11,000.
    s.limit("a", "s1", Side::Sell, 10_500, 20);
    s.limit("b", "b1", Side::Buy, 10_500, 20);
    // The band is now 9,450..=11,550: 11,500 passes, 9,400 does not.
    assert_eq!(
        statuses(&s.limit("a", "s2", Side::Sell, 11_500, 20)),
        vec!["ACCEPTED s2"]
    );
    assert_eq!(
        statuses(&s.limit("a", "b2", Side::Buy, 9_400, 20)),
        vec!["REJECTED b2 PRICE_OUT_OF_BAND"]
    );
}

#[test]
fn symbols_are_created_on_first_order_up_to_the_limit() {
    let mut s = ruled(); // AAPL configured, max_symbols = 2
    let events = s.add_on("MSFT", "a", "m1", OrderSpec::limit(Side::Buy, 7, 3));
    assert_eq!(
        statuses(&events),
        vec!["ACCEPTED m1"],
        "default rules: tick 1, lot 1"
    );
    let events = s.add_on("TSLA", "a", "t1", OrderSpec::limit(Side::Buy, 7, 3));
    assert_eq!(statuses(&events), vec!["REJECTED t1 UNKNOWN_SYMBOL"]);
    assert_eq!(s.engine.symbol_count(), 2);
}

#[test]
fn books_of_different_symbols_never_trade_with_each_other() {
    let mut s = Session::new();
    s.add_on("AAPL", "a", "s1", OrderSpec::limit(Side::Sell, 100, 10));
    let events = s.add_on("MSFT", "b", "b1", OrderSpec::limit(Side::Buy, 100, 10));
    assert!(trades(&events).is_empty());
    assert_eq!(
        s.engine.book_summary(&sym("MSFT")).unwrap().best_bid,
        Some(100)
    );
    assert_eq!(
        s.engine.book_summary(&sym("AAPL")).unwrap().best_ask,
        Some(100)
    );
}

// ----- depth ---------------------------------------------------------------------

fn depth_of(events: &[Event]) -> Option<engine::Depth> {
    events.iter().find_map(|e| {
        if let Event::Depth(d) = e {
            Some(*d)
        } else {
            None
        }
    })
}

#[test]
fn depth_is_sent_when_the_top_five_change_and_only_then() {
    let mut s = Session::new();
    for (i, price) in [100, 99, 98, 97, 96].into_iter().enumerate() {
        let events = s.limit("a", &format!("b{i}"), Side::Buy, price, 10);
        assert!(depth_of(&events).is_some(), "level {i} enters the top five");
    }
    // A sixth, worse level is below the top five: no depth.
    assert!(depth_of(&s.limit("a", "b5", Side::Buy, 95, 10)).is_none());
    assert!(depth_of(&s.cancel("a", "b5")).is_none());
    // A better level pushes the worst out: depth, best first.
    let depth = depth_of(&s.limit("a", "b6", Side::Buy, 101, 7)).unwrap();
    let prices: Vec<Price> = depth.bids.levels().iter().map(|l| l.price).collect();
    assert_eq!(prices, vec![101, 100, 99, 98, 97]);
    assert_eq!(depth.bids.levels()[0].quantity, 7);
    assert!(depth.asks.levels().is_empty());
}

#[test]
fn depth_is_last_and_at_most_once_per_command() {
    let mut s = Session::new();
    s.limit("a", "s1", Side::Sell, 100, 10);
    s.limit("a", "s2", Side::Sell, 101, 10);
    let events = s.limit("b", "b1", Side::Buy, 101, 15);
    let depths = events
        .iter()
        .filter(|e| matches!(e, Event::Depth(_)))
        .count();
    assert_eq!(depths, 1);
    let depth = depth_of(&events).unwrap();
    assert!(matches!(events.last(), Some(Event::Depth(_))));
    assert_eq!((depth.last_price, depth.last_qty), (101, 5));
    assert_eq!(depth.asks.levels()[0].quantity, 5);
}

#[test]
fn rejected_commands_change_nothing_and_send_no_depth() {
    let mut s = Session::new();
    s.limit("a", "b1", Side::Buy, 100, 10);
    let before = s.engine.state_hash();
    assert_eq!(
        statuses(&s.limit("a", "b1", Side::Buy, 100, 10)),
        vec!["REJECTED b1 DUPLICATE_ORDER_ID"]
    );
    assert_eq!(
        statuses(&s.cancel("a", "zz")),
        vec!["CANCEL_REJECTED zz UNKNOWN_ORDER"]
    );
    assert_eq!(s.engine.state_hash(), before);
}

#[test]
fn cancelled_reason_codes_are_stable() {
    assert_eq!(CancelReason::Requested.as_str(), "REQUESTED");
    assert_eq!(RejectReason::DuplicateOrderId.code(), 2);
    assert_eq!(RejectReason::EmptyReplace.code(), 15);
}

// ----- admin commands -------------------------------------------------------

#[test]
fn a_halted_symbol_refuses_orders_and_replaces_but_takes_cancels() {
    let mut s = Session::new();
    s.limit("a", "s1", Side::Sell, 100, 10);
    s.limit("a", "s2", Side::Sell, 101, 10);
    let aapl = sym("AAPL");
    assert_eq!(
        statuses(&s.admin(AdminAction::Halt { symbol: aapl })),
        ["APPLIED HALT 0"]
    );
    assert!(s.engine.is_halted(&aapl));
    assert_eq!(
        statuses(&s.limit("b", "b1", Side::Buy, 100, 5)),
        ["REJECTED b1 SYMBOL_HALTED"]
    );
    assert_eq!(
        statuses(&s.replace("a", "s1", Some(99), None)),
        ["REPLACE_REJECTED s1 SYMBOL_HALTED"]
    );
    assert_eq!(
        statuses(&s.cancel("a", "s2")),
        ["CANCELLED s2 10 REQUESTED"]
    );
    // Halting again is accepted and changes nothing, so operators may retry.
    assert_eq!(
        statuses(&s.admin(AdminAction::Halt { symbol: aapl })),
        ["APPLIED HALT 0"]
    );
    assert_eq!(
        statuses(&s.admin(AdminAction::Resume { symbol: aapl })),
        ["APPLIED RESUME 0"]
    );
    assert_eq!(
        trades(&s.limit("b", "b1", Side::Buy, 100, 5)),
        [trade(100, 5, "b1", "s1")]
    );
    // Other symbols never stopped.
    assert_eq!(
        statuses(&s.admin(AdminAction::Halt {
            symbol: sym("NOPE")
        })),
        ["ADMIN_REJECTED HALT UNKNOWN_SYMBOL"]
    );
}

#[test]
fn mass_cancel_by_user_by_symbol_and_by_both() {
    let mut s = Session::new();
    s.limit("a", "a1", Side::Buy, 99, 1);
    s.limit("b", "b1", Side::Buy, 98, 1);
    s.limit("a", "a2", Side::Sell, 101, 1);
    s.add("a", "a3", stop(Side::Buy, 150, None, 1));
    s.add_on("MSFT", "a", "m1", OrderSpec::limit(Side::Buy, 10, 1));
    s.add_on("MSFT", "b", "m2", OrderSpec::limit(Side::Buy, 10, 1));

    // By user within a symbol: bids, asks, then stops, then one depth.
    let events = s.admin(AdminAction::MassCancel {
        symbol: Some(sym("AAPL")),
        user_id: Some(user("a")),
    });
    assert_eq!(
        statuses(&events),
        [
            "CANCELLED a1 1 MASS_CANCEL",
            "CANCELLED a2 1 MASS_CANCEL",
            "CANCELLED a3 1 MASS_CANCEL",
            "APPLIED MASS_CANCEL 3"
        ]
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Depth(_)))
            .count(),
        1
    );
    assert_eq!(s.bids(), owned(&[("b1", 98, 1)]));
    // By user everywhere: what is left of a's orders, on MSFT.
    let events = s.admin(AdminAction::MassCancel {
        symbol: None,
        user_id: Some(user("a")),
    });
    assert_eq!(
        statuses(&events),
        ["CANCELLED m1 1 MASS_CANCEL", "APPLIED MASS_CANCEL 1"]
    );
    // By symbol: everyone's.
    let events = s.admin(AdminAction::MassCancel {
        symbol: Some(sym("MSFT")),
        user_id: None,
    });
    assert_eq!(
        statuses(&events),
        ["CANCELLED m2 1 MASS_CANCEL", "APPLIED MASS_CANCEL 1"]
    );
    assert_eq!(s.engine.live_orders(), 1);
    let events = s.admin(AdminAction::MassCancel {
        symbol: Some(sym("ZZZ")),
        user_id: None,
    });
    assert_eq!(
        statuses(&events),
        ["ADMIN_REJECTED MASS_CANCEL UNKNOWN_SYMBOL"]
    );
}

#[test]
fn a_reference_price_triggers_stops_before_the_first_trade() {
    let mut s = Session::new();
    s.limit("m", "s1", Side::Sell, 120, 10);
    assert!(statuses(&s.add("a", "st", stop(Side::Buy, 110, None, 4))).len() == 1);
    let aapl = sym("AAPL");
    // Below the stop: nothing triggers, the reference is set.
    assert_eq!(
        statuses(&s.admin(AdminAction::SetReferencePrice {
            symbol: aapl,
            price: 105
        })),
        ["APPLIED SET_REFERENCE_PRICE 0"]
    );
    // Halted, a reference at the stop waits for the resume.
    s.admin(AdminAction::Halt { symbol: aapl });
    assert_eq!(
        statuses(&s.admin(AdminAction::SetReferencePrice {
            symbol: aapl,
            price: 110
        })),
        ["APPLIED SET_REFERENCE_PRICE 0"]
    );
    let events = s.admin(AdminAction::Resume { symbol: aapl });
    assert_eq!(statuses(&events), ["TRIGGERED st", "APPLIED RESUME 0"]);
    assert_eq!(trades(&events), [trade(120, 4, "st", "s1")]);
    assert_eq!(
        statuses(&s.admin(AdminAction::SetReferencePrice {
            symbol: aapl,
            price: 0
        })),
        ["ADMIN_REJECTED SET_REFERENCE_PRICE INVALID_PRICE"]
    );
}

// ----- market-to-limit ------------------------------------------------------

fn market_to_limit(side: Side, qty: Qty) -> OrderSpec {
    spec(side, OrderType::MarketToLimit, TimeInForce::Gtc, 0, qty)
}

/// OrderBook-rs's and CME's market-to-limit: the best level only, then the
/// remainder rests at that price.
#[test]
fn market_to_limit_takes_the_best_level_only_and_rests_the_rest_there() {
    let mut s = Session::new();
    s.limit("a", "s1", Side::Sell, 100, 10);
    s.limit("a", "s2", Side::Sell, 100, 5);
    s.limit("a", "s3", Side::Sell, 101, 10);
    let events = s.add("b", "m1", market_to_limit(Side::Buy, 30));
    assert_eq!(
        trades(&events),
        vec![trade(100, 10, "m1", "s1"), trade(100, 5, "m1", "s2")]
    );
    // ACCEPTED says where it was given its limit.
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Accepted { spec, .. } if spec.price == 100 && spec.order_type == OrderType::MarketToLimit
    )));
    assert_eq!(s.bids(), owned(&[("m1", 100, 15)]));
    assert_eq!(s.asks(), owned(&[("s3", 101, 10)]));
    let view = s.engine.resting_orders(&sym("AAPL"), Side::Buy)[0];
    assert_eq!(view.order_type, OrderType::MarketToLimit);
    // From then on it is a limit order: it can be replaced.
    let events = s.replace("b", "m1", Some(101), None);
    assert_eq!(trades(&events), vec![trade(101, 10, "m1", "s3")]);
}

#[test]
fn market_to_limit_that_fills_at_the_best_level_leaves_nothing() {
    let mut s = Session::new();
    s.limit("a", "b1", Side::Buy, 99, 20);
    s.limit("a", "b2", Side::Buy, 98, 20);
    let events = s.add("b", "m1", market_to_limit(Side::Sell, 15));
    assert_eq!(trades(&events), vec![trade(99, 15, "b1", "m1")]);
    assert_eq!(s.asks(), owned(&[]));
    assert_eq!(s.bids(), owned(&[("b1", 99, 5), ("b2", 98, 20)]));
}

#[test]
fn market_to_limit_into_an_empty_side_is_refused_and_changes_nothing() {
    let mut s = Session::new();
    s.limit("a", "b1", Side::Buy, 99, 20);
    let events = s.add("b", "m1", market_to_limit(Side::Buy, 15));
    assert_eq!(statuses(&events), vec!["REJECTED m1 NO_LIQUIDITY"]);
    assert_eq!(s.bids(), owned(&[("b1", 99, 20)]));
    assert_eq!(s.engine.live_orders(), 1);
}

#[test]
fn market_to_limit_is_only_gtc_and_never_post_only() {
    let mut s = Session::new();
    s.limit("a", "s1", Side::Sell, 100, 10);
    for (id, tif) in [("i", TimeInForce::Ioc), ("f", TimeInForce::Fok)] {
        let events = s.add(
            "b",
            id,
            spec(Side::Buy, OrderType::MarketToLimit, tif, 0, 5),
        );
        assert_eq!(
            statuses(&events),
            vec![format!("REJECTED {id} INVALID_TIME_IN_FORCE")]
        );
    }
    let mut post_only = market_to_limit(Side::Buy, 5);
    post_only.post_only = true;
    let events = s.add("b", "p", post_only);
    assert_eq!(
        statuses(&events),
        vec!["REJECTED p INVALID_ORDER_COMBINATION"]
    );
    // A price sent with it is ignored, as for a market order.
    let mut priced = market_to_limit(Side::Buy, 5);
    priced.price = 250;
    let events = s.add("b", "m", priced);
    assert_eq!(trades(&events), vec![trade(100, 5, "m", "s1")]);
}

// ----- fill-or-kill with a budget -------------------------------------------

fn fok_budget(side: Side, order_type: OrderType, price: Price, qty: Qty, budget: u64) -> OrderSpec {
    OrderSpec {
        max_notional: budget,
        ..spec(side, order_type, TimeInForce::Fok, price, qty)
    }
}

/// exchange-core's `FOK_BUDGET` scenarios: a buy fills only if the whole
/// quantity costs at most the budget.
#[test]
fn a_budgeted_fok_buy_fills_when_the_cost_is_within_its_budget() {
    let mut s = Session::new();
    s.limit("a", "s1", Side::Sell, 100, 10);
    s.limit("a", "s2", Side::Sell, 102, 10);
    // 10 × 100 + 5 × 102 = 1510.
    let events = s.add(
        "b",
        "f1",
        fok_budget(Side::Buy, OrderType::Market, 0, 15, 1510),
    );
    assert_eq!(
        trades(&events),
        vec![trade(100, 10, "f1", "s1"), trade(102, 5, "f1", "s2")]
    );
    assert_eq!(s.asks(), owned(&[("s2", 102, 5)]));
}

#[test]
fn a_budgeted_fok_buy_over_its_budget_expires_whole_and_changes_nothing() {
    let mut s = Session::new();
    s.limit("a", "s1", Side::Sell, 100, 10);
    s.limit("a", "s2", Side::Sell, 102, 10);
    let events = s.add(
        "b",
        "f1",
        fok_budget(Side::Buy, OrderType::Market, 0, 15, 1509),
    );
    assert_eq!(statuses(&events), vec!["ACCEPTED f1", "EXPIRED f1 15"]);
    assert_eq!(s.asks(), owned(&[("s1", 100, 10), ("s2", 102, 10)]));
    // A limit and a budget both bind: the budget is met, the limit not.
    let events = s.add(
        "b",
        "f2",
        fok_budget(Side::Buy, OrderType::Limit, 101, 15, 10_000),
    );
    assert_eq!(statuses(&events), vec!["ACCEPTED f2", "EXPIRED f2 15"]);
}

#[test]
fn a_budgeted_fok_sell_fills_only_if_it_raises_at_least_its_budget() {
    let mut s = Session::new();
    s.limit("a", "b1", Side::Buy, 100, 10);
    s.limit("a", "b2", Side::Buy, 98, 10);
    // 10 × 100 + 10 × 98 = 1980.
    let events = s.add(
        "b",
        "f1",
        fok_budget(Side::Sell, OrderType::Market, 0, 20, 1981),
    );
    assert_eq!(statuses(&events), vec!["ACCEPTED f1", "EXPIRED f1 20"]);
    let events = s.add(
        "b",
        "f2",
        fok_budget(Side::Sell, OrderType::Limit, 98, 20, 1980),
    );
    assert_eq!(
        trades(&events),
        vec![trade(100, 10, "b1", "f2"), trade(98, 10, "b2", "f2")]
    );
}

#[test]
fn a_budget_counts_only_what_self_trade_prevention_lets_it_trade() {
    let mut s = Session::with_stp(SelfTradePrevention::CancelResting);
    s.limit("b", "own", Side::Sell, 99, 10);
    s.limit("a", "s1", Side::Sell, 100, 10);
    s.limit("a", "s2", Side::Sell, 103, 10);
    // Its own ask would be cancelled, not bought: 10 × 100 + 5 × 103.
    let events = s.add(
        "b",
        "f1",
        fok_budget(Side::Buy, OrderType::Market, 0, 15, 1514),
    );
    assert_eq!(statuses(&events), vec!["ACCEPTED f1", "EXPIRED f1 15"]);
    let events = s.add(
        "b",
        "f2",
        fok_budget(Side::Buy, OrderType::Market, 0, 15, 1515),
    );
    assert_eq!(
        trades(&events),
        vec![trade(100, 10, "f2", "s1"), trade(103, 5, "f2", "s2")]
    );
}

#[test]
fn a_budget_is_refused_on_anything_but_a_fok_limit_or_market_order() {
    let mut s = Session::new();
    let cases = [
        (
            "gtc",
            spec(Side::Buy, OrderType::Limit, TimeInForce::Gtc, 100, 5),
        ),
        (
            "ioc",
            spec(Side::Buy, OrderType::Market, TimeInForce::Ioc, 0, 5),
        ),
        ("stop", {
            let mut o = stop(Side::Buy, 100, None, 5);
            o.tif = TimeInForce::Fok;
            o
        }),
    ];
    for (id, order) in cases {
        let events = s.add(
            "b",
            id,
            OrderSpec {
                max_notional: 500,
                ..order
            },
        );
        assert_eq!(
            statuses(&events),
            vec![format!("REJECTED {id} INVALID_NOTIONAL")]
        );
    }
}
