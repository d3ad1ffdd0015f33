//! The journal's disk: retention keeps it bounded over a long input, and a
//! full disk stops input cleanly, loses nothing, and a restart after space
//! is freed continues to the same outputs as a clean run
//! (`docs/pipeline.md`, "Retention and a full disk").
//!
//! The disk-full tests mount a small tmpfs of their own, which needs root
//! (CAP_SYS_ADMIN), as CI and the development machines have. Without it
//! they fail, saying so; `ENGINE_TEST_NO_MOUNT=1` skips them instead.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use common::{ENGINE, dedup, read_outputs, reference, run_engine, scenario, summary};

/// Bytes the journal directory takes: segments are pre-allocated, so their
/// length is their footprint.
fn journal_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new(); // not created yet
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    found.sort();
    found
}

fn first_sequence(segment: &Path) -> u64 {
    segment
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn retention_delete_keeps_the_journal_bounded_and_survives_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("orders.jsonl");
    let lines = 600_000;
    let text = scenario(lines, 5);
    std::fs::write(&input, &text).unwrap();
    let journal = dir.path().join("j");
    let output = dir.path().join("o");
    let flags = [
        "--segment-size",
        "1MiB",
        "--retention",
        "delete",
        "--snapshot-every",
        "10000",
    ];
    let spawn = || {
        Process::new(ENGINE)
            .args(["--journal", journal.to_str().unwrap()])
            .args(["--input", &format!("file:{}", input.display())])
            .args(["--output", &format!("file:{}", output.display())])
            .args(["--clock", "sequence", "--wait", "yield", "--exit-at-end"])
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // Watch the directory while the engine runs; kill it part way through.
    let mut largest = 0;
    let mut seen = std::collections::BTreeSet::new();
    let mut child = spawn();
    let started = Instant::now();
    let mut killed = false;
    loop {
        largest = largest.max(journal_bytes(&journal));
        seen.extend(segments(&journal).iter().map(|p| first_sequence(p)));
        if child.try_wait().unwrap().is_some() {
            break;
        }
        // The newest segment's name is the first sequence it holds.
        let reached = segments(&journal).last().map_or(0, |p| first_sequence(p));
        if !killed && (reached >= 120_000 || started.elapsed() > Duration::from_secs(20)) {
            child.kill().unwrap(); // SIGKILL, mid-stream
            child.wait().unwrap();
            killed = true;
            child = spawn();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(killed, "the run ended before it could be killed");
    let last = child.wait_with_output().unwrap();
    assert!(last.status.success());
    let summary = serde_json::from_str::<serde_json::Value>(
        String::from_utf8_lossy(&last.stdout)
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(summary["last_sequence"], lines as u64);

    // Kept whole, the input would fill about 100 one-MiB segments. With
    // retention the journal holds only what recovery needs: records after
    // the newest snapshot at or before the delivered mark. Under a flood
    // delivery trails the journal by up to both rings (65,536 inputs and
    // 65,536 messages), so that is at most the snapshot interval plus
    // about 130,000 records, 23 segments, plus what the kill left to
    // re-send, a few snapshots and the next segment's spare: well under
    // half the input, and it does not grow with the input.
    let first = first_sequence(&segments(&journal)[0]);
    // Records per segment: the gap between names seen side by side.
    let names: Vec<u64> = seen.into_iter().collect();
    let per_segment = names.windows(2).map(|w| w[1] - w[0]).min().unwrap();
    let kept_whole = (lines as u64 / per_segment) << 20;
    eprintln!(
        "journal peaked at {:.1} MiB; kept whole it would take {} MiB",
        largest as f64 / f64::from(1 << 20),
        kept_whole >> 20
    );
    assert!(
        first > lines as u64 * 2 / 3,
        "old segments were retired (first is {first})"
    );
    assert!(
        largest < kept_whole / 2,
        "the journal grew to {largest} bytes of {kept_whole}; retention should bound it"
    );
    // The slow model takes long on this many resting orders; a clean run
    // with the journal kept whole is the reference here (the other tests
    // hold that to the model).
    let clean = run_engine(
        &dir.path().join("clean-j"),
        &input,
        &dir.path().join("clean-o"),
        &[],
    );
    assert!(clean.status.success());
    assert_eq!(
        dedup(&read_outputs(&output)),
        dedup(&read_outputs(&dir.path().join("clean-o")))
    );
    assert_eq!(summary["state_hash"], common::summary(&clean)["state_hash"]);
}

/// A tmpfs of `mib` MiB at `path`, unmounted when dropped, pass or fail.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    /// Mounts it, or explains why not; `None` means skip (asked for).
    fn mount(path: PathBuf, mib: u64) -> Option<SmallDisk> {
        std::fs::create_dir_all(&path).unwrap();
        let out = Process::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&path)
            .output()
            .unwrap();
        if out.status.success() {
            return Some(SmallDisk { path });
        }
        if std::env::var_os("ENGINE_TEST_NO_MOUNT").is_some() {
            eprintln!("skipped: ENGINE_TEST_NO_MOUNT is set and mount failed");
            return None;
        }
        panic!(
            "cannot mount a tmpfs for the disk-full test ({}); run as root, or set \
             ENGINE_TEST_NO_MOUNT=1 to skip it",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }

    /// Fills the disk with a ballast file until `keep` bytes are free.
    fn fill_leaving(&self, keep: u64) -> PathBuf {
        let free = journal::free_space(&self.path).unwrap();
        let ballast = self.path.join("ballast");
        let file = std::fs::File::create(&ballast).unwrap();
        // Written, not sparse: tmpfs counts what is written.
        let chunk = vec![0xA5u8; 1 << 20];
        let mut left = free.saturating_sub(keep);
        use std::io::Write as _;
        let mut writer = std::io::BufWriter::new(file);
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            writer.write_all(&chunk[..n]).unwrap();
            left -= n as u64;
        }
        writer.flush().unwrap();
        ballast
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let unmounted = Process::new("umount").arg(&self.path).status();
        if !unmounted.is_ok_and(|s| s.success()) {
            let _ = Process::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

/// Runs the engine to the end of `input` and returns its exit code and
/// standard error.
fn run(journal: &Path, input: &Path, output: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let out = run_engine(journal, input, output, extra);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What was delivered before the failure is exactly a prefix of the clean
/// run's outputs, per topic: nothing wrong, nothing out of order.
fn assert_prefix_of(got: &std::collections::BTreeMap<String, Vec<String>>, text: &str) {
    let expected = reference(text);
    for (file, lines) in dedup(got) {
        let all = &expected[&file];
        assert!(lines.len() <= all.len(), "{file}");
        assert_eq!(lines[..], all[..lines.len()], "{file}: not a prefix");
    }
}

#[test]
fn a_full_disk_at_a_segment_roll_stops_input_and_a_restart_continues() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(dir.path().join("disk"), 24) else {
        return;
    };
    let journal = disk.path.join("journal");
    let input = dir.path().join("orders.jsonl");
    let output = dir.path().join("o");
    let text = scenario(60_000, 9);
    std::fs::write(&input, &text).unwrap();
    // Room for two 2 MiB segments and the snapshots, not for all of it.
    let ballast = disk.fill_leaving(5 << 20);
    let flags = ["--segment-size", "2MiB", "--snapshot-every", "20000"];

    let (code, stderr) = run(&journal, &input, &output, &flags);
    assert_eq!(code, Some(3), "exit code 3 for storage; stderr:\n{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(stderr.contains("stopped taking input"), "{stderr}");
    assert!(stderr.contains("MiB free"), "{stderr}");
    assert!(
        stderr.contains(&journal.display().to_string()),
        "names the journal: {stderr}"
    );
    assert!(
        !std::fs::read_dir(&journal).unwrap().any(|e| e
            .unwrap()
            .path()
            .extension()
            .is_some_and(|x| x == "tmp")),
        "the half-made segment is removed"
    );
    // Everything journaled is intact and in order; what went out is right.
    let (records, last) = journal::Reader::open(&journal).unwrap().verify().unwrap();
    assert!(records > 1_000 && records < 60_000, "{records} journaled");
    assert_eq!(last, Some(records));
    assert_prefix_of(&read_outputs(&output), &text);

    // The operator frees space; the engine recovers and finishes.
    std::fs::remove_file(ballast).unwrap();
    let (code, stderr) = run(&journal, &input, &output, &flags);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(dedup(&read_outputs(&output)), reference(&text));
}

#[test]
fn a_snapshot_that_cannot_be_written_stops_the_engine_and_a_restart_continues() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(dir.path().join("disk"), 24) else {
        return;
    };
    let journal = disk.path.join("journal");
    let input = dir.path().join("orders.jsonl");
    let output = dir.path().join("o");
    let text = scenario(30_000, 10);
    std::fs::write(&input, &text).unwrap();
    // One 16 MiB segment holds the whole input, and fits; the snapshot,
    // written by the replica once 2,000 inputs are delivered, does not.
    // Input may run both rings (about 130,000 inputs) ahead of delivery,
    // so all of this input may be journaled before the failure: it shows
    // in the exit status and in no output past the journal.
    let ballast = disk.fill_leaving((16 << 20) + (8 << 10));
    let flags = ["--segment-size", "16MiB", "--snapshot-every", "2000"];

    let (code, stderr) = run(&journal, &input, &output, &flags);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("cannot write a snapshot"), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    let (records, _) = journal::Reader::open(&journal).unwrap().verify().unwrap();
    assert!(records <= 30_000, "{records} journaled");
    assert!(
        journal::SnapshotStore::new(&journal)
            .list()
            .unwrap()
            .is_empty(),
        "no partial snapshot is left behind"
    );
    assert_prefix_of(&read_outputs(&output), &text);

    std::fs::remove_file(ballast).unwrap();
    let (code, stderr) = run(&journal, &input, &output, &flags);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(dedup(&read_outputs(&output)), reference(&text));
    let again = run_engine(&journal, &input, &output, &flags);
    assert_eq!(summary(&again)["inputs"], 0);
}
