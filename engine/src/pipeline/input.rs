//! What enters the pipeline: journaled inputs and the sources that supply them.
//!
//! An [`Input`] is what the journal stores for one sequence number: either a
//! decoded [`Command`] or a [`Malformed`] message that the gateway could not
//! decode. Malformed messages are journaled like commands so that their
//! rejections have a sequence number, are replayed after a crash, and move
//! the resume position past them; nothing from outside is silently dropped.
//!
//! Sources decode and report positions; they must not read the clock for the
//! engine (ingress stamps time) and must not block for long in `poll`.

use std::collections::BTreeMap;

use crate::{Command, OrderId, RejectReason, Symbol, UserId};

/// One journaled input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub enum Input {
    /// A decoded command for the matcher.
    Command(Command),
    /// A message that did not decode; it becomes a `REJECTED` status.
    Malformed(Malformed),
}

/// A message the gateway could not turn into a command, with whatever
/// identifiers it could still read, so the rejection can name the order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct Malformed {
    /// Why it was refused.
    pub reason: RejectReason,
    /// The symbol, if the message held a valid one.
    pub symbol: Option<Symbol>,
    /// The user id, if the message held a valid one.
    pub user_id: Option<UserId>,
    /// The order id, if the message held a valid one.
    pub order_id: Option<OrderId>,
}

impl Malformed {
    /// A rejection that names no order.
    pub fn bare(reason: RejectReason) -> Malformed {
        Malformed {
            reason,
            symbol: None,
            user_id: None,
            order_id: None,
        }
    }
}

/// Where an input came from: a Kafka partition and offset, or for file
/// input partition 0 and the 1-based line number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourcePosition {
    /// The partition.
    pub partition: i32,
    /// The offset within the partition.
    pub offset: i64,
}

/// The last journaled offset of each partition: where a source resumes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourcePositions(BTreeMap<i32, i64>);

impl SourcePositions {
    /// Records that `position` was journaled. Offsets only move forward.
    pub fn advance(&mut self, position: SourcePosition) {
        if position.partition < 0 {
            return; // not from a source (tools, tests)
        }
        let offset = self.0.entry(position.partition).or_insert(position.offset);
        *offset = (*offset).max(position.offset);
    }

    /// The last journaled offset of `partition`, if any input came from it.
    pub fn last_offset(&self, partition: i32) -> Option<i64> {
        self.0.get(&partition).copied()
    }

    /// Every partition and its last journaled offset, by partition.
    pub fn iter(&self) -> impl Iterator<Item = SourcePosition> + '_ {
        self.0
            .iter()
            .map(|(&partition, &offset)| SourcePosition { partition, offset })
    }
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

    /// Returns the next input without blocking for long.
    fn poll(&mut self) -> Result<SourcePoll, BoxError>;
}
