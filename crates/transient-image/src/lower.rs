//! Lowering: raw flags into core requests, with transient's rules for names.
//!
//! transient names images by any text; the backend stores each under its reversible encoding
//! ([`TransientName`]). A name no file can hold (empty, with a NUL, `.` or `..`) is simply not
//! in the backend: `rm` says so in transient's words.

use strata::{DeleteRequest, ImageLocator, ListRequest, OnInUse, ShowRequest, SizesRequest};
use strata_model::name::TransientName;

use crate::cli::RmArgs;
use crate::error::Error;
use crate::settings::BACKEND;

/// `ls`: every image of the backend.
pub fn ls() -> ListRequest {
    ListRequest {
        store: Some(BACKEND.to_owned()),
        filter: None,
    }
}

/// Where image `name` is: in the backend.
pub fn locator(name: &str) -> ImageLocator {
    ImageLocator::named(name).in_store(BACKEND)
}

/// The sizes of the listed image `name`.
pub fn sizes(name: &str) -> SizesRequest {
    SizesRequest {
        image: locator(name),
    }
}

/// The file of the listed image `name` (`show` gives its one layer).
pub fn show(name: &str) -> ShowRequest {
    ShowRequest {
        image: locator(name),
    }
}

/// `rm [--force] NAME...`: one request per name, in order, a name given twice once; with
/// `--force` an image that VMs use is removed anyway. A name that no backend file can hold is
/// [`Error::NoSuchImage`].
pub fn rm(args: &RmArgs) -> Result<Vec<DeleteRequest>, Error> {
    let on_in_use = if args.force {
        OnInUse::Remove
    } else {
        OnInUse::Refuse
    };
    let mut seen: Vec<&str> = Vec::new();
    let mut requests = Vec::new();
    for name in &args.name {
        if name.parse::<TransientName>().is_err() {
            return Err(Error::NoSuchImage { name: name.clone() });
        }
        if seen.contains(&name.as_str()) {
            continue;
        }
        seen.push(name);
        requests.push(DeleteRequest {
            on_in_use,
            ..DeleteRequest::new(locator(name))
        });
    }
    Ok(requests)
}

#[cfg(test)]
mod tests {
    use strata::ImageKey;

    use super::*;
    use crate::cli::Stores;

    fn rm_args(names: &[&str], force: bool) -> RmArgs {
        RmArgs {
            stores: Stores::default(),
            force,
            name: names.iter().map(|n| (*n).to_owned()).collect(),
        }
    }

    #[test]
    fn rm_names_each_image_once_in_the_backend() {
        let requests = rm(&rm_args(
            &["centos/7:2004.01", "a b", "centos/7:2004.01"],
            false,
        ))
        .expect("valid names");
        let names: Vec<(Option<&str>, &ImageKey, OnInUse)> = requests
            .iter()
            .map(|r| (r.image.store.as_deref(), &r.image.key, r.on_in_use))
            .collect();
        assert_eq!(
            names,
            [
                (
                    Some(BACKEND),
                    &ImageKey::name("centos/7:2004.01"),
                    OnInUse::Refuse
                ),
                (Some(BACKEND), &ImageKey::name("a b"), OnInUse::Refuse),
            ]
        );
        let forced = rm(&rm_args(&["x"], true)).expect("valid name");
        assert_eq!(forced[0].on_in_use, OnInUse::Remove);
    }

    #[test]
    fn names_no_file_can_hold_are_not_in_the_backend() {
        for name in ["", ".", "..", "a\0b"] {
            let err = rm(&rm_args(&["ok", name], false)).expect_err(name);
            assert!(matches!(&err, Error::NoSuchImage { name: n } if n == name));
            assert_eq!(
                err.to_string(),
                format!("No image in backend with name '{name}'")
            );
        }
    }
}
