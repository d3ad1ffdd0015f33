//! A demo order flow: several symbols, many users, a drifting mid price per
//! symbol, and the usual mix of passive and aggressive orders, cancels and
//! replaces.
//!
//! It feeds `engine --demo` through the Kafka feeder, so the server can be
//! watched working without any input of one's own. It is seeded and
//! deterministic, and paces nothing: the feeder decides when to send. It does not try to know which of its
//! orders are still live, so some cancels are refused, as in real flow.

use engine::endpoint::BoxError;
use engine::{Command, OrderId, OrderSpec, ReplaceSpec, Side, Symbol, TimeInForce, UserId};

const SYMBOLS: [&str; 8] = [
    "AAPL", "MSFT", "AMZN", "GOOG", "NVDA", "META", "TSLA", "JPM",
];
const USERS: u64 = 200;

/// Generates the demo flow.
pub struct DemoFeed {
    rng: oorandom::Rand64,
    symbols: Vec<Symbol>,
    mids: Vec<u64>,
    recent: Vec<(usize, u64, u64)>, // symbol, user, order number
    next_order: u64,
}

impl DemoFeed {
    /// A feed seeded with `seed`; the same seed gives the same flow.
    pub fn new(seed: u64) -> Result<DemoFeed, BoxError> {
        let symbols = SYMBOLS
            .iter()
            .map(|s| Symbol::new(s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DemoFeed {
            rng: oorandom::Rand64::new(u128::from(seed)),
            mids: (0..symbols.len() as u64)
                .map(|i| 10_000 + 2_500 * i)
                .collect(),
            symbols,
            recent: Vec::with_capacity(4096),
            next_order: 0,
        })
    }

    /// The next command of the flow.
    pub fn next_command(&mut self) -> Result<Command, BoxError> {
        let roll = self.rng.rand_range(0..100);
        if roll < 15 && !self.recent.is_empty() {
            let at = self.rng.rand_range(0..self.recent.len() as u64) as usize;
            let (s, user, order) = self.recent.swap_remove(at);
            let (symbol, user, order) = (self.symbols[s], user_id(user)?, order_id(order)?);
            return Ok(Command::cancel(0, symbol, user, order));
        }
        if roll < 22 && !self.recent.is_empty() {
            let at = self.rng.rand_range(0..self.recent.len() as u64) as usize;
            let (s, user, order) = self.recent[at];
            let price = self.price_near(s, true);
            let spec = ReplaceSpec {
                new_price: Some(price),
                new_quantity: None,
            };
            return Ok(Command::replace(
                0,
                self.symbols[s],
                user_id(user)?,
                order_id(order)?,
                spec,
            ));
        }
        let s = self.rng.rand_range(0..self.symbols.len() as u64) as usize;
        // A slow random walk of the mid keeps every book trading.
        if self.rng.rand_range(0..50) == 0 {
            let mid = &mut self.mids[s];
            *mid = if self.rng.rand_range(0..2) == 0 {
                mid.saturating_sub(1).max(100)
            } else {
                *mid + 1
            };
        }
        let side = if self.rng.rand_range(0..2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let quantity = (1 + self.rng.rand_range(0..20)) * 10;
        let user = self.rng.rand_range(0..USERS);
        self.next_order += 1;
        let spec = if roll < 30 {
            OrderSpec::market(side, quantity)
        } else {
            let passive = roll >= 40;
            let price = self.price_near(s, passive);
            let price = match (side, passive) {
                (Side::Buy, true) | (Side::Sell, false) => price.min(self.mids[s] * 2 - price),
                _ => price.max(self.mids[s] * 2 - price),
            };
            let mut spec = OrderSpec::limit(side, price, quantity);
            if roll < 35 {
                spec.tif = TimeInForce::Ioc;
            }
            spec
        };
        if spec.tif == TimeInForce::Gtc {
            if self.recent.len() == self.recent.capacity() {
                self.recent.swap_remove(0);
            }
            self.recent.push((s, user, self.next_order));
        }
        Ok(Command::add(
            0,
            self.symbols[s],
            user_id(user)?,
            order_id(self.next_order)?,
            spec,
        ))
    }

    /// A price a few ticks from the mid: inside 5 ticks when crossing, up to
    /// 20 when resting.
    fn price_near(&mut self, s: usize, passive: bool) -> u64 {
        let spread = if passive { 20 } else { 5 };
        let offset = self.rng.rand_range(0..spread + 1);
        if self.rng.rand_range(0..2) == 0 {
            self.mids[s] + offset
        } else {
            self.mids[s].saturating_sub(offset).max(1)
        }
    }
}

fn user_id(n: u64) -> Result<UserId, BoxError> {
    Ok(UserId::new(&format!("trader{n}"))?)
}

fn order_id(n: u64) -> Result<OrderId, BoxError> {
    Ok(OrderId::new(&format!("demo-{n}"))?)
}
