//! Criterion micro-benchmarks of single book operations: add, cancel,
//! replace (a move) and an aggressive sweep.
//!
//! Each measurement times exactly one operation per iteration on a book
//! shaped like the `ecore` workload (about 1,000 orders over 750 levels).
//! State is rebuilt outside the timer every `CHUNK` operations, so books
//! stay the intended shape however many iterations criterion asks for.
//! No prefetching here: these are single-operation costs, cache warm.
//!
//! Run with `cargo bench -p bench --bench book`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bench::{ECORE_MID, ECORE_RESTING, EcoreGenerator, TradeTally};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use engine::{Action, Command, Engine, OrderSpec, ReplaceSpec, Side, TimeInForce};

/// Operations timed per rebuilt book.
const CHUNK: u64 = 10_000;

/// A fresh engine holding the `ecore` resting book, and a generator that
/// continues from that book.
fn ecore_book(seed: u64) -> (Engine, EcoreGenerator) {
    let mut generator = EcoreGenerator::new(seed);
    let mut engine = Engine::new(generator.config()).expect("built-in config");
    let mut sink = TradeTally::default();
    for _ in 0..ECORE_RESTING {
        engine.apply(&generator.passive_add(), &mut sink);
    }
    (engine, generator)
}

/// Times `iters` commands, `CHUNK` at a time, each chunk on state built by
/// `setup` outside the timer.
fn timed(iters: u64, mut setup: impl FnMut(usize) -> (Engine, Vec<Command>)) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(CHUNK);
        let (mut engine, commands) = setup(n as usize);
        let mut sink = TradeTally::default();
        let start = Instant::now();
        for command in &commands {
            engine.apply(command, &mut sink);
        }
        total += start.elapsed();
        black_box(sink);
        left -= n;
    }
    total
}

fn book_operations(c: &mut Criterion) {
    let mut group = c.benchmark_group("book");
    group.throughput(Throughput::Elements(1));

    // A passive GTC limit order joins the book at a random level.
    group.bench_function("add", |b| {
        b.iter_custom(|iters| {
            timed(iters, |n| {
                let (engine, mut generator) = ecore_book(1);
                (engine, (0..n).map(|_| generator.passive_add()).collect())
            })
        })
    });

    // Cancel by id of a resting order anywhere in the book.
    group.bench_function("cancel", |b| {
        b.iter_custom(|iters| {
            timed(iters, |n| {
                let (mut engine, mut generator) = ecore_book(2);
                let adds: Vec<Command> = (0..n).map(|_| generator.passive_add()).collect();
                let mut sink = TradeTally::default();
                for add in &adds {
                    engine.apply(add, &mut sink);
                }
                // Cancel in an order unrelated to arrival: 10,007 is a prime
                // above CHUNK, so striding by it visits every order once.
                let cancels = (0..n)
                    .map(|i| adds[(i * 10_007) % n])
                    .map(|a| Command::cancel(a.ts, a.symbol, a.user_id, a.order_id))
                    .collect();
                (engine, cancels)
            })
        })
    });

    // A move: a resting order's price changes by a few ticks (priority lost).
    group.bench_function("replace", |b| {
        b.iter_custom(|iters| {
            timed(iters, |n| {
                let (engine, mut generator) = ecore_book(3);
                let moves = std::iter::repeat_with(|| generator.next_command())
                    .filter(|c| matches!(c.action, Action::Replace(_)))
                    .take(n)
                    .collect();
                (engine, moves)
            })
        })
    });

    // An IOC buy that takes ten price levels of one order each.
    group.bench_function("aggressive_sweep_10_levels", |b| {
        b.iter_custom(|iters| {
            timed(iters, |n| {
                let (mut engine, _) = ecore_book(4);
                let (symbol, user) = (engine::Symbol::new("ECORE").expect("symbol"), "sweeper");
                let mut sink = TradeTally::default();
                for level in 0..(n as u64 * 10) {
                    let id = engine::OrderId::new(&format!("a{level}")).expect("id");
                    let ask = OrderSpec::limit(Side::Sell, ECORE_MID + 2_000 + level, 10);
                    let user = engine::UserId::new("maker").expect("user");
                    engine.apply(&Command::add(0, symbol, user, id, ask), &mut sink);
                }
                // Clear the generated asks out of the way first, so each
                // sweep takes exactly ten of the levels added above.
                let clear = Command::add(
                    0,
                    symbol,
                    engine::UserId::new("clearer").expect("user"),
                    engine::OrderId::new("clear").expect("id"),
                    OrderSpec {
                        tif: TimeInForce::Ioc,
                        ..OrderSpec::limit(Side::Buy, ECORE_MID + 1_999, 1_000_000)
                    },
                );
                engine.apply(&clear, &mut sink);
                let sweeps = (0..n)
                    .map(|i| {
                        let spec = OrderSpec {
                            tif: TimeInForce::Ioc,
                            ..OrderSpec::limit(Side::Buy, u64::MAX / 2, 100)
                        };
                        let id = engine::OrderId::new(&format!("s{i}")).expect("id");
                        let taker = engine::UserId::new(user).expect("user");
                        Command::add(0, symbol, taker, id, spec)
                    })
                    .collect();
                (engine, sweeps)
            })
        })
    });

    // The same replace path with no price change: priority kept, in place.
    group.bench_function("replace_quantity_down", |b| {
        b.iter_custom(|iters| {
            timed(iters, |n| {
                let (mut engine, mut generator) = ecore_book(5);
                let adds: Vec<Command> = (0..n).map(|_| generator.passive_add()).collect();
                let mut sink = TradeTally::default();
                for add in &adds {
                    engine.apply(add, &mut sink);
                }
                let cuts = adds
                    .iter()
                    .filter_map(|a| match a.action {
                        Action::Add(spec) if spec.quantity > 1 => Some(Command::replace(
                            a.ts,
                            a.symbol,
                            a.user_id,
                            a.order_id,
                            ReplaceSpec {
                                new_price: None,
                                new_quantity: Some(spec.quantity - 1),
                            },
                        )),
                        _ => None,
                    })
                    .collect();
                (engine, cuts)
            })
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = book_operations
}
criterion_main!(benches);
