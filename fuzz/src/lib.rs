//! perfopt's fuzz targets (see `targets.rs`).
#![allow(missing_docs)]
pub mod targets;
