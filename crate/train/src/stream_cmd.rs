//! Feature bitstreams as files (docs/bitstream.md): `splitfeat encode` runs a zoo
//! model's edge on an image and writes the stream the browser would send;
//! `splitfeat decode` decodes one (header, shape, the features as a raw dump or the
//! tiled code image as a PNG); `splitfeat inspect` reads the header fields and checks
//! the CRC without trusting anything. With them another implementation of the format
//! can be checked against this one (tests/conformance/).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::Device;
use sha2::{Digest, Sha256};
use splitfeat_core::api::pipeline_status_and_code;
use splitfeat_core::bitstream::{self, HEADER_LEN, Limits, MIN_LEN, TRAILER_LEN};
use splitfeat_core::codec::CodecId;
use splitfeat_core::pipeline::{self, Decoded, PipelineError};
use splitfeat_core::quant::BitDepth;
use splitfeat_core::runtime::EdgeRuntime;
use splitfeat_core::tiling::Plane;
use splitfeat_core::viz::{RgbImage, decode_png_rgb};

use crate::fsutil::write_atomic;
use splitfeat_core::zoo::Zoo;

#[derive(Debug, Clone, clap::Args)]
pub struct EncodeArgs {
    /// Input image (PNG: RGB, RGBA, grey; any size, resized to the model's input).
    pub image: PathBuf,
    /// Zoo model (name or id in the manifest) whose edge encodes the image.
    #[arg(long)]
    pub model: String,
    /// Output file for the bitstream.
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
    /// Codec: png, ans or jpeg<quality> (jpeg90).
    #[arg(long, default_value = "png")]
    pub codec: CodecId,
    /// Bit depth of the quantized features (2..=16; jpeg: 8); default: the model's.
    #[arg(long)]
    pub bits: Option<BitDepth>,
    /// Assets directory holding manifest.json.
    #[arg(long, default_value = "assets")]
    pub assets: PathBuf,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DecodeArgs {
    /// Bitstream file.
    pub file: PathBuf,
    /// Write the decoded features as raw little-endian f32, CHW order.
    #[arg(long)]
    pub dump: Option<PathBuf>,
    /// Write the decoded tiled code image as a grayscale PNG (scaled to 8 bits).
    #[arg(long)]
    pub png: Option<PathBuf>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct InspectArgs {
    /// Bitstream file.
    pub file: PathBuf,
}

/// The sha256 of decoded features as raw little-endian f32 (what `--dump` writes):
/// the tensor hash of the conformance suite.
pub fn tensor_sha256(values: &[f32]) -> String {
    let mut hasher = Sha256::new();
    for v in values {
        hasher.update(v.to_le_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Reads a PNG as packed RGB.
pub fn read_png_rgb(path: &Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    decode_png_rgb(&bytes).with_context(|| format!("{} is not a usable PNG", path.display()))
}

pub fn encode(args: &EncodeArgs) -> Result<()> {
    let zoo = Zoo::open(&args.assets)?;
    let entry = zoo
        .find(&args.model)
        .with_context(|| format!("in {}", args.assets.display()))?;
    let edge = zoo.edge(entry)?;
    let runtime =
        EdgeRuntime::load(entry.config.clone(), &edge, &Device::flex()).with_context(|| {
            format!(
                "{} does not fit the architecture in the manifest",
                zoo.path(&entry.edge).display()
            )
        })?;
    let image = read_png_rgb(&args.image)?;
    let bits = args.bits.unwrap_or(entry.bits);
    let encoded = futures_lite::future::block_on(runtime.encode_image(
        &image.rgb,
        image.height,
        image.width,
        args.codec,
        bits,
    ))?;
    write_atomic(&args.out, &encoded.bytes)?;
    let shape = encoded.header.shape;
    println!(
        "wrote {} ({} bytes, {}, {} bits, {}x{}x{}, {:.4} bits per element, model {})",
        args.out.display(),
        encoded.bytes.len(),
        encoded.header.codec,
        bits,
        shape.channels,
        shape.height,
        shape.width,
        encoded.bits_per_element(),
        entry.id
    );
    Ok(())
}

fn read_stream(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let most = (bitstream::stream_len(Limits::default().max_payload)) as u64;
    if meta.len() > most {
        bail!(
            "{}: {} bytes, more than any valid stream ({most})",
            path.display(),
            meta.len()
        );
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// The error code the cloud would answer for this failure (docs/api.md).
pub fn error_code(e: &PipelineError) -> &'static str {
    pipeline_status_and_code(e).1
}

pub fn decode(args: &DecodeArgs) -> Result<()> {
    let bytes = read_stream(&args.file)?;
    let (decoded, plane) = decode_with_plane(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: {} ({e})", args.file.display(), error_code(&e)))?;
    let h = &decoded.header;
    let mut out = std::io::stdout().lock();
    print_header(&mut out, h)?;
    let v = &decoded.values;
    let (lo, hi) = v
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len().max(1) as f64;
    writeln!(out, "elements: {}", v.len())?;
    writeln!(out, "decoded range: {lo} .. {hi}, mean {mean:.6}")?;
    writeln!(
        out,
        "bits per element: {:.4}",
        pipeline::bits_per_element(bytes.len(), h.shape)
    )?;
    writeln!(out, "tensor sha256: {}", tensor_sha256(v))?;
    writeln!(out, "code image: {}x{}", plane.width, plane.height)?;
    if let Some(path) = &args.dump {
        let raw: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        write_atomic(path, &raw)?;
        writeln!(out, "wrote {} (f32 LE, CHW)", path.display())?;
    }
    if let Some(path) = &args.png {
        write_atomic(path, &plane_png(&plane)?)?;
        writeln!(out, "wrote {} (tiled codes, 8-bit grey)", path.display())?;
    }
    Ok(())
}

/// Decodes a stream, keeping the tiled code image as well.
pub fn decode_with_plane(bytes: &[u8]) -> Result<(Decoded, Plane), PipelineError> {
    let decoded = pipeline::decode_features(bytes, &Limits::default())?;
    let (header, payload) = bitstream::parse(bytes, &Limits::default())?;
    let plane = pipeline::decode_plane(&header, payload)?;
    Ok((decoded, plane))
}

fn plane_png(plane: &Plane) -> Result<Vec<u8>> {
    let mut png_bytes = Vec::new();
    let mut enc = png::Encoder::new(&mut png_bytes, plane.width, plane.height);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header()?;
    writer.write_image_data(&plane.to_u8_display())?;
    writer.finish()?;
    Ok(png_bytes)
}

fn print_header(out: &mut impl Write, h: &bitstream::Header) -> Result<()> {
    writeln!(out, "model id: {}", h.model_id)?;
    writeln!(out, "codec: {}", h.codec)?;
    writeln!(out, "bits: {}", h.bits)?;
    writeln!(
        out,
        "shape: {}x{}x{} (CxHxW)",
        h.shape.channels, h.shape.height, h.shape.width
    )?;
    writeln!(out, "range: {} .. {}", h.min, h.max)?;
    Ok(())
}

/// The raw header fields and the CRC of a stream, read without validating anything
/// (so a damaged stream can be looked at), then the verdict of the full decoder.
pub fn inspect_text(bytes: &[u8]) -> (String, Result<(), PipelineError>) {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "length: {} bytes", bytes.len());
    if bytes.len() >= HEADER_LEN {
        let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
        let u32_at =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let _ = writeln!(s, "magic: {:?}", String::from_utf8_lossy(&bytes[0..4]));
        let _ = writeln!(s, "version: {}", bytes[4]);
        let _ = writeln!(s, "model id: {}", hex::encode(&bytes[5..13]));
        let _ = writeln!(s, "codec tag: {} (parameter {})", bytes[13], bytes[14]);
        let _ = writeln!(s, "bits: {}", bytes[15]);
        let _ = writeln!(
            s,
            "shape: {}x{}x{} (CxHxW)",
            u16_at(16),
            u16_at(18),
            u16_at(20)
        );
        let _ = writeln!(
            s,
            "range: {} .. {}",
            f32::from_bits(u32_at(22)),
            f32::from_bits(u32_at(26))
        );
        let payload = u32_at(30) as usize;
        let _ = writeln!(s, "payload length: {payload} bytes");
        let end = HEADER_LEN.saturating_add(payload);
        if let Some(crc_bytes) = bytes.get(end..end + TRAILER_LEN) {
            let stored = u32::from_le_bytes(crc_bytes.try_into().unwrap_or_default());
            let computed = crc32fast::hash(&bytes[..end]);
            let verdict = if stored == computed { "ok" } else { "MISMATCH" };
            let _ = writeln!(
                s,
                "crc32: stored {stored:08x}, computed {computed:08x}: {verdict}"
            );
            if bytes.len() > end + TRAILER_LEN {
                let _ = writeln!(s, "trailing bytes: {}", bytes.len() - end - TRAILER_LEN);
            }
        } else {
            let _ = writeln!(
                s,
                "crc32: absent (stream shorter than its declared payload)"
            );
        }
    } else {
        let _ = writeln!(
            s,
            "shorter than a header ({HEADER_LEN} bytes; a stream has at least {MIN_LEN})"
        );
    }
    let verdict = pipeline::decode_features(bytes, &Limits::default()).map(|_| ());
    (s, verdict)
}

pub fn inspect(args: &InspectArgs) -> Result<()> {
    let bytes = read_stream(&args.file)?;
    let (text, verdict) = inspect_text(&bytes);
    print!("{text}");
    match verdict {
        Ok(()) => {
            println!("status: ok");
            Ok(())
        }
        Err(e) => {
            println!("status: {} ({e})", error_code(&e));
            bail!(
                "{}: not a valid stream: {}",
                args.file.display(),
                error_code(&e)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use splitfeat_core::pipeline::{FeatureShape, encode_features};

    #[test]
    fn inspect_reads_damaged_streams_and_names_the_error() {
        let shape = FeatureShape::new(4, 2, 3);
        let values: Vec<f32> = (0..shape.len()).map(|i| i as f32 * 0.5).collect();
        let enc = encode_features(
            &values,
            shape,
            splitfeat_core::zoo::ModelId::from_bytes([7; 8]),
            CodecId::Png,
            BitDepth::EIGHT,
        )
        .unwrap();
        let (text, verdict) = inspect_text(&enc.bytes);
        assert!(verdict.is_ok());
        assert!(
            text.contains("crc32: stored") && text.contains(": ok"),
            "{text}"
        );
        assert!(text.contains("shape: 4x2x3"), "{text}");

        let mut bad = enc.bytes.clone();
        bad[HEADER_LEN] ^= 1;
        let (text, verdict) = inspect_text(&bad);
        assert!(text.contains("MISMATCH"), "{text}");
        assert_eq!(error_code(&verdict.unwrap_err()), "bad_crc");
        let (text, verdict) = inspect_text(&enc.bytes[..10]);
        assert!(text.contains("shorter than a header"), "{text}");
        assert_eq!(error_code(&verdict.unwrap_err()), "truncated");

        let (decoded, plane) = decode_with_plane(&enc.bytes).unwrap();
        assert_eq!(decoded.values.len(), shape.len());
        assert_eq!(plane.data.len(), (plane.width * plane.height) as usize);
        assert!(!plane_png(&plane).unwrap().is_empty());
        assert_eq!(
            tensor_sha256(&[1.0]),
            hex::encode(Sha256::digest(1.0f32.to_le_bytes()))
        );
    }
}
