//! `upload -t ostree`: OCNE's `image.Copy("oci-archive:<file>", destination)`
//! (pkg/image/image.go) through the strata core, the path `pcocc-image` takes between
//! transports: the archive is imported into a temporary repository (`Strata::import`, every
//! blob verified as it streams) and exported from it to the destination (`Strata::export`:
//! `docker://` pushed with strata-oci's registry client and the usual auth files, `oci:`,
//! `oci-archive:`, `docker-archive:`, `docker-daemon:`). strata does not write `dir:` or
//! `containers-storage:`; those are refused with the core's error.
//!
//! Standard output gets containers/image's lines as they stand when each bar has finished:
//! `Getting image source signatures`, one `Copying blob <12 hex> done   | ` per layer,
//! `Copying config <10 hex> done   | `, `Writing manifest to image destination`
//! (copy/progress_bars.go: the digest cut so that both prefixes are 25 characters, the bar
//! cleared on completion, the counters and speed emptied around their `" | "`). They are
//! printed once the copy is done, not redrawn while it runs.
//!
//! A registry that refuses the credentials (`docker://` only, as OCNE logs in to the
//! destination only) leads to `Log in to <domain>` (logrus), a prompt ([`crate::login`]) and
//! one retry of the export with those credentials; without a terminal the refusal stands.

use std::sync::Arc;

use strata::{
    Destination, ExportRequest, ImageLocator, ImportRequest, NamePolicy, NativeRegistry,
    NewImageTarget, NoProgress, RegistryOptions, RepositoryStore, Source, Store, Strata,
    StrataOptions,
};
use strata_model::spec::ContainerTransport;

use crate::error::Error;
use crate::log::Level;
use crate::run::Env;

/// The store the archive passes through.
const STORE: &str = "ocne-upload";
/// The image's name in it.
const NAME: &str = "upload";

/// Copies `oci-archive:<file>` to `destination`.
pub fn ostree(file: &str, destination: &str, env: &mut Env<'_>) -> Result<(), Error> {
    let dest = parse_destination(destination)?;
    let source = ContainerTransport::OciArchive(
        format!("oci-archive:{file}")
            .parse::<ContainerTransport>()
            .ok()
            .and_then(|t| match t {
                ContainerTransport::OciArchive(r) => Some(r),
                _ => None,
            })
            .ok_or_else(|| Error::BadDestination {
                message: format!("Invalid image name \"oci-archive:{file}\""),
            })?,
    );
    let scratch = tempfile::Builder::new()
        .prefix("ocne-upload-")
        .tempdir()
        .map_err(Error::Scratch)?;
    let store = Arc::new(RepositoryStore::new(STORE, scratch.path().join("repo")));
    let stores = || -> Vec<Arc<dyn Store>> { vec![store.clone()] };
    env.print("Getting image source signatures\n")?;
    let strata = Strata::new(stores(), StrataOptions::default());
    let imported = strata.import(
        ImportRequest {
            source: Source::Container(source),
            dest: NewImageTarget::named(NAME),
            policy: NamePolicy::default(),
            arch: None,
        },
        &NoProgress,
    )?;
    let request = ExportRequest {
        image: ImageLocator::named(NAME).in_store(STORE),
        dest: Destination::Container {
            transport: dest.clone(),
            default_name: None,
        },
    };
    match strata.export(request.clone(), &NoProgress) {
        Ok(_) => {}
        Err(error) if refused(&error) => {
            let ContainerTransport::Docker(r) = &dest else {
                return Err(error.into());
            };
            let domain = r.reference().domain().to_owned();
            env.log(Level::Info, &format!("Log in to {domain}"))?;
            let Some(credentials) = env.ask_login(&domain)? else {
                return Err(Error::NoTerminal {
                    error: Box::new(error),
                });
            };
            let options = StrataOptions {
                registry: Some(Arc::new(NativeRegistry::new(RegistryOptions {
                    credentials: strata_oci::registry::Credentials::Basic {
                        user: credentials.user,
                        password: credentials.password,
                    },
                    ..RegistryOptions::default()
                }))),
                ..StrataOptions::default()
            };
            env.print("Getting image source signatures\n")?;
            Strata::new(stores(), options).export(request, &NoProgress)?;
        }
        Err(error) => return Err(error.into()),
    }
    let containers = store.containers().ok_or_else(|| {
        Error::Copy(strata::Error::NotCapable {
            store: STORE.to_owned(),
            what: "container images",
        })
    })?;
    let image = containers.container_image(&imported.image, &strata_oci::Platform::host())?;
    let mut lines = String::new();
    for layer in image.layers() {
        lines.push_str(&done_line("blob", layer.digest().as_ref()));
    }
    lines.push_str(&done_line("config", image.config().digest().as_ref()));
    lines.push_str("Writing manifest to image destination\n");
    env.print(&lines)
}

/// Whether `error` is a destination's refusal of the credentials (HTTP 401 or 403).
fn refused(error: &strata::Error) -> bool {
    matches!(error, strata::Error::ContainerDestination { .. })
        && error.kind() == strata::ErrorKind::PermissionDenied
}

/// containers/image's finished bar: `Copying <kind> <hex>` cut to 25 characters, then
/// `done`, the cleared bar and the emptied counters around `" | "`.
pub fn done_line(kind: &str, digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, hex)| hex);
    let mut prefix = format!("Copying {kind} {hex}");
    prefix.truncate("Copying blob ".len() + 12);
    format!("{prefix} done   | \n")
}

/// `--destination` as a containers-transports(5) reference, refused with containers/image's
/// texts where OCNE would show them (`alltransports.ParseImageName`).
fn parse_destination(text: &str) -> Result<ContainerTransport, Error> {
    let Some((transport, _)) = text.split_once(':') else {
        return Err(Error::BadDestination {
            message: format!(
                "Invalid image name {}, expected colon-separated transport:reference",
                crate::log::go_quote(text)
            ),
        });
    };
    if !crate::config::TRANSPORTS.contains(&transport) {
        return Err(Error::BadDestination {
            message: format!(
                "Invalid image name {}, unknown transport {}",
                crate::log::go_quote(text),
                crate::log::go_quote(transport)
            ),
        });
    }
    text.parse::<ContainerTransport>()
        .map_err(|e| Error::BadDestination {
            message: format!("Invalid image name {}: {e}", crate::log::go_quote(text)),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_bars_are_containers_image_s() {
        let d = "sha256:7872e1e151ed0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(
            done_line("blob", d),
            "Copying blob 7872e1e151ed done   | \n"
        );
        assert_eq!(
            done_line("config", d),
            "Copying config 7872e1e151 done   | \n"
        );
    }

    #[test]
    fn destinations_are_refused_as_containers_image_refuses_them() {
        let e = parse_destination("myregistry").unwrap_err().to_string();
        assert_eq!(
            e,
            "Invalid image name \"myregistry\", expected colon-separated transport:reference"
        );
        let e = parse_destination("foo:bar").unwrap_err().to_string();
        assert_eq!(
            e,
            "Invalid image name \"foo:bar\", unknown transport \"foo\""
        );
        assert!(parse_destination("oci:/tmp/x").is_ok());
    }
}
