//! Observation operators `H`: what a state predicts for each observation, and where each
//! observation is (for localisation).
//!
//! One trait, [`ObsOperator`], so every analysis scheme runs with every operator. The linear
//! operators (selection/identity and bilinear interpolation to points on periodic, planar and
//! lat/lon grids with a land mask) are all sparse rows of weights, [`LinearObs`]. The drifter
//! forward model of the Lagrangian flow (advect each member's flow from the release points and
//! compare positions, unwrapped on the periodic domain) is a non-linear implementation of the same
//! trait, [`super::drifter_obs::DrifterObs`]; nothing here assumes linearity.

use ndarray::{Array2, ArrayView2};

use crate::kalman::localization::Point;

/// An observation operator for states of a fixed size.
pub trait ObsOperator {
    /// Length of the state vectors it reads.
    fn n_state(&self) -> usize;
    /// Number of observations it predicts.
    fn n_obs(&self) -> usize;
    /// Writes `H(state)` into `out` (length [`Self::n_obs`]).
    fn apply(&self, state: &[f64], out: &mut [f64]);
    /// Location of each observation, in the coordinates of the state grid.
    fn locations(&self) -> &[Point];
}

/// Applies `op` to every member (row) of `ensemble`, writing the observed ensemble (N x m) into
/// `out`, which is resized if needed.
pub fn observe(op: &dyn ObsOperator, ensemble: ArrayView2<f64>, out: &mut Array2<f64>) {
    let shape = (ensemble.nrows(), op.n_obs());
    if out.dim() != shape {
        *out = Array2::zeros(shape);
    }
    let mut scratch = Vec::new();
    for (member, mut row) in ensemble.rows().into_iter().zip(out.rows_mut()) {
        let state = match member.as_slice() {
            Some(s) => s,
            None => {
                scratch.clear();
                scratch.extend(member.iter().copied());
                &scratch
            }
        };
        let slot = row.as_slice_mut().expect("rows of a freshly allocated standard-layout array are contiguous");
        op.apply(state, slot);
    }
}

/// A linear operator stored as sparse rows: observation `k` is `sum_j w_kj x_j`.
#[derive(Debug, Clone)]
pub struct LinearObs {
    n_state: usize,
    starts: Vec<usize>,
    cols: Vec<usize>,
    weights: Vec<f64>,
    locations: Vec<Point>,
}

impl ObsOperator for LinearObs {
    fn n_state(&self) -> usize {
        self.n_state
    }
    fn n_obs(&self) -> usize {
        self.starts.len() - 1
    }
    fn apply(&self, state: &[f64], out: &mut [f64]) {
        for (k, o) in out.iter_mut().enumerate() {
            let range = self.starts[k]..self.starts[k + 1];
            *o = self.cols[range.clone()].iter().zip(&self.weights[range]).map(|(&j, &w)| w * state[j]).sum();
        }
    }
    fn locations(&self) -> &[Point] {
        &self.locations
    }
}

impl LinearObs {
    fn from_rows(n_state: usize, rows: Vec<Vec<(usize, f64)>>, locations: Vec<Point>) -> LinearObs {
        let mut op = LinearObs { n_state, starts: vec![0], cols: Vec::new(), weights: Vec::new(), locations };
        for row in rows {
            for (j, w) in row {
                op.cols.push(j);
                op.weights.push(w);
            }
            op.starts.push(op.cols.len());
        }
        op
    }

    /// Observes every state element directly, located at `state_locations`.
    pub fn identity(state_locations: &[Point]) -> LinearObs {
        let n = state_locations.len();
        Self::from_rows(n, (0..n).map(|j| vec![(j, 1.0)]).collect(), state_locations.to_vec())
    }

    /// Observes the state elements `indices` (in that order); an index outside the state is an
    /// error naming it.
    pub fn selection(state_locations: &[Point], indices: &[usize]) -> Result<LinearObs, String> {
        let n = state_locations.len();
        if let Some((k, &j)) = indices.iter().enumerate().find(|(_, j)| **j >= n) {
            return Err(format!("observation {k} selects state element {j}, but the state has {n} elements"));
        }
        let rows = indices.iter().map(|&j| vec![(j, 1.0)]).collect();
        Ok(Self::from_rows(n, rows, indices.iter().map(|&j| state_locations[j]).collect()))
    }

    /// Bilinear interpolation from `grid` to `points` (linear on a 1-D grid). Land corners get no
    /// weight and the remaining weights are renormalised; a point with only land corners, or
    /// outside a non-periodic grid, is an error naming it (see [`Grid::can_observe`] to filter).
    pub fn bilinear(grid: &Grid, points: &[Point]) -> Result<LinearObs, String> {
        let rows = points
            .iter()
            .enumerate()
            .map(|(k, &p)| grid.interpolation_weights(p).map(|c| c.as_slice().to_vec()).map_err(|why| format!("observation {k} at ({}, {}): {why}", p[0], p[1])))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self::from_rows(grid.len(), rows, points.to_vec()))
    }
}

impl LinearObs {
    /// The operator of the observations whose `keep` entry is true.
    pub fn retain_rows(&self, keep: &[bool]) -> LinearObs {
        let rows = (0..self.n_obs())
            .filter(|&k| keep[k])
            .map(|k| {
                let range = self.starts[k]..self.starts[k + 1];
                self.cols[range.clone()].iter().copied().zip(self.weights[range].iter().copied()).collect()
            })
            .collect();
        let locations = self.locations.iter().zip(keep).filter(|(_, k)| **k).map(|(p, _)| *p).collect();
        Self::from_rows(self.n_state, rows, locations)
    }

    /// The same operator on a subset of the state: column `j` becomes `position[j]`, and the
    /// state has `n_subset` elements. Every column used must be in the subset.
    pub fn on_subset(&self, position: &[Option<usize>], n_subset: usize) -> Result<LinearObs, String> {
        let cols = self
            .cols
            .iter()
            .map(|&j| position.get(j).copied().flatten().ok_or_else(|| format!("state element {j} is not part of the analysed state")))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(LinearObs { n_state: n_subset, starts: self.starts.clone(), cols, weights: self.weights.clone(), locations: self.locations.clone() })
    }
}

/// How a grid's axes behave at their ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GridKind {
    /// Bounded axes in the plane: points outside the coordinate range cannot be observed.
    Plane,
    /// Both axes periodic with the given periods (a 1-D grid ignores `ly`).
    Periodic {
        /// Period along x.
        lx: f64,
        /// Period along y.
        ly: f64,
    },
    /// x is longitude and y latitude, in degrees; longitude wraps when the grid is global.
    LatLon,
}

/// A rectilinear grid: state element `iy * nx + ix` sits at `(x[ix], y[iy])`; 1-D grids have one
/// `y` value. Coordinates must increase strictly along each axis.
#[derive(Debug, Clone)]
pub struct Grid {
    /// x (or longitude) of each column.
    pub x: Vec<f64>,
    /// y (or latitude) of each row; `[0.0]` for a 1-D grid.
    pub y: Vec<f64>,
    /// Boundary behaviour.
    pub kind: GridKind,
    /// `true` for water, per state element; `None` when every point is water.
    pub water: Option<Vec<bool>>,
}

impl Grid {
    /// A grid after checking that coordinates increase strictly and the mask has one entry per point.
    pub fn new(x: Vec<f64>, y: Vec<f64>, kind: GridKind, water: Option<Vec<bool>>) -> Result<Grid, String> {
        for (name, axis) in [("x", &x), ("y", &y)] {
            if axis.is_empty() || axis.iter().any(|v| !v.is_finite()) || axis.windows(2).any(|w| w[1] <= w[0]) {
                return Err(format!("{name} coordinates must be finite and strictly increasing"));
            }
        }
        if let GridKind::Periodic { lx, ly } = kind
            && (x[x.len() - 1] - x[0] >= lx || (y.len() > 1 && y[y.len() - 1] - y[0] >= ly))
        {
            return Err(format!("coordinates span at least one period ({lx} x {ly})"));
        }
        if water.as_ref().is_some_and(|w| w.len() != x.len() * y.len()) {
            return Err(format!("land mask has {} entries for {} grid points", water.as_ref().map_or(0, Vec::len), x.len() * y.len()));
        }
        Ok(Grid { x, y, kind, water })
    }

    /// Number of grid points.
    pub fn len(&self) -> usize {
        self.x.len() * self.y.len()
    }

    /// Whether the grid has no points (never true for a grid made by [`Grid::new`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Location of every grid point, in state order.
    pub fn points(&self) -> Vec<Point> {
        self.y.iter().flat_map(|&y| self.x.iter().map(move |&x| [x, y])).collect()
    }

    /// Whether [`LinearObs::bilinear`] accepts `p`.
    pub fn can_observe(&self, p: Point) -> bool {
        self.interpolation_weights(p).is_ok()
    }

    /// Period of the x axis, if it wraps.
    fn x_period(&self) -> Option<f64> {
        match self.kind {
            GridKind::Periodic { lx, .. } => Some(lx),
            GridKind::LatLon => {
                let n = self.x.len();
                // Global when one more step of the mean spacing closes the circle.
                let step = if n > 1 { (self.x[n - 1] - self.x[0]) / (n - 1) as f64 } else { 360.0 };
                ((self.x[n - 1] - self.x[0] + step - 360.0).abs() < 1e-6 * 360.0).then_some(360.0)
            }
            GridKind::Plane => None,
        }
    }

    /// The bracketing cell along one axis: `(i0, i1, t)` with the point at `(1 - t) a[i0] + t a[i1]`.
    fn bracket(axis: &[f64], v: f64, period: Option<f64>, name: char) -> Result<(usize, usize, f64), Unobservable> {
        let n = axis.len();
        if n == 1 {
            return Ok((0, 0, 0.0));
        }
        let v = match period {
            // Bring v into [axis[0], axis[0] + period).
            Some(p) => axis[0] + (v - axis[0]).rem_euclid(p),
            None => v,
        };
        if !v.is_finite() {
            return Err(Unobservable::NotFinite(name));
        }
        if v > axis[n - 1] {
            return match period {
                Some(p) => Ok((n - 1, 0, (v - axis[n - 1]) / (axis[0] + p - axis[n - 1]))),
                None => Err(Unobservable::Outside(name)),
            };
        }
        if v < axis[0] {
            return Err(Unobservable::Outside(name));
        }
        let i = axis.partition_point(|&a| a <= v).clamp(1, n - 1);
        Ok((i - 1, i, (v - axis[i - 1]) / (axis[i] - axis[i - 1])))
    }

    /// Bilinear interpolation weights for point `p`, or why it cannot be observed. No allocation:
    /// the drifter operator calls this four times per RK4 step, per member and gap.
    pub fn interpolation_weights(&self, p: Point) -> Result<Corners, Unobservable> {
        let y_period = match self.kind {
            GridKind::Periodic { ly, .. } => Some(ly),
            _ => None,
        };
        let (x0, x1, tx) = Self::bracket(&self.x, p[0], self.x_period(), 'x')?;
        let (y0, y1, ty) = if self.y.len() == 1 { (0, 0, 0.0) } else { Self::bracket(&self.y, p[1], y_period, 'y')? };
        let nx = self.x.len();
        let corners = [(y0, x0, (1.0 - ty) * (1.0 - tx)), (y0, x1, (1.0 - ty) * tx), (y1, x0, ty * (1.0 - tx)), (y1, x1, ty * tx)];
        let mut out = Corners { pairs: [(0, 0.0); 4], len: 0 };
        for (iy, ix, w) in corners {
            let j = iy * nx + ix;
            let wet = self.water.as_ref().is_none_or(|m| m[j]);
            if w > 0.0 && wet {
                match out.pairs[..out.len].iter_mut().find(|(k, _)| *k == j) {
                    Some(entry) => entry.1 += w,
                    None => {
                        out.pairs[out.len] = (j, w);
                        out.len += 1;
                    }
                }
            }
        }
        let total: f64 = out.as_slice().iter().map(|(_, w)| w).sum();
        if total <= 1e-12 {
            return Err(Unobservable::Land);
        }
        out.pairs[..out.len].iter_mut().for_each(|(_, w)| *w /= total);
        Ok(out)
    }
}

/// Why a point cannot be interpolated on a [`Grid`] (callers count drops by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unobservable {
    /// The coordinate (`x` or `y`) is not finite.
    NotFinite(char),
    /// Outside a bounded axis (`x` or `y`).
    Outside(char),
    /// Only land surrounds it.
    Land,
}

impl std::fmt::Display for Unobservable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unobservable::NotFinite(axis) => write!(f, "{axis} coordinate is not finite"),
            Unobservable::Outside(axis) => write!(f, "{axis} outside the grid"),
            Unobservable::Land => write!(f, "every surrounding grid point is land"),
        }
    }
}

/// The bilinear weights of one point: up to four `(grid index, weight)` pairs, summing to 1.
#[derive(Debug, Clone, Copy)]
pub struct Corners {
    pairs: [(usize, f64); 4],
    len: usize,
}

impl Corners {
    /// The pairs with a positive weight on water.
    pub fn as_slice(&self) -> &[(usize, f64)] {
        &self.pairs[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(op: &LinearObs, x: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; op.n_obs()];
        op.apply(x, &mut out);
        out
    }

    #[test]
    fn identity_and_selection() {
        let locs: Vec<Point> = (0..5).map(|i| [i as f64, 0.0]).collect();
        let x = [3.0, 1.0, 4.0, 1.0, 5.0];
        assert_eq!(apply(&LinearObs::identity(&locs), &x), x.to_vec());
        let sel = LinearObs::selection(&locs, &[4, 0, 2]).unwrap();
        assert_eq!(apply(&sel, &x), vec![5.0, 3.0, 4.0]);
        assert_eq!(sel.locations(), &[[4.0, 0.0], [0.0, 0.0], [2.0, 0.0]]);
        assert!(LinearObs::selection(&locs, &[5]).unwrap_err().contains("state element 5"));
    }

    #[test]
    fn bilinear_reproduces_linear_fields_and_wraps() {
        // On a periodic grid, a field linear within cells is reproduced exactly, also across the seam.
        let (nx, ny) = (8, 4);
        let x: Vec<f64> = (0..nx).map(|i| i as f64 / nx as f64).collect();
        let y: Vec<f64> = (0..ny).map(|j| 0.5 * j as f64 / ny as f64).collect();
        let grid = Grid::new(x, y, GridKind::Periodic { lx: 1.0, ly: 0.5 }, None).unwrap();
        let field: Vec<f64> = grid.points().iter().map(|p| 2.0 * p[0] - 3.0 * p[1] + 1.0).collect();
        let op = LinearObs::bilinear(&grid, &[[0.3, 0.2], [0.51, 0.01]]).unwrap();
        let got = apply(&op, &field);
        assert!((got[0] - (0.6 - 0.6 + 1.0)).abs() < 1e-12 && (got[1] - (1.02 - 0.03 + 1.0)).abs() < 1e-12);
        // Across the seam: halfway between x = 7/8 and x = 1 == 0 the weights are 1/2 and 1/2.
        let seam = LinearObs::bilinear(&grid, &[[0.9375, 0.0], [-0.0625, 0.0], [1.9375, 0.5]]).unwrap();
        let mut spike = vec![0.0; grid.len()];
        spike[7] = 2.0; // (x = 7/8, y = 0)
        spike[0] = 4.0; // (x = 0, y = 0)
        assert_eq!(apply(&seam, &spike), vec![3.0, 3.0, 3.0]);
    }

    #[test]
    fn bilinear_on_a_masked_latlon_grid() {
        // 1-degree global grid: longitude wraps at the dateline; latitude is bounded.
        let lon: Vec<f64> = (0..360).map(|i| -179.5 + i as f64).collect();
        let lat: Vec<f64> = (0..5).map(|j| -2.0 + j as f64).collect();
        let nx = lon.len();
        let mut water = vec![true; nx * lat.len()];
        water[2 * nx + 359] = false; // land at (179.5, 0)
        let grid = Grid::new(lon, lat, GridKind::LatLon, Some(water)).unwrap();
        let field: Vec<f64> = grid.points().iter().map(|p| p[1] * 10.0 + if p[0] > 0.0 { 1.0 } else { 0.0 }).collect();
        // Between (179.5, 0) [land] and (-179.5, 0): only the water corner counts.
        let op = LinearObs::bilinear(&grid, &[[180.0, 0.0], [540.0 - 0.25 * 0.0, 0.5]]).unwrap();
        let got = apply(&op, &field);
        assert!((got[0] - 0.0).abs() < 1e-12, "{got:?}");
        // At (180, 0.5): corners (179.5,0)=land, (-179.5,0)=0, (179.5,1)=11, (-179.5,1)=10, each 1/4.
        assert!((got[1] - (0.0 + 11.0 + 10.0) / 3.0).abs() < 1e-12, "{got:?}");
        assert!(LinearObs::bilinear(&grid, &[[0.0, 2.5]]).unwrap_err().contains("y outside"));
        assert!(!grid.can_observe([10.0, -3.0]) && grid.can_observe([10.0, -2.0]));
    }

    #[test]
    fn all_land_corners_are_rejected() {
        let grid = Grid::new(vec![0.0, 1.0], vec![0.0, 1.0], GridKind::Plane, Some(vec![false, false, false, true])).unwrap();
        let err = LinearObs::bilinear(&grid, &[[0.5, 0.5], [0.0, 0.0]]).unwrap_err();
        assert!(err.starts_with("observation 1") && err.contains("land"), "{err}");
        assert!(Grid::new(vec![0.0, 0.0], vec![0.0], GridKind::Plane, None).is_err());
    }

    #[test]
    fn observe_applies_to_every_member() {
        let locs: Vec<Point> = (0..3).map(|i| [i as f64, 0.0]).collect();
        let op = LinearObs::selection(&locs, &[2, 1]).unwrap();
        let e = ndarray::array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
        let mut hx = Array2::zeros((0, 0));
        observe(&op, e.view(), &mut hx);
        assert_eq!(hx, ndarray::array![[3.0, 2.0], [6.0, 5.0]]);
    }
}
