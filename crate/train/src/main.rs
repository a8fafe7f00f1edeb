//! `splitfeat`: generate data, train, evaluate and export models.

mod bench_step;
mod checkpoint;
mod context_study;
mod data_cmd;
mod device;
mod eval;
mod export;
mod fsutil;
mod info;
mod prior_fit;
mod report;
mod stream_cmd;
mod train;
#[cfg(test)]
mod zoo_test;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "splitfeat",
    version,
    about = "Multi-task learning with compressible features: data, training, evaluation, export"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generated scenes: preview PNGs and statistics.
    #[command(subcommand)]
    Data(data_cmd::DataCommand),
    /// Train a model (Ctrl-C saves a checkpoint and exits with status 130; --resume continues).
    Train(train::TrainArgs),
    /// Parameters and multiply-accumulates of each preset.
    Info,
    /// Evaluate a checkpoint or a zoo model on the validation scenes, per codec setting.
    Eval(eval::EvalArgs),
    /// Write a checkpoint's edge and heads into the assets directory and manifest.
    Export(export::ExportArgs),
    /// Remove every model but the named ones from the assets directory and manifest.
    Prune(export::PruneArgs),
    /// Encode an image into a feature bitstream file with a zoo model's edge.
    Encode(stream_cmd::EncodeArgs),
    /// Decode a feature bitstream file: header, shape, tensor hash, raw dump or PNG.
    Decode(stream_cmd::DecodeArgs),
    /// Header fields and CRC check of a feature bitstream file.
    Inspect(stream_cmd::InspectArgs),
    /// Time one training step of burn against PyTorch
    BenchStep(bench_step::BenchStepArgs),
    /// Charts and BD-rate tables of the shipped models, from their recorded evaluations.
    Report(report::ReportArgs),
    /// The fair comparison of evaluation JSON files against a baseline's.
    Compare(report::compare::CompareArgs),
    /// A learned context model's code length on a zoo model's codes, against `ans`.
    ContextStudy(context_study::ContextStudyArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Train(args) => {
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))?;
            let summary = train::run(&args, stop)?;
            eprintln!(
                "steps done: {}, last loss {:.4}",
                summary.steps_done, summary.last_total_loss
            );
            if summary.interrupted {
                // The SIGINT convention (128 + 2): the checkpoint is saved, but the run
                // is not finished, so a script (`cargo xtask zoo`) must not go on to
                // export it.
                std::process::exit(130);
            }
        }
        Command::Data(cmd) => data_cmd::run(cmd)?,
        Command::Info => info::run()?,
        Command::BenchStep(args) => bench_step::run(args)?,
        Command::Report(args) => report::run(&args)?,
        Command::Compare(args) => print!("{}", report::compare::run(&args)?),
        Command::ContextStudy(args) => {
            context_study::run(&args)?;
        }
        Command::Eval(args) => {
            eval::run(&args)?;
        }
        Command::Encode(args) => stream_cmd::encode(&args)?,
        Command::Decode(args) => stream_cmd::decode(&args)?,
        Command::Inspect(args) => stream_cmd::inspect(&args)?,
        Command::Prune(args) => {
            for name in export::prune(&args)? {
                println!("removed {name}");
            }
        }
        Command::Export(args) => {
            let entry = export::run(&args)?;
            println!(
                "exported {} (id {}, lambda {}, step {})",
                entry.name, entry.id, entry.lambda, entry.train_steps
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("splitfeat").chain(args.iter().copied()))
    }

    #[test]
    fn bit_depth_flags_are_checked_by_the_parser() {
        match parse(&["eval", "--model", "m", "--bits", "6"]).map(|c| c.command) {
            Ok(Command::Eval(args)) => assert_eq!(args.bits.get(), 6),
            _ => panic!("eval --bits 6 should parse"),
        }
        match parse(&["encode", "x.png", "--model", "m", "-o", "x.spft"]).map(|c| c.command) {
            Ok(Command::Encode(args)) => assert_eq!(args.bits, None),
            _ => panic!("encode without --bits should parse"),
        }
        for args in [
            &["eval", "--model", "m", "--bits", "1"][..],
            &["encode", "x.png", "--model", "m", "-o", "x", "--bits", "17"],
            &["bench-step", "--bits", "0"],
            &["eval", "--model", "m", "--bits", "eight"],
        ] {
            let err = parse(args).err().expect("refused");
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{args:?}"
            );
            assert!(err.to_string().contains("bit depth"), "{err}");
        }
    }

    #[test]
    fn a_selection_set_evaluation_cannot_be_recorded_as_the_benchmark() {
        match parse(&["eval", "--model", "m", "--first-scene", "500"]).map(|c| c.command) {
            Ok(Command::Eval(args)) => assert_eq!((args.first_scene, args.count), (500, 500)),
            _ => panic!("eval --first-scene 500 should parse"),
        }
        match parse(&["eval", "--model", "m"]).map(|c| c.command) {
            Ok(Command::Eval(args)) => assert_eq!(args.first_scene, 0),
            _ => panic!("eval should parse"),
        }
        let err = parse(&["eval", "--model", "m", "--first-scene", "500", "--record"])
            .err()
            .expect("refused");
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }
}
