//! Pixels as JavaScript hands them over: a canvas's `ImageData` is RGBA, 8 bits per
//! channel, row-major, not premultiplied. The encoder takes packed RGB.

use std::borrow::Cow;

/// The byte count matches neither RGBA nor RGB at the stated size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{got} bytes is neither RGBA ({rgba}) nor RGB ({rgb}) for a {width}x{height} image")]
pub struct PixelsError {
    pub width: usize,
    pub height: usize,
    pub rgba: usize,
    pub rgb: usize,
    pub got: usize,
}

/// Packed RGB from RGBA (alpha dropped: a canvas frame is opaque) or from RGB (borrowed
/// as is), told apart by length.
pub fn to_rgb(pixels: &[u8], width: usize, height: usize) -> Result<Cow<'_, [u8]>, PixelsError> {
    let n = width.saturating_mul(height);
    let (rgb, rgba) = (n.saturating_mul(3), n.saturating_mul(4));
    match pixels.len() {
        0 => Err(PixelsError {
            width,
            height,
            rgba,
            rgb,
            got: 0,
        }),
        len if len == rgba => {
            let mut out = Vec::with_capacity(rgb);
            for px in pixels.chunks_exact(4) {
                out.extend_from_slice(&px[..3]);
            }
            Ok(Cow::Owned(out))
        }
        len if len == rgb => Ok(Cow::Borrowed(pixels)),
        got => Err(PixelsError {
            width,
            height,
            rgba,
            rgb,
            got,
        }),
    }
}

/// Opaque RGBA (what `ImageData` takes) from packed RGB.
pub fn rgb_to_rgba(rgb: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rgb.len() / 3 * 4);
    for px in rgb.chunks_exact(3) {
        out.extend_from_slice(&[px[0], px[1], px[2], 255]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgba_drops_alpha_and_rgb_passes_through() {
        let rgba = [1, 2, 3, 255, 4, 5, 6, 0];
        assert_eq!(&*to_rgb(&rgba, 2, 1).unwrap(), &[1, 2, 3, 4, 5, 6]);
        let rgb = [1, 2, 3, 4, 5, 6];
        assert!(matches!(to_rgb(&rgb, 2, 1).unwrap(), Cow::Borrowed(_)));
        let err = to_rgb(&rgb[..5], 2, 1).unwrap_err();
        assert_eq!((err.rgba, err.rgb, err.got), (8, 6, 5));
        assert!(to_rgb(&[], 0, 0).is_err());
        assert!(to_rgb(&[0; 4], usize::MAX, 2).is_err());
    }
}
