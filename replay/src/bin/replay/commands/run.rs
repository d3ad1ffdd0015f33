//! `replay run`: re-publish outputs to files or Kafka, byte-identical to
//! what the engine sent. It turns parsed flags into the library's call, and
//! prints the result; the work is in the `replay` library.

use anyhow::Context;
use engine::units::human_rate;
use replay::Error;

use super::Outcome;
use crate::args::{rules, sequence_span, usage};
use crate::flags::RunArgs;
use crate::print::{Bar, journal_engine_id, json_line, outln};

pub fn run_outputs(args: RunArgs) -> anyhow::Result<Outcome> {
    let dir = &args.common.dir;
    let rules = args.config.as_deref().map(rules).transpose()?;
    let (from, to) = sequence_span(dir, args.from, args.to, &args.since, &args.until)?;
    let progress = Bar::default();
    // An engine with an id names itself in every message: so do its
    // re-published ones, byte for byte.
    let engine_id = journal_engine_id(dir)?;
    let summary = match (&args.output, &args.brokers) {
        (Some(spec), None) => {
            let Some(out) = spec.strip_prefix("file:").filter(|p| !p.is_empty()) else {
                return Err(usage(format!("--output {spec:?}: write file:OUTDIR")));
            };
            let mut sink = gateway::file::FileSink::open(out)
                .with_context(|| format!("cannot open the output directory {out}"))
                .map_err(|e| Error::Output(format!("{e:#}")))?
                .with_engine_id(engine_id);
            replay::run(dir, from, to, rules.as_ref(), &mut sink, &progress)?
        }
        (None, Some(brokers)) => {
            let mut config = gateway::kafka::KafkaConfig {
                brokers: Some(brokers.clone()),
                engine_id,
                ..Default::default()
            };
            for topic in engine::sequenced::Topic::ALL {
                let name = format!("{}{}", args.topic_prefix, topic.name());
                match topic {
                    engine::sequenced::Topic::Fills => config.topics.fills = name,
                    engine::sequenced::Topic::Trades => config.topics.trades = name,
                    engine::sequenced::Topic::Depth => config.topics.depth = name,
                    engine::sequenced::Topic::OrderStatus => config.topics.order_status = name,
                    engine::sequenced::Topic::AdminStatus => config.topics.admin_status = name,
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
