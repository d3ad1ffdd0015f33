//! The engine against the reference model: random command streams over
//! several symbols, every order type, every self-trade mode. Events must be
//! identical, command by command, and so must the books at the end.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::model::Model;
use common::*;
use engine::{Engine, Side};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_reference_model(stp in stp_strategy(), commands in commands(120)) {
        let config = test_config(stp);
        let mut engine = Engine::new(config.clone()).unwrap();
        let mut model = Model::new(config);
        for (i, command) in commands.iter().enumerate() {
            let mut got = Vec::new();
            engine.apply(command, &mut got);
            let want = model.apply(command);
            prop_assert_eq!(&got, &want, "command #{}: {:?}", i, command);
        }
        prop_assert_eq!(engine.live_orders(), model.live_orders());
        prop_assert_eq!(engine.symbol_count(), model.symbols().len());
        for symbol in model.symbols() {
            for side in [Side::Buy, Side::Sell] {
                prop_assert_eq!(
                    engine.resting_orders(&symbol, side),
                    model.resting_orders(&symbol, side),
                    "{} {:?} book", symbol, side
                );
                prop_assert_eq!(
                    engine.stop_orders(&symbol, side),
                    model.stop_orders(&symbol, side),
                    "{} {:?} stops", symbol, side
                );
            }
        }
    }
}
