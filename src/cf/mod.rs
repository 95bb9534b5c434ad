//! CF-1.8 NetCDF: reading any user file as configured, and writing contrada's outputs.
//!
//! Everything that touches netcdf-c goes through this module, so that the rest of the crate sees
//! plain arrays with missing values as NaN, decoded times and typed errors naming file and variable.

pub mod dsg;
pub mod inspect;
pub mod read;
pub mod time;
pub mod write;

pub use read::{MaskCounts, MaskRule, MaskedArray, NcFile, TimeAxis};
pub use write::NcWriter;
