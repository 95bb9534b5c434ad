//! The pipeline runner and what it keeps on disk: stage specifications, the run-directory lock,
//! staging directories that are renamed into place, content hashes and manifests.

pub mod checkpoint;
pub mod hash;
pub mod lock;
pub mod manifest;
pub mod runner;
pub mod spec;
pub mod staging;
