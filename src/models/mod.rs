//! Dynamical models shared by the OSSE generators (`synth`) and the cycling Kalman filters
//! (`kalman`), each behind the one [`Model`] trait: a state vector of a fixed layout, advanced in
//! place one time step at a time. Models know nothing of observations, files or stages; this room
//! imports nothing from them (of contrada, only `error`, and `config` for `Problems`).
//!
//! - [`lorenz96`]: the Lorenz-96 ring, integrated with RK4;
//! - [`fourier_flow`]: the random-Fourier incompressible flow of the Lagrangian experiment, its
//!   prior and its drifter integrator;
//! - [`qg`]: the two-layer quasi-geostrophic ocean (baroclinic eddies on a beta-plane),
//!   pseudo-spectral with Adams-Bashforth steps.

pub mod fourier_flow;
pub mod lorenz96;
pub mod qg;

/// One named part of a model's state vector: `len` consecutive values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateVariable {
    /// Short name (as a file variable would have it).
    pub name: &'static str,
    /// Number of state values.
    pub len: usize,
    /// What the values are.
    pub description: &'static str,
}

/// A dynamical model: a state vector laid out as [`Model::variables`], advanced in place by one
/// time step of [`Model::dt`] model time units per [`Model::step`]. Implementations keep their
/// scratch space so that stepping allocates nothing; the trait is object safe (`Box<dyn Model>`).
pub trait Model {
    /// Short name of the model, e.g. `lorenz96`.
    fn name(&self) -> &'static str;

    /// Model time advanced by one [`Model::step`].
    fn dt(&self) -> f64;

    /// The state's layout: its variables, in the order they sit in the state vector.
    fn variables(&self) -> Vec<StateVariable>;

    /// Number of values in a state vector.
    fn state_len(&self) -> usize {
        self.variables().iter().map(|v| v.len).sum()
    }

    /// Advances `state` (of length [`Model::state_len`]) by one time step.
    fn step(&mut self, state: &mut [f64]);

    /// Advances `state` by `steps` time steps.
    fn integrate(&mut self, state: &mut [f64], steps: usize) {
        for _ in 0..steps {
            self.step(state);
        }
    }
}
