//! pcocc's words for the core's errors (lib/pcocc/Image.py and lib/pcocc/Config.py, v0.7.5):
//! the core says what happened, in plain English, with every fact as a field; this module
//! says it as pcocc does. Errors pcocc has no text for print as the core words them.

use std::error::Error as _;

use strata::{Error, ImageKey};
use strata_cli::exit::push_causes;

/// pcocc's text for `error`, then the texts of its causes, joined by `": "`, each said once
/// ([`push_causes`]). `subject` is the user's own text for the source or destination the error
/// is about (`Failed to import {subject} : …`), where pcocc prints the user's text rather than
/// the path strata read.
pub fn report(error: &Error, subject: Option<&str>) -> String {
    let mut text = message(error, subject);
    push_causes(&mut text, error.source());
    text
}

/// pcocc's text for `error` alone.
pub fn message(error: &Error, subject: Option<&str>) -> String {
    let subject_or =
        |path: &std::path::Path| subject.map_or_else(|| path.display().to_string(), str::to_owned);
    match error {
        // Config.get_repo.
        Error::NoStore => "No repository configured".to_owned(),
        Error::UnknownStore { name } => format!("Unknown repository {name}"),
        // ObjectStore.get_meta, ImageMgr.get_image.
        Error::ImageNotFound { key, store } => {
            let (name, revision) = match key {
                ImageKey::Name { name, revision } => (name.clone(), *revision),
                ImageKey::Id(id) => (id.to_string(), None),
            };
            format!(
                "Object {name}{} not found{}",
                revision
                    .map(|r| format!(" revision {r}"))
                    .unwrap_or_default(),
                match store {
                    Some(repo) => format!(" in repository {repo}"),
                    None => " in configured repositories".to_owned(),
                }
            )
        }
        // ImageMgr.check_overwrite.
        Error::ImageExists { name, store } => {
            format!("Image {name} already exists in repo {store}")
        }
        // Cache.__init__.
        Error::NoCache => "A cache needs to be configured in the repos.yaml config file".to_owned(),
        // ImageMgr.import_image's wrapper around the conversion's failure.
        Error::DiskSource { path, error } => {
            failed("import", &subject_or(path), &error.to_string())
        }
        // pcocc's conversion fails with qemu-img's "No such file or directory" for a missing
        // file; strata says it before converting anything.
        Error::NotAFile {
            path,
            exists: false,
        } => format!(
            "Failed to import {} : No such file or directory",
            subject_or(path)
        ),
        Error::NotAFile { path, exists: true } => {
            format!("Failed to import {} : not an image file", subject_or(path))
        }
        Error::ContainerSource { from, error } => {
            failed("import", subject.unwrap_or(from), &error.to_string())
        }
        // strata's own, in pcocc's manner.
        Error::ContainerDestination { path, error } => {
            failed("export to", &subject_or(path), &error.to_string())
        }
        Error::ReadOnlyStore { store, path } => {
            format!("Repository {store} is not writable ({})", path.display())
        }
        // strata's own: pcocc writes version 1 records, strata only reads them.
        Error::Store(strata_store::StoreError::LegacyVersion { repo, .. }) => format!(
            "Repository {repo} is in pcocc's version 1 format, which pcocc-image reads but does not write: upgrade it with 'pcocc-image repo gc {repo}'"
        ),
        other => other.to_string(),
    }
}

/// pcocc's `Failed to {action} {subject} : {cause}`, the cause without a leading `{name}: `
/// that names what the sentence already names (`Failed to import /x/a.qcow2 : /x/a.qcow2:
/// encrypted` said the file twice).
fn failed(action: &str, subject: &str, cause: &str) -> String {
    let cause = match cause.split_once(": ") {
        Some((name, rest)) if names(subject, name) => rest,
        _ => cause,
    };
    format!("Failed to {action} {subject} : {cause}")
}

/// Whether `name` (a path an error starts with) names `subject`: the same text, or the path at
/// the end of a `TRANSPORT:PATH` subject.
fn names(subject: &str, name: &str) -> bool {
    name == subject || (name.starts_with('/') && subject.ends_with(&format!(":{name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_in_pcoccs_words() {
        let missing = |revision, store: Option<&str>| Error::ImageNotFound {
            key: ImageKey::Name {
                name: "c7".into(),
                revision,
            },
            store: store.map(str::to_owned),
        };
        assert_eq!(
            message(&missing(None, None), None),
            "Object c7 not found in configured repositories"
        );
        assert_eq!(
            message(&missing(Some(9), Some("user")), None),
            "Object c7 revision 9 not found in repository user"
        );
        assert_eq!(message(&Error::NoStore, None), "No repository configured");
        assert_eq!(
            message(&Error::UnknownStore { name: "x".into() }, None),
            "Unknown repository x"
        );
        let exists = Error::ImageExists {
            name: "c7".into(),
            store: "user".into(),
        };
        assert_eq!(
            message(&exists, None),
            "Image c7 already exists in repo user"
        );
    }

    #[test]
    fn sources_are_named_as_the_user_wrote_them() {
        let e = Error::NotAFile {
            path: "/home/jdoe/disk".into(),
            exists: false,
        };
        assert_eq!(
            message(&e, Some("~/disk")),
            "Failed to import ~/disk : No such file or directory"
        );
        assert_eq!(
            message(&e, None),
            "Failed to import /home/jdoe/disk : No such file or directory"
        );
        let dir = Error::NotAFile {
            path: "/home/jdoe".into(),
            exists: true,
        };
        assert_eq!(
            message(&dir, Some("~")),
            "Failed to import ~ : not an image file"
        );
        let io = Error::Io {
            op: "read",
            path: "/x".into(),
            source: std::io::Error::other("boom"),
        };
        assert_eq!(report(&io, None), "Cannot read /x: boom");
    }

    #[test]
    fn a_failure_names_its_subject_once() {
        assert_eq!(
            failed("import", "/x/a.qcow2", "/x/a.qcow2: encrypted"),
            "Failed to import /x/a.qcow2 : encrypted"
        );
        assert_eq!(
            failed(
                "import",
                "sif:/x/a.sif",
                "/x/a.sif: no SIF_MAGIC at offset 32"
            ),
            "Failed to import sif:/x/a.sif : no SIF_MAGIC at offset 32"
        );
        // A name that is not the subject is kept: the path `~` became, a repository, a word.
        assert_eq!(
            failed("import", "/x/data.raw", "data: bad"),
            "Failed to import /x/data.raw : data: bad"
        );
        assert_eq!(
            failed("import", "~/a.raw", "/home/jdoe/a.raw: bad"),
            "Failed to import ~/a.raw : /home/jdoe/a.raw: bad"
        );
        assert_eq!(
            failed(
                "import",
                "/x/a.raw",
                "/images/user: write 4096 bytes at offset 0: full"
            ),
            "Failed to import /x/a.raw : /images/user: write 4096 bytes at offset 0: full"
        );
    }
}
