//! What stamps command time at ingress, and the rule that the stamps never
//! go backwards.
//!
//! Under [`IngressClock::Wall`] each input gets the wall clock's time, as a
//! [`WallClock`] reads it, but never less than the stamp before it: when
//! the clock steps back (NTP, an operator), stamps hold at the last one
//! until the clock catches up, and each such input is counted
//! (`engine_ingress_clock_clamped_total`). After a restart the first stamp
//! is held at the journal's last one too. So the journal's timestamps are
//! non-decreasing along the log, which `replay`'s searches by time rely on
//! (`book --at TIME`, `dump --since`), and trades never carry a time
//! earlier than the trade before them.
//!
//! Only ingress reads the clock; the matcher takes time from the command.

use std::fmt::Debug;
use std::sync::Arc;

use crate::endpoint::now_ns;

/// What ingress stamps into each command's `ts` (the time trades carry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngressClock {
    /// Wall-clock nanoseconds since the Unix epoch, never decreasing:
    /// production.
    Wall,
    /// The input's sequence number: two runs over the same input give
    /// byte-identical outputs, for tests and backtests.
    Sequence,
}

impl std::str::FromStr for IngressClock {
    type Err = String;
    fn from_str(text: &str) -> Result<IngressClock, String> {
        match text {
            "wall" => Ok(IngressClock::Wall),
            "sequence" => Ok(IngressClock::Sequence),
            other => Err(format!("unknown clock {other:?}; use wall or sequence")),
        }
    }
}

/// Where [`IngressClock::Wall`] reads the time: the system's clock, or in
/// tests one that steps back on cue.
pub trait WallClock: Debug + Send + Sync {
    /// Nanoseconds since the Unix epoch. May go backwards; ingress holds
    /// its stamps so that they do not.
    fn now_ns(&self) -> u64;
}

/// The system's real-time clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl WallClock for SystemClock {
    fn now_ns(&self) -> u64 {
        now_ns()
    }
}

/// The ingress thread's stamper.
#[derive(Debug)]
pub(crate) struct Stamper {
    clock: IngressClock,
    wall: Arc<dyn WallClock>,
    /// The last stamp given, or the journal's last at start.
    last: u64,
    /// Whether the last stamp was held up (the clock behind it).
    holding: bool,
    /// Inputs whose wall-clock time was raised to the last stamp.
    pub clamped: u64,
}

/// One input's times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// The command time: journaled, and what trades carry.
    pub ts: u64,
    /// The wall clock as read, for latency figures measured from ingress.
    pub now: u64,
}

impl Stamper {
    /// A stamper whose first stamp is at least `last_journaled`, the
    /// journal's last stamp (0 for an empty journal).
    pub fn new(clock: IngressClock, wall: Arc<dyn WallClock>, last_journaled: u64) -> Stamper {
        Stamper {
            clock,
            wall,
            last: last_journaled,
            holding: false,
            clamped: 0,
        }
    }

    /// Stamps input `seq`.
    #[inline]
    pub fn stamp(&mut self, seq: u64) -> Stamp {
        let now = self.wall.now_ns();
        let ts = match self.clock {
            IngressClock::Sequence => seq,
            IngressClock::Wall if now >= self.last => {
                self.holding = false;
                now
            }
            IngressClock::Wall => {
                // Once per step back, not once per input it holds.
                if !self.holding {
                    tracing::warn!(
                        behind_ms = (self.last - now) / 1_000_000,
                        "the wall clock is behind the last ingress stamp (it stepped back); \
                         stamps hold at the last one until it catches up"
                    );
                }
                self.holding = true;
                self.clamped += 1;
                self.last
            }
        };
        self.last = ts;
        Stamp { ts, now }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A clock that reads from a script, then repeats its last value.
    #[derive(Debug)]
    struct Script(Mutex<Vec<u64>>);

    impl WallClock for Script {
        fn now_ns(&self) -> u64 {
            let mut times = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if times.len() > 1 {
                times.remove(0)
            } else {
                times[0]
            }
        }
    }

    fn stamps(clock: IngressClock, last_journaled: u64, times: &[u64]) -> (Vec<u64>, u64) {
        let wall = Arc::new(Script(Mutex::new(times.to_vec())));
        let mut stamper = Stamper::new(clock, wall, last_journaled);
        let ts = (1..=times.len() as u64)
            .map(|seq| stamper.stamp(seq).ts)
            .collect();
        (ts, stamper.clamped)
    }

    #[test]
    fn a_clock_that_steps_back_holds_the_stamps_until_it_catches_up() {
        // Up to 50, back to 20 (held at 50 three times), then past 50.
        let (ts, clamped) = stamps(IngressClock::Wall, 0, &[10, 30, 50, 20, 30, 40, 60, 70]);
        assert_eq!(ts, [10, 30, 50, 50, 50, 50, 60, 70]);
        assert_eq!(clamped, 3);
    }

    #[test]
    fn the_first_stamp_after_a_restart_is_held_at_the_journals_last() {
        let (ts, clamped) = stamps(IngressClock::Wall, 100, &[90, 95, 101]);
        assert_eq!(ts, [100, 100, 101]);
        assert_eq!(clamped, 2);
    }

    #[test]
    fn the_sequence_clock_ignores_the_wall_clock() {
        let (ts, clamped) = stamps(IngressClock::Sequence, 7, &[50, 10, 5]);
        assert_eq!(ts, [1, 2, 3]);
        assert_eq!(clamped, 0);
    }
}
