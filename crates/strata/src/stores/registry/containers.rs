//! Container images in a [`RegistryStore`]: read back through the cache, stored as they are
//! (their blobs and manifest unchanged), and the store's blobs as a [`BlobRead`].

use super::*;

impl BlobRead for RegistryStore {
    /// From the registry, verified as it streams.
    fn open_blob(&self, digest: &Digest, size: u64) -> strata_oci::Result<Box<dyn Read + '_>> {
        self.blobs.open_blob(digest, size)
    }
}

impl strata_store::ContainerSource for RegistryStore {
    fn source_name(&self) -> &str {
        &self.name
    }

    /// Downloaded into the cache (what it lacks), then read from there.
    fn image_of(
        &self,
        record: &RevisionRecord,
        platform: &Platform,
    ) -> strata_store::Result<strata_oci::Image> {
        let local = |e: Error| StoreError::Oci(OciError::InvalidRequest(e.to_string()));
        let remote = self
            .fetch(&record.name, Some(record.revision))
            .map_err(local)?
            .ok_or_else(|| {
                StoreError::Oci(OciError::NotFound {
                    what: format!("{}@{} in {}", record.name, record.revision, self.url),
                })
            })?;
        self.mirror(&remote).map_err(local)?;
        self.cache
            .repository()
            .map_err(local)?
            .container_image(&remote.record, platform)
    }
}

impl Containers for RegistryStore {
    fn container_image(
        &self,
        image: &ImageSummary,
        platform: &Platform,
    ) -> Result<strata_oci::Image> {
        let remote = self.remote_of(image)?;
        self.mirror(&remote)?;
        Ok(self
            .cache
            .repository()?
            .container_image(&remote.record, platform)?)
    }

    /// The image's blobs go to the registry as they are (those it lacks), its manifest too,
    /// by digest (so that `docker://HOST/NAMESPACE@DIGEST` pulls it with any tool); then the
    /// revision: a record as a directory repository writes it (kind `ctr`, every blob, the
    /// `oci_index`) and the blobs as its layers, tagged as a VM revision is.
    fn put_container(
        &self,
        image: &NewImage,
        src: &dyn BlobRead,
        oci: &strata_oci::Image,
        progress: &dyn Progress,
    ) -> Result<StoredContainer> {
        self.tag(&image.name, 0)?;
        if image.on_existing == OnExisting::Refuse
            && !self.revision_numbers(&image.name)?.is_empty()
        {
            return Err(self.exists(&image.name));
        }
        let manifest = expected_of(&oci.manifest_descriptor, "manifest")?;
        let mut sizes: BTreeMap<Digest, u64> = BTreeMap::new();
        let mut blobs = Vec::new();
        let mut bytes_written = 0u64;
        for desc in std::iter::once(oci.config()).chain(oci.layers()) {
            let exp = expected_of(desc, "descriptor")?;
            if sizes.insert(exp.digest.clone(), exp.size).is_some() {
                continue;
            }
            let phase = Phase::Blob {
                digest: Some(exp.digest.clone()),
                size: Some(exp.size),
            };
            progress.event(&ProgressEvent::Started {
                phase,
                total: Some(exp.size),
            });
            let pushed = self.registry.push_blob(&self.remote, src, &exp, None);
            progress.event(&ProgressEvent::Finished);
            let pushed = pushed?;
            if pushed == BlobPush::Uploaded {
                bytes_written += exp.size;
            }
            blobs.push(LayerCopy {
                digest: exp.digest.clone(),
                size: exp.size,
                method: copy_method(pushed),
            });
        }
        // The manifest as a blob too: the revision's layers are every blob its record names.
        let as_blob = self.registry.push_blob(
            &self.remote,
            &BytesBlob(&oci.manifest_bytes),
            &manifest,
            None,
        )?;
        sizes.insert(manifest.digest.clone(), manifest.size);
        blobs.push(LayerCopy {
            digest: manifest.digest.clone(),
            size: manifest.size,
            method: copy_method(as_blob),
        });
        self.registry.push_manifest(
            &self.remote.with_digest(&manifest.digest)?,
            &oci.manifest_bytes,
            oci.manifest_descriptor.media_type().as_ref(),
        )?;
        let timestamp = now();
        let first = strata_store::container_record(&image.name, 0, &image.owner, timestamp, oci)?;
        let layers: Vec<Expected> = first
            .data_blobs
            .iter()
            .map(|b| Expected {
                digest: b.digest().clone(),
                size: sizes.get(b.digest()).copied().unwrap_or(0),
            })
            .collect();
        let record = self.commit_revision(
            image,
            &|revision| {
                let mut record = first.clone();
                record.revision = revision;
                record
            },
            &layers,
            None,
        )?;
        Ok(StoredContainer {
            image: self.summary(&record),
            manifest: manifest.digest,
            blobs,
            bytes_written,
        })
    }

    /// The cache's scratch space.
    fn scratch(&self) -> Result<Scratch<'_>> {
        self.cache.scratch()
    }
}
