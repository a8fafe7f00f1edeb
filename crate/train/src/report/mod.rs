//! `splitfeat report`: the evidence for the zoo, from the shipped weights and the
//! evaluations recorded in the manifest: rate-accuracy charts per task and codec,
//! BD-rate tables against the baseline, the cost of each feature channel and the
//! tiled features themselves.

pub mod compare;
mod curves;
mod features;
mod plots;

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result, bail, ensure};
use burn::prelude::*;
use serde::Serialize;
use splitfeat_core::evaluate::EvalReport;
use splitfeat_core::runtime::EdgeRuntime;
use splitfeat_core::zoo::{ModelEntry, Zoo};

use crate::fsutil::write_atomic;
use curves::{BdEntry, DepthDelta, EQUAL_ACCURACY, EqualAccuracy, Family, Task};

#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    #[arg(long, default_value = "assets")]
    pub assets: PathBuf,
    /// Directory for the charts, pictures, report.md and bd-rate.json.
    #[arg(long, default_value = "docs/zoo")]
    pub out: PathBuf,
    /// The reference model, by name (default: the model with lambda 0).
    #[arg(long)]
    pub baseline: Option<String>,
    /// TrueType font for the chart text.
    #[arg(
        long,
        default_value = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    )]
    pub font: PathBuf,
    /// Validation scenes for the per-channel statistics.
    #[arg(long, default_value_t = 32)]
    pub scenes: usize,
}

/// A shipped model with its benchmark evaluation.
struct Evaluated<'a> {
    entry: &'a ModelEntry,
    report: EvalReport,
}

impl Evaluated<'_> {
    fn label(&self) -> String {
        format!("{} (λ = {})", self.entry.name, self.entry.lambda)
    }
}

#[derive(Serialize)]
struct BdRecord<'a> {
    model: &'a str,
    lambda: f32,
    baseline: &'a str,
    entries: Vec<BdEntry>,
    /// The cheapest setting within [`EQUAL_ACCURACY`] of the baseline's float accuracy,
    /// the model's against the baseline's, per fair family.
    equal_accuracy: Vec<EqualAccuracy>,
    /// The model against the baseline at float and at each `ans` bit depth.
    equal_depth: Vec<DepthDelta>,
}

pub fn run(args: &ReportArgs) -> Result<()> {
    ensure!(args.scenes >= 1, "--scenes must be at least 1");
    let font = std::fs::read(&args.font)
        .with_context(|| format!("reading the font {} (pass --font)", args.font.display()))?;
    plots::register_font(font).with_context(|| args.font.display().to_string())?;
    let zoo = Zoo::open(&args.assets)?;
    let manifest = zoo.manifest();
    let mut models = Vec::new();
    for entry in &manifest.models {
        let Some(eval) = &entry.eval else {
            eprintln!(
                "skipping {}: no evaluation in the manifest (run `splitfeat eval --model {} --record`)",
                entry.name, entry.name
            );
            continue;
        };
        let report: EvalReport = eval.clone();
        models.push(Evaluated { entry, report });
    }
    models.sort_by(|a, b| ModelEntry::lambda_order(a.entry, b.entry));
    let base_index = match &args.baseline {
        Some(name) => models
            .iter()
            .position(|m| &m.entry.name == name)
            .with_context(|| format!("no evaluated model {name:?}"))?,
        None => models
            .iter()
            .position(|m| m.entry.lambda == 0.0)
            .context("no evaluated model with lambda 0; pass --baseline")?,
    };
    // The baseline first: it is drawn in black and every table compares against it.
    let baseline = models.remove(base_index);
    models.insert(0, baseline);
    let images = models[0].report.images;
    if let Some(m) = models.iter().find(|m| m.report.images != images) {
        bail!(
            "{} was evaluated on {} scenes, the baseline on {images}; evaluate all on the same set",
            m.entry.name,
            m.report.images
        );
    }
    std::fs::create_dir_all(&args.out).with_context(|| args.out.display().to_string())?;
    let write = |name: &str, bytes: &[u8]| write_atomic(&args.out.join(name), bytes);

    let series: Vec<plots::Series> = models
        .iter()
        .map(|m| plots::Series {
            label: m.label(),
            report: &m.report,
        })
        .collect();
    for task in Task::ALL {
        let chart = plots::rate_accuracy(task, &series)?;
        write(&format!("rate-{}.svg", task.name()), chart.svg.as_bytes())?;
        write(&format!("rate-{}.png", task.name()), &chart.png)?;
    }

    let records: Vec<BdRecord> = models[1..]
        .iter()
        .map(|m| BdRecord {
            model: &m.entry.name,
            lambda: m.entry.lambda,
            baseline: &models[0].entry.name,
            entries: curves::compare(&models[0].report, &m.report),
            equal_accuracy: curves::equal_accuracy(&models[0].report, &m.report, &EQUAL_ACCURACY),
            equal_depth: curves::equal_depth(&models[0].report, &m.report),
        })
        .collect();
    write("bd-rate.json", &serde_json::to_vec_pretty(&records)?)?;

    let device = Device::flex();
    let mut channel_series = Vec::new();
    for m in &models {
        let stats = features::channel_stats(
            &load_edge(&zoo, m.entry, &device)?,
            args.scenes,
            m.entry.bits,
        )?;
        let plane = &stats.first_plane;
        let k = 4;
        let picture = features::upscale(&plane.to_u8_display(), plane.width as usize, k);
        let png = splitfeat_core::viz::encode_png8(
            plane.width * k as u32,
            plane.height * k as u32,
            1,
            &picture,
        )?;
        write(&format!("features-{}.png", m.entry.name), &png)?;
        channel_series.push((m.label(), stats.residual_bits));
    }
    let chart = plots::channel_bits(&channel_series)?;
    write("channel-bits.svg", chart.svg.as_bytes())?;
    write("channel-bits.png", &chart.png)?;

    let markdown = tables(&models, &records, &channel_series, args)?;
    write("report.md", markdown.as_bytes())?;
    print!("{markdown}");
    Ok(())
}

fn load_edge(zoo: &Zoo, entry: &ModelEntry, device: &Device) -> Result<EdgeRuntime> {
    let bytes = zoo.edge(entry)?;
    Ok(EdgeRuntime::load(entry.config.clone(), &bytes, device)?)
}

fn pct(x: f64) -> String {
    format!("{x:+.1} %")
}

fn setting<'a>(
    report: &'a EvalReport,
    label: &str,
) -> Option<&'a splitfeat_core::evaluate::SettingResult> {
    report.results.iter().find(|r| r.setting == label)
}

/// The markdown of report.md.
fn tables(
    models: &[Evaluated],
    records: &[BdRecord],
    channels: &[(String, Vec<f64>)],
    args: &ReportArgs,
) -> Result<String> {
    let base = &models[0];
    let mut md = String::new();
    writeln!(md, "# Model zoo report\n")?;
    writeln!(
        md,
        "Made by `splitfeat report --assets {} --out {}` from the shipped weights and the evaluations in the manifest \
         ({} validation scenes each; `splitfeat eval --model NAME --record`). Baseline: {}.\n",
        args.assets.display(),
        args.out.display(),
        base.report.images,
        base.label()
    )?;
    fair_tables(&mut md, models, records)?;
    writeln!(md, "## Operating points at {} bits\n", base.report.bits)?;
    writeln!(
        md,
        "Bytes per image include the header and side information. PNG and ans are lossless, so both give the accuracy \
         shown. **Not a comparison on its own:** the baseline may lower its bit depth too, and the fair comparison \
         above lets it.\n"
    )?;
    writeln!(
        md,
        "| model | λ | PNG B/img | vs baseline | ans B/img | vs baseline | ans vs PNG | JPEG90 B/img | mIoU | disp. RMSE px | PSNR dB |"
    )?;
    writeln!(
        md,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )?;
    let (base_png, base_ans) = (setting(&base.report, "png"), setting(&base.report, "ans"));
    for m in models {
        let (Some(png), Some(ans)) = (setting(&m.report, "png"), setting(&m.report, "ans")) else {
            bail!(
                "{} has no png/ans result at the main bit depth",
                m.entry.name
            );
        };
        let vs = |x: f64, b: Option<&splitfeat_core::evaluate::SettingResult>| {
            b.map_or("".into(), |b| pct((x / b.bytes_per_image - 1.0) * 100.0))
        };
        let jpeg =
            setting(&m.report, "jpeg90").map_or("".into(), |j| format!("{:.0}", j.bytes_per_image));
        writeln!(
            md,
            "| {} | {} | {:.0} | {} | {:.0} | {} | {} | {} | {:.4} | {:.3} | {:.2} |",
            m.entry.name,
            m.entry.lambda,
            png.bytes_per_image,
            vs(png.bytes_per_image, base_png),
            ans.bytes_per_image,
            vs(ans.bytes_per_image, base_ans),
            pct((ans.bytes_per_image / png.bytes_per_image - 1.0) * 100.0),
            jpeg,
            png.miou,
            png.disparity_rmse,
            png.psnr_db
        )?;
    }

    writeln!(md, "\n## BD-rate against the baseline, per curve\n")?;
    writeln!(
        md,
        "Secondary measures. Bjontegaard delta rate: the change in bytes per image at equal accuracy, averaged over the accuracy range both \
         curves reach; negative is cheaper. PNG and ans curves run over the quantizer bit depth (8 down to 2), JPEG \
         over quality 95, 90, 85, 80, 70, 60, 50 at 8 bits. Computed over each curve's efficient frontier (points that \
         cost more than another without being more accurate are dropped) with log-rate interpolated linearly between \
         operating points: accuracy saturates from about 5 bits up, and the classic least-squares cubic (VCEG-M33, \
         `bd_rate_cubic` in bd-rate.json) swings far outside the data on such flat curves. \"n/a\": the curves' \
         accuracy ranges do not overlap (reason in bd-rate.json).\n"
    )?;
    let mut header = String::from("| model | λ |");
    let mut rule = String::from("| --- | ---: |");
    let secondary: Vec<Family> = Family::ALL
        .into_iter()
        .filter(|f| !Family::FAIR.contains(f))
        .collect();
    for &family in &secondary {
        for task in Task::ALL {
            write!(header, " {} {} |", family.name(), short(task))?;
            rule.push_str(" ---: |");
        }
    }
    writeln!(md, "{header}\n{rule}")?;
    for r in records {
        write!(md, "| {} | {} |", r.model, r.lambda)?;
        for e in r.entries.iter().filter(|e| secondary.contains(&e.family)) {
            write!(
                md,
                " {} |",
                e.bd_rate.as_ref().map_or("n/a".into(), |v| pct(*v))
            )?;
        }
        writeln!(md)?;
    }

    writeln!(md, "\n## Accuracy change at equal rate (BD-metric)\n")?;
    writeln!(
        md,
        "Bjontegaard delta of the metric at equal bytes, over the same frontiers: mIoU (higher is better), RMSE in px \
         (lower is better), PSNR in dB.\n"
    )?;
    writeln!(md, "{header}\n{rule}")?;
    for r in records {
        write!(md, "| {} | {} |", r.model, r.lambda)?;
        for e in r.entries.iter().filter(|e| secondary.contains(&e.family)) {
            let v = e.bd_metric.as_ref().map_or("n/a".into(), |v| match e.task {
                Task::Segmentation => format!("{v:+.4}"),
                Task::Disparity => format!("{v:+.3}"),
                Task::Reconstruction => format!("{v:+.2}"),
            });
            write!(md, " {v} |")?;
        }
        writeln!(md)?;
    }

    let reports: Vec<&EvalReport> = models.iter().map(|m| &m.report).collect();
    let behind = curves::ans_not_ahead(&reports);
    writeln!(md, "\n## ans against PNG\n")?;
    if behind.is_empty() {
        let points: usize = reports
            .iter()
            .map(|r| curves::curve(r, Family::Png).len())
            .sum();
        writeln!(
            md,
            "ans is smaller than PNG at every evaluated point ({points} model and bit-depth pairs)."
        )?;
    } else {
        for (i, bits) in behind {
            writeln!(
                md,
                "- ans is not smaller than PNG for {} at {bits} bits",
                models[i].entry.name
            )?;
        }
    }

    writeln!(md, "\n## Per-channel cost\n")?;
    writeln!(
        md,
        "Mean over channels of the order-0 entropy of each channel's horizontal prediction residuals, 8-bit codes, first {} \
         validation scenes (channel-bits.svg shows every channel).\n",
        args.scenes
    )?;
    writeln!(
        md,
        "| model | mean bits/element | costliest channel | cheapest channel |"
    )?;
    writeln!(md, "| --- | ---: | ---: | ---: |")?;
    for (label, bits) in channels {
        let mean = bits.iter().sum::<f64>() / bits.len().max(1) as f64;
        let max = bits.iter().copied().fold(f64::MIN, f64::max);
        let min = bits.iter().copied().fold(f64::MAX, f64::min);
        writeln!(md, "| {label} | {mean:.3} | {max:.3} | {min:.3} |")?;
    }
    writeln!(
        md,
        "\nCharts: rate-segmentation, rate-disparity, rate-reconstruction, channel-bits (.svg and .png); tiled 8-bit features of the first validation scene: features-NAME.png (4x enlarged)."
    )?;
    Ok(md)
}

fn metric(task: Task, v: f64) -> String {
    match task {
        Task::Segmentation => format!("{v:.4}"),
        Task::Disparity => format!("{v:.3}"),
        Task::Reconstruction => format!("{v:.2}"),
    }
}

/// The headline: BD-rate over the frontiers of all settings of a family, and the
/// saving at equal accuracy.
fn fair_tables(md: &mut String, models: &[Evaluated], records: &[BdRecord]) -> Result<()> {
    let base = &models[0];
    writeln!(md, "## Fair comparison: every setting of a codec family\n")?;
    writeln!(
        md,
        "Each model, the baseline included, is judged by the efficient frontier of all its settings of a codec family: \
         PNG+JPEG is PNG at every quantizer bit depth with JPEG at every quality, ans+JPEG the same with the ans coder. \
         BD-rate: the change in bytes per image at equal accuracy against the baseline's frontier, log-rate \
         interpolated linearly between frontier points (PCHIP in brackets, a cross-check), averaged over the accuracy \
         interval both frontiers cover (\"overlap\"; a narrow overlap means a figure from few points). Negative is \
         cheaper. \"n/a\": no overlap.\n"
    )?;
    for family in Family::FAIR {
        writeln!(md, "### {} ({})\n", family.name(), family.swept())?;
        writeln!(
            md,
            "| model | λ | seg BD-rate | seg overlap (mIoU) | disp BD-rate | disp overlap (RMSE px) | recon BD-rate | recon overlap (PSNR dB) |"
        )?;
        writeln!(
            md,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        )?;
        for r in records {
            write!(md, "| {} | {} |", r.model, r.lambda)?;
            for e in r.entries.iter().filter(|e| e.family == family) {
                let rate = match (&e.bd_rate, &e.bd_rate_pchip) {
                    (Ok(v), Ok(p)) => format!("{} ({})", pct(*v), pct(*p)),
                    (Ok(v), Err(_)) => pct(*v),
                    _ => "n/a".into(),
                };
                let overlap = e.overlap.map_or("none".into(), |(lo, hi)| {
                    format!("{}..{}", metric(e.task, lo), metric(e.task, hi))
                });
                write!(md, " {rate} | {overlap} |")?;
            }
            writeln!(md)?;
        }
        writeln!(md)?;
    }
    let Some(reference) = curves::float_result(&base.report) else {
        bail!("the baseline's evaluation has no float result");
    };
    writeln!(md, "### Saving at equal accuracy\n")?;
    writeln!(
        md,
        "The cheapest setting whose mIoU, disparity RMSE and PSNR are all within tolerance of the baseline's float \
         accuracy (mIoU {}, RMSE {} px, PSNR {} dB; tolerance: mIoU -{}, RMSE +{} %, PSNR -{} dB), for the model \
         and for the baseline, per family.\n",
        metric(Task::Segmentation, reference.miou),
        metric(Task::Disparity, reference.disparity_rmse),
        metric(Task::Reconstruction, reference.psnr_db),
        EQUAL_ACCURACY.miou,
        EQUAL_ACCURACY.rmse_relative * 100.0,
        EQUAL_ACCURACY.psnr_db
    )?;
    writeln!(
        md,
        "| model | λ | family | baseline's setting | B/img | model's setting | B/img | change |"
    )?;
    writeln!(md, "| --- | ---: | --- | --- | ---: | --- | ---: | ---: |")?;
    for r in records {
        for e in &r.equal_accuracy {
            let side = |s: &Option<(String, f64)>| {
                s.as_ref()
                    .map_or(("none".to_string(), "".to_string()), |(l, b)| {
                        (l.clone(), format!("{b:.0}"))
                    })
            };
            let ((bs, bb), (ms, mb)) = (side(&e.baseline), side(&e.model));
            let change = e.change_percent.map_or("n/a".into(), pct);
            writeln!(
                md,
                "| {} | {} | {} | {bs} | {bb} | {ms} | {mb} | {change} |",
                r.model,
                r.lambda,
                e.family.name()
            )?;
        }
    }
    writeln!(md)?;
    writeln!(md, "### Where the saving goes: equal bit depth\n")?;
    writeln!(
        md,
        "Each model against the baseline at the same quantizer bit depth, both coded with ans (lossless, so the \
         accuracy is the features' own at that depth). The bytes column is what the rate term saves; the accuracy \
         columns are what it costs. A task whose accuracy is lower at every depth has a frontier that starts below \
         the baseline's, so its fair BD-rate keeps less of the byte saving, and the narrower its overlap is.\n"
    )?;
    writeln!(
        md,
        "| model | λ | bits | bytes | mIoU | disp. RMSE | PSNR |"
    )?;
    writeln!(md, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")?;
    for r in records {
        for d in &r.equal_depth {
            let (bits, bytes) = match (d.bits, d.bytes_change_percent) {
                (Some(b), Some(c)) => (b.get().to_string(), pct(c)),
                _ => ("float".to_string(), String::new()),
            };
            writeln!(
                md,
                "| {} | {} | {bits} | {bytes} | {:+.4} | {} | {:+.2} dB |",
                r.model,
                r.lambda,
                d.miou_change,
                pct(d.rmse_change_percent),
                d.psnr_change_db
            )?;
        }
    }
    writeln!(md)?;
    Ok(())
}

fn short(task: Task) -> &'static str {
    match task {
        Task::Segmentation => "seg",
        Task::Disparity => "disp",
        Task::Reconstruction => "recon",
    }
}
