//! `build`: an Imagefile built by strata-build into the backend (or, with `--local`, into
//! `<build-dir>/<NAME>.qcow2`), as transient's `image build` does, with strata's step cache.
//!
//! The order: the Imagefile is read and checked (every error with its file and line); the name
//! is checked (required; an image of that name is refused unless `--force`, where transient
//! replaces it silently); the FROM is resolved ([`resolve_base`]): a backend image, else a
//! strata repository image `[REPO:]IMAGE[@REV]`, else one fetched into the backend by a
//! `,file=` or `,http=` spec; the build
//! runs with its layers in `<backend>/.working/strata-steps/`, each instruction announced by
//! transient's `Step i/n : ...` line (and `Using cache` for one taken from the cache); the last
//! layer is stored flattened, through the core into the backend (a temporary file in
//! `.working/`, fsynced, renamed, 0444; a progress bar `Copying image...` on a terminal) or
//! into the local file (the same way). A failure leaves the backend as it was.
//!
//! A backend in a registry (`--image-backend docker://...`) is reached through the core only:
//! the name is looked up there, a FROM image of the registry is made local in its cache (else
//! a strata repository's is taken; strata does not fetch bases into a registry), the step cache
//! is `<cache>/.working/strata-steps/`, and the result is pushed as the image's next revision.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use strata::{
    Env, ImageKey, ImageLocator, ImportRequest, Kind, NamePolicy, NewImageTarget, OnExisting,
    RepositoryStore, ShowRequest, Source, Store, Strata, StrataOptions,
};
use strata_build::Imagefile;
use strata_build::builder::{self, BuildEvent, BuildOptions, BuildPlan};
use strata_build::imagefile::BaseImage;
use strata_build::layers::{Base, LayerDir};
use strata_build::vm::{Accel, Assets, VmConfig};
use strata_model::image_ref::ImageRef;
use strata_store::FlatBackend;
use strata_store::ReposConfig;

use crate::cli::BuildArgs;
use crate::error::Error;
use crate::settings::Settings;

/// The step cache's directory under the backend's `.working/` (transient keeps its lock files
/// and partial downloads there; this directory is strata's).
pub const STEP_CACHE: &str = "strata-steps";

/// Runs `build` with `settings`, writing the step lines and RUN output to `out`.
pub fn run(args: &BuildArgs, settings: &Settings, out: &mut dyn Write) -> Result<(), Error> {
    let build_dir = PathBuf::from(&args.build_dir);
    let file = args
        .file
        .as_ref()
        .map_or_else(|| build_dir.join("Imagefile"), PathBuf::from);
    let text = std::fs::read_to_string(&file).map_err(|source| Error::ReadImagefile {
        path: file.clone(),
        source,
    })?;
    let imagefile = Imagefile::parse(&file.display().to_string(), &text)?;
    let name = args
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or(Error::BuildWithoutName)?;
    // A directory backend, or none for a backend in a registry (reached through the core).
    let backend = match settings.registry {
        None => Some(FlatBackend::open(&settings.backend).map_err(strata::Error::from)?),
        Some(_) => None,
    };
    let local = args.local.then(|| build_dir.join(format!("{name}.qcow2")));
    let exists = match (&local, &backend) {
        (Some(path), _) => path.symlink_metadata().is_ok(),
        (None, Some(backend)) => backend.contains(name).map_err(strata::Error::from)?,
        (None, None) => in_registry(settings, name)?,
    };
    if exists && !args.force {
        return Err(Error::ImageExists {
            name: name.to_owned(),
        });
    }
    let env = Env::from_process();
    let (base, base_dirs) = resolve_base(&imagefile, settings, backend.as_ref(), &env, out)?;
    let working = match &backend {
        Some(backend) => backend.working_dir(),
        None => settings.backend.join(".working"),
    };
    let layers = LayerDir::open(&working.join(STEP_CACHE))
        .map_err(|source| Error::BuildCache {
            path: working.join(STEP_CACHE),
            source,
        })?
        .with_max_bytes(cache_max(&env)?);
    let options = build_options(args)?;
    let plan = BuildPlan {
        imagefile: &imagefile,
        build_dir: &build_dir,
        base: base.clone(),
        layers: &layers,
        base_dirs,
    };
    let mut written = Ok(());
    let built = builder::build(&plan, &options, &mut |event| {
        if written.is_ok() {
            written = show(out, event);
        }
    })?;
    written.map_err(Error::Output)?;
    tracing::info!(
        "built {} ({} of its steps from the cache, {})",
        built.image.display(),
        built.cached,
        if built.booted { "one VM boot" } else { "no VM" }
    );
    let dirs = plan.allowed_dirs();
    match local {
        Some(path) => builder::flatten(&built.image, &dirs, &path)?,
        None => {
            let request = ImportRequest {
                source: Source::Layers {
                    path: built.image,
                    allowed_dirs: dirs,
                },
                dest: NewImageTarget::named(name),
                policy: NamePolicy {
                    on_existing: if args.force {
                        OnExisting::Replace
                    } else {
                        OnExisting::Refuse
                    },
                    warn_if_elsewhere: false,
                },
                arch: None,
            };
            let progress =
                strata_cli::CliProgress::new(strata_cli::ProgressMode::detect(false), StoreWording);
            settings.strata.import(request, &progress)?;
        }
    }
    Ok(())
}

/// The words of the last stage, the built image flattened into the backend: a bar (or, off a
/// terminal, progress lines) labelled as transient labels its base copy.
struct StoreWording;

impl strata_cli::Wording for StoreWording {
    fn started(&self, phase: &strata::Phase) -> Option<strata_cli::Line> {
        match phase {
            strata::Phase::Converting { .. } | strata::Phase::Copying => {
                Some(strata_cli::Line::stderr("Copying image..."))
            }
            _ => None,
        }
    }

    fn warning(&self, warning: &strata::Warning) -> strata_cli::Line {
        strata_cli::DefaultWording.warning(warning)
    }
}

/// The build's base, and where else its backing chain may lie: scratch; the backend image a
/// FROM names; else, for a spec without `,PROTO=`, a strata (pcocc) repository image
/// `[REPO:]IMAGE[@REV]` of the repositories `repos.yaml` configures for `env` (its top layer,
/// over its repository's chain); else what [`crate::retrieve()`] fetches into the backend (it
/// prints transient's lines on `out`, and refuses vagrant).
pub fn resolve_base(
    imagefile: &Imagefile,
    settings: &Settings,
    backend: Option<&FlatBackend>,
    env: &Env,
    out: &mut dyn Write,
) -> Result<(Base, Vec<PathBuf>), Error> {
    let spec = match imagefile.from.image() {
        BaseImage::Scratch => return Ok((Base::Scratch, Vec::new())),
        BaseImage::Spec(spec) => spec,
    };
    let Some(backend) = backend else {
        // A backend in a registry: its image, made local in its cache, or a repository's.
        if spec.source().is_none() {
            if in_registry(settings, spec.name())? {
                let shown = settings.strata.show(crate::lower::show(spec.name()))?;
                if let Some(top) = shown.layers.last() {
                    return Ok((
                        Base::Image(top.path.clone()),
                        vec![settings.backend.join("data")],
                    ));
                }
            }
            if let Some((top, data)) = repository_image(env, spec.name())? {
                return Ok((Base::Image(top), vec![data]));
            }
        }
        return Err(Error::FetchIntoRegistry {
            spec: spec.to_string(),
            backend: settings.registry.clone().unwrap_or_default(),
        });
    };
    if spec.source().is_none()
        && !backend.contains(spec.name()).map_err(strata::Error::from)?
        && let Some((top, data)) = repository_image(env, spec.name())?
    {
        return Ok((Base::Image(top), vec![data]));
    }
    Ok((
        Base::Image(crate::retrieve(settings, spec, out)?),
        Vec::new(),
    ))
}

/// Whether the backend in a registry holds an image `name` (read from the registry, nothing
/// downloaded).
fn in_registry(settings: &Settings, name: &str) -> Result<bool, Error> {
    match settings.strata.sizes(crate::lower::sizes(name)) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == strata::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The top layer of the VM image `text` (`[REPO:]IMAGE[@REV]`) in the strata repositories
/// configured for `env`, and its repository's `data` directory; `None` when the text is not
/// such a reference, no repository is configured or exists, or none holds the image.
fn repository_image(env: &Env, text: &str) -> Result<Option<(PathBuf, PathBuf)>, Error> {
    let Ok(image) = text.parse::<ImageRef>() else {
        return Ok(None);
    };
    let config = match ReposConfig::load(env) {
        Ok(config) => config,
        Err(e) => {
            tracing::warn!("strata repositories not consulted for {text}: {e}");
            return Ok(None);
        }
    };
    let existing: Vec<_> = config.repos().iter().filter(|d| d.path.is_dir()).collect();
    let stores = existing
        .iter()
        .map(|def| Arc::new(RepositoryStore::new(&def.name, &def.path)) as Arc<dyn Store>);
    let strata = Strata::new(stores, StrataOptions::default());
    let request = ShowRequest {
        image: ImageLocator {
            store: image.repo().map(str::to_owned),
            key: ImageKey::Name {
                name: image.name().to_owned(),
                revision: image.revision().map(u64::from),
            },
        },
    };
    let shown = match strata.show(request) {
        Ok(shown) if shown.image.kind == Kind::Vm => shown,
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == strata::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let Some(top) = shown.layers.last() else {
        return Ok(None);
    };
    let data = existing
        .iter()
        .find(|def| def.name == shown.image.store)
        .map(|def| def.path.join("data"));
    Ok(data.map(|data| (top.path.clone(), data)))
}

/// The step cache's bound on disk: `STRATA_BUILD_CACHE_MAX` (a size as qemu-img writes them:
/// `20G`, `512M`), else [`DEFAULT_CACHE_MAX`].
pub fn cache_max(env: &Env) -> Result<u64, Error> {
    match env.var(CACHE_MAX_VAR).filter(|v| !v.is_empty()) {
        None => Ok(DEFAULT_CACHE_MAX),
        Some(value) => strata_model::size::ByteSize::parse_qemu(value)
            .map(|size| size.0)
            .map_err(|source| Error::BadCacheMax {
                value: value.to_owned(),
                source,
            }),
    }
}

/// The variable that bounds the step cache.
pub const CACHE_MAX_VAR: &str = "STRATA_BUILD_CACHE_MAX";

/// The step cache's default bound: 10 GiB.
pub const DEFAULT_CACHE_MAX: u64 = 10 << 30;

/// The build VM and step deadline the flags ask for.
fn build_options(args: &BuildArgs) -> Result<BuildOptions, Error> {
    let accel = args
        .accel
        .as_deref()
        .map(str::parse::<Accel>)
        .transpose()
        .map_err(Error::BuildVm)?;
    // Where the kernel should be; whether it is there is checked when a VM boots, so that a
    // build whose every step is cached needs none.
    let mut vm = VmConfig::new(Assets::in_dir(
        &Assets::default_dir().map_err(Error::BuildVm)?,
    ));
    vm.accel = Accel::choose(accel).map_err(Error::BuildVm)?;
    vm.ready_timeout = Duration::from_secs(args.ssh_timeout);
    Ok(BuildOptions {
        vm,
        step_timeout: Duration::from_secs(args.step_timeout.max(args.qmp_timeout)),
        // INSPECT: a shell on the terminal, as transient's `ssh -t` (commands from standard
        // input when it is not a terminal).
        inspect: Some(builder::stdio),
    })
}

/// Writes what transient prints for `event`: the step line, a RUN's output, and, for a step
/// taken from the cache, `Using cache` (strata's; transient has no cache).
fn show(out: &mut dyn Write, event: &BuildEvent) -> std::io::Result<()> {
    match event {
        BuildEvent::Step { .. } => {
            if let Some(line) = event.step_line() {
                writeln!(out, "{line}")?;
            }
        }
        BuildEvent::Cached { .. } => writeln!(out, " ---> Using cache")?,
        BuildEvent::RunOutput { stdout, stderr, .. } => {
            out.write_all(stdout)?;
            out.write_all(stderr)?;
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_bound_comes_from_the_variable_in_qemu_sizes() {
        let env = Env::new("/home/u", "u");
        assert_eq!(cache_max(&env).unwrap(), DEFAULT_CACHE_MAX);
        let env = env.with_var(CACHE_MAX_VAR, "512M");
        assert_eq!(cache_max(&env).unwrap(), 512 << 20);
        let env = Env::new("/home/u", "u").with_var(CACHE_MAX_VAR, "lots");
        let err = cache_max(&env).unwrap_err();
        assert_eq!(err.kind(), Some(strata::ErrorKind::Config));
        assert!(
            err.to_string()
                .starts_with("STRATA_BUILD_CACHE_MAX=\"lots\" is not a size")
        );
    }
}
