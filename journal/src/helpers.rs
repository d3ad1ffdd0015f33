//! Where the journal's helper threads (prefault, segment preparation) run:
//! anywhere but the appending thread's core.
//!
//! A thread inherits its creator's CPU affinity. When a writer is created
//! on a thread pinned to one core (a benchmark, or a journaler pinned
//! before it opens the journal), its helpers would otherwise share that
//! core and preempt the appender for a whole scheduler slice each time
//! they wake, which showed as 2-7 ms appends at each half-segment. This
//! only widens a helper's affinity; it never pins anything.

use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

/// The creating thread's CPUs, captured before a helper is spawned.
pub(crate) struct Creator(Option<usize>);

impl Creator {
    /// The single CPU the calling thread is pinned to, if it is.
    pub(crate) fn current() -> Creator {
        let Ok(set) = sched_getaffinity(None) else {
            return Creator(None);
        };
        let mut cpus = (0..CpuSet::MAX_CPU).filter(|&cpu| set.is_set(cpu));
        match (cpus.next(), cpus.next()) {
            (Some(only), None) => Creator(Some(only)),
            _ => Creator(None),
        }
    }

    /// Called first thing on the helper thread: if the creator was pinned
    /// to one CPU, allow every other CPU instead. Where that leaves none
    /// (a one-CPU host or cgroup) the kernel refuses and nothing changes.
    pub(crate) fn keep_off(&self) {
        let Some(pinned) = self.0 else {
            return;
        };
        let mut others = CpuSet::new();
        for cpu in (0..CpuSet::MAX_CPU).filter(|&cpu| cpu != pinned) {
            others.set(cpu);
        }
        let _ = sched_setaffinity(None, &others);
    }
}
