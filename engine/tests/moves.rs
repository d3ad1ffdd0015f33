//! Moving a partition's books between two engines, against one engine that
//! never moved them (the reference model).
//!
//! A random command stream runs over four symbols; `BBB` comes from
//! `orders` partition 1, the rest from partition 0. At a random point the
//! giver releases partition 1, the taker applies the export's pieces and
//! the acquire, and both apply the outcome. From then on partition 1's
//! commands go to the taker. Every command's events, from whichever engine
//! holds its symbol, must equal the model's (trade ids aside: each engine
//! numbers its own). A rolled-back move must leave the giver trading as
//! if nothing happened. Both engines' internal state is validated after
//! every input, and a snapshot taken mid-move restores to the same state.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::model::Model;
use common::*;
use engine::sequenced::{
    Handover, Input, Output, SourcePosition, apply_input, export_digest, export_pieces,
};
use engine::{
    AdminAction, AdminCommand, Command, EngineId, Event, MemoryConfig, MoveStep, OrderId, Symbol,
};
use engine::{Engine, SelfTradePrevention};
use proptest::prelude::*;

/// The partition a symbol's orders come from.
fn partition_of(symbol: &Symbol) -> i32 {
    i32::from(symbol.as_str() == "BBB")
}

/// Order ids made unique per user across symbols, as a sharded venue's
/// must be: the giver and taker then see no duplicate the model would.
fn per_symbol_ids(commands: Vec<Command>) -> Vec<Command> {
    commands
        .into_iter()
        .map(|mut c| {
            c.order_id = oid(&format!("{}.{}", c.symbol.as_str(), c.order_id.as_str()));
            c
        })
        .collect()
}

/// Applies `input` from `partition`, returning its events.
fn events(engine: &mut Engine, input: &Input, partition: i32, offset: i64) -> Vec<Event> {
    let mut out = Vec::new();
    apply_input(
        engine,
        input,
        SourcePosition::orders(partition, offset),
        &mut |output| {
            if let Output::Event(event) = output {
                out.push(event);
            }
        },
    );
    engine.validate_internal_state().unwrap();
    out
}

/// Trade ids are each engine's own numbering.
fn without_trade_ids(events: Vec<Event>) -> Vec<Event> {
    events
        .into_iter()
        .map(|e| match e {
            Event::Trade(mut t) => {
                t.trade_id = 0;
                Event::Trade(t)
            }
            e => e,
        })
        .collect()
}

/// The step a move's record reported.
fn step_of(events: &[Event]) -> Option<MoveStep> {
    events.iter().find_map(|e| match e {
        Event::MoveStepped { step, .. } => Some(*step),
        _ => None,
    })
}

/// Releases partition 1 from `giver` and has `taker` acquire it; returns
/// the move's id. Checks that a snapshot taken in the middle restores.
fn hand_over(giver: &mut Engine, taker: &mut Engine, at: i64) -> OrderId {
    let move_id = oid("mv-1");
    let release = Input::Admin(AdminCommand {
        ts: 0,
        request_id: move_id,
        action: AdminAction::Release {
            partition: 1,
            to: EngineId::new("taker").unwrap(),
            after_offset: at,
        },
    });
    let released = events(giver, &release, -1, 0);
    assert_eq!(step_of(&released), Some(MoveStep::Released));
    let export = giver.export_outgoing().unwrap();
    for piece in export_pieces(move_id, &export) {
        assert!(events(taker, &Input::Handover(piece), -1, 0).is_empty());
    }
    let mid = Engine::restore(&taker.snapshot(), MemoryConfig::default()).unwrap();
    assert_eq!(mid.state_hash(), taker.state_hash());
    let acquire = Input::Handover(Handover::Acquire {
        move_id,
        partition: 1,
        after_offset: at,
        from: EngineId::new("giver").unwrap(),
        len: export.len() as u32,
        digest: export_digest(&export),
    });
    assert_eq!(
        step_of(&events(taker, &acquire, 1, at)),
        Some(MoveStep::Acquired)
    );
    move_id
}

fn outcome(move_id: OrderId, moved: bool) -> Input {
    Input::Handover(Handover::Outcome {
        move_id,
        partition: 1,
        moved,
    })
}

fn check_move(
    stp: SelfTradePrevention,
    commands: &[Command],
    split: usize,
    moved: bool,
) -> Result<(), TestCaseError> {
    // Room for every symbol: two engines hold more books than one.
    let config = engine::EngineConfig {
        max_symbols: 4,
        ..test_config(stp)
    };
    let mut model = Model::new(config.clone());
    let mut giver = Engine::new(config.clone()).unwrap();
    let mut taker = Engine::new(config).unwrap();
    let split = split.min(commands.len());
    for (i, command) in commands.iter().enumerate() {
        if i == split {
            let move_id = hand_over(&mut giver, &mut taker, i as i64 - 1);
            let step = step_of(&events(&mut taker, &outcome(move_id, moved), 1, 0));
            prop_assert_eq!(
                step,
                Some(if moved {
                    MoveStep::Moved
                } else {
                    MoveStep::RolledBack
                })
            );
            events(&mut giver, &outcome(move_id, moved), 1, 0);
            prop_assert!(giver.moves().outgoing.is_none() && taker.moves().incoming.is_none());
        }
        let partition = partition_of(&command.symbol);
        let holder = if i >= split && moved && partition == 1 {
            &mut taker
        } else {
            &mut giver
        };
        let got = events(holder, &Input::Command(*command), partition, i as i64);
        let want = model.apply(command);
        prop_assert_eq!(
            without_trade_ids(got),
            without_trade_ids(want),
            "command #{} {:?}",
            i,
            command
        );
    }
    Ok(())
}

proptest! {
    // Each case rebuilds books through a snapshot: a tenth of the others'.
    #![proptest_config(ProptestConfig::with_cases(cases() / 10))]

    #[test]
    fn a_moved_partition_trades_as_if_it_never_moved(
        stp in stp_strategy(),
        commands in commands(120).prop_map(per_symbol_ids),
        split in 0usize..120,
    ) {
        check_move(stp, &commands, split, true)?;
    }

    #[test]
    fn a_rolled_back_move_changes_nothing(
        stp in stp_strategy(),
        commands in commands(120).prop_map(per_symbol_ids),
        split in 0usize..120,
    ) {
        check_move(stp, &commands, split, false)?;
    }
}

#[test]
fn the_giver_refuses_orders_for_away_books_and_a_second_move() {
    let config = test_config(SelfTradePrevention::CancelResting);
    let mut giver = Engine::new(config.clone()).unwrap();
    let mut taker = Engine::new(config).unwrap();
    let add = Command::add(
        1,
        sym("BBB"),
        user("u1"),
        oid("b1"),
        engine::OrderSpec::limit(engine::Side::Buy, 100, 10),
    );
    events(&mut giver, &Input::Command(add), 1, 0);
    let move_id = hand_over(&mut giver, &mut taker, 0);
    // While the outcome is open, a stray order for the symbol is refused.
    let stray = Command {
        order_id: oid("b2"),
        ..add
    };
    let got = events(&mut giver, &Input::Command(stray), 0, 1);
    assert!(
        matches!(
            got[..],
            [Event::Rejected {
                reason: engine::RejectReason::SymbolMoved,
                ..
            }]
        ),
        "{got:?}"
    );
    // One move at a time.
    let again = Input::Admin(AdminCommand {
        ts: 0,
        request_id: oid("mv-2"),
        action: AdminAction::Release {
            partition: 0,
            to: EngineId::new("taker").unwrap(),
            after_offset: 1,
        },
    });
    let got = events(&mut giver, &again, -1, 0);
    assert!(
        matches!(
            got[..],
            [Event::AdminRejected {
                reason: engine::RejectReason::MoveRefused,
                ..
            }]
        ),
        "{got:?}"
    );
    events(&mut giver, &outcome(move_id, true), 1, 0);
    events(&mut taker, &outcome(move_id, true), 1, 0);
    assert_eq!(giver.live_orders(), 0);
    assert_eq!(taker.live_orders(), 1);
    // The taker gives it back; the giver fills its away book again.
    let back = Input::Admin(AdminCommand {
        ts: 0,
        request_id: oid("mv-3"),
        action: AdminAction::Release {
            partition: 1,
            to: EngineId::new("giver").unwrap(),
            after_offset: 5,
        },
    });
    events(&mut taker, &back, -1, 0);
    let export = taker.export_outgoing().unwrap();
    for piece in export_pieces(oid("mv-3"), &export) {
        events(&mut giver, &Input::Handover(piece), -1, 0);
    }
    let acquire = Input::Handover(Handover::Acquire {
        move_id: oid("mv-3"),
        partition: 1,
        after_offset: 5,
        from: EngineId::new("taker").unwrap(),
        len: export.len() as u32,
        digest: export_digest(&export),
    });
    assert_eq!(
        step_of(&events(&mut giver, &acquire, 1, 5)),
        Some(MoveStep::Acquired)
    );
    assert_eq!(giver.live_orders(), 1);
    assert_eq!(giver.symbol_count(), 1 + 1, "AAA and the refilled BBB");
}

#[test]
fn a_corrupt_export_fails_the_acquire_and_changes_nothing() {
    let config = test_config(SelfTradePrevention::CancelResting);
    let mut taker = Engine::new(config).unwrap();
    let before = taker.state_hash();
    let export = b"MXMOVE\0\0not an export".to_vec();
    let move_id = oid("mv-x");
    for piece in export_pieces(move_id, &export) {
        events(&mut taker, &Input::Handover(piece), -1, 0);
    }
    let acquire = Input::Handover(Handover::Acquire {
        move_id,
        partition: 1,
        after_offset: 0,
        from: EngineId::new("giver").unwrap(),
        len: export.len() as u32,
        digest: export_digest(&export),
    });
    assert!(matches!(
        step_of(&events(&mut taker, &acquire, 1, 0)),
        Some(MoveStep::AcquireFailed(_))
    ));
    assert_eq!(taker.state_hash(), before);
}
