//! Dynamical models shared by the OSSE generators (`synth`) and the cycling Kalman filters.

pub mod lorenz96;
