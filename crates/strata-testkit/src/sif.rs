//! Sample Singularity images laid out as apptainer and Singularity 2 write them: a SIF file
//! ([`write_sif`]) and an old `.simg` ([`write_simg`]), around a squashfs given by the test.

/// A SIF file as apptainer's `pkg/sif` lays one out (`sif.go`, `create.go`): the launch script,
/// `SIF_MAGIC`, version `01`, `arch`, a 128-byte global header; 48 descriptors of 585 bytes at
/// 4096; the data objects from 32768: descriptor 0 the definition file `deffile` (ID 1),
/// descriptor 1 the primary system partition holding `squashfs` (ID 2, squashfs, aligned to
/// 4096), both in the default group `0xf0000001`.
pub fn write_sif(squashfs: &[u8], deffile: &[u8], arch: &str) -> Vec<u8> {
    const DESCRIPTORS: usize = 48;
    const DESCR_OFF: usize = 4096;
    const DATA_OFF: usize = 32768;
    const GROUP: u32 = 0xf000_0001;
    let def_off = DATA_OFF;
    let part_off = (def_off + deffile.len()).next_multiple_of(4096);
    let end = part_off + squashfs.len();
    let mut out = vec![0u8; end];
    let launch = b"#!/usr/bin/env run-singularity\n";
    out[..launch.len()].copy_from_slice(launch);
    out[32..41].copy_from_slice(b"SIF_MAGIC");
    out[42..44].copy_from_slice(b"01");
    out[45..47].copy_from_slice(&arch.as_bytes()[..2]);
    out[48..64].copy_from_slice(&[0x5a; 16]); // the image ID (a UUID)
    let fields: [i64; 10] = [
        1_700_000_000, // ctime
        1_700_000_000, // mtime
        DESCRIPTORS as i64 - 2,
        DESCRIPTORS as i64,
        DESCR_OFF as i64,
        (DESCRIPTORS * 585) as i64,
        DATA_OFF as i64,
        (end - DATA_OFF) as i64,
        0,
        0,
    ];
    for (i, v) in fields.iter().take(8).enumerate() {
        out[64 + 8 * i..72 + 8 * i].copy_from_slice(&v.to_le_bytes());
    }
    let mut descr =
        |i: usize, kind: i32, id: u32, off: usize, len: usize, name: &str, extra: &[u8]| {
            let d = &mut out[DESCR_OFF + 585 * i..DESCR_OFF + 585 * (i + 1)];
            d[0..4].copy_from_slice(&kind.to_le_bytes());
            d[4] = 1;
            d[5..9].copy_from_slice(&id.to_le_bytes());
            d[9..13].copy_from_slice(&GROUP.to_le_bytes());
            d[17..25].copy_from_slice(&(off as i64).to_le_bytes());
            d[25..33].copy_from_slice(&(len as i64).to_le_bytes());
            d[33..41].copy_from_slice(&(len as i64).to_le_bytes());
            d[41..49].copy_from_slice(&1_700_000_000i64.to_le_bytes());
            d[49..57].copy_from_slice(&1_700_000_000i64.to_le_bytes());
            d[73..73 + name.len()].copy_from_slice(name.as_bytes());
            d[201..201 + extra.len()].copy_from_slice(extra);
        };
    descr(0, 0x4001, 1, def_off, deffile.len(), "", &[]);
    let mut part = Vec::new();
    part.extend_from_slice(&1i32.to_le_bytes()); // FsSquash
    part.extend_from_slice(&2i32.to_le_bytes()); // PartPrimSys
    part.extend_from_slice(&arch.as_bytes()[..2]);
    descr(1, 0x4004, 2, part_off, squashfs.len(), "rootfs", &part);
    out[def_off..def_off + deffile.len()].copy_from_slice(deffile);
    out[part_off..end].copy_from_slice(squashfs);
    out
}

/// An old Singularity 2.x `.simg`: the launch script line, then the squashfs.
pub fn write_simg(squashfs: &[u8]) -> Vec<u8> {
    let mut out = b"#!/usr/bin/env run-singularity\n".to_vec();
    out.extend_from_slice(squashfs);
    out
}
