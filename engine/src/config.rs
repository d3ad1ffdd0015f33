//! Engine configuration: per-symbol trading rules, the symbol limit and the
//! self-trade prevention mode.
//!
//! Configuration is read once, validated as a whole, and then frozen into the
//! engine (and its snapshots). Nothing here is consulted from outside the
//! matcher thread, and nothing here reads files: callers hand in text.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ids::Symbol;
use crate::types::{Price, Qty};

/// Trading rules of one symbol.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[serde(default, deny_unknown_fields)]
pub struct SymbolRules {
    /// Prices must be multiples of this many ticks. By default, 1.
    pub tick_size: Price,
    /// Quantities must be multiples of this. By default, 1.
    pub lot_size: Qty,
    /// The smallest accepted total quantity. By default, 1.
    pub min_quantity: Qty,
    /// The largest accepted total quantity. By default, 1,000,000.
    pub max_quantity: Qty,
    /// Limit prices must lie within this many basis points of the reference
    /// price (the last trade, else `reference_price`). By default, no band.
    pub price_band_bps: Option<u32>,
    /// The reference price used for the band until the first trade. By
    /// default, none: no band applies before the first trade.
    pub reference_price: Option<Price>,
}

impl Default for SymbolRules {
    fn default() -> Self {
        SymbolRules {
            tick_size: 1,
            lot_size: 1,
            min_quantity: 1,
            max_quantity: 1_000_000,
            price_band_bps: None,
            reference_price: None,
        }
    }
}

impl SymbolRules {
    /// Checks that the rules can be satisfied at all.
    pub fn validate(&self) -> Result<(), String> {
        if self.tick_size == 0 {
            return Err("tick_size must be at least 1".into());
        }
        if self.lot_size == 0 {
            return Err("lot_size must be at least 1".into());
        }
        if self.min_quantity == 0 {
            return Err("min_quantity must be at least 1".into());
        }
        if self.min_quantity > self.max_quantity {
            return Err(format!(
                "min_quantity {} is above max_quantity {}",
                self.min_quantity, self.max_quantity
            ));
        }
        if self.price_band_bps.is_some_and(|bps| bps > 10_000) {
            return Err("price_band_bps must be at most 10000 (100%)".into());
        }
        if self.reference_price == Some(0) {
            return Err("reference_price must be at least 1 when set".into());
        }
        Ok(())
    }

    /// The inclusive price range the band allows around `reference`.
    pub(crate) fn band(&self, reference: Price) -> Option<(Price, Price)> {
        let bps = u128::from(self.price_band_bps?);
        // u128 so that a reference near u64::MAX cannot overflow.
        let width = u128::from(reference) * bps / 10_000;
        let low = u128::from(reference).saturating_sub(width);
        let high = (u128::from(reference) + width).min(u128::from(u64::MAX));
        Some((low as Price, high as Price))
    }
}

/// What to do when an incoming order would trade with a resting order of the
/// same user.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum SelfTradePrevention {
    /// Cancel the resting order and keep matching. The default.
    #[default]
    CancelResting = 0,
    /// Cancel the incoming order's remainder; the resting order stays.
    CancelIncoming = 1,
    /// Cancel both.
    CancelBoth = 2,
    /// Let the trade happen.
    Allow = 3,
}

/// The largest accepted `max_symbols`.
pub const MAX_SYMBOLS_LIMIT: u32 = 1_000_000;
/// The largest accepted `order_capacity`: 2^26 orders reserve about 8 GiB
/// of address space for the order arena.
pub const ORDER_CAPACITY_LIMIT: u32 = 1 << 26;

/// How the engine lays out memory. Operational only: it never changes what
/// the engine does, so it is not part of snapshots or the state hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryConfig {
    /// How many live orders to make room for up front, so that the hot path
    /// does not grow tables. More still fit; growing past it allocates.
    /// By default, 1,048,576.
    pub order_capacity: u32,
    /// Touch the reserved memory at start, so that the first orders do not
    /// take page faults inside the matcher. Costs start-up time (about 50 ms
    /// per million orders of capacity) and resident memory. By default, off;
    /// servers and benchmarks turn it on.
    pub prefault: bool,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            order_capacity: 1 << 20,
            prefault: false,
        }
    }
}

/// Everything the engine needs to start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Rules for symbols created on their first order.
    pub default_rules: SymbolRules,
    /// Symbols with their own rules (`[symbols.AAPL]` in TOML), created at
    /// start in symbol order. Unset rule fields take the built-in defaults,
    /// not `default_rules`, so each entry reads completely on its own.
    pub symbols: BTreeMap<Symbol, SymbolRules>,
    /// The most symbols the engine holds, configured ones included. An `ADD`
    /// for a new symbol beyond this is rejected with `UNKNOWN_SYMBOL`.
    /// By default, 10,000.
    pub max_symbols: u32,
    /// The self-trade prevention mode. By default, cancel the resting order.
    pub self_trade_prevention: SelfTradePrevention,
    /// Memory layout; see [`MemoryConfig`].
    pub memory: MemoryConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            default_rules: SymbolRules::default(),
            symbols: BTreeMap::new(),
            max_symbols: 10_000,
            self_trade_prevention: SelfTradePrevention::default(),
            memory: MemoryConfig::default(),
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The TOML text does not parse or has unknown keys.
    #[error("engine config: {0}")]
    Parse(#[from] toml::de::Error),
    /// A rule set is inconsistent.
    #[error("engine config: rules for {scope}: {problem}")]
    BadRules {
        /// `default_rules` or the symbol.
        scope: String,
        /// What is wrong.
        problem: String,
    },
    /// A size is beyond what one engine supports.
    #[error("engine config: {name} = {value} is above the limit of {limit}")]
    TooLarge {
        /// The setting.
        name: &'static str,
        /// Its value.
        value: u32,
        /// The largest accepted value.
        limit: u32,
    },
    /// More symbols are listed than `max_symbols` allows.
    #[error("engine config: {listed} symbols are listed but max_symbols is {max_symbols}")]
    TooManySymbols {
        /// How many are listed.
        listed: usize,
        /// The limit.
        max_symbols: u32,
    },
}

impl EngineConfig {
    /// Parses and validates a TOML configuration.
    ///
    /// ```
    /// let config = engine::EngineConfig::from_toml_str(r#"
    ///     max_symbols = 100
    ///     [symbols.AAPL]
    ///     tick_size = 5
    ///     price_band_bps = 1000
    /// "#)?;
    /// assert_eq!(config.symbols[&engine::Symbol::new("AAPL")?].tick_size, 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_toml_str(text: &str) -> Result<EngineConfig, ConfigError> {
        let config: EngineConfig = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the whole configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.default_rules
            .validate()
            .map_err(|problem| ConfigError::BadRules {
                scope: "default_rules".into(),
                problem,
            })?;
        for (symbol, rules) in &self.symbols {
            rules.validate().map_err(|problem| ConfigError::BadRules {
                scope: symbol.to_string(),
                problem,
            })?;
        }
        for (name, value, limit) in [
            ("max_symbols", self.max_symbols, MAX_SYMBOLS_LIMIT),
            (
                "memory.order_capacity",
                self.memory.order_capacity,
                ORDER_CAPACITY_LIMIT,
            ),
        ] {
            if value > limit {
                return Err(ConfigError::TooLarge { name, value, limit });
            }
        }
        if self.symbols.len() > self.max_symbols as usize {
            return Err(ConfigError::TooManySymbols {
                listed: self.symbols.len(),
                max_symbols: self.max_symbols,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_toml_gives_the_defaults() {
        assert_eq!(
            EngineConfig::from_toml_str("").unwrap(),
            EngineConfig::default()
        );
    }

    #[test]
    fn unknown_keys_are_an_error_that_names_them() {
        let err = EngineConfig::from_toml_str("max_symbol = 3")
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_symbol"), "{err}");
    }

    #[test]
    fn inconsistent_rules_name_the_symbol() {
        let err =
            EngineConfig::from_toml_str("[symbols.MSFT]\nmin_quantity = 10\nmax_quantity = 5\n")
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("MSFT") && err.contains("min_quantity"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_in_a_symbol_entry_are_an_error() {
        let err = EngineConfig::from_toml_str("[symbols.A]\ntick = 5\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("tick"), "{err}");
    }

    #[test]
    fn bad_symbol_text_is_rejected() {
        assert!(EngineConfig::from_toml_str("[symbols.msft]\n").is_err());
    }

    #[test]
    fn duplicate_symbols_are_rejected() {
        let text = "[symbols.A]\ntick_size = 2\n[symbols.A]\nlot_size = 2\n";
        assert!(matches!(
            EngineConfig::from_toml_str(text),
            Err(ConfigError::Parse(_))
        ));
    }

    #[test]
    fn sizes_beyond_the_limits_are_rejected_not_allocated() {
        let err = EngineConfig::from_toml_str("[memory]\norder_capacity = 4294967295").unwrap_err();
        assert!(err.to_string().contains("order_capacity"), "{err}");
        assert!(EngineConfig::from_toml_str("max_symbols = 1000001").is_err());
    }

    #[test]
    fn self_trade_mode_reads_snake_case() {
        let config =
            EngineConfig::from_toml_str("self_trade_prevention = \"cancel_both\"").unwrap();
        assert_eq!(
            config.self_trade_prevention,
            SelfTradePrevention::CancelBoth
        );
    }

    #[test]
    fn band_is_symmetric_in_basis_points() {
        let rules = SymbolRules {
            price_band_bps: Some(1000),
            ..SymbolRules::default()
        };
        assert_eq!(rules.band(15_000), Some((13_500, 16_500)));
        assert_eq!(SymbolRules::default().band(15_000), None);
    }
}
