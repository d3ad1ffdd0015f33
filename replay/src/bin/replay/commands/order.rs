//! `replay order`: one order's life, message by message. It turns parsed
//! flags into the library's call, and prints the result; the work is in the
//! `replay` library.

use engine::sequenced::{Message, MessageBody};
use engine::{OrderId, UserId};
use replay::format_ts;
use serde::Serialize;
use serde_json::value::RawValue;

use super::Outcome;
use crate::args::usage;
use crate::flags::OrderArgs;
use crate::print::{Bar, journal_engine_id, json_line, outln, table, wire};

pub fn order(args: OrderArgs) -> anyhow::Result<Outcome> {
    let id =
        OrderId::new(&args.order).map_err(|e| usage(format!("--order {:?}: {e}", args.order)))?;
    let user = args
        .user
        .as_deref()
        .map(|u| UserId::new(u).map_err(|e| usage(format!("--user {u:?}: {e}"))))
        .transpose()?;
    let life = replay::order_life(&args.common.dir, id, user, args.from, &Bar::default())?;
    let engine_id = journal_engine_id(&args.common.dir)?;
    let engine_id = engine_id.as_deref();
    if args.common.json {
        #[derive(Serialize)]
        struct EventJson {
            seq: u64,
            idx: u32,
            ts: String,
            topic: &'static str,
            message: Box<RawValue>,
        }
        for e in &life.events {
            json_line(&EventJson {
                seq: e.message.seq,
                idx: e.message.idx,
                ts: format_ts(e.ts_ns),
                topic: e.message.body.topic().name(),
                message: wire(engine_id, &e.message),
            })?;
        }
        return Ok(Outcome::Clean);
    }
    outln!(
        "order {} of {} on {}{}",
        life.order,
        life.user,
        life.symbol,
        if life.live_at_end {
            " (still live where the journal ends)"
        } else {
            ""
        }
    );
    let mut t = table(&["seq", "time", "event", "detail"]);
    for e in &life.events {
        let (what, detail) = describe(&e.message);
        t.add_row(vec![
            e.message.seq.to_string(),
            format_ts(e.ts_ns),
            what,
            detail,
        ]);
    }
    outln!("{t}");
    Ok(Outcome::Clean)
}

/// A message in a few words, for the order table.
fn describe(message: &Message) -> (String, String) {
    let json: serde_json::Value =
        serde_json::from_str(wire(None, message).get()).unwrap_or_default();
    let field = |k: &str| {
        json.get(k).map_or(String::new(), |v| {
            v.to_string().trim_matches('"').to_string()
        })
    };
    match &message.body {
        MessageBody::Fill(..) => (
            field("status"),
            format!(
                "{} at {}, {} open, trade {}",
                field("filled_qty"),
                field("filled_price"),
                field("remaining_qty"),
                field("trade_id")
            ),
        ),
        _ => {
            let mut detail: Vec<String> = [
                "command",
                "request_id",
                "cancelled",
                "side",
                "order_type",
                "tif",
                "price",
                "quantity",
                "remaining_qty",
                "reason",
                "detail",
            ]
            .iter()
            .filter(|k| json.get(**k).is_some())
            .map(|k| format!("{k} {}", field(k)))
            .collect();
            detail.dedup();
            (field("status"), detail.join(", "))
        }
    }
}
