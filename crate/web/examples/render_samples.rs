//! Renders the page's bundled inputs from the synthetic street-scene generator:
//! a few validation scenes at the model input size (PNG), one wider scene (to show
//! resizing), and a forward drive as one JPEG sprite sheet (frames stacked
//! vertically), plus `index.json` describing them.
//!
//! ```text
//! cargo run -p splitfeat-web --example render_samples -- www/samples
//! ```

use std::path::{Path, PathBuf};

use splitfeat_data::image::{PixelFormat, write_png};
use splitfeat_data::{DEFAULT_HEIGHT, DEFAULT_WIDTH, drive_frame, render_scene};

/// Validation-split seeds (the val split is seeds 0..200).
const SCENES: [u64; 4] = [3, 11, 24, 57];
const WIDE_SCENE: u64 = 42;
const DRIVE_SEED: u64 = 7;
const DRIVE_FRAMES: u32 = 64;
/// Every second frame of the 25 frames/s sequence: 20 m/s.
const DRIVE_STRIDE: u32 = 2;
const DRIVE_QUALITY: u8 = 85;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "www/samples".into()),
    );
    std::fs::create_dir_all(&out)?;
    let (w, h) = (DEFAULT_WIDTH, DEFAULT_HEIGHT);
    let mut entries = Vec::new();

    for seed in SCENES {
        let s = render_scene(seed, w, h)?;
        let file = format!("scene-{seed}.png");
        write_png(&out.join(&file), w, h, PixelFormat::Rgb, &s.rgb)?;
        entries.push(format!(
            r#"{{"kind":"image","file":"{file}","label":"Street {seed}","width":{w},"height":{h}}}"#
        ));
    }
    let (ww, wh) = (w * 2, h * 2);
    let wide = render_scene(WIDE_SCENE, ww, wh)?;
    let file = format!("scene-{WIDE_SCENE}-{ww}x{wh}.png");
    write_png(&out.join(&file), ww, wh, PixelFormat::Rgb, &wide.rgb)?;
    entries.push(format!(
        r#"{{"kind":"image","file":"{file}","label":"Street {WIDE_SCENE} ({ww}x{wh})","width":{ww},"height":{wh}}}"#
    ));

    let mut sheet = Vec::with_capacity((w * h * 3 * DRIVE_FRAMES) as usize);
    for k in 0..DRIVE_FRAMES {
        sheet.extend_from_slice(&drive_frame(DRIVE_SEED, k * DRIVE_STRIDE, w, h)?.rgb);
    }
    let file = "drive.jpg";
    write_jpeg(&out.join(file), w, h * DRIVE_FRAMES, &sheet)?;
    entries.push(format!(
        r#"{{"kind":"drive","file":"{file}","label":"Drive (sequence {DRIVE_SEED})","width":{w},"height":{h},"frames":{DRIVE_FRAMES},"fps":{}}}"#,
        25 / DRIVE_STRIDE
    ));

    let index = format!("{{\"samples\":[\n  {}\n]}}\n", entries.join(",\n  "));
    std::fs::write(out.join("index.json"), index)?;
    for e in std::fs::read_dir(&out)? {
        let e = e?;
        println!("{:>8}  {}", e.metadata()?.len(), e.path().display());
    }
    Ok(())
}

fn write_jpeg(
    path: &Path,
    width: u32,
    height: u32,
    rgb: &[u8],
) -> Result<(), Box<dyn std::error::Error>> {
    let mut bytes = Vec::new();
    let encoder = jpeg_encoder::Encoder::new(&mut bytes, DRIVE_QUALITY);
    encoder.encode(
        rgb,
        u16::try_from(width)?,
        u16::try_from(height)?,
        jpeg_encoder::ColorType::Rgb,
    )?;
    std::fs::write(path, bytes)?;
    Ok(())
}
