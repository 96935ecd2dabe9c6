//! Which capability document variant a profile gets. OCNE asks OCI's identity service for
//! the regions the profile's tenancy sees (`ListRegions`) and takes exactly one region for a
//! Private Cloud Appliance ("PCA will only have one region"). strata cannot reach that
//! service, so it reads the profile's section of the OCI configuration file instead
//! (`~/.oci/config`, at most [`MAX_CONFIG`] bytes) and counts the regions it lists: its
//! `region` lines (and the names of a comma-separated `region`). A missing file or section
//! gives OCI's document.

use std::io::Read;
use std::path::Path;

use crate::capability::Variant;
use crate::error::Error;

/// Largest OCI configuration file read (an INI file of a few profiles is a few KiB).
pub const MAX_CONFIG: u64 = 1 << 20;

/// The regions the section `[profile]` of `config` (INI text) lists.
pub fn regions(config: &str, profile: &str) -> Vec<String> {
    let mut in_section = false;
    let mut found = Vec::new();
    for line in config.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_section = name.trim() == profile;
            continue;
        }
        if !in_section {
            continue;
        }
        if let Some((key, value)) = line.split_once('=')
            && key.trim() == "region"
        {
            found.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned),
            );
        }
    }
    found
}

/// The variant for `profile` of the configuration file at `path` (absent: OCI's).
pub fn variant(path: &Path, profile: &str) -> Result<Variant, Error> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Variant::Oci),
        Err(source) => {
            return Err(Error::Profile {
                path: path.to_owned(),
                source,
            });
        }
    };
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Profile {
            path: path.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > MAX_CONFIG {
        return Err(Error::Profile {
            path: path.to_owned(),
            source: std::io::Error::other(format!("larger than {MAX_CONFIG} bytes")),
        });
    }
    let text = String::from_utf8_lossy(&bytes);
    Ok(if regions(&text, profile).len() == 1 {
        Variant::Pca
    } else {
        Variant::Oci
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_of_one_section() {
        let config = "[DEFAULT]\nuser=ocid1.user\nregion = us-ashburn-1\n\n[PCA]\n# appliance\nregion=pca.example.com\nregion=other\n";
        assert_eq!(regions(config, "DEFAULT"), ["us-ashburn-1"]);
        assert_eq!(regions(config, "PCA"), ["pca.example.com", "other"]);
        assert!(regions(config, "NONE").is_empty());
        assert_eq!(regions("[A]\nregion=a, b\n", "A"), ["a", "b"]);
    }
}
