//! `replay book`: one symbol's book exactly as it stood after an input.
//!
//! The engine is rebuilt from the nearest snapshot at or before that input
//! and the journal re-executed up to it, through the same replay code as
//! recovery. Nothing is written.

use std::path::Path;

use engine::history::History;
use engine::{OrderView, Side, Symbol};
use serde::Serialize;

use crate::Error;
use crate::dump::replayer_before;
use crate::time::ts_at;
use crate::verify::Progress;

/// One price level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Level {
    /// The price.
    pub price: u64,
    /// Open quantity at it.
    pub qty: u64,
    /// Orders resting at it.
    pub orders: u32,
}

/// A book at a point in history.
#[derive(Clone, Debug)]
pub struct BookAt {
    /// The symbol.
    pub symbol: Symbol,
    /// The input after which this is the book.
    pub seq: u64,
    /// That input's ingress time.
    pub ts_ns: u64,
    /// Bid levels, best (highest) first.
    pub bids: Vec<Level>,
    /// Ask levels, best (lowest) first.
    pub asks: Vec<Level>,
    /// Resting bids in priority order.
    pub bid_orders: Vec<OrderView>,
    /// Resting asks in priority order.
    pub ask_orders: Vec<OrderView>,
    /// Untriggered stop orders.
    pub stop_orders: usize,
    /// The last trade's price and quantity, if any.
    pub last_trade: Option<(u64, u64)>,
}

/// `symbol`'s book after input `seq`.
pub fn book_at(
    dir: &Path,
    seq: u64,
    symbol: Symbol,
    progress: &dyn Progress,
) -> Result<BookAt, Error> {
    let history = History::open(dir)?;
    let (replayer, _) = replayer_before(&history, seq + 1, progress)?;
    if replayer.last_sequence() < seq {
        return Err(Error::Usage(format!(
            "the journal ends at sequence {}, before {seq}",
            replayer.last_sequence()
        )));
    }
    let engine = replayer.engine();
    let Some(summary) = engine.book_summary(&symbol) else {
        return Err(Error::Usage(format!(
            "{symbol} has no book at sequence {seq}: no order had named it yet"
        )));
    };
    let bid_orders = engine.resting_orders(&symbol, Side::Buy);
    let ask_orders = engine.resting_orders(&symbol, Side::Sell);
    Ok(BookAt {
        symbol,
        seq,
        ts_ns: ts_at(&history, seq)?,
        bids: levels(&bid_orders),
        asks: levels(&ask_orders),
        bid_orders,
        ask_orders,
        stop_orders: summary.stop_orders,
        last_trade: summary.last_price.map(|p| (p, summary.last_qty)),
    })
}

/// Levels from orders in priority order (best price first).
fn levels(orders: &[OrderView]) -> Vec<Level> {
    let mut out: Vec<Level> = Vec::new();
    for order in orders {
        let open = order.quantity - order.filled;
        match out.last_mut() {
            Some(level) if level.price == order.price => {
                level.qty += open;
                level.orders += 1;
            }
            _ => out.push(Level {
                price: order.price,
                qty: open,
                orders: 1,
            }),
        }
    }
    out
}
