//! librdkafka's log lines and client errors, routed to `tracing` with a
//! rate limit.
//!
//! While a broker is down librdkafka reports the same failure every few
//! hundred milliseconds; an operator needs to see it once, then a count.
//! This never prints to stdout and never panics on what it is given.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;

/// How often one client may log a warning or error.
const QUIET: Duration = Duration::from_secs(10);

struct Window {
    last: Option<Instant>,
    suppressed: u64,
}

/// Logging for one client, named in every line.
pub(crate) struct ClientLog {
    client: &'static str,
    window: Mutex<Window>,
}

impl ClientLog {
    pub fn new(client: &'static str) -> ClientLog {
        ClientLog {
            client,
            window: Mutex::new(Window {
                last: None,
                suppressed: 0,
            }),
        }
    }

    /// Whether a warning may be logged now, and how many were held back
    /// since the last one.
    fn admit(&self) -> Option<u64> {
        let mut window = self.window.lock().ok()?;
        let now = Instant::now();
        match window.last {
            Some(last) if now.duration_since(last) < QUIET => {
                window.suppressed += 1;
                None
            }
            _ => {
                window.last = Some(now);
                Some(std::mem::take(&mut window.suppressed))
            }
        }
    }

    /// A librdkafka log line.
    pub fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        let client = self.client;
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error
            | RDKafkaLogLevel::Warning => {
                if let Some(suppressed) = self.admit() {
                    tracing::warn!(client, facility, suppressed, "kafka: {message}");
                }
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(client, facility, "kafka: {message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(client, facility, "kafka: {message}"),
        }
    }

    /// A client error (broker down, authentication, ...). librdkafka keeps
    /// retrying after these; fatal ones surface through the client's calls.
    pub fn error(&self, error: &KafkaError, reason: &str) {
        if let Some(suppressed) = self.admit() {
            let client = self.client;
            tracing::error!(client, suppressed, %error, "kafka: {reason}");
        }
    }
}
