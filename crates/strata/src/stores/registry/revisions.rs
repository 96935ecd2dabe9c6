//! [`Revisions`] and [`Maintenance`] on a [`RegistryStore`]: revisions read from the registry,
//! copies that mount, stream or upload each layer, a layer added on top, the cache trimmed
//! by gc, and every revision checked by verify.

use super::*;

impl Revisions for RegistryStore {
    /// One manifest and record per revision; the layers are named where the cache keeps (or
    /// will keep) them, not downloaded.
    fn revisions_of(&self, name: &str) -> Result<Vec<RevisionSummary>> {
        let repo = self.cache.repository()?;
        let mut out = Vec::new();
        for revision in self.revisions_named(name, None)? {
            let Some(remote) = self.fetch(name, Some(revision))? else {
                continue;
            };
            out.push(RevisionSummary {
                revision,
                timestamp: remote.record.timestamp,
                layers: cached_layers(repo, &remote.layers),
            });
        }
        Ok(out)
    }

    fn record(&self, image: &ImageSummary) -> Result<RevisionRecord> {
        Ok(self.remote_of(image)?.record)
    }

    fn records(&self) -> Result<Vec<RevisionRecord>> {
        let mut records = Vec::new();
        for (name, revisions) in self.index()? {
            for revision in revisions {
                if let Some(remote) = self.fetch(&name, Some(revision))? {
                    records.push(remote.record);
                }
            }
        }
        Ok(records)
    }

    /// A layer the registry has costs one `HEAD`; one it lacks is mounted from the other
    /// store's registry repository when that is on this registry, streamed from there when it
    /// is on another, and uploaded from the other store's file (verified as it is read)
    /// otherwise.
    fn copy_revision(
        &self,
        from: &dyn Revisions,
        record: &RevisionRecord,
        image: &NewImage,
        progress: &dyn Fn(u64),
    ) -> Result<CopiedRevision> {
        self.tag(&image.name, 0)?;
        let files = LayerFiles(from);
        let remote = from.remote_layers(record)?;
        let mut layers = Vec::with_capacity(record.data_blobs.len());
        let mut expected_layers = Vec::with_capacity(record.data_blobs.len());
        let mut done = 0u64;
        for blob in &record.data_blobs {
            // From another registry repository: mounted when it is this registry, streamed
            // from there otherwise; from local files, uploaded from them.
            let from_remote = remote.as_ref().and_then(|r| {
                r.layers
                    .iter()
                    .find(|l| l.digest == *blob.digest())
                    .map(|l| (r, l.clone()))
            });
            let (exp, pushed) = match from_remote {
                Some((r, exp)) => {
                    let pushed = self.registry.push_blob(
                        &self.remote,
                        r.blobs,
                        &exp,
                        Some(&r.repository),
                    )?;
                    (exp, pushed)
                }
                None => {
                    let size = crate::app::file_len(&from.layer_path(blob.digest()))?;
                    let exp = Expected {
                        digest: blob.digest().clone(),
                        size,
                    };
                    let pushed = self.registry.push_blob(&self.remote, &files, &exp, None)?;
                    (exp, pushed)
                }
            };
            done += exp.size;
            progress(done);
            layers.push(LayerCopy {
                digest: exp.digest.clone(),
                size: exp.size,
                method: copy_method(pushed),
            });
            expected_layers.push(exp);
        }
        let timestamp = now();
        let copy = self.commit_revision(
            image,
            &|revision| RevisionRecord {
                name: image.name.clone(),
                revision,
                kind: record.kind,
                owner: image.owner.clone(),
                timestamp,
                data_blobs: record.data_blobs.clone(),
                description: None,
                custom_meta: record.custom_meta.clone(),
            },
            &expected_layers,
            match (record.kind, record.top_blob()) {
                (Kind::Vm, Some(top)) => top_virtual_size(&from.layer_path(top.digest()))
                    .or_else(|| remote.as_ref().and_then(|r| r.virtual_size)),
                _ => None,
            },
        )?;
        Ok(CopiedRevision {
            image: self.summary(&copy),
            layers,
        })
    }

    /// Where the cache keeps the layer (downloaded by [`Store::layers`]).
    fn layer_path(&self, digest: &Digest) -> PathBuf {
        self.cache.layer_path(digest)
    }

    fn remote_layers(&self, record: &RevisionRecord) -> Result<Option<RemoteLayers<'_>>> {
        let remote = self
            .fetch(&record.name, Some(record.revision))?
            .ok_or_else(|| Error::ImageNotFound {
                key: ImageKey::Name {
                    name: record.name.clone(),
                    revision: Some(record.revision),
                },
                store: Some(self.name.clone()),
            })?;
        Ok(Some(RemoteLayers {
            repository: self.remote.clone(),
            blobs: &self.blobs,
            layers: remote.layers,
            virtual_size: remote.virtual_size,
        }))
    }

    /// Held on this machine only: clients on other machines are told apart when they push
    /// (see the module documentation).
    fn hold_name(&self, name: &str) -> Result<Box<dyn Send + '_>> {
        self.cache.hold_name(name)
    }

    /// The new layer is made in the cache over the base's top layer (downloaded first), then
    /// pushed as the next revision.
    fn add_layer(&self, base: &ImageSummary, new_size: u64, owner: &str) -> Result<AddedLayer> {
        let remote = self.remote_of(base)?;
        self.mirror(&remote)?;
        let record = &remote.record;
        let Some(top) = record.top_blob() else {
            return Err(Error::BadRemoteRevision {
                store: self.name.clone(),
                tag: remote.tag.clone(),
                message: "the revision has no layer".to_owned(),
            });
        };
        let repo = self.cache.repository()?;
        let writer = repo.writer()?;
        let backing = Repository::relative_blob_path(top.digest());
        let mut options = strata_disk::qcow2::CreateOptions::new(new_size);
        options.backing = Some((backing.to_string_lossy().into_owned(), DiskFormat::Qcow2));
        let mut blob = writer.new_blob()?;
        strata_disk::qcow2::create(&mut blob, &options)?;
        let stored = blob.commit()?;
        self.push_cached(&stored.digest, stored.len)?;
        let mut layers = remote.layers.clone();
        layers.push(Expected {
            digest: stored.digest.clone(),
            size: stored.len,
        });
        let mut data_blobs = record.data_blobs.clone();
        data_blobs.push(DataBlob::bare(stored.digest.clone()));
        let timestamp = now();
        let next = self.commit_revision(
            &NewImage {
                name: record.name.clone(),
                owner: owner.to_owned(),
                on_existing: OnExisting::Replace,
            },
            &|revision| RevisionRecord {
                name: record.name.clone(),
                revision,
                kind: Kind::Vm,
                owner: owner.to_owned(),
                timestamp,
                data_blobs: data_blobs.clone(),
                description: None,
                custom_meta: record.custom_meta.clone(),
            },
            &layers,
            Some(new_size),
        )?;
        drop(writer);
        self.cache_record(&next)?;
        Ok(AddedLayer {
            image: self.summary(&next),
            layers: next.data_blobs.len(),
            digest: stored.digest,
        })
    }
}

impl Maintenance for RegistryStore {
    /// Trims the local cache to its bound and removes what no cached revision names. The
    /// registry's own blobs are its garbage collection's (`registry garbage-collect`), which
    /// no API starts.
    fn gc(&self, grace: std::time::Duration) -> Result<strata_store::GcReport> {
        self.trim_cache(None)?;
        self.cache.gc(grace)
    }

    /// Every tag's manifest and record read and checked against the tag, every layer and
    /// record present in the registry (`HEAD`), and the cache verified as a directory
    /// repository. A revision that fails is reported as a bad record.
    fn verify(&self) -> Result<strata_store::VerifyReport> {
        let mut report = self.cache.verify()?;
        for (name, revisions) in self.index()? {
            for revision in revisions {
                let tag = self.tag(&name, revision)?;
                let problem = |message: String| strata_store::Problem::BadRecord {
                    path: PathBuf::from(format!("{}:{tag}", self.url)),
                    message,
                };
                report.records_checked += 1;
                let remote = match self.fetch(&name, Some(revision)) {
                    Ok(Some(remote)) => remote,
                    Ok(None) => continue,
                    Err(e) => {
                        report.problems.push(problem(e.to_string()));
                        continue;
                    }
                };
                for layer in &remote.layers {
                    if !self.registry.has_blob(&self.remote, &layer.digest)? {
                        report.problems.push(strata_store::Problem::MissingBlob {
                            name: name.clone(),
                            revision,
                            digest: layer.digest.clone(),
                        });
                    }
                }
            }
        }
        Ok(report)
    }
}
