//! Twin experiments that validate the baselines as filters: a truth run of a model from
//! [`crate::models`], synthetic observations of it, and an ensemble cycled through forecasts and
//! analyses by one loop ([`cycling`], with the Lorenz-96 set-up), scored after a burn-in; the
//! Lagrangian flow's experiment with drifter observations is [`lagrangian_twin`], the two-layer QG
//! ocean's with stations and a satellite swath [`qg_twin`].

pub mod cycling;
pub mod lagrangian_twin;
pub mod qg_twin;
