//! What a store kept inside a registry needs beyond pulling and pushing whole images: the tags
//! of a repository, a manifest that may be missing, deleting a manifest, and pushing one blob
//! (skipped when present, mounted when another repository of the registry has it).

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, LINK};
use strata_model::Digest;

use super::session::{Access, Session};
use super::transport::{Failure, with_retry};
use super::{ACCEPTED_MANIFESTS, Registry, RegistryRef, RemoteManifest, manifest_media_type};
use crate::blob::{BlobRead, Expected};
use crate::error::{OciError, Result};
use crate::image::MAX_MANIFEST_SIZE;
use crate::verify::digest_bytes;

/// At most this many tags are listed from one repository: a registry that pages on and on is
/// refused past it.
pub const MAX_TAGS: usize = 1_000_000;

/// Tags asked for per page (`?n=`); a registry may send fewer.
const TAG_PAGE: usize = 1000;

/// Bytes of one page of tags: a thousand tags of 128 characters, with room to spare.
const MAX_TAG_PAGE: u64 = 4 << 20;

/// What [`Registry::push_blob`] did with a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobPush {
    /// The repository had it already (`HEAD`): nothing was sent.
    Present,
    /// Mounted from another repository of the same registry: nothing was sent.
    Mounted,
    /// Uploaded.
    Uploaded,
}

impl Registry {
    /// Every tag of `r`'s repository, as the registry lists them (`tags/list`, page by page
    /// through its `Link` headers). A repository the registry does not know has none.
    pub fn tags(&self, r: &RegistryRef) -> Result<Vec<String>> {
        let session = self.session(r)?;
        let op = "list tags".to_owned();
        let what = format!("{}/{}: tag list", r.registry(), r.repository());
        let mut url = session.url("tags/list").map_err(|f| *f.error)?;
        url.query_pairs_mut()
            .append_pair("n", &TAG_PAGE.to_string());
        let mut next = Some(url);
        let mut tags = Vec::new();
        while let Some(page_url) = next.take() {
            let (body, link) = with_retry(&self.options.retry, &op, || {
                self.rt.block_on(async {
                    let make = |c: &reqwest::Client| c.get(page_url.clone());
                    let response = session.send(&op, Access::Pull, &make).await?;
                    if response.status() == StatusCode::NOT_FOUND {
                        return Ok(None);
                    }
                    if response.status() != StatusCode::OK {
                        return Err(session.status_failure(&op, response).await);
                    }
                    let link = response
                        .headers()
                        .get(LINK)
                        .and_then(|v| v.to_str().ok())
                        .and_then(next_link)
                        .map(str::to_owned);
                    let body = session
                        .read_capped(&op, response, &what, MAX_TAG_PAGE)
                        .await?;
                    Ok(Some((body, link)))
                })
            })?
            .unwrap_or_default();
            if body.is_empty() {
                break;
            }
            let page = parse_tag_page(&body, &what)?;
            if tags.len() + page.len() > MAX_TAGS {
                return Err(OciError::TooLarge {
                    what,
                    limit: MAX_TAGS as u64,
                });
            }
            let empty = page.is_empty();
            tags.extend(page);
            if let Some(link) = link
                && !empty
            {
                next = Some(
                    session
                        .resolve(&page_url, &link, &op)
                        .map_err(|f| *f.error)?,
                );
            }
        }
        tags.sort();
        tags.dedup();
        Ok(tags)
    }

    /// The manifest `r` names, or `None` when the registry has no such tag or digest (`404`).
    /// Checked against `r`'s digest when it has one, as [`Registry::manifest`].
    pub fn find_manifest(&self, r: &RegistryRef) -> Result<Option<RemoteManifest>> {
        self.fetch_manifest(r, true)
    }

    /// The manifest `r` names: `None` on a `404` when `missing_ok`, else the registry's error
    /// as for any other status. Capped at [`MAX_MANIFEST_SIZE`], checked against `r`'s digest.
    pub(super) fn fetch_manifest(
        &self,
        r: &RegistryRef,
        missing_ok: bool,
    ) -> Result<Option<RemoteManifest>> {
        let session = self.session(r)?;
        let op = format!("pull manifest {}", r.tag_or_digest());
        let what = format!("{r}: manifest");
        let url = session
            .url(&format!("manifests/{}", r.tag_or_digest()))
            .map_err(|f| *f.error)?;
        let accept = ACCEPTED_MANIFESTS.join(", ");
        let bytes = with_retry(&self.options.retry, &op, || {
            self.rt.block_on(async {
                let make = |c: &reqwest::Client| c.get(url.clone()).header(ACCEPT, &accept);
                let response = session.send(&op, Access::Pull, &make).await?;
                if missing_ok && response.status() == StatusCode::NOT_FOUND {
                    return Ok(None);
                }
                if response.status() != StatusCode::OK {
                    return Err(session.status_failure(&op, response).await);
                }
                session
                    .read_capped(&op, response, &what, MAX_MANIFEST_SIZE)
                    .await
                    .map(Some)
            })
        })?;
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let digest = digest_bytes(&bytes);
        if let Some(want) = r.digest().filter(|want| *want != digest) {
            return Err(OciError::DigestMismatch {
                what,
                expected: want.prefixed(),
                actual: digest.prefixed(),
            });
        }
        let media_type = manifest_media_type(&bytes, &what)?;
        Ok(Some(RemoteManifest {
            bytes,
            media_type,
            digest,
        }))
    }

    /// Deletes the manifest `digest` from `r`'s repository, and with it every tag that names
    /// it. A registry that does not allow deletes (`docker-registry` without
    /// `storage.delete.enabled`) answers `405`, which is [`OciError::Unsupported`]; a manifest
    /// that is not there is [`OciError::NotFound`]. The blobs stay until the registry's own
    /// garbage collection.
    pub fn delete_manifest(&self, r: &RegistryRef, digest: &Digest) -> Result<()> {
        let session = self.session(r)?;
        let op = format!("delete manifest {}", digest.prefixed());
        let url = session
            .url(&format!("manifests/{}", digest.prefixed()))
            .map_err(|f| *f.error)?;
        let repository = format!("{}/{}", r.registry(), r.repository());
        with_retry(&self.options.retry, &op, || {
            self.rt.block_on(async {
                let make = |c: &reqwest::Client| c.delete(url.clone());
                let response = session.send(&op, Access::Delete, &make).await?;
                match response.status() {
                    s if s.is_success() => Ok(()),
                    StatusCode::NOT_FOUND => Err(Failure::fatal(OciError::NotFound {
                        what: format!("{repository}: manifest {}", digest.prefixed()),
                    })),
                    StatusCode::METHOD_NOT_ALLOWED => Err(Failure::fatal(OciError::Unsupported {
                        what: repository.clone(),
                        reason: "the registry does not allow deleting manifests \
                                 (docker-registry: storage.delete.enabled)"
                            .to_owned(),
                    })),
                    _ => Err(session.status_failure(&op, response).await),
                }
            })
        })
    }

    /// Pushes the blob `exp`, read from `src`, into `dest`'s repository: nothing is sent when
    /// the repository has it (`HEAD`) or when `mount_from`, another repository of the same
    /// registry, has it and the registry mounts it; otherwise it is uploaded as
    /// [`RegistryOptions::upload`](super::RegistryOptions::upload) says, its bytes verified
    /// against `exp` as they are read.
    pub fn push_blob(
        &self,
        dest: &RegistryRef,
        src: &dyn BlobRead,
        exp: &Expected,
        mount_from: Option<&RegistryRef>,
    ) -> Result<BlobPush> {
        let session = self.session(dest)?;
        self.push_blob_in(&session, src, exp, dest, mount_from)
    }

    pub(super) fn push_blob_in(
        &self,
        session: &Session,
        src: &dyn BlobRead,
        exp: &Expected,
        dest: &RegistryRef,
        mount_from: Option<&RegistryRef>,
    ) -> Result<BlobPush> {
        if self.has_blob(dest, &exp.digest)? {
            return Ok(BlobPush::Present);
        }
        let mount_from = mount_from
            .filter(|m| m.api_host() == dest.api_host() && m.repository() != dest.repository());
        if let Some(from) = mount_from
            && self.mount(session, from, &exp.digest)?
        {
            return Ok(BlobPush::Mounted);
        }
        self.upload_blob(session, src, exp)?;
        Ok(BlobPush::Uploaded)
    }
}

/// The tags of one page of a tag list (`{"name": ..., "tags": [...]}`; `null` is none).
pub(crate) fn parse_tag_page(body: &[u8], what: &str) -> Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Page {
        tags: Option<Vec<String>>,
    }
    let page: Page =
        serde_json::from_slice(body).map_err(|e| OciError::invalid(what, e.to_string()))?;
    Ok(page.tags.unwrap_or_default())
}

/// The target of a `Link` header's `rel="next"` entry: `<url>; rel="next"`.
pub(crate) fn next_link(header: &str) -> Option<&str> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().eq_ignore_ascii_case("rel=\"next\"") || p.trim() == "rel=next");
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then_some(target)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links_are_found_among_others() {
        assert_eq!(
            next_link("</v2/a/tags/list?last=x&n=2>; rel=\"next\""),
            Some("/v2/a/tags/list?last=x&n=2")
        );
        assert_eq!(
            next_link("<https://r/p>; rel=\"prev\", <https://r/n>; rel=\"next\""),
            Some("https://r/n")
        );
        assert_eq!(next_link("<https://r/p>; rel=\"prev\""), None);
        assert_eq!(next_link("garbage"), None);
    }
}
