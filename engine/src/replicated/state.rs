//! The replication state file in the journal directory: the role, the
//! epoch, how far the log is agreed, and where to go on reading the topic.
//!
//! It is a hint for a quick restart and for `replay info`, never the truth:
//! the topic is. A reader that finds it missing, unreadable or ahead of the
//! local journal reads the topic from its start instead. It is replaced
//! whole (written beside it, then renamed), never edited in place.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The state file's name.
pub const STATE_FILE: &str = "replication.json";

/// What the state file holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationState {
    /// `primary` or `standby`: what this engine was doing when it wrote it.
    pub role: String,
    /// The epoch in force.
    pub epoch: u64,
    /// The last sequence of the agreed log that the local journal holds.
    pub agreed_through: u64,
    /// The topic offset to read next; every entry before it is accounted
    /// for in the local journal up to `agreed_through`.
    pub next_offset: i64,
}

impl ReplicationState {
    /// Reads the state file in `dir`, if there is a readable one.
    pub fn read(dir: &Path) -> Option<ReplicationState> {
        let text = std::fs::read_to_string(dir.join(STATE_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Replaces the state file in `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let temp = dir.join(format!("{STATE_FILE}.tmp"));
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&temp, text + "\n")?;
        std::fs::rename(&temp, dir.join(STATE_FILE))
    }
}
