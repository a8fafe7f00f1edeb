//! Tiling of a C x H x W code tensor into one grayscale image (a [`Plane`]) and back.
//!
//! Grid rule (the paper's): let `C'` be `C` rounded up to the next power of two and
//! `p = log2(C')`. The image has `2^floor(p/2)` tile rows and `2^ceil(p/2)` tile
//! columns, each tile `H x W`. Channel `c` sits at tile row `c / cols`, tile column
//! `c % cols`. So 512 channels of 8 x 16 give 16 x 32 tiles, a 128 x 512 image;
//! 64 channels give 8 x 8 tiles.
//!
//! Padding rule: when `C` is not a power of two, the `C' - C` tiles after the last
//! channel are filled with code 0, and [`untile`] drops them.

use serde::{Deserialize, Serialize};

use crate::quant::BitDepth;

/// Shape of one feature tensor (batch of one), channel-first.
///
/// The fields are `u16` because that is what the bitstream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FeatureShape {
    pub channels: u16,
    pub height: u16,
    pub width: u16,
}

impl FeatureShape {
    pub const fn new(channels: u16, height: u16, width: u16) -> Self {
        Self {
            channels,
            height,
            width,
        }
    }

    /// Builds a shape from `[C, H, W]` or `[1, C, H, W]` dimensions (as a tensor
    /// reports them); errors when a dimension is zero or does not fit `u16`, or the
    /// batch is not 1.
    pub fn from_dims(dims: &[usize]) -> Result<Self, TilingError> {
        let chw = match dims {
            [c, h, w] | [1, c, h, w] => [*c, *h, *w],
            _ => return Err(TilingError::BadDims(dims.to_vec())),
        };
        let fit = |d: usize| u16::try_from(d).ok().filter(|&d| d > 0);
        match (fit(chw[0]), fit(chw[1]), fit(chw[2])) {
            (Some(c), Some(h), Some(w)) => Ok(Self::new(c, h, w)),
            _ => Err(TilingError::BadDims(dims.to_vec())),
        }
    }

    /// Number of elements, `C * H * W`.
    pub fn len(&self) -> usize {
        usize::from(self.channels) * usize::from(self.height) * usize::from(self.width)
    }

    /// True when any dimension is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Display for FeatureShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.channels, self.height, self.width)
    }
}

/// Why tiling or a plane was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TilingError {
    #[error("tensor dims {0:?} are not [C, H, W] or [1, C, H, W] with 1..=65535 each")]
    BadDims(Vec<usize>),
    #[error("shape {0} has a zero dimension")]
    EmptyShape(FeatureShape),
    #[error("{got} codes given for shape {shape} ({expected} expected)")]
    LengthMismatch {
        shape: FeatureShape,
        expected: usize,
        got: usize,
    },
    #[error("plane is {got_width}x{got_height}, shape {shape} tiles to {width}x{height}")]
    PlaneSizeMismatch {
        shape: FeatureShape,
        width: u32,
        height: u32,
        got_width: u32,
        got_height: u32,
    },
    #[error("plane data has {got} samples, {width}x{height} needs {expected}")]
    PlaneDataLength {
        width: u32,
        height: u32,
        expected: usize,
        got: usize,
    },
    #[error("code {code} at index {index} does not fit {bits} bits")]
    CodeOutOfRange {
        index: usize,
        code: u16,
        bits: BitDepth,
    },
}

/// Layout of the channel tiles in the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TileGrid {
    /// Tile rows, `2^floor(p/2)`.
    pub rows: u32,
    /// Tile columns, `2^ceil(p/2)`.
    pub cols: u32,
    /// Height of one tile (the channel height).
    pub tile_h: u32,
    /// Width of one tile (the channel width).
    pub tile_w: u32,
}

impl TileGrid {
    /// Grid for `channels` tiles of `height x width` (see the module doc for the rule).
    pub fn for_shape(channels: u16, height: u16, width: u16) -> Result<Self, TilingError> {
        let shape = FeatureShape::new(channels, height, width);
        if shape.is_empty() {
            return Err(TilingError::EmptyShape(shape));
        }
        let p = u32::from(channels).next_power_of_two().trailing_zeros();
        Ok(Self {
            rows: 1 << (p / 2),
            cols: 1 << p.div_ceil(2),
            tile_h: u32::from(height),
            tile_w: u32::from(width),
        })
    }

    /// Grid for a [`FeatureShape`].
    pub fn for_feature_shape(shape: FeatureShape) -> Result<Self, TilingError> {
        Self::for_shape(shape.channels, shape.height, shape.width)
    }

    /// Image width in pixels, `cols * tile_w` (at most 256 * 65535, fits `u32`).
    pub fn image_width(&self) -> u32 {
        self.cols * self.tile_w
    }

    /// Image height in pixels, `rows * tile_h`.
    pub fn image_height(&self) -> u32 {
        self.rows * self.tile_h
    }

    /// Number of tiles, `C'`.
    pub fn tiles(&self) -> u32 {
        self.rows * self.cols
    }
}

/// A grayscale image of `bits`-bit samples, row-major, one `u16` per sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plane {
    pub width: u32,
    pub height: u32,
    pub bits: BitDepth,
    pub data: Vec<u16>,
}

impl Plane {
    /// Number of samples `width * height`, `None` on overflow of `usize`.
    pub fn sample_count(width: u32, height: u32) -> Option<usize> {
        usize::try_from(u64::from(width) * u64::from(height)).ok()
    }

    /// Checks that `data` holds exactly `width * height` samples and that every
    /// sample fits `bits` bits.
    pub fn validate(&self) -> Result<(), TilingError> {
        let expected = Self::sample_count(self.width, self.height).unwrap_or(usize::MAX);
        if self.data.len() != expected {
            return Err(TilingError::PlaneDataLength {
                width: self.width,
                height: self.height,
                expected,
                got: self.data.len(),
            });
        }
        check_codes(&self.data, self.bits)
    }

    /// Samples scaled to 8 bits (for display): `v >> (bits - 8)` above 8 bits,
    /// `v * 255 / (2^bits - 1)` below.
    pub fn to_u8_display(&self) -> Vec<u8> {
        let bits = self.bits.get();
        let top = u32::from(self.bits.max_code());
        self.data
            .iter()
            .map(|&v| {
                if bits >= 8 {
                    (v >> (bits - 8)) as u8
                } else {
                    (u32::from(v) * 255 / top) as u8
                }
            })
            .collect()
    }
}

/// Errors on the first code that does not fit `bits` bits.
pub fn check_codes(codes: &[u16], bits: BitDepth) -> Result<(), TilingError> {
    let top = bits.max_code();
    match codes.iter().position(|&c| c > top) {
        Some(index) => Err(TilingError::CodeOutOfRange {
            index,
            code: codes[index],
            bits,
        }),
        None => Ok(()),
    }
}

/// Tiles CHW codes `q` of `shape` into one image (see the module doc for the layout).
pub fn tile(q: &[u16], shape: FeatureShape, bits: BitDepth) -> Result<Plane, TilingError> {
    let grid = TileGrid::for_feature_shape(shape)?;
    if q.len() != shape.len() {
        return Err(TilingError::LengthMismatch {
            shape,
            expected: shape.len(),
            got: q.len(),
        });
    }
    check_codes(q, bits)?;
    let (width, height) = (grid.image_width(), grid.image_height());
    let (h, w) = (usize::from(shape.height), usize::from(shape.width));
    let mut data = vec![0u16; grid.tiles() as usize * h * w];
    let cols = grid.cols as usize;
    let stride = width as usize;
    for (c, channel) in q.chunks_exact(h * w).enumerate() {
        let origin = (c / cols) * h * stride + (c % cols) * w;
        for (y, row) in channel.chunks_exact(w).enumerate() {
            let start = origin + y * stride;
            data[start..start + w].copy_from_slice(row);
        }
    }
    Ok(Plane {
        width,
        height,
        bits,
        data,
    })
}

/// Inverse of [`tile`]: the CHW codes of `shape`, padding tiles dropped.
pub fn untile(plane: &Plane, shape: FeatureShape) -> Result<Vec<u16>, TilingError> {
    let grid = TileGrid::for_feature_shape(shape)?;
    if (plane.width, plane.height) != (grid.image_width(), grid.image_height()) {
        return Err(TilingError::PlaneSizeMismatch {
            shape,
            width: grid.image_width(),
            height: grid.image_height(),
            got_width: plane.width,
            got_height: plane.height,
        });
    }
    plane.validate()?;
    let (h, w) = (usize::from(shape.height), usize::from(shape.width));
    let cols = grid.cols as usize;
    let stride = plane.width as usize;
    let mut out = Vec::with_capacity(shape.len());
    for c in 0..usize::from(shape.channels) {
        let origin = (c / cols) * h * stride + (c % cols) * w;
        for y in 0..h {
            let start = origin + y * stride;
            out.extend_from_slice(&plane.data[start..start + w]);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(bits: u8) -> BitDepth {
        BitDepth::new(bits).unwrap()
    }

    #[test]
    fn paper_grid_sizes() {
        let g = TileGrid::for_shape(512, 8, 16).unwrap();
        assert_eq!((g.rows, g.cols), (16, 32));
        assert_eq!((g.image_width(), g.image_height()), (512, 128));
        let g = TileGrid::for_shape(64, 8, 16).unwrap();
        assert_eq!((g.rows, g.cols), (8, 8));
        let g = TileGrid::for_shape(256, 16, 32).unwrap();
        assert_eq!((g.rows, g.cols), (16, 16));
        let g = TileGrid::for_shape(1, 3, 5).unwrap();
        assert_eq!(
            (g.rows, g.cols, g.image_width(), g.image_height()),
            (1, 1, 5, 3)
        );
    }

    #[test]
    fn non_power_of_two_pads_up() {
        // 5 channels -> C' = 8 -> 2 x 4 tiles.
        let g = TileGrid::for_shape(5, 2, 3).unwrap();
        assert_eq!((g.rows, g.cols), (2, 4));
        let shape = FeatureShape::new(5, 2, 3);
        let q: Vec<u16> = (1..=30).collect();
        let plane = tile(&q, shape, depth(8)).unwrap();
        assert_eq!((plane.width, plane.height), (12, 4));
        // Channel 4 is tile (1, 0); tiles (1, 1..4) are padding.
        assert_eq!(&plane.data[2 * 12..2 * 12 + 3], &[25, 26, 27]);
        assert!(plane.data[2 * 12 + 3..3 * 12].iter().all(|&v| v == 0));
        assert!(plane.data[3 * 12 + 3..].iter().all(|&v| v == 0));
        assert_eq!(untile(&plane, shape).unwrap(), q);
    }

    #[test]
    fn channel_layout_is_row_major_over_tiles() {
        // 4 channels of 1x2 -> 2 x 2 tiles.
        let shape = FeatureShape::new(4, 1, 2);
        let plane = tile(&[1, 2, 3, 4, 5, 6, 7, 8], shape, depth(4)).unwrap();
        assert_eq!((plane.width, plane.height), (4, 2));
        assert_eq!(plane.data, vec![1, 2, 3, 4, 5, 6, 7, 8]);
        let shape = FeatureShape::new(2, 2, 1);
        let plane = tile(&[1, 2, 3, 4], shape, depth(4)).unwrap();
        assert_eq!((plane.width, plane.height), (2, 2));
        assert_eq!(plane.data, vec![1, 3, 2, 4]);
    }

    #[test]
    fn rejects_mismatches() {
        let shape = FeatureShape::new(4, 1, 2);
        assert!(matches!(
            tile(&[0; 7], shape, depth(8)),
            Err(TilingError::LengthMismatch { .. })
        ));
        assert!(matches!(
            tile(&[256; 8], shape, depth(8)),
            Err(TilingError::CodeOutOfRange { code: 256, .. })
        ));
        assert!(matches!(
            tile(&[0; 0], FeatureShape::new(0, 1, 1), depth(8)),
            Err(TilingError::EmptyShape(_))
        ));
        let plane = Plane {
            width: 3,
            height: 2,
            bits: depth(8),
            data: vec![0; 6],
        };
        assert!(matches!(
            untile(&plane, shape),
            Err(TilingError::PlaneSizeMismatch { .. })
        ));
        let plane = Plane {
            width: 4,
            height: 2,
            bits: depth(8),
            data: vec![0; 7],
        };
        assert!(matches!(
            untile(&plane, shape),
            Err(TilingError::PlaneDataLength { .. })
        ));
    }

    #[test]
    fn display_scaling() {
        let p = |bits, data| Plane {
            width: 2,
            height: 1,
            bits: depth(bits),
            data,
        };
        assert_eq!(p(8, vec![0, 255]).to_u8_display(), vec![0, 255]);
        assert_eq!(p(16, vec![256, 65535]).to_u8_display(), vec![1, 255]);
        assert_eq!(p(2, vec![1, 3]).to_u8_display(), vec![85, 255]);
    }

    #[test]
    fn shape_from_dims() {
        assert_eq!(
            FeatureShape::from_dims(&[1, 64, 8, 16]).unwrap(),
            FeatureShape::new(64, 8, 16)
        );
        assert_eq!(
            FeatureShape::from_dims(&[64, 8, 16]).unwrap(),
            FeatureShape::new(64, 8, 16)
        );
        assert!(FeatureShape::from_dims(&[2, 64, 8, 16]).is_err());
        assert!(FeatureShape::from_dims(&[70000, 8, 16]).is_err());
        assert!(FeatureShape::from_dims(&[0, 8, 16]).is_err());
    }
}
