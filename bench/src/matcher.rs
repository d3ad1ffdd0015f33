//! `bench matcher`: matching throughput on one core.
//!
//! The timed loop is `Engine::apply` over a pre-generated stream with a sink
//! that only tallies trades, so the figure is the matcher's own cost: no
//! decoding, no journal, no rings. Set-up (`prefill`) and tear-down are
//! outside the timer.

use std::time::Instant;

use engine::pipeline::{LOOKAHEAD_FAR, LOOKAHEAD_NEAR};
use engine::{Engine, Event, EventSink, Price};
use serde::Serialize;

use crate::workload::{Workload, WorkloadKind};

/// Trade totals, gathered by the sink in the timed loop. Never allocates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TradeTally {
    /// Executions.
    pub trades: u64,
    /// Σ quantity.
    pub volume: u64,
    /// Σ quantity × price.
    pub notional: u128,
    /// Every event, trades included.
    pub events: u64,
}

impl EventSink for TradeTally {
    fn on_event(&mut self, event: &Event) {
        self.events += 1;
        if let Event::Trade(trade) = event {
            self.trades += 1;
            self.volume += trade.quantity;
            self.notional += u128::from(trade.quantity) * u128::from(trade.price);
        }
    }
}

/// The figures of one run; serialises to exactly the keys `--json` promises.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MatcherReport {
    /// Which stream ran.
    pub workload: WorkloadKind,
    /// Timed commands.
    pub orders: usize,
    /// Wall time of the timed loop.
    pub seconds: f64,
    /// `orders / seconds`.
    pub orders_per_sec: f64,
    /// Executions.
    pub trades: u64,
    /// Σ quantity.
    pub volume: u64,
    /// Σ quantity × price.
    pub notional: u128,
    /// Orders resting on the bid side at the end.
    pub resting_bids: usize,
    /// Orders resting on the ask side at the end.
    pub resting_asks: usize,
    /// The best bid at the end.
    pub best_bid: Option<Price>,
    /// The best ask at the end.
    pub best_ask: Option<Price>,
    /// The last trade price.
    pub last_price: Option<Price>,
    /// Distinct bid prices at the end (summary only; not a `--json` key).
    #[serde(skip)]
    pub bid_levels: usize,
    /// Distinct ask prices at the end (summary only; not a `--json` key).
    #[serde(skip)]
    pub ask_levels: usize,
}

impl MatcherReport {
    /// Whether two runs produced the same matching results (timing aside).
    pub fn same_outcome(&self, other: &MatcherReport) -> bool {
        let strip = |r: &MatcherReport| MatcherReport {
            seconds: 0.0,
            orders_per_sec: 0.0,
            ..r.clone()
        };
        strip(self) == strip(other)
    }
}

/// Runs `workload` once on a fresh engine.
pub fn run_once(kind: WorkloadKind, workload: &Workload) -> anyhow::Result<MatcherReport> {
    let mut engine = Engine::new(workload.config.clone())?;
    let mut untimed = TradeTally::default();
    for command in &workload.prefill {
        engine.apply(command, &mut untimed);
    }
    let mut tally = TradeTally::default();
    let start = Instant::now();
    // The pipeline's matcher looks ahead across each ring batch: it fetches
    // a command's slot LOOKAHEAD_FAR commands before applying it, and its
    // index bucket LOOKAHEAD_NEAR before. This loop does the same.
    for (i, command) in workload.commands.iter().enumerate() {
        if let Some(far) = workload.commands.get(i + LOOKAHEAD_FAR) {
            Engine::prefetch_command(far);
        }
        if let Some(near) = workload.commands.get(i + LOOKAHEAD_NEAR) {
            engine.prefetch(near);
        }
        engine.apply(command, &mut tally);
    }
    let seconds = start.elapsed().as_secs_f64();
    let book = engine
        .book_summary(&workload.symbol)
        .ok_or_else(|| anyhow::anyhow!("the workload's symbol {} has no book", workload.symbol))?;
    let orders = workload.commands.len();
    Ok(MatcherReport {
        workload: kind,
        orders,
        seconds,
        orders_per_sec: orders as f64 / seconds,
        trades: tally.trades,
        volume: tally.volume,
        notional: tally.notional,
        resting_bids: book.bid_orders,
        resting_asks: book.ask_orders,
        best_bid: book.best_bid,
        best_ask: book.best_ask,
        last_price: book.last_price,
        bid_levels: book.bid_levels,
        ask_levels: book.ask_levels,
    })
}

/// The run with the median time; `runs` must not be empty.
pub fn median(runs: &[MatcherReport]) -> Option<MatcherReport> {
    let mut sorted: Vec<&MatcherReport> = runs.iter().collect();
    sorted.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    sorted.get(sorted.len() / 2).map(|r| (*r).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liquibook_runs_are_reproducible_and_balance() {
        let workload = Workload::generate(WorkloadKind::Liquibook, 50_000, 0);
        let a = run_once(WorkloadKind::Liquibook, &workload).unwrap();
        let b = run_once(WorkloadKind::Liquibook, &workload).unwrap();
        assert!(a.same_outcome(&b));
        // Every share bought was sold: total quantity submitted equals twice
        // the traded volume plus what rests (checked through the engine).
        assert!(a.trades > 0 && a.volume > 0);
        assert!(a.best_bid < a.best_ask, "the book is not crossed");
    }

    #[test]
    fn median_picks_the_middle_time() {
        let workload = Workload::generate(WorkloadKind::Liquibook, 10, 0);
        let base = run_once(WorkloadKind::Liquibook, &workload).unwrap();
        let runs: Vec<MatcherReport> = [3.0, 1.0, 2.0]
            .iter()
            .map(|&s| MatcherReport {
                seconds: s,
                ..base.clone()
            })
            .collect();
        assert_eq!(median(&runs).unwrap().seconds, 2.0);
    }
}
