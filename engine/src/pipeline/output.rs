//! What leaves the pipeline: output sinks, and egress's batching.
//!
//! The matcher puts one [`Output`] per event on the output ring; egress
//! numbers them into messages with `crate::sequenced`'s [`Numbering`] (the
//! same numbering replay uses), batches them, and hands the batches to an
//! [`OutputSink`](crate::endpoint::OutputSink). This module chooses no
//! wire encoding: sinks do.

use crate::sequenced::{
    InputField, Malformed, Message, MessageBody, Numbering, Output, Problem, SourcePosition,
};

use crate::endpoint::{BoxError, OutputSink};

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
                InputField::Message,
                Problem::Empty,
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
    numbering: Numbering,
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
            numbering: Numbering::default(),
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
        let mut result = Ok(());
        slot.output.bodies(|body, final_body| {
            if result.is_ok() {
                result = self.add(slot, body, final_body && slot.last, on_sent);
            }
        });
        result
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
            idx: self.numbering.next(slot.seq),
            source: slot.source,
            origin_ns: slot.origin_ns,
            last,
            body,
        });
        if last {
            self.pending_through = slot.seq;
        }
        if self.batch.len() == self.batch_size {
            self.flush(on_sent)?;
        }
        Ok(())
    }

    /// Adds a message that replay numbered (recovery re-sending outputs),
    /// sending full batches.
    pub(crate) fn resend(&mut self, message: &Message) -> Result<(), BoxError> {
        self.batch.push(*message);
        if message.last {
            self.pending_through = message.seq;
        }
        if self.batch.len() == self.batch_size {
            self.flush(&mut |_| {})?;
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

    /// Flushes and closes the sink; returns how many messages were sent,
    /// and the delivered mark it then records.
    pub fn close(mut self) -> Result<(u64, u64), BoxError> {
        self.flush(&mut |_| {})?;
        self.sink.close()?;
        let delivered = self.sink.delivered_through()?;
        Ok((self.sent, delivered))
    }
}
