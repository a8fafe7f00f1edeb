//! Rate-accuracy curves out of evaluation reports, and the Bjontegaard comparison of a
//! model against the baseline per task and codec family. Pure functions of the reports.

use serde::Serialize;
use splitfeat_core::codec::CodecId;
use splitfeat_core::evaluate::{CodedSetting, EvalReport, SettingResult};
use splitfeat_core::metrics::{
    RdPoint, bd_overlap, bd_quality_piecewise, bd_rate, bd_rate_pchip, bd_rate_piecewise,
};
use splitfeat_core::quant::BitDepth;

/// The curves compared. The fair ones come first: `PngJpeg` and `AnsJpeg` hold every
/// setting of a codec family (each bit depth of the lossless codec and each JPEG
/// quality), so a model is judged by the best it can do with that family, and so is
/// the baseline; `All` is every setting of every codec (with a learned prior's own
/// `prior` codec for the models that have one). `Paper` is the paper's curve: PNG and JPEG 95, 90, 85, 80 at 8 bits.
/// Then one curve per codec: PNG and ans over the quantizer bit depth, JPEG over its
/// quality at the main bit depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    PngJpeg,
    AnsJpeg,
    All,
    Paper,
    Png,
    Jpeg,
    Ans,
}

impl Family {
    pub const ALL: [Family; 7] = [
        Family::PngJpeg,
        Family::AnsJpeg,
        Family::All,
        Family::Paper,
        Family::Png,
        Family::Jpeg,
        Family::Ans,
    ];
    /// The families over all settings: the fair comparison.
    pub const FAIR: [Family; 3] = [Family::PngJpeg, Family::AnsJpeg, Family::All];

    pub fn name(self) -> &'static str {
        match self {
            Family::PngJpeg => "PNG+JPEG",
            Family::AnsJpeg => "ans+JPEG",
            Family::All => "all",
            Family::Paper => "paper",
            Family::Png => "PNG",
            Family::Jpeg => "JPEG",
            Family::Ans => "ans",
        }
    }

    /// What moves along the curve.
    pub fn swept(self) -> &'static str {
        match self {
            Family::PngJpeg => "PNG at every bit depth, JPEG at every quality",
            Family::AnsJpeg => "ans at every bit depth, JPEG at every quality",
            Family::All => "every codec at every bit depth and quality",
            Family::Paper => "PNG, JPEG 95..80 at 8 bits",
            Family::Jpeg => "quality 95..50 at 8 bits",
            Family::Png | Family::Ans => "8..2 bits",
        }
    }

    fn holds(self, setting: CodedSetting, main_bits: BitDepth) -> bool {
        let main = setting.bits == main_bits;
        match (self, setting.codec) {
            (Family::All, CodecId::Jpeg { .. }) => main,
            (Family::All, _) => true,
            (Family::PngJpeg, CodecId::Png) | (Family::AnsJpeg, CodecId::Ans) => true,
            (Family::PngJpeg | Family::AnsJpeg, CodecId::Jpeg { .. }) => main,
            (Family::Png, CodecId::Png) | (Family::Ans, CodecId::Ans) => true,
            (Family::Jpeg, CodecId::Jpeg { .. }) => main,
            (Family::Paper, CodecId::Png) => main,
            (Family::Paper, CodecId::Jpeg { quality }) => main && quality >= 80,
            _ => false,
        }
    }
}

/// The three tasks and the metric each is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Segmentation,
    Disparity,
    Reconstruction,
}

impl Task {
    pub const ALL: [Task; 3] = [Task::Segmentation, Task::Disparity, Task::Reconstruction];

    pub fn name(self) -> &'static str {
        match self {
            Task::Segmentation => "segmentation",
            Task::Disparity => "disparity",
            Task::Reconstruction => "reconstruction",
        }
    }

    pub fn metric_label(self) -> &'static str {
        match self {
            Task::Segmentation => "mIoU",
            Task::Disparity => "disparity RMSE (px)",
            Task::Reconstruction => "PSNR (dB)",
        }
    }

    /// The metric as reported.
    pub fn value(self, r: &SettingResult) -> f64 {
        match self {
            Task::Segmentation => r.miou,
            Task::Disparity => r.disparity_rmse,
            Task::Reconstruction => r.psnr_db,
        }
    }

    /// The metric as "higher is better" (RMSE negated), as the BD fits want it.
    pub fn quality(self, r: &SettingResult) -> f64 {
        match self {
            Task::Disparity => -r.disparity_rmse,
            _ => self.value(r),
        }
    }
}

/// The coded settings of `family` in `report`, by increasing bytes per image.
pub fn curve(report: &EvalReport, family: Family) -> Vec<&SettingResult> {
    let mut points: Vec<&SettingResult> = report
        .results
        .iter()
        .filter(|r| {
            CodedSetting::parse(&r.setting, report.bits).is_ok_and(|s| family.holds(s, report.bits))
        })
        .collect();
    points.sort_by(|a, b| a.bytes_per_image.total_cmp(&b.bytes_per_image));
    points
}

fn rd_points(report: &EvalReport, family: Family, task: Task) -> Vec<RdPoint> {
    curve(report, family)
        .iter()
        .map(|r| RdPoint {
            rate: r.bytes_per_image,
            quality: task.quality(r),
        })
        .collect()
}

/// One model against the baseline for one task and codec family.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BdEntry {
    pub family: Family,
    pub task: Task,
    /// Bjontegaard delta rate, percent (negative: fewer bytes at equal accuracy), over
    /// the efficient frontiers, piecewise linear ([`bd_rate_piecewise`]), or why it
    /// could not be computed (e.g. the curves' accuracies do not overlap).
    pub bd_rate: Result<f64, String>,
    /// Bjontegaard delta of the task metric at equal rate, in the metric's own sign
    /// (mIoU, RMSE px, PSNR dB), over the same frontiers.
    pub bd_metric: Result<f64, String>,
    /// The classic VCEG-M33 BD-rate (least-squares cubics over all points), for
    /// comparison: unreliable where accuracy saturates (see the report).
    pub bd_rate_cubic: Result<f64, String>,
    /// BD-rate over the same frontiers with monotone cubic (PCHIP) interpolation: a
    /// cross-check of `bd_rate`.
    pub bd_rate_pchip: Result<f64, String>,
    /// The accuracy interval both frontiers cover, in the metric's own units and
    /// order (low to high value), over which the BD figures average.
    pub overlap: Option<(f64, f64)>,
}

/// BD-rate and BD-metric of `test` against `baseline` for every task and family.
pub fn compare(baseline: &EvalReport, test: &EvalReport) -> Vec<BdEntry> {
    let mut out = Vec::new();
    for family in Family::ALL {
        for task in Task::ALL {
            let (reference, candidate) = (
                rd_points(baseline, family, task),
                rd_points(test, family, task),
            );
            let sign = if task == Task::Disparity { -1.0 } else { 1.0 };
            out.push(BdEntry {
                family,
                task,
                bd_rate: bd_rate_piecewise(&reference, &candidate).map_err(|e| e.to_string()),
                bd_metric: bd_quality_piecewise(&reference, &candidate)
                    .map(|d| sign * d)
                    .map_err(|e| e.to_string()),
                bd_rate_cubic: bd_rate(&reference, &candidate).map_err(|e| e.to_string()),
                bd_rate_pchip: bd_rate_pchip(&reference, &candidate).map_err(|e| e.to_string()),
                overlap: bd_overlap(&reference, &candidate).ok().map(|(lo, hi)| {
                    let (a, b) = (sign * lo, sign * hi);
                    (a.min(b), a.max(b))
                }),
            });
        }
    }
    out
}

/// How far below the baseline's float accuracy a setting may fall and still count as
/// "equal accuracy": mIoU -0.005 (absolute), disparity RMSE +1 %, PSNR -0.1 dB. About
/// the spread of these metrics between two trainings of the same recipe on the
/// validation set, and below what a user sees in the outputs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Tolerance {
    pub miou: f64,
    pub rmse_relative: f64,
    pub psnr_db: f64,
}

pub const EQUAL_ACCURACY: Tolerance = Tolerance {
    miou: 0.005,
    rmse_relative: 0.01,
    psnr_db: 0.1,
};

impl Tolerance {
    /// Whether `r` is within tolerance of `reference` on all three tasks.
    pub fn accepts(&self, reference: &SettingResult, r: &SettingResult) -> bool {
        r.miou >= reference.miou - self.miou
            && r.disparity_rmse <= reference.disparity_rmse * (1.0 + self.rmse_relative)
            && r.psnr_db >= reference.psnr_db - self.psnr_db
    }
}

/// The baseline's float result: the accuracy every model's settings are held to.
pub fn float_result(report: &EvalReport) -> Option<&SettingResult> {
    report.results.iter().find(|r| r.setting == "float")
}

/// The cheapest coded setting of `family` in `report` whose three metrics are all
/// within `tolerance` of `reference` (the baseline's float accuracy).
pub fn cheapest_at_accuracy<'a>(
    report: &'a EvalReport,
    family: Family,
    reference: &SettingResult,
    tolerance: &Tolerance,
) -> Option<&'a SettingResult> {
    curve(report, family)
        .into_iter()
        .find(|r| tolerance.accepts(reference, r))
}

/// A model's cheapest setting at the baseline's accuracy against the baseline's own.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EqualAccuracy {
    pub family: Family,
    /// The baseline's cheapest setting within tolerance, and its bytes per image.
    pub baseline: Option<(String, f64)>,
    /// The model's.
    pub model: Option<(String, f64)>,
    /// `model bytes / baseline bytes - 1`, percent (negative: a saving).
    pub change_percent: Option<f64>,
}

/// [`cheapest_at_accuracy`] of `test` and of `baseline` for each fair family.
pub fn equal_accuracy(
    baseline: &EvalReport,
    test: &EvalReport,
    tolerance: &Tolerance,
) -> Vec<EqualAccuracy> {
    let Some(reference) = float_result(baseline) else {
        return Vec::new();
    };
    Family::FAIR
        .into_iter()
        .map(|family| {
            let pick = |r: &EvalReport| {
                cheapest_at_accuracy(r, family, reference, tolerance)
                    .map(|s| (s.setting.clone(), s.bytes_per_image))
            };
            let (b, m) = (pick(baseline), pick(test));
            let change_percent = match (&b, &m) {
                (Some((_, b)), Some((_, m))) => Some((m / b - 1.0) * 100.0),
                _ => None,
            };
            EqualAccuracy {
                family,
                baseline: b,
                model: m,
                change_percent,
            }
        })
        .collect()
}

/// The bit depth of a coded setting of `report`, from its label, as [`curve`] selects
/// settings by it (so every setting a curve holds has one); `None` for float.
fn setting_bits(report: &EvalReport, r: &SettingResult) -> Option<BitDepth> {
    CodedSetting::parse(&r.setting, report.bits)
        .ok()
        .map(|s| s.bits)
}

/// A model against the baseline at one quantizer bit depth, both coded losslessly with
/// `ans` (so each side's accuracy is its features' at that depth): where a fair BD-rate
/// comes from. A rate saving at equal depth that the fair BD-rate does not keep was
/// spent on accuracy, and this row says on which task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DepthDelta {
    /// The bit depth; `None` for the float row (no coding, accuracy only).
    pub bits: Option<BitDepth>,
    /// `model bytes / baseline bytes - 1`, percent; `None` for the float row.
    pub bytes_change_percent: Option<f64>,
    /// Model minus baseline, absolute.
    pub miou_change: f64,
    /// `model RMSE / baseline RMSE - 1`, percent.
    pub rmse_change_percent: f64,
    /// Model minus baseline, dB.
    pub psnr_change_db: f64,
}

/// [`DepthDelta`] at float and at every bit depth both reports coded with `ans`, float
/// first, then from the deepest to the shallowest.
pub fn equal_depth(baseline: &EvalReport, test: &EvalReport) -> Vec<DepthDelta> {
    let delta = |b: &SettingResult, t: &SettingResult, bits: Option<BitDepth>| DepthDelta {
        bits,
        bytes_change_percent: bits.map(|_| (t.bytes_per_image / b.bytes_per_image - 1.0) * 100.0),
        miou_change: t.miou - b.miou,
        rmse_change_percent: (t.disparity_rmse / b.disparity_rmse - 1.0) * 100.0,
        psnr_change_db: t.psnr_db - b.psnr_db,
    };
    let mut out = Vec::new();
    if let (Some(b), Some(t)) = (float_result(baseline), float_result(test)) {
        out.push(delta(b, t, None));
    }
    let test_ans = curve(test, Family::Ans);
    let mut rows: Vec<(BitDepth, DepthDelta)> = curve(baseline, Family::Ans)
        .into_iter()
        .filter_map(|b| {
            let bits = setting_bits(baseline, b)?;
            let t = test_ans
                .iter()
                .find(|t| setting_bits(test, t) == Some(bits))?;
            Some((bits, delta(b, t, Some(bits))))
        })
        .collect();
    rows.sort_by_key(|(bits, _)| std::cmp::Reverse(bits.get()));
    out.extend(rows.into_iter().map(|(_, d)| d));
    out
}

/// Pairs of (model index, bit depth) where the `ans` stream is not smaller than PNG's.
pub fn ans_not_ahead(reports: &[&EvalReport]) -> Vec<(usize, BitDepth)> {
    let mut out = Vec::new();
    for (i, report) in reports.iter().enumerate() {
        let bits = |r: &SettingResult| setting_bits(report, r);
        let ans = curve(report, Family::Ans);
        for png in curve(report, Family::Png) {
            let Some(depth) = bits(png) else { continue };
            if ans
                .iter()
                .find(|a| bits(a) == Some(depth))
                .is_none_or(|a| a.bytes_per_image >= png.bytes_per_image)
            {
                out.push((i, depth));
            }
        }
    }
    out
}

/// The mean of several runs of one recipe (seeds, or trainings that differ only in
/// floating-point order), setting by setting: bytes and every metric averaged over the
/// runs, for the settings all of them were evaluated at (in the first run's order). A
/// single run's frontier moves from training to training by more than the equal-accuracy
/// tolerance, so a recipe is compared by its mean. The result carries the first run's
/// model id.
pub fn mean_report(runs: &[EvalReport]) -> Result<EvalReport, String> {
    let (first, rest) = runs.split_first().ok_or("no run to average")?;
    for r in rest {
        if (r.images, r.first_scene, r.bits) != (first.images, first.first_scene, first.bits) {
            return Err(format!(
                "runs evaluated differently: {} scenes from {} at {} bits against {} from {} at {}",
                r.images, r.first_scene, r.bits, first.images, first.first_scene, first.bits
            ));
        }
    }
    let n = runs.len() as f64;
    let results: Vec<SettingResult> = first
        .results
        .iter()
        .filter_map(|head| {
            let same: Vec<&SettingResult> = runs
                .iter()
                .filter_map(|r| r.results.iter().find(|x| x.setting == head.setting))
                .collect();
            (same.len() == runs.len()).then(|| {
                let mean =
                    |f: fn(&SettingResult) -> f64| same.iter().map(|x| f(x)).sum::<f64>() / n;
                SettingResult {
                    bytes_per_image: mean(|x| x.bytes_per_image),
                    bits_per_element: mean(|x| x.bits_per_element),
                    miou: mean(|x| x.miou),
                    pixel_accuracy: mean(|x| x.pixel_accuracy),
                    disparity_rmse: mean(|x| x.disparity_rmse),
                    psnr_db: mean(|x| x.psnr_db),
                    ..head.clone()
                }
            })
        })
        .collect();
    Ok(EvalReport {
        results,
        majority_class_miou: runs.iter().map(|r| r.majority_class_miou).sum::<f64>() / n,
        ..first.clone()
    })
}

/// Each model run's BD-rate against the baseline run it is paired with (the same seed,
/// so the same starting weights), for one family and task. The mean report's figure
/// alone hides how far single trainings stray; the pairs show it.
#[derive(Debug, Clone, Serialize)]
pub struct PairedBd {
    pub family: Family,
    pub task: Task,
    /// One per pair, in the pairs' order.
    pub bd_rate: Vec<Result<f64, String>>,
}

impl PairedBd {
    /// Mean, lowest and highest of the pairs' BD-rates; `None` unless every pair has one.
    pub fn spread(&self) -> Option<(f64, f64, f64)> {
        let values: Vec<f64> = self
            .bd_rate
            .iter()
            .map(|r| r.as_ref().ok().copied())
            .collect::<Option<_>>()?;
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (!values.is_empty()).then_some((mean, min, max))
    }
}

/// [`compare`] of each `(baseline, model)` pair, gathered per fair family and task.
pub fn paired_bd(pairs: &[(&EvalReport, &EvalReport)]) -> Vec<PairedBd> {
    let per_pair: Vec<Vec<BdEntry>> = pairs.iter().map(|(b, m)| compare(b, m)).collect();
    let mut out = Vec::new();
    for family in Family::FAIR {
        for task in Task::ALL {
            let bd_rate = per_pair
                .iter()
                .map(|entries| {
                    entries
                        .iter()
                        .find(|e| e.family == family && e.task == task)
                        .map_or(Err("not compared".to_string()), |e| e.bd_rate.clone())
                })
                .collect();
            out.push(PairedBd {
                family,
                task,
                bd_rate,
            });
        }
    }
    out
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn result(setting: &str, bytes: f64, miou: f64, rmse: f64, psnr: f64) -> SettingResult {
        let coded = CodedSetting::parse(setting, BitDepth::EIGHT).ok();
        SettingResult {
            setting: setting.into(),
            codec: coded.map(|c| c.codec.to_string()),
            bits: coded.map(|c| c.bits),
            bytes_per_image: bytes,
            bits_per_element: bytes * 8.0 / 8192.0,
            miou,
            pixel_accuracy: 0.9,
            disparity_rmse: rmse,
            psnr_db: psnr,
        }
    }

    /// A report whose every coded setting costs `scale` times the reference's bytes at
    /// the same accuracy; ans is 10 % below PNG.
    pub(in crate::report) fn report(scale: f64) -> EvalReport {
        let mut results = vec![result("float", 0.0, 0.5, 1.0, 20.0)];
        for (i, bits) in [8u8, 7, 6, 5].into_iter().enumerate() {
            let (miou, rmse, psnr) = (
                0.5 - 0.02 * (i * i) as f64,
                1.0 + 0.1 * (i * i) as f64,
                20.0 - 0.5 * (i * i) as f64,
            );
            let bytes = 4000.0 * 0.7f64.powi(i as i32) * scale;
            let label = |codec: &str| {
                if bits == 8 {
                    codec.to_string()
                } else {
                    format!("{codec}@{bits}")
                }
            };
            results.push(result(&label("png"), bytes, miou, rmse, psnr));
            results.push(result(&label("ans"), bytes * 0.9, miou, rmse, psnr));
            results.push(result(
                &format!("jpeg{}", 95 - 5 * i),
                bytes * 0.8,
                miou,
                rmse,
                psnr,
            ));
        }
        EvalReport {
            model_id: splitfeat_core::zoo::ModelId::from_bytes([0; 8]),
            images: 1,
            first_scene: 0,
            bits: BitDepth::EIGHT,
            results,
            majority_class_miou: 0.01,
        }
    }

    #[test]
    fn curves_pick_their_family_in_rate_order() {
        let r = report(1.0);
        let png: Vec<&str> = curve(&r, Family::Png)
            .iter()
            .map(|p| p.setting.as_str())
            .collect();
        assert_eq!(png, ["png@5", "png@6", "png@7", "png"]);
        let jpeg: Vec<&str> = curve(&r, Family::Jpeg)
            .iter()
            .map(|p| p.setting.as_str())
            .collect();
        assert_eq!(jpeg, ["jpeg80", "jpeg85", "jpeg90", "jpeg95"]);
        // The paper's curve: PNG and JPEG 95..80 at 8 bits (the test's JPEG 80 is the
        // cheapest, PNG the dearest).
        let paper: Vec<&str> = curve(&r, Family::Paper)
            .iter()
            .map(|p| p.setting.as_str())
            .collect();
        assert_eq!(paper, ["jpeg80", "jpeg85", "jpeg90", "jpeg95", "png"]);
        assert_eq!(curve(&r, Family::Ans).len(), 4);
    }

    #[test]
    fn uniformly_cheaper_model_has_that_bd_rate_and_no_metric_change() {
        let entries = compare(&report(1.0), &report(0.8));
        assert_eq!(entries.len(), 21);
        for e in entries {
            let rate = e.bd_rate.clone().unwrap();
            assert!((rate - -20.0).abs() < 1e-6, "{e:?}");
            assert!(
                (e.bd_rate_cubic.clone().unwrap() - -20.0).abs() < 1e-6,
                "{e:?}"
            );
            assert!(
                (e.bd_rate_pchip.clone().unwrap() - -20.0).abs() < 1e-6,
                "{e:?}"
            );
            assert!(e.overlap.is_some(), "{e:?}");
            // Same accuracy at 0.8x the rate: at equal rate the cheaper model is better.
            let metric = e.bd_metric.clone().unwrap();
            match e.task {
                Task::Disparity => assert!(metric < 0.0, "{e:?}"),
                _ => assert!(metric > 0.0, "{e:?}"),
            }
        }
    }

    #[test]
    fn too_short_curves_give_a_reason_not_a_number() {
        let mut short = report(1.0);
        short.results.retain(|r| !r.setting.contains('@'));
        let e = &compare(&report(1.0), &short)[12];
        assert_eq!(e.family, Family::Png);
        assert!(
            e.bd_rate
                .as_ref()
                .unwrap_err()
                .contains("at least 2 points"),
            "{e:?}"
        );
        assert!(
            e.bd_rate_cubic
                .as_ref()
                .unwrap_err()
                .contains("at least 4 points"),
            "{e:?}"
        );
    }

    #[test]
    fn fair_families_take_every_depth_and_quality_and_the_frontier_is_their_union() {
        let r = report(1.0);
        let fair: Vec<&str> = curve(&r, Family::PngJpeg)
            .iter()
            .map(|p| p.setting.as_str())
            .collect();
        // By bytes: PNG at 5 bits (1372), JPEG 80 (1097.6 < 1372)...: JPEG is 0.8x PNG
        // at each step, so the two codecs interleave.
        assert_eq!(
            fair,
            [
                "jpeg80", "png@5", "jpeg85", "png@6", "jpeg90", "png@7", "jpeg95", "png"
            ]
        );
        assert_eq!(curve(&r, Family::AnsJpeg).len(), 8);
        // The union's frontier: only JPEG points survive (same accuracy, fewer bytes).
        let points = rd_points(&r, Family::PngJpeg, Task::Segmentation);
        let frontier = splitfeat_core::metrics::rd_frontier(&points);
        assert_eq!(frontier.len(), 4);
        assert!(frontier.iter().all(|p| {
            curve(&r, Family::Jpeg)
                .iter()
                .any(|j| j.bytes_per_image == p.rate)
        }));
    }

    #[test]
    fn overlap_is_the_shared_accuracy_interval_in_metric_units() {
        let base = report(1.0);
        let mut narrow = report(1.0);
        // Drop the narrow model's two lowest-accuracy points of every family.
        narrow.results.retain(|r| {
            !["png@5", "ans@5", "jpeg80", "png@6", "ans@6", "jpeg85"].contains(&r.setting.as_str())
        });
        let e = compare(&base, &narrow);
        let seg = e
            .iter()
            .find(|e| e.family == Family::PngJpeg && e.task == Task::Segmentation)
            .unwrap();
        let (lo, hi) = seg.overlap.unwrap();
        assert!(
            (lo - 0.48).abs() < 1e-12 && (hi - 0.5).abs() < 1e-12,
            "{lo} {hi}"
        );
        let disp = e
            .iter()
            .find(|e| e.family == Family::PngJpeg && e.task == Task::Disparity)
            .unwrap();
        let (lo, hi) = disp.overlap.unwrap();
        assert!(
            (lo - 1.0).abs() < 1e-12 && (hi - 1.1).abs() < 1e-12,
            "{lo} {hi}"
        );
    }

    #[test]
    fn equal_accuracy_takes_the_cheapest_setting_within_tolerance_on_all_tasks() {
        // Reference float: mIoU 0.5, RMSE 1.0, PSNR 20.0. Settings at i = 1 lose 0.02
        // mIoU: outside the 0.005 tolerance, so only the i = 0 (8-bit, JPEG 95) points
        // qualify: JPEG 95 (3200 B) for the baseline, 0.5x that for the test model.
        let base = report(1.0);
        let test = report(0.5);
        let eq = equal_accuracy(&base, &test, &EQUAL_ACCURACY);
        assert_eq!(eq.len(), 3);
        let png = &eq[0];
        assert_eq!(png.family, Family::PngJpeg);
        assert_eq!(png.baseline, Some(("jpeg95".to_string(), 3200.0)));
        assert_eq!(png.model, Some(("jpeg95".to_string(), 1600.0)));
        assert!((png.change_percent.unwrap() - -50.0).abs() < 1e-9);
        // A tolerance wide enough for i = 1 (mIoU -0.02, RMSE +10 %, PSNR -0.5 dB).
        let wide = Tolerance {
            miou: 0.02,
            rmse_relative: 0.1,
            psnr_db: 0.5,
        };
        let eq = equal_accuracy(&base, &base, &wide);
        assert_eq!(eq[0].baseline, Some(("jpeg90".to_string(), 2240.0)));
        assert_eq!(eq[0].change_percent, Some(0.0));
        // One task out of tolerance is enough to refuse a setting.
        let reference = float_result(&base).unwrap();
        let mut r = reference.clone();
        r.psnr_db -= 0.2;
        assert!(!EQUAL_ACCURACY.accepts(reference, &r));
        r.psnr_db += 0.15;
        assert!(EQUAL_ACCURACY.accepts(reference, &r));
        // No setting within tolerance: no figure.
        let mut worse = report(1.0);
        for r in worse.results.iter_mut() {
            r.miou -= 0.1;
        }
        assert_eq!(
            equal_accuracy(&base, &worse, &EQUAL_ACCURACY)[0].change_percent,
            None
        );
    }

    #[test]
    fn equal_depth_rows_pair_the_same_ans_depth_float_first() {
        let base = report(1.0);
        let mut test = report(0.6);
        // The test model loses 0.01 mIoU, 2 % RMSE and 0.1 dB at 7 bits; ans@6 is
        // missing from it, so that depth has no row.
        for r in test.results.iter_mut().filter(|r| r.setting == "ans@7") {
            r.miou -= 0.01;
            r.disparity_rmse *= 1.02;
            r.psnr_db -= 0.1;
        }
        test.results.retain(|r| r.setting != "ans@6");
        let rows = equal_depth(&base, &test);
        let bits: Vec<Option<u8>> = rows.iter().map(|r| r.bits.map(|b| b.get())).collect();
        assert_eq!(bits, [None, Some(8), Some(7), Some(5)]);
        assert_eq!(rows[0].bytes_change_percent, None);
        assert_eq!(rows[0].miou_change, 0.0);
        for r in &rows[1..] {
            assert!(
                (r.bytes_change_percent.unwrap() - -40.0).abs() < 1e-9,
                "{r:?}"
            );
        }
        let seven = &rows[2];
        assert!((seven.miou_change - -0.01).abs() < 1e-12);
        assert!((seven.rmse_change_percent - 2.0).abs() < 1e-9);
        assert!((seven.psnr_change_db - -0.1).abs() < 1e-9);
        assert_eq!(rows[3].rmse_change_percent, 0.0);
    }

    #[test]
    fn ans_behind_png_is_reported() {
        let good = report(1.0);
        let mut bad = report(1.0);
        for r in bad.results.iter_mut().filter(|r| r.setting == "ans@6") {
            r.bytes_per_image = 1e6;
        }
        assert_eq!(
            ans_not_ahead(&[&good, &bad]),
            [(1, BitDepth::new(6).unwrap())]
        );
    }

    #[test]
    fn paired_bd_rates_are_each_pairs_own_with_their_spread() {
        // Pair 1 costs half the bytes at every accuracy (-50 %), pair 2 80 % (-20 %),
        // pair 3's model is its baseline (0 %): mean -23.3 %, from -50 to 0.
        let (base, half, most) = (report(1.0), report(0.5), report(0.8));
        let base2 = report(2.0);
        let most2 = report(1.6);
        let pairs = [(&base, &half), (&base2, &most2), (&most, &most)];
        let paired = paired_bd(&pairs);
        assert_eq!(paired.len(), Family::FAIR.len() * Task::ALL.len());
        for entry in &paired {
            let values: Vec<f64> = entry.bd_rate.iter().map(|r| *r.as_ref().unwrap()).collect();
            for (got, want) in values.iter().zip([-50.0, -20.0, 0.0]) {
                assert!((got - want).abs() < 1e-9, "{entry:?}");
            }
            let (mean, min, max) = entry.spread().unwrap();
            assert!((mean - (-70.0 / 3.0)).abs() < 1e-9);
            assert!((min + 50.0).abs() < 1e-9 && max.abs() < 1e-9);
        }
        // One pair without a figure (no accuracy overlap): no spread.
        let mut disjoint = report(1.0);
        for r in &mut disjoint.results {
            r.miou += 1.0;
        }
        let paired = paired_bd(&[(&base, &half), (&base, &disjoint)]);
        let seg = paired
            .iter()
            .find(|e| e.family == Family::PngJpeg && e.task == Task::Segmentation)
            .unwrap();
        assert!(seg.bd_rate[1].is_err());
        assert_eq!(seg.spread(), None);
    }

    #[test]
    fn mean_report_averages_the_shared_settings_by_hand() {
        let a = EvalReport {
            model_id: report(1.0).model_id,
            images: 4,
            first_scene: 0,
            bits: BitDepth::EIGHT,
            results: vec![
                result("float", 0.0, 0.50, 1.0, 20.0),
                result("ans", 1000.0, 0.48, 1.2, 19.0),
                result("png@4", 500.0, 0.40, 2.0, 17.0),
            ],
            majority_class_miou: 0.02,
        };
        let b = EvalReport {
            results: vec![
                result("ans", 3000.0, 0.44, 1.4, 18.0),
                result("float", 0.0, 0.46, 1.2, 21.0),
            ],
            majority_class_miou: 0.04,
            ..a.clone()
        };
        let m = mean_report(&[a.clone(), b.clone()]).unwrap();
        // png@4 is in one run only: dropped. The first run's order is kept.
        let labels: Vec<&str> = m.results.iter().map(|r| r.setting.as_str()).collect();
        assert_eq!(labels, ["float", "ans"]);
        let ans = &m.results[1];
        assert_eq!(ans.bytes_per_image, 2000.0);
        assert!((ans.miou - 0.46).abs() < 1e-12);
        assert!((ans.disparity_rmse - 1.3).abs() < 1e-12);
        assert_eq!(ans.psnr_db, 18.5);
        assert!((m.majority_class_miou - 0.03).abs() < 1e-12);
        assert!((m.results[0].psnr_db - 20.5).abs() < 1e-12);
        // One run is itself.
        assert_eq!(mean_report(std::slice::from_ref(&a)).unwrap(), a);
        assert!(mean_report(&[]).is_err());
        let other_count = EvalReport { images: 8, ..b };
        assert!(
            mean_report(&[a.clone(), other_count])
                .unwrap_err()
                .contains("8 scenes")
        );
        let other_scenes = EvalReport {
            first_scene: 500,
            ..a.clone()
        };
        assert!(
            mean_report(&[a, other_scenes])
                .unwrap_err()
                .contains("from 500")
        );
    }
}
