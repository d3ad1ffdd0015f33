//! `replay dump`: records (and their outputs) as lines, written around the
//! encoders' own bytes. It turns parsed flags into the library's call, and
//! prints the result; the work is in the `replay` library.

use engine::{OrderId, UserId};
use gateway::wire::encode_message_of;
use replay::{DumpFilter, format_ts};

use super::Outcome;
use crate::args::{symbol, time, usage};
use crate::flags::DumpArgs;
use crate::print::{Bar, journal_engine_id, write_input};

pub fn dump(args: DumpArgs) -> anyhow::Result<Outcome> {
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
    let engine_id = journal_engine_id(dir)?;
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
                "{{\"seq\":{},\"ts\":\"{ts}\",\"ts_ns\":{},\"topic\":\"{}\",\"partition\":{},\"offset\":{},",
                r.sequence,
                r.timestamp_ns,
                r.source.topic.as_str(),
                r.source.partition,
                r.source.offset
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
                    encode_message_of(engine_id.as_deref(), m, &mut scratch);
                    out.write_all(&scratch)?;
                    out.write_all(b"}")?;
                }
                out.write_all(b"]")?;
            }
            out.write_all(b"}\n")?;
        } else {
            // Orders positions as partition:offset; admin ones say so.
            let topic = match r.source.topic {
                engine::sequenced::SourceTopic::Orders => "",
                engine::sequenced::SourceTopic::Admin => "admin:",
                engine::sequenced::SourceTopic::Handover => "handover:",
            };
            write!(
                out,
                "{:>10}  {ts}  {topic}{}:{}  ",
                r.sequence, r.source.partition, r.source.offset
            )?;
            out.write_all(&scratch)?;
            out.write_all(b"\n")?;
            for m in &item.outputs {
                scratch.clear();
                encode_message_of(engine_id.as_deref(), m, &mut scratch);
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
