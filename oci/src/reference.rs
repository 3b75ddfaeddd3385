//! `oci://REGISTRY/REPOSITORY[:TAG][@sha256:HEX]` module references: parsing, the canonical
//! text form (what the lock file records), and the conversion to `oci-client`'s reference.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::Error;

/// The URL scheme of module sources that come from a registry.
pub const SCHEME: &str = "oci://";

/// A module reference in a registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OciReference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl OciReference {
    /// Parses `oci://REGISTRY/REPO:TAG`, `oci://REGISTRY/REPO@sha256:…` (or both). The scheme
    /// is required: it is what tells a registry source from a path.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidReference {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let rest = input
            .strip_prefix(SCHEME)
            .ok_or_else(|| invalid("it must start with oci://"))?;
        if rest.is_empty() {
            return Err(invalid("nothing after oci://"));
        }
        let (name, digest) = match rest.split_once('@') {
            Some((name, digest)) => (
                name,
                Some(digest.parse::<Digest>().map_err(|e| invalid(&e))?),
            ),
            None => (rest, None),
        };
        let (registry, path) = name.split_once('/').ok_or_else(|| {
            invalid("a registry and a repository are needed: oci://REGISTRY/REPOSITORY:TAG")
        })?;
        if registry.is_empty()
            || !(registry.contains('.') || registry.contains(':') || registry == "localhost")
            || !registry
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        {
            return Err(invalid(
                "the first part must be a registry host (letters, digits, `.`, `-`; with a dot or a port, or `localhost`)",
            ));
        }
        // A tag follows the last ':' of the path (the registry part may hold a port).
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag.to_string())),
            _ => (path, None),
        };
        if repository.is_empty() {
            return Err(invalid("the repository is empty"));
        }
        let repo_ok = repository.split('/').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        });
        if !repo_ok {
            return Err(invalid(
                "a repository is lowercase letters, digits, `.`, `_`, `-`, separated by `/`",
            ));
        }
        if let Some(tag) = &tag {
            let tag_ok = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                && !tag.starts_with(['.', '-']);
            if !tag_ok {
                return Err(invalid("a tag is up to 128 letters, digits, `.`, `_`, `-`"));
            }
        }
        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".to_string())
        } else {
            tag
        };
        Ok(OciReference {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag,
            digest,
        })
    }

    /// Registry host[:port].
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Repository path inside the registry.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if any (`latest` when neither tag nor digest was written).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The pinned manifest digest, if the reference has one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The same repository, pinned to `digest` (the tag is dropped).
    pub fn with_digest(&self, digest: Digest) -> Self {
        OciReference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: Some(digest),
        }
    }

    /// The same repository with another tag (no digest).
    pub fn with_tag(&self, tag: &str) -> Self {
        OciReference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        }
    }

    /// The reference in `oci-client`'s terms.
    pub(crate) fn to_client(&self) -> oci_client::Reference {
        match (&self.tag, &self.digest) {
            (Some(tag), Some(d)) => oci_client::Reference::with_tag_and_digest(
                self.registry.clone(),
                self.repository.clone(),
                tag.clone(),
                d.to_string(),
            ),
            (None, Some(d)) => oci_client::Reference::with_digest(
                self.registry.clone(),
                self.repository.clone(),
                d.to_string(),
            ),
            (Some(tag), None) => oci_client::Reference::with_tag(
                self.registry.clone(),
                self.repository.clone(),
                tag.clone(),
            ),
            (None, None) => oci_client::Reference::with_tag(
                self.registry.clone(),
                self.repository.clone(),
                "latest".to_string(),
            ),
        }
    }
}

impl fmt::Display for OciReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for OciReference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        OciReference::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_tag_port_and_digest() {
        let r = OciReference::parse("oci://127.0.0.1:5000/wasm/hello:v1").unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "wasm/hello");
        assert_eq!(r.tag(), Some("v1"));
        assert!(r.digest().is_none());
        assert_eq!(r.to_string(), "oci://127.0.0.1:5000/wasm/hello:v1");

        let pinned = format!("oci://registry.example/a/b@sha256:{HEX}");
        let r = OciReference::parse(&pinned).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().unwrap().hex(), HEX);
        assert_eq!(r.to_string(), pinned);
    }

    #[test]
    fn defaults_to_latest() {
        let r = OciReference::parse("oci://localhost:5000/hello").unwrap();
        assert_eq!(r.tag(), Some("latest"));
    }

    #[test]
    fn rejects_malformed_references() {
        for bad in [
            "registry.example/hello:v1",
            "oci://",
            "oci://hello:v1",
            "oci://registry.example/Hello:v1",
            "oci://registry.example/hello@sha256:abc",
            "oci://registry.example/hello@md5:0123",
            "oci://registry.example/:v1",
            "oci://reg istry.example/hello:v1",
            "oci://foo/Repo:1",
        ] {
            assert!(
                matches!(
                    OciReference::parse(bad),
                    Err(Error::InvalidReference { .. })
                ),
                "{bad} should be rejected"
            );
        }
    }
}
