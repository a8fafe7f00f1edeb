//! `splitfeat data`: look at, measure and export the training data.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use splitfeat_core::classes::CLASSES;
use splitfeat_data::cityscapes::{FramePaths, write_frame};
use splitfeat_data::image::{
    PixelFormat, disparity_to_rgb, labels_to_rgb, max_disparity, preview_panel, write_png,
};
use splitfeat_data::stats::Stats;
use splitfeat_data::{
    CityscapesDataset, DEFAULT_HEIGHT, DEFAULT_WIDTH, Dataset, Sample, Split, SyntheticDataset,
    drive_frame, render_batch,
};

/// Samples held in memory at once by `stats` and `export`; each batch is produced in
/// parallel.
const BATCH: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// One PNG per sample: image | labels | disparity side by side.
    Panel,
    /// Three PNGs per sample: `_image`, `_labels`, `_disparity`.
    Separate,
    /// Both of the above.
    Both,
}

#[derive(Debug, clap::Subcommand)]
pub enum DataCommand {
    /// Write PNGs of samples: the image, the labels in the class palette and the
    /// disparity in the turbo colormap (black = invalid; scaled to each sample's
    /// largest disparity).
    Preview {
        /// First synthetic scene seed (or drive sequence seed with --drive, or
        /// first index with --cityscapes).
        #[arg(long)]
        seed: u64,
        #[arg(long, default_value_t = 1)]
        count: u32,
        #[arg(long, default_value_t = DEFAULT_WIDTH)]
        width: u32,
        #[arg(long, default_value_t = DEFAULT_HEIGHT)]
        height: u32,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value_t = Layout::Both)]
        layout: Layout,
        /// Frames 0, step, 2*step, ... of the drive sequence `seed`.
        #[arg(long)]
        drive: bool,
        #[arg(long, default_value_t = 1)]
        step: u32,
        /// Read samples from a Cityscapes tree instead of rendering them.
        #[arg(long)]
        cityscapes: Option<PathBuf>,
        #[arg(long, default_value = "val")]
        split: String,
    },
    /// Print class pixel frequencies, the disparity range and generation speed.
    Stats {
        #[arg(long, default_value = "val")]
        split: String,
        #[arg(long, default_value_t = 200)]
        count: usize,
        #[arg(long, default_value_t = DEFAULT_WIDTH)]
        width: u32,
        #[arg(long, default_value_t = DEFAULT_HEIGHT)]
        height: u32,
        /// Measure a Cityscapes tree instead of the synthetic scenes.
        #[arg(long)]
        cityscapes: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Write synthetic scenes as a Cityscapes tree (leftImg8bit, gtFine labelIds,
    /// 16-bit disparity), readable by any Cityscapes tool and by `--cityscapes`.
    Export {
        #[arg(long, default_value = "val")]
        split: String,
        #[arg(long, default_value_t = 200)]
        count: usize,
        #[arg(long, default_value_t = DEFAULT_WIDTH)]
        width: u32,
        #[arg(long, default_value_t = DEFAULT_HEIGHT)]
        height: u32,
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(cmd: DataCommand) -> anyhow::Result<()> {
    match cmd {
        DataCommand::Preview {
            seed,
            count,
            width,
            height,
            out,
            layout,
            drive,
            step,
            cityscapes,
            split,
        } => {
            let split: Split = split.parse()?;
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let real = match &cityscapes {
                Some(root) => Some(CityscapesDataset::open(root, split, width, height)?),
                None => None,
            };
            for k in 0..count {
                let (name, sample) = if let Some(ds) = &real {
                    let index = usize::try_from(seed)? + k as usize;
                    (format!("{split}_{index:05}"), ds.get(index)?)
                } else if drive {
                    let frame = k.checked_mul(step).context("frame index overflows")?;
                    (
                        format!("drive{seed}_{frame:05}"),
                        drive_frame(seed, frame, width, height)?,
                    )
                } else {
                    let s = seed.checked_add(k as u64).context("seed overflows")?;
                    (
                        format!("scene{s}"),
                        splitfeat_data::render_scene(s, width, height)?,
                    )
                };
                write_preview(&out, &name, &sample, layout)?;
            }
            println!("wrote {count} previews to {}", out.display());
            Ok(())
        }
        DataCommand::Stats {
            split,
            count,
            width,
            height,
            cityscapes,
            json,
        } => {
            let split: Split = split.parse()?;
            let (ds, source): (Box<dyn Dataset>, String) = match cityscapes {
                Some(root) => {
                    let ds = CityscapesDataset::open(&root, split, width, height)?;
                    (
                        Box::new(ds),
                        format!("cityscapes {} ({split})", root.display()),
                    )
                }
                None => (
                    Box::new(SyntheticDataset::new(split, count, width, height)?),
                    format!("synthetic {split}"),
                ),
            };
            let n = count.min(ds.len());
            let mut stats = Stats::default();
            let mut secs = 0.0;
            // Batches bound memory; only producing the samples is timed.
            for start in (0..n).step_by(BATCH) {
                let indices: Vec<usize> = (start..(start + BATCH).min(n)).collect();
                let t = Instant::now();
                let samples = ds.get_many(&indices)?;
                secs += t.elapsed().as_secs_f64();
                samples.iter().for_each(|s| stats.add(s));
            }
            let rate = stats.samples as f64 / f64::max(secs, 1e-9);
            let threads = splitfeat_data::worker_threads();
            if json {
                let v = serde_json::json!({
                    "source": source,
                    "width": width,
                    "height": height,
                    "stats": stats,
                    "seconds": secs,
                    "samples_per_second": rate,
                    "threads": threads,
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_stats(&stats, &source, width, height);
                println!("{rate:.1} samples/s on {threads} threads ({secs:.2} s)");
            }
            Ok(())
        }
        DataCommand::Export {
            split,
            count,
            width,
            height,
            out,
        } => {
            let split: Split = split.parse()?;
            let ds = SyntheticDataset::new(split, count, width, height)?;
            for start in (0..count).step_by(BATCH) {
                let indices: Vec<usize> = (start..(start + BATCH).min(count)).collect();
                let seeds: Vec<u64> = indices
                    .iter()
                    .map(|&i| split.seed(i).context("index past the end of the split"))
                    .collect::<anyhow::Result<_>>()?;
                for (sample, seed) in render_batch(&seeds, ds.width, ds.height)?
                    .iter()
                    .zip(&seeds)
                {
                    let stem = format!("synthetic_{:06}_{:06}", seed / 1_000_000, seed % 1_000_000);
                    write_frame(&FramePaths::new(&out, split, "synthetic", &stem), sample)?;
                }
            }
            println!("wrote {count} frames to {}", out.display());
            Ok(())
        }
    }
}

fn write_preview(dir: &Path, name: &str, s: &Sample, layout: Layout) -> anyhow::Result<()> {
    if matches!(layout, Layout::Panel | Layout::Both) {
        let (w, h, px) = preview_panel(s, 4);
        write_png(
            &dir.join(format!("{name}.png")),
            w,
            h,
            PixelFormat::Rgb,
            &px,
        )?;
    }
    if matches!(layout, Layout::Separate | Layout::Both) {
        let (w, h) = (s.width, s.height);
        let disp = disparity_to_rgb(&s.disparity, max_disparity(&s.disparity));
        for (suffix, px) in [
            ("image", &s.rgb),
            ("labels", &labels_to_rgb(&s.labels)),
            ("disparity", &disp),
        ] {
            write_png(
                &dir.join(format!("{name}_{suffix}.png")),
                w,
                h,
                PixelFormat::Rgb,
                px,
            )?;
        }
    }
    Ok(())
}

fn print_stats(s: &Stats, source: &str, width: u32, height: u32) {
    if s.samples == 0 {
        println!("{source}: no samples");
        return;
    }
    println!("{source}: {} samples at {height}x{width} (HxW)", s.samples);
    println!("{:<14} {:>9} {:>9}", "class", "pixels %", "samples %");
    for (id, c) in CLASSES.iter().enumerate() {
        println!(
            "{:<14} {:>9.3} {:>9.1}",
            c.name,
            100.0 * s.class_fraction(id),
            100.0 * s.class_samples[id] as f64 / s.samples as f64
        );
    }
    println!(
        "{:<14} {:>9.3}",
        "ignore",
        100.0 * s.ignore_pixels as f64 / s.pixels.max(1) as f64
    );
    let valid = 100.0 * s.valid_disparity as f64 / s.pixels.max(1) as f64;
    if s.valid_disparity == 0 {
        println!("disparity: no valid pixels");
    } else {
        println!(
            "disparity (px at width {width}): min {:.4}, max {:.2}, mean {:.2}, valid {valid:.1} % of pixels",
            s.disparity_min,
            s.disparity_max,
            s.disparity_mean()
        );
    }
}
