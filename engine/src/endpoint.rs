//! The two ends a pipeline runs between: an [`InputSource`] that yields
//! decoded inputs with their source positions, and an [`OutputSink`] that
//! takes numbered messages in batches.
//!
//! They are traits so that the server runs on files, Kafka or a benchmark's
//! generator, and so that `replay run` can re-send outputs through the same
//! sinks without the server's threads. This module only defines them; it
//! starts no thread and does no I/O. Sources decode and report positions;
//! they do not stamp command time (ingress does). Sinks choose the wire
//! encoding.

use crate::MoveState;
use crate::sequenced::{Input, Message, SourcePosition, SourcePositions};
use crate::threads::PARK_SLEEP;

/// Nanoseconds since the Unix epoch by the wall clock: the time base of
/// [`SourceItem::origin_ns`] and of the latency figures measured from it.
/// It is not the command time; ingress stamps that.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// One message from a source.
#[derive(Clone, Copy, Debug)]
pub struct SourceItem {
    /// Where it came from; journaled with it.
    pub position: SourcePosition,
    /// When the message was created or was meant to be sent, in ns since the
    /// Unix epoch, if the source knows. Latency statistics measure from it,
    /// which is how a benchmark's open-loop load corrects for coordinated
    /// omission. `None` measures from the ingress stamp.
    pub origin_ns: Option<u64>,
    /// The decoded input. Ingress overwrites a command's `ts`.
    pub input: Input,
}

/// What [`InputSource::poll`] found.
#[derive(Clone, Copy, Debug)]
pub enum SourcePoll {
    /// A message.
    Item(SourceItem),
    /// Nothing right now; poll again.
    Idle,
    /// The source is exhausted and will never yield again.
    Ended,
}

/// Errors a source or sink reports; the pipeline stops and returns them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Supplies decoded inputs to the ingress thread.
pub trait InputSource: Send {
    /// Positions the source just after what the journal already holds.
    /// Called once, after recovery and before the first `poll`.
    fn resume(&mut self, journaled: &SourcePositions) -> Result<(), BoxError>;

    /// The moves under way in the recovered state, called once just before
    /// `resume`: a source that reads partitions must not resume one it
    /// released, and must finish the move it was taking in. Others ignore
    /// it.
    fn recovered_moves(&mut self, moves: &MoveState) {
        let _ = moves;
    }

    /// Returns the next input without blocking for long.
    fn poll(&mut self) -> Result<SourcePoll, BoxError>;

    /// Waits until input may be ready, at most `at_most`; called by a
    /// parked ingress (`WaitMode::Park`) after `poll` found nothing for a
    /// while. The next `poll` returns what arrived. A source that can block
    /// until input arrives (Kafka) should; the default cannot tell, so it
    /// sleeps [`PARK_SLEEP`] at most, which bounds how
    /// late it sees new input.
    fn wait(&mut self, at_most: std::time::Duration) -> Result<(), BoxError> {
        std::thread::sleep(at_most.min(PARK_SLEEP));
        Ok(())
    }
}

/// The largest batch a sink is ever handed. Egress allocates its batch
/// buffer once, at this size at most; a setting above it is refused.
pub const MAX_BATCH_SIZE: usize = 100_000;

/// Where egress delivers messages: files, Kafka, or a benchmark's counter.
pub trait OutputSink: Send {
    /// The highest input sequence all of whose messages are recorded as
    /// delivered, durably enough for a restart to rely on, or 0. Recovery
    /// re-sends everything after it, and retention keeps what that needs.
    /// Called once per egress poll, so it must be cheap.
    fn delivered_through(&mut self) -> Result<u64, BoxError>;

    /// Delivers one batch of at most the configured batch size. A
    /// synchronous sink has the messages out of the process when it
    /// returns `Ok`; an asynchronous one (Kafka) has them queued and
    /// confirms them later, in `poll`.
    fn send_batch(&mut self, batch: &[Message]) -> Result<(), BoxError>;

    /// Says that every message of every input up to `seq` has been through
    /// `send_batch`. A synchronous sink records `seq` as delivered, so a
    /// restart need not re-send it; an asynchronous one records it only
    /// once the messages are confirmed.
    fn mark_delivered(&mut self, seq: u64) -> Result<(), BoxError>;

    /// Called while egress has nothing to send, so a sink that delivers
    /// asynchronously can reap acknowledgements. Must not block for long.
    fn poll(&mut self) -> Result<(), BoxError> {
        Ok(())
    }

    /// Flushes anything buffered; called once at shutdown.
    fn close(&mut self) -> Result<(), BoxError>;
}
