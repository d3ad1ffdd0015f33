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

/// A message the gateway could not turn into a command, with what was
/// wrong, where, and whatever identifiers it could still read, so the
/// rejection can name the order and tell the client what to fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct Malformed {
    /// Why it was refused: the code clients act on.
    pub reason: RejectReason,
    /// The field at fault, or [`InputField::Message`] for the message as a
    /// whole.
    pub field: InputField,
    /// What is wrong with that field.
    pub problem: Problem,
    /// The symbol, if the message held a valid one.
    pub symbol: Option<Symbol>,
    /// The user id, if the message held a valid one.
    pub user_id: Option<UserId>,
    /// The order id, if the message held a valid one.
    pub order_id: Option<OrderId>,
}

impl Malformed {
    /// A rejection that names no order.
    pub fn new(reason: RejectReason, field: InputField, problem: Problem) -> Malformed {
        Malformed {
            reason,
            field,
            problem,
            symbol: None,
            user_id: None,
            order_id: None,
        }
    }
}

/// A field of an `orders` message, as the canonical wire form names it.
///
/// Stored in the journal: codes are explicit and never reused; append new
/// fields with the next free code.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq, Eq))]
#[repr(u8)]
pub enum InputField {
    /// The message as a whole.
    Message = 0,
    /// `action`.
    Action = 1,
    /// `symbol`.
    Symbol = 2,
    /// `order_id` (or `orderId`).
    OrderId = 3,
    /// `user_id` (or `userId`).
    UserId = 4,
    /// `is_buy`.
    IsBuy = 5,
    /// `side`.
    Side = 6,
    /// `price`.
    Price = 7,
    /// `quantity`.
    Quantity = 8,
    /// `order_type` (or `orderType`).
    OrderType = 9,
    /// `tif` (or `timeInForce`).
    TimeInForce = 10,
    /// `post_only` (or `postOnly`).
    PostOnly = 11,
    /// `stop_price` (or `stopPrice`).
    StopPrice = 12,
    /// `new_price` (or `newPrice`).
    NewPrice = 13,
    /// `new_quantity` (or `newQuantity`).
    NewQuantity = 14,
}

impl InputField {
    /// The field's canonical wire name; `message` for the whole message.
    pub fn as_str(self) -> &'static str {
        match self {
            InputField::Message => "message",
            InputField::Action => "action",
            InputField::Symbol => "symbol",
            InputField::OrderId => "order_id",
            InputField::UserId => "user_id",
            InputField::IsBuy => "is_buy",
            InputField::Side => "side",
            InputField::Price => "price",
            InputField::Quantity => "quantity",
            InputField::OrderType => "order_type",
            InputField::TimeInForce => "tif",
            InputField::PostOnly => "post_only",
            InputField::StopPrice => "stop_price",
            InputField::NewPrice => "new_price",
            InputField::NewQuantity => "new_quantity",
        }
    }
}

/// What is wrong with a field of a message that did not decode.
///
/// Stored in the journal: codes are explicit and never reused.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq, Eq))]
#[repr(u8)]
pub enum Problem {
    /// The bytes are not JSON.
    NotJson = 0,
    /// The message is JSON but not an object.
    NotAnObject = 1,
    /// The message is longer than the gateway accepts.
    TooLong = 2,
    /// The message has no payload at all.
    Empty = 3,
    /// A required field is absent (or `null`).
    Missing = 4,
    /// The field appears twice, for example as `order_id` and `orderId`.
    GivenTwice = 5,
    /// The field must be a string.
    NotAString = 6,
    /// The field must be a JSON number.
    NotANumber = 7,
    /// The field must be `true` or `false`.
    NotABoolean = 8,
    /// The string is not one of the field's accepted values.
    UnknownValue = 9,
    /// The number is below zero.
    Negative = 10,
    /// The number has a fraction where the field takes whole units (ticks
    /// or quantities), or more decimal places than the symbol's prices have.
    TooPrecise {
        /// The decimal places the field accepts.
        decimals: u8,
    } = 11,
    /// The number does not fit in 64 bits once scaled.
    TooLarge = 12,
    /// The symbol does not match `^[A-Z0-9]{1,10}$`.
    BadSymbol = 13,
    /// The id is empty, longer than 32 bytes, or holds a space or control
    /// character.
    BadIdentifier = 14,
    /// `is_buy` and `side` are both given and disagree.
    Conflict = 15,
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
