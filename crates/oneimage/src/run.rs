//! Runs one `oneimage` or `onedatastore` command: resolves its arguments against the pool,
//! calls the core ([`strata::pool::Pool`]) and prints what OpenNebula's CLI prints.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use jiff::tz::TimeZone;
use strata::pool::{
    CreateImage, DatastoreInfo, ImageAction, NewDatastore, NewOwner, Pool, PoolError,
    SnapshotAction,
};
use strata_cli::{CliProgress, DefaultWording, ProgressMode};
use strata_model::one::{CreateOptions, DevPrefix, ImageRecord, ImageType, LockRequest, Template};

use crate::cli::{
    CreateArgs, DatastoreCommand, DocArgs, ImageCommand, ListArgs, OneDatastore, OneImage,
};
use crate::error::Error;
use crate::render::{self, DatastoreView, DocFormat, ListOptions};
use crate::resolve;
use crate::settings::{Settings, bootstrap_datastores, opennebula_policy};
use strata_cli::table::one::Expand;

/// Where a command's inputs come from: the files it names, standard input, the image file of
/// `--path`, the editor of `update`. A command run on the caller's machine reads them there
/// ([`LocalInputs`]); one a server runs for a client gets them from the client, and never opens
/// a path on the client's word (`crate::daemon`).
pub trait Inputs {
    /// The text of the template file `path` names.
    fn read(&mut self, path: &str) -> Result<String, Error>;
    /// Standard input, when it is not a terminal and holds something.
    fn stdin(&mut self) -> Result<Option<String>, Error>;
    /// The image file `--path` names, opened; `None` lets the core open it.
    fn open_image(&mut self, path: &str) -> Result<Option<std::fs::File>, Error>;
    /// `text` after the user edited it (`$EDITOR`).
    fn edit(&mut self, text: &str) -> Result<String, Error>;
}

/// The inputs of a command run on the caller's own machine.
#[derive(Debug, Default)]
pub struct LocalInputs {
    /// Standard input, when it is not a terminal.
    pub stdin: Option<std::io::Stdin>,
}

impl Inputs for LocalInputs {
    fn read(&mut self, path: &str) -> Result<String, Error> {
        std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: PathBuf::from(path),
            source,
        })
    }

    fn stdin(&mut self) -> Result<Option<String>, Error> {
        match self.stdin.as_mut() {
            Some(stdin) => read_piped(stdin),
            None => Ok(None),
        }
    }

    fn open_image(&mut self, _path: &str) -> Result<Option<std::fs::File>, Error> {
        Ok(None)
    }

    fn edit(&mut self, text: &str) -> Result<String, Error> {
        edit(text)
    }
}

/// What standard input holds (at most [`MAX_TEMPLATE`] bytes), `None` when empty.
pub fn read_piped(stdin: &mut std::io::Stdin) -> Result<Option<String>, Error> {
    let mut text = String::new();
    stdin
        .take(MAX_TEMPLATE)
        .read_to_string(&mut text)
        .map_err(|source| Error::Read {
            path: PathBuf::from("standard input"),
            source,
        })?;
    Ok((!text.is_empty()).then_some(text))
}

/// The largest template read from standard input.
pub const MAX_TEMPLATE: u64 = 1 << 20;

/// Where a command writes, what it reads, and how it shows things.
pub struct Io<'a> {
    /// Standard output.
    pub out: &'a mut dyn Write,
    /// Standard error.
    pub err: &'a mut dyn Write,
    /// Files, standard input, the editor.
    pub inputs: &'a mut dyn Inputs,
    /// The caller's working directory (relative `--path`s start there).
    pub cwd: PathBuf,
    /// Whether standard output is a terminal (styles, table width).
    pub tty: bool,
    /// The terminal's width, when standard output is one.
    pub width: Option<usize>,
    /// The time zone times are shown in.
    pub tz: TimeZone,
}

/// A bar on standard error while bytes move, when it is a terminal; nothing otherwise
/// (OpenNebula's CLI prints nothing but `ID: <n>`).
fn progress() -> CliProgress<DefaultWording> {
    let quiet = !strata_cli::Stream::Stderr.is_terminal();
    CliProgress::new(ProgressMode::detect(quiet), DefaultWording)
}

/// The personal pool of `settings`, made on first use.
pub fn open_pool(settings: &Settings) -> Result<Pool, Error> {
    let owner = settings.caller.ownership.clone();
    Ok(Pool::open_or_init(
        &settings.pool_dir,
        opennebula_policy(),
        |store| bootstrap_datastores(store, &owner),
    )?)
}

fn doc_format(doc: &DocArgs) -> Option<DocFormat> {
    if doc.xml {
        Some(DocFormat::Xml)
    } else if doc.json {
        Some(DocFormat::Json)
    } else if doc.yaml {
        Some(DocFormat::Yaml)
    } else {
        None
    }
}

fn list_options(list: &ListArgs, io: &Io<'_>) -> ListOptions {
    let split = |s: &Option<String>| -> Vec<String> {
        s.as_deref()
            .map(|s| {
                s.split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    ListOptions {
        list: list
            .list
            .as_ref()
            .map(|l| l.split(',').map(str::to_owned).collect()),
        filter: list
            .filter
            .iter()
            .flat_map(|f| f.split(','))
            .map(str::to_owned)
            .collect(),
        operator: list.operator.clone(),
        csv: list.csv,
        csv_del: list.csv_del.clone(),
        no_header: list.no_header,
        adjust: split(&list.adjust),
        size: split(&list.size),
        expand: match &list.expand {
            None => Expand::Configured,
            Some(e) if e.is_empty() => Expand::All,
            Some(e) => Expand::Columns(split(&Some(e.clone()))),
        },
        no_expand: list.no_expand,
        numeric: list.numeric,
        terminal_width: io.width,
        stat_column: None,
        styler: strata_cli::Styler::new(io.tty && strata_cli::Stream::Stdout.colors_enabled()),
    }
}

/// A template given as a file, or on standard input.
fn read_template(file: Option<&str>, io: &mut Io<'_>) -> Result<Option<String>, Error> {
    match file {
        Some(file) => io.inputs.read(file).map(Some),
        None => io.inputs.stdin(),
    }
}

fn parse_template(text: &str, method: &'static str) -> Result<Template, Error> {
    Template::parse(text).map_err(|error| Error::Template { method, error })
}

/// Runs `perform` on each id as `perform_actions` does: a failure is printed and the others
/// still run; the command fails if any did.
fn each(
    ids: &[u32],
    kind: &str,
    verbose: Option<&str>,
    io: &mut Io<'_>,
    mut perform: impl FnMut(u32) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut failed = None;
    for &id in ids {
        match perform(id) {
            Ok(()) => {
                if let Some(verb) = verbose {
                    writeln!(io.out, "{kind} {id}: {verb}")?;
                }
            }
            Err(e) => {
                failed = Some(e.kind());
                writeln!(io.err, "{e}")?;
            }
        }
    }
    match failed {
        Some(kind) => Err(Error::Reported { kind }),
        None => Ok(()),
    }
}

fn new_owner(
    settings: &Settings,
    user: Option<&str>,
    group: Option<&str>,
) -> Result<NewOwner, Error> {
    let accounts = &settings.accounts;
    let user = user
        .map(|u| resolve::user_id(u, accounts).map(|uid| (uid, accounts.user_name(uid))))
        .transpose()?;
    let group = group
        .map(|g| resolve::group_id(g, accounts).map(|gid| (gid, accounts.group_name(gid))))
        .transpose()?;
    Ok(NewOwner { user, group })
}

/// Runs `oneimage` on `pool`.
pub fn run_image(
    args: OneImage,
    pool: &Pool,
    settings: &Settings,
    io: &mut Io<'_>,
) -> Result<(), Error> {
    let caller = &settings.caller;
    let verbose = args.verbose;
    let verb = |v: &'static str| verbose.then_some(v);
    let images = || pool.images(caller, strata::pool::PoolFilter::All);
    let image_ids =
        |range: &str| -> Result<Vec<u32>, Error> { resolve::ids(range, "IMAGE", &images()?) };
    let one_image = |arg: &str| -> Result<u32, Error> { resolve::to_id(arg, "IMAGE", &images()?) };
    let act = |ids: &[u32], v: &'static str, action: ImageAction, io: &mut Io<'_>| {
        each(ids, "IMAGE", verb(v), io, |id| {
            pool.apply(caller, id, &action)
                .map(|_| ())
                .map_err(Error::from)
        })
    };
    match args.command {
        ImageCommand::Create(create) => create_image(pool, settings, create, io),
        ImageCommand::Clone {
            image,
            name,
            datastore,
        } => {
            let id = one_image(&image)?;
            let target = datastore
                .map(|d| resolve::to_id(&d, "DATASTORE", &pool.datastores(caller)?))
                .transpose()?;
            let progress = progress();
            let made = pool.clone_image(caller, id, &name, target, &progress)?;
            writeln!(io.out, "ID: {}", made.id)?;
            if verbose {
                writeln!(io.out, "IMAGE {id}: cloning")?;
            }
            match made.error {
                Some(message) => Err(Error::Fill { message }),
                None => Ok(()),
            }
        }
        ImageCommand::Delete { range, force } => act(
            &image_ids(&range)?,
            "deleting",
            ImageAction::Delete { force },
            io,
        ),
        ImageCommand::Persistent { range } => act(
            &image_ids(&range)?,
            "made persistent",
            ImageAction::Persistent(true),
            io,
        ),
        ImageCommand::Nonpersistent { range } => act(
            &image_ids(&range)?,
            "made non persistent",
            ImageAction::Persistent(false),
            io,
        ),
        ImageCommand::Enable { range } => {
            act(&image_ids(&range)?, "enabled", ImageAction::Enable, io)
        }
        ImageCommand::Disable { range } => {
            act(&image_ids(&range)?, "disabled", ImageAction::Disable, io)
        }
        ImageCommand::Chtype { range, image_type } => {
            let to: ImageType =
                ImageType::parse_create_option(&image_type).map_err(|e| Error::Argument {
                    message: e.to_string(),
                })?;
            act(
                &image_ids(&range)?,
                "Type changed",
                ImageAction::Chtype(to),
                io,
            )
        }
        ImageCommand::Chgrp { range, group } => {
            let owner = new_owner(settings, None, Some(&group))?;
            act(
                &image_ids(&range)?,
                "Group changed",
                ImageAction::Chown(owner),
                io,
            )
        }
        ImageCommand::Chown { range, user, group } => {
            let owner = new_owner(settings, Some(&user), group.as_deref())?;
            act(
                &image_ids(&range)?,
                "Owner/Group changed",
                ImageAction::Chown(owner),
                io,
            )
        }
        ImageCommand::Chmod { range, octet } => {
            let perms = resolve::octet(&octet)?;
            act(
                &image_ids(&range)?,
                "Permissions changed",
                ImageAction::Chmod(perms),
                io,
            )
        }
        ImageCommand::Rename { image, name } => {
            let id = one_image(&image)?;
            act(&[id], "renamed", ImageAction::Rename(name), io)
        }
        ImageCommand::Update {
            image,
            file,
            append,
        } => {
            let id = one_image(&image)?;
            let text = match read_template(file.as_deref(), io)? {
                Some(text) => text,
                None => {
                    let current = pool.image(caller, id)?;
                    let text = render::show::template_like_str(&current.template.sorted());
                    io.inputs.edit(&text)?
                }
            };
            let template = parse_template(&text, "one.image.update")?;
            act(
                &[id],
                "modified",
                ImageAction::Update { template, append },
                io,
            )
        }
        ImageCommand::Lock {
            range,
            use_,
            manage,
            admin,
            all,
        } => {
            let level = if use_ {
                LockRequest::Use
            } else if manage {
                LockRequest::Manage
            } else if admin {
                LockRequest::Admin
            } else if all {
                LockRequest::All
            } else {
                LockRequest::Use
            };
            act(
                &image_ids(&range)?,
                "Image locked",
                ImageAction::Lock(level),
                io,
            )
        }
        ImageCommand::Unlock { range } => act(
            &image_ids(&range)?,
            "Image unlocked",
            ImageAction::Unlock,
            io,
        ),
        ImageCommand::List {
            filterflag,
            list,
            backup,
        } => {
            let filter = resolve::filter_flag(filterflag.as_deref(), &settings.accounts)?;
            let mut shown = pool.images(caller, filter)?;
            if backup {
                shown.retain(|i| i.image_type == ImageType::Backup);
            }
            list_images(&shown, &list, io)
        }
        ImageCommand::Top {
            filterflag,
            delay,
            count,
            list,
        } => {
            let filter = resolve::filter_flag(filterflag.as_deref(), &settings.accounts)?;
            let delay = std::time::Duration::try_from_secs_f64(delay.max(0.0)).map_err(|e| {
                Error::Argument {
                    message: format!("bad delay: {e}"),
                }
            })?;
            let mut drawn = 0u64;
            while count.is_none_or(|c| drawn < c) {
                if drawn > 0 {
                    std::thread::sleep(delay);
                }
                // cli_helper.rb's scr_cls and scr_move(0, 0).
                io.out.write_all(b"\x1b[2J\x1b[H")?;
                list_images(&pool.images(caller, filter)?, &list, io)?;
                io.out.flush()?;
                drawn += 1;
            }
            Ok(())
        }
        ImageCommand::Show { image, doc, .. } => {
            let id = one_image(&image)?;
            let record = pool.image(caller, id)?;
            let text = match doc_format(&doc) {
                Some(format) => render::image_document(&record, format),
                None => render::image_show(&record, &io.tz, io.tty),
            };
            io.out.write_all(text.as_bytes())?;
            Ok(())
        }
        ImageCommand::Orphans => {
            // strata keeps no VM templates, so no image is referenced by one.
            for image in images()?
                .iter()
                .filter(|i| i.image_type != ImageType::Backup)
            {
                writeln!(io.out, "{}", image.id)?;
            }
            Ok(())
        }
        ImageCommand::SnapshotDelete { image, snapshot } => snapshot_action(
            pool,
            caller,
            &image,
            &snapshot,
            SnapshotAction::Delete,
            verb("deleting snapshot"),
            io,
            &images,
        ),
        ImageCommand::SnapshotRevert { image, snapshot } => snapshot_action(
            pool,
            caller,
            &image,
            &snapshot,
            SnapshotAction::Revert,
            verb("reverting image state"),
            io,
            &images,
        ),
        ImageCommand::SnapshotFlatten { image, snapshot } => snapshot_action(
            pool,
            caller,
            &image,
            &snapshot,
            SnapshotAction::Flatten,
            verb("flattening snapshot"),
            io,
            &images,
        ),
        ImageCommand::SnapshotCreate { image, name } => {
            let id = one_image(&image)?;
            let sid = pool.snapshot_create(caller, id, name.as_deref())?;
            writeln!(io.out, "ID: {sid}")?;
            Ok(())
        }
        ImageCommand::InstanceStart { image } => {
            let id = one_image(&image)?;
            let instance = pool.start_instance(caller, id)?;
            writeln!(io.out, "ID: {}", instance.id)?;
            writeln!(io.out, "PATH: {}", instance.overlay.display())?;
            Ok(())
        }
        ImageCommand::InstanceStop { instance, failed } => {
            pool.stop_instance(caller, instance, failed)?;
            if verbose {
                writeln!(io.out, "INSTANCE {instance}: stopped")?;
            }
            Ok(())
        }
        ImageCommand::InstanceList => {
            writeln!(io.out, "{:>4} {:>5} {:<8} PATH", "ID", "IMAGE", "USER")?;
            for i in pool.instances(caller)? {
                writeln!(
                    io.out,
                    "{:>4} {:>5} {:<8.8} {}",
                    i.id,
                    i.image,
                    settings.accounts.user_name(i.uid),
                    i.overlay.display()
                )?;
            }
            Ok(())
        }
        ImageCommand::Verify => {
            let checked = pool.verify()?;
            for removed in &checked.removed {
                writeln!(io.out, "removed {removed}")?;
            }
            for problem in &checked.problems {
                writeln!(io.err, "{problem}")?;
            }
            if checked.problems.is_empty() {
                writeln!(io.out, "pool {} is consistent", settings.pool_dir.display())?;
                Ok(())
            } else {
                Err(Error::Reported {
                    kind: Some(strata::ErrorKind::Corrupt),
                })
            }
        }
    }
}

/// The snapshot of image `image` that `snapshot` names (id or name, `oneimage_helper.rb`).
fn snapshot_id(record: &ImageRecord, snapshot: &str) -> Result<u32, Error> {
    let not_found = || Error::NotFound {
        message: format!("{snapshot} not found or duplicated"),
    };
    if !snapshot.is_empty() && snapshot.bytes().all(|b| b.is_ascii_digit()) {
        return snapshot.parse().map_err(|_| not_found());
    }
    let mut named = record.snapshots.list.iter().filter(|s| s.name == snapshot);
    match (named.next(), named.next()) {
        (Some(s), None) => Ok(s.id),
        _ => Err(not_found()),
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "one call site per snapshot command"
)]
fn snapshot_action(
    pool: &Pool,
    caller: &strata_model::one::Caller,
    image: &str,
    snapshot: &str,
    action: SnapshotAction,
    verbose: Option<&str>,
    io: &mut Io<'_>,
    images: &dyn Fn() -> Result<Vec<ImageRecord>, PoolError>,
) -> Result<(), Error> {
    let id = resolve::to_id(image, "IMAGE", &images()?)?;
    let record = pool.image(caller, id)?;
    let sid = snapshot_id(&record, snapshot)?;
    each(&[id], "IMAGE", verbose, io, |id| {
        pool.snapshot_action(caller, id, sid, action)
            .map_err(Error::from)
    })
}

fn list_images(images: &[ImageRecord], list: &ListArgs, io: &mut Io<'_>) -> Result<(), Error> {
    if let Some(format) = doc_format(&list.doc) {
        io.out
            .write_all(render::image_pool_document(images, format).as_bytes())?;
        return Ok(());
    }
    let options = list_options(list, io);
    let text = if list.describe {
        strata_cli::table::one::describe(render::lists::image_table().columns)
    } else {
        render::image_list(images, &options, &io.tz)?
    };
    io.out.write_all(text.as_bytes())?;
    Ok(())
}

/// `oneimage create`, as `src/cli/oneimage` does it.
fn create_image(
    pool: &Pool,
    settings: &Settings,
    args: CreateArgs,
    io: &mut Io<'_>,
) -> Result<(), Error> {
    if args.datastore.is_none() && !args.dry {
        return Err(Error::Argument {
            message: "Datastore to save the image is mandatory: \n\t -d datastore_id".to_owned(),
        });
    }
    let options = create_options(&args, &io.cwd)?;
    let given = read_template(args.file.as_deref(), io)?;
    let used = options.used();
    if given.is_some() && !used.is_empty() {
        return Err(Error::Argument {
            message: format!(
                "You cannot pass template on STDIN and use template creation options, \
                 conflicting options: {}.",
                used.join(", ")
            ),
        });
    }
    let text = match given {
        Some(text) => text,
        None => options.to_template(),
    };
    if args.dry {
        writeln!(io.out, "{text}")?;
        return Ok(());
    }
    let template = parse_template(&text, "one.image.allocate")?;
    let source_file = match template.get_single("PATH") {
        Some(path) if !path.is_empty() && !is_remote(path) => io.inputs.open_image(path)?,
        _ => None,
    };
    let caller = &settings.caller;
    let datastore = args.datastore.as_deref().unwrap_or_default();
    let datastore = resolve::to_id(datastore, "DATASTORE", &pool.datastores(caller)?)?;
    let progress = progress();
    let made = pool.create_image(
        caller,
        CreateImage {
            template,
            datastore,
            no_check_capacity: args.no_check_capacity,
            source_file,
        },
        &progress,
    )?;
    writeln!(io.out, "ID: {}", made.id)?;
    match made.error {
        Some(message) => Err(Error::Fill { message }),
        None => Ok(()),
    }
}

/// The template options of `create`, validated as the CLI validates them.
pub(crate) fn create_options(args: &CreateArgs, cwd: &Path) -> Result<CreateOptions, Error> {
    let image_type = args
        .image_type
        .as_deref()
        .map(ImageType::parse_create_option)
        .transpose()
        .map_err(|e| Error::Argument {
            message: e.to_string(),
        })?;
    let prefix = args
        .prefix
        .as_deref()
        .map(str::parse::<DevPrefix>)
        .transpose()
        .map_err(|e| Error::Argument {
            message: e.to_string(),
        })?;
    let path = args.path.as_deref().map(|p| absolute_path(p, cwd));
    Ok(CreateOptions {
        description: args.description.clone(),
        image_type,
        target: args.target.clone(),
        path,
        format: args.format.clone(),
        fs: args.fs.clone(),
        disk_type: args.disk_type.clone(),
        source: args.source.clone(),
        size_mb: args.size.as_deref().map(resolve::size_mb).transpose()?,
        name: args.name.clone(),
        persistent: args.persistent,
        prefix,
    })
}

/// `--path` as the CLI passes it: a relative path made absolute from the working directory,
/// unless it names a URL the drivers fetch.
pub(crate) fn absolute_path(path: &str, cwd: &Path) -> String {
    if is_remote(path) || Path::new(path).is_absolute() {
        return path.to_owned();
    }
    cwd.join(path).to_string_lossy().into_owned()
}

/// Whether `--path` names a URL the drivers fetch rather than a file.
pub fn is_remote(path: &str) -> bool {
    const REMOTE: [&str; 6] = ["http://", "https://", "ssh://", "s3://", "rbd://", "lxd://"];
    REMOTE.iter().any(|p| path.starts_with(p))
}

/// Opens `$EDITOR` (default `vi`) on `text` and returns what was saved.
pub fn edit(text: &str) -> Result<String, Error> {
    let fail = |message: String| Error::Editor { message };
    let mut file = tempfile::Builder::new()
        .prefix("one_template")
        .tempfile()
        .map_err(|e| fail(format!("Cannot create a temporary file: {e}")))?;
    // A last line ends with a newline, so that an editor (or a script) appends on a line of
    // its own.
    let mut text = text.to_owned();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    file.write_all(text.as_bytes())
        .map_err(|e| fail(format!("Cannot write a temporary file: {e}")))?;
    let editor = std::env::var("EDITOR").unwrap_or_else(|_| "vi".to_owned());
    let mut words = editor.split_whitespace();
    let program = words.next().unwrap_or("vi");
    let status = std::process::Command::new(program)
        .args(words)
        .arg(file.path())
        .status()
        .map_err(|e| fail(format!("Cannot run the editor {editor}: {e}")))?;
    if !status.success() {
        return Err(fail(format!("The editor {editor} failed: {status}")));
    }
    std::fs::read_to_string(file.path()).map_err(|source| Error::Read {
        path: file.path().to_owned(),
        source,
    })
}

fn datastore_view(info: &DatastoreInfo) -> DatastoreView<'_> {
    DatastoreView {
        record: &info.record,
        capacity: info.capacity,
        image_ids: &info.images,
    }
}

/// Runs `onedatastore` on `pool`.
pub fn run_datastore(
    args: OneDatastore,
    pool: &Pool,
    settings: &Settings,
    io: &mut Io<'_>,
) -> Result<(), Error> {
    let caller = &settings.caller;
    let verbose = args.verbose;
    let verb = |v: &'static str| verbose.then_some(v);
    let all = || pool.datastores(caller);
    let ds_ids =
        |range: &str| -> Result<Vec<u32>, Error> { resolve::ids(range, "DATASTORE", &all()?) };
    let one_ds = |arg: &str| -> Result<u32, Error> { resolve::to_id(arg, "DATASTORE", &all()?) };
    let each_ds = |ids: &[u32],
                   v: &'static str,
                   io: &mut Io<'_>,
                   f: &dyn Fn(u32) -> Result<(), PoolError>| {
        each(ids, "DATASTORE", verb(v), io, |id| {
            f(id).map_err(Error::from)
        })
    };
    match args.command {
        DatastoreCommand::Create { file } => {
            let Some(text) = read_template(file.as_deref(), io)? else {
                return Err(Error::Argument {
                    message: "A template file is needed to create a Datastore".to_owned(),
                });
            };
            let template = parse_template(&text, "one.datastore.allocate")?;
            let id = pool.create_datastore(caller, NewDatastore { template })?;
            writeln!(io.out, "ID: {id}")?;
            Ok(())
        }
        DatastoreCommand::Delete { range } => each_ds(&ds_ids(&range)?, "deleted", io, &|id| {
            pool.delete_datastore(caller, id)
        }),
        DatastoreCommand::Chgrp { range, group } => {
            let owner = new_owner(settings, None, Some(&group))?;
            each_ds(&ds_ids(&range)?, "Group changed", io, &|id| {
                pool.chown_datastore(caller, id, &owner)
            })
        }
        DatastoreCommand::Chown { range, user, group } => {
            let owner = new_owner(settings, Some(&user), group.as_deref())?;
            each_ds(&ds_ids(&range)?, "Owner/Group changed", io, &|id| {
                pool.chown_datastore(caller, id, &owner)
            })
        }
        DatastoreCommand::Chmod { range, octet } => {
            let perms = resolve::octet(&octet)?;
            each_ds(&ds_ids(&range)?, "Permissions changed", io, &|id| {
                pool.chmod_datastore(caller, id, perms)
            })
        }
        DatastoreCommand::List { list } => {
            let infos = all()?;
            let views: Vec<DatastoreView<'_>> = infos.iter().map(datastore_view).collect();
            if let Some(format) = doc_format(&list.doc) {
                io.out
                    .write_all(render::datastore_pool_document(&views, format).as_bytes())?;
                return Ok(());
            }
            let text = if list.describe {
                strata_cli::table::one::describe(render::lists::datastore_table().columns)
            } else {
                render::datastore_list(&views, &list_options(&list, io))?
            };
            io.out.write_all(text.as_bytes())?;
            Ok(())
        }
        DatastoreCommand::Show { datastore, doc } => {
            let id = one_ds(&datastore)?;
            let info = pool.datastore(caller, id)?;
            let view = datastore_view(&info);
            let text = match doc_format(&doc) {
                Some(format) => render::datastore_document(&view, format),
                None => render::datastore_show(&view, io.tty),
            };
            io.out.write_all(text.as_bytes())?;
            Ok(())
        }
        DatastoreCommand::Update {
            datastore,
            file,
            append,
        } => {
            let id = one_ds(&datastore)?;
            let text = match read_template(file.as_deref(), io)? {
                Some(text) => text,
                None => {
                    let current = pool.datastore(caller, id)?;
                    let text = render::show::template_like_str(&current.record.template.sorted());
                    io.inputs.edit(&text)?
                }
            };
            let template = parse_template(&text, "one.datastore.update")?;
            each_ds(&[id], "modified", io, &|id| {
                pool.update_datastore(caller, id, &template, append)
            })
        }
        DatastoreCommand::Rename { datastore, name } => {
            let id = one_ds(&datastore)?;
            each_ds(&[id], "renamed", io, &|id| {
                pool.rename_datastore(caller, id, &name)
            })
        }
        DatastoreCommand::Enable { range } => each_ds(&ds_ids(&range)?, "enabled", io, &|id| {
            pool.enable_datastore(caller, id, true)
        }),
        DatastoreCommand::Disable { range } => each_ds(&ds_ids(&range)?, "disabled", io, &|id| {
            pool.enable_datastore(caller, id, false)
        }),
    }
}
