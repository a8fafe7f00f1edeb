//! Charts of the report, drawn once per backend: SVG text and an RGB bitmap that is
//! written as PNG.

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use splitfeat_core::evaluate::EvalReport;

use super::curves::{Family, Task, curve};
use splitfeat_core::metrics::{RdPoint, rd_frontier};

const FONT: &str = "sans-serif";

/// Makes `font` (TrueType bytes) the face of all chart text. plotters' ab_glyph text
/// needs a registered face; none is looked up on the system.
pub fn register_font(font: Vec<u8>) -> Result<()> {
    let bytes: &'static [u8] = Box::leak(font.into_boxed_slice());
    plotters::style::register_font(FONT, FontStyle::Normal, bytes)
        .map_err(|_| anyhow!("not a usable TrueType font"))
}

/// A chart as SVG text and as PNG bytes.
pub struct Chart {
    pub svg: String,
    pub png: Vec<u8>,
}

/// A chart that can draw itself on any plotters backend.
trait Draw {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>;
}

/// Draws `chart` at `size` on both backends.
fn render(size: (u32, u32), chart: &impl Draw) -> Result<Chart> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        chart.draw(&root)?;
        root.present().map_err(|e| anyhow!("svg: {e}"))?;
    }
    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        chart.draw(&root)?;
        root.present().map_err(|e| anyhow!("bitmap: {e}"))?;
    }
    let png = splitfeat_core::viz::encode_png8(size.0, size.1, 3, &rgb)?;
    Ok(Chart { svg, png })
}

/// Baseline black, the others from plotters' 99-colour palette.
fn colour(i: usize) -> RGBColor {
    if i == 0 {
        BLACK
    } else {
        let c = Palette99::pick(i - 1).to_rgba();
        RGBColor(c.0, c.1, c.2)
    }
}

fn padded(lo: f64, hi: f64) -> std::ops::Range<f64> {
    let pad = ((hi - lo) * 0.06).max(hi.abs() * 1e-3).max(1e-9);
    (lo - pad)..(hi + pad)
}

/// One model to draw: its legend label and evaluation.
pub struct Series<'a> {
    pub label: String,
    pub report: &'a EvalReport,
}

/// Rate-accuracy curves of one task: a panel per codec family, a line per model. On
/// the fair families' panels (every setting of a family) the line is the model's
/// efficient frontier and the dots are all its settings.
pub fn rate_accuracy(task: Task, models: &[Series]) -> Result<Chart> {
    render((1800, 960), &RateAccuracy { task, models })
}

struct RateAccuracy<'a> {
    task: Task,
    models: &'a [Series<'a>],
}

impl Draw for RateAccuracy<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        draw_rate_accuracy(root, self.task, self.models)
    }
}

fn draw_rate_accuracy<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    task: Task,
    models: &[Series],
) -> Result<()> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing: {e}");
    root.fill(&WHITE).map_err(err)?;
    let title = format!(
        "{}: {} against bytes per image",
        task.name(),
        task.metric_label()
    );
    let root = root.titled(&title, (FONT, 24)).map_err(err)?;
    // Six panels: `all` is drawn by the PNG+JPEG and ans+JPEG panels between them.
    let families = Family::ALL.into_iter().filter(|f| *f != Family::All);
    for (panel, family) in root.split_evenly((2, 3)).iter().zip(families) {
        let dots: Vec<Vec<(f64, f64)>> = models
            .iter()
            .map(|m| {
                curve(m.report, family)
                    .iter()
                    .map(|r| (r.bytes_per_image / 1000.0, task.value(r)))
                    .collect()
            })
            .collect();
        let lines: Vec<Vec<(f64, f64)>> = if Family::FAIR.contains(&family) {
            let sign = if task == Task::Disparity { -1.0 } else { 1.0 };
            dots.iter()
                .map(|d| {
                    let points: Vec<RdPoint> = d
                        .iter()
                        .map(|&(rate, v)| RdPoint {
                            rate,
                            quality: sign * v,
                        })
                        .collect();
                    rd_frontier(&points)
                        .iter()
                        .map(|p| (p.rate, sign * p.quality))
                        .collect()
                })
                .collect()
        } else {
            dots.clone()
        };
        let all = dots.iter().flatten();
        let (x0, x1) = all
            .clone()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
        let (y0, y1) = all.fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
        if x0 > x1 {
            continue;
        }
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!("{} ({})", family.name(), family.swept()),
                (FONT, 18),
            )
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(65)
            .build_cartesian_2d(padded(x0, x1), padded(y0, y1))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("kB per image")
            .y_desc(task.metric_label())
            .label_style((FONT, 14))
            .draw()
            .map_err(err)?;
        for (i, ((model, line), dots)) in models.iter().zip(&lines).zip(&dots).enumerate() {
            let style = colour(i).stroke_width(2);
            chart
                .draw_series(LineSeries::new(line.iter().copied(), style))
                .map_err(err)?
                .label(model.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            chart
                .draw_series(dots.iter().map(|&p| Circle::new(p, 3, colour(i).filled())))
                .map_err(err)?;
        }
        if family == Family::ALL[0] {
            chart
                .configure_series_labels()
                .position(if task == Task::Disparity {
                    SeriesLabelPosition::UpperRight
                } else {
                    SeriesLabelPosition::LowerRight
                })
                .label_font((FONT, 14))
                .border_style(BLACK)
                .background_style(WHITE.mix(0.85))
                .draw()
                .map_err(err)?;
        }
    }
    Ok(())
}

/// Bits per element of each channel, channels sorted from costliest, a line per model.
pub fn channel_bits(models: &[(String, Vec<f64>)]) -> Result<Chart> {
    render((900, 500), &ChannelBits(models))
}

struct ChannelBits<'a>(&'a [(String, Vec<f64>)]);

impl Draw for ChannelBits<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        draw_channel_bits(root, self.0)
    }
}

fn draw_channel_bits<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    models: &[(String, Vec<f64>)],
) -> Result<()> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing: {e}");
    root.fill(&WHITE).map_err(err)?;
    let channels = models.iter().map(|m| m.1.len()).max().unwrap_or(1);
    let top = models
        .iter()
        .flat_map(|m| m.1.iter().copied())
        .fold(0.0f64, f64::max);
    let mut chart = ChartBuilder::on(root)
        .caption(
            "bits per element of each channel (entropy of horizontal residuals, 8-bit codes)",
            (FONT, 18),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..channels as f64, 0f64..top * 1.08 + 1e-9)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("channel, from costliest to cheapest")
        .y_desc("bits per element")
        .label_style((FONT, 14))
        .draw()
        .map_err(err)?;
    for (i, (label, bits)) in models.iter().enumerate() {
        let mut sorted = bits.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let style = colour(i).stroke_width(2);
        chart
            .draw_series(LineSeries::new(
                sorted.iter().enumerate().map(|(c, &b)| (c as f64 + 0.5, b)),
                style,
            ))
            .map_err(err)?
            .label(label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 14))
        .border_style(BLACK)
        .background_style(WHITE.mix(0.85))
        .draw()
        .map_err(err)?;
    Ok(())
}
