//! One module per operation, each with its request and outcome types and its
//! [`Strata`](crate::Strata) method.

pub mod cache;
pub(crate) mod container;
pub mod copy;
pub mod delete;
pub mod export;
pub mod import;
pub mod maintain;
pub mod query;
pub(crate) mod remote;
pub mod resize;
