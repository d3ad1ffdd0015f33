//! A fixture tree of a tuned c6i.4xlarge for the `tuning` tests.

#![allow(dead_code)] // each test binary uses a different part
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::BTreeMap;

use tuning::checks::{self, Context};
use tuning::{Check, Host};

/// A fixture host: relative path to contents.
#[derive(Clone)]
pub struct Fixture(pub BTreeMap<String, String>);

/// `/proc/PID/stat` with the given CPU time and last CPU.
pub fn stat(pid: u32, comm: &str, utime: u64, stime: u64, cpu: usize) -> String {
    // Fields 3.. after the comm: state, then 10 zeros, utime, stime, then
    // zeros up to the processor field (39).
    let mut fields = vec!["S".to_string()];
    fields.extend(std::iter::repeat_n("0".to_string(), 10));
    fields.push(utime.to_string());
    fields.push(stime.to_string());
    fields.extend(std::iter::repeat_n("0".to_string(), 23));
    fields.push(cpu.to_string());
    fields.extend(std::iter::repeat_n("0".to_string(), 13));
    format!("{pid} ({comm}) {}", fields.join(" "))
}

impl Fixture {
    /// A c6i.4xlarge (8 cores x 2 threads) tuned as `tuning plan` says,
    /// with the pipeline on 2, 3, 4 and 5 and an engine as pid 4242.
    pub fn tuned() -> Fixture {
        let mut f = BTreeMap::new();
        let mut put = |path: &str, text: &str| {
            f.insert(path.to_string(), text.to_string());
        };
        put("sys/devices/virtual/dmi/id/product_name", "c6i.4xlarge");
        put("sys/devices/system/cpu/online", "0-15");
        for cpu in 0..16 {
            let (a, b) = if cpu < 8 {
                (cpu, cpu + 8)
            } else {
                (cpu - 8, cpu)
            };
            put(
                &format!("sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list"),
                &format!("{a},{b}"),
            );
        }
        put("sys/devices/system/cpu/isolated", "2-7,10-15");
        put("sys/devices/system/cpu/nohz_full", "2-7,10-15");
        put(
            "proc/cmdline",
            "BOOT_IMAGE=/vmlinuz root=/dev/nvme0n1p1 isolcpus=managed_irq,domain,2-7,10-15 \
             nohz_full=2-7,10-15 rcu_nocbs=2-7,10-15 irqaffinity=0-1,8-9 skew_tick=1 \
             tsc=reliable nosoftlockup",
        );
        put("proc/irq/default_smp_affinity", "0303");
        put("proc/irq/24/smp_affinity_list", "0-1,8-9");
        put("proc/irq/25/smp_affinity_list", "8");
        put("proc/1/comm", "systemd");
        put("proc/1/task/1/comm", "systemd");
        put("proc/1/task/1/stat", &stat(1, "systemd", 5, 5, 0));
        // A per-CPU kernel thread on a pipeline core is expected.
        put("proc/30/comm", "kworker/5:1");
        put("proc/30/task/30/comm", "kworker/5:1");
        put("proc/30/task/30/stat", &stat(30, "kworker/5:1", 0, 0, 5));
        put("proc/10/comm", "rcuop/2");
        put(
            "proc/10/status",
            "Name:\trcuop/2\nCpus_allowed_list:\t0-1,8-9\n",
        );
        put("sys/devices/virtual/workqueue/cpumask", "0303");
        put("sys/bus/workqueue/devices/writeback/cpumask", "0303");
        put(
            "sys/kernel/mm/transparent_hugepage/enabled",
            "always madvise [never]",
        );
        put("proc/sys/kernel/numa_balancing", "0");
        put("proc/sys/vm/stat_interval", "10");
        put("proc/sys/kernel/timer_migration", "0");
        put("proc/sys/kernel/watchdog", "0");
        put("proc/sys/kernel/nmi_watchdog", "0");
        put("proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n");
        put("proc/sys/vm/swappiness", "0");
        put(
            "sys/devices/system/clocksource/clocksource0/current_clocksource",
            "tsc",
        );
        put(
            "proc/cpuinfo",
            "processor\t: 0\nflags\t\t: fpu tsc constant_tsc nonstop_tsc rdtscp\n",
        );
        put(
            "proc/self/limits",
            "Limit                     Soft Limit           Hard Limit           Units\n\
             Max locked memory         unlimited            unlimited            bytes\n",
        );
        put(
            "proc/meminfo",
            "MemTotal: 32000000 kB\nHugePages_Total:     512\n",
        );
        put("proc/sys/vm/dirty_background_ratio", "3");
        // The engine, its pipeline threads pinned as planned.
        put("proc/4242/comm", "engine");
        put(
            "proc/4242/limits",
            "Max locked memory         unlimited            unlimited            bytes\n",
        );
        for (tid, name, cpu) in [
            (4243, "ingress", 2),
            (4244, "journal", 3),
            (4245, "egress", 4),
            (4246, "matcher", 5),
        ] {
            put(&format!("proc/4242/task/{tid}/comm"), name);
            put(
                &format!("proc/4242/task/{tid}/status"),
                &format!(
                    "Name:\t{name}\nCpus_allowed_list:\t{cpu}\nnonvoluntary_ctxt_switches:\t3\n"
                ),
            );
            put(
                &format!("proc/4242/task/{tid}/stat"),
                &stat(tid, name, 100, 0, cpu),
            );
        }
        Fixture(f)
    }

    pub fn set(mut self, path: &str, text: &str) -> Fixture {
        self.0.insert(path.to_string(), text.to_string());
        self
    }

    pub fn without(mut self, path: &str) -> Fixture {
        self.0.remove(path);
        self
    }

    /// Writes the tree and runs every check that needs no waiting.
    pub fn check(&self, pid: Option<u32>) -> Vec<Check> {
        let dir = self.write();
        checks::instant_checks(&Host::at(dir.path()), &context(pid))
    }

    /// Writes the tree under a new temporary directory.
    pub fn write(&self) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in &self.0 {
            let file = dir.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        dir
    }
}

/// The pipeline as the fixture's engine runs it.
pub fn context(pid: Option<u32>) -> Context {
    Context {
        cores: "ingress=2,journal=3,matcher=5,egress=4".parse().unwrap(),
        pid,
        journal: None,
    }
}
