//! The Cityscapes loader on small trees written in the Cityscapes layout.

use std::path::{Path, PathBuf};

use splitfeat_data::cityscapes::{FramePaths, write_frame};
use splitfeat_data::image::{PixelFormat, write_png, write_png_gray16};
use splitfeat_data::{CityscapesDataset, DataError, Dataset, Sample, Split, render_scene};

/// A fresh, empty directory for one test.
fn tree(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("cityscapes-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn frame(root: &Path, city: &str, n: u32) -> FramePaths {
    FramePaths::new(root, Split::Val, city, &format!("{city}_000000_{n:06}"))
}

/// Two synthetic frames in two cities, written in reverse order.
fn two_frames(root: &Path) -> [Sample; 2] {
    let a = render_scene(5, 64, 32).unwrap();
    let b = render_scene(6, 64, 32).unwrap();
    write_frame(&frame(root, "zurich", 19), &b).unwrap();
    write_frame(&frame(root, "aachen", 7), &a).unwrap();
    [a, b]
}

#[test]
fn written_frames_read_back() {
    let root = tree("round_trip");
    let [a, b] = two_frames(&root);
    let ds = CityscapesDataset::open(&root, Split::Val, 64, 32).unwrap();
    assert_eq!(ds.len(), 2);
    assert!(
        ds.frame(0)
            .unwrap()
            .image
            .ends_with("aachen/aachen_000000_000007_leftImg8bit.png")
    );
    for (i, want) in [a, b].iter().enumerate() {
        let got = ds.get(i).unwrap();
        assert_eq!(got.rgb, want.rgb);
        assert_eq!(got.labels, want.labels);
        for (g, w) in got.disparity.iter().zip(&want.disparity) {
            assert!((g - w).abs() <= 1.0 / 512.0 + 1e-6, "{g} vs {w}");
        }
    }
    assert!(matches!(
        ds.get(2),
        Err(DataError::IndexOutOfRange { index: 2, len: 2 })
    ));
}

#[test]
fn label_ids_and_disparity_codes_are_decoded() {
    let root = tree("codes");
    let f = frame(&root, "bonn", 1);
    std::fs::create_dir_all(f.image.parent().unwrap()).unwrap();
    std::fs::create_dir_all(f.labels.parent().unwrap()).unwrap();
    std::fs::create_dir_all(f.disparity.parent().unwrap()).unwrap();
    write_png(&f.image, 4, 1, PixelFormat::Rgb, &[10; 12]).unwrap();
    // labelIds: unlabeled, road, car, license plate (-1 -> ignore)
    write_png(&f.labels, 4, 1, PixelFormat::Gray, &[0, 7, 26, 34]).unwrap();
    write_png_gray16(&f.disparity, 4, 1, &[0, 1, 257, 2561]).unwrap();
    let s = CityscapesDataset::open(&root, Split::Val, 4, 1)
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(s.labels, vec![255, 0, 13, 255]);
    assert_eq!(s.disparity, vec![0.0, 0.0, 1.0, 10.0]);
}

#[test]
fn resizing_scales_disparity_with_width() {
    let root = tree("resize");
    let [a, _] = two_frames(&root);
    let ds = CityscapesDataset::open(&root, Split::Val, 32, 16).unwrap();
    let s = ds.get(0).unwrap();
    assert_eq!((s.width, s.height), (32, 16));
    assert_eq!(s.rgb.len(), 32 * 16 * 3);
    // Nearest neighbour: output (r, c) takes source (2r + 1, 2c + 1).
    for r in 0..16 {
        for c in 0..32 {
            let src = (2 * r + 1) * 64 + 2 * c + 1;
            assert_eq!(s.labels[r * 32 + c], a.labels[src]);
            let want = a.disparity[src] * 0.5;
            assert!((s.disparity[r * 32 + c] - want).abs() <= 0.5 / 512.0 + 1e-6);
        }
    }
    let up = CityscapesDataset::open(&root, Split::Val, 128, 64)
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(up.labels.len(), 128 * 64);
}

fn message(e: DataError) -> String {
    e.to_string()
}

#[test]
fn missing_files_are_named() {
    let root = tree("missing");
    two_frames(&root);
    let gone = frame(&root, "zurich", 19).disparity;
    std::fs::remove_file(&gone).unwrap();
    let err = CityscapesDataset::open(&root, Split::Val, 64, 32).unwrap_err();
    assert!(matches!(err, DataError::MissingFile { ref path, .. } if *path == gone));
    assert!(message(err).contains("zurich_000000_000019_disparity.png"));

    let err = CityscapesDataset::open(&root, Split::Train, 64, 32).unwrap_err();
    assert!(matches!(err, DataError::Io { ref path, .. } if path.ends_with("leftImg8bit/train")));

    let empty = tree("empty");
    std::fs::create_dir_all(empty.join("leftImg8bit/val/aachen")).unwrap();
    let err = CityscapesDataset::open(&empty, Split::Val, 64, 32).unwrap_err();
    assert!(matches!(err, DataError::Empty { .. }));
}

#[test]
fn a_file_deleted_after_open_is_named() {
    let root = tree("deleted");
    two_frames(&root);
    let ds = CityscapesDataset::open(&root, Split::Val, 64, 32).unwrap();
    let gone = frame(&root, "aachen", 7).labels;
    std::fs::remove_file(&gone).unwrap();
    let err = ds.get(0).unwrap_err();
    assert!(message(err).contains("aachen_000000_000007_gtFine_labelIds.png"));
}

#[test]
fn wrong_sizes_are_named() {
    let root = tree("size");
    two_frames(&root);
    let f = frame(&root, "aachen", 7);
    write_png_gray16(&f.disparity, 60, 32, &[1; 60 * 32]).unwrap();
    let err = CityscapesDataset::open(&root, Split::Val, 64, 32)
        .unwrap()
        .get(0)
        .unwrap_err();
    assert!(matches!(
        err,
        DataError::SizeMismatch { ref path, found_width: 60, width: 64, .. } if *path == f.disparity
    ));
}

#[test]
fn garbage_and_wrong_depths_are_named() {
    let root = tree("garbage");
    two_frames(&root);
    let ds = CityscapesDataset::open(&root, Split::Val, 64, 32).unwrap();
    let f = frame(&root, "aachen", 7);

    std::fs::write(&f.image, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let err = ds.get(0).unwrap_err();
    assert!(
        matches!(err, DataError::Decode { ref path, .. } if *path == f.image),
        "{err}"
    );

    std::fs::write(&f.image, b"").unwrap();
    assert!(
        matches!(ds.get(0).unwrap_err(), DataError::Decode { ref path, .. } if *path == f.image)
    );

    write_png(&f.image, 64, 32, PixelFormat::Gray, &[0; 64 * 32]).unwrap();
    let err = ds.get(0).unwrap_err();
    assert!(
        matches!(err, DataError::Format { ref path, .. } if *path == f.image),
        "{err}"
    );

    write_png(&f.image, 64, 32, PixelFormat::Rgb, &[0; 64 * 32 * 3]).unwrap();
    write_png_gray16(&f.labels, 64, 32, &[7; 64 * 32]).unwrap();
    let err = ds.get(0).unwrap_err();
    assert!(
        matches!(err, DataError::Format { ref path, .. } if *path == f.labels),
        "{err}"
    );
    assert!(message(err).contains("16 bits"));

    write_png(&f.labels, 64, 32, PixelFormat::Gray, &[7; 64 * 32]).unwrap();
    write_png(&f.disparity, 64, 32, PixelFormat::Gray, &[1; 64 * 32]).unwrap();
    let err = ds.get(0).unwrap_err();
    assert!(
        matches!(err, DataError::Format { ref path, .. } if *path == f.disparity),
        "{err}"
    );
    assert!(message(err).contains("16-bit"));

    // Truncated in the middle of the image data.
    write_png(
        &f.image,
        64,
        32,
        PixelFormat::Rgb,
        &(0..64 * 32 * 3).map(|i| i as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    let bytes = std::fs::read(&f.image).unwrap();
    std::fs::write(&f.image, &bytes[..bytes.len() / 2]).unwrap();
    assert!(
        matches!(ds.get(0).unwrap_err(), DataError::Decode { ref path, .. } if *path == f.image)
    );
}

#[test]
fn bad_sizes_are_rejected_at_open() {
    let root = tree("bad_size");
    two_frames(&root);
    assert!(matches!(
        CityscapesDataset::open(&root, Split::Val, 0, 32),
        Err(DataError::InvalidSize { .. })
    ));
}
