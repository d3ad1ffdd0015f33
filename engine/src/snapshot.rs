//! Engine snapshots and the state hash.
//!
//! A snapshot is the engine's state in *canonical* form: books in creation
//! order, each side's orders best price first and oldest first within a
//! price, stops in trigger order. Slab slots, free lists and hash-table
//! layout are not part of it, so two engines that went through the same
//! commands produce the same bytes whatever their allocation history, and a
//! restored engine re-snapshots to exactly the bytes it came from.
//!
//! # File layout
//!
//! ```text
//!  0        8        12       16
//!  +--------+--------+--------+------------------------------+
//!  | magic  |version |reserved| rkyv archive of Snapshot ... |
//!  +--------+--------+--------+------------------------------+
//!  magic    = b"MXSNAP\0\0"
//!  version  = u32 little-endian, FORMAT_VERSION
//!  reserved = u32 zero
//! ```
//!
//! Versions: 2 had no admin state; 3 adds the halted symbols; 4 adds each
//! book's partition, the books moved away and the moves under way; 5 has
//! 4's layout and may hold resting market-to-limit orders (order type 4),
//! which a format-4 reader would refuse. This build writes 5 and restores
//! all four (an older snapshot has no book's partition: the next order
//! from a partition names it).
//!
//! A partition's **export** (what a move carries, `crate::moves`) uses the
//! same book records: `MXMOVE\0\0`, a version, and an rkyv archive of the
//! books, compressed with LZ4.
//!
//! The state hash is XXH3-64 (seed 0) of these bytes. It is stable across
//! runs and machines because rkyv's archive format is little-endian with
//! 32-bit offsets by default and zeroes padding.
//!
//! Restoring validates the archive (`bytecheck`) and every invariant the
//! matcher relies on; a bad snapshot is an error, never a panic.

use rkyv::rancor;
use rkyv::util::AlignedVec;
use thiserror::Error;

use crate::book::Book;
use crate::config::{EngineConfig, MemoryConfig, SelfTradePrevention, SymbolRules};
use crate::engine::Engine;
use crate::event::RejectReason;
use crate::ids::{OrderId, Symbol, UserId};
use crate::moves::{ArchivedMoveState, MoveState};
use crate::orders::{Order, key_hash};
use crate::slot::NIL;
use crate::types::{OrderType, Price, Qty, Side, TimeInForce};

/// The first eight bytes of every snapshot.
pub(crate) const SNAPSHOT_MAGIC: [u8; 8] = *b"MXSNAP\0\0";
/// The snapshot format this build writes and reads.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 5;
/// Format 4, still restored: format 5's layout, without market-to-limit
/// orders.
const SNAPSHOT_FORMAT_V4: u32 = 4;
/// Format 3, still restored: the same state without partitions or moves.
const SNAPSHOT_FORMAT_V3: u32 = 3;
/// Format 2, still restored: format 3 without halts.
const SNAPSHOT_FORMAT_V2: u32 = 2;
/// The first eight bytes of an export, before its compressed archive.
const EXPORT_MAGIC: [u8; 8] = *b"MXMOVE\0\0";
/// The export format this build writes and reads.
const EXPORT_VERSION: u32 = 1;
const HEADER_LEN: usize = 16;
/// How many orders ahead a restore fetches index buckets.
const RESTORE_LOOKAHEAD: usize = 8;

/// Why a snapshot could not be restored.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The bytes do not start with `SNAPSHOT_MAGIC`.
    #[error("not an engine snapshot (bad magic)")]
    BadMagic,
    /// The snapshot was written by a different format version.
    #[error(
        "snapshot format version {found} is not supported; this build reads versions 2 to {supported}"
    )]
    UnsupportedVersion {
        /// The version in the file.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The archive failed validation.
    #[error("snapshot archive is corrupt: {0}")]
    Corrupt(String),
    /// The archive is well-formed but describes an impossible state.
    #[error("snapshot state is inconsistent: {0}")]
    Inconsistent(String),
}

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct Snapshot {
    config: EngineConfigArchive,
    next_trade_id: u64,
    next_arrival: u64,
    books: Vec<BookSnapshot>,
    /// Halted symbols, in book order.
    halted: Vec<Symbol>,
    /// Each book's partition, in book order.
    partitions: Vec<i32>,
    /// Symbols released or moved away, in book order.
    away: Vec<Symbol>,
    /// The moves under way.
    moves: MoveState,
}

/// Format 3, read only: format 4 without partitions and moves.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct SnapshotV3 {
    config: EngineConfigArchive,
    next_trade_id: u64,
    next_arrival: u64,
    books: Vec<BookSnapshot>,
    halted: Vec<Symbol>,
}

/// A partition's books, as a move carries them.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct Export {
    partition: i32,
    books: Vec<BookSnapshot>,
    halted: Vec<Symbol>,
}

/// Format 2, read only: format 3 without `halted`.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct SnapshotV2 {
    config: EngineConfigArchive,
    next_trade_id: u64,
    next_arrival: u64,
    books: Vec<BookSnapshot>,
}

/// What a restore reads, borrowed from an archive of either format.
struct ArchivedParts<'a> {
    config: &'a ArchivedEngineConfigArchive,
    next_trade_id: u64,
    next_arrival: u64,
    books: &'a [ArchivedBookSnapshot],
    halted: &'a [<Symbol as rkyv::Archive>::Archived],
    partitions: &'a [<i32 as rkyv::Archive>::Archived],
    away: &'a [<Symbol as rkyv::Archive>::Archived],
    moves: Option<&'a ArchivedMoveState>,
}

/// The parts of `EngineConfig` that decide behaviour. `MemoryConfig` is
/// left out: it must not change the state hash.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct EngineConfigArchive {
    default_rules: SymbolRules,
    symbols: Vec<(Symbol, SymbolRules)>,
    max_symbols: u32,
    self_trade_prevention: SelfTradePrevention,
}

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct BookSnapshot {
    symbol: Symbol,
    rules: SymbolRules,
    last_price: Price,
    last_qty: Qty,
    /// Best price first, oldest first within a price.
    bids: Vec<OrderSnapshot>,
    asks: Vec<OrderSnapshot>,
    /// Next to trigger first.
    buy_stops: Vec<OrderSnapshot>,
    sell_stops: Vec<OrderSnapshot>,
}

#[derive(Clone, Copy, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct OrderSnapshot {
    user_id: UserId,
    order_id: OrderId,
    arrival: u64,
    entered_ns: u64,
    price: Price,
    stop_price: Price,
    quantity: Qty,
    filled: Qty,
    side: Side,
    order_type: OrderType,
    tif: TimeInForce,
    post_only: bool,
}

impl OrderSnapshot {
    fn of(order: &Order) -> OrderSnapshot {
        OrderSnapshot {
            user_id: order.user_id,
            order_id: order.order_id,
            arrival: order.arrival,
            entered_ns: order.entered_ns,
            price: order.price,
            stop_price: order.stop_price,
            quantity: order.quantity,
            filled: order.filled,
            side: order.side,
            order_type: order.order_type,
            tif: order.tif,
            post_only: order.post_only,
        }
    }
}

impl Engine {
    /// Serialises the whole engine state in canonical form.
    ///
    /// Cost is linear in live orders and allocates; call it off the hot
    /// path.
    pub fn snapshot(&self) -> AlignedVec {
        let snapshot = self.to_snapshot();
        let mut out = AlignedVec::new();
        out.extend_from_slice(&SNAPSHOT_MAGIC);
        out.extend_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        // The header is 16 bytes, a multiple of rkyv's alignment, so the
        // archive stays aligned within the buffer.
        match rkyv::api::high::to_bytes_in::<_, rancor::Error>(&snapshot, out) {
            Ok(bytes) => bytes,
            // Serialising plain owned data into memory has no failure mode
            // besides allocation failure, which aborts anyway.
            Err(err) => panic!("serialising a snapshot failed: {err}"),
        }
    }

    /// A hash of the canonical state: equal hashes mean equal states.
    pub fn state_hash(&self) -> u64 {
        xxhash_rust::xxh3::xxh3_64(&self.snapshot())
    }

    /// The state hash as a snapshot format before books' partitions would
    /// give it: what an old snapshot's state is compared with.
    pub(crate) fn state_hash_without_partitions(&self) -> u64 {
        let mut old = self.clone();
        for book in &mut old.books {
            book.partition = -1;
        }
        old.state_hash()
    }

    /// Rebuilds an engine from [`Engine::snapshot`] bytes. Memory settings
    /// are not part of a snapshot; `memory` supplies them.
    ///
    /// With the `validate` feature (tests), the restored state must also
    /// pass `Engine::validate_internal_state`.
    pub fn restore(bytes: &[u8], memory: MemoryConfig) -> Result<Engine, SnapshotError> {
        let engine = with_archive(bytes, |archived| Engine::from_archived(archived, memory))?;
        #[cfg(any(test, feature = "validate"))]
        engine
            .validate_internal_state()
            .map_err(|e| SnapshotError::Inconsistent(e.0))?;
        Ok(engine)
    }

    /// Checks that snapshot bytes start with the magic and a format
    /// version this build restores, without reading further.
    pub(crate) fn check_snapshot_format(bytes: &[u8]) -> Result<u32, SnapshotError> {
        if bytes.len() < HEADER_LEN || bytes[..8] != SNAPSHOT_MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if ![
            SNAPSHOT_FORMAT_VERSION,
            SNAPSHOT_FORMAT_V4,
            SNAPSHOT_FORMAT_V3,
            SNAPSHOT_FORMAT_V2,
        ]
        .contains(&version)
        {
            return Err(SnapshotError::UnsupportedVersion {
                found: version,
                supported: SNAPSHOT_FORMAT_VERSION,
            });
        }
        Ok(version)
    }

    /// The rules recorded in snapshot bytes, without restoring the state:
    /// the configuration the engine that wrote it ran under (memory
    /// settings aside, which take their defaults).
    pub fn rules_in_snapshot(bytes: &[u8]) -> Result<EngineConfig, SnapshotError> {
        with_archive(bytes, |archived| {
            config_of(archived.config, MemoryConfig::default())
        })
    }
}

/// Checks the header of snapshot bytes and hands their validated archive
/// to `f`, read in place when aligned (as in a memory-mapped snapshot
/// file), otherwise from an aligned copy.
fn with_archive<T>(
    bytes: &[u8],
    f: impl FnOnce(ArchivedParts<'_>) -> Result<T, SnapshotError>,
) -> Result<T, SnapshotError> {
    let version = Engine::check_snapshot_format(bytes)?;
    // Validated first; `restore` then rebuilds order by order from the
    // archive without materialising an owned copy of every order.
    let body = &bytes[HEADER_LEN..];
    let copy: AlignedVec<16>;
    let body = if (body.as_ptr() as usize).is_multiple_of(16) {
        body
    } else {
        copy = {
            let mut aligned = AlignedVec::<16>::with_capacity(body.len());
            aligned.extend_from_slice(body);
            aligned
        };
        &copy[..]
    };
    let corrupt = |err: rancor::Error| SnapshotError::Corrupt(err.to_string());
    if version == SNAPSHOT_FORMAT_V2 {
        let archived = rkyv::access::<ArchivedSnapshotV2, rancor::Error>(body).map_err(corrupt)?;
        return f(ArchivedParts {
            config: &archived.config,
            next_trade_id: archived.next_trade_id.to_native(),
            next_arrival: archived.next_arrival.to_native(),
            books: archived.books.as_slice(),
            halted: &[],
            partitions: &[],
            away: &[],
            moves: None,
        });
    }
    if version == SNAPSHOT_FORMAT_V3 {
        let archived = rkyv::access::<ArchivedSnapshotV3, rancor::Error>(body).map_err(corrupt)?;
        return f(ArchivedParts {
            config: &archived.config,
            next_trade_id: archived.next_trade_id.to_native(),
            next_arrival: archived.next_arrival.to_native(),
            books: archived.books.as_slice(),
            halted: archived.halted.as_slice(),
            partitions: &[],
            away: &[],
            moves: None,
        });
    }
    let archived = rkyv::access::<ArchivedSnapshot, rancor::Error>(body).map_err(corrupt)?;
    f(ArchivedParts {
        config: &archived.config,
        next_trade_id: archived.next_trade_id.to_native(),
        next_arrival: archived.next_arrival.to_native(),
        books: archived.books.as_slice(),
        halted: archived.halted.as_slice(),
        partitions: archived.partitions.as_slice(),
        away: archived.away.as_slice(),
        moves: Some(&archived.moves),
    })
}

/// The configuration a snapshot records, checked.
fn config_of(
    config: &ArchivedEngineConfigArchive,
    memory: MemoryConfig,
) -> Result<EngineConfig, SnapshotError> {
    let bad = SnapshotError::Inconsistent;
    let archived = rkyv::deserialize::<EngineConfigArchive, rancor::Error>(config)
        .map_err(|err| SnapshotError::Corrupt(err.to_string()))?;
    let mut symbols = std::collections::BTreeMap::new();
    for (symbol, rules) in archived.symbols {
        let symbol = symbol.revalidate().map_err(|e| bad(e.to_string()))?;
        if symbols.insert(symbol, rules).is_some() {
            return Err(bad(format!("configured symbol {symbol} appears twice")));
        }
    }
    let config = EngineConfig {
        default_rules: archived.default_rules,
        symbols,
        max_symbols: archived.max_symbols,
        self_trade_prevention: archived.self_trade_prevention,
        memory,
    };
    config.validate().map_err(|e| bad(e.to_string()))?;
    Ok(config)
}

impl Engine {
    /// Book `b` in canonical form.
    fn book_snapshot(&self, b: usize) -> BookSnapshot {
        let book = &self.books[b];
        let order = |slot: u32| OrderSnapshot::of(self.orders.get(slot));
        let side = |side: Side| {
            let ladder = book.ladder(side);
            let mut out = Vec::with_capacity(ladder.order_count());
            for level in ladder.levels_best_first() {
                let mut slot = level.head;
                while slot != NIL {
                    out.push(order(slot));
                    slot = self.orders.get(slot).next;
                }
            }
            out
        };
        BookSnapshot {
            symbol: book.symbol,
            rules: book.rules,
            last_price: book.last_price,
            last_qty: book.last_qty,
            bids: side(Side::Buy),
            asks: side(Side::Sell),
            buy_stops: book.buy_stops.slots_in_trigger_order().map(order).collect(),
            sell_stops: book
                .sell_stops
                .slots_in_trigger_order()
                .map(order)
                .collect(),
        }
    }

    fn to_snapshot(&self) -> Snapshot {
        let config = &self.config;
        let symbols_where = |keep: fn(&Book) -> bool| {
            self.books
                .iter()
                .filter(|b| keep(b))
                .map(|b| b.symbol)
                .collect()
        };
        Snapshot {
            config: EngineConfigArchive {
                default_rules: config.default_rules,
                symbols: config.symbols.iter().map(|(s, r)| (*s, *r)).collect(),
                max_symbols: config.max_symbols,
                self_trade_prevention: config.self_trade_prevention,
            },
            next_trade_id: self.next_trade_id,
            next_arrival: self.next_arrival,
            books: (0..self.books.len())
                .map(|b| self.book_snapshot(b))
                .collect(),
            halted: symbols_where(|book| book.halted),
            partitions: self.books.iter().map(|book| book.partition).collect(),
            away: symbols_where(|book| book.away),
            moves: self.moves.clone(),
        }
    }

    /// The export of `partition`'s away books (`crate::moves`).
    pub(crate) fn export_books(&self, partition: i32) -> Vec<u8> {
        let moved = |b: &usize| self.books[*b].partition == partition && self.books[*b].away;
        let export = Export {
            partition,
            books: (0..self.books.len())
                .filter(moved)
                .map(|b| self.book_snapshot(b))
                .collect(),
            halted: (0..self.books.len())
                .filter(|b| moved(b) && self.books[*b].halted)
                .map(|b| self.books[b].symbol)
                .collect(),
        };
        let archive = match rkyv::to_bytes::<rancor::Error>(&export) {
            Ok(bytes) => bytes,
            // As for a snapshot: plain owned data into memory.
            Err(err) => panic!("serialising an export failed: {err}"),
        };
        let mut out = Vec::with_capacity(archive.len() / 4 + 16);
        out.extend_from_slice(&EXPORT_MAGIC);
        out.extend_from_slice(&EXPORT_VERSION.to_le_bytes());
        out.extend_from_slice(&lz4_flex::compress_prepend_size(&archive));
        out
    }

    /// Takes in an export's books for `partition`, each into a new book or
    /// into this engine's away book of that symbol. Checked whole before
    /// anything changes: a symbol this engine trades, an order id one of
    /// its users has live, no room for the books, or bytes that are not an
    /// export refuse it all. Arrival numbers are renumbered after this
    /// engine's, in the export's order, so time priority is kept. Returns
    /// the books and orders taken.
    pub(crate) fn import_books(
        &mut self,
        bytes: &[u8],
        partition: i32,
    ) -> Result<(u32, u32), RejectReason> {
        let malformed = RejectReason::MalformedMessage;
        // Ids from outside the process, checked as a snapshot's are.
        let symbol_of = |id: &<Symbol as rkyv::Archive>::Archived| {
            rkyv::deserialize::<Symbol, rancor::Error>(id)
                .ok()
                .and_then(|id| id.revalidate().ok())
                .ok_or(malformed)
        };
        let user_of = |id: &<UserId as rkyv::Archive>::Archived| {
            rkyv::deserialize::<UserId, rancor::Error>(id)
                .ok()
                .and_then(|id| id.revalidate().ok())
                .ok_or(malformed)
        };
        let order_of = |id: &<OrderId as rkyv::Archive>::Archived| {
            rkyv::deserialize::<OrderId, rancor::Error>(id)
                .ok()
                .and_then(|id| id.revalidate().ok())
                .ok_or(malformed)
        };
        if bytes.len() < 12 || bytes[..8] != EXPORT_MAGIC {
            return Err(malformed);
        }
        if u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) != EXPORT_VERSION {
            return Err(malformed);
        }
        let raw = lz4_flex::decompress_size_prepended(&bytes[12..]).map_err(|_| malformed)?;
        let mut aligned = AlignedVec::<16>::with_capacity(raw.len());
        aligned.extend_from_slice(&raw);
        let export =
            rkyv::access::<ArchivedExport, rancor::Error>(&aligned).map_err(|_| malformed)?;
        if export.partition.to_native() != partition {
            return Err(malformed);
        }
        // Every check first.
        let mut new_books = 0;
        let mut arrivals = Vec::new();
        for book in export.books.iter() {
            let symbol = symbol_of(&book.symbol)?;
            match self.symbols.get(&symbol) {
                Some(&b) if !self.books[b as usize].away => return Err(RejectReason::MoveRefused),
                Some(_) => {}
                None => new_books += 1,
            }
            for order in book_orders(book) {
                let user_id = user_of(&order.user_id)?;
                let order_id = order_of(&order.order_id)?;
                if self
                    .orders
                    .find(key_hash(&user_id, &order_id), &user_id, &order_id)
                    .is_some()
                {
                    return Err(RejectReason::DuplicateOrderId);
                }
                arrivals.push(order.arrival.to_native());
            }
        }
        if self.books.len() + new_books > self.config.max_symbols as usize {
            return Err(RejectReason::UnknownSymbol);
        }
        arrivals.sort_unstable();
        if arrivals.windows(2).any(|w| w[0] == w[1]) {
            return Err(malformed);
        }
        let base = self.next_arrival;
        let renumber = |arrival: u64| base + arrivals.partition_point(|&a| a < arrival) as u64;
        self.next_arrival = base + arrivals.len() as u64;
        let mut taken = (0, 0);
        for book in export.books.iter() {
            let symbol = symbol_of(&book.symbol)?;
            let rules = rkyv::deserialize::<SymbolRules, rancor::Error>(&book.rules)
                .map_err(|_| malformed)?;
            rules.validate().map_err(|_| malformed)?;
            let b = match self.symbols.get(&symbol) {
                Some(&b) => b as usize,
                None => self.create_book(symbol, rules),
            };
            self.books[b].rules = rules;
            self.books[b].partition = partition;
            self.books[b].away = false;
            self.fill_book(b, book, &renumber).map_err(|_| malformed)?;
            taken.0 += 1;
            taken.1 += book_orders(book).count() as u32;
        }
        for symbol in export.halted.iter() {
            let symbol = symbol_of(symbol)?;
            if let Some(&b) = self.symbols.get(&symbol) {
                self.books[b as usize].halted = true;
            }
        }
        Ok(taken)
    }

    fn from_archived(
        snapshot: ArchivedParts<'_>,
        memory: MemoryConfig,
    ) -> Result<Engine, SnapshotError> {
        let bad = SnapshotError::Inconsistent;
        let corrupt = |err: rancor::Error| SnapshotError::Corrupt(err.to_string());
        let config = config_of(snapshot.config, memory)?;
        if snapshot.books.len() > config.max_symbols as usize {
            return Err(bad(format!(
                "{} books exceed max_symbols {}",
                snapshot.books.len(),
                config.max_symbols
            )));
        }
        let next_trade_id = snapshot.next_trade_id;
        if next_trade_id == 0 {
            return Err(bad("next_trade_id is 0".into()));
        }
        // Configured symbols are recreated from the snapshot's book list, in
        // its order, rather than by `Engine::new`.
        let mut engine = Engine::new(EngineConfig {
            symbols: Default::default(),
            ..config.clone()
        })
        .map_err(|e| bad(e.to_string()))?;
        engine.config = config;
        engine.next_trade_id = next_trade_id;
        engine.next_arrival = snapshot.next_arrival;
        for book in snapshot.books.iter() {
            let symbol = rkyv::deserialize::<Symbol, rancor::Error>(&book.symbol)
                .map_err(corrupt)?
                .revalidate()
                .map_err(|e| bad(e.to_string()))?;
            let rules =
                rkyv::deserialize::<SymbolRules, rancor::Error>(&book.rules).map_err(corrupt)?;
            rules
                .validate()
                .map_err(|e| bad(format!("rules of {symbol}: {e}")))?;
            if engine.symbols.contains_key(&symbol) {
                return Err(bad(format!("symbol {symbol} appears twice")));
            }
            let b = engine.create_book(symbol, rules);
            engine.fill_book(b, book, &|arrival| arrival)?;
        }
        for symbol in snapshot.halted {
            let symbol = rkyv::deserialize::<Symbol, rancor::Error>(symbol)
                .map_err(corrupt)?
                .revalidate()
                .map_err(|e| bad(e.to_string()))?;
            let Some(&b) = engine.symbols.get(&symbol) else {
                return Err(bad(format!("halted symbol {symbol} has no book")));
            };
            engine.books[b as usize].halted = true;
        }
        if !snapshot.partitions.is_empty() {
            if snapshot.partitions.len() != engine.books.len() {
                return Err(bad(format!(
                    "{} book partitions for {} books",
                    snapshot.partitions.len(),
                    engine.books.len()
                )));
            }
            for (book, partition) in engine.books.iter_mut().zip(snapshot.partitions) {
                book.partition = partition.to_native();
            }
        }
        for symbol in snapshot.away {
            let symbol = rkyv::deserialize::<Symbol, rancor::Error>(symbol)
                .map_err(corrupt)?
                .revalidate()
                .map_err(|e| bad(e.to_string()))?;
            let Some(&b) = engine.symbols.get(&symbol) else {
                return Err(bad(format!("symbol {symbol} moved away has no book")));
            };
            engine.books[b as usize].away = true;
        }
        if let Some(moves) = snapshot.moves {
            let moves = rkyv::deserialize::<MoveState, rancor::Error>(moves).map_err(corrupt)?;
            let engines = moves.outgoing.iter().map(|o| o.to).chain(
                moves
                    .incoming
                    .iter()
                    .filter_map(|i| i.acquired.map(|a| a.2)),
            );
            for id in engines {
                id.revalidate()
                    .map_err(|e| bad(format!("a move's engine: {e}")))?;
            }
            engine.moves = moves;
        }
        Ok(engine)
    }

    /// Puts an archived book's orders into book `b`, in their canonical
    /// order, with arrival numbers `renumber`ed, and takes its last trade.
    fn fill_book(
        &mut self,
        b: usize,
        book: &ArchivedBookSnapshot,
        renumber: &dyn Fn(u64) -> u64,
    ) -> Result<(), SnapshotError> {
        let bad = SnapshotError::Inconsistent;
        let corrupt = |err: rancor::Error| SnapshotError::Corrupt(err.to_string());
        let symbol = self.books[b].symbol;
        self.books[b].last_price = book.last_price.to_native();
        self.books[b].last_qty = book.last_qty.to_native();
        for (list, side, stops) in [
            (&book.bids, Side::Buy, false),
            (&book.asks, Side::Sell, false),
            (&book.buy_stops, Side::Buy, true),
            (&book.sell_stops, Side::Sell, true),
        ] {
            let mut previous: Option<OrderSnapshot> = None;
            let list = list.as_slice();
            for (i, order) in list.iter().enumerate() {
                // The index is a random address per order: fetch the
                // bucket of an order a few ahead while this one goes in.
                if let Some(ahead) = list.get(i + RESTORE_LOOKAHEAD) {
                    let ids = rkyv::deserialize::<UserId, rancor::Error>(&ahead.user_id).and_then(
                        |user| {
                            rkyv::deserialize::<OrderId, rancor::Error>(&ahead.order_id)
                                .map(|order| (user, order))
                        },
                    );
                    if let Ok((user_id, order_id)) = ids {
                        self.orders.prefetch(key_hash(&user_id, &order_id));
                    }
                }
                let order =
                    rkyv::deserialize::<OrderSnapshot, rancor::Error>(order).map_err(corrupt)?;
                let order = OrderSnapshot {
                    arrival: renumber(order.arrival),
                    ..order
                };
                let context = |e: String| bad(format!("{symbol}: order {}: {e}", order.order_id));
                check_order(&order, side, stops, self.next_arrival).map_err(context)?;
                if previous.is_some_and(|prev| !in_priority_order(&prev, &order, side, stops)) {
                    return Err(context("out of priority order".into()));
                }
                previous = Some(order);
                let user_id = order
                    .user_id
                    .revalidate()
                    .map_err(|e| context(e.to_string()))?;
                let order_id = order
                    .order_id
                    .revalidate()
                    .map_err(|e| context(e.to_string()))?;
                let hash = key_hash(&user_id, &order_id);
                if self.orders.find(hash, &user_id, &order_id).is_some() {
                    return Err(context(format!("live twice for user {user_id}")));
                }
                let slot = self.orders.insert(Order {
                    user_id,
                    order_id,
                    hash,
                    arrival: order.arrival,
                    entered_ns: order.entered_ns,
                    price: order.price,
                    stop_price: order.stop_price,
                    quantity: order.quantity,
                    filled: order.filled,
                    book: b as u32,
                    level: NIL,
                    prev: NIL,
                    next: NIL,
                    side: order.side,
                    order_type: order.order_type,
                    tif: order.tif,
                    post_only: order.post_only,
                });
                let target = &mut self.books[b];
                if stops {
                    target
                        .stops_mut(side)
                        .insert(order.stop_price, order.arrival, slot);
                } else {
                    target.ladder_mut(side).push_back(&mut self.orders, slot);
                }
            }
        }
        self.books[b].mark_depth_emitted();
        Ok(())
    }
}

/// Every order of an archived book, resting and stops.
fn book_orders(book: &ArchivedBookSnapshot) -> impl Iterator<Item = &ArchivedOrderSnapshot> {
    book.bids
        .iter()
        .chain(book.asks.iter())
        .chain(book.buy_stops.iter())
        .chain(book.sell_stops.iter())
}

/// Per-order invariants the matcher relies on.
fn check_order(
    order: &OrderSnapshot,
    side: Side,
    is_stop: bool,
    next_arrival: u64,
) -> Result<(), String> {
    if order.side != side {
        return Err("listed on the wrong side".into());
    }
    if order.filled >= order.quantity {
        return Err(format!(
            "filled {} of {}: nothing open",
            order.filled, order.quantity
        ));
    }
    if order.arrival >= next_arrival {
        return Err(format!(
            "arrival {} is not before {next_arrival}",
            order.arrival
        ));
    }
    if is_stop {
        if !order.order_type.is_stop() || order.stop_price == 0 {
            return Err("listed as a stop but is not one".into());
        }
        if order.order_type == OrderType::StopLimit && order.price == 0 {
            return Err("stop-limit without a price".into());
        }
    } else if order.tif != TimeInForce::Gtc || order.price == 0 || !order.order_type.can_rest() {
        return Err("resting order must be a GTC limit order".into());
    }
    Ok(())
}

/// Whether `next` may follow `prev` in a canonical list.
fn in_priority_order(prev: &OrderSnapshot, next: &OrderSnapshot, side: Side, stops: bool) -> bool {
    if stops {
        // Trigger order: lower buy stop first, higher sell stop first, then
        // older first.
        match prev.stop_price.cmp(&next.stop_price) {
            std::cmp::Ordering::Equal => prev.arrival < next.arrival,
            std::cmp::Ordering::Less => side == Side::Buy,
            std::cmp::Ordering::Greater => side == Side::Sell,
        }
    } else {
        // Book order: better or equal price first (FIFO within a price is the
        // list order itself).
        match side {
            Side::Buy => prev.price >= next.price,
            Side::Sell => prev.price <= next.price,
        }
    }
}
