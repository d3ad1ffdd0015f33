//! `bench mass-cancel`: what an operator's mass cancel costs the matcher.
//!
//! The engine finds a user's orders by scanning the books a mass cancel
//! covers, rather than keeping a list per user that every order would pay
//! for. This measures both sides of that choice: a mass cancel by symbol
//! that removes every order of a full book, and one by user that finds a
//! few orders among many across every book. Book building is outside the
//! timer; the sink only counts events.

use std::time::Instant;

use engine::{
    AdminAction, AdminCommand, Command, Engine, EngineConfig, MemoryConfig, OrderId, OrderSpec,
    Side, Symbol, UserId,
};
use serde::Serialize;

use crate::TradeTally;

/// Books, users and orders of the measurement.
#[derive(Clone, Copy, Debug)]
pub struct MassCancelConfig {
    /// Resting orders in all, spread over the books.
    pub orders: usize,
    /// Books the orders rest in.
    pub symbols: usize,
    /// Users the orders belong to, round robin.
    pub users: usize,
}

/// One run's figures.
#[derive(Clone, Debug, Serialize)]
pub struct MassCancelReport {
    /// Resting orders before each cancel.
    pub orders: usize,
    /// Books.
    pub symbols: usize,
    /// Users.
    pub users: usize,
    /// Cancelling every order of one symbol that holds all of them.
    pub by_symbol_ms: f64,
    /// Orders that removed.
    pub by_symbol_cancelled: u64,
    /// Cancelling one user's orders, scanning every book.
    pub by_user_ms: f64,
    /// Orders that removed.
    pub by_user_cancelled: u64,
}

/// `count` non-crossing GTC limit orders over `symbols` books and `users`
/// users: bids below 10,000 and asks above, on 500 levels a side.
fn resting(count: usize, symbols: usize, users: usize) -> Vec<Command> {
    (0..count)
        .map(|n| {
            let symbol =
                Symbol::new(&format!("S{}", n % symbols)).unwrap_or_else(|_| unreachable!());
            let user = UserId::new(&format!("u{}", n % users)).unwrap_or_else(|_| unreachable!());
            let order = OrderId::new(&format!("o{n}")).unwrap_or_else(|_| unreachable!());
            let level = (n / symbols % 500) as u64;
            let spec = if n % 2 == 0 {
                OrderSpec::limit(Side::Buy, 9_999 - level, 10)
            } else {
                OrderSpec::limit(Side::Sell, 10_001 + level, 10)
            };
            Command::add(n as u64, symbol, user, order, spec)
        })
        .collect()
}

fn engine_with(orders: &[Command], capacity: usize) -> anyhow::Result<Engine> {
    let mut engine = Engine::new(EngineConfig {
        max_symbols: 1_000,
        memory: MemoryConfig {
            order_capacity: capacity.next_power_of_two() as u32,
            ..MemoryConfig::default()
        },
        ..EngineConfig::default()
    })?;
    let mut sink = TradeTally::default();
    for command in orders {
        engine.apply(command, &mut sink);
    }
    anyhow::ensure!(sink.trades == 0, "the resting orders crossed");
    Ok(engine)
}

/// Times one mass cancel; returns milliseconds and orders cancelled.
fn timed(engine: &mut Engine, action: AdminAction) -> anyhow::Result<(f64, u64)> {
    let mut sink = Counted::default();
    let command = AdminCommand {
        ts: u64::MAX,
        request_id: OrderId::new("bench")?,
        action,
    };
    let start = Instant::now();
    engine.apply_admin(&command, &mut sink);
    let ms = start.elapsed().as_secs_f64() * 1e3;
    anyhow::ensure!(sink.applied, "the mass cancel was refused");
    Ok((ms, sink.cancelled))
}

/// Counts what a mass cancel reports.
#[derive(Default)]
struct Counted {
    cancelled: u64,
    applied: bool,
}

impl engine::EventSink for Counted {
    fn on_event(&mut self, event: &engine::Event) {
        match event {
            engine::Event::Cancelled { .. } => self.cancelled += 1,
            engine::Event::AdminApplied { .. } => self.applied = true,
            _ => {}
        }
    }
}

/// Builds the books and times both mass cancels once.
pub fn run_mass_cancel(config: MassCancelConfig) -> anyhow::Result<MassCancelReport> {
    // By symbol: one book holding every order.
    let mut one_book = engine_with(&resting(config.orders, 1, config.users), config.orders)?;
    let (by_symbol_ms, by_symbol_cancelled) = timed(
        &mut one_book,
        AdminAction::MassCancel {
            symbol: Some(Symbol::new("S0")?),
            user_id: None,
        },
    )?;
    // By user: the orders spread over every book, one user's found.
    let mut many = engine_with(
        &resting(config.orders, config.symbols, config.users),
        config.orders,
    )?;
    let (by_user_ms, by_user_cancelled) = timed(
        &mut many,
        AdminAction::MassCancel {
            symbol: None,
            user_id: Some(UserId::new("u0")?),
        },
    )?;
    Ok(MassCancelReport {
        orders: config.orders,
        symbols: config.symbols,
        users: config.users,
        by_symbol_ms,
        by_symbol_cancelled,
        by_user_ms,
        by_user_cancelled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_cancels_remove_what_they_should() {
        let report = run_mass_cancel(MassCancelConfig {
            orders: 2_000,
            symbols: 10,
            users: 100,
        })
        .unwrap();
        assert_eq!(report.by_symbol_cancelled, 2_000);
        assert_eq!(report.by_user_cancelled, 20);
    }
}
