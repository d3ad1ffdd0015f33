//! Where a re-execution starts, and under which rules.
//!
//! A replay from a snapshot keeps the rules recorded in it. A replay from
//! the journal's first record needs the rules the engine started with,
//! which the journal does not hold; every snapshot records them, so the
//! oldest one supplies them, unless the operator names a config file.

use std::fmt;

use engine::history::{History, Start};
use engine::sequenced::{Replayer, SourcePositions};
use engine::{Engine, EngineConfig};

use crate::Error;

/// Where the rules of a replay from the journal's start came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RulesFrom {
    /// The snapshot at this sequence recorded them.
    Snapshot(u64),
    /// A config file the operator gave.
    ConfigFile,
    /// No snapshot and no file: the built-in defaults.
    Defaults,
}

impl fmt::Display for RulesFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RulesFrom::Snapshot(seq) => write!(f, "as recorded in snapshot {seq}"),
            RulesFrom::ConfigFile => f.write_str("from the config file"),
            RulesFrom::Defaults => {
                f.write_str("the defaults (no usable snapshot records them; --config names others)")
            }
        }
    }
}

/// The rules a replay from the journal's first record runs under.
pub(crate) fn genesis_rules(
    history: &History,
    explicit: Option<&EngineConfig>,
) -> Result<(EngineConfig, RulesFrom), Error> {
    if let Some(config) = explicit {
        return Ok((config.clone(), RulesFrom::ConfigFile));
    }
    for entry in history.snapshots()?.iter().rev() {
        if entry.state.is_err() {
            continue;
        }
        let loaded = history.load(entry.sequence)?;
        let checkpoint = loaded
            .checkpoint()
            .map_err(|e| Error::Usage(e.to_string()))?;
        if let Ok(rules) = Engine::rules_in_snapshot(checkpoint.engine) {
            return Ok((rules, RulesFrom::Snapshot(entry.sequence)));
        }
    }
    Ok((EngineConfig::default(), RulesFrom::Defaults))
}

/// A replayer at the newest usable snapshot at or before `sequence`, or at
/// the journal's start under [`genesis_rules`].
pub(crate) fn replayer_at(
    history: &History,
    sequence: u64,
    explicit: Option<&EngineConfig>,
) -> Result<(Start, RulesFrom), Error> {
    let (rules, from) = genesis_rules(history, explicit)?;
    let start = history.replayer_at(sequence, &quiet(rules))?;
    let from = match start.snapshot {
        Some(seq) => RulesFrom::Snapshot(seq),
        None => from,
    };
    Ok((start, from))
}

/// A replayer at the journal's start under other `rules`: no snapshot
/// applies (their states were reached under the recorded rules), and no
/// recorded state hash is checked. Needs every input from sequence 1.
pub(crate) fn under_other_rules(
    history: &History,
    rules: &EngineConfig,
    what: &str,
) -> Result<Replayer, Error> {
    let first = history.first_sequence()?.unwrap_or(1);
    if first > 1 {
        return Err(Error::Usage(format!(
            "{what} under other rules re-runs every input from sequence 1, and the journal \
             starts at {first} (earlier segments were retired)"
        )));
    }
    let engine = Engine::new(quiet(rules.clone())).map_err(|e| Error::Usage(e.to_string()))?;
    Ok(Replayer::new(engine, 0, SourcePositions::default()))
}

/// Rules for engines a tool builds. A server reserves room for a million
/// orders and touches it up front, so its hot path never grows a table; a
/// tool starts small, so its order index stays in cache (which makes
/// re-execution several times faster) and grows when a book needs it.
pub(crate) fn quiet(mut rules: EngineConfig) -> EngineConfig {
    rules.memory.prefault = false;
    rules.memory.order_capacity = 1 << 14;
    rules
}
