//! The metrics endpoint, the Grafana dashboard and the alert rules against
//! a real Prometheus (Debian's package).
//!
//! `promtool` checks `deploy/prometheus/`; then the engine runs `--demo`
//! (embedded broker, demo feed) with its endpoint on a free port, and a
//! Prometheus started from `deploy/prometheus/prometheus.yml` (pointed at
//! that port, scraping every second) scrapes it. After two scrapes, every
//! expression of `deploy/grafana/engine.json` and every alert rule
//! Prometheus loaded is queried through its HTTP API and must return data.
//! An alert's expression returns data only while it fires, so for alerts
//! each signal it compares must return data, and the whole expression must
//! evaluate. Both processes stop when the test ends, pass or fail.
//!
//! `scripts/test` installs Prometheus when it is missing and says where it
//! is through `ENGINE_TEST_PROMETHEUS` and `ENGINE_TEST_PROMTOOL`.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::io::BufRead;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use common::kafka::KillOnDrop;
use common::{ENGINE, tool};
use serde_json::Value;

const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy");
const METRICS_DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics.md");
/// What Grafana's `$__rate_interval` becomes here: long enough to hold
/// the first two scrapes.
const RATE_INTERVAL: &str = "1m";

fn prometheus_bin() -> PathBuf {
    tool("ENGINE_TEST_PROMETHEUS", "/usr/bin/prometheus")
}

fn promtool_bin() -> PathBuf {
    tool("ENGINE_TEST_PROMTOOL", "/usr/bin/promtool")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn promtool(args: &[&str]) {
    let out = Process::new(promtool_bin()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts `engine --demo` serving metrics; returns it and the address.
fn start_engine(dir: &Path) -> (KillOnDrop, String) {
    let mut child = Process::new(ENGINE)
        .args([
            "--demo",
            "--metrics-addr",
            "127.0.0.1:0",
            "--metrics-window",
            "1s",
        ])
        .arg("--journal")
        .arg(dir.join("journal"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let engine = KillOnDrop(child);
    let (found, address) = std::sync::mpsc::channel();
    // Keeps draining stdout, so the engine never blocks on it.
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("metrics: http://") {
                let _ = found.send(url.trim_end_matches("/metrics").to_owned());
            }
        }
    });
    let address = address
        .recv_timeout(Duration::from_secs(60))
        .expect("the engine printed its metrics address");
    (engine, address)
}

/// Writes a Prometheus config from the deployed one, pointed at `target`.
fn prometheus_config(dir: &Path, target: &str) -> PathBuf {
    let deployed = std::fs::read_to_string(format!("{DEPLOY}/prometheus/prometheus.yml")).unwrap();
    let alerts = format!("{DEPLOY}/prometheus/alerts.yml");
    let mut config = deployed.clone();
    for (from, to) in [
        ("\"localhost:9464\"", format!("\"{target}\"")),
        ("scrape_interval: 5s", "scrape_interval: 1s".to_owned()),
        ("scrape_timeout: 2s", "scrape_timeout: 1s".to_owned()),
        (
            "evaluation_interval: 5s",
            "evaluation_interval: 1s".to_owned(),
        ),
        ("- alerts.yml", format!("- {alerts}")),
    ] {
        assert!(config.contains(from), "prometheus.yml no longer has {from}");
        config = config.replace(from, &to);
    }
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, config).unwrap();
    path
}

fn start_prometheus(dir: &Path, config: &Path) -> (KillOnDrop, String) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let log_path = dir.join("prometheus.log");
    let child = Process::new(prometheus_bin())
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={listen}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let mut prometheus = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        let exited = prometheus.0.try_wait().unwrap();
        if exited.is_some() || Instant::now() > deadline {
            panic!(
                "prometheus did not start listening ({exited:?}):\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (prometheus, format!("http://{listen}"))
}

/// One instant query; the `data.result` array, or the error Prometheus gave.
fn query(prometheus: &str, expr: &str) -> Result<Vec<Value>, String> {
    let mut response = ureq::get(format!("{prometheus}/api/v1/query"))
        .query("query", expr)
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .map_err(|e| e.to_string())?;
    let body: Value = serde_json::from_str(
        &response
            .body_mut()
            .read_to_string()
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    if body["status"] != "success" {
        return Err(format!("{}: {}", body["errorType"], body["error"]));
    }
    Ok(body["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// Queries `expr` until it returns data or `deadline` passes.
fn data_by(prometheus: &str, expr: &str, deadline: Instant) -> Result<Vec<Value>, String> {
    loop {
        match query(prometheus, expr) {
            Ok(result) if !result.is_empty() => return Ok(result),
            Err(err) => return Err(err), // a bad expression does not heal
            Ok(_) if Instant::now() >= deadline => return Err("no data".into()),
            Ok(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// The names in docs/metrics.md's table of every metric.
fn documented_names() -> Vec<String> {
    std::fs::read_to_string(METRICS_DOC)
        .unwrap()
        .lines()
        .filter_map(|line| line.strip_prefix("| `engine_"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(name, _)| format!("engine_{name}"))
        .collect()
}

/// Every `expr` of every panel's targets.
fn dashboard_expressions() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(format!("{DEPLOY}/grafana/engine.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    let mut found = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            found.push((
                panel["title"].as_str().unwrap().to_owned(),
                expr.replace("$__rate_interval", RATE_INTERVAL),
            ));
        }
    }
    found
}

/// The rules Prometheus loaded: name and expression.
fn loaded_alerts(prometheus: &str) -> Vec<(String, String)> {
    let mut response = ureq::get(format!("{prometheus}/api/v1/rules"))
        .call()
        .unwrap();
    let body: Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    let mut alerts = Vec::new();
    for group in body["data"]["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            assert_eq!(rule["health"], "ok", "rule {rule}");
            alerts.push((
                rule["name"].as_str().unwrap().to_owned(),
                rule["query"].as_str().unwrap().to_owned(),
            ));
        }
    }
    alerts
}

/// The operands of an expression's top-level comparisons and set
/// operators (`and`, `or`, `unless`), minus number literals: the signals
/// an alert compares.
fn signals(expr: &str) -> Vec<String> {
    const CUTS: [&str; 9] = [
        " and ", " or ", " unless ", "==", "!=", ">=", "<=", ">", "<",
    ];
    let bytes = expr.as_bytes();
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start, mut i) = (0i32, false, 0, 0);
    while i < bytes.len() {
        let rest = &bytes[i..];
        if !quoted
            && depth == 0
            && let Some(cut) = CUTS.iter().find(|cut| rest.starts_with(cut.as_bytes()))
        {
            parts.push(&expr[start..i]);
            i += cut.len();
            start = i;
            continue;
        }
        match bytes[i] {
            b'"' => quoted = !quoted,
            b'(' | b'{' | b'[' if !quoted => depth += 1,
            b')' | b'}' | b']' if !quoted => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    parts.push(&expr[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty() && p.parse::<f64>().is_err())
        .map(str::to_owned)
        .collect()
}

#[test]
fn signals_are_the_compared_operands() {
    assert_eq!(signals("up{job=\"engine\"} == 0"), ["up{job=\"engine\"}"]);
    assert_eq!(
        signals("sum by (i) (rate(a[1m])) == 0 and sum by (i) (delta(b{x=~\"1|2\"}[1m])) > 0"),
        [
            "sum by (i) (rate(a[1m]))",
            "sum by (i) (delta(b{x=~\"1|2\"}[1m]))"
        ]
    );
    assert_eq!(signals("a / b < 0.10"), ["a / b"]);
    assert_eq!(signals("a{q=\">\"}"), ["a{q=\">\"}"]);
}

#[test]
fn dashboard_and_alert_expressions_return_data_from_a_real_prometheus() {
    let config = format!("{DEPLOY}/prometheus/prometheus.yml");
    let rules = format!("{DEPLOY}/prometheus/alerts.yml");
    promtool(&["check", "config", &config]);
    promtool(&["check", "rules", &rules]);

    let dir = tempfile::tempdir().unwrap();
    let (_engine, target) = start_engine(dir.path());
    let config = prometheus_config(dir.path(), &target);
    let (_prometheus, prometheus) = start_prometheus(dir.path(), &config);

    // Every documented name is served, once the replica has published
    // books and a window has closed.
    let documented = documented_names();
    assert!(documented.len() >= 30, "docs/metrics.md lists the metrics");
    let deadline = Instant::now() + Duration::from_secs(30);
    let missing = loop {
        let text = ureq::get(format!("http://{target}/metrics"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let served = |name: &str| {
            text.lines().any(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with([' ', '{']))
            })
        };
        let mut missing: Vec<String> = documented.iter().filter(|n| !served(n)).cloned().collect();
        // And the other way: every family served is documented (OpenMetrics
        // names a counter's family without `_total`).
        for family in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
            let name = family.split(' ').next().unwrap_or_default();
            if !documented
                .iter()
                .any(|d| d == name || d.strip_suffix("_total") == Some(name))
            {
                missing.push(format!("{name} (served, not in docs/metrics.md)"));
            }
        }
        if missing.is_empty() || Instant::now() > deadline {
            break missing;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(missing.is_empty(), "documented but not served: {missing:?}");

    // Two successful scrapes.
    let deadline = Instant::now() + Duration::from_secs(60);
    let scraped = data_by(
        &prometheus,
        "sum_over_time(up{job=\"engine\"}[5m]) >= 2",
        deadline,
    );
    assert!(
        scraped.is_ok(),
        "Prometheus did not scrape the engine twice: {scraped:?}"
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut failures = Vec::new();
    let panels = dashboard_expressions();
    assert!(panels.len() >= 20, "the dashboard's expressions were found");
    for (panel, expr) in &panels {
        if let Err(err) = data_by(&prometheus, expr, deadline) {
            failures.push(format!("dashboard panel {panel:?}: {expr}: {err}"));
        }
    }
    let alerts = loaded_alerts(&prometheus);
    let names: Vec<&str> = alerts.iter().map(|(name, _)| name.as_str()).collect();
    for expected in [
        "EngineDown",
        "EngineInputStalled",
        "EngineDeliveredLatencyHigh",
        "EngineJournalDiskLow",
        "EngineDeliveryErrors",
        "EngineSnapshotStall",
        "EngineStandbyLagging",
        "EngineShardWithoutStandby",
    ] {
        assert!(
            names.contains(&expected),
            "alerts.yml has {expected}: {names:?}"
        );
    }
    for (name, expr) in &alerts {
        if let Err(err) = query(&prometheus, expr) {
            failures.push(format!("alert {name}: {expr}: {err}"));
        }
        let signals = signals(expr);
        assert!(!signals.is_empty(), "alert {name} compares something");
        for signal in signals {
            if let Err(err) = data_by(&prometheus, &signal, deadline) {
                failures.push(format!("alert {name}: {signal}: {err}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} expressions returned no data:\n{}",
        failures.len(),
        panels.len() + alerts.len(),
        failures.join("\n")
    );
}
