//! Where checks read the machine from: a root directory holding `proc/`
//! and `sys/`, which is `/` on a real host and a fixture tree in tests.
//!
//! Read-only: nothing here writes to the host.

use std::path::{Path, PathBuf};

use engine::threads::parse_cpu_list;

/// A machine's `/proc` and `/sys`, under `root`.
#[derive(Clone, Debug)]
pub struct Host {
    root: PathBuf,
}

impl Host {
    /// The running machine.
    pub fn real() -> Host {
        Host::at("/")
    }

    /// A tree laid out like `/` (for tests: `proc/cmdline`, `sys/...`).
    pub fn at(root: impl Into<PathBuf>) -> Host {
        Host { root: root.into() }
    }

    /// The path of `relative` (e.g. `proc/cmdline`) under the root.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative.trim_start_matches('/'))
    }

    /// A file's text, trimmed; `None` if it cannot be read.
    pub fn read(&self, relative: &str) -> Option<String> {
        std::fs::read_to_string(self.path(relative))
            .ok()
            .map(|text| text.trim().to_string())
    }

    /// Whether `relative` exists.
    pub fn exists(&self, relative: &str) -> bool {
        self.path(relative).exists()
    }

    /// Entries of a directory under the root, by name.
    pub fn list(&self, relative: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path(relative))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The isolated CPUs (`isolcpus`).
    pub fn isolated(&self) -> Vec<usize> {
        self.read("sys/devices/system/cpu/isolated")
            .map(|t| parse_cpu_list(&t))
            .unwrap_or_default()
    }

    /// The `nohz_full` CPUs.
    pub fn nohz_full(&self) -> Vec<usize> {
        self.read("sys/devices/system/cpu/nohz_full")
            .map(|t| parse_cpu_list(&t))
            .unwrap_or_default()
    }

    /// The kernel command line.
    pub fn cmdline(&self) -> String {
        self.read("proc/cmdline").unwrap_or_default()
    }

    /// A boot parameter's value (`isolcpus=2-7` gives `2-7`), or `""` for a
    /// bare flag; `None` when absent.
    pub(crate) fn boot_param(&self, name: &str) -> Option<String> {
        self.cmdline().split_whitespace().find_map(|word| {
            if word == name {
                Some(String::new())
            } else {
                word.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('='))
                    .map(str::to_string)
            }
        })
    }

    /// The online CPUs.
    pub fn online(&self) -> Vec<usize> {
        self.read("sys/devices/system/cpu/online")
            .map(|t| parse_cpu_list(&t))
            .unwrap_or_default()
    }

    /// The SMT siblings of `cpu`, itself included.
    pub fn siblings(&self, cpu: usize) -> Vec<usize> {
        self.read(&format!(
            "sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list"
        ))
        .map(|t| parse_cpu_list(&t))
        .unwrap_or_else(|| vec![cpu])
    }

    /// The root, for messages.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// A CPU list as the kernel writes it: `2-5,8`.
pub fn cpu_list_text(cpus: &[usize]) -> String {
    let mut sorted = cpus.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// A CPU mask as the kernel writes it: hex, 32-bit words separated by
/// commas, most significant first (`303`, or `1,00000000` for cpu 32).
pub(crate) fn cpu_mask_text(cpus: &[usize]) -> String {
    let words = cpus.iter().max().map_or(1, |&m| m / 32 + 1);
    let mut mask = vec![0u32; words];
    for &cpu in cpus {
        mask[cpu / 32] |= 1 << (cpu % 32);
    }
    let mut parts: Vec<String> = mask.iter().rev().map(|w| format!("{w:08x}")).collect();
    if let Some(first) = parts.first_mut() {
        *first = first.trim_start_matches('0').to_string();
        if first.is_empty() {
            *first = "0".into();
        }
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_round_trip() {
        assert_eq!(cpu_list_text(&[5, 2, 3, 4, 8, 10, 11]), "2-5,8,10-11");
        assert_eq!(parse_cpu_list(&cpu_list_text(&[0, 1, 8, 9])), [0, 1, 8, 9]);
        assert_eq!(cpu_list_text(&[]), "");
    }

    #[test]
    fn masks_are_hex_words() {
        assert_eq!(cpu_mask_text(&[0, 1, 8, 9]), "303");
        assert_eq!(cpu_mask_text(&[32]), "1,00000000");
        assert_eq!(
            crate::checks::mask_cpus(&cpu_mask_text(&[0, 1, 40])),
            [0, 1, 40]
        );
    }
}
