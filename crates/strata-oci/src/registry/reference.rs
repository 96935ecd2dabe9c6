//! [`RegistryRef`]: an image in a registry, as containers-transports(5) names it after
//! `docker:` (`//[domain/]path[:tag|@digest]`).
//!
//! Parsing is strata-model's [`DockerReference`] (containers/image's `ParseNormalizedNamed`): a
//! name without a domain is on `docker.io`, a single-component docker.io path gets `library/`,
//! and a reference without tag or digest means `:latest`. Like containers/image's docker
//! transport, a reference with both a tag and a digest is refused, and only sha256 digests are
//! accepted.

use std::fmt;
use std::str::FromStr;

use strata_model::Digest;
use strata_model::spec::DockerReference;

use crate::error::{OciError, Result};

/// A registry image reference: registry, repository, and a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegistryRef {
    /// The parsed, normalised reference (always with a tag or a digest).
    reference: DockerReference,
}

impl RegistryRef {
    /// Parses `docker://name`, `//name` or a bare `name`.
    pub fn parse(s: &str) -> Result<RegistryRef> {
        let bare = s
            .strip_prefix("docker://")
            .or_else(|| s.strip_prefix("//"))
            .unwrap_or(s);
        let reference = DockerReference::parse_normalized(bare)
            .map_err(|e| OciError::InvalidRequest(format!("docker://{bare}: {e}")))?;
        RegistryRef::from_docker(reference)
    }

    /// A reference from strata-model's parsed form (adding `:latest` to a name alone).
    pub fn from_docker(reference: DockerReference) -> Result<RegistryRef> {
        if reference.tag().is_some() && reference.digest().is_some() {
            return Err(OciError::InvalidRequest(format!(
                "docker://{reference}: references with both a tag and a digest are not supported"
            )));
        }
        if reference.domain().is_empty() {
            return Err(OciError::InvalidRequest(format!(
                "docker://{reference}: no valid registry domain"
            )));
        }
        if let Some(d) = reference.digest().filter(|d| !d.starts_with("sha256:")) {
            return Err(OciError::unsupported(
                format!("docker://{reference}"),
                format!("digest algorithm of {d} (only sha256 is supported)"),
            ));
        }
        Ok(RegistryRef {
            reference: reference.with_default_tag(),
        })
    }

    /// The registry domain as named (`docker.io`, `quay.io`, `127.0.0.1:5000`).
    pub fn registry(&self) -> &str {
        self.reference.domain()
    }

    /// The host the API is served from: `docker.io` is served by `index.docker.io`.
    pub fn api_host(&self) -> &str {
        match self.registry() {
            "docker.io" => "index.docker.io",
            other => other,
        }
    }

    /// The repository path (`library/busybox`).
    pub fn repository(&self) -> &str {
        self.reference.path()
    }

    /// The tag, when the reference names one.
    pub fn tag(&self) -> Option<&str> {
        self.reference.tag()
    }

    /// The digest, when the reference names one.
    pub fn digest(&self) -> Option<Digest> {
        self.reference.digest().and_then(|d| d.parse().ok())
    }

    /// The tag or the digest, as it goes in a `/manifests/` URL.
    pub fn tag_or_digest(&self) -> &str {
        self.reference
            .digest()
            .or(self.reference.tag())
            .unwrap_or(strata_model::spec::DEFAULT_TAG)
    }

    /// The same repository with `tag` instead of this reference's tag or digest.
    pub fn with_tag(&self, tag: &str) -> Result<RegistryRef> {
        RegistryRef::parse(&format!("{}:{tag}", self.reference.name()))
    }

    /// The same repository at `digest`.
    pub fn with_digest(&self, digest: &Digest) -> Result<RegistryRef> {
        RegistryRef::parse(&format!("{}@{}", self.reference.name(), digest.prefixed()))
    }

    /// The same registry, another repository, same tag or digest.
    pub fn in_repository(&self, repository: &str) -> Result<RegistryRef> {
        let sep = if self.reference.digest().is_some() {
            '@'
        } else {
            ':'
        };
        RegistryRef::parse(&format!(
            "{}/{repository}{sep}{}",
            self.registry(),
            self.tag_or_digest()
        ))
    }
}

impl FromStr for RegistryRef {
    type Err = OciError;

    fn from_str(s: &str) -> Result<Self> {
        RegistryRef::parse(s)
    }
}

impl fmt::Display for RegistryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.reference)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_io_is_normalised() {
        let r = RegistryRef::parse("docker://busybox").expect("valid");
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.api_host(), "index.docker.io");
        assert_eq!(r.repository(), "library/busybox");
        assert_eq!(r.tag(), Some("latest"));
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
    }

    #[test]
    fn host_port_tag_and_digest() {
        let r = RegistryRef::parse("//127.0.0.1:5000/a/b:v1").expect("valid");
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "a/b");
        assert_eq!(r.tag_or_digest(), "v1");
        let d = format!("sha256:{}", "ab".repeat(32));
        let r = RegistryRef::parse(&format!("localhost/x@{d}")).expect("valid");
        assert_eq!(r.digest().map(|d| d.prefixed()), Some(d.clone()));
        assert_eq!(r.tag(), None);
        assert_eq!(r.tag_or_digest(), d);
        let moved = r.in_repository("y/z").expect("valid");
        assert_eq!(moved.to_string(), format!("localhost/y/z@{d}"));
    }

    #[test]
    fn refused_forms() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let e = RegistryRef::parse(&format!("docker://x:tag@{d}")).expect_err("both");
        assert_eq!(e.kind(), crate::ErrorKind::InvalidRequest);
        let e = RegistryRef::parse("docker://Upper/Case").expect_err("uppercase");
        assert_eq!(e.kind(), crate::ErrorKind::InvalidRequest);
        let e = RegistryRef::parse(&format!("x@sha512:{}", "ab".repeat(64))).expect_err("sha512");
        assert_eq!(e.kind(), crate::ErrorKind::Unsupported);
    }
}
