//! [`ImageState`]: the life-cycle states of an OpenNebula image, with their codes, enum names,
//! the server's `state_to_str` names and the CLI's short codes.
//!
//! Facts from OpenNebula/one `include/Image.h` (enum, `state_to_str`) and
//! `src/oca/ruby/opennebula/image.rb` (`IMAGE_STATES`, `SHORT_IMAGE_STATES`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::image_type::ruby_strip_upcase;

/// The state of an OpenNebula image (`STATE` in the image XML, numeric there).
///
/// [`Display`](fmt::Display) and [`FromStr`] use the enum names (`USED_PERS`), which are
/// lossless; the server's messages use [`ImageState::state_to_str`], which folds `USED_PERS`
/// into `USED` and `LOCKED_USED_PERS` into `LOCKED_USED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ImageState {
    /// `INIT` (0), short `init`: initialisation.
    Init,
    /// `READY` (1), short `rdy`: ready to be used.
    Ready,
    /// `USED` (2), short `used`: a non-persistent image used by VMs or clones.
    Used,
    /// `DISABLED` (3), short `disa`: cannot be used by new VMs.
    Disabled,
    /// `LOCKED` (4), short `lock`: a datastore operation is in progress.
    Locked,
    /// `ERROR` (5), short `err`: a datastore operation failed.
    Error,
    /// `CLONE` (6), short `clon`: a persistent image being cloned.
    Clone,
    /// `DELETE` (7), short `dele`: being removed from the datastore.
    Delete,
    /// `USED_PERS` (8), short `used`: a persistent image in use by a VM.
    UsedPers,
    /// `LOCKED_USED` (9), short `lock`: locked, with VMs waiting.
    LockedUsed,
    /// `LOCKED_USED_PERS` (10), short `lock`: locked, with VMs waiting, persistent.
    LockedUsedPers,
}

/// A state name or code that OpenNebula does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageStateError {
    /// An unknown name.
    #[error(
        "Unknown image state {value:?}: expected INIT, READY, USED, DISABLED, LOCKED, ERROR, \
         CLONE, DELETE, USED_PERS, LOCKED_USED or LOCKED_USED_PERS"
    )]
    Name {
        /// The text that was given.
        value: String,
    },
    /// A numeric code outside 0..=10.
    #[error("Unknown image state code {code}")]
    Code {
        /// The code that was given.
        code: i64,
    },
}

impl ImageState {
    /// Every state, in code order (the order of `Image::IMAGE_STATES`).
    pub const ALL: [ImageState; 11] = [
        ImageState::Init,
        ImageState::Ready,
        ImageState::Used,
        ImageState::Disabled,
        ImageState::Locked,
        ImageState::Error,
        ImageState::Clone,
        ImageState::Delete,
        ImageState::UsedPers,
        ImageState::LockedUsed,
        ImageState::LockedUsedPers,
    ];

    /// The numeric code stored in the image XML `STATE` element.
    pub const fn code(self) -> u8 {
        match self {
            ImageState::Init => 0,
            ImageState::Ready => 1,
            ImageState::Used => 2,
            ImageState::Disabled => 3,
            ImageState::Locked => 4,
            ImageState::Error => 5,
            ImageState::Clone => 6,
            ImageState::Delete => 7,
            ImageState::UsedPers => 8,
            ImageState::LockedUsed => 9,
            ImageState::LockedUsedPers => 10,
        }
    }

    /// The state with this numeric code.
    pub fn from_code(code: i64) -> Result<ImageState, ImageStateError> {
        usize::try_from(code)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
            .ok_or(ImageStateError::Code { code })
    }

    /// The enum name (`IMAGE_STATES`, `oneimage show -x`'s readers, hooks): lossless.
    pub const fn as_str(self) -> &'static str {
        match self {
            ImageState::Init => "INIT",
            ImageState::Ready => "READY",
            ImageState::Used => "USED",
            ImageState::Disabled => "DISABLED",
            ImageState::Locked => "LOCKED",
            ImageState::Error => "ERROR",
            ImageState::Clone => "CLONE",
            ImageState::Delete => "DELETE",
            ImageState::UsedPers => "USED_PERS",
            ImageState::LockedUsed => "LOCKED_USED",
            ImageState::LockedUsedPers => "LOCKED_USED_PERS",
        }
    }

    /// The server's `Image::state_to_str`, used in every server message
    /// (`Image cannot be in state USED.`): `USED_PERS` prints as `USED` and
    /// `LOCKED_USED_PERS` as `LOCKED_USED`.
    pub const fn state_to_str(self) -> &'static str {
        match self {
            ImageState::UsedPers => "USED",
            ImageState::LockedUsedPers => "LOCKED_USED",
            other => other.as_str(),
        }
    }

    /// The short code of `oneimage list` STAT and `oneimage show` STATE
    /// (`SHORT_IMAGE_STATES`).
    pub const fn short(self) -> &'static str {
        match self {
            ImageState::Init => "init",
            ImageState::Ready => "rdy",
            ImageState::Used | ImageState::UsedPers => "used",
            ImageState::Disabled => "disa",
            ImageState::Locked | ImageState::LockedUsed | ImageState::LockedUsedPers => "lock",
            ImageState::Error => "err",
            ImageState::Clone => "clon",
            ImageState::Delete => "dele",
        }
    }

    /// Whether this is one of the three locked states (`Image::is_locked`): a datastore
    /// operation is in progress. Not to be confused with the object lock of `oneimage lock`.
    pub const fn is_locked(self) -> bool {
        matches!(
            self,
            ImageState::Locked | ImageState::LockedUsed | ImageState::LockedUsedPers
        )
    }

    /// Whether VMs are using the image in this state (`USED`, `USED_PERS`, `LOCKED_USED`,
    /// `LOCKED_USED_PERS`).
    pub const fn is_used(self) -> bool {
        matches!(
            self,
            ImageState::Used
                | ImageState::UsedPers
                | ImageState::LockedUsed
                | ImageState::LockedUsedPers
        )
    }
}

impl FromStr for ImageState {
    type Err = ImageStateError;

    /// Accepts the enum names in any case (`Image::str_to_state` upper-cases).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = ruby_strip_upcase(s);
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == wanted)
            .ok_or_else(|| ImageStateError::Name {
                value: s.to_owned(),
            })
    }
}

impl fmt::Display for ImageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        use ImageState::*;
        let table = [
            (Init, 0, "INIT", "INIT", "init"),
            (Ready, 1, "READY", "READY", "rdy"),
            (Used, 2, "USED", "USED", "used"),
            (Disabled, 3, "DISABLED", "DISABLED", "disa"),
            (Locked, 4, "LOCKED", "LOCKED", "lock"),
            (Error, 5, "ERROR", "ERROR", "err"),
            (Clone, 6, "CLONE", "CLONE", "clon"),
            (Delete, 7, "DELETE", "DELETE", "dele"),
            (UsedPers, 8, "USED_PERS", "USED", "used"),
            (LockedUsed, 9, "LOCKED_USED", "LOCKED_USED", "lock"),
            (
                LockedUsedPers,
                10,
                "LOCKED_USED_PERS",
                "LOCKED_USED",
                "lock",
            ),
        ];
        for (s, code, name, server, short) in table {
            assert_eq!(s.code(), code);
            assert_eq!(ImageState::from_code(i64::from(code)), Ok(s));
            assert_eq!(s.to_string(), name);
            assert_eq!(name.to_lowercase().parse(), Ok(s));
            assert_eq!(s.state_to_str(), server);
            assert_eq!(s.short(), short);
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<ImageState>(&json).unwrap(), s);
        }
        assert_eq!(
            ImageState::from_code(11),
            Err(ImageStateError::Code { code: 11 })
        );
        assert_eq!(
            "rdy".parse::<ImageState>(),
            Err(ImageStateError::Name {
                value: "rdy".into()
            })
        );
    }
}
