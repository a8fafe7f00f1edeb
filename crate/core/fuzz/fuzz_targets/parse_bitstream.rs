//! `cargo +nightly fuzz run parse_bitstream` (from crate/core).
//!
//! Feeds arbitrary bytes to the cloud's decode entry point. Each input is tried as
//! is and again with its trailing CRC recomputed, so that mutations get past the
//! checksum and reach the codec decoders. A stream whose header names the `prior`
//! codec is decoded with geometric tables for its channel count.

#![no_main]

use libfuzzer_sys::fuzz_target;
use splitfeat_core::bitstream::{Limits, MIN_LEN, parse};
use splitfeat_core::codec::prior::{ModelTables, PriorTables};
use splitfeat_core::pipeline::decode_features_with;

fn decode(data: &[u8], limits: &Limits) {
    let tables = parse(data, limits).ok().map(|(header, _)| {
        let table: Vec<f64> = (0..12).map(|k| 0.5f64.powi(k + 1)).collect();
        ModelTables::from(PriorTables::from_probabilities(&vec![
            table;
            usize::from(header.shape.channels)
        ]))
    });
    let _ = decode_features_with(data, limits, tables.as_ref());
}

fuzz_target!(|data: &[u8]| {
    // Small limits keep each run fast; the bounds themselves are tested elsewhere.
    let limits = Limits {
        max_elements: 1 << 16,
        max_payload: 1 << 20,
        ..Limits::default()
    };
    decode(data, &limits);
    if data.len() >= MIN_LEN {
        let mut fixed = data.to_vec();
        let body = fixed.len() - 4;
        let crc = crc32fast::hash(&fixed[..body]);
        fixed[body..].copy_from_slice(&crc.to_le_bytes());
        decode(&fixed, &limits);
    }
});
