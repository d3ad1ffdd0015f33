//! The engine's output: typed, fixed-size `Event`s.
//!
//! `Engine::apply` reports every outcome of a command as a sequence of events
//! handed to an [`EventSink`]. Events are values, not mutations of the
//! command, and hold no heap data, so a sink can copy them into a ring slot.
//!
//! The mapping to the wire (`docs/design.md` §5) is one to one, except that a
//! [`Trade`] carries both parties so that one event yields the `trades`
//! message and the two `fills` messages; that keeps the matcher's inner loop
//! to one event per execution.
//!
//! The order of events within one command is part of the contract (outputs
//! are numbered by it), and is documented on `Engine::apply`.

use crate::OrderSpec;
use crate::command::{AdminAction, ReplaceSpec};
use crate::ids::{OrderId, Symbol, UserId};
use crate::types::{Price, Qty, Side};

/// How many price levels per side a [`Depth`] event carries.
pub const DEPTH_LEVELS: usize = 5;

/// Which order an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderRef {
    /// The order's instrument.
    pub symbol: Symbol,
    /// The order's owner.
    pub user_id: UserId,
    /// The client's order id.
    pub order_id: OrderId,
}

/// Why a command was refused. Codes are stable: they are on the wire.
///
/// Codes 1–15 come from the matcher; 16–22 from the gateway, for messages
/// that never became a command; 23 from the matcher and 24 from the
/// gateway again, added with admin commands. One numbering keeps one table
/// for operators and clients.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug))]
#[repr(u16)]
#[non_exhaustive]
pub enum RejectReason {
    /// The symbol is not configured and the auto-create limit is reached.
    UnknownSymbol = 1,
    /// The user already has a live order with this id.
    DuplicateOrderId = 2,
    /// The quantity is zero, or (from the gateway) negative, fractional or
    /// too large for 64 bits.
    InvalidQuantity = 3,
    /// The quantity is below the symbol's minimum.
    QuantityBelowMinimum = 4,
    /// The quantity is above the symbol's maximum.
    QuantityAboveMaximum = 5,
    /// The quantity is not a multiple of the symbol's lot size.
    LotSizeViolation = 6,
    /// A limit price is zero where one is required, or (from the gateway)
    /// negative, too large, or finer than the symbol's price scale.
    InvalidPrice = 7,
    /// The price is not a multiple of the symbol's tick size.
    TickSizeViolation = 8,
    /// The price is outside the band around the reference price.
    PriceOutOfBand = 9,
    /// The stop price is missing or not on the tick grid, or (from the
    /// gateway) negative, too large, or finer than the price scale.
    InvalidStopPrice = 10,
    /// A post-only order would have taken liquidity.
    PostOnlyWouldTake = 11,
    /// The combination of order type, time in force and flags is not
    /// supported (post-only on anything but a GTC limit order).
    InvalidOrderCombination = 12,
    /// The cancel or replace target is not a live order of this user on this
    /// symbol: unknown, already filled, cancelled or expired.
    UnknownOrder = 13,
    /// Untriggered stop orders can be cancelled but not replaced.
    OrderNotReplaceable = 14,
    /// A replace that changes neither price nor quantity.
    EmptyReplace = 15,
    /// The message is not valid JSON, or not a JSON object.
    MalformedMessage = 16,
    /// `action` is not `ADD`, `CANCEL` or `REPLACE`.
    UnknownAction = 17,
    /// A field the action needs is absent.
    MissingField = 18,
    /// A field has the wrong JSON type, a value outside its enumeration (an
    /// unknown `order_type`), appears twice, or contradicts another field.
    InvalidFieldValue = 19,
    /// The symbol does not match `^[A-Z0-9]{1,10}$`.
    InvalidSymbol = 20,
    /// An order or user id is empty, too long or holds a space or control
    /// character.
    InvalidIdentifier = 21,
    /// The message is longer than the gateway accepts.
    MessageTooLarge = 22,
    /// The symbol is halted: new orders and replaces are refused until an
    /// operator resumes it. Cancels are accepted.
    SymbolHalted = 23,
    /// An admin action (`HALT`, `MASS_CANCEL`, ...) arrived on `orders`.
    /// Admin commands are accepted only from the `admin` topic.
    NotPermitted = 24,
    /// The symbol's partition was given to another engine, or is being
    /// given: this engine no longer trades it.
    SymbolMoved = 25,
    /// A move is under way on this engine, or the partition is not one
    /// this engine can move; one move at a time.
    MoveRefused = 26,
    /// A market-to-limit order found the opposite side empty: there is no
    /// price to give it.
    NoLiquidity = 27,
    /// `max_notional` on an order that is not a FOK limit or market order.
    InvalidNotional = 28,
    /// A time in force the order type does not take: a market-to-limit
    /// order is always GTC.
    InvalidTimeInForce = 29,
}

impl RejectReason {
    /// The stable numeric code.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// The machine-readable wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::UnknownSymbol => "UNKNOWN_SYMBOL",
            RejectReason::DuplicateOrderId => "DUPLICATE_ORDER_ID",
            RejectReason::InvalidQuantity => "INVALID_QUANTITY",
            RejectReason::QuantityBelowMinimum => "QUANTITY_BELOW_MINIMUM",
            RejectReason::QuantityAboveMaximum => "QUANTITY_ABOVE_MAXIMUM",
            RejectReason::LotSizeViolation => "LOT_SIZE_VIOLATION",
            RejectReason::InvalidPrice => "INVALID_PRICE",
            RejectReason::TickSizeViolation => "TICK_SIZE_VIOLATION",
            RejectReason::PriceOutOfBand => "PRICE_OUT_OF_BAND",
            RejectReason::InvalidStopPrice => "INVALID_STOP_PRICE",
            RejectReason::PostOnlyWouldTake => "POST_ONLY_WOULD_TAKE",
            RejectReason::InvalidOrderCombination => "INVALID_ORDER_COMBINATION",
            RejectReason::UnknownOrder => "UNKNOWN_ORDER",
            RejectReason::OrderNotReplaceable => "ORDER_NOT_REPLACEABLE",
            RejectReason::EmptyReplace => "EMPTY_REPLACE",
            RejectReason::MalformedMessage => "MALFORMED_MESSAGE",
            RejectReason::UnknownAction => "UNKNOWN_ACTION",
            RejectReason::MissingField => "MISSING_FIELD",
            RejectReason::InvalidFieldValue => "INVALID_FIELD_VALUE",
            RejectReason::InvalidSymbol => "INVALID_SYMBOL",
            RejectReason::InvalidIdentifier => "INVALID_IDENTIFIER",
            RejectReason::MessageTooLarge => "MESSAGE_TOO_LARGE",
            RejectReason::SymbolHalted => "SYMBOL_HALTED",
            RejectReason::NotPermitted => "NOT_PERMITTED",
            RejectReason::SymbolMoved => "SYMBOL_MOVED",
            RejectReason::MoveRefused => "MOVE_REFUSED",
            RejectReason::NoLiquidity => "NO_LIQUIDITY",
            RejectReason::InvalidNotional => "INVALID_NOTIONAL",
            RejectReason::InvalidTimeInForce => "INVALID_TIME_IN_FORCE",
        }
    }

    /// Every reason, in code order.
    pub const ALL: [RejectReason; 29] = [
        RejectReason::UnknownSymbol,
        RejectReason::DuplicateOrderId,
        RejectReason::InvalidQuantity,
        RejectReason::QuantityBelowMinimum,
        RejectReason::QuantityAboveMaximum,
        RejectReason::LotSizeViolation,
        RejectReason::InvalidPrice,
        RejectReason::TickSizeViolation,
        RejectReason::PriceOutOfBand,
        RejectReason::InvalidStopPrice,
        RejectReason::PostOnlyWouldTake,
        RejectReason::InvalidOrderCombination,
        RejectReason::UnknownOrder,
        RejectReason::OrderNotReplaceable,
        RejectReason::EmptyReplace,
        RejectReason::MalformedMessage,
        RejectReason::UnknownAction,
        RejectReason::MissingField,
        RejectReason::InvalidFieldValue,
        RejectReason::InvalidSymbol,
        RejectReason::InvalidIdentifier,
        RejectReason::MessageTooLarge,
        RejectReason::SymbolHalted,
        RejectReason::NotPermitted,
        RejectReason::SymbolMoved,
        RejectReason::MoveRefused,
        RejectReason::NoLiquidity,
        RejectReason::InvalidNotional,
        RejectReason::InvalidTimeInForce,
    ];

    /// Its place in [`RejectReason::ALL`], for arrays indexed by reason:
    /// codes run from 1 without gaps.
    pub fn index(self) -> usize {
        usize::from(self.code() - 1)
    }
}

/// Why an order left the book without trading to completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CancelReason {
    /// The owner sent a `CANCEL`.
    Requested = 0,
    /// Self-trade prevention removed it.
    SelfTrade = 1,
    /// A replace reduced its total quantity to or below what was filled.
    ReplacedToFilled = 2,
    /// An operator's mass cancel removed it.
    MassCancel = 3,
}

impl CancelReason {
    /// The machine-readable wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CancelReason::Requested => "REQUESTED",
            CancelReason::SelfTrade => "SELF_TRADE_PREVENTION",
            CancelReason::ReplacedToFilled => "REPLACED_TO_FILLED",
            CancelReason::MassCancel => "MASS_CANCEL",
        }
    }
}

/// One side of an execution, enough to build that order's `fills` message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TradeParty {
    /// The client's order id.
    pub order_id: OrderId,
    /// The order's owner.
    pub user_id: UserId,
    /// What is left of the order after this execution; zero means `FILLED`.
    pub remaining: Qty,
}

/// One execution between an aggressor and a resting order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trade {
    /// Engine-assigned, strictly increasing from 1, never reused.
    pub trade_id: u64,
    /// The instrument.
    pub symbol: Symbol,
    /// The resting order's price.
    pub price: Price,
    /// The executed quantity.
    pub quantity: Qty,
    /// The side of the incoming (taking) order.
    pub aggressor: Side,
    /// The buying order.
    pub buyer: TradeParty,
    /// The selling order.
    pub seller: TradeParty,
    /// The ingress timestamp of the command that caused the trade.
    pub ts: u64,
}

/// One aggregated price level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DepthLevel {
    /// The level's price.
    pub price: Price,
    /// The total open quantity at the level.
    pub quantity: Qty,
    /// How many orders rest at the level.
    pub orders: u32,
}

/// The best [`DEPTH_LEVELS`] levels of one side, best first.
#[derive(Clone, Copy, Debug, Default, Eq)]
pub struct DepthSide {
    levels: [DepthLevel; DEPTH_LEVELS],
    len: u8,
}

impl PartialEq for DepthSide {
    fn eq(&self, other: &DepthSide) -> bool {
        // Only the visible levels: usually one differs, and near the top.
        self.levels() == other.levels()
    }
}

impl DepthSide {
    /// Builds a side from levels given best first, keeping the best
    /// [`DEPTH_LEVELS`].
    pub fn from_best_first(levels: &[DepthLevel]) -> DepthSide {
        let mut side = DepthSide::default();
        for (rank, level) in levels.iter().take(DEPTH_LEVELS).enumerate() {
            side.insert(rank, *level);
        }
        side
    }

    /// The populated levels, best first.
    pub fn levels(&self) -> &[DepthLevel] {
        &self.levels[..usize::from(self.len)]
    }

    /// The rank of the level at `price`, if it is one of these.
    pub(crate) fn rank_of(&self, price: Price) -> Option<usize> {
        self.levels().iter().position(|level| level.price == price)
    }

    /// Overwrites the level at `rank`.
    pub(crate) fn set(&mut self, rank: usize, level: DepthLevel) {
        self.levels[rank] = level;
    }

    /// Inserts a level at `rank` (at most the current length), dropping
    /// the worst level if all [`DEPTH_LEVELS`] are taken.
    pub(crate) fn insert(&mut self, rank: usize, level: DepthLevel) {
        if usize::from(self.len) < DEPTH_LEVELS {
            self.len += 1;
        }
        let len = usize::from(self.len);
        self.levels.copy_within(rank..len - 1, rank + 1);
        self.levels[rank] = level;
    }

    /// Removes the level at `rank`, shifting worse levels up. Unused slots
    /// stay zeroed, so `==` compares only what is visible.
    pub(crate) fn remove(&mut self, rank: usize) {
        let len = usize::from(self.len);
        self.levels.copy_within(rank + 1..len, rank);
        self.levels[len - 1] = DepthLevel::default();
        self.len -= 1;
    }
}

/// The top of one book after a command changed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Depth {
    /// The instrument.
    pub symbol: Symbol,
    /// Best bids, highest price first.
    pub bids: DepthSide,
    /// Best asks, lowest price first.
    pub asks: DepthSide,
    /// The price of the last trade on this symbol, `0` if none yet.
    pub last_price: Price,
    /// The quantity of the last trade on this symbol, `0` if none yet.
    pub last_qty: Qty,
}

/// An outcome of a command. See `Engine::apply` for their order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A new order passed validation. Always the first event of its `ADD`.
    Accepted {
        /// The order.
        order: OrderRef,
        /// Its terms in force: as submitted, except that a market or stop
        /// order's ignored price is `0`.
        spec: OrderSpec,
    },
    /// An `ADD` was refused; nothing changed.
    Rejected {
        /// The order that was refused.
        order: OrderRef,
        /// Why.
        reason: RejectReason,
    },
    /// A live order was removed from the book or the stop list.
    Cancelled {
        /// The order.
        order: OrderRef,
        /// The open quantity it had.
        remaining: Qty,
        /// Why it was removed.
        reason: CancelReason,
    },
    /// A `CANCEL` was refused; nothing changed.
    CancelRejected {
        /// The target named by the cancel.
        order: OrderRef,
        /// Why.
        reason: RejectReason,
    },
    /// A `REPLACE` took effect. Matching events may follow.
    Replaced {
        /// The order.
        order: OrderRef,
        /// What was asked for.
        spec: ReplaceSpec,
        /// The price now in force.
        price: Price,
        /// The total quantity now in force (filled plus open).
        quantity: Qty,
        /// The open quantity now in force.
        remaining: Qty,
        /// Whether the order kept its place in the queue.
        kept_priority: bool,
    },
    /// A `REPLACE` was refused; nothing changed.
    ReplaceRejected {
        /// The target named by the replace.
        order: OrderRef,
        /// Why.
        reason: RejectReason,
    },
    /// An IOC, FOK or market remainder ended without resting.
    Expired {
        /// The order.
        order: OrderRef,
        /// The quantity that did not trade.
        remaining: Qty,
    },
    /// A stop order's trigger was reached; it now trades as a market or limit
    /// order. Its executions follow.
    Triggered {
        /// The order.
        order: OrderRef,
        /// Its trigger price.
        stop_price: Price,
        /// The price that triggered it: the last trade's, or before the
        /// symbol's first trade its reference price.
        last_price: Price,
    },
    /// An execution.
    Trade(Trade),
    /// The top of the book changed. At most one per command and book, after
    /// that book's other events.
    Depth(Depth),
    /// An admin command took effect. Always its last event.
    AdminApplied {
        /// The request.
        request: AdminRef,
        /// How many orders a mass cancel removed; 0 for other commands.
        cancelled: u32,
    },
    /// An admin command was refused; nothing changed.
    AdminRejected {
        /// The request.
        request: AdminRef,
        /// Why: an unknown symbol, or a reference price off the grid.
        reason: RejectReason,
    },
    /// A move of a partition went one step further on this engine.
    MoveStepped {
        /// The move: the `MOVE` request's id.
        move_id: OrderId,
        /// The `orders` partition.
        partition: i32,
        /// What happened.
        step: MoveStep,
        /// The books the move carries.
        books: u32,
        /// Their live orders, stops included.
        orders: u32,
    },
}

/// A step of a partition's move, as the engine that took it reports it on
/// `admin_status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MoveStep {
    /// The giving engine released the partition's books; its export
    /// follows on `handover`.
    Released,
    /// The taking engine rebuilt the books from the journaled export; it
    /// commits next.
    Acquired,
    /// The taking engine could not use the export (digest, a symbol or an
    /// order id it already has, no room for the books): it rolls back.
    AcquireFailed(RejectReason),
    /// The commit record stands: the taker trades the books, the giver
    /// dropped them.
    Moved,
    /// The move was aborted: the giver trades the books again, the taker
    /// dropped its copy.
    RolledBack,
}

impl MoveStep {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MoveStep::Released => "RELEASED",
            MoveStep::Acquired => "ACQUIRED",
            MoveStep::AcquireFailed(_) => "ACQUIRE_FAILED",
            MoveStep::Moved => "MOVED",
            MoveStep::RolledBack => "ROLLED_BACK",
        }
    }
}

/// Which admin request an event answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdminRef {
    /// The operator's request id.
    pub request_id: OrderId,
    /// What it asked for.
    pub action: AdminAction,
}

/// Receives the events of each command, in order.
///
/// The engine calls it synchronously from the matcher thread; an
/// implementation must not block, and on the hot path must not allocate.
pub trait EventSink {
    /// Takes one event.
    fn on_event(&mut self, event: &Event);
}

/// Collects events, for tests and tools. Allocates; keep it off the hot path.
impl EventSink for Vec<Event> {
    fn on_event(&mut self, event: &Event) {
        self.push(*event);
    }
}

impl<S: EventSink + ?Sized> EventSink for &mut S {
    fn on_event(&mut self, event: &Event) {
        (**self).on_event(event);
    }
}
