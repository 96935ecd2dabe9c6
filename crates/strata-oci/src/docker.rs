//! `docker-archive:path[:name:tag|:@N]`: the `docker save` tarball.
//!
//! Layout: `manifest.json` (a list of `{Config, RepoTags, Layers}`), the config JSON files, the
//! uncompressed layer tars, and `repositories`; Docker 25 and later also write an OCI layout
//! (`oci-layout`, `index.json`, `blobs/sha256/…`) and make `manifest.json` point into it.
//!
//! Reading scans the tar once, recording where each member's data lies (a compressed archive is
//! first decompressed to a temporary file, as containers/image does), then serves members by
//! positional reads: nothing is held in memory but the index and the small JSON documents.
//! Images come from `manifest.json`; an archive without one is read through its OCI
//! `index.json`. Symlinked members (older `docker save` deduplicates layers that way) are
//! followed inside the archive. An image read from `manifest.json` gets a synthesised OCI
//! manifest: its config keeps its bytes and digest, an uncompressed layer keeps its bytes and
//! its digest is its `diff_id` (checked while it streams), a compressed one is hashed first.
//!
//! Writing produces what `skopeo copy … docker-archive:` does: `<config hex>.json`,
//! `<diff_id hex>.tar` for each layer, `manifest.json` and `repositories`. Layers are stored
//! uncompressed: a gzip or zstd OCI layer is decompressed into a temporary file (checked
//! against its `diff_id`), so its digest in the archive, and in an OCI image read back from it,
//! is its `diff_id`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageManifestBuilder, MediaType};
use serde::{Deserialize, Serialize};
use strata_model::text::printable;
use strata_model::{Digest, DockerReference};

use crate::blob::BlobRead;
use crate::error::{OciError, Result};
use crate::image::{
    Image, MAX_CONFIG_SIZE, MAX_MANIFEST_SIZE, Platform, Selector, expected_of, load_image,
    parse_index,
};
use crate::inflate::{Compression, ExpansionLimit, inflate};
use crate::layout::ref_name;
use crate::unpack::DEFAULT_MAX_LAYER_SIZE;
use crate::verify::{HashingReader, LimitedReader, VerifyingReader, read_capped, to_oci_digest};

/// Largest `manifest.json` read: containers/image's `MaxTarFileManifestSize` (1 MiB).
pub const MAX_DOCKER_MANIFEST_SIZE: u64 = 1 << 20;

/// Most members indexed in one archive.
pub const MAX_MEMBERS: usize = 1 << 20;

/// Most bytes a compressed docker-archive may decompress to (1 TiB).
pub const MAX_DECOMPRESSED_ARCHIVE: u64 = 1 << 40;

/// Symlinks followed to find one member.
const MAX_MEMBER_LINKS: usize = 16;

/// One image in `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ManifestItem {
    /// The config's member name.
    pub config: String,
    /// The image's names, `name:tag`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub repo_tags: Vec<String>,
    /// The layers' member names, bottom first.
    pub layers: Vec<String>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// Parses `manifest.json`, refusing more than [`MAX_DOCKER_MANIFEST_SIZE`] bytes.
pub fn parse_docker_manifest(bytes: &[u8], what: &str) -> Result<Vec<ManifestItem>> {
    if bytes.len() as u64 > MAX_DOCKER_MANIFEST_SIZE {
        return Err(OciError::TooLarge {
            what: what.to_owned(),
            limit: MAX_DOCKER_MANIFEST_SIZE,
        });
    }
    serde_json::from_slice(bytes).map_err(|e| OciError::invalid(what, e.to_string()))
}

#[derive(Debug, Clone)]
enum Member {
    File { offset: u64, size: u64 },
    Link(String),
}

/// A docker-archive opened for reading.
#[derive(Debug)]
pub struct DockerArchive {
    path: PathBuf,
    file: File,
    members: HashMap<String, Member>,
    items: Option<Vec<ManifestItem>>,
    _decompressed: Option<tempfile::NamedTempFile>,
}

/// Member names as `docker save` and containers/image compare them: no `./`, no leading `/`.
fn clean_name(name: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in name.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

impl DockerArchive {
    /// Opens the archive at `path` (plain, or gzip or zstd compressed, expanding at most as
    /// far as [`ExpansionLimit::DEFAULT`] allows).
    pub fn open(path: impl AsRef<Path>) -> Result<DockerArchive> {
        DockerArchive::open_with(path, &ExpansionLimit::DEFAULT)
    }

    /// Opens the archive at `path`; a compressed one may expand as far as `expansion` allows
    /// of its size (and at most [`MAX_DECOMPRESSED_ARCHIVE`]).
    pub fn open_with(path: impl AsRef<Path>, expansion: &ExpansionLimit) -> Result<DockerArchive> {
        let path = path.as_ref().to_path_buf();
        let what = path.display().to_string();
        let mut file = File::open(&path).map_err(|e| OciError::from_io(&path, "open", e))?;
        let mut head = [0u8; 8];
        let n = file
            .read_at(&mut head, 0)
            .map_err(|e| OciError::from_io(&path, "read", e))?;
        let mut decompressed = None;
        let compression = Compression::detect(&head[..n], &what)?;
        if compression != Compression::None {
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let mut tmp = tempfile::Builder::new()
                .prefix(".strata-docker-archive-")
                .tempfile_in(std::env::temp_dir())
                .or_else(|_| tempfile::Builder::new().tempfile_in(&dir))
                .map_err(|e| OciError::from_io(&dir, "create temporary file", e))?;
            {
                let size = file
                    .metadata()
                    .map_err(|e| OciError::from_io(&path, "stat", e))?
                    .len();
                let mut reader = LimitedReader::new(
                    inflate(
                        BufReader::new(&file),
                        compression,
                        Some(size),
                        expansion,
                        &what,
                    )?,
                    &what,
                    MAX_DECOMPRESSED_ARCHIVE,
                );
                crate::verify::copy(&mut reader, tmp.as_file_mut())
                    .map_err(|e| OciError::from_io(&path, "decompress", e))?;
            }
            file = tmp
                .reopen()
                .map_err(|e| OciError::from_io(tmp.path(), "open", e))?;
            decompressed = Some(tmp);
        }
        let mut members = HashMap::new();
        {
            let mut archive = tar::Archive::new(crate::targuard::TarGuard::new(&file, &what));
            let entries = archive
                .entries_with_seek()
                .map_err(|e| OciError::from_tar(&path, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| OciError::from_tar(&path, e))?;
                if members.len() >= MAX_MEMBERS {
                    return Err(OciError::invalid(
                        &what,
                        format!("more than {MAX_MEMBERS} members"),
                    ));
                }
                let raw = entry.path_bytes().into_owned();
                let name = clean_name(&String::from_utf8_lossy(&raw));
                let kind = entry.header().entry_type();
                let member = if kind.is_file() {
                    Member::File {
                        offset: entry.raw_file_position(),
                        size: entry.size(),
                    }
                } else if kind.is_symlink() || kind.is_hard_link() {
                    let target = entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    if kind.is_symlink() {
                        let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
                        Member::Link(clean_name(&format!("{dir}/{target}")))
                    } else {
                        Member::Link(clean_name(&target))
                    }
                } else {
                    continue;
                };
                members.insert(name, member);
            }
        }
        let mut archive = DockerArchive {
            path,
            file,
            members,
            items: None,
            _decompressed: decompressed,
        };
        if archive.members.contains_key("manifest.json") {
            let bytes = read_capped(
                archive.member("manifest.json")?,
                &archive.shown("manifest.json"),
                MAX_DOCKER_MANIFEST_SIZE,
            )?;
            archive.items = Some(parse_docker_manifest(
                &bytes,
                &archive.shown("manifest.json"),
            )?);
        } else if !archive.members.contains_key("index.json") {
            return Err(OciError::invalid(
                what,
                "not a docker-archive: no manifest.json (nor an OCI index.json)",
            ));
        }
        Ok(archive)
    }

    fn shown(&self, member: &str) -> String {
        format!("{}: {}", self.path.display(), printable(member))
    }

    fn locate(&self, name: &str) -> Result<(u64, u64)> {
        let mut name = clean_name(name);
        for _ in 0..MAX_MEMBER_LINKS {
            match self.members.get(&name) {
                Some(Member::File { offset, size }) => return Ok((*offset, *size)),
                Some(Member::Link(target)) => name = target.clone(),
                None => return Err(OciError::not_found(self.shown(&name))),
            }
        }
        Err(OciError::invalid(self.shown(&name), "too many links"))
    }

    /// A member's size.
    pub fn member_size(&self, name: &str) -> Result<u64> {
        Ok(self.locate(name)?.1)
    }

    /// A member's data as a stream (links followed inside the archive).
    pub fn member(&self, name: &str) -> Result<MemberReader<'_>> {
        let (offset, size) = self.locate(name)?;
        Ok(MemberReader {
            file: &self.file,
            pos: offset,
            end: offset + size,
        })
    }

    /// The images `manifest.json` lists (empty for an archive read through `index.json`).
    pub fn items(&self) -> &[ManifestItem] {
        self.items.as_deref().unwrap_or(&[])
    }

    /// Resolves the image `selector` designates: by tag (`name:tag`, compared as normalised
    /// docker references), by position, or the only one. With no `manifest.json` the archive's
    /// OCI `index.json` is used, `platform` choosing from nested indexes.
    pub fn resolve(&self, selector: &Selector, platform: &Platform) -> Result<DockerImage<'_>> {
        let Some(items) = &self.items else {
            return self.resolve_oci(selector, platform);
        };
        let what = self.shown("manifest.json");
        let item = match selector {
            Selector::Only => match items.as_slice() {
                [only] => only,
                _ => {
                    return Err(OciError::InvalidRequest(format!(
                        "{what} lists {} images; name one or use @N",
                        items.len()
                    )));
                }
            },
            Selector::Index(i) => usize::try_from(*i)
                .ok()
                .and_then(|i| items.get(i))
                .ok_or_else(|| {
                    OciError::not_found(format!("{what}: image @{i} (it lists {})", items.len()))
                })?,
            Selector::Name(name) => {
                let want = normalize_tag(name)
                    .ok_or_else(|| OciError::InvalidRequest(format!("invalid tag {name:?}")))?;
                items
                    .iter()
                    .find(|it| {
                        it.repo_tags
                            .iter()
                            .any(|t| normalize_tag(t).as_ref() == Some(&want))
                    })
                    .ok_or_else(|| OciError::not_found(format!("{what}: image {name:?}")))?
            }
        };
        self.image_from_item(item)
    }

    fn resolve_oci(&self, selector: &Selector, platform: &Platform) -> Result<DockerImage<'_>> {
        let what = self.shown("index.json");
        let bytes = read_capped(self.member("index.json")?, &what, MAX_MANIFEST_SIZE)?;
        let index = parse_index(&bytes, &what)?;
        let found = match selector {
            Selector::Only => match index.manifests().as_slice() {
                [only] => Some(only),
                many => {
                    return Err(OciError::InvalidRequest(format!(
                        "{what} lists {} images; name one",
                        many.len()
                    )));
                }
            },
            Selector::Index(i) => usize::try_from(*i)
                .ok()
                .and_then(|i| index.manifests().get(i)),
            Selector::Name(n) => index.manifests().iter().find(|d| {
                ref_name(d) == Some(n.as_str())
                    || d.annotations()
                        .as_ref()
                        .and_then(|a| a.get("io.containerd.image.name"))
                        .is_some_and(|full| normalize_tag(full) == normalize_tag(n))
            }),
        };
        let desc =
            found.ok_or_else(|| OciError::not_found(format!("{what}: image {selector:?}")))?;
        let oci = OciBlobs { archive: self };
        let image = load_image(&oci, desc, platform)?;
        Ok(DockerImage {
            archive: self,
            image,
            blobs: HashMap::new(),
        })
    }

    fn image_from_item(&self, item: &ManifestItem) -> Result<DockerImage<'_>> {
        let config_what = self.shown(&item.config);
        let config_bytes = read_capped(self.member(&item.config)?, &config_what, MAX_CONFIG_SIZE)?;
        let config_digest = crate::verify::digest_bytes(&config_bytes);
        let diff_ids = crate::image::parse_diff_ids(&config_bytes, &config_what)?;
        if diff_ids.len() != item.layers.len() {
            return Err(OciError::invalid(
                self.shown("manifest.json"),
                format!(
                    "{} layers but the config lists {} diff_ids",
                    item.layers.len(),
                    diff_ids.len()
                ),
            ));
        }
        let mut blobs = HashMap::new();
        blobs.insert(config_digest.clone(), item.config.clone());
        let mut layers = Vec::new();
        for (name, diff_id) in item.layers.iter().zip(&diff_ids) {
            let size = self.member_size(name)?;
            let mut head = [0u8; 8];
            let n = read_head(self.member(name)?, &mut head)
                .map_err(|e| OciError::from_io(self.shown(name), "read", e))?;
            let (media, digest) = match Compression::detect(&head[..n], &self.shown(name))? {
                Compression::None => (MediaType::ImageLayer, diff_id.clone()),
                c => {
                    let mut h = HashingReader::new(self.member(name)?);
                    crate::verify::copy(&mut h, &mut io::sink())
                        .map_err(|e| OciError::from_io(self.shown(name), "read", e))?;
                    let media = if c == Compression::Gzip {
                        MediaType::ImageLayerGzip
                    } else {
                        MediaType::ImageLayerZstd
                    };
                    (media, h.finish().0)
                }
            };
            layers.push(Descriptor::new(media, size, to_oci_digest(&digest)));
            blobs.insert(digest, name.clone());
        }
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(Descriptor::new(
                MediaType::ImageConfig,
                config_bytes.len() as u64,
                to_oci_digest(&config_digest),
            ))
            .layers(layers)
            .build()
            .map_err(|e| OciError::invalid(self.shown("manifest.json"), e.to_string()))?;
        let manifest_bytes = serde_json::to_vec(&manifest)
            .map_err(|e| OciError::invalid(self.shown("manifest.json"), e.to_string()))?;
        let image = Image::from_parts(manifest_bytes, config_bytes)?;
        Ok(DockerImage {
            archive: self,
            image,
            blobs,
        })
    }
}

fn read_head(mut r: impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// `name:tag` as a normalised docker reference (`docker.io/library/busybox:latest`).
fn normalize_tag(s: &str) -> Option<String> {
    let r = DockerReference::parse_normalized(s)
        .ok()?
        .with_default_tag();
    Some(format!("{}:{}", r.name(), r.tag()?))
}

/// A member's data, read with positional reads (the archive's file is shared).
#[derive(Debug)]
pub struct MemberReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for MemberReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end - self.pos;
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "archive truncated",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// The blobs of an OCI layout inside a docker-archive (`blobs/sha256/<hex>` members).
struct OciBlobs<'a> {
    archive: &'a DockerArchive,
}

impl BlobRead for OciBlobs<'_> {
    fn open_blob(&self, digest: &Digest, size: u64) -> Result<Box<dyn Read + '_>> {
        let name = format!("blobs/sha256/{}", digest.hex());
        Ok(Box::new(VerifyingReader::new(
            self.archive.member(&name)?,
            self.archive.shown(&name),
            digest.clone(),
            size,
        )))
    }
}

/// An image resolved in a docker-archive, and the blob store its blobs are read from.
#[derive(Debug)]
pub struct DockerImage<'a> {
    archive: &'a DockerArchive,
    /// The image (its manifest synthesised when read from `manifest.json`).
    pub image: Image,
    blobs: HashMap<Digest, String>,
}

impl BlobRead for DockerImage<'_> {
    fn open_blob(&self, digest: &Digest, size: u64) -> Result<Box<dyn Read + '_>> {
        let name = match self.blobs.get(digest) {
            Some(n) => n.clone(),
            None => format!("blobs/sha256/{}", digest.hex()),
        };
        Ok(Box::new(VerifyingReader::new(
            self.archive.member(&name)?,
            format!("{} (blob {digest})", self.archive.shown(&name)),
            digest.clone(),
            size,
        )))
    }
}

/// Writes `image` (its blobs read from `src`) as the only image of a new docker-archive at
/// `path`, named by `tags` (`name:tag`, written in docker's familiar form). Compressed layers
/// are decompressed (see the module documentation), each expanding at most as far as
/// [`ExpansionLimit::DEFAULT`] allows. The file is replaced atomically.
pub fn write_docker_archive(
    path: impl AsRef<Path>,
    src: &dyn BlobRead,
    image: &Image,
    tags: &[&str],
) -> Result<()> {
    write_docker_archive_with(path, src, image, tags, &ExpansionLimit::DEFAULT)
}

/// [`write_docker_archive`], each compressed layer expanding at most as far as `expansion`
/// allows of its size.
pub fn write_docker_archive_with(
    path: impl AsRef<Path>,
    src: &dyn BlobRead,
    image: &Image,
    tags: &[&str],
    expansion: &ExpansionLimit,
) -> Result<()> {
    let path = path.as_ref();
    let mut repo_tags = Vec::new();
    for t in tags {
        let r = DockerReference::parse_normalized(t)
            .map_err(|e| OciError::InvalidRequest(format!("invalid tag {t:?}: {e}")))?;
        let Some(tag) = r.tag() else {
            return Err(OciError::InvalidRequest(format!("{t:?} has no tag")));
        };
        if r.digest().is_some() {
            return Err(OciError::InvalidRequest(format!(
                "{t:?} has a digest; give a tag only"
            )));
        }
        repo_tags.push((r.familiar_name(), tag.to_owned()));
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-docker-archive-")
        .tempfile_in(&parent)
        .map_err(|e| OciError::from_io(&parent, "create temporary file", e))?;
    let what = path.display().to_string();
    let tar_err = |e: io::Error| OciError::from_io(path, "write tar", e);
    {
        let mut out = BufWriter::with_capacity(1 << 16, tmp.as_file_mut());
        let mut builder = tar::Builder::new(&mut out);
        let config = expected_of(image.config(), "config")?;
        let config_name = format!("{}.json", config.digest.hex());
        let reader = src.open_blob(&config.digest, config.size)?;
        append(&mut builder, &config_name, config.size, reader).map_err(tar_err)?;
        let mut layer_names: Vec<String> = Vec::new();
        for (i, layer) in image.layers().iter().enumerate() {
            let exp = expected_of(layer, "layer")?;
            let diff_id = &image.diff_ids[i];
            let name = format!("{}.tar", diff_id.hex());
            if layer_names.contains(&name) {
                layer_names.push(name);
                continue;
            }
            let mut reader =
                std::io::BufReader::with_capacity(1 << 16, src.open_blob(&exp.digest, exp.size)?);
            let head = io::BufRead::fill_buf(&mut reader)
                .map_err(|e| OciError::from_io(&what, "read layer", e))?;
            let lwhat = format!("layer {}", exp.digest);
            match Compression::detect(head, &lwhat)? {
                Compression::None => {
                    if &exp.digest != diff_id {
                        return Err(OciError::DigestMismatch {
                            what: format!(
                                "{lwhat} (uncompressed, so its digest must be its diff_id)"
                            ),
                            expected: diff_id.prefixed(),
                            actual: exp.digest.prefixed(),
                        });
                    }
                    append(&mut builder, &name, exp.size, reader).map_err(tar_err)?;
                }
                c => {
                    let mut tar_tmp = tempfile::Builder::new()
                        .prefix(".tmp-layer-")
                        .tempfile_in(&parent)
                        .map_err(|e| OciError::from_io(&parent, "create temporary file", e))?;
                    let mut h = HashingReader::new(LimitedReader::new(
                        inflate(reader, c, Some(exp.size), expansion, &lwhat)?,
                        &lwhat,
                        DEFAULT_MAX_LAYER_SIZE,
                    ));
                    crate::verify::copy(&mut h, tar_tmp.as_file_mut())
                        .map_err(|e| OciError::from_io(&lwhat, "decompress", e))?;
                    let (digest, size) = h.finish();
                    if &digest != diff_id {
                        return Err(OciError::DigestMismatch {
                            what: format!("{lwhat} decompressed"),
                            expected: diff_id.prefixed(),
                            actual: digest.prefixed(),
                        });
                    }
                    let f = tar_tmp
                        .reopen()
                        .map_err(|e| OciError::from_io(tar_tmp.path(), "open", e))?;
                    append(&mut builder, &name, size, BufReader::new(f)).map_err(tar_err)?;
                }
            }
            layer_names.push(name);
        }
        let item = ManifestItem {
            config: config_name,
            repo_tags: repo_tags.iter().map(|(n, t)| format!("{n}:{t}")).collect(),
            layers: layer_names,
        };
        let manifest = serde_json::to_vec(&[item])
            .map_err(|e| OciError::invalid("manifest.json", e.to_string()))?;
        append(
            &mut builder,
            "manifest.json",
            manifest.len() as u64,
            &manifest[..],
        )
        .map_err(tar_err)?;
        let top = image
            .diff_ids
            .last()
            .map(|d| d.hex().to_owned())
            .unwrap_or_default();
        let mut repositories: serde_json::Map<String, serde_json::Value> = serde_json::Map::new();
        for (n, t) in &repo_tags {
            let entry = repositories
                .entry(n.clone())
                .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
            if let serde_json::Value::Object(m) = entry {
                m.insert(t.clone(), serde_json::Value::String(top.clone()));
            }
        }
        let repositories = serde_json::to_vec(&repositories)
            .map_err(|e| OciError::invalid("repositories", e.to_string()))?;
        append(
            &mut builder,
            "repositories",
            repositories.len() as u64,
            &repositories[..],
        )
        .map_err(tar_err)?;
        builder.finish().map_err(tar_err)?;
        drop(builder);
        out.flush()
            .map_err(|e| OciError::from_io(path, "write", e))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| OciError::from_io(path, "fsync", e))?;
    tmp.persist(path)
        .map_err(|e| OciError::from_io(path, "rename", e.error))?;
    Ok(())
}

fn append<W: Write>(
    builder: &mut tar::Builder<W>,
    name: &str,
    size: u64,
    data: impl Read,
) -> io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(size);
    h.set_mtime(0);
    // `take` so a source longer than announced cannot corrupt the archive; a shorter one fails.
    builder.append_data(&mut h, name, data.take(size))
}
