//! `splitfeat compare`: the fair comparison of evaluation reports (the JSON that
//! `splitfeat eval --out` writes) against a baseline's, without a zoo: BD-rate over the
//! frontiers of every setting of a codec family and the saving at equal accuracy. The
//! recipe study uses it for runs that are not shipped.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result, ensure};
use splitfeat_core::evaluate::EvalReport;

use super::curves::{self, EQUAL_ACCURACY, Family, Task};

#[derive(Debug, Clone, clap::Args)]
pub struct CompareArgs {
    /// The baseline's evaluation (JSON from `splitfeat eval --out`); several
    /// comma-separated files are runs of one recipe, compared by their mean.
    #[arg(long)]
    pub baseline: String,
    /// Evaluations to compare with it, each `LABEL=FILE[,FILE...]` or `FILE`; several
    /// files under one label are runs of one recipe (seeds), compared by their mean.
    #[arg(required = true)]
    pub models: Vec<String>,
    /// Write the comparison as JSON here too.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also draw each task's rate-accuracy chart (the baseline and every model, their
    /// frontiers over every setting of each codec family) into this directory, as
    /// `compare-<task>.png` and `.svg`.
    #[arg(long)]
    pub charts: Option<PathBuf>,
    /// TrueType font for the chart text.
    #[arg(
        long,
        default_value = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    )]
    pub font: PathBuf,
}

fn read(path: &std::path::Path) -> Result<EvalReport> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not an evaluation report", path.display()))
}

/// `FILE[,FILE...]`: one run, or the mean of several runs of one recipe.
fn read_runs(files: &str) -> Result<(EvalReport, usize)> {
    let runs = files
        .split(',')
        .map(|f| read(std::path::Path::new(f)))
        .collect::<Result<Vec<_>>>()?;
    let mean = curves::mean_report(&runs).map_err(|e| anyhow::anyhow!("{files}: {e}"))?;
    Ok((mean, runs.len()))
}

#[derive(serde::Serialize)]
struct Row {
    label: String,
    /// Runs averaged into this row.
    runs: usize,
    bd: Vec<curves::BdEntry>,
    equal_accuracy: Vec<curves::EqualAccuracy>,
    float: Option<(f64, f64, f64)>,
}

/// One markdown table: per model, fair BD-rate per task (PNG+JPEG, ans+JPEG and all
/// settings), the saving at equal accuracy over all settings, and float accuracy.
pub fn run(args: &CompareArgs) -> Result<String> {
    let (baseline, _) = read_runs(&args.baseline)?;
    let mut rows = Vec::new();
    let mut reports = Vec::new();
    for spec in &args.models {
        let (label, files) = spec.split_once('=').unwrap_or((spec, spec));
        let (report, runs) = read_runs(files)?;
        ensure!(
            (report.images, report.first_scene) == (baseline.images, baseline.first_scene),
            "{files} was evaluated on {} scenes from scene {}, the baseline on {} from {}",
            report.images,
            report.first_scene,
            baseline.images,
            baseline.first_scene
        );
        let float = curves::float_result(&report).map(|r| (r.miou, r.disparity_rmse, r.psnr_db));
        rows.push(Row {
            label: label.to_string(),
            runs,
            bd: curves::compare(&baseline, &report),
            equal_accuracy: curves::equal_accuracy(&baseline, &report, &EQUAL_ACCURACY),
            float,
        });
        reports.push(report);
    }
    if let Some(dir) = &args.charts {
        write_charts(
            dir,
            &args.font,
            &baseline,
            rows.iter().map(|r| r.label.clone()),
            &reports,
        )?;
    }
    let mut md = String::new();
    let pct = |v: &Result<f64, String>| {
        v.as_ref()
            .map_or("n/a".to_string(), |v| format!("{v:+.1} %"))
    };
    // One BD-rate column per fair family and task, in the order the rows write them.
    let families: String = Family::FAIR
        .iter()
        .map(|f| format!(" {} seg | disp | recon |", f.name()))
        .collect();
    writeln!(
        md,
        "| run |{families} equal accuracy (all settings) | float mIoU | RMSE px | PSNR dB |"
    )?;
    let columns = 1 + 3 * Family::FAIR.len() + 4;
    writeln!(md, "| --- |{}", " ---: |".repeat(columns - 1))?;
    for row in &rows {
        match row.runs {
            1 => write!(md, "| {} |", row.label)?,
            n => write!(md, "| {} (mean of {n}) |", row.label)?,
        }
        for family in Family::FAIR {
            for task in Task::ALL {
                let e = row.bd.iter().find(|e| e.family == family && e.task == task);
                write!(md, " {} |", e.map_or("n/a".into(), |e| pct(&e.bd_rate)))?;
            }
        }
        let eq = row.equal_accuracy.iter().find(|e| e.family == Family::All);
        let eq = eq.map_or("n/a".to_string(), |e| match (&e.model, e.change_percent) {
            (Some((setting, bytes)), Some(c)) => format!("{c:+.1} % ({setting}, {bytes:.0} B)"),
            _ => "none within tolerance".into(),
        });
        let (m, r, p) = row.float.unwrap_or((f64::NAN, f64::NAN, f64::NAN));
        writeln!(md, " {eq} | {m:.4} | {r:.3} | {p:.2} |")?;
    }
    if let Some(path) = &args.json {
        crate::fsutil::write_atomic(path, &serde_json::to_vec_pretty(&rows)?)?;
    }
    Ok(md)
}

/// One rate-accuracy chart per task: the baseline first (black), then each model.
fn write_charts(
    dir: &std::path::Path,
    font: &std::path::Path,
    baseline: &EvalReport,
    labels: impl Iterator<Item = String>,
    reports: &[EvalReport],
) -> Result<()> {
    let bytes = std::fs::read(font)
        .with_context(|| format!("reading the font {} (pass --font)", font.display()))?;
    super::plots::register_font(bytes).with_context(|| font.display().to_string())?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut series = vec![super::plots::Series {
        label: "baseline".into(),
        report: baseline,
    }];
    for (label, report) in labels.zip(reports) {
        series.push(super::plots::Series { label, report });
    }
    for task in Task::ALL {
        let chart = super::plots::rate_accuracy(task, &series)?;
        let stem = dir.join(format!("compare-{}", task.name().to_lowercase()));
        crate::fsutil::write_atomic(&stem.with_extension("png"), &chart.png)?;
        crate::fsutil::write_atomic(&stem.with_extension("svg"), chart.svg.as_bytes())?;
    }
    Ok(())
}
