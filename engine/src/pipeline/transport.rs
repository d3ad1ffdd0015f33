//! The rings between stages, behind two small traits so each stage's loop is
//! written once and runs over either transport.
//!
//! The product uses the `disruptor` crate: preallocated slots, no locks, and
//! consumers that poll so each stage can do its own idle work (the journaler
//! reaps `io_uring` completions, egress flushes). `crossbeam` channels exist
//! only so the pipeline benchmark can compare the two in one run. Neither
//! side blocks in the kernel: when there is nothing to do, a stage calls
//! [`WaitMode::idle`].

use std::str::FromStr;

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use disruptor::{EventPoller, Polling, Producer, SingleProducerBarrier};

/// How an idle stage waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitMode {
    /// Busy-spin: the lowest latency, for threads that own a core each.
    Spin,
    /// Yield the core to the scheduler between polls: for hosts where
    /// pipeline threads share cores. Spinning there can starve a thread
    /// for a whole scheduler slice.
    Yield,
}

impl WaitMode {
    /// Waits a moment, by this mode.
    #[inline]
    pub fn idle(self) {
        match self {
            WaitMode::Spin => std::hint::spin_loop(),
            WaitMode::Yield => std::thread::yield_now(),
        }
    }

    /// The mode's name, as the command line spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitMode::Spin => "spin",
            WaitMode::Yield => "yield",
        }
    }
}

impl FromStr for WaitMode {
    type Err = String;
    fn from_str(text: &str) -> Result<WaitMode, String> {
        match text {
            "spin" => Ok(WaitMode::Spin),
            "yield" => Ok(WaitMode::Yield),
            other => Err(format!("unknown wait mode {other:?}; use spin or yield")),
        }
    }
}

/// Which ring implementation connects the stages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingKind {
    /// `disruptor` rings: the product's choice.
    Disruptor,
    /// Bounded `crossbeam` channels, for comparison in benchmarks.
    Crossbeam,
}

impl RingKind {
    /// The name, as the command line spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            RingKind::Disruptor => "disruptor",
            RingKind::Crossbeam => "crossbeam",
        }
    }
}

impl FromStr for RingKind {
    type Err = String;
    fn from_str(text: &str) -> Result<RingKind, String> {
        match text {
            "disruptor" => Ok(RingKind::Disruptor),
            "crossbeam" => Ok(RingKind::Crossbeam),
            other => Err(format!(
                "unknown ring {other:?}; use disruptor or crossbeam"
            )),
        }
    }
}

/// What one poll of an inbox found.
pub(crate) enum Drained {
    /// At least one item was handed over.
    Some,
    /// Nothing yet.
    Empty,
    /// The producer is gone and everything it sent has been handed over.
    Closed,
}

/// The consuming end of a ring.
pub(crate) trait Inbox<T>: Send {
    /// Hands at most `max` waiting items to `each`, in order.
    fn drain(&mut self, max: u64, each: &mut dyn FnMut(&T)) -> Drained;
}

/// The producing end of a ring. Dropping it closes the ring.
pub(crate) trait Outbox<T>: Send {
    /// Copies `item` into the ring, or returns `false` when it is full.
    fn try_put(&mut self, item: &T) -> bool;
}

impl<T: Send + Sync> Inbox<T> for EventPoller<T, SingleProducerBarrier> {
    fn drain(&mut self, max: u64, each: &mut dyn FnMut(&T)) -> Drained {
        match self.take(max) {
            Ok(mut guard) => {
                for item in &mut guard {
                    each(item);
                }
                Drained::Some
            }
            Err(Polling::NoEvents) => Drained::Empty,
            Err(Polling::Shutdown) => Drained::Closed,
        }
    }
}

/// A `disruptor` producer as an outbox.
pub(crate) struct RingOutbox<P>(pub P);

impl<T: Copy + Send + Sync, P: Producer<T> + Send> Outbox<T> for RingOutbox<P> {
    #[inline]
    fn try_put(&mut self, item: &T) -> bool {
        self.0.try_publish(|slot| *slot = *item).is_ok()
    }
}

impl<T: Send> Inbox<T> for Receiver<T> {
    fn drain(&mut self, max: u64, each: &mut dyn FnMut(&T)) -> Drained {
        let mut taken = 0;
        while taken < max {
            match self.try_recv() {
                Ok(item) => {
                    each(&item);
                    taken += 1;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) if taken == 0 => return Drained::Closed,
                Err(TryRecvError::Disconnected) => break,
            }
        }
        if taken == 0 {
            Drained::Empty
        } else {
            Drained::Some
        }
    }
}

/// Bounded channels as an outbox: every item goes to every channel, the way
/// every consumer of a disruptor ring sees every slot.
pub(crate) struct ChannelOutbox<T>(pub Vec<Sender<T>>);

impl<T: Copy + Send> Outbox<T> for ChannelOutbox<T> {
    fn try_put(&mut self, item: &T) -> bool {
        // One producer: a channel that has room now still has it after the
        // check, so all-or-nothing needs no lock.
        if self.0.iter().any(Sender::is_full) {
            return false;
        }
        for sender in &self.0 {
            // A receiver that is gone has stopped; the pipeline reports why.
            let _ = sender.try_send(*item);
        }
        true
    }
}
