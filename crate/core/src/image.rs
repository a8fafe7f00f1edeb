//! Conversions between images (u8, HWC) and network tensors (f32, NCHW). The browser,
//! the server and the trainer all go through these, so normalisation is defined once.

use burn::prelude::*;

/// Per-channel mean and standard deviation of ImageNet RGB in [0, 1] (torchvision's
/// `transforms.Normalize` constants), the normalisation ResNet encoders expect.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Disparity targets are divided by this before the regression loss so that they are
/// of order one at 128x256 (disparity scales with image width: see `disparity_scale`).
pub const DISPARITY_SCALE_AT_256: f32 = 32.0;

/// The divisor for disparity maps of the given image width.
pub fn disparity_scale(width: usize) -> f32 {
    DISPARITY_SCALE_AT_256 * width as f32 / 256.0
}

/// `[n, 3, h, w]` normalised input from `n` RGB images packed HWC one after another.
pub fn rgb_to_input(rgb: &[u8], n: usize, h: usize, w: usize, device: &Device) -> Tensor<4> {
    debug_assert_eq!(rgb.len(), n * h * w * 3);
    let mut chw = vec![0f32; n * 3 * h * w];
    for img in 0..n {
        for y in 0..h {
            for x in 0..w {
                let src = ((img * h + y) * w + x) * 3;
                for c in 0..3 {
                    let v = f32::from(rgb[src + c]) / 255.0;
                    chw[((img * 3 + c) * h + y) * w + x] = (v - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
                }
            }
        }
    }
    Tensor::from_data(TensorData::new(chw, [n, 3, h, w]), device)
}

/// `[n, 3, h, w]` RGB targets in [0, 1] for the reconstruction loss.
pub fn rgb_to_unit(rgb: &[u8], n: usize, h: usize, w: usize, device: &Device) -> Tensor<4> {
    let mut chw = vec![0f32; n * 3 * h * w];
    for img in 0..n {
        for y in 0..h {
            for x in 0..w {
                let src = ((img * h + y) * w + x) * 3;
                for c in 0..3 {
                    chw[((img * 3 + c) * h + y) * w + x] = f32::from(rgb[src + c]) / 255.0;
                }
            }
        }
    }
    Tensor::from_data(TensorData::new(chw, [n, 3, h, w]), device)
}

/// Planar `[3, h, w]` floats in [0, 1] (clamped) to packed RGB u8.
pub fn unit_chw_to_rgb(chw: &[f32], h: usize, w: usize) -> Vec<u8> {
    let mut rgb = vec![0u8; h * w * 3];
    for c in 0..3 {
        for i in 0..h * w {
            let v = chw.get(c * h * w + i).copied().unwrap_or(0.0);
            rgb[i * 3 + c] = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    }
    rgb
}

/// Per-pixel argmax over the class axis of `[classes, h, w]` logits (ties go to the
/// lower class; values compare by `total_cmp`). Runs plane by plane, so memory is read
/// in order: a pixel-by-pixel walk across the class planes strides by a whole plane
/// per step and was the costliest post-processing step of the server.
pub fn argmax_classes(logits: &[f32], classes: usize, h: usize, w: usize) -> Vec<u8> {
    let plane = h * w;
    let mut best = vec![0u8; plane];
    let Some(first) = logits.get(..plane) else {
        return best;
    };
    let mut best_key: Vec<i32> = first.iter().map(|&v| total_order_key(v)).collect();
    for c in 1..classes.min(logits.len() / plane.max(1)) {
        let values = &logits[c * plane..(c + 1) * plane];
        for ((b, bk), &v) in best.iter_mut().zip(best_key.iter_mut()).zip(values) {
            let k = total_order_key(v);
            if k > *bk {
                *bk = k;
                *b = c as u8;
            }
        }
    }
    best
}

/// An integer that orders as `f32::total_cmp` orders the floats (the same bit trick),
/// so the inner loop above compares integers and vectorises.
#[inline]
fn total_order_key(v: f32) -> i32 {
    let bits = v.to_bits() as i32;
    bits ^ ((((bits >> 31) as u32) >> 1) as i32)
}

/// Bilinear resize of packed RGB (pixel centres aligned), for inputs of another size.
pub fn resize_rgb(rgb: &[u8], h: usize, w: usize, out_h: usize, out_w: usize) -> Vec<u8> {
    if h == out_h && w == out_w {
        return rgb.to_vec();
    }
    let mut out = vec![0u8; out_h * out_w * 3];
    let sy = h as f32 / out_h as f32;
    let sx = w as f32 / out_w as f32;
    for y in 0..out_h {
        let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, (h - 1) as f32);
        let (y0, ty) = (fy.floor() as usize, fy.fract());
        let y1 = (y0 + 1).min(h - 1);
        for x in 0..out_w {
            let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, (w - 1) as f32);
            let (x0, tx) = (fx.floor() as usize, fx.fract());
            let x1 = (x0 + 1).min(w - 1);
            for c in 0..3 {
                let p = |yy: usize, xx: usize| f32::from(rgb[(yy * w + xx) * 3 + c]);
                let top = p(y0, x0) * (1.0 - tx) + p(y0, x1) * tx;
                let bottom = p(y1, x0) * (1.0 - tx) + p(y1, x1) * tx;
                out[(y * out_w + x) * 3 + c] = (top * (1.0 - ty) + bottom * ty).round() as u8;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_picks_the_largest_logit_per_pixel() {
        // 3 classes, 1x2 image: pixel 0 -> class 2, pixel 1 -> class 0.
        let logits = [0.1, 5.0, 0.2, -1.0, 0.9, 0.3];
        assert_eq!(argmax_classes(&logits, 3, 1, 2), vec![2, 0]);
    }

    #[test]
    fn argmax_matches_a_per_pixel_scan_with_ties_and_nan() {
        let (classes, h, w) = (19, 5, 7);
        let plane = h * w;
        // Few distinct values, so ties are common; one NaN (greatest under total_cmp).
        let mut logits: Vec<f32> = (0..classes * plane)
            .map(|i| ((i * 7919) % 5) as f32 - 2.0)
            .collect();
        logits[3 * plane + 4] = f32::NAN;
        let naive: Vec<u8> = (0..plane)
            .map(|i| {
                let mut best = 0;
                for c in 1..classes {
                    if logits[c * plane + i]
                        .total_cmp(&logits[best * plane + i])
                        .is_gt()
                    {
                        best = c;
                    }
                }
                best as u8
            })
            .collect();
        assert_eq!(argmax_classes(&logits, classes, h, w), naive);
        assert_eq!(naive[4], 3);
    }

    #[test]
    fn resize_keeps_a_constant_image_constant() {
        let rgb = vec![7u8; 4 * 6 * 3];
        assert_eq!(resize_rgb(&rgb, 4, 6, 8, 12), vec![7u8; 8 * 12 * 3]);
        assert_eq!(resize_rgb(&rgb, 4, 6, 4, 6), rgb);
    }

    #[test]
    fn unit_round_trip() {
        let rgb: Vec<u8> = (0..2 * 3 * 3).map(|i| (i * 13) as u8).collect();
        let mut planar = vec![0f32; 18];
        for i in 0..6 {
            for c in 0..3 {
                planar[c * 6 + i] = f32::from(rgb[i * 3 + c]) / 255.0;
            }
        }
        assert_eq!(unit_chw_to_rgb(&planar, 2, 3), rgb);
    }
}
