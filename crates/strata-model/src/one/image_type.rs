//! [`ImageType`]: OpenNebula's image types with their codes, names and the rules that hang on
//! the type (persistence, cloning, datastore placement, `chtype` families, snapshots).
//!
//! Facts from OpenNebula/one `include/Image.h` (enum and `type_to_str`),
//! `src/oca/ruby/opennebula/image.rb` (`IMAGE_TYPES`, `SHORT_IMAGE_TYPES`), `src/cli/oneimage`
//! (`chtype` argument), `src/cli/one_helper/oneimage_helper.rb` (`--type`), `src/image/Image.cc`
//! (`insert`), `src/image/ImagePool.cc` (`allocate`) and `src/rm/api/ImageAPI.cc`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::datastore::DatastoreType;

/// The type of an OpenNebula image (`TYPE` in the image XML, numeric there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ImageType {
    /// `OS` (0): a bootable disk.
    Os,
    /// `CDROM` (1): a read-only ISO 9660 image.
    Cdrom,
    /// `DATABLOCK` (2): a data disk, possibly created empty.
    Datablock,
    /// `KERNEL` (3): a kernel file, kept in a FILE datastore.
    Kernel,
    /// `RAMDISK` (4): an initrd file, kept in a FILE datastore.
    Ramdisk,
    /// `CONTEXT` (5): a file for the context CD-ROM, kept in a FILE datastore.
    Context,
    /// `BACKUP` (6): a VM backup, kept in a BACKUP datastore.
    Backup,
    /// `FILESYSTEM` (7): a directory-format file system image.
    Filesystem,
}

/// How the `PERSISTENT` attribute of a new image is decided, by type (`Image::insert`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PersistenceAtCreate {
    /// The template's `PERSISTENT=YES` (after the user/group/oned.conf defaults) is honoured:
    /// OS, DATABLOCK, FILESYSTEM.
    Honoured,
    /// Always non-persistent, whatever the template says: CDROM, KERNEL, RAMDISK, CONTEXT.
    AlwaysNonPersistent,
    /// Always persistent: BACKUP.
    AlwaysPersistent,
}

/// The groups within which `oneimage chtype` may move an image (`ImageAPI::change_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChtypeFamily {
    /// OS, CDROM and DATABLOCK may change into each other.
    Disk,
    /// KERNEL, RAMDISK and CONTEXT may change into each other.
    File,
    /// BACKUP and FILESYSTEM can never change type.
    Immutable,
}

/// A type name that is not one of OpenNebula's image types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageTypeError {
    /// The `chtype` argument check. Text: `src/cli/oneimage`, `format(:type, ...)`.
    #[error(
        "Image type not supported. Must be OS, CDROM, DATABLOCK, KERNEL, RAMDISK, CONTEXT, BACKUP, FILESYSTEM."
    )]
    NotSupported {
        /// The text that was given.
        value: String,
    },
    /// The `oneimage create --type` check. Text: `src/cli/one_helper/oneimage_helper.rb`,
    /// `TEMPLATE_OPTIONS` `type` proc.
    #[error("Type should be: OS, CDROM, DATABLOCK, KERNEL, RAMDISK, CONTEXT, BACKUP, FILESYSTEM")]
    ShouldBe {
        /// The text that was given.
        value: String,
    },
    /// A numeric type code outside 0..=7.
    #[error("Unknown image type code {code}")]
    Code {
        /// The code that was given.
        code: i64,
    },
}

impl ImageType {
    /// Every type, in code order (the order of `Image::IMAGE_TYPES`).
    pub const ALL: [ImageType; 8] = [
        ImageType::Os,
        ImageType::Cdrom,
        ImageType::Datablock,
        ImageType::Kernel,
        ImageType::Ramdisk,
        ImageType::Context,
        ImageType::Backup,
        ImageType::Filesystem,
    ];

    /// The numeric code stored in the image XML `TYPE` element.
    pub const fn code(self) -> u8 {
        match self {
            ImageType::Os => 0,
            ImageType::Cdrom => 1,
            ImageType::Datablock => 2,
            ImageType::Kernel => 3,
            ImageType::Ramdisk => 4,
            ImageType::Context => 5,
            ImageType::Backup => 6,
            ImageType::Filesystem => 7,
        }
    }

    /// The type with this numeric code.
    pub fn from_code(code: i64) -> Result<ImageType, ImageTypeError> {
        usize::try_from(code)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
            .ok_or(ImageTypeError::Code { code })
    }

    /// The long name (`type_to_str`, `oneimage show` TYPE, the template's `TYPE`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ImageType::Os => "OS",
            ImageType::Cdrom => "CDROM",
            ImageType::Datablock => "DATABLOCK",
            ImageType::Kernel => "KERNEL",
            ImageType::Ramdisk => "RAMDISK",
            ImageType::Context => "CONTEXT",
            ImageType::Backup => "BACKUP",
            ImageType::Filesystem => "FILESYSTEM",
        }
    }

    /// The short code of the `oneimage list` TYPE column (`SHORT_IMAGE_TYPES`).
    pub const fn short(self) -> &'static str {
        match self {
            ImageType::Os => "OS",
            ImageType::Cdrom => "CD",
            ImageType::Datablock => "DB",
            ImageType::Kernel => "KL",
            ImageType::Ramdisk => "RD",
            ImageType::Context => "CX",
            ImageType::Backup => "BK",
            ImageType::Filesystem => "FS",
        }
    }

    /// Parses the `oneimage create --type` option: like [`FromStr`] but failing with the text
    /// that option prints (`Type should be: ...`).
    pub fn parse_create_option(s: &str) -> Result<ImageType, ImageTypeError> {
        s.parse().map_err(|_| ImageTypeError::ShouldBe {
            value: s.to_owned(),
        })
    }

    /// Whether `oned.conf` may name this type as `DEFAULT_IMAGE_TYPE` (OS, CDROM, DATABLOCK).
    pub const fn may_be_default(self) -> bool {
        matches!(
            self,
            ImageType::Os | ImageType::Cdrom | ImageType::Datablock
        )
    }

    /// How a new image of this type gets its persistence (`Image::insert`).
    pub const fn persistence_at_create(self) -> PersistenceAtCreate {
        match self {
            ImageType::Os | ImageType::Datablock | ImageType::Filesystem => {
                PersistenceAtCreate::Honoured
            }
            ImageType::Cdrom | ImageType::Kernel | ImageType::Ramdisk | ImageType::Context => {
                PersistenceAtCreate::AlwaysNonPersistent
            }
            ImageType::Backup => PersistenceAtCreate::AlwaysPersistent,
        }
    }

    /// Whether `oneimage persistent`/`nonpersistent` may change this type's persistence
    /// (`ImageAPI::persistent`): OS, CDROM, DATABLOCK and FILESYSTEM. Note that CDROM is
    /// created non-persistent but may be made persistent afterwards.
    pub const fn persistence_changeable(self) -> bool {
        matches!(
            self,
            ImageType::Os | ImageType::Cdrom | ImageType::Datablock | ImageType::Filesystem
        )
    }

    /// Whether `oneimage clone` accepts this type as a source: OS, DATABLOCK, CDROM.
    pub const fn cloneable(self) -> bool {
        matches!(
            self,
            ImageType::Os | ImageType::Datablock | ImageType::Cdrom
        )
    }

    /// Whether a VM may use this type as a DISK (`ImageManager::acquire_image`).
    pub const fn usable_as_disk(self) -> bool {
        matches!(
            self,
            ImageType::Os | ImageType::Cdrom | ImageType::Datablock | ImageType::Filesystem
        )
    }

    /// Whether images of this type can carry snapshots (`ImageManager::set_image_snapshots`
    /// and the `snapshot-*` commands): OS and DATABLOCK.
    pub const fn has_snapshots(self) -> bool {
        matches!(self, ImageType::Os | ImageType::Datablock)
    }

    /// Whether the template keeps (and defaults) `DEV_PREFIX`: OS and DATABLOCK; every other
    /// type has it erased (`Image::insert`).
    pub const fn keeps_dev_prefix(self) -> bool {
        matches!(self, ImageType::Os | ImageType::Datablock)
    }

    /// The datastore type an image of this type must be registered in (`ImagePool::allocate`).
    pub const fn required_datastore(self) -> DatastoreType {
        match self {
            ImageType::Os | ImageType::Cdrom | ImageType::Datablock | ImageType::Filesystem => {
                DatastoreType::Image
            }
            ImageType::Kernel | ImageType::Ramdisk | ImageType::Context => DatastoreType::File,
            ImageType::Backup => DatastoreType::Backup,
        }
    }

    /// The `chtype` family of this type.
    pub const fn chtype_family(self) -> ChtypeFamily {
        match self {
            ImageType::Os | ImageType::Cdrom | ImageType::Datablock => ChtypeFamily::Disk,
            ImageType::Kernel | ImageType::Ramdisk | ImageType::Context => ChtypeFamily::File,
            ImageType::Backup | ImageType::Filesystem => ChtypeFamily::Immutable,
        }
    }

    /// Whether `chtype` may change this type into `to`, ignoring snapshots: both in the
    /// [`ChtypeFamily::Disk`] family or both in [`ChtypeFamily::File`]. The same type is allowed
    /// (OpenNebula accepts it and changes nothing). With snapshots, only OS and DATABLOCK are
    /// allowed targets; see [`transition`](mod@crate::one::transition).
    pub fn chtype_allowed(self, to: ImageType) -> bool {
        match self.chtype_family() {
            ChtypeFamily::Immutable => false,
            family => to.chtype_family() == family,
        }
    }
}

/// Strips like Ruby's `String#strip` (ASCII whitespace and NUL) and upper-cases like
/// `String#upcase` (full Unicode mapping): the normalisation the OpenNebula CLI applies to
/// enumerated arguments.
pub(crate) fn ruby_strip_upcase(s: &str) -> String {
    s.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r' | '\0'))
        .to_uppercase()
}

impl FromStr for ImageType {
    type Err = ImageTypeError;

    /// Accepts the long names in any case, surrounded by blanks, as the CLI does
    /// (`arg.strip.upcase`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = ruby_strip_upcase(s);
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == wanted)
            .ok_or_else(|| ImageTypeError::NotSupported {
                value: s.to_owned(),
            })
    }
}

impl fmt::Display for ImageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_names_and_short_codes() {
        let table = [
            (ImageType::Os, 0, "OS", "OS"),
            (ImageType::Cdrom, 1, "CDROM", "CD"),
            (ImageType::Datablock, 2, "DATABLOCK", "DB"),
            (ImageType::Kernel, 3, "KERNEL", "KL"),
            (ImageType::Ramdisk, 4, "RAMDISK", "RD"),
            (ImageType::Context, 5, "CONTEXT", "CX"),
            (ImageType::Backup, 6, "BACKUP", "BK"),
            (ImageType::Filesystem, 7, "FILESYSTEM", "FS"),
        ];
        for (t, code, long, short) in table {
            assert_eq!(t.code(), code);
            assert_eq!(ImageType::from_code(i64::from(code)), Ok(t));
            assert_eq!(t.to_string(), long);
            assert_eq!(t.short(), short);
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{long}\""));
            assert_eq!(
                serde_json::from_str::<ImageType>(&format!("\"{long}\"")).unwrap(),
                t
            );
        }
        assert_eq!(
            ImageType::from_code(8),
            Err(ImageTypeError::Code { code: 8 })
        );
        assert_eq!(
            ImageType::from_code(-1),
            Err(ImageTypeError::Code { code: -1 })
        );
    }

    #[test]
    fn parses_any_case_and_refuses_with_cli_texts() {
        assert_eq!(" datablock\n".parse(), Ok(ImageType::Datablock));
        assert_eq!("Os".parse(), Ok(ImageType::Os));
        let err = "disk".parse::<ImageType>().unwrap_err();
        assert_eq!(
            err,
            ImageTypeError::NotSupported {
                value: "disk".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "Image type not supported. Must be OS, CDROM, DATABLOCK, KERNEL, RAMDISK, CONTEXT, \
             BACKUP, FILESYSTEM."
        );
        let err = ImageType::parse_create_option("iso").unwrap_err();
        assert_eq!(
            err,
            ImageTypeError::ShouldBe {
                value: "iso".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "Type should be: OS, CDROM, DATABLOCK, KERNEL, RAMDISK, CONTEXT, BACKUP, FILESYSTEM"
        );
        assert_eq!(
            ImageType::parse_create_option("cdrom"),
            Ok(ImageType::Cdrom)
        );
    }

    #[test]
    fn rules() {
        use ImageType::*;
        assert!(Cdrom.chtype_allowed(Os) && Os.chtype_allowed(Datablock));
        assert!(Kernel.chtype_allowed(Context) && !Kernel.chtype_allowed(Os));
        assert!(!Backup.chtype_allowed(Backup) && !Filesystem.chtype_allowed(Os));
        assert_eq!(Kernel.required_datastore(), DatastoreType::File);
        assert_eq!(Filesystem.required_datastore(), DatastoreType::Image);
        assert_eq!(Backup.required_datastore(), DatastoreType::Backup);
        assert_eq!(
            Cdrom.persistence_at_create(),
            PersistenceAtCreate::AlwaysNonPersistent
        );
        assert!(Cdrom.persistence_changeable() && !Context.persistence_changeable());
        assert!(Cdrom.cloneable() && !Filesystem.cloneable());
        assert!(Filesystem.usable_as_disk() && !Backup.usable_as_disk());
        assert!(Cdrom.may_be_default() && Os.may_be_default() && Datablock.may_be_default());
        assert!(!Kernel.may_be_default());
    }
}
