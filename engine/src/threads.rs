//! The pipeline's threads as plain data: which core each one runs on, and
//! how an idle one waits.
//!
//! This is the part of the server's thread layout that needs no threads:
//! the `tuning` crate plans and checks hosts with it, and the engine binary
//! chooses its wait mode with it, without building the rings or the
//! journal. It reads nothing and pins nothing; the pipeline does both.

use std::str::FromStr;
use std::time::Duration;

/// How an idle stage waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitMode {
    /// Busy-spin: the lowest latency, for threads that own a core each.
    Spin,
    /// Yield the core to the scheduler between polls: for hosts where
    /// pipeline threads share cores. Spinning there can starve a thread
    /// for a whole scheduler slice. An idle engine still keeps a core busy.
    Yield,
    /// Spin briefly, then yield, then park until the stage that feeds it
    /// wakes it (the pipeline's `wait` module): an idle engine takes about 1% of a core,
    /// and an input wakes it in well under a millisecond. For laptops, the
    /// demo, CI, and any host whose pipeline threads lack isolated cores.
    Park,
}

/// How long a thread in [`WaitMode::Park`] that nobody wakes (a source
/// without a blocking wait, a full ring) sleeps before it looks again.
pub const PARK_SLEEP: Duration = Duration::from_millis(1);

impl WaitMode {
    /// The mode's name, as the command line spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitMode::Spin => "spin",
            WaitMode::Yield => "yield",
            WaitMode::Park => "park",
        }
    }
}

impl FromStr for WaitMode {
    type Err = String;
    fn from_str(text: &str) -> Result<WaitMode, String> {
        match text {
            "spin" => Ok(WaitMode::Spin),
            "yield" => Ok(WaitMode::Yield),
            "park" => Ok(WaitMode::Park),
            other => Err(format!(
                "unknown wait mode {other:?}; use spin, yield or park"
            )),
        }
    }
}

/// The four pipeline threads that poll a ring.
pub const PIPELINE_THREADS: [&str; 4] = ["ingress", "journal", "matcher", "egress"];

/// A core per pipeline thread; `None` leaves a thread to the scheduler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CorePlan {
    /// The thread that polls the source and publishes to the input ring.
    pub ingress: Option<usize>,
    /// The journaler.
    pub journal: Option<usize>,
    /// The sequencer and matcher.
    pub matcher: Option<usize>,
    /// The thread that gates, batches and delivers outputs.
    pub egress: Option<usize>,
}

impl CorePlan {
    /// The default for a host with `cores` CPUs: core 0 is left to the OS
    /// and helper threads when there are enough; otherwise the matcher gets
    /// the last core and the rest share the others.
    pub fn for_host(cores: usize) -> CorePlan {
        if cores >= 5 {
            CorePlan {
                ingress: Some(1),
                journal: Some(2),
                matcher: Some(3),
                egress: Some(4),
            }
        } else if cores >= 2 {
            let shared = Some(0);
            CorePlan {
                ingress: shared,
                journal: shared,
                matcher: Some(cores - 1),
                egress: shared,
            }
        } else {
            CorePlan::default()
        }
    }

    /// `(thread, core)` in [`PIPELINE_THREADS`] order.
    pub fn entries(&self) -> [(&'static str, Option<usize>); 4] {
        [
            ("ingress", self.ingress),
            ("journal", self.journal),
            ("matcher", self.matcher),
            ("egress", self.egress),
        ]
    }

    /// Whether every pipeline thread has a core of its own, which is what
    /// busy-spinning needs.
    pub(crate) fn has_dedicated_cores(&self, available: usize) -> bool {
        let cores: Vec<usize> = self.entries().iter().filter_map(|(_, c)| *c).collect();
        let mut distinct = cores.clone();
        distinct.sort_unstable();
        distinct.dedup();
        cores.len() == PIPELINE_THREADS.len()
            && distinct.len() == cores.len()
            && cores.iter().all(|&c| c < available)
    }

    /// The wait mode to run with: `asked`, unless spinning was asked for
    /// without a core per thread, which parks instead. Unasked, it spins
    /// only when every pipeline thread has an isolated core of its own, and
    /// parks otherwise, so an idle engine on a laptop, in the demo or in CI
    /// leaves the cores to others. The second value says why spinning was
    /// not chosen, for the start-up table.
    pub fn choose_wait(
        &self,
        asked: Option<WaitMode>,
        available: usize,
        isolated: &[usize],
    ) -> (WaitMode, Option<String>) {
        let dedicated = self.has_dedicated_cores(available);
        let all_isolated = dedicated
            && self
                .entries()
                .iter()
                .all(|(_, core)| core.is_some_and(|c| isolated.contains(&c)));
        match asked {
            Some(mode @ (WaitMode::Yield | WaitMode::Park)) => (mode, None),
            Some(WaitMode::Spin) if dedicated => (WaitMode::Spin, None),
            None if all_isolated => (WaitMode::Spin, None),
            Some(WaitMode::Spin) => (
                WaitMode::Park,
                Some(format!(
                    "the {} pipeline threads do not each have a core of their own on this \
                     {available}-core host, so they park (spin, yield, then sleep) instead of \
                     busy-spinning",
                    PIPELINE_THREADS.len()
                )),
            ),
            None => (
                WaitMode::Park,
                Some(format!(
                    "the {} pipeline threads do not each have an isolated core, so idle ones \
                     park (spin, yield, then sleep until fed) and an idle engine leaves the \
                     cores to others; --wait spin busy-spins on dedicated cores",
                    PIPELINE_THREADS.len(),
                )),
            ),
        }
    }
}

impl FromStr for CorePlan {
    type Err = String;

    /// Parses `ingress=N,journal=N,matcher=N,egress=N`; threads left out
    /// are not pinned.
    fn from_str(text: &str) -> Result<CorePlan, String> {
        let mut plan = CorePlan::default();
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let (thread, core) = part.split_once('=').ok_or_else(|| {
                format!(
                    "{part:?} is not THREAD=CORE; write e.g. ingress=1,journal=2,matcher=3,egress=4"
                )
            })?;
            let core: usize = core
                .trim()
                .parse()
                .map_err(|_| format!("core {core:?} for {thread} is not a number"))?;
            let slot = match thread.trim() {
                "ingress" => &mut plan.ingress,
                "journal" => &mut plan.journal,
                "matcher" => &mut plan.matcher,
                "egress" => &mut plan.egress,
                other => {
                    return Err(format!(
                        "unknown thread {other:?}; the threads are ingress, journal, matcher, egress"
                    ));
                }
            };
            *slot = Some(core);
        }
        Ok(plan)
    }
}

/// Parses a kernel cpulist; malformed parts are ignored.
pub fn parse_cpu_list(text: &str) -> Vec<usize> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    cpus.extend(a..=b);
                }
            }
            None => cpus.extend(part.parse::<usize>().ok()),
        }
    }
    cpus
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plans_and_rejects_unknown_threads() {
        let plan: CorePlan = "ingress=1,journal=2,matcher=3,egress=4".parse().unwrap();
        assert!(plan.has_dedicated_cores(8));
        assert!(!plan.has_dedicated_cores(4));
        assert!(
            "matcher=x"
                .parse::<CorePlan>()
                .unwrap_err()
                .contains("not a number")
        );
        assert!(
            "gpu=1"
                .parse::<CorePlan>()
                .unwrap_err()
                .contains("unknown thread")
        );
    }

    #[test]
    fn two_cores_share_and_fall_back_to_park() {
        let plan = CorePlan::for_host(2);
        assert_eq!(plan.matcher, Some(1));
        let (wait, why) = plan.choose_wait(Some(WaitMode::Spin), 2, &[]);
        assert_eq!(wait, WaitMode::Park);
        assert!(why.unwrap().contains("park"));
        assert_eq!(plan.choose_wait(None, 2, &[]).0, WaitMode::Park);
        assert_eq!(
            plan.choose_wait(Some(WaitMode::Yield), 2, &[]),
            (WaitMode::Yield, None)
        );
    }

    #[test]
    fn only_isolated_dedicated_cores_spin_by_default() {
        let plan: CorePlan = "ingress=2,journal=3,matcher=4,egress=5".parse().unwrap();
        assert_eq!(
            plan.choose_wait(None, 16, &[2, 3, 4, 5]),
            (WaitMode::Spin, None)
        );
        // Dedicated but not isolated: park unless spinning is asked for.
        assert_eq!(plan.choose_wait(None, 16, &[2, 3]).0, WaitMode::Park);
        assert_eq!(
            plan.choose_wait(Some(WaitMode::Spin), 16, &[]),
            (WaitMode::Spin, None)
        );
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("2-4,7\n"), vec![2, 3, 4, 7]);
        assert!(parse_cpu_list("\n").is_empty());
    }
}
