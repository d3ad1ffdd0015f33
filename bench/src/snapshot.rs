//! The snapshot benchmark: what a snapshot costs the matcher, and what a
//! restart costs, for a book of N resting orders.
//!
//! The book is journaled as the server journals it, with a snapshot after
//! the last order, so the restart measured is the real one: the pipeline's
//! recovery (journal open, snapshot restore, replay) on those files. The
//! parts are also timed alone: the copy into a spare engine, serialising,
//! and restoring from bytes.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use engine::pipeline::{PipelineConfig, run};
use engine::{
    Command, Engine, EngineConfig, MemoryConfig, OrderId, OrderSpec, Side, Symbol, UserId,
};
use serde::Serialize;

use crate::inputs::journal_commands;
use crate::pipeline::{CountingSink, PacedSource};

/// Figures for one book size.
#[derive(Clone, Debug, Serialize)]
pub struct SnapshotReport {
    /// Resting orders in the engine.
    pub orders: usize,
    /// What one snapshot costs the matcher thread, in µs: copying the
    /// engine into a warm spare (`clone_from`), which the snapshot thread
    /// then serialises.
    pub matcher_stall_us: f64,
    /// Copying into a fresh engine (`clone`): the first snapshot's stall.
    pub copy_fresh_ms: f64,
    /// Copying into a warm spare (`clone_from`): every later stall.
    pub copy_warm_ms: f64,
    /// Serialising to canonical bytes (off the matcher).
    pub encode_ms: f64,
    /// Snapshot size.
    pub snapshot_bytes: usize,
    /// Rebuilding an engine from the bytes (part of recovery).
    pub restore_ms: f64,
    /// Of that, what an empty engine of the same capacity costs to build
    /// (allocating and prefaulting its arena), which any start pays.
    pub empty_engine_ms: f64,
    /// A whole clean restart of the pipeline on the journal and the
    /// snapshot after its last order: journal open, snapshot restore,
    /// replay (none after a clean stop).
    pub recovery_ms: f64,
    /// Of that, opening the journal.
    pub recovery_open_ms: f64,
    /// Of that, choosing, checking and restoring the snapshot.
    pub recovery_restore_ms: f64,
}

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1e3
}

/// Builds a book of `orders` resting orders over 100 symbols (no trades:
/// bids below 9,500, asks above 10,500), journaled in a scratch directory
/// under `scratch` with a snapshot after the last, and times each step.
pub fn run_snapshot_once(
    orders: usize,
    seed: u64,
    scratch: &std::path::Path,
) -> Result<SnapshotReport, Box<dyn std::error::Error + Send + Sync>> {
    let config = EngineConfig {
        max_symbols: 1_000,
        memory: MemoryConfig {
            order_capacity: u32::try_from(orders.next_power_of_two().max(1 << 16))?,
            prefault: true,
        },
        ..EngineConfig::default()
    };
    let commands = book_of(orders, seed)?;
    let dir = tempfile::Builder::new()
        .prefix("bench-snapshot-")
        .tempdir_in(scratch)?;
    let journal = dir.path().join("journal");
    let mut engine = Engine::new(config.clone())?;
    let last = journal_commands(
        &journal,
        &mut engine,
        commands.iter().copied(),
        1 << 30,
        |seq| seq == orders as u64,
    )
    .map_err(|e| e.to_string())?;
    if engine.live_orders() != orders {
        return Err(format!("only {} of {orders} orders rest", engine.live_orders()).into());
    }

    let started = Instant::now();
    let mut spare = engine.clone();
    let copy_fresh_ms = ms(started);
    // Make the spare differ, as a spare handed back by the snapshot thread
    // would, then copy again into its warm memory.
    let mut sink = crate::TradeTally::default();
    spare.apply(
        &Command::cancel(
            0,
            commands[0].symbol,
            commands[0].user_id,
            commands[0].order_id,
        ),
        &mut sink,
    );
    let started = Instant::now();
    spare.clone_from(&engine);
    let copy_warm_ms = ms(started);
    let started = Instant::now();
    let bytes = spare.snapshot();
    let encode_ms = ms(started);
    let started = Instant::now();
    drop(Engine::new(config.clone())?);
    let empty_engine_ms = ms(started);
    let started = Instant::now();
    let restored = Engine::restore(&bytes, config.memory)?;
    let restore_ms = ms(started);
    if restored.live_orders() != orders {
        return Err("the restored engine lost orders".into());
    }
    drop((spare, restored));

    // The restart: everything was delivered, the source has nothing new.
    let mut pipeline = PipelineConfig::new(&journal, config);
    pipeline.snapshot_every = None;
    let source = PacedSource::new(Arc::new(Vec::new()), None);
    let sink = CountingSink {
        messages: 0,
        delivered: last,
    };
    let report = run(&pipeline, source, sink, &AtomicBool::new(false))?;
    if report.last_sequence != last || report.recovery.snapshot != Some(last) {
        return Err(format!(
            "the restart recovered to {} from snapshot {:?}, not {last} from {last}",
            report.last_sequence, report.recovery.snapshot
        )
        .into());
    }
    if report.state_hash != engine.state_hash() {
        return Err("the restarted engine's state differs".into());
    }
    let recovery = &report.recovery;
    Ok(SnapshotReport {
        orders,
        matcher_stall_us: copy_warm_ms * 1e3,
        copy_fresh_ms,
        copy_warm_ms,
        encode_ms,
        snapshot_bytes: bytes.len(),
        restore_ms,
        empty_engine_ms,
        recovery_ms: recovery.took.as_secs_f64() * 1e3,
        recovery_open_ms: recovery.open.as_secs_f64() * 1e3,
        recovery_restore_ms: recovery.restore.as_secs_f64() * 1e3,
    })
}

/// `orders` new orders that all rest: over 100 symbols and 1,000 users,
/// bids below 9,500 and asks above 10,500.
fn book_of(orders: usize, seed: u64) -> Result<Vec<Command>, engine::IdError> {
    let mut rng = oorandom::Rand64::new(u128::from(seed));
    let symbols: Vec<Symbol> = (0..100)
        .map(|i| Symbol::new(&format!("S{i:03}")))
        .collect::<Result<_, _>>()?;
    let users: Vec<UserId> = (0..1_000)
        .map(|i| UserId::new(&format!("u{i}")))
        .collect::<Result<_, _>>()?;
    (0..orders)
        .map(|i| {
            let buy = i % 2 == 0;
            let offset = rng.rand_range(0..500);
            let (side, price) = if buy {
                (Side::Buy, 9_000 - offset)
            } else {
                (Side::Sell, 11_000 + offset)
            };
            let spec = OrderSpec::limit(side, price, 1 + rng.rand_range(0..100));
            let id = OrderId::new(&format!("o{i}"))?;
            Ok(Command::add(
                i as u64 + 1,
                symbols[i % 100],
                users[i % 1_000],
                id,
                spec,
            ))
        })
        .collect()
}
