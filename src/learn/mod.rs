//! Contrastive learning: two encoders map states `u` and observations `v` into one latent space,
//! a tilting scores every (u, v) pair, and a contrastive loss trains both (docs/science.md §1-§4).
//!
//! One code path for every backend: burn 0.22 carries the backend in the [`burn::tensor::Device`],
//! so [`backend::select`] picks the device and the rest is backend-agnostic.

pub mod artifact;
pub mod backend;
pub mod checkpoint;
pub mod config;
pub mod early_stop;
pub mod encoders;
pub mod loss;
pub mod model;
pub mod recall;
pub mod stage;
pub mod tilting;
pub mod train;
