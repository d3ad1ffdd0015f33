//! The engine against the reference model: random command streams over
//! several symbols, every order type, every self-trade mode. Events must be
//! identical, command by command, and so must the books at the end. A
//! third property mixes admin commands (halt, resume, mass cancel,
//! reference price) into the stream. The
//! engine's internal state is validated after every command.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::model::Model;
use common::*;
use engine::sequenced::{Input, Output, SourcePosition, apply_input};
use engine::{Engine, Side};
use proptest::prelude::*;

/// Runs both and requires identical events per command and identical books.
fn check_against_model(
    stp: engine::SelfTradePrevention,
    commands: &[engine::Command],
) -> Result<(), TestCaseError> {
    let inputs: Vec<Input> = commands.iter().copied().map(Input::Command).collect();
    check_inputs_against_model(stp, &inputs)
}

/// As `check_against_model`, for a stream that holds admin commands too.
fn check_inputs_against_model(
    stp: engine::SelfTradePrevention,
    inputs: &[Input],
) -> Result<(), TestCaseError> {
    let config = test_config(stp);
    let mut engine = Engine::new(config.clone()).unwrap();
    let mut model = Model::new(config);
    for (i, command) in inputs.iter().enumerate() {
        let mut got = Vec::new();
        apply_input(
            &mut engine,
            command,
            SourcePosition::orders(0, i as i64),
            &mut |output| {
                if let Output::Event(event) = output {
                    got.push(event);
                }
            },
        );
        let want = model.apply_input(command);
        prop_assert_eq!(&got, &want, "input #{}: {:?}", i, command);
        if let Err(e) = engine.validate_internal_state() {
            return Err(TestCaseError::fail(format!(
                "after command #{i} {command:?}: {e}"
            )));
        }
    }
    prop_assert_eq!(engine.live_orders(), model.live_orders());
    prop_assert_eq!(engine.symbol_count(), model.symbols().len());
    for symbol in model.symbols() {
        prop_assert_eq!(engine.is_halted(&symbol), model.is_halted(&symbol));
        for side in [Side::Buy, Side::Sell] {
            prop_assert_eq!(
                engine.resting_orders(&symbol, side),
                model.resting_orders(&symbol, side),
                "{} {:?} book",
                symbol,
                side
            );
            prop_assert_eq!(
                engine.stop_orders(&symbol, side),
                model.stop_orders(&symbol, side),
                "{} {:?} stops",
                symbol,
                side
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_reference_model(stp in stp_strategy(), commands in commands(120)) {
        check_against_model(stp, &commands)?;
    }

    /// Halts, resumes, mass cancels and reference prices among the orders.
    #[test]
    fn admin_commands_match_reference_model(stp in stp_strategy(), inputs in inputs(120)) {
        check_inputs_against_model(stp, &inputs)?;
    }
}

proptest! {
    // Long streams are slow in the model: 200 of them by default. Note that
    // proptest lets PROPTEST_CASES override this too.
    #![proptest_config(ProptestConfig { cases: (cases() / 50).max(8), ..ProptestConfig::default() })]

    /// Hundreds of levels per side, levels emptying in the middle of the
    /// book and being swept: the lazy-removal paths of the ladder.
    #[test]
    fn deep_books_match_reference_model(stp in stp_strategy(), commands in deep_commands()) {
        check_against_model(stp, &commands)?;
    }
}
