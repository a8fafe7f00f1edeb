//! Cityscapes in its published directory layout, behind the same [`Dataset`] API.
//!
//! ```text
//! {root}/leftImg8bit/{split}/{city}/{city}_{seq}_{frame}_leftImg8bit.png   8-bit RGB
//! {root}/gtFine/{split}/{city}/{city}_{seq}_{frame}_gtFine_labelIds.png    8-bit grey, labelIds
//! {root}/disparity/{split}/{city}/{city}_{seq}_{frame}_disparity.png       16-bit grey
//! ```
//! Label ids map to the 19 trainIds (others to 255). A disparity pixel `p > 0` holds
//! `(p - 1) / 256` pixels at the full 2048 px width, `p = 0` is invalid. Samples are
//! resized to the requested size: the image by area averaging (bilinear when
//! enlarging), labels and disparity by nearest neighbour, disparity values scaled by
//! the width ratio because they are measured in pixels.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use splitfeat_core::classes::{IGNORE_LABEL, label_id_to_train_id};

use crate::image::{PixelFormat, write_png, write_png_gray16};
use crate::{DataError, Dataset, Sample, Split};

const IMAGE_SUFFIX: &str = "_leftImg8bit.png";
const LABEL_SUFFIX: &str = "_gtFine_labelIds.png";
const DISPARITY_SUFFIX: &str = "_disparity.png";

/// Largest number of pixels accepted in one source PNG (Cityscapes: 2 Mpx), so that
/// a corrupt header cannot make the loader allocate without bound.
const MAX_SOURCE_PIXELS: u64 = 1 << 26;

/// The three files of one Cityscapes frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramePaths {
    pub image: PathBuf,
    pub labels: PathBuf,
    pub disparity: PathBuf,
}

impl FramePaths {
    /// Paths of frame `stem` (`{city}_{seq}_{frame}`) of `city` in `split` under `root`.
    pub fn new(root: &Path, split: Split, city: &str, stem: &str) -> Self {
        let dir = |kind: &str| root.join(kind).join(split.dir_name()).join(city);
        FramePaths {
            image: dir("leftImg8bit").join(format!("{stem}{IMAGE_SUFFIX}")),
            labels: dir("gtFine").join(format!("{stem}{LABEL_SUFFIX}")),
            disparity: dir("disparity").join(format!("{stem}{DISPARITY_SUFFIX}")),
        }
    }
}

/// One split of a Cityscapes tree; frames in sorted path order.
#[derive(Debug, Clone)]
pub struct CityscapesDataset {
    pub split: Split,
    pub width: u32,
    pub height: u32,
    frames: Vec<FramePaths>,
}

impl CityscapesDataset {
    /// Lists the frames of `split` under `root`, checking that each image has its
    /// label and disparity files. Samples come out at `width` x `height`.
    pub fn open(
        root: impl AsRef<Path>,
        split: Split,
        width: u32,
        height: u32,
    ) -> Result<Self, DataError> {
        let root = root.as_ref();
        if width == 0 || height == 0 || width > crate::MAX_SIDE || height > crate::MAX_SIDE {
            return Err(DataError::InvalidSize {
                width,
                height,
                max: crate::MAX_SIDE,
            });
        }
        let split_dir = root.join("leftImg8bit").join(split.dir_name());
        let mut frames = Vec::new();
        for city_dir in sorted_entries(&split_dir)? {
            if !city_dir.is_dir() {
                continue;
            }
            let Some(city) = city_dir
                .file_name()
                .and_then(|c| c.to_str())
                .map(str::to_owned)
            else {
                continue;
            };
            for file in sorted_entries(&city_dir)? {
                let Some(stem) = file
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(IMAGE_SUFFIX))
                else {
                    continue;
                };
                let frame = FramePaths::new(root, split, &city, stem);
                for path in [&frame.labels, &frame.disparity] {
                    if !path.is_file() {
                        return Err(DataError::MissingFile {
                            path: path.clone(),
                            image: frame.image.clone(),
                        });
                    }
                }
                frames.push(frame);
            }
        }
        if frames.is_empty() {
            return Err(DataError::Empty { path: split_dir });
        }
        Ok(CityscapesDataset {
            split,
            width,
            height,
            frames,
        })
    }

    /// The files of frame `index`.
    pub fn frame(&self, index: usize) -> Option<&FramePaths> {
        self.frames.get(index)
    }
}

impl Dataset for CityscapesDataset {
    fn len(&self) -> usize {
        self.frames.len()
    }

    fn get(&self, index: usize) -> Result<Sample, DataError> {
        let frame = self.frames.get(index).ok_or(DataError::IndexOutOfRange {
            index,
            len: self.frames.len(),
        })?;
        let full = load_frame(frame)?;
        Ok(resize_sample(&full, self.width, self.height))
    }
}

/// Reads one frame at its stored size.
pub fn load_frame(frame: &FramePaths) -> Result<Sample, DataError> {
    let image = read_png(&frame.image)?;
    let rgb = match (image.color, image.depth) {
        (png::ColorType::Rgb, png::BitDepth::Eight) => image.data,
        (png::ColorType::Rgba, png::BitDepth::Eight) => image
            .data
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        (c, d) => return Err(format_error(&frame.image, "8-bit RGB", c, d)),
    };
    let (width, height) = (image.width, image.height);

    let labels = read_png(&frame.labels)?;
    check_gray(
        &labels,
        &frame.labels,
        png::BitDepth::Eight,
        "8-bit greyscale labelIds",
    )?;
    check_size(&labels, &frame.labels, width, height)?;
    let labels = labels
        .data
        .iter()
        .map(|&id| label_id_to_train_id(id))
        .collect();

    let disp = read_png(&frame.disparity)?;
    check_gray(
        &disp,
        &frame.disparity,
        png::BitDepth::Sixteen,
        "16-bit greyscale disparity",
    )?;
    check_size(&disp, &frame.disparity, width, height)?;
    let disparity = disp
        .data
        .chunks_exact(2)
        .map(|b| {
            let p = u16::from_be_bytes([b[0], b[1]]);
            if p == 0 { 0.0 } else { (p - 1) as f32 / 256.0 }
        })
        .collect();

    Ok(Sample {
        width,
        height,
        rgb,
        labels,
        disparity,
    })
}

/// Writes a sample as one frame of a Cityscapes tree (trainIds back to labelIds,
/// disparity to 16-bit with `p = 256 d + 1`). Creates the directories it needs.
pub fn write_frame(frame: &FramePaths, sample: &Sample) -> Result<(), DataError> {
    for path in [&frame.image, &frame.labels, &frame.disparity] {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
        }
    }
    let (w, h) = (sample.width, sample.height);
    write_png(&frame.image, w, h, PixelFormat::Rgb, &sample.rgb)?;
    let to_label_id = train_to_label_ids();
    let ids: Vec<u8> = sample
        .labels
        .iter()
        .map(|&t| to_label_id[t as usize])
        .collect();
    write_png(&frame.labels, w, h, PixelFormat::Gray, &ids)?;
    let disp: Vec<u16> = sample
        .disparity
        .iter()
        .map(|&d| {
            if d > 0.0 {
                (d * 256.0 + 1.0).round().min(65535.0) as u16
            } else {
                0
            }
        })
        .collect();
    write_png_gray16(&frame.disparity, w, h, &disp)
}

/// For each trainId the labelId that maps to it; 0 ("unlabeled") for ignore.
fn train_to_label_ids() -> [u8; 256] {
    let mut table = [0u8; 256];
    for id in (0..=u8::MAX).rev() {
        let t = label_id_to_train_id(id);
        if t != IGNORE_LABEL {
            table[t as usize] = id;
        }
    }
    table
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        out.push(entry.map_err(|e| DataError::io(dir, e))?.path());
    }
    out.sort();
    Ok(out)
}

struct Decoded {
    width: u32,
    height: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    data: Vec<u8>,
}

fn read_png(path: &Path) -> Result<Decoded, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let decode = |source| DataError::Decode {
        path: path.to_owned(),
        source,
    };
    let mut reader = png::Decoder::new(BufReader::new(file))
        .read_info()
        .map_err(decode)?;
    let (w, h) = {
        let info = reader.info();
        (info.width, info.height)
    };
    if w as u64 * h as u64 > MAX_SOURCE_PIXELS {
        return Err(DataError::Format {
            path: path.to_owned(),
            expected: "at most 64 Mpx",
            found: format!("{w}x{h}"),
        });
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| DataError::Format {
            path: path.to_owned(),
            expected: "an image that fits in memory",
            found: format!("{w}x{h}"),
        })?;
    let mut data = vec![0; size];
    let out = reader.next_frame(&mut data).map_err(decode)?;
    data.truncate(out.buffer_size());
    Ok(Decoded {
        width: out.width,
        height: out.height,
        color: out.color_type,
        depth: out.bit_depth,
        data,
    })
}

fn format_error(
    path: &Path,
    expected: &'static str,
    c: png::ColorType,
    d: png::BitDepth,
) -> DataError {
    DataError::Format {
        path: path.to_owned(),
        expected,
        found: format!("{c:?} at {} bits", d as u8),
    }
}

fn check_gray(
    img: &Decoded,
    path: &Path,
    depth: png::BitDepth,
    expected: &'static str,
) -> Result<(), DataError> {
    if img.color == png::ColorType::Grayscale && img.depth == depth {
        Ok(())
    } else {
        Err(format_error(path, expected, img.color, img.depth))
    }
}

fn check_size(img: &Decoded, path: &Path, width: u32, height: u32) -> Result<(), DataError> {
    if img.width == width && img.height == height {
        return Ok(());
    }
    Err(DataError::SizeMismatch {
        path: path.to_owned(),
        width,
        height,
        found_width: img.width,
        found_height: img.height,
    })
}

/// Resizes a sample: image by area averaging (bilinear when enlarging), labels and
/// disparity by nearest neighbour, disparity scaled by the width ratio.
pub fn resize_sample(s: &Sample, width: u32, height: u32) -> Sample {
    if s.width == width && s.height == height {
        return s.clone();
    }
    let (sw, sh) = (s.width as usize, s.height as usize);
    let (dw, dh) = (width as usize, height as usize);
    let xs = nearest_index(sw, dw);
    let ys = nearest_index(sh, dh);
    let ratio = width as f32 / s.width as f32;
    let mut labels = Vec::with_capacity(dw * dh);
    let mut disparity = Vec::with_capacity(dw * dh);
    for &y in &ys {
        for &x in &xs {
            labels.push(s.labels[y * sw + x]);
            disparity.push(s.disparity[y * sw + x] * ratio);
        }
    }
    Sample {
        width,
        height,
        rgb: resize_rgb(&s.rgb, sw, sh, dw, dh),
        labels,
        disparity,
    }
}

fn nearest_index(src: usize, dst: usize) -> Vec<usize> {
    (0..dst)
        .map(|i| (((i as f64 + 0.5) * src as f64 / dst as f64) as usize).min(src - 1))
        .collect()
}

/// Source taps and weights of each output position along one axis.
fn axis_weights(src: usize, dst: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|i| {
            if scale >= 1.0 {
                // Area average: each source pixel weighs by its overlap.
                let (a, b) = (i as f64 * scale, (i + 1) as f64 * scale);
                let first = a.floor() as usize;
                let last = (b.ceil() as usize).min(src);
                let w = (first..last)
                    .map(|j| ((b.min(j as f64 + 1.0) - a.max(j as f64)) / scale) as f32)
                    .collect();
                (first, w)
            } else {
                let c = ((i as f64 + 0.5) * scale - 0.5).clamp(0.0, (src - 1) as f64);
                let j = (c.floor() as usize).min(src.saturating_sub(2));
                let t = (c - j as f64) as f32;
                if src == 1 {
                    (0, vec![1.0])
                } else {
                    (j, vec![1.0 - t, t])
                }
            }
        })
        .collect()
}

fn resize_rgb(rgb: &[u8], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<u8> {
    let wx = axis_weights(sw, dw);
    let wy = axis_weights(sh, dh);
    let mut rows = vec![0f32; sh * dw * 3];
    for y in 0..sh {
        for (x, (first, ws)) in wx.iter().enumerate() {
            let mut acc = [0f32; 3];
            for (k, &w) in ws.iter().enumerate() {
                let p = (y * sw + first + k) * 3;
                for c in 0..3 {
                    acc[c] += w * rgb[p + c] as f32;
                }
            }
            rows[(y * dw + x) * 3..][..3].copy_from_slice(&acc);
        }
    }
    let mut out = vec![0u8; dw * dh * 3];
    for (y, (first, ws)) in wy.iter().enumerate() {
        for x in 0..dw {
            for c in 0..3 {
                let mut acc = 0f32;
                for (k, &w) in ws.iter().enumerate() {
                    acc += w * rows[((first + k) * dw + x) * 3 + c];
                }
                out[(y * dw + x) * 3 + c] = (acc + 0.5).clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_weights_sum_to_one() {
        for (src, dst) in [(2048, 256), (10, 3), (3, 10), (1, 4), (7, 7)] {
            for (_, w) in axis_weights(src, dst) {
                let s: f32 = w.iter().sum();
                assert!((s - 1.0).abs() < 1e-4, "{src}->{dst}: {s}");
            }
        }
    }

    #[test]
    fn label_ids_round_trip() {
        let t = train_to_label_ids();
        for train in 0..19u8 {
            assert_eq!(label_id_to_train_id(t[train as usize]), train);
        }
        assert_eq!(label_id_to_train_id(t[IGNORE_LABEL as usize]), IGNORE_LABEL);
    }

    #[test]
    fn downscale_averages_and_scales_disparity() {
        let s = Sample {
            width: 4,
            height: 2,
            rgb: (0..24).map(|i| (i * 10) as u8).collect(),
            labels: vec![1, 2, 3, 4, 5, 6, 7, 8],
            disparity: vec![8.0; 8],
        };
        let r = resize_sample(&s, 2, 1);
        // First output pixel: mean of source pixels (0,0),(1,0),(0,1),(1,1), red channel.
        let red = [0u32, 30, 120, 150];
        assert_eq!(r.rgb[0] as u32, red.iter().sum::<u32>() / 4);
        assert_eq!(r.labels, vec![6, 8]);
        assert_eq!(r.disparity, vec![4.0, 4.0]);
    }
}
