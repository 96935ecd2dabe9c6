//! Which accelerator the build VM runs with: KVM when it can boot a guest, TCG otherwise.
//!
//! QEMU's own fallback (`-machine accel=kvm:tcg`) is never used: it falls back only when KVM
//! fails to initialise, and on hosts whose `/dev/kvm` comes from PVM (`kvm_pvm`, KVM inside a
//! Firecracker microVM) KVM initialises and then hangs a stock kernel after "Booting from ROM".
//! So [`Accel::Auto`] decides before qemu starts, from facts about the host ([`HostKvm`]): PVM
//! loaded, or no usable `/dev/kvm`, means TCG. A caller can force either with its own flag or
//! with [`ACCEL_VAR`]; forcing KVM where `/dev/kvm` cannot be opened is an error, not a silent
//! fallback.

use std::fmt;
use std::fs::OpenOptions;
use std::io;
use std::path::Path;
use std::str::FromStr;

use super::error::VmError;

/// The environment variable that chooses the accelerator when no flag does:
/// `auto`, `kvm` or `tcg`.
pub const ACCEL_VAR: &str = "STRATA_BUILD_ACCEL";

/// What the caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Accel {
    /// KVM when the host can boot a guest with it, TCG otherwise (see [`HostKvm`]).
    #[default]
    Auto,
    /// KVM, or an error if `/dev/kvm` cannot be used.
    Kvm,
    /// QEMU's emulator: slow, but works everywhere.
    Tcg,
}

impl Accel {
    /// The name, as [`ACCEL_VAR`] and a flag spell it.
    pub const fn name(self) -> &'static str {
        match self {
            Accel::Auto => "auto",
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }

    /// The accelerator [`ACCEL_VAR`] names, if it is set and not empty.
    pub fn from_env() -> Result<Option<Accel>, VmError> {
        match std::env::var(ACCEL_VAR) {
            Ok(value) if value.is_empty() => Ok(None),
            Ok(value) => value.parse().map(Some),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(value)) => Err(VmError::BadAccel {
                var: ACCEL_VAR,
                value: value.to_string_lossy().into_owned(),
            }),
        }
    }

    /// What to ask for: the caller's flag if given, else [`ACCEL_VAR`], else [`Accel::Auto`].
    pub fn choose(flag: Option<Accel>) -> Result<Accel, VmError> {
        match flag {
            Some(accel) => Ok(accel),
            None => Ok(Accel::from_env()?.unwrap_or_default()),
        }
    }

    /// The accelerator to start qemu with on a host described by `host`.
    pub fn resolve(self, host: &HostKvm) -> Result<Resolved, VmError> {
        match self {
            Accel::Tcg => Ok(Resolved {
                accel: Accel::Tcg,
                reason: Reason::Asked,
            }),
            Accel::Kvm => match &host.dev_kvm {
                KvmAccess::Usable => Ok(Resolved {
                    accel: Accel::Kvm,
                    reason: Reason::Asked,
                }),
                other => Err(VmError::KvmUnavailable {
                    accel: Accel::Kvm,
                    reason: other.to_string(),
                }),
            },
            Accel::Auto => {
                let reason = if host.pvm {
                    Reason::Pvm
                } else {
                    match &host.dev_kvm {
                        KvmAccess::Usable => {
                            return Ok(Resolved {
                                accel: Accel::Kvm,
                                reason: Reason::KvmUsable,
                            });
                        }
                        KvmAccess::Missing => Reason::NoKvm,
                        KvmAccess::Denied(_) => Reason::KvmDenied,
                    }
                };
                Ok(Resolved {
                    accel: Accel::Tcg,
                    reason,
                })
            }
        }
    }
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Accel {
    type Err = VmError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Accel::Auto),
            "kvm" => Ok(Accel::Kvm),
            "tcg" => Ok(Accel::Tcg),
            _ => Err(VmError::BadAccel {
                var: ACCEL_VAR,
                value: s.to_owned(),
            }),
        }
    }
}

/// The accelerator qemu runs with ([`Accel::Kvm`] or [`Accel::Tcg`], never `Auto`), and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    /// [`Accel::Kvm`] or [`Accel::Tcg`].
    pub accel: Accel,
    /// Why this one.
    pub reason: Reason,
}

/// Why an accelerator was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The caller asked for it.
    Asked,
    /// Auto: `/dev/kvm` opens and KVM is not PVM.
    KvmUsable,
    /// Auto: the host's KVM is PVM (`/sys/module/kvm_pvm`), which boots no stock kernel.
    Pvm,
    /// Auto: there is no `/dev/kvm`.
    NoKvm,
    /// Auto: `/dev/kvm` exists but cannot be opened for reading and writing.
    KvmDenied,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::Asked => "asked for",
            Reason::KvmUsable => "/dev/kvm is usable",
            Reason::Pvm => "the host's KVM is PVM (kvm_pvm), which boots no stock kernel",
            Reason::NoKvm => "there is no /dev/kvm",
            Reason::KvmDenied => "/dev/kvm cannot be opened",
        })
    }
}

/// What the host's KVM looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKvm {
    /// Whether the `kvm_pvm` module is loaded (`/sys/module/kvm_pvm` exists).
    pub pvm: bool,
    /// Whether `/dev/kvm` can be opened for reading and writing.
    pub dev_kvm: KvmAccess,
}

/// Whether `/dev/kvm` can be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvmAccess {
    /// It opens for reading and writing.
    Usable,
    /// It does not exist.
    Missing,
    /// It exists but does not open (permission denied, typically).
    Denied(io::ErrorKind),
}

impl fmt::Display for KvmAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvmAccess::Usable => f.write_str("usable"),
            KvmAccess::Missing => f.write_str("it does not exist"),
            KvmAccess::Denied(kind) => write!(f, "it does not open ({kind})"),
        }
    }
}

impl HostKvm {
    /// Looks at this host: `/sys/module/kvm_pvm` and `/dev/kvm`.
    pub fn probe() -> HostKvm {
        HostKvm::probe_at(Path::new("/sys/module/kvm_pvm"), Path::new("/dev/kvm"))
    }

    /// Like [`HostKvm::probe`], with other paths (for tests).
    pub fn probe_at(pvm_module: &Path, dev_kvm: &Path) -> HostKvm {
        let dev_kvm = match OpenOptions::new().read(true).write(true).open(dev_kvm) {
            Ok(_) => KvmAccess::Usable,
            Err(err) if err.kind() == io::ErrorKind::NotFound => KvmAccess::Missing,
            Err(err) => KvmAccess::Denied(err.kind()),
        };
        HostKvm {
            pvm: pvm_module.exists(),
            dev_kvm,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(pvm: bool, dev_kvm: KvmAccess) -> HostKvm {
        HostKvm { pvm, dev_kvm }
    }

    #[test]
    fn auto_takes_kvm_only_when_it_is_usable_and_not_pvm() {
        let resolve = |h: HostKvm| Accel::Auto.resolve(&h).unwrap();
        assert_eq!(
            resolve(host(false, KvmAccess::Usable)),
            Resolved {
                accel: Accel::Kvm,
                reason: Reason::KvmUsable
            }
        );
        assert_eq!(
            resolve(host(true, KvmAccess::Usable)),
            Resolved {
                accel: Accel::Tcg,
                reason: Reason::Pvm
            }
        );
        assert_eq!(
            resolve(host(false, KvmAccess::Missing)).reason,
            Reason::NoKvm
        );
        let denied = resolve(host(
            false,
            KvmAccess::Denied(io::ErrorKind::PermissionDenied),
        ));
        assert_eq!(
            (denied.accel, denied.reason),
            (Accel::Tcg, Reason::KvmDenied)
        );
    }

    #[test]
    fn forced_kvm_is_refused_without_dev_kvm_and_allowed_on_pvm() {
        let err = Accel::Kvm
            .resolve(&host(false, KvmAccess::Missing))
            .unwrap_err();
        assert!(
            matches!(&err, VmError::KvmUnavailable { accel: Accel::Kvm, reason } if reason == "it does not exist"),
            "{err:?}"
        );
        // The caller insists: PVM is its risk (the ready deadline still ends a hung boot).
        assert_eq!(
            Accel::Kvm.resolve(&host(true, KvmAccess::Usable)).unwrap(),
            Resolved {
                accel: Accel::Kvm,
                reason: Reason::Asked
            }
        );
        assert_eq!(
            Accel::Tcg
                .resolve(&host(false, KvmAccess::Usable))
                .unwrap()
                .accel,
            Accel::Tcg
        );
    }

    #[test]
    fn names_parse_and_print_back() {
        for accel in [Accel::Auto, Accel::Kvm, Accel::Tcg] {
            assert_eq!(accel.name().parse::<Accel>().unwrap(), accel);
            assert_eq!(accel.to_string(), accel.name());
        }
        let err = "kvm:tcg".parse::<Accel>().unwrap_err();
        assert!(
            matches!(&err, VmError::BadAccel { var: ACCEL_VAR, value } if value == "kvm:tcg"),
            "{err:?}"
        );
    }

    #[test]
    fn a_flag_wins_over_the_environment() {
        // Only the flag is looked at when given, whatever the environment says.
        assert_eq!(Accel::choose(Some(Accel::Tcg)).unwrap(), Accel::Tcg);
        assert_eq!(Accel::choose(Some(Accel::Kvm)).unwrap(), Accel::Kvm);
    }

    #[test]
    fn probing_reads_the_paths_it_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none");
        assert_eq!(
            HostKvm::probe_at(&missing, &missing),
            host(false, KvmAccess::Missing)
        );
        let file = dir.path().join("kvm");
        std::fs::write(&file, b"").unwrap();
        assert_eq!(
            HostKvm::probe_at(dir.path(), &file),
            host(true, KvmAccess::Usable)
        );
    }
}
