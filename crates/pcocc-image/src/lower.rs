//! Lowering: raw command-line values into the core's requests, in one place (ripgrep's rule).
//!
//! Image URIs are parsed here with [`ImageRef`]'s strict grammar (pcocc's `parse_image_uri`
//! plus refusals of a second `:` or `@`); sizes with qemu-img's syntax. Everything else (names,
//! formats, repositories) is the core's to check, so that its errors keep pcocc's texts.

use strata::{
    CacheDeleteRequest, CacheGcRequest, CopyRequest, DeleteRequest, ErrorKind, ExportRequest,
    GcRequest, ImportRequest, ListRequest, ResizeRequest, ShowRequest, VerifyRequest,
};
use strata_model::{ByteSize, ImageRef};

use crate::cli::{CopyArgs, DeleteArgs, ExportArgs, ImportArgs, ListArgs, RepoArg, ResizeArgs};
use crate::error::Error;

/// What pcocc prints when `qemu-img create` refuses the size of `image resize` (its
/// `VMImage.create` wrapper around qemu-img's own message).
const QEMU_CREATE_FAILED: &str = "Unable to create image. The qemu-img command failed with: ";

/// An image URI, `[REPO:]IMAGE[@REVISION]`; `Bad revision: x` as in pcocc.
pub fn image_ref(text: &str) -> Result<ImageRef, Error> {
    text.parse()
        .map_err(|err| Error::request(ErrorKind::InvalidRequest, err))
}

/// `list [-R REPO] [REGEX]`: an empty regex (pcocc's default) matches everything.
pub fn list(args: &ListArgs) -> ListRequest {
    ListRequest {
        repo: args.repo.clone(),
        regex: Some(args.regex.clone()).filter(|r| !r.is_empty()),
    }
}

/// `show IMAGE`.
pub fn show(image: &str) -> Result<ShowRequest, Error> {
    Ok(ShowRequest {
        image: image_ref(image)?,
    })
}

/// `import [-t FMT] SOURCE DEST`: the source stays text (its `FORMAT:` prefix, extension and
/// content are the core's to read, in pcocc's order).
pub fn import(args: &ImportArgs) -> Result<ImportRequest, Error> {
    Ok(ImportRequest {
        source: args.source.clone(),
        format: args.fmt.clone(),
        dest: image_ref(&args.dest)?,
        arch: args.arch.clone(),
    })
}

/// `export [-t FMT] SOURCE DEST`.
pub fn export(args: &ExportArgs) -> Result<ExportRequest, Error> {
    Ok(ExportRequest {
        image: image_ref(&args.source)?,
        dest: args.dest.clone(),
        format: args.fmt.clone(),
    })
}

/// `copy SOURCE DEST`.
pub fn copy(args: &CopyArgs) -> Result<CopyRequest, Error> {
    Ok(CopyRequest {
        src: image_ref(&args.source)?,
        dest: image_ref(&args.dest)?,
    })
}

/// `delete IMAGE[@REV]`.
pub fn delete(args: &DeleteArgs) -> Result<DeleteRequest, Error> {
    Ok(DeleteRequest {
        image: image_ref(&args.image)?,
    })
}

/// `resize IMAGE NEW_SZ`: the size in qemu-img's syntax; a bad one gets pcocc's text around
/// qemu-img's message.
pub fn resize(args: &ResizeArgs) -> Result<ResizeRequest, Error> {
    let image = image_ref(&args.image)?;
    let new_size = ByteSize::parse_qemu_img(&args.new_sz).map_err(|err| {
        Error::request(
            ErrorKind::InvalidRequest,
            format!("{QEMU_CREATE_FAILED}qemu-img: {err}"),
        )
    })?;
    Ok(ResizeRequest { image, new_size })
}

/// `repo gc [REPO]`: without a name, the default repository (pcocc requires the name).
pub fn gc(args: &RepoArg) -> GcRequest {
    GcRequest {
        repo: args.repo.clone(),
        grace: None,
    }
}

/// `cache delete IMAGE`.
pub fn cache_delete(image: &str) -> Result<CacheDeleteRequest, Error> {
    Ok(CacheDeleteRequest {
        image: image_ref(image)?,
    })
}

/// `cache gc [-b N] [-c]`: pcocc's `if force_clear`, then `if force_below` (so `-b 0` is the
/// default dangling gc); a negative count is refused (Python would slice oddly).
pub fn cache_gc(force_below: Option<i64>, force_clear: bool) -> Result<CacheGcRequest, Error> {
    let force_below = match force_below {
        None => None,
        Some(n) => Some(usize::try_from(n).map_err(|_| {
            Error::request(
                ErrorKind::InvalidRequest,
                format!("Invalid value for '-b' / '--force-below': {n} is negative"),
            )
        })?),
    };
    Ok(CacheGcRequest {
        force_below,
        force_clear,
    })
}

/// `repo verify [REPO]`: without a name, every repository.
pub fn verify(args: &RepoArg) -> VerifyRequest {
    VerifyRequest {
        repo: args.repo.clone(),
    }
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
    fn uris_keep_their_parts() {
        let r = image_ref("global:c7@3").ok();
        assert_eq!(
            r.as_ref().map(|r| (r.repo(), r.name(), r.revision())),
            Some((Some("global"), "c7", Some(3)))
        );
    }

    #[test]
    fn empty_regex_lists_everything() {
        let args = ListArgs {
            repo: None,
            json: false,
            regex: String::new(),
        };
        assert_eq!(list(&args).regex, None);
        let args = ListArgs {
            regex: "^c".into(),
            ..args
        };
        assert_eq!(list(&args).regex.as_deref(), Some("^c"));
    }

    #[test]
    fn resize_sizes_are_qemu_imgs() {
        let args = ResizeArgs {
            image: "c7".into(),
            new_sz: "20G".into(),
        };
        assert_eq!(
            resize(&args).ok().map(|r| r.new_size.bytes()),
            Some(20 << 30)
        );
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
}
