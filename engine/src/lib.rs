//! The deterministic core of the exchange: domain types, order books and the
//! matcher.
//!
//! # Brief overview
//!
//! An [`Engine`] holds one book per symbol and every live order. It is fed
//! [`Command`]s, fixed-size values the gateway decoded and the journal
//! stored, and reports every outcome as [`Event`]s to an [`EventSink`].
//! [`Engine::snapshot`] and [`Engine::restore`] move the whole state to and
//! from bytes; [`Engine::state_hash`] proves two engines agree.
//!
//! The lifecycle, in the order a host process uses it:
//!
//! 1. **Configure**: [`EngineConfig`] (per-symbol [`SymbolRules`], the symbol
//!    limit, [`SelfTradePrevention`]), from TOML or code.
//! 2. **Submit and match**: [`Engine::apply`] takes one command and emits its
//!    events synchronously, in a documented order.
//! 3. **Emit**: the sink forwards events (in the server, to the output ring).
//! 4. **Snapshot / shut down**: [`Engine::snapshot`] at a sequence number;
//!    recovery is [`Engine::restore`] plus replay of later commands.
//!
//! Determinism is the design rule everything else serves: `apply` reads no
//! clock (time arrives in [`Command::ts`]), does no I/O, uses no randomness
//! and no hash-table iteration order, and after warm-up does not allocate.
//! The same commands give the same events and the same state hash, on any
//! machine.
//!
//! # Example
//!
//! ```
//! use engine::{Command, Engine, EngineConfig, Event, OrderId, OrderSpec, Side, Symbol, UserId};
//!
//! let mut engine = Engine::new(EngineConfig::default())?;
//! let aapl = Symbol::new("AAPL")?;
//! let mut events = Vec::new();
//!
//! let sell = OrderSpec::limit(Side::Sell, 15_000, 100);
//! engine.apply(&Command::add(1, aapl, UserId::new("alice")?, OrderId::new("s1")?, sell), &mut events);
//! let buy = OrderSpec::limit(Side::Buy, 15_010, 40);
//! engine.apply(&Command::add(2, aapl, UserId::new("bob")?, OrderId::new("b1")?, buy), &mut events);
//!
//! let trade = events.iter().find_map(|e| match e { Event::Trade(t) => Some(*t), _ => None });
//! let trade = trade.expect("the buy crosses the resting sell");
//! assert_eq!((trade.price, trade.quantity), (15_000, 40)); // the resting order's price
//! assert_eq!(trade.seller.remaining, 60);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layers, and why some are features
//!
//! - The core above: pure, as described.
//! - [`sequenced`]: everything keyed by the engine sequence: the journal's
//!   record schema, the checkpoint codec, output numbering, and
//!   [`sequenced::Replayer`] (restore, apply, number, verify). Pure too: no
//!   threads, no clock, no I/O. The live pipeline, recovery and the
//!   `replay` tool all go through it.
//! - [`endpoint`]: the [`endpoint::InputSource`] and
//!   [`endpoint::OutputSink`] traits the pipeline runs between, so that a
//!   tool can drive a sink without the server's threads.
//! - [`threads`]: which core each pipeline thread runs on and how an idle
//!   one waits, as plain data, so that host checks (the `tuning` crate)
//!   need no rings.
//! - [`units`]: durations, sizes and rates formatted for people.
//! - `history` (feature `history`): a journal directory's records and
//!   snapshot files, read with the `journal` crate and fed to the replayer.
//! - `pipeline` (feature `pipeline`, on by default, implies `history`): the
//!   LMAX pipeline of the server: ingress, journaler and matcher on a
//!   `disruptor` ring, egress gated on the journal, snapshots, recovery. It
//!   is the only part with threads and clocks. Feature `crossbeam-rings`
//!   adds a second ring transport for the pipeline benchmark only.
//! - `validate` (feature): `Engine::validate_internal_state`, which tests
//!   call after every command, and a restore that runs it.
//!
//! The layers are cargo features, not just modules, so that the matcher
//! and the sequenced layer provably build and test without `disruptor`,
//! `io_uring` or the journal (`cargo test -p engine --no-default-features`,
//! which CI runs). A module boundary alone would let a stray import pull
//! the server into the core unnoticed. The design these serve is
//! `docs/design.md`.

#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod book;
mod command;
mod config;
pub mod endpoint;
mod engine;
mod event;
#[cfg(feature = "history")]
pub mod history;
mod ids;
mod index;
mod ladder;
mod moves;
mod orders;
#[cfg(feature = "pipeline")]
pub mod pipeline;
#[cfg(feature = "history")]
pub mod replicated;
pub mod sequenced;
mod slot;
mod snapshot;
mod stops;
pub mod threads;
mod types;
pub mod units;
#[cfg(any(test, feature = "validate"))]
mod validate;

pub use command::{Action, AdminAction, AdminCommand, Command, OrderSpec, ReplaceSpec};
pub use config::{
    ConfigError, EngineConfig, MAX_SYMBOLS_LIMIT, MemoryConfig, ORDER_CAPACITY_LIMIT,
    SelfTradePrevention, SymbolRules,
};
pub use engine::{BookSummary, Engine};
pub use event::{
    AdminRef, CancelReason, DEPTH_LEVELS, Depth, DepthLevel, DepthSide, Event, EventSink, MoveStep,
    OrderRef, RejectReason, Trade, TradeParty,
};
pub use ids::{EngineId, IdError, OrderId, Symbol, UserId};
pub use moves::{MoveState, Outgoing};
pub use orders::OrderView;
pub use snapshot::{SNAPSHOT_FORMAT_VERSION, SnapshotError};
pub use types::{OrderType, Price, Qty, Side, TimeInForce};
#[cfg(any(test, feature = "validate"))]
pub use validate::InvariantViolation;
