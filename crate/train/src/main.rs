//! `splitfeat`: generate data, train, evaluate and export models.

mod checkpoint;
mod eval;
mod export;
mod fsutil;
mod info;
mod train;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "splitfeat", version, about = "Multi-task learning with compressible features: data, training, evaluation, export")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model (Ctrl-C saves a checkpoint; --resume continues).
    Train(train::TrainArgs),
    /// Parameters and multiply-accumulates of each preset.
    Info,
    /// Evaluate a checkpoint or a zoo model on the validation scenes, per codec setting.
    Eval(eval::EvalArgs),
    /// Write a checkpoint's edge and heads into the assets directory and manifest.
    Export(export::ExportArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Train(args) => {
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))?;
            let summary = train::run(&args, stop)?;
            eprintln!("steps done: {}, last loss {:.4}", summary.steps_done, summary.last_total_loss);
        }
        Command::Info => info::run()?,
        Command::Eval(args) => {
            eval::run(&args)?;
        }
        Command::Export(args) => {
            let entry = export::run(&args)?;
            println!("exported {} (id {}, lambda {}, step {})", entry.name, entry.id, entry.lambda, entry.train_steps);
        }
    }
    Ok(())
}
