//! A prior ensemble read from CF NetCDF into the `(members, state)` layout the filters use, the
//! grid its state lives on, and the way back: an analysis in exactly the prior's layout.
//!
//! The analysed variable may have its member dimension anywhere (`(member, y, x)`,
//! `(time, member, lat, lon)`, ...). The other dimensions are the state; the last one is x (or
//! longitude), the one before it y (or latitude), and any further ones (a time of length one,
//! levels) repeat the horizontal grid. Elements missing in every member (land, `_FillValue`) are
//! left out of the state and written back as missing; an element missing in only some members is
//! an input error.

use ndarray::{Array2, ArrayD, IxDyn};

use crate::cf::NcFile;
use crate::error::{Error, Result};
use crate::kalman::localization::{Distance, EARTH_RADIUS_KM, Point};
use crate::kalman::obs::obs_operator::{Grid, GridKind};

/// How distances and interpolation treat the grid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum GeometryKind {
    /// `sphere` when the x and y coordinates are longitude and latitude, `plane` otherwise.
    #[default]
    Auto,
    /// Doubly periodic (uniformly spaced coordinates; the period is the number of points times
    /// the spacing), e.g. Lorenz-96 or the periodic unit square.
    Periodic,
    /// Bounded plane, Euclidean distances in coordinate units.
    Plane,
    /// Longitude/latitude in degrees, great-circle distances in km.
    Sphere,
}

/// A prior ensemble and where it came from.
#[derive(Debug, Clone)]
pub struct PriorEnsemble {
    /// The analysed variable.
    pub variable: String,
    /// Its dimension names, in file order.
    pub dims: Vec<String>,
    /// Its shape, in file order.
    pub shape: Vec<usize>,
    /// Position of the member dimension in `dims`.
    pub member_axis: usize,
    /// Dimension names without the member dimension.
    pub state_dims: Vec<String>,
    /// Shape without the member dimension.
    pub state_shape: Vec<usize>,
    /// Flat state-layout indices of the elements that have data, in order.
    pub wet: Vec<usize>,
    /// Members x wet elements.
    pub ensemble: Array2<f64>,
}

impl PriorEnsemble {
    /// Reads `variable` of `file`, whose dimension `member_dim` indexes the members.
    pub fn read(file: &NcFile, variable: &str, member_dim: &str) -> Result<PriorEnsemble> {
        let masked = file.read(variable)?;
        let dims = masked.dims.clone();
        let member_axis = dims.iter().position(|d| d == member_dim).ok_or_else(|| {
            file.var_error(variable, format!("has dimensions ({}); expected a member dimension `{member_dim}` (set options.member_dim)", dims.join(", ")))
        })?;
        if dims.len() < 2 {
            return Err(file.var_error(variable, "has only the member dimension; expected state dimensions too"));
        }
        let shape = masked.data.shape().to_vec();
        let n_members = shape[member_axis];
        if n_members < 1 {
            return Err(file.var_error(variable, "member dimension is empty"));
        }
        let mut order: Vec<usize> = vec![member_axis];
        order.extend((0..dims.len()).filter(|&a| a != member_axis));
        let members_first = masked.data.view().permuted_axes(IxDyn(&order)).as_standard_layout().into_owned();
        let n_state: usize = shape.iter().product::<usize>() / n_members;
        let flat = members_first.into_shape_with_order((n_members, n_state)).map_err(|e| Error::Other(e.to_string()))?;
        let mut wet = Vec::new();
        for j in 0..n_state {
            let missing = flat.column(j).iter().filter(|v| v.is_nan()).count();
            if missing == 0 {
                wet.push(j);
            } else if missing < n_members {
                return Err(file.var_error(
                    variable,
                    format!("state element {j} is missing in {missing} of {n_members} members; expected data in all members or none (land)"),
                ));
            }
        }
        if wet.is_empty() {
            return Err(file.var_error(variable, "no state element has data in every member"));
        }
        let ensemble = Array2::from_shape_fn((n_members, wet.len()), |(i, k)| flat[(i, wet[k])]);
        let state_dims = order[1..].iter().map(|&a| dims[a].clone()).collect();
        let state_shape = order[1..].iter().map(|&a| shape[a]).collect();
        Ok(PriorEnsemble { variable: variable.to_string(), dims, shape, member_axis, state_dims, state_shape, wet, ensemble })
    }

    /// Number of elements in the full state layout (wet and missing).
    pub fn state_len(&self) -> usize {
        self.state_shape.iter().product()
    }

    /// A state-layout field with `values` (one per wet element) and NaN elsewhere.
    pub fn field(&self, values: &[f64]) -> Vec<f64> {
        let mut out = vec![f64::NAN; self.state_len()];
        for (&j, &v) in self.wet.iter().zip(values) {
            out[j] = v;
        }
        out
    }

    /// `ensemble` (members x wet elements) in the variable's original dimension order and shape,
    /// flattened, with NaN at the missing elements.
    pub fn to_layout(&self, ensemble: &Array2<f64>) -> Vec<f64> {
        let n_members = ensemble.nrows();
        let mut full = Array2::from_elem((n_members, self.state_len()), f64::NAN);
        for (i, member) in ensemble.rows().into_iter().enumerate() {
            for (&j, &v) in self.wet.iter().zip(member.iter()) {
                full[(i, j)] = v;
            }
        }
        let mut members_first_shape = vec![n_members];
        members_first_shape.extend(&self.state_shape);
        let full: ArrayD<f64> = full.into_shape_with_order(IxDyn(&members_first_shape)).expect("sizes agree").into_dyn();
        // Undo the permutation: member axis back to its place.
        let mut inverse: Vec<usize> = (1..=self.dims.len() - 1).collect();
        inverse.insert(self.member_axis, 0);
        let original = full.view().permuted_axes(IxDyn(&inverse));
        debug_assert_eq!(
            original.shape(),
            {
                let mut s = self.shape.clone();
                s[self.member_axis] = n_members;
                s
            }
            .as_slice()
        );
        original.as_standard_layout().iter().copied().collect()
    }

    /// Number of horizontal grid points (the last two state dimensions, or the last one).
    pub fn horizontal_len(&self) -> usize {
        let n = self.state_shape.len();
        self.state_shape[n - n.min(2)..].iter().product()
    }

    /// Number of horizontal fields in the state: levels (and any time of length one) above
    /// each grid point.
    pub fn levels(&self) -> usize {
        self.state_len() / self.horizontal_len()
    }

    /// The horizontal field `chosen` (an `obs_level` option), checked against [`Self::levels`];
    /// without a choice, the only one. The error says what to set, for the `obs_level` key.
    pub fn level(&self, chosen: Option<usize>) -> std::result::Result<usize, String> {
        let levels = self.levels();
        match chosen {
            Some(l) if l < levels => Ok(l),
            Some(l) => Err(format!("{l} is out of range: `{}` has {levels} horizontal field(s) (0 to {})", self.variable, levels - 1)),
            None if levels == 1 => Ok(0),
            None => {
                let n = self.state_dims.len();
                Err(format!("`{}` has {levels} horizontal fields ({}); set which one is observed (0 to {})", self.variable, self.state_dims[..n - 2].join(", "), levels - 1))
            }
        }
    }

    /// The horizontal grid of the state (x = last state dimension, y = the one before, if any),
    /// with the water mask of the first level, and the distance the LETKF localises with.
    pub fn grid(&self, file: &NcFile, kind: GeometryKind) -> Result<(Grid, Distance)> {
        self.grid_at_level(file, kind, 0)
    }

    /// [`PriorEnsemble::grid`] with the water mask of horizontal field `level` (see
    /// [`PriorEnsemble::levels`]): observations of that level interpolate over its water only.
    pub fn grid_at_level(&self, file: &NcFile, kind: GeometryKind, level: usize) -> Result<(Grid, Distance)> {
        let nd = self.state_dims.len();
        let x_dim = &self.state_dims[nd - 1];
        let y_dim = (nd >= 2).then(|| &self.state_dims[nd - 2]);
        let (nx, ny) = (self.state_shape[nd - 1], if nd >= 2 { self.state_shape[nd - 2] } else { 1 });
        let coordinate = |dim: &str, n: usize| -> Result<(Vec<f64>, bool, bool)> {
            if file.has_var(dim) && file.var_dims(dim)? == [dim.to_string()] {
                let values = file.read(dim)?.data.iter().copied().collect::<Vec<f64>>();
                let units = file.attr_str(Some(dim), "units").unwrap_or_default().to_lowercase();
                let standard = file.attr_str(Some(dim), "standard_name").unwrap_or_default().to_lowercase();
                let lon = standard == "longitude" || (units.starts_with("degree") && units.ends_with('e'));
                let lat = standard == "latitude" || (units.starts_with("degree") && units.ends_with('n'));
                Ok((values, lon, lat))
            } else {
                Ok(((0..n).map(|i| i as f64).collect(), false, false))
            }
        };
        let (x, x_is_lon, _) = coordinate(x_dim, nx)?;
        let (y, _, y_is_lat) = match y_dim {
            Some(d) => coordinate(d, ny)?,
            None => (vec![0.0], false, false),
        };
        let kind = match kind {
            GeometryKind::Auto if x_is_lon && y_is_lat => GeometryKind::Sphere,
            GeometryKind::Auto => GeometryKind::Plane,
            other => other,
        };
        let plane = nx * ny;
        let water: Vec<bool> = {
            let mut w = vec![false; plane];
            for &j in self.wet.iter().filter(|&&j| j / plane == level) {
                w[j % plane] = true;
            }
            w
        };
        let bad = |why: String| Error::input(file.path(), format!("variable `{}`: grid: {why}", self.variable));
        let (grid_kind, distance) = match kind {
            GeometryKind::Periodic => {
                let period = |axis: &[f64]| -> Result<f64> {
                    if axis.len() == 1 {
                        return Ok(1.0);
                    }
                    let step = (axis[axis.len() - 1] - axis[0]) / (axis.len() - 1) as f64;
                    if axis.windows(2).any(|w| ((w[1] - w[0]) - step).abs() > 1e-6 * step.abs()) {
                        return Err(bad("periodic geometry needs uniformly spaced coordinates".into()));
                    }
                    Ok(step * axis.len() as f64)
                };
                let (lx, ly) = (period(&x)?, period(&y)?);
                let distance = if y.len() == 1 { Distance::Periodic1D { period: lx } } else { Distance::Periodic2D { lx, ly } };
                (GridKind::Periodic { lx, ly }, distance)
            }
            GeometryKind::Sphere => (GridKind::LatLon, Distance::GreatCircle { radius: EARTH_RADIUS_KM }),
            GeometryKind::Plane | GeometryKind::Auto => (GridKind::Plane, Distance::Plane),
        };
        let grid = Grid::new(x, y, grid_kind, Some(water)).map_err(bad)?;
        Ok((grid, distance))
    }

    /// Location of every wet state element on `grid` (levels repeat the horizontal location).
    pub fn locations(&self, grid: &Grid) -> Vec<Point> {
        let points = grid.points();
        self.wet.iter().map(|&j| points[j % points.len()]).collect()
    }

    /// Position in the state vector of each flat state-layout index (None where missing).
    pub fn positions(&self) -> Vec<Option<usize>> {
        let mut pos = vec![None; self.state_len()];
        for (k, &j) in self.wet.iter().enumerate() {
            pos[j] = Some(k);
        }
        pos
    }
}

/// A multivariate prior: several variables of one file sharing the member dimension and the
/// horizontal grid, analysed jointly as one state vector (the blocks one after the other). The
/// variables may have different levels (e.g. sea-surface height over `(y, x)` beside temperature
/// over `(depth, y, x)`); each keeps its own land mask.
#[derive(Debug, Clone)]
pub struct StateEnsemble {
    /// One block per variable, in the order given; their `ensemble` fields are emptied once
    /// joined into [`StateEnsemble::ensemble`].
    pub blocks: Vec<PriorEnsemble>,
    /// First state-vector column of each block, and the total as a last entry.
    pub offsets: Vec<usize>,
    /// Members x (wet elements of every block).
    pub ensemble: Array2<f64>,
}

impl StateEnsemble {
    /// Reads `variables` of `file` along member dimension `member_dim`. Every variable must have
    /// the same number of members and the same two horizontal (last) dimensions.
    pub fn read(file: &NcFile, variables: &[String], member_dim: &str) -> Result<StateEnsemble> {
        let mut blocks = Vec::with_capacity(variables.len());
        for (i, variable) in variables.iter().enumerate() {
            if variables[..i].contains(variable) {
                return Err(file.var_error(variable, "is listed twice among the analysed variables"));
            }
            let block = PriorEnsemble::read(file, variable, member_dim)?;
            if let Some(first) = blocks.first() {
                Self::check_compatible(file, first, &block)?;
            }
            blocks.push(block);
        }
        let mut offsets = vec![0];
        for b in &blocks {
            offsets.push(offsets.last().expect("starts with 0") + b.wet.len());
        }
        let members = blocks.first().map_or(0, |b| b.ensemble.nrows());
        let mut ensemble = Array2::zeros((members, *offsets.last().expect("starts with 0")));
        for (b, w) in blocks.iter_mut().zip(offsets.windows(2)) {
            ensemble.slice_mut(ndarray::s![.., w[0]..w[1]]).assign(&b.ensemble);
            b.ensemble = Array2::zeros((0, 0));
        }
        Ok(StateEnsemble { blocks, offsets, ensemble })
    }

    fn check_compatible(file: &NcFile, first: &PriorEnsemble, block: &PriorEnsemble) -> Result<()> {
        let horizontal = |b: &PriorEnsemble| {
            let n = b.state_dims.len();
            let k = n.min(2);
            (b.state_dims[n - k..].to_vec(), b.state_shape[n - k..].to_vec())
        };
        let members = |b: &PriorEnsemble| b.shape[b.member_axis];
        if members(block) != members(first) {
            return Err(file.var_error(
                &block.variable,
                format!("has {} members; `{}` has {}: the analysed variables must share the member dimension", members(block), first.variable, members(first)),
            ));
        }
        if horizontal(block) != horizontal(first) {
            return Err(file.var_error(
                &block.variable,
                format!(
                    "has horizontal dimensions ({}); `{}` has ({}): the analysed variables must share the grid",
                    horizontal(block).0.join(", "),
                    first.variable,
                    horizontal(first).0.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// The block of variable `name` and its index.
    pub fn block(&self, name: &str) -> Option<(usize, &PriorEnsemble)> {
        self.blocks.iter().enumerate().find(|(_, b)| b.variable == name)
    }

    /// Names of the analysed variables.
    pub fn variables(&self) -> Vec<&str> {
        self.blocks.iter().map(|b| b.variable.as_str()).collect()
    }

    /// Location of every state element on `grid` (the horizontal grid all blocks share).
    pub fn locations(&self, grid: &Grid) -> Vec<crate::kalman::localization::Point> {
        self.blocks.iter().flat_map(|b| b.locations(grid)).collect()
    }

    /// For every horizontal grid point, the state-vector column of block `b`'s horizontal field
    /// `level` there (`None` on land): what operators at one level read.
    pub fn level_columns(&self, b: usize, level: usize) -> Vec<Option<usize>> {
        let block = &self.blocks[b];
        let (plane, positions, offset) = (block.horizontal_len(), block.positions(), self.offsets[b]);
        positions[level * plane..(level + 1) * plane].iter().map(|p| p.map(|p| offset + p)).collect()
    }

    /// The columns of block `b` in a members x state matrix (or a state vector).
    pub fn columns(&self, b: usize) -> std::ops::Range<usize> {
        self.offsets[b]..self.offsets[b + 1]
    }
}
