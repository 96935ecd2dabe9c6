//! In-place edits of a qcow2 image's metadata: growing the virtual size ([`resize`]) and
//! rewriting the backing file name and format ([`set_backing`], used to rebase layers).
//!
//! Both rewrite the header cluster last, so a crash leaves the old image (at worst with a
//! leaked cluster, which `check` reports and qemu tolerates).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use strata_model::DiskFormat;

use crate::error::DiskError;
use crate::qcow2::header::{Header, MAX_CLUSTER_BITS, MAX_L1_ENTRIES};
use crate::qcow2::refcount::{block_entries_bits, get_refcount, set_refcount};
use crate::qcow2::writer::{Qcow2WriteError, header_bytes, l1_entries};

struct Image {
    file: File,
    header: Header,
    file_len: u64,
}

fn open(path: &Path) -> Result<Image, DiskError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| DiskError::io("open for writing", e).with_path(path))?;
    let file_len = file
        .metadata()
        .map_err(|e| DiskError::io("read file metadata", e).with_path(path))?
        .len();
    let n = file_len.min(1 << MAX_CLUSTER_BITS) as usize;
    let mut first = vec![0u8; n];
    file.read_exact_at(&mut first, 0)
        .map_err(|e| DiskError::io("read the header", e).with_path(path))?;
    let header = Header::parse(&first, file_len)
        .map_err(|e| DiskError::from(crate::qcow2::Qcow2Error::from(e)).with_path(path))?;
    if header.dirty() || header.corrupt() {
        return Err(DiskError::from(Qcow2WriteError::Unsupported {
            what: "editing an image marked dirty or corrupt (run check -r first)".into(),
        })
        .with_path(path));
    }
    Ok(Image {
        file,
        header,
        file_len,
    })
}

fn io(path: &Path, op: String) -> impl FnOnce(std::io::Error) -> DiskError + '_ {
    move |e| DiskError::io(op, e).with_path(path)
}

fn write_header(path: &Path, img: &Image) -> Result<(), DiskError> {
    let bytes = header_bytes(&img.header).map_err(|e| DiskError::from(e).with_path(path))?;
    img.file
        .write_all_at(&bytes, 0)
        .map_err(io(path, "write the header".into()))?;
    img.file.sync_all().map_err(io(path, "fsync".into()))
}

/// Rewrites the backing file name and its format extension (`None` removes both), within the
/// header cluster. A name longer than 1023 bytes or that does not fit beside the header and
/// its extensions is refused (`BackingDoesNotFit`), and the file is left unchanged.
pub fn set_backing(path: &Path, backing: Option<(&str, DiskFormat)>) -> Result<(), DiskError> {
    let mut img = open(path)?;
    img.header.backing_file = backing.map(|(name, _)| name.to_owned());
    img.header.backing_format = backing.map(|(_, format)| format.name().to_owned());
    write_header(path, &img)
}

/// Grows the virtual size to `new_size` (shrinking is refused). The L1 table is extended in
/// place when its clusters have room, otherwise a larger one is written at the end of the
/// file (with the refcount blocks it needs) and the old one freed.
pub fn resize(path: &Path, new_size: u64) -> Result<(), DiskError> {
    let mut img = open(path)?;
    let h = &img.header;
    if new_size < h.size {
        return Err(DiskError::from(Qcow2WriteError::Shrink {
            current: h.size,
            requested: new_size,
        })
        .with_path(path));
    }
    let cs = h.cluster_size();
    let needed = l1_entries(new_size, h.cluster_bits);
    if needed > u64::from(MAX_L1_ENTRIES) {
        let e = Qcow2WriteError::TooLarge {
            size: new_size,
            l1_entries: needed,
            max: u64::from(MAX_L1_ENTRIES),
        };
        return Err(DiskError::from(e).with_path(path));
    }
    let old_entries = u64::from(h.l1_size);
    let old_clusters = (old_entries * 8).div_ceil(cs);
    if needed <= old_clusters * cs / 8 {
        if needed > old_entries {
            let zeros = vec![0u8; ((needed - old_entries) * 8) as usize];
            let at = h.l1_table_offset + old_entries * 8;
            img.file
                .write_all_at(&zeros, at)
                .map_err(io(path, format!("clear L1 entries at {at}")))?;
            img.file.sync_all().map_err(io(path, "fsync".into()))?;
        }
        img.header.size = new_size;
        img.header.l1_size = needed.max(old_entries) as u32;
        return write_header(path, &img);
    }
    move_l1(path, &mut img, new_size, needed)
}

/// Writes a larger L1 table at the end of the file, then the header, then frees the old one.
fn move_l1(path: &Path, img: &mut Image, new_size: u64, needed: u64) -> Result<(), DiskError> {
    let h = img.header.clone();
    let cs = h.cluster_size();
    let per_bits = block_entries_bits(h.cluster_bits, h.refcount_order);
    let table_entries = u64::from(h.refcount_table_clusters) * cs / 8;
    let mut table = vec![0u8; (table_entries * 8) as usize];
    img.file
        .read_exact_at(&mut table, h.refcount_table_offset)
        .map_err(io(path, "read the refcount table".into()))?;
    let entry = |t: &[u8], i: u64| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&t[(i * 8) as usize..(i * 8 + 8) as usize]);
        u64::from_be_bytes(a) & !0x1ff
    };
    let first = img.file_len.div_ceil(cs);
    let l1_clusters = (needed * 8).div_ceil(cs);
    // New refcount blocks go after the new L1; find how many, including blocks for them.
    let mut new_blocks: Vec<u64> = Vec::new();
    loop {
        let end = first + l1_clusters + new_blocks.len() as u64;
        let spans: Vec<u64> = ((first >> per_bits)..=((end - 1) >> per_bits))
            .filter(|s| *s >= table_entries || entry(&table, *s) == 0)
            .collect();
        if spans.len() == new_blocks.len() {
            new_blocks = spans;
            break;
        }
        new_blocks = spans;
    }
    if new_blocks.iter().any(|s| *s >= table_entries) {
        let e = Qcow2WriteError::Unsupported {
            what: "growing that needs a larger refcount table".into(),
        };
        return Err(DiskError::from(e).with_path(path));
    }
    let end = first + l1_clusters + new_blocks.len() as u64;
    // The new L1: the old entries, then zeros.
    let mut l1 = vec![0u8; (l1_clusters * cs) as usize];
    let old_len = u64::from(h.l1_size) * 8;
    img.file
        .read_exact_at(&mut l1[..old_len as usize], h.l1_table_offset)
        .map_err(io(path, "read the L1 table".into()))?;
    img.file
        .write_all_at(&l1, first * cs)
        .map_err(io(path, "write the new L1 table".into()))?;
    // Refcounts of the new clusters.
    let mut span_cur = u64::MAX;
    let mut block = vec![0u8; cs as usize];
    let mut block_at = 0u64;
    for c in first..end {
        let span = c >> per_bits;
        if span != span_cur {
            if span_cur != u64::MAX {
                img.file
                    .write_all_at(&block, block_at)
                    .map_err(io(path, "write a refcount block".into()))?;
            }
            span_cur = span;
            if let Some(k) = new_blocks.iter().position(|s| *s == span) {
                block.fill(0);
                block_at = (first + l1_clusters + k as u64) * cs;
            } else {
                block_at = entry(&table, span);
                img.file
                    .read_exact_at(&mut block, block_at)
                    .map_err(io(path, "read a refcount block".into()))?;
            }
        }
        set_refcount(
            &mut block,
            (c & ((1 << per_bits) - 1)) as usize,
            h.refcount_order,
            1,
        );
    }
    if span_cur != u64::MAX {
        img.file
            .write_all_at(&block, block_at)
            .map_err(io(path, "write a refcount block".into()))?;
    }
    for (k, span) in new_blocks.iter().enumerate() {
        let at = (first + l1_clusters + k as u64) * cs;
        img.file
            .write_all_at(&at.to_be_bytes(), h.refcount_table_offset + span * 8)
            .map_err(io(path, "write a refcount table entry".into()))?;
    }
    img.file.sync_all().map_err(io(path, "fsync".into()))?;
    img.header.size = new_size;
    img.header.l1_size = needed as u32;
    img.header.l1_table_offset = first * cs;
    write_header(path, img)?;
    // Free the old L1 clusters.
    let old_clusters = old_len.div_ceil(cs);
    for c in (h.l1_table_offset / cs)..(h.l1_table_offset / cs + old_clusters) {
        let at = entry(&table, c >> per_bits);
        if at == 0 {
            continue;
        }
        let mut b = vec![0u8; cs as usize];
        img.file
            .read_exact_at(&mut b, at)
            .map_err(io(path, "read a refcount block".into()))?;
        let i = (c & ((1 << per_bits) - 1)) as usize;
        let v = get_refcount(&b, i, h.refcount_order).saturating_sub(1);
        set_refcount(&mut b, i, h.refcount_order, v);
        img.file
            .write_all_at(&b, at)
            .map_err(io(path, "write a refcount block".into()))?;
    }
    img.file.sync_all().map_err(io(path, "fsync".into()))
}
