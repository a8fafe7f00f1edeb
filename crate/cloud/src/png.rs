//! The response images: the core's colourings (`viz`), put in PNGs with the png
//! crate's `Fast` compression.
//!
//! `TaskOutput::to_png` uses the crate's default (`Balanced`) compression. For the
//! three 256x128 outputs of the `tiny` model that took 17 ms per request on the
//! reference machine, 46 % of the head time, against under 1 ms with `Fast`
//! (docs/results-cloud.md). The pixels are identical; the files are somewhat larger,
//! which costs nothing next to that on the networks this server is meant for.

use splitfeat_core::runtime::TaskOutput;
use splitfeat_core::viz::{disparity_to_rgb, labels_to_rgb};

/// Packed RGB of an output, coloured exactly as `TaskOutput::to_png` colours it.
pub fn output_rgb(output: &TaskOutput, max_disparity: f32) -> Vec<u8> {
    match output {
        TaskOutput::Seg(labels) => labels_to_rgb(labels),
        TaskOutput::Disp(d) => disparity_to_rgb(d, max_disparity),
        TaskOutput::Recon(rgb) => rgb.clone(),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("PNG encoding failed: {0}")]
pub struct PngError(String);

/// 8-bit RGB pixels as a PNG.
pub fn encode_rgb(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>, PngError> {
    if rgb.len() != width as usize * height as usize * 3 {
        return Err(PngError(format!(
            "{} bytes for {width}x{height} RGB",
            rgb.len()
        )));
    }
    let mut out = Vec::with_capacity(rgb.len() / 2);
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    let mut writer = enc.write_header().map_err(|e| PngError(e.to_string()))?;
    writer
        .write_image_data(rgb)
        .map_err(|e| PngError(e.to_string()))?;
    writer.finish().map_err(|e| PngError(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Same pixels as the core's PNG, whatever the compression.
    #[test]
    fn pixels_match_the_core_encoder() {
        let (w, h) = (8u32, 4u32);
        let outputs = [
            TaskOutput::Seg((0..32).map(|i| (i % 20) as u8).collect()),
            TaskOutput::Disp((0..32).map(|i| i as f32 * 0.5 - 2.0).collect()),
            TaskOutput::Recon((0..96).map(|i| (i * 5) as u8).collect()),
        ];
        for out in &outputs {
            let ours = encode_rgb(w, h, &output_rgb(out, 10.0)).unwrap();
            let core = out.to_png(w, h, 10.0).unwrap();
            assert_eq!(decode(&ours), decode(&core));
        }
        assert!(encode_rgb(w, h, &[0; 5]).is_err());
    }

    fn decode(bytes: &[u8]) -> Vec<u8> {
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        buf
    }
}
