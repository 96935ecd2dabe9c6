//! transient's words (transient/cli.py and transient/store.py, v0.25) for the core's errors and
//! warnings, and strata's own where transient has none. The core says what happened, in plain
//! English with every fact as a field; this module says it as transient does.
//!
//! | text | when | transient's |
//! |---|---|---|
//! | `No image in backend with name 'NAME'` | `rm` of a name the backend lacks | yes (`image_rm_impl`) |
//! | `Backend 'NAME' is in use by ['VM', ...]` | `rm` of an image VMs use; with `--force`, a warning | yes (`image_rm_impl`, the list is Python's `repr`) |
//! | `Unable to read image 'NAME': REASON` | `ls` of an image whose header does not parse (a warning) | no: transient stops with qemu-img's error |
//! | `N image(s) could not be read` | the end of such an `ls` | no |
//! | `Unable to find image 'NAME' in backend` | a FROM image the backend lacks, before it is fetched | yes (`BackendImageStore.retrieve_image`, on standard output) |
//! | `Copying 'PATH' as new backend 'NAME'` | fetching a `file=` image | yes (`FileImageProtocol`, on standard output) |
//! | `Downloading image from 'URL'` | fetching an `http=` image | yes (`HttpImageProtocol`, on standard output) |
//! | `No image named SOURCE found in the backend, and no version provided, so it cannot be downloaded.` | a vagrant image without `:VERSION` that the backend lacks | yes (`VagrantImageProtocol`) |
//! | `Unable to retrieve 'SPEC': strata does not download Vagrant Cloud boxes; ...` | any other vagrant image the backend lacks | no: transient downloads the box |
//!
//! Warnings are lines of Python's `logging` as transient configures it
//! (`%(asctime)s:%(levelname)s:%(message)s`, dates as `%Y-%m-%d %H:%M:%S` in local time).

use std::error::Error as _;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use strata::{Error, ImageKey};
/// Python's `repr` of a string (strata-model's, which pcocc's texts use too).
pub use strata_model::python::repr_str as py_str;

/// `rm` of a name the backend does not have.
pub fn no_such_image(name: &str) -> String {
    format!("No image in backend with name '{name}'")
}

/// `rm` of an image that the VMs `users` use.
pub fn in_use(name: &str, users: &[String]) -> String {
    format!("Backend '{name}' is in use by {}", py_list(users))
}

/// `ls` of an image that could not be read.
pub fn unreadable(name: &str, reason: &str) -> String {
    format!("Unable to read image '{name}': {reason}")
}

/// The error that ends an `ls` some of whose images could not be read.
pub fn unreadable_count(count: u64) -> String {
    match count {
        1 => "1 image could not be read".to_owned(),
        n => format!("{n} images could not be read"),
    }
}

/// A FROM image that the backend does not have, said before it is fetched.
pub fn not_in_backend(name: &str) -> String {
    format!("Unable to find image '{name}' in backend")
}

/// A `file=` image being copied into the backend as `name`.
pub fn copying(path: &str, name: &str) -> String {
    format!("Copying '{path}' as new backend '{name}'")
}

/// An `http=` image being downloaded.
pub fn downloading(url: &str) -> String {
    format!("Downloading image from '{url}'")
}

/// A vagrant image (`source` is the box, `NAME` without a protocol) that has no `:VERSION`.
pub fn no_version(source: &str) -> String {
    format!(
        "No image named {source} found in the backend, and no version provided, so it cannot \
         be downloaded."
    )
}

/// A vagrant image the backend does not have: transient would download it from Vagrant Cloud.
pub fn vagrant_unsupported(spec: &str) -> String {
    format!(
        "Unable to retrieve '{spec}': strata does not download Vagrant Cloud boxes; give the \
         image's source with ',file=PATH' or ',http=URL', or name an image already in the backend"
    )
}

/// transient's text for `error`, then the texts of its causes, joined by `": "`; a cause whose
/// text the report already ends with (an error that prints its source, then gives it as its
/// source too) is said once.
pub fn report(error: &Error) -> String {
    let mut text = message(error);
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// transient's text for `error` alone; the core's own for errors transient has no text for.
pub fn message(error: &Error) -> String {
    match error {
        Error::ImageNotFound { key, .. } => no_such_image(&key_name(key)),
        Error::ImageInUse { key, users, .. } => in_use(&key_name(key), users),
        other => other.to_string(),
    }
}

/// The name a key gives.
fn key_name(key: &ImageKey) -> String {
    match key {
        ImageKey::Name { name, .. } => name.clone(),
        ImageKey::Id(id) => id.to_string(),
    }
}

/// A line of Python's `logging` as transient sets it up, at level `level` (`WARNING`), dated
/// `now` in `tz`, newline included.
pub fn log_line(level: &str, message: &str, now: Timestamp, tz: &TimeZone) -> String {
    let date = now.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M:%S");
    format!("{date}:{level}:{message}\n")
}

/// Python's `repr` of a list of strings: `['a', "it's"]`.
pub fn py_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| py_str(s)).collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transients_texts() {
        assert_eq!(
            no_such_image("centos/7:2004.01"),
            "No image in backend with name 'centos/7:2004.01'"
        );
        assert_eq!(
            in_use("my-img", &["test-vm".to_owned()]),
            "Backend 'my-img' is in use by ['test-vm']"
        );
        let err = Error::ImageInUse {
            key: ImageKey::name("a"),
            store: "backend".into(),
            users: vec!["v1".into(), "v2".into()],
        };
        assert_eq!(report(&err), "Backend 'a' is in use by ['v1', 'v2']");
        let err = Error::ImageNotFound {
            key: ImageKey::name("x"),
            store: Some("backend".into()),
        };
        assert_eq!(report(&err), "No image in backend with name 'x'");
        // A cause already in the text is not repeated.
        let options = strata_disk::OpenOptions {
            format: Some(strata::DiskFormat::Qcow2),
            ..strata_disk::OpenOptions::default()
        };
        let disk = strata_disk::open_bytes(b"QFI\xfb".to_vec(), &options)
            .map(|_| ())
            .expect_err("four bytes are no qcow2 image");
        assert_eq!(
            report(&Error::Disk(disk)),
            "invalid qcow2 header: header needs 72 bytes, only 4 present"
        );
        let err = Error::Io {
            op: "read",
            path: "/b/x".into(),
            source: std::io::Error::other("disk on fire"),
        };
        assert_eq!(report(&err), format!("{err}: disk on fire"));
        assert_eq!(unreadable_count(1), "1 image could not be read");
        assert_eq!(unreadable_count(3), "3 images could not be read");
    }

    #[test]
    fn retrieval_texts() {
        // transient/store.py, v0.25, character for character.
        assert_eq!(
            not_in_backend("centos/7:2004.01"),
            "Unable to find image 'centos/7:2004.01' in backend"
        );
        assert_eq!(
            copying("/tmp/a.img.xz", "base"),
            "Copying '/tmp/a.img.xz' as new backend 'base'"
        );
        assert_eq!(
            downloading("http://h/a.img"),
            "Downloading image from 'http://h/a.img'"
        );
        assert_eq!(
            no_version("alpine"),
            "No image named alpine found in the backend, and no version provided, so it cannot \
             be downloaded."
        );
        assert_eq!(
            vagrant_unsupported("generic/alpine38:v3.0.2"),
            "Unable to retrieve 'generic/alpine38:v3.0.2': strata does not download Vagrant \
             Cloud boxes; give the image's source with ',file=PATH' or ',http=URL', or name an \
             image already in the backend"
        );
    }

    #[test]
    fn python_reprs() {
        // Each right-hand side is what Python 3.11 prints for repr() of the left.
        for (text, repr) in [
            ("vm", "'vm'"),
            ("", "''"),
            ("it's", "\"it's\""),
            ("say \"hi\"", "'say \"hi\"'"),
            ("both ' and \"", "'both \\' and \"'"),
            ("back\\slash", "'back\\\\slash'"),
            ("tab\tnew\nline\r", "'tab\\tnew\\nline\\r'"),
            ("bell\x07del\x7f", "'bell\\x07del\\x7f'"),
            ("nb\u{a0}sp", "'nb\\xa0sp'"),
            ("zero\u{200b}width", "'zero\\u200bwidth'"),
            ("日本 é", "'日本 é'"),
        ] {
            assert_eq!(py_str(text), repr, "{text:?}");
        }
        assert_eq!(py_list(&[]), "[]");
        assert_eq!(
            py_list(&["a".to_owned(), "b'c".to_owned()]),
            "['a', \"b'c\"]"
        );
    }

    #[test]
    fn log_lines_are_pythons_logging() {
        let now: Timestamp = "2026-12-07T01:13:48.9Z".parse().unwrap();
        assert_eq!(
            log_line("WARNING", "m", now, &TimeZone::UTC),
            "2026-12-07 01:13:48:WARNING:m\n"
        );
        let plus_one = TimeZone::fixed(jiff::tz::offset(1));
        assert_eq!(
            log_line("WARNING", "m", now, &plus_one),
            "2026-12-07 02:13:48:WARNING:m\n"
        );
    }
}
