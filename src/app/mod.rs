//! The top of the house: what wires the stages together. Nothing below imports this room.
//!
//! - [`config`]: the configuration aggregate (every stage's section, loaded through the layered
//!   loader of [`crate::config`]);
//! - [`registry`]: stage kinds and their implementations, and each stage's options as flags;
//! - [`runner`]: a pipeline's stages in order inside a locked run directory;
//! - [`standalone`]: one stage outside a pipeline (the `contrada train`, `assimilate`, `baseline`,
//!   `synth` and `evaluate` commands).
//!
//! Both runners hand a stage exactly the configuration keys it declares and compute its
//! fingerprint with [`runner::stage_fingerprint`] from those, its options and its inputs' content.

pub mod config;
pub mod registry;
pub mod runner;
pub mod standalone;
