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
    /// Also compare run k of each model with run k of the baseline (list the runs in
    /// the same seed order, so that each pair shares its starting weights): per task
    /// the mean, lowest and highest of the pairs' BD-rates.
    #[arg(long)]
    pub paired: bool,
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

/// `FILE[,FILE...]`: one run, or several runs of one recipe; with their mean.
fn read_runs(files: &str) -> Result<(EvalReport, Vec<EvalReport>)> {
    let runs = files
        .split(',')
        .map(|f| read(std::path::Path::new(f)))
        .collect::<Result<Vec<_>>>()?;
    let mean = curves::mean_report(&runs).map_err(|e| anyhow::anyhow!("{files}: {e}"))?;
    Ok((mean, runs))
}

#[derive(serde::Serialize)]
struct Row {
    label: String,
    /// Runs averaged into this row.
    runs: usize,
    bd: Vec<curves::BdEntry>,
    equal_accuracy: Vec<curves::EqualAccuracy>,
    float: Option<(f64, f64, f64)>,
    /// With `--paired`: each run against the baseline run of its seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    paired: Option<Vec<curves::PairedBd>>,
}

/// One markdown table: per model, fair BD-rate per task (PNG+JPEG, ans+JPEG and all
/// settings), the saving at equal accuracy over all settings, and float accuracy.
pub fn run(args: &CompareArgs) -> Result<String> {
    let (baseline, baseline_runs) = read_runs(&args.baseline)?;
    let mut rows = Vec::new();
    let mut reports = Vec::new();
    for spec in &args.models {
        let (label, files) = spec.split_once('=').unwrap_or((spec, spec));
        let (report, runs) = read_runs(files)?;
        let paired = if args.paired {
            ensure!(
                runs.len() == baseline_runs.len(),
                "--paired: {label} has {} runs, the baseline {}",
                runs.len(),
                baseline_runs.len()
            );
            let pairs: Vec<_> = baseline_runs.iter().zip(&runs).collect();
            Some(curves::paired_bd(&pairs))
        } else {
            None
        };
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
            runs: runs.len(),
            bd: curves::compare(&baseline, &report),
            equal_accuracy: curves::equal_accuracy(&baseline, &report, &EQUAL_ACCURACY),
            float,
            paired,
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
    let families = fair_task_columns();
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
    if args.paired {
        write_paired(&mut md, &rows)?;
    }
    if let Some(path) = &args.json {
        crate::fsutil::write_atomic(path, &serde_json::to_vec_pretty(&rows)?)?;
    }
    Ok(md)
}

/// One BD-rate column per fair family and task, in the order the rows write them.
fn fair_task_columns() -> String {
    Family::FAIR
        .iter()
        .map(|f| format!(" {} seg | disp | recon |", f.name()))
        .collect()
}

/// The `--paired` table: per fair family and task, the mean of the pairs' BD-rates
/// and their range.
fn write_paired(md: &mut String, rows: &[Row]) -> Result<()> {
    writeln!(
        md,
        "\nBD-rate of each run against the baseline run of its seed: mean [lowest, highest]\n"
    )?;
    writeln!(md, "| run | pairs |{}", fair_task_columns())?;
    writeln!(
        md,
        "| --- |{}",
        " ---: |".repeat(1 + 3 * Family::FAIR.len())
    )?;
    for row in rows {
        let Some(paired) = &row.paired else { continue };
        write!(md, "| {} | {} |", row.label, row.runs)?;
        for family in Family::FAIR {
            for task in Task::ALL {
                let entry = paired.iter().find(|e| e.family == family && e.task == task);
                let cell = match entry {
                    None => "n/a".into(),
                    Some(e) => match e.spread() {
                        Some((mean, min, max)) => format!("{mean:+.1} % [{min:+.1}, {max:+.1}]"),
                        None => {
                            let missing = e.bd_rate.iter().filter(|r| r.is_err()).count();
                            format!("n/a in {missing} of {}", e.bd_rate.len())
                        }
                    },
                };
                write!(md, " {cell} |")?;
            }
        }
        writeln!(md)?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::curves::tests::report;

    fn args(baseline: String, models: Vec<String>) -> CompareArgs {
        CompareArgs {
            baseline,
            models,
            json: None,
            paired: true,
            charts: None,
            font: PathBuf::new(),
        }
    }

    #[test]
    fn paired_tables_each_pair_and_refuses_unequal_run_counts() {
        let dir = std::env::temp_dir().join(format!("splitfeat-compare-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, scale: f64| {
            let path = dir.join(name);
            std::fs::write(&path, serde_json::to_vec(&report(scale)).unwrap()).unwrap();
            path.to_string_lossy().into_owned()
        };
        let (b1, b2) = (write("b1.json", 1.0), write("b2.json", 2.0));
        // Against its own seed's baseline, run 1 is -50 % and run 2 -20 %.
        let (m1, m2) = (write("m1.json", 0.5), write("m2.json", 1.6));
        let md = run(&args(format!("{b1},{b2}"), vec![format!("λ={m1},{m2}")])).unwrap();
        let row = md.lines().find(|l| l.starts_with("| λ | 2 |")).unwrap();
        assert_eq!(row.matches("-35.0 % [-50.0, -20.0]").count(), 9, "{row}");

        let err = run(&args(format!("{b1},{b2}"), vec![format!("λ={m1}")])).unwrap_err();
        assert!(
            err.to_string().contains("λ has 1 runs, the baseline 2"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
