//! [`ImageRef`]: pcocc's image URI, `[REPO:]IMAGE[@REVISION]`, parsed strictly.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::name::{NameError, PcoccName};

/// A reference to an image, or to one revision of it, maybe in a named repository:
/// `[REPO:]IMAGE[@REVISION]`.
///
/// The grammar is pcocc's (`ImageMgr.parse_image_uri`), made strict: where pcocc silently drops a
/// second `:` or keeps a second `@` in the image name, strata refuses the URI. The image name is
/// not validated beyond that (pcocc validates names only when writing): see
/// [`ImageRef::pcocc_name`].
///
/// Invariant: neither the repository nor the image name is empty or holds `:` or `@`, so that
/// [`Display`](fmt::Display) and [`FromStr`] are inverse.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImageRef {
    repo: Option<String>,
    name: String,
    revision: Option<u32>,
}

/// Why a text is not an image URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefError {
    /// The text after the last `@` is not a non-negative integer (pcocc's text).
    #[error("Bad revision: {text}")]
    BadRevision {
        /// The text after the last `@`.
        text: String,
    },
    /// The URI has more than one `:` (pcocc would silently drop what follows the second).
    #[error("Bad image URI {uri:?}: more than one ':' (expected [REPO:]IMAGE[@REVISION])")]
    ExtraColon {
        /// The whole URI.
        uri: String,
    },
    /// The URI has more than one `@` (pcocc would keep the first in the image name, which it then
    /// can never find nor write).
    #[error("Bad image URI {uri:?}: more than one '@' (expected [REPO:]IMAGE[@REVISION])")]
    ExtraAt {
        /// The whole URI.
        uri: String,
    },
    /// The image name is empty.
    #[error("Bad image URI {uri:?}: empty image name")]
    EmptyName {
        /// The whole URI.
        uri: String,
    },
    /// The repository name before `:` is empty.
    #[error("Bad image URI {uri:?}: empty repository name")]
    EmptyRepo {
        /// The whole URI.
        uri: String,
    },
    /// A repository or image name given to [`ImageRef::new`] holds a separator.
    #[error("Bad image URI component {component:?}: it cannot contain {ch:?}")]
    Separator {
        /// The repository or image name that was given.
        component: String,
        /// The separator it holds, `:` or `@`.
        ch: char,
    },
}

impl ImageRef {
    /// A reference built from its parts, with the rules [`FromStr`] applies.
    pub fn new(
        repo: Option<&str>,
        name: &str,
        revision: Option<u32>,
    ) -> Result<ImageRef, ImageRefError> {
        for component in repo.into_iter().chain([name]) {
            if let Some(ch) = component.chars().find(|c| matches!(c, ':' | '@')) {
                return Err(ImageRefError::Separator {
                    component: component.to_owned(),
                    ch,
                });
            }
        }
        let image_ref = ImageRef {
            repo: repo.map(str::to_owned),
            name: name.to_owned(),
            revision,
        };
        if name.is_empty() {
            return Err(ImageRefError::EmptyName {
                uri: image_ref.to_string(),
            });
        }
        if repo.is_some_and(str::is_empty) {
            return Err(ImageRefError::EmptyRepo {
                uri: image_ref.to_string(),
            });
        }
        Ok(image_ref)
    }

    /// A reference to the latest revision of a pcocc-named image, in any repository.
    pub fn from_name(name: &PcoccName) -> ImageRef {
        ImageRef {
            repo: None,
            name: name.as_str().to_owned(),
            revision: None,
        }
    }

    /// The same reference, to the given revision (`None`: the latest).
    #[must_use]
    pub fn with_revision(mut self, revision: Option<u32>) -> ImageRef {
        self.revision = revision;
        self
    }

    /// The repository named before `:`, if any.
    pub fn repo(&self) -> Option<&str> {
        self.repo.as_deref()
    }

    /// The image name, unvalidated beyond being non-empty and free of `:` and `@`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The revision named after `@`, if any (`None` means the latest).
    pub fn revision(&self) -> Option<u32> {
        self.revision
    }

    /// The image name validated as pcocc validates names when writing.
    pub fn pcocc_name(&self) -> Result<PcoccName, NameError> {
        self.name.parse()
    }
}

impl FromStr for ImageRef {
    type Err = ImageRefError;

    fn from_str(uri: &str) -> Result<Self, Self::Err> {
        let (rest, revision) = match uri.rsplit_once('@') {
            None => (uri, None),
            Some((rest, text)) => {
                let revision = parse_revision(text).ok_or_else(|| ImageRefError::BadRevision {
                    text: text.to_owned(),
                })?;
                if rest.contains('@') {
                    return Err(ImageRefError::ExtraAt {
                        uri: uri.to_owned(),
                    });
                }
                (rest, Some(revision))
            }
        };
        let (repo, name) = match rest.split_once(':') {
            None => (None, rest),
            Some((_, name)) if name.contains(':') => {
                return Err(ImageRefError::ExtraColon {
                    uri: uri.to_owned(),
                });
            }
            Some((repo, name)) => (Some(repo), name),
        };
        if name.is_empty() {
            return Err(ImageRefError::EmptyName {
                uri: uri.to_owned(),
            });
        }
        if repo.is_some_and(str::is_empty) {
            return Err(ImageRefError::EmptyRepo {
                uri: uri.to_owned(),
            });
        }
        Ok(ImageRef {
            repo: repo.map(str::to_owned),
            name: name.to_owned(),
            revision,
        })
    }
}

/// A revision: ASCII digits only (leading zeros allowed, as Python's `int` allows them), that fit
/// a `u32`. Unlike Python's `int`, no sign, blanks or underscores.
fn parse_revision(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl TryFrom<String> for ImageRef {
    type Error = ImageRefError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ImageRef> for String {
    fn from(r: ImageRef) -> String {
        r.to_string()
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(repo) = &self.repo {
            write!(f, "{repo}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(revision) = self.revision {
            write!(f, "@{revision}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ImageRef {
        s.parse().unwrap()
    }

    #[test]
    fn parts() {
        let r = parse("user:centos7@2");
        assert_eq!(
            (r.repo(), r.name(), r.revision()),
            (Some("user"), "centos7", Some(2))
        );
        let r = parse("centos7");
        assert_eq!((r.repo(), r.name(), r.revision()), (None, "centos7", None));
        assert_eq!(parse("a@007").revision(), Some(7));
        assert_eq!(parse("a@007").to_string(), "a@7");
    }

    #[test]
    fn refusals() {
        assert_eq!(
            "a@b".parse::<ImageRef>(),
            Err(ImageRefError::BadRevision { text: "b".into() })
        );
        assert_eq!(
            "a@-1".parse::<ImageRef>(),
            Err(ImageRefError::BadRevision { text: "-1".into() })
        );
        assert_eq!(
            "a@b@1".parse::<ImageRef>(),
            Err(ImageRefError::ExtraAt {
                uri: "a@b@1".into()
            })
        );
        assert_eq!(
            "r:a:b".parse::<ImageRef>(),
            Err(ImageRefError::ExtraColon {
                uri: "r:a:b".into()
            })
        );
        assert_eq!(
            ":a".parse::<ImageRef>(),
            Err(ImageRefError::EmptyRepo { uri: ":a".into() })
        );
        assert_eq!(
            "r:@1".parse::<ImageRef>(),
            Err(ImageRefError::EmptyName { uri: "r:@1".into() })
        );
    }

    #[test]
    fn new_applies_the_grammar() {
        assert_eq!(ImageRef::new(Some("r"), "a", Some(1)), Ok(parse("r:a@1")));
        assert_eq!(
            ImageRef::new(None, "a:b", None),
            Err(ImageRefError::Separator {
                component: "a:b".into(),
                ch: ':'
            })
        );
        assert_eq!(
            ImageRef::new(Some(""), "a", None),
            Err(ImageRefError::EmptyRepo { uri: ":a".into() })
        );
    }

    #[test]
    fn pcocc_name() {
        assert_eq!(parse("r:a-b@1").pcocc_name().unwrap().as_str(), "a-b");
        assert_eq!(
            parse("a/b").pcocc_name(),
            Err(NameError::PcoccInvalidChars { name: "a/b".into() })
        );
    }
}
