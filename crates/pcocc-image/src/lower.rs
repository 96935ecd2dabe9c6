//! Lowering: raw command-line values into the core's requests, in one place (ripgrep's rule),
//! with pcocc's policy: its URI grammar (`[REPO:]IMAGE[@REVISION]`, strict), its name rules, its
//! format guessing (`FORMAT:` prefix, `-t`, extension, content, with `oci-archive` and `vhdx`
//! added), `~`
//! expanded as Python's `expanduser`, its default names for exported container images, and
//! its order of checks, so that a command with several faults fails on the one pcocc reports.
//! Looking at files (a format from the content, an image's kind) goes through the core.

use strata::{
    CacheDeleteRequest, CacheGcRequest, ContainerTransport, CopyRequest, DeleteRequest,
    Destination, ErrorKind, ExportRequest, Format, GcRequest, ImportRequest, ListRequest, Probe,
    ResizeRequest, ShowRequest, Source, VerifyRequest,
};
use strata_model::spec::{
    ContainerFormat, Guess, ImageSpec, Origin, Resolved, SpecError, TransportError,
};
use strata_model::{ByteSize, DiskFormat, ImageRef, Kind};

use crate::cli::{CopyArgs, DeleteArgs, ExportArgs, ImportArgs, ListArgs, RepoArg, ResizeArgs};
use crate::error::Error;
use crate::settings::{DOCKER_ARCHIVE_TAG, NEW_NAME, OCI_REF_NAME, Settings, locator, new_target};

/// What pcocc prints when `qemu-img create` refuses the size of `image resize` (its
/// `VMImage.create` wrapper around qemu-img's own message).
const QEMU_CREATE_FAILED: &str = "Unable to create image. The qemu-img command failed with: ";

/// A request and what the user called its source or destination, for pcocc's error texts.
#[derive(Debug)]
pub struct Lowered<R> {
    /// The request.
    pub request: R,
    /// The source or destination as pcocc names it in errors (`FORMAT:` prefix removed, `~`
    /// not expanded), when that differs from the path the core reads.
    pub subject: Option<String>,
    /// The format was assumed raw: pcocc warns (`WARNING:root:Could not detect image format,
    /// assuming raw VM`).
    pub assumed_raw: bool,
}

/// An image URI, `[REPO:]IMAGE[@REVISION]`; `Bad revision: x` as in pcocc.
pub fn image_ref(text: &str) -> Result<ImageRef, Error> {
    text.parse()
        .map_err(|err| Error::request(ErrorKind::InvalidRequest, err))
}

/// `list [-R REPO] [REGEX]`: an empty regex (pcocc's default) matches everything; a bad one is
/// `Could not parse regular expression :{err}` before any repository is read. The syntax is the
/// `regex` crate's, which is Python's for everything but look-around and back-references.
pub fn list(args: &ListArgs) -> Result<ListRequest, Error> {
    let filter = match args.regex.as_str() {
        "" => None,
        pattern => Some(regex::Regex::new(pattern).map_err(|e| {
            Error::request(
                ErrorKind::InvalidRequest,
                format!("Could not parse regular expression :{e}"),
            )
        })?),
    };
    Ok(ListRequest {
        store: args.repo.clone(),
        filter,
    })
}

/// `show IMAGE`.
pub fn show(image: &str) -> Result<ShowRequest, Error> {
    Ok(ShowRequest {
        image: locator(&image_ref(image)?),
    })
}

/// `import [-t FMT] SOURCE DEST`, in pcocc's order: the destination repository, the name, then
/// the source's format.
pub fn import(args: &ImportArgs, settings: &Settings) -> Result<Lowered<ImportRequest>, Error> {
    let dest = image_ref(&args.dest)?;
    settings.strata.store(dest.repo())?;
    dest.pcocc_name().map_err(name_error)?;
    let resolved = resolve(settings, &args.source, args.fmt.as_deref(), None)?;
    let source = match resolved.spec.format {
        Format::Disk(format) => Source::Disk {
            path: settings.expand_user(&resolved.spec.path),
            format,
        },
        Format::Container(_) => Source::Container(transport(settings, &resolved.spec)?),
    };
    Ok(Lowered {
        request: ImportRequest {
            source,
            dest: new_target(&dest),
            policy: NEW_NAME,
            arch: args.arch.clone(),
        },
        subject: Some(resolved.spec.path),
        assumed_raw: resolved.origin == Origin::AssumedRaw,
    })
}

/// `export [-t FMT] SOURCE DEST`: the image is looked up first (its kind settles the default
/// format: `raw` for a VM, `docker-archive` for a container), then the destination's format.
pub fn export(args: &ExportArgs, settings: &Settings) -> Result<Lowered<ExportRequest>, Error> {
    let image = locator(&image_ref(&args.source)?);
    let (_, found) = settings.strata.find(&image)?;
    let resolved = resolve(settings, &args.dest, args.fmt.as_deref(), Some(found.kind))?;
    let (dest, subject) = match resolved.spec.format {
        Format::Disk(format) => (
            Destination::Disk {
                path: settings.expand_user(&resolved.spec.path),
                format,
            },
            None,
        ),
        Format::Container(format) => {
            let transport = transport(settings, &resolved.spec)?;
            let default_name = match format {
                ContainerFormat::Oci | ContainerFormat::OciArchive => Some(OCI_REF_NAME),
                ContainerFormat::DockerArchive => Some(DOCKER_ARCHIVE_TAG),
                _ => None,
            };
            // Remote destinations are named in errors as the user wrote them.
            let subject = transport
                .local_path()
                .is_none()
                .then(|| resolved.spec.to_string());
            (
                Destination::Container {
                    transport,
                    default_name: default_name.map(str::to_owned),
                },
                subject,
            )
        }
    };
    Ok(Lowered {
        request: ExportRequest { image, dest },
        subject,
        assumed_raw: false,
    })
}

/// `copy SOURCE DEST`, in pcocc's order: the source image, the destination repository, then
/// the destination's name.
pub fn copy(args: &CopyArgs, settings: &Settings) -> Result<CopyRequest, Error> {
    let src = image_ref(&args.source)?;
    let dest = image_ref(&args.dest)?;
    let src = locator(&src);
    settings.strata.find(&src)?;
    settings.strata.store(dest.repo())?;
    dest.pcocc_name().map_err(name_error)?;
    Ok(CopyRequest {
        src,
        dest: new_target(&dest),
        policy: NEW_NAME,
    })
}

/// `delete IMAGE[@REV]`: **without a `REPO:` prefix, only the default (first) repository is
/// searched**, not every repository as lookups do: an image that exists only in another
/// repository is `Object {name} not found in repository {default}`. This is a known weakness
/// of pcocc (`image delete foo` may leave the `foo` that `image show foo` shows), kept on
/// purpose so that scripts behave as with pcocc.
pub fn delete(args: &DeleteArgs, settings: &Settings) -> Result<DeleteRequest, Error> {
    let image = image_ref(&args.image)?;
    let store = settings.strata.store(image.repo())?.name().to_owned();
    Ok(DeleteRequest::new(locator(&image).in_store(store)))
}

/// `resize IMAGE NEW_SZ`: the size in qemu-img's syntax; a bad one gets pcocc's text around
/// qemu-img's message.
pub fn resize(args: &ResizeArgs) -> Result<ResizeRequest, Error> {
    let image = locator(&image_ref(&args.image)?);
    let new_size = ByteSize::parse_qemu_img(&args.new_sz).map_err(|err| {
        Error::request(
            ErrorKind::InvalidRequest,
            format!("{QEMU_CREATE_FAILED}qemu-img: {err}"),
        )
    })?;
    Ok(ResizeRequest {
        image,
        new_size: new_size.bytes(),
    })
}

/// `repo gc [REPO]`: without a name, the default repository (pcocc requires the name).
pub fn gc(args: &RepoArg) -> GcRequest {
    GcRequest {
        store: args.repo.clone(),
        grace: None,
    }
}

/// `cache delete IMAGE`.
pub fn cache_delete(image: &str) -> Result<CacheDeleteRequest, Error> {
    Ok(CacheDeleteRequest {
        image: locator(&image_ref(image)?),
    })
}

/// `cache gc [-b N] [-c]`: pcocc's `if force_clear`, then `if force_below` (so `-b 0` is the
/// default dangling gc); a negative count is refused (Python would slice oddly).
pub fn cache_gc(force_below: Option<i64>, force_clear: bool) -> Result<CacheGcRequest, Error> {
    let keep_at_most = match force_below {
        None => None,
        Some(n) => Some(usize::try_from(n).map_err(|_| {
            Error::request(
                ErrorKind::InvalidRequest,
                format!("Invalid value for '-b' / '--force-below': {n} is negative"),
            )
        })?),
    };
    Ok(CacheGcRequest {
        keep_at_most,
        clear: force_clear,
    })
}

/// `repo verify [REPO]`: without a name, every repository.
pub fn verify(args: &RepoArg) -> VerifyRequest {
    VerifyRequest {
        store: args.repo.clone(),
    }
}

/// The formats this front end accepts besides pcocc's own, at every step of pcocc's format
/// guess: a `vhdx:` prefix, `-t vhdx`, the `.vhdx` extension, and vhdx content, for import
/// and export alike. pcocc knows no vhdx (its lists stop at `vmdk`), so without this a vhdx
/// file would be refused on import, and `export x.vhdx` would fall back to raw.
///
/// Why here and not in the model: `simg` sits in the model's extension rule because pcocc's
/// own man page promises it (it is part of pcocc's dialect, misimplemented by pcocc), whereas
/// vhdx is strata's addition to the dialect, like `oci-archive` below, and which formats a
/// dialect adds is the front end's policy. Unlike `oci-archive` (a prefix or `-t` only: it has
/// no extension and no content to detect, so it is matched before pcocc's guess), vhdx takes
/// part in the extension and content steps too, so it is handed to the model's guess as a
/// value ([`Guess::from_text_adding`]), which keeps pcocc's order and checks for it.
const ADDED_FORMATS: &[Format] = &[Format::Disk(DiskFormat::Vhdx)];

/// Every format name `-t` and a `FORMAT:` prefix take (in any case): pcocc's VM formats in its
/// order and strata's `vhdx`, then its container formats and `oci-archive`, which strata
/// adds, by name. Help and completions list them; a name that is not one of them is still
/// refused where pcocc refuses it (after content detection), in its words.
pub fn format_names() -> Vec<&'static str> {
    let mut containers: Vec<&'static str> = ContainerFormat::PCOCC
        .into_iter()
        .chain([ContainerFormat::OciArchive])
        .map(ContainerFormat::name)
        .collect();
    containers.sort_unstable();
    DiskFormat::PCOCC
        .into_iter()
        .map(DiskFormat::name)
        .chain(ADDED_FORMATS.iter().map(|f| f.name()))
        .chain(containers)
        .collect()
}

/// pcocc's format guess for an import source or export destination (`kind` known on export),
/// with `oci-archive` and [`ADDED_FORMATS`] added, and the path's content probed when the text
/// says to.
fn resolve(
    settings: &Settings,
    text: &str,
    type_option: Option<&str>,
    kind: Option<Kind>,
) -> Result<Resolved, Error> {
    if let Some(resolved) = guess_with_oci_archive(text, type_option, kind).map_err(spec_error)? {
        return Ok(resolved);
    }
    let guess =
        Guess::from_text_adding(text, type_option, kind, ADDED_FORMATS).map_err(spec_error)?;
    let probe = if guess.needs_probe() {
        strata::probe(&settings.expand_user(guess.path()))?
    } else {
        Probe::Other
    };
    // An import source that does not exist is missing, not of an unknown format (pcocc says
    // "Could not detect image format" when the name has no extension to go by).
    if kind.is_none() && probe == Probe::Missing && guess.format().is_none() {
        return Err(Error::request(
            ErrorKind::NotFound,
            format!(
                "Failed to import {} : No such file or directory",
                guess.path()
            ),
        ));
    }
    guess.resolve(probe).map_err(spec_error)
}

/// pcocc's format guess, plus `oci-archive`, which pcocc does not know but strata reads and
/// writes: an `oci-archive:` prefix (any case) or `-t oci-archive` settles it.
fn guess_with_oci_archive(
    text: &str,
    type_option: Option<&str>,
    kind: Option<Kind>,
) -> Result<Option<Resolved>, SpecError> {
    const NAME: &str = ContainerFormat::OciArchive.name();
    let typed = type_option.map(str::to_lowercase);
    let prefixed = text
        .split_once(':')
        .filter(|(p, _)| p.eq_ignore_ascii_case(NAME))
        .map(|(_, rest)| rest);
    let (path, origin) = match (prefixed, typed.as_deref()) {
        (Some(rest), None | Some(NAME)) => (rest, Origin::Prefix),
        (Some(_), Some(other)) => {
            return Err(SpecError::PrefixMismatch {
                specified: other.to_owned(),
                prefix: NAME.to_owned(),
            });
        }
        (None, Some(NAME)) => (text, Origin::TypeOption),
        (None, _) => return Ok(None),
    };
    if kind == Some(Kind::Vm) {
        return Err(SpecError::WrongKind {
            format: Format::Container(ContainerFormat::OciArchive),
            kind: Kind::Vm,
        });
    }
    Ok(Some(Resolved {
        spec: ImageSpec {
            format: Format::Container(ContainerFormat::OciArchive),
            path: path.to_owned(),
        },
        origin,
    }))
}

/// The containers-transports reference of a container spec (pcocc's `pcocc-docker-daemon`
/// is `docker-daemon`), its local path's `~` expanded.
fn transport(settings: &Settings, spec: &ImageSpec) -> Result<ContainerTransport, Error> {
    let transport = spec
        .to_transport(None)
        .map_err(transport_error)?
        .ok_or_else(|| {
            Error::request(
                ErrorKind::InvalidRequest,
                format!("{spec} is not a container image reference"),
            )
        })?;
    Ok(transport.map_local_path(|path| settings.expand_user_text(path)))
}

/// A format decision pcocc refuses: a wrong request, or input that is not what it says.
fn spec_error(e: SpecError) -> Error {
    let kind = match e {
        SpecError::PrefixMismatch { .. }
        | SpecError::InvalidFormat { .. }
        | SpecError::WrongKind { .. } => ErrorKind::InvalidRequest,
        SpecError::DetectedMismatch { .. } | SpecError::CouldNotDetect { .. } => {
            ErrorKind::InvalidFormat
        }
    };
    Error::request(kind, e)
}

/// A containers-transports reference that does not parse (containers/image's texts).
fn transport_error(e: TransportError) -> Error {
    Error::request(ErrorKind::InvalidRequest, e)
}

/// An image name pcocc refuses (`Object name contains invalid characters`).
fn name_error(e: strata_model::NameError) -> Error {
    Error::request(ErrorKind::InvalidRequest, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_revision_is_pcoccs_text() {
        let err = image_ref("img@x").err().map(|e| (e.to_string(), e.kind()));
        assert_eq!(
            err,
            Some((
                "Bad revision: x".to_owned(),
                Some(ErrorKind::InvalidRequest)
            ))
        );
    }

    #[test]
    fn empty_regex_lists_everything_and_a_bad_one_is_pcoccs_text() {
        let args = ListArgs {
            repo: None,
            json: false,
            regex: String::new(),
        };
        assert!(list(&args).ok().is_some_and(|r| r.filter.is_none()));
        let args = ListArgs {
            regex: "^c".into(),
            ..args
        };
        assert_eq!(
            list(&args)
                .ok()
                .and_then(|r| r.filter)
                .map(|r| r.as_str().to_owned()),
            Some("^c".to_owned())
        );
        let args = ListArgs {
            regex: "(".into(),
            ..args
        };
        let e = list(&args).err().map(|e| (e.kind(), e.to_string()));
        assert!(
            e.as_ref()
                .is_some_and(|(kind, text)| *kind == Some(ErrorKind::InvalidRequest)
                    && text.starts_with("Could not parse regular expression :")),
            "{e:?}"
        );
    }

    #[test]
    fn resize_sizes_are_qemu_imgs() {
        let args = ResizeArgs {
            image: "c7".into(),
            new_sz: "20G".into(),
        };
        assert_eq!(resize(&args).ok().map(|r| r.new_size), Some(20 << 30));
        let args = ResizeArgs {
            image: "c7".into(),
            new_sz: "20X".into(),
        };
        assert_eq!(
            resize(&args).err().map(|e| e.to_string()),
            Some(
                "Unable to create image. The qemu-img command failed with: qemu-img: \
                 Invalid image size specified: '20X'."
                    .to_owned()
            )
        );
    }

    /// The names help lists are exactly those `-t` takes: every one passes the format check
    /// (`vhdx`, which pcocc does not know, among them as strata's addition), in any case.
    #[test]
    fn format_names_are_the_names_t_accepts() {
        let names = format_names();
        let all = DiskFormat::ALL
            .into_iter()
            .map(DiskFormat::name)
            .chain(ContainerFormat::ALL.into_iter().map(ContainerFormat::name));
        for name in all {
            let accepted = guess_with_oci_archive("/x", Some(name), None)
                .is_ok_and(|r| r.is_some())
                || Guess::from_text_adding("/x", Some(&name.to_uppercase()), None, ADDED_FORMATS)
                    .is_ok_and(|g| g.format().is_some());
            assert_eq!(names.contains(&name), accepted, "{name}");
        }
        assert!(names.contains(&"vhdx"));
        assert_eq!(names.len(), 17, "{names:?}");
    }

    #[test]
    fn oci_archive_is_added_to_pcoccs_formats() {
        let r = guess_with_oci_archive("OCI-Archive:/a.tar", None, None);
        assert!(matches!(
            r,
            Ok(Some(Resolved {
                origin: Origin::Prefix,
                ..
            }))
        ));
        assert!(matches!(
            guess_with_oci_archive("oci-archive:/a.tar", Some("raw"), None),
            Err(SpecError::PrefixMismatch { .. })
        ));
        assert!(matches!(
            guess_with_oci_archive("/a.tar", Some("oci-archive"), Some(Kind::Vm)),
            Err(SpecError::WrongKind { .. })
        ));
        assert!(matches!(
            guess_with_oci_archive("/a.tar", None, None),
            Ok(None)
        ));
    }
}
