//! Drifter positions as observations of a gridded model's velocity field: Lagrangian data
//! assimilation in the sense of Kuznetsov, Ide & Jones (2003) and Sun & Penny (2019), for any
//! model whose state holds `u` and `v` on a rectilinear grid.
//!
//! Each observation is one **gap** of a track: the drifter leaves an observed fix and is advected
//! through the member's own velocity field (bilinear in space, held steady over the window: the
//! prior is one snapshot at the analysis time) with RK4 until the next fix's time, and `H` returns
//! the predicted position there, `x, y`. Restarting every gap at the observed fix keeps `H`
//! nearly linear over one gap; advecting whole tracks lets members diverge faster than a linear
//! update can follow (the same choice as [`super::drifter_obs`] makes for the Fourier flow).
//!
//! Geometry: on a periodic grid the prediction is returned as the image nearest the observed
//! position, so that a drifter crossing the boundary does not make `H` jump by a period; on a
//! bounded plane a drifter leaving the grid stops there; on a longitude/latitude grid velocities
//! in m/s move positions in degrees. Where only land surrounds a position the velocity is zero:
//! a drifter that reaches the coast stays.

use super::obs_operator::{Grid, GridKind, ObsOperator};
use crate::kalman::localization::{EARTH_RADIUS_KM, Point};

/// Where a member's velocity is in its state vector: for every horizontal grid point, the state
/// index of `u` and of `v` at the drifters' level (`None` on land).
#[derive(Debug, Clone)]
pub struct VelocitySlots {
    /// The horizontal grid (and the water of the drifters' level).
    pub grid: Grid,
    /// State index of `u` per grid point.
    pub u: Vec<Option<usize>>,
    /// State index of `v` per grid point.
    pub v: Vec<Option<usize>>,
    /// Metres per unit of the grid's x and y coordinates (plane and periodic grids).
    pub metres_per_unit: f64,
}

impl VelocitySlots {
    /// Velocity at `p` in coordinate units per second; zero where it cannot be interpolated.
    fn velocity(&self, state: &[f64], p: Point) -> [f64; 2] {
        let Ok(weights) = self.grid.interpolation_weights(p) else { return [0.0, 0.0] };
        let (mut u, mut v) = (0.0, 0.0);
        for &(k, w) in weights.as_slice() {
            u += self.u[k].map_or(0.0, |j| w * state[j]);
            v += self.v[k].map_or(0.0, |j| w * state[j]);
        }
        match self.grid.kind {
            GridKind::LatLon => {
                let metres_per_degree = EARTH_RADIUS_KM * 1000.0 * std::f64::consts::PI / 180.0;
                let cos = p[1].to_radians().cos().max(1e-6);
                [u / (metres_per_degree * cos), v / metres_per_degree]
            }
            _ => [u / self.metres_per_unit, v / self.metres_per_unit],
        }
    }
}

/// One observed gap: from `start` (an observed fix) for `seconds` to the observed `end`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gap {
    /// Observed position the drifter leaves from.
    pub start: Point,
    /// Observed position at the end of the gap.
    pub end: Point,
    /// Duration, seconds.
    pub seconds: f64,
}

/// The operator: two observations (`x`, `y` of the end position) per gap.
#[derive(Debug, Clone)]
pub struct GridDrifterObs {
    n_state: usize,
    slots: VelocitySlots,
    gaps: Vec<Gap>,
    max_step_s: f64,
    locations: Vec<Point>,
}

impl GridDrifterObs {
    /// The operator for `gaps` on states of `n_state` values, integrating with RK4 steps of at
    /// most `max_step_s` seconds.
    pub fn new(n_state: usize, slots: VelocitySlots, gaps: Vec<Gap>, max_step_s: f64) -> GridDrifterObs {
        let locations = gaps.iter().flat_map(|g| [g.end, g.end]).collect();
        GridDrifterObs { n_state, slots, gaps, max_step_s, locations }
    }

    /// The gaps, in observation order.
    pub fn gaps(&self) -> &[Gap] {
        &self.gaps
    }

    /// The operator of the gaps whose `keep` entry is true.
    pub fn retain_gaps(&self, keep: &[bool]) -> GridDrifterObs {
        let gaps = self.gaps.iter().zip(keep).filter(|(_, k)| **k).map(|(g, _)| *g).collect();
        GridDrifterObs::new(self.n_state, self.slots.clone(), gaps, self.max_step_s)
    }

    /// `p` advected through `state`'s velocity for `seconds`.
    pub fn advect(&self, state: &[f64], p: Point, seconds: f64) -> Point {
        let steps = (seconds / self.max_step_s).ceil().max(1.0) as usize;
        let h = seconds / steps as f64;
        let mut p = p;
        let shift = |p: Point, k: [f64; 2], c: f64| [p[0] + c * k[0], p[1] + c * k[1]];
        for _ in 0..steps {
            let k1 = self.slots.velocity(state, p);
            let k2 = self.slots.velocity(state, shift(p, k1, h / 2.0));
            let k3 = self.slots.velocity(state, shift(p, k2, h / 2.0));
            let k4 = self.slots.velocity(state, shift(p, k3, h));
            p = [p[0] + h / 6.0 * (k1[0] + 2.0 * k2[0] + 2.0 * k3[0] + k4[0]), p[1] + h / 6.0 * (k1[1] + 2.0 * k2[1] + 2.0 * k3[1] + k4[1])];
        }
        p
    }

    /// `predicted` moved by whole periods next to `observed` (periodic grids; global longitude).
    fn nearest_image(&self, predicted: Point, observed: Point) -> Point {
        let image = |p: f64, o: f64, period: f64| o + (p - o + period / 2.0).rem_euclid(period) - period / 2.0;
        match self.slots.grid.kind {
            GridKind::Periodic { lx, ly } => [image(predicted[0], observed[0], lx), if self.slots.grid.y.len() > 1 { image(predicted[1], observed[1], ly) } else { predicted[1] }],
            GridKind::LatLon => [image(predicted[0], observed[0], 360.0), predicted[1]],
            GridKind::Plane => predicted,
        }
    }
}

impl ObsOperator for GridDrifterObs {
    fn n_state(&self) -> usize {
        self.n_state
    }
    fn n_obs(&self) -> usize {
        2 * self.gaps.len()
    }
    fn apply(&self, state: &[f64], out: &mut [f64]) {
        for (gap, o) in self.gaps.iter().zip(out.chunks_exact_mut(2)) {
            let p = self.nearest_image(self.advect(state, gap.start, gap.seconds), gap.end);
            o.copy_from_slice(&p);
        }
    }
    fn locations(&self) -> &[Point] {
        &self.locations
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A periodic 2 km grid of 16 x 16 points (state: u then v, one level).
    fn slots() -> VelocitySlots {
        let axis: Vec<f64> = (0..16).map(|i| 2000.0 * i as f64).collect();
        let grid = Grid::new(axis.clone(), axis, GridKind::Periodic { lx: 32000.0, ly: 32000.0 }, None).unwrap();
        let n = grid.len();
        VelocitySlots { grid, u: (0..n).map(Some).collect(), v: (n..2 * n).map(Some).collect(), metres_per_unit: 1.0 }
    }

    #[test]
    fn uniform_flow_moves_by_u_t_and_wraps_to_the_observed_image() {
        let s = slots();
        let n = s.grid.len();
        let mut state = vec![0.3; n];
        state.extend(vec![-0.1; n]);
        // 10 hours at (0.3, -0.1) m/s: 10.8 km east, 3.6 km south; observed near the east edge
        // so that the prediction (which wrapped through the boundary) comes back unwrapped.
        let gap = Gap { start: [25000.0, 2000.0], end: [35700.0, -1500.0], seconds: 36000.0 };
        let op = GridDrifterObs::new(2 * n, s, vec![gap], 900.0);
        let mut out = [0.0; 2];
        op.apply(&state, &mut out);
        assert!((out[0] - 35800.0).abs() < 1e-6 && (out[1] + 1600.0).abs() < 1e-6, "{out:?}");
    }

    #[test]
    fn solid_body_rotation_keeps_the_radius_and_converges_at_fourth_order() {
        // u = -omega (y - c), v = omega (x - c) is bilinear, so interpolation is exact and the
        // drifter must stay on its circle: a first-order (Euler) integrator would spiral out.
        let s = slots();
        let (c, omega) = (15000.0, 1e-4);
        let pts = s.grid.points();
        let n = pts.len();
        let mut state: Vec<f64> = pts.iter().map(|p| -omega * (p[1] - c)).collect();
        state.extend(pts.iter().map(|p| omega * (p[0] - c)));
        let start = [c + 4000.0, c];
        let quarter = std::f64::consts::FRAC_PI_2 / omega;
        let exact = [c, c + 4000.0];
        let error = |step: f64| {
            let op = GridDrifterObs::new(2 * n, s.clone(), vec![Gap { start, end: exact, seconds: quarter }], step);
            let p = op.advect(&state, start, quarter);
            (p[0] - exact[0]).hypot(p[1] - exact[1])
        };
        let (coarse, fine) = (error(quarter / 8.0), error(quarter / 16.0));
        assert!(fine < 0.1, "error {fine} m");
        let order = (coarse / fine).log2();
        assert!((3.5..4.6).contains(&order), "order {order} ({coarse} -> {fine})");
    }

    #[test]
    fn a_drifter_on_land_stays() {
        let mut s = slots();
        let n = s.grid.len();
        let mut water = vec![true; n];
        for j in [0, 1, 16, 17] {
            water[j] = false;
        }
        s.grid.water = Some(water);
        let state = vec![0.5; 2 * n];
        let op = GridDrifterObs::new(2 * n, s, vec![], 900.0);
        assert_eq!(op.advect(&state, [1000.0, 1000.0], 3600.0), [1000.0, 1000.0]);
    }
}
