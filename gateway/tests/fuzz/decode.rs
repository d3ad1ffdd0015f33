//! What must hold for any bytes that arrive on `orders`: the fuzz target
//! `gateway/fuzz/fuzz_targets/decode.rs` and the CI slice in
//! `gateway/tests/fuzz_decode.rs` both call [`check`], so the campaign and
//! CI test one definition.
//!
//! For every input, with both price formats:
//! - decoding returns, without panicking;
//! - a message that is not a usable order becomes exactly one `REJECTED`
//!   whose JSON carries a reason, its code, the field at fault and a detail;
//! - an order that decodes round-trips through the canonical encoder, and
//!   the matcher takes it without panicking: a refusal is exactly one
//!   `REJECTED` event and nothing else, and every event encodes to JSON.

use engine::sequenced::{FillParty, Input, Malformed, Message, MessageBody, SourcePosition};
use engine::{Action, Engine, EngineConfig, Event, MemoryConfig, Symbol};
use gateway::wire::{Decoder, PriceDecimals, PriceFormat, encode_message, encode_order};

/// The decoders under test: canonical ticks, and decimal prices with a
/// symbol of each interesting scale.
fn decoders() -> [Decoder; 2] {
    let mut decimals = PriceDecimals::default();
    for (symbol, places) in [("BTC", 8), ("JPY", 0), ("ETH", 18)] {
        if let Ok(symbol) = Symbol::new(symbol) {
            decimals.symbols.insert(symbol, places);
        }
    }
    [
        Decoder::default(),
        Decoder::new(PriceFormat::Decimal, decimals),
    ]
}

/// A small engine: cheap to build for every input.
fn engine() -> Engine {
    let config = EngineConfig {
        max_symbols: 4,
        memory: MemoryConfig {
            order_capacity: 16,
            prefault: false,
        },
        ..EngineConfig::default()
    };
    Engine::new(config).expect("a valid configuration")
}

/// Checks everything above for one message.
pub fn check(bytes: &[u8]) {
    for decoder in decoders() {
        match decoder.decode(bytes) {
            Input::Malformed(malformed) => check_rejection(&malformed),
            // The orders decoder never makes admin inputs.
            Input::Admin(_) | Input::MalformedAdmin(_) | Input::Handover(_) => {
                panic!("an admin or handover input from orders")
            }
            Input::Command(command) => {
                if decoder.format() == PriceFormat::Ticks {
                    let mut canonical = Vec::new();
                    encode_order(&command, &mut canonical);
                    match decoder.decode(&canonical) {
                        Input::Command(again) => assert_eq!(again, command, "round trip"),
                        other => panic!("the canonical form was refused: {other:?}"),
                    }
                }
                let mut events = Vec::new();
                engine().apply(&command, &mut events);
                assert!(!events.is_empty(), "a command without any event");
                if matches!(events[0], Event::Rejected { .. }) {
                    assert_eq!(events.len(), 1, "a refusal is one event: {events:?}");
                }
                if !matches!(command.action, Action::Add(_)) {
                    // Nothing is live in a fresh engine.
                    assert!(matches!(
                        events[0],
                        Event::CancelRejected { .. } | Event::ReplaceRejected { .. }
                    ));
                }
                for event in events {
                    check_event(&event);
                }
            }
        }
    }
}

fn message(body: MessageBody) -> serde_json::Value {
    let message = Message {
        seq: 1,
        idx: 0,
        source: SourcePosition::orders(0, 1),
        origin_ns: 0,
        last: true,
        body,
    };
    let mut out = Vec::new();
    encode_message(&message, &mut out);
    serde_json::from_slice(&out).expect("every output message is JSON")
}

fn check_rejection(malformed: &Malformed) {
    let json = message(MessageBody::Undecodable(*malformed));
    assert_eq!(json["status"], "REJECTED");
    assert_eq!(json["reason"], malformed.reason.as_str());
    assert_eq!(json["reason_code"], malformed.reason.code());
    assert_eq!(json["field"], malformed.field.as_str());
    let detail = json["detail"].as_str().expect("a detail");
    assert!(detail.starts_with(malformed.field.as_str()), "{detail}");
    assert!(
        detail.len() > malformed.field.as_str().len() + 5,
        "{detail}"
    );
}

fn check_event(event: &Event) {
    let json = match event {
        Event::Trade(trade) => {
            message(MessageBody::Trade(*trade));
            message(MessageBody::Fill(*trade, FillParty::Buyer));
            message(MessageBody::Fill(*trade, FillParty::Seller))
        }
        Event::Depth(depth) => message(MessageBody::Depth(*depth)),
        status => message(MessageBody::Status(*status)),
    };
    if let Event::Rejected { reason, .. } = event {
        assert_eq!(json["reason"], reason.as_str());
        assert!(
            json["field"].is_string() && json["detail"].is_string(),
            "{json}"
        );
    }
    if let Event::Accepted { spec, .. } = event
        && !spec.order_type.has_limit_price()
    {
        assert_eq!(spec.price, 0, "a market or stop price is ignored");
    }
}
