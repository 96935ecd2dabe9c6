//! Import/export specs: pcocc's format guessing order and errors, containers-transports(5)
//! references and the docker reference grammar, with their exact error texts and round trips.

use proptest::prelude::*;
use strata_model::spec::{
    AtoiError, AtoiFailure, ContainerFormat, ContainerTransport, DockerReference, Format, Guess,
    ImageSpec, Origin, Probe, ReferenceDigestError, ReferenceError, Resolved, SpecError,
    TransportError,
};
use strata_model::{DiskFormat, Kind};

const HEX: &str = "7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa";

fn sha256() -> String {
    format!("sha256:{HEX}")
}

// ---------------------------------------------------------------------------------------------
// pcocc: decision order

fn disk(f: DiskFormat) -> Format {
    Format::Disk(f)
}

fn ctr(f: ContainerFormat) -> Format {
    Format::Container(f)
}

fn ok(format: Format, path: &str, origin: Origin) -> Result<Resolved, SpecError> {
    Ok(Resolved {
        spec: ImageSpec {
            format,
            path: path.into(),
        },
        origin,
    })
}

fn guess(
    text: &str,
    t: Option<&str>,
    kind: Option<Kind>,
    probe: Probe,
) -> Result<Resolved, SpecError> {
    Guess::from_text(text, t, kind)?.resolve(probe)
}

/// Spec text, `-t`, known kind, what the caller found at the path, and the outcome.
type DecisionCase = (
    &'static str,
    Option<&'static str>,
    Option<Kind>,
    Probe,
    Result<Resolved, SpecError>,
);

#[test]
fn pcocc_decision_order() {
    use ContainerFormat as C;
    use DiskFormat as D;
    use Origin::*;
    let mismatch = |specified: &str, detected: Format| {
        Err(SpecError::DetectedMismatch {
            specified: specified.into(),
            detected,
        })
    };
    #[rustfmt::skip]
    let cases: Vec<DecisionCase> = vec![
        // The man page's examples.
        ("raw:./vmimage", None, None, Probe::File(None), ok(disk(D::Raw), "./vmimage", Prefix)),
        ("./vmimage", Some("raw"), None, Probe::File(None), ok(disk(D::Raw), "./vmimage", TypeOption)),
        ("./vmimage.raw", None, None, Probe::File(None), ok(disk(D::Raw), "./vmimage.raw", Extension)),
        ("docker-archive:ubuntu.tar.gz", None, None, Probe::File(None),
            ok(ctr(C::DockerArchive), "ubuntu.tar.gz", Prefix)),
        ("docker://busybox:latest", None, None, Probe::Other, ok(ctr(C::Docker), "//busybox:latest", Prefix)),
        ("lolcow.simg", None, None, Probe::File(None), ok(ctr(C::Sif), "lolcow.simg", Extension)),
        ("lolcow.sif", None, None, Probe::File(None), ok(ctr(C::Sif), "lolcow.sif", Extension)),
        // Prefix: honoured only for a known format, case-insensitive, split at the first colon.
        ("QCOW2:a:b", None, None, Probe::Other, ok(disk(D::Qcow2), "a:b", Prefix)),
        ("Docker://x", None, None, Probe::Other, ok(ctr(C::Docker), "//x", Prefix)),
        ("raw:", None, None, Probe::Other, ok(disk(D::Raw), "", Prefix)),
        ("C:foo", None, None, Probe::File(None), ok(disk(D::Raw), "C:foo", AssumedRaw)),
        ("./a:b", None, None, Probe::Other, Err(SpecError::CouldNotDetect { path: "./a:b".into() })),
        ("foo:bar.qcow2", None, None, Probe::Other, ok(disk(D::Qcow2), "foo:bar.qcow2", Extension)),
        ("oci-archive:x.tar", None, None, Probe::Other,
            Err(SpecError::CouldNotDetect { path: "oci-archive:x.tar".into() })),
        ("pcocc-docker-daemon:img:latest", None, None, Probe::Other,
            ok(ctr(C::PcoccDockerDaemon), "img:latest", Prefix)),
        // Prefix against -t: equal (any case) is fine, different is an error, even if -t is unknown.
        ("QCOW2:disk", Some("Qcow2"), None, Probe::Other, ok(disk(D::Qcow2), "disk", Prefix)),
        ("raw:disk", Some("qcow2"), None, Probe::Other,
            Err(SpecError::PrefixMismatch { specified: "qcow2".into(), prefix: "raw".into() })),
        ("raw:disk", Some("foo"), None, Probe::Other,
            Err(SpecError::PrefixMismatch { specified: "foo".into(), prefix: "raw".into() })),
        // -t beats the extension; an empty -t is none.
        ("disk.qcow2", Some("RAW"), None, Probe::Other, ok(disk(D::Raw), "disk.qcow2", TypeOption)),
        ("disk.raw", Some(""), None, Probe::Other, ok(disk(D::Raw), "disk.raw", Extension)),
        // Extension: case-sensitive, last component, the whole name without a dot.
        ("disk.QCOW2", None, None, Probe::File(None), ok(disk(D::Raw), "disk.QCOW2", AssumedRaw)),
        ("dir/vmdk", None, None, Probe::File(None), ok(disk(D::Vmdk), "dir/vmdk", Extension)),
        // .vhd is strata's addition: a fixed VHD shows nothing at its head (raw), a dynamic one
        // shows vpc.
        ("disk.vhd", None, None, Probe::File(Some(D::Vpc)), ok(disk(D::Vpc), "disk.vhd", Extension)),
        ("disk.vhd", None, None, Probe::File(Some(D::Raw)), ok(disk(D::Vpc), "disk.vhd", Extension)),
        ("disk.vhd", None, None, Probe::File(Some(D::Qcow2)), mismatch("vpc", disk(D::Qcow2))),
        ("disk.VHD", None, None, Probe::File(Some(D::Raw)), ok(disk(D::Raw), "disk.VHD", AssumedRaw)),
        // Content is always checked against a given format; raw detection is ignored.
        ("qcow2:disk.raw", None, None, Probe::File(Some(D::Qcow2)), ok(disk(D::Qcow2), "disk.raw", Prefix)),
        ("disk.vmdk", Some("qcow2"), None, Probe::File(Some(D::Vmdk)), mismatch("qcow2", disk(D::Vmdk))),
        ("disk.qcow2", None, None, Probe::File(Some(D::Vmdk)), mismatch("qcow2", disk(D::Vmdk))),
        ("oci:dir", None, None, Probe::File(Some(D::Qcow2)), mismatch("oci", disk(D::Qcow2))),
        ("disk.qcow2", None, Some(Kind::Vm), Probe::OciLayout, mismatch("qcow2", ctr(C::Oci))),
        ("disk.qcow2", None, None, Probe::File(Some(D::Raw)), ok(disk(D::Qcow2), "disk.qcow2", Extension)),
        ("disk", None, None, Probe::File(Some(D::Raw)), ok(disk(D::Raw), "disk", AssumedRaw)),
        ("disk", None, None, Probe::File(Some(D::Qcow2)), ok(disk(D::Qcow2), "disk", Content)),
        ("layout", None, None, Probe::OciLayout, ok(ctr(C::Oci), "layout", Content)),
        ("oci:layout", None, None, Probe::OciLayout, ok(ctr(C::Oci), "layout", Prefix)),
        // Nothing given: kind default, then raw for a regular file, then an error.
        ("out", None, Some(Kind::Vm), Probe::Other, ok(disk(D::Raw), "out", KindDefault)),
        ("out", None, Some(Kind::Ctr), Probe::Other, ok(ctr(C::DockerArchive), "out", KindDefault)),
        ("out", None, Some(Kind::Ctr), Probe::File(None), ok(ctr(C::DockerArchive), "out", KindDefault)),
        ("disk", None, None, Probe::File(None), ok(disk(D::Raw), "disk", AssumedRaw)),
        ("disk", None, None, Probe::Other, Err(SpecError::CouldNotDetect { path: "disk".into() })),
        // Unknown names and wrong kinds come last, in that order.
        ("disk", Some("foo"), None, Probe::Other, Err(SpecError::InvalidFormat { format: "foo".into() })),
        ("disk", Some("foo"), None, Probe::File(Some(D::Qcow2)), mismatch("foo", disk(D::Qcow2))),
        ("disk", Some("foo"), Some(Kind::Vm), Probe::Other,
            Err(SpecError::InvalidFormat { format: "foo".into() })),
        ("disk", Some("vhdx"), None, Probe::Other, Err(SpecError::InvalidFormat { format: "vhdx".into() })),
        ("disk", Some("simg"), None, Probe::Other, Err(SpecError::InvalidFormat { format: "simg".into() })),
        ("disk", None, None, Probe::File(Some(D::Vhdx)), Err(SpecError::InvalidFormat { format: "vhdx".into() })),
        ("out.qcow2", None, Some(Kind::Ctr), Probe::Other,
            Err(SpecError::WrongKind { format: disk(D::Qcow2), kind: Kind::Ctr })),
        ("out", Some("oci"), Some(Kind::Vm), Probe::Other,
            Err(SpecError::WrongKind { format: ctr(C::Oci), kind: Kind::Vm })),
        ("layout", None, Some(Kind::Vm), Probe::OciLayout,
            Err(SpecError::WrongKind { format: ctr(C::Oci), kind: Kind::Vm })),
        ("docker-archive:a.tar", None, Some(Kind::Ctr), Probe::File(None),
            ok(ctr(C::DockerArchive), "a.tar", Prefix)),
    ];
    for (text, t, kind, probe, expected) in cases {
        assert_eq!(
            guess(text, t, kind, probe),
            expected,
            "{text:?} -t {t:?} kind {kind:?} {probe:?}"
        );
    }
}

#[test]
fn added_formats_take_part_in_every_step() {
    use DiskFormat as D;
    use Origin::*;
    const ADDED: &[Format] = &[Format::Disk(DiskFormat::Vhdx)];
    let guess = |text: &str, t: Option<&str>, kind: Option<Kind>, probe: Probe| {
        Guess::from_text_adding(text, t, kind, ADDED)?.resolve(probe)
    };
    let vhdx = disk(D::Vhdx);
    #[rustfmt::skip]
    let cases: Vec<DecisionCase> = vec![
        ("VHDX:a.img", None, None, Probe::File(Some(D::Vhdx)), ok(vhdx, "a.img", Prefix)),
        ("vhdx:a.img", Some("vhdx"), None, Probe::File(None), ok(vhdx, "a.img", Prefix)),
        ("a.img", Some("VHDX"), None, Probe::File(Some(D::Vhdx)), ok(vhdx, "a.img", TypeOption)),
        ("dir/a.vhdx", None, None, Probe::File(Some(D::Vhdx)), ok(vhdx, "dir/a.vhdx", Extension)),
        ("a", None, None, Probe::File(Some(D::Vhdx)), ok(vhdx, "a", Content)),
        // Export: the extension names a file that does not exist yet.
        ("out.vhdx", None, Some(Kind::Vm), Probe::Other, ok(vhdx, "out.vhdx", Extension)),
        ("out", Some("vhdx"), Some(Kind::Vm), Probe::Other, ok(vhdx, "out", TypeOption)),
        // pcocc's checks apply to the additions as to its own formats.
        ("a.vhdx", None, None, Probe::File(Some(D::Qcow2)),
            Err(SpecError::DetectedMismatch { specified: "vhdx".into(), detected: disk(D::Qcow2) })),
        ("a.qcow2", None, None, Probe::File(Some(D::Vhdx)),
            Err(SpecError::DetectedMismatch { specified: "qcow2".into(), detected: vhdx })),
        ("vhdx:a", Some("raw"), None, Probe::Other,
            Err(SpecError::PrefixMismatch { specified: "raw".into(), prefix: "vhdx".into() })),
        ("out.vhdx", None, Some(Kind::Ctr), Probe::Other,
            Err(SpecError::WrongKind { format: vhdx, kind: Kind::Ctr })),
    ];
    for (text, t, kind, probe, expected) in cases {
        assert_eq!(
            guess(text, t, kind, probe),
            expected,
            "{text:?} -t {t:?} {probe:?}"
        );
    }
    // Without the addition, pcocc's own guess knows no vhdx.
    assert_eq!(
        Guess::from_text("vhdx:a", None, None).unwrap().path(),
        "vhdx:a"
    );
}

#[test]
fn pcocc_text_step() {
    let g = Guess::from_text("QCOW2:~/a.raw", None, Some(Kind::Vm)).unwrap();
    assert_eq!(g.path(), "~/a.raw");
    assert_eq!(g.kind(), Some(Kind::Vm));
    assert_eq!(g.requested(), Some(("qcow2", Origin::Prefix)));
    assert_eq!(g.format(), Some(Format::Disk(DiskFormat::Qcow2)));
    assert!(g.needs_probe());

    let g = Guess::from_text("x", Some("NoSuch"), None).unwrap();
    assert_eq!(g.requested(), Some(("nosuch", Origin::TypeOption)));
    assert_eq!(g.format(), None);

    let g = Guess::from_text("x", None, None).unwrap();
    assert_eq!((g.requested(), g.format()), (None, None));
    assert!(g.needs_probe());

    assert!(
        !Guess::from_text("docker://x", None, None)
            .unwrap()
            .needs_probe()
    );
    assert!(
        !Guess::from_text("y", Some("pcocc-docker-daemon"), None)
            .unwrap()
            .needs_probe()
    );
}

#[test]
fn pcocc_warning() {
    let resolved = guess("disk", None, None, Probe::File(None)).unwrap();
    assert_eq!(
        resolved.warning(),
        Some("Could not detect image format, assuming raw VM")
    );
    let resolved = guess("disk.qcow2", None, None, Probe::File(None)).unwrap();
    assert_eq!(resolved.warning(), None);
}

#[test]
fn spec_error_texts() {
    let cases = [
        (
            Guess::from_text("raw:disk", Some("QCOW2"), None).unwrap_err(),
            SpecError::PrefixMismatch {
                specified: "qcow2".into(),
                prefix: "raw".into(),
            },
            "Mismatch between specified image format qcow2 and import URI prefix raw",
        ),
        (
            guess(
                "disk.qcow2",
                None,
                None,
                Probe::File(Some(DiskFormat::Vmdk)),
            )
            .unwrap_err(),
            SpecError::DetectedMismatch {
                specified: "qcow2".into(),
                detected: Format::Disk(DiskFormat::Vmdk),
            },
            "Mismatch between specified format qcow2 and detected image type vmdk",
        ),
        (
            guess("disk", None, None, Probe::Other).unwrap_err(),
            SpecError::CouldNotDetect {
                path: "disk".into(),
            },
            "Could not detect image format",
        ),
        (
            guess("disk", Some("Foo"), None, Probe::Other).unwrap_err(),
            SpecError::InvalidFormat {
                format: "foo".into(),
            },
            "foo is not a valid image format",
        ),
        (
            "qcow".parse::<Format>().unwrap_err(),
            SpecError::InvalidFormat {
                format: "qcow".into(),
            },
            "qcow is not a valid image format",
        ),
        (
            "Docker".parse::<ContainerFormat>().unwrap_err(),
            SpecError::InvalidFormat {
                format: "Docker".into(),
            },
            "Docker is not a valid image format",
        ),
        (
            guess("out.qcow2", None, Some(Kind::Ctr), Probe::Other).unwrap_err(),
            SpecError::WrongKind {
                format: Format::Disk(DiskFormat::Qcow2),
                kind: Kind::Ctr,
            },
            "qcow2 is not a valid ctr format",
        ),
        (
            guess("out", Some("oci"), Some(Kind::Vm), Probe::Other).unwrap_err(),
            SpecError::WrongKind {
                format: Format::Container(ContainerFormat::Oci),
                kind: Kind::Vm,
            },
            "oci is not a valid vm format",
        ),
    ];
    for (got, variant, text) in cases {
        assert_eq!(got, variant);
        assert_eq!(got.to_string(), text);
    }
}

#[test]
fn image_spec_to_transport() {
    let spec = guess("docker://busybox", None, None, Probe::Other)
        .unwrap()
        .spec;
    assert_eq!(spec.kind(), Kind::Ctr);
    let transport = spec
        .to_transport(Some("registry.example.com"))
        .unwrap()
        .unwrap();
    assert_eq!(
        transport.to_string(),
        "docker://registry.example.com/library/busybox:latest"
    );
    let transport = spec.to_transport(None).unwrap().unwrap();
    assert_eq!(
        transport.to_string(),
        "docker://docker.io/library/busybox:latest"
    );

    let spec = guess("img:1", Some("pcocc-docker-daemon"), None, Probe::Other)
        .unwrap()
        .spec;
    let transport = spec.to_transport(None).unwrap().unwrap();
    assert_eq!(
        transport.to_string(),
        "docker-daemon:docker.io/library/img:1"
    );

    let spec = guess("disk.qcow2", None, None, Probe::Other).unwrap().spec;
    assert_eq!(spec.to_transport(None), Ok(None));
}

// ---------------------------------------------------------------------------------------------
// Docker references

#[test]
fn reference_error_texts() {
    let long = format!("{}/b", "a".repeat(250));
    let upper_hex = format!("x@sha256:{}", HEX.to_uppercase());
    let cases: Vec<(String, ReferenceError, &str)> = vec![
        (
            HEX.into(),
            ReferenceError::HexadecimalName { input: HEX.into() },
            "invalid repository name (7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa), cannot specify 64-byte hexadecimal strings",
        ),
        (
            "Busybox".into(),
            ReferenceError::UppercaseRemoteName {
                input: "Busybox".into(),
            },
            "invalid reference format: repository name must be lowercase",
        ),
        (
            format!("x@Sha256:{HEX}"),
            ReferenceError::UppercaseRemoteName {
                input: format!("x@Sha256:{HEX}"),
            },
            "invalid reference format: repository name must be lowercase",
        ),
        (
            "My_host.com/x".into(),
            ReferenceError::NameContainsUppercase {
                input: "My_host.com/x".into(),
            },
            "repository name must be lowercase",
        ),
        (
            "".into(),
            ReferenceError::InvalidFormat { input: "".into() },
            "invalid reference format",
        ),
        (
            "a b".into(),
            ReferenceError::InvalidFormat {
                input: "a b".into(),
            },
            "invalid reference format",
        ),
        (
            "x:".into(),
            ReferenceError::InvalidFormat { input: "x:".into() },
            "invalid reference format",
        ),
        (
            "x@".into(),
            ReferenceError::InvalidFormat { input: "x@".into() },
            "invalid reference format",
        ),
        (
            "-x".into(),
            ReferenceError::InvalidFormat { input: "-x".into() },
            "invalid reference format",
        ),
        (
            "x:.t".into(),
            ReferenceError::InvalidFormat {
                input: "x:.t".into(),
            },
            "invalid reference format",
        ),
        (
            "a..b".into(),
            ReferenceError::InvalidFormat {
                input: "a..b".into(),
            },
            "invalid reference format",
        ),
        (
            format!("x:{}", "t".repeat(129)),
            ReferenceError::InvalidFormat {
                input: format!("x:{}", "t".repeat(129)),
            },
            "invalid reference format",
        ),
        (
            format!("x@sha256:{}", &HEX[..31]),
            ReferenceError::InvalidFormat {
                input: format!("x@sha256:{}", &HEX[..31]),
            },
            "invalid reference format",
        ),
        (
            long.clone(),
            ReferenceError::NameTooLong {
                name: format!("docker.io/{long}"),
            },
            "repository name must not be more than 255 characters",
        ),
        (
            format!("x@sha256:{}", &HEX[..32]),
            ReferenceError::Digest(ReferenceDigestError::InvalidLength {
                digest: format!("sha256:{}", &HEX[..32]),
            }),
            "invalid checksum digest length",
        ),
        (
            format!("x@md5:{}", &HEX[..32]),
            ReferenceError::Digest(ReferenceDigestError::Unsupported {
                digest: format!("md5:{}", &HEX[..32]),
            }),
            "unsupported digest algorithm",
        ),
        (
            upper_hex.clone(),
            ReferenceError::Digest(ReferenceDigestError::InvalidFormat {
                digest: format!("sha256:{}", HEX.to_uppercase()),
            }),
            "invalid checksum digest format",
        ),
        (
            format!("x:t@SHA256:{HEX}"),
            ReferenceError::Digest(ReferenceDigestError::InvalidFormat {
                digest: format!("SHA256:{HEX}"),
            }),
            "invalid checksum digest format",
        ),
    ];
    for (input, variant, text) in cases {
        let got = input.parse::<DockerReference>().unwrap_err();
        assert_eq!(got, variant, "{input}");
        assert_eq!(got.to_string(), text, "{input}");
    }
}

#[test]
fn reference_normalisation() {
    for (input, full, familiar) in [
        ("busybox", "docker.io/library/busybox", "busybox"),
        (
            "docker.io/busybox:1",
            "docker.io/library/busybox:1",
            "busybox:1",
        ),
        ("index.docker.io/u/x", "docker.io/u/x", "u/x"),
        ("localhost/x", "localhost/x", "localhost/x"),
        ("localhost:5000/x", "localhost:5000/x", "localhost:5000/x"),
    ] {
        let r: DockerReference = input.parse().unwrap();
        assert_eq!(r.to_string(), full, "{input}");
        assert_eq!(r.familiar_string(), familiar, "{input}");
    }
    let r: DockerReference = format!("quay.io/a/b@{}", sha256()).parse().unwrap();
    assert_eq!((r.domain(), r.path(), r.tag()), ("quay.io", "a/b", None));
    assert_eq!(r.digest(), Some(sha256().as_str()));
    assert_eq!(r.name(), "quay.io/a/b");
    assert!(!r.is_name_only());
    let bare: DockerReference = "x".parse().unwrap();
    assert!(bare.is_name_only());
    assert_eq!(
        bare.with_default_tag().to_string(),
        "docker.io/library/x:latest"
    );
}

#[test]
fn default_registry_is_a_parameter() {
    let r = DockerReference::parse_with_default_registry("busybox", Some("mirror.example:5000"))
        .unwrap();
    assert_eq!(r.to_string(), "mirror.example:5000/library/busybox");
    let r =
        DockerReference::parse_with_default_registry("u/app:2", Some("mirror.example")).unwrap();
    assert_eq!(r.to_string(), "mirror.example/u/app:2");
    let r = DockerReference::parse_with_default_registry("quay.io/u/app", Some("mirror.example"))
        .unwrap();
    assert_eq!(r.to_string(), "quay.io/u/app");
    let t = ContainerTransport::parse_with_default_registry("docker://busybox", Some("m.example"))
        .unwrap();
    assert_eq!(t.to_string(), "docker://m.example/library/busybox:latest");
    // Other transports ignore it.
    let t = ContainerTransport::parse_with_default_registry("docker-daemon:x:1", Some("m.example"))
        .unwrap();
    assert_eq!(t.to_string(), "docker-daemon:docker.io/library/x:1");
}

// ---------------------------------------------------------------------------------------------
// containers-transports(5)

#[test]
fn transport_error_texts() {
    let d = sha256();
    let atoi = |s: &str, failure| AtoiError {
        input: s.into(),
        failure,
    };
    let cases: Vec<(String, TransportError, String)> = vec![
        (
            "busybox".into(),
            TransportError::MissingColon { input: "busybox".into() },
            r#"Invalid image name "busybox", expected colon-separated transport:reference"#.into(),
        ),
        (
            "foo:bar".into(),
            TransportError::UnknownTransport { input: "foo:bar".into(), transport: "foo".into() },
            r#"Invalid image name "foo:bar", unknown transport "foo""#.into(),
        ),
        (
            "registry://x".into(),
            TransportError::UnknownTransport {
                input: "registry://x".into(),
                transport: "registry".into(),
            },
            r#"Invalid image name "registry://x", unknown transport "registry""#.into(),
        ),
        (
            "a\"b\t:c".into(),
            TransportError::UnknownTransport { input: "a\"b\t:c".into(), transport: "a\"b\t".into() },
            r#"Invalid image name "a\"b\t:c", unknown transport "a\"b\t""#.into(),
        ),
        (
            "tarball:x.tar".into(),
            TransportError::NotSupported { transport: "tarball".into() },
            r#"The transport "tarball:" is not supported in this build"#.into(),
        ),
        (
            "atomic:x".into(),
            TransportError::NotSupported { transport: "atomic".into() },
            r#"The transport "atomic:" is not supported in this build"#.into(),
        ),
        (
            "docker:busybox".into(),
            TransportError::DockerMissingSlashes { reference: "busybox".into() },
            "docker: image reference busybox does not start with //".into(),
        ),
        (
            format!("docker://x:1@{d}"),
            TransportError::DockerTagAndDigest { reference: format!("docker.io/library/x:1@{d}") },
            "Docker references with both a tag and digest are currently not supported".into(),
        ),
        (
            "docker://Busybox".into(),
            TransportError::Reference(ReferenceError::UppercaseRemoteName {
                input: "Busybox".into(),
            }),
            "invalid reference format: repository name must be lowercase".into(),
        ),
        (
            "docker://x@sha256:abc".into(),
            TransportError::Reference(ReferenceError::InvalidFormat { input: "x@sha256:abc".into() }),
            "invalid reference format".into(),
        ),
        (
            "docker-archive:".into(),
            TransportError::ArchiveEmpty,
            "docker-archive reference  isn't of the form <path>[:<reference>]".into(),
        ),
        (
            "docker-archive:a.tar:@x".into(),
            TransportError::ArchiveIndexInvalid {
                index: "x".into(),
                error: atoi("x", AtoiFailure::Syntax),
            },
            r#"Invalid source index @x: strconv.Atoi: parsing "x": invalid syntax"#.into(),
        ),
        (
            "docker-archive:a.tar:@".into(),
            TransportError::ArchiveIndexInvalid { index: "".into(), error: atoi("", AtoiFailure::Syntax) },
            r#"Invalid source index @: strconv.Atoi: parsing "": invalid syntax"#.into(),
        ),
        (
            "docker-archive:a.tar:@99999999999999999999".into(),
            TransportError::ArchiveIndexInvalid {
                index: "99999999999999999999".into(),
                error: atoi("99999999999999999999", AtoiFailure::Range),
            },
            r#"Invalid source index @99999999999999999999: strconv.Atoi: parsing "99999999999999999999": value out of range"#.into(),
        ),
        (
            "docker-archive:a.tar:@-01".into(),
            TransportError::NegativeSourceIndex { index: -1 },
            "Invalid source index @-1: must not be negative".into(),
        ),
        (
            "docker-archive:a.tar:".into(),
            TransportError::ArchiveReference {
                reference: "".into(),
                error: ReferenceError::InvalidFormat { input: "".into() },
            },
            "docker-archive parsing reference: invalid reference format".into(),
        ),
        (
            format!("docker-archive:a.tar:x@{d}"),
            TransportError::ArchiveNotTagged { reference: format!("docker.io/library/x@{d}") },
            format!("reference does not include a tag: docker.io/library/x@{d}"),
        ),
        (
            format!("docker-archive:a.tar:x:1@{d}"),
            TransportError::ArchiveDigest { reference: format!("docker.io/library/x:1@{d}") },
            format!("docker-archive doesn't support digest references: docker.io/library/x:1@{d}"),
        ),
        (
            format!("docker-daemon:sha512:{HEX}{HEX}"),
            TransportError::DaemonDigestAlgorithm { reference: format!("sha512:{HEX}{HEX}") },
            format!(
                "Invalid docker-daemon: reference sha512:{HEX}{HEX}: only digest algorithm sha256 accepted"
            ),
        ),
        (
            "docker-daemon:sha256:abc".into(),
            TransportError::DaemonReservedName { reference: "sha256:abc".into() },
            "Invalid docker-daemon: reference sha256:abc: The sha256 repository name is reserved for (non-shortened) digest references".into(),
        ),
        (
            "docker-daemon:docker.io/library/busybox".into(),
            TransportError::DaemonNameOnly { reference: "busybox".into() },
            "docker-daemon: reference busybox has neither a tag nor a digest".into(),
        ),
        (
            format!("docker-daemon:x:1@{d}"),
            TransportError::DaemonTagAndDigest { reference: format!("docker.io/library/x:1@{d}") },
            "docker-daemon: references with both a tag and digest are currently not supported".into(),
        ),
        (
            "docker-daemon:Up:1".into(),
            TransportError::Reference(ReferenceError::UppercaseRemoteName { input: "Up:1".into() }),
            "invalid reference format: repository name must be lowercase".into(),
        ),
        (
            "oci:/l:@x".into(),
            TransportError::OciIndexInvalid { index: "x".into(), error: atoi("x", AtoiFailure::Syntax) },
            r#"Invalid source index @x: not an integer: strconv.Atoi: parsing "x": invalid syntax"#.into(),
        ),
        (
            "oci:/l:@-2".into(),
            TransportError::NegativeSourceIndex { index: -2 },
            "Invalid source index @-2: must not be negative".into(),
        ),
        (
            "oci:/l:a b".into(),
            TransportError::OciInvalidImage { image: "a b".into() },
            "Invalid image a b".into(),
        ),
        (
            "oci:/l:a---b".into(),
            TransportError::OciInvalidImage { image: "a---b".into() },
            "Invalid image a---b".into(),
        ),
        (
            "oci:/l:a/".into(),
            TransportError::OciInvalidImage { image: "a/".into() },
            "Invalid image a/".into(),
        ),
        (
            "oci-archive:/x.tar:@1".into(),
            TransportError::OciInvalidImage { image: "@1".into() },
            "Invalid image @1".into(),
        ),
        (
            "ostree:busybox@/a:b".into(),
            TransportError::OstreeRepoColon { image: "busybox:latest".into(), repo: "/a:b".into() },
            "Invalid OSTree reference busybox:latest@/a:b: path /a:b contains a colon".into(),
        ),
        (
            "ostree:Busybox".into(),
            TransportError::Reference(ReferenceError::UppercaseRemoteName {
                input: "Busybox".into(),
            }),
            "invalid reference format: repository name must be lowercase".into(),
        ),
        (
            "containers-storage:[x".into(),
            TransportError::StorageInvalid { reference: "[x".into() },
            "invalid reference".into(),
        ),
        (
            "containers-storage:[]x".into(),
            TransportError::StorageInvalid { reference: "[]x".into() },
            "invalid reference".into(),
        ),
        (
            "containers-storage:[@/r]x".into(),
            TransportError::StorageInvalid { reference: "[@/r]x".into() },
            "invalid reference".into(),
        ),
        (
            "containers-storage:[vfs@]x".into(),
            TransportError::StorageInvalid { reference: "[vfs@]x".into() },
            "invalid reference".into(),
        ),
        (
            "containers-storage:[/a][/b]".into(),
            TransportError::StorageInvalid { reference: "[/a][/b]".into() },
            "invalid reference".into(),
        ),
        (
            "containers-storage:[rel]x".into(),
            TransportError::StoragePathNotAbsolute { path: "rel".into() },
            "path name is not absolute".into(),
        ),
        (
            "containers-storage:[/r+run]x".into(),
            TransportError::StoragePathNotAbsolute { path: "run".into() },
            "path name is not absolute".into(),
        ),
        (
            "containers-storage:".into(),
            TransportError::StorageEmpty,
            r#""" is an empty reference: invalid reference"#.into(),
        ),
        (
            "containers-storage:[/r]".into(),
            TransportError::StorageEmpty,
            r#""" is an empty reference: invalid reference"#.into(),
        ),
        (
            "containers-storage:[/r][x".into(),
            TransportError::StorageStoreNotEnded { reference: "[x".into() },
            r#"store specifier in "[x" did not end: invalid reference"#.into(),
        ),
        (
            "containers-storage:x@".into(),
            TransportError::StorageEmptyId { reference: "x@".into() },
            r#"empty trailing digest or ID in "x@": invalid reference"#.into(),
        ),
        (
            "containers-storage:x@abc".into(),
            TransportError::StorageNotId { id: "abc".into() },
            r#""abc" does not look like an image ID or digest: invalid reference"#.into(),
        ),
        (
            "containers-storage:X".into(),
            TransportError::StorageReference {
                reference: "X".into(),
                error: ReferenceError::UppercaseRemoteName { input: "X".into() },
            },
            r#"parsing named reference "X": invalid reference format: repository name must be lowercase"#.into(),
        ),
    ];
    for (input, variant, text) in cases {
        let got = input.parse::<ContainerTransport>().unwrap_err();
        assert_eq!(got, variant, "{input}");
        assert_eq!(got.to_string(), text, "{input}");
    }
}

#[test]
fn transport_shapes() {
    let t: ContainerTransport = "oci:/layout:@2".parse().unwrap();
    let ContainerTransport::Oci(oci) = &t else {
        panic!("{t:?}")
    };
    assert_eq!(
        (oci.path(), oci.image(), oci.source_index()),
        ("/layout", None, Some(2))
    );
    assert_eq!(t.format(), ContainerFormat::Oci);
    assert_eq!(t.local_path(), Some("/layout"));

    let t: ContainerTransport = "oci-archive:a.tar:v1".parse().unwrap();
    let ContainerTransport::OciArchive(a) = &t else {
        panic!("{t:?}")
    };
    assert_eq!((a.path(), a.image()), ("a.tar", Some("v1")));

    let t: ContainerTransport = "docker-archive:a.tar:busybox:1".parse().unwrap();
    let ContainerTransport::DockerArchive(a) = &t else {
        panic!("{t:?}")
    };
    assert_eq!(
        a.reference().map(ToString::to_string),
        Some("docker.io/library/busybox:1".into())
    );

    let t: ContainerTransport = "docker://busybox".parse().unwrap();
    let ContainerTransport::Docker(r) = &t else {
        panic!("{t:?}")
    };
    assert_eq!(r.reference().familiar_string(), "busybox:latest");

    let t: ContainerTransport = "dir:/a:b".parse().unwrap();
    assert_eq!(t, ContainerTransport::Dir("/a:b".into()));
    let t: ContainerTransport = "sif:".parse().unwrap();
    assert_eq!(t, ContainerTransport::Sif("".into()));

    let t: ContainerTransport = "ostree:x@/srv/r".parse().unwrap();
    let ContainerTransport::Ostree(o) = &t else {
        panic!("{t:?}")
    };
    assert_eq!((o.image(), o.repo()), ("x:latest", "/srv/r"));
}

// ---------------------------------------------------------------------------------------------
// Round trips

fn domain() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("docker.io".to_owned())),
        Just(Some("index.docker.io".to_owned())),
        Just(Some("localhost".to_owned())),
        "localhost:[0-9]{1,5}".prop_map(Some),
        "[a-z0-9]([a-z0-9-]{0,4}[a-z0-9])?\\.[A-Za-z]{2,3}".prop_map(Some),
        "[A-Za-z0-9]{1,4}(\\.[a-z0-9]{1,3}){0,2}:[0-9]{1,4}".prop_map(Some),
        "[a-z]{1,3}_[a-z]{1,3}\\.com".prop_map(Some),
    ]
}

fn repo_path() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z0-9]{1,4}((\\.|_|__|-{1,3})[a-z0-9]{1,4}){0,2}", 1..4)
        .prop_map(|c| c.join("/"))
}

fn tag() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_][A-Za-z0-9_.-]{0,12}"
}

fn digest() -> impl Strategy<Value = String> {
    prop_oneof![
        "sha256:[a-f0-9]{64}",
        "sha512:[a-f0-9]{128}",
        "sha384:[a-f0-9]{96}"
    ]
}

/// A valid reference text, and whether it has a tag and a digest.
fn reference_text() -> impl Strategy<Value = (String, bool, bool)> {
    (
        domain(),
        repo_path(),
        prop::option::of(tag()),
        prop::option::of(digest()),
    )
        .prop_map(|(domain, path, tag, digest)| {
            let mut s = domain.map_or(path.clone(), |d| format!("{d}/{path}"));
            if let Some(t) = &tag {
                s = format!("{s}:{t}");
            }
            if let Some(d) = &digest {
                s = format!("{s}@{d}");
            }
            (s, tag.is_some(), digest.is_some())
        })
}

fn local_path() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_./ -]{1,12}"
}

fn oci_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{1,3}(([-._:@+]|--)[A-Za-z0-9]{1,3}){0,2}(/[A-Za-z0-9]{1,3}){0,2}"
}

fn store_spec() -> impl Strategy<Value = String> {
    (
        prop::option::of("[a-z]{1,6}"),
        "(/[a-z@]{1,5}){1,2}",
        prop::option::of("(/[a-z+]{1,5}){0,2}"),
        prop::option::of("[a-z=0-9]{0,4}(,[a-z=0-9]{1,4}){0,2}"),
    )
        .prop_map(|(driver, root, run_root, options)| {
            let root = if driver.is_none() {
                root.replace('@', "")
            } else {
                root
            };
            let root = if root.is_empty() {
                "/r".to_owned()
            } else {
                root
            };
            let mut s = format!(
                "[{}{root}",
                driver.map(|d| format!("{d}@")).unwrap_or_default()
            );
            if let Some(r) = run_root {
                s = format!("{s}+{r}");
            }
            if let Some(o) = options {
                s = format!("{s}:{o}");
            }
            format!("{s}]")
        })
}

/// Texts that every transport parser must accept.
fn transport_text() -> impl Strategy<Value = String> {
    let reference = reference_text();
    prop_oneof![
        // docker:// refuses a tag with a digest: keep the tag alone then.
        reference_text().prop_map(|(r, tag, digest)| match r.split_once('@') {
            Some((name, _)) if tag && digest => format!("docker://{name}"),
            _ => format!("docker://{r}"),
        }),
        (
            local_path(),
            prop::option::of((reference_text(), 0..=u32::MAX)),
            any::<bool>()
        )
            .prop_map(|(path, selector, by_index)| match selector {
                None => format!("docker-archive:{path}"),
                Some((_, n)) if by_index => format!("docker-archive:{path}:@{n}"),
                Some(((r, _, digest), _)) if !digest => format!("docker-archive:{path}:{r}"),
                Some(((r, _, _), _)) => {
                    format!(
                        "docker-archive:{path}:{}",
                        r.split('@').next().unwrap_or(&r)
                    )
                }
            }),
        (domain(), repo_path(), tag()).prop_map(|(d, p, t)| {
            let name = d.map_or(p.clone(), |d| format!("{d}/{p}"));
            format!("docker-daemon:{name}:{t}")
        }),
        "[a-f0-9]{64}".prop_map(|h| format!("docker-daemon:sha256:{h}")),
        (
            local_path(),
            prop::option::of(oci_name()),
            prop::option::of(0..=u32::MAX)
        )
            .prop_map(|(path, name, index)| match (name, index) {
                (Some(n), _) => format!("oci:{path}:{n}"),
                (None, Some(i)) => format!("oci:{path}:@{i}"),
                (None, None) => format!("oci:{path}"),
            }),
        (local_path(), prop::option::of(oci_name())).prop_map(|(path, name)| match name {
            Some(n) => format!("oci-archive:{path}:{n}"),
            None => format!("oci-archive:{path}"),
        }),
        "[ -~]{0,16}".prop_map(|p| format!("dir:{p}")),
        "[ -~]{0,16}".prop_map(|p| format!("sif:{p}")),
        (reference, prop::option::of("(/[a-z@]{1,5}){0,3}")).prop_map(|((r, _, _), repo)| {
            match repo {
                Some(repo) => format!("ostree:{r}@/{}", repo.trim_start_matches('/')),
                None => format!("ostree:{r}"),
            }
        }),
        (
            prop::option::of(store_spec()),
            reference_text(),
            prop::option::of("[a-f0-9]{64}")
        )
            .prop_map(|(store, (r, _, _), id)| {
                let id = id.map(|i| format!("@{i}")).unwrap_or_default();
                format!("containers-storage:{}{r}{id}", store.unwrap_or_default())
            }),
        (prop::option::of(store_spec()), "[a-f0-9]{64}").prop_map(|(store, id)| {
            format!("containers-storage:{}{id}", store.unwrap_or_default())
        }),
    ]
}

proptest! {
    #[test]
    fn reference_round_trips((text, tagged, digested) in reference_text()) {
        let r: DockerReference = text
            .parse()
            .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(r.tag().is_some(), tagged);
        prop_assert_eq!(r.digest().is_some(), digested);
        let shown = r.to_string();
        prop_assert_eq!(shown.parse::<DockerReference>(), Ok(r.clone()));
        let json = serde_json::to_string(&r).unwrap();
        prop_assert_eq!(&json, &serde_json::to_string(&shown).unwrap());
        prop_assert_eq!(serde_json::from_str::<DockerReference>(&json).unwrap(), r);
    }

    #[test]
    fn any_accepted_reference_round_trips(text in "[a-zA-Z0-9._:@/-]{0,40}") {
        if let Ok(r) = text.parse::<DockerReference>() {
            prop_assert_eq!(r.to_string().parse::<DockerReference>(), Ok(r));
        }
    }

    #[test]
    fn reference_with_default_registry_round_trips(
        (text, _, _) in reference_text(),
        registry in prop::option::of("[a-z]{1,5}\\.[a-z]{2}(:[0-9]{1,4})?"),
    ) {
        let r = DockerReference::parse_with_default_registry(&text, registry.as_deref())
            .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(r.to_string().parse::<DockerReference>(), Ok(r));
    }

    #[test]
    fn transport_round_trips(text in transport_text()) {
        let t: ContainerTransport = text
            .parse()
            .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        let shown = t.to_string();
        let prefix = format!("{}:", t.format());
        prop_assert!(shown.starts_with(&prefix));
        prop_assert_eq!(shown.parse::<ContainerTransport>(), Ok(t.clone()));
        let json = serde_json::to_string(&t).unwrap();
        prop_assert_eq!(&json, &serde_json::to_string(&shown).unwrap());
        prop_assert_eq!(serde_json::from_str::<ContainerTransport>(&json).unwrap(), t);
    }

    #[test]
    fn any_accepted_transport_round_trips(
        transport in prop::sample::select(vec![
            "docker", "docker-archive", "docker-daemon", "oci", "oci-archive", "dir", "ostree",
            "containers-storage", "sif",
        ]),
        rest in "[a-zA-Z0-9._:@/+\\[\\],=-]{0,40}",
    ) {
        let text = format!("{transport}:{rest}");
        if let Ok(t) = text.parse::<ContainerTransport>() {
            prop_assert_eq!(t.to_string().parse::<ContainerTransport>(), Ok(t));
        }
    }

    #[test]
    fn image_spec_prints_what_pcocc_reads_back(
        format in prop::sample::select(
            DiskFormat::PCOCC.into_iter().map(Format::Disk)
                .chain(ContainerFormat::PCOCC.into_iter().map(Format::Container))
                .collect::<Vec<_>>(),
        ),
        path in "[ -~]{0,20}",
        with_option in any::<bool>(),
    ) {
        let spec = ImageSpec { format, path };
        let option = with_option.then(|| format.name().to_uppercase());
        let resolved = Guess::from_text(&spec.to_string(), option.as_deref(), None)
            .and_then(|g| g.resolve(Probe::Other));
        prop_assert_eq!(resolved, Ok(Resolved { spec: spec.clone(), origin: Origin::Prefix }));
        let json = serde_json::to_string(&spec).unwrap();
        prop_assert_eq!(serde_json::from_str::<ImageSpec>(&json).unwrap(), spec);
    }
}

#[test]
fn format_names_round_trip() {
    let formats = DiskFormat::ALL
        .into_iter()
        .map(Format::Disk)
        .chain(ContainerFormat::ALL.into_iter().map(Format::Container));
    for format in formats {
        assert_eq!(format.to_string().parse::<Format>(), Ok(format));
        let json = serde_json::to_string(&format).unwrap();
        assert_eq!(json, format!("\"{}\"", format.name()));
        assert_eq!(serde_json::from_str::<Format>(&json).unwrap(), format);
        if let Format::Container(c) = format {
            assert_eq!(c.to_string().parse::<ContainerFormat>(), Ok(c));
            assert_eq!(serde_json::from_str::<ContainerFormat>(&json).unwrap(), c);
        }
    }
    for origin in [
        Origin::Prefix,
        Origin::TypeOption,
        Origin::Extension,
        Origin::Content,
        Origin::KindDefault,
        Origin::AssumedRaw,
    ] {
        let json = serde_json::to_string(&origin).unwrap();
        assert_eq!(serde_json::from_str::<Origin>(&json).unwrap(), origin);
    }
    assert_eq!(
        serde_json::to_string(&Origin::KindDefault).unwrap(),
        "\"kind-default\""
    );
}
