//! The integration tests, linked into one binary: every test executable links burn, wgpu and
//! netcdf (about 180 MB each), and one per test file cost CI 17 links and several GB of disk.

mod common;

mod architecture;
mod backend_cli;
mod bad_input;
mod cf_io;
mod cf_time;
mod disk_full;
mod encoders_stage;
mod evaluate;
mod gaussian_theory;
mod generator_gaussian;
mod hostile;
mod ingest;
mod inspect_checks;
mod kalman_drifter;
mod kalman_l96;
mod kalman_lagrangian;
mod kalman_ocean;
mod kalman_qg;
mod kalman_stage;
mod pipeline;
mod qc_warnings;
mod qg_model;
mod sample_data;
mod synth_cli;
mod synth_qg;
mod train_assimilate;
mod train_resume;
