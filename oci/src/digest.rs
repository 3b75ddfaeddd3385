//! Content digests (`sha256:<64 hex>`): the names of manifests and blobs, in the lock file and in
//! the cache. Only sha256 is supported, as in every registry in use.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A sha256 content digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Digest {
            hex: hex::encode(Sha256::digest(bytes)),
        }
    }

    /// The 64 lowercase hex characters.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl FromStr for Digest {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // Digests come from registries: their text is escaped in every message.
        let shown = crate::untrusted::escape(s);
        let (algorithm, hex) = s.split_once(':').ok_or_else(|| {
            format!("`{shown}` is not a digest (expected sha256:<64 hex digits>)")
        })?;
        if algorithm != "sha256" {
            return Err(format!(
                "digest algorithm `{}` is not supported (only sha256)",
                crate::untrusted::escape(algorithm)
            ));
        }
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(format!(
                "`{shown}` is not a sha256 digest (expected 64 lowercase hex digits)"
            ));
        }
        Ok(Digest {
            hex: hex.to_string(),
        })
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An incremental sha256, for content that arrives in pieces.
#[derive(Default)]
pub(crate) struct Hasher(Sha256);

impl Hasher {
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub(crate) fn finish(self) -> Digest {
        Digest {
            hex: hex::encode(self.0.finalize()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_empty_input() {
        assert_eq!(
            Digest::of(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let mut h = Hasher::default();
        h.update(b"ab");
        h.update(b"c");
        assert_eq!(h.finish(), Digest::of(b"abc"));
    }

    #[test]
    fn parse_rejects_other_algorithms_and_bad_hex() {
        assert!("sha512:00".parse::<Digest>().is_err());
        assert!("sha256:XYZ".parse::<Digest>().is_err());
        assert!("nocolon".parse::<Digest>().is_err());
        let d = Digest::of(b"x");
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
    }
}
