//! The layout types of an ingest data set: what each state and observation element is, the state
//! variables' grids, and a buffer of values in the data set's storage type. The readers fill them
//! and [`super::dataset`] writes and reads them, so both depend on this module and not on each other.

use crate::cf::NcWriter;
use crate::cf::write::{FILL_F32, FILL_F64, Precision};
use crate::error::Result;

/// A state variable as laid out on its grid, to scatter state vectors back into fields.
#[derive(Debug, Clone, PartialEq)]
pub struct GridVariable {
    /// Variable name in the state files.
    pub name: String,
    /// Units.
    pub units: String,
    /// long_name or standard_name.
    pub long_name: String,
    /// Level dimension, if any.
    pub level_dim: Option<String>,
    /// Point dimensions, in file order.
    pub point_dims: Vec<String>,
    /// Their lengths.
    pub point_shape: Vec<usize>,
}

/// Per state element: which variable, level and point it is, and its coordinates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateLayout {
    /// Index into the state variables.
    pub variable: Vec<i32>,
    /// Index along the variable's level dimension (-1: no level dimension).
    pub level: Vec<i32>,
    /// Row-major flat index over the variable's point dimensions.
    pub index: Vec<i64>,
    /// x / longitude (NaN where unknown).
    pub x: Vec<f64>,
    /// y / latitude (NaN where unknown).
    pub y: Vec<f64>,
    /// Level coordinate (NaN where unknown).
    pub z: Vec<f64>,
}

/// Per observation element: which source and variable, where, when relative to the state time,
/// and with what error.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObsLayout {
    /// Index of the source.
    pub source: Vec<i32>,
    /// Index into the observed variables of all sources (see [`ObsLayout::variable_names`]).
    pub variable: Vec<i32>,
    /// Element within the source: flat grid point, station, or `track * points + point`.
    pub index: Vec<i64>,
    /// x / longitude of a gridded point or station (NaN for trajectories: there it is the value).
    pub x: Vec<f64>,
    /// y / latitude, as `x`.
    pub y: Vec<f64>,
    /// Time of the value relative to the state time, seconds (trajectory points; 0 otherwise).
    pub time_offset: Vec<f64>,
    /// Observation error standard deviation (NaN where unknown).
    pub error_std: Vec<f64>,
    /// Names of the sources.
    pub source_names: Vec<String>,
    /// `source.variable` names, e.g. `drifters.x`, `sst.analysed_sst`.
    pub variable_names: Vec<String>,
    /// Units of each variable.
    pub variable_units: Vec<String>,
}

/// Floating-point values in the storage type of `dataset.nc`, NaN stored as the fill value.
#[derive(Debug)]
pub enum Real {
    /// Single precision.
    F32(Vec<f32>),
    /// Double precision.
    F64(Vec<f64>),
}

impl Real {
    /// An empty buffer of `precision`.
    pub fn new(precision: Precision) -> Real {
        match precision {
            Precision::F32 => Real::F32(Vec::new()),
            Precision::F64 => Real::F64(Vec::new()),
        }
    }

    /// Appends `xs`, converted.
    pub fn push(&mut self, xs: &[f64]) {
        match self {
            Real::F32(v) => v.extend(xs.iter().map(|&x| if x.is_nan() { FILL_F32 } else { x as f32 })),
            Real::F64(v) => v.extend(xs.iter().map(|&x| if x.is_nan() { FILL_F64 } else { x })),
        }
    }

    /// Removes every value, keeping the allocation.
    pub fn clear(&mut self) {
        match self {
            Real::F32(v) => v.clear(),
            Real::F64(v) => v.clear(),
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Real::F32(v) => v.len(),
            Real::F64(v) => v.len(),
        }
    }

    /// Whether there is no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the values into the slab `start`/`count` of variable `name`.
    pub(super) fn write(&self, w: &mut NcWriter, name: &str, start: &[usize], count: &[usize]) -> Result<()> {
        match self {
            Real::F32(v) => w.write_slab(name, start, count, v),
            Real::F64(v) => w.write_slab(name, start, count, v),
        }
    }
}
