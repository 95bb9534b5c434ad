//! The integration tests, linked into one binary: each test file was its own executable of about
//! 150 MB (burn and wgpu are linked in), so one binary saves CI link time and disk.

mod common;

mod backend_cli;
mod bad_input;
mod cf_io;
mod cf_time;
mod evaluate;
mod gaussian_theory;
mod generator_gaussian;
mod ingest;
mod kalman_drifter;
mod kalman_l96;
mod kalman_stage;
mod pipeline;
mod sample_data;
mod synth_cli;
mod train_assimilate;
