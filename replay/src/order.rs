//! `replay order`: one order's whole life, from the messages the engine
//! sent about it: accepted, each fill, replaces, triggers, and its cancel,
//! expiry or last fill.
//!
//! The journal is scanned (decoding only) for the order's `ADD`; the engine
//! is rebuilt from the nearest snapshot before it and re-executed until the
//! order is no longer live, or the journal ends. Nothing is written.

use std::path::Path;

use engine::history::History;
use engine::sequenced::{FillParty, Message, MessageBody};
use engine::{Action, Event, OrderId, OrderRef, Symbol, UserId};

use crate::Error;
use crate::dump::replayer_before;
use crate::verify::Progress;

/// One message about the order.
#[derive(Clone, Debug)]
pub struct OrderEvent {
    /// The input's ingress time.
    pub ts_ns: u64,
    /// The message, exactly as the engine sent it.
    pub message: Message,
}

/// An order's life.
#[derive(Clone, Debug)]
pub struct OrderLife {
    /// Its owner.
    pub user: UserId,
    /// Its id.
    pub order: OrderId,
    /// Its symbol.
    pub symbol: Symbol,
    /// Every message about it, in order.
    pub events: Vec<OrderEvent>,
    /// Whether it was still live where the journal ends.
    pub live_at_end: bool,
}

/// The life of the first order with id `order` (of `user`, if given) added
/// at or after sequence `from`.
pub fn order_life(
    dir: &Path,
    order: OrderId,
    user: Option<UserId>,
    from: u64,
    progress: &dyn Progress,
) -> Result<OrderLife, Error> {
    let history = History::open(dir)?;
    let first = history.first_sequence()?.unwrap_or(1);
    let mut scan = history.records(from.max(first))?;
    let (added, user, symbol) = loop {
        let Some(record) = scan.next()? else {
            return Err(Error::Usage(format!(
                "no ADD of order {order}{} in the journal from sequence {}",
                user.map(|u| format!(" of user {u}")).unwrap_or_default(),
                from.max(first)
            )));
        };
        if let engine::sequenced::Input::Command(command) = record.input
            && matches!(command.action, Action::Add(_))
            && command.order_id == order
            && user.is_none_or(|u| u == command.user_id)
        {
            break (record.sequence, command.user_id, command.symbol);
        }
    };
    let (mut replayer, _) = replayer_before(&history, added, progress)?;
    let mut records = history.records(added)?;
    let mut life = OrderLife {
        user,
        order,
        symbol,
        events: Vec::new(),
        live_at_end: false,
    };
    while let Some(record) = records.next()? {
        let mut touched = false;
        replayer.apply(&record, |message| {
            if concerns(message, &user, &order) {
                touched = true;
                life.events.push(OrderEvent {
                    ts_ns: record.timestamp_ns,
                    message: *message,
                });
            } else if touched && matches!(message.body, MessageBody::Admin(_)) {
                // The operator's command that cancelled it, and its answer.
                life.events.push(OrderEvent {
                    ts_ns: record.timestamp_ns,
                    message: *message,
                });
            }
        })?;
        if replayer.engine().live_order(&user, &order).is_none() {
            return Ok(life);
        }
    }
    life.live_at_end = true;
    Ok(life)
}

/// Whether `message` is about the order `(user, order)`.
fn concerns(message: &Message, user: &UserId, order: &OrderId) -> bool {
    let is = |r: &OrderRef| r.user_id == *user && r.order_id == *order;
    match &message.body {
        MessageBody::Status(event) => match event {
            Event::Accepted { order: r, .. }
            | Event::Rejected { order: r, .. }
            | Event::Cancelled { order: r, .. }
            | Event::CancelRejected { order: r, .. }
            | Event::Replaced { order: r, .. }
            | Event::ReplaceRejected { order: r, .. }
            | Event::Expired { order: r, .. }
            | Event::Triggered { order: r, .. } => is(r),
            Event::Trade(_)
            | Event::Depth(_)
            | Event::AdminApplied { .. }
            | Event::AdminRejected { .. }
            | Event::MoveStepped { .. } => false,
        },
        MessageBody::Fill(trade, party) => {
            let p = match party {
                FillParty::Buyer => &trade.buyer,
                FillParty::Seller => &trade.seller,
            };
            p.user_id == *user && p.order_id == *order
        }
        MessageBody::Undecodable(m) => m.user_id == Some(*user) && m.order_id == Some(*order),
        MessageBody::Trade(_)
        | MessageBody::Depth(_)
        | MessageBody::Admin(_)
        | MessageBody::UndecodableAdmin(_) => false,
    }
}
