//! `replay info`: segments, snapshots, partitions and formats, as a table or
//! one JSON object. It turns parsed flags into the library's call, and
//! prints the result; the work is in the `replay` library.

use engine::units::human_bytes;
use replay::format_ts;

use super::Outcome;
use crate::flags::InfoArgs;
use crate::print::{json_line, outln, table};

pub fn info(args: InfoArgs) -> anyhow::Result<Outcome> {
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
        if let Some(r) = &info.replication {
            outln!(
                "replicated: {} at epoch {}, the journal topic agreed through sequence {} (next \
                 topic offset {})",
                r.role,
                r.epoch,
                r.agreed_through,
                r.next_offset
            );
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
        let mut partitions = table(&["topic", "partition", "last offset"]);
        for p in &info.partitions {
            partitions.add_row(vec![
                p.topic.to_string(),
                p.partition.to_string(),
                p.last_offset.to_string(),
            ]);
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
