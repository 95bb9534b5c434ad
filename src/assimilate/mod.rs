//! Assimilation with the learned conditional generator: observations plus a bank of states in,
//! analysis ensemble and fields out (SCIENCE.md section 5).

pub mod generator;
