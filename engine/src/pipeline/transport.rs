//! The rings between stages, behind two small traits so each stage's loop is
//! written once and runs over either transport.
//!
//! The product uses the `disruptor` crate: preallocated slots, no locks, and
//! consumers that poll so each stage can do its own idle work (the journaler
//! reaps `io_uring` completions, egress flushes). Neither side blocks in the
//! kernel for a ring: when there is nothing to do, a stage waits by its
//! [`WaitMode`](crate::threads::WaitMode) (`super::wait`).
//!
//! Bounded `crossbeam` channels are the other transport, and they exist only
//! so that `bench pipeline` can compare the two rings under the same stage
//! loops in one run. They sit behind the `crossbeam-rings` feature, which
//! `bench` turns on and the `engine` binary does not, so the product carries
//! none of it. They stay here rather than in `bench` because the comparison
//! is only fair over these very loops, and handing them to another crate
//! would make the stages' private ring traits and slot types public API.

use std::str::FromStr;

#[cfg(feature = "crossbeam-rings")]
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use disruptor::{EventPoller, Polling, Producer, SingleProducerBarrier};

/// Which ring implementation connects the stages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingKind {
    /// `disruptor` rings: the product's choice.
    Disruptor,
    /// Bounded `crossbeam` channels, for comparison in benchmarks
    /// (feature `crossbeam-rings`).
    #[cfg(feature = "crossbeam-rings")]
    Crossbeam,
}

impl RingKind {
    /// The name, as the command line spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            RingKind::Disruptor => "disruptor",
            #[cfg(feature = "crossbeam-rings")]
            RingKind::Crossbeam => "crossbeam",
        }
    }
}

impl FromStr for RingKind {
    type Err = String;
    fn from_str(text: &str) -> Result<RingKind, String> {
        match text {
            "disruptor" => Ok(RingKind::Disruptor),
            #[cfg(feature = "crossbeam-rings")]
            "crossbeam" => Ok(RingKind::Crossbeam),
            #[cfg(not(feature = "crossbeam-rings"))]
            "crossbeam" => Err(
                "this build has no crossbeam rings; build with the engine crate's \
                 crossbeam-rings feature (bench does)"
                    .into(),
            ),
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

/// What a look-ahead drain asks of its visitor for one item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ahead {
    /// The item will be handled [`FAR`] items from now: start fetching it.
    Far,
    /// [`NEAR`] items from now: start fetching what it will look up.
    Near,
    /// Handle it now.
    Now,
}

/// How many items ahead `Ahead::Far` comes: the matcher fetches a
/// command's slot this far ahead.
pub const FAR: usize = 16;
/// How many items ahead `Ahead::Near` comes: the matcher fetches the index
/// bucket of a command's ids this far ahead. Eight covers a memory round
/// trip at the matcher's per-command cost; 4 to 16 measured the same.
pub const NEAR: usize = 8;

/// The consuming end of a ring.
pub(crate) trait Inbox<T>: Send {
    /// Hands at most `max` waiting items to `each`, in order.
    fn drain(&mut self, max: u64, each: &mut dyn FnMut(&T)) -> Drained;

    /// As `drain`, but shows each item to `visit` three times, in order of
    /// the sequence: [`Ahead::Far`] [`FAR`] items before it is handled,
    /// [`Ahead::Near`] [`NEAR`] items before, then [`Ahead::Now`] (near the
    /// end of a batch, as early as the batch allows). The matcher prefetches
    /// across a batch this way: the command's slot first, then the index
    /// bucket its ids hash to, which needs the slot in cache.
    fn drain_ahead(&mut self, max: u64, visit: &mut dyn FnMut(Ahead, &T)) -> Drained;
}

/// Feeds `items` to `visit` with look-ahead, as [`Inbox::drain_ahead`]
/// describes. Holds at most [`FAR`] items, in a fixed array.
fn look_ahead<I: Copy>(items: impl Iterator<Item = I>, visit: &mut dyn FnMut(Ahead, I)) -> bool {
    const SPAN: usize = FAR - NEAR;
    let mut window: [Option<I>; FAR] = [None; FAR];
    let (mut head, mut held) = (0usize, 0usize);
    let mut any = false;
    for item in items {
        any = true;
        visit(Ahead::Far, item);
        window[(head + held) % FAR] = Some(item);
        held += 1;
        if held > SPAN
            && let Some(near) = window[(head + held - 1 - SPAN) % FAR]
        {
            visit(Ahead::Near, near);
        }
        if held == FAR {
            if let Some(now) = window[head].take() {
                visit(Ahead::Now, now);
            }
            head = (head + 1) % FAR;
            held -= 1;
        }
    }
    // The batch ended: the newest items have not been shown as near yet.
    for k in held.saturating_sub(SPAN)..held {
        if let Some(near) = window[(head + k) % FAR] {
            visit(Ahead::Near, near);
        }
    }
    for k in 0..held {
        if let Some(now) = window[(head + k) % FAR].take() {
            visit(Ahead::Now, now);
        }
    }
    any
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

    fn drain_ahead(&mut self, max: u64, visit: &mut dyn FnMut(Ahead, &T)) -> Drained {
        match self.take(max) {
            // The guard lends every item of the batch for as long as it
            // lives, so the window holds references into the ring.
            Ok(mut guard) => {
                look_ahead(&mut guard, &mut |ahead, item| visit(ahead, item));
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

#[cfg(feature = "crossbeam-rings")]
impl<T: Send + Copy> Inbox<T> for Receiver<T> {
    fn drain_ahead(&mut self, max: u64, visit: &mut dyn FnMut(Ahead, &T)) -> Drained {
        // A channel hands items over by value; the window holds copies.
        let mut taken = 0;
        let mut closed = false;
        let items = std::iter::from_fn(|| {
            if taken == max {
                return None;
            }
            match self.try_recv() {
                Ok(item) => {
                    taken += 1;
                    Some(item)
                }
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => {
                    closed = true;
                    None
                }
            }
        });
        let any = look_ahead(items, &mut |ahead, item| visit(ahead, &item));
        match (any, closed) {
            (true, _) => Drained::Some,
            (false, true) => Drained::Closed,
            (false, false) => Drained::Empty,
        }
    }

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
#[cfg(feature = "crossbeam-rings")]
pub(crate) struct ChannelOutbox<T>(pub Vec<Sender<T>>);

#[cfg(feature = "crossbeam-rings")]
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What `look_ahead` showed, with how many items had been shown as
    /// far at that moment.
    fn visits(n: usize) -> Vec<(Ahead, usize, usize)> {
        let mut seen = Vec::new();
        let mut fars = 0;
        look_ahead(0..n, &mut |ahead, item| {
            if ahead == Ahead::Far {
                fars += 1;
            }
            seen.push((ahead, item, fars));
        });
        seen
    }

    #[test]
    fn every_item_is_shown_far_then_near_then_handled_in_order() {
        for n in [0, 1, 3, NEAR, NEAR + 1, FAR - 1, FAR, FAR + 1, 3 * FAR + 5] {
            let seen = visits(n);
            let of = |stage| -> Vec<usize> {
                seen.iter().filter(|v| v.0 == stage).map(|v| v.1).collect()
            };
            let all: Vec<usize> = (0..n).collect();
            assert_eq!(of(Ahead::Now), all, "{n}: handled in order");
            assert_eq!(of(Ahead::Far), all, "{n}");
            let mut near = of(Ahead::Near);
            near.sort_unstable();
            assert_eq!(near, all, "{n}: each shown near once");
            for item in 0..n {
                let at = |stage| seen.iter().position(|v| v.0 == stage && v.1 == item);
                assert!(at(Ahead::Far) < at(Ahead::Near), "{n}: {item}");
                assert!(at(Ahead::Near) < at(Ahead::Now), "{n}: {item}");
                // Inside a long batch, at the distances promised.
                let fars_at = |stage| seen[at(stage).unwrap()].2;
                assert_eq!(fars_at(Ahead::Now), (item + FAR).min(n), "{n}: {item}");
                assert_eq!(
                    fars_at(Ahead::Near),
                    (item + FAR - NEAR + 1).min(n),
                    "{n}: {item}"
                );
            }
        }
    }

    #[cfg(feature = "crossbeam-rings")]
    #[test]
    fn a_channel_drains_ahead_what_it_holds_and_then_reports_closed() {
        let (tx, mut rx) = crossbeam_channel::bounded(64);
        for i in 0..40u32 {
            tx.send(i).unwrap();
        }
        let mut handled = Vec::new();
        let mut visit = |ahead: Ahead, item: &u32| {
            if ahead == Ahead::Now {
                handled.push(*item);
            }
        };
        assert!(matches!(rx.drain_ahead(30, &mut visit), Drained::Some));
        assert!(matches!(rx.drain_ahead(30, &mut visit), Drained::Some));
        assert!(matches!(rx.drain_ahead(30, &mut visit), Drained::Empty));
        drop(tx);
        assert!(matches!(rx.drain_ahead(30, &mut visit), Drained::Closed));
        assert_eq!(handled, (0..40).collect::<Vec<_>>());
    }
}
