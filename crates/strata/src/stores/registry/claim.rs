//! Claims: how clients that push the same tag at once agree on one winner with nothing but a
//! registry's tags, which have no compare-and-swap (a manifest `PUT` under a tag replaces
//! whatever the tag named).
//!
//! Before it puts a revision's tag `T`, a client puts a claim of its own, a small manifest
//! under the tag `T_c<nonce>` (16 random hex digits, so no two clients share one), marked
//! active and timed; then it lists the repository's tags. Seeing `T` there, it lost. Seeing
//! no active claim for `T` but its own, it puts `T` and has won. Seeing another active claim,
//! it withdraws its own and tries again after a random wait that grows with each try.
//!
//! Why two clients cannot both win: each lists the tags after its own claim is in place. Of
//! two claims, one was in place first; the other client's list comes after its own claim, so
//! after the first claim too, and shows it. A claim shown in the list is read: active, the
//! reader defers; withdrawn (or already deleted), its client has finished, and a client that
//! won put `T` before it withdrew, so the reader, which checks `T` once more after reading
//! the claims, finds `T` and loses. A claim that is not in a client's list belongs to a client
//! whose own list shows this client's claim, active until after `T` is put. So only one
//! client puts `T`. The registry must show a tag in its list, and serve it, once the `PUT`
//! that made it has been answered, and stop serving it once its `DELETE` has been answered,
//! as `docker-registry` and the registries built on distribution's storage do.
//!
//! A claim is withdrawn by deleting its manifest (unique, so no other tag goes with it) or,
//! where the registry refuses deletes, by putting a withdrawn claim over its tag: such
//! registries keep one small tag per push. A claim left active by a client that died is
//! ignored after [`STALE`] (by the reader's clock). Claims are not revisions: their tags do not
//! have a revision's form, and listings skip them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use strata_model::Digest;
use strata_oci::{Expected, OciError, Registry, RegistryRef};

use super::BytesBlob;
use crate::error::{Error, Result};

/// The artifact type of a claim's manifest.
pub const CLAIM_ARTIFACT_TYPE: &str = "application/vnd.strata.claim.v1";

/// The OCI empty descriptor's media type and content: a claim's config.
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
const EMPTY: &[u8] = b"{}";

/// The OCI image manifest media type.
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Annotations of a claim.
const FOR: &str = "org.strata.claim.for";
const STATE: &str = "org.strata.claim.state";
const TIME: &str = "org.strata.claim.time";
const NONCE: &str = "org.strata.claim.nonce";

/// How old an active claim may be before it is taken for one left by a client that died.
pub(super) const STALE: Duration = Duration::from_secs(120);

/// Tries before a client that keeps meeting other claims gives up.
const ATTEMPTS: u32 = 16;

/// Characters a claim tag adds to its tag: `_c` and the nonce.
pub(super) const CLAIM_SUFFIX_LEN: usize = 18;

/// Claims on the tags of one registry repository.
#[derive(Debug)]
pub(super) struct Claims {
    /// Whether the registry refused a delete: withdrawals then put over the claim's tag.
    no_deletes: AtomicBool,
}

impl Claims {
    pub(super) fn new() -> Claims {
        Claims {
            no_deletes: AtomicBool::new(false),
        }
    }

    /// Puts `manifest` (of `media_type`) under `tag` of `repo` unless the tag exists or
    /// another client wins it meanwhile; `Ok(true)` when this client's manifest is there.
    pub(super) fn put_exclusive(
        &self,
        registry: &Registry,
        repo: &RegistryRef,
        tag: &str,
        manifest: &[u8],
        media_type: &str,
        store: &str,
    ) -> Result<bool> {
        let at = |t: &str| -> Result<RegistryRef> { Ok(repo.with_tag(t)?) };
        let empty = Expected {
            digest: strata_oci::verify::digest_bytes(EMPTY),
            size: EMPTY.len() as u64,
        };
        registry.push_blob(repo, &BytesBlob(EMPTY), &empty, None)?;
        for attempt in 0..ATTEMPTS {
            if registry.find_manifest(&at(tag)?)?.is_some() {
                return Ok(false);
            }
            let nonce = nonce();
            let claim_tag = format!("{tag}_c{nonce}");
            let claim = claim_manifest(tag, &nonce, "active", &empty);
            let claim_digest = registry.push_manifest(&at(&claim_tag)?, &claim, OCI_MANIFEST)?;
            let outcome = self.decide(registry, repo, tag, &claim_tag, manifest, media_type);
            let withdrawn = self.withdraw(registry, repo, tag, &claim_tag, &claim_digest, &empty);
            if let Err(e) = &withdrawn {
                tracing::warn!(tag = %claim_tag, error = %e, "claim not withdrawn; others wait until it is stale");
            }
            match outcome? {
                Some(won) => return Ok(won),
                None => std::thread::sleep(backoff(attempt, &nonce)),
            }
        }
        Err(Error::Contended {
            store: store.to_owned(),
            tag: tag.to_owned(),
            attempts: ATTEMPTS,
        })
    }

    /// With this client's claim in place: `Some(false)` when `tag` exists, `Some(true)` once
    /// `manifest` is put under it (no other active claim), `None` when another client claims it.
    fn decide(
        &self,
        registry: &Registry,
        repo: &RegistryRef,
        tag: &str,
        own: &str,
        manifest: &[u8],
        media_type: &str,
    ) -> Result<Option<bool>> {
        let tags = registry.tags(repo)?;
        if tags.iter().any(|t| t == tag) {
            return Ok(Some(false));
        }
        let prefix = format!("{tag}_c");
        for other in tags.iter().filter(|t| *t != own && is_claim_of(t, &prefix)) {
            match registry.find_manifest(&repo.with_tag(other)?)? {
                Some(found) if is_active(&found.bytes, tag) => return Ok(None),
                // Withdrawn (or not yet readable): its client lost, gave up, or won and put the
                // tag before withdrawing; the check below tells.
                _ => {}
            }
        }
        // A claim seen in the list and withdrawn since may have won: it put the tag before
        // it withdrew, so the tag is there now.
        if registry.find_manifest(&repo.with_tag(tag)?)?.is_some() {
            return Ok(Some(false));
        }
        registry.push_manifest(&repo.with_tag(tag)?, manifest, media_type)?;
        Ok(Some(true))
    }

    /// Withdraws the claim `claim_tag` (manifest `digest`): deleted, or marked withdrawn where
    /// the registry refuses deletes.
    fn withdraw(
        &self,
        registry: &Registry,
        repo: &RegistryRef,
        tag: &str,
        claim_tag: &str,
        digest: &Digest,
        empty: &Expected,
    ) -> Result<()> {
        if !self.no_deletes.load(Ordering::Relaxed) {
            match registry.delete_manifest(repo, digest) {
                Ok(()) | Err(OciError::NotFound { .. }) => return Ok(()),
                Err(OciError::Unsupported { .. }) => self.no_deletes.store(true, Ordering::Relaxed),
                Err(e) => return Err(e.into()),
            }
        }
        let withdrawn = claim_manifest(tag, &nonce(), "withdrawn", empty);
        registry.push_manifest(&repo.with_tag(claim_tag)?, &withdrawn, OCI_MANIFEST)?;
        Ok(())
    }
}

/// Whether `t` is a claim tag under `prefix` (`<tag>_c`): 16 lowercase hex digits after it.
fn is_claim_of(t: &str, prefix: &str) -> bool {
    t.strip_prefix(prefix).is_some_and(|rest| {
        rest.len() == 16 && rest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClaimManifest<'a> {
    schema_version: u32,
    media_type: &'a str,
    artifact_type: &'a str,
    config: Descriptor<'a>,
    layers: [Descriptor<'a>; 0],
    annotations: BTreeMap<&'a str, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor<'a> {
    media_type: &'a str,
    digest: String,
    size: u64,
}

/// A claim on `tag` in `state` (`active` or `withdrawn`), made unique by `nonce`.
fn claim_manifest(tag: &str, nonce: &str, state: &str, empty: &Expected) -> Vec<u8> {
    let manifest = ClaimManifest {
        schema_version: 2,
        media_type: OCI_MANIFEST,
        artifact_type: CLAIM_ARTIFACT_TYPE,
        config: Descriptor {
            media_type: EMPTY_MEDIA_TYPE,
            digest: empty.digest.prefixed(),
            size: empty.size,
        },
        layers: [],
        annotations: BTreeMap::from([
            (FOR, tag.to_owned()),
            (STATE, state.to_owned()),
            (TIME, now_secs().to_string()),
            (NONCE, nonce.to_owned()),
        ]),
    };
    // Serialising these plain types cannot fail.
    serde_json::to_vec(&manifest).unwrap_or_default()
}

/// Whether a claim's manifest claims `tag` and is active and not stale.
fn is_active(bytes: &[u8], tag: &str) -> bool {
    #[derive(Deserialize)]
    struct Claim {
        #[serde(default)]
        annotations: BTreeMap<String, String>,
    }
    let Ok(claim) = serde_json::from_slice::<Claim>(bytes) else {
        return false;
    };
    let a = &claim.annotations;
    let time: u64 = a.get(TIME).and_then(|t| t.parse().ok()).unwrap_or(0);
    a.get(FOR).map(String::as_str) == Some(tag)
        && a.get(STATE).map(String::as_str) == Some("active")
        && now_secs().abs_diff(time) < STALE.as_secs()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// 16 hex digits no other client picks: a hash of this process, thread, time and a counter.
fn nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = format!(
        "{}/{:?}/{:?}/{}",
        std::process::id(),
        std::thread::current().id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    strata_oci::verify::digest_bytes(seed.as_bytes()).hex()[..16].to_owned()
}

/// The wait before try `attempt + 1`: 10 ms doubling up to about a second, scaled by 0.5–1.5
/// from the nonce so that clients that met fall out of step.
fn backoff(attempt: u32, nonce: &str) -> Duration {
    let base = 10u64 << attempt.min(7);
    let spread = u64::from_str_radix(&nonce[..4], 16).unwrap_or(0) % 1000;
    Duration::from_millis(base / 2 + base * spread / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_tags_are_told_from_other_tags() {
        assert!(is_claim_of("x_r0_c0123456789abcdef", "x_r0_c"));
        assert!(!is_claim_of("x_r0_c0123456789ABCDEF", "x_r0_c"));
        assert!(!is_claim_of("x_r0_c0123", "x_r0_c"));
        assert!(!is_claim_of("x_r1_c0123456789abcdef", "x_r0_c"));
        assert_eq!(super::super::parse_tag("x_r0_c0123456789abcdef"), None);
    }

    #[test]
    fn only_fresh_active_claims_of_the_tag_count() {
        let empty = Expected {
            digest: strata_oci::verify::digest_bytes(EMPTY),
            size: 2,
        };
        assert!(is_active(
            &claim_manifest("t", &nonce(), "active", &empty),
            "t"
        ));
        assert!(!is_active(
            &claim_manifest("t", &nonce(), "active", &empty),
            "u"
        ));
        assert!(!is_active(
            &claim_manifest("t", &nonce(), "withdrawn", &empty),
            "t"
        ));
        let old = String::from_utf8(claim_manifest("t", "n", "active", &empty))
            .unwrap()
            .replace(&now_secs().to_string(), "1000");
        assert!(!is_active(old.as_bytes(), "t"));
        assert_ne!(nonce(), nonce());
        assert!(backoff(0, "ffff") <= Duration::from_millis(15));
        assert!(backoff(20, "0000") >= Duration::from_millis(640));
    }
}
