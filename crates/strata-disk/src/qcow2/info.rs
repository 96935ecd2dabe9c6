//! `info`: the fields `qemu-img info --output=json` prints for a qcow2 image, as a serde
//! structure that serialises to the same JSON (field names and omissions).

use serde::Serialize;

use crate::qcow2::reader::Qcow2Image;

/// `qemu-img info --output=json` for one qcow2 image (without qemu's `children` list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ImageInfo {
    /// Virtual disk size in bytes.
    pub virtual_size: u64,
    /// The file name as given.
    pub filename: String,
    /// Cluster size in bytes.
    pub cluster_size: u64,
    /// Always "qcow2".
    pub format: String,
    /// Bytes allocated on the host filesystem (from a stat the caller made), if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual_size: Option<u64>,
    /// The qcow2-specific part.
    pub format_specific: FormatSpecific,
    /// The dirty bit.
    pub dirty_flag: bool,
    /// The backing file name as stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backing_filename: Option<String>,
    /// The backing file name joined to the image's directory, as qemu joins them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_backing_filename: Option<String>,
    /// The recorded backing format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backing_filename_format: Option<String>,
    /// Internal snapshots, omitted when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub snapshots: Vec<SnapshotInfo>,
}

/// `format-specific`: `{"type": "qcow2", "data": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FormatSpecific {
    /// Always "qcow2".
    #[serde(rename = "type")]
    pub kind: String,
    /// The qcow2 fields.
    pub data: Qcow2Specific,
}

/// The qcow2 fields of `format-specific.data`; the v3-only ones are absent for compat 0.10.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Qcow2Specific {
    /// "0.10" (version 2) or "1.1" (version 3).
    pub compat: String,
    /// "zlib" or "zstd".
    pub compression_type: String,
    /// Lazy refcounts (v3 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lazy_refcounts: Option<bool>,
    /// Refcount width in bits.
    pub refcount_bits: u32,
    /// The corrupt bit (v3 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corrupt: Option<bool>,
    /// Extended L2 entries (v3 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extended_l2: Option<bool>,
}

/// One snapshot as `qemu-img info` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct SnapshotInfo {
    /// The ID.
    pub id: String,
    /// The name (tag).
    pub name: String,
    /// Saved VM state size.
    pub vm_state_size: u64,
    /// Date, seconds.
    pub date_sec: u64,
    /// Date, nanoseconds.
    pub date_nsec: u64,
    /// Guest clock, whole seconds.
    pub vm_clock_sec: u64,
    /// Guest clock, nanoseconds part.
    pub vm_clock_nsec: u64,
    /// Instruction count, when recorded (absent when -1 or not stored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icount: Option<u64>,
}

/// Joins a relative backing name to the directory of `filename` as qemu's `path_combine`
/// does (textually, without resolving anything).
pub fn full_backing_filename(filename: &str, backing: &str) -> String {
    if backing.starts_with('/') {
        return backing.to_owned();
    }
    match filename.rfind('/') {
        Some(i) => format!("{}{backing}", &filename[..=i]),
        None => backing.to_owned(),
    }
}

/// The info of `image`, whose file is named `filename`; `actual_size` is the allocated size
/// from a stat (qemu-img prints it; strata does not stat here).
pub fn info(image: &Qcow2Image, filename: &str, actual_size: Option<u64>) -> ImageInfo {
    let h = image.header();
    let v3 = h.version >= 3;
    let backing = h.backing_file.clone();
    ImageInfo {
        virtual_size: h.size,
        filename: filename.to_owned(),
        cluster_size: h.cluster_size(),
        format: "qcow2".to_owned(),
        actual_size,
        format_specific: FormatSpecific {
            kind: "qcow2".to_owned(),
            data: Qcow2Specific {
                compat: if v3 { "1.1" } else { "0.10" }.to_owned(),
                compression_type: h.compression_type.name().to_owned(),
                lazy_refcounts: v3.then(|| h.lazy_refcounts()),
                refcount_bits: h.refcount_bits(),
                corrupt: v3.then(|| h.corrupt()),
                extended_l2: v3.then(|| h.extended_l2()),
            },
        },
        dirty_flag: h.dirty(),
        full_backing_filename: backing
            .as_deref()
            .map(|b| full_backing_filename(filename, b)),
        backing_filename: backing,
        backing_filename_format: h.backing_format.clone(),
        snapshots: image
            .snapshots()
            .iter()
            .map(|s| SnapshotInfo {
                id: s.id.clone(),
                name: s.name.clone(),
                vm_state_size: s.vm_state_size,
                date_sec: u64::from(s.date_sec),
                date_nsec: u64::from(s.date_nsec),
                vm_clock_sec: s.vm_clock_nsec / 1_000_000_000,
                vm_clock_nsec: s.vm_clock_nsec % 1_000_000_000,
                icount: s.icount.and_then(|i| u64::try_from(i).ok()),
            })
            .collect(),
    }
}
