//! Metrics against values worked out by hand.

use splitfeat_core::classes::NUM_CLASSES;
use splitfeat_core::metrics::{
    ConfusionMatrix, MetricsError, RdPoint, RmseAccumulator, bd_quality, bd_rate, psnr_u8,
    psnr_unit,
};

// Target / prediction pairs; the last two pixels are ignored (target 255).
const TARGET: [u8; 10] = [0, 0, 0, 1, 1, 2, 2, 2, 255, 255];
const PRED: [u8; 10] = [0, 0, 1, 1, 2, 2, 2, 0, 0, 1];

#[test]
fn miou_on_a_hand_computed_matrix() {
    let mut cm = ConfusionMatrix::new(NUM_CLASSES);
    cm.update(&PRED, &TARGET).unwrap();
    // Rows = target, columns = prediction:
    //        p0 p1 p2
    //   t0 [  2  1  0 ]
    //   t1 [  0  1  1 ]
    //   t2 [  1  0  2 ]
    let expected = [[2, 1, 0], [0, 1, 1], [1, 0, 2]];
    for (t, row) in expected.iter().enumerate() {
        for (p, &n) in row.iter().enumerate() {
            assert_eq!(cm.get(t, p), n, "t{t} p{p}");
        }
    }
    assert_eq!(cm.total(), 8);
    // IoU = TP / (row + col - TP): class 0: 2 / (3 + 3 - 2) = 1/2,
    // class 1: 1 / (2 + 2 - 1) = 1/3, class 2: 2 / (3 + 3 - 2) = 1/2.
    let iou = cm.iou_per_class();
    assert_eq!(iou.len(), NUM_CLASSES);
    assert_eq!(iou[0], Some(0.5));
    assert!((iou[1].unwrap() - 1.0 / 3.0).abs() < 1e-15);
    assert_eq!(iou[2], Some(0.5));
    assert!(iou[3..].iter().all(Option::is_none));
    // mIoU over the three present classes: (1/2 + 1/3 + 1/2) / 3 = 4/9.
    assert!((cm.mean_iou().unwrap() - 4.0 / 9.0).abs() < 1e-15);
    // 5 of 8 counted pixels correct.
    assert_eq!(cm.pixel_accuracy(), Some(0.625));
}

#[test]
fn confusion_matrices_merge_and_reject_bad_input() {
    let mut whole = ConfusionMatrix::new(NUM_CLASSES);
    whole.update(&PRED, &TARGET).unwrap();
    let mut a = ConfusionMatrix::new(NUM_CLASSES);
    let mut b = ConfusionMatrix::new(NUM_CLASSES);
    a.update(&PRED[..4], &TARGET[..4]).unwrap();
    b.update(&PRED[4..], &TARGET[4..]).unwrap();
    a.merge(&b).unwrap();
    assert_eq!(a, whole);

    let before = whole.clone();
    assert_eq!(
        whole.update(&PRED[..3], &TARGET),
        Err(MetricsError::LengthMismatch {
            pred: 3,
            target: 10
        })
    );
    assert_eq!(
        whole.update(&[0, 19], &[0, 0]),
        Err(MetricsError::LabelOutOfRange {
            label: 19,
            classes: 19
        })
    );
    assert_eq!(
        whole.update(&[0], &[19]),
        Err(MetricsError::LabelOutOfRange {
            label: 19,
            classes: 19
        })
    );
    // A failed update counts nothing.
    assert_eq!(whole, before);
    // Any prediction on an ignored pixel is fine.
    whole.update(&[200], &[255]).unwrap();
    assert_eq!(whole, before);
    assert!(whole.merge(&ConfusionMatrix::new(3)).is_err());
    assert_eq!(ConfusionMatrix::new(19).mean_iou(), None);
    assert_eq!(ConfusionMatrix::new(19).pixel_accuracy(), None);
}

#[test]
fn rmse_over_valid_pixels() {
    let mut acc = RmseAccumulator::new();
    // Valid where target > 0: errors 0, -2, +2 -> sqrt(8 / 3).
    acc.update(&[1.0, 2.0, 3.0, 4.0], &[1.0, 0.0, 5.0, 2.0])
        .unwrap();
    assert_eq!(acc.count, 3);
    assert!((acc.rmse().unwrap() - (8.0f64 / 3.0).sqrt()).abs() < 1e-12);
    let mut other = RmseAccumulator::new();
    // One more valid pixel with error 4: sqrt((8 + 16) / 4) = sqrt(6).
    other.update(&[9.0, 7.0], &[5.0, 0.0]).unwrap();
    acc.merge(&other);
    assert!((acc.rmse().unwrap() - 6f64.sqrt()).abs() < 1e-12);
    assert_eq!(RmseAccumulator::new().rmse(), None);
    assert!(acc.update(&[1.0], &[]).is_err());
}

#[test]
fn psnr_hand_values() {
    // MSE = 10^2 / 4 = 25; PSNR = 10 log10(255^2 / 25) = 10 log10(2601).
    let p = psnr_u8(&[0, 0, 0, 0], &[0, 0, 0, 10]).unwrap();
    assert!((p - 10.0 * 2601f64.log10()).abs() < 1e-12);
    assert!((p - 34.151_403).abs() < 1e-6);
    // MSE = 0.25^2 / 2 = 1/32; PSNR = 10 log10(32) with peak 1.
    let p = psnr_unit(&[0.5, 0.5], &[0.5, 0.75]).unwrap();
    assert!((p - 10.0 * 32f64.log10()).abs() < 1e-12);
    assert_eq!(psnr_u8(&[3, 4], &[3, 4]).unwrap(), f64::INFINITY);
    assert_eq!(psnr_u8(&[], &[]), Err(MetricsError::Empty));
    assert!(psnr_unit(&[0.0], &[0.0, 1.0]).is_err());
}

fn curve(rates: &[f64], qualities: &[f64]) -> Vec<RdPoint> {
    rates
        .iter()
        .zip(qualities)
        .map(|(&rate, &quality)| RdPoint { rate, quality })
        .collect()
}

const RATES: [f64; 5] = [100.0, 150.0, 220.0, 330.0, 500.0];
const QUALITY: [f64; 5] = [30.0, 32.0, 33.8, 35.5, 37.0];

#[test]
fn bd_rate_of_a_scaled_curve_is_the_scale() {
    let reference = curve(&RATES, &QUALITY);
    for k in [0.8, 1.25, 0.5, 1.0, 3.0] {
        let scaled: Vec<f64> = RATES.iter().map(|r| r * k).collect();
        let test = curve(&scaled, &QUALITY);
        let bd = bd_rate(&reference, &test).unwrap();
        assert!((bd - (k - 1.0) * 100.0).abs() < 1e-9, "k {k}: {bd}");
    }
}

#[test]
fn bd_quality_of_a_shifted_curve_is_the_shift() {
    let reference = curve(&RATES, &QUALITY);
    for shift in [0.7, -1.5, 0.0, 0.01] {
        let q: Vec<f64> = QUALITY.iter().map(|q| q + shift).collect();
        let bd = bd_quality(&reference, &curve(&RATES, &q)).unwrap();
        assert!((bd - shift).abs() < 1e-9, "shift {shift}: {bd}");
    }
}

#[test]
fn bd_matches_an_exact_rational_reference() {
    // Expected values from an exact (rational arithmetic) least-squares cubic fit and
    // integration of the same method, evaluated independently of this code.
    let reference = curve(&RATES, &QUALITY);
    let test = curve(
        &[90.0, 140.0, 200.0, 290.0, 450.0],
        &[30.2, 32.1, 33.9, 35.4, 37.1],
    );
    let rate = bd_rate(&reference, &test).unwrap();
    assert!((rate - -10.553_292_223_153_864).abs() < 1e-9, "{rate}");
    let quality = bd_quality(&reference, &test).unwrap();
    assert!(
        (quality - 0.482_110_538_747_807_4).abs() < 1e-9,
        "{quality}"
    );
}

#[test]
fn bd_rejects_bad_curves() {
    let good = curve(&RATES, &QUALITY);
    let three = curve(&RATES[..3], &QUALITY[..3]);
    assert_eq!(
        bd_rate(&good, &three),
        Err(MetricsError::TooFewPoints { got: 3, min: 4 })
    );
    assert_eq!(
        bd_quality(&three, &good),
        Err(MetricsError::TooFewPoints { got: 3, min: 4 })
    );
    let zero = curve(&[0.0, 1.0, 2.0, 3.0], &QUALITY[..4]);
    assert_eq!(
        bd_rate(&good, &zero),
        Err(MetricsError::NonPositiveRate(0.0))
    );
    let negative = curve(&[-1.0, 1.0, 2.0, 3.0], &QUALITY[..4]);
    assert_eq!(
        bd_quality(&good, &negative),
        Err(MetricsError::NonPositiveRate(-1.0))
    );
    let nan = curve(&RATES, &[30.0, f64::NAN, 33.0, 34.0, 35.0]);
    assert_eq!(bd_rate(&good, &nan), Err(MetricsError::NonFinite));
    let inf = curve(&[1.0, 2.0, f64::INFINITY, 4.0], &QUALITY[..4]);
    assert_eq!(bd_rate(&good, &inf), Err(MetricsError::NonFinite));
    let far_q: Vec<f64> = QUALITY.iter().map(|q| q + 100.0).collect();
    assert_eq!(
        bd_rate(&good, &curve(&RATES, &far_q)),
        Err(MetricsError::NoOverlap)
    );
    let far_r: Vec<f64> = RATES.iter().map(|r| r * 1e6).collect();
    assert_eq!(
        bd_quality(&good, &curve(&far_r, &QUALITY)),
        Err(MetricsError::NoOverlap)
    );
    let flat = curve(&RATES[..4], &[30.0, 30.0, 31.0, 31.0]);
    assert_eq!(bd_rate(&good, &flat), Err(MetricsError::Degenerate));
}
