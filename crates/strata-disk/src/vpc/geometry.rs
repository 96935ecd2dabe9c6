//! CHS geometry: qemu's `calculate_geometry`, and the rounding `qemu-img create` and `convert`
//! apply to a new image's virtual size (the rule is in the [module overview](super)).

use super::error::VpcError;
use super::footer::SECTOR;

/// Most cylinders of a CHS geometry.
pub const CHS_MAX_C: u64 = 65535;
/// Most heads.
pub const CHS_MAX_H: u64 = 16;
/// Most sectors per track.
pub const CHS_MAX_S: u64 = 255;
/// The largest CHS geometry in sectors (about 127 GiB).
pub const MAX_GEOMETRY: u64 = CHS_MAX_C * CHS_MAX_H * CHS_MAX_S;
/// Most sectors qemu accepts (2040 GiB).
pub const MAX_SECTORS: u64 = 0xff00_0000;

/// qemu's `calculate_geometry`: the CHS geometry the VHD specification gives `total_sectors`
/// (whose product may be below it), as `(cylinders, heads, sectors per track)`.
pub fn calculate_geometry(total_sectors: u64) -> (u64, u64, u64) {
    let total = total_sectors.min(MAX_GEOMETRY);
    let (spt, heads, cth) = if total >= 65535 * 16 * 63 {
        (255, 16, total / 255)
    } else {
        let mut spt = 17;
        let mut cth = total / spt;
        let mut heads = cth.div_ceil(1024).max(4);
        if cth >= heads * 1024 || heads > 16 {
            spt = 31;
            heads = 16;
            cth = total / spt;
        }
        if cth >= heads * 1024 {
            spt = 63;
            heads = 16;
            cth = total / spt;
        }
        (spt, heads, cth)
    };
    (cth / heads, heads, spt)
}

/// The geometry and sector count qemu gives an image of `size` bytes (already a multiple of
/// 512): qemu's `calculate_rounded_image_size`. Without `force_size`, the smallest geometry
/// that holds the size (one more sector at a time), whose product is the size, unless it is
/// the maximum geometry (then the size stays); with it, the maximum geometry and the size.
pub fn rounded_geometry(size: u64, force_size: bool) -> Result<((u64, u64, u64), u64), VpcError> {
    let geometry = if force_size {
        (CHS_MAX_C, CHS_MAX_H, CHS_MAX_S)
    } else {
        let total = (size / SECTOR).min(MAX_GEOMETRY);
        let mut g = (0, 0, 0);
        let mut i = 0;
        // Terminates: the geometry of MAX_GEOMETRY sectors is the maximum, its product.
        while total > g.0 * g.1 * g.2 {
            g = calculate_geometry(total + i);
            i += 1;
        }
        g
    };
    let product = geometry.0 * geometry.1 * geometry.2;
    let sectors = if product == MAX_GEOMETRY {
        let sectors = size / SECTOR;
        if sectors > MAX_SECTORS {
            return Err(VpcError::CreateTooLarge {
                size,
                max: MAX_SECTORS * SECTOR,
            });
        }
        sectors
    } else {
        product
    };
    Ok((geometry, sectors))
}

/// The virtual size qemu-img gives a vpc image created or converted from `size` bytes (see
/// [`rounded_geometry`]).
pub fn rounded_size(size: u64, force_size: bool) -> Result<u64, VpcError> {
    let size = size
        .checked_next_multiple_of(SECTOR)
        .ok_or(VpcError::CreateTooLarge {
            size,
            max: MAX_SECTORS * SECTOR,
        })?;
    Ok(rounded_geometry(size, force_size)?.1 * SECTOR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_as_qemu_computes_it() {
        // 1 MiB: 2048 sectors round up to 31 × 4 × 17.
        assert_eq!(
            rounded_geometry(1 << 20, false).unwrap(),
            ((31, 4, 17), 2108)
        );
        // Beyond CHS: the maximum geometry and the exact size.
        let big = 200u64 << 30;
        assert_eq!(
            rounded_geometry(big, false).unwrap(),
            ((65535, 16, 255), big / 512)
        );
        assert_eq!(rounded_size(big + 1, false).unwrap(), big + 512);
        assert_eq!(rounded_size((1 << 20) + 1, true).unwrap(), (1 << 20) + 512);
        assert!(rounded_size(MAX_SECTORS * 512 + 512, false).is_err());
        // What qemu-img create gives, size for size.
        for (asked, got) in [
            (1 << 20, 1_079_296),
            ((1 << 20) + 512, 1_079_296),
            (10 << 20, 10_514_432),
            (127 << 20, 133_171_200),
            (1000 << 20, 1_048_707_072),
            (128 << 30, 128 << 30),
            (200 << 30, 200 << 30),
        ] {
            assert_eq!(rounded_size(asked, false).unwrap(), got, "{asked}");
        }
    }
}
