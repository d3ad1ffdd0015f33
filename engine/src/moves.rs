//! Moving a partition's books between engines: the matcher's half.
//!
//! A move gives every book created by an input from one `orders` partition
//! to another engine (`docs/shards.md#moving-a-partition`). Each engine
//! journals its own steps and applies them here, deterministically:
//!
//! - the giver applies `MOVE` (an admin command, [`AdminAction::Release`]):
//!   the partition's books go *away* — nothing more trades on them — and
//!   [`Engine::export_outgoing`] is what it sends;
//! - the taker applies the export's pieces and then the acquire
//!   ([`Handover`]): the books are rebuilt from its own journal, never from
//!   Kafka, so recovery and `replay` rebuild them the same way;
//! - both apply the outcome that `assignments` decided: the giver drops the
//!   books (moved) or trades them again (rolled back); the taker keeps them
//!   or drops them.
//!
//! A book that moved away stays in the book list, empty and away, so book
//! indexes never shift; taking the symbol back fills it again. At most one
//! move is under way each way. Nothing here reads a clock or does I/O, and
//! it is not the hot path: it allocates.
//!
//! [`AdminAction::Release`]: crate::AdminAction::Release

use crate::engine::Engine;
use crate::event::{Event, EventSink, MoveStep, RejectReason};
use crate::ids::{EngineId, OrderId};
use crate::sequenced::{Handover, PIECE_BYTES, export_digest};

/// A partition this engine released and has not heard the outcome of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct Outgoing {
    /// The move: the `MOVE` request's id.
    pub move_id: OrderId,
    /// The `orders` partition.
    pub partition: i32,
    /// The last offset of it this engine journaled.
    pub after_offset: i64,
    /// The engine taking it.
    pub to: EngineId,
}

/// An export being taken in: the pieces journaled so far, then the books
/// acquired and waiting for the outcome.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct Incoming {
    /// The move.
    pub move_id: OrderId,
    /// The export's bytes, from the pieces in order; emptied by the
    /// acquire.
    pub bytes: Vec<u8>,
    /// Set by the acquire: the partition, the giver's last offset, the
    /// giver.
    pub acquired: Option<(i32, i64, EngineId)>,
}

/// The moves under way on an engine. Part of its state: snapshots hold it,
/// and the state hash covers it.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug))]
pub struct MoveState {
    /// A partition given away, awaiting the outcome.
    pub outgoing: Option<Outgoing>,
    /// A partition being taken in.
    pub incoming: Option<Incoming>,
}

impl Engine {
    /// The moves under way.
    pub fn moves(&self) -> &MoveState {
        &self.moves
    }

    /// Releases `partition` to `to`: its books go away, and the export
    /// waits for the outcome. Refused while another move is under way.
    pub(crate) fn release<S: EventSink + ?Sized>(
        &mut self,
        move_id: OrderId,
        partition: i32,
        to: EngineId,
        after_offset: i64,
        sink: &mut S,
    ) -> Result<(), RejectReason> {
        if self.moves.outgoing.is_some() || self.moves.incoming.is_some() || partition < 0 {
            return Err(RejectReason::MoveRefused);
        }
        let mut books = 0;
        let mut orders = 0;
        for b in 0..self.books.len() {
            let book = &mut self.books[b];
            if book.partition == partition && !book.away {
                book.away = true;
                books += 1;
                orders += self.live_orders_of(b);
            }
        }
        self.moves.outgoing = Some(Outgoing {
            move_id,
            partition,
            after_offset,
            to,
        });
        sink.on_event(&Event::MoveStepped {
            move_id,
            partition,
            step: MoveStep::Released,
            books,
            orders,
        });
        Ok(())
    }

    /// The export of the partition this engine released: its books in
    /// book order, in the snapshot's canonical form, compressed.
    /// Deterministic: the same state gives the same bytes. `None` when no
    /// move is outgoing.
    pub fn export_outgoing(&self) -> Option<Vec<u8>> {
        let outgoing = self.moves.outgoing?;
        Some(self.export_books(outgoing.partition))
    }

    /// Applies one journaled step of a move: a piece, the acquire or the
    /// outcome. Its events: none for a piece; `MoveStepped` for the others.
    pub fn apply_handover<S: EventSink + ?Sized>(&mut self, step: &Handover, sink: &mut S) {
        match *step {
            Handover::Piece {
                move_id,
                index,
                len,
                bytes,
            } => {
                // Piece 0 starts the export over: a taker that crashed
                // while taking pieces in is sent all of them again.
                if index == 0 {
                    self.moves.incoming = Some(Incoming {
                        move_id,
                        bytes: Vec::new(),
                        acquired: None,
                    });
                }
                if let Some(incoming) = &mut self.moves.incoming
                    && incoming.move_id == move_id
                    && incoming.acquired.is_none()
                    && incoming.bytes.len() == index as usize * PIECE_BYTES
                {
                    let len = usize::from(len).min(PIECE_BYTES);
                    incoming.bytes.extend_from_slice(&bytes[..len]);
                }
            }
            Handover::Acquire {
                move_id,
                partition,
                after_offset,
                from,
                len,
                digest,
            } => {
                let (step, books, orders) =
                    match self.acquire(move_id, partition, after_offset, from, len, digest) {
                        Ok((books, orders)) => (MoveStep::Acquired, books, orders),
                        Err(reason) => {
                            self.moves.incoming = None;
                            (MoveStep::AcquireFailed(reason), 0, 0)
                        }
                    };
                sink.on_event(&Event::MoveStepped {
                    move_id,
                    partition,
                    step,
                    books,
                    orders,
                });
            }
            Handover::Outcome {
                move_id,
                partition,
                moved,
            } => self.conclude(move_id, partition, moved, sink),
        }
    }

    /// Rebuilds the journaled export's books; they trade at once, since
    /// no order for them arrives before the commit.
    fn acquire(
        &mut self,
        move_id: OrderId,
        partition: i32,
        after_offset: i64,
        from: EngineId,
        len: u32,
        digest: u64,
    ) -> Result<(u32, u32), RejectReason> {
        let incoming = self
            .moves
            .incoming
            .as_mut()
            .filter(|i| i.move_id == move_id && i.acquired.is_none())
            .ok_or(RejectReason::MoveRefused)?;
        if self.moves.outgoing.is_some() {
            return Err(RejectReason::MoveRefused);
        }
        let bytes = std::mem::take(&mut incoming.bytes);
        if bytes.len() != len as usize || export_digest(&bytes) != digest {
            return Err(RejectReason::MalformedMessage);
        }
        let taken = self.import_books(&bytes, partition)?;
        if let Some(incoming) = &mut self.moves.incoming {
            incoming.acquired = Some((partition, after_offset, from));
        }
        Ok(taken)
    }

    /// The outcome: the giver drops or takes back its away books, the
    /// taker keeps or drops what it acquired. An outcome for no move under
    /// way changes nothing (a repeat after a crash).
    fn conclude<S: EventSink + ?Sized>(
        &mut self,
        move_id: OrderId,
        partition: i32,
        moved: bool,
        sink: &mut S,
    ) {
        let step = if moved {
            MoveStep::Moved
        } else {
            MoveStep::RolledBack
        };
        let mut books = 0;
        let mut orders = 0;
        if self.moves.outgoing.is_some_and(|o| o.move_id == move_id) {
            self.moves.outgoing = None;
            for b in 0..self.books.len() {
                if self.books[b].partition != partition || !self.books[b].away {
                    continue;
                }
                books += 1;
                orders += self.live_orders_of(b);
                if moved {
                    self.empty_book(b);
                } else {
                    self.books[b].away = false;
                }
            }
        } else if self
            .moves
            .incoming
            .as_ref()
            .is_some_and(|i| i.move_id == move_id && i.acquired.is_some())
        {
            self.moves.incoming = None;
            for b in 0..self.books.len() {
                if self.books[b].partition != partition || self.books[b].away {
                    continue;
                }
                books += 1;
                orders += self.live_orders_of(b);
                if !moved {
                    self.empty_book(b);
                }
            }
        } else {
            return;
        }
        sink.on_event(&Event::MoveStepped {
            move_id,
            partition,
            step,
            books,
            orders,
        });
    }

    /// Each `orders` partition's books (not moved away) and their live
    /// orders, by partition; books from no partition are left out. It
    /// scans every book: for a metrics thread, not the matcher.
    pub fn partition_sizes(&self) -> Vec<(i32, u64, u64)> {
        let mut sizes: std::collections::BTreeMap<i32, (u64, u64)> = Default::default();
        for (b, book) in self.books.iter().enumerate() {
            if book.partition >= 0 && !book.away {
                let size = sizes.entry(book.partition).or_default();
                size.0 += 1;
                size.1 += u64::from(self.live_orders_of(b));
            }
        }
        sizes
            .into_iter()
            .map(|(p, (books, orders))| (p, books, orders))
            .collect()
    }

    /// Live orders of book `b`, stops included.
    fn live_orders_of(&self, b: usize) -> u32 {
        let book = &self.books[b];
        (book.bids.order_count()
            + book.asks.order_count()
            + book.buy_stops.len()
            + book.sell_stops.len()) as u32
    }

    /// Takes every order out of book `b` without events (they live on at
    /// the other engine) and leaves it away, its last trade forgotten.
    fn empty_book(&mut self, b: usize) {
        let slots = self.live_slots_of(b);
        for slot in slots {
            self.remove_live(b, slot);
        }
        let book = &mut self.books[b];
        book.away = true;
        book.halted = false;
        book.last_price = 0;
        book.last_qty = 0;
        book.mark_depth_emitted();
    }
}
