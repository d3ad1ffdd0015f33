//! Prices, quantities and order attributes.
//!
//! Prices and quantities are unsigned integer ticks and lots (`u64`). Nothing
//! in the engine uses floating point, so arithmetic is exact and identical on
//! every machine. A price of 150.00 with a tick of 0.01 travels as `15000`; the
//! scale is a convention between clients and the symbol's rules, never
//! something the engine converts.
//!
//! Every enum here is stored on disk (journal, snapshots), so each has explicit
//! discriminants in declaration order, and a test pins the archived bytes.
//! Never reorder variants; append new ones with the next free code.

use std::fmt;

/// A price in integer ticks of the symbol. `0` means "no price" (market orders,
/// orders without a stop).
pub type Price = u64;

/// A quantity in integer units (shares, contracts).
pub type Qty = u64;

/// The side of an order.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq, Eq))]
#[repr(u8)]
pub enum Side {
    /// Bid: wants to buy.
    Buy = 0,
    /// Ask: wants to sell.
    Sell = 1,
}

impl Side {
    /// The side this one trades against.
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    /// The wire name: `BUY` or `SELL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an order is priced.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq, Eq))]
#[repr(u8)]
pub enum OrderType {
    /// Trades at its limit price or better; a GTC remainder rests.
    Limit = 0,
    /// Trades at any price; a remainder expires and never rests.
    Market = 1,
    /// Becomes a market order when the last trade price reaches `stop_price`.
    Stop = 2,
    /// Becomes a limit order at `price` when the last trade price reaches
    /// `stop_price`.
    StopLimit = 3,
    /// Trades at the best opposite price only; its remainder rests as a
    /// limit order at that price. Refused when the opposite side is empty.
    MarketToLimit = 4,
}

impl OrderType {
    /// The wire name: `LIMIT`, `MARKET`, `STOP`, `STOP_LIMIT` or
    /// `MARKET_TO_LIMIT`.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderType::Limit => "LIMIT",
            OrderType::Market => "MARKET",
            OrderType::Stop => "STOP",
            OrderType::StopLimit => "STOP_LIMIT",
            OrderType::MarketToLimit => "MARKET_TO_LIMIT",
        }
    }

    /// Whether a GTC order of this type can rest in a book once it has a
    /// limit: a limit, a triggered stop-limit, a market-to-limit.
    pub fn can_rest(self) -> bool {
        matches!(
            self,
            OrderType::Limit | OrderType::StopLimit | OrderType::MarketToLimit
        )
    }

    /// Whether the order waits for a trigger before it can trade.
    pub fn is_stop(self) -> bool {
        matches!(self, OrderType::Stop | OrderType::StopLimit)
    }

    /// Whether the order has a limit price of its own. `Market` and `Stop`
    /// orders trade at any price, and a `MarketToLimit` order takes the
    /// best opposite price, so a price sent with one is ignored.
    pub fn has_limit_price(self) -> bool {
        matches!(self, OrderType::Limit | OrderType::StopLimit)
    }
}

/// How long an order may stay open.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq, Eq))]
#[repr(u8)]
pub enum TimeInForce {
    /// Good till cancelled: a limit remainder rests in the book.
    #[default]
    Gtc = 0,
    /// Immediate or cancel: whatever does not trade on arrival expires.
    Ioc = 1,
    /// Fill or kill: trades its whole quantity on arrival, or nothing at all.
    Fok = 2,
}

impl TimeInForce {
    /// The wire name: `GTC`, `IOC` or `FOK`.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeInForce::Gtc => "GTC",
            TimeInForce::Ioc => "IOC",
            TimeInForce::Fok => "FOK",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archived_byte<T>(value: &T) -> u8
    where
        T: for<'a> rkyv::Serialize<
                rkyv::api::high::HighSerializer<
                    rkyv::util::AlignedVec,
                    rkyv::ser::allocator::ArenaHandle<'a>,
                    rkyv::rancor::Error,
                >,
            >,
    {
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(value).unwrap();
        assert_eq!(bytes.len(), 1);
        bytes[0]
    }

    /// The journal and snapshots store these tags; they must never move.
    #[test]
    fn archived_enum_tags_are_the_explicit_discriminants() {
        for side in [Side::Buy, Side::Sell] {
            assert_eq!(archived_byte(&side), side as u8);
        }
        for t in [
            OrderType::Limit,
            OrderType::Market,
            OrderType::Stop,
            OrderType::StopLimit,
        ] {
            assert_eq!(archived_byte(&t), t as u8);
        }
        for tif in [TimeInForce::Gtc, TimeInForce::Ioc, TimeInForce::Fok] {
            assert_eq!(archived_byte(&tif), tif as u8);
        }
    }
}
