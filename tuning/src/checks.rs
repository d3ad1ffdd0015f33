//! The host checks of `tuning check`, and the engine's start-up table,
//! which calls the same functions.
//!
//! Each check reads [`Host`] (so tests point it at fixture trees), compares
//! what it finds with what a low-latency run needs on the pipeline's cores,
//! and says so as a [`Check`]: name, required, current, severity, passed.
//! Checks that need time (interrupts or context switches over a second)
//! are pure functions of two readings; [`run`] takes the readings. Nothing
//! here changes the host.

use std::path::PathBuf;
use std::time::Duration;

use engine::threads::{CorePlan, parse_cpu_list};
use serde::Serialize;

use crate::host::{Host, cpu_list_text};

/// How much a failed check matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The run's latency figures mean nothing: `tuning check` exits 1.
    Fatal,
    /// Costs tail latency.
    Warn,
    /// Worth knowing; no cost measured.
    Info,
}

impl Severity {
    /// As the table prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Fatal => "fatal",
            Severity::Warn => "warn",
            Severity::Info => "info",
        }
    }
}

/// One check's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// What is checked, e.g. `isolated cores`.
    pub name: String,
    /// What a tuned host has.
    pub required: String,
    /// What this host has.
    pub current: String,
    /// How much a failure matters.
    pub severity: Severity,
    /// Whether the host meets it.
    pub passed: bool,
}

fn check(
    name: &str,
    required: impl Into<String>,
    current: impl Into<String>,
    severity: Severity,
    passed: bool,
) -> Check {
    Check {
        name: name.to_string(),
        required: required.into(),
        current: current.into(),
        severity,
        passed,
    }
}

/// What the checks are about.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// The pipeline threads' cores.
    pub cores: CorePlan,
    /// A running engine to inspect.
    pub pid: Option<u32>,
    /// The journal directory, for its disk's scheduler.
    pub journal: Option<PathBuf>,
}

impl Context {
    /// The pipeline's distinct cores.
    pub(crate) fn pipeline_cpus(&self) -> Vec<usize> {
        let mut cpus: Vec<usize> = self
            .cores
            .entries()
            .iter()
            .filter_map(|(_, c)| *c)
            .collect();
        cpus.sort_unstable();
        cpus.dedup();
        cpus
    }
}

fn missing(cpus: &[usize], from: &[usize]) -> Vec<usize> {
    cpus.iter().copied().filter(|c| !from.contains(c)).collect()
}

fn list_or_none(cpus: &[usize]) -> String {
    if cpus.is_empty() {
        "none".into()
    } else {
        cpu_list_text(cpus)
    }
}

// ----- CPUs and isolation ---------------------------------------------------

/// The EC2 instance type from DMI, if the host is one.
pub fn instance_type(host: &Host) -> Option<String> {
    host.read("sys/devices/virtual/dmi/id/product_name")
        .filter(|name| name.contains('.'))
}

/// Which power states the OS controls on an EC2 instance type: AWS gives
/// C-state and P-state control on metal instances, C-states alone on the
/// largest virtual sizes, and neither below. `None`: not EC2, so assume
/// the OS controls both.
pub fn power_control(instance: Option<&str>) -> Option<(bool, bool)> {
    let size = instance?.split_once('.')?.1;
    Some(match size {
        "metal" => (true, true),
        "16xlarge" | "24xlarge" | "32xlarge" | "48xlarge" => (true, false),
        _ => (false, false),
    })
}

/// The instance type: the benchmark host is a c6i.4xlarge.
pub(crate) fn check_instance(host: &Host) -> Check {
    let instance = instance_type(host);
    check(
        "instance type",
        "c6i.4xlarge (the benchmark host)",
        instance
            .clone()
            .unwrap_or_else(|| "not EC2 (no DMI product name)".into()),
        Severity::Info,
        instance.as_deref() == Some("c6i.4xlarge"),
    )
}

/// Each pipeline core's SMT siblings are neither pipeline cores nor
/// busy: isolated, so nothing else runs on them.
pub(crate) fn check_smt(host: &Host, cx: &Context) -> Check {
    let pipeline = cx.pipeline_cpus();
    let isolated = host.isolated();
    let mut problems = Vec::new();
    for &cpu in &pipeline {
        for sibling in host.siblings(cpu).into_iter().filter(|&s| s != cpu) {
            if pipeline.contains(&sibling) {
                problems.push(format!("{cpu} shares a core with pipeline cpu {sibling}"));
            } else if !isolated.contains(&sibling) {
                problems.push(format!("{cpu}'s sibling {sibling} is not isolated"));
            }
        }
    }
    check(
        "SMT siblings of pipeline cores",
        "idle: isolated, and no pipeline thread",
        if problems.is_empty() {
            "ok".to_string()
        } else {
            problems.join("; ")
        },
        Severity::Warn,
        problems.is_empty(),
    )
}

/// The pipeline cores are isolated from the scheduler.
pub(crate) fn check_isolated(host: &Host, cx: &Context) -> Check {
    let pipeline = cx.pipeline_cpus();
    let isolated = host.isolated();
    let absent = missing(&pipeline, &isolated);
    check(
        "isolated cores",
        format!(
            "{} in sys/devices/system/cpu/isolated",
            list_or_none(&pipeline)
        ),
        list_or_none(&isolated),
        Severity::Fatal,
        !pipeline.is_empty() && absent.is_empty(),
    )
}

/// The pipeline cores run tickless.
pub(crate) fn check_nohz(host: &Host, cx: &Context) -> Check {
    let pipeline = cx.pipeline_cpus();
    let nohz = host.nohz_full();
    check(
        "nohz_full",
        list_or_none(&pipeline),
        list_or_none(&nohz),
        Severity::Warn,
        !pipeline.is_empty() && missing(&pipeline, &nohz).is_empty(),
    )
}

/// RCU callbacks are offloaded from the pipeline cores.
pub(crate) fn check_rcu_nocbs(host: &Host, cx: &Context) -> Check {
    let pipeline = cx.pipeline_cpus();
    let nocbs = host
        .boot_param("rcu_nocbs")
        .map(|t| boot_cpus(&t))
        .unwrap_or_default();
    check(
        "rcu_nocbs",
        list_or_none(&pipeline),
        list_or_none(&nocbs),
        Severity::Warn,
        !pipeline.is_empty() && missing(&pipeline, &nocbs).is_empty(),
    )
}

/// The boot parameters a tuned host carries, one check each.
pub(crate) fn check_boot_line(host: &Host, cx: &Context) -> Vec<Check> {
    let pipeline = cx.pipeline_cpus();
    let mut checks = Vec::new();
    for name in ["isolcpus", "nohz_full", "rcu_nocbs"] {
        let value = host.boot_param(name);
        let cpus = value.as_deref().map(boot_cpus).unwrap_or_default();
        checks.push(check(
            &format!("boot: {name}"),
            format!("covers {}", list_or_none(&pipeline)),
            value.unwrap_or_else(|| "absent".into()),
            Severity::Warn,
            !pipeline.is_empty() && missing(&pipeline, &cpus).is_empty(),
        ));
    }
    let irqaffinity = host.boot_param("irqaffinity");
    let irq_cpus = irqaffinity
        .as_deref()
        .map(parse_cpu_list)
        .unwrap_or_default();
    checks.push(check(
        "boot: irqaffinity",
        "set, and none of the pipeline cores",
        irqaffinity.clone().unwrap_or_else(|| "absent".into()),
        Severity::Warn,
        irqaffinity.is_some() && irq_cpus.iter().all(|c| !pipeline.contains(c)),
    ));
    for (name, want) in [
        ("skew_tick", Some("1")),
        ("tsc", Some("reliable")),
        ("nosoftlockup", None),
    ] {
        let value = host.boot_param(name);
        let passed = match (want, value.as_deref()) {
            (Some(want), Some(v)) => v == want,
            (None, Some(_)) => true,
            (_, None) => false,
        };
        checks.push(check(
            &format!("boot: {name}"),
            want.map_or_else(|| name.to_string(), |w| format!("{name}={w}")),
            value.map_or_else(
                || "absent".into(),
                |v| {
                    if v.is_empty() {
                        name.to_string()
                    } else {
                        format!("{name}={v}")
                    }
                },
            ),
            Severity::Info,
            passed,
        ));
    }
    checks
}

/// The CPUs of a boot parameter whose value may start with flags:
/// `isolcpus=managed_irq,domain,2-7` gives 2..=7.
pub(crate) fn boot_cpus(value: &str) -> Vec<usize> {
    let numeric: Vec<&str> = value
        .split(',')
        .filter(|part| part.starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    parse_cpu_list(&numeric.join(","))
}

/// The IRQs whose affinity includes a pipeline core, and the default
/// affinity mask for new ones.
pub(crate) fn check_irq_affinity(host: &Host, cx: &Context) -> Vec<Check> {
    let pipeline = cx.pipeline_cpus();
    let mut on_pipeline = Vec::new();
    for irq in host.list("proc/irq") {
        if !irq.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if let Some(list) = host.read(&format!("proc/irq/{irq}/smp_affinity_list"))
            && parse_cpu_list(&list).iter().any(|c| pipeline.contains(c))
        {
            on_pipeline.push(irq);
        }
    }
    let default_mask = host.read("proc/irq/default_smp_affinity");
    let default_cpus = default_mask.as_deref().map(mask_cpus).unwrap_or_default();
    vec![
        check(
            "IRQ affinity",
            "no IRQ may run on a pipeline core",
            if on_pipeline.is_empty() {
                "none on pipeline cores".to_string()
            } else {
                format!("IRQs {} may", on_pipeline.join(","))
            },
            Severity::Warn,
            on_pipeline.is_empty(),
        ),
        check(
            "default IRQ affinity",
            "excludes the pipeline cores",
            default_mask
                .map(|m| format!("{m} (cpus {})", list_or_none(&default_cpus)))
                .unwrap_or_else(|| "unreadable".into()),
            Severity::Warn,
            !default_cpus.is_empty() && default_cpus.iter().all(|c| !pipeline.contains(c)),
        ),
    ]
}

/// CPUs in a hex mask such as `ff` or `00000000,0000ff00`.
pub(crate) fn mask_cpus(mask: &str) -> Vec<usize> {
    let digits: String = mask.chars().filter(|c| *c != ',').collect();
    let mut cpus = Vec::new();
    for (i, c) in digits.chars().rev().enumerate() {
        let Some(nibble) = c.to_digit(16) else {
            continue;
        };
        for bit in 0..4 {
            if nibble & (1 << bit) != 0 {
                cpus.push(i * 4 + bit);
            }
        }
    }
    cpus
}

/// Processes by command name: `(pid, comm)`.
fn processes(host: &Host) -> Vec<(u32, String)> {
    host.list("proc")
        .into_iter()
        .filter_map(|name| name.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, host.read(&format!("proc/{pid}/comm"))?)))
        .collect()
}

/// irqbalance moves IRQs onto any core unless told which to avoid.
pub(crate) fn check_irqbalance(host: &Host) -> Check {
    let running = processes(host).iter().any(|(_, comm)| comm == "irqbalance");
    check(
        "irqbalance",
        "stopped, or banned from the pipeline cores",
        if running { "running" } else { "not running" },
        Severity::Info,
        !running,
    )
}

/// Interrupts per pipeline core between two readings of /proc/interrupts.
pub(crate) fn interrupt_counts(before: &str, after: &str, cpus: &[usize]) -> Vec<(usize, u64)> {
    let totals = |text: &str| -> Vec<u64> {
        let mut lines = text.lines();
        let width = lines.next().map_or(0, |h| h.split_whitespace().count());
        let mut sums = vec![0u64; width];
        for line in lines {
            let mut fields = line.split_whitespace();
            fields.next(); // "NN:" or "LOC:"
            for (i, field) in fields.take(width).enumerate() {
                match field.parse::<u64>() {
                    Ok(n) => sums[i] += n,
                    Err(_) => break,
                }
            }
        }
        sums
    };
    let (a, b) = (totals(before), totals(after));
    cpus.iter()
        .map(|&c| {
            (
                c,
                b.get(c)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(a.get(c).copied().unwrap_or(0)),
            )
        })
        .collect()
}

/// Interrupts on the pipeline cores over the sampled second.
pub fn check_interrupts(before: &str, after: &str, cx: &Context, seconds: f64) -> Check {
    let counts = interrupt_counts(before, after, &cx.pipeline_cpus());
    let worst = counts.iter().map(|(_, n)| *n).max().unwrap_or(0);
    check(
        "interrupts on pipeline cores",
        "a handful per second at most (nohz_full leaves about 1 tick/s)",
        counts
            .iter()
            .map(|(c, n)| format!("cpu{c}: {:.0}/s", *n as f64 / seconds))
            .collect::<Vec<_>>()
            .join(", "),
        Severity::Warn,
        (worst as f64 / seconds) <= 5.0,
    )
}

/// Per-CPU kernel threads that belong on every core.
fn per_cpu_kernel_thread(comm: &str) -> bool {
    [
        "ksoftirqd/",
        "migration/",
        "kworker/",
        "cpuhp/",
        "idle_inject/",
        "rcuc/",
        "watchdog/",
        "irq_work/",
    ]
    .iter()
    .any(|prefix| comm.starts_with(prefix))
        || comm == "swapper"
}

/// The CPU a task last ran on (field 39 of its stat).
fn last_cpu(stat: &str) -> Option<usize> {
    let after_comm = stat.rsplit_once(')')?.1;
    after_comm.split_whitespace().nth(36)?.parse().ok()
}

/// Tasks other than the engine's and per-CPU kernel threads that last ran
/// on a pipeline core.
pub(crate) fn check_stray_tasks(host: &Host, cx: &Context) -> Check {
    let pipeline = cx.pipeline_cpus();
    let mut strays = Vec::new();
    for (pid, comm) in processes(host) {
        if Some(pid) == cx.pid || pid == std::process::id() || per_cpu_kernel_thread(&comm) {
            continue;
        }
        for tid in host.list(&format!("proc/{pid}/task")) {
            let Some(stat) = host.read(&format!("proc/{pid}/task/{tid}/stat")) else {
                continue;
            };
            let thread = host
                .read(&format!("proc/{pid}/task/{tid}/comm"))
                .unwrap_or_else(|| comm.clone());
            if per_cpu_kernel_thread(&thread) {
                continue;
            }
            if last_cpu(&stat).is_some_and(|c| pipeline.contains(&c)) {
                strays.push(format!("{thread}({tid})"));
            }
        }
    }
    strays.sort();
    strays.dedup();
    let shown: Vec<&String> = strays.iter().take(8).collect();
    check(
        "stray tasks on pipeline cores",
        "none but the engine and per-CPU kernel threads",
        if strays.is_empty() {
            "none".to_string()
        } else {
            format!(
                "{}{}",
                shown
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                if strays.len() > shown.len() {
                    format!(" and {} more", strays.len() - shown.len())
                } else {
                    String::new()
                }
            )
        },
        Severity::Warn,
        strays.is_empty(),
    )
}

/// Unbound workqueues and writeback stay off the pipeline cores.
pub(crate) fn check_workqueues(host: &Host, cx: &Context) -> Vec<Check> {
    let pipeline = cx.pipeline_cpus();
    [
        ("workqueue cpumask", "sys/devices/virtual/workqueue/cpumask"),
        (
            "writeback cpumask",
            "sys/bus/workqueue/devices/writeback/cpumask",
        ),
    ]
    .into_iter()
    .map(|(name, path)| {
        let mask = host.read(path);
        let cpus = mask.as_deref().map(mask_cpus).unwrap_or_default();
        check(
            name,
            "excludes the pipeline cores",
            mask.map(|m| format!("{m} (cpus {})", list_or_none(&cpus)))
                .unwrap_or_else(|| "unreadable".into()),
            Severity::Warn,
            !cpus.is_empty() && cpus.iter().all(|c| !pipeline.contains(c)),
        )
    })
    .collect()
}

/// RCU callback threads (`rcuo*`) are allowed off the pipeline cores.
pub(crate) fn check_rcu_threads(host: &Host, cx: &Context) -> Check {
    let pipeline = cx.pipeline_cpus();
    let mut on_pipeline = Vec::new();
    let mut seen = 0;
    for (pid, comm) in processes(host) {
        if !comm.starts_with("rcuo") {
            continue;
        }
        seen += 1;
        let allowed = host
            .read(&format!("proc/{pid}/status"))
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                    .map(|l| parse_cpu_list(l.trim()))
            })
            .unwrap_or_default();
        if allowed.iter().any(|c| pipeline.contains(c)) {
            on_pipeline.push(comm);
        }
    }
    check(
        "RCU callback threads",
        "none allowed on the pipeline cores",
        if on_pipeline.is_empty() {
            format!("{seen} threads, none on pipeline cores")
        } else {
            format!("{} may run there", on_pipeline.join(", "))
        },
        Severity::Info,
        on_pipeline.is_empty(),
    )
}

// ----- kernel settings ------------------------------------------------------

/// The bracketed choice of a sysfs selector: `always [madvise] never`.
pub(crate) fn selected(text: &str) -> Option<&str> {
    let start = text.find('[')? + 1;
    let end = text[start..].find(']')? + start;
    Some(&text[start..end])
}

/// A sysctl's value against what passes.
fn sysctl(
    host: &Host,
    name: &str,
    path: &str,
    required: &str,
    severity: Severity,
    passes: impl Fn(&str) -> bool,
) -> Check {
    let value = host.read(path);
    check(
        name,
        required,
        value.clone().unwrap_or_else(|| "absent".into()),
        severity,
        value.as_deref().is_some_and(passes),
    )
}

/// THP, NUMA balancing, vmstat interval, timer migration, watchdogs, swap.
pub(crate) fn check_kernel(host: &Host) -> Vec<Check> {
    let thp = host.read("sys/kernel/mm/transparent_hugepage/enabled");
    let swaps = host.read("proc/swaps").unwrap_or_default();
    let swap_devices = swaps
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .count();
    let number = |want: fn(i64) -> bool| move |v: &str| v.parse::<i64>().is_ok_and(want);
    vec![
        check(
            "transparent huge pages",
            "never or madvise",
            thp.clone().unwrap_or_else(|| "absent".into()),
            Severity::Warn,
            thp.as_deref()
                .and_then(selected)
                .is_some_and(|s| s == "never" || s == "madvise"),
        ),
        // Absent on single-node kernels: nothing to balance.
        check(
            "kernel.numa_balancing",
            "0",
            host.read("proc/sys/kernel/numa_balancing")
                .unwrap_or_else(|| "absent (no NUMA)".into()),
            Severity::Warn,
            host.read("proc/sys/kernel/numa_balancing")
                .is_none_or(|v| v == "0"),
        ),
        sysctl(
            host,
            "vm.stat_interval",
            "proc/sys/vm/stat_interval",
            "10 or more (seconds between vmstat updates)",
            Severity::Info,
            number(|n| n >= 10),
        ),
        sysctl(
            host,
            "kernel.timer_migration",
            "proc/sys/kernel/timer_migration",
            "0",
            Severity::Warn,
            |v| v == "0",
        ),
        sysctl(
            host,
            "kernel.watchdog",
            "proc/sys/kernel/watchdog",
            "0",
            Severity::Warn,
            |v| v == "0",
        ),
        sysctl(
            host,
            "kernel.nmi_watchdog",
            "proc/sys/kernel/nmi_watchdog",
            "0",
            Severity::Info,
            |v| v == "0",
        ),
        check(
            "swap",
            "off",
            format!("{swap_devices} swap device(s)"),
            Severity::Warn,
            swap_devices == 0,
        ),
        sysctl(
            host,
            "vm.swappiness",
            "proc/sys/vm/swappiness",
            "10 or less",
            Severity::Info,
            number(|n| n <= 10),
        ),
    ]
}

// ----- clocks, power and memory ---------------------------------------------

/// The clock source and an invariant TSC.
pub(crate) fn check_clocks(host: &Host) -> Vec<Check> {
    let source = host.read("sys/devices/system/clocksource/clocksource0/current_clocksource");
    let flags: Vec<String> = host
        .read("proc/cpuinfo")
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("flags"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, f)| f.split_whitespace().map(str::to_string).collect())
        })
        .unwrap_or_default();
    let has = |flag: &str| flags.iter().any(|f| f == flag);
    vec![
        check(
            "clocksource",
            "tsc",
            source.clone().unwrap_or_else(|| "absent".into()),
            Severity::Warn,
            source.as_deref() == Some("tsc"),
        ),
        check(
            "invariant TSC",
            "constant_tsc nonstop_tsc",
            format!(
                "constant_tsc {}, nonstop_tsc {}",
                if has("constant_tsc") { "yes" } else { "no" },
                if has("nonstop_tsc") { "yes" } else { "no" }
            ),
            Severity::Warn,
            has("constant_tsc") && has("nonstop_tsc"),
        ),
    ]
}

/// C-states and the frequency governor, or "not controllable" where the
/// instance type does not let the OS decide.
pub(crate) fn check_power(host: &Host, cx: &Context) -> Vec<Check> {
    let instance = instance_type(host);
    let (cstates, pstates) = power_control(instance.as_deref()).unwrap_or((true, true));
    let not_controllable = |what: &str| {
        check(
            what,
            "controlled by the hypervisor here",
            format!(
                "not controllable on this instance ({})",
                instance.as_deref().unwrap_or("?")
            ),
            Severity::Info,
            true,
        )
    };
    let mut checks = Vec::new();
    if cstates {
        let max = host
            .read("sys/module/intel_idle/parameters/max_cstate")
            .or_else(|| host.read("sys/module/processor/parameters/max_cstate"));
        let driver = host.read("sys/devices/system/cpu/cpuidle/current_driver");
        let idle_poll = host.boot_param("idle").as_deref() == Some("poll");
        checks.push(check(
            "C-states",
            "max_cstate 1 or less, or idle=poll",
            format!(
                "driver {}, max_cstate {}{}",
                driver.unwrap_or_else(|| "none".into()),
                max.clone().unwrap_or_else(|| "?".into()),
                if idle_poll { ", idle=poll" } else { "" }
            ),
            Severity::Warn,
            idle_poll
                || max
                    .as_deref()
                    .and_then(|m| m.parse::<u32>().ok())
                    .is_some_and(|m| m <= 1),
        ));
    } else {
        checks.push(not_controllable("C-states"));
    }
    if pstates {
        let governors: Vec<String> = cx
            .pipeline_cpus()
            .iter()
            .filter_map(|c| {
                host.read(&format!(
                    "sys/devices/system/cpu/cpu{c}/cpufreq/scaling_governor"
                ))
            })
            .collect();
        checks.push(check(
            "frequency governor",
            "performance on the pipeline cores",
            if governors.is_empty() {
                "no cpufreq driver".to_string()
            } else {
                governors.join(",")
            },
            Severity::Warn,
            governors.is_empty() || governors.iter().all(|g| g == "performance"),
        ));
    } else {
        checks.push(not_controllable("frequency governor"));
    }
    checks
}

/// Locked-memory limit (of `--pid`, else of this process), hugepages, and
/// dirty writeback.
pub(crate) fn check_memory(host: &Host, cx: &Context) -> Vec<Check> {
    let who = cx.pid.map_or_else(|| "self".to_string(), |p| p.to_string());
    let memlock = host.read(&format!("proc/{who}/limits")).and_then(|limits| {
        limits
            .lines()
            .find(|l| l.starts_with("Max locked memory"))
            .map(|l| l.split_whitespace().nth(3).unwrap_or("?").to_string())
    });
    let meminfo = host.read("proc/meminfo").unwrap_or_default();
    let huge = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("HugePages_Total:"))
        .map(|v| v.trim().to_string());
    let dirty_bg = host.read("proc/sys/vm/dirty_background_ratio");
    vec![
        check(
            "locked-memory limit",
            "unlimited (LimitMEMLOCK=infinity)",
            memlock.clone().unwrap_or_else(|| "unreadable".into()),
            Severity::Warn,
            memlock.as_deref() == Some("unlimited"),
        ),
        check(
            "hugepages",
            "some reserved (HugePages_Total > 0), for huge-page books later",
            huge.clone().unwrap_or_else(|| "absent".into()),
            Severity::Info,
            huge.as_deref()
                .and_then(|h| h.parse::<u64>().ok())
                .is_some_and(|h| h > 0),
        ),
        check(
            "vm.dirty_background_ratio",
            "5 or less, so writeback starts early and small",
            dirty_bg.clone().unwrap_or_else(|| "absent".into()),
            Severity::Info,
            dirty_bg
                .as_deref()
                .and_then(|v| v.parse::<u64>().ok())
                .is_some_and(|v| v <= 5),
        ),
    ]
}

/// The I/O scheduler of the journal's disk: `none` or `mq-deadline`.
pub fn check_journal_disk(host: &Host, cx: &Context) -> Option<Check> {
    use std::os::unix::fs::MetadataExt as _;
    let dir = cx.journal.as_ref()?;
    let dev = std::fs::metadata(dir).ok()?.dev();
    let (major, minor) = device_numbers(dev);
    let base = format!("sys/dev/block/{major}:{minor}");
    // A partition's queue is its disk's, one directory up.
    let scheduler = host
        .read(&format!("{base}/queue/scheduler"))
        .or_else(|| host.read(&format!("{base}/../queue/scheduler")));
    Some(check(
        "journal disk scheduler",
        "none or mq-deadline",
        scheduler
            .clone()
            .unwrap_or_else(|| format!("no queue for device {major}:{minor}")),
        Severity::Info,
        scheduler
            .as_deref()
            .and_then(selected)
            .is_some_and(|s| s == "none" || s == "mq-deadline"),
    ))
}

/// A device number's major and minor, as glibc's `major()` and `minor()`
/// split it; `sys/dev/block/MAJOR:MINOR` names the device.
pub fn device_numbers(dev: u64) -> (u64, u64) {
    (
        ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff),
        ((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff),
    )
}

// ----- a running engine -----------------------------------------------------

/// A thread of `--pid`: name, last CPU and allowed CPUs.
struct EngineThread {
    tid: String,
    name: String,
    allowed: Vec<usize>,
}

fn engine_threads(host: &Host, pid: u32) -> Vec<EngineThread> {
    host.list(&format!("proc/{pid}/task"))
        .into_iter()
        .filter_map(|tid| {
            let base = format!("proc/{pid}/task/{tid}");
            let name = host.read(&format!("{base}/comm"))?;
            let allowed = host
                .read(&format!("{base}/status"))
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                        .map(|l| parse_cpu_list(l.trim()))
                })
                .unwrap_or_default();
            Some(EngineThread { tid, name, allowed })
        })
        .collect()
}

/// Every pipeline thread of `--pid` is pinned to its planned core.
pub(crate) fn check_pinned(host: &Host, cx: &Context) -> Option<Check> {
    let pid = cx.pid?;
    let threads = engine_threads(host, pid);
    let mut wrong = Vec::new();
    for (name, core) in cx.cores.entries() {
        let Some(core) = core else { continue };
        match threads.iter().find(|t| t.name == name) {
            Some(t) if t.allowed == [core] => {}
            Some(t) => wrong.push(format!("{name} allowed on {}", list_or_none(&t.allowed))),
            None => wrong.push(format!("no {name} thread")),
        }
    }
    Some(check(
        "pipeline threads on their cores",
        format!("pid {pid}: each on its planned core only"),
        if wrong.is_empty() {
            "yes".to_string()
        } else {
            wrong.join("; ")
        },
        Severity::Fatal,
        wrong.is_empty(),
    ))
}

/// The matcher thread's involuntary context switches and CPU time over one
/// sampled interval: `(switches, cpu_ticks)` from two `status` and `stat`
/// readings.
pub fn matcher_sample(status: &str, stat: &str) -> Option<(u64, u64)> {
    let switches = status
        .lines()
        .find_map(|l| l.strip_prefix("nonvoluntary_ctxt_switches:"))?
        .trim()
        .parse()
        .ok()?;
    let after_comm = stat.rsplit_once(')')?.1;
    let mut fields = after_comm.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((switches, utime + stime))
}

/// Where the matcher thread's files are, for sampling.
pub(crate) fn matcher_task(host: &Host, pid: u32) -> Option<String> {
    engine_threads(host, pid)
        .into_iter()
        .find(|t| t.name == "matcher")
        .map(|t| format!("proc/{pid}/task/{}", t.tid))
}

/// From two matcher samples `seconds` apart: no involuntary switches, and
/// (on isolated cores) a spinning matcher, not a parked one.
pub fn check_matcher(
    before: (u64, u64),
    after: (u64, u64),
    seconds: f64,
    ticks_per_second: f64,
    isolated: bool,
) -> Vec<Check> {
    let switches = after.0.saturating_sub(before.0);
    let busy = after.1.saturating_sub(before.1) as f64 / ticks_per_second / seconds;
    let mut checks = vec![check(
        "matcher involuntary context switches",
        "0 per second",
        format!("{:.0}/s", switches as f64 / seconds),
        Severity::Warn,
        switches == 0,
    )];
    if isolated {
        checks.push(check(
            "matcher wait mode",
            "spin on an isolated core (about 100% of its core)",
            format!(
                "{:.0}% of a core{}",
                busy * 100.0,
                if busy < 0.9 {
                    ": parked or yielding; run with --wait spin"
                } else {
                    ""
                }
            ),
            Severity::Warn,
            busy >= 0.9,
        ));
    }
    checks
}

// ----- all of them ----------------------------------------------------------

/// Every check that needs no waiting.
pub fn instant_checks(host: &Host, cx: &Context) -> Vec<Check> {
    let mut checks = vec![
        check_instance(host),
        check_smt(host, cx),
        check_isolated(host, cx),
        check_nohz(host, cx),
        check_rcu_nocbs(host, cx),
    ];
    checks.extend(check_boot_line(host, cx));
    checks.extend(check_irq_affinity(host, cx));
    checks.push(check_irqbalance(host));
    checks.push(check_stray_tasks(host, cx));
    checks.extend(check_workqueues(host, cx));
    checks.push(check_rcu_threads(host, cx));
    checks.extend(check_kernel(host));
    checks.extend(check_clocks(host));
    checks.extend(check_power(host, cx));
    checks.extend(check_memory(host, cx));
    checks.extend(check_journal_disk(host, cx));
    checks.extend(check_pinned(host, cx));
    checks
}

/// Every check, sampling interrupts (and the matcher, with a pid) over
/// `sample`.
pub fn run(host: &Host, cx: &Context, sample: Duration) -> Vec<Check> {
    let mut checks = instant_checks(host, cx);
    let interrupts = || host.read("proc/interrupts").unwrap_or_default();
    let matcher = cx.pid.and_then(|pid| matcher_task(host, pid));
    let read_matcher = |task: &str| {
        matcher_sample(
            &host.read(&format!("{task}/status"))?,
            &host.read(&format!("{task}/stat"))?,
        )
    };
    let before = interrupts();
    let matcher_before = matcher.as_deref().and_then(read_matcher);
    std::thread::sleep(sample);
    let after = interrupts();
    let seconds = sample.as_secs_f64();
    checks.push(check_interrupts(&before, &after, cx, seconds));
    if let (Some(task), Some(before)) = (matcher.as_deref(), matcher_before)
        && let Some(after) = read_matcher(task)
    {
        let matcher_core_isolated = cx
            .cores
            .matcher
            .is_some_and(|c| host.isolated().contains(&c));
        // USER_HZ is 100 on every Linux the engine runs on.
        checks.extend(check_matcher(
            before,
            after,
            seconds,
            100.0,
            matcher_core_isolated,
        ));
    }
    checks
}

/// The engine's start-up table: thread, core, isolated, sharing; and the
/// warnings, from the same checks `tuning check` runs.
pub fn startup_report(host: &Host, cores: &CorePlan) -> (String, Vec<String>) {
    use std::fmt::Write as _;
    let cx = Context {
        cores: *cores,
        ..Context::default()
    };
    let isolated = host.isolated();
    let mut table = String::from("thread   core  isolated  shares core with\n");
    for (thread, core) in cores.entries() {
        let sharing: Vec<&str> = cores
            .entries()
            .iter()
            .filter(|(other, c)| *other != thread && core.is_some() && *c == core)
            .map(|(other, _)| *other)
            .collect();
        let (core_text, isolated_text) = match core {
            Some(c) => (
                c.to_string(),
                if isolated.contains(&c) { "yes" } else { "no" },
            ),
            None => ("any".to_string(), "-"),
        };
        let _ = writeln!(
            table,
            "{thread:<8} {core_text:>4}  {isolated_text:<8}  {}",
            if sharing.is_empty() {
                "-".to_string()
            } else {
                sharing.join(", ")
            }
        );
    }
    let mut warnings = Vec::new();
    match cores.matcher {
        None => warnings.push("the matcher is not pinned to a core".to_string()),
        Some(c) => {
            let shared: Vec<&str> = cores
                .entries()
                .iter()
                .filter(|(t, core)| *t != "matcher" && *core == Some(c))
                .map(|(t, _)| *t)
                .collect();
            if !shared.is_empty() {
                warnings.push(format!(
                    "the matcher shares core {c} with {}",
                    shared.join(", ")
                ));
            }
        }
    }
    for c in [check_isolated(host, &cx), check_smt(host, &cx)] {
        if !c.passed && !cx.pipeline_cpus().is_empty() {
            warnings.push(format!(
                "{}: {} (required: {}); run `tuning check` for the rest",
                c.name, c.current, c.required
            ));
        }
    }
    (table, warnings)
}
