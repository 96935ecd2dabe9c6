//! The fuzz targets of `fuzz/`, read from `fuzz/Cargo.toml`, each with the body it runs and the
//! inputs saved under `fuzz/regressions/<target>/`, so that one test replays every saved input
//! and no target can be left out silently (gix-pack replays its artifacts by target name too).

use std::path::{Path, PathBuf};

/// A fuzz target's body: the function of `strata_disk::fuzzing`, `strata_oci::fuzzing`,
/// `strata_model::fuzzing`, `strata_build::imagefile::fuzzing` or `oneimage::xmlrpc::fuzzing`
/// that its `fuzz_target!` calls.
pub struct Body {
    /// The target's name, as `fuzz/Cargo.toml` names its `[[bin]]`.
    pub target: &'static str,
    /// The body's path, which the target's source must call.
    pub path: &'static str,
    /// Runs the body on one input; panics only on a bug.
    pub run: fn(&[u8]),
}

/// `body!("target" => path::to::function)`: the [`Body`] of a target.
macro_rules! body {
    ($target:literal => $path:path) => {
        Body {
            target: $target,
            path: stringify!($path),
            run: |data| {
                let _ = $path(data);
            },
        }
    };
}

/// The body of every fuzz target. A target added to `fuzz/` needs its line here, or the replay
/// fails naming it.
pub const BODIES: &[Body] = &[
    body!("qcow2_parse" => strata_disk::fuzzing::parse),
    body!("qcow2_exercise" => strata_disk::fuzzing::exercise_qcow2),
    body!("roundtrip" => strata_disk::fuzzing::roundtrip_qcow2),
    body!("vmdk_exercise" => strata_disk::fuzzing::exercise_vmdk),
    body!("vdi_exercise" => strata_disk::fuzzing::exercise_vdi),
    body!("vpc_exercise" => strata_disk::fuzzing::exercise_vpc),
    body!("qed_exercise" => strata_disk::fuzzing::exercise_qed),
    body!("vhdx_exercise" => strata_disk::fuzzing::exercise_vhdx),
    body!("vmdk_roundtrip" => strata_disk::fuzzing::roundtrip_vmdk),
    body!("vdi_vpc_roundtrip" => strata_disk::fuzzing::roundtrip_vdi_vpc),
    body!("qed_roundtrip" => strata_disk::fuzzing::roundtrip_qed),
    body!("vhdx_roundtrip" => strata_disk::fuzzing::roundtrip_vhdx),
    body!("vmdk_split_roundtrip" => strata_disk::fuzzing::roundtrip_vmdk_split),
    body!("gpt" => strata_disk::fuzzing::read_gpt),
    body!("oci_json" => strata_oci::fuzzing::parse_json),
    body!("oci_unpack" => strata_oci::fuzzing::unpack),
    body!("oci_extract" => strata_oci::fuzzing::extract),
    body!("registry_answers" => strata_oci::fuzzing::registry_answers),
    body!("sif_parse" => strata_oci::fuzzing::parse_sif),
    body!("pcocc_record" => strata_model::fuzzing::parse_record),
    body!("one_template" => strata_model::fuzzing::parse_one_template),
    body!("imagefile" => strata_build::imagefile::fuzzing::parse),
    body!("xmlrpc_request" => oneimage::xmlrpc::fuzzing::request),
];

/// One target's replay: its body and its saved inputs (possibly none).
pub struct Replay {
    /// The target's body.
    pub body: &'static Body,
    /// Every file of `fuzz/regressions/<target>/` but dot files, sorted.
    pub inputs: Vec<PathBuf>,
}

/// The `fuzz/` directory of this repository.
pub fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The replay of every target of `fuzz/`, or every reason it would be incomplete.
///
/// # Errors
/// Each problem as a sentence naming the target: see [`replays_in`].
pub fn replays() -> Result<Vec<Replay>, Vec<String>> {
    replays_in(&fuzz_dir(), BODIES)
}

/// The replay of every target of the fuzz workspace at `fuzz_dir` with `bodies`, in the order
/// of its `Cargo.toml`.
///
/// # Errors
/// Every problem found, each naming its target: `Cargo.toml` cannot be read, its `[[bin]]`
/// names and the files `fuzz_targets/*.rs` disagree, a target has no body in `bodies` or its
/// source does not call that body, a body names no target, a target has no
/// `regressions/<target>/` folder.
pub fn replays_in(fuzz_dir: &Path, bodies: &'static [Body]) -> Result<Vec<Replay>, Vec<String>> {
    let mut problems = Vec::new();
    let manifest = fuzz_dir.join("Cargo.toml");
    let targets = match std::fs::read_to_string(&manifest)
        .map_err(|e| e.to_string())
        .and_then(|text| bin_names(&text))
    {
        Ok(targets) => targets,
        Err(e) => return Err(vec![format!("{}: {e}", manifest.display())]),
    };
    let sources = match rs_stems(&fuzz_dir.join("fuzz_targets")) {
        Ok(sources) => sources,
        Err(e) => return Err(vec![format!("fuzz_targets/: {e}")]),
    };
    for target in &targets {
        if !sources.contains(target) {
            problems.push(format!(
                "target {target}: a [[bin]] of fuzz/Cargo.toml without fuzz_targets/{target}.rs"
            ));
        }
    }
    for source in &sources {
        if !targets.contains(source) {
            problems.push(format!(
                "fuzz_targets/{source}.rs is not a [[bin]] of fuzz/Cargo.toml"
            ));
        }
    }
    for body in bodies {
        if !targets.iter().any(|t| t == body.target) {
            problems.push(format!(
                "target {}: has a body in strata-testkit's fuzz::BODIES but is not a target of fuzz/",
                body.target
            ));
        }
    }
    let mut replays = Vec::new();
    for target in &targets {
        let Some(body) = bodies.iter().find(|b| b.target == target) else {
            problems.push(format!(
                "target {target}: no body in strata-testkit's fuzz::BODIES, so its saved inputs \
                 would not replay; add its line there"
            ));
            continue;
        };
        let source = fuzz_dir.join("fuzz_targets").join(format!("{target}.rs"));
        if let Ok(text) = std::fs::read_to_string(&source)
            && !text.contains(&format!("{}(", body.path))
        {
            problems.push(format!(
                "target {target}: fuzz_targets/{target}.rs does not call {}, the body the \
                 replay runs",
                body.path
            ));
        }
        let folder = fuzz_dir.join("regressions").join(target);
        match files_in(&folder) {
            Ok(inputs) => replays.push(Replay { body, inputs }),
            Err(e) => problems.push(format!(
                "target {target}: fuzz/regressions/{target}/ cannot be read ({e}); every target \
                 has one (create it with a .gitkeep)"
            )),
        }
    }
    if problems.is_empty() {
        Ok(replays)
    } else {
        Err(problems)
    }
}

/// The `name` of every `[[bin]]` of a `Cargo.toml`'s text.
fn bin_names(text: &str) -> Result<Vec<String>, String> {
    let doc: toml_edit::DocumentMut = text.parse().map_err(|e| format!("{e}"))?;
    let Some(bins) = doc.get("bin").and_then(toml_edit::Item::as_array_of_tables) else {
        return Err("no [[bin]] entries".to_owned());
    };
    bins.iter()
        .map(|bin| {
            bin.get("name")
                .and_then(toml_edit::Item::as_str)
                .map(str::to_owned)
                .ok_or_else(|| "a [[bin]] without a name".to_owned())
        })
        .collect()
}

/// The stems of the `.rs` files of `dir`, sorted.
fn rs_stems(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut stems = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs")
            && let Some(stem) = path.file_stem()
        {
            stems.push(stem.to_string_lossy().into_owned());
        }
    }
    stems.sort();
    Ok(stems)
}

/// The files of `dir` whose names do not start with a dot, sorted; an error if `dir` cannot be
/// read (a missing folder is an error, not an empty list).
pub fn files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() && !entry.file_name().to_string_lossy().starts_with('.') {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failure is a test failure")]

    use super::*;

    fn noop(_: &[u8]) {}

    static SYNTHETIC: &[Body] = &[
        Body {
            target: "covered",
            path: "crate::covered",
            run: noop,
        },
        Body {
            target: "no_folder",
            path: "crate::no_folder",
            run: noop,
        },
        Body {
            target: "wrong_call",
            path: "crate::right",
            run: noop,
        },
        Body {
            target: "no_source",
            path: "crate::no_source",
            run: noop,
        },
        Body {
            target: "gone",
            path: "crate::gone",
            run: noop,
        },
    ];

    #[test]
    fn every_gap_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut manifest = String::from("[package]\nname = \"f\"\n");
        for name in ["covered", "no_folder", "wrong_call", "no_body", "no_source"] {
            manifest.push_str(&format!(
                "\n[[bin]]\nname = \"{name}\"\npath = \"fuzz_targets/{name}.rs\"\n"
            ));
        }
        std::fs::write(root.join("Cargo.toml"), manifest).unwrap();
        std::fs::create_dir_all(root.join("fuzz_targets")).unwrap();
        for (name, call) in [
            ("covered", "crate::covered(data)"),
            ("no_folder", "crate::no_folder(data)"),
            ("wrong_call", "crate::wrong(data)"),
            ("no_body", ""),
            ("not_a_bin", ""),
        ] {
            std::fs::write(root.join(format!("fuzz_targets/{name}.rs")), call).unwrap();
        }
        for name in ["covered", "wrong_call", "no_body", "no_source"] {
            std::fs::create_dir_all(root.join("regressions").join(name)).unwrap();
        }
        std::fs::write(root.join("regressions/covered/.gitkeep"), "").unwrap();
        std::fs::write(root.join("regressions/covered/crash-1"), "x").unwrap();

        let problems = replays_in(root, SYNTHETIC).err().unwrap();
        let expect = [
            "target no_source: a [[bin]]",
            "fuzz_targets/not_a_bin.rs is not a [[bin]]",
            "target gone: has a body",
            "target wrong_call: fuzz_targets/wrong_call.rs does not call crate::right",
            "target no_folder: fuzz/regressions/no_folder/ cannot be read",
            "target no_body: no body",
        ];
        for start in expect {
            assert!(
                problems.iter().any(|p| p.starts_with(start)),
                "no problem starting {start:?} in {problems:#?}"
            );
        }
        assert_eq!(problems.len(), expect.len(), "{problems:#?}");
    }

    #[test]
    fn inputs_skip_dot_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".gitkeep"), "").unwrap();
        std::fs::write(dir.path().join("crash-b"), "").unwrap();
        std::fs::write(dir.path().join("crash-a"), "").unwrap();
        let names: Vec<_> = files_in(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["crash-a", "crash-b"]);
        assert!(files_in(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn body_paths_are_spelled_as_called() {
        assert_eq!(BODIES[0].path, "strata_disk::fuzzing::parse");
    }
}
