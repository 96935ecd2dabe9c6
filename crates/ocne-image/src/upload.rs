//! `ocne image upload` (cmd/image/upload/upload.go and pkg/commands/image/upload/upload.go of
//! OCNE): the checks in OCNE's order — `--file` (cobra's required flag), then `--arch`, then
//! the provider type — then one of:
//!
//! - `oci`: the capability document `<file>.json` ([`crate::capability`], OCI's variant or, with
//!   `--pca`, the Private Cloud Appliance's) and the custom image tarball `<file>.tar.gz`
//!   ([`crate::tarball`]), both written atomically; then a failure that says what was written
//!   and what remains (the object `ocne_<basename>` in the bucket, the image import in the
//!   compartment), since strata cannot reach OCI.
//! - `ostree`: `oci-archive:<file>` copied to `--destination` through the strata core, with
//!   containers/image's progress lines on standard output ([`copy`]).
//! - `olvm`: a failure that says oVirt cannot be reached and what remains.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::capability::{self, Arch};
use crate::cli::UploadArgs;
use crate::copy;
use crate::error::{Error, OciRemaining};
use crate::log::Level;
use crate::run::Env;
use crate::{atomic, tarball};

/// Runs `upload`.
pub fn upload(args: &UploadArgs, env: &mut Env<'_>) -> Result<(), Error> {
    let file = args.file.as_deref().ok_or(Error::MissingFile)?;
    if args.config.is_some() {
        env.log(
            Level::Warn,
            "--config is accepted but not read: strata takes the bucket, compartment and profile from the flags only",
        )?;
    }
    let arch = Arch::parse(&args.arch).ok_or(Error::BadArch)?;
    match args.provider.as_str() {
        "oci" => oci(args, file, arch, env),
        "ostree" => copy::ostree(file, &args.destination, env),
        "olvm" => {
            open(Path::new(file))?;
            Err(Error::OlvmUnreachable { file: file.into() })
        }
        other => Err(Error::UnsupportedProvider {
            provider: other.to_owned(),
        }),
    }
}

/// Opens `path` for reading, as OCNE does before anything is written.
fn open(path: &Path) -> Result<std::fs::File, Error> {
    std::fs::File::open(path).map_err(|error| Error::Open {
        path: path.to_owned(),
        error,
    })
}

/// The `oci` provider's local part, then the failure that names the rest.
fn oci(args: &UploadArgs, file: &str, arch: Arch, env: &mut Env<'_>) -> Result<(), Error> {
    let variant = if args.pca {
        capability::Variant::Pca
    } else {
        capability::Variant::Oci
    };
    let image = abs_path(file, env.home.as_deref()).map_err(|error| Error::Open {
        path: file.into(),
        error,
    })?;
    open(&image)?;
    let capabilities = suffixed(&image, ".json");
    let document = capability::document(arch, variant);
    atomic::write_atomically(&capabilities, |f| f.write_all(document.as_bytes())).map_err(
        |source| Error::Write {
            path: capabilities.clone(),
            source,
        },
    )?;
    env.log(
        Level::Info,
        &format!("Created file {}", capabilities.display()),
    )?;
    let tarball = suffixed(&image, ".tar.gz");
    atomic::write_atomically(&tarball, |f| {
        tarball::write_tar_gz(f, &[image.as_path(), capabilities.as_path()])
    })
    .map_err(|source| Error::Write {
        path: tarball.clone(),
        source,
    })?;
    let base = image
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if tarball::entry_name(&base) != "output.QCOW2" {
        env.log(
            Level::Warn,
            &format!(
                "{base} does not end in .oci, so its tarball entry is named image_metadata.json like the capability document's, as OCNE names it: OCI's import will find no output.QCOW2 in it"
            ),
        )?;
    }
    Err(Error::OciUnreachable(Box::new(OciRemaining {
        tarball,
        capabilities,
        object: format!("ocne_{base}"),
        bucket: args.bucket.clone(),
        compartment: args.compartment.clone(),
        image_name: args.image_name.clone(),
        arch: args.arch.clone(),
        version: args.version.clone(),
    })))
}

/// OCNE's `file.AbsDir`: `~/` is the home directory, then Go's `filepath.Abs` (joined to the
/// working directory and cleaned lexically: `.` dropped, `..` taken back).
pub fn abs_path(file: &str, home: Option<&Path>) -> std::io::Result<PathBuf> {
    let joined = match (file.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        (Some(_), None) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "$HOME is not defined",
            ));
        }
        (None, _) => std::env::current_dir()?.join(file),
    };
    let mut clean = PathBuf::from("/");
    for part in joined.components() {
        match part {
            std::path::Component::Normal(p) => clean.push(p),
            std::path::Component::ParentDir => {
                clean.pop();
            }
            _ => {}
        }
    }
    Ok(clean)
}

/// `path` with `suffix` added to its name.
fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
