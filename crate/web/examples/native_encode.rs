//! The edge as the native build runs it, for comparing the browser's bitstream with
//! it: encodes one PNG with one model of an assets directory on the `flex` CPU device
//! and prints JSON (byte count, sha256 of the stream and of the input pixels). With
//! `--compare FILE` it also decodes FILE (a stream the browser made) and reports how
//! far its codes are from the native ones.
//!
//! ```text
//! cargo run -p splitfeat-web --example native_encode -- --assets assets \
//!     --model 10116f5841031672 --image www/samples/scene-3.png --codec ans [--bits 8] \
//!     [--compare browser.bin]
//! ```

use std::path::PathBuf;

use burn::prelude::*;
use futures_lite::future::block_on;
use sha2::{Digest, Sha256};
use splitfeat_core::bitstream::{self, Limits};
use splitfeat_core::codec::prior::ModelTables;
use splitfeat_core::pipeline::decode_codes;
use splitfeat_core::quant::BitDepth;
use splitfeat_core::viz::decode_png_rgb;
use splitfeat_core::zoo::Zoo;
use splitfeat_web::device::{Acquired, Backend};
use splitfeat_web::session::EdgeSession;

struct Args {
    assets: PathBuf,
    model: Option<String>,
    image: PathBuf,
    codec: String,
    bits: Option<BitDepth>,
    compare: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        assets: "assets".into(),
        model: None,
        image: PathBuf::new(),
        codec: "ans".into(),
        bits: None,
        compare: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--assets" => args.assets = value()?.into(),
            "--model" => args.model = Some(value()?),
            "--image" => args.image = value()?.into(),
            "--codec" => args.codec = value()?,
            "--bits" => args.bits = Some(value()?.parse().map_err(|e| format!("--bits: {e}"))?),
            "--compare" => args.compare = Some(value()?.into()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.image.as_os_str().is_empty() {
        return Err("--image is required".into());
    }
    Ok(args)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let zoo = Zoo::open(&args.assets)?;
    let entry = match &args.model {
        Some(id) => zoo.find(id)?,
        None => zoo
            .manifest()
            .models
            .first()
            .ok_or("the manifest lists no model")?,
    };
    let weights = zoo.edge(entry)?;
    let image = decode_png_rgb(&std::fs::read(&args.image)?)?;
    let (width, height, rgb) = (image.width, image.height, image.rgb);

    let acquired = Acquired {
        device: Device::flex(),
        backend: Backend::Cpu,
        fallback_reason: None,
    };
    // The prior file as the page fetches it, when the model ships one.
    let (tables, prior) = zoo.tables_file(entry)?.unzip();
    let session = block_on(EdgeSession::on_device(
        entry.clone(),
        &weights,
        prior.as_deref(),
        acquired,
    ))?;
    let out = block_on(session.encode(&rgb, width, height, &args.codec, args.bits))?;

    let mut report = serde_json::json!({
        "model": entry.id,
        "codec": out.codec,
        "bits": out.bits,
        "input_sha256": hex::encode(Sha256::digest(&rgb)),
        "bytes": out.byte_count,
        "sha256": hex::encode(Sha256::digest(&out.bitstream)),
        "bits_per_element": out.bits_per_element,
    });
    if let Some(path) = &args.compare {
        let other = std::fs::read(path)?;
        report["compare"] = compare(&out.bitstream, &other, tables.as_ref())?;
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// How far stream `b` is from stream `a`: equal bytes, else header and code
/// differences (`tables`: the model's, for `prior` streams).
fn compare(
    a: &[u8],
    b: &[u8],
    tables: Option<&ModelTables>,
) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let (ha, pa) = bitstream::parse(a, &Limits::default())?;
    let (hb, pb) = bitstream::parse(b, &Limits::default())?;
    let (qa, qb) = (
        decode_codes(&ha, pa, tables)?,
        decode_codes(&hb, pb, tables)?,
    );
    let diffs: Vec<i32> = qa
        .iter()
        .zip(&qb)
        .map(|(&x, &y)| (i32::from(x) - i32::from(y)).abs())
        .collect();
    let step = |h: &bitstream::Header| (h.max - h.min) / f32::from(h.bits.max_code());
    Ok(serde_json::json!({
        "identical": a == b,
        // The codec's output alone: equal codes give equal payloads on every target.
        "payload_identical": pa == pb,
        "other_bytes": b.len(),
        "other_sha256": hex::encode(Sha256::digest(b)),
        "same_shape_codec_bits": ha.shape == hb.shape && ha.codec == hb.codec && ha.bits == hb.bits,
        "min": [ha.min, hb.min],
        "max": [ha.max, hb.max],
        "quant_step": step(&ha),
        "codes": qa.len(),
        "codes_differing": diffs.iter().filter(|&&d| d != 0).count(),
        "max_code_difference": diffs.iter().copied().max().unwrap_or(0),
    }))
}
