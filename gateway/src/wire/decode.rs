//! Decoding `orders` messages, in either accepted form, and `admin`
//! messages into journaled [`Input`]s.
//!
//! Two forms arrive on the topic (`docs/design.md` §5, `docs/kafka.md`):
//! - the canonical one: `action`, snake_case names, prices in integer ticks;
//! - the order router's: the REST body forwarded as is, with no `action`
//!   (an `ADD`), camelCase names, and with `price_format = "decimal"`
//!   prices in currency units, converted exactly with the symbol's
//!   `price_decimals`.
//!
//! Each field is taken from the JSON as raw text and interpreted here, so
//! that every refusal names the field at fault and what is wrong with it
//! ([`Malformed`]). Decoding never fails and never panics: a message that
//! cannot become a command becomes a `Malformed` input, which is journaled
//! and answered with exactly one `REJECTED`. Decoding borrows from the
//! message and allocates nothing unless a string holds JSON escapes.
//!
//! Admin commands (`docs/shards.md`) have their own decoder,
//! [`Decoder::decode_admin`], and their own topic. An `orders` message that
//! carries an admin action, or an admin message's `command` field, is
//! refused as `NOT_PERMITTED`: whoever may write orders must not be able to
//! halt a market.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use engine::sequenced::{Input, InputField, Malformed, Problem};
use engine::{
    AdminAction, AdminCommand, Command, EngineId, OrderId, OrderSpec, OrderType, Price,
    RejectReason, ReplaceSpec, Side, Symbol, TimeInForce, UserId,
};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::number::{NumberError, scaled};

/// The longest `orders` message accepted, in bytes.
pub(crate) const MAX_MESSAGE_BYTES: usize = 4096;

/// How prices are written in `orders` messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PriceFormat {
    /// Integer ticks of the symbol (`15000`): the canonical form. The default.
    #[default]
    Ticks,
    /// Currency units (`150.00`), converted exactly with the symbol's
    /// `price_decimals`: what the order router forwards from REST clients.
    Decimal,
}

impl PriceFormat {
    /// The name, as the config file spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            PriceFormat::Ticks => "ticks",
            PriceFormat::Decimal => "decimal",
        }
    }
}

impl std::str::FromStr for PriceFormat {
    type Err = String;
    fn from_str(text: &str) -> Result<PriceFormat, String> {
        match text {
            "ticks" => Ok(PriceFormat::Ticks),
            "decimal" => Ok(PriceFormat::Decimal),
            other => Err(format!(
                "unknown price_format {other:?}; use ticks or decimal"
            )),
        }
    }
}

/// The decimal places a price in currency units has, per symbol: 2 means
/// `250.50` is 25050 ticks of 0.01.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceDecimals {
    /// For symbols without their own setting (and symbols created on their
    /// first order). By default, 2.
    pub default: u8,
    /// Per configured symbol.
    pub symbols: BTreeMap<Symbol, u8>,
}

impl Default for PriceDecimals {
    fn default() -> PriceDecimals {
        PriceDecimals {
            default: 2,
            symbols: BTreeMap::new(),
        }
    }
}

/// The most decimal places a price may have: 10^18 still fits in a `u64`
/// with room for prices up to 18 currency units.
pub(crate) const MAX_PRICE_DECIMALS: u8 = 18;

impl PriceDecimals {
    /// The decimal places of `symbol`'s prices.
    pub fn of(&self, symbol: &Symbol) -> u8 {
        self.symbols.get(symbol).copied().unwrap_or(self.default)
    }
}

/// Turns `orders` messages into inputs, by the configured wire settings.
#[derive(Clone, Debug, Default)]
pub struct Decoder {
    format: PriceFormat,
    decimals: PriceDecimals,
}

impl Decoder {
    /// A decoder for prices in `format`, scaled by `decimals` when decimal.
    pub fn new(format: PriceFormat, decimals: PriceDecimals) -> Decoder {
        Decoder { format, decimals }
    }

    /// The price format in force.
    pub fn format(&self) -> PriceFormat {
        self.format
    }

    /// Decodes one `orders` message. Never fails: bad messages become
    /// [`Input::Malformed`] naming the field and the problem. The command's
    /// `ts` is left 0 for ingress to stamp.
    pub fn decode(&self, bytes: &[u8]) -> Input {
        let fields = match fields_of(bytes) {
            Ok(fields) => fields,
            Err((reason, problem)) => return whole_message(reason, problem),
        };
        let mut ids = Ids::default();
        match self.command(&fields, &mut ids) {
            Ok(command) => Input::Command(command),
            Err(refusal) => Input::Malformed(refusal.naming(ids)),
        }
    }

    /// Decodes one `admin` message for the engine `engine_id` (or for an
    /// engine without one). `None` when the message names another engine
    /// in `engine_id`: it is that engine's to journal. Otherwise an
    /// [`Input::Admin`], or [`Input::MalformedAdmin`] naming the field and
    /// the problem; the command's `ts` is left 0 for ingress to stamp.
    pub fn decode_admin(&self, bytes: &[u8], engine_id: Option<&str>) -> Option<Input> {
        let fields = match fields_of(bytes) {
            Ok(fields) => fields,
            Err((reason, problem)) => {
                let whole = Malformed::new(reason, InputField::Message, problem);
                return Some(Input::MalformedAdmin(whole));
            }
        };
        if let Some(raw) = fields.get(InputField::EngineId)
            && let Ok(target) = text(raw, InputField::EngineId)
            && Some(target.as_ref()) != engine_id
        {
            return None;
        }
        let mut ids = Ids::default();
        Some(match self.admin_command(&fields, &mut ids) {
            Ok(command) => Input::Admin(command),
            Err(refusal) => Input::MalformedAdmin(refusal.naming(ids)),
        })
    }

    fn admin_command(&self, f: &Fields<'_>, ids: &mut Ids) -> Result<AdminCommand, Refusal> {
        use InputField as F;
        // Read what names the request first, so any refusal can name it.
        let symbol = optional_symbol(f, ids);
        let user_id = optional_user(f, ids);
        let request_id = match f.get(F::RequestId) {
            None => Err(missing(F::RequestId)),
            Some(raw) => {
                identifier(raw, F::RequestId, OrderId::new).inspect(|id| ids.order_id = Some(*id))
            }
        };
        if let Some(field) = f.duplicate {
            return Err(Refusal::new(
                RejectReason::InvalidFieldValue,
                field,
                Problem::GivenTwice,
            ));
        }
        if let Some(raw) = f.get(F::EngineId) {
            // It matched this engine's id, or it is not a string.
            text(raw, F::EngineId)?;
        }
        let raw = f
            .get(F::AdminCommand)
            .ok_or_else(|| missing(F::AdminCommand))?;
        let command = text(raw, F::AdminCommand)?;
        let request_id = request_id?;
        let symbol = symbol?;
        let user_id = user_id?;
        let needs_symbol = || symbol.ok_or_else(|| missing(F::Symbol));
        let action = match command.as_ref() {
            "HALT" => AdminAction::Halt {
                symbol: needs_symbol()?,
            },
            "RESUME" => AdminAction::Resume {
                symbol: needs_symbol()?,
            },
            "MASS_CANCEL" => {
                if symbol.is_none() && user_id.is_none() {
                    // Cancelling everything needs a symbol or a user: one
                    // missing field, named, rather than a market wiped.
                    return Err(missing(F::Symbol));
                }
                AdminAction::MassCancel { symbol, user_id }
            }
            "SET_REFERENCE_PRICE" => {
                let symbol = needs_symbol()?;
                let raw = f.get(F::Price).ok_or_else(|| missing(F::Price))?;
                let price = scaled_price(
                    raw,
                    F::Price,
                    self.price_decimals(&symbol),
                    RejectReason::InvalidPrice,
                )?;
                AdminAction::SetReferencePrice { symbol, price }
            }
            "MOVE" => {
                let raw = f.get(F::Partition).ok_or_else(|| missing(F::Partition))?;
                let partition = quantity(raw, F::Partition)
                    .ok()
                    .and_then(|p| i32::try_from(p).ok())
                    .ok_or_else(|| {
                        Refusal::new(
                            RejectReason::InvalidFieldValue,
                            F::Partition,
                            Problem::NotANumber,
                        )
                    })?;
                let raw = f.get(F::To).ok_or_else(|| missing(F::To))?;
                AdminAction::Release {
                    partition,
                    to: identifier(raw, F::To, EngineId::new)?,
                    // The source that reads it fills this in.
                    after_offset: -1,
                }
            }
            _ => {
                return Err(Refusal::new(
                    RejectReason::UnknownAction,
                    F::AdminCommand,
                    Problem::UnknownValue,
                ));
            }
        };
        Ok(AdminCommand {
            ts: 0,
            request_id,
            action,
        })
    }

    fn command(&self, f: &Fields<'_>, ids: &mut Ids) -> Result<Command, Refusal> {
        use InputField as F;
        if f.get(F::AdminCommand).is_some() {
            let _ = read_ids(f, ids);
            return Err(not_permitted(F::AdminCommand));
        }
        if let Some(field) = f.duplicate {
            // Read the ids first so the refusal can still name the order.
            let _ = read_ids(f, ids);
            return Err(Refusal::new(
                RejectReason::InvalidFieldValue,
                field,
                Problem::GivenTwice,
            ));
        }
        let action = match f.get(F::Action) {
            // The router's form has no action: it only ever adds.
            None => Action::Add,
            Some(raw) => match text(raw, F::Action)?.as_ref() {
                "ADD" => Action::Add,
                "CANCEL" => Action::Cancel,
                "REPLACE" => Action::Replace,
                "HALT" | "RESUME" | "MASS_CANCEL" | "SET_REFERENCE_PRICE" => {
                    let _ = read_ids(f, ids);
                    return Err(not_permitted(F::Action));
                }
                _ => {
                    let _ = read_ids(f, ids);
                    return Err(Refusal::new(
                        RejectReason::UnknownAction,
                        F::Action,
                        Problem::UnknownValue,
                    ));
                }
            },
        };
        let (symbol, user, id) = read_ids(f, ids)?;
        match action {
            Action::Cancel => Ok(Command::cancel(0, symbol, user, id)),
            Action::Replace => {
                let decimals = self.price_decimals(&symbol);
                let spec = ReplaceSpec {
                    new_price: optional_price(
                        f,
                        F::NewPrice,
                        decimals,
                        RejectReason::InvalidPrice,
                    )?,
                    new_quantity: optional_quantity(f, F::NewQuantity)?,
                };
                Ok(Command::replace(0, symbol, user, id, spec))
            }
            Action::Add => {
                let spec = self.order_spec(f, &symbol)?;
                Ok(Command::add(0, symbol, user, id, spec))
            }
        }
    }

    fn order_spec(&self, f: &Fields<'_>, symbol: &Symbol) -> Result<OrderSpec, Refusal> {
        use InputField as F;
        let side = side(f)?;
        let order_type = match f.get(F::OrderType) {
            None => OrderType::Limit,
            Some(raw) => match text(raw, F::OrderType)?.as_ref() {
                "LIMIT" => OrderType::Limit,
                "MARKET" => OrderType::Market,
                "STOP" => OrderType::Stop,
                "STOP_LIMIT" => OrderType::StopLimit,
                "MARKET_TO_LIMIT" => OrderType::MarketToLimit,
                _ => return Err(unknown_value(F::OrderType)),
            },
        };
        let default_tif = match order_type {
            // A market remainder never rests, so IOC is what it means.
            OrderType::Market | OrderType::Stop => TimeInForce::Ioc,
            OrderType::Limit | OrderType::StopLimit | OrderType::MarketToLimit => TimeInForce::Gtc,
        };
        let tif = match f.get(F::TimeInForce) {
            None => default_tif,
            Some(raw) => match text(raw, F::TimeInForce)?.as_ref() {
                "GTC" => TimeInForce::Gtc,
                "IOC" => TimeInForce::Ioc,
                "FOK" => TimeInForce::Fok,
                _ => return Err(unknown_value(F::TimeInForce)),
            },
        };
        let post_only = match f.get(F::PostOnly) {
            None => false,
            Some(raw) => boolean(raw, F::PostOnly)?,
        };
        let decimals = self.price_decimals(symbol);
        // A market or stop order trades at any price. Upstream REST clients
        // must send one anyway, so it is not read at all (`docs/engine.md`).
        let price = if order_type.has_limit_price() {
            let raw = f.get(F::Price).ok_or_else(|| missing(F::Price))?;
            scaled_price(raw, F::Price, decimals, RejectReason::InvalidPrice)?
        } else {
            0
        };
        let stop_price = match (order_type.is_stop(), f.get(F::StopPrice)) {
            (true, None) => return Err(missing(F::StopPrice)),
            // A stop price on a non-stop order reaches the engine, which
            // refuses it with INVALID_STOP_PRICE.
            (_, Some(raw)) => {
                scaled_price(raw, F::StopPrice, decimals, RejectReason::InvalidStopPrice)?
            }
            (false, None) => 0,
        };
        let raw = f.get(F::Quantity).ok_or_else(|| missing(F::Quantity))?;
        let quantity = quantity(raw, F::Quantity)?;
        // A budget is an amount of money, written like a price. `0` would
        // read as "no budget": refused, so a client never gets an order
        // without the budget it sent.
        let max_notional = match f.get(F::MaxNotional) {
            None => 0,
            Some(raw) => {
                match scaled_price(raw, F::MaxNotional, decimals, RejectReason::InvalidNotional)? {
                    0 => {
                        return Err(Refusal::new(
                            RejectReason::InvalidNotional,
                            F::MaxNotional,
                            Problem::Zero,
                        ));
                    }
                    budget => budget,
                }
            }
        };
        // Not traded yet: refused, never traded as a plain limit order.
        if let Some(raw) = f.get(F::AllOrNone)
            && boolean(raw, F::AllOrNone)?
        {
            return Err(not_supported(F::AllOrNone));
        }
        if f.get(F::DisplayQuantity).is_some() {
            return Err(not_supported(F::DisplayQuantity));
        }
        Ok(OrderSpec {
            side,
            order_type,
            tif,
            post_only,
            price,
            stop_price,
            quantity,
            max_notional,
        })
    }

    fn price_decimals(&self, symbol: &Symbol) -> u8 {
        match self.format {
            PriceFormat::Ticks => 0,
            PriceFormat::Decimal => self.decimals.of(symbol),
        }
    }
}

enum Action {
    Add,
    Cancel,
    Replace,
}

/// Identifiers read so far, for naming the order in a refusal.
#[derive(Default)]
struct Ids {
    symbol: Option<Symbol>,
    user_id: Option<UserId>,
    order_id: Option<OrderId>,
}

/// Why a message is refused: the code, the field, the problem.
struct Refusal {
    reason: RejectReason,
    field: InputField,
    problem: Problem,
}

impl Refusal {
    fn new(reason: RejectReason, field: InputField, problem: Problem) -> Refusal {
        Refusal {
            reason,
            field,
            problem,
        }
    }

    /// The journaled form, naming whatever ids the message held.
    fn naming(self, ids: Ids) -> Malformed {
        Malformed {
            reason: self.reason,
            field: self.field,
            problem: self.problem,
            symbol: ids.symbol,
            user_id: ids.user_id,
            order_id: ids.order_id,
        }
    }
}

/// A message's known fields, or why the message as a whole is refused:
/// too long, empty, not JSON, or not an object.
fn fields_of(bytes: &[u8]) -> Result<Fields<'_>, (RejectReason, Problem)> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err((RejectReason::MessageTooLarge, Problem::TooLong));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err((RejectReason::MalformedMessage, Problem::Empty));
    }
    serde_json::from_slice::<Fields<'_>>(bytes).map_err(|err| {
        let problem = match err.classify() {
            // Valid JSON that is not an object: `deserialize_map` refuses
            // its type.
            serde_json::error::Category::Data => Problem::NotAnObject,
            _ => Problem::NotJson,
        };
        (RejectReason::MalformedMessage, problem)
    })
}

fn whole_message(reason: RejectReason, problem: Problem) -> Input {
    Input::Malformed(Malformed::new(reason, InputField::Message, problem))
}

/// An admin action on `orders`.
fn not_permitted(field: InputField) -> Refusal {
    Refusal::new(RejectReason::NotPermitted, field, Problem::AdminOnly)
}

/// A validated identifier (order, user or request id).
fn identifier<T, E>(
    raw: &RawValue,
    field: InputField,
    new: fn(&str) -> Result<T, E>,
) -> Result<T, Refusal> {
    new(&text(raw, field)?).map_err(|_| {
        Refusal::new(
            RejectReason::InvalidIdentifier,
            field,
            Problem::BadIdentifier,
        )
    })
}

/// An admin message's `symbol`, if given; recorded in `ids` when valid.
fn optional_symbol(f: &Fields<'_>, ids: &mut Ids) -> Result<Option<Symbol>, Refusal> {
    let Some(raw) = f.get(InputField::Symbol) else {
        return Ok(None);
    };
    let symbol = Symbol::new(&text(raw, InputField::Symbol)?).map_err(|_| {
        Refusal::new(
            RejectReason::InvalidSymbol,
            InputField::Symbol,
            Problem::BadSymbol,
        )
    })?;
    ids.symbol = Some(symbol);
    Ok(Some(symbol))
}

/// An admin message's `user_id`, if given; recorded in `ids` when valid.
fn optional_user(f: &Fields<'_>, ids: &mut Ids) -> Result<Option<UserId>, Refusal> {
    let Some(raw) = f.get(InputField::UserId) else {
        return Ok(None);
    };
    let user = identifier(raw, InputField::UserId, UserId::new)?;
    ids.user_id = Some(user);
    Ok(Some(user))
}

fn missing(field: InputField) -> Refusal {
    Refusal::new(RejectReason::MissingField, field, Problem::Missing)
}

fn unknown_value(field: InputField) -> Refusal {
    Refusal::new(
        RejectReason::InvalidFieldValue,
        field,
        Problem::UnknownValue,
    )
}

fn not_supported(field: InputField) -> Refusal {
    Refusal::new(
        RejectReason::InvalidFieldValue,
        field,
        Problem::NotSupported,
    )
}

fn wrong_type(field: InputField, problem: Problem) -> Refusal {
    Refusal::new(RejectReason::InvalidFieldValue, field, problem)
}

/// Reads symbol, user id and order id, in that order, recording each valid
/// one in `ids` as it goes.
fn read_ids(f: &Fields<'_>, ids: &mut Ids) -> Result<(Symbol, UserId, OrderId), Refusal> {
    use InputField as F;
    let raw = f.get(F::Symbol).ok_or_else(|| missing(F::Symbol))?;
    let symbol = Symbol::new(&text(raw, F::Symbol)?)
        .map_err(|_| Refusal::new(RejectReason::InvalidSymbol, F::Symbol, Problem::BadSymbol))?;
    ids.symbol = Some(symbol);
    let raw = f.get(F::UserId).ok_or_else(|| missing(F::UserId))?;
    let user = UserId::new(&text(raw, F::UserId)?).map_err(|_| {
        Refusal::new(
            RejectReason::InvalidIdentifier,
            F::UserId,
            Problem::BadIdentifier,
        )
    })?;
    ids.user_id = Some(user);
    let raw = f.get(F::OrderId).ok_or_else(|| missing(F::OrderId))?;
    let id = OrderId::new(&text(raw, F::OrderId)?).map_err(|_| {
        Refusal::new(
            RejectReason::InvalidIdentifier,
            F::OrderId,
            Problem::BadIdentifier,
        )
    })?;
    ids.order_id = Some(id);
    Ok((symbol, user, id))
}

/// `is_buy` (a boolean) or `side` (`BUY`/`SELL`); both may be given if they
/// agree.
fn side(f: &Fields<'_>) -> Result<Side, Refusal> {
    use InputField as F;
    let from_flag = match f.get(F::IsBuy) {
        None => None,
        Some(raw) => Some(if boolean(raw, F::IsBuy)? {
            Side::Buy
        } else {
            Side::Sell
        }),
    };
    let from_text = match f.get(F::Side) {
        None => None,
        Some(raw) => Some(match text(raw, F::Side)?.as_ref() {
            "BUY" => Side::Buy,
            "SELL" => Side::Sell,
            _ => return Err(unknown_value(F::Side)),
        }),
    };
    match (from_flag, from_text) {
        (Some(a), Some(b)) if a != b => Err(wrong_type(F::Side, Problem::Conflict)),
        (Some(side), _) | (None, Some(side)) => Ok(side),
        (None, None) => Err(missing(F::Side)),
    }
}

/// A JSON string, borrowed unless it holds escapes.
fn text<'a>(raw: &'a RawValue, field: InputField) -> Result<Cow<'a, str>, Refusal> {
    #[derive(Deserialize)]
    struct Text<'a>(#[serde(borrow)] Cow<'a, str>);
    serde_json::from_str::<Text<'a>>(raw.get())
        .map(|t| t.0)
        .map_err(|_| wrong_type(field, Problem::NotAString))
}

fn boolean(raw: &RawValue, field: InputField) -> Result<bool, Refusal> {
    match raw.get() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(wrong_type(field, Problem::NotABoolean)),
    }
}

/// A price field, scaled by `decimals`; `reason` is the code for a value
/// that is a number but not a usable price.
fn scaled_price(
    raw: &RawValue,
    field: InputField,
    decimals: u8,
    reason: RejectReason,
) -> Result<Price, Refusal> {
    scaled(raw.get(), decimals).map_err(|err| match err {
        NumberError::NotANumber => wrong_type(field, Problem::NotANumber),
        NumberError::Negative => Refusal::new(reason, field, Problem::Negative),
        NumberError::TooPrecise => Refusal::new(reason, field, Problem::TooPrecise { decimals }),
        NumberError::TooLarge => Refusal::new(reason, field, Problem::TooLarge),
    })
}

fn optional_price(
    f: &Fields<'_>,
    field: InputField,
    decimals: u8,
    reason: RejectReason,
) -> Result<Option<Price>, Refusal> {
    f.get(field)
        .map(|raw| scaled_price(raw, field, decimals, reason))
        .transpose()
}

/// A quantity: a whole number of units.
fn quantity(raw: &RawValue, field: InputField) -> Result<u64, Refusal> {
    scaled(raw.get(), 0).map_err(|err| match err {
        NumberError::NotANumber => wrong_type(field, Problem::NotANumber),
        NumberError::Negative => {
            Refusal::new(RejectReason::InvalidQuantity, field, Problem::Negative)
        }
        NumberError::TooPrecise => Refusal::new(
            RejectReason::InvalidQuantity,
            field,
            Problem::TooPrecise { decimals: 0 },
        ),
        NumberError::TooLarge => {
            Refusal::new(RejectReason::InvalidQuantity, field, Problem::TooLarge)
        }
    })
}

fn optional_quantity(f: &Fields<'_>, field: InputField) -> Result<Option<u64>, Refusal> {
    f.get(field).map(|raw| quantity(raw, field)).transpose()
}

/// The names a field is accepted under: canonical first, then the order
/// router's camelCase. Client timestamps (`client_ts`, `clientTs`, and the
/// router's `timestamp`) are accepted and ignored like any other unknown
/// key: the engine stamps its own time at ingress.
const NAMES: [(InputField, &[&str]); 22] = [
    (InputField::Action, &["action"]),
    (InputField::Symbol, &["symbol"]),
    (InputField::OrderId, &["order_id", "orderId"]),
    (InputField::UserId, &["user_id", "userId"]),
    (InputField::IsBuy, &["is_buy", "isBuy"]),
    (InputField::Side, &["side"]),
    (InputField::Price, &["price"]),
    (InputField::Quantity, &["quantity"]),
    (InputField::OrderType, &["order_type", "orderType"]),
    (InputField::TimeInForce, &["tif", "timeInForce"]),
    (InputField::PostOnly, &["post_only", "postOnly"]),
    (InputField::StopPrice, &["stop_price", "stopPrice"]),
    (InputField::NewPrice, &["new_price", "newPrice"]),
    (InputField::NewQuantity, &["new_quantity", "newQuantity"]),
    (InputField::AdminCommand, &["command"]),
    (InputField::RequestId, &["request_id", "requestId"]),
    (InputField::EngineId, &["engine_id", "engineId"]),
    (InputField::Partition, &["partition"]),
    (InputField::To, &["to"]),
    (InputField::MaxNotional, &["max_notional", "maxNotional"]),
    (InputField::AllOrNone, &["all_or_none", "allOrNone"]),
    (
        InputField::DisplayQuantity,
        &["display_quantity", "displayQuantity"],
    ),
];

/// Every accepted key (canonical names and aliases), for the tests.
#[cfg(test)]
fn accepted_keys() -> impl Iterator<Item = (&'static str, &'static str)> {
    NAMES
        .iter()
        .flat_map(|(field, names)| names.iter().map(|name| (*name, field.as_str())))
}

/// The known fields of one message as raw JSON text; `null` counts as
/// absent.
struct Fields<'a> {
    values: [Option<&'a RawValue>; NAMES.len()],
    /// The first field given twice (under one name or two).
    duplicate: Option<InputField>,
}

impl<'a> Fields<'a> {
    fn get(&self, field: InputField) -> Option<&'a RawValue> {
        let at = NAMES.iter().position(|(f, _)| *f == field)?;
        self.values[at]
    }
}

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fields<'de>, D::Error> {
        deserializer.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an orders message (a JSON object)")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Fields<'de>, M::Error> {
        #[derive(Deserialize)]
        struct Key<'a>(#[serde(borrow)] Cow<'a, str>);
        let mut fields = Fields {
            values: [None; NAMES.len()],
            duplicate: None,
        };
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let known = NAMES
                .iter()
                .position(|(_, names)| names.contains(&key.as_ref()));
            let Some(at) = known else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let value: &'de RawValue = map.next_value()?;
            if value.get() == "null" {
                continue;
            }
            if fields.values[at].replace(value).is_some() && fields.duplicate.is_none() {
                fields.duplicate = Some(NAMES[at].0);
            }
        }
        Ok(fields)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly by design

    use super::*;
    use engine::Action as CommandAction;

    fn ticks() -> Decoder {
        Decoder::default()
    }

    fn decimal() -> Decoder {
        let mut decimals = PriceDecimals::default();
        decimals.symbols.insert(Symbol::new("BTC").unwrap(), 8);
        Decoder::new(PriceFormat::Decimal, decimals)
    }

    fn command(decoder: &Decoder, json: &str) -> Command {
        match decoder.decode(json.as_bytes()) {
            Input::Command(c) => c,
            other => panic!("{json} was not a command: {other:?}"),
        }
    }

    fn rejected(decoder: &Decoder, json: &str) -> Malformed {
        match decoder.decode(json.as_bytes()) {
            Input::Malformed(m) => m,
            other => panic!("{json} was not rejected: {other:?}"),
        }
    }

    #[test]
    fn admin_actions_on_orders_are_not_permitted() {
        for (json, field) in [
            (
                r#"{"action":"HALT","symbol":"AAPL","order_id":"o","user_id":"u"}"#,
                InputField::Action,
            ),
            (
                r#"{"action":"MASS_CANCEL","symbol":"AAPL","order_id":"o","user_id":"u"}"#,
                InputField::Action,
            ),
            (
                r#"{"command":"HALT","symbol":"AAPL","request_id":"r1"}"#,
                InputField::AdminCommand,
            ),
            (
                r#"{"command":"RESUME","symbol":"AAPL","order_id":"o","user_id":"u","is_buy":true,"price":1,"quantity":1}"#,
                InputField::AdminCommand,
            ),
        ] {
            let m = rejected(&ticks(), json);
            assert_eq!(
                (m.reason, m.field, m.problem),
                (RejectReason::NotPermitted, field, Problem::AdminOnly),
                "{json}"
            );
        }
    }

    fn admin(json: &str, engine: Option<&str>) -> Option<Input> {
        ticks().decode_admin(json.as_bytes(), engine)
    }

    #[test]
    fn admin_messages_decode_and_bad_ones_name_the_field() {
        let aapl = Symbol::new("AAPL").unwrap();
        let cases = [
            (
                r#"{"command":"HALT","symbol":"AAPL","request_id":"r1"}"#,
                AdminAction::Halt { symbol: aapl },
            ),
            (
                r#"{"command":"RESUME","symbol":"AAPL","request_id":"r1"}"#,
                AdminAction::Resume { symbol: aapl },
            ),
            (
                r#"{"command":"MASS_CANCEL","user_id":"u7","request_id":"r1"}"#,
                AdminAction::MassCancel {
                    symbol: None,
                    user_id: Some(UserId::new("u7").unwrap()),
                },
            ),
            (
                r#"{"command":"MASS_CANCEL","symbol":"AAPL","userId":"u7","requestId":"r1"}"#,
                AdminAction::MassCancel {
                    symbol: Some(aapl),
                    user_id: Some(UserId::new("u7").unwrap()),
                },
            ),
            (
                r#"{"command":"SET_REFERENCE_PRICE","symbol":"AAPL","price":15000,"request_id":"r1","engine_id":"e1"}"#,
                AdminAction::SetReferencePrice {
                    symbol: aapl,
                    price: 15_000,
                },
            ),
        ];
        for (json, action) in cases {
            let Some(Input::Admin(command)) = admin(json, Some("e1")) else {
                panic!("{json} did not decode");
            };
            assert_eq!(command.action, action, "{json}");
            assert_eq!(command.request_id.as_str(), "r1");
            let mut out = Vec::new();
            crate::wire::encode_admin(&command, Some("e1"), &mut out);
            assert_eq!(
                admin(std::str::from_utf8(&out).unwrap(), Some("e1")),
                Some(Input::Admin(command)),
                "{json} round trip"
            );
        }
        // Another engine's command is not this one's to journal.
        assert_eq!(
            admin(
                r#"{"command":"HALT","symbol":"AAPL","request_id":"r","engine_id":"e2"}"#,
                Some("e1")
            ),
            None
        );
        assert_eq!(
            admin(
                r#"{"command":"HALT","symbol":"AAPL","request_id":"r","engine_id":"e2"}"#,
                None
            ),
            None
        );
        for (json, reason, field) in [
            (
                r#"{"command":"HALT","request_id":"r"}"#,
                RejectReason::MissingField,
                InputField::Symbol,
            ),
            (
                r#"{"command":"MASS_CANCEL","request_id":"r"}"#,
                RejectReason::MissingField,
                InputField::Symbol,
            ),
            (
                r#"{"command":"HALT","symbol":"AAPL"}"#,
                RejectReason::MissingField,
                InputField::RequestId,
            ),
            (
                r#"{"command":"PAUSE","symbol":"AAPL","request_id":"r"}"#,
                RejectReason::UnknownAction,
                InputField::AdminCommand,
            ),
            (
                r#"{"command":"SET_REFERENCE_PRICE","symbol":"AAPL","request_id":"r"}"#,
                RejectReason::MissingField,
                InputField::Price,
            ),
            (
                r#"{"command":"HALT","symbol":"aapl!","request_id":"r"}"#,
                RejectReason::InvalidSymbol,
                InputField::Symbol,
            ),
            (
                r#"{"symbol":"AAPL","request_id":"r"}"#,
                RejectReason::MissingField,
                InputField::AdminCommand,
            ),
        ] {
            let Some(Input::MalformedAdmin(m)) = admin(json, None) else {
                panic!("{json} was not refused");
            };
            assert_eq!((m.reason, m.field), (reason, field), "{json}");
        }
        assert!(matches!(
            admin("not json", None),
            Some(Input::MalformedAdmin(_))
        ));
    }

    #[test]
    fn canonical_and_side_forms_decode_alike() {
        let a = command(
            &ticks(),
            r#"{"action":"ADD","symbol":"AAPL","order_id":"order-001","user_id":"user123","is_buy":true,"price":15000,"quantity":100}"#,
        );
        let b = command(
            &ticks(),
            r#"{"action":"ADD","symbol":"AAPL","order_id":"order-001","user_id":"user123","side":"BUY","price":15000,"quantity":100,"client_ts":17}"#,
        );
        assert_eq!(a, b);
        assert_eq!(
            a.action,
            CommandAction::Add(OrderSpec::limit(Side::Buy, 15_000, 100))
        );
        assert_eq!(
            (a.symbol.as_str(), a.order_id.as_str(), a.user_id.as_str()),
            ("AAPL", "order-001", "user123")
        );
    }

    /// The order router's message, as the router forwards it, word for
    /// word.
    #[test]
    fn the_routers_form_is_an_add_with_a_decimal_price() {
        let json = r#"{"symbol":"TSLA","side":"BUY","orderType":"LIMIT","price":250.50,"quantity":10,"userId":"user_12345","timestamp":1733485800123,"orderId":"1733485800123-k3j9x2abc"}"#;
        let c = command(&decimal(), json);
        assert_eq!(
            c.action,
            CommandAction::Add(OrderSpec::limit(Side::Buy, 25_050, 10))
        );
        assert_eq!(
            (c.symbol.as_str(), c.order_id.as_str(), c.user_id.as_str()),
            ("TSLA", "1733485800123-k3j9x2abc", "user_12345")
        );
        let whole = json.replace("250.50", "250");
        let Input::Command(c) = decimal().decode(whole.as_bytes()) else {
            panic!()
        };
        assert_eq!(
            c.action,
            CommandAction::Add(OrderSpec::limit(Side::Buy, 25_000, 10))
        );
    }

    #[test]
    fn every_camel_case_alias_means_its_field() {
        let json = r#"{"action":"ADD","symbol":"X","orderId":"o","userId":"u","isBuy":false,"orderType":"STOP_LIMIT","stopPrice":90,"price":89,"quantity":5,"timeInForce":"FOK","postOnly":false,"clientTs":1}"#;
        let c = command(&ticks(), json);
        let CommandAction::Add(spec) = c.action else {
            panic!()
        };
        assert_eq!(
            (
                spec.side,
                spec.order_type,
                spec.stop_price,
                spec.price,
                spec.tif
            ),
            (Side::Sell, OrderType::StopLimit, 90, 89, TimeInForce::Fok)
        );
        let r = command(
            &ticks(),
            r#"{"action":"REPLACE","symbol":"X","orderId":"o","userId":"u","newPrice":7,"newQuantity":3}"#,
        );
        assert_eq!(
            r.action,
            CommandAction::Replace(ReplaceSpec {
                new_price: Some(7),
                new_quantity: Some(3)
            })
        );
        assert_eq!(accepted_keys().count(), 36);
    }

    #[test]
    fn decimal_prices_use_the_symbols_scale_and_are_exact() {
        let add = |symbol: &str, price: &str| {
            format!(
                r#"{{"symbol":"{symbol}","side":"SELL","orderType":"LIMIT","price":{price},"quantity":1,"userId":"u","orderId":"o"}}"#
            )
        };
        let limit = |c: Command| match c.action {
            CommandAction::Add(spec) => spec.price,
            _ => panic!(),
        };
        assert_eq!(limit(command(&decimal(), &add("TSLA", "0.29"))), 29);
        assert_eq!(limit(command(&decimal(), &add("BTC", "0.00000001"))), 1);
        assert_eq!(
            limit(command(&decimal(), &add("BTC", "65000.5"))),
            6_500_050_000_000
        );
        let m = rejected(&decimal(), &add("TSLA", "250.505"));
        assert_eq!(
            (m.reason, m.field, m.problem),
            (
                RejectReason::InvalidPrice,
                InputField::Price,
                Problem::TooPrecise { decimals: 2 }
            )
        );
        assert_eq!(m.order_id.map(|o| o.to_string()), Some("o".into()));
        // In ticks, a price is a whole number of ticks.
        let m = rejected(&ticks(), &add("TSLA", "250.5"));
        assert_eq!(m.problem, Problem::TooPrecise { decimals: 0 });
        assert_eq!(limit(command(&ticks(), &add("TSLA", "1.5e4"))), 15_000);
    }

    /// The REST schema upstream requires a price on MARKET orders too.
    #[test]
    fn a_price_on_a_market_or_stop_order_is_not_read() {
        for price in ["250.505", "-1", "\"abc\"", "1e400"] {
            let json = format!(
                r#"{{"symbol":"TSLA","side":"BUY","orderType":"MARKET","price":{price},"quantity":10,"userId":"u","orderId":"o"}}"#
            );
            let c = command(&decimal(), &json);
            assert_eq!(
                c.action,
                CommandAction::Add(OrderSpec::market(Side::Buy, 10))
            );
        }
        let stop = command(
            &ticks(),
            r#"{"symbol":"X","side":"SELL","orderType":"STOP","stopPrice":90,"price":95,"quantity":5,"userId":"u","orderId":"o"}"#,
        );
        let CommandAction::Add(spec) = stop.action else {
            panic!()
        };
        assert_eq!((spec.price, spec.stop_price), (0, 90));
    }

    #[test]
    fn each_problem_names_its_field_and_reason() {
        use InputField as F;
        use Problem as P;
        use RejectReason as R;
        let base = r#""symbol":"X","order_id":"o","user_id":"u""#;
        let cases: Vec<(String, R, F, P)> = vec![
            (
                "{\"action\":".into(),
                R::MalformedMessage,
                F::Message,
                P::NotJson,
            ),
            (
                "[1,2]".into(),
                R::MalformedMessage,
                F::Message,
                P::NotAnObject,
            ),
            ("42".into(), R::MalformedMessage, F::Message, P::NotAnObject),
            ("  ".into(), R::MalformedMessage, F::Message, P::Empty),
            (
                format!(r#"{{"action":"BUY",{base}}}"#),
                R::UnknownAction,
                F::Action,
                P::UnknownValue,
            ),
            (
                format!(r#"{{"action":7,{base}}}"#),
                R::InvalidFieldValue,
                F::Action,
                P::NotAString,
            ),
            (
                r#"{"action":"CANCEL","order_id":"o","user_id":"u"}"#.into(),
                R::MissingField,
                F::Symbol,
                P::Missing,
            ),
            (
                r#"{"action":"CANCEL","symbol":"X","order_id":"o"}"#.into(),
                R::MissingField,
                F::UserId,
                P::Missing,
            ),
            (
                format!(r#"{{"action":"ADD",{base},"is_buy":true,"price":1}}"#),
                R::MissingField,
                F::Quantity,
                P::Missing,
            ),
            (
                format!(r#"{{"action":"ADD",{base},"price":1,"quantity":1}}"#),
                R::MissingField,
                F::Side,
                P::Missing,
            ),
            (
                format!(r#"{{"action":"ADD",{base},"is_buy":true,"quantity":1}}"#),
                R::MissingField,
                F::Price,
                P::Missing,
            ),
            (
                format!(r#"{{"action":"ADD",{base},"is_buy":true,"price":null,"quantity":1}}"#),
                R::MissingField,
                F::Price,
                P::Missing,
            ),
            (
                format!(r#"{{"action":"ADD",{base},"side":"BOTH","price":1,"quantity":1}}"#),
                R::InvalidFieldValue,
                F::Side,
                P::UnknownValue,
            ),
            (
                format!(r#"{{"action":"ADD",{base},"is_buy":"yes","price":1,"quantity":1}}"#),
                R::InvalidFieldValue,
                F::IsBuy,
                P::NotABoolean,
            ),
            (
                format!(
                    r#"{{"action":"ADD",{base},"is_buy":true,"side":"SELL","price":1,"quantity":1}}"#
                ),
                R::InvalidFieldValue,
                F::Side,
                P::Conflict,
            ),
            (
                format!(
                    r#"{{"action":"ADD",{base},"is_buy":true,"price":1,"quantity":1,"tif":"DAY"}}"#
                ),
                R::InvalidFieldValue,
                F::TimeInForce,
                P::UnknownValue,
            ),
            (
                format!(
                    r#"{{"action":"ADD",{base},"is_buy":true,"price":1,"quantity":1,"order_type":"ICEBERG"}}"#
                ),
                R::InvalidFieldValue,
                F::OrderType,
                P::UnknownValue,
            ),
            (
                format!(
                    r#"{{"action":"ADD",{base},"is_buy":true,"price":1,"quantity":1,"post_only":1}}"#
                ),
                R::InvalidFieldValue,
                F::PostOnly,
                P::NotABoolean,
            ),
            (
                format!(r#"{{"action":"ADD",{base},"is_buy":true,"price":1.5,"quantity":1}}"#),
                R::InvalidPrice,
                F::Price,
                P::TooPrecise { decimals: 0 },
            ),
            (
                format!(r#"{{"action":"ADD",{base},"is_buy":true,"price":-1,"quantity":1}}"#),
                R::InvalidPrice,
                F::Price,
                P::Negative,
            ),
            (
                format!(r#"{{"action":"ADD",{base},"is_buy":true,"price":"high","quantity":1}}"#),
                R::InvalidFieldValue,
                F::Price,
                P::NotANumber,
            ),
            (
                format!(r#"{{"action":"ADD",{base},"is_buy":true,"price":1e30,"quantity":1}}"#),
                R::InvalidPrice,
                F::Price,
                P::TooLarge,
            ),
            (
                format!(r#"{{"action":"ADD",{base},"is_buy":true,"price":1,"quantity":2.5}}"#),
                R::InvalidQuantity,
                F::Quantity,
                P::TooPrecise { decimals: 0 },
            ),
            (
                format!(r#"{{"action":"ADD",{base},"is_buy":true,"price":1,"quantity":-3}}"#),
                R::InvalidQuantity,
                F::Quantity,
                P::Negative,
            ),
            (
                format!(
                    r#"{{"action":"ADD",{base},"is_buy":true,"order_type":"STOP","quantity":1}}"#
                ),
                R::MissingField,
                F::StopPrice,
                P::Missing,
            ),
            (
                format!(
                    r#"{{"action":"ADD",{base},"is_buy":true,"order_type":"STOP","stop_price":-2,"quantity":1}}"#
                ),
                R::InvalidStopPrice,
                F::StopPrice,
                P::Negative,
            ),
            (
                format!(r#"{{"action":"REPLACE",{base},"new_price":0.5}}"#),
                R::InvalidPrice,
                F::NewPrice,
                P::TooPrecise { decimals: 0 },
            ),
            (
                format!(r#"{{"action":"REPLACE",{base},"new_quantity":"3"}}"#),
                R::InvalidFieldValue,
                F::NewQuantity,
                P::NotANumber,
            ),
            (
                r#"{"action":"ADD","symbol":"toolongsymbol","order_id":"o","user_id":"u"}"#.into(),
                R::InvalidSymbol,
                F::Symbol,
                P::BadSymbol,
            ),
            (
                r#"{"action":"CANCEL","symbol":"X","order_id":"has space","user_id":"u"}"#.into(),
                R::InvalidIdentifier,
                F::OrderId,
                P::BadIdentifier,
            ),
            (
                r#"{"action":"CANCEL","symbol":"X","order_id":"o","orderId":"p","user_id":"u"}"#
                    .into(),
                R::InvalidFieldValue,
                F::OrderId,
                P::GivenTwice,
            ),
            (
                r#"{"action":"CANCEL","symbol":"X","symbol":"Y","order_id":"o","user_id":"u"}"#
                    .into(),
                R::InvalidFieldValue,
                F::Symbol,
                P::GivenTwice,
            ),
        ];
        for (json, reason, field, problem) in cases {
            let m = rejected(&ticks(), &json);
            assert_eq!(
                (m.reason, m.field, m.problem),
                (reason, field, problem),
                "{json}"
            );
        }
        let big = format!(
            r#"{{"action":"ADD","pad":"{}"}}"#,
            "x".repeat(MAX_MESSAGE_BYTES)
        );
        let m = rejected(&ticks(), &big);
        assert_eq!((m.reason, m.problem), (R::MessageTooLarge, P::TooLong));
    }

    #[test]
    fn rejections_keep_the_ids_they_could_read() {
        let m = rejected(
            &ticks(),
            r#"{"action":"ADD","symbol":"AAPL","order_id":"o9","user_id":"u","is_buy":true,"price":"high","quantity":1}"#,
        );
        assert_eq!(m.reason, RejectReason::InvalidFieldValue);
        assert_eq!(m.symbol.map(|s| s.to_string()), Some("AAPL".into()));
        assert_eq!(m.order_id.map(|s| s.to_string()), Some("o9".into()));
        let m = rejected(
            &ticks(),
            r#"{"action":"DELETE","symbol":"AAPL","order_id":"o9","user_id":"u"}"#,
        );
        assert_eq!(m.order_id.map(|s| s.to_string()), Some("o9".into()));
    }

    #[test]
    fn escaped_strings_and_unknown_keys_are_fine() {
        let c = command(
            &ticks(),
            r#"{"action":"CANCEL","symbol":"\u0041B","order_id":"o\/1","user_id":"u","extra":{"nested":[1,2]},"timestamp":"whenever"}"#,
        );
        assert_eq!((c.symbol.as_str(), c.order_id.as_str()), ("AB", "o/1"));
    }

    #[test]
    fn price_format_names() {
        assert_eq!("decimal".parse(), Ok(PriceFormat::Decimal));
        assert!(
            "cents"
                .parse::<PriceFormat>()
                .unwrap_err()
                .contains("ticks or decimal")
        );
    }
}
