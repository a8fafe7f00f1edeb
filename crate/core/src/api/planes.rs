//! The planes format of a `POST /v1/infer` answer (docs/api.md, "The planes
//! format"): the response's metadata as JSON, then each output as a raw plane, with
//! no PNG and no base64. The server sends it when the client asks for it
//! (`Accept: application/vnd.splitfeat.planes` or `?format=planes`); the browser's
//! cloud worker always answers with it. One encoder and one decoder, here, for both
//! hosts and for the page (through the wasm module).
//!
//! Version 1, every integer little-endian:
//!
//! | offset | bytes | field |
//! | --- | --- | --- |
//! | 0 | 4 | magic `SFPL` |
//! | 4 | 1 | version, 1 |
//! | 5 | 3 | reserved, 0 |
//! | 8 | 4 | `n`: length of the metadata, u32 |
//! | 12 | `n` | metadata: [`InferResponse`] with [`PlaneOutputs`] as JSON (UTF-8) |
//!
//! then zero bytes up to a multiple of 4, then one plane per output present in the
//! metadata, in the order seg, disp, recon, each followed by zero bytes up to a
//! multiple of 4 (so every plane starts 4-aligned):
//!
//! - seg: `width * height` bytes, the trainId of each pixel, row-major;
//! - disp: `width * height` f32, disparity in pixels at the output width (0 or more;
//!   0: no positive disparity), row-major;
//! - recon: `width * height * 3` bytes, packed RGB, row-major.
//!
//! The stream ends there: its length is exactly what the metadata implies.

use serde::{Deserialize, Serialize};

use super::{DispPlane, InferResponse, PlaneOutputs, RawOutputs, SegPlane};
use crate::classes::NUM_CLASSES;

/// The media type a client asks for (`Accept`) and the server answers with
/// (`Content-Type`).
pub const MEDIA_TYPE: &str = "application/vnd.splitfeat.planes";
pub const MAGIC: [u8; 4] = *b"SFPL";
pub const VERSION: u8 = 1;
/// Bytes before the metadata.
pub const HEADER_LEN: usize = 12;
/// Largest metadata a reader takes (a real one is under 1 KiB).
pub const MAX_META_LEN: usize = 1 << 20;
/// Largest side of an output a reader takes.
pub const MAX_SIDE: usize = 4096;

/// Why bytes are not a planes response. Every malformed input ends here, never in a
/// panic.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanesError {
    #[error(
        "planes response: {len} bytes, shorter than the {needed} its header and metadata call for"
    )]
    Truncated { needed: usize, len: usize },
    #[error("planes response: bad magic {0:02x?} (expected \"SFPL\")")]
    BadMagic([u8; 4]),
    #[error("planes response: version {0}, this reader reads version {VERSION}")]
    UnsupportedVersion(u8),
    #[error("planes response: bad header: {0}")]
    BadHeader(String),
    #[error("planes response: bad metadata: {0}")]
    BadMeta(String),
    #[error("planes response: {found} bytes, {expected} expected from its metadata")]
    TrailingBytes { expected: usize, found: usize },
    #[error("planes response: the {task} plane has {found} bytes, {expected} expected")]
    PlaneLength {
        task: &'static str,
        expected: usize,
        found: usize,
    },
}

/// A planes response: its metadata and its planes.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanesResponse {
    pub meta: InferResponse<PlaneOutputs>,
    pub outputs: RawOutputs,
}

const fn pad4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

/// Bytes of each plane present, in order, for `outputs` at `w` x `h`.
fn plane_lens(outputs: &PlaneOutputs, w: usize, h: usize) -> [(&'static str, Option<usize>); 3] {
    [
        ("seg", outputs.seg.as_ref().map(|_| w * h)),
        ("disp", outputs.disp.as_ref().map(|_| w * h * 4)),
        ("recon", outputs.recon.as_ref().map(|_| w * h * 3)),
    ]
}

/// Encodes `meta` (whose `outputs` must describe `outputs`: [`RawOutputs::meta`]) and
/// the planes of `outputs`.
pub fn encode(
    meta: &InferResponse<PlaneOutputs>,
    outputs: &RawOutputs,
) -> Result<Vec<u8>, PlanesError> {
    let (w, h) = (meta.width, meta.height);
    if (outputs.width, outputs.height) != (w, h) || meta.outputs != outputs.meta() {
        return Err(PlanesError::BadMeta(
            "the metadata does not describe these planes".into(),
        ));
    }
    let json = serde_json::to_vec(meta).map_err(|e| PlanesError::BadMeta(e.to_string()))?;
    if json.len() > MAX_META_LEN {
        return Err(PlanesError::BadMeta(format!(
            "{} bytes of metadata, at most {MAX_META_LEN}",
            json.len()
        )));
    }
    let disp: Option<Vec<u8>> = outputs
        .disp
        .as_ref()
        .map(|d| d.values.iter().flat_map(|v| v.to_le_bytes()).collect());
    let planes: [(&'static str, Option<&[u8]>, usize); 3] = [
        ("seg", outputs.seg.as_ref().map(|s| &s.labels[..]), w * h),
        ("disp", disp.as_deref(), w * h * 4),
        ("recon", outputs.recon.as_deref(), w * h * 3),
    ];
    let mut out = Vec::with_capacity(
        pad4(HEADER_LEN + json.len())
            + planes
                .iter()
                .filter(|p| p.1.is_some())
                .map(|p| pad4(p.2))
                .sum::<usize>(),
    );
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[VERSION, 0, 0, 0]);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out.resize(pad4(out.len()), 0);
    for (task, plane, expected) in planes {
        let Some(plane) = plane else { continue };
        if plane.len() != expected {
            return Err(PlanesError::PlaneLength {
                task,
                expected,
                found: plane.len(),
            });
        }
        out.extend_from_slice(plane);
        out.resize(pad4(out.len()), 0);
    }
    Ok(out)
}

/// Decodes a planes response, checking everything a reader relies on: magic, version,
/// lengths, the metadata's fields (sizes, tasks, class counts, colour scale) and that
/// the planes fill the rest exactly.
pub fn decode(bytes: &[u8]) -> Result<PlanesResponse, PlanesError> {
    let truncated = |needed| PlanesError::Truncated {
        needed,
        len: bytes.len(),
    };
    let header: &[u8; HEADER_LEN] = bytes
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| truncated(HEADER_LEN))?;
    let magic = [header[0], header[1], header[2], header[3]];
    if magic != MAGIC {
        return Err(PlanesError::BadMagic(magic));
    }
    if header[4] != VERSION {
        return Err(PlanesError::UnsupportedVersion(header[4]));
    }
    if header[5..8] != [0, 0, 0] {
        return Err(PlanesError::BadHeader("reserved bytes are not zero".into()));
    }
    let n = u32::from_le_bytes([header[8], header[9], header[10], header[11]]) as usize;
    if n > MAX_META_LEN {
        return Err(PlanesError::BadHeader(format!(
            "{n} bytes of metadata, at most {MAX_META_LEN}"
        )));
    }
    let json = bytes
        .get(HEADER_LEN..HEADER_LEN + n)
        .ok_or_else(|| truncated(HEADER_LEN + n))?;
    let meta: InferResponse<PlaneOutputs> =
        serde_json::from_slice(json).map_err(|e| PlanesError::BadMeta(e.to_string()))?;
    check_meta(&meta)?;

    let (w, h) = (meta.width, meta.height);
    let lens = plane_lens(&meta.outputs, w, h);
    let expected =
        pad4(HEADER_LEN + n) + lens.iter().filter_map(|(_, l)| l.map(pad4)).sum::<usize>();
    if bytes.len() < expected {
        return Err(truncated(expected));
    }
    if bytes.len() > expected {
        return Err(PlanesError::TrailingBytes {
            expected,
            found: bytes.len(),
        });
    }
    let mut at = pad4(HEADER_LEN + n);
    let mut take = |len: usize| {
        // In bounds: the total length was checked against the same sums.
        let plane = &bytes[at..at + len];
        at += pad4(len);
        plane
    };
    let o = &meta.outputs;
    let outputs = RawOutputs {
        width: w,
        height: h,
        seg: o.seg.as_ref().map(|s| SegPlane {
            labels: take(w * h).to_vec(),
            class_pixels: s.class_pixels.clone(),
        }),
        disp: o.disp.as_ref().map(|d| DispPlane {
            values: take(w * h * 4)
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            max_disparity: d.max_disparity,
        }),
        recon: o.recon.as_ref().map(|_| take(w * h * 3).to_vec()),
    };
    Ok(PlanesResponse { meta, outputs })
}

fn check_meta(meta: &InferResponse<PlaneOutputs>) -> Result<(), PlanesError> {
    let bad = |m: String| Err(PlanesError::BadMeta(m));
    let (w, h) = (meta.width, meta.height);
    if !(1..=MAX_SIDE).contains(&w) || !(1..=MAX_SIDE).contains(&h) {
        return bad(format!("size {w}x{h}, each side 1..={MAX_SIDE}"));
    }
    let o = &meta.outputs;
    let present = [o.seg.is_some(), o.disp.is_some(), o.recon.is_some()];
    for (task, present) in super::Task::ALL.into_iter().zip(present) {
        if meta.tasks.contains(&task) != present {
            return bad(format!(
                "task {} is {} but its output is {}",
                task.name(),
                if present {
                    "not requested"
                } else {
                    "requested"
                },
                if present { "present" } else { "missing" }
            ));
        }
    }
    if let Some(s) = &o.seg
        && s.class_pixels.len() != NUM_CLASSES
    {
        return bad(format!(
            "{} class counts, {NUM_CLASSES} expected",
            s.class_pixels.len()
        ));
    }
    if let Some(d) = &o.disp
        && !(d.max_disparity.is_finite() && d.max_disparity >= 0.0)
    {
        return bad(format!(
            "max_disparity {} is not a finite number >= 0",
            d.max_disparity
        ));
    }
    Ok(())
}

/// Which format a client asked for: `?format=` (`json` or `planes`) first, else the
/// `Accept` header ([`MEDIA_TYPE`] among its types: planes; anything else: JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Json,
    Planes,
}

impl Format {
    /// The format for a request's `format` parameter and `Accept` header; an unknown
    /// `format` value is an error (the message names the values).
    pub fn negotiate(param: Option<&str>, accept: Option<&str>) -> Result<Format, String> {
        match param {
            Some("json") => return Ok(Format::Json),
            Some("planes") => return Ok(Format::Planes),
            Some(other) => {
                return Err(format!(
                    "format must be json or planes, got {:?}",
                    other.chars().take(32).collect::<String>()
                ));
            }
            None => {}
        }
        let wants_planes = accept.is_some_and(|a| {
            a.split(',').any(|t| {
                t.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case(MEDIA_TYPE))
            })
        });
        Ok(if wants_planes {
            Format::Planes
        } else {
            Format::Json
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DispMeta, ReconMeta, SegMeta, Timings};
    use crate::quant::BitDepth;
    use crate::runtime::Task;
    use crate::zoo::ModelId;

    fn sample(tasks: &[Task]) -> (InferResponse<PlaneOutputs>, RawOutputs) {
        let (w, h) = (5, 3);
        let mut class_pixels = vec![0u32; NUM_CLASSES];
        class_pixels[2] = 10;
        class_pixels[18] = 5;
        let outputs = RawOutputs {
            width: w,
            height: h,
            seg: tasks.contains(&Task::Seg).then(|| SegPlane {
                labels: (0..w * h).map(|i| if i < 10 { 2 } else { 18 }).collect(),
                class_pixels,
            }),
            disp: tasks.contains(&Task::Disp).then(|| DispPlane {
                values: (0..w * h).map(|i| i as f32 * 0.75).collect(),
                max_disparity: 7.5,
            }),
            recon: tasks
                .contains(&Task::Recon)
                .then(|| (0..w * h * 3).map(|i| (i * 7) as u8).collect()),
        };
        let meta = InferResponse {
            model: ModelId::from_bytes([1, 2, 3, 4, 5, 6, 7, 8]),
            model_name: "m".into(),
            tasks: tasks.to_vec(),
            bytes_received: 1234,
            width: w,
            height: h,
            bits_per_element: 0.5,
            codec: "ans".into(),
            bits: BitDepth::EIGHT,
            timings_ms: Timings {
                decode: 0.25,
                total: 9.5,
                ..Timings::default()
            },
            outputs: outputs.meta(),
        };
        (meta, outputs)
    }

    #[test]
    fn round_trips_every_subset_of_tasks_with_aligned_planes() {
        for tasks in [
            &Task::ALL[..],
            &[Task::Disp][..],
            &[Task::Recon, Task::Seg][..],
        ] {
            let (meta, outputs) = sample(tasks);
            let bytes = encode(&meta, &outputs).unwrap();
            assert_eq!(&bytes[..4], b"SFPL");
            assert_eq!(bytes.len() % 4, 0);
            let back = decode(&bytes).unwrap();
            assert_eq!(back.meta, meta);
            assert_eq!(back.outputs, outputs);
        }
        // The planes follow the metadata at a 4-aligned offset, seg first.
        let (meta, outputs) = sample(&Task::ALL);
        let bytes = encode(&meta, &outputs).unwrap();
        let n = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
        let seg_at = pad4(12 + n);
        assert_eq!(
            &bytes[seg_at..seg_at + 15],
            &outputs.seg.as_ref().unwrap().labels[..]
        );
        let disp_at = seg_at + pad4(15);
        assert_eq!(&bytes[disp_at + 4..disp_at + 8], &0.75f32.to_le_bytes());
        let json: serde_json::Value = serde_json::from_slice(&bytes[12..12 + n]).unwrap();
        assert_eq!(json["outputs"]["disp"]["max_disparity"], 7.5);
        assert_eq!(json["outputs"]["recon"], serde_json::json!({}));
    }

    #[test]
    fn every_malformed_response_is_a_typed_error() {
        let (meta, outputs) = sample(&Task::ALL);
        let good = encode(&meta, &outputs).unwrap();
        let n = u32::from_le_bytes(good[8..12].try_into().unwrap()) as usize;

        // Truncated anywhere: in the header, the metadata or the planes.
        for len in [0, 3, 11, 12, 12 + n - 1, 12 + n + 2, good.len() - 1] {
            let e = decode(&good[..len]).unwrap_err();
            assert!(matches!(e, PlanesError::Truncated { .. }), "{len}: {e}");
        }
        assert!(matches!(
            decode(&good[..good.len() - 1]),
            Err(PlanesError::Truncated { len, .. }) if len == good.len() - 1
        ));
        assert!(matches!(
            decode(&good[..5]),
            Err(PlanesError::Truncated { needed: 12, len: 5 })
        ));

        let mut bad = good.clone();
        bad[0] = b'X';
        assert!(matches!(decode(&bad), Err(PlanesError::BadMagic(m)) if m == *b"XFPL"));
        // A bitstream is not a planes response.
        assert!(matches!(
            decode(b"SPFT\x01rest of a stream"),
            Err(PlanesError::BadMagic(_))
        ));

        let mut bad = good.clone();
        bad[4] = 2;
        assert_eq!(decode(&bad), Err(PlanesError::UnsupportedVersion(2)));

        let mut bad = good.clone();
        bad[6] = 1;
        assert!(matches!(decode(&bad), Err(PlanesError::BadHeader(_))));

        let mut bad = good.clone();
        bad[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decode(&bad), Err(PlanesError::BadHeader(_))));

        let mut bad = good.clone();
        bad.extend_from_slice(&[0; 4]);
        assert_eq!(
            decode(&bad),
            Err(PlanesError::TrailingBytes {
                expected: good.len(),
                found: good.len() + 4
            })
        );

        let mut bad = good.clone();
        bad[12] = b'[';
        assert!(matches!(decode(&bad), Err(PlanesError::BadMeta(_))));

        // Metadata that parses but does not hold: each is refused by name.
        let reencode = |edit: &dyn Fn(&mut InferResponse<PlaneOutputs>)| {
            let mut m = meta.clone();
            edit(&mut m);
            let json = serde_json::to_vec(&m).unwrap();
            let mut out = good[..8].to_vec();
            out.extend_from_slice(&(json.len() as u32).to_le_bytes());
            out.extend_from_slice(&json);
            out.resize(pad4(out.len()), 0);
            out.extend_from_slice(&good[pad4(12 + n)..]);
            decode(&out)
        };
        assert!(reencode(&|_| {}).is_ok());
        type Edit = fn(&mut InferResponse<PlaneOutputs>);
        let cases: [(&str, Edit); 6] = [
            ("size", |m| m.width = 0),
            ("size", |m| m.height = MAX_SIDE + 1),
            ("task recon", |m| m.tasks.retain(|&t| t != Task::Recon)),
            ("task seg", |m| m.outputs.seg = None),
            ("class counts", |m| {
                m.outputs.seg = Some(SegMeta {
                    class_pixels: vec![1; 3],
                })
            }),
            ("max_disparity", |m| {
                m.outputs.disp = Some(DispMeta {
                    max_disparity: -1.0,
                })
            }),
        ];
        for (what, edit) in cases {
            let e = reencode(&edit).unwrap_err();
            assert!(
                matches!(&e, PlanesError::BadMeta(m) if m.contains(what)),
                "{what}: {e}"
            );
        }
        // Larger sides than the planes hold: short, not a panic.
        assert!(matches!(
            reencode(&|m| m.width = 6),
            Err(PlanesError::Truncated { .. })
        ));
    }

    #[test]
    fn the_encoder_refuses_planes_that_do_not_fit_their_metadata() {
        let (meta, mut outputs) = sample(&Task::ALL);
        outputs.recon.as_mut().unwrap().pop();
        assert!(matches!(
            encode(&meta, &outputs),
            Err(PlanesError::PlaneLength {
                task: "recon",
                expected: 45,
                found: 44
            })
        ));
        let (mut meta, outputs) = sample(&Task::ALL);
        meta.outputs.recon = None::<ReconMeta>;
        assert!(matches!(
            encode(&meta, &outputs),
            Err(PlanesError::BadMeta(_))
        ));
    }

    #[test]
    fn the_format_is_negotiated_by_parameter_then_accept() {
        let f = Format::negotiate;
        assert_eq!(f(None, None), Ok(Format::Json));
        assert_eq!(f(None, Some("application/json")), Ok(Format::Json));
        assert_eq!(f(None, Some("*/*")), Ok(Format::Json));
        assert_eq!(f(None, Some(MEDIA_TYPE)), Ok(Format::Planes));
        assert_eq!(
            f(
                None,
                Some("application/json;q=0.5, application/vnd.splitfeat.planes; version=1")
            ),
            Ok(Format::Planes)
        );
        assert_eq!(f(Some("json"), Some(MEDIA_TYPE)), Ok(Format::Json));
        assert_eq!(f(Some("planes"), None), Ok(Format::Planes));
        assert!(f(Some("png"), None).unwrap_err().contains("\"png\""));
    }
}
