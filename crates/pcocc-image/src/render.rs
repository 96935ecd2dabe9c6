//! Text for people, exactly as pcocc prints it (lib/pcocc/scripts/cmd.py and lib/pcocc/Image.py,
//! v0.7.5): pure functions from outcome data to strings, plus pcocc's wording of progress
//! phases and warnings ([`PcoccWording`]).
//!
//! Tables are Shine's TextTable, rendered by [`strata_cli::table::pcocc`]; this module supplies
//! the rows, the `"{Repo} images:"` titles, the `image show` block built from pcocc's
//! `%`-format strings, sizes ([`ByteSize::to_pcocc_string`]) and dates
//! (`time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(ts))`).

use anstyle::AnsiColor;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use strata::{
    CacheGcOutcome, CacheListOutcome, GcOutcome, ImageSummary, ListOutcome, Phase, Problem,
    ShowOutcome, StoreImages, StoreListOutcome, VerifyOutcome, Warning,
};
use strata_cli::table::pcocc as table;
use strata_cli::{Line, Styler, Wording};
use strata_model::ByteSize;
use strata_store::{ReposConfig, Scope};

/// The rule pcocc prints between the parts of `image show`: 30 dashes.
const RULE: &str = "------------------------------";

/// The revision of an image of a pcocc repository (every one has one).
pub fn revision(image: &ImageSummary) -> u64 {
    image.revision.unwrap_or(0)
}

/// The owner of an image of a pcocc repository (every record has one).
pub fn owner(image: &ImageSummary) -> &str {
    image.owner.as_deref().unwrap_or("")
}

/// When an image of a pcocc repository was written (every record says).
pub fn timestamp(image: &ImageSummary) -> f64 {
    image.timestamp.unwrap_or(0.0)
}

/// The fully qualified URI `repo:name@revision` (pcocc's `URI:` line of `show`).
pub fn uri(image: &ImageSummary) -> String {
    format!("{}:{}@{}", image.store, image.name, revision(image))
}

/// pcocc's warning when it imports a file of unknown content as a raw disk
/// (`ImageMgr.guess_format`, through `logging.warning` under `logging.basicConfig`, whose format
/// is `%(levelname)s:%(name)s:%(message)s`), on standard error.
pub fn assumed_raw_warning() -> Line {
    Line::stderr(format!(
        "WARNING:root:{}",
        strata_model::spec::ASSUMED_RAW_WARNING
    ))
}

/// `time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(ts))` in `tz`.
///
/// Python's `localtime` floors a float timestamp to whole seconds. A timestamp jiff cannot
/// represent (not finite, or beyond year 9999) prints as the number itself.
pub fn date(timestamp: f64, tz: &TimeZone) -> String {
    let floored = timestamp.floor();
    // `as` saturates; out-of-range seconds are then refused by jiff below.
    #[allow(
        clippy::cast_possible_truncation,
        reason = "floored and range-checked by jiff"
    )]
    let seconds = floored as i64;
    match Timestamp::from_second(seconds) {
        Ok(ts) if timestamp.is_finite() => ts
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string(),
        _ => timestamp.to_string(),
    }
}

/// One repository's part of `image list`: the bold blue `"{Repo} images:"` title, the table
/// (rows sorted by name, as pcocc sorts them), and an empty line (`print()`).
pub fn list_block(repo: &StoreImages, tz: &TimeZone, styler: Styler) -> String {
    let mut sorted: Vec<&ImageSummary> = repo.images.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let rows: Vec<[String; 6]> = sorted
        .iter()
        .map(|e| {
            [
                e.name.clone(),
                e.kind.as_str().to_owned(),
                revision(e).to_string(),
                e.store.clone(),
                owner(e).to_owned(),
                date(timestamp(e), tz),
            ]
        })
        .collect();
    let mut out = table::title(&repo.store, styler);
    out.push_str(&table::render(&table::IMAGE_LIST, &rows));
    out.push('\n');
    out
}

/// The whole of `image list`: one [`list_block`] per repository that has matches, in the
/// outcome's order (priority order); nothing at all when no repository has one.
pub fn list(outcome: &ListOutcome, tz: &TimeZone, styler: Styler) -> String {
    outcome
        .stores
        .iter()
        .filter(|repo| !repo.images.is_empty())
        .map(|repo| list_block(repo, tz, styler))
        .collect()
}

/// The whole of `image show`: the header block from pcocc's `%`-format strings, an empty line,
/// and the revision table (SIZE is each revision's top blob only).
pub fn show(outcome: &ShowOutcome, tz: &TimeZone) -> String {
    let image = &outcome.image;
    // Each line is one of pcocc's `print("%Ns %Ms" % (label, value))`; Rust's `{:>N}` pads by
    // characters as Python's `%Ns` does, and neither truncates.
    let lines = [
        RULE.to_owned(),
        format!("{:>5} {:>24}", "Repo:", image.store),
        format!("{:>5} {:>24}", "Name:", image.name),
        // `Kind`'s Display ignores widths: pad its text.
        format!("{} {:>24}", "Type:", image.kind.as_str()),
        RULE.to_owned(),
        format!("{:>5} {:>24}", "URI: ", uri(image)),
        format!("{} {:>22}", "Layers:", outcome.layers.len()),
        RULE.to_owned(),
        format!("{:>7} {:>22}", "Owner: ", owner(image)),
        // "Date:   " is 8 characters, wider than its `%7s`.
        format!("{:>7} {:>21}", "Date:   ", date(timestamp(image), tz)),
        RULE.to_owned(),
        String::new(),
    ];
    let rows: Vec<[String; 3]> = outcome
        .revisions
        .iter()
        .map(|r| {
            [
                r.revision.to_string(),
                ByteSize(top_layer_size(r)).to_pcocc_string(),
                date(r.timestamp, tz),
            ]
        })
        .collect();
    let mut out = lines.join("\n");
    out.push('\n');
    out.push_str(&table::render(&table::IMAGE_SHOW_REVISIONS, &rows));
    out
}

/// pcocc's SIZE of a revision in `image show`: the file size of **its top layer only**
/// (`data_blobs[-1]`), not the sum of its layers.
pub fn top_layer_size(revision: &strata::RevisionSummary) -> u64 {
    revision.layers.last().map_or(0, |l| l.size)
}

/// One repository of `image repo list`: the core's view of the store and the file that
/// configures it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRow {
    /// Its name.
    pub name: String,
    /// Its directory (expanded).
    pub path: std::path::PathBuf,
    /// Whether this process may write to it; `None` when the path does not exist (`N/A`).
    pub writable: Option<bool>,
    /// Which configuration file defines it.
    pub scope: Scope,
}

impl RepoRow {
    /// The rows of `image repo list`, in priority order.
    pub fn rows(config: &ReposConfig, stores: &StoreListOutcome) -> Vec<RepoRow> {
        config
            .repos()
            .iter()
            .zip(&stores.stores)
            .map(|(def, store)| RepoRow {
                name: store.name.clone(),
                path: store.path.clone(),
                writable: store.writable,
                scope: def.scope,
            })
            .collect()
    }
}

/// An error as a line of standard error in pcocc's manner (red on a terminal), for errors that
/// do not end the command.
pub fn error_line(message: &str) -> Line {
    Line::stderr(message).styled(AnsiColor::Red.on_default())
}

/// `image repo list`: WRITABLE is Python's `str(bool)`, or `N/A` for a missing path.
pub fn repo_list(repos: &[RepoRow]) -> String {
    let rows: Vec<[String; 3]> = repos
        .iter()
        .map(|r| {
            let writable = match r.writable {
                Some(true) => "True",
                Some(false) => "False",
                None => "N/A",
            };
            [
                r.name.clone(),
                r.path.to_string_lossy().into_owned(),
                writable.to_owned(),
            ]
        })
        .collect();
    table::render(&table::REPO_LIST, &rows)
}

/// What `image copy` prints before copying (`click.secho("Copying image ...")`, no colour).
pub fn copy_started() -> String {
    "Copying image ...\n".to_owned()
}

/// What `image copy` prints after copying, in green on a terminal. The typo ("successufly") is
/// pcocc's own (`click.secho("Image successufly copied", fg="green")`), kept so that scripts
/// matching it keep working.
pub fn copy_finished(styler: Styler) -> String {
    let mut out = styler.click("Image successufly copied", Some(AnsiColor::Green), false);
    out.push('\n');
    out
}

/// An error as pcocc's `handle_error` prints it: the message alone, red on a terminal
/// (`click.secho(str(err), fg='red', err=True)`).
pub fn error(message: &str, styler: Styler) -> String {
    let mut out = styler.click(message, Some(AnsiColor::Red), false);
    out.push('\n');
    out
}

/// `repo verify` (strata's own): one paragraph per repository, a summary line then one
/// indented line per problem.
pub fn verify(outcome: &VerifyOutcome) -> String {
    let mut out = String::new();
    for repo in &outcome.stores {
        let report = &repo.report;
        let chains = if report.chains_checked {
            ", layer chains checked"
        } else {
            ""
        };
        let verdict = match report.problems.len() {
            0 => "OK".to_owned(),
            n => plural(u64::try_from(n).unwrap_or(u64::MAX), "problem"),
        };
        out.push_str(&format!(
            "Repository '{}': {} ({}), {} checked{chains}: {verdict}\n",
            repo.store,
            plural(report.blobs_checked, "blob"),
            ByteSize(report.bytes_checked).to_pcocc_string(),
            plural(report.records_checked, "record"),
        ));
        for problem in &report.problems {
            out.push_str("  ");
            out.push_str(&problem_text(problem));
            out.push('\n');
        }
        if report.unreferenced_blobs > 0 || report.tmp_entries > 0 {
            out.push_str(&format!(
                "  not a problem: {} ({}) and {}, left by deletions or interrupted writes; `repo gc` removes them\n",
                plural(report.unreferenced_blobs, "unreferenced blob"),
                ByteSize(report.unreferenced_bytes).to_pcocc_string(),
                plural(report.tmp_entries, "temporary entry"),
            ));
        }
    }
    out
}

/// `n` and `noun`, in the plural unless `n` is 1 (`entry` gives `entries`).
pub fn plural(n: u64, noun: &str) -> String {
    match (n, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        (_, None) => format!("{n} {noun}s"),
    }
}

/// One verification problem, in a sentence.
pub fn problem_text(problem: &Problem) -> String {
    match problem {
        Problem::BlobMismatch {
            path,
            expected,
            actual,
        } => format!(
            "{}: content hashes to {actual}, not {expected}",
            path.display()
        ),
        Problem::UnreadableBlob { path, error } => {
            format!("{}: cannot be read: {error}", path.display())
        }
        Problem::WritableBlob { path, mode } => {
            format!(
                "{}: writable blob (mode {mode:o}, expected 444)",
                path.display()
            )
        }
        Problem::StrayData { path } => format!("{}: not a blob", path.display()),
        Problem::StrayMeta { path } => format!("{}: not a revision record", path.display()),
        Problem::InterruptedUpgrade { path } => format!(
            "{}: version 1 records left in meta/ by an interrupted upgrade (pcocc cannot list the repository until `repo gc` moves them to meta.old/)",
            path.display()
        ),
        Problem::InterruptedDelete {
            name, revisions, ..
        } => format!(
            "{name}: the deletion of revisions {revisions:?} was interrupted: `repo gc` completes it"
        ),
        Problem::BadRecord { path, message } => format!("{}: {message}", path.display()),
        Problem::MissingBlob {
            name,
            revision,
            digest,
        } => format!("{name}@{revision}: blob {digest} is missing"),
        Problem::Chain {
            name,
            revision,
            message,
        }
        | Problem::Container {
            name,
            revision,
            message,
        } => format!("{name}@{revision}: {message}"),
    }
}

/// `image cache list`: the table of entries of known revisions (least recently used first,
/// hashes cut to 10 characters), then `print("\nCache contains %d items" % len(cache))`.
pub fn cache_list(outcome: &CacheListOutcome) -> String {
    let rows: Vec<[String; 5]> = outcome
        .rows
        .iter()
        .map(|r| {
            [
                r.store.clone(),
                r.name.clone(),
                r.revision.to_string(),
                r.item.clone(),
                short_hash(&r.hash).to_owned(),
            ]
        })
        .collect();
    let mut out = table::render(&table::CACHE_LIST, &rows);
    out.push_str(&format!("\nCache contains {} items\n", outcome.total));
    out
}

/// What `image cache gc` prints: `Deleting dangling cache blob {h10} ...` for each entry it
/// removes as dangling (nothing for `-b` and `-c`).
pub fn cache_gc(outcome: &CacheGcOutcome) -> String {
    if !outcome.dangling {
        return String::new();
    }
    outcome
        .removal
        .removed
        .iter()
        .map(|h| format!("Deleting dangling cache blob {} ...\n", short_hash(h)))
        .collect()
}

/// The first 10 characters of an entry's name, as pcocc shows it.
pub fn short_hash(hash: &str) -> &str {
    hash.get(..10).unwrap_or(hash)
}

/// `repo gc`'s summary, logged at info level (`-v`): pcocc prints nothing.
pub fn gc_summary(outcome: &GcOutcome) -> String {
    let r = &outcome.report;
    let upgrade = match &r.upgrade {
        Some(u) if u.records > 0 || u.dirs_moved > 0 => format!(
            "upgraded to version 2 ({} converted, version 1 records kept in {}); ",
            plural(u.records, "record"),
            u.backup.display()
        ),
        _ => String::new(),
    };
    format!(
        "Repository '{}': {upgrade}removed {} ({}), {} and {} ({}); kept {} and {}",
        outcome.store,
        plural(r.blobs_removed, "unreferenced blob"),
        ByteSize(r.blob_bytes_removed).to_pcocc_string(),
        plural(r.dirs_removed, "empty directory"),
        plural(r.tmp_removed, "temporary entry"),
        ByteSize(r.tmp_bytes_removed).to_pcocc_string(),
        plural(r.blobs_kept, "blob"),
        plural(r.young_kept, "recent entry"),
    )
}

/// pcocc's wording of progress: its warnings, and for `import` and `export` its phase lines on
/// standard output, where pcocc prints them. Other commands print no phase line (pcocc's
/// `copy`, `resize` and `repo gc` say nothing while they work); bars still show on a terminal.
#[derive(Debug, Clone, Copy, Default)]
pub struct PcoccWording {
    /// Whether phases print pcocc's lines (`Storing image ...`, `Converting image...`).
    pub phase_lines: bool,
}

impl PcoccWording {
    /// The wording of `import` and `export`, with pcocc's phase lines.
    pub const fn with_phase_lines() -> PcoccWording {
        PcoccWording { phase_lines: true }
    }

    /// The wording of the other commands: warnings only.
    pub const fn quiet_phases() -> PcoccWording {
        PcoccWording { phase_lines: false }
    }

    /// pcocc's line for `phase`, whether or not this wording prints it.
    fn pcocc_line(phase: &Phase) -> Option<Line> {
        match phase {
            // ImageMgr.import_image: click.secho(...), trailing space included.
            Phase::Storing { store: repo, name } => Some(Line::stdout(format!(
                "Storing image in repository '{repo}' as '{name}' ... "
            ))),
            // VMImage.convert: print("Converting image...") when the formats differ, else
            // print("Copying image...").
            Phase::Converting { from, to } if from != to => {
                Some(Line::stdout("Converting image..."))
            }
            Phase::Converting { .. } | Phase::Copying => Some(Line::stdout("Copying image...")),
            // A container blob: skopeo's line, which pcocc's users see during its import.
            Phase::Blob {
                digest: Some(digest),
                ..
            } => Some(Line::stdout(format!("Copying blob {digest}"))),
            _ => None,
        }
    }
}

impl Wording for PcoccWording {
    fn started(&self, phase: &Phase) -> Option<Line> {
        if self.phase_lines {
            PcoccWording::pcocc_line(phase)
        } else {
            None
        }
    }

    fn label(&self, phase: &Phase) -> String {
        match PcoccWording::pcocc_line(phase) {
            Some(line) => line.text.trim().to_owned(),
            None => strata_cli::DefaultWording.label(phase),
        }
    }

    fn warning(&self, warning: &Warning) -> Line {
        match warning {
            // ImageMgr.check_overwrite: click.secho(..., fg="magenta"), on standard output.
            Warning::NameExistsElsewhere { name, store } => Line::stdout(format!(
                "Warning: an image with name {name} already exists in another repo ({store})"
            ))
            .styled(AnsiColor::Magenta.on_default()),
            // strata's own: pcocc fails the import here, after storing the image.
            Warning::CacheNotPopulated { name, message } => Line::stderr(format!(
                "Warning: image {name} was stored but not extracted into the cache: {message}"
            ))
            .styled(AnsiColor::Magenta.on_default()),
            other => strata_cli::DefaultWording.warning(other),
        }
    }
}

/// The `--json` documents (strata's addition): plain data, one field per fact, timestamps as
/// pcocc stores them (float seconds) beside the local date pcocc prints.
pub mod json {
    use jiff::tz::TimeZone;
    use serde::Serialize;
    use strata::{ImageSummary, ListOutcome, ShowOutcome};
    use strata_model::Kind;

    use super::{RepoRow, date, owner, revision, timestamp, top_layer_size, uri};

    /// One image revision.
    #[derive(Debug, Clone, Serialize)]
    pub struct Image {
        /// The repository.
        pub repo: String,
        /// The image name.
        pub name: String,
        /// `vm` or `ctr`.
        pub kind: Kind,
        /// The revision.
        pub revision: u64,
        /// `repo:name@revision`.
        pub uri: String,
        /// The owner.
        pub owner: String,
        /// Seconds since the epoch.
        pub timestamp: f64,
        /// The local date, as pcocc prints it.
        pub date: String,
    }

    impl Image {
        /// The document of `summary`.
        pub fn new(summary: &ImageSummary, tz: &TimeZone) -> Image {
            Image {
                repo: summary.store.clone(),
                name: summary.name.clone(),
                kind: summary.kind,
                revision: revision(summary),
                uri: uri(summary),
                owner: owner(summary).to_owned(),
                timestamp: timestamp(summary),
                date: date(timestamp(summary), tz),
            }
        }
    }

    /// `list --json`: every matching image (latest revision), repositories in priority order,
    /// names sorted within each.
    pub fn list(outcome: &ListOutcome, tz: &TimeZone) -> Vec<Image> {
        outcome
            .stores
            .iter()
            .flat_map(|repo| {
                let mut images: Vec<&ImageSummary> = repo.images.iter().collect();
                images.sort_by(|a, b| a.name.cmp(&b.name));
                images.into_iter().map(|i| Image::new(i, tz))
            })
            .collect()
    }

    /// `show --json`.
    #[derive(Debug, Clone, Serialize)]
    pub struct Show {
        /// The revision shown.
        #[serde(flatten)]
        pub image: Image,
        /// Its number of layers.
        pub layers: usize,
        /// Every revision of the image, ascending.
        pub revisions: Vec<Revision>,
    }

    /// One revision in `show --json`.
    #[derive(Debug, Clone, Serialize)]
    pub struct Revision {
        /// The revision.
        pub revision: u64,
        /// The size in bytes of its top layer.
        pub size: u64,
        /// Seconds since the epoch.
        pub timestamp: f64,
        /// The local date, as pcocc prints it.
        pub date: String,
    }

    /// The document of `outcome`.
    pub fn show(outcome: &ShowOutcome, tz: &TimeZone) -> Show {
        Show {
            image: Image::new(&outcome.image, tz),
            layers: outcome.layers.len(),
            revisions: outcome
                .revisions
                .iter()
                .map(|r| Revision {
                    revision: r.revision,
                    size: top_layer_size(r),
                    timestamp: r.timestamp,
                    date: date(r.timestamp, tz),
                })
                .collect(),
        }
    }

    /// One repository in `repo list --json`.
    #[derive(Debug, Clone, Serialize)]
    pub struct Repo {
        /// Its name.
        pub name: String,
        /// Its directory.
        pub path: String,
        /// Whether it is writable; `null` when the path does not exist.
        pub writable: Option<bool>,
        /// Which file defines it: `user`, `global`, or `default` (no repos.yaml).
        pub scope: &'static str,
    }

    /// `repo list --json`: every repository, in priority order.
    pub fn repo_list(repos: &[RepoRow]) -> Vec<Repo> {
        repos
            .iter()
            .map(|r| Repo {
                name: r.name.clone(),
                path: r.path.to_string_lossy().into_owned(),
                writable: r.writable,
                scope: r.scope.as_str(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use strata_model::{DiskFormat, Kind};
    use strata_store::Scope;

    use super::*;

    fn utc() -> TimeZone {
        TimeZone::UTC
    }

    /// 2018-08-24 20:46:35 UTC.
    const T_CENTOS: f64 = 1_535_143_595.12;
    /// 2018-08-24 20:45:20 UTC.
    const T_UBUNTU: f64 = 1_535_143_520.0;

    fn summary(name: &str, kind: Kind, revision: u64, timestamp: f64) -> ImageSummary {
        ImageSummary {
            store: "user".into(),
            name: name.into(),
            kind,
            revision: Some(revision),
            owner: Some("jdoe".into()),
            timestamp: Some(timestamp),
        }
    }

    #[test]
    fn dates_floor_and_follow_the_zone() {
        assert_eq!(date(T_CENTOS, &utc()), "2018-08-24 20:46:35");
        assert_eq!(date(0.999, &utc()), "1970-01-01 00:00:00");
        assert_eq!(date(-0.5, &utc()), "1969-12-31 23:59:59");
        if let Ok(paris) = TimeZone::get("Europe/Paris") {
            assert_eq!(date(T_CENTOS, &paris), "2018-08-24 22:46:35");
        }
        let fixed = TimeZone::fixed(jiff::tz::offset(-5));
        assert_eq!(date(T_CENTOS, &fixed), "2018-08-24 15:46:35");
        assert_eq!(date(f64::NAN, &utc()), "NaN");
    }

    /// The `image list` sample of the reference (pcocc-transient.md §1.6), byte for byte.
    #[test]
    fn list_sample() {
        let outcome = ListOutcome {
            stores: vec![
                StoreImages {
                    store: "user".into(),
                    images: vec![
                        summary("ubuntu", Kind::Ctr, 12, T_UBUNTU),
                        summary("centos7-cloud", Kind::Vm, 0, T_CENTOS),
                    ],
                },
                StoreImages {
                    store: "global".into(),
                    images: vec![],
                },
            ],
            failed: vec![],
        };
        assert_eq!(
            list(&outcome, &utc(), Styler::plain()),
            "\
User images:
NAME             TYPE    REVISION    REPO    OWNER    DATE
----             ----    --------    ----    -----    ----
centos7-cloud    vm      0           user    jdoe     2018-08-24 20:46:35
ubuntu           ctr     12          user    jdoe     2018-08-24 20:45:20

"
        );
        let coloured = list_block(&outcome.stores[0], &utc(), Styler::new(true));
        assert!(coloured.starts_with("\x1b[34m\x1b[1mUser images:\x1b[0m\nNAME "));
        let doc = json::list(&outcome, &utc());
        assert_eq!(doc[0].name, "centos7-cloud");
        assert_eq!(doc[0].uri, "user:centos7-cloud@0");
    }

    #[test]
    fn list_of_nothing_prints_nothing() {
        let outcome = ListOutcome {
            stores: vec![StoreImages {
                store: "user".into(),
                images: vec![],
            }],
            failed: vec![],
        };
        assert_eq!(list(&outcome, &utc(), Styler::plain()), "");
    }

    /// The `image show` sample of the reference (pcocc-transient.md §1.6), byte for byte.
    #[test]
    fn show_long_values_push_the_columns() {
        let outcome = ShowOutcome {
            image: summary("a-very-long-image-name-indeed-yes", Kind::Vm, 0, T_CENTOS),
            layers: vec![strata::Layer {
                digest: None,
                path: PathBuf::from("/r/data/ab/abcd"),
                size: 1,
            }],
            revisions: vec![],
        };
        let out = show(&outcome, &utc());
        assert!(out.contains("\nName: a-very-long-image-name-indeed-yes\n"));
        assert!(out.contains("\nURI:  user:a-very-long-image-name-indeed-yes@0\n"));
        // No revision at all: TextTable prints the keys.
        assert!(out.ends_with("\nREV    SIZE    DATE\n---    ----    ----\n"));
    }

    fn repo(name: &str, path: &str, writable: Option<bool>) -> RepoRow {
        RepoRow {
            name: name.into(),
            path: PathBuf::from(path),
            writable,
            scope: Scope::User,
        }
    }

    /// The `image repo list` sample of the reference (pcocc-transient.md §1.6), byte for byte.
    #[test]
    fn repo_list_sample() {
        let outcome = vec![
            repo("user", "/home/jdoe/.pcocc/images", Some(true)),
            repo("global", "/var/lib/pcocc/images", Some(false)),
        ];
        assert_eq!(
            repo_list(&outcome),
            "\
NAME      PATH                        WRITABLE
----      ----                        --------
user      /home/jdoe/.pcocc/images    True
global    /var/lib/pcocc/images       False
"
        );
        let missing = vec![repo("x", "/nope", None)];
        assert_eq!(
            repo_list(&missing),
            "NAME    PATH     WRITABLE\n----    ----     --------\nx       /nope    N/A\n"
        );
    }

    #[test]
    fn copy_and_error_lines() {
        assert_eq!(copy_started(), "Copying image ...\n");
        assert_eq!(copy_finished(Styler::plain()), "Image successufly copied\n");
        assert_eq!(
            copy_finished(Styler::new(true)),
            "\x1b[32mImage successufly copied\x1b[0m\n"
        );
        assert_eq!(
            error("Bad revision: x", Styler::new(true)),
            "\x1b[31mBad revision: x\x1b[0m\n"
        );
        assert_eq!(
            error("Bad revision: x", Styler::plain()),
            "Bad revision: x\n"
        );
    }

    #[test]
    fn wording_is_pcoccs() {
        let lines = PcoccWording::with_phase_lines();
        let storing = Phase::Storing {
            store: "user".into(),
            name: "c7".into(),
        };
        assert_eq!(
            lines.started(&storing).map(|l| (l.text, l.stream)),
            Some((
                "Storing image in repository 'user' as 'c7' ... ".to_owned(),
                strata_cli::Stream::Stdout
            ))
        );
        assert_eq!(PcoccWording::quiet_phases().started(&storing), None);
        let convert = Phase::Converting {
            from: DiskFormat::Raw,
            to: DiskFormat::Qcow2,
        };
        assert_eq!(
            lines.started(&convert).map(|l| l.text),
            Some("Converting image...".to_owned())
        );
        let same = Phase::Converting {
            from: DiskFormat::Qcow2,
            to: DiskFormat::Qcow2,
        };
        assert_eq!(
            lines.started(&same).map(|l| l.text),
            Some("Copying image...".to_owned())
        );
        let warning = lines.warning(&Warning::NameExistsElsewhere {
            name: "c7".into(),
            store: "global".into(),
        });
        assert_eq!(
            warning.text,
            "Warning: an image with name c7 already exists in another repo (global)"
        );
        assert_eq!(
            assumed_raw_warning().text,
            "WARNING:root:Could not detect image format, assuming raw VM"
        );
    }
}
