//! The template `oneimage create` generates from its options ([`CreateOptions`]), and the
//! `--prefix` value ([`DevPrefix`]).
//!
//! Facts from OpenNebula/one `src/cli/one_helper/oneimage_helper.rb` (`TEMPLATE_OPTIONS`,
//! `create_image_variables`, `create_image_template`) and `src/cli/oneimage` (`create`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::image_type::ImageType;

/// The device prefix of `--prefix` (`DEV_PREFIX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DevPrefix {
    /// `hd`: IDE.
    Hd,
    /// `sd`: SCSI/SATA, oned.conf's `DEFAULT_DEVICE_PREFIX`.
    Sd,
    /// `xvd`: Xen.
    Xvd,
    /// `vd`: virtio.
    Vd,
}

/// A `--prefix` value that is not one of the four. Text: `oneimage_helper.rb`, `prefix` proc.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("The prefix must be hd, sd, xvd or vd")]
pub struct DevPrefixError {
    /// The text that was given.
    pub value: String,
}

impl DevPrefix {
    /// The prefix.
    pub const fn as_str(self) -> &'static str {
        match self {
            DevPrefix::Hd => "hd",
            DevPrefix::Sd => "sd",
            DevPrefix::Xvd => "xvd",
            DevPrefix::Vd => "vd",
        }
    }
}

impl FromStr for DevPrefix {
    type Err = DevPrefixError;

    /// Accepts the four prefixes in any case, surrounded by blanks (`o.strip.downcase`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s
            .trim_matches(|c: char| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r' | '\0'))
            .to_lowercase();
        [DevPrefix::Hd, DevPrefix::Sd, DevPrefix::Xvd, DevPrefix::Vd]
            .into_iter()
            .find(|p| p.as_str() == wanted)
            .ok_or_else(|| DevPrefixError {
                value: s.to_owned(),
            })
    }
}

impl fmt::Display for DevPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The template options of `oneimage create`, already validated (the path made absolute and
/// the size read by the front end).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CreateOptions {
    /// `--description`.
    pub description: Option<String>,
    /// `--type`.
    pub image_type: Option<ImageType>,
    /// `--target`.
    pub target: Option<String>,
    /// `--path`.
    pub path: Option<String>,
    /// `--format`.
    pub format: Option<String>,
    /// `--fs`.
    pub fs: Option<String>,
    /// `--disk_type`.
    pub disk_type: Option<String>,
    /// `--source`.
    pub source: Option<String>,
    /// `--size`, in MB.
    pub size_mb: Option<u64>,
    /// `--name`.
    pub name: Option<String>,
    /// `--persistent`.
    pub persistent: bool,
    /// `--prefix`.
    pub prefix: Option<DevPrefix>,
}

impl CreateOptions {
    /// The names of the template options that are set (`create_template_options_used?`), in
    /// the CLI's order: what `create` names when a template file or standard input comes too.
    pub fn used(&self) -> Vec<&'static str> {
        [
            ("description", self.description.is_some()),
            ("type", self.image_type.is_some()),
            ("persistent", self.persistent),
            ("prefix", self.prefix.is_some()),
            ("target", self.target.is_some()),
            ("path", self.path.is_some()),
            ("format", self.format.is_some()),
            ("fs", self.fs.is_some()),
            ("disk_type", self.disk_type.is_some()),
            ("source", self.source.is_some()),
            ("size", self.size_mb.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }

    /// Whether any template option is set: then a template file or standard input is refused
    /// (`You cannot pass template on STDIN and use template creation options, ...`).
    pub fn any(&self) -> bool {
        *self != CreateOptions::default()
    }

    /// The generated template: one `KEY="value"\n` line per option given, in the CLI's order
    /// (DESCRIPTION, TYPE, TARGET, PATH, FORMAT, FS, DISK_TYPE, SOURCE, SIZE, NAME), then
    /// `PERSISTENT=YES` and `DEV_PREFIX="..."`. This is also what `--dry` prints.
    ///
    /// Deviation: the CLI writes values as they are, so a value holding `"` yields a template
    /// that OpenNebula misreads or refuses; strata writes `"` as `\"`, which the parser reads
    /// back as `"`.
    pub fn to_template(&self) -> String {
        let size = self.size_mb.map(|s| s.to_string());
        let image_type = self.image_type.map(|t| t.as_str().to_owned());
        let fields = [
            ("DESCRIPTION", &self.description),
            ("TYPE", &image_type),
            ("TARGET", &self.target),
            ("PATH", &self.path),
            ("FORMAT", &self.format),
            ("FS", &self.fs),
            ("DISK_TYPE", &self.disk_type),
            ("SOURCE", &self.source),
            ("SIZE", &size),
            ("NAME", &self.name),
        ];
        let mut out = String::new();
        for (key, value) in fields {
            if let Some(value) = value {
                out.push_str(&format!("{key}=\"{}\"\n", value.replace('"', "\\\"")));
            }
        }
        if self.persistent {
            out.push_str("PERSISTENT=YES\n");
        }
        if let Some(prefix) = self.prefix {
            out.push_str(&format!("DEV_PREFIX=\"{prefix}\"\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::one::Template;

    #[test]
    fn generated_template() {
        let opts = CreateOptions {
            name: Some("Ubuntu".into()),
            path: Some("/home/cloud/disk.0".into()),
            description: Some("Ubuntu \"desktop\"".into()),
            image_type: Some(ImageType::Datablock),
            size_mb: Some(2048),
            persistent: true,
            prefix: Some(DevPrefix::Vd),
            ..CreateOptions::default()
        };
        let text = opts.to_template();
        assert_eq!(
            text,
            "DESCRIPTION=\"Ubuntu \\\"desktop\\\"\"\nTYPE=\"DATABLOCK\"\nPATH=\"/home/cloud/disk.0\"\n\
             SIZE=\"2048\"\nNAME=\"Ubuntu\"\nPERSISTENT=YES\nDEV_PREFIX=\"vd\"\n"
        );
        let t = Template::parse(&text).unwrap();
        assert_eq!(t.get_single("DESCRIPTION"), Some("Ubuntu \"desktop\""));
        assert_eq!(t.get_single("PERSISTENT"), Some("YES"));
        assert!(opts.any() && !CreateOptions::default().any());
        assert_eq!(CreateOptions::default().to_template(), "");
    }

    #[test]
    fn prefixes() {
        assert_eq!(" VD ".parse(), Ok(DevPrefix::Vd));
        let err = "nvme".parse::<DevPrefix>().unwrap_err();
        assert_eq!(
            err,
            DevPrefixError {
                value: "nvme".into()
            }
        );
        assert_eq!(err.to_string(), "The prefix must be hd, sd, xvd or vd");
        for p in [DevPrefix::Hd, DevPrefix::Sd, DevPrefix::Xvd, DevPrefix::Vd] {
            assert_eq!(p.to_string().parse(), Ok(p));
        }
    }
}
