//! The journal's record schema: what one sequence number holds, and how it
//! is written to and read back from a record's payload.
//!
//! An [`Input`] is a decoded [`Command`] or [`AdminCommand`], or a
//! [`Malformed`] message that the gateway could not decode. Malformed
//! messages are journaled like commands so that their rejections have a
//! sequence number, are replayed after a crash, and move the resume
//! position past them; nothing from outside is silently dropped. The
//! variant also records which topic the input came from ([`Input::topic`]):
//! orders and admin commands never share one.
//!
//! Payloads are `rkyv` archives of `Input`, read in place. Every type here
//! is stored on disk, so enums have explicit codes that never move, and the
//! schema has a version, [`INPUT_FORMAT`], that the journal carries in each
//! segment's header (its `payload format`). A journal written with another
//! schema is refused by name, never misread. This module does no I/O.

use std::collections::BTreeMap;

use rkyv::rancor;
use rkyv::util::AlignedVec;
use thiserror::Error;

use crate::{
    Action, AdminAction, AdminCommand, Command, EngineId, OrderId, OrderSpec, OrderType,
    RejectReason, Symbol, UserId,
};

/// The version of the record schema this build writes, stored as each
/// journal segment's payload format.
///
/// - `0`: segments written before the schema was versioned, whose
///   `Malformed` had no field or problem. Not readable.
/// - `2`: `Malformed` names the field at fault and the problem. Still
///   read: its two variants are format 3's first two, byte for byte, and
///   every input in it came from `orders`.
/// - `3`: adds admin commands and their malformed messages, from the
///   `admin` topic. Still read: format 4 only appends variants.
/// - `4`: adds `MOVE` (an admin action) and the handover records of a
///   partition's move: the export's pieces, the acquire, the outcome.
///   Still read, through [`before_budgets`]: its orders have no budget.
/// - `5`: an order's terms gain `max_notional` (a FOK order's budget), and
///   order types gain `MARKET_TO_LIMIT`.
pub const INPUT_FORMAT: u32 = 5;

/// The first format whose orders carry a budget.
const BUDGETS_FORMAT: u32 = 5;

/// The oldest record schema this build still reads.
pub const OLDEST_INPUT_FORMAT: u32 = 2;

/// One journaled input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub enum Input {
    /// A decoded command for the matcher, from `orders`.
    Command(Command),
    /// An `orders` message that did not decode; it becomes a `REJECTED`
    /// status.
    Malformed(Malformed),
    /// A decoded operator command, from `admin`.
    Admin(AdminCommand),
    /// An `admin` message that did not decode; it becomes a `REJECTED`
    /// admin status.
    MalformedAdmin(Malformed),
    /// A step of a partition's move that this engine takes in: the
    /// export's pieces and the acquire, from `handover`, and the outcome,
    /// from `assignments`.
    Handover(Handover),
}

/// The bytes one [`Handover::Piece`] carries. Inputs are fixed-size ring
/// slots; this keeps a piece no larger than an order.
pub const PIECE_BYTES: usize = 80;

/// The digest an acquire checks an export against: XXH3-64, as the state
/// hash.
pub fn export_digest(export: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(export)
}

/// An export cut into the pieces that carry it through the input ring and
/// the journal, in order.
pub fn export_pieces(move_id: OrderId, export: &[u8]) -> impl Iterator<Item = Handover> + '_ {
    export
        .chunks(PIECE_BYTES)
        .enumerate()
        .map(move |(index, chunk)| {
            let mut bytes = [0u8; PIECE_BYTES];
            bytes[..chunk.len()].copy_from_slice(chunk);
            Handover::Piece {
                move_id,
                index: index as u32,
                len: chunk.len() as u8,
                bytes,
            }
        })
}

/// The journaled steps of a move on the engine that takes the partition,
/// and the outcome on both (`docs/shards.md#moving-a-partition`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[repr(u8)]
pub enum Handover {
    /// Bytes `index * PIECE_BYTES ..` of the export, in order from 0.
    Piece {
        /// The move: the `MOVE` request's id.
        move_id: OrderId,
        /// The piece's place in the export.
        index: u32,
        /// How many of `bytes` are the export's (the last piece's may be
        /// fewer).
        len: u8,
        /// The bytes.
        bytes: [u8; PIECE_BYTES],
    } = 0,
    /// Every piece is journaled: rebuild the books from them.
    Acquire {
        /// The move.
        move_id: OrderId,
        /// The `orders` partition.
        partition: i32,
        /// The giver's last journaled offset of it; this engine reads from
        /// the next.
        after_offset: i64,
        /// The giving engine.
        from: EngineId,
        /// The export's length in bytes.
        len: u32,
        /// XXH3-64 of the export.
        digest: u64,
    } = 1,
    /// The `assignments` topic decided the move: `moved`, or rolled back.
    Outcome {
        /// The move.
        move_id: OrderId,
        /// The `orders` partition.
        partition: i32,
        /// The commit record stands.
        moved: bool,
    } = 2,
}

impl Input {
    /// The topic the input came from, which its variant records.
    pub fn topic(&self) -> SourceTopic {
        match self {
            Input::Command(_) | Input::Malformed(_) => SourceTopic::Orders,
            Input::Admin(_) | Input::MalformedAdmin(_) => SourceTopic::Admin,
            // The acquire and the outcome stand at the moved partition's
            // offset, so the journal's resume position covers what the
            // previous owner read.
            Input::Handover(Handover::Acquire { .. } | Handover::Outcome { .. }) => {
                SourceTopic::Orders
            }
            Input::Handover(Handover::Piece { .. }) => SourceTopic::Handover,
        }
    }

    /// Whether the input needs a format-5 segment: a market-to-limit
    /// order. (A budget cannot be in an older segment: its records have
    /// no field for one.)
    fn needs_budgets(&self) -> bool {
        matches!(
            self,
            Input::Command(Command {
                action: Action::Add(OrderSpec {
                    order_type: OrderType::MarketToLimit,
                    ..
                }),
                ..
            })
        )
    }

    /// Whether the input needs a format-4 segment: a move's record.
    fn needs_moves(&self) -> bool {
        matches!(
            self,
            Input::Handover(_)
                | Input::Admin(AdminCommand {
                    action: AdminAction::Release { .. },
                    ..
                })
        )
    }
}

/// The input topics. Stored in checkpoints: codes never move.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum SourceTopic {
    /// Orders, cancels and replaces from members.
    #[default]
    Orders = 0,
    /// Operators' commands.
    Admin = 1,
    /// Moved partitions' exports.
    Handover = 2,
}

impl SourceTopic {
    /// The topic's role name, as configs and tools spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceTopic::Orders => "orders",
            SourceTopic::Admin => "admin",
            SourceTopic::Handover => "handover",
        }
    }

    /// The topic stored as `code` in a checkpoint.
    pub fn from_code(code: u8) -> Option<SourceTopic> {
        match code {
            0 => Some(SourceTopic::Orders),
            1 => Some(SourceTopic::Admin),
            2 => Some(SourceTopic::Handover),
            _ => None,
        }
    }
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
    /// `command`, in an admin message.
    AdminCommand = 15,
    /// `request_id`, in an admin message.
    RequestId = 16,
    /// `engine_id`, in an admin message.
    EngineId = 17,
    /// `partition`, in a `MOVE`.
    Partition = 18,
    /// `to`, in a `MOVE`.
    To = 19,
    /// `max_notional`: a FOK order's budget.
    MaxNotional = 20,
    /// `all_or_none`.
    AllOrNone = 21,
    /// `display_quantity`: an iceberg's shown slice.
    DisplayQuantity = 22,
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
            InputField::AdminCommand => "command",
            InputField::RequestId => "request_id",
            InputField::EngineId => "engine_id",
            InputField::Partition => "partition",
            InputField::To => "to",
            InputField::MaxNotional => "max_notional",
            InputField::AllOrNone => "all_or_none",
            InputField::DisplayQuantity => "display_quantity",
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
    /// The action is an admin command, which `orders` does not take.
    AdminOnly = 16,
    /// A `MOVE` names a partition this engine does not read, or comes
    /// while another move is under way.
    NotHeld = 17,
    /// An order type this build does not trade yet (all-or-none,
    /// iceberg): refused rather than traded as a plain order.
    NotSupported = 18,
    /// `0` where only a positive amount means anything (a budget).
    Zero = 19,
}

/// Where an input came from: a topic, a Kafka partition and offset, or for
/// file input partition 0 and the 1-based line number of that topic's file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourcePosition {
    /// The topic: `orders` or `admin`.
    pub topic: SourceTopic,
    /// The partition.
    pub partition: i32,
    /// The offset within the partition.
    pub offset: i64,
}

impl SourcePosition {
    /// A position on `orders`.
    pub fn orders(partition: i32, offset: i64) -> SourcePosition {
        SourcePosition {
            topic: SourceTopic::Orders,
            partition,
            offset,
        }
    }
}

/// The last journaled offset of each topic's partitions: where a source
/// resumes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourcePositions(BTreeMap<(SourceTopic, i32), i64>);

impl SourcePositions {
    /// Records that `position` was journaled. Offsets only move forward.
    pub fn advance(&mut self, position: SourcePosition) {
        if position.partition < 0 {
            return; // not from a source (tools, tests)
        }
        let key = (position.topic, position.partition);
        let offset = self.0.entry(key).or_insert(position.offset);
        *offset = (*offset).max(position.offset);
    }

    /// The last journaled offset of `orders` partition `partition`, if any
    /// input came from it.
    pub fn last_offset(&self, partition: i32) -> Option<i64> {
        self.last_offset_of(SourceTopic::Orders, partition)
    }

    /// The last journaled offset of `topic`'s `partition`, if any input
    /// came from it.
    pub fn last_offset_of(&self, topic: SourceTopic, partition: i32) -> Option<i64> {
        self.0.get(&(topic, partition)).copied()
    }

    /// Every partition and its last journaled offset, by topic and
    /// partition.
    pub fn iter(&self) -> impl Iterator<Item = SourcePosition> + '_ {
        self.0
            .iter()
            .map(|(&(topic, partition), &offset)| SourcePosition {
                topic,
                partition,
                offset,
            })
    }
}

/// Serialises `input` into `buffer` for the journal, reusing its memory:
/// after the first call, this allocates nothing.
pub fn encode_input(input: &Input, buffer: &mut AlignedVec) {
    let mut out = std::mem::take(buffer);
    out.clear();
    *buffer = match rkyv::api::high::to_bytes_in::<_, rancor::Error>(input, out) {
        Ok(bytes) => bytes,
        // Inputs are fixed-size values without pointers; writing one into
        // memory cannot fail.
        Err(err) => panic!("serialising an input failed: {err}"),
    };
}

/// Why a journal record is not an input this build can read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordError {
    /// The segment holding it was written with another record schema.
    #[error(
        "it was written with input format {found}, and this build reads formats {}-{}{}",
        OLDEST_INPUT_FORMAT,
        INPUT_FORMAT,
        if *found == 0 { " (format 0 predates rejections that name their field; replay it with the build that wrote it)" } else { "" }
    )]
    Format {
        /// The segment's payload format.
        found: u32,
    },
    /// The payload does not validate as an archived `Input`.
    #[error("its payload is not an input: {0}")]
    Payload(String),
}

/// Reads an input back from a journal record's payload, written by
/// [`encode_input`] in a segment whose payload format is `format`. The
/// payload must be 8-byte aligned, as the journal keeps it.
pub fn decode_input(payload: &[u8], format: u32) -> Result<Input, RecordError> {
    if !(OLDEST_INPUT_FORMAT..=INPUT_FORMAT).contains(&format) {
        return Err(RecordError::Format { found: format });
    }
    let input = if format < BUDGETS_FORMAT {
        let archived = rkyv::access::<before_budgets::ArchivedInput, rancor::Error>(payload)
            .map_err(|e| RecordError::Payload(e.to_string()))?;
        rkyv::deserialize::<before_budgets::Input, rancor::Error>(archived)
            .map_err(|e| RecordError::Payload(e.to_string()))?
            .into()
    } else {
        let archived = rkyv::access::<ArchivedInput, rancor::Error>(payload)
            .map_err(|e| RecordError::Payload(e.to_string()))?;
        rkyv::deserialize::<Input, rancor::Error>(archived)
            .map_err(|e| RecordError::Payload(e.to_string()))?
    };
    if format < BUDGETS_FORMAT && input.needs_budgets() {
        return Err(RecordError::Payload(format!(
            "a market-to-limit order in a format-{format} segment, which predates them"
        )));
    }
    if format == 2 && input.topic() != SourceTopic::Orders {
        return Err(RecordError::Payload(
            "an admin input in a format-2 segment, which predates them".into(),
        ));
    }
    if format < 4 && input.needs_moves() {
        return Err(RecordError::Payload(format!(
            "a move's record in a format-{format} segment, which predates them"
        )));
    }
    Ok(input)
}

/// The records of formats 2–4, read only: the same inputs, except that an
/// order's terms had no budget. Each type mirrors its current one field
/// for field, so the archived layout is the one those builds wrote.
mod before_budgets {
    use crate::command::ReplaceSpec;
    use crate::{AdminCommand, OrderId, Price, Qty, Side, Symbol, TimeInForce, UserId};
    use crate::{OrderType, sequenced::input::Handover, sequenced::input::Malformed};

    #[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
    pub(super) enum Input {
        Command(Command),
        Malformed(Malformed),
        Admin(AdminCommand),
        MalformedAdmin(Malformed),
        Handover(Handover),
    }

    #[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
    pub(super) struct Command {
        ts: u64,
        symbol: Symbol,
        user_id: UserId,
        order_id: OrderId,
        action: Action,
    }

    #[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
    #[repr(u8)]
    enum Action {
        Add(OrderSpec) = 0,
        Cancel = 1,
        Replace(ReplaceSpec) = 2,
    }

    #[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
    struct OrderSpec {
        side: Side,
        order_type: OrderType,
        tif: TimeInForce,
        post_only: bool,
        price: Price,
        stop_price: Price,
        quantity: Qty,
    }

    impl From<Input> for super::Input {
        fn from(old: Input) -> super::Input {
            match old {
                Input::Command(c) => super::Input::Command(crate::Command {
                    ts: c.ts,
                    symbol: c.symbol,
                    user_id: c.user_id,
                    order_id: c.order_id,
                    action: match c.action {
                        Action::Add(o) => crate::Action::Add(crate::OrderSpec {
                            side: o.side,
                            order_type: o.order_type,
                            tif: o.tif,
                            post_only: o.post_only,
                            price: o.price,
                            stop_price: o.stop_price,
                            quantity: o.quantity,
                            max_notional: 0,
                        }),
                        Action::Cancel => crate::Action::Cancel,
                        Action::Replace(spec) => crate::Action::Replace(spec),
                    },
                }),
                Input::Malformed(m) => super::Input::Malformed(m),
                Input::Admin(a) => super::Input::Admin(a),
                Input::MalformedAdmin(m) => super::Input::MalformedAdmin(m),
                Input::Handover(h) => super::Input::Handover(h),
            }
        }
    }

    /// Writes `input`, an `ADD`, as a format-4 build did, for the tests.
    #[cfg(test)]
    pub(super) fn encode_format_4(input: &super::Input) -> rkyv::util::AlignedVec {
        let super::Input::Command(c) = input else {
            panic!("only orders are written the old way here")
        };
        let crate::Action::Add(o) = c.action else {
            panic!("only adds are written the old way here")
        };
        let old = Input::Command(Command {
            ts: c.ts,
            symbol: c.symbol,
            user_id: c.user_id,
            order_id: c.order_id,
            action: Action::Add(OrderSpec {
                side: o.side,
                order_type: o.order_type,
                tif: o.tif,
                post_only: o.post_only,
                price: o.price,
                stop_price: o.stop_price,
                quantity: o.quantity,
            }),
        });
        rkyv::to_bytes::<rkyv::rancor::Error>(&old).expect("an input serialises")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly by design

    use super::*;
    use crate::{OrderSpec, Side};

    #[test]
    fn inputs_round_trip_and_other_formats_are_refused_by_name() {
        let command = Command::add(
            7,
            Symbol::new("AAPL").unwrap(),
            UserId::new("u").unwrap(),
            OrderId::new("o").unwrap(),
            OrderSpec::limit(Side::Buy, 100, 5),
        );
        let mut buffer = AlignedVec::new();
        for input in [
            Input::Command(command),
            Input::Malformed(Malformed::new(
                RejectReason::InvalidPrice,
                InputField::Price,
                Problem::TooPrecise { decimals: 2 },
            )),
        ] {
            encode_input(&input, &mut buffer);
            assert_eq!(decode_input(&buffer, INPUT_FORMAT), Ok(input));
        }
        // A format-4 order reads back with no budget, and a format-4
        // segment cannot hold a market-to-limit order.
        let old = before_budgets::encode_format_4(&Input::Command(command));
        assert_eq!(decode_input(&old, 4), Ok(Input::Command(command)));
        let mut mtl = command;
        if let Action::Add(spec) = &mut mtl.action {
            spec.order_type = OrderType::MarketToLimit;
        }
        let old = before_budgets::encode_format_4(&Input::Command(mtl));
        assert!(matches!(
            decode_input(&old, 4),
            Err(RecordError::Payload(_))
        ));
        let err = decode_input(&buffer, 0).unwrap_err();
        assert_eq!(err, RecordError::Format { found: 0 });
        assert!(err.to_string().contains("predates rejections"), "{err}");
        assert!(matches!(
            decode_input(&buffer[..buffer.len() - 8], INPUT_FORMAT),
            Err(RecordError::Payload(_))
        ));
    }
}
