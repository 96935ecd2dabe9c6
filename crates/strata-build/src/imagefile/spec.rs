//! [`ImageSpec`]: the base image a FROM names, transient's `NAME[,PROTO=SOURCE]`
//! (transient/store.py `ImageSpec`, v0.25).

use std::fmt;
use std::str::FromStr;

use super::lexer::fold_prefix;

/// An image spec: `NAME` or `NAME,PROTO=SOURCE`.
///
/// transient splits the text with `^([^,]+?)(?:,(.+?)=(.+))?$`: the name runs to the first `,`
/// and is not empty; after it, the protocol runs to the first `=` that has at least one
/// character before it and one after it, and the source is the rest (which may hold `,` and
/// `=`). The protocol is recognised by its start, in any case (`https` is `http`, `FILES` is
/// `file`); it is kept as written. Without a protocol transient assumes vagrant with the name
/// as the source; a name is first looked for in the backend, and strata also reads it as a
/// repository image `[REPO:]IMAGE[@REV]`. Which one it names is the builder's to decide: this
/// type only holds the text's parts.
///
/// Invariant: [`Display`](fmt::Display) writes back exactly the text [`FromStr`] read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageSpec {
    name: String,
    source: Option<SpecSource>,
}

/// The `,PROTO=SOURCE` part of an [`ImageSpec`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SpecSource {
    protocol: Protocol,
    protocol_text: String,
    location: String,
}

/// Where transient fetches an image that is not in the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Vagrant Cloud (`NAME:VERSION` of a libvirt box); needs the network.
    Vagrant,
    /// An `http` or `https` URL, maybe gz, bz2 or xz compressed.
    Http,
    /// A local file, maybe compressed.
    File,
}

impl Protocol {
    /// The protocols in the order transient tries them, each with the start that selects it.
    const PREFIXES: [(&'static str, Protocol); 3] = [
        ("vagrant", Protocol::Vagrant),
        ("http", Protocol::Http),
        ("file", Protocol::File),
    ];

    /// The protocol a `PROTO` text selects: the first whose name starts it, in any case
    /// (`re.match(name, proto, re.IGNORECASE)`).
    pub fn from_prefix(text: &str) -> Option<Protocol> {
        Protocol::PREFIXES
            .into_iter()
            .find(|(name, _)| fold_prefix(text, name).is_some())
            .map(|(_, protocol)| protocol)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Vagrant => "vagrant",
            Protocol::Http => "http",
            Protocol::File => "file",
        })
    }
}

/// Why a text is not an image spec; the texts are transient's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The text does not split as `NAME[,PROTO=SOURCE]`.
    #[error("Invalid image spec '{spec}'")]
    Invalid {
        /// The whole spec.
        spec: String,
    },
    /// `PROTO` starts with none of vagrant, http, file.
    #[error("Unknown image source protocol '{protocol}'")]
    UnknownProtocol {
        /// The protocol as written.
        protocol: String,
    },
}

impl ImageSpec {
    /// The name: the whole spec without a protocol, the text before the first `,` with one.
    /// transient looks for it in the backend before fetching anything.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `,PROTO=SOURCE` part, if written.
    pub fn source(&self) -> Option<&SpecSource> {
        self.source.as_ref()
    }

    /// The protocol transient fetches with: the written one, vagrant without one.
    pub fn protocol(&self) -> Protocol {
        self.source
            .as_ref()
            .map_or(Protocol::Vagrant, |s| s.protocol)
    }

    /// What the protocol fetches: the written source, the name without one.
    pub fn location(&self) -> &str {
        self.source.as_ref().map_or(&self.name, |s| &s.location)
    }
}

impl SpecSource {
    /// The protocol the written one selects.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The protocol as written (`HTTPS`).
    pub fn protocol_text(&self) -> &str {
        &self.protocol_text
    }

    /// The source: a URL, a path, a Vagrant box.
    pub fn location(&self) -> &str {
        &self.location
    }
}

impl FromStr for ImageSpec {
    type Err = SpecError;

    fn from_str(spec: &str) -> Result<ImageSpec, SpecError> {
        let invalid = || SpecError::Invalid {
            spec: spec.to_owned(),
        };
        // `.` and `$` of the regex: no line end anywhere (`$` would allow one at the very end,
        // which no FROM token can hold; refusing it keeps Display exact).
        if spec.contains('\n') {
            return Err(invalid());
        }
        let Some((name, rest)) = spec.split_once(',') else {
            if spec.is_empty() {
                return Err(invalid());
            }
            return Ok(ImageSpec {
                name: spec.to_owned(),
                source: None,
            });
        };
        if name.is_empty() {
            return Err(invalid());
        }
        // `(.+?)=(.+)`: the first `=` after the protocol's first character, with a character
        // after it.
        let first_len = rest.chars().next().map_or(0, char::len_utf8);
        let Some(eq) = rest
            .get(first_len..)
            .and_then(|after| after.find('='))
            .map(|i| i + first_len)
        else {
            return Err(invalid());
        };
        let (protocol_text, location) = (&rest[..eq], &rest[eq + 1..]);
        if protocol_text.is_empty() || location.is_empty() {
            return Err(invalid());
        }
        let protocol =
            Protocol::from_prefix(protocol_text).ok_or_else(|| SpecError::UnknownProtocol {
                protocol: protocol_text.to_owned(),
            })?;
        Ok(ImageSpec {
            name: name.to_owned(),
            source: Some(SpecSource {
                protocol,
                protocol_text: protocol_text.to_owned(),
                location: location.to_owned(),
            }),
        })
    }
}

impl fmt::Display for ImageSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(source) = &self.source {
            write!(f, ",{}={}", source.protocol_text, source.location)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> ImageSpec {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn a_name_alone_is_fetched_from_vagrant_under_that_name() {
        let s = spec("centos/7:2004.01");
        assert_eq!(s.name(), "centos/7:2004.01");
        assert_eq!(s.source(), None);
        assert_eq!(s.protocol(), Protocol::Vagrant);
        assert_eq!(s.location(), "centos/7:2004.01");
    }

    #[test]
    fn the_protocol_is_recognised_by_its_start_in_any_case() {
        for (text, protocol) in [
            ("base,file=/tmp/a.qcow2", Protocol::File),
            ("base,FILES=/tmp/a.qcow2", Protocol::File),
            ("base,https=http://x/y.img.xz", Protocol::Http),
            ("base,Http=x", Protocol::Http),
            ("base,vagrant=generic/alpine38:v3.0.2", Protocol::Vagrant),
            // Python's re.IGNORECASE lets U+0130 stand for `i`.
            ("base,f\u{130}le=x", Protocol::File),
        ] {
            let s = spec(text);
            assert_eq!(s.protocol(), protocol, "{text}");
            assert_eq!(s.name(), "base");
            assert_eq!(s.to_string(), text);
        }
    }

    #[test]
    fn the_protocol_ends_at_the_first_equals_sign_after_its_first_character() {
        let s = spec("n,file=a=b,c");
        let source = s.source().expect("a source");
        assert_eq!(source.protocol_text(), "file");
        assert_eq!(source.location(), "a=b,c");
        // The protocol's first character may itself be `=`.
        let err = "n,==x".parse::<ImageSpec>().unwrap_err();
        assert_eq!(
            err,
            SpecError::UnknownProtocol {
                protocol: "=".into()
            }
        );
    }

    #[test]
    fn malformed_specs_have_transients_messages() {
        for text in [",file=x", "a,b", "a,file=", "a,=x", "a,", ""] {
            let err = text.parse::<ImageSpec>().unwrap_err();
            assert_eq!(err.to_string(), format!("Invalid image spec '{text}'"));
        }
        let err = "a,ftp=x".parse::<ImageSpec>().unwrap_err();
        assert_eq!(err.to_string(), "Unknown image source protocol 'ftp'");
        // A prefix of a protocol name is not that protocol.
        let err = "a,fil=x".parse::<ImageSpec>().unwrap_err();
        assert_eq!(err.to_string(), "Unknown image source protocol 'fil'");
    }
}
