//! The JSON wire formats of DESIGN.md §4: decoding `orders` messages into
//! [`Input`]s and encoding output [`Message`]s for each topic.
//!
//! Decoding never fails: a message that cannot become a command becomes a
//! [`Malformed`] input with a reason code and whatever ids it held, and is
//! journaled and answered like any other input. Encoding is deterministic:
//! the same message always gives the same bytes, fields in a fixed order.
//! Nothing here reads a clock or does I/O.

use std::borrow::Cow;

use engine::pipeline::{FillParty, Input, Malformed, Message, MessageBody};
use engine::{
    Action, Command, DEPTH_LEVELS, DepthSide, Event, OrderId, OrderSpec, OrderType, RejectReason,
    ReplaceSpec, Side, Symbol, TimeInForce, Trade, UserId,
};
use serde::{Deserialize, Serialize};

/// The longest `orders` message accepted, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// An `orders` message as it arrives. Every field is optional here so that
/// a missing one gets its own reason code rather than a generic parse error.
#[derive(Deserialize)]
struct WireOrder<'a> {
    #[serde(borrow, default, deserialize_with = "borrowed")]
    action: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    symbol: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    order_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    user_id: Option<Cow<'a, str>>,
    is_buy: Option<bool>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    side: Option<Cow<'a, str>>,
    price: Option<u64>,
    quantity: Option<u64>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    order_type: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    tif: Option<Cow<'a, str>>,
    post_only: Option<bool>,
    stop_price: Option<u64>,
    new_price: Option<u64>,
    new_quantity: Option<u64>,
    /// Accepted for compatibility; the engine stamps its own time.
    #[allow(dead_code)]
    client_ts: Option<serde_json::Value>,
}

/// Deserialises an optional string without copying it unless it holds
/// escapes. (`#[serde(borrow)]` alone does not reach through `Option`, so
/// `Option<Cow<str>>` would allocate for every field of every order.)
fn borrowed<'de, D>(deserializer: D) -> Result<Option<Cow<'de, str>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    struct Text<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Text<'de>>::deserialize(deserializer)?.map(|text| text.0))
}

/// Just the identifiers, for naming the order in a rejection when the
/// message as a whole did not parse.
#[derive(Deserialize)]
struct WireIds {
    symbol: Option<serde_json::Value>,
    order_id: Option<serde_json::Value>,
    user_id: Option<serde_json::Value>,
}

/// Decodes one `orders` message. Never fails: bad messages become
/// [`Input::Malformed`] with a reason. `ts` is left 0 for ingress to stamp.
pub fn decode_order(bytes: &[u8]) -> Input {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Input::Malformed(Malformed::bare(RejectReason::MessageTooLarge));
    }
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Input::Malformed(Malformed::bare(RejectReason::MalformedMessage));
    }
    match serde_json::from_slice::<WireOrder<'_>>(bytes) {
        Ok(order) => match to_command(&order) {
            Ok(command) => Input::Command(command),
            Err(reason) => Input::Malformed(Malformed {
                reason,
                symbol: order.symbol.as_deref().and_then(|s| Symbol::new(s).ok()),
                user_id: order.user_id.as_deref().and_then(|s| UserId::new(s).ok()),
                order_id: order.order_id.as_deref().and_then(|s| OrderId::new(s).ok()),
            }),
        },
        Err(err) if err.classify() == serde_json::error::Category::Data => {
            // Well-formed JSON with a field of the wrong type or range.
            let ids = serde_json::from_slice::<WireIds>(bytes).ok();
            let text = |v: &Option<serde_json::Value>| {
                v.as_ref().and_then(|v| v.as_str().map(str::to_owned))
            };
            Input::Malformed(Malformed {
                reason: RejectReason::InvalidFieldValue,
                symbol: ids
                    .as_ref()
                    .and_then(|i| text(&i.symbol))
                    .and_then(|s| Symbol::new(&s).ok()),
                user_id: ids
                    .as_ref()
                    .and_then(|i| text(&i.user_id))
                    .and_then(|s| UserId::new(&s).ok()),
                order_id: ids
                    .as_ref()
                    .and_then(|i| text(&i.order_id))
                    .and_then(|s| OrderId::new(&s).ok()),
            })
        }
        Err(_) => Input::Malformed(Malformed::bare(RejectReason::MalformedMessage)),
    }
}

fn to_command(order: &WireOrder<'_>) -> Result<Command, RejectReason> {
    use RejectReason::{InvalidFieldValue, InvalidIdentifier, MissingField};
    let action = order.action.as_deref().ok_or(MissingField)?;
    if !matches!(action, "ADD" | "CANCEL" | "REPLACE") {
        return Err(RejectReason::UnknownAction);
    }
    let symbol = order.symbol.as_deref().ok_or(MissingField)?;
    let symbol = Symbol::new(symbol).map_err(|_| RejectReason::InvalidSymbol)?;
    let user = order.user_id.as_deref().ok_or(MissingField)?;
    let user = UserId::new(user).map_err(|_| InvalidIdentifier)?;
    let id = order.order_id.as_deref().ok_or(MissingField)?;
    let id = OrderId::new(id).map_err(|_| InvalidIdentifier)?;
    match action {
        "CANCEL" => Ok(Command::cancel(0, symbol, user, id)),
        "REPLACE" => {
            let spec = ReplaceSpec {
                new_price: order.new_price,
                new_quantity: order.new_quantity,
            };
            Ok(Command::replace(0, symbol, user, id, spec))
        }
        _ => {
            let side = match (order.is_buy, order.side.as_deref()) {
                (Some(true), None | Some("BUY")) | (None, Some("BUY")) => Side::Buy,
                (Some(false), None | Some("SELL")) | (None, Some("SELL")) => Side::Sell,
                (None, None) => return Err(MissingField),
                _ => return Err(InvalidFieldValue),
            };
            let order_type = match order.order_type.as_deref().unwrap_or("LIMIT") {
                "LIMIT" => OrderType::Limit,
                "MARKET" => OrderType::Market,
                "STOP" => OrderType::Stop,
                "STOP_LIMIT" => OrderType::StopLimit,
                _ => return Err(InvalidFieldValue),
            };
            let default_tif = match order_type {
                // A market remainder never rests, so IOC is what it means.
                OrderType::Market | OrderType::Stop => "IOC",
                OrderType::Limit | OrderType::StopLimit => "GTC",
            };
            let tif = match order.tif.as_deref().unwrap_or(default_tif) {
                "GTC" => TimeInForce::Gtc,
                "IOC" => TimeInForce::Ioc,
                "FOK" => TimeInForce::Fok,
                _ => return Err(InvalidFieldValue),
            };
            let needs_price = matches!(order_type, OrderType::Limit | OrderType::StopLimit);
            let needs_stop = order_type.is_stop();
            let spec = OrderSpec {
                side,
                order_type,
                tif,
                post_only: order.post_only.unwrap_or(false),
                price: if needs_price {
                    order.price.ok_or(MissingField)?
                } else {
                    order.price.unwrap_or(0)
                },
                stop_price: if needs_stop {
                    order.stop_price.ok_or(MissingField)?
                } else {
                    order.stop_price.unwrap_or(0)
                },
                quantity: order.quantity.ok_or(MissingField)?,
            };
            Ok(Command {
                ts: 0,
                symbol,
                user_id: user,
                order_id: id,
                action: Action::Add(spec),
            })
        }
    }
}

/// Encodes an `orders` message in the canonical form, for generators and
/// tests. The inverse of [`decode_order`] for valid commands.
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
            o.stop_price = spec.order_type.is_stop().then_some(spec.stop_price);
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
    #[serde(skip_serializing_if = "Option::is_none")]
    partition: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<i64>,
}

/// Encodes one output message as the JSON its topic carries, without a
/// trailing newline.
pub fn encode_message(message: &Message, out: &mut Vec<u8>) {
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
                partition: Some(message.source.partition),
                offset: Some(message.source.offset),
                ..Status::default()
            },
        ),
        MessageBody::Status(event) => write_json(out, &status_of(seq, idx, event)),
    }
}

/// The symbol a message is about: its Kafka key, so one symbol's messages
/// stay in one partition and in order. `None` for a rejection of a message
/// that held no valid symbol.
pub fn message_symbol(message: &Message) -> Option<&str> {
    match &message.body {
        MessageBody::Trade(t) | MessageBody::Fill(t, _) => Some(t.symbol.as_str()),
        MessageBody::Depth(d) => Some(d.symbol.as_str()),
        MessageBody::Undecodable(m) => m.symbol.as_ref().map(Symbol::as_str),
        MessageBody::Status(event) => match event {
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
    let reason = |r: &RejectReason| (Some(r.as_str()), Some(r.code()));
    match event {
        Event::Accepted { order, spec } => Status {
            side: Some(spec.side.as_str()),
            order_type: Some(spec.order_type.as_str()),
            tif: Some(spec.tif.as_str()),
            price: Some(spec.price),
            stop_price: spec.order_type.is_stop().then_some(spec.stop_price),
            quantity: Some(spec.quantity),
            ..named("ACCEPTED", order)
        },
        Event::Rejected { order, reason: r } => {
            let (reason, reason_code) = reason(r);
            Status {
                reason,
                reason_code,
                ..named("REJECTED", order)
            }
        }
        Event::CancelRejected { order, reason: r } => {
            let (reason, reason_code) = reason(r);
            Status {
                reason,
                reason_code,
                ..named("CANCEL_REJECTED", order)
            }
        }
        Event::ReplaceRejected { order, reason: r } => {
            let (reason, reason_code) = reason(r);
            Status {
                reason,
                reason_code,
                ..named("REPLACE_REJECTED", order)
            }
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
        // Trades and depth have their own topics; egress never sends them
        // here, but an honest fallback beats a panic.
        Event::Trade(_) | Event::Depth(_) => Status {
            seq,
            idx,
            status: "UNKNOWN",
            ..Status::default()
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly by design

    use super::*;
    use engine::pipeline::SourcePosition;
    use engine::{OrderRef, TradeParty};

    fn command(json: &str) -> Command {
        match decode_order(json.as_bytes()) {
            Input::Command(c) => c,
            Input::Malformed(m) => panic!("{json} was rejected: {m:?}"),
        }
    }

    fn rejected(json: &str) -> Malformed {
        match decode_order(json.as_bytes()) {
            Input::Malformed(m) => m,
            Input::Command(c) => panic!("{json} was accepted: {c:?}"),
        }
    }

    #[test]
    fn canonical_and_side_forms_decode_alike() {
        let a = command(
            r#"{"action":"ADD","symbol":"AAPL","order_id":"order-001","user_id":"user123","is_buy":true,"price":15000,"quantity":100}"#,
        );
        let b = command(
            r#"{"action":"ADD","symbol":"AAPL","order_id":"order-001","user_id":"user123","side":"BUY","price":15000,"quantity":100,"client_ts":17}"#,
        );
        assert_eq!(a, b);
        assert_eq!(
            a.action,
            Action::Add(OrderSpec::limit(Side::Buy, 15_000, 100))
        );
        assert_eq!(
            (a.symbol.as_str(), a.order_id.as_str(), a.user_id.as_str()),
            ("AAPL", "order-001", "user123")
        );
    }

    #[test]
    fn optional_fields_and_other_actions() {
        let c = command(
            r#"{"action":"ADD","symbol":"X","order_id":"o","user_id":"u","side":"SELL","order_type":"STOP_LIMIT","stop_price":90,"price":89,"quantity":5,"tif":"FOK","post_only":false}"#,
        );
        let Action::Add(spec) = c.action else {
            panic!()
        };
        assert_eq!(
            (spec.order_type, spec.stop_price, spec.price, spec.tif),
            (OrderType::StopLimit, 90, 89, TimeInForce::Fok)
        );
        let m = command(
            r#"{"action":"ADD","symbol":"X","order_id":"o","user_id":"u","is_buy":false,"order_type":"MARKET","quantity":5}"#,
        );
        assert_eq!(m.action, Action::Add(OrderSpec::market(Side::Sell, 5)));
        let r = command(
            r#"{"action":"REPLACE","symbol":"X","order_id":"o","user_id":"u","new_quantity":3}"#,
        );
        assert_eq!(
            r.action,
            Action::Replace(ReplaceSpec {
                new_price: None,
                new_quantity: Some(3)
            })
        );
        let x = command(r#"{"action":"CANCEL","symbol":"X","order_id":"o","user_id":"u"}"#);
        assert_eq!(x.action, Action::Cancel);
    }

    #[test]
    fn each_problem_has_its_reason() {
        use RejectReason::*;
        let cases = [
            ("{\"action\":", MalformedMessage),
            ("[1,2]", MalformedMessage),
            (
                r#"{"action":"BUY","symbol":"X","order_id":"o","user_id":"u"}"#,
                UnknownAction,
            ),
            (
                r#"{"symbol":"X","order_id":"o","user_id":"u"}"#,
                MissingField,
            ),
            (
                r#"{"action":"ADD","symbol":"X","order_id":"o","user_id":"u","is_buy":true,"price":1}"#,
                MissingField,
            ),
            (
                r#"{"action":"ADD","symbol":"X","order_id":"o","user_id":"u","price":1,"quantity":1}"#,
                MissingField,
            ),
            (
                r#"{"action":"ADD","symbol":"X","order_id":"o","user_id":"u","side":"BOTH","price":1,"quantity":1}"#,
                InvalidFieldValue,
            ),
            (
                r#"{"action":"ADD","symbol":"X","order_id":"o","user_id":"u","is_buy":true,"side":"SELL","price":1,"quantity":1}"#,
                InvalidFieldValue,
            ),
            (
                r#"{"action":"ADD","symbol":"X","order_id":"o","user_id":"u","is_buy":true,"price":1,"quantity":1,"tif":"DAY"}"#,
                InvalidFieldValue,
            ),
            (
                r#"{"action":"ADD","symbol":"X","order_id":"o","user_id":"u","is_buy":true,"price":1.5,"quantity":1}"#,
                InvalidFieldValue,
            ),
            (
                r#"{"action":"ADD","symbol":"X","order_id":"o","user_id":"u","is_buy":true,"price":-1,"quantity":1}"#,
                InvalidFieldValue,
            ),
            (
                r#"{"action":"ADD","symbol":"toolongsymbol","order_id":"o","user_id":"u","is_buy":true,"price":1,"quantity":1}"#,
                InvalidSymbol,
            ),
            (
                r#"{"action":"CANCEL","symbol":"X","order_id":"has space","user_id":"u"}"#,
                InvalidIdentifier,
            ),
        ];
        for (json, reason) in cases {
            assert_eq!(rejected(json).reason, reason, "{json}");
        }
        let big = format!(
            r#"{{"action":"ADD","pad":"{}"}}"#,
            "x".repeat(MAX_MESSAGE_BYTES)
        );
        assert_eq!(rejected(&big).reason, MessageTooLarge);
    }

    #[test]
    fn rejections_keep_the_ids_they_could_read() {
        let m = rejected(
            r#"{"action":"ADD","symbol":"AAPL","order_id":"o9","user_id":"u","is_buy":true,"price":"high","quantity":1}"#,
        );
        assert_eq!(m.reason, RejectReason::InvalidFieldValue);
        assert_eq!(m.symbol.map(|s| s.to_string()), Some("AAPL".into()));
        assert_eq!(m.order_id.map(|s| s.to_string()), Some("o9".into()));
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
            source: SourcePosition {
                partition: 0,
                offset: 9,
            },
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
            r#"{"seq":7,"idx":2,"status":"CANCEL_REJECTED","symbol":"AAPL","order_id":"b","user_id":"ub","reason":"UNKNOWN_ORDER","reason_code":13}"#
        );
        assert_eq!(
            message(MessageBody::Undecodable(Malformed::bare(
                RejectReason::MalformedMessage
            ))),
            r#"{"seq":7,"idx":2,"status":"REJECTED","reason":"MALFORMED_MESSAGE","reason_code":16,"partition":0,"offset":9}"#
        );
    }
}
