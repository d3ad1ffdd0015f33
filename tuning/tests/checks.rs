//! Every `tuning check` against fixture trees: a tuned c6i.4xlarge on
//! which every check passes, and for each check the change that makes it
//! fail. Also a run on this machine, which must report and not crash.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use common::{Fixture, context, stat};
use engine::threads::CorePlan;
use tuning::checks::{self, Context, Severity};
use tuning::{Check, Host};

fn find<'a>(checks: &'a [Check], name: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name:?}"))
}

/// The named check fails on `fixture`, and every other one still passes.
fn fails_alone(fixture: &Fixture, names: &[&str]) {
    let results = fixture.check(Some(4242));
    for c in &results {
        if names.contains(&c.name.as_str()) {
            assert!(!c.passed, "{} should fail: {c:?}", c.name);
        } else {
            assert!(c.passed, "only {names:?} should fail, but: {c:?}");
        }
    }
}

#[test]
fn every_check_passes_on_a_tuned_c6i_4xlarge() {
    let results = Fixture::tuned().check(Some(4242));
    let failed: Vec<&Check> = results.iter().filter(|c| !c.passed).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(results.len() >= 30, "{} checks", results.len());
    // Power states are the hypervisor's on this instance type.
    let cstates = find(&results, "C-states");
    assert!(
        cstates
            .current
            .contains("not controllable on this instance")
    );
    assert_eq!(cstates.severity, Severity::Info);
    assert!(
        find(&results, "frequency governor")
            .current
            .contains("not controllable")
    );
}

#[test]
fn cpu_and_isolation_checks_fail_on_their_own_cause() {
    let tuned = Fixture::tuned();
    fails_alone(
        &tuned
            .clone()
            .set("sys/devices/virtual/dmi/id/product_name", "m5.large"),
        &["instance type"],
    );
    // The matcher's sibling (13) is not isolated.
    fails_alone(
        &tuned
            .clone()
            .set("sys/devices/system/cpu/isolated", "2-7,10-12,14-15"),
        &["SMT siblings of pipeline cores"],
    );
    fails_alone(
        &tuned.clone().set("sys/devices/system/cpu/isolated", ""),
        &["isolated cores", "SMT siblings of pipeline cores"],
    );
    fails_alone(
        &tuned.clone().set("sys/devices/system/cpu/nohz_full", "6-7"),
        &["nohz_full"],
    );
    let cmdline = tuned.0["proc/cmdline"].clone();
    fails_alone(
        &tuned
            .clone()
            .set("proc/cmdline", &cmdline.replace("rcu_nocbs=2-7,10-15 ", "")),
        &["rcu_nocbs", "boot: rcu_nocbs"],
    );
    fails_alone(
        &tuned.clone().set(
            "proc/cmdline",
            &cmdline.replace("isolcpus=managed_irq,domain,2-7,10-15", "isolcpus=6-7"),
        ),
        &["boot: isolcpus"],
    );
    for (param, name) in [
        ("skew_tick=1 ", "boot: skew_tick"),
        ("tsc=reliable ", "boot: tsc"),
        (" nosoftlockup", "boot: nosoftlockup"),
        ("irqaffinity=0-1,8-9 ", "boot: irqaffinity"),
    ] {
        fails_alone(
            &tuned
                .clone()
                .set("proc/cmdline", &cmdline.replace(param, "")),
            &[name],
        );
    }
    fails_alone(
        &tuned.clone().set("proc/irq/24/smp_affinity_list", "0-15"),
        &["IRQ affinity"],
    );
    fails_alone(
        &tuned.clone().set("proc/irq/default_smp_affinity", "ffff"),
        &["default IRQ affinity"],
    );
    fails_alone(
        &tuned.clone().set("proc/77/comm", "irqbalance"),
        &["irqbalance"],
    );
    fails_alone(
        &tuned
            .clone()
            .set("proc/55/comm", "stress")
            .set("proc/55/task/55/comm", "stress")
            .set("proc/55/task/55/stat", &stat(55, "stress", 9, 0, 5)),
        &["stray tasks on pipeline cores"],
    );
    fails_alone(
        &tuned
            .clone()
            .set("sys/devices/virtual/workqueue/cpumask", "ffff"),
        &["workqueue cpumask"],
    );
    fails_alone(
        &tuned
            .clone()
            .set("sys/bus/workqueue/devices/writeback/cpumask", "0030"),
        &["writeback cpumask"],
    );
    fails_alone(
        &tuned
            .clone()
            .set("proc/10/status", "Cpus_allowed_list:\t0-15\n"),
        &["RCU callback threads"],
    );
}

#[test]
fn kernel_clock_power_and_memory_checks_fail_on_their_own_cause() {
    let tuned = Fixture::tuned();
    for (path, text, name) in [
        (
            "sys/kernel/mm/transparent_hugepage/enabled",
            "[always] madvise never",
            "transparent huge pages",
        ),
        (
            "proc/sys/kernel/numa_balancing",
            "1",
            "kernel.numa_balancing",
        ),
        ("proc/sys/vm/stat_interval", "1", "vm.stat_interval"),
        (
            "proc/sys/kernel/timer_migration",
            "1",
            "kernel.timer_migration",
        ),
        ("proc/sys/kernel/watchdog", "1", "kernel.watchdog"),
        ("proc/sys/kernel/nmi_watchdog", "1", "kernel.nmi_watchdog"),
        (
            "proc/swaps",
            "Filename\tType\tSize\tUsed\tPriority\n/swapfile file 1024 0 -2\n",
            "swap",
        ),
        ("proc/sys/vm/swappiness", "60", "vm.swappiness"),
        (
            "sys/devices/system/clocksource/clocksource0/current_clocksource",
            "kvm-clock",
            "clocksource",
        ),
        (
            "proc/cpuinfo",
            "flags\t: fpu tsc constant_tsc\n",
            "invariant TSC",
        ),
        ("proc/meminfo", "HugePages_Total:       0\n", "hugepages"),
        (
            "proc/sys/vm/dirty_background_ratio",
            "10",
            "vm.dirty_background_ratio",
        ),
    ] {
        fails_alone(&tuned.clone().set(path, text), &[name]);
    }
    // A kernel without NUMA has nothing to balance.
    fails_alone(
        &tuned.clone().without("proc/sys/kernel/numa_balancing"),
        &[],
    );
    fails_alone(
        &tuned.clone().set(
            "proc/4242/limits",
            "Max locked memory         65536                65536                bytes\n",
        ),
        &["locked-memory limit"],
    );
    // On metal the OS controls power states, so they are checked.
    let metal = tuned
        .clone()
        .set("sys/devices/virtual/dmi/id/product_name", "c6i.metal")
        .set("sys/module/intel_idle/parameters/max_cstate", "1")
        .set(
            "sys/devices/system/cpu/cpu5/cpufreq/scaling_governor",
            "performance",
        );
    fails_alone(&metal, &["instance type"]);
    fails_alone(
        &metal
            .clone()
            .set("sys/module/intel_idle/parameters/max_cstate", "9"),
        &["instance type", "C-states"],
    );
    fails_alone(
        &metal.set(
            "sys/devices/system/cpu/cpu5/cpufreq/scaling_governor",
            "powersave",
        ),
        &["instance type", "frequency governor"],
    );
    assert_eq!(
        checks::power_control(Some("c6i.16xlarge")),
        Some((true, false))
    );
    assert_eq!(
        checks::power_control(Some("c6i.4xlarge")),
        Some((false, false))
    );
    assert_eq!(checks::power_control(None), None);
}

#[test]
fn a_pipeline_thread_off_its_core_is_fatal() {
    let off = Fixture::tuned().set(
        "proc/4242/task/4246/status",
        "Name:\tmatcher\nCpus_allowed_list:\t0-15\n",
    );
    fails_alone(&off, &["pipeline threads on their cores"]);
    let results = off.check(Some(4242));
    let pinned = find(&results, "pipeline threads on their cores");
    assert_eq!(pinned.severity, Severity::Fatal);
    assert!(
        pinned.current.contains("matcher allowed on 0-15"),
        "{pinned:?}"
    );
    // Without --pid the check is not made.
    assert!(
        off.check(None)
            .iter()
            .all(|c| c.name != "pipeline threads on their cores")
    );
}

#[test]
fn sampled_checks_count_interrupts_switches_and_a_parked_matcher() {
    let cx = context(None);
    let before = "           CPU0 CPU1 CPU2 CPU3 CPU4 CPU5\n  24:  10 0 5 0 0 0  PCI-MSI eth0\nLOC:  900 800 1 1 1 1  Local timer interrupts\n";
    let quiet = "           CPU0 CPU1 CPU2 CPU3 CPU4 CPU5\n  24:  20 0 5 0 0 0  PCI-MSI eth0\nLOC:  1900 1800 2 2 2 2  Local timer interrupts\n";
    let noisy = "           CPU0 CPU1 CPU2 CPU3 CPU4 CPU5\n  24:  20 0 505 0 0 0  PCI-MSI eth0\nLOC:  1900 1800 2 2 2 2  Local timer interrupts\n";
    assert!(checks::check_interrupts(before, quiet, &cx, 1.0).passed);
    let failed = checks::check_interrupts(before, noisy, &cx, 1.0);
    assert!(!failed.passed);
    assert!(failed.current.contains("cpu2: 501/s"), "{failed:?}");

    let status = |n: u64| format!("nonvoluntary_ctxt_switches:\t{n}\n");
    let sample = |switches: u64, ticks: u64| {
        checks::matcher_sample(&status(switches), &stat(9, "matcher", ticks, 0, 5)).unwrap()
    };
    // Spinning, undisturbed: 100 ticks in a second, no switches.
    let good = checks::check_matcher(sample(3, 100), sample(3, 200), 1.0, 100.0, true);
    assert!(good.iter().all(|c| c.passed), "{good:?}");
    // Preempted, and parked half the time on an isolated core.
    let bad = checks::check_matcher(sample(3, 100), sample(9, 150), 1.0, 100.0, true);
    assert!(bad.iter().all(|c| !c.passed), "{bad:?}");
    assert!(bad[1].current.contains("--wait spin"));
    // Parking is right on a shared core: not flagged there.
    assert_eq!(
        checks::check_matcher(sample(0, 0), sample(0, 1), 1.0, 100.0, false).len(),
        1
    );
}

#[test]
fn the_journal_disk_scheduler_is_read_from_its_device() {
    use std::os::unix::fs::MetadataExt as _;
    let journal = tempfile::tempdir().unwrap();
    let dev = std::fs::metadata(journal.path()).unwrap().dev();
    let (major, minor) = checks::device_numbers(dev);
    for (scheduler, passes) in [("[none] mq-deadline", true), ("mq-deadline [bfq]", false)] {
        let root = tempfile::tempdir().unwrap();
        let queue = root
            .path()
            .join(format!("sys/dev/block/{major}:{minor}/queue"));
        std::fs::create_dir_all(&queue).unwrap();
        std::fs::write(queue.join("scheduler"), scheduler).unwrap();
        let cx = Context {
            journal: Some(journal.path().to_path_buf()),
            ..context(None)
        };
        let c = checks::check_journal_disk(&Host::at(root.path()), &cx).unwrap();
        assert_eq!(c.passed, passes, "{c:?}");
    }
}

#[test]
fn the_engine_start_up_table_uses_the_same_checks() {
    let dir = tempfile::tempdir().unwrap();
    let isolated = dir.path().join("sys/devices/system/cpu");
    std::fs::create_dir_all(&isolated).unwrap();
    std::fs::write(isolated.join("isolated"), "3").unwrap();
    let host = Host::at(dir.path());
    let (table, warnings) = checks::startup_report(&host, &CorePlan::for_host(2));
    assert!(table.contains("matcher"), "{table}");
    assert!(
        warnings.iter().any(|w| w.starts_with("isolated cores:")),
        "{warnings:?}"
    );
    let pinned: CorePlan = "ingress=0,journal=1,matcher=3,egress=2".parse().unwrap();
    let (table, _) = checks::startup_report(&host, &pinned);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("matcher") && l.contains("yes")),
        "{table}"
    );
}

#[test]
fn it_runs_on_this_machine_and_reports() {
    let cx = Context {
        cores: CorePlan::for_host(2),
        pid: Some(std::process::id()),
        journal: Some(std::env::temp_dir()),
    };
    let results = checks::run(&Host::real(), &cx, Duration::from_millis(100));
    assert!(results.len() >= 30, "{results:#?}");
    assert!(
        results
            .iter()
            .all(|c| !c.name.is_empty() && !c.current.is_empty())
    );
}
