//! The engine's internal-state validator, after exchange-core's
//! `validateInternalState`: every structure checked against the others.
//!
//! It is for tests: the differential and property suites call it after
//! every command, and with the `validate` feature every restore runs it
//! too. It walks every order and level, so it costs time proportional to
//! the state; the hot path never calls it, and it changes nothing.

use crate::Engine;
use crate::types::TimeInForce;

/// What [`Engine::validate_internal_state`] found wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("engine state is inconsistent: {0}")]
pub struct InvariantViolation(pub String);

impl Engine {
    /// Checks that the order arena, the id index, every ladder and its
    /// level queues, the top-of-book and depth caches, and the stop books
    /// agree with each other:
    ///
    /// - the arena's free list and its live orders add up, and the id index
    ///   finds each live order by its key and holds nothing else;
    /// - each ladder's prices are in order and indexed, each level's queue
    ///   is linked both ways through orders of its side, book and price,
    ///   and its quantity and count are their sum;
    /// - each side's top five levels are its best live levels, and the
    ///   depth last emitted is that top;
    /// - each stop queue is in trigger order and holds untriggered stops;
    /// - every live order is held exactly once, by its own book, resting
    ///   only as a GTC limit (or a triggered stop-limit);
    /// - no book is crossed at rest, and the symbol map names each book.
    pub fn validate_internal_state(&self) -> Result<(), InvariantViolation> {
        self.check().map_err(InvariantViolation)
    }

    fn check(&self) -> Result<(), String> {
        let live = self.orders.validate()?;
        if self.symbols.len() != self.books.len() {
            return Err(format!(
                "{} symbols name {} books",
                self.symbols.len(),
                self.books.len()
            ));
        }
        let mut held = vec![false; live.len()];
        for (b, book) in self.books.iter().enumerate() {
            if self.symbols.get(&book.symbol) != Some(&(b as u32)) {
                return Err(format!("symbol {} does not name its book {b}", book.symbol));
            }
            let slots = book
                .validate(&self.orders, b as u32)
                .map_err(|e| format!("{}: {e}", book.symbol))?;
            for slot in slots {
                if !live.get(slot as usize).copied().unwrap_or(false) {
                    return Err(format!(
                        "{} holds order slot {slot}, which is free",
                        book.symbol
                    ));
                }
                if std::mem::replace(&mut held[slot as usize], true) {
                    return Err(format!("order slot {slot} is held twice"));
                }
            }
        }
        for (slot, &is_live) in live.iter().enumerate() {
            if !is_live {
                continue;
            }
            let order = self.orders.get(slot as u32);
            if !held[slot] {
                return Err(format!(
                    "live order {slot} ({}) is in no book",
                    order.order_id
                ));
            }
            if order.arrival >= self.next_arrival {
                return Err(format!(
                    "order {slot} arrived at {}, after the next arrival",
                    order.arrival
                ));
            }
            let rests = order.level != crate::slot::NIL;
            if rests && (order.tif != TimeInForce::Gtc || !order.order_type.can_rest()) {
                return Err(format!(
                    "order {slot} rests as a {:?} {:?} order",
                    order.tif, order.order_type
                ));
            }
        }
        if self.next_trade_id == 0 {
            return Err("trade ids restart at 0".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Command, EngineConfig, MemoryConfig, OrderId, OrderSpec, Side, Symbol, UserId};

    /// A book with resting orders on both sides, a partial fill and a stop.
    fn engine() -> Engine {
        let config = EngineConfig {
            memory: MemoryConfig {
                order_capacity: 64,
                prefault: false,
            },
            ..EngineConfig::default()
        };
        let mut engine = Engine::new(config).unwrap();
        let sym = Symbol::new("AAPL").unwrap();
        let user = |u: &str| UserId::new(u).unwrap();
        let id = |o: &str| OrderId::new(o).unwrap();
        let mut sink = Vec::new();
        for (n, (side, price, qty)) in [
            (Side::Buy, 99, 10),
            (Side::Buy, 99, 5),
            (Side::Buy, 98, 7),
            (Side::Sell, 101, 4),
            (Side::Sell, 102, 9),
            (Side::Sell, 101, 3), // rests behind the first ask at 101
            (Side::Buy, 101, 2),  // takes 2 of that first ask
        ]
        .into_iter()
        .enumerate()
        {
            let spec = OrderSpec::limit(side, price, qty);
            let (owner, order) = (user(&format!("u{n}")), id(&format!("o{n}")));
            let command = Command::add(n as u64 + 1, sym, owner, order, spec);
            engine.apply(&command, &mut sink);
        }
        let stop = OrderSpec {
            order_type: crate::OrderType::Stop,
            stop_price: 105,
            ..OrderSpec::market(Side::Buy, 1)
        };
        engine.apply(
            &Command::add(9, sym, user("s"), id("stop"), stop),
            &mut sink,
        );
        engine
    }

    /// The slot of live order `order` (`oN` belongs to `uN`, `stop` to `s`).
    fn slot(engine: &Engine, order: &str) -> u32 {
        let owner = match order {
            "stop" => "s".to_owned(),
            _ => order.replacen('o', "u", 1),
        };
        let (user, id) = (UserId::new(&owner).unwrap(), OrderId::new(order).unwrap());
        engine
            .orders
            .find(crate::orders::key_hash(&user, &id), &user, &id)
            .unwrap()
    }

    fn fails(engine: &Engine, what: &str) {
        let err = engine.validate_internal_state().unwrap_err().0;
        assert!(err.contains(what), "{err:?} should mention {what:?}");
    }

    #[test]
    fn a_state_built_by_commands_is_valid() {
        assert_eq!(engine().validate_internal_state(), Ok(()));
    }

    #[test]
    fn an_open_quantity_its_level_does_not_count_is_found() {
        let mut engine = engine();
        let at = slot(&engine, "o0");
        engine.orders.get_mut(at).filled += 1;
        fails(&engine, "level at 99");
    }

    #[test]
    fn an_order_filed_at_another_price_is_found() {
        let mut engine = engine();
        let at = slot(&engine, "o2");
        engine.orders.get_mut(at).price = 97;
        fails(&engine, "says level");
    }

    #[test]
    fn a_freed_order_still_in_its_queue_is_found() {
        let mut engine = engine();
        let at = slot(&engine, "o1");
        engine.orders.remove(at);
        fails(&engine, "which is free");
    }

    #[test]
    fn a_stale_cached_hash_is_found() {
        let mut engine = engine();
        let at = slot(&engine, "o4");
        engine.orders.get_mut(at).hash ^= 1;
        fails(&engine, "hash");
    }

    #[test]
    fn a_level_aggregate_out_of_step_with_its_orders_is_found() {
        let mut engine = engine();
        let level = engine.books[0].bids.best().unwrap();
        engine.books[0].bids.reduce(level, 1);
        fails(&engine, "level at 99");
    }

    #[test]
    fn a_top_of_book_change_never_published_is_found() {
        let mut engine = engine();
        // An order joins the best bid level without a command, so no depth
        // event went out for the bigger level.
        let at = slot(&engine, "o2");
        engine.books[0].bids.unlink(&mut engine.orders, at);
        engine.orders.get_mut(at).price = 99;
        engine.books[0].bids.push_back(&mut engine.orders, at);
        fails(&engine, "without a depth event");
    }

    #[test]
    fn a_crossed_book_is_found() {
        let mut engine = engine();
        let at = slot(&engine, "o2");
        engine.books[0].bids.unlink(&mut engine.orders, at);
        engine.orders.get_mut(at).price = 103;
        engine.books[0].bids.push_back(&mut engine.orders, at);
        engine.books[0].mark_depth_emitted();
        fails(&engine, "crossed");
    }

    #[test]
    fn a_resting_order_in_a_stop_queue_too_is_found() {
        let mut engine = engine();
        let at = slot(&engine, "o0");
        engine.books[0].buy_stops.insert(99, 0, at);
        fails(&engine, "stop");
    }

    #[test]
    fn an_order_from_the_future_is_found() {
        let mut engine = engine();
        engine.next_arrival = 0;
        fails(&engine, "after the next arrival");
    }
}
