//! The two forms of `orders` messages the upstream producers send, end to
//! end through the `engine` binary: the canonical form with integer ticks,
//! and the order router's form (no `action` on an add, camelCase names,
//! prices in currency units). A mixed flow of LIMIT, MARKET with a price
//! (the REST schema requires one), IOC, FOK, CANCEL and REPLACE, written in
//! either form, must give exactly the reference model's outputs
//! (`docs/kafka.md`, "The two forms of `orders` messages").

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::fmt::Write as _;

use common::{ENGINE, read_outputs, reference_for, run_engine};
use engine::sequenced::{Input, SourcePosition};
use engine::{
    Command, EngineConfig, OrderId, OrderSpec, OrderType, ReplaceSpec, Side, Symbol, SymbolRules,
    TimeInForce, UserId,
};
use gateway::wire::encode_order;

/// Symbols and the decimal places of their prices in currency units.
const SYMBOLS: [(&str, u8); 3] = [("TSLA", 2), ("BTC", 8), ("SONY", 0)];

/// A seeded flow over three symbols with different price scales.
fn flow(count: usize, seed: u64) -> Vec<Command> {
    let mut rng = oorandom::Rand64::new(u128::from(seed));
    let mut live: Vec<(usize, u64, u64)> = Vec::new(); // symbol, user, order
    let mut commands = Vec::with_capacity(count);
    for n in 0..count as u64 {
        let roll = rng.rand_range(0..100);
        let sym = |s: usize| Symbol::new(SYMBOLS[s].0).unwrap();
        let user = |u: u64| UserId::new(&format!("user_{u}")).unwrap();
        let id = |o: u64| OrderId::new(&format!("1733485800{o:03}-k3j9x")).unwrap();
        if roll < 12 && !live.is_empty() {
            let (s, u, o) = live.swap_remove(rng.rand_range(0..live.len() as u64) as usize);
            commands.push(Command::cancel(0, sym(s), user(u), id(o)));
            continue;
        }
        if roll < 22 && !live.is_empty() {
            let (s, u, o) = live[rng.rand_range(0..live.len() as u64) as usize];
            let spec = if rng.rand_range(0..2) == 0 {
                ReplaceSpec {
                    new_price: Some(price_near(&mut rng)),
                    new_quantity: None,
                }
            } else {
                ReplaceSpec {
                    new_price: None,
                    new_quantity: Some(1 + rng.rand_range(0..30)),
                }
            };
            commands.push(Command::replace(0, sym(s), user(u), id(o), spec));
            continue;
        }
        let s = rng.rand_range(0..SYMBOLS.len() as u64) as usize;
        let u = rng.rand_range(0..8);
        let side = if rng.rand_range(0..2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let quantity = 1 + rng.rand_range(0..30);
        let mut spec = OrderSpec::limit(side, price_near(&mut rng), quantity);
        match roll {
            22..=31 => {
                // As the REST schema sends it: with a price, which is ignored.
                spec = OrderSpec {
                    price: price_near(&mut rng),
                    ..OrderSpec::market(side, quantity)
                };
            }
            32..=39 => spec.tif = TimeInForce::Ioc,
            40..=45 => spec.tif = TimeInForce::Fok,
            _ => live.push((s, u, n)),
        }
        commands.push(Command::add(0, sym(s), user(u), id(n), spec));
    }
    commands
}

fn price_near(rng: &mut oorandom::Rand64) -> u64 {
    25_000 + rng.rand_range(0..40)
}

/// `units` of `10^-decimals` as the router writes it: `250.50`, `250`.
fn decimal_text(units: u64, decimals: u8) -> String {
    if decimals == 0 {
        return units.to_string();
    }
    let scale = 10u64.pow(u32::from(decimals));
    let fraction = format!("{:0width$}", units % scale, width = usize::from(decimals));
    // Drop trailing zeros, as JavaScript's JSON.stringify does, but keep
    // the router's own habit of two places sometimes.
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        (units / scale).to_string()
    } else {
        format!("{}.{fraction}", units / scale)
    }
}

/// The order router's form: the REST body plus `timestamp` and `orderId`.
fn router_form(command: &Command) -> String {
    let decimals = SYMBOLS
        .iter()
        .find(|(s, _)| *s == command.symbol.as_str())
        .unwrap()
        .1;
    let mut out = String::from("{");
    match command.action {
        engine::Action::Add(spec) => {
            // No action: the router only ever adds.
            write!(
                out,
                r#""symbol":"{}","side":"{}","orderType":"{}","price":{},"quantity":{}"#,
                command.symbol,
                spec.side.as_str(),
                spec.order_type.as_str(),
                decimal_text(spec.price, decimals),
                spec.quantity
            )
            .unwrap();
            if spec.order_type == OrderType::Limit && spec.tif != TimeInForce::Gtc {
                write!(out, r#","timeInForce":"{}""#, spec.tif.as_str()).unwrap();
            }
        }
        engine::Action::Cancel => {
            write!(out, r#""action":"CANCEL","symbol":"{}""#, command.symbol).unwrap();
        }
        engine::Action::Replace(spec) => {
            write!(out, r#""action":"REPLACE","symbol":"{}""#, command.symbol).unwrap();
            if let Some(price) = spec.new_price {
                write!(out, r#","newPrice":{}"#, decimal_text(price, decimals)).unwrap();
            }
            if let Some(quantity) = spec.new_quantity {
                write!(out, r#","newQuantity":{quantity}"#).unwrap();
            }
        }
    }
    write!(
        out,
        r#","userId":"{}","timestamp":1733485800123,"orderId":"{}"}}"#,
        command.user_id, command.order_id
    )
    .unwrap();
    out
}

/// The engine rules both runs use: every symbol listed, so both forms see
/// the same books in the same order.
fn engine_config() -> EngineConfig {
    EngineConfig {
        symbols: SYMBOLS
            .iter()
            .map(|(s, _)| (Symbol::new(s).unwrap(), SymbolRules::default()))
            .collect(),
        ..EngineConfig::default()
    }
}

fn config_file() -> String {
    let mut text = String::from("price_format = \"decimal\"\n[engine]\n");
    for (symbol, decimals) in SYMBOLS {
        writeln!(
            text,
            "[engine.symbols.{symbol}]\nprice_decimals = {decimals}"
        )
        .unwrap();
    }
    text
}

#[test]
fn both_forms_of_a_mixed_flow_give_the_reference_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let commands = flow(6_000, 12);
    let mut canonical = String::new();
    let mut router = String::new();
    let mut buf = Vec::new();
    for command in &commands {
        buf.clear();
        encode_order(command, &mut buf);
        canonical.push_str(std::str::from_utf8(&buf).unwrap());
        canonical.push('\n');
        router.push_str(&router_form(command));
        router.push('\n');
    }
    let config = dir.path().join("engine.toml");
    std::fs::write(&config, config_file()).unwrap();
    std::fs::write(dir.path().join("canonical.jsonl"), &canonical).unwrap();
    std::fs::write(dir.path().join("router.jsonl"), &router).unwrap();

    // The reference: the slow model, fed the commands themselves.
    let inputs = commands.iter().enumerate().map(|(i, command)| {
        let mut command = *command;
        if let engine::Action::Add(spec) = &mut command.action
            && !spec.order_type.has_limit_price()
        {
            spec.price = 0; // the decoder does not read it
        }
        let position = SourcePosition::orders(0, i as i64 + 1);
        (position, Input::Command(command))
    });
    let expected = reference_for(&engine_config(), inputs);
    assert!(
        expected["trades.jsonl"].len() > 500,
        "the flow should trade"
    );
    let markets = canonical.matches(r#""order_type":"MARKET""#).count();
    assert!(markets > 300, "{markets} market orders");

    for (form, file, format) in [
        ("canonical", "canonical.jsonl", "ticks"),
        ("router", "router.jsonl", "decimal"),
    ] {
        let out = dir.path().join(format!("out-{form}"));
        let run = run_engine(
            &dir.path().join(format!("journal-{form}")),
            &dir.path().join(file),
            &out,
            &[
                "--config",
                config.to_str().unwrap(),
                "--price-format",
                format,
            ],
        );
        assert!(
            run.status.success(),
            "{form}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let got = read_outputs(&out);
        let status = &got["order_status.jsonl"];
        assert!(
            !status.iter().any(|l| l.contains(r#""status":"REJECTED""#)),
            "{form}: nothing in this flow is invalid: {:?}",
            status.iter().find(|l| l.contains("REJECTED"))
        );
        common::assert_same_outputs(&got, &expected);
    }
}

/// A decimal price finer than the symbol's scale is refused, naming the
/// field and saying why, and the flow goes on.
#[test]
fn a_price_the_scale_cannot_hold_is_refused_with_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("orders.jsonl");
    std::fs::write(
        &input,
        concat!(
            r#"{"symbol":"TSLA","side":"BUY","orderType":"LIMIT","price":250.505,"quantity":10,"userId":"u1","orderId":"a"}"#,
            "\n",
            r#"{"symbol":"TSLA","side":"BUY","orderType":"LIMIT","price":250.5,"quantity":10,"userId":"u1","orderId":"b"}"#,
            "\n",
            r#"{"symbol":"TSLA","side":"SELL","orderType":"MARKET","price":0.01,"quantity":4,"userId":"u2","orderId":"c"}"#,
            "\n",
        ),
    )
    .unwrap();
    let config = dir.path().join("engine.toml");
    std::fs::write(&config, config_file()).unwrap();
    let out = dir.path().join("out");
    let run = run_engine(
        &dir.path().join("journal"),
        &input,
        &out,
        &["--config", config.to_str().unwrap()],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let outputs = read_outputs(&out);
    let first: serde_json::Value = serde_json::from_str(&outputs["order_status.jsonl"][0]).unwrap();
    assert_eq!(first["status"], "REJECTED");
    assert_eq!(first["reason"], "INVALID_PRICE");
    assert_eq!(first["field"], "price");
    assert_eq!(first["order_id"], "a");
    assert_eq!(first["offset"], 1);
    let detail = first["detail"].as_str().unwrap();
    assert!(detail.contains("more than 2 decimal places"), "{detail}");
    // 250.5 is 25050 ticks; the market sell's price is ignored and it takes it.
    let trade: serde_json::Value = serde_json::from_str(&outputs["trades.jsonl"][0]).unwrap();
    assert_eq!(
        (trade["price"].as_u64(), trade["quantity"].as_u64()),
        (Some(25_050), Some(4))
    );

    // A bad price_format says what to write instead.
    let bad = std::process::Command::new(ENGINE)
        .args([
            "--journal",
            dir.path().to_str().unwrap(),
            "--price-format",
            "cents",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("ticks or decimal"));
}
