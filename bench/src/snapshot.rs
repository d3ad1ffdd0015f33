//! The snapshot benchmark: what a snapshot costs the matcher, and what a
//! restore costs recovery, for a book of N resting orders.
//!
//! The pipeline snapshots by copying the engine into a spare with
//! `clone_from` on the matcher thread (the stall), then serialising the copy
//! on another thread. This measures each part alone, on an idle pipeline.

use std::time::Instant;

use engine::{
    Command, Engine, EngineConfig, MemoryConfig, OrderId, OrderSpec, Side, Symbol, UserId,
};
use serde::Serialize;

/// Figures for one book size.
#[derive(Clone, Debug, Serialize)]
pub struct SnapshotReport {
    /// Resting orders in the engine.
    pub orders: usize,
    /// Copying into a fresh engine (`clone`): the first snapshot's stall.
    pub copy_fresh_ms: f64,
    /// Copying into a warm spare (`clone_from`): every later stall.
    pub copy_warm_ms: f64,
    /// Serialising to canonical bytes (off the matcher).
    pub encode_ms: f64,
    /// Snapshot size.
    pub snapshot_bytes: usize,
    /// Rebuilding an engine from the bytes (recovery).
    pub restore_ms: f64,
    /// Of that, what an empty engine of the same capacity costs to build
    /// (allocating and prefaulting its arena), which any start pays.
    pub empty_engine_ms: f64,
}

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1e3
}

/// Builds an engine with `orders` resting orders over 100 symbols (no
/// trades: bids below 9,500, asks above 10,500) and times each step.
pub fn run_snapshot_once(
    orders: usize,
    seed: u64,
) -> Result<SnapshotReport, Box<dyn std::error::Error + Send + Sync>> {
    let config = EngineConfig {
        max_symbols: 1_000,
        memory: MemoryConfig {
            order_capacity: u32::try_from(orders.next_power_of_two().max(1 << 16))?,
            prefault: true,
        },
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(config)?;
    let mut rng = oorandom::Rand64::new(u128::from(seed));
    let symbols: Vec<Symbol> = (0..100)
        .map(|i| Symbol::new(&format!("S{i:03}")))
        .collect::<Result<_, _>>()?;
    let users: Vec<UserId> = (0..1_000)
        .map(|i| UserId::new(&format!("u{i}")))
        .collect::<Result<_, _>>()?;
    let mut sink = crate::TradeTally::default();
    for i in 0..orders {
        let buy = i % 2 == 0;
        let offset = rng.rand_range(0..500);
        let (side, price) = if buy {
            (Side::Buy, 9_000 - offset)
        } else {
            (Side::Sell, 11_000 + offset)
        };
        let spec = OrderSpec::limit(side, price, 1 + rng.rand_range(0..100));
        let id = OrderId::new(&format!("o{i}"))?;
        engine.apply(
            &Command::add(i as u64, symbols[i % 100], users[i % 1_000], id, spec),
            &mut sink,
        );
    }
    if engine.live_orders() != orders {
        return Err(format!("only {} of {orders} orders rest", engine.live_orders()).into());
    }
    let started = Instant::now();
    let mut spare = engine.clone();
    let copy_fresh_ms = ms(started);
    // Make the spare differ, as a spare handed back by the snapshot thread
    // would, then copy again into its warm memory.
    spare.apply(
        &Command::cancel(0, symbols[0], users[0], OrderId::new("o0")?),
        &mut sink,
    );
    let started = Instant::now();
    spare.clone_from(&engine);
    let copy_warm_ms = ms(started);
    let started = Instant::now();
    let bytes = spare.snapshot();
    let encode_ms = ms(started);
    let started = Instant::now();
    drop(Engine::new(engine.config().clone())?);
    let empty_engine_ms = ms(started);
    let started = Instant::now();
    let restored = Engine::restore(&bytes, engine.config().memory)?;
    let restore_ms = ms(started);
    if restored.live_orders() != orders {
        return Err("the restored engine lost orders".into());
    }
    Ok(SnapshotReport {
        orders,
        copy_fresh_ms,
        copy_warm_ms,
        encode_ms,
        snapshot_bytes: bytes.len(),
        restore_ms,
        empty_engine_ms,
    })
}
