//! From flag text to the library's inputs: times into sequences, text
//! into symbols and ids, config files into rules. Every failure here is a
//! usage error (exit 2) that says what to write instead.

use std::path::Path;

use engine::{EngineConfig, Symbol};
use replay::{Error, first_at_or_after, parse_time};

/// A usage error, exit 2, saying what to write instead.
pub fn usage(text: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Error::Usage(text.into()))
}

/// The engine rules of a config file, as `engine --config` reads it.
pub fn rules(path: &Path) -> anyhow::Result<EngineConfig> {
    let file = gateway::config::ConfigFile::load(path).map_err(usage)?;
    let (rules, _) = file.engine_rules().map_err(usage)?;
    Ok(rules)
}

pub fn symbol(text: &str) -> anyhow::Result<Symbol> {
    Symbol::new(text).map_err(|e| usage(format!("--symbol {text:?}: {e}")))
}

/// The journal's last ingress time, for times given without a date.
pub fn last_day(dir: &Path) -> anyhow::Result<u64> {
    let history = engine::history::History::open(dir).map_err(Error::from)?;
    let end = history.reader().end_sequence().map_err(Error::from)?;
    if end <= 1 {
        return Ok(0);
    }
    Ok(replay::ts_at(&history, end - 1)?)
}

pub fn time(text: &str, dir: &Path, flag: &str) -> anyhow::Result<u64> {
    let day = last_day(dir)?;
    parse_time(text, day).map_err(|e| usage(format!("{flag}: {e}")))
}

/// `--from`/`--to` as given, or the sequences `--since`/`--until` name: the
/// first input at or after `since` and the last at or before `until`.
pub fn sequence_span(
    dir: &Path,
    from: Option<u64>,
    to: Option<u64>,
    since: &Option<String>,
    until: &Option<String>,
) -> anyhow::Result<(Option<u64>, Option<u64>)> {
    let from = match since {
        Some(text) => {
            let ns = time(text, dir, "--since")?;
            let history = engine::history::History::open(dir).map_err(Error::from)?;
            let first = history.first_sequence().map_err(Error::from)?.unwrap_or(1);
            let end = history.reader().end_sequence().map_err(Error::from)?;
            Some(first_at_or_after(&history, first, end, ns)?)
        }
        None => from,
    };
    let to = match until {
        Some(text) => Some(last_at_or_before(dir, text, "--until")?),
        None => to,
    };
    Ok((from, to))
}

/// Resolves `--at SEQ|TIME`: digits alone are a sequence; a time is the
/// last input at or before it.
pub fn at_sequence(text: &str, dir: &Path) -> anyhow::Result<u64> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map_err(|e| usage(format!("--at {text:?}: {e}")));
    }
    last_at_or_before(dir, text, "--at")
}

/// The last input stamped at or before the time `text`.
pub fn last_at_or_before(dir: &Path, text: &str, flag: &str) -> anyhow::Result<u64> {
    let ns = time(text, dir, flag)?;
    let history = engine::history::History::open(dir).map_err(Error::from)?;
    let first = history.first_sequence().map_err(Error::from)?.unwrap_or(1);
    let end = history.reader().end_sequence().map_err(Error::from)?;
    let after = first_at_or_after(&history, first, end, ns.saturating_add(1))?;
    if after <= first {
        return Err(usage(format!(
            "{flag} {text}: the journal's first input ({first}) is later than that"
        )));
    }
    Ok(after - 1)
}
