//! `engine` processes for the benchmarks that run several of them (`ha`,
//! `move`): start one with its log in a directory, wait for a log line,
//! stop it for its summary or kill it. It measures nothing itself.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `engine`, killed when dropped.
pub(crate) struct Engine {
    child: Option<Child>,
}

impl Engine {
    /// Starts `engine` on journal `dir/name`, its stderr appended to
    /// `dir/name.log`, with `args`.
    pub(crate) fn spawn(
        engine: &Path,
        dir: &Path,
        name: &str,
        args: &[&str],
    ) -> Result<Engine, String> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(dir.join(format!("{name}.log")))
            .map_err(|e| e.to_string())?;
        let child = Command::new(engine)
            .arg("--journal")
            .arg(dir.join(name))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", engine.display()))?;
        Ok(Engine { child: Some(child) })
    }

    /// SIGKILL, and wait for it.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then its JSON summary.
    pub(crate) fn stop(mut self) -> Result<serde_json::Value, String> {
        let child = self.child.take().ok_or("not running")?;
        let pid = child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .map_err(|e| e.to_string())?;
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .last()
            .ok_or("the engine printed no summary")?;
        serde_json::from_str(line).map_err(|e| format!("{e}: {line}"))
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Engine `name`'s log so far.
pub(crate) fn log_of(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
}

/// Waits up to a minute until engine `name` has logged `text` `times`
/// times.
pub(crate) fn wait_log(dir: &Path, name: &str, text: &str, times: usize) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while log_of(dir, name).matches(text).count() < times {
        if Instant::now() > deadline {
            return Err(format!(
                "{name} never logged {text:?}:\n{}",
                log_of(dir, name)
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}
