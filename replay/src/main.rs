//! `replay`: the operator tool for the engine's journal.
//!
//! `run` turns parsed flags into the library's inputs (times into
//! sequences, text into symbols and ids, config files into rules), calls
//! one operation, and prints its result as a table or JSON lines. Exit
//! codes are in [`flags::EXIT_CODES`].

mod flags;
mod print;

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use clap::Parser;
use engine::sequenced::{Message, MessageBody};
use engine::units::{human_bytes, human_rate};
use engine::{EngineConfig, OrderId, Symbol, UserId};
use flags::{
    BisectArgs, BookArgs, Cli, DiffArgs, DumpArgs, InfoArgs, Mode, OrderArgs, RunArgs,
    SnapshotArgs, TruncateArgs, VerifyArgs,
};
use gateway::wire::encode_message;
use print::{Bar, input_wire, is_broken_pipe, json_line, outln, table, wire, write_input};
use replay::{DumpFilter, Error, Reference, first_at_or_after, format_ts, parse_time};
use serde::Serialize;
use serde_json::value::RawValue;

/// What a finished subcommand says about the journal.
enum Outcome {
    /// Nothing wrong, no difference: exit 0.
    Clean,
    /// Damage or a difference was found (and reported): exit 1.
    Found,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Found) => ExitCode::from(1),
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("replay: {err:#}");
            let code = err.downcast_ref::<Error>().map_or(1, Error::exit_code);
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.mode {
        Mode::Info(args) => info(args),
        Mode::Verify(args) => verify(args),
        Mode::Dump(args) => dump(args),
        Mode::Book(args) => book(args),
        Mode::Order(args) => order(args),
        Mode::Run(args) => run_outputs(args),
        Mode::Diff(args) => diff(args),
        Mode::Bisect(args) => bisect(args),
        Mode::Snapshot(args) => snapshot(args),
        Mode::Truncate(args) => truncate(args),
    }
}

/// A usage error, exit 2, saying what to write instead.
fn usage(text: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Error::Usage(text.into()))
}

/// The engine rules of a config file, as `engine --config` reads it.
fn rules(path: &Path) -> anyhow::Result<EngineConfig> {
    let file = gateway::config::ConfigFile::load(path).map_err(usage)?;
    let (rules, _) = file.engine_rules().map_err(usage)?;
    Ok(rules)
}

fn symbol(text: &str) -> anyhow::Result<Symbol> {
    Symbol::new(text).map_err(|e| usage(format!("--symbol {text:?}: {e}")))
}

/// The journal's last ingress time, for times given without a date.
fn last_day(dir: &Path) -> anyhow::Result<u64> {
    let history = engine::history::History::open(dir).map_err(Error::from)?;
    let end = history.reader().end_sequence().map_err(Error::from)?;
    if end <= 1 {
        return Ok(0);
    }
    Ok(replay::ts_at(&history, end - 1)?)
}

fn time(text: &str, dir: &Path, flag: &str) -> anyhow::Result<u64> {
    let day = last_day(dir)?;
    parse_time(text, day).map_err(|e| usage(format!("{flag}: {e}")))
}

/// `--from`/`--to` as given, or the sequences `--since`/`--until` name: the
/// first input at or after `since` and the last at or before `until`.
fn sequence_span(
    dir: &Path,
    from: Option<u64>,
    to: Option<u64>,
    since: &Option<String>,
    until: &Option<String>,
) -> anyhow::Result<(Option<u64>, Option<u64>)> {
    let from = match since {
        Some(text) => {
            let ns = time(text, dir, "--since")?;
            let history = engine::history::History::open(dir).map_err(Error::from)?;
            let first = history.first_sequence().map_err(Error::from)?.unwrap_or(1);
            let end = history.reader().end_sequence().map_err(Error::from)?;
            Some(first_at_or_after(&history, first, end, ns)?)
        }
        None => from,
    };
    let to = match until {
        Some(text) => Some(last_at_or_before(dir, text, "--until")?),
        None => to,
    };
    Ok((from, to))
}

// ----- info -----------------------------------------------------------------

fn info(args: InfoArgs) -> anyhow::Result<Outcome> {
    let info = replay::info(&args.common.dir)?;
    if args.common.json {
        json_line(&info)?;
    } else {
        let span = match (info.first_seq, info.last_seq) {
            (Some(f), Some(l)) => format!("sequences {f}..{l} ({} records)", info.records),
            _ => "no records".into(),
        };
        outln!("journal {}: {span}", info.dir.display());
        if let Some(d) = info.delivered {
            outln!("kafka outputs delivered through sequence {d}");
        }
        let mut segments = table(&[
            "segment",
            "first",
            "last",
            "bytes",
            "first time",
            "last time",
            "format",
        ]);
        for s in &info.segments {
            let name = s
                .file
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned());
            segments.add_row(vec![
                name,
                s.first_seq.to_string(),
                s.last_seq.map_or("-".into(), |l| l.to_string()),
                human_bytes(s.bytes),
                s.first_ts_ns.map_or("-".into(), format_ts),
                s.last_ts_ns.map_or("-".into(), format_ts),
                s.payload_format.map_or("-".into(), |f| f.to_string()),
            ]);
        }
        outln!("\n{segments}");
        let mut snapshots = table(&["snapshot", "bytes", "state hash", "usable"]);
        for s in &info.snapshots {
            snapshots.add_row(vec![
                s.seq.to_string(),
                human_bytes(s.bytes),
                s.state_hash.clone().unwrap_or("-".into()),
                if s.valid {
                    "yes".into()
                } else {
                    format!("no: {}", s.problem.clone().unwrap_or_default())
                },
            ]);
        }
        if info.snapshots.is_empty() {
            outln!("\nno snapshots");
        } else {
            outln!("\n{snapshots}");
        }
        let mut partitions = table(&["partition", "last offset"]);
        for p in &info.partitions {
            partitions.add_row(vec![p.partition.to_string(), p.last_offset.to_string()]);
        }
        outln!("\n{partitions}");
        let formats: Vec<String> = info
            .formats
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        outln!("\nformats: {}", formats.join(", "));
        for problem in &info.problems {
            outln!("PROBLEM: {problem}");
        }
    }
    Ok(if info.problems.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Found
    })
}

// ----- verify ---------------------------------------------------------------

fn verify(args: VerifyArgs) -> anyhow::Result<Outcome> {
    let rules = args.config.as_deref().map(rules).transpose()?;
    let verified = replay::verify(&args.common.dir, args.deep, rules.as_ref(), &Bar::default())?;
    if args.common.json {
        json_line(&verified)?;
    } else {
        let span = match (verified.first_seq, verified.last_seq) {
            (Some(f), Some(l)) => format!(" ({f}..{l})"),
            _ => String::new(),
        };
        outln!(
            "checked {} records{span} in {:.2} s: {}",
            verified.records,
            verified.seconds,
            human_rate(verified.records_per_sec)
        );
        if let Some(d) = &verified.damage {
            let place = match (&d.file, d.offset) {
                (Some(file), Some(offset)) => {
                    format!("{}, byte offset {offset}: ", file.display())
                }
                (Some(file), None) => format!("{}: ", file.display()),
                _ => String::new(),
            };
            outln!("DAMAGE at sequence {}: {place}{}", d.sequence, d.problem);
            let intact = d.sequence.saturating_sub(1);
            let replica = d.file.as_ref().map_or(String::new(), |f| {
                format!("restore {} from a replica, or ", f.display())
            });
            outln!(
                "records up to {intact} are intact. To repair, {replica}cut the log after them, \
                 moving the rest into a quarantine folder:\n  replay truncate {} --after {intact}\n\
                 docs/replay.md, \"The journal is damaged\", \
                 has the whole procedure",
                args.common.dir.display()
            );
        }
        if let Some(deep) = &verified.deep {
            let from = deep
                .from_snapshot
                .map_or("the journal's start".to_string(), |s| {
                    format!("snapshot {s}")
                });
            outln!(
                "re-executed {} records from {from}, rules {}: {} snapshot hashes reproduced, state hash {}, {}",
                deep.replayed,
                deep.rules,
                deep.hashes_verified,
                deep.state_hash,
                human_rate(deep.records_per_sec)
            );
            if let Some(m) = &deep.mismatch {
                outln!("MISMATCH: {m}");
            }
        }
        if verified.clean() {
            outln!("clean");
        }
    }
    Ok(if verified.clean() {
        Outcome::Clean
    } else {
        Outcome::Found
    })
}

// ----- dump -----------------------------------------------------------------

fn dump(args: DumpArgs) -> anyhow::Result<Outcome> {
    let dir = &args.common.dir;
    let filter = DumpFilter {
        from: args.from,
        to: args.to,
        since_ns: args
            .since
            .as_deref()
            .map(|t| time(t, dir, "--since"))
            .transpose()?,
        until_ns: args
            .until
            .as_deref()
            .map(|t| time(t, dir, "--until"))
            .transpose()?,
        symbol: args.symbol.as_deref().map(symbol).transpose()?,
        user: args
            .user
            .as_deref()
            .map(|u| UserId::new(u).map_err(|e| usage(format!("--user {u:?}: {e}"))))
            .transpose()?,
        order: args
            .order
            .as_deref()
            .map(|o| OrderId::new(o).map_err(|e| usage(format!("--order {o:?}: {e}"))))
            .transpose()?,
        partition: args.partition,
        offset: args.offset,
        last: args.last,
        limit: args.limit,
        outputs: args.outputs,
        follow: args.follow,
    };
    let mut dump = replay::Dump::open(dir, filter, &Bar::default())?;
    // Written by hand around the encoders' own bytes: the messages appear
    // exactly as sent, and a million records a second need no re-parsing.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut scratch = Vec::with_capacity(1024);
    use std::io::Write as _;
    while let Some(item) = dump.next()? {
        let r = &item.record;
        scratch.clear();
        let is_command = write_input(r, &mut scratch);
        let ts = format_ts(r.timestamp_ns);
        if args.common.json {
            write!(
                out,
                "{{\"seq\":{},\"ts\":\"{ts}\",\"ts_ns\":{},\"partition\":{},\"offset\":{},",
                r.sequence, r.timestamp_ns, r.source.partition, r.source.offset
            )?;
            out.write_all(if is_command {
                b"\"command\":"
            } else {
                b"\"command\":null,\"rejected\":"
            })?;
            out.write_all(&scratch)?;
            if args.outputs {
                out.write_all(b",\"outputs\":[")?;
                for (i, m) in item.outputs.iter().enumerate() {
                    let comma = if i == 0 { "" } else { "," };
                    write!(
                        out,
                        "{comma}{{\"topic\":\"{}\",\"message\":",
                        m.body.topic().name()
                    )?;
                    scratch.clear();
                    encode_message(m, &mut scratch);
                    out.write_all(&scratch)?;
                    out.write_all(b"}")?;
                }
                out.write_all(b"]")?;
            }
            out.write_all(b"}\n")?;
        } else {
            write!(
                out,
                "{:>10}  {ts}  {}:{}  ",
                r.sequence, r.source.partition, r.source.offset
            )?;
            out.write_all(&scratch)?;
            out.write_all(b"\n")?;
            for m in &item.outputs {
                scratch.clear();
                encode_message(m, &mut scratch);
                write!(out, "{:>12} {:<12} ", "->", m.body.topic().name())?;
                out.write_all(&scratch)?;
                out.write_all(b"\n")?;
            }
        }
        if args.follow {
            out.flush()?;
        }
    }
    out.flush()?;
    Ok(Outcome::Clean)
}

// ----- book -----------------------------------------------------------------

/// Resolves `--at SEQ|TIME`: digits alone are a sequence; a time is the
/// last input at or before it.
fn at_sequence(text: &str, dir: &Path) -> anyhow::Result<u64> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map_err(|e| usage(format!("--at {text:?}: {e}")));
    }
    last_at_or_before(dir, text, "--at")
}

/// The last input stamped at or before the time `text`.
fn last_at_or_before(dir: &Path, text: &str, flag: &str) -> anyhow::Result<u64> {
    let ns = time(text, dir, flag)?;
    let history = engine::history::History::open(dir).map_err(Error::from)?;
    let first = history.first_sequence().map_err(Error::from)?.unwrap_or(1);
    let end = history.reader().end_sequence().map_err(Error::from)?;
    let after = first_at_or_after(&history, first, end, ns.saturating_add(1))?;
    if after <= first {
        return Err(usage(format!(
            "{flag} {text}: the journal's first input ({first}) is later than that"
        )));
    }
    Ok(after - 1)
}

#[derive(Serialize)]
struct BookJson<'a> {
    symbol: &'a str,
    seq: u64,
    ts: String,
    bids: &'a [replay::Level],
    asks: &'a [replay::Level],
    last_price: Option<u64>,
    last_qty: Option<u64>,
    stop_orders: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    bid_orders: Option<Vec<OrderJson>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ask_orders: Option<Vec<OrderJson>>,
}

#[derive(Serialize)]
struct OrderJson {
    order_id: String,
    user_id: String,
    price: u64,
    quantity: u64,
    filled: u64,
    open: u64,
    entered: String,
    entered_ns: u64,
}

fn order_json(o: &engine::OrderView) -> OrderJson {
    OrderJson {
        order_id: o.order_id.to_string(),
        user_id: o.user_id.to_string(),
        price: o.price,
        quantity: o.quantity,
        filled: o.filled,
        open: o.quantity - o.filled,
        entered: format_ts(o.entered_ns),
        entered_ns: o.entered_ns,
    }
}

/// The orders of the shown levels: orders are listed level by level, best
/// first, so they are a prefix as long as the levels' order counts.
fn orders_within<'a>(
    orders: &'a [engine::OrderView],
    levels: &[replay::Level],
) -> &'a [engine::OrderView] {
    let count: usize = levels.iter().map(|l| l.orders as usize).sum();
    &orders[..count.min(orders.len())]
}

fn book(args: BookArgs) -> anyhow::Result<Outcome> {
    let dir = &args.common.dir;
    let seq = at_sequence(&args.at, dir)?;
    let book = replay::book_at(dir, seq, symbol(&args.symbol)?, &Bar::default())?;
    let depth = args.depth.unwrap_or(usize::MAX);
    let (bids, asks) = (
        &book.bids[..book.bids.len().min(depth)],
        &book.asks[..book.asks.len().min(depth)],
    );
    let bid_orders = orders_within(&book.bid_orders, bids);
    let ask_orders = orders_within(&book.ask_orders, asks);
    if args.common.json {
        json_line(&BookJson {
            symbol: book.symbol.as_str(),
            seq: book.seq,
            ts: format_ts(book.ts_ns),
            bids,
            asks,
            last_price: book.last_trade.map(|t| t.0),
            last_qty: book.last_trade.map(|t| t.1),
            stop_orders: book.stop_orders,
            bid_orders: args
                .orders
                .then(|| bid_orders.iter().map(order_json).collect()),
            ask_orders: args
                .orders
                .then(|| ask_orders.iter().map(order_json).collect()),
        })?;
        return Ok(Outcome::Clean);
    }
    let last = book.last_trade.map_or("no trade yet".into(), |(p, q)| {
        format!("last trade {q} at {p}")
    });
    outln!(
        "{} after sequence {} ({}): {last}, {} stop orders waiting",
        book.symbol,
        book.seq,
        format_ts(book.ts_ns),
        book.stop_orders
    );
    if args.orders {
        let mut t = table(&[
            "side", "price", "order", "user", "open", "filled", "entered",
        ]);
        // A ladder: the worst ask on top, the best bid under the best ask.
        // Within a level, orders stay in time priority, first to trade first.
        let ask_levels = ask_orders.chunk_by(|a, b| a.price == b.price).rev();
        let bid_levels = bid_orders.chunk_by(|a, b| a.price == b.price);
        for (side, level) in ask_levels
            .map(|l| ("ask", l))
            .chain(bid_levels.map(|l| ("bid", l)))
        {
            for o in level {
                t.add_row(vec![
                    side.to_string(),
                    o.price.to_string(),
                    o.order_id.to_string(),
                    o.user_id.to_string(),
                    (o.quantity - o.filled).to_string(),
                    o.filled.to_string(),
                    format_ts(o.entered_ns),
                ]);
            }
        }
        outln!("{t}");
    } else {
        let mut t = table(&["side", "price", "qty", "orders"]);
        for (side, levels) in [
            ("ask", asks.iter().rev().collect::<Vec<_>>()),
            ("bid", bids.iter().collect()),
        ] {
            for l in levels {
                t.add_row(vec![
                    side.to_string(),
                    l.price.to_string(),
                    l.qty.to_string(),
                    l.orders.to_string(),
                ]);
            }
        }
        outln!("{t}");
    }
    Ok(Outcome::Clean)
}

// ----- order ----------------------------------------------------------------

fn order(args: OrderArgs) -> anyhow::Result<Outcome> {
    let id =
        OrderId::new(&args.order).map_err(|e| usage(format!("--order {:?}: {e}", args.order)))?;
    let user = args
        .user
        .as_deref()
        .map(|u| UserId::new(u).map_err(|e| usage(format!("--user {u:?}: {e}"))))
        .transpose()?;
    let life = replay::order_life(&args.common.dir, id, user, args.from, &Bar::default())?;
    if args.common.json {
        #[derive(Serialize)]
        struct EventJson {
            seq: u64,
            idx: u32,
            ts: String,
            topic: &'static str,
            message: Box<RawValue>,
        }
        for e in &life.events {
            json_line(&EventJson {
                seq: e.message.seq,
                idx: e.message.idx,
                ts: format_ts(e.ts_ns),
                topic: e.message.body.topic().name(),
                message: wire(&e.message),
            })?;
        }
        return Ok(Outcome::Clean);
    }
    outln!(
        "order {} of {} on {}{}",
        life.order,
        life.user,
        life.symbol,
        if life.live_at_end {
            " (still live where the journal ends)"
        } else {
            ""
        }
    );
    let mut t = table(&["seq", "time", "event", "detail"]);
    for e in &life.events {
        let (what, detail) = describe(&e.message);
        t.add_row(vec![
            e.message.seq.to_string(),
            format_ts(e.ts_ns),
            what,
            detail,
        ]);
    }
    outln!("{t}");
    Ok(Outcome::Clean)
}

/// A message in a few words, for the order table.
fn describe(message: &Message) -> (String, String) {
    let json: serde_json::Value = serde_json::from_str(wire(message).get()).unwrap_or_default();
    let field = |k: &str| {
        json.get(k).map_or(String::new(), |v| {
            v.to_string().trim_matches('"').to_string()
        })
    };
    match &message.body {
        MessageBody::Fill(..) => (
            field("status"),
            format!(
                "{} at {}, {} open, trade {}",
                field("filled_qty"),
                field("filled_price"),
                field("remaining_qty"),
                field("trade_id")
            ),
        ),
        _ => {
            let mut detail: Vec<String> = [
                "side",
                "order_type",
                "tif",
                "price",
                "quantity",
                "remaining_qty",
                "reason",
                "detail",
            ]
            .iter()
            .filter(|k| json.get(**k).is_some())
            .map(|k| format!("{k} {}", field(k)))
            .collect();
            detail.dedup();
            (field("status"), detail.join(", "))
        }
    }
}

// ----- run ------------------------------------------------------------------

fn run_outputs(args: RunArgs) -> anyhow::Result<Outcome> {
    let dir = &args.common.dir;
    let rules = args.config.as_deref().map(rules).transpose()?;
    let (from, to) = sequence_span(dir, args.from, args.to, &args.since, &args.until)?;
    let progress = Bar::default();
    let summary = match (&args.output, &args.brokers) {
        (Some(spec), None) => {
            let Some(out) = spec.strip_prefix("file:").filter(|p| !p.is_empty()) else {
                return Err(usage(format!("--output {spec:?}: write file:OUTDIR")));
            };
            let mut sink = gateway::file::FileSink::open(out)
                .with_context(|| format!("cannot open the output directory {out}"))
                .map_err(|e| Error::Output(format!("{e:#}")))?;
            replay::run(dir, from, to, rules.as_ref(), &mut sink, &progress)?
        }
        (None, Some(brokers)) => {
            let mut config = gateway::kafka::KafkaConfig {
                brokers: Some(brokers.clone()),
                ..Default::default()
            };
            for topic in engine::sequenced::Topic::ALL {
                let name = format!("{}{}", args.topic_prefix, topic.name());
                match topic {
                    engine::sequenced::Topic::Fills => config.topics.fills = name,
                    engine::sequenced::Topic::Trades => config.topics.trades = name,
                    engine::sequenced::Topic::Depth => config.topics.depth = name,
                    engine::sequenced::Topic::OrderStatus => config.topics.order_status = name,
                }
            }
            // The tool's own delivered mark: it re-sends from scratch each time.
            let mark = tempfile::tempdir().map_err(|e| Error::Output(e.to_string()))?;
            let mut sink = gateway::kafka::KafkaSink::new(
                &config,
                brokers,
                &[],
                &mark.path().join("delivered.seq"),
            )
            .map_err(|e| Error::Output(format!("cannot create the Kafka producer: {e}")))?;
            replay::run(dir, from, to, rules.as_ref(), &mut sink, &progress)?
        }
        _ => {
            return Err(usage(
                "say where to publish: --output file:OUTDIR or --brokers HOST:PORT",
            ));
        }
    };
    if args.common.json {
        json_line(&summary)?;
    } else {
        outln!(
            "published {} messages of inputs {}..{} ({} inputs, {} in {:.2} s; {} re-executed before them); state hash {}",
            summary.messages,
            summary.from,
            summary.to,
            summary.inputs,
            human_rate(summary.inputs_per_sec),
            summary.seconds,
            summary.replayed_before,
            summary.state_hash
        );
    }
    Ok(Outcome::Clean)
}

// ----- diff -----------------------------------------------------------------

fn diff(args: DiffArgs) -> anyhow::Result<Outcome> {
    let found = replay::diff(&args.a, &args.b, args.outputs, &Bar::default())?;
    let record = |r: &Option<engine::sequenced::Journaled>| -> Option<Box<RawValue>> {
        r.as_ref().map(|r| {
            let (command, rejected) = input_wire(r);
            command.or(rejected).unwrap_or_else(wire_null)
        })
    };
    if args.json {
        #[derive(Serialize)]
        struct DiffJson {
            compared: u64,
            input: Option<InputJson>,
            output: Option<OutputJson>,
        }
        #[derive(Serialize)]
        struct InputJson {
            seq: u64,
            a: Option<Box<RawValue>>,
            b: Option<Box<RawValue>>,
        }
        #[derive(Serialize)]
        struct OutputJson {
            seq: u64,
            idx: u32,
            a: Option<Box<RawValue>>,
            b: Option<Box<RawValue>>,
            a_state_hash: String,
            b_state_hash: String,
        }
        json_line(&DiffJson {
            compared: found.compared,
            input: found.input.as_ref().map(|d| InputJson {
                seq: d.seq,
                a: record(&d.a),
                b: record(&d.b),
            }),
            output: found.output.as_ref().map(|d| OutputJson {
                seq: d.seq,
                idx: d.idx,
                a: d.a.as_ref().map(wire),
                b: d.b.as_ref().map(wire),
                a_state_hash: d.a_state_hash.clone(),
                b_state_hash: d.b_state_hash.clone(),
            }),
        })?;
    } else {
        let show =
            |r: Option<Box<RawValue>>| r.map_or("(none)".to_string(), |r| r.get().to_string());
        match &found.input {
            None => outln!("inputs agree over {} sequences", found.compared),
            Some(d) => {
                outln!("inputs differ first at sequence {}:", d.seq);
                outln!("  A {}", show(record(&d.a)));
                outln!("  B {}", show(record(&d.b)));
            }
        }
        if args.outputs {
            match &found.output {
                None => outln!("outputs agree"),
                Some(d) => {
                    outln!("outputs differ first at (seq {}, idx {}):", d.seq, d.idx);
                    outln!(
                        "  A {} (state hash {})",
                        show(d.a.as_ref().map(wire)),
                        d.a_state_hash
                    );
                    outln!(
                        "  B {} (state hash {})",
                        show(d.b.as_ref().map(wire)),
                        d.b_state_hash
                    );
                }
            }
        }
    }
    Ok(if found.input.is_none() && found.output.is_none() {
        Outcome::Clean
    } else {
        Outcome::Found
    })
}

fn wire_null() -> Box<RawValue> {
    RawValue::from_string("null".into()).unwrap_or_else(|_| unreachable!())
}

// ----- bisect ---------------------------------------------------------------

fn bisect(args: BisectArgs) -> anyhow::Result<Outcome> {
    let reference = match (&args.config, &args.against) {
        (Some(path), None) => Reference::Rules(rules(path)?),
        (None, Some(dir)) => Reference::Recorded(dir.clone()),
        _ => return Err(usage("give one of --config FILE or --against OUTDIR")),
    };
    let found = replay::bisect(&args.common.dir, &reference, &Bar::default())?;
    if args.common.json {
        json_line(&found)?;
    } else {
        match &found.difference {
            None => outln!(
                "no difference over {} inputs ({} inputs re-executed)",
                found.compared,
                found.re_executed
            ),
            Some(d) => {
                outln!(
                    "the first difference is at input {}, message {} ({} inputs re-executed to find it):",
                    d.seq,
                    d.idx,
                    found.re_executed
                );
                let (base, cand) = match reference {
                    Reference::Rules(_) => ("journal's rules", "new rules"),
                    Reference::Recorded(_) => ("recorded", "journal"),
                };
                outln!(
                    "  {base:>15}: {}",
                    d.baseline.as_ref().map_or("(none)", |m| m.get())
                );
                outln!(
                    "  {cand:>15}: {}",
                    d.candidate.as_ref().map_or("(none)", |m| m.get())
                );
            }
        }
    }
    Ok(if found.difference.is_none() {
        Outcome::Clean
    } else {
        Outcome::Found
    })
}

// ----- snapshot and truncate ------------------------------------------------

fn snapshot(args: SnapshotArgs) -> anyhow::Result<Outcome> {
    let written = replay::snapshot_at(&args.common.dir, args.at, &Bar::default())?;
    if args.common.json {
        json_line(&written)?;
    } else {
        outln!(
            "wrote {} (state hash {}, {} inputs re-executed); the next recovery can start there",
            written.file.display(),
            written.state_hash,
            written.replayed
        );
    }
    Ok(Outcome::Clean)
}

fn truncate(args: TruncateArgs) -> anyhow::Result<Outcome> {
    let dir = &args.common.dir;
    let now = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let plan = replay::plan_truncate(dir, args.after, &now)?;
    if plan.after >= plan.last {
        return Err(usage(format!(
            "the journal ends at sequence {}; nothing comes after {}",
            plan.last, plan.after
        )));
    }
    eprintln!(
        "This cuts the journal after sequence {} (it ends at {}). Records {}..{} move to {},\n\
         with {} whole segment file(s) and {} snapshot(s); the segment holding {} is copied there first.",
        plan.after,
        plan.last,
        plan.after + 1,
        plan.last,
        plan.quarantine.display(),
        plan.segments.len(),
        plan.snapshots.len(),
        plan.after
    );
    if let Some(d) = plan.delivered_past {
        eprintln!(
            "WARNING: Kafka outputs were delivered through sequence {d}: consumers have seen (seq, idx) \
             keys after {} that new inputs will reuse. See docs/replay.md before going on.",
            plan.after
        );
    }
    if !args.yes {
        use std::io::IsTerminal as _;
        if !std::io::stdin().is_terminal() {
            return Err(usage("not confirmed: run it on a terminal, or pass --yes"));
        }
        eprint!("Type yes to go on: ");
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .map_err(|e| anyhow!(e))?;
        if answer.trim() != "yes" {
            return Err(usage("not confirmed; nothing was changed"));
        }
    }
    let done = replay::truncate_after(dir, &plan)?;
    if args.common.json {
        #[derive(Serialize)]
        struct TruncateJson<'a> {
            after: u64,
            quarantine: &'a Path,
            moved: &'a [std::path::PathBuf],
            cut: Option<(&'a Path, u64)>,
        }
        json_line(&TruncateJson {
            after: plan.after,
            quarantine: &plan.quarantine,
            moved: &done.moved,
            cut: done.cut.as_ref().map(|(p, o)| (p.as_path(), *o)),
        })?;
    } else {
        outln!(
            "the journal now ends at sequence {}; {} file(s) moved to {}{}",
            plan.after,
            done.moved.len(),
            plan.quarantine.display(),
            done.cut.as_ref().map_or(String::new(), |(p, o)| format!(
                ", {} cut at byte {o} (its old copy is there too)",
                p.display()
            ))
        );
    }
    Ok(Outcome::Clean)
}
