//! The text descriptor: `key=value` lines (`CID`, `parentCID`, `createType`,
//! `parentFileNameHint`, `ddb.*`), and extent lines `ACCESS SECTORS TYPE ["NAME" [OFFSET]]`.
//! It is either embedded in a sparse extent (monolithicSparse, streamOptimized) or a file of
//! its own that names the extent files (monolithicFlat, twoGbMaxExtent*).
//!
//! Parsing is line by line over at most [`MAX_DESCRIPTOR_BYTES`]; text after a NUL byte is
//! ignored (embedded descriptors are zero-padded). Extent lines are accepted with access `RW`
//! or `RDONLY`, types `FLAT`, `SPARSE` and `ZERO`; `NOACCESS` and the ESX types (`VMFS`,
//! `VMFSSPARSE`, `SESPARSE`, `VMFSRDM`, `VMFSRAW`) are refused by name. Where we differ from
//! qemu: qemu silently skips `RDONLY` and `ZERO` lines (the disk then comes out shorter); we
//! read them, being read-only, as VMware does. Images qemu writes have neither.

use crate::vmdk::error::VmdkError;

/// The largest descriptor read (a descriptor file, or an embedded one): 64 KiB. qemu writes
/// about 500 bytes in a 10 KiB area; VMware's are of the same order. The cap bounds the
/// memory and the number of extent lines (see [`MAX_EXTENTS`]).
pub const MAX_DESCRIPTOR_BYTES: u64 = 64 << 10;
/// Most extents a descriptor may name: a 2 TiB twoGbMaxExtent disk has 1024. Each holds an
/// open file.
pub const MAX_EXTENTS: usize = 1024;
/// The `parentCID` of an image without a parent.
pub const NO_PARENT_CID: u32 = 0xffff_ffff;

/// Access of an extent line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `RW`.
    ReadWrite,
    /// `RDONLY`.
    ReadOnly,
}

/// Type of an extent line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtentType {
    /// `FLAT`: raw bytes in a file from a sector offset.
    Flat,
    /// `SPARSE`: a hosted sparse (`KDMV`) file.
    Sparse,
    /// `ZERO`: no file, reads as zeros.
    Zero,
}

/// One extent line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtentLine {
    /// Access.
    pub access: Access,
    /// Size in sectors.
    pub sectors: u64,
    /// Type.
    pub kind: ExtentType,
    /// File name as written (empty for `ZERO`).
    pub file: String,
    /// Start in the file, sectors (`FLAT` only).
    pub offset: u64,
}

/// A parsed descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Descriptor {
    /// `CID`.
    pub cid: Option<u32>,
    /// `parentCID`.
    pub parent_cid: Option<u32>,
    /// `createType`.
    pub create_type: Option<String>,
    /// `parentFileNameHint`.
    pub parent_hint: Option<String>,
    /// Extent lines in order.
    pub extents: Vec<ExtentLine>,
}

impl Descriptor {
    /// Parses descriptor text (cut at the first NUL). Refuses unsupported extent kinds by name.
    pub fn parse(bytes: &[u8]) -> Result<Descriptor, VmdkError> {
        if bytes.len() as u64 > MAX_DESCRIPTOR_BYTES {
            return Err(VmdkError::DescriptorTooLarge {
                size: bytes.len() as u64,
                max: MAX_DESCRIPTOR_BYTES,
            });
        }
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        let text = String::from_utf8_lossy(&bytes[..end]);
        let mut d = Descriptor::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let first = line.split_whitespace().next().unwrap_or("");
            if matches!(first, "RW" | "RDONLY" | "NOACCESS") {
                if d.extents.len() >= MAX_EXTENTS {
                    return Err(VmdkError::TooManyExtents { max: MAX_EXTENTS });
                }
                d.extents.push(parse_extent(line, i + 1)?);
                continue;
            }
            if let Some((key, value)) = line.split_once('=') {
                let key = key.trim();
                let value = value.trim().trim_matches('"');
                let hex = || u32::from_str_radix(value, 16).ok();
                match key {
                    "CID" => d.cid = hex(),
                    "parentCID" => d.parent_cid = hex(),
                    "createType" => d.create_type = Some(value.to_owned()),
                    "parentFileNameHint" => d.parent_hint = Some(value.to_owned()),
                    _ => {}
                }
            }
            // Other lines (`version=`, unknown words) are ignored, as qemu does.
        }
        Ok(d)
    }

    /// Whether the descriptor links to a parent (a delta disk).
    pub fn parent_link(&self) -> Option<String> {
        if let Some(hint) = &self.parent_hint {
            return Some(format!("parentFileNameHint=\"{hint}\""));
        }
        match self.parent_cid {
            Some(p) if p != NO_PARENT_CID => Some(format!("parentCID={p:08x}")),
            _ => None,
        }
    }
}

fn syntax(line: usize, text: &str, reason: &'static str) -> VmdkError {
    VmdkError::DescriptorSyntax {
        line,
        text: text.chars().take(200).collect(),
        reason,
    }
}

/// The first word of `s` (after leading blanks) and the rest.
fn next_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.split_once(char::is_whitespace) {
        Some((w, rest)) => (w, rest.trim_start()),
        None => (s, ""),
    }
}

fn parse_extent(line: &str, n: usize) -> Result<ExtentLine, VmdkError> {
    let (access, rest) = next_word(line);
    let (sectors_s, rest) = next_word(rest);
    let (kind_s, tail) = next_word(rest);
    let access = match access {
        "RW" => Access::ReadWrite,
        "RDONLY" => Access::ReadOnly,
        _ => {
            return Err(VmdkError::Unsupported {
                feature: "NOACCESS extents".into(),
            });
        }
    };
    let sectors: u64 = sectors_s
        .parse()
        .map_err(|_| syntax(n, line, "extent size is not a number"))?;
    if sectors == 0 {
        return Err(syntax(n, line, "extent size is zero"));
    }
    let kind = match kind_s {
        "FLAT" => ExtentType::Flat,
        "SPARSE" => ExtentType::Sparse,
        "ZERO" => ExtentType::Zero,
        "VMFS" | "VMFSSPARSE" | "SESPARSE" | "VMFSRDM" | "VMFSRAW" => {
            return Err(VmdkError::Unsupported {
                feature: format!("{kind_s} extents"),
            });
        }
        _ => return Err(syntax(n, line, "unknown extent type")),
    };
    if kind == ExtentType::Zero {
        return Ok(ExtentLine {
            access,
            sectors,
            kind,
            file: String::new(),
            offset: 0,
        });
    }
    let Some(quoted) = tail.strip_prefix('"') else {
        return Err(syntax(n, line, "extent file name is not quoted"));
    };
    let Some((file, after)) = quoted.split_once('"') else {
        return Err(syntax(n, line, "extent file name is not closed"));
    };
    if file.is_empty() {
        return Err(syntax(n, line, "extent file name is empty"));
    }
    let after = after.trim();
    let offset = match (kind, after) {
        (ExtentType::Flat, "") => return Err(syntax(n, line, "FLAT extent without an offset")),
        (ExtentType::Flat, o) => o
            .parse()
            .map_err(|_| syntax(n, line, "extent offset is not a number"))?,
        (_, "") => 0,
        _ => return Err(syntax(n, line, "unexpected text after the file name")),
    };
    Ok(ExtentLine {
        access,
        sectors,
        kind,
        file: file.to_owned(),
        offset,
    })
}

/// The descriptor qemu writes for a single-file sparse image: `create_type`, one `RW SPARSE`
/// extent line naming `file_name`, the hardware version, the geometry qemu computes
/// (`cylinders = size / (63 × heads × 512)`, 16 heads for ide, 255 otherwise, 63 sectors), the
/// adapter type and qemu's default tools version.
pub fn render(
    cid: u32,
    create_type: &str,
    capacity_sectors: u64,
    file_name: &str,
    hw_version: &str,
    adapter_type: &str,
) -> String {
    let extent = format!("RW {capacity_sectors} SPARSE \"{file_name}\"\n");
    render_extents(
        cid,
        create_type,
        capacity_sectors,
        &extent,
        hw_version,
        adapter_type,
    )
}

/// The descriptor qemu writes with the extent lines `extents` (each ending in a newline), for
/// a disk of `capacity_sectors` in all.
pub fn render_extents(
    cid: u32,
    create_type: &str,
    capacity_sectors: u64,
    extents: &str,
    hw_version: &str,
    adapter_type: &str,
) -> String {
    let heads: u64 = if adapter_type == "ide" { 16 } else { 255 };
    let cylinders = capacity_sectors * SECTOR_BYTES / (63 * heads * SECTOR_BYTES);
    format!(
        "# Disk DescriptorFile\n\
         version=1\n\
         CID={cid:x}\n\
         parentCID=ffffffff\n\
         createType=\"{create_type}\"\n\
         \n\
         # Extent description\n\
         {extents}\
         \n\
         # The Disk Data Base\n\
         #DDB\n\
         \n\
         ddb.virtualHWVersion = \"{hw_version}\"\n\
         ddb.geometry.cylinders = \"{cylinders}\"\n\
         ddb.geometry.heads = \"{heads}\"\n\
         ddb.geometry.sectors = \"63\"\n\
         ddb.adapterType = \"{adapter_type}\"\n\
         ddb.toolsVersion = \"2147483647\"\n"
    )
}

const SECTOR_BYTES: u64 = 512;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_qemu_descriptors() {
        let text = render(0xb3163ff, "monolithicSparse", 6144, "ms.vmdk", "4", "ide");
        let d = Descriptor::parse(text.as_bytes()).unwrap();
        assert_eq!(d.cid, Some(0xb3163ff));
        assert_eq!(d.parent_cid, Some(NO_PARENT_CID));
        assert_eq!(d.create_type.as_deref(), Some("monolithicSparse"));
        assert_eq!(d.parent_link(), None);
        assert_eq!(
            d.extents,
            vec![ExtentLine {
                access: Access::ReadWrite,
                sectors: 6144,
                kind: ExtentType::Sparse,
                file: "ms.vmdk".into(),
                offset: 0
            }]
        );
        assert!(text.contains("ddb.geometry.cylinders = \"6\""));
        let flat =
            "createType=\"monolithicFlat\"\nRW 2048 FLAT \"a b=flat.vmdk\" 0\r\nRDONLY 10 ZERO\n";
        let d = Descriptor::parse(flat.as_bytes()).unwrap();
        assert_eq!(d.extents[0].file, "a b=flat.vmdk");
        assert_eq!(d.extents[1].kind, ExtentType::Zero);
        assert_eq!(d.extents[1].access, Access::ReadOnly);
    }

    #[test]
    fn refuses_bad_lines() {
        for (line, ok) in [
            ("RW x FLAT \"f\" 0", false),
            ("RW 10 FLAT \"f\"", false),
            ("RW 10 SPARSE f", false),
            ("RW 10 BOGUS \"f\"", false),
            ("RW 0 SPARSE \"f\"", false),
            ("RW 10 SPARSE \"f\" 3", false),
            ("RW 10 FLAT \"f\" 3", true),
            ("RW   10\tFLAT   \"f g\"   3", true),
        ] {
            assert_eq!(Descriptor::parse(line.as_bytes()).is_ok(), ok, "{line}");
        }
        assert!(matches!(
            Descriptor::parse(b"RW 10 VMFSSPARSE \"f\""),
            Err(VmdkError::Unsupported { .. })
        ));
        let d = Descriptor::parse(b"parentCID=12345678\nparentFileNameHint=\"p.vmdk\"\n").unwrap();
        assert!(d.parent_link().unwrap().contains("p.vmdk"));
        let big = vec![b' '; MAX_DESCRIPTOR_BYTES as usize + 1];
        assert!(matches!(
            Descriptor::parse(&big),
            Err(VmdkError::DescriptorTooLarge { .. })
        ));
    }
}
