//! Pinning the benchmark thread to a core.
//!
//! A benchmark pins itself only when the machine has a core to spare: on a
//! one-core machine pinning buys nothing. The last core is the default
//! because the kernel tends to steer interrupts to core 0.

/// Where the current thread ended up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pinning {
    /// Pinned to this core id.
    Pinned(usize),
    /// Not pinned, and why.
    Unpinned(String),
}

impl std::fmt::Display for Pinning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pinning::Pinned(core) => write!(f, "pinned to core {core}"),
            Pinning::Unpinned(why) => write!(f, "not pinned: {why}"),
        }
    }
}

/// Pins the calling thread to `core`, or to the last core when `None`.
pub fn pin_current_thread(core: Option<usize>) -> Pinning {
    let Some(cores) = core_affinity::get_core_ids() else {
        return Pinning::Unpinned("the core list is not available".into());
    };
    let chosen = match core {
        Some(wanted) => match cores.iter().find(|c| c.id == wanted) {
            Some(c) => *c,
            None => {
                let ids: Vec<usize> = cores.iter().map(|c| c.id).collect();
                return Pinning::Unpinned(format!("core {wanted} is not one of {ids:?}"));
            }
        },
        None if cores.len() < 2 => return Pinning::Unpinned("only one core".into()),
        None => match cores.last() {
            Some(c) => *c,
            None => return Pinning::Unpinned("no cores reported".into()),
        },
    };
    if core_affinity::set_for_current(chosen) {
        Pinning::Pinned(chosen.id)
    } else {
        Pinning::Unpinned(format!("the OS refused core {}", chosen.id))
    }
}

/// The wait mode for a benchmark run: as asked, else what the engine would
/// choose, except that a benchmark yields where the engine would park, so
/// a sleep does not count as latency. Prints why spinning was not chosen.
pub fn bench_wait(
    cores: &engine::threads::CorePlan,
    asked: Option<engine::threads::WaitMode>,
    available: usize,
) -> engine::threads::WaitMode {
    use engine::threads::WaitMode;
    let isolated = tuning::Host::real().isolated();
    let (wait, why) = cores.choose_wait(asked, available, &isolated);
    if let Some(why) = why {
        eprintln!("bench: {why}");
    }
    if asked.is_none() && wait == WaitMode::Park {
        eprintln!("bench: yielding instead of parking, so a sleep does not count as latency");
        return WaitMode::Yield;
    }
    wait
}
