//! The build VM's kernel and initramfs, assembled by `cargo xtask setup` from Debian packages
//! only, as strata-build's recipe (`strata_build::vm::assets`) says; docs/build-vm.md describes
//! the result.
//!
//! Nothing is installed on the host: the packages are fetched with `apt-get download` (which
//! checks them against the archive's signed indexes) and unpacked with `dpkg-deb -x` into a
//! work directory. The initramfs gets the recipe's tools with the shared libraries the
//! packages' own dynamic loader lists for them (`ld.so --list`, the mechanism of `ldd`), the
//! links of busybox's other applets, the recipe's kernel modules with those they depend on
//! (`modules.dep` from busybox's depmod) and the guest's two scripts. It is written as an
//! uncompressed newc cpio archive in a fixed order with fixed owners and times, so the same
//! packages give the same bytes. Everything goes to a temporary directory beside the cache
//! directory, renamed into place when complete: an interrupted setup leaves no half assembly.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use strata_build::vm::assets::{
    self, AGENT_PATH, AGENT_SCRIPT, Assets, INIT_SCRIPT, INITRAMFS_FILE, KERNEL_FILE,
    KERNEL_PACKAGE, MANIFEST_FILE, MODULES, PACKAGES, TOOLS,
};

use crate::cmd;

/// Where the assets of the current recipe go, for people.
pub(crate) fn describe() -> String {
    match Assets::default_dir() {
        Ok(dir) => format!("kernel and initramfs are in {}", dir.display()),
        Err(err) => format!("kernel and initramfs are in the cache ({err})"),
    }
}

/// Whether the assets of the current recipe are there.
pub(crate) fn present() -> bool {
    Assets::locate().is_ok()
}

/// Assembles the assets of the current recipe unless they are there. `apt_update` refreshes
/// apt's package lists (as root); it runs only if a download fails.
pub(crate) fn assemble(apt_update: &dyn Fn() -> Result<()>) -> Result<()> {
    let dir = Assets::default_dir()?;
    if Assets::in_dir(&dir).check().is_ok() {
        eprintln!("setup: the build VM is already in {}", dir.display());
        return Ok(());
    }
    let parent = dir
        .parent()
        .context("the build VM's cache directory has no parent")?;
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let work = WorkDir::create(parent.join(format!(".assembling-{}", std::process::id())))?;

    let debs = work.path.join("debs");
    let root = work.path.join("root");
    let tree = work.path.join("initramfs");
    let out = work.path.join("out");
    for path in [&debs, &root, &tree, &out] {
        fs::create_dir(path).with_context(|| format!("cannot create {}", path.display()))?;
    }

    download(&debs, apt_update)?;
    let deb_files = files_with_extension(&debs, "deb")?;
    for deb in &deb_files {
        cmd::run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&root))?;
    }
    let release = kernel_release(&root)?;
    let busybox = root.join("bin/busybox");
    cmd::run(
        Command::new(&busybox)
            .arg("depmod")
            .arg("-b")
            .arg(&root)
            .arg(&release),
    )?;

    let mut builder = TreeBuilder::new(&root, &tree);
    for dir in [
        "bin", "sbin", "usr/bin", "usr/sbin", "lib", "lib64", "etc", "dev", "proc", "sys", "run",
        "tmp", "mnt", "root",
    ] {
        builder.dir(dir)?;
    }
    for tool in TOOLS {
        builder.add_program(tool)?;
    }
    builder.add_busybox_links(&busybox)?;
    builder.add_modules(&release)?;
    builder.write("init", INIT_SCRIPT.as_bytes(), 0o755)?;
    builder.write(AGENT_PATH, AGENT_SCRIPT.as_bytes(), 0o755)?;
    builder.write("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)?;
    builder.write("etc/group", b"root:x:0:\n", 0o644)?;
    builder.symlink("etc/mtab", "/proc/self/mounts")?;
    cmd::run(
        Command::new(&busybox)
            .arg("depmod")
            .arg("-b")
            .arg(&tree)
            .arg(&release),
    )?;

    let initramfs = out.join(INITRAMFS_FILE);
    let entries = write_cpio(&tree, &initramfs)?;
    let kernel = root.join("boot").join(format!("vmlinuz-{release}"));
    fs::copy(&kernel, out.join(KERNEL_FILE))
        .with_context(|| format!("cannot copy {}", kernel.display()))?;
    fs::write(
        out.join(MANIFEST_FILE),
        manifest(&release, &deb_files, builder.libraries.len())?,
    )
    .context("cannot write the build VM's manifest")?;

    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    fs::rename(&out, &dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let size = fs::metadata(dir.join(INITRAMFS_FILE))
        .map(|m| m.len())
        .unwrap_or(0);
    eprintln!(
        "setup: build VM assembled in {}: kernel {release}, initramfs of {entries} entries \
         ({:.1} MB), {} shared libraries",
        dir.display(),
        size as f64 / 1e6,
        builder.libraries.len()
    );
    Ok(())
}

/// A work directory, removed with everything in it when dropped.
struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    fn create(path: PathBuf) -> Result<WorkDir> {
        if path.exists() {
            fs::remove_dir_all(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
        fs::create_dir(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(WorkDir { path })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// `apt-get download` of the kernel metapackage, then of the kernel package it names and of
/// the recipe's packages, into `debs`; one `apt-get update` and a retry if a download fails.
fn download(debs: &Path, apt_update: &dyn Fn() -> Result<()>) -> Result<()> {
    let get = |packages: &[&str]| -> Result<()> {
        if apt_get_download(debs, packages).is_ok() {
            return Ok(());
        }
        eprintln!("setup: the download failed; updating apt's package lists and trying again");
        apt_update()?;
        apt_get_download(debs, packages)
    };
    get(&[KERNEL_PACKAGE])?;
    let meta = files_with_extension(debs, "deb")?
        .into_iter()
        .find(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{KERNEL_PACKAGE}_")))
        })
        .with_context(|| format!("apt-get download left no {KERNEL_PACKAGE} package"))?;
    let depends = deb_field(&meta, "Depends")?;
    let kernel = kernel_dependency(&depends)
        .with_context(|| format!("{KERNEL_PACKAGE} depends on no linux-image: {depends:?}"))?;
    let mut packages = vec![kernel.as_str()];
    packages.extend_from_slice(PACKAGES);
    get(&packages)
}

/// `apt-get download PACKAGES` in `dir`.
fn apt_get_download(dir: &Path, packages: &[&str]) -> Result<()> {
    let mut apt = Command::new("apt-get");
    apt.current_dir(dir).arg("-q");
    if crate::setup::effective_uid() == Some(0) {
        // As root, apt drops to its sandbox user, which cannot write here.
        apt.args(["-o", "APT::Sandbox::User=root"]);
    }
    cmd::run(apt.arg("download").args(packages))
}

/// The versioned kernel package in a metapackage's `Depends`
/// (`linux-image-6.1.0-57-cloud-amd64 (= 6.1.192-3)` gives `linux-image-6.1.0-57-cloud-amd64`).
fn kernel_dependency(depends: &str) -> Option<String> {
    depends
        .split([',', '|'])
        .map(|dep| dep.split_whitespace().next().unwrap_or(""))
        .find(|name| name.starts_with("linux-image-"))
        .map(str::to_owned)
}

/// One control field of a `.deb` (`dpkg-deb -f`).
fn deb_field(deb: &Path, field: &str) -> Result<String> {
    let out = cmd::probe(Command::new("dpkg-deb").arg("-f").arg(deb).arg(field))
        .context("cannot run dpkg-deb")?;
    if !out.status.success() {
        bail!(
            "dpkg-deb -f {} {field} failed: {}",
            deb.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The files of `dir` ending in `.ext`, sorted.
fn files_with_extension(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == ext) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The one kernel release under `root/lib/modules`.
fn kernel_release(root: &Path) -> Result<String> {
    let modules = root.join("lib/modules");
    let mut releases = Vec::new();
    for entry in
        fs::read_dir(&modules).with_context(|| format!("cannot list {}", modules.display()))?
    {
        releases.push(entry?.file_name().to_string_lossy().into_owned());
    }
    match releases.as_slice() {
        [release] => Ok(release.clone()),
        _ => bail!(
            "expected one kernel under {}, found {releases:?}",
            modules.display()
        ),
    }
}

/// The manifest: the recipe, the kernel release and every package with its version.
fn manifest(release: &str, debs: &[PathBuf], libraries: usize) -> Result<String> {
    let mut text = format!(
        "# strata build VM, assembled by `cargo xtask setup` (xtask/src/build_vm.rs)\n\
         recipe {}\nkernel {release}\nshared-libraries {libraries}\n",
        assets::recipe_hash()
    );
    for deb in debs {
        let package = deb_field(deb, "Package")?;
        let version = deb_field(deb, "Version")?;
        text.push_str(&format!("package {package} {version}\n"));
    }
    Ok(text)
}

/// Builds the initramfs's tree on disk from the unpacked packages.
struct TreeBuilder<'a> {
    /// The unpacked packages.
    root: &'a Path,
    /// The initramfs's tree.
    tree: &'a Path,
    /// The packages' dynamic loader and its library path.
    loader: Option<(PathBuf, String)>,
    /// Paths (relative) already in the tree.
    added: BTreeSet<String>,
    /// Shared libraries added (relative paths).
    libraries: BTreeSet<String>,
}

impl<'a> TreeBuilder<'a> {
    fn new(root: &'a Path, tree: &'a Path) -> TreeBuilder<'a> {
        TreeBuilder {
            root,
            tree,
            loader: None,
            added: BTreeSet::new(),
            libraries: BTreeSet::new(),
        }
    }

    /// Makes the directory `rel` (and its parents) in the tree.
    fn dir(&mut self, rel: &str) -> Result<()> {
        let path = self.tree.join(rel);
        fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))
    }

    /// Writes a file of the tree.
    fn write(&mut self, rel: &str, bytes: &[u8], mode: u32) -> Result<()> {
        let path = self.tree.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot chmod {}", path.display()))?;
        self.added.insert(rel.to_owned());
        Ok(())
    }

    /// Makes the symbolic link `rel` -> `target` in the tree.
    fn symlink(&mut self, rel: &str, target: &str) -> Result<()> {
        let path = self.tree.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        symlink(target, &path).with_context(|| format!("cannot create {}", path.display()))?;
        self.added.insert(rel.to_owned());
        Ok(())
    }

    /// Copies `rel` from the packages as it is there: a link as a link (and what it points to),
    /// a file with its permission bits (not setuid: everything runs as root).
    fn copy(&mut self, rel: &str) -> Result<()> {
        let rel = rel.trim_start_matches('/');
        if self.added.contains(rel) {
            return Ok(());
        }
        let src = self.root.join(rel);
        let meta =
            fs::symlink_metadata(&src).with_context(|| format!("{rel}: not in the packages"))?;
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&src)
                .with_context(|| format!("cannot read the link {}", src.display()))?;
            let target_text = target
                .to_str()
                .with_context(|| format!("{rel}: link target is not UTF-8"))?
                .to_owned();
            self.symlink(rel, &target_text)?;
            let resolved = resolve_link(rel, &target_text)?;
            return self.copy(&resolved);
        }
        let bytes = fs::read(&src).with_context(|| format!("cannot read {}", src.display()))?;
        self.write(rel, &bytes, meta.mode() & 0o777)
    }

    /// Copies a program and, if it is dynamically linked, its loader and shared libraries.
    fn add_program(&mut self, rel: &str) -> Result<()> {
        self.copy(rel)?;
        let real = resolve_in_root(self.root, rel)?;
        let path = self.root.join(&real);
        let Some(interpreter) = elf_interpreter(&path)? else {
            return Ok(()); // static, or a script
        };
        self.copy(&interpreter)?;
        for library in self.list_libraries(&path, &interpreter)? {
            if self.libraries.insert(library.clone()) {
                self.copy(&library)?;
            }
        }
        Ok(())
    }

    /// The shared libraries `program` needs, relative to the packages' root, as the packages'
    /// own loader finds them in the packages' library directories (never the host's).
    fn list_libraries(&mut self, program: &Path, interpreter: &str) -> Result<Vec<String>> {
        if self.loader.is_none() {
            let loader = self.root.join(resolve_in_root(self.root, interpreter)?);
            let dirs = [
                "lib/x86_64-linux-gnu",
                "usr/lib/x86_64-linux-gnu",
                "lib",
                "usr/lib",
            ];
            let path = dirs
                .iter()
                .map(|d| self.root.join(d).display().to_string())
                .collect::<Vec<_>>()
                .join(":");
            self.loader = Some((loader, path));
        }
        let Some((loader, library_path)) = &self.loader else {
            bail!("no dynamic loader");
        };
        let out = cmd::probe(
            Command::new(loader)
                .arg("--library-path")
                .arg(library_path)
                .arg("--list")
                .arg(program)
                .env_clear(),
        )
        .with_context(|| format!("cannot run {}", loader.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "{} --list {} failed ({}): {}{}",
                loader.display(),
                program.display(),
                out.status,
                text,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        parse_library_list(&text, self.root)
    }

    /// A link to busybox for each of its applets whose name no copied tool has.
    fn add_busybox_links(&mut self, busybox: &Path) -> Result<()> {
        let out = cmd::probe(Command::new(busybox).arg("--list-full"))
            .context("cannot run busybox --list-full")?;
        if !out.status.success() {
            bail!("busybox --list-full failed ({})", out.status);
        }
        let taken: BTreeSet<String> = TOOLS
            .iter()
            .filter_map(|tool| Path::new(tool).file_name())
            .map(|name| name.to_string_lossy().into_owned())
            .collect();
        for applet in String::from_utf8_lossy(&out.stdout).lines() {
            let applet = applet.trim().trim_start_matches('/');
            let Some(name) = Path::new(applet).file_name() else {
                continue;
            };
            if applet.is_empty()
                || taken.contains(name.to_string_lossy().as_ref())
                || self.added.contains(applet)
            {
                continue;
            }
            self.symlink(applet, "/bin/busybox")?;
        }
        Ok(())
    }

    /// The recipe's kernel modules and those they depend on, with `modules.builtin` and
    /// `modules.order` (busybox's depmod then indexes them in the tree).
    fn add_modules(&mut self, release: &str) -> Result<()> {
        let base = format!("lib/modules/{release}");
        let dep_path = self.root.join(&base).join("modules.dep");
        let deps = parse_modules_dep(
            &fs::read_to_string(&dep_path)
                .with_context(|| format!("cannot read {}", dep_path.display()))?,
        );
        for module in module_closure(&deps, MODULES)? {
            self.copy(&format!("{base}/{module}"))?;
        }
        for index in [
            "modules.builtin",
            "modules.builtin.modinfo",
            "modules.order",
        ] {
            self.copy(&format!("{base}/{index}"))?;
        }
        Ok(())
    }
}

/// `modules.dep`: each module's path and the paths of the modules it needs.
fn parse_modules_dep(text: &str) -> BTreeMap<String, Vec<String>> {
    text.lines()
        .filter_map(|line| {
            let (module, needs) = line.split_once(':')?;
            Some((
                module.trim().to_owned(),
                needs.split_whitespace().map(str::to_owned).collect(),
            ))
        })
        .collect()
}

/// The paths of the modules named `names` (file names without `.ko`, `-` and `_` alike) and
/// of every module they need, transitively; fails naming a module that is not there.
fn module_closure(deps: &BTreeMap<String, Vec<String>>, names: &[&str]) -> Result<Vec<String>> {
    let normal = |s: &str| s.replace('-', "_");
    let mut todo = Vec::new();
    for name in names {
        let wanted = format!("{}.ko", normal(name));
        let path = deps
            .keys()
            .find(|path| {
                Path::new(path.as_str())
                    .file_name()
                    .is_some_and(|f| normal(&f.to_string_lossy()) == wanted)
            })
            .with_context(|| format!("kernel module {name} is not in modules.dep"))?;
        todo.push(path.clone());
    }
    let mut seen = BTreeSet::new();
    while let Some(path) = todo.pop() {
        if seen.insert(path.clone()) {
            todo.extend(deps.get(&path).into_iter().flatten().cloned());
        }
    }
    Ok(seen.into_iter().collect())
}

/// The libraries of `ld.so --list` output, relative to `root`: lines `NAME => PATH (ADDR)`;
/// the vDSO and the loader's own line (`/lib64/ld-linux... => ...`, copied from the program's
/// interpreter) are skipped; a library not found, or found outside `root`, is an error.
fn parse_library_list(text: &str, root: &Path) -> Result<Vec<String>> {
    let mut libraries = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let Some((name, rest)) = line.split_once(" => ") else {
            continue; // linux-vdso.so.1 (0x...), or a statically linked program's note
        };
        if name.starts_with('/') {
            continue; // the loader itself
        }
        if rest.starts_with("not found") {
            bail!("{name} is in none of the build VM's packages: add its package to PACKAGES");
        }
        let path = rest.split(" (0x").next().unwrap_or(rest).trim();
        let rel = Path::new(path).strip_prefix(root).with_context(|| {
            format!("{name} was found at {path}, outside the packages: add its package")
        })?;
        libraries.push(rel.to_string_lossy().into_owned());
    }
    Ok(libraries)
}

/// The target of the link `rel` -> `target` as a path relative to the root.
fn resolve_link(rel: &str, target: &str) -> Result<String> {
    let joined = if target.starts_with('/') {
        PathBuf::from(target)
    } else {
        Path::new("/")
            .join(rel)
            .parent()
            .unwrap_or(Path::new("/"))
            .join(target)
    };
    let mut parts: Vec<String> = Vec::new();
    for component in joined.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    if parts.is_empty() {
        bail!("the link {rel} -> {target} points at the root");
    }
    Ok(parts.join("/"))
}

/// `rel` with every link on the way resolved inside `root` (absolute targets mean `root`),
/// relative to `root`.
fn resolve_in_root(root: &Path, rel: &str) -> Result<String> {
    let mut current = rel.trim_start_matches('/').to_owned();
    for _ in 0..40 {
        let mut resolved = String::new();
        let mut changed = false;
        for part in current.split('/') {
            let candidate = if resolved.is_empty() {
                part.to_owned()
            } else {
                format!("{resolved}/{part}")
            };
            let path = root.join(&candidate);
            match fs::read_link(&path) {
                Ok(target) if !changed => {
                    resolved = resolve_link(&candidate, &target.to_string_lossy())?;
                    changed = true;
                }
                _ => resolved = candidate,
            }
        }
        if !changed {
            return Ok(current);
        }
        current = resolved;
    }
    bail!("too many links resolving {rel}")
}

/// The program interpreter (`PT_INTERP`) of a 64-bit little-endian ELF file, `None` for a
/// static program or a file that is not ELF (a script).
fn elf_interpreter(path: &Path) -> Result<Option<String>> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" {
        return Ok(None);
    }
    if bytes[4] != 2 || bytes[5] != 1 {
        bail!("{}: not a 64-bit little-endian ELF file", path.display());
    }
    let u16_at = |at: usize| -> Option<u64> {
        Some(u64::from(u16::from_le_bytes(
            bytes.get(at..at + 2)?.try_into().ok()?,
        )))
    };
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    let u64_at = |at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
    };
    let bad = || format!("{}: truncated ELF headers", path.display());
    let phoff = u64_at(0x20).with_context(bad)?;
    let phentsize = u16_at(0x36).with_context(bad)?;
    let phnum = u16_at(0x38).with_context(bad)?;
    for index in 0..phnum {
        let at = index
            .checked_mul(phentsize)
            .and_then(|rel| rel.checked_add(phoff))
            .with_context(bad)?;
        let at = usize::try_from(at)?;
        const PT_INTERP: u32 = 3;
        if u32_at(at).with_context(bad)? != PT_INTERP {
            continue;
        }
        let offset = usize::try_from(u64_at(at + 8).with_context(bad)?)?;
        let size = usize::try_from(u64_at(at + 32).with_context(bad)?)?;
        let end = offset.checked_add(size).with_context(bad)?;
        let raw = bytes.get(offset..end).with_context(bad)?;
        let text = raw.split(|b| *b == 0).next().unwrap_or(raw);
        return Ok(Some(String::from_utf8_lossy(text).into_owned()));
    }
    Ok(None)
}

/// Writes the tree under `dir` as an uncompressed newc cpio archive: entries sorted by path,
/// owned by root, time 0, plus `/dev/console` (the kernel opens it for init's output before
/// devtmpfs is mounted). Returns the number of entries.
fn write_cpio(dir: &Path, archive: &Path) -> Result<usize> {
    let mut paths = Vec::new();
    walk(dir, dir, &mut paths)?;
    paths.push(PathBuf::from("dev/console"));
    paths.sort();
    paths.dedup();
    let file = fs::File::create(archive)
        .with_context(|| format!("cannot create {}", archive.display()))?;
    let mut out = BufWriter::new(file);
    let mut ino = 1u32;
    for rel in &paths {
        let name = rel.to_string_lossy();
        if name == "dev/console" {
            let entry = CpioEntry {
                mode: 0o020_600,
                rdev: (5, 1),
                ..CpioEntry::default()
            };
            write_entry(&mut out, &name, ino, &entry, &[])?;
            ino += 1;
            continue;
        }
        let path = dir.join(rel);
        let meta = fs::symlink_metadata(&path)
            .with_context(|| format!("cannot stat {}", path.display()))?;
        let (mode, data) = if meta.file_type().is_symlink() {
            let target =
                fs::read_link(&path).with_context(|| format!("cannot read {}", path.display()))?;
            (
                0o120_777,
                target.to_string_lossy().into_owned().into_bytes(),
            )
        } else if meta.is_dir() {
            (0o040_000 | (meta.mode() & 0o7777), Vec::new())
        } else {
            let mut data = Vec::new();
            fs::File::open(&path)
                .and_then(|mut f| f.read_to_end(&mut data))
                .with_context(|| format!("cannot read {}", path.display()))?;
            (0o100_000 | (meta.mode() & 0o777), data)
        };
        let entry = CpioEntry {
            mode,
            nlink: if meta.is_dir() { 2 } else { 1 },
            rdev: (0, 0),
        };
        write_entry(&mut out, &name, ino, &entry, &data)?;
        ino += 1;
    }
    write_entry(
        &mut out,
        "TRAILER!!!",
        0,
        &CpioEntry {
            nlink: 1,
            ..CpioEntry::default()
        },
        &[],
    )?;
    out.flush()
        .with_context(|| format!("cannot write {}", archive.display()))?;
    Ok(paths.len())
}

/// Every path under `dir` (relative to `base`), not following links.
fn walk(base: &Path, dir: &Path, paths: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        paths.push(path.strip_prefix(base)?.to_path_buf());
        if entry.file_type()?.is_dir() {
            walk(base, &path, paths)?;
        }
    }
    Ok(())
}

/// The fields of a cpio entry that vary.
#[derive(Default)]
struct CpioEntry {
    mode: u32,
    nlink: u32,
    /// Major and minor of a device node.
    rdev: (u32, u32),
}

/// One newc entry: the `070701` header of 13 eight-digit hex fields, the name with its NUL,
/// padded to 4 bytes, then the data, padded to 4 bytes.
fn write_entry(
    out: &mut impl Write,
    name: &str,
    ino: u32,
    entry: &CpioEntry,
    data: &[u8],
) -> Result<()> {
    let size = u32::try_from(data.len()).context("a file of the initramfs is over 4 GiB")?;
    let name_size = u32::try_from(name.len() + 1).context("a name is too long")?;
    let header = format!(
        "070701{ino:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{size:08x}{:08x}{:08x}{:08x}{:08x}{name_size:08x}{:08x}",
        entry.mode, 0, 0, entry.nlink, 0, 0, 0, entry.rdev.0, entry.rdev.1, 0
    );
    out.write_all(header.as_bytes())?;
    out.write_all(name.as_bytes())?;
    out.write_all(&[0])?;
    let pad = |len: usize| (4 - len % 4) % 4;
    out.write_all(&[0; 3][..pad(header.len() + name.len() + 1)])?;
    out.write_all(data)?;
    out.write_all(&[0; 3][..pad(data.len())])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_package_is_read_from_the_metapackage() {
        assert_eq!(
            kernel_dependency("linux-image-6.1.0-57-cloud-amd64 (= 6.1.192-3)").as_deref(),
            Some("linux-image-6.1.0-57-cloud-amd64")
        );
        assert_eq!(
            kernel_dependency("foo, linux-image-6.12.1-cloud-amd64-unsigned | x").as_deref(),
            Some("linux-image-6.12.1-cloud-amd64-unsigned")
        );
        assert_eq!(kernel_dependency("foo (>= 1)"), None);
    }

    #[test]
    fn module_closure_follows_modules_dep() {
        let deps = parse_modules_dep(
            "kernel/fs/xfs/xfs.ko: kernel/lib/libcrc32c.ko\n\
             kernel/lib/libcrc32c.ko:\n\
             kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n\
             kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n\
             kernel/drivers/virtio/virtio_ring.ko:\n\
             kernel/drivers/other.ko:\n",
        );
        assert_eq!(
            module_closure(&deps, &["xfs", "virtio-pci"]).unwrap(),
            [
                "kernel/drivers/virtio/virtio.ko",
                "kernel/drivers/virtio/virtio_pci.ko",
                "kernel/drivers/virtio/virtio_ring.ko",
                "kernel/fs/xfs/xfs.ko",
                "kernel/lib/libcrc32c.ko",
            ]
        );
        let err = module_closure(&deps, &["btrfs"]).unwrap_err();
        assert_eq!(err.to_string(), "kernel module btrfs is not in modules.dep");
    }

    #[test]
    fn library_lists_stay_inside_the_packages() {
        let root = Path::new("/w/root");
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                    \tlibblkid.so.1 => /w/root/usr/lib/x86_64-linux-gnu/libblkid.so.1 (0x00007f46)\n\
                    \tlibc.so.6 => /w/root/lib/x86_64-linux-gnu/libc.so.6 (0x00007f46)\n\
                    \t/lib64/ld-linux-x86-64.so.2 => /w/root/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 (0x7f)\n";
        assert_eq!(
            parse_library_list(text, root).unwrap(),
            [
                "usr/lib/x86_64-linux-gnu/libblkid.so.1",
                "lib/x86_64-linux-gnu/libc.so.6"
            ]
        );
        let err = parse_library_list("\tlibfoo.so.2 => not found\n", root).unwrap_err();
        assert!(err.to_string().starts_with("libfoo.so.2 is in none"));
        let err =
            parse_library_list("\tlibbar.so.1 => /usr/lib/libbar.so.1 (0x1)\n", root).unwrap_err();
        assert!(err.to_string().contains("outside the packages"));
    }

    #[test]
    fn links_resolve_inside_the_root() {
        assert_eq!(
            resolve_link("sbin/mkfs.ext4", "mke2fs").unwrap(),
            "sbin/mke2fs"
        );
        assert_eq!(
            resolve_link(
                "lib64/ld-linux-x86-64.so.2",
                "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
            )
            .unwrap(),
            "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
        );
        assert_eq!(
            resolve_link("usr/lib/a/libx.so.1", "../../../lib/libx.so.1.2").unwrap(),
            "lib/libx.so.1.2"
        );
        let dir = tempfile_dir();
        fs::create_dir_all(dir.join("lib/x86_64-linux-gnu")).unwrap();
        fs::create_dir_all(dir.join("lib64")).unwrap();
        fs::write(dir.join("lib/x86_64-linux-gnu/ld.so"), b"").unwrap();
        symlink("/lib/x86_64-linux-gnu/ld.so", dir.join("lib64/ld.so")).unwrap();
        assert_eq!(
            resolve_in_root(&dir, "/lib64/ld.so").unwrap(),
            "lib/x86_64-linux-gnu/ld.so"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn cpio_entries_are_newc_and_aligned() {
        let dir = tempfile_dir();
        fs::create_dir_all(dir.join("tree/bin")).unwrap();
        fs::write(dir.join("tree/init"), b"#!/bin/sh\n").unwrap();
        fs::set_permissions(dir.join("tree/init"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(dir.join("tree/bin"), fs::Permissions::from_mode(0o755)).unwrap();
        symlink("/bin/busybox", dir.join("tree/bin/sh")).unwrap();
        let archive = dir.join("a.cpio");
        assert_eq!(write_cpio(&dir.join("tree"), &archive).unwrap(), 4);
        let bytes = fs::read(&archive).unwrap();
        assert_eq!(bytes.len() % 4, 0);
        // Each entry: magic, then the name at offset 110.
        let mut names = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            assert_eq!(&bytes[at..at + 6], b"070701");
            let field = |i: usize| {
                let s = std::str::from_utf8(&bytes[at + 6 + i * 8..at + 14 + i * 8]).unwrap();
                usize::from_str_radix(s, 16).unwrap()
            };
            let (mode, size, name_size) = (field(1), field(6), field(11));
            let name = std::str::from_utf8(&bytes[at + 110..at + 110 + name_size - 1]).unwrap();
            names.push((name.to_owned(), mode));
            let data_at = (at + 110 + name_size).next_multiple_of(4);
            at = (data_at + size).next_multiple_of(4);
            if name == "TRAILER!!!" {
                break;
            }
        }
        assert_eq!(at, bytes.len());
        assert_eq!(
            names,
            [
                ("bin".to_owned(), 0o040_755),
                ("bin/sh".to_owned(), 0o120_777),
                ("dev/console".to_owned(), 0o020_600),
                ("init".to_owned(), 0o100_644),
                ("TRAILER!!!".to_owned(), 0),
            ]
        );
        let _ = fs::remove_dir_all(&dir);
    }

    /// A fresh directory under the system's temporary directory (xtask has no tempfile).
    fn tempfile_dir() -> PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "xtask-build-vm-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }
}
