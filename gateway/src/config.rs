//! The engine's TOML configuration file: reading it, and splitting its
//! `[engine]` table into the matcher's rules and the wire's price scale.
//!
//! Every key is optional and unknown keys are errors. The `engine` binary
//! lets flags override these values; the `replay` tool reads the same file
//! to re-run a journal under other rules. This module only parses and
//! validates: it opens no journal, starts nothing and prints nothing.

use std::path::{Path, PathBuf};

use engine::{EngineConfig, Symbol};
use serde::Deserialize;

use crate::kafka::KafkaConfig;
use crate::wire::{MAX_PRICE_DECIMALS, PriceDecimals};

/// The file, as written. Values that flags can also give stay text here,
/// so flag and file go through one parser each.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The journal directory.
    pub journal: Option<PathBuf>,
    /// `none`, `batch`, `sync` or `replicated`.
    pub durability: Option<String>,
    /// Under `replicated`: the local journal's `none`, `batch` or `sync`.
    pub local_durability: Option<String>,
    /// Under `replicated`: `primary` or `standby`.
    pub role: Option<String>,
    /// The engine (shard) id: in outputs, metrics, the Kafka client id and
    /// the assignments topic; under `replicated`, its journal topic is
    /// `journal.<engine_id>`.
    pub engine_id: Option<String>,
    /// With `engine_id` and Kafka input: the ownership lease, e.g. `6s`.
    pub ownership_lease: Option<String>,
    /// With `engine_id` and Kafka input: how long a giver waits for a
    /// move's commit before it rolls the move back, e.g. `30s`.
    pub move_timeout: Option<String>,
    /// `file:PATH`: admin commands beside a file input.
    pub admin_input: Option<String>,
    /// Under `replicated`: an idle leader's heartbeat period, e.g. `100ms`.
    pub heartbeat_interval: Option<String>,
    /// Under `replicated`: a standby's wait before it takes over, e.g.
    /// `500ms`.
    pub failover_timeout: Option<String>,
    /// Under `replicated`: a directory the shard's engines share for
    /// snapshots.
    pub snapshot_share: Option<PathBuf>,
    /// `kafka` or `file:PATH`.
    pub input: Option<String>,
    /// `kafka` or `file:DIR`.
    pub output: Option<String>,
    /// Exit when the input is exhausted.
    pub exit_at_end: Option<bool>,
    /// `ingress=N,journal=N,matcher=N,egress=N`.
    pub cores: Option<String>,
    /// Snapshot every N sequences; 0 only at exit.
    pub snapshot_every: Option<u64>,
    /// A statistics line this often, e.g. `1s`.
    pub stats_interval: Option<String>,
    /// Serve Prometheus metrics here, e.g. `0.0.0.0:9464`.
    pub metrics_addr: Option<String>,
    /// Percentiles and peaks in the metrics cover windows this long, e.g.
    /// `5s`.
    pub metrics_window: Option<String>,
    /// Book gauges in the metrics for this many of the busiest symbols.
    pub book_symbols: Option<usize>,
    /// `spin`, `yield` or `park`.
    pub wait: Option<String>,
    /// `wall` or `sequence`.
    pub clock: Option<String>,
    /// How prices are written in `orders` messages: `ticks` or `decimal`.
    pub price_format: Option<String>,
    /// `keep`, `delete` or `archive:DIR`.
    pub retention: Option<String>,
    /// Bytes per journal segment, e.g. `64MiB`.
    pub segment_size: Option<String>,
    /// Kafka topics, partitions, batch size and client properties.
    pub kafka: Option<KafkaConfig>,
    /// Matching rules, as `EngineConfig` reads them, plus `price_decimals`
    /// in `default_rules` and each `symbols.NAME`.
    pub engine: Option<toml::Table>,
}

impl ConfigFile {
    /// Reads and parses `path`; errors name the file and the key.
    pub fn load(path: &Path) -> Result<ConfigFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the config file {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))
    }

    /// The matcher's rules and the price scale of decimal prices, from the
    /// `[engine]` table (defaults without one).
    pub fn engine_rules(&self) -> Result<(EngineConfig, PriceDecimals), String> {
        let Some(table) = &self.engine else {
            return Ok((EngineConfig::default(), PriceDecimals::default()));
        };
        let mut table = table.clone();
        let decimals = take_price_decimals(&mut table)?;
        let text = toml::to_string(&table).map_err(|e| format!("the [engine] table: {e}"))?;
        let engine = EngineConfig::from_toml_str(&text)
            .map_err(|e| format!("the [engine] table of the config file: {e}"))?;
        Ok((engine, decimals))
    }
}

/// Removes `price_decimals` from `default_rules` and every `symbols.NAME`
/// and returns them. It is a property of the wire, not of matching: the
/// journal holds ticks, so it never changes what replay does, and it stays
/// out of the engine's snapshots and state hash. Like the other rules, a
/// symbol entry without it takes the built-in default (2), not
/// `default_rules`'.
fn take_price_decimals(engine: &mut toml::Table) -> Result<PriceDecimals, String> {
    let mut decimals = PriceDecimals::default();
    if let Some(toml::Value::Table(rules)) = engine.get_mut("default_rules")
        && let Some(value) = rules.remove("price_decimals")
    {
        decimals.default = decimals_value(&value, "engine.default_rules.price_decimals")?;
    }
    if let Some(toml::Value::Table(symbols)) = engine.get_mut("symbols") {
        for (name, rules) in symbols.iter_mut() {
            // Bad names and non-tables are reported by EngineConfig.
            let (Ok(symbol), toml::Value::Table(rules)) = (Symbol::new(name), rules) else {
                continue;
            };
            let places = match rules.remove("price_decimals") {
                Some(value) => {
                    decimals_value(&value, &format!("engine.symbols.{name}.price_decimals"))?
                }
                None => PriceDecimals::default().default,
            };
            decimals.symbols.insert(symbol, places);
        }
    }
    Ok(decimals)
}

fn decimals_value(value: &toml::Value, key: &str) -> Result<u8, String> {
    value
        .as_integer()
        .and_then(|n| u8::try_from(n).ok())
        .filter(|n| *n <= MAX_PRICE_DECIMALS)
        .ok_or_else(|| {
            format!("{key} = {value} must be a whole number from 0 to {MAX_PRICE_DECIMALS}")
        })
}

/// Parses a size such as `64MiB`, `1GiB`, `512KiB` or plain bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => 0,
    };
    number
        .parse::<u64>()
        .ok()
        .filter(|_| scale > 0)
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("{text:?} is not a size; write e.g. 64MiB, 1GiB or 67108864"))
}

/// The file in a journal directory that names the engine it belongs to
/// (`--engine-id`): its sequence, delivered mark and positions are that
/// engine's, and its outputs carry that id.
pub const ENGINE_ID_FILE: &str = "engine-id";

/// The engine id a journal directory is bound to, if any.
pub fn journal_engine_id(journal_dir: &Path) -> std::io::Result<Option<String>> {
    match std::fs::read_to_string(journal_dir.join(ENGINE_ID_FILE)) {
        Ok(text) => Ok(Some(text.trim().to_owned())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly by design

    use super::*;

    fn parse(text: &str) -> ConfigFile {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn price_decimals_go_to_the_wire_and_the_rest_to_the_engine() {
        let file = parse(
            r#"
            price_format = "decimal"
            [engine]
            max_symbols = 50
            [engine.default_rules]
            price_decimals = 4
            tick_size = 5
            [engine.symbols.BTC]
            price_decimals = 8
            [engine.symbols.AAPL]
            lot_size = 10
            "#,
        );
        let (engine, decimals) = file.engine_rules().unwrap();
        assert_eq!(engine.max_symbols, 50);
        assert_eq!(engine.default_rules.tick_size, 5);
        assert_eq!(decimals.default, 4);
        assert_eq!(decimals.of(&Symbol::new("BTC").unwrap()), 8);
        // Listed without it: the built-in 2, as for every other rule.
        assert_eq!(decimals.of(&Symbol::new("AAPL").unwrap()), 2);
        assert_eq!(decimals.of(&Symbol::new("ZZZ").unwrap()), 4);
        assert_eq!(file.price_format.as_deref(), Some("decimal"));
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = parse("[engine.symbols.BTC]\nprice_decimals = 19\n")
            .engine_rules()
            .unwrap_err();
        assert!(err.contains("engine.symbols.BTC.price_decimals"), "{err}");
        let err = parse("[engine.default_rules]\nprice_decimal = 2\n")
            .engine_rules()
            .unwrap_err();
        assert!(err.contains("price_decimal"), "{err}");
        assert!(toml::from_str::<ConfigFile>("segmentsize = \"1GiB\"").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("8 KiB"), Ok(8192));
        for bad in ["64MB", "MiB", "-1", "1.5GiB", "99999999999999GiB"] {
            assert!(parse_size(bad).unwrap_err().contains("64MiB"), "{bad}");
        }
    }
}
