//! The pipeline machinery below the stages: the [`stage::Stage`] trait, stage specifications, the
//! run-directory lock, staging directories that are renamed into place, checkpoints, content
//! hashes, seeds and manifests. The runner that drives them lives on top, in [`crate::app`].

pub mod checkpoint;
pub mod hash;
pub mod lock;
pub mod manifest;
pub mod spec;
pub mod stage;
pub mod staging;
