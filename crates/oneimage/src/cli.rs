//! The command lines of `oneimage` and `onedatastore`: OpenNebula's subcommands, arguments and
//! options (OpenNebula/one `src/cli/oneimage`, `src/cli/onedatastore`, `one_helper.rb`,
//! `oneimage_helper.rb`, `cli_helper.rb`), parsed by clap.
//!
//! Arguments stay text here (`1,8..15`, a name, `u=rw`): [`crate::resolve`] reads them as
//! OpenNebula does, against the pool.

use clap::{Args, Parser, Subcommand};

/// `oneimage`: manages OpenNebula images.
#[derive(Debug, Parser)]
#[command(
    name = "oneimage",
    version,
    about = "Manages OpenNebula images",
    disable_help_subcommand = true
)]
pub struct OneImage {
    /// Verbose mode: says what each command did (`IMAGE 3: enabled`).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// The command.
    #[command(subcommand)]
    pub command: ImageCommand,
}

/// `onedatastore`: manages OpenNebula datastores.
#[derive(Debug, Parser)]
#[command(
    name = "onedatastore",
    version,
    about = "Manages OpenNebula datastores",
    disable_help_subcommand = true
)]
pub struct OneDatastore {
    /// Verbose mode: says what each command did (`DATASTORE 100: renamed`).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// The command.
    #[command(subcommand)]
    pub command: DatastoreCommand,
}

/// `strata-oned`: the daemon of a shared pool (see the `daemon` module).
#[derive(Debug, Parser)]
#[command(
    name = "strata-oned",
    version,
    about = "Serves a shared OpenNebula-style pool to oneimage and onedatastore",
    disable_help_subcommand = true
)]
pub struct StrataOned {
    /// The pool's directory, owned by the user the daemon runs as.
    #[arg(long, default_value = "/var/lib/strata/one")]
    pub pool: std::path::PathBuf,
    /// The unix socket clients connect to.
    #[arg(long, default_value = crate::settings::DEFAULT_SOCKET)]
    pub socket: std::path::PathBuf,
    /// Members of this group act as oneadmin (as root does).
    #[arg(long, default_value = "oneadmin")]
    pub admin_group: String,
    /// Where OpenNebula's XML-RPC API listens, for pyone programs (`off`: nowhere). Loopback
    /// only: the sessions' passwords travel in clear.
    #[arg(long, default_value = "127.0.0.1:2633")]
    pub xmlrpc: String,
    /// The XML-RPC users' password file (`name:bcrypt-hash` lines).
    #[arg(long, default_value = "/etc/strata/one_auth")]
    pub users: std::path::PathBuf,
    /// Logs each request (-v), and more (-vv).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Instead of serving: sets a user's XML-RPC password.
    #[command(subcommand)]
    pub command: Option<OnedCommand>,
}

/// What `strata-oned` does instead of serving.
#[derive(Debug, Subcommand)]
pub enum OnedCommand {
    /// Sets USER's XML-RPC password (read from standard input, one line) in the `--users` file;
    /// USER must be an account of this machine.
    Passwd {
        /// The user.
        user: String,
    },
}

/// The subcommands of `oneimage`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Creates a new Image: from a template file, standard input, or the template options.
    Create(CreateArgs),
    /// Creates a new Image from an existing one.
    Clone {
        /// The Image (name or id).
        image: String,
        /// The new Image's name.
        name: String,
        /// The datastore of the new Image (name or id); the source's by default.
        #[arg(short = 'd', long)]
        datastore: Option<String>,
    },
    /// Deletes the given Images.
    Delete {
        /// `1,8..15`, or names and ids separated by commas.
        range: String,
        /// Deletes a locked Image (admins only).
        #[arg(long)]
        force: bool,
    },
    /// Makes the given Images persistent.
    Persistent {
        /// `1,8..15`, or names and ids separated by commas.
        range: String,
    },
    /// Makes the given Images non persistent.
    Nonpersistent {
        /// `1,8..15`, or names and ids separated by commas.
        range: String,
    },
    /// Updates the template; with no file, $EDITOR opens it.
    Update {
        /// The Image (name or id).
        image: String,
        /// The file with the new attributes.
        file: Option<String>,
        /// Appends the attributes instead of replacing the template.
        #[arg(short, long)]
        append: bool,
    },
    /// Enables the given Images.
    Enable {
        /// `1,8..15`, or names and ids separated by commas.
        range: String,
    },
    /// Disables the given Images.
    Disable {
        /// `1,8..15`, or names and ids separated by commas.
        range: String,
    },
    /// Changes the type of the given Images.
    Chtype {
        /// `1,8..15`, or names and ids separated by commas.
        range: String,
        /// OS, CDROM, DATABLOCK, KERNEL, RAMDISK, CONTEXT, BACKUP or FILESYSTEM.
        #[arg(name = "TYPE")]
        image_type: String,
    },
    /// Changes the group of the given Images.
    Chgrp {
        /// `1,8..15`, or names and ids separated by commas.
        range: String,
        /// The group (name or id).
        group: String,
    },
    /// Changes the owner (and group) of the given Images.
    Chown {
        /// `1,8..15`, or names and ids separated by commas.
        range: String,
        /// The user (name or id).
        user: String,
        /// The group (name or id).
        group: Option<String>,
    },
    /// Changes the permissions of the given Images.
    Chmod {
        /// `1,8..15`, or names and ids separated by commas.
        range: String,
        /// `640` or `u=rw,g=r,o=`.
        octet: String,
    },
    /// Renames the Image.
    Rename {
        /// The Image (name or id).
        image: String,
        /// The new name.
        name: String,
    },
    /// Lists Images in the pool.
    List {
        /// a|all, m|mine, g|group, G|primary group, a uid or a user name.
        filterflag: Option<String>,
        /// The list options.
        #[command(flatten)]
        list: ListArgs,
        /// Shows only backup Images (`TYPE=BK`).
        #[arg(long)]
        backup: bool,
    },
    /// Lists Images continuously, redrawing the screen every `--delay` seconds.
    Top {
        /// a|all, m|mine, g|group, G|primary group, a uid or a user name.
        filterflag: Option<String>,
        /// Seconds between two redraws.
        #[arg(short = 'd', long, default_value_t = 1.0)]
        delay: f64,
        /// How many times to draw (strata's own; by default until interrupted).
        #[arg(long, hide = true)]
        count: Option<u64>,
        /// The list options.
        #[command(flatten)]
        list: ListArgs,
    },
    /// Shows information for the given Image.
    Show {
        /// The Image (name or id).
        image: String,
        /// The document options.
        #[command(flatten)]
        doc: DocArgs,
        /// Decrypts secret attributes (there are none in an image).
        #[arg(long)]
        decrypt: bool,
    },
    /// Locks Images to prevent certain actions.
    Lock {
        /// `1,8..15`, or names and ids separated by commas.
        range: String,
        /// Locks Use, Manage and Admin actions (the default).
        #[arg(long = "use")]
        use_: bool,
        /// Locks Manage and Admin actions.
        #[arg(long)]
        manage: bool,
        /// Locks Admin actions.
        #[arg(long)]
        admin: bool,
        /// Locks every action.
        #[arg(long)]
        all: bool,
    },
    /// Unlocks Images.
    Unlock {
        /// `1,8..15`, or names and ids separated by commas.
        range: String,
    },
    /// Deletes a snapshot of the Image.
    #[command(name = "snapshot-delete")]
    SnapshotDelete {
        /// The Image (name or id).
        image: String,
        /// The snapshot (id or name).
        snapshot: String,
    },
    /// Reverts the Image to a snapshot.
    #[command(name = "snapshot-revert")]
    SnapshotRevert {
        /// The Image (name or id).
        image: String,
        /// The snapshot (id or name).
        snapshot: String,
    },
    /// Flattens the Image to a snapshot and deletes every snapshot.
    #[command(name = "snapshot-flatten")]
    SnapshotFlatten {
        /// The Image (name or id).
        image: String,
        /// The snapshot (id or name).
        snapshot: String,
    },
    /// strata's own: takes a snapshot of a READY persistent Image (OpenNebula takes them from
    /// running VMs).
    #[command(name = "snapshot-create")]
    SnapshotCreate {
        /// The Image (name or id).
        image: String,
        /// The snapshot's name.
        name: Option<String>,
    },
    /// strata's own: starts an instance of the Image (a qcow2 overlay a VM runs on), which uses
    /// it as a VM does.
    #[command(name = "instance-start")]
    InstanceStart {
        /// The Image (name or id).
        image: String,
    },
    /// strata's own: stops an instance; a persistent Image gets its changes.
    #[command(name = "instance-stop")]
    InstanceStop {
        /// The instance's id.
        instance: u32,
        /// The VM failed: a persistent Image goes to ERROR and gets nothing.
        #[arg(long)]
        failed: bool,
    },
    /// strata's own: lists the instances you started (every one, for an admin).
    #[command(name = "instance-list")]
    InstanceList,
    /// Shows orphan Images (not referenced by any template).
    Orphans,
    /// strata's own: settles interrupted operations and checks that records and files agree.
    Verify,
}

/// The template options of `oneimage create` (`OneImageHelper::TEMPLATE_OPTIONS`).
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// A template file; a template on standard input is read too.
    pub file: Option<String>,
    /// The datastore (name or id); mandatory unless `--dry`.
    #[arg(short = 'd', long)]
    pub datastore: Option<String>,
    /// Name of the new image.
    #[arg(long)]
    pub name: Option<String>,
    /// Does not check the datastore's capacity (admins only).
    #[arg(long = "no_check_capacity")]
    pub no_check_capacity: bool,
    /// Description for the new Image.
    #[arg(long)]
    pub description: Option<String>,
    /// Type of the new Image: OS, CDROM, DATABLOCK, KERNEL, RAMDISK, CONTEXT, BACKUP, FILESYSTEM.
    #[arg(long = "type")]
    pub image_type: Option<String>,
    /// Tells if the image will be persistent.
    #[arg(long)]
    pub persistent: bool,
    /// Device prefix for the disk (hd, sd, xvd or vd).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Device the disk will be attached to.
    #[arg(long)]
    pub target: Option<String>,
    /// Path of the image file.
    #[arg(long)]
    pub path: Option<String>,
    /// Format of the image (raw, qcow2, ...).
    #[arg(long)]
    pub format: Option<String>,
    /// Type of file system to be built (ext2, ext3, ext4, xfs).
    #[arg(long)]
    pub fs: Option<String>,
    /// Type of the image (BLOCK, CDROM, RBD or FILE).
    #[arg(long = "disk_type")]
    pub disk_type: Option<String>,
    /// Source to be used (admins only).
    #[arg(long)]
    pub source: Option<String>,
    /// Size in MB (`10`, `10m`, `1.5g`).
    #[arg(long)]
    pub size: Option<String>,
    /// Prints the template, creates nothing.
    #[arg(long)]
    pub dry: bool,
}

/// The `-x`/`-j`/`-y` options.
#[derive(Debug, Args, Default)]
pub struct DocArgs {
    /// Shows the resource in XML format.
    #[arg(short = 'x', long)]
    pub xml: bool,
    /// Shows the resource in JSON format.
    #[arg(short = 'j', long)]
    pub json: bool,
    /// Shows the resource in YAML format.
    #[arg(short = 'y', long)]
    pub yaml: bool,
}

/// The list options (`CLIHelper::OPTIONS` and `OpenNebulaHelper::OPTIONS`).
#[derive(Debug, Args, Default)]
pub struct ListArgs {
    /// Selects columns to display with list command (`-l ID,NAME`).
    #[arg(short = 'l', long = "list")]
    pub list: Option<String>,
    /// Filters with `COL<op>VAL` (ops `=`, `!=`, `<`, `<=`, `>`, `>=`, `~`), comma separated.
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// The operator joining the filters: AND (default) or OR.
    #[arg(long)]
    pub operator: Option<String>,
    /// Writes the table in CSV format.
    #[arg(long)]
    pub csv: bool,
    /// The CSV delimiter.
    #[arg(long = "csv-del")]
    pub csv_del: Option<String>,
    /// Disables the pager (there is none).
    #[arg(long = "no-pager")]
    pub no_pager: bool,
    /// Hides the header of the table.
    #[arg(long = "no-header")]
    pub no_header: bool,
    /// Columns not truncated, comma separated.
    #[arg(long)]
    pub adjust: Option<String>,
    /// Column widths, `COL=N` comma separated.
    #[arg(short = 's', long = "size")]
    pub size: Option<String>,
    /// Columns that grow to the terminal's width, comma separated.
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    pub expand: Option<String>,
    /// Columns do not grow to the terminal's width.
    #[arg(long = "no-expand")]
    pub no_expand: bool,
    /// Shows user and group ids instead of names.
    #[arg(short = 'n', long)]
    pub numeric: bool,
    /// Describes the list columns.
    #[arg(long)]
    pub describe: bool,
    /// The document options.
    #[command(flatten)]
    pub doc: DocArgs,
}

/// The subcommands of `onedatastore`.
#[derive(Debug, Subcommand)]
pub enum DatastoreCommand {
    /// Creates a new Datastore from a template file.
    Create {
        /// The template file (or standard input).
        file: Option<String>,
    },
    /// Deletes the given Datastores.
    Delete {
        /// `100,101..105`, or names and ids separated by commas.
        range: String,
    },
    /// Changes the group of the given Datastores.
    Chgrp {
        /// `100,101..105`, or names and ids separated by commas.
        range: String,
        /// The group (name or id).
        group: String,
    },
    /// Changes the owner (and group) of the given Datastores.
    Chown {
        /// `100,101..105`, or names and ids separated by commas.
        range: String,
        /// The user (name or id).
        user: String,
        /// The group (name or id).
        group: Option<String>,
    },
    /// Changes the permissions of the given Datastores.
    Chmod {
        /// `100,101..105`, or names and ids separated by commas.
        range: String,
        /// `640` or `u=rw,g=r,o=`.
        octet: String,
    },
    /// Lists Datastores in the pool.
    List {
        /// The list options.
        #[command(flatten)]
        list: ListArgs,
    },
    /// Shows information for the given Datastore.
    Show {
        /// The Datastore (name or id).
        datastore: String,
        /// The document options.
        #[command(flatten)]
        doc: DocArgs,
    },
    /// Updates the template; with no file, $EDITOR opens it.
    Update {
        /// The Datastore (name or id).
        datastore: String,
        /// The file with the new attributes.
        file: Option<String>,
        /// Appends the attributes instead of replacing the template.
        #[arg(short, long)]
        append: bool,
    },
    /// Renames the Datastore.
    Rename {
        /// The Datastore (name or id).
        datastore: String,
        /// The new name.
        name: String,
    },
    /// Enables the given (system) Datastores.
    Enable {
        /// `100,101..105`, or names and ids separated by commas.
        range: String,
    },
    /// Disables the given (system) Datastores.
    Disable {
        /// `100,101..105`, or names and ids separated by commas.
        range: String,
    },
}
