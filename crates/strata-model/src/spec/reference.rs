//! [`DockerReference`]: a named container image reference, `[domain/]path[:tag][@digest]`, in the
//! grammar of docker/distribution as containers/image vendors it (`docker/reference`), with
//! docker.io normalisation and go-digest's digest checks.
//!
//! Facts and error texts come from containers/image `docker/reference/{normalize,reference,
//! regexp}.go` and opencontainers/go-digest `digest.go`; the grammar is checked by hand-written
//! character-class scanners, not regular expressions.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The registry a name without a domain refers to.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// docker.io's former name, normalised to [`DEFAULT_DOMAIN`].
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// The namespace of docker.io's official images (`busybox` is `docker.io/library/busybox`).
const OFFICIAL_REPO_NAME: &str = "library";
/// The tag a reference without tag nor digest gets where one is needed.
pub const DEFAULT_TAG: &str = "latest";
/// The longest repository name (domain and path) the grammar accepts (`NameTotalLengthMax`).
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// Why a text is not a valid docker reference.
///
/// Every text is containers/image's (`docker/reference`), or go-digest's for
/// [`ReferenceDigestError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The whole text is 64 lowercase hex digits, which would be read as an image ID.
    // normalize.go, ParseNormalizedNamed.
    #[error("invalid repository name ({input}), cannot specify 64-byte hexadecimal strings")]
    HexadecimalName {
        /// The text that was given.
        input: String,
    },
    /// The repository path (before any `:`) has an uppercase letter.
    // normalize.go, ParseNormalizedNamed.
    #[error("invalid reference format: repository name must be lowercase")]
    UppercaseRemoteName {
        /// The text that was given.
        input: String,
    },
    /// The text would match the grammar if it were lowercased.
    // reference.go, ErrNameContainsUppercase.
    #[error("repository name must be lowercase")]
    NameContainsUppercase {
        /// The text that was given.
        input: String,
    },
    /// The text does not match the reference grammar.
    // reference.go, ErrReferenceInvalidFormat.
    #[error("invalid reference format")]
    InvalidFormat {
        /// The text that was given.
        input: String,
    },
    /// The repository name (domain and path) is longer than [`NAME_TOTAL_LENGTH_MAX`].
    // reference.go, ErrNameTooLong.
    #[error("repository name must not be more than 255 characters")]
    NameTooLong {
        /// The normalised repository name.
        name: String,
    },
    /// The digest matches the reference grammar but go-digest refuses it.
    #[error(transparent)]
    Digest(#[from] ReferenceDigestError),
}

/// Why go-digest's `Digest.Validate` refuses a digest (texts from go-digest `digest.go`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceDigestError {
    /// No `algorithm:encoded` shape, or an encoded part that is not lowercase hex.
    // go-digest, ErrDigestInvalidFormat.
    #[error("invalid checksum digest format")]
    InvalidFormat {
        /// The digest that was given.
        digest: String,
    },
    /// The encoded part is not as long as the algorithm's hex output.
    // go-digest, ErrDigestInvalidLength.
    #[error("invalid checksum digest length")]
    InvalidLength {
        /// The digest that was given.
        digest: String,
    },
    /// A well-formed digest whose algorithm is not sha256, sha384 or sha512.
    // go-digest, ErrDigestUnsupported.
    #[error("unsupported digest algorithm")]
    Unsupported {
        /// The digest that was given.
        digest: String,
    },
}

/// A named reference to a container image: repository name, with an optional tag and an
/// optional digest (both may be present; transports decide what they accept).
///
/// Values are always normalised: a name without a registry domain gets `docker.io`, a
/// single-component docker.io path gets `library/`, `index.docker.io` becomes `docker.io`.
/// [`Display`](fmt::Display) prints the full normalised form (`docker.io/library/busybox:latest`),
/// never the user's short form; [`DockerReference::familiar_string`] gives the short one.
/// [`FromStr`] is containers/image's `ParseNormalizedNamed`; it does not add a default tag
/// (see [`DockerReference::with_default_tag`]). `parse(display(x)) == x` for every value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DockerReference {
    /// The registry domain, `host[:port]`; empty in the rare case where the first path
    /// component looks like a host (has a `.`) but is not a valid domain (`my_host.com/x`).
    domain: String,
    /// The repository path: `/`-separated lowercase components.
    path: String,
    /// The tag, `[\w][\w.-]{0,127}`.
    tag: Option<String>,
    /// The digest, `algorithm:hex`, validated by go-digest's rules.
    digest: Option<String>,
}

impl DockerReference {
    /// Parses `s` as containers/image's `ParseNormalizedNamed` does.
    pub fn parse_normalized(s: &str) -> Result<DockerReference, ReferenceError> {
        let (domain, remainder) = split_docker_domain(s, None);
        parse_split(s, &domain, &remainder)
    }

    /// Parses `s` as pcocc does for `docker://` sources when `containers.yaml` sets
    /// `runtime.default_registry`: a name without a registry domain is looked up in
    /// `default_registry` (with `library/` before a single-component name), then the result is
    /// parsed with [`DockerReference::parse_normalized`], as skopeo does with pcocc's rewritten
    /// text. `None` or an empty registry changes nothing, as in pcocc.
    ///
    /// Whether a name has a domain follows docker's rule (the first component contains `.` or
    /// `:`, or is `localhost`). pcocc's own test (`'.' not in first or ':' in first`) also
    /// prefixes `localhost/x` and `host:5000/x` with the default registry, which only produces
    /// unreachable names; strata does not reproduce that.
    pub fn parse_with_default_registry(
        s: &str,
        default_registry: Option<&str>,
    ) -> Result<DockerReference, ReferenceError> {
        match default_registry {
            Some(registry) if !registry.is_empty() && explicit_domain(s).is_none() => {
                let (domain, remainder) = split_docker_domain(s, Some(registry));
                // As skopeo sees pcocc's rewritten text, errors quote that text.
                let rewritten = format!("{domain}/{remainder}");
                let (domain, remainder) = split_docker_domain(&rewritten, None);
                parse_split(&rewritten, &domain, &remainder)
            }
            _ => DockerReference::parse_normalized(s),
        }
    }

    /// The registry domain, `host[:port]` (empty only in the rare case described on the type).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path within the registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The full repository name, `domain/path`.
    pub fn name(&self) -> String {
        if self.domain.is_empty() {
            self.path.clone()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`algorithm:hex`), if any.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// Whether the reference has neither tag nor digest.
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    /// This reference with tag `latest` if it has neither tag nor digest (`TagNameOnly`).
    pub fn with_default_tag(mut self) -> DockerReference {
        if self.is_name_only() {
            self.tag = Some(DEFAULT_TAG.to_owned());
        }
        self
    }

    /// The name as docker prints it: without `docker.io/`, and without `library/` for
    /// official images (`FamiliarName`).
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        match self.path.split_once('/') {
            Some((OFFICIAL_REPO_NAME, rest)) if !rest.contains('/') => rest.to_owned(),
            _ => self.path.clone(),
        }
    }

    /// The familiar name with its tag and digest (`FamiliarString`), e.g. `busybox:latest`.
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name();
        self.push_tag_and_digest(&mut s);
        s
    }

    fn push_tag_and_digest(&self, s: &mut String) {
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(digest);
        }
    }
}

impl FromStr for DockerReference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DockerReference::parse_normalized(s)
    }
}

impl fmt::Display for DockerReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_tag_and_digest(&mut s);
        f.write_str(&s)
    }
}

impl TryFrom<String> for DockerReference {
    type Error = ReferenceError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<DockerReference> for String {
    fn from(r: DockerReference) -> String {
        r.to_string()
    }
}

/// The domain `name` names explicitly, if any: its first `/`-separated component when that
/// contains `.` or `:` or is `localhost` (docker's rule, `splitDockerDomain`).
fn explicit_domain(name: &str) -> Option<(&str, &str)> {
    let (first, rest) = name.split_once('/')?;
    (first.contains(['.', ':']) || first == "localhost").then_some((first, rest))
}

/// `splitDockerDomain`, with `default_domain` (docker.io when `None`) for names without one.
/// A single-component path gets `library/` on docker.io and, as pcocc does, on a default
/// registry given by the caller.
fn split_docker_domain(name: &str, default_domain: Option<&str>) -> (String, String) {
    let (mut domain, remainder, defaulted) = match explicit_domain(name) {
        Some((domain, remainder)) => (domain, remainder, false),
        None => (default_domain.unwrap_or(DEFAULT_DOMAIN), name, true),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN;
    }
    let official = domain == DEFAULT_DOMAIN || (defaulted && default_domain.is_some());
    if official && !remainder.contains('/') {
        (
            domain.to_owned(),
            format!("{OFFICIAL_REPO_NAME}/{remainder}"),
        )
    } else {
        (domain.to_owned(), remainder.to_owned())
    }
}

/// The rest of `ParseNormalizedNamed` once the domain is split off: the lowercase check on the
/// remote name, then `Parse(domain + "/" + remainder)`. `input` is what the user wrote, kept
/// in errors.
fn parse_split(
    input: &str,
    domain: &str,
    remainder: &str,
) -> Result<DockerReference, ReferenceError> {
    if is_hex64(input) {
        return Err(ReferenceError::HexadecimalName {
            input: input.to_owned(),
        });
    }
    let remote_name = remainder.split(':').next().unwrap_or_default();
    if remote_name.to_lowercase() != remote_name {
        return Err(ReferenceError::UppercaseRemoteName {
            input: input.to_owned(),
        });
    }
    let full = format!("{domain}/{remainder}");
    let Some(parts) = match_reference(&full) else {
        return Err(if match_reference(&full.to_lowercase()).is_some() {
            ReferenceError::NameContainsUppercase {
                input: input.to_owned(),
            }
        } else {
            ReferenceError::InvalidFormat {
                input: input.to_owned(),
            }
        });
    };
    if parts.name.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(ReferenceError::NameTooLong {
            name: parts.name.to_owned(),
        });
    }
    if let Some(digest) = parts.digest {
        validate_digest(digest)?;
    }
    Ok(DockerReference {
        domain: parts.domain.to_owned(),
        path: parts.path.to_owned(),
        tag: parts.tag.map(str::to_owned),
        digest: parts.digest.map(str::to_owned),
    })
}

/// The pieces of a text that matches `ReferenceRegexp`.
struct ReferenceParts<'a> {
    name: &'a str,
    domain: &'a str,
    path: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

/// Matches `name[:tag][@digest]` (`ReferenceRegexp`) and splits the name into domain and path
/// as `anchoredNameRegexp` does (the domain group is tried first).
///
/// Neither name nor tag can hold `@`, so the digest is what follows the only `@`. A tag holds no
/// `:` nor `/`, while a `:` in a name is a port followed by `/`, so the tag is what follows the
/// last `:` when no `/` comes after it.
fn match_reference(s: &str) -> Option<ReferenceParts<'_>> {
    let (name_tag, digest) = match s.split_once('@') {
        Some((name_tag, digest)) => (name_tag, Some(digest)),
        None => (s, None),
    };
    let (name, tag) = match name_tag.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (name_tag, None),
    };
    if !tag.is_none_or(is_tag) || !digest.is_none_or(is_digest_pattern) {
        return None;
    }
    let (domain, path) = split_name(name)?;
    Some(ReferenceParts {
        name,
        domain,
        path,
        tag,
        digest,
    })
}

/// Splits a repository name into domain and path (`anchoredNameRegexp`), or `None` if it is not
/// one.
fn split_name(name: &str) -> Option<(&str, &str)> {
    if let Some((first, rest)) = name.split_once('/')
        && is_domain(first)
        && rest.split('/').all(is_name_component)
    {
        return Some((first, rest));
    }
    name.split('/').all(is_name_component).then_some(("", name))
}

/// `domainComponent(\.domainComponent)*(:[0-9]+)?` where `domainComponent` is
/// `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`.
fn is_domain(s: &str) -> bool {
    let (host, port) = match s.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (s, None),
    };
    let component_ok = |c: &str| {
        let b = c.as_bytes();
        match (b.first(), b.last()) {
            (Some(first), Some(last)) => {
                first.is_ascii_alphanumeric()
                    && last.is_ascii_alphanumeric()
                    && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
            }
            _ => false,
        }
    };
    host.split('.').all(component_ok)
        && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`: lowercase alphanumeric runs joined by `.`, `_`,
/// `__` or any number of `-`.
fn is_name_component(s: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = s.as_bytes();
    if !b.first().is_some_and(|&x| alnum(x)) || !b.last().is_some_and(|&x| alnum(x)) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let separator = &s[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}` (Go's `\w` is ASCII `[0-9A-Za-z_]`).
pub(crate) fn is_tag(s: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = s.as_bytes();
    (1..=128).contains(&b.len())
        && word(b[0])
        && b[1..].iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

/// The reference grammar's digest: `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*` `:`
/// then at least 32 hex digits of either case.
fn is_digest_pattern(s: &str) -> bool {
    let Some((algorithm, encoded)) = s.split_once(':') else {
        return false;
    };
    let component_ok = |c: &str| {
        let b = c.as_bytes();
        b.first().is_some_and(u8::is_ascii_alphabetic) && b.iter().all(u8::is_ascii_alphanumeric)
    };
    algorithm.split(['-', '_', '+', '.']).all(component_ok)
        && encoded.len() >= 32
        && encoded.bytes().all(|b| b.is_ascii_hexdigit())
}

/// go-digest's own, looser, digest shape: `[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+`.
fn is_go_digest_shape(s: &str) -> bool {
    let Some((algorithm, encoded)) = s.split_once(':') else {
        return false;
    };
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    algorithm.split(['.', '+', '_', '-']).all(component_ok)
        && !encoded.is_empty()
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
}

/// go-digest's `Digest.Validate`: `algorithm:encoded` where the algorithm is sha256, sha384 or
/// sha512 and the encoded part is that many lowercase hex digits.
pub(crate) fn validate_digest(s: &str) -> Result<(), ReferenceDigestError> {
    let Some((algorithm, encoded)) = s
        .split_once(':')
        .filter(|(a, e)| !a.is_empty() && !e.is_empty())
    else {
        return Err(ReferenceDigestError::InvalidFormat {
            digest: s.to_owned(),
        });
    };
    let hex_len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ if is_go_digest_shape(s) => {
            return Err(ReferenceDigestError::Unsupported {
                digest: s.to_owned(),
            });
        }
        _ => {
            return Err(ReferenceDigestError::InvalidFormat {
                digest: s.to_owned(),
            });
        }
    };
    if encoded.len() != hex_len {
        return Err(ReferenceDigestError::InvalidLength {
            digest: s.to_owned(),
        });
    }
    if !encoded
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(ReferenceDigestError::InvalidFormat {
            digest: s.to_owned(),
        });
    }
    Ok(())
}

/// Whether `s` is exactly 64 lowercase hex digits (a full image ID).
pub(crate) fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa";

    fn parts(r: &DockerReference) -> (&str, &str, Option<&str>, Option<&str>) {
        (r.domain(), r.path(), r.tag(), r.digest())
    }

    #[test]
    fn normalises_like_parse_normalized_named() {
        let digest = format!("sha256:{HEX}");
        for (input, domain, path, tag, dig) in [
            ("busybox", "docker.io", "library/busybox", None, None),
            (
                "busybox:1.36",
                "docker.io",
                "library/busybox",
                Some("1.36"),
                None,
            ),
            ("user/app", "docker.io", "user/app", None, None),
            ("docker.io/x", "docker.io", "library/x", None, None),
            ("index.docker.io/x", "docker.io", "library/x", None, None),
            ("index.docker.io/u/x", "docker.io", "u/x", None, None),
            ("localhost/x", "localhost", "x", None, None),
            (
                "localhost:5000/x:v1",
                "localhost:5000",
                "x",
                Some("v1"),
                None,
            ),
            ("quay.io/a/b/c", "quay.io", "a/b/c", None, None),
            ("Quay.IO/a", "Quay.IO", "a", None, None),
            (
                "localhost:5000",
                "docker.io",
                "library/localhost",
                Some("5000"),
                None,
            ),
            ("my_host.com/x", "", "my_host.com/x", None, None),
            ("a__b/c-----d", "docker.io", "a__b/c-----d", None, None),
        ] {
            let r = DockerReference::parse_normalized(input).unwrap();
            assert_eq!(parts(&r), (domain, path, tag, dig), "{input}");
        }
        let r: DockerReference = format!("x:TAG_1@{digest}").parse().unwrap();
        assert_eq!(
            parts(&r),
            (
                "docker.io",
                "library/x",
                Some("TAG_1"),
                Some(digest.as_str())
            )
        );
        assert_eq!(r.to_string(), format!("docker.io/library/x:TAG_1@{digest}"));
        assert_eq!(r.familiar_string(), format!("x:TAG_1@{digest}"));
    }

    #[test]
    fn familiar_forms() {
        for (input, familiar) in [
            ("busybox", "busybox"),
            ("docker.io/library/a/b", "library/a/b"),
            ("user/app", "user/app"),
            ("quay.io/library/x", "quay.io/library/x"),
        ] {
            let r = DockerReference::parse_normalized(input).unwrap();
            assert_eq!(r.familiar_name(), familiar, "{input}");
        }
    }

    #[test]
    fn default_registry_as_pcocc() {
        let reg = Some("reg.example.com:5000");
        for (input, expected) in [
            ("busybox", "reg.example.com:5000/library/busybox:latest"),
            ("busybox:1", "reg.example.com:5000/library/busybox:1"),
            ("user/app", "reg.example.com:5000/user/app:latest"),
            ("quay.io/app", "quay.io/app:latest"),
            ("docker.io/app", "docker.io/library/app:latest"),
            ("localhost/app", "localhost/app:latest"),
        ] {
            let r = DockerReference::parse_with_default_registry(input, reg).unwrap();
            assert_eq!(r.with_default_tag().to_string(), expected, "{input}");
        }
        let plain = DockerReference::parse_with_default_registry("busybox", Some("")).unwrap();
        assert_eq!(plain.to_string(), "docker.io/library/busybox");
        let plain = DockerReference::parse_with_default_registry("busybox", None).unwrap();
        assert_eq!(plain.to_string(), "docker.io/library/busybox");
        // A registry with a path prefix, as pcocc's plain concatenation allows.
        let r = DockerReference::parse_with_default_registry("x", Some("reg.io/mirror")).unwrap();
        assert_eq!(parts(&r), ("reg.io", "mirror/library/x", None, None));
    }

    #[test]
    fn grammar_pieces() {
        assert!(is_name_component("a"));
        assert!(is_name_component("a.b_c__d-e--f"));
        assert!(!is_name_component("a..b"));
        assert!(!is_name_component("a___b"));
        assert!(!is_name_component("a_-b"));
        assert!(!is_name_component("-a"));
        assert!(!is_name_component("a-"));
        assert!(!is_name_component(""));
        assert!(!is_name_component("A"));
        assert!(is_domain("a"));
        assert!(is_domain("a-b.c:1"));
        assert!(!is_domain("a-.c"));
        assert!(!is_domain("a:"));
        assert!(!is_domain("a:x"));
        assert!(!is_domain("a..b"));
        assert!(is_tag("_"));
        assert!(is_tag(&"a".repeat(128)));
        assert!(!is_tag(&"a".repeat(129)));
        assert!(!is_tag(".a"));
        assert!(!is_tag(""));
    }

    #[test]
    fn digests_as_go_digest() {
        let ok = format!("sha256:{HEX}");
        assert_eq!(validate_digest(&ok), Ok(()));
        assert_eq!(validate_digest(&format!("sha512:{HEX}{HEX}")), Ok(()));
        assert_eq!(
            validate_digest(&format!("sha384:{}", &"ab".repeat(48))),
            Ok(())
        );
        for (input, error) in [
            (
                "sha256",
                ReferenceDigestError::InvalidFormat {
                    digest: "sha256".into(),
                },
            ),
            (
                ":abc",
                ReferenceDigestError::InvalidFormat {
                    digest: ":abc".into(),
                },
            ),
            (
                "sha256:",
                ReferenceDigestError::InvalidFormat {
                    digest: "sha256:".into(),
                },
            ),
            (
                "sha256:abc",
                ReferenceDigestError::InvalidLength {
                    digest: "sha256:abc".into(),
                },
            ),
            (
                "md5:abc",
                ReferenceDigestError::Unsupported {
                    digest: "md5:abc".into(),
                },
            ),
            (
                "MD5:abc",
                ReferenceDigestError::InvalidFormat {
                    digest: "MD5:abc".into(),
                },
            ),
        ] {
            assert_eq!(validate_digest(input), Err(error), "{input}");
        }
        let upper = format!("sha256:{}", HEX.to_uppercase());
        assert_eq!(
            validate_digest(&upper),
            Err(ReferenceDigestError::InvalidFormat {
                digest: upper.clone()
            })
        );
    }
}
