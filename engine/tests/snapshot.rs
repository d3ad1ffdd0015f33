//! Snapshots and determinism: a restored engine continues exactly as if it
//! had never stopped, the same commands always give the same bytes, and a
//! damaged snapshot is an error, never a panic.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::*;
use engine::{
    Command, Engine, EngineConfig, Event, MemoryConfig, OrderSpec, SelfTradePrevention, Side,
    SnapshotError,
};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: cases() / 4, ..ProptestConfig::default() })]

    /// Snapshot at a random point, restore into a new engine, continue: the
    /// outputs and the final state equal those of the uninterrupted run.
    #[test]
    fn snapshot_restore_continue_equals_uninterrupted_run(
        stp in stp_strategy(),
        commands in commands(100),
        split in any::<prop::sample::Index>(),
    ) {
        let config = test_config(stp);
        let split = split.index(commands.len() + 1);
        let (whole, whole_events) = run(&config, &commands);

        let (before, _) = run(&config, &commands[..split]);
        let bytes = before.snapshot();
        // Restore validates the state it rebuilt (the `validate` feature).
        // The test's small memory settings keep the validation after every
        // command cheap: it scans the whole id index.
        let mut restored = Engine::restore(&bytes, config.memory).unwrap();
        prop_assert_eq!(restored.snapshot().to_vec(), bytes.to_vec(), "restore is lossless");
        for (i, command) in commands.iter().enumerate().skip(split) {
            let mut got = Vec::new();
            restored.apply(command, &mut got);
            prop_assert_eq!(&got, &whole_events[i], "command #{} after a snapshot at {}", i, split);
            prop_assert!(restored.validate_internal_state().is_ok(), "after command #{}", i);
        }
        prop_assert_eq!(restored.state_hash(), whole.state_hash());
        prop_assert_eq!(restored.snapshot().to_vec(), whole.snapshot().to_vec());
    }
}

/// A fixed scenario touching every kind of state: two symbols, resting
/// orders on both sides at several levels, a partial fill, a stop, trades.
fn scenario() -> Vec<Command> {
    let mut ts = 0;
    let mut next = |f: &dyn Fn(u64) -> Command| {
        ts += 1;
        f(ts)
    };
    let add = |s: &str, u: &str, o: &str, spec: OrderSpec| {
        let (s, u, o) = (sym(s), user(u), oid(o));
        move |ts| Command::add(ts, s, u, o, spec)
    };
    let mut stop = OrderSpec::limit(Side::Sell, 95, 5);
    stop.order_type = engine::OrderType::StopLimit;
    stop.stop_price = 97;
    vec![
        next(&add(
            "AAPL",
            "a",
            "s1",
            OrderSpec::limit(Side::Sell, 101, 10),
        )),
        next(&add(
            "AAPL",
            "a",
            "s2",
            OrderSpec::limit(Side::Sell, 102, 20),
        )),
        next(&add("AAPL", "b", "b1", OrderSpec::limit(Side::Buy, 99, 30))),
        next(&add("AAPL", "c", "b2", OrderSpec::limit(Side::Buy, 101, 4))),
        next(&add("MSFT", "c", "m1", OrderSpec::limit(Side::Buy, 50, 7))),
        next(&add("AAPL", "d", "st", stop)),
    ]
}

#[test]
fn the_same_commands_give_the_same_events_and_state_hash() {
    let config = EngineConfig::default();
    let (a, a_events) = run(&config, &scenario());
    let (b, b_events) = run(&config, &scenario());
    assert_eq!(a_events, b_events);
    assert_eq!(a.snapshot().as_slice(), b.snapshot().as_slice());
    assert_eq!(a.state_hash(), b.state_hash());
}

/// The state hash is a function of the state alone, stable across builds,
/// runs and machines. If this value changes, the snapshot format changed:
/// bump `SNAPSHOT_FORMAT_VERSION` and update it deliberately. (Format 2:
/// each order records when it took its place in the queue. Format 3: the
/// halted symbols. Format 4: each book's partition, and moves. Format 5:
/// market-to-limit orders, same layout; the version is in the hashed bytes.)
#[test]
fn state_hash_of_a_fixed_scenario_is_a_known_constant() {
    let (engine, _) = run(&EngineConfig::default(), &scenario());
    assert_eq!(
        engine.state_hash(),
        KNOWN_STATE_HASH,
        "got {:#018x}",
        engine.state_hash()
    );
}
const KNOWN_STATE_HASH: u64 = 0xdca7_9ab9_b38b_f48c;

#[test]
fn state_hash_ignores_which_arena_slots_orders_occupy() {
    let add = |o: &str| {
        Command::add(
            0,
            sym("AAPL"),
            user("u"),
            oid(o),
            OrderSpec::limit(Side::Buy, 10, 1),
        )
    };
    let cancel = |o: &str| Command::cancel(0, sym("AAPL"), user("u"), oid(o));
    // Both leave order "b" alone with arrival number 1, but "b" sits in
    // arena slot 1 in the first engine and in the recycled slot 0 in the
    // second.
    let (x, _) = run(&EngineConfig::default(), &[add("a"), add("b"), cancel("a")]);
    let (y, _) = run(&EngineConfig::default(), &[add("z"), cancel("z"), add("b")]);
    assert_eq!(x.snapshot().to_vec(), y.snapshot().to_vec());
    assert_eq!(x.state_hash(), y.state_hash());
}

#[test]
fn memory_settings_do_not_change_the_state_hash() {
    let small = EngineConfig::default();
    let large = EngineConfig {
        memory: MemoryConfig {
            order_capacity: 1 << 16,
            prefault: true,
        },
        ..EngineConfig::default()
    };
    let (a, _) = run(&small, &scenario());
    let (b, _) = run(&large, &scenario());
    assert_eq!(a.state_hash(), b.state_hash());
}

#[test]
fn restore_accepts_an_unaligned_buffer() {
    let (engine, _) = run(&EngineConfig::default(), &scenario());
    let bytes = engine.snapshot();
    let mut shifted = vec![0u8];
    shifted.extend_from_slice(&bytes);
    let restored = Engine::restore(&shifted[1..], MemoryConfig::default()).unwrap();
    assert_eq!(restored.state_hash(), engine.state_hash());
}

#[test]
fn restore_rejects_bad_magic_and_other_versions() {
    let (engine, _) = run(&EngineConfig::default(), &scenario());
    let mut bytes = engine.snapshot().to_vec();
    assert!(matches!(
        Engine::restore(&bytes[..10], MemoryConfig::default()),
        Err(SnapshotError::BadMagic)
    ));
    bytes[8] = 99;
    let err = Engine::restore(&bytes, MemoryConfig::default())
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            SnapshotError::UnsupportedVersion {
                found: 99,
                supported: 5
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("99"));
}

#[test]
fn every_single_byte_corruption_is_an_error_or_a_valid_engine_never_a_panic() {
    let config = test_config(SelfTradePrevention::CancelResting);
    let (engine, _) = run(&config, &scenario());
    let bytes = engine.snapshot().to_vec();
    let mut errors = 0;
    for at in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut damaged = bytes.clone();
            damaged[at] ^= flip;
            match Engine::restore(&damaged, MemoryConfig::default()) {
                Err(_) => errors += 1,
                // Some flips land in values that stay valid (a price, a
                // quantity); the engine must then be usable.
                Ok(mut restored) => {
                    let mut sink: Vec<Event> = Vec::new();
                    for command in scenario() {
                        restored.apply(&command, &mut sink);
                    }
                }
            }
        }
    }
    assert!(
        errors > bytes.len(),
        "most corruptions must be detected ({errors})"
    );
}

#[test]
fn truncated_snapshots_are_errors() {
    let (engine, _) = run(&EngineConfig::default(), &scenario());
    let bytes = engine.snapshot();
    for len in (0..bytes.len()).step_by(7) {
        assert!(
            Engine::restore(&bytes[..len], MemoryConfig::default()).is_err(),
            "length {len}"
        );
    }
}

/// `clone_from` into a spare that held another state (bigger or smaller)
/// gives an engine with exactly the source's state, which then continues
/// exactly like the source.
#[test]
fn clone_from_into_a_used_spare_copies_the_whole_state() {
    let commands = scenario();
    let config = test_config(SelfTradePrevention::CancelResting);
    let (small, _) = run(&config, &commands[..commands.len() / 2]);
    let (big, _) = run(&config, &commands);
    for (from, into) in [(&big, &small), (&small, &big)] {
        let mut spare = Engine::new(config.clone()).unwrap();
        spare.clone_from(into);
        spare.clone_from(from);
        assert_eq!(spare.snapshot().to_vec(), from.snapshot().to_vec());
        let mut original = Engine::restore(&from.snapshot(), MemoryConfig::default()).unwrap();
        let more = Command::add(
            1_000,
            sym("AAPL"),
            user("zed"),
            oid("late"),
            OrderSpec::limit(Side::Buy, 15_000, 7),
        );
        let (mut a, mut b) = (Vec::new(), Vec::new());
        spare.apply(&more, &mut a);
        original.apply(&more, &mut b);
        assert_eq!(a, b);
        assert_eq!(spare.state_hash(), original.state_hash());
    }
}

/// A halt survives a snapshot and changes the state hash. (A snapshot of
/// the previous format, written by the previous build, is restored by the
/// gateway's `formats` test.)
#[test]
fn halts_are_in_the_snapshot() {
    let (mut engine, _) = run(&EngineConfig::default(), &scenario());
    let before = engine.state_hash();
    let aapl = sym("AAPL");
    let halt = engine::AdminCommand {
        ts: 99,
        request_id: oid("r1"),
        action: engine::AdminAction::Halt { symbol: aapl },
    };
    engine.apply_admin(&halt, &mut Vec::new());
    let restored = Engine::restore(&engine.snapshot(), MemoryConfig::default()).unwrap();
    assert!(restored.is_halted(&aapl));
    assert_eq!(restored.state_hash(), engine.state_hash());
    assert_ne!(restored.state_hash(), before);
}
