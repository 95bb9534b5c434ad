//! The Lorenz-96 model, `dx_i/dt = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F` on a periodic ring,
//! integrated with classical RK4: the standard test bed for ensemble Kalman filters
//! (Sakov & Oke 2008: 40 variables, F = 8, dt = 0.01).

use super::{Model, StateVariable};

/// A Lorenz-96 integrator with preallocated stage buffers (no allocation per step).
#[derive(Debug, Clone)]
pub struct Lorenz96 {
    /// Forcing F.
    pub forcing: f64,
    /// RK4 time step.
    pub dt: f64,
    k: [Vec<f64>; 4],
    tmp: Vec<f64>,
}

impl Lorenz96 {
    /// An integrator for `n` variables (n >= 4).
    pub fn new(n: usize, forcing: f64, dt: f64) -> Lorenz96 {
        assert!(n >= 4, "Lorenz-96 needs at least 4 variables");
        Lorenz96 { forcing, dt, k: std::array::from_fn(|_| vec![0.0; n]), tmp: vec![0.0; n] }
    }

    /// The tendency `dx/dt` of state `x`, written into `out`.
    pub fn tendency(forcing: f64, x: &[f64], out: &mut [f64]) {
        let n = x.len();
        let f = |ip1: usize, im1: usize, im2: usize, i: usize| (x[ip1] - x[im2]) * x[im1] - x[i] + forcing;
        // The wrap-around is handled at the three boundary points so that the interior loop has no
        // modulo: an integer division per neighbour costs more than the arithmetic it indexes.
        out[0] = f(1, n - 1, n - 2, 0);
        out[1] = f(2, 0, n - 1, 1);
        for (i, o) in out[..n - 1].iter_mut().enumerate().skip(2) {
            *o = f(i + 1, i - 1, i - 2, i);
        }
        out[n - 1] = f(0, n - 2, n - 3, n - 1);
    }

    /// Advances `x` by one RK4 step.
    pub fn step(&mut self, x: &mut [f64]) {
        let (f, dt) = (self.forcing, self.dt);
        let [k1, k2, k3, k4] = &mut self.k;
        let tmp = &mut self.tmp;
        Self::tendency(f, x, k1);
        for i in 0..x.len() {
            tmp[i] = x[i] + 0.5 * dt * k1[i];
        }
        Self::tendency(f, tmp, k2);
        for i in 0..x.len() {
            tmp[i] = x[i] + 0.5 * dt * k2[i];
        }
        Self::tendency(f, tmp, k3);
        for i in 0..x.len() {
            tmp[i] = x[i] + dt * k3[i];
        }
        Self::tendency(f, tmp, k4);
        for i in 0..x.len() {
            x[i] += dt / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
        }
    }

    /// Advances `x` by `steps` RK4 steps.
    pub fn advance(&mut self, x: &mut [f64], steps: usize) {
        for _ in 0..steps {
            self.step(x);
        }
    }
}

impl Model for Lorenz96 {
    fn name(&self) -> &'static str {
        "lorenz96"
    }

    fn dt(&self) -> f64 {
        self.dt
    }

    /// One variable, `x`: the `n` values around the ring.
    fn variables(&self) -> Vec<StateVariable> {
        vec![StateVariable { name: "x", len: self.tmp.len(), description: "Lorenz-96 variables x_i around the periodic ring" }]
    }

    /// One RK4 step ([`Lorenz96::step`]).
    fn step(&mut self, state: &mut [f64]) {
        Lorenz96::step(self, state);
    }

    /// [`Lorenz96::advance`].
    fn integrate(&mut self, state: &mut [f64], steps: usize) {
        self.advance(state, steps);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_trait_steps_as_the_integrator_does() {
        let x0: Vec<f64> = (0..40).map(|i| 8.0 + (i as f64).sin()).collect();
        let (mut a, mut b) = (x0.clone(), x0);
        Lorenz96::new(40, 8.0, 0.01).advance(&mut a, 7);
        let mut model: Box<dyn Model> = Box::new(Lorenz96::new(40, 8.0, 0.01));
        model.integrate(&mut b, 7);
        assert_eq!(a, b);
        assert_eq!((model.name(), model.state_len(), model.dt()), ("lorenz96", 40, 0.01));
    }

    #[test]
    fn fixed_point_stays_fixed() {
        // x_i = F is an (unstable) equilibrium: the tendency is exactly zero there.
        let mut m = Lorenz96::new(40, 8.0, 0.01);
        let mut x = vec![8.0; 40];
        m.advance(&mut x, 100);
        assert!(x.iter().all(|&v| (v - 8.0).abs() < 1e-12));
    }

    #[test]
    fn tendency_matches_the_periodic_definition() {
        for n in [4, 5, 40] {
            let x: Vec<f64> = (0..n).map(|i| (i as f64 * 1.3).sin() * 3.0 + 0.1 * i as f64).collect();
            let mut out = vec![0.0; n];
            Lorenz96::tendency(8.0, &x, &mut out);
            for i in 0..n {
                let (ip1, im1, im2) = ((i + 1) % n, (i + n - 1) % n, (i + n - 2) % n);
                let expected = (x[ip1] - x[im2]) * x[im1] - x[i] + 8.0;
                assert!((out[i] - expected).abs() < 1e-14, "n = {n}, i = {i}: {} vs {expected}", out[i]);
            }
        }
    }

    #[test]
    fn rk4_is_fourth_order() {
        let run = |dt: f64| {
            let mut m = Lorenz96::new(40, 8.0, dt);
            let mut x: Vec<f64> = (0..40).map(|i| 8.0 + if i == 0 { 0.01 } else { (i as f64).sin() }).collect();
            m.advance(&mut x, (0.2 / dt).round() as usize);
            x
        };
        let reference = run(0.0005);
        let err = |dt| run(dt).iter().zip(&reference).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
        let ratio = err(0.01) / err(0.005);
        assert!((12.0..20.0).contains(&ratio), "halving dt reduced the error {ratio}x, expected ~16x");
    }
}
