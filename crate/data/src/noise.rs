//! Integer-hash noise for textures. Only `+ - * /`, `floor` and integer hashing, so the
//! result is bit-identical on every IEEE-754 platform (no libm calls).

/// `x.floor()` as an integer, for |x| < 2^31. Exact like `f32::floor`, but inlined:
/// without SSE4.1 the standard one is a libm call, the hot spot of texture lookups.
#[inline]
pub(crate) fn floor_i(x: f32) -> i32 {
    let i = x as i32;
    if (i as f32) > x { i - 1 } else { i }
}

/// Fractional part `x - floor(x)`, in `[0, 1)`.
#[inline]
pub(crate) fn fract(x: f32) -> f32 {
    x - floor_i(x) as f32
}

/// 2-D integer hash to 32 bits (murmur3-style finaliser).
#[inline]
pub(crate) fn hash2(x: i32, y: i32, seed: u32) -> u32 {
    let mut h = seed
        ^ (x as u32).wrapping_mul(0x27D4_EB2D)
        ^ (y as u32).wrapping_mul(0x1656_67B1).rotate_left(13);
    h = (h ^ (h >> 15)).wrapping_mul(0x85EB_CA6B);
    h = (h ^ (h >> 13)).wrapping_mul(0xC2B2_AE35);
    h ^ (h >> 16)
}

/// Hash to `[0, 1)`.
#[inline]
pub(crate) fn hashf(x: i32, y: i32, seed: u32) -> f32 {
    (hash2(x, y, seed) >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Smooth value noise in `[0, 1)`: lattice hashes at integer points, smoothstep
/// interpolation between them.
#[inline]
pub(crate) fn value(x: f32, y: f32, seed: u32) -> f32 {
    let ix = floor_i(x);
    let iy = floor_i(y);
    let tx = x - ix as f32;
    let ty = y - iy as f32;
    let sx = tx * tx * (3.0 - 2.0 * tx);
    let sy = ty * ty * (3.0 - 2.0 * ty);
    let a = hashf(ix, iy, seed);
    let b = hashf(ix + 1, iy, seed);
    let c = hashf(ix, iy + 1, seed);
    let d = hashf(ix + 1, iy + 1, seed);
    let top = a + (b - a) * sx;
    let bottom = c + (d - c) * sx;
    top + (bottom - top) * sy
}

/// Two octaves of [`value`] noise, in `[0, 1)`.
#[inline]
pub(crate) fn fbm2(x: f32, y: f32, seed: u32) -> f32 {
    (value(x, y, seed) * 2.0 + value(x * 2.13, y * 2.13, seed ^ 0x9E37)) * (1.0 / 3.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_noise_is_bounded_and_continuous() {
        let mut prev = value(0.0, 0.3, 1);
        for i in 1..1000 {
            let x = i as f32 * 0.01;
            let v = value(x, 0.3, 1);
            assert!((0.0..1.0).contains(&v));
            assert!((v - prev).abs() < 0.05);
            prev = v;
        }
    }
}
