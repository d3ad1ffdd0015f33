//! What leaves the pipeline: wire messages, batched, numbered by `(seq, idx)`.
//!
//! The matcher emits [`Event`]s; egress expands them into one [`Message`] per
//! message on the output topics (DESIGN.md §4) and numbers them. The
//! expansion is deterministic, so a replayed input gets the same `idx`
//! values as the first time, which is what makes `(seq, idx)` a
//! de-duplication key. This module chooses no wire encoding: sinks do.
//!
//! A trade becomes three messages, in this order: the `trades` message, the
//! aggressor's `fills` message, the resting order's `fills` message.

use crate::{Depth, Event, Trade};

use super::input::{BoxError, Malformed, SourcePosition};

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
}

impl Topic {
    /// Every topic.
    pub const ALL: [Topic; 4] = [
        Topic::Fills,
        Topic::Trades,
        Topic::Depth,
        Topic::OrderStatus,
    ];

    /// The topic's default name.
    pub fn name(self) -> &'static str {
        match self {
            Topic::Fills => "fills",
            Topic::Trades => "trades",
            Topic::Depth => "depth",
            Topic::OrderStatus => "order_status",
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
    /// An order-status event: anything but `Trade` and `Depth`.
    Status(Event),
    /// A `REJECTED` status for a message that did not decode.
    Undecodable(Malformed),
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

/// Where egress delivers messages: files, Kafka, or a benchmark's counter.
pub trait OutputSink: Send {
    /// The highest input sequence all of whose messages are recorded as
    /// delivered, durably enough for a restart to rely on, or 0. Recovery
    /// re-sends everything after it, and retention keeps what that needs.
    /// Called once per egress poll, so it must be cheap.
    fn delivered_through(&mut self) -> Result<u64, BoxError>;

    /// Delivers one batch of at most the configured batch size. A
    /// synchronous sink has the messages out of the process when it
    /// returns `Ok`; an asynchronous one (Kafka) has them queued and
    /// confirms them later, in `poll`.
    fn send_batch(&mut self, batch: &[Message]) -> Result<(), BoxError>;

    /// Says that every message of every input up to `seq` has been through
    /// `send_batch`. A synchronous sink records `seq` as delivered, so a
    /// restart need not re-send it; an asynchronous one records it only
    /// once the messages are confirmed.
    fn mark_delivered(&mut self, seq: u64) -> Result<(), BoxError>;

    /// Called while egress has nothing to send, so a sink that delivers
    /// asynchronously can reap acknowledgements. Must not block for long.
    fn poll(&mut self) -> Result<(), BoxError> {
        Ok(())
    }

    /// Flushes anything buffered; called once at shutdown.
    fn close(&mut self) -> Result<(), BoxError>;
}

/// What the matcher puts on the output ring for one event.
#[derive(Clone, Copy, Debug)]
#[allow(clippy::large_enum_variant)] // ring slots are fixed-size; a box would allocate
pub(crate) enum Output {
    Event(Event),
    Undecodable(Malformed),
}

/// One output-ring slot.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OutputSlot {
    pub seq: u64,
    pub source: SourcePosition,
    pub origin_ns: u64,
    /// The last output of its input.
    pub last: bool,
    pub output: Output,
}

impl Default for OutputSlot {
    fn default() -> OutputSlot {
        OutputSlot {
            seq: 0,
            source: SourcePosition::default(),
            origin_ns: 0,
            last: false,
            output: Output::Undecodable(Malformed::new(
                crate::RejectReason::MalformedMessage,
                super::input::InputField::Message,
                super::input::Problem::Empty,
            )),
        }
    }
}

/// Numbers, batches and delivers messages; shared by egress and recovery so
/// both number a given input's messages identically.
pub(crate) struct Emitter<K> {
    sink: K,
    batch: Vec<Message>,
    batch_size: usize,
    current_seq: u64,
    next_idx: u32,
    /// Highest sequence whose last message is in `batch`.
    pending_through: u64,
    delivered_through: u64,
    /// Messages delivered so far.
    pub sent: u64,
    /// `trades` messages among them.
    pub trades: u64,
}

impl<K: OutputSink> Emitter<K> {
    pub fn new(sink: K, batch_size: usize, delivered_through: u64) -> Emitter<K> {
        Emitter {
            sink,
            batch: Vec::with_capacity(batch_size),
            batch_size,
            current_seq: 0,
            next_idx: 0,
            pending_through: delivered_through,
            delivered_through,
            sent: 0,
            trades: 0,
        }
    }

    /// Expands one output slot into messages, sending full batches.
    /// `on_sent` sees each batch once it is delivered.
    pub fn push(
        &mut self,
        slot: &OutputSlot,
        on_sent: &mut impl FnMut(&[Message]),
    ) -> Result<(), BoxError> {
        if slot.seq != self.current_seq {
            self.current_seq = slot.seq;
            self.next_idx = 0;
        }
        match slot.output {
            Output::Event(Event::Trade(trade)) => {
                let (aggressor, resting) = match trade.aggressor {
                    crate::Side::Buy => (FillParty::Buyer, FillParty::Seller),
                    crate::Side::Sell => (FillParty::Seller, FillParty::Buyer),
                };
                self.add(slot, MessageBody::Trade(trade), false, on_sent)?;
                self.add(slot, MessageBody::Fill(trade, aggressor), false, on_sent)?;
                self.add(slot, MessageBody::Fill(trade, resting), slot.last, on_sent)
            }
            Output::Event(Event::Depth(depth)) => {
                self.add(slot, MessageBody::Depth(depth), slot.last, on_sent)
            }
            Output::Event(event) => self.add(slot, MessageBody::Status(event), slot.last, on_sent),
            Output::Undecodable(malformed) => self.add(
                slot,
                MessageBody::Undecodable(malformed),
                slot.last,
                on_sent,
            ),
        }
    }

    fn add(
        &mut self,
        slot: &OutputSlot,
        body: MessageBody,
        last: bool,
        on_sent: &mut impl FnMut(&[Message]),
    ) -> Result<(), BoxError> {
        self.batch.push(Message {
            seq: slot.seq,
            idx: self.next_idx,
            source: slot.source,
            origin_ns: slot.origin_ns,
            last,
            body,
        });
        self.next_idx += 1;
        if last {
            self.pending_through = slot.seq;
        }
        if self.batch.len() == self.batch_size {
            self.flush(on_sent)?;
        }
        Ok(())
    }

    /// Sends the partial batch, if any, and records what is delivered.
    pub fn flush(&mut self, on_sent: &mut impl FnMut(&[Message])) -> Result<(), BoxError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.sink.send_batch(&self.batch)?;
        on_sent(&self.batch);
        self.sent += self.batch.len() as u64;
        self.trades += self
            .batch
            .iter()
            .filter(|m| matches!(m.body, MessageBody::Trade(_)))
            .count() as u64;
        self.batch.clear();
        if self.pending_through > self.delivered_through {
            self.delivered_through = self.pending_through;
            self.sink.mark_delivered(self.delivered_through)?;
        }
        Ok(())
    }

    /// The highest input whose messages the sink records as delivered.
    pub fn delivered(&mut self) -> Result<u64, BoxError> {
        self.sink.delivered_through()
    }

    /// Lets the sink reap acknowledgements while there is nothing to send.
    pub fn poll(&mut self) -> Result<(), BoxError> {
        self.sink.poll()
    }

    /// Flushes and closes the sink; returns how many messages were sent.
    pub fn close(mut self) -> Result<u64, BoxError> {
        self.flush(&mut |_| {})?;
        self.sink.close()?;
        Ok(self.sent)
    }
}
