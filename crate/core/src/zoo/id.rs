//! A model's identity: the first 8 bytes of the sha256 of its edge weights. Bitstream
//! headers carry the bytes, so the cloud can refuse features made by another edge; the
//! manifest, the HTTP API, the page and the logs show it as 16 lowercase hex digits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelId([u8; ModelId::LEN]);

/// A model id that is not 16 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("model id {0:?} is not 16 hex digits")]
pub struct BadModelId(pub String);

impl ModelId {
    /// Bytes of an id in a bitstream header.
    pub const LEN: usize = 8;

    /// The id of an edge, from its weights file.
    pub fn of_edge(edge_weights: &[u8]) -> Self {
        let digest = Sha256::digest(edge_weights);
        let mut id = [0u8; Self::LEN];
        id.copy_from_slice(&digest[..Self::LEN]);
        Self(id)
    }

    pub const fn from_bytes(bytes: [u8; Self::LEN]) -> Self {
        Self(bytes)
    }

    pub const fn to_bytes(self) -> [u8; Self::LEN] {
        self.0
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModelId({self})")
    }
}

impl FromStr for ModelId {
    type Err = BadModelId;

    /// 16 hex digits, either case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut id = [0u8; Self::LEN];
        hex::decode_to_slice(s, &mut id).map_err(|_| BadModelId(s.to_string()))?;
        Ok(Self(id))
    }
}

impl Serialize for ModelId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ModelId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_the_first_eight_bytes_of_the_edge_sha256() {
        // sha256("abc") = ba7816bf8f01cfea 414140de5dae2223 ...
        let id = ModelId::of_edge(b"abc");
        assert_eq!(id.to_string(), "ba7816bf8f01cfea");
        assert_eq!(
            id.to_bytes(),
            [0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea]
        );
        assert_eq!(format!("{id:?}"), "ModelId(ba7816bf8f01cfea)");
    }

    #[test]
    fn text_and_json_round_trip_and_bad_text_is_refused() {
        let id = ModelId::of_edge(b"edge");
        assert_eq!(id.to_string().parse::<ModelId>().unwrap(), id);
        assert_eq!(
            id.to_string().to_uppercase().parse::<ModelId>().unwrap(),
            id
        );
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<ModelId>(&json).unwrap(), id);
        for bad in [
            "",
            "ba7816bf8f01cfe",
            "ba7816bf8f01cfea00",
            "zz7816bf8f01cfea",
            "tiny-l0",
        ] {
            assert_eq!(
                bad.parse::<ModelId>(),
                Err(BadModelId(bad.to_string())),
                "{bad:?}"
            );
        }
        assert!(serde_json::from_str::<ModelId>("\"tiny-l0\"").is_err());
        assert!(serde_json::from_str::<ModelId>("17").is_err());
    }
}
