//! The internal snapshot table: variable-length entries (L1 table, ID, name, dates, VM state
//! size, extra data), read with qemu's limits on count, extra data and total size.

use crate::error::DiskError;
use crate::io::ReadAt;
use crate::qcow2::Qcow2Error;
use crate::qcow2::error::SnapshotProblem;
use crate::qcow2::header::{Header, MAX_L1_ENTRIES};

/// Largest extra data per entry (qemu `QCOW_MAX_SNAPSHOT_EXTRA_DATA`).
pub const MAX_EXTRA_DATA: u32 = 1024;
/// Largest snapshot table in bytes (qemu `QCOW_MAX_SNAPSHOTS_SIZE`: 1 KiB per snapshot on
/// average, 64 MiB).
pub const MAX_TABLE_BYTES: u64 = 1024 * 65536;
/// Fixed part of an entry.
pub const ENTRY_HEADER_LEN: usize = 40;

/// One internal snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Offset of the snapshot's L1 table.
    pub l1_table_offset: u64,
    /// Entries in the snapshot's L1 table.
    pub l1_size: u32,
    /// The unique ID string (qemu numbers them "1", "2", ...).
    pub id: String,
    /// The name (qemu-img's "TAG").
    pub name: String,
    /// Seconds since the epoch when taken.
    pub date_sec: u32,
    /// Nanoseconds part of the date.
    pub date_nsec: u32,
    /// Guest run time in nanoseconds when taken.
    pub vm_clock_nsec: u64,
    /// Size of the saved VM state (the 64-bit extra-data field when present).
    pub vm_state_size: u64,
    /// Virtual disk size at the time (extra data, v3).
    pub disk_size: Option<u64>,
    /// Record/replay instruction count (extra data; -1 when disabled).
    pub icount: Option<i64>,
    /// The whole extra data as stored (at most [`MAX_EXTRA_DATA`] bytes).
    pub extra_data: Vec<u8>,
}

impl Snapshot {
    /// The entry's bytes (padded to 8), for writers.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(ENTRY_HEADER_LEN + self.extra_data.len() + 64);
        b.extend_from_slice(&self.l1_table_offset.to_be_bytes());
        b.extend_from_slice(&self.l1_size.to_be_bytes());
        b.extend_from_slice(&(self.id.len() as u16).to_be_bytes());
        b.extend_from_slice(&(self.name.len() as u16).to_be_bytes());
        b.extend_from_slice(&self.date_sec.to_be_bytes());
        b.extend_from_slice(&self.date_nsec.to_be_bytes());
        b.extend_from_slice(&self.vm_clock_nsec.to_be_bytes());
        b.extend_from_slice(&(self.vm_state_size.min(u64::from(u32::MAX)) as u32).to_be_bytes());
        b.extend_from_slice(&(self.extra_data.len() as u32).to_be_bytes());
        b.extend_from_slice(&self.extra_data);
        b.extend_from_slice(self.id.as_bytes());
        b.extend_from_slice(self.name.as_bytes());
        b.resize(b.len().next_multiple_of(8), 0);
        b
    }
}

fn be<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[off..off + N]);
    a
}

/// Reads the snapshot table the header describes (count already bounded by the header).
/// Returns the entries and the table's size in bytes.
pub fn read_snapshots(
    src: &dyn ReadAt,
    header: &Header,
    file_len: u64,
) -> Result<(Vec<Snapshot>, u64), DiskError> {
    let mut out = Vec::new();
    let mut offset = header.snapshots_offset;
    let cluster = header.cluster_size();
    for index in 0..header.nb_snapshots {
        let problem = |problem| Qcow2Error::SnapshotTable {
            index,
            offset,
            problem,
        };
        let past_end = || problem(SnapshotProblem::PastEnd { file_len });
        let read = |buf: &mut [u8], at: u64| -> Result<(), DiskError> {
            let end = at.checked_add(buf.len() as u64).ok_or_else(past_end)?;
            if end > file_len {
                return Err(past_end().into());
            }
            src.read_exact_at(buf, at)
                .map_err(|e| DiskError::io(format!("read snapshot table at {at:#x}"), e))
        };
        let mut h = [0u8; ENTRY_HEADER_LEN];
        read(&mut h, offset)?;
        let l1_table_offset = u64::from_be_bytes(be(&h, 0));
        let l1_size = u32::from_be_bytes(be(&h, 8));
        let id_len = u16::from_be_bytes(be(&h, 12));
        let name_len = u16::from_be_bytes(be(&h, 14));
        let extra_len = u32::from_be_bytes(be(&h, 36));
        if extra_len > MAX_EXTRA_DATA {
            return Err(problem(SnapshotProblem::ExtraDataTooLarge {
                extra_data_size: extra_len,
                max: MAX_EXTRA_DATA,
            })
            .into());
        }
        let var_len = extra_len as usize + usize::from(id_len) + usize::from(name_len);
        let entry_len = (ENTRY_HEADER_LEN + var_len).next_multiple_of(8) as u64;
        let end = offset - header.snapshots_offset + entry_len;
        if end > MAX_TABLE_BYTES {
            return Err(problem(SnapshotProblem::TableTooLarge {
                max: MAX_TABLE_BYTES,
            })
            .into());
        }
        let mut var = vec![0u8; var_len];
        read(&mut var, offset + ENTRY_HEADER_LEN as u64)?;
        let l1_ok = l1_size <= MAX_L1_ENTRIES
            && l1_table_offset.is_multiple_of(cluster)
            && l1_table_offset
                .checked_add(u64::from(l1_size) * 8)
                .is_some_and(|e| e <= file_len);
        if !l1_ok {
            return Err(problem(SnapshotProblem::L1 {
                l1_offset: l1_table_offset,
                l1_size,
            })
            .into());
        }
        let (extra, rest) = var.split_at(extra_len as usize);
        let (id, name) = rest.split_at(usize::from(id_len));
        let text = |b: &[u8]| {
            std::str::from_utf8(b)
                .map(str::to_owned)
                .map_err(|_| problem(SnapshotProblem::NotUtf8))
        };
        let vm_state_size = if extra.len() >= 8 {
            u64::from_be_bytes(be(extra, 0))
        } else {
            u64::from(u32::from_be_bytes(be(&h, 32)))
        };
        out.push(Snapshot {
            l1_table_offset,
            l1_size,
            id: text(id)?,
            name: text(name)?,
            date_sec: u32::from_be_bytes(be(&h, 16)),
            date_nsec: u32::from_be_bytes(be(&h, 20)),
            vm_clock_nsec: u64::from_be_bytes(be(&h, 24)),
            vm_state_size,
            disk_size: (extra.len() >= 16).then(|| u64::from_be_bytes(be(extra, 8))),
            icount: (extra.len() >= 24).then(|| i64::from_be_bytes(be(extra, 16))),
            extra_data: extra.to_vec(),
        });
        offset += entry_len;
    }
    Ok((out, offset - header.snapshots_offset))
}
