//! contrada: contrastive data assimilation for ocean state estimation.
//!
//! A staged pipeline (synth, ingest, train, assimilate, baseline, evaluate) over CF NetCDF files.
//! Data flows one way: each stage reads the files earlier stages wrote, never their internals.
//! The `contrada` binary is a thin command line over this library.

pub mod analysis;
pub mod app;
pub mod assimilate;
pub mod cf;
pub mod config;
pub mod error;
pub mod evaluate;
pub mod ingest;
pub mod kalman;
pub mod learn;
pub mod metrics;
pub mod models;
pub mod pipeline;
pub mod progress;
pub mod report;
pub mod synth;

pub use error::{Error, Result};

/// The git revision contrada was built from (set by build.rs), recorded in manifests and in the
/// `source` attribute of every NetCDF output.
pub const GIT_REVISION: &str = env!("CONTRADA_GIT_REVISION");

// ndarray is built with its BLAS backend (ndarray-linalg enables it), so every matrix product calls
// cblas; linking ndarray-linalg is what links OpenBLAS, also into code that only uses `dot`.
extern crate ndarray_linalg as _;
