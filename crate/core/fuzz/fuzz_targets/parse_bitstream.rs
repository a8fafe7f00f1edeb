//! `cargo +nightly fuzz run parse_bitstream` (from crate/core).
//!
//! Feeds arbitrary bytes to the cloud's decode entry point. Each input is tried as
//! is and again with its trailing CRC recomputed, so that mutations get past the
//! checksum and reach the codec decoders.

#![no_main]

use libfuzzer_sys::fuzz_target;
use splitfeat_core::bitstream::{Limits, MIN_LEN};
use splitfeat_core::pipeline::decode_features;

fuzz_target!(|data: &[u8]| {
    // Small limits keep each run fast; the bounds themselves are tested elsewhere.
    let limits = Limits {
        max_elements: 1 << 16,
        max_payload: 1 << 20,
        ..Limits::default()
    };
    let _ = decode_features(data, &limits);
    if data.len() >= MIN_LEN {
        let mut fixed = data.to_vec();
        let body = fixed.len() - 4;
        let crc = crc32fast::hash(&fixed[..body]);
        fixed[body..].copy_from_slice(&crc.to_le_bytes());
        let _ = decode_features(&fixed, &limits);
    }
});
