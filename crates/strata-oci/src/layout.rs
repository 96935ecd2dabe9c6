//! [`OciDir`]: an OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/<hex>`),
//! read and written as containers-transports(5)'s `oci:path[:name]` does.
//!
//! Images are named by the `org.opencontainers.image.ref.name` annotation of their entry in
//! `index.json`. Writing an image copies its blobs that are missing (never duplicating one),
//! then rewrites `index.json` atomically, replacing the entry that had the same name. Blob files
//! are named only from validated sha256 digests, so no digest can name a path outside `blobs/`.
//! There is no locking: two writers of one layout at the same time may lose an index entry.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, MediaType};
use strata_model::Digest;

use crate::blob::{
    BlobRead, BlobWrite, Expected, open_blob_file, put_file_atomically, write_file_atomically,
};
use crate::error::{OciError, Result};
use crate::image::{
    Image, MAX_MANIFEST_SIZE, Platform, REF_NAME_ANNOTATION, Selector, copy_image, load_image,
    parse_index,
};
use crate::verify::read_capped;

/// The `oci-layout` file's content this crate writes and accepts.
pub const LAYOUT_VERSION: &str = "1.0.0";

/// Largest `oci-layout` file read (it holds one short JSON object).
const MAX_LAYOUT_FILE_SIZE: u64 = 4096;

/// An OCI image layout directory.
#[derive(Debug, Clone)]
pub struct OciDir {
    root: PathBuf,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct LayoutFile {
    image_layout_version: String,
}

impl OciDir {
    /// Opens an existing layout, checking its `oci-layout` file.
    pub fn open(path: impl AsRef<Path>) -> Result<OciDir> {
        let root = path.as_ref().to_path_buf();
        let file = root.join("oci-layout");
        let f = File::open(&file).map_err(|e| OciError::from_io(&file, "open", e))?;
        let bytes = read_capped(f, &file.display().to_string(), MAX_LAYOUT_FILE_SIZE)?;
        let layout: LayoutFile = serde_json::from_slice(&bytes)
            .map_err(|e| OciError::invalid(file.display().to_string(), e.to_string()))?;
        if layout.image_layout_version != LAYOUT_VERSION {
            return Err(OciError::unsupported(
                file.display().to_string(),
                format!("imageLayoutVersion {}", layout.image_layout_version),
            ));
        }
        Ok(OciDir { root })
    }

    /// Opens the layout at `path`, creating it (and the directory) if it does not exist.
    pub fn create(path: impl AsRef<Path>) -> Result<OciDir> {
        let root = path.as_ref().to_path_buf();
        if root.join("oci-layout").exists() {
            return OciDir::open(root);
        }
        let blobs = root.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).map_err(|e| OciError::from_io(&blobs, "create directory", e))?;
        let dir = OciDir { root };
        if !dir.root.join("index.json").exists() {
            dir.write_index(&empty_index()?)?;
        }
        write_file_atomically(
            &dir.root.join("oci-layout"),
            format!("{{\"imageLayoutVersion\":\"{LAYOUT_VERSION}\"}}").as_bytes(),
        )?;
        Ok(dir)
    }

    /// A layout at `path` taken as is, without reading `oci-layout` (for one being built).
    pub(crate) fn unchecked(path: &Path) -> OciDir {
        OciDir {
            root: path.to_path_buf(),
        }
    }

    /// The layout's directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Where the blob `digest` lives.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join("sha256").join(digest.hex())
    }

    /// The layout's `index.json`, refusing one over [`MAX_MANIFEST_SIZE`] bytes.
    pub fn index(&self) -> Result<ImageIndex> {
        let path = self.root.join("index.json");
        let f = File::open(&path).map_err(|e| OciError::from_io(&path, "open", e))?;
        let what = path.display().to_string();
        let bytes = read_capped(f, &what, MAX_MANIFEST_SIZE)?;
        parse_index(&bytes, &what)
    }

    /// The names of the images in `index.json` (entries without a name are left out).
    pub fn names(&self) -> Result<Vec<String>> {
        Ok(self
            .index()?
            .manifests()
            .iter()
            .filter_map(|d| ref_name(d).map(str::to_owned))
            .collect())
    }

    /// The `index.json` entry `selector` designates.
    pub fn select(&self, selector: &Selector) -> Result<Descriptor> {
        let index = self.index()?;
        let what = self.root.join("index.json").display().to_string();
        let found = match selector {
            Selector::Only => match index.manifests().as_slice() {
                [only] => Some(only),
                [] => {
                    return Err(OciError::not_found(format!(
                        "{what}: any image (it is empty)"
                    )));
                }
                many => {
                    return Err(OciError::InvalidRequest(format!(
                        "{what} lists {} images; name one",
                        many.len()
                    )));
                }
            },
            Selector::Name(name) => index
                .manifests()
                .iter()
                .find(|d| ref_name(d) == Some(name.as_str())),
            Selector::Index(i) => usize::try_from(*i)
                .ok()
                .and_then(|i| index.manifests().get(i)),
        };
        match (found, selector) {
            (Some(d), _) => Ok(d.clone()),
            (None, Selector::Name(name)) => {
                Err(OciError::not_found(format!("{what}: image {name:?}")))
            }
            (None, _) => Err(OciError::not_found(format!(
                "{what}: image {selector:?} (it lists {})",
                index.manifests().len()
            ))),
        }
    }

    /// Resolves the image `selector` designates, choosing from indexes by `platform`.
    pub fn resolve(&self, selector: &Selector, platform: &Platform) -> Result<Image> {
        let desc = self.select(selector)?;
        load_image(self, &desc, platform)
    }

    /// Copies `image` from `src` into this layout and lists it in `index.json`, under `name` when
    /// given (replacing the entry that had that name), otherwise unnamed (once).
    pub fn write_image(&self, src: &dyn BlobRead, image: &Image, name: Option<&str>) -> Result<()> {
        copy_image(src, image, self)?;
        self.add_to_index(&image.manifest_descriptor, name)
    }

    /// Lists `desc` in `index.json` under `name` (replacing the entry that had that name).
    pub fn add_to_index(&self, desc: &Descriptor, name: Option<&str>) -> Result<()> {
        let mut index = self.index()?;
        let mut entry = Descriptor::new(
            desc.media_type().clone(),
            desc.size(),
            desc.digest().clone(),
        );
        if let Some(p) = desc.platform() {
            entry.set_platform(Some(p.clone()));
        }
        let mut manifests = index.manifests().clone();
        match name {
            Some(name) => {
                manifests.retain(|d| ref_name(d) != Some(name));
                entry.set_annotations(Some(HashMap::from([(
                    REF_NAME_ANNOTATION.to_owned(),
                    name.to_owned(),
                )])));
            }
            None => {
                if manifests
                    .iter()
                    .any(|d| d.digest() == desc.digest() && ref_name(d).is_none())
                {
                    return Ok(());
                }
            }
        }
        manifests.push(entry);
        index.set_manifests(manifests);
        self.write_index(&index)
    }

    fn write_index(&self, index: &ImageIndex) -> Result<()> {
        let bytes = serde_json::to_vec(index)
            .map_err(|e| OciError::invalid("index.json", e.to_string()))?;
        write_file_atomically(&self.root.join("index.json"), &bytes)
    }
}

fn empty_index() -> Result<ImageIndex> {
    ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(Vec::<Descriptor>::new())
        .build()
        .map_err(|e| OciError::invalid("index.json", e.to_string()))
}

/// The `org.opencontainers.image.ref.name` of an index entry.
pub fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations()
        .as_ref()
        .and_then(|a| a.get(REF_NAME_ANNOTATION))
        .map(String::as_str)
}

impl BlobRead for OciDir {
    fn open_blob(&self, digest: &Digest, size: u64) -> Result<Box<dyn Read + '_>> {
        let path = self.blob_path(digest);
        open_blob_file(&path, digest, size, || {
            OciError::not_found(format!("blob {digest} ({})", path.display()))
        })
    }
}

impl BlobWrite for OciDir {
    fn has_blob(&self, digest: &Digest) -> Result<bool> {
        let path = self.blob_path(digest);
        match fs::symlink_metadata(&path) {
            Ok(m) => Ok(m.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(OciError::from_io(&path, "stat", e)),
        }
    }

    fn put_blob(&self, reader: &mut dyn Read, expected: Option<&Expected>) -> Result<Expected> {
        let blobs = self.root.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).map_err(|e| OciError::from_io(&blobs, "create directory", e))?;
        put_file_atomically(&blobs, reader, expected, &|d| self.blob_path(d))
    }
}
