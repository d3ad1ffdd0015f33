//! Where a live pipeline hands a released partition's export: the second
//! step of a move (`crate::moves`, `docs/shards.md#moving-a-partition`).
//!
//! The matcher thread encodes the export right after it applies the
//! release, from its own engine, and hands the bytes to a hook the server
//! installs (the gateway's mover, which writes them to Kafka once the
//! outputs through the release are delivered). After a crash, recovery's
//! engine still holds the release; the pipeline exports again at start, so
//! a move survives a crash between the release and the export. Nothing
//! here does I/O, and replay never exports.

use std::sync::Arc;

use crate::moves::Outgoing;

/// A released partition's books, ready to send.
#[derive(Clone, Debug)]
pub struct Export {
    /// The input after which the export stands: the release's sequence,
    /// or at start the last recovered one. Outputs through it must be
    /// delivered before the taker may trade the books.
    pub seq: u64,
    /// The move.
    pub outgoing: Outgoing,
    /// [`Engine::export_outgoing`](crate::Engine::export_outgoing)'s bytes.
    pub bytes: Vec<u8>,
    /// How long encoding them took (the matcher's stall, for a release).
    pub encoding: std::time::Duration,
}

/// The hook that takes exports. It runs on the matcher thread, so it must
/// hand the export on (a channel) and return.
#[derive(Clone)]
pub struct Exports(pub Arc<dyn Fn(Export) + Send + Sync>);

impl std::fmt::Debug for Exports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Exports(..)")
    }
}
