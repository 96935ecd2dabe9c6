//! strata-build: image builds. [`vm`] is the build VM, the executor that runs build steps in a
//! small Linux guest under qemu-system.

pub mod vm;
