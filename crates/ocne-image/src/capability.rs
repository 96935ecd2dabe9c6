//! The image capability document OCNE writes beside a boot image before uploading it
//! (`<file>.json`, pkg/util/oci/imagecapability.go and `createImageCapabilitiesFile`): the
//! launch options and shapes an OCI custom image is imported with, printed exactly as Go's
//! `json.MarshalIndent(v, "", "  ")` prints OCNE's `ImageCapability` struct: fields in the
//! struct's order, two-space indent, `": "` after keys, no trailing newline, a nil slice as
//! `null`.
//!
//! Two variants: OCI's (UEFI firmware, VFIO network, iSCSI boot volume, `NATIVE` launch
//! options, a compact JSON string of two capability descriptors, OCNE's caps format version,
//! and 56 amd64 shapes or 3 arm64 ones) and the Private Cloud Appliance's (everything
//! paravirtualized, `CUSTOM` launch options, empty capability data and format version, the
//! one amd64 shape `VM.PCAStandard.E5.Flex`, and no arm64 shape: `null`).

/// The amd64 shapes of an OCI image (`amd64ImageShapesOCI`), in OCNE's order.
pub const AMD64_SHAPES_OCI: [&str; 56] = [
    "VM.DenseIO1.16",
    "VM.DenseIO1.4",
    "VM.DenseIO1.8",
    "VM.DenseIO2.16",
    "VM.DenseIO2.24",
    "VM.DenseIO2.8",
    "VM.GPU2.1",
    "VM.GPU3.1",
    "VM.GPU3.2",
    "VM.GPU3.4",
    "VM.Standard.B1.1",
    "VM.Standard.B1.16",
    "VM.Standard.B1.2",
    "VM.Standard.B1.4",
    "VM.Standard.B1.8",
    "VM.Standard.E2.1",
    "VM.Standard.E2.1.Micro",
    "VM.Standard.E2.2",
    "VM.Standard.E2.4",
    "VM.Standard.E2.8",
    "VM.Standard.E3.Flex",
    "VM.Standard.E4.Flex",
    "VM.Standard.E5.Flex",
    "VM.Standard.E5T.Flex",
    "VM.Standard.E5T.NPS4.Flex",
    "VM.Standard.E6.Flex",
    "VM.Standard1.1",
    "VM.Standard1.16",
    "VM.Standard1.2",
    "VM.Standard1.2XL",
    "VM.Standard1.4XL",
    "VM.Standard2.1",
    "VM.Standard2.16",
    "VM.Standard2.2",
    "VM.Standard2.24",
    "VM.Standard2.4",
    "VM.Standard2.8",
    "VM.Standard2.Flex.Micro",
    "VM.Standard3.Flex",
    "VM.Standard4.Flex",
    "e1-2c.64.512",
    "e2-2c.128.2048",
    "e2-2c.64.2048.gpu",
    "e4-2c.128.2048",
    "e4-2c.128.2048.2t",
    "e4-2c.128.2048.jbod",
    "e4-2c.128.2048.nvme",
    "x5-2.36.256",
    "x5-2.36.512.nvme-12.8",
    "x5-2.36.512.nvme-28.8",
    "x6-2.44.512",
    "x7-2c.28.256.gpu",
    "x7-2c.36.192.hpc",
    "x7-2c.52.768",
    "x7-2c.52.768.gpu",
    "x7-2l.52.768.nvme",
];

/// The arm64 shapes of an OCI image (`arm64ImageShapesOCI`).
pub const ARM64_SHAPES_OCI: [&str; 3] = [
    "VM.Standard.A1.Flex",
    "VM.Standard.A2.Flex",
    "a1-2c.160.1024",
];

/// The amd64 shapes of a PCA image (`amd64ImageShapesPCA`); arm64 has none.
pub const AMD64_SHAPES_PCA: [&str; 1] = ["VM.PCAStandard.E5.Flex"];

/// OCNE's `imageCapsFormatVersion` for OCI.
const CAPS_FORMAT_VERSION: &str = "34dd2cea-aff2-4f45-b8f6-1cb5290bfab2";

/// An architecture OCNE builds images for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// `amd64`.
    Amd64,
    /// `arm64`.
    Arm64,
}

impl Arch {
    /// The architecture `text` names, if it is one of OCNE's (`ValidArchs`).
    pub fn parse(text: &str) -> Option<Arch> {
        match text {
            "amd64" => Some(Arch::Amd64),
            "arm64" => Some(Arch::Arm64),
            _ => None,
        }
    }

    /// The name, as `--arch` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }
}

/// Which cloud the document is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Oracle Cloud Infrastructure.
    Oci,
    /// A Private Cloud Appliance (OCNE picks it when OCI lists one region; strata with `--pca`).
    Pca,
}

/// A JSON value as Go's encoder sees OCNE's struct.
enum Json {
    Str(String),
    Int(i64),
    Bool(bool),
    Null,
    Object(Vec<(&'static str, Json)>),
    Array(Vec<Json>),
}

/// The document for `arch` and `variant`, as OCNE writes it (no trailing newline).
pub fn document(arch: Arch, variant: Variant) -> String {
    let mut out = String::new();
    write(&mut out, &capability(arch, variant), Some(0));
    out
}

/// OCNE's `ImageCapability`, field by field in the struct's order.
fn capability(arch: Arch, variant: Variant) -> Json {
    let pca = variant == Variant::Pca;
    let s = |t: &str| Json::Str(t.to_owned());
    let (network, boot, local) = if pca {
        ("PARAVIRTUALIZED", "PARAVIRTUALIZED", "PARAVIRTUALIZED")
    } else {
        ("VFIO", "ISCSI", "VFIO")
    };
    let launch = Json::Object(vec![
        ("firmware", s("UEFI_64")),
        ("networkType", s(network)),
        ("bootVolumeType", s(boot)),
        ("remoteDataVolumeType", s("PARAVIRTUALIZED")),
        ("localDataVolumeType", s(local)),
        (
            "launchOptionsSource",
            s(if pca { "CUSTOM" } else { "NATIVE" }),
        ),
        ("pvAttachmentVersion", Json::Int(if pca { 0 } else { 1 })),
        ("pvEncryptionInTransitEnabled", Json::Bool(false)),
        ("consistentVolumeNamingEnabled", Json::Bool(false)),
    ]);
    let shapes: &[&str] = match (arch, variant) {
        (Arch::Amd64, Variant::Oci) => &AMD64_SHAPES_OCI,
        (Arch::Arm64, Variant::Oci) => &ARM64_SHAPES_OCI,
        (Arch::Amd64, Variant::Pca) => &AMD64_SHAPES_PCA,
        (Arch::Arm64, Variant::Pca) => &[],
    };
    // OCNE appends to a nil slice: no shape at all marshals as null.
    let shapes = if shapes.is_empty() {
        Json::Null
    } else {
        Json::Array(
            shapes
                .iter()
                .map(|shape| {
                    Json::Object(vec![
                        ("internalShapeName", s(shape)),
                        ("ocpuConstraints", Json::Null),
                        ("memoryConstraints", Json::Null),
                    ])
                })
                .collect(),
        )
    };
    let (data, format_version) = if pca {
        (String::new(), String::new())
    } else {
        (capability_data(), CAPS_FORMAT_VERSION.to_owned())
    };
    Json::Object(vec![
        ("version", Json::Int(2)),
        ("externalLaunchOptions", launch),
        ("imageCapabilityData", Json::Str(data)),
        ("imageCapsFormatVersion", Json::Str(format_version)),
        ("operatingSystem", s("Oracle Linux")),
        ("operatingSystemVersion", s("8")),
        (
            "additionalMetadata",
            Json::Object(vec![
                ("sourcePublicImageId", Json::Null),
                ("shapeCompatibilities", shapes),
            ]),
        ),
    ])
}

/// OCNE's `ImageCapabilityData` as `json.Marshal` prints it (compact; Go sorts map keys, so
/// `Compute.Firmware` comes before `Compute.LaunchMode`).
fn capability_data() -> String {
    let descriptor = |value: &str| {
        Json::Object(vec![
            ("defaultValue", Json::Str(value.to_owned())),
            ("descriptorType", Json::Str("enumstring".to_owned())),
            ("values", Json::Array(vec![Json::Str(value.to_owned())])),
        ])
    };
    let data = Json::Object(vec![(
        "capabilities",
        Json::Object(vec![
            ("Compute.Firmware", descriptor("UEFI_64")),
            ("Compute.LaunchMode", descriptor("PARAVIRTUALIZED")),
        ]),
    )]);
    let mut out = String::new();
    write(&mut out, &data, None);
    out
}

/// Writes `value` as Go does: compact when `depth` is `None`, else `MarshalIndent` with two
/// spaces per level, `depth` being the current level.
fn write(out: &mut String, value: &Json, depth: Option<usize>) {
    let newline = |out: &mut String, level: usize| {
        if depth.is_some() {
            out.push('\n');
            out.push_str(&"  ".repeat(level));
        }
    };
    let level = depth.unwrap_or(0);
    let inner = depth.map(|d| d + 1);
    match value {
        Json::Str(text) => go_string(out, text),
        Json::Int(n) => out.push_str(&n.to_string()),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Null => out.push_str("null"),
        Json::Object(fields) if fields.is_empty() => out.push_str("{}"),
        Json::Array(items) if items.is_empty() => out.push_str("[]"),
        Json::Object(fields) => {
            out.push('{');
            for (i, (key, field)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, level + 1);
                go_string(out, key);
                out.push_str(if depth.is_some() { ": " } else { ":" });
                write(out, field, inner);
            }
            newline(out, level);
            out.push('}');
        }
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, level + 1);
                write(out, item, inner);
            }
            newline(out, level);
            out.push(']');
        }
    }
}

/// A JSON string as Go's encoder escapes it: `\"`, `\\`, `\n`, `\r`, `\t`, other controls
/// as `\u00XX`, and the HTML characters `<`, `>`, `&` and U+2028/U+2029 as `\uXXXX`.
fn go_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_capability_data_is_compact_json_in_go_key_order() {
        assert_eq!(
            capability_data(),
            r#"{"capabilities":{"Compute.Firmware":{"defaultValue":"UEFI_64","descriptorType":"enumstring","values":["UEFI_64"]},"Compute.LaunchMode":{"defaultValue":"PARAVIRTUALIZED","descriptorType":"enumstring","values":["PARAVIRTUALIZED"]}}}"#
        );
    }

    #[test]
    fn go_escapes_html_characters() {
        let mut out = String::new();
        go_string(&mut out, "<a&b>\u{1}");
        assert_eq!(out, r#""\u003ca\u0026b\u003e\u0001""#);
    }
}
