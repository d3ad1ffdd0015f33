//! The `tuning` binary: exit codes, `--json` shapes and `plan --write`.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::process::Command;

use common::Fixture;

const TUNING: &str = env!("CARGO_BIN_EXE_tuning");

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(TUNING).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn check_exits_1_exactly_when_a_fatal_check_fails_and_its_json_has_the_fields() {
    let cores = "ingress=2,journal=3,matcher=5,egress=4";
    let tuned = Fixture::tuned().write();
    let root = tuned.path().to_str().unwrap();
    let (code, stdout, _) = run(&[
        "check",
        "--root",
        root,
        "--cores",
        cores,
        "--sample-seconds",
        "0",
        "--json",
    ]);
    assert_eq!(code, 0, "{stdout}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let checks = json["checks"].as_array().unwrap();
    assert!(checks.len() >= 30);
    for check in checks {
        for key in ["name", "required", "current", "severity", "passed"] {
            assert!(check.get(key).is_some(), "{key} in {check}");
        }
    }

    let untuned = Fixture::tuned()
        .set("sys/devices/system/cpu/isolated", "")
        .write();
    let root = untuned.path().to_str().unwrap();
    let (code, stdout, _) = run(&[
        "check",
        "--root",
        root,
        "--cores",
        cores,
        "--sample-seconds",
        "0",
    ]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("isolated cores") && stdout.contains("fatal"),
        "{stdout}"
    );
    assert!(stdout.contains("1 fatal"), "{stdout}");
}

#[test]
fn wrong_flags_say_what_to_write_and_exit_2() {
    let (code, _, stderr) = run(&["plan", "--topology", "8by2"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("8x2"), "{stderr}");
    let (code, _, stderr) = run(&["jitter", "--cpus", "x"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--cpus 4,5"), "{stderr}");
    let (code, _, stderr) = run(&["check", "--pid", "999999999", "--sample-seconds", "0"]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn plan_writes_its_files_for_a_c6i_topology() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plan");
    let (code, stdout, _) = run(&[
        "plan",
        "--topology",
        "8x2",
        "--write",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("engine --cores ingress=2,journal=3,matcher=5,egress=4"),
        "{stdout}"
    );
    for file in [
        "kernel-cmdline.txt",
        "sysctl.d/90-engine.conf",
        "irq-affinity.sh",
        "engine-cores.txt",
        "systemd/system.conf.d/50-engine-cpuaffinity.conf",
        "systemd/irqbalance.service.d/50-engine-ban.conf",
    ] {
        assert!(out.join(file).exists(), "{file}");
    }
}

#[test]
fn jitter_json_has_one_object_per_cpu() {
    let (code, stdout, _) = run(&["jitter", "--cpus", "0", "--seconds", "0.2", "--json"]);
    assert_eq!(code, 0);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    for key in ["cpu", "gaps", "p99_ns", "p999_ns", "max_ns"] {
        assert!(lines[0].get(key).is_some(), "{key}");
    }
}
