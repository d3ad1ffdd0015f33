//! How an idle stage waits, by its [`WaitMode`], and who wakes a parked one.
//!
//! Every mode starts from one escalation: a stage that keeps finding
//! nothing spins for [`PARK_SPINS`] polls, then yields until
//! [`PARK_YIELDS`], then sleeps. [`WaitMode::idle`] sleeps [`PARK_SLEEP`]
//! at a time, for stages nobody wakes (ingress polling its source, a stage
//! retrying a full ring). A [`Sleeper`] is what a stage that others feed
//! uses instead: past yielding, it raises its `sleeping` flag, looks at its
//! inbox once more, and parks for at most [`PARK_CAP`]. The stage that
//! feeds it wakes it after publishing: ingress wakes the journaler and the
//! matcher, the matcher wakes egress, and the journaler wakes egress when
//! the durable sequence moves. Both sides put a `SeqCst` fence between
//! their store and their load (Dekker's pattern), so either the sleeper
//! sees the new item on its last look, or the feeder sees the flag and
//! unparks it; an unpark before the park makes the park return at once.
//! The cap bounds what a stage that nobody wakes (egress reaping Kafka
//! acknowledgements) waits.
//!
//! In `spin` and `yield` mode nothing here sleeps, and nothing here
//! allocates after a stage registers its thread.

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::thread::Thread;
use std::time::Duration;

use crate::threads::{PARK_SLEEP, WaitMode};

/// The longest a parked stage sleeps without being woken.
pub(crate) const PARK_CAP: Duration = Duration::from_millis(10);
/// Idle polls a parking stage spins through before it yields.
pub(crate) const PARK_SPINS: u32 = 64;
/// Idle polls (spins included) before it prepares to sleep.
pub(crate) const PARK_YIELDS: u32 = PARK_SPINS + 256;

thread_local! {
    // Idle polls since this thread last found work; `const`, so reading it
    // never allocates.
    static IDLE_STREAK: Cell<u32> = const { Cell::new(0) };
}

/// What the next idle poll of a `park`-mode thread does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escalation {
    Spin,
    Yield,
    /// Spun and yielded its fill: time to sleep.
    Sleep,
}

/// Counts one idle poll of the calling thread and says what it does.
fn escalate() -> Escalation {
    let streak = IDLE_STREAK.with(|s| {
        let n = s.get();
        s.set(n.saturating_add(1));
        n
    });
    if streak < PARK_SPINS {
        Escalation::Spin
    } else if streak < PARK_YIELDS {
        Escalation::Yield
    } else {
        Escalation::Sleep
    }
}

/// Whether the calling thread has spun and yielded its fill and would now
/// sleep.
pub(crate) fn past_yielding() -> bool {
    IDLE_STREAK.with(|s| s.get()) >= PARK_YIELDS
}

impl WaitMode {
    /// Waits a moment, by this mode. In `park` mode, past the spins and
    /// yields it sleeps [`PARK_SLEEP`]: for a thread that nobody wakes.
    #[inline]
    pub fn idle(self) {
        match self {
            WaitMode::Spin => std::hint::spin_loop(),
            WaitMode::Yield => std::thread::yield_now(),
            WaitMode::Park => match escalate() {
                Escalation::Spin => std::hint::spin_loop(),
                Escalation::Yield => std::thread::yield_now(),
                Escalation::Sleep => std::thread::sleep(PARK_SLEEP),
            },
        }
    }

    /// Says the calling thread found work, so its next wait starts with
    /// spinning again.
    #[inline]
    pub fn busy(self) {
        if self == WaitMode::Park {
            IDLE_STREAK.with(|s| s.set(0));
        }
    }
}

/// One stage thread that may park.
#[derive(Debug, Default)]
pub(crate) struct Sleeper {
    sleeping: AtomicBool,
    thread: OnceLock<Thread>,
}

impl Sleeper {
    /// Called by the stage's own thread before its loop.
    pub fn register(&self) {
        let _ = self.thread.set(std::thread::current());
    }

    /// One idle step of the stage: spin, yield, then announce the sleep
    /// (returning so the caller looks at its inbox once more), then park.
    pub fn idle(&self, wait: WaitMode) {
        if wait != WaitMode::Park {
            return wait.idle();
        }
        match escalate() {
            Escalation::Spin => std::hint::spin_loop(),
            Escalation::Yield => std::thread::yield_now(),
            Escalation::Sleep if !self.sleeping.load(Ordering::Relaxed) => {
                self.sleeping.store(true, Ordering::SeqCst);
                fence(Ordering::SeqCst);
            }
            Escalation::Sleep => std::thread::park_timeout(PARK_CAP),
        }
    }

    /// The stage found work: it is awake, and spins first next time.
    #[inline]
    pub fn busy(&self, wait: WaitMode) {
        wait.busy();
        if wait == WaitMode::Park && self.sleeping.load(Ordering::Relaxed) {
            self.sleeping.store(false, Ordering::Relaxed);
        }
    }

    /// Called by a feeder after it published: wakes the stage if it sleeps.
    #[inline]
    pub fn wake(&self, wait: WaitMode) {
        if wait != WaitMode::Park {
            return;
        }
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed)
            && let Some(thread) = self.thread.get()
        {
            thread.unpark();
        }
    }
}

/// The sleepers of the stages that others feed.
#[derive(Debug, Default)]
pub(crate) struct Sleepers {
    pub journal: Sleeper,
    pub matcher: Sleeper,
    pub egress: Sleeper,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;
    use std::time::Instant;

    use super::*;

    /// A sleeper parked for good is woken by its feeder well within the cap.
    #[test]
    fn a_feeder_wakes_a_parked_stage() {
        let sleeper = Arc::new(Sleeper::default());
        let item = Arc::new(AtomicU64::new(0));
        let consumer = {
            let sleeper = Arc::clone(&sleeper);
            let item = Arc::clone(&item);
            std::thread::spawn(move || {
                sleeper.register();
                let mut parks = 0;
                loop {
                    if item.load(Ordering::Acquire) != 0 {
                        sleeper.busy(WaitMode::Park);
                        return (Instant::now(), parks);
                    }
                    sleeper.idle(WaitMode::Park);
                    parks += 1;
                }
            })
        };
        // Long enough for the consumer to be parked.
        std::thread::sleep(Duration::from_millis(50));
        let published = Instant::now();
        item.store(1, Ordering::Release);
        sleeper.wake(WaitMode::Park);
        let (seen, parks) = consumer.join().unwrap();
        assert!(parks > PARK_YIELDS, "it went to sleep ({parks} idle steps)");
        // Generous for a loaded CI host; the cap is 10 ms, and a missed
        // wake would wait it out.
        assert!(
            seen.duration_since(published) < PARK_CAP,
            "woken after {:?}",
            seen.duration_since(published)
        );
    }
}
