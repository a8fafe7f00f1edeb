//! Unsigned LEB128 varints for the ANS side information (7 bits per byte, low
//! group first, high bit set on every byte but the last).

/// Appends `value` as a varint.
pub(crate) fn write(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads varints from a byte slice, refusing truncated, overlong or overflowing ones.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// Next varint, `None` if truncated, longer than needed, or above `u64::MAX`.
    pub(crate) fn read(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for (i, &byte) in self.bytes.iter().enumerate().take(10) {
            let group = u64::from(byte & 0x7f);
            let shift = 7 * i as u32;
            if shift == 63 && group > 1 {
                return None;
            }
            value |= group << shift;
            if byte & 0x80 == 0 {
                // A zero final group after the first byte would be an overlong
                // encoding; refusing it keeps one encoding per value.
                if i > 0 && group == 0 {
                    return None;
                }
                self.bytes = &self.bytes[i + 1..];
                return Some(value);
            }
        }
        None
    }

    /// Next byte.
    pub(crate) fn read_u8(&mut self) -> Option<u8> {
        let (&first, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(first)
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_lengths() {
        for (v, n) in [
            (0, 1),
            (1, 1),
            (127, 1),
            (128, 2),
            (300, 2),
            (16383, 2),
            (16384, 3),
            (u64::MAX, 10),
        ] {
            let mut out = Vec::new();
            write(&mut out, v);
            assert_eq!(out.len(), n, "{v}");
            let mut r = Reader::new(&out);
            assert_eq!(r.read(), Some(v));
            assert!(r.rest().is_empty());
        }
    }

    #[test]
    fn rejects_bad_encodings() {
        assert_eq!(Reader::new(&[0x80]).read(), None);
        assert_eq!(Reader::new(&[0x80, 0x00]).read(), None);
        assert_eq!(Reader::new(&[0xff; 10]).read(), None);
        let mut too_big = vec![0xff; 9];
        too_big.push(0x02);
        assert_eq!(Reader::new(&too_big).read(), None);
        assert_eq!(Reader::new(&[]).read(), None);
    }
}
