//! The benchmark workloads (`docs/design.md` §8), as pre-generated command
//! streams.
//!
//! Streams are generated in full before timing starts, as Liquibook's own
//! test does, so the timed loop measures the matcher and nothing else. Both
//! workloads are deterministic: the same parameters give the same commands.

use engine::{
    Command, Engine, EngineConfig, Event, MemoryConfig, OrderId, OrderSpec, Price, Qty,
    ReplaceSpec, SelfTradePrevention, Side, Symbol, TimeInForce, UserId,
};

use crate::glibc_rand::GlibcRand;

/// Which stream to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    /// Liquibook's performance-test stream: one symbol, GTC limit adds only.
    Liquibook,
    /// exchange-core's latency-table mix: 9% GTC, 3% IOC, 6% cancel, 82% move.
    Ecore,
}

/// A generated workload: untimed set-up commands, then the timed ones.
pub struct Workload {
    /// The engine configuration the stream is meant for.
    pub config: EngineConfig,
    /// The workload's one symbol.
    pub symbol: Symbol,
    /// Applied before timing starts (the resting book of `ecore`).
    pub prefill: Vec<Command>,
    /// The measured commands.
    pub commands: Vec<Command>,
}

impl Workload {
    /// Generates `orders` timed commands of `kind`. `seed` drives `ecore`;
    /// `liquibook` always uses `srand(3)`, as the C++ test does.
    pub fn generate(kind: WorkloadKind, orders: usize, seed: u64) -> Workload {
        match kind {
            WorkloadKind::Liquibook => liquibook(orders),
            WorkloadKind::Ecore => ecore(orders, seed),
        }
    }
}

fn symbol(text: &str) -> Symbol {
    Symbol::new(text).unwrap_or_else(|e| unreachable!("constant symbol {text}: {e}"))
}

fn numbered<T>(prefix: &str, n: u64, make: fn(&str) -> Result<T, engine::IdError>) -> T {
    let text = format!("{prefix}{n}");
    make(&text).unwrap_or_else(|e| unreachable!("generated id {text}: {e}"))
}

/// An engine sized for `orders` live orders, with its memory touched up
/// front as a server's would be, so page faults stay out of the timings.
fn config_for(orders: usize) -> EngineConfig {
    let order_capacity = u32::try_from(orders)
        .unwrap_or(u32::MAX)
        .clamp(1 << 16, engine::ORDER_CAPACITY_LIMIT);
    EngineConfig {
        memory: MemoryConfig {
            order_capacity,
            prefault: true,
        },
        ..EngineConfig::default()
    }
}

/// Liquibook's `pt_order_book.cpp` stream with `srand(3)`: order `k` buys
/// when `k` is even, at `rand() % 10 + 1880` (buys) or `+ 1884` (sells),
/// quantity `(rand() % 10 + 1) * 100`, price drawn first.
///
/// Liquibook has no users, so every order comes from one user and
/// self-trade prevention is off (`Allow`), leaving pure price-time matching.
fn liquibook(orders: usize) -> Workload {
    let symbol = symbol("LIQ");
    let user = numbered("user", 0, UserId::new);
    let mut rng = GlibcRand::new(3);
    let commands = (0..orders as u64)
        .map(|k| {
            let side = if k % 2 == 0 { Side::Buy } else { Side::Sell };
            let base = if side == Side::Buy { 1880 } else { 1884 };
            let price = Price::from(rng.next() % 10) + base;
            let quantity = (Qty::from(rng.next() % 10) + 1) * 100;
            let id = numbered("", k, OrderId::new);
            Command::add(k, symbol, user, id, OrderSpec::limit(side, price, quantity))
        })
        .collect();
    Workload {
        config: EngineConfig {
            self_trade_prevention: SelfTradePrevention::Allow,
            ..config_for(orders)
        },
        symbol,
        prefill: Vec::new(),
        commands,
    }
}

/// The centre of the `ecore` book, in ticks.
pub const ECORE_MID: Price = 100_000;
/// How far from the centre each side's orders are spread, in ticks.
pub(crate) const ECORE_SPREAD: Price = 1_200;
/// The resting orders the `ecore` book is built with and held near.
pub const ECORE_RESTING: usize = 1_000;
const ECORE_USERS: u64 = 1_000;

/// A seeded generator of `ecore` commands that tracks which of its orders
/// are live by running them through its own engine, so cancels and moves
/// always name live orders (as exchange-core's generator does).
pub struct EcoreGenerator {
    rng: oorandom::Rand64,
    shadow: Engine,
    symbol: Symbol,
    /// Live orders: `(user, order id, side, price)`.
    live: Vec<(UserId, OrderId, Side, Price)>,
    /// Position of each live order id in `live`, for O(1) removal. Order ids
    /// are unique across users here, so the id alone is the key.
    position: std::collections::BTreeMap<OrderId, usize>,
    next_order: u64,
    ts: u64,
    events: Vec<Event>,
}

impl EcoreGenerator {
    /// A generator with an empty book.
    pub fn new(seed: u64) -> EcoreGenerator {
        EcoreGenerator {
            rng: oorandom::Rand64::new(u128::from(seed)),
            shadow: Engine::new(config_for(ECORE_RESTING * 4))
                .unwrap_or_else(|e| unreachable!("built-in config: {e}")),
            symbol: symbol("ECORE"),
            live: Vec::new(),
            position: Default::default(),
            next_order: 0,
            ts: 0,
            events: Vec::new(),
        }
    }

    /// The configuration the generated commands assume.
    pub fn config(&self) -> EngineConfig {
        self.shadow.config().clone()
    }

    /// How many generated orders are live now.
    pub fn live(&self) -> usize {
        self.live.len()
    }

    fn price_on(&mut self, side: Side) -> Price {
        let offset = self.rng.rand_range(1..ECORE_SPREAD + 1);
        match side {
            Side::Buy => ECORE_MID - offset,
            Side::Sell => ECORE_MID + offset,
        }
    }

    fn side(&mut self) -> Side {
        if self.rng.rand_range(0..2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        }
    }

    /// A passive GTC limit order at a random price on a random side.
    pub fn passive_add(&mut self) -> Command {
        let side = self.side();
        let price = self.price_on(side);
        let quantity = self.rng.rand_range(1..101);
        self.new_order(OrderSpec::limit(side, price, quantity))
    }

    /// The next command of the 9/3/6/82 mix.
    pub fn next_command(&mut self) -> Command {
        let roll = self.rng.rand_range(0..100);
        if self.live.is_empty() || roll < 9 {
            return self.passive_add();
        }
        if roll < 12 {
            return self.ioc();
        }
        let pick = self.rng.rand_range(0..self.live.len() as u64) as usize;
        let (user, order, side, price) = self.live[pick];
        if roll < 18 {
            return self.command(|ts, s| Command::cancel(ts, s, user, order));
        }
        // A move: a new price up to 20 ticks away, kept on its own side.
        let step = self.rng.rand_range(1..21);
        let up = self.rng.rand_range(0..2) == 0;
        let (low, high) = match side {
            Side::Buy => (ECORE_MID - ECORE_SPREAD, ECORE_MID - 1),
            Side::Sell => (ECORE_MID + 1, ECORE_MID + ECORE_SPREAD),
        };
        let mut new_price = if up {
            price + step
        } else {
            price.saturating_sub(step)
        };
        if new_price > high || new_price < low {
            new_price = if up { price - step } else { price + step };
        }
        let spec = ReplaceSpec {
            new_price: Some(new_price),
            new_quantity: None,
        };
        self.command(|ts, s| Command::replace(ts, s, user, order, spec))
    }

    /// An IOC that crosses into the best 20 ticks of the other side. Its
    /// size leans on the book size, so the book neither drains nor grows:
    /// about one resting order's worth at the target, three when above.
    fn ioc(&mut self) -> Command {
        let side = self.side();
        let best = self
            .shadow
            .book_summary(&self.symbol)
            .and_then(|book| match side {
                Side::Buy => book.best_ask,
                Side::Sell => book.best_bid,
            });
        let limit = match (side, best) {
            (Side::Buy, Some(ask)) => ask + 20,
            (Side::Sell, Some(bid)) => bid.saturating_sub(20).max(1),
            (Side::Buy, None) => ECORE_MID + 1,
            (Side::Sell, None) => ECORE_MID - 1,
        };
        let cap = if self.live.len() > ECORE_RESTING {
            300
        } else {
            100
        };
        let quantity = self.rng.rand_range(1..cap + 1);
        let mut spec = OrderSpec::limit(side, limit, quantity);
        spec.tif = TimeInForce::Ioc;
        self.new_order(spec)
    }

    fn new_order(&mut self, spec: OrderSpec) -> Command {
        let order = self.next_order;
        self.next_order += 1;
        let user = self.rng.rand_range(0..ECORE_USERS);
        self.command(|ts, s| {
            Command::add(
                ts,
                s,
                numbered("u", user, UserId::new),
                numbered("e", order, OrderId::new),
                spec,
            )
        })
    }

    /// Stamps a command, runs it through the shadow engine and updates the
    /// live set from its events.
    fn command(&mut self, make: impl FnOnce(u64, Symbol) -> Command) -> Command {
        self.ts += 1;
        let command = make(self.ts, self.symbol);
        self.events.clear();
        self.shadow.apply(&command, &mut self.events);
        for i in 0..self.events.len() {
            match self.events[i] {
                Event::Accepted { order, spec } if spec.tif == TimeInForce::Gtc => {
                    self.position.insert(order.order_id, self.live.len());
                    self.live
                        .push((order.user_id, order.order_id, spec.side, spec.price));
                }
                Event::Replaced { order, price, .. } => {
                    if let Some(&at) = self.position.get(&order.order_id) {
                        self.live[at].3 = price;
                    }
                }
                Event::Trade(trade) => {
                    for party in [trade.buyer, trade.seller] {
                        if party.remaining == 0 {
                            self.remove_live(&party.order_id);
                        }
                    }
                }
                Event::Cancelled { order, .. } | Event::Expired { order, .. } => {
                    self.remove_live(&order.order_id);
                }
                _ => {}
            }
        }
        command
    }

    fn remove_live(&mut self, order: &OrderId) {
        let Some(at) = self.position.remove(order) else {
            return;
        };
        self.live.swap_remove(at);
        if let Some(moved) = self.live.get(at) {
            self.position.insert(moved.1, at);
        }
    }
}

/// exchange-core's mix on one symbol: a book of about 1,000 orders over
/// about 750 price levels, then `orders` commands of 9% GTC limit, 3% IOC,
/// 6% cancel and 82% move.
fn ecore(orders: usize, seed: u64) -> Workload {
    let mut generator = EcoreGenerator::new(seed);
    let prefill = (0..ECORE_RESTING)
        .map(|_| generator.passive_add())
        .collect();
    let commands = (0..orders).map(|_| generator.next_command()).collect();
    Workload {
        config: generator.config(),
        symbol: generator.symbol,
        prefill,
        commands,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liquibook_stream_follows_the_cpp_test() {
        // srand(3): (price % 10, qty) pairs printed by glibc for the first
        // four orders: (6,600) (8,100) (5,100) (2,700).
        let w = liquibook(4);
        let got: Vec<(Side, Price, Qty)> = w
            .commands
            .iter()
            .map(|c| match c.action {
                engine::Action::Add(s) => (s.side, s.price, s.quantity),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(
            got,
            [
                (Side::Buy, 1886, 600),
                (Side::Sell, 1892, 100),
                (Side::Buy, 1885, 100),
                (Side::Sell, 1886, 700)
            ]
        );
    }

    #[test]
    fn ecore_mix_is_deterministic_and_near_its_percentages() {
        let a = ecore(20_000, 7);
        let b = ecore(20_000, 7);
        assert_eq!(a.commands, b.commands);
        let mut counts = [0usize; 4];
        for c in &a.commands {
            let i = match c.action {
                engine::Action::Add(s) if s.tif == TimeInForce::Gtc => 0,
                engine::Action::Add(_) => 1,
                engine::Action::Cancel => 2,
                engine::Action::Replace(_) => 3,
            };
            counts[i] += 1;
        }
        let total = a.commands.len() as f64;
        for (count, want) in counts.iter().zip([9.0, 3.0, 6.0, 82.0]) {
            let got = *count as f64 * 100.0 / total;
            assert!(
                (got - want).abs() < 1.0,
                "{got:.2}% for {want}%: {counts:?}"
            );
        }
    }
}
