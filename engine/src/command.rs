//! The engine's input: a fixed-size, heap-free `Command`.
//!
//! A command is what the gateway decodes from the wire and what the journal
//! stores. It is `Copy` so it can sit in a ring-buffer slot and be archived with
//! `rkyv` without pointers. Its timestamp is stamped at ingress; the matcher
//! reads time only from here, never from a clock.
//!
//! Commands are built from already-validated identifiers, but numeric fields
//! are not range-checked here: the engine checks them against the symbol's
//! rules and rejects with a reason, because the rules are per symbol and
//! configurable.

use crate::ids::{EngineId, OrderId, Symbol, UserId};
use crate::types::{OrderType, Price, Qty, Side, TimeInForce};

/// One instruction to the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct Command {
    /// Ingress timestamp in nanoseconds since the Unix epoch, stamped by the
    /// gateway and journaled. Trades carry it as their time.
    pub ts: u64,
    /// The instrument.
    pub symbol: Symbol,
    /// The user that owns the order.
    pub user_id: UserId,
    /// The client's order id: the new order's id for `Add`, the target's id
    /// for `Cancel` and `Replace`.
    pub order_id: OrderId,
    /// What to do.
    pub action: Action,
}

/// What a command asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[repr(u8)]
pub enum Action {
    /// Enter a new order.
    Add(OrderSpec) = 0,
    /// Cancel a live order (resting, or an untriggered stop).
    Cancel = 1,
    /// Change the price and/or total quantity of a resting order.
    Replace(ReplaceSpec) = 2,
}

/// The terms of a new order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct OrderSpec {
    /// Buy or sell.
    pub side: Side,
    /// Limit, market, stop or stop-limit.
    pub order_type: OrderType,
    /// How long the order may stay open.
    pub tif: TimeInForce,
    /// Reject instead of taking liquidity. Only for GTC limit orders.
    pub post_only: bool,
    /// The limit price for `Limit` and `StopLimit`. `Market` and `Stop`
    /// orders trade at any price: a price sent with one is accepted and
    /// ignored (the engine treats it as `0`), because upstream clients send
    /// a price with every order.
    pub price: Price,
    /// The trigger price for `Stop` and `StopLimit`; `0` otherwise.
    pub stop_price: Price,
    /// The order's total quantity.
    pub quantity: Qty,
    /// A FOK order's budget, in price ticks × quantity units: a buy fills
    /// only if it costs at most this, a sell only if it raises at least
    /// this. `0`: no budget.
    pub max_notional: u64,
}

impl OrderSpec {
    /// The terms the engine acts on: the same, except that a price on an
    /// order without a limit price is dropped, so it can neither be refused
    /// nor show up in events.
    pub(crate) fn in_force(self) -> OrderSpec {
        if self.order_type.has_limit_price() {
            self
        } else {
            OrderSpec { price: 0, ..self }
        }
    }

    /// A GTC limit order, the most common kind.
    pub fn limit(side: Side, price: Price, quantity: Qty) -> OrderSpec {
        OrderSpec {
            side,
            order_type: OrderType::Limit,
            tif: TimeInForce::Gtc,
            post_only: false,
            price,
            stop_price: 0,
            quantity,
            max_notional: 0,
        }
    }

    /// A market order. Its remainder always expires.
    pub fn market(side: Side, quantity: Qty) -> OrderSpec {
        OrderSpec {
            side,
            order_type: OrderType::Market,
            tif: TimeInForce::Ioc,
            post_only: false,
            price: 0,
            stop_price: 0,
            quantity,
            max_notional: 0,
        }
    }
}

/// The changes a replace asks for. At least one field must be set.
///
/// `new_quantity` is the new *total* quantity, FIX style: it includes what
/// has already been filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct ReplaceSpec {
    /// The new limit price, if it changes.
    pub new_price: Option<Price>,
    /// The new total quantity, if it changes.
    pub new_quantity: Option<Qty>,
}

impl Command {
    /// A command to add `spec` as `user`'s order `order`.
    pub fn add(ts: u64, symbol: Symbol, user: UserId, order: OrderId, spec: OrderSpec) -> Self {
        Command {
            ts,
            symbol,
            user_id: user,
            order_id: order,
            action: Action::Add(spec),
        }
    }

    /// A command to cancel `user`'s order `order`.
    pub fn cancel(ts: u64, symbol: Symbol, user: UserId, order: OrderId) -> Self {
        Command {
            ts,
            symbol,
            user_id: user,
            order_id: order,
            action: Action::Cancel,
        }
    }

    /// A command to replace `user`'s order `order`.
    pub fn replace(
        ts: u64,
        symbol: Symbol,
        user: UserId,
        order: OrderId,
        spec: ReplaceSpec,
    ) -> Self {
        Command {
            ts,
            symbol,
            user_id: user,
            order_id: order,
            action: Action::Replace(spec),
        }
    }
}

/// An operator's instruction to the engine: halt or resume a symbol,
/// cancel many orders at once, set a reference price, or give a partition
/// to another engine.
///
/// Admin commands are inputs like orders: journaled, sequenced and
/// replayed, so recovery, a standby and `replay` see the same market. They
/// arrive only on the `admin` topic (or the admin file input); the gateway
/// refuses an admin action on `orders`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct AdminCommand {
    /// Ingress timestamp, stamped and journaled like a command's.
    pub ts: u64,
    /// The operator's id for this request, echoed in its acknowledgement.
    /// It has an order id's rules.
    pub request_id: OrderId,
    /// What to do.
    pub action: AdminAction,
}

/// What an admin command asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
#[repr(u8)]
pub enum AdminAction {
    /// Stop trading a symbol: new orders and replaces are rejected with
    /// `SYMBOL_HALTED`; cancels are accepted.
    Halt {
        /// The symbol.
        symbol: Symbol,
    } = 0,
    /// Trade a halted symbol again. Stops its reference price reached
    /// while halted trigger now.
    Resume {
        /// The symbol.
        symbol: Symbol,
    } = 1,
    /// Cancel every live order of a user, of a symbol, or of a user within
    /// a symbol. At least one of the two is set.
    MassCancel {
        /// Only this symbol's orders, if set.
        symbol: Option<Symbol>,
        /// Only this user's orders, if set.
        user_id: Option<UserId>,
    } = 2,
    /// Set the price bands' reference, and the stops' trigger price until
    /// the first trade.
    SetReferencePrice {
        /// The symbol.
        symbol: Symbol,
        /// The new reference, in ticks.
        price: Price,
    } = 3,
    /// Give `orders` partition `partition`, and every book created by an
    /// input from it, to engine `to`: the first step of a move
    /// (`docs/shards.md#moving-a-partition`). The operator sends `MOVE`;
    /// the gateway fills in `after_offset`, so the journal says exactly
    /// where this engine stopped reading the partition.
    Release {
        /// The `orders` partition.
        partition: i32,
        /// The engine that takes it.
        to: EngineId,
        /// The partition's last offset this engine journaled: the new
        /// owner reads from the next one. `-1` if it journaled none.
        after_offset: i64,
    } = 4,
}

impl AdminAction {
    /// The wire name of the command, as the `command` field spells it.
    pub fn as_str(&self) -> &'static str {
        match self {
            AdminAction::Halt { .. } => "HALT",
            AdminAction::Resume { .. } => "RESUME",
            AdminAction::MassCancel { .. } => "MASS_CANCEL",
            AdminAction::SetReferencePrice { .. } => "SET_REFERENCE_PRICE",
            AdminAction::Release { .. } => "MOVE",
        }
    }

    /// The symbol it is about, if it names one.
    pub fn symbol(&self) -> Option<Symbol> {
        match *self {
            AdminAction::Halt { symbol }
            | AdminAction::Resume { symbol }
            | AdminAction::SetReferencePrice { symbol, .. } => Some(symbol),
            AdminAction::MassCancel { symbol, .. } => symbol,
            AdminAction::Release { .. } => None,
        }
    }
}
