//! What machine a benchmark ran on: CPU model, cores, kernel, isolated
//! cores. Reports and plots carry it, because figures from a shared 2-core
//! VM and from a tuned c6i.4xlarge must never be confused.
//!
//! Reads `/proc` and `/sys` only; changes nothing.

use serde::Serialize;

/// The host, as a report records it.
#[derive(Clone, Debug, Serialize)]
pub struct HostInfo {
    /// `model name` from /proc/cpuinfo.
    pub cpu_model: String,
    /// Cores this process may run on.
    pub cores: usize,
    /// The running kernel's release.
    pub kernel: String,
    /// /sys/devices/system/cpu/isolated, e.g. `2-15`; empty when none.
    pub isolated: String,
}

impl HostInfo {
    /// Reads the running host.
    pub fn current() -> HostInfo {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpu_model = read("/proc/cpuinfo")
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map_or_else(|| "unknown CPU".to_string(), |(_, m)| m.trim().to_string());
        HostInfo {
            cpu_model,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            isolated: tuning::host::cpu_list_text(&tuning::Host::real().isolated()),
        }
    }

    /// A short label for plot titles, e.g. `2 cores, Intel Xeon ...`.
    pub fn label(&self) -> String {
        format!("{} cores, {}", self.cores, self.cpu_model)
    }
}
