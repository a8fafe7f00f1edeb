//! Deterministic stand-in for the cargo-fuzz target (crate/core/fuzz): random and
//! mutated inputs fed to `pipeline::decode_features`. Each must return (Ok or a
//! typed error) without panicking. Mutations are applied both with the stored CRC
//! (which rejects them) and with the CRC recomputed, so the codec decoders behind
//! the checksum see damaged payloads too. Streams whose header names the `prior`
//! codec are decoded with tables made for their channel count, so its decoder is
//! reached as well.
//!
//! `SPLITFEAT_FUZZ_SECONDS=N` keeps mutating until N seconds have passed instead of
//! the fixed number of rounds (`cargo xtask fuzz` without a nightly cargo-fuzz).

mod common;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use splitfeat_core::bitstream::{Limits, MIN_LEN, parse};
use splitfeat_core::codec::prior::ModelTables;
use splitfeat_core::pipeline::{Decoded, PipelineError, decode_features_with};

/// Decodes as the cloud does, with prior tables for `prior` streams: a geometric
/// table per channel the header names (bounded by the limits).
fn decode_features(bytes: &[u8], limits: &Limits) -> Result<Decoded, PipelineError> {
    let tables: Option<ModelTables> = parse(bytes, limits)
        .ok()
        .map(|(header, _)| common::geometric_tables(usize::from(header.shape.channels)).into());
    decode_features_with(bytes, limits, tables.as_ref())
}

fn mutate(rng: &mut StdRng, base: &[u8], other: &[u8]) -> Vec<u8> {
    let mut b = base.to_vec();
    match rng.random_range(0..6) {
        0 => {
            for _ in 0..rng.random_range(1..=4) {
                let i = rng.random_range(0..b.len());
                b[i] ^= 1 << rng.random_range(0..8);
            }
        }
        1 => {
            let i = rng.random_range(0..b.len());
            b[i] = rng.random();
        }
        2 => b.truncate(rng.random_range(0..b.len())),
        3 => {
            let cut_a = rng.random_range(0..=b.len());
            let cut_b = rng.random_range(0..=other.len());
            b.truncate(cut_a);
            b.extend_from_slice(&other[cut_b..]);
        }
        4 => {
            let i = rng.random_range(0..=b.len());
            let n = rng.random_range(1..16);
            let junk: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            b.splice(i..i, junk);
        }
        _ => {
            // Damage only the payload, keeping the header intact.
            if b.len() > MIN_LEN {
                let i = rng.random_range(34..b.len() - 4);
                b[i] = b[i].wrapping_add(rng.random_range(1..=255));
            }
        }
    }
    b
}

#[test]
fn random_and_mutated_streams_never_panic() {
    let limits = Limits::default();
    let mut streams = common::sample_streams();
    streams.extend(common::prior_streams());
    for s in &streams {
        decode_features(s, &limits).expect("valid stream decodes");
    }
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let (mut ok, mut err) = (0usize, 0usize);
    let mut count = |result: bool| if result { ok += 1 } else { err += 1 };
    for _ in 0..500 {
        let len = rng.random_range(0..200);
        let mut junk: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        count(decode_features(&junk, &limits).is_ok());
        if junk.len() >= MIN_LEN {
            // A plausible header in front of the junk.
            junk[..5].copy_from_slice(b"SPFT\x01");
            let payload_len = (junk.len() - MIN_LEN) as u32;
            junk[30..34].copy_from_slice(&payload_len.to_le_bytes());
            common::fix_crc(&mut junk);
            count(decode_features(&junk, &limits).is_ok());
        }
    }
    let deadline = std::env::var("SPLITFEAT_FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(|s| std::time::Instant::now() + std::time::Duration::from_secs(s));
    let mut round = 0usize;
    while deadline.map_or(round < 4000, |d| std::time::Instant::now() < d) {
        round += 1;
        let base = &streams[round % streams.len()];
        let other = &streams[rng.random_range(0..streams.len())];
        let mut m = mutate(&mut rng, base, other);
        count(decode_features(&m, &limits).is_ok());
        common::fix_crc(&mut m);
        count(decode_features(&m, &limits).is_ok());
    }
    // Most damage must be detected; a few payload changes can still decode (e.g. a
    // JPEG coefficient), which is fine as long as nothing panicked.
    eprintln!("{round} mutation rounds: {ok} decoded, {err} refused with a typed error");
    assert!(err > ok, "ok {ok} err {err}");
}
