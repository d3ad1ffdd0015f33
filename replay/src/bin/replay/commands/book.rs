//! `replay book --at`: one symbol's book after a sequence or a time, by
//! level or order by order. It turns parsed flags into the library's call,
//! and prints the result; the work is in the `replay` library.

use replay::format_ts;
use serde::Serialize;

use super::Outcome;
use crate::args::{at_sequence, symbol};
use crate::flags::BookArgs;
use crate::print::{Bar, json_line, outln, table};

#[derive(Serialize)]
struct BookJson<'a> {
    symbol: &'a str,
    seq: u64,
    ts: String,
    bids: &'a [replay::Level],
    asks: &'a [replay::Level],
    last_price: Option<u64>,
    last_qty: Option<u64>,
    stop_orders: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    bid_orders: Option<Vec<OrderJson>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ask_orders: Option<Vec<OrderJson>>,
}

#[derive(Serialize)]
struct OrderJson {
    order_id: String,
    user_id: String,
    order_type: &'static str,
    price: u64,
    quantity: u64,
    filled: u64,
    open: u64,
    entered: String,
    entered_ns: u64,
}

fn order_json(o: &engine::OrderView) -> OrderJson {
    OrderJson {
        order_id: o.order_id.to_string(),
        user_id: o.user_id.to_string(),
        order_type: o.order_type.as_str(),
        price: o.price,
        quantity: o.quantity,
        filled: o.filled,
        open: o.quantity - o.filled,
        entered: format_ts(o.entered_ns),
        entered_ns: o.entered_ns,
    }
}

/// The orders of the shown levels: orders are listed level by level, best
/// first, so they are a prefix as long as the levels' order counts.
fn orders_within<'a>(
    orders: &'a [engine::OrderView],
    levels: &[replay::Level],
) -> &'a [engine::OrderView] {
    let count: usize = levels.iter().map(|l| l.orders as usize).sum();
    &orders[..count.min(orders.len())]
}

pub fn book(args: BookArgs) -> anyhow::Result<Outcome> {
    let dir = &args.common.dir;
    let seq = at_sequence(&args.at, dir)?;
    let book = replay::book_at(dir, seq, symbol(&args.symbol)?, &Bar::default())?;
    let depth = args.depth.unwrap_or(usize::MAX);
    let (bids, asks) = (
        &book.bids[..book.bids.len().min(depth)],
        &book.asks[..book.asks.len().min(depth)],
    );
    let bid_orders = orders_within(&book.bid_orders, bids);
    let ask_orders = orders_within(&book.ask_orders, asks);
    if args.common.json {
        json_line(&BookJson {
            symbol: book.symbol.as_str(),
            seq: book.seq,
            ts: format_ts(book.ts_ns),
            bids,
            asks,
            last_price: book.last_trade.map(|t| t.0),
            last_qty: book.last_trade.map(|t| t.1),
            stop_orders: book.stop_orders,
            bid_orders: args
                .orders
                .then(|| bid_orders.iter().map(order_json).collect()),
            ask_orders: args
                .orders
                .then(|| ask_orders.iter().map(order_json).collect()),
        })?;
        return Ok(Outcome::Clean);
    }
    let last = book.last_trade.map_or("no trade yet".into(), |(p, q)| {
        format!("last trade {q} at {p}")
    });
    outln!(
        "{} after sequence {} ({}): {last}, {} stop orders waiting",
        book.symbol,
        book.seq,
        format_ts(book.ts_ns),
        book.stop_orders
    );
    if args.orders {
        let mut t = table(&[
            "side", "price", "order", "user", "type", "open", "filled", "entered",
        ]);
        // A ladder: the worst ask on top, the best bid under the best ask.
        // Within a level, orders stay in time priority, first to trade first.
        let ask_levels = ask_orders.chunk_by(|a, b| a.price == b.price).rev();
        let bid_levels = bid_orders.chunk_by(|a, b| a.price == b.price);
        for (side, level) in ask_levels
            .map(|l| ("ask", l))
            .chain(bid_levels.map(|l| ("bid", l)))
        {
            for o in level {
                t.add_row(vec![
                    side.to_string(),
                    o.price.to_string(),
                    o.order_id.to_string(),
                    o.user_id.to_string(),
                    o.order_type.as_str().to_string(),
                    (o.quantity - o.filled).to_string(),
                    o.filled.to_string(),
                    format_ts(o.entered_ns),
                ]);
            }
        }
        outln!("{t}");
    } else {
        let mut t = table(&["side", "price", "qty", "orders"]);
        for (side, levels) in [
            ("ask", asks.iter().rev().collect::<Vec<_>>()),
            ("bid", bids.iter().collect()),
        ] {
            for l in levels {
                t.add_row(vec![
                    side.to_string(),
                    l.price.to_string(),
                    l.qty.to_string(),
                    l.orders.to_string(),
                ]);
            }
        }
        outln!("{t}");
    }
    Ok(Outcome::Clean)
}
