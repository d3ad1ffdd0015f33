//! Helpers shared by the engine's integration tests: short constructors, the
//! reference model, and proptest strategies for command streams.

#![allow(dead_code)] // each test binary uses a different subset

pub mod model;

use engine::sequenced::Input;
use engine::{
    AdminAction, AdminCommand, Command, Engine, EngineConfig, Event, MemoryConfig, OrderId,
    OrderSpec, OrderType, Price, Qty, ReplaceSpec, SelfTradePrevention, Side, Symbol, SymbolRules,
    TimeInForce, UserId,
};
use proptest::prelude::*;

pub fn sym(s: &str) -> Symbol {
    Symbol::new(s).unwrap()
}

pub fn user(s: &str) -> UserId {
    UserId::new(s).unwrap()
}

pub fn oid(s: &str) -> OrderId {
    OrderId::new(s).unwrap()
}

/// Runs `commands` through a fresh engine and returns each command's
/// events, checking the engine's internal state after every command.
pub fn run(config: &EngineConfig, commands: &[Command]) -> (Engine, Vec<Vec<Event>>) {
    let mut engine = Engine::new(config.clone()).unwrap();
    let events = commands
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut out = Vec::new();
            engine.apply(c, &mut out);
            if let Err(e) = engine.validate_internal_state() {
                panic!("after command #{i} {c:?}: {e}");
            }
            out
        })
        .collect();
    (engine, events)
}

/// The number of property cases: 10,000 unless `PROPTEST_CASES` says
/// otherwise. (When set, proptest also applies `PROPTEST_CASES` to every
/// property directly, so suites that scale this number get the plain count.)
pub fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// Symbols the generated streams use. `AAA` is configured with strict rules;
/// the others are auto-created, and `max_symbols = 3` means one of them is
/// refused.
pub const SYMBOLS: [&str; 4] = ["AAA", "BBB", "CCC", "DDD"];
pub const USERS: [&str; 3] = ["u1", "u2", "u3"];

pub fn strict_rules() -> SymbolRules {
    SymbolRules {
        tick_size: 5,
        lot_size: 10,
        min_quantity: 20,
        max_quantity: 50,
        price_band_bps: Some(1_000),
        reference_price: Some(100),
    }
}

pub fn test_config(stp: SelfTradePrevention) -> EngineConfig {
    EngineConfig {
        default_rules: SymbolRules {
            max_quantity: 45,
            ..SymbolRules::default()
        },
        symbols: [(sym("AAA"), strict_rules())].into(),
        max_symbols: 3,
        self_trade_prevention: stp,
        memory: MemoryConfig {
            order_capacity: 64,
            prefault: false,
        },
    }
}

pub fn stp_strategy() -> impl Strategy<Value = SelfTradePrevention> {
    prop_oneof![
        Just(SelfTradePrevention::CancelResting),
        Just(SelfTradePrevention::CancelIncoming),
        Just(SelfTradePrevention::CancelBoth),
        Just(SelfTradePrevention::Allow),
    ]
}

/// The price range of a stream.
#[derive(Clone, Copy, Debug)]
pub struct Prices {
    pub low: Price,
    pub high: Price,
}

/// Around 100 so that orders cross often; 85..=115 straddles AAA's band
/// (90..=110) and includes prices off its 5-tick grid.
pub const NARROW: Prices = Prices { low: 85, high: 115 };

/// Hundreds of levels per side: deep books, many emptied levels, sweeps.
pub const WIDE: Prices = Prices { low: 1, high: 600 };

fn price(prices: Prices) -> impl Strategy<Value = Price> {
    prices.low..=prices.high
}

fn quantity() -> impl Strategy<Value = Qty> {
    // Mostly valid everywhere (10..=40 in lots of 10); sometimes anything,
    // to hit the lot, minimum and maximum rules.
    prop_oneof![8 => (1u64..=4).prop_map(|k| k * 10), 1 => 0u64..=60]
}

fn order_spec(prices: Prices) -> impl Strategy<Value = OrderSpec> {
    let side = prop_oneof![Just(Side::Buy), Just(Side::Sell)];
    let order_type = prop_oneof![
        6 => Just(OrderType::Limit),
        1 => Just(OrderType::Market),
        1 => Just(OrderType::Stop),
        1 => Just(OrderType::StopLimit),
        1 => Just(OrderType::MarketToLimit),
    ];
    let tif = prop_oneof![6 => Just(TimeInForce::Gtc), 2 => Just(TimeInForce::Ioc), 2 => Just(TimeInForce::Fok)];
    // Mostly well-formed price fields for the type, sometimes not.
    let malformed = prop::bool::weighted(0.05);
    (
        side,
        order_type,
        tif,
        prop::bool::weighted(0.12),
        price(prices),
        price(prices),
        quantity(),
        malformed,
        // A budget on some orders, near what the quantity costs at the
        // order's price: sometimes enough, sometimes not.
        prop::option::weighted(0.15, 7u64..=13),
    )
        .prop_map(
            |(side, order_type, tif, post_only, p, stop, quantity, malformed, budget)| {
                let limit_priced = matches!(order_type, OrderType::Limit | OrderType::StopLimit);
                // Upstream clients send a price with every order, market and
                // stop included, where it is ignored; so half of those carry one.
                let price = if limit_priced != malformed || p % 2 == 0 {
                    p
                } else {
                    0
                };
                let stop_price = if order_type.is_stop() != malformed {
                    stop
                } else {
                    0
                };
                OrderSpec {
                    side,
                    order_type,
                    tif,
                    post_only,
                    price,
                    stop_price,
                    quantity,
                    max_notional: budget.map_or(0, |tenths| p * quantity * tenths / 10),
                }
            },
        )
}

fn replace_spec(prices: Prices) -> impl Strategy<Value = ReplaceSpec> {
    (
        prop::option::weighted(0.6, price(prices)),
        prop::option::weighted(0.6, quantity()),
    )
        .prop_map(|(new_price, new_quantity)| ReplaceSpec {
            new_price,
            new_quantity,
        })
}

/// What a generated command does. Cancels and replaces usually name an
/// order entered earlier in the stream (`target`), so that they hit live
/// orders often; otherwise they name random ids.
#[derive(Clone, Debug)]
enum Act {
    Add(OrderSpec),
    Cancel {
        target: Option<prop::sample::Index>,
    },
    Replace {
        spec: ReplaceSpec,
        target: Option<prop::sample::Index>,
    },
}

fn act(prices: Prices) -> impl Strategy<Value = Act> {
    let target = || prop::option::weighted(0.85, any::<prop::sample::Index>());
    prop_oneof![
        6 => order_spec(prices).prop_map(Act::Add),
        2 => target().prop_map(|target| Act::Cancel { target }),
        2 => (replace_spec(prices), target())
            .prop_map(|(spec, target)| Act::Replace { spec, target }),
    ]
}

/// A stream of commands over random symbols, users and order ids.
fn raw_commands(
    prices: Prices,
    order_ids: usize,
    lengths: std::ops::Range<usize>,
) -> impl Strategy<Value = Vec<Command>> {
    // AAA is configured; BBB is auto-created; of CCC and DDD only the first
    // to appear fits under max_symbols = 3.
    let symbol = prop_oneof![8 => Just(0usize), 8 => Just(1), 1 => Just(2), 1 => Just(3)];
    // Most AAA prices are put on its 5-tick grid; the rest test the tick rule.
    let on_grid = prop::bool::weighted(0.85);
    let step = (symbol, 0..USERS.len(), 0..order_ids, act(prices), on_grid);
    prop::collection::vec(step, lengths).prop_map(|steps| {
        let mut adds: Vec<(Symbol, UserId, OrderId)> = Vec::new();
        let mut out = Vec::with_capacity(steps.len());
        for (i, (s, u, o, mut act, on_grid)) in steps.into_iter().enumerate() {
            let ts = 1_000 + i as u64;
            if s == 0 && on_grid {
                snap_to_grid(&mut act, strict_rules().tick_size);
            }
            let mut who = (sym(SYMBOLS[s]), user(USERS[u]), oid(&format!("o{o}")));
            let mut aim = |target: Option<prop::sample::Index>| {
                if let (Some(t), false) = (target, adds.is_empty()) {
                    who = *t.get(&adds);
                }
                who
            };
            let command = match act {
                Act::Add(spec) => {
                    // Aim later cancels and replaces at orders that can rest.
                    if spec.tif == TimeInForce::Gtc && spec.order_type != OrderType::Market {
                        adds.push(who);
                    }
                    Command::add(ts, who.0, who.1, who.2, spec)
                }
                Act::Cancel { target } => {
                    let (s, u, o) = aim(target);
                    Command::cancel(ts, s, u, o)
                }
                Act::Replace { spec, target } => {
                    let (s, u, o) = aim(target);
                    Command::replace(ts, s, u, o, spec)
                }
            };
            out.push(command);
        }
        out
    })
}

fn snap_to_grid(act: &mut Act, tick: Price) {
    let snap = |p: &mut Price| *p -= *p % tick;
    match act {
        Act::Add(spec) => {
            snap(&mut spec.price);
            snap(&mut spec.stop_price);
        }
        Act::Replace { spec, .. } => {
            if let Some(p) = spec.new_price.as_mut() {
                snap(p);
            }
        }
        Act::Cancel { .. } => {}
    }
}

/// A stream of up to `max_len` commands with increasing timestamps.
pub fn commands(max_len: usize) -> impl Strategy<Value = Vec<Command>> {
    // Few ids make duplicates and live cancel targets common.
    raw_commands(NARROW, 10, 1..max_len)
}

/// Long streams over a wide price range, with many distinct order ids, so
/// books grow hundreds of levels deep and levels empty and get swept.
pub fn deep_commands() -> impl Strategy<Value = Vec<Command>> {
    raw_commands(WIDE, 2_000, 1_500..3_000)
}

/// An admin action over the streams' symbols, users and prices: halts and
/// resumes, every kind of mass cancel, and reference prices on and off
/// `AAA`'s grid.
fn admin_action() -> impl Strategy<Value = AdminAction> {
    let symbol = || (0..SYMBOLS.len()).prop_map(|s| sym(SYMBOLS[s]));
    let who = || (0..USERS.len()).prop_map(|u| user(USERS[u]));
    prop_oneof![
        2 => symbol().prop_map(|symbol| AdminAction::Halt { symbol }),
        3 => symbol().prop_map(|symbol| AdminAction::Resume { symbol }),
        1 => who().prop_map(|u| AdminAction::MassCancel { symbol: None, user_id: Some(u) }),
        1 => symbol().prop_map(|s| AdminAction::MassCancel { symbol: Some(s), user_id: None }),
        1 => (symbol(), who()).prop_map(|(s, u)| AdminAction::MassCancel {
            symbol: Some(s),
            user_id: Some(u),
        }),
        2 => (symbol(), 0..(NARROW.high + 5)).prop_map(|(symbol, price)| {
            AdminAction::SetReferencePrice { symbol, price }
        }),
    ]
}

/// A stream of up to `max_len` commands with admin commands mixed in, about
/// one input in twelve, as journaled inputs.
pub fn inputs(max_len: usize) -> impl Strategy<Value = Vec<Input>> {
    let admins = prop::collection::vec((any::<prop::sample::Index>(), admin_action()), 0..12);
    (commands(max_len), admins).prop_map(|(commands, admins)| {
        let mut inputs: Vec<Input> = commands.into_iter().map(Input::Command).collect();
        for (n, (at, action)) in admins.into_iter().enumerate() {
            let at = at.index(inputs.len() + 1);
            let ts = match inputs.get(at) {
                Some(Input::Command(c)) => c.ts,
                _ => 5_000,
            };
            inputs.insert(
                at,
                Input::Admin(AdminCommand {
                    ts,
                    request_id: oid(&format!("r{n}")),
                    action,
                }),
            );
        }
        inputs
    })
}
