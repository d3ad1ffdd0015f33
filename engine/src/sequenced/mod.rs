//! Everything keyed by the engine sequence: the journal record of input N,
//! the outputs numbered `(N, idx)`, the checkpoint of the state at N, and
//! the replayer that goes from one to the next. The live pipeline uses it
//! (ingress encodes records, the matcher applies them, egress numbers
//! outputs), and so do recovery and the `replay` tool, so all three agree by
//! construction. It has no threads, no clock and no I/O.
//!
//! # Brief overview
//!
//! - The record schema: an [`Input`] per journal sequence, written by
//!   [`encode_input`] and read back by [`decode_input`], versioned as
//!   [`INPUT_FORMAT`].
//! - What an input produces: [`Output`]s, split into wire [`Message`]s on
//!   each [`Topic`] and numbered `(seq, idx)` by [`Numbering`].
//! - The checkpoint a snapshot file holds ([`encode_checkpoint`],
//!   [`decode_checkpoint`]): sequence, state hash, source positions, state.
//! - [`Replayer`]: restore from a checkpoint (or start empty), apply
//!   journaled inputs in order, number their outputs, and check the state
//!   hashes snapshots recorded on the way.
//!
//! Reading a journal directory (records and snapshot files) is
//! `crate::history`, which feeds this layer; running the engine live is
//! `crate::pipeline`.
//!
//! # Example
//!
//! ```
//! use engine::sequenced::{Input, Journaled, Replayer, SourcePosition, SourcePositions};
//! use engine::{Command, Engine, EngineConfig, OrderId, OrderSpec, Side, Symbol, UserId};
//!
//! let mut replayer = Replayer::new(Engine::new(EngineConfig::default())?, 0, SourcePositions::default());
//! let sell = Command::add(1, Symbol::new("AAPL")?, UserId::new("a")?, OrderId::new("s1")?,
//!     OrderSpec::limit(Side::Sell, 100, 10));
//! let record = Journaled {
//!     sequence: 1,
//!     timestamp_ns: 1,
//!     source: SourcePosition::orders(0, 0),
//!     input: Input::Command(sell),
//! };
//! let mut messages = Vec::new();
//! replayer.apply(&record, |m| messages.push((m.seq, m.idx, m.body.topic())))?;
//! assert_eq!(messages.len(), 2); // ACCEPTED on order_status, then depth
//! assert_eq!(messages[1], (1, 1, engine::sequenced::Topic::Depth));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod checkpoint;
mod input;
mod output;
mod replayer;

#[cfg(feature = "history")]
pub(crate) use checkpoint::parse_checkpoint;
pub use checkpoint::{
    CHECKPOINT_VERSION, Checkpoint, CheckpointError, decode_checkpoint, encode_checkpoint,
};
pub use input::{
    Handover, INPUT_FORMAT, Input, InputField, Malformed, OLDEST_INPUT_FORMAT, PIECE_BYTES,
    Problem, RecordError, SourcePosition, SourcePositions, SourceTopic, decode_input, encode_input,
    export_digest, export_pieces,
};
pub use output::{FillParty, Message, MessageBody, Numbering, Output, Topic};
pub use replayer::{Journaled, ReplayError, Replayer, apply_input};
