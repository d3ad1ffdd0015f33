//! What happens to journal segments and snapshot files that recovery no
//! longer needs, so the journal never fills the disk (`docs/design.md` §4).
//!
//! Recovery restarts from the newest valid snapshot at or before the
//! delivered mark and replays the records after it. So a segment may go only
//! when every record in it is covered by such a snapshot, and a snapshot may
//! be pruned only when it is neither among the newest few nor that one.
//! This runs on the snapshot thread after each snapshot is written; it never
//! touches the newest segment, which the journaler is appending to.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use journal::{Retire, Retired, SnapshotStore};

/// How many snapshot files are kept besides the one recovery would start
/// from; older ones are removed after a new one is written.
pub(crate) const SNAPSHOTS_KEPT: usize = 3;

/// What to do with journal segments that recovery no longer needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Retention {
    /// Keep every segment. The default: nothing is deleted unless asked.
    #[default]
    Keep,
    /// Delete them.
    Delete,
    /// Move them into this directory, for history and the `replay` tool.
    Archive(PathBuf),
}

impl FromStr for Retention {
    type Err = String;

    /// `keep`, `delete` or `archive:DIR`.
    fn from_str(text: &str) -> Result<Retention, String> {
        match text.split_once(':') {
            None if text == "keep" => Ok(Retention::Keep),
            None if text == "delete" => Ok(Retention::Delete),
            Some(("archive", dir)) if !dir.is_empty() => Ok(Retention::Archive(dir.into())),
            _ => Err(format!(
                "unknown retention {text:?}; use keep, delete or archive:DIR"
            )),
        }
    }
}

impl Retention {
    /// The journal's action for this policy; `None` keeps everything.
    fn action(&self) -> Option<Retire> {
        match self {
            Retention::Keep => None,
            Retention::Delete => Some(Retire::Delete),
            Retention::Archive(dir) => Some(Retire::MoveTo(dir.clone())),
        }
    }
}

/// Removes snapshot files beyond the newest [`SNAPSHOTS_KEPT`], except the
/// newest one at or before `delivered`, which recovery would start from.
/// Returns the snapshots removed.
pub(crate) fn prune_snapshots(store: &SnapshotStore, delivered: u64) -> journal::Result<Vec<u64>> {
    let sequences = store.list()?; // newest first
    let recovery_start = sequences.iter().copied().find(|s| *s <= delivered);
    let mut removed = Vec::new();
    for sequence in sequences.into_iter().skip(SNAPSHOTS_KEPT) {
        if Some(sequence) != recovery_start {
            store.remove(sequence)?;
            removed.push(sequence);
        }
    }
    Ok(removed)
}

/// Applies `retention` to the journal in `dir`, given that every input up
/// to `delivered` has its outputs delivered.
pub(crate) fn retire(
    dir: &Path,
    retention: &Retention,
    delivered: u64,
) -> journal::Result<Retired> {
    match retention.action() {
        None => Ok(Retired::default()),
        Some(how) => journal::retire_segments(dir, &how, delivered),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly by design

    use super::*;

    #[test]
    fn parses_the_three_policies_and_explains_the_rest() {
        assert_eq!("keep".parse(), Ok(Retention::Keep));
        assert_eq!("delete".parse(), Ok(Retention::Delete));
        assert_eq!(
            "archive:/srv/old".parse(),
            Ok(Retention::Archive("/srv/old".into()))
        );
        for bad in ["archive:", "purge", ""] {
            let err = bad.parse::<Retention>().unwrap_err();
            assert!(err.contains("keep, delete or archive:DIR"), "{err}");
        }
    }

    #[test]
    fn pruning_keeps_the_newest_and_the_one_recovery_needs() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(dir.path());
        for seq in [100, 200, 300, 400, 500, 600] {
            store.write(seq, b"state").unwrap();
        }
        // Delivery lags at 250: recovery would start from 200, so it stays.
        assert_eq!(prune_snapshots(&store, 250).unwrap(), vec![300, 100]);
        assert_eq!(store.list().unwrap(), vec![600, 500, 400, 200]);
        // Delivery caught up: 200 is no longer needed.
        assert_eq!(prune_snapshots(&store, 600).unwrap(), vec![200]);
        assert_eq!(store.list().unwrap(), vec![600, 500, 400]);
    }
}
