//! What enters the pipeline: the sources that supply inputs to ingress.
//!
//! Sources decode and report positions; they must not read the clock for the
//! engine (ingress stamps time) and must not block for long in `poll`. What
//! an input is, and how the journal stores it, is `crate::sequenced`.

use crate::sequenced::{Input, SourcePosition, SourcePositions};

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

    /// Returns the next input without blocking for long.
    fn poll(&mut self) -> Result<SourcePoll, BoxError>;

    /// Waits until input may be ready, at most `at_most`; called by a
    /// parked ingress (`WaitMode::Park`) after `poll` found nothing for a
    /// while. The next `poll` returns what arrived. A source that can block
    /// until input arrives (Kafka) should; the default cannot tell, so it
    /// sleeps [`PARK_SLEEP`](super::PARK_SLEEP) at most, which bounds how
    /// late it sees new input.
    fn wait(&mut self, at_most: std::time::Duration) -> Result<(), BoxError> {
        std::thread::sleep(at_most.min(super::PARK_SLEEP));
        Ok(())
    }
}
