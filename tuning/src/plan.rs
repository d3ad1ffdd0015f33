//! `tuning plan`: what to set so that `tuning check` passes, for this
//! host's topology or a named one, as text and as files for the deploy
//! step.
//!
//! The layout: the first two physical cores (both SMT threads) stay with
//! the OS, IRQs and the engine's helper threads; every other CPU is
//! isolated. Ingress, journal and egress take the first thread of the next
//! physical cores, and the matcher the first thread of one more, whose
//! sibling stays isolated and idle. It computes; it never applies.

use std::fmt::Write as _;
use std::path::Path;

use engine::threads::CorePlan;

use crate::host::{Host, cpu_list_text};

/// Physical cores and threads per core, with Linux's numbering: CPU `i`
/// and `i + cores` are siblings, as on EC2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    /// SMT siblings of each physical core, in core order.
    pub cores: Vec<Vec<usize>>,
}

impl Topology {
    /// `cores` physical cores of `threads` threads each.
    pub(crate) fn uniform(cores: usize, threads: usize) -> Topology {
        Topology {
            cores: (0..cores)
                .map(|core| (0..threads).map(|t| core + t * cores).collect())
                .collect(),
        }
    }

    /// `8x2`: physical cores × threads per core.
    pub fn parse(text: &str) -> Result<Topology, String> {
        let (cores, threads) = text
            .split_once('x')
            .ok_or_else(|| format!("{text:?} is not CORESxTHREADS; write e.g. 8x2"))?;
        let number = |s: &str| {
            s.parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{text:?}: {s:?} is not a positive number; write e.g. 8x2"))
        };
        Ok(Topology::uniform(number(cores)?, number(threads)?))
    }

    /// An instance type's topology.
    pub fn of_instance(name: &str) -> Result<Topology, String> {
        match name {
            "c6i.4xlarge" => Ok(Topology::uniform(8, 2)),
            "c6i.8xlarge" => Ok(Topology::uniform(16, 2)),
            "c6i.2xlarge" => Ok(Topology::uniform(4, 2)),
            other => Err(format!(
                "no topology known for {other:?}; pass --topology CORESxTHREADS, e.g. 8x2 for a \
                 c6i.4xlarge"
            )),
        }
    }

    /// This host's topology, from sysfs.
    pub fn of_host(host: &Host) -> Topology {
        let mut cores: Vec<Vec<usize>> = Vec::new();
        for cpu in host.online() {
            let siblings = host.siblings(cpu);
            if !cores.iter().any(|c| c.contains(&cpu)) {
                cores.push(siblings);
            }
        }
        Topology { cores }
    }

    fn threads(&self) -> usize {
        self.cores.iter().map(Vec::len).max().unwrap_or(1)
    }
}

/// Everything needed to reach a passing `tuning check`.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The topology planned for.
    pub topology: Topology,
    /// CPUs left to the OS, IRQs and helper threads.
    pub housekeeping: Vec<usize>,
    /// CPUs isolated from the scheduler.
    pub isolated: Vec<usize>,
    /// The pipeline threads' cores: the engine's `--cores`.
    pub cores: CorePlan,
    /// Why this placement, or what falls short of it.
    pub notes: Vec<String>,
    /// Whether the instance lets the OS control C-states.
    pub cstates: bool,
}

impl Plan {
    /// Places the pipeline on `topology`. `asked` overrides the placement
    /// (it is checked, not changed).
    pub fn new(topology: Topology, asked: Option<CorePlan>, cstates: bool) -> Result<Plan, String> {
        let physical = topology.cores.len();
        if physical < 6 {
            return Err(format!(
                "{physical} physical cores: a tuned layout needs 6 (2 for the OS and helpers, 4 \
                 for the pipeline); plan for the benchmark host with --for c6i.4xlarge"
            ));
        }
        let housekeeping: Vec<usize> = topology.cores[..2].iter().flatten().copied().collect();
        let isolated: Vec<usize> = topology.cores[2..].iter().flatten().copied().collect();
        let first = |core: usize| topology.cores[core][0];
        let cores = asked.unwrap_or(CorePlan {
            ingress: Some(first(2)),
            journal: Some(first(3)),
            egress: Some(first(4)),
            matcher: Some(first(5)),
        });
        let mut notes = Vec::new();
        if let Some(matcher) = cores.matcher {
            let core = topology
                .cores
                .iter()
                .find(|c| c.contains(&matcher))
                .ok_or_else(|| format!("the matcher's cpu {matcher} is not on this topology"))?;
            let busy_siblings: Vec<usize> = core
                .iter()
                .copied()
                .filter(|&s| s != matcher && cores.entries().iter().any(|(_, c)| *c == Some(s)))
                .collect();
            if busy_siblings.is_empty() {
                notes.push(format!(
                    "the matcher's physical core is its own: sibling(s) {} stay isolated and idle",
                    cpu_list_text(
                        &core
                            .iter()
                            .copied()
                            .filter(|&s| s != matcher)
                            .collect::<Vec<_>>()
                    )
                ));
            } else {
                notes.push(format!(
                    "the matcher shares its physical core with pipeline cpu {}: move one",
                    cpu_list_text(&busy_siblings)
                ));
            }
        }
        if topology.threads() > 1 {
            notes.push(
                "ingress, journal and egress leave their siblings isolated too; the engine's \
                 helper threads (replica, statistics, librdkafka) run on the housekeeping cpus"
                    .into(),
            );
        }
        Ok(Plan {
            topology,
            housekeeping,
            isolated,
            cores,
            notes,
            cstates,
        })
    }

    /// The `--cores` value.
    pub(crate) fn cores_arg(&self) -> String {
        self.cores
            .entries()
            .iter()
            .filter_map(|(t, c)| c.map(|c| format!("{t}={c}")))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Boot parameters to add.
    pub(crate) fn kernel_cmdline(&self) -> String {
        let isolated = cpu_list_text(&self.isolated);
        let mut params = vec![
            format!("isolcpus=managed_irq,domain,{isolated}"),
            format!("nohz_full={isolated}"),
            format!("rcu_nocbs={isolated}"),
            "rcu_nocb_poll".to_string(),
            format!("irqaffinity={}", cpu_list_text(&self.housekeeping)),
            "skew_tick=1".into(),
            "tsc=reliable".into(),
            "nosoftlockup".into(),
            "nmi_watchdog=0".into(),
            "transparent_hugepage=madvise".into(),
        ];
        if self.cstates {
            params.push("intel_idle.max_cstate=1".into());
            params.push("processor.max_cstate=1".into());
        }
        params.join(" ")
    }

    /// A sysctl.d file.
    pub fn sysctl(&self) -> String {
        "# Written by `tuning plan`: kernel settings for the engine's benchmark host.\n\
         kernel.numa_balancing = 0\n\
         kernel.timer_migration = 0\n\
         kernel.watchdog = 0\n\
         kernel.nmi_watchdog = 0\n\
         # vmstat updates every 10 s rather than every second.\n\
         vm.stat_interval = 10\n\
         vm.swappiness = 0\n\
         # Start writeback early and small, so it never comes in a burst.\n\
         vm.dirty_background_ratio = 3\n\
         vm.dirty_ratio = 10\n"
            .to_string()
    }

    /// systemd drop-ins: `(relative path, contents)`.
    pub fn systemd(&self) -> Vec<(String, String)> {
        let housekeeping = cpu_list_text(&self.housekeeping);
        let spaced = self
            .housekeeping
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        let mut files = vec![(
            "systemd/system.conf.d/50-engine-cpuaffinity.conf".to_string(),
            format!(
                "# Written by `tuning plan`: every unit starts on the housekeeping cpus.\n\
                 [Manager]\nCPUAffinity={spaced}\n"
            ),
        )];
        for slice in ["system.slice", "user.slice", "init.scope"] {
            files.push((
                format!("systemd/{slice}.d/50-engine-cpus.conf"),
                format!(
                    "# Written by `tuning plan`.\n[{}]\nAllowedCPUs={housekeeping}\n",
                    if slice.ends_with(".scope") {
                        "Scope"
                    } else {
                        "Slice"
                    }
                ),
            ));
        }
        files.push((
            "systemd/irqbalance.service.d/50-engine-ban.conf".to_string(),
            format!(
                "# Written by `tuning plan`: irqbalance leaves the isolated cpus alone.\n\
                 [Service]\nEnvironment=IRQBALANCE_BANNED_CPULIST={}\n",
                cpu_list_text(&self.isolated)
            ),
        ));
        files
    }

    /// A script that moves every IRQ to the housekeeping cpus.
    pub(crate) fn irq_script(&self) -> String {
        let list = cpu_list_text(&self.housekeeping);
        let mask = crate::host::cpu_mask_text(&self.housekeeping);
        format!(
            "#!/bin/sh\n\
             # Written by `tuning plan`: IRQs on the housekeeping cpus {list} only.\n\
             # Some IRQs (per-CPU timers) refuse; that is expected.\n\
             set -u\n\
             echo {mask} > /proc/irq/default_smp_affinity\n\
             for irq in /proc/irq/[0-9]*; do\n\
             \x20   echo {list} > \"$irq/smp_affinity_list\" 2>/dev/null || true\n\
             done\n"
        )
    }

    /// The whole plan as text for a terminal.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "topology: {} physical cores x {} threads ({})",
            self.topology.cores.len(),
            self.topology.threads(),
            self.topology
                .cores
                .iter()
                .map(|c| cpu_list_text(c))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        let _ = writeln!(
            out,
            "housekeeping cpus: {}   isolated cpus: {}",
            cpu_list_text(&self.housekeeping),
            cpu_list_text(&self.isolated)
        );
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        let _ = writeln!(
            out,
            "\n# 1. kernel command line (GRUB_CMDLINE_LINUX), then reboot\n{}",
            self.kernel_cmdline()
        );
        let _ = writeln!(
            out,
            "\n# 2. /etc/sysctl.d/90-engine.conf\n{}",
            self.sysctl()
        );
        let _ = writeln!(out, "# 3. systemd drop-ins under /etc/");
        for (path, body) in self.systemd() {
            let _ = writeln!(out, "## /etc/{path}\n{body}");
        }
        let _ = writeln!(
            out,
            "# 4. IRQ affinity (run at boot, after the network is up)\n{}",
            self.irq_script()
        );
        let _ = writeln!(
            out,
            "# 5. the engine\nengine --cores {} --wait spin",
            self.cores_arg()
        );
        out
    }

    /// Writes the plan's files under `dir`: `kernel-cmdline.txt`,
    /// `sysctl.d/90-engine.conf`, the `systemd/` drop-ins,
    /// `irq-affinity.sh` and `engine-cores.txt`.
    pub fn write(&self, dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
        let mut files = vec![
            (
                "kernel-cmdline.txt".to_string(),
                format!("{}\n", self.kernel_cmdline()),
            ),
            ("sysctl.d/90-engine.conf".to_string(), self.sysctl()),
            ("irq-affinity.sh".to_string(), self.irq_script()),
            (
                "engine-cores.txt".to_string(),
                format!("{}\n", self.cores_arg()),
            ),
        ];
        files.extend(self.systemd());
        let mut written = Vec::new();
        for (relative, body) in files {
            let path = dir.join(relative);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, body)?;
            written.push(path);
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_c6i_4xlarge_isolates_all_but_two_cores_and_gives_the_matcher_a_quiet_sibling() {
        let plan = Plan::new(Topology::of_instance("c6i.4xlarge").unwrap(), None, false).unwrap();
        assert_eq!(plan.housekeeping, [0, 8, 1, 9]);
        assert_eq!(cpu_list_text(&plan.isolated), "2-7,10-15");
        assert_eq!(plan.cores_arg(), "ingress=2,journal=3,matcher=5,egress=4");
        // The matcher's sibling (13) is isolated and runs nothing.
        assert!(plan.isolated.contains(&13));
        assert!(plan.cores.entries().iter().all(|(_, c)| *c != Some(13)));
        let cmdline = plan.kernel_cmdline();
        for part in [
            "isolcpus=managed_irq,domain,2-7,10-15",
            "nohz_full=2-7,10-15",
            "rcu_nocbs=2-7,10-15",
            "irqaffinity=0-1,8-9",
            "skew_tick=1",
            "tsc=reliable",
            "nosoftlockup",
        ] {
            assert!(cmdline.contains(part), "{cmdline}");
        }
        // C-states are the hypervisor's on a c6i.4xlarge.
        assert!(!cmdline.contains("max_cstate"));
        assert!(
            plan.irq_script()
                .contains("echo 303 > /proc/irq/default_smp_affinity")
        );
    }

    #[test]
    fn a_plan_that_puts_two_pipeline_threads_on_one_physical_core_says_so() {
        let asked: CorePlan = "ingress=2,journal=3,matcher=4,egress=12".parse().unwrap();
        let plan = Plan::new(Topology::parse("8x2").unwrap(), Some(asked), true).unwrap();
        assert!(
            plan.notes
                .iter()
                .any(|n| n.contains("shares its physical core"))
        );
        assert!(plan.kernel_cmdline().contains("intel_idle.max_cstate=1"));
    }

    #[test]
    fn small_or_malformed_topologies_are_refused_with_what_to_write() {
        assert!(
            Plan::new(Topology::parse("2x1").unwrap(), None, false)
                .unwrap_err()
                .contains("--for c6i.4xlarge")
        );
        assert!(Topology::parse("8by2").unwrap_err().contains("8x2"));
        assert!(
            Topology::of_instance("m5.large")
                .unwrap_err()
                .contains("--topology")
        );
    }

    #[test]
    fn the_files_are_written_where_the_deploy_step_expects_them() {
        let dir = tempfile::tempdir().unwrap();
        let plan = Plan::new(Topology::uniform(8, 2), None, false).unwrap();
        let files = plan.write(dir.path()).unwrap();
        assert!(files.len() >= 8);
        let sysctl = std::fs::read_to_string(dir.path().join("sysctl.d/90-engine.conf")).unwrap();
        assert!(sysctl.contains("kernel.numa_balancing = 0"));
        let affinity = std::fs::read_to_string(
            dir.path()
                .join("systemd/system.conf.d/50-engine-cpuaffinity.conf"),
        )
        .unwrap();
        assert!(affinity.contains("CPUAffinity=0 8 1 9"));
        let cores = std::fs::read_to_string(dir.path().join("engine-cores.txt")).unwrap();
        assert_eq!(cores.trim(), plan.cores_arg());
    }
}
