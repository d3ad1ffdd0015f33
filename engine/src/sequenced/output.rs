//! What an input produces: wire messages on the output topics, numbered
//! `(seq, idx)`.
//!
//! The matcher reports [`Event`]s; each becomes one [`Message`] per message
//! on the output topics (`docs/design.md` §5), numbered by [`Numbering`]. The
//! expansion is deterministic, so a replayed input gets the same `idx`
//! values as the first time, which is what makes `(seq, idx)` a
//! de-duplication key. Egress and replay both number through this module,
//! and it chooses no wire encoding.
//!
//! A trade becomes three messages, in this order: the `trades` message, the
//! aggressor's `fills` message, the resting order's `fills` message.

use crate::{Depth, Event, Side, Trade};

use super::input::{Malformed, SourcePosition};

/// An output topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// One message per order per execution.
    Fills,
    /// One message per execution.
    Trades,
    /// The top five levels of a book after an input changed them.
    Depth,
    /// Order lifecycle: accepted, rejected, cancelled and so on.
    OrderStatus,
    /// Operators' commands acknowledged or refused.
    AdminStatus,
}

impl Topic {
    /// Every topic.
    pub const ALL: [Topic; 5] = [
        Topic::Fills,
        Topic::Trades,
        Topic::Depth,
        Topic::OrderStatus,
        Topic::AdminStatus,
    ];

    /// Its place in [`Topic::ALL`], for arrays indexed by topic.
    pub fn index(self) -> usize {
        match self {
            Topic::Fills => 0,
            Topic::Trades => 1,
            Topic::Depth => 2,
            Topic::OrderStatus => 3,
            Topic::AdminStatus => 4,
        }
    }

    /// The topic's default name.
    pub fn name(self) -> &'static str {
        match self {
            Topic::Fills => "fills",
            Topic::Trades => "trades",
            Topic::Depth => "depth",
            Topic::OrderStatus => "order_status",
            Topic::AdminStatus => "admin_status",
        }
    }
}

/// Which party of a trade a fill is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FillParty {
    /// The buying order.
    Buyer,
    /// The selling order.
    Seller,
}

/// The content of one output message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageBody {
    /// An order-status event: anything but `Trade`, `Depth` and the admin
    /// events.
    Status(Event),
    /// A `REJECTED` status for a message that did not decode.
    Undecodable(Malformed),
    /// An admin status: `AdminApplied`, `AdminRejected` or `MoveStepped`.
    Admin(Event),
    /// A `REJECTED` admin status for an admin message that did not decode.
    UndecodableAdmin(Malformed),
    /// A `trades` message.
    Trade(Trade),
    /// A `fills` message for one party of a trade.
    Fill(Trade, FillParty),
    /// A `depth` message.
    Depth(Depth),
}

impl MessageBody {
    /// The topic the message goes to.
    pub fn topic(&self) -> Topic {
        match self {
            MessageBody::Status(_) | MessageBody::Undecodable(_) => Topic::OrderStatus,
            MessageBody::Admin(_) | MessageBody::UndecodableAdmin(_) => Topic::AdminStatus,
            MessageBody::Trade(_) => Topic::Trades,
            MessageBody::Fill(..) => Topic::Fills,
            MessageBody::Depth(_) => Topic::Depth,
        }
    }
}

/// One output message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    /// The engine sequence of the input that caused it.
    pub seq: u64,
    /// Its index among that input's messages, from 0.
    pub idx: u32,
    /// Where that input came from.
    pub source: SourcePosition,
    /// When that input was created or stamped (ns since the epoch); for
    /// latency statistics, not for the wire.
    pub origin_ns: u64,
    /// Whether this is the input's last message.
    pub last: bool,
    /// The content.
    pub body: MessageBody,
}

/// One outcome of an input, before it is split into messages: what the
/// matcher thread puts on the output ring.
#[derive(Clone, Copy, Debug)]
#[allow(clippy::large_enum_variant)] // ring slots are fixed-size; a box would allocate
pub enum Output {
    /// A matcher event.
    Event(Event),
    /// The rejection of a message that did not decode.
    Undecodable(Malformed),
    /// The rejection of an admin message that did not decode.
    UndecodableAdmin(Malformed),
}

impl Output {
    /// The messages this outcome becomes, in order; the flag marks the
    /// last of them.
    pub fn bodies(self, mut each: impl FnMut(MessageBody, bool)) {
        match self {
            Output::Event(Event::Trade(trade)) => {
                let (aggressor, resting) = match trade.aggressor {
                    Side::Buy => (FillParty::Buyer, FillParty::Seller),
                    Side::Sell => (FillParty::Seller, FillParty::Buyer),
                };
                each(MessageBody::Trade(trade), false);
                each(MessageBody::Fill(trade, aggressor), false);
                each(MessageBody::Fill(trade, resting), true);
            }
            Output::Event(Event::Depth(depth)) => each(MessageBody::Depth(depth), true),
            Output::Event(
                event @ (Event::AdminApplied { .. }
                | Event::AdminRejected { .. }
                | Event::MoveStepped { .. }),
            ) => each(MessageBody::Admin(event), true),
            Output::Event(event) => each(MessageBody::Status(event), true),
            Output::Undecodable(malformed) => each(MessageBody::Undecodable(malformed), true),
            Output::UndecodableAdmin(malformed) => {
                each(MessageBody::UndecodableAdmin(malformed), true)
            }
        }
    }
}

/// Hands out `idx` numbers: from 0 for each new input sequence.
#[derive(Clone, Copy, Debug, Default)]
pub struct Numbering {
    current_seq: u64,
    next_idx: u32,
}

impl Numbering {
    /// The `idx` of the next message of input `seq`.
    pub fn next(&mut self, seq: u64) -> u32 {
        if seq != self.current_seq {
            self.current_seq = seq;
            self.next_idx = 0;
        }
        let idx = self.next_idx;
        self.next_idx += 1;
        idx
    }
}
