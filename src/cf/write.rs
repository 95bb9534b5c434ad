//! Writing CF-1.8 NetCDF-4 files: global provenance attributes, coordinate variables, deflate
//! compression and chunking. Missing values (NaN in memory) are written as `_FillValue`.
//!
//! Callers write into a staging directory (see `pipeline::staging`), so a failed write never leaves
//! a half-written file in place.

use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};

use netcdf::AttributeValue;

use crate::config::IoConfig;
use crate::error::{Error, Result};

/// The netCDF default fill value for doubles (and, cast, floats): what xarray expects to see.
pub const FILL_F64: f64 = 9.969_209_968_386_869e36;
/// The netCDF default fill value for floats.
pub const FILL_F32: f32 = 9.969_21e36;
/// Largest chunk we ask for, in elements (4 MiB of doubles): big enough for fast reads of whole
/// fields, small enough for partial reads and bounded memory in the HDF5 chunk cache.
const MAX_CHUNK_ELEMS: usize = 1 << 19;

/// A NetCDF-4 file being written.
pub struct NcWriter {
    /// Closed by [`NcWriter::finish`]. A writer dropped unfinished is on an error path, often a
    /// write that failed on a full disk, its file in a staging directory about to be removed; the
    /// file is then left to HDF5 as it is. Dropping it would `nc_close` it, which flushes again and
    /// fails again, and netcdf-c's `nc_abort` crashed (SIGSEGV) reporting the objects still open.
    /// The handle lasts until the process exits, which an error soon makes it do; HDF5's exit
    /// handler, which would try the flush once more and crashed too, is off
    /// (`cf::quiet_hdf5_errors`).
    file: ManuallyDrop<netcdf::FileMut>,
    path: PathBuf,
    deflate: i32,
    shuffle: bool,
}

/// An attribute `(name, value)` for [`NcWriter`] calls.
pub type Attr<'a> = (&'a str, AttributeValue);

/// The variable types of CF-1.8 (section 2.2: byte, short, int, float, double; char is written as
/// text attributes here): [`NcWriter::define`] takes no other, so that no file gets a 64-bit or
/// unsigned integer variable, which CF-1.8 readers need not understand.
pub trait CfType: netcdf::NcTypeDescriptor + sealed::Sealed {}
impl CfType for i8 {}
impl CfType for i16 {}
impl CfType for i32 {}
impl CfType for f32 {}
impl CfType for f64 {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for i8 {}
    impl Sealed for i16 {}
    impl Sealed for i32 {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// `value` in a CF-1.8 type: 64-bit and unsigned 32-bit integers (which CF-1.8 lacks, and which
/// reach us from input files' attributes copied along) become int where every value fits, double
/// otherwise (exact up to 2^53).
fn cf_attribute(value: AttributeValue) -> AttributeValue {
    use AttributeValue as A;
    let ints = |v: Vec<f64>| {
        if v.iter().all(|&x| x >= i32::MIN as f64 && x <= i32::MAX as f64) { A::Ints(v.into_iter().map(|x| x as i32).collect()) } else { A::Doubles(v) }
    };
    let int = |x: f64| if x >= i32::MIN as f64 && x <= i32::MAX as f64 { A::Int(x as i32) } else { A::Double(x) };
    match value {
        A::Longlong(x) => int(x as f64),
        A::Ulonglong(x) => int(x as f64),
        A::Uint(x) => int(x as f64),
        A::Longlongs(v) => ints(v.into_iter().map(|x| x as f64).collect()),
        A::Ulonglongs(v) => ints(v.into_iter().map(|x| x as f64).collect()),
        A::Uints(v) => ints(v.into_iter().map(|x| x as f64).collect()),
        other => other,
    }
}

/// Storage type of floating-point data variables: `f64` keeps every bit of a computation, `f32`
/// halves the file where seven significant digits are enough (shipped sample data, plots).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats (NC_FLOAT).
    F32,
    /// 64-bit floats (NC_DOUBLE).
    #[default]
    F64,
}

impl NcWriter {
    /// Creates `path` with the CF global attributes: `Conventions`, `title`, `institution`,
    /// `source` (contrada version and git revision) and `history` (time and command line).
    pub fn create(path: &Path, io: &IoConfig, title: &str) -> Result<NcWriter> {
        super::quiet_hdf5_errors();
        let file = netcdf::create(path).map_err(|e| write_error(path, format!("cannot create NetCDF file: {e}")))?;
        let mut w = NcWriter { file: ManuallyDrop::new(file), path: path.to_path_buf(), deflate: io.deflate_level, shuffle: io.shuffle };
        let command: Vec<String> = std::env::args().collect();
        let history = format!("{} {}", chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"), command.join(" "));
        let source = format!("contrada {} (git {})", env!("CARGO_PKG_VERSION"), crate::GIT_REVISION);
        w.global("Conventions", "CF-1.8")?;
        w.global("title", title)?;
        w.global("source", source.as_str())?;
        w.global("history", history.as_str())?;
        if !io.institution.is_empty() {
            w.global("institution", io.institution.as_str())?;
        }
        Ok(w)
    }

    fn err(path: &Path, what: &str, e: netcdf::Error) -> Error {
        write_error(path, format!("writing {what}: {e}"))
    }

    /// Sets a global attribute.
    pub fn global(&mut self, name: &str, value: impl Into<AttributeValue>) -> Result<()> {
        self.file.add_attribute(name, cf_attribute(value.into())).map_err(|e| Self::err(&self.path, name, e))?;
        Ok(())
    }

    /// Adds a dimension.
    pub fn dim(&mut self, name: &str, len: usize) -> Result<()> {
        self.file.add_dimension(name, len).map_err(|e| Self::err(&self.path, name, e))?;
        Ok(())
    }

    /// Adds a 1-D coordinate variable over the dimension of the same name (created if needed).
    pub fn coord(&mut self, name: &str, values: &[f64], attrs: Vec<Attr<'_>>) -> Result<()> {
        if self.file.dimension(name).is_none() {
            self.dim(name, values.len())?;
        }
        self.var_f64(name, &[name], values, attrs)
    }

    /// Adds a double variable over `dims`, NaN written as `_FillValue`.
    pub fn var_f64(&mut self, name: &str, dims: &[&str], data: &[f64], attrs: Vec<Attr<'_>>) -> Result<()> {
        let has_nan = data.iter().any(|x| x.is_nan());
        let data: Vec<f64> = data.iter().map(|&x| if x.is_nan() { FILL_F64 } else { x }).collect();
        self.put::<f64>(name, dims, &data, attrs, has_nan.then_some(AttributeValue::Double(FILL_F64)))
    }

    /// Adds a float variable over `dims`, NaN written as `_FillValue`.
    pub fn var_f32(&mut self, name: &str, dims: &[&str], data: &[f32], attrs: Vec<Attr<'_>>) -> Result<()> {
        let has_nan = data.iter().any(|x| x.is_nan());
        let data: Vec<f32> = data.iter().map(|&x| if x.is_nan() { FILL_F32 } else { x }).collect();
        self.put::<f32>(name, dims, &data, attrs, has_nan.then_some(AttributeValue::Float(FILL_F32)))
    }

    /// Adds a floating-point variable over `dims`, stored as `precision` (values computed in f64).
    pub fn var_real(&mut self, name: &str, dims: &[&str], data: &[f64], precision: Precision, attrs: Vec<Attr<'_>>) -> Result<()> {
        match precision {
            Precision::F64 => self.var_f64(name, dims, data, attrs),
            Precision::F32 => {
                let single: Vec<f32> = data.iter().map(|&x| x as f32).collect();
                self.var_f32(name, dims, &single, attrs)
            }
        }
    }

    /// Adds an integer variable over `dims`.
    pub fn var_i32(&mut self, name: &str, dims: &[&str], data: &[i32], attrs: Vec<Attr<'_>>) -> Result<()> {
        self.put::<i32>(name, dims, data, attrs, None)
    }

    fn put<T: CfType + Copy>(&mut self, name: &str, dims: &[&str], data: &[T], attrs: Vec<Attr<'_>>, fill: Option<AttributeValue>) -> Result<()> {
        let shape: Vec<usize> = dims
            .iter()
            .map(|d| self.file.dimension_len(d).ok_or_else(|| Error::Other(format!("{}: variable {name}: dimension {d} not defined", self.path.display()))))
            .collect::<Result<_>>()?;
        let expected: usize = shape.iter().product();
        if expected != data.len() {
            return Err(Error::Other(format!("{}: variable {name}: {} values for shape {shape:?}", self.path.display(), data.len())));
        }
        let chunks = chunk_shape(&shape);
        let (deflate, shuffle, path) = (self.deflate, self.shuffle, self.path.clone());
        let err = |what: &str, e: netcdf::Error| write_error(&path, format!("writing {name} ({what}): {e}"));
        let mut var = self.file.add_variable::<T>(name, dims).map_err(|e| err("definition", e))?;
        if !shape.is_empty() && expected > 0 {
            var.set_chunking(&chunks).map_err(|e| err("chunking", e))?;
            if deflate > 0 {
                var.set_compression(deflate, shuffle).map_err(|e| err("compression", e))?;
            }
        }
        if let Some(fill) = fill {
            var.put_attribute("_FillValue", fill).map_err(|e| err("_FillValue", e))?;
        }
        for (key, value) in attrs {
            var.put_attribute(key, cf_attribute(value)).map_err(|e| err(key, e))?;
        }
        if expected > 0 {
            var.put_values(data, ..).map_err(|e| err("values", e))?;
        }
        Ok(())
    }

    /// Adds an unlimited dimension, for outputs whose length is known only once written
    /// (records appended chunk by chunk).
    pub fn unlimited_dim(&mut self, name: &str) -> Result<()> {
        self.file.add_unlimited_dimension(name).map_err(|e| Self::err(&self.path, name, e))?;
        Ok(())
    }

    /// Defines a variable over `dims` without writing data, for outputs streamed in hyperslabs
    /// with [`NcWriter::write_slab`]. `chunks` is the HDF5 chunk shape
    /// (needed when a dimension is unlimited); deflate and shuffle follow the writer's settings.
    /// Floating-point variables get the default `_FillValue` ([`FILL_F64`], [`FILL_F32`]): write
    /// it where a value is missing.
    pub fn define<T: CfType>(&mut self, name: &str, dims: &[&str], chunks: &[usize], attrs: Vec<Attr<'_>>) -> Result<()> {
        let (deflate, shuffle, path) = (self.deflate, self.shuffle, self.path.clone());
        let err = |what: &str, e: netcdf::Error| write_error(&path, format!("defining {name} ({what}): {e}"));
        let mut var = self.file.add_variable::<T>(name, dims).map_err(|e| err("definition", e))?;
        if !chunks.is_empty() {
            var.set_chunking(chunks).map_err(|e| err("chunking", e))?;
            if deflate > 0 {
                var.set_compression(deflate, shuffle).map_err(|e| err("compression", e))?;
            }
        }
        let fill = match var.vartype() {
            netcdf::types::NcVariableType::Float(netcdf::types::FloatType::F64) => Some(AttributeValue::Double(FILL_F64)),
            netcdf::types::NcVariableType::Float(netcdf::types::FloatType::F32) => Some(AttributeValue::Float(FILL_F32)),
            _ => None,
        };
        if let Some(fill) = fill {
            var.put_attribute("_FillValue", fill).map_err(|e| err("_FillValue", e))?;
        }
        for (key, value) in attrs {
            var.put_attribute(key, cf_attribute(value)).map_err(|e| err(key, e))?;
        }
        Ok(())
    }

    /// Writes `data` into the hyperslab `start .. start+count` of a variable made by
    /// [`NcWriter::define`] (extending its unlimited dimension as needed).
    pub fn write_slab<T: netcdf::NcTypeDescriptor>(&mut self, name: &str, start: &[usize], count: &[usize], data: &[T]) -> Result<()> {
        let path = self.path.clone();
        let mut var = self.file.variable_mut(name).ok_or_else(|| Error::Other(format!("{}: variable {name} is not defined", path.display())))?;
        let extents: Vec<netcdf::Extent> = start.iter().zip(count).map(|(&s, &c)| (s..s + c).into()).collect();
        var.put_values(data, extents).map_err(|e| write_error(&path, format!("writing {name}: {e}")))
    }

    /// Flushes and closes the file.
    pub fn finish(self) -> Result<()> {
        let path = self.path;
        ManuallyDrop::into_inner(self.file).close().map_err(|e| write_error(&path, format!("closing: {e}")))
    }
}

/// A failed write of `path`. netcdf-c reports a full disk only as "NetCDF: HDF error", so the
/// space left on the file system is looked up and named when it has run out: the user must learn
/// to free space, not to suspect the library.
fn write_error(path: &Path, message: String) -> Error {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let full = free_bytes(dir).is_some_and(|free| free < FULL_BELOW);
    let note = if full { " (No space left on device: the file system is full)" } else { "" };
    Error::Other(format!("{}: {message}{note}", path.display()))
}

/// Below this many free bytes a file system counts as full: HDF5 writes in blocks of this order.
const FULL_BELOW: u64 = 1 << 20;

/// Bytes an unprivileged writer may still use on the file system holding `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: a valid NUL-terminated path and a buffer of the right type, read only on success.
    let st = unsafe { (libc::statvfs(c.as_ptr(), st.as_mut_ptr()) == 0).then(|| st.assume_init())? };
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

/// Chunks of one step along the leading (time, member) dimensions and whole trailing (spatial)
/// dimensions, shrinking the trailing dimensions in order until a chunk fits [`MAX_CHUNK_ELEMS`].
pub fn chunk_shape(shape: &[usize]) -> Vec<usize> {
    let mut chunks: Vec<usize> = shape.iter().map(|&n| n.max(1)).collect();
    let lead = shape.len() - shape.len().min(2);
    for c in chunks.iter_mut().take(lead) {
        *c = 1;
    }
    let mut i = lead;
    while chunks.iter().product::<usize>() > MAX_CHUNK_ELEMS && i < chunks.len() {
        let others: usize = chunks.iter().enumerate().filter(|(k, _)| *k != i).map(|(_, c)| c).product();
        chunks[i] = (MAX_CHUNK_ELEMS / others.max(1)).max(1);
        i += 1;
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_one_step_in_time_and_whole_fields() {
        assert_eq!(chunk_shape(&[100, 64, 64]), vec![1, 64, 64]);
        assert_eq!(chunk_shape(&[10, 20, 64, 64]), vec![1, 1, 64, 64]);
        assert_eq!(chunk_shape(&[5000]), vec![5000]);
        let big = chunk_shape(&[3, 4096, 4096]);
        assert!(big.iter().product::<usize>() <= MAX_CHUNK_ELEMS);
        assert_eq!(big[0], 1);
    }

    #[test]
    fn wide_integer_attributes_become_int_or_double() {
        use AttributeValue as A;
        assert_eq!(cf_attribute(A::Longlong(7)), A::Int(7));
        assert_eq!(cf_attribute(A::Longlongs(vec![1, -2])), A::Ints(vec![1, -2]));
        assert_eq!(cf_attribute(A::Ulonglong(1 << 40)), A::Double((1u64 << 40) as f64));
        assert_eq!(cf_attribute(A::Uints(vec![1, u32::MAX])), A::Doubles(vec![1.0, u32::MAX as f64]));
        assert_eq!(cf_attribute(A::Schars(vec![0, 1])), A::Schars(vec![0, 1]));
    }
}
