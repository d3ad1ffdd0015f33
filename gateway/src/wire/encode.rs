//! Encoding output messages as the JSON their topics carry
//! (`docs/design.md` §5),
//! and `orders` messages in the canonical form for generators and tests.
//!
//! Encoding is deterministic: the same message always gives the same bytes,
//! fields in a fixed order, so a replay re-creates outputs byte for byte.
//! Every rejection names the field at fault and says in a short `detail`
//! what was wrong. Nothing here allocates per message beyond the caller's
//! buffer, reads a clock or does I/O.

use std::fmt;

use engine::sequenced::{FillParty, InputField, Malformed, Message, MessageBody, Problem};
use engine::{
    Action, AdminAction, AdminCommand, AdminRef, Command, DEPTH_LEVELS, DepthSide, Event, MoveStep,
    OrderId, RejectReason, Side, Symbol, Trade, UserId,
};
use serde::{Serialize, Serializer};

use super::decode::MAX_MESSAGE_BYTES;

/// Encodes an `orders` message in the canonical form, for generators and
/// tests. The inverse of [`Decoder::decode`](super::Decoder::decode) with
/// `ticks` prices, for valid commands.
pub fn encode_order(command: &Command, out: &mut Vec<u8>) {
    #[derive(Serialize)]
    struct Out<'a> {
        action: &'static str,
        symbol: &'a str,
        order_id: &'a str,
        user_id: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        is_buy: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        price: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        quantity: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        order_type: Option<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        tif: Option<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        post_only: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        stop_price: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        max_notional: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        new_price: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        new_quantity: Option<u64>,
    }
    let mut o = Out {
        action: "ADD",
        symbol: command.symbol.as_str(),
        order_id: command.order_id.as_str(),
        user_id: command.user_id.as_str(),
        is_buy: None,
        price: None,
        quantity: None,
        order_type: None,
        tif: None,
        post_only: None,
        stop_price: None,
        max_notional: None,
        new_price: None,
        new_quantity: None,
    };
    match command.action {
        Action::Add(spec) => {
            o.is_buy = Some(spec.side == Side::Buy);
            o.price = Some(spec.price);
            o.quantity = Some(spec.quantity);
            o.order_type = Some(spec.order_type.as_str());
            o.tif = Some(spec.tif.as_str());
            o.post_only = spec.post_only.then_some(true);
            // A stop price on a non-stop order is kept: the matcher refuses
            // it, and the canonical form must say what was sent.
            o.stop_price =
                (spec.order_type.is_stop() || spec.stop_price != 0).then_some(spec.stop_price);
            o.max_notional = (spec.max_notional != 0).then_some(spec.max_notional);
        }
        Action::Cancel => o.action = "CANCEL",
        Action::Replace(spec) => {
            o.action = "REPLACE";
            o.new_price = spec.new_price;
            o.new_quantity = spec.new_quantity;
        }
    }
    write_json(out, &o);
}

/// Encodes an `admin` message, addressed to `engine_id` if given: what the
/// `engine admin` command sends, and how `replay dump` shows an admin
/// input. The inverse of [`Decoder::decode_admin`](super::Decoder::decode_admin)
/// with `ticks` prices.
pub fn encode_admin(command: &AdminCommand, engine_id: Option<&str>, out: &mut Vec<u8>) {
    #[derive(Serialize)]
    struct Out<'a> {
        command: &'static str,
        request_id: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        symbol: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        user_id: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        price: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        partition: Option<i32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        to: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        engine_id: Option<&'a str>,
    }
    let (symbol, user_id, price) = admin_fields(&command.action);
    let (partition, to) = match &command.action {
        AdminAction::Release { partition, to, .. } => (Some(*partition), Some(to.as_str())),
        _ => (None, None),
    };
    write_json(
        out,
        &Out {
            command: command.action.as_str(),
            request_id: command.request_id.as_str(),
            symbol,
            user_id,
            price,
            partition,
            to,
            engine_id,
        },
    );
}

fn write_json<T: Serialize>(out: &mut Vec<u8>, value: &T) {
    // Writing plain structs into memory cannot fail.
    if let Err(err) = serde_json::to_writer(out, value) {
        unreachable!("encoding JSON into memory failed: {err}");
    }
}

#[derive(Serialize)]
struct Party<'a> {
    order_id: &'a str,
    user_id: &'a str,
}

#[derive(Serialize, Clone, Copy, Default)]
struct Level {
    price: u64,
    qty: u64,
    orders: u32,
}

/// A side's levels in wire form, on the stack: egress encodes a depth
/// message per changed book, and this keeps it from allocating.
fn levels(side: &DepthSide) -> ([Level; DEPTH_LEVELS], usize) {
    let mut out = [Level::default(); DEPTH_LEVELS];
    for (slot, l) in out.iter_mut().zip(side.levels()) {
        *slot = Level {
            price: l.price,
            qty: l.quantity,
            orders: l.orders,
        };
    }
    (out, side.levels().len())
}

/// An `order_status` message. Fields that do not apply are left out.
#[derive(Serialize, Default)]
struct Status<'a> {
    seq: u64,
    idx: u32,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    symbol: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    side: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tif: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    price: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_price: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quantity: Option<u64>,
    /// A FOK order's budget, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_notional: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remaining_qty: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kept_priority: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_price: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason_code: Option<u16>,
    /// The field at fault, for rejections.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'static str>,
    /// What was wrong with it, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<Detail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    partition: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<i64>,
}

/// An `admin_status` message: an operator's command applied or refused.
#[derive(Serialize, Default)]
struct AdminStatus<'a> {
    seq: u64,
    idx: u32,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    symbol: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    price: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cancelled: Option<u32>,
    /// A move's partition of `orders` (`partition` is the admin message's
    /// own).
    #[serde(skip_serializing_if = "Option::is_none")]
    orders_partition: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    after_offset: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    move_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    step: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    books: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    orders: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason_code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<Detail>,
    partition: i32,
    offset: i64,
}

/// What an admin action names, as its messages spell it: symbol, user and
/// price, each if it has one.
fn admin_fields(action: &AdminAction) -> (Option<&str>, Option<&str>, Option<u64>) {
    match action {
        AdminAction::Halt { symbol } | AdminAction::Resume { symbol } => {
            (Some(symbol.as_str()), None, None)
        }
        AdminAction::MassCancel { symbol, user_id } => (
            symbol.as_ref().map(Symbol::as_str),
            user_id.as_ref().map(UserId::as_str),
            None,
        ),
        AdminAction::SetReferencePrice { symbol, price } => {
            (Some(symbol.as_str()), None, Some(*price))
        }
        AdminAction::Release { .. } => (None, None, None),
    }
}

impl<'a> AdminStatus<'a> {
    fn of(seq: u64, idx: u32, status: &'static str, request: &'a AdminRef) -> AdminStatus<'a> {
        let (symbol, user_id, price) = admin_fields(&request.action);
        let (orders_partition, to, after_offset) = match &request.action {
            AdminAction::Release {
                partition,
                to,
                after_offset,
            } => (Some(*partition), Some(to.as_str()), Some(*after_offset)),
            _ => (None, None, None),
        };
        AdminStatus {
            seq,
            idx,
            status,
            request_id: Some(request.request_id.as_str()),
            command: Some(request.action.as_str()),
            symbol,
            user_id,
            price,
            orders_partition,
            to,
            after_offset,
            ..AdminStatus::default()
        }
    }
}

/// Encodes one output message as the JSON its topic carries, without a
/// trailing newline.
pub fn encode_message(message: &Message, out: &mut Vec<u8>) {
    encode_message_of(None, message, out);
}

/// As [`encode_message`], with the sending engine's id as the last field,
/// `engine_id`, when it has one: `(seq, idx)` is numbered per engine, so
/// consumers of several engines dedupe by `(engine_id, seq, idx)`.
pub fn encode_message_of(engine_id: Option<&str>, message: &Message, out: &mut Vec<u8>) {
    encode_body(message, out);
    if let Some(id) = engine_id
        && out.last() == Some(&b'}')
    {
        // Engine ids are validated identifiers: no character needs escaping.
        out.pop();
        out.extend_from_slice(b",\"engine_id\":\"");
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(b"\"}");
    }
}

fn encode_body(message: &Message, out: &mut Vec<u8>) {
    let (seq, idx) = (message.seq, message.idx);
    match &message.body {
        MessageBody::Trade(t) => {
            #[derive(Serialize)]
            struct TradeOut<'a> {
                seq: u64,
                idx: u32,
                trade_id: u64,
                symbol: &'a str,
                price: u64,
                quantity: u64,
                buyer: Party<'a>,
                seller: Party<'a>,
                aggressor: &'static str,
                ts: u64,
            }
            write_json(
                out,
                &TradeOut {
                    seq,
                    idx,
                    trade_id: t.trade_id,
                    symbol: t.symbol.as_str(),
                    price: t.price,
                    quantity: t.quantity,
                    buyer: Party {
                        order_id: t.buyer.order_id.as_str(),
                        user_id: t.buyer.user_id.as_str(),
                    },
                    seller: Party {
                        order_id: t.seller.order_id.as_str(),
                        user_id: t.seller.user_id.as_str(),
                    },
                    aggressor: t.aggressor.as_str(),
                    ts: t.ts,
                },
            );
        }
        MessageBody::Fill(t, party) => encode_fill(seq, idx, t, *party, out),
        MessageBody::Depth(d) => {
            #[derive(Serialize)]
            struct DepthOut<'a> {
                seq: u64,
                idx: u32,
                symbol: &'a str,
                bids: &'a [Level],
                asks: &'a [Level],
                last_price: u64,
                last_qty: u64,
            }
            let (bids, bid_count) = levels(&d.bids);
            let (asks, ask_count) = levels(&d.asks);
            write_json(
                out,
                &DepthOut {
                    seq,
                    idx,
                    symbol: d.symbol.as_str(),
                    bids: &bids[..bid_count],
                    asks: &asks[..ask_count],
                    last_price: d.last_price,
                    last_qty: d.last_qty,
                },
            );
        }
        MessageBody::Undecodable(m) => write_json(
            out,
            &Status {
                seq,
                idx,
                status: "REJECTED",
                symbol: m.symbol.as_ref().map(Symbol::as_str),
                order_id: m.order_id.as_ref().map(OrderId::as_str),
                user_id: m.user_id.as_ref().map(UserId::as_str),
                reason: Some(m.reason.as_str()),
                reason_code: Some(m.reason.code()),
                field: Some(m.field.as_str()),
                detail: Some(Detail::Decode(*m)),
                partition: Some(message.source.partition),
                offset: Some(message.source.offset),
                ..Status::default()
            },
        ),
        MessageBody::Status(event) => write_json(out, &status_of(seq, idx, event)),
        MessageBody::Admin(event) => {
            let (partition, offset) = (message.source.partition, message.source.offset);
            match event {
                Event::AdminApplied { request, cancelled } => {
                    let is_mass_cancel = matches!(request.action, AdminAction::MassCancel { .. });
                    write_json(
                        out,
                        &AdminStatus {
                            cancelled: is_mass_cancel.then_some(*cancelled),
                            partition,
                            offset,
                            ..AdminStatus::of(seq, idx, "APPLIED", request)
                        },
                    )
                }
                Event::AdminRejected { request, reason } => {
                    let (field, detail) = admin_refusal(*reason);
                    write_json(
                        out,
                        &AdminStatus {
                            reason: Some(reason.as_str()),
                            reason_code: Some(reason.code()),
                            field: Some(field),
                            detail: Some(Detail::Engine(field, detail)),
                            partition,
                            offset,
                            ..AdminStatus::of(seq, idx, "REJECTED", request)
                        },
                    )
                }
                Event::MoveStepped {
                    move_id,
                    partition: moved,
                    step,
                    books,
                    orders,
                } => {
                    let reason = match step {
                        MoveStep::AcquireFailed(reason) => Some(*reason),
                        _ => None,
                    };
                    write_json(
                        out,
                        &AdminStatus {
                            seq,
                            idx,
                            status: "MOVE",
                            command: Some("MOVE"),
                            move_id: Some(move_id.as_str()),
                            orders_partition: Some(*moved),
                            step: Some(step.as_str()),
                            books: Some(*books),
                            orders: Some(*orders),
                            reason: reason.map(RejectReason::as_str),
                            reason_code: reason.map(RejectReason::code),
                            partition,
                            offset,
                            ..AdminStatus::default()
                        },
                    )
                }
                // Order events never take this path; an honest fallback.
                _ => write_json(out, &status_of(seq, idx, event)),
            }
        }
        MessageBody::UndecodableAdmin(m) => write_json(
            out,
            &AdminStatus {
                seq,
                idx,
                status: "REJECTED",
                symbol: m.symbol.as_ref().map(Symbol::as_str),
                request_id: m.order_id.as_ref().map(OrderId::as_str),
                user_id: m.user_id.as_ref().map(UserId::as_str),
                reason: Some(m.reason.as_str()),
                reason_code: Some(m.reason.code()),
                field: Some(m.field.as_str()),
                detail: Some(Detail::Decode(*m)),
                partition: message.source.partition,
                offset: message.source.offset,
                ..AdminStatus::default()
            },
        ),
    }
}

/// The symbol a message is about: its Kafka key, so one symbol's messages
/// stay in one partition and in order. `None` for a rejection of a message
/// that held no valid symbol.
pub(crate) fn message_symbol(message: &Message) -> Option<&str> {
    match &message.body {
        MessageBody::Trade(t) | MessageBody::Fill(t, _) => Some(t.symbol.as_str()),
        MessageBody::Depth(d) => Some(d.symbol.as_str()),
        MessageBody::Undecodable(m) | MessageBody::UndecodableAdmin(m) => {
            m.symbol.as_ref().map(Symbol::as_str)
        }
        MessageBody::Status(event) | MessageBody::Admin(event) => match event {
            Event::Accepted { order, .. }
            | Event::Rejected { order, .. }
            | Event::Cancelled { order, .. }
            | Event::CancelRejected { order, .. }
            | Event::Replaced { order, .. }
            | Event::ReplaceRejected { order, .. }
            | Event::Expired { order, .. }
            | Event::Triggered { order, .. } => Some(order.symbol.as_str()),
            Event::Trade(t) => Some(t.symbol.as_str()),
            Event::Depth(d) => Some(d.symbol.as_str()),
            Event::AdminApplied { request, .. } | Event::AdminRejected { request, .. } => {
                admin_fields(&request.action).0
            }
            Event::MoveStepped { .. } => None,
        },
    }
}

fn encode_fill(seq: u64, idx: u32, t: &Trade, party: FillParty, out: &mut Vec<u8>) {
    #[derive(Serialize)]
    struct FillOut<'a> {
        seq: u64,
        idx: u32,
        order_id: &'a str,
        user_id: &'a str,
        symbol: &'a str,
        side: &'static str,
        filled_qty: u64,
        filled_price: u64,
        remaining_qty: u64,
        status: &'static str,
        trade_id: u64,
        ts: u64,
    }
    let (p, side) = match party {
        FillParty::Buyer => (&t.buyer, Side::Buy),
        FillParty::Seller => (&t.seller, Side::Sell),
    };
    write_json(
        out,
        &FillOut {
            seq,
            idx,
            order_id: p.order_id.as_str(),
            user_id: p.user_id.as_str(),
            symbol: t.symbol.as_str(),
            side: side.as_str(),
            filled_qty: t.quantity,
            filled_price: t.price,
            remaining_qty: p.remaining,
            status: if p.remaining == 0 {
                "FILLED"
            } else {
                "PARTIALLY_FILLED"
            },
            trade_id: t.trade_id,
            ts: t.ts,
        },
    );
}

fn named<'a>(seq: u64, idx: u32, status: &'static str, order: &'a engine::OrderRef) -> Status<'a> {
    Status {
        seq,
        idx,
        status,
        symbol: Some(order.symbol.as_str()),
        order_id: Some(order.order_id.as_str()),
        user_id: Some(order.user_id.as_str()),
        ..Status::default()
    }
}

fn status_of(seq: u64, idx: u32, event: &Event) -> Status<'_> {
    let named = |status, order| named(seq, idx, status, order);
    let refused = |status, order, reason: &RejectReason, replace| {
        let (field, detail) = engine_refusal(*reason, replace);
        Status {
            reason: Some(reason.as_str()),
            reason_code: Some(reason.code()),
            field: Some(field),
            detail: Some(Detail::Engine(field, detail)),
            ..named(status, order)
        }
    };
    match event {
        Event::Accepted { order, spec } => Status {
            side: Some(spec.side.as_str()),
            order_type: Some(spec.order_type.as_str()),
            tif: Some(spec.tif.as_str()),
            price: Some(spec.price),
            stop_price: spec.order_type.is_stop().then_some(spec.stop_price),
            quantity: Some(spec.quantity),
            max_notional: (spec.max_notional != 0).then_some(spec.max_notional),
            ..named("ACCEPTED", order)
        },
        Event::Rejected { order, reason } => refused("REJECTED", order, reason, false),
        Event::CancelRejected { order, reason } => refused("CANCEL_REJECTED", order, reason, false),
        Event::ReplaceRejected { order, reason } => {
            refused("REPLACE_REJECTED", order, reason, true)
        }
        Event::Cancelled {
            order,
            remaining,
            reason,
        } => Status {
            remaining_qty: Some(*remaining),
            reason: Some(reason.as_str()),
            ..named("CANCELLED", order)
        },
        Event::Replaced {
            order,
            price,
            quantity,
            remaining,
            kept_priority,
            ..
        } => Status {
            price: Some(*price),
            quantity: Some(*quantity),
            remaining_qty: Some(*remaining),
            kept_priority: Some(*kept_priority),
            ..named("REPLACED", order)
        },
        Event::Expired { order, remaining } => Status {
            remaining_qty: Some(*remaining),
            ..named("EXPIRED", order)
        },
        Event::Triggered {
            order,
            stop_price,
            last_price,
        } => Status {
            stop_price: Some(*stop_price),
            last_price: Some(*last_price),
            ..named("TRIGGERED", order)
        },
        // Trades, depth and admin results have their own topics; egress
        // never sends them here, but an honest fallback beats a panic.
        Event::Trade(_)
        | Event::Depth(_)
        | Event::AdminApplied { .. }
        | Event::AdminRejected { .. }
        | Event::MoveStepped { .. } => Status {
            seq,
            idx,
            status: "UNKNOWN",
            ..Status::default()
        },
    }
}

/// The `detail` of a rejection: a short sentence for the client, written
/// straight into the JSON without an intermediate string.
#[derive(Clone, Copy)]
enum Detail {
    /// A message that did not decode.
    Decode(Malformed),
    /// A command the matcher refused: the field and what is wrong with it.
    Engine(&'static str, &'static str),
}

impl Serialize for Detail {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Detail::Engine(field, text) => write!(f, "{field} {text}"),
            Detail::Decode(m) => {
                let field = m.field.as_str();
                match m.problem {
                    Problem::NotJson => write!(f, "{field} is not valid JSON"),
                    Problem::NotAnObject => write!(f, "{field} must be a JSON object"),
                    Problem::TooLong => {
                        write!(f, "{field} is longer than {MAX_MESSAGE_BYTES} bytes")
                    }
                    Problem::Empty => write!(f, "{field} is empty"),
                    Problem::Missing => write!(f, "{field} is missing"),
                    Problem::GivenTwice => write!(
                        f,
                        "{field} is given twice (perhaps under both its snake_case and camelCase names)"
                    ),
                    Problem::NotAString => write!(f, "{field} must be a string"),
                    Problem::NotANumber => write!(f, "{field} must be a number"),
                    Problem::NotABoolean => write!(f, "{field} must be true or false"),
                    Problem::UnknownValue => {
                        write!(f, "{field} must be one of {}", accepted_values(m.field))
                    }
                    Problem::Negative => write!(f, "{field} must not be negative"),
                    Problem::Zero => write!(f, "{field} must be above zero"),
                    Problem::TooPrecise { decimals: 0 } => {
                        write!(f, "{field} must be a whole number")
                    }
                    Problem::TooPrecise { decimals } => write!(
                        f,
                        "{field} has more than {decimals} decimal places, the price scale of {}",
                        m.symbol.as_ref().map_or("this symbol", Symbol::as_str)
                    ),
                    Problem::TooLarge => write!(f, "{field} is too large"),
                    Problem::BadSymbol => {
                        write!(f, "{field} must be 1 to 10 characters of A-Z and 0-9")
                    }
                    Problem::BadIdentifier => write!(
                        f,
                        "{field} must be 1 to 32 printable ASCII characters without spaces"
                    ),
                    Problem::Conflict => write!(f, "{field} disagrees with is_buy"),
                    Problem::AdminOnly => write!(
                        f,
                        "{field} is an admin command, accepted only from the admin topic"
                    ),
                    Problem::NotHeld => write!(
                        f,
                        "{field} is not an orders partition this engine reads, or another move \
                         is under way here; engine admin move finds the owner"
                    ),
                    Problem::NotSupported => write!(
                        f,
                        "{field} is not supported by this build yet; send the order without it"
                    ),
                }
            }
        }
    }
}

/// The values a field with an enumeration accepts, for the detail text.
fn accepted_values(field: InputField) -> &'static str {
    match field {
        InputField::Action => "ADD, CANCEL, REPLACE",
        InputField::AdminCommand => "HALT, RESUME, MASS_CANCEL, SET_REFERENCE_PRICE, MOVE",
        InputField::Side => "BUY, SELL",
        InputField::OrderType => "LIMIT, MARKET, STOP, STOP_LIMIT, MARKET_TO_LIMIT",
        InputField::TimeInForce => "GTC, IOC, FOK",
        _ => "the documented values",
    }
}

/// The field an admin command's refusal is about, and what is wrong.
fn admin_refusal(reason: RejectReason) -> (&'static str, &'static str) {
    match reason {
        RejectReason::UnknownSymbol => (
            "symbol",
            "has no book on this engine: it is not configured here and no order for it came in",
        ),
        RejectReason::InvalidPrice => ("price", "must be above zero"),
        RejectReason::TickSizeViolation => ("price", "is not a multiple of the symbol's tick_size"),
        RejectReason::MoveRefused => (
            "partition",
            "cannot move now: one move at a time, and this one is under way",
        ),
        other => engine_refusal(other, false),
    }
}

/// The field a matcher rejection is about, and what is wrong with it.
/// `replace` says the command was a `REPLACE`, whose price and quantity
/// are `new_price` and `new_quantity`.
fn engine_refusal(reason: RejectReason, replace: bool) -> (&'static str, &'static str) {
    let price = if replace { "new_price" } else { "price" };
    let quantity = if replace { "new_quantity" } else { "quantity" };
    match reason {
        RejectReason::UnknownSymbol => (
            "symbol",
            "is not configured and the engine already holds max_symbols symbols",
        ),
        RejectReason::DuplicateOrderId => ("order_id", "is already live for this user"),
        RejectReason::InvalidQuantity => (quantity, "must be at least 1"),
        RejectReason::QuantityBelowMinimum => (quantity, "is below the symbol's min_quantity"),
        RejectReason::QuantityAboveMaximum => (quantity, "is above the symbol's max_quantity"),
        RejectReason::LotSizeViolation => (quantity, "is not a multiple of the symbol's lot_size"),
        RejectReason::InvalidPrice => (price, "must be above zero for a limit order"),
        RejectReason::TickSizeViolation => (price, "is not a multiple of the symbol's tick_size"),
        RejectReason::PriceOutOfBand => (
            price,
            "is outside the symbol's price band around the last trade",
        ),
        RejectReason::InvalidStopPrice => (
            "stop_price",
            "is missing or off the tick grid on a stop order, or given on another order type",
        ),
        RejectReason::PostOnlyWouldTake => {
            ("post_only", "is set but the order would trade on arrival")
        }
        RejectReason::InvalidOrderCombination => {
            ("post_only", "is only allowed on GTC limit orders")
        }
        RejectReason::NoLiquidity => (
            "order_type",
            "is MARKET_TO_LIMIT and the opposite side is empty: there is no price to take",
        ),
        RejectReason::InvalidNotional => (
            "max_notional",
            "is only allowed on a FOK limit or market order",
        ),
        RejectReason::InvalidTimeInForce => ("tif", "must be GTC on a MARKET_TO_LIMIT order"),
        RejectReason::UnknownOrder => (
            "order_id",
            "is not a live order of this user on this symbol",
        ),
        RejectReason::OrderNotReplaceable => (
            "order_id",
            "is an untriggered stop order, which can be cancelled but not replaced",
        ),
        RejectReason::EmptyReplace => ("new_price", "and new_quantity are both missing"),
        RejectReason::SymbolHalted => (
            "symbol",
            "is halted by an operator; cancels are accepted, new orders and replaces are not",
        ),
        RejectReason::SymbolMoved => (
            "symbol",
            "is traded by another engine now: its partition moved (docs/shards.md)",
        ),
        // Codes from decoding travel as `Malformed`, never as matcher events.
        _ => ("message", "was refused"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly by design

    use super::*;
    use crate::wire::Decoder;
    use engine::sequenced::{Input, SourcePosition};
    use engine::{OrderRef, TradeParty};

    fn command(json: &str) -> Command {
        match Decoder::default().decode(json.as_bytes()) {
            Input::Command(c) => c,
            other => panic!("{json} was not a command: {other:?}"),
        }
    }

    #[test]
    fn encode_order_round_trips() {
        for json in [
            r#"{"action":"ADD","symbol":"X","order_id":"o","user_id":"u","side":"SELL","order_type":"STOP","stop_price":90,"quantity":5}"#,
            r#"{"action":"REPLACE","symbol":"X","order_id":"o","user_id":"u","new_price":7}"#,
            r#"{"action":"ADD","symbol":"X","order_id":"o","user_id":"u","is_buy":true,"price":3,"quantity":5,"post_only":true}"#,
        ] {
            let c = command(json);
            let mut out = Vec::new();
            encode_order(&c, &mut out);
            assert_eq!(command(std::str::from_utf8(&out).unwrap()), c, "{json}");
        }
    }

    fn message(body: MessageBody) -> String {
        let m = Message {
            seq: 7,
            idx: 2,
            source: SourcePosition::orders(0, 9),
            origin_ns: 0,
            last: true,
            body,
        };
        let mut out = Vec::new();
        encode_message(&m, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn output_messages_have_the_documented_fields() {
        let party = |o: &str, u: &str, remaining| TradeParty {
            order_id: OrderId::new(o).unwrap(),
            user_id: UserId::new(u).unwrap(),
            remaining,
        };
        let trade = Trade {
            trade_id: 3,
            symbol: Symbol::new("AAPL").unwrap(),
            price: 100,
            quantity: 4,
            aggressor: Side::Sell,
            buyer: party("b", "ub", 0),
            seller: party("s", "us", 6),
            ts: 42,
        };
        assert_eq!(
            message(MessageBody::Trade(trade)),
            r#"{"seq":7,"idx":2,"trade_id":3,"symbol":"AAPL","price":100,"quantity":4,"buyer":{"order_id":"b","user_id":"ub"},"seller":{"order_id":"s","user_id":"us"},"aggressor":"SELL","ts":42}"#
        );
        assert_eq!(
            message(MessageBody::Fill(trade, FillParty::Seller)),
            r#"{"seq":7,"idx":2,"order_id":"s","user_id":"us","symbol":"AAPL","side":"SELL","filled_qty":4,"filled_price":100,"remaining_qty":6,"status":"PARTIALLY_FILLED","trade_id":3,"ts":42}"#
        );
        let order = OrderRef {
            symbol: trade.symbol,
            user_id: trade.buyer.user_id,
            order_id: trade.buyer.order_id,
        };
        assert_eq!(
            message(MessageBody::Status(Event::CancelRejected {
                order,
                reason: RejectReason::UnknownOrder
            })),
            r#"{"seq":7,"idx":2,"status":"CANCEL_REJECTED","symbol":"AAPL","order_id":"b","user_id":"ub","reason":"UNKNOWN_ORDER","reason_code":13,"field":"order_id","detail":"order_id is not a live order of this user on this symbol"}"#
        );
        assert_eq!(
            message(MessageBody::Status(Event::ReplaceRejected {
                order,
                reason: RejectReason::TickSizeViolation
            })),
            r#"{"seq":7,"idx":2,"status":"REPLACE_REJECTED","symbol":"AAPL","order_id":"b","user_id":"ub","reason":"TICK_SIZE_VIOLATION","reason_code":8,"field":"new_price","detail":"new_price is not a multiple of the symbol's tick_size"}"#
        );
        assert_eq!(
            message(MessageBody::Undecodable(Malformed::new(
                RejectReason::MalformedMessage,
                InputField::Message,
                Problem::NotJson,
            ))),
            r#"{"seq":7,"idx":2,"status":"REJECTED","reason":"MALFORMED_MESSAGE","reason_code":16,"field":"message","detail":"message is not valid JSON","partition":0,"offset":9}"#
        );
        let too_precise = Malformed {
            symbol: Some(trade.symbol),
            ..Malformed::new(
                RejectReason::InvalidPrice,
                InputField::Price,
                Problem::TooPrecise { decimals: 2 },
            )
        };
        assert_eq!(
            message(MessageBody::Undecodable(too_precise)),
            r#"{"seq":7,"idx":2,"status":"REJECTED","symbol":"AAPL","reason":"INVALID_PRICE","reason_code":7,"field":"price","detail":"price has more than 2 decimal places, the price scale of AAPL","partition":0,"offset":9}"#
        );
    }

    /// Every reason the matcher can give maps to a field of the message.
    #[test]
    fn every_matcher_reason_names_a_field() {
        for reason in RejectReason::ALL.into_iter().take(15) {
            for replace in [false, true] {
                let (field, detail) = engine_refusal(reason, replace);
                assert_ne!(field, "message", "{reason:?}");
                assert!(!detail.is_empty());
            }
        }
    }
}
