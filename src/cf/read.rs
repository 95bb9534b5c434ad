//! Reading CF variables: unpacking, masking and time decoding, with errors that name the file,
//! the variable and what was expected.

use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn};
use netcdf::AttributeValue;

use super::time::{Calendar, CfDateTime, TimeUnits};
use crate::error::{Error, Result};

/// An open NetCDF file.
pub struct NcFile {
    path: PathBuf,
    file: netcdf::File,
}

/// A variable's values as f64 with every missing value (fill, missing_value, outside the valid
/// range, NaN) set to NaN, after `scale_factor`/`add_offset`.
#[derive(Debug, Clone)]
pub struct MaskedArray {
    /// Dimension names, in order.
    pub dims: Vec<String>,
    /// The values; NaN where missing.
    pub data: ArrayD<f64>,
}

/// A decoded time coordinate.
#[derive(Debug, Clone)]
pub struct TimeAxis {
    /// The variable's raw values, in its units.
    pub values: Vec<f64>,
    /// The parsed units and calendar.
    pub units: TimeUnits,
    /// The decoded instants.
    pub times: Vec<CfDateTime>,
}

impl NcFile {
    /// Opens `path`; a missing, non-NetCDF or truncated file is an input error naming it.
    pub fn open(path: impl AsRef<Path>) -> Result<NcFile> {
        let path = path.as_ref();
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::input(path, "file not found"),
            _ => Error::io(path, e),
        })?;
        if meta.is_dir() {
            return Err(Error::input(path, "is a directory, expected a NetCDF file"));
        }
        super::quiet_hdf5_errors();
        let file = netcdf::open(path).map_err(|e| {
            let why = if looks_like_netcdf(path) { "truncated or corrupt NetCDF file" } else { "not a NetCDF file (expected NetCDF-3 or NetCDF-4/HDF5)" };
            Error::input(path, format!("{why}: {e}"))
        })?;
        Ok(NcFile { path: path.to_path_buf(), file })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An input error about variable `var` of this file.
    pub fn var_error(&self, var: &str, message: impl std::fmt::Display) -> Error {
        Error::input(&self.path, format!("variable `{var}`: {message}"))
    }

    /// Dimensions `(name, length)` in file order.
    pub fn dims(&self) -> Vec<(String, usize)> {
        self.file.dimensions().map(|d| (d.name(), d.len())).collect()
    }

    /// Length of dimension `name`.
    pub fn dim_len(&self, name: &str) -> Result<usize> {
        self.file.dimension_len(name).ok_or_else(|| {
            let have: Vec<_> = self.dims().into_iter().map(|(n, _)| n).collect();
            Error::input(&self.path, format!("dimension `{name}` not found; the file has: {}", have.join(", ")))
        })
    }

    /// Names of all variables.
    pub fn var_names(&self) -> Vec<String> {
        self.file.variables().map(|v| v.name()).collect()
    }

    /// Whether the file has variable `name`.
    pub fn has_var(&self, name: &str) -> bool {
        self.file.variable(name).is_some()
    }

    fn var(&self, name: &str) -> Result<netcdf::Variable<'_>> {
        self.file.variable(name).ok_or_else(|| Error::input(&self.path, format!("variable `{name}` not found; the file has: {}", self.var_names().join(", "))))
    }

    /// Dimension names of variable `name`.
    pub fn var_dims(&self, name: &str) -> Result<Vec<String>> {
        Ok(self.var(name)?.dimensions().iter().map(|d| d.name()).collect())
    }

    /// String attribute `attr` of variable `var` (or a global attribute when `var` is None).
    pub fn attr_str(&self, var: Option<&str>, attr: &str) -> Option<String> {
        match self.attr_value(var, attr)? {
            AttributeValue::Str(s) => Some(s),
            AttributeValue::Strs(v) => Some(v.join(" ")),
            _ => None,
        }
    }

    /// Numeric attribute as f64 values.
    pub fn attr_f64s(&self, var: Option<&str>, attr: &str) -> Option<Vec<f64>> {
        attr_to_f64s(&self.attr_value(var, attr)?)
    }

    fn attr_value(&self, var: Option<&str>, attr: &str) -> Option<AttributeValue> {
        match var {
            Some(v) => self.file.variable(v)?.attribute_value(attr)?.ok(),
            None => self.file.attribute(attr)?.value().ok(),
        }
    }

    /// Every attribute of variable `var` (global attributes when `var` is None), in file order;
    /// attributes whose values netcdf cannot decode are left out.
    pub fn attributes(&self, var: Option<&str>) -> Result<Vec<(String, AttributeValue)>> {
        let decode = |a: netcdf::Attribute<'_>| a.value().ok().map(|v| (a.name().to_string(), v));
        Ok(match var {
            Some(v) => self.var(v)?.attributes().filter_map(decode).collect(),
            None => self.file.attributes().filter_map(decode).collect(),
        })
    }

    /// Whether variable `name` holds integers (so that a copy can keep its type).
    pub fn is_integer(&self, name: &str) -> Result<bool> {
        Ok(matches!(self.var(name)?.vartype(), netcdf::types::NcVariableType::Int(_)))
    }

    /// Reads the whole variable (see [`MaskedArray`]).
    pub fn read(&self, name: &str) -> Result<MaskedArray> {
        let var = self.var(name)?;
        let shape: Vec<usize> = var.dimensions().iter().map(|d| d.len()).collect();
        let start = vec![0; shape.len()];
        self.read_slab(name, &start, &shape)
    }

    /// Reads the whole variable as stored 32-bit floats, masked (NaN) like [`NcFile::read`]: for a
    /// `float` variable that is not packed ([`MaskRule::is_packed`]), whose values then need no
    /// conversion and take half the memory of f64.
    pub fn read_f32(&self, name: &str) -> Result<Vec<f32>> {
        let count: Vec<usize> = self.var(name)?.dimensions().iter().map(|d| d.len()).collect();
        let mut values = Vec::new();
        self.read_slab_raw_into(name, &vec![0; count.len()], &count, &mut values)?;
        let rule = self.mask_rule(name);
        let mut counts = MaskCounts::default();
        for x in &mut values {
            if rule.unpack(f64::from(*x), &mut counts).is_nan() {
                *x = f32::NAN;
            }
        }
        if !values.is_empty() && values.iter().all(|x| x.is_nan()) {
            return Err(self.all_missing(name));
        }
        Ok(values)
    }

    /// The error for a variable whose every value is missing: it would silently empty whatever is
    /// built from it downstream.
    fn all_missing(&self, name: &str) -> Error {
        self.var_error(name, "every value is missing (_FillValue, missing_value or outside valid_range); expected data")
    }

    /// Reads the whole variable as a flat row-major vector, masked and unpacked like
    /// [`NcFile::read`], but without failing when every value is missing (a coordinate that is
    /// unknown everywhere, an all-masked observation block).
    pub fn read_values(&self, name: &str) -> Result<Vec<f64>> {
        let count: Vec<usize> = self.var(name)?.dimensions().iter().map(|d| d.len()).collect();
        let mut values = Vec::new();
        self.read_slab_into(name, &vec![0; count.len()], &count, &mut values)?;
        Ok(values)
    }

    /// Checks, without reading any value, that variable `name` exists with exactly the dimensions `dims`.
    pub fn expect_dims(&self, name: &str, dims: &[&str]) -> Result<()> {
        let have = self.var_dims(name)?;
        if have.iter().map(String::as_str).ne(dims.iter().copied()) {
            return Err(self.var_error(name, format!("expected dimensions ({}), found ({})", dims.join(", "), have.join(", "))));
        }
        Ok(())
    }

    /// Reads the whole variable and checks that its dimensions are exactly `dims`.
    pub fn read_expect(&self, name: &str, dims: &[&str]) -> Result<MaskedArray> {
        self.expect_dims(name, dims)?;
        self.read(name)
    }

    /// Reads the hyperslab `start .. start+count`, so archives larger than memory can be read in
    /// pieces. A variable whose slab is entirely missing is an error (it would silently empty a
    /// data set downstream).
    pub fn read_slab(&self, name: &str, start: &[usize], count: &[usize]) -> Result<MaskedArray> {
        let mut data = Vec::new();
        self.read_slab_into(name, start, count, &mut data)?;
        if !data.is_empty() && data.iter().all(|x| x.is_nan()) {
            return Err(self.all_missing(name));
        }
        let dims = self.var_dims(name)?;
        let data = ArrayD::from_shape_vec(IxDyn(count), data).map_err(|e| Error::Other(e.to_string()))?;
        Ok(MaskedArray { dims, data })
    }

    /// Reads the hyperslab `start .. start+count` into `buf` (resized; row-major over the
    /// variable's dimensions), masked and unpacked like [`NcFile::read_slab`], and counts why values
    /// were masked. Unlike `read_slab`, an all-missing slab is not an error: observations may
    /// legitimately be absent (a cloudy day), and the caller reuses `buf` across chunks.
    pub fn read_slab_into(&self, name: &str, start: &[usize], count: &[usize], buf: &mut Vec<f64>) -> Result<MaskCounts> {
        self.read_slab_raw_into(name, start, count, buf)?;
        Ok(self.mask_rule(name).apply_all(buf))
    }

    /// Like [`NcFile::read_slab_into`] but without masking or unpacking, converted to `T` by
    /// netcdf-c: the stored values, for callers that select a few of them first and then apply
    /// [`NcFile::mask_rule`] to those. Reading a `float` variable as `f32` skips a conversion pass.
    pub fn read_slab_raw_into<T: netcdf::NcTypeDescriptor + Copy + Default>(
        &self,
        name: &str,
        start: &[usize],
        count: &[usize],
        buf: &mut Vec<T>,
    ) -> Result<()> {
        let var = self.var(name)?;
        if !matches!(var.vartype(), netcdf::types::NcVariableType::Int(_) | netcdf::types::NcVariableType::Float(_)) {
            return Err(self.var_error(name, "expected a numeric variable"));
        }
        let rank = var.dimensions().len();
        if start.len() != rank || count.len() != rank {
            return Err(self.var_error(name, format!("has {rank} dimensions; a slab of {} was asked for", count.len())));
        }
        let n: usize = count.iter().try_fold(1usize, |acc, &c| acc.checked_mul(c)).unwrap_or(usize::MAX);
        self.check_fits_in_memory(name, n as u64, n.saturating_mul(std::mem::size_of::<T>()) as u64)?;
        if buf.len() != n {
            // Resized only when the slab size changes: netcdf-c overwrites every value, and
            // zeroing a reused buffer first would cost a pass over memory per read.
            buf.clear();
            buf.resize(n, T::default());
        }
        let extents: Vec<netcdf::Extent> = start.iter().zip(count).map(|(&s, &c)| (s..s + c).into()).collect();
        var.get_values_into(buf.as_mut_slice(), extents).map_err(|e| self.var_error(name, format!("cannot read: {e}")))
    }

    /// Refuses work on the `n` values of variable `name` that would take `bytes` of memory the
    /// machine cannot spare: a file may declare a dimension of billions (costing no disk while
    /// unwritten), and allocating for it would abort the process instead of naming the variable.
    /// Half the available memory is the limit: every caller makes at least one more array of the
    /// same length from what it reads (masks, f64 conversions, the values it keeps).
    pub fn check_fits_in_memory(&self, name: &str, n: u64, bytes: u64) -> Result<()> {
        // Every machine contrada runs on has this much; reads below it (every chunk of a streamed
        // archive) skip the look-up in /proc.
        const ALWAYS_FITS: u64 = 64 << 20;
        if bytes <= ALWAYS_FITS {
            return Ok(());
        }
        let available = available_memory_bytes();
        if bytes > available / 2 {
            return Err(self.var_error(
                name,
                format!(
                    "its {n} values would need about {bytes} bytes of memory, more than half the {available} bytes available (MemAvailable in /proc/meminfo, or the cgroup's limit); expected a variable that fits in memory"
                ),
            ));
        }
        Ok(())
    }

    /// Whether variable `name` is stored as 32-bit floats.
    pub fn is_f32(&self, name: &str) -> Result<bool> {
        Ok(matches!(self.var(name)?.vartype(), netcdf::types::NcVariableType::Float(netcdf::types::FloatType::F32)))
    }

    /// The CF masking and unpacking rule of variable `name` (`_FillValue`, `missing_value`,
    /// `valid_range`/`valid_min`/`valid_max`, `scale_factor`, `add_offset`).
    pub fn mask_rule(&self, name: &str) -> MaskRule {
        MaskRule::of(self, name)
    }

    /// The HDF5 chunk shape of variable `name` (None for contiguous or NetCDF-3 storage): reads
    /// aligned to it avoid decompressing a chunk twice.
    pub fn chunking(&self, name: &str) -> Result<Option<Vec<usize>>> {
        self.var(name)?.chunking().map_err(|e| self.var_error(name, format!("cannot read its chunking: {e}")))
    }

    /// The parsed `units` and `calendar` of time variable `name`.
    pub fn time_units(&self, name: &str) -> Result<TimeUnits> {
        let units_text = self.attr_str(Some(name), "units").ok_or_else(|| self.var_error(name, "no `units` attribute; expected \"<unit> since <date>\""))?;
        let calendar = match self.attr_str(Some(name), "calendar") {
            None => Calendar::Standard,
            Some(c) => c.parse::<Calendar>().map_err(|e| self.var_error(name, format!("calendar attribute: {e}")))?,
        };
        TimeUnits::parse(&units_text, calendar).map_err(|e| self.var_error(name, e))
    }

    /// Reads and decodes a time coordinate; its values must be set and strictly increasing.
    pub fn read_time(&self, name: &str) -> Result<TimeAxis> {
        let (units, values) = self.read_time_values(name)?;
        if let Some(i) = values.iter().position(|v| v.is_nan()) {
            return Err(self.var_error(name, format!("time value {i} is missing; expected every time to be set")));
        }
        if let Some(i) = values.windows(2).position(|w| w[1] <= w[0]) {
            let t = |k: usize| units.try_decode(values[k]).map_or_else(|| "undecodable".to_string(), |d| d.to_string());
            return Err(self.var_error(
                name,
                format!("time is not strictly increasing: value {} ({}) follows value {} ({}); expected sorted, unique times", i + 1, t(i + 1), i, t(i)),
            ));
        }
        let times = values
            .iter()
            .enumerate()
            .map(|(i, &v)| units.try_decode(v).ok_or_else(|| self.var_error(name, format!("time value {i} ({v}) is outside the representable range"))))
            .collect::<Result<_>>()?;
        Ok(TimeAxis { values, units, times })
    }

    /// The parsed units and the raw values of time variable `name`, missing values as NaN and
    /// without any ordering check: for callers that quality-control times themselves (duplicates,
    /// gaps) instead of rejecting the file.
    pub fn read_time_values(&self, name: &str) -> Result<(TimeUnits, Vec<f64>)> {
        let units = self.time_units(name)?;
        let dims = self.var_dims(name)?;
        let count: Vec<usize> = dims.iter().map(|d| self.dim_len(d)).collect::<Result<_>>()?;
        let mut values = Vec::new();
        self.read_slab_into(name, &vec![0; count.len()], &count, &mut values)?;
        Ok((units, values))
    }

    /// Name of the variable whose `attr` attribute equals `value` (e.g. `standard_name = "time"`).
    pub fn find_var_by_attr(&self, attr: &str, value: &str) -> Option<String> {
        self.var_names().into_iter().find(|v| self.attr_str(Some(v), attr).is_some_and(|a| a.eq_ignore_ascii_case(value)))
    }
}

/// The CF masking and unpacking rules of one variable (see [`NcFile::mask_rule`]).
#[derive(Debug, Clone)]
pub struct MaskRule {
    /// No fill, missing value, valid range or packing: only NaN is missing.
    plain: bool,
    /// Only a `_FillValue` (not NaN), no missing value, valid range or packing.
    fill_only: bool,
    fill: Option<f64>,
    missing: Vec<f64>,
    valid_min: f64,
    valid_max: f64,
    scale: f64,
    offset: f64,
}

impl MaskRule {
    fn of(file: &NcFile, var: &str) -> MaskRule {
        let get = |a: &str| file.attr_f64s(Some(var), a);
        let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
        if let Some(r) = get("valid_range").filter(|r| r.len() == 2) {
            (lo, hi) = (r[0], r[1]);
        }
        if let Some(v) = get("valid_min").and_then(|v| v.first().copied()) {
            lo = v;
        }
        if let Some(v) = get("valid_max").and_then(|v| v.first().copied()) {
            hi = v;
        }
        // Without a `_FillValue` attribute, netCDF's default fill of the type marks the values never
        // written (netCDF user guide; netCDF4-python masks them too): an unwritten time axis is
        // missing, not a run of 9.97e36. Bytes are left alone: their default fill is a real value.
        let fill = get("_FillValue").and_then(|v| v.first().copied()).or_else(|| file.var(var).ok().and_then(|v| default_fill(&v.vartype())));
        let missing = get("missing_value").unwrap_or_default();
        let scale = get("scale_factor").and_then(|v| v.first().copied()).unwrap_or(1.0);
        let offset = get("add_offset").and_then(|v| v.first().copied()).unwrap_or(0.0);
        let plain = fill.is_none() && missing.is_empty() && lo == f64::NEG_INFINITY && hi == f64::INFINITY && scale == 1.0 && offset == 0.0;
        let fill_only =
            fill.is_some_and(|f| !f.is_nan()) && missing.is_empty() && lo == f64::NEG_INFINITY && hi == f64::INFINITY && scale == 1.0 && offset == 0.0;
        MaskRule { plain, fill_only, fill, missing, valid_min: lo, valid_max: hi, scale, offset }
    }

    /// Whether stored values are scaled or offset (`scale_factor`, `add_offset`): only then do they
    /// differ from the physical values they stand for.
    pub fn is_packed(&self) -> bool {
        self.scale != 1.0 || self.offset != 0.0
    }

    /// The unpacked value of stored value `x`, or NaN where masked (counted in `counts`).
    #[inline]
    pub fn unpack(&self, x: f64, counts: &mut MaskCounts) -> f64 {
        if self.plain {
            counts.missing += usize::from(x.is_nan());
            return x;
        }
        if self.fill_only {
            // The common model-output case, kept branch-free: only _FillValue (or NaN) is missing.
            let missing = x.is_nan() || Some(x) == self.fill;
            counts.missing += usize::from(missing);
            return if missing { f64::NAN } else { x };
        }
        match self.classify(x) {
            Masked::No => x * self.scale + self.offset,
            Masked::Missing => {
                counts.missing += 1;
                f64::NAN
            }
            Masked::OutOfRange => {
                counts.out_of_range += 1;
                f64::NAN
            }
        }
    }

    /// Why `x` (a packed value) is masked: CF fill and valid range are in packed units.
    fn classify(&self, x: f64) -> Masked {
        let is_fill = self.fill.is_some_and(|f| x == f || (f.is_nan() && x.is_nan()));
        if x.is_nan() || is_fill || self.missing.contains(&x) {
            Masked::Missing
        } else if x < self.valid_min || x > self.valid_max {
            Masked::OutOfRange
        } else {
            Masked::No
        }
    }

    /// Unpacks `values` into `out` (NaN where masked), counting the masked ones; the loops of the
    /// common cases are branch-free so that they vectorise.
    #[inline]
    pub fn unpack_all(&self, values: impl Iterator<Item = f64>, out: &mut [f64], counts: &mut MaskCounts) {
        if self.plain || self.fill_only {
            let fill = if self.plain { f64::NAN } else { self.fill.unwrap_or(f64::NAN) };
            let mut missing = 0usize;
            for (o, x) in out.iter_mut().zip(values) {
                let m = x.is_nan() || x == fill;
                missing += usize::from(m);
                *o = if m { f64::NAN } else { x };
            }
            counts.missing += missing;
        } else {
            for (o, x) in out.iter_mut().zip(values) {
                *o = self.unpack(x, counts);
            }
        }
    }

    /// Masks and unpacks `values` in place (NaN where masked) and counts the masked values by
    /// reason.
    pub fn apply_all(&self, values: &mut [f64]) -> MaskCounts {
        let mut counts = MaskCounts::default();
        for x in values.iter_mut() {
            *x = self.unpack(*x, &mut counts);
        }
        counts
    }
}

enum Masked {
    No,
    Missing,
    OutOfRange,
}

/// How many values of a read were masked, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaskCounts {
    /// NaN, `_FillValue` or `missing_value`.
    pub missing: usize,
    /// Outside `valid_range` / `valid_min` / `valid_max`.
    pub out_of_range: usize,
}

impl std::ops::AddAssign for MaskCounts {
    fn add_assign(&mut self, other: MaskCounts) {
        self.missing += other.missing;
        self.out_of_range += other.out_of_range;
    }
}

fn attr_to_f64s(v: &AttributeValue) -> Option<Vec<f64>> {
    use AttributeValue as A;
    Some(match v {
        A::Uchar(x) => vec![*x as f64],
        A::Schar(x) => vec![*x as f64],
        A::Ushort(x) => vec![*x as f64],
        A::Short(x) => vec![*x as f64],
        A::Uint(x) => vec![*x as f64],
        A::Int(x) => vec![*x as f64],
        A::Ulonglong(x) => vec![*x as f64],
        A::Longlong(x) => vec![*x as f64],
        A::Float(x) => vec![*x as f64],
        A::Double(x) => vec![*x],
        A::Uchars(x) => x.iter().map(|&y| y as f64).collect(),
        A::Schars(x) => x.iter().map(|&y| y as f64).collect(),
        A::Ushorts(x) => x.iter().map(|&y| y as f64).collect(),
        A::Shorts(x) => x.iter().map(|&y| y as f64).collect(),
        A::Uints(x) => x.iter().map(|&y| y as f64).collect(),
        A::Ints(x) => x.iter().map(|&y| y as f64).collect(),
        A::Ulonglongs(x) => x.iter().map(|&y| y as f64).collect(),
        A::Longlongs(x) => x.iter().map(|&y| y as f64).collect(),
        A::Floats(x) => x.iter().map(|&y| y as f64).collect(),
        A::Doubles(x) => x.clone(),
        A::Str(_) | A::Strs(_) => return None,
    })
}

/// netCDF's default fill value of a variable type (`NC_FILL_DOUBLE` and friends); None for bytes.
fn default_fill(t: &netcdf::types::NcVariableType) -> Option<f64> {
    use netcdf::types::{FloatType, IntType, NcVariableType as T};
    match t {
        T::Float(FloatType::F64) => Some(9.969_209_968_386_869e36),
        T::Float(FloatType::F32) => Some(f64::from(9.969_21e36_f32)),
        T::Int(IntType::I16) => Some(-32767.0),
        T::Int(IntType::I32) => Some(-2_147_483_647.0),
        T::Int(IntType::I64) => Some(-9_223_372_036_854_775_806.0),
        _ => None,
    }
}

/// Memory this process may still allocate: `MemAvailable` from /proc/meminfo, lowered by a cgroup
/// limit when one is set; unbounded where neither can be read.
fn available_memory_bytes() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("MemAvailable:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()))
        .map_or(u64::MAX, |kb| kb * 1024);
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok().and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(u64::MAX);
    let used = std::fs::read_to_string("/sys/fs/cgroup/memory.current").ok().and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(0);
    meminfo.min(cgroup.saturating_sub(used))
}

/// Whether the file starts with a NetCDF-3 or HDF5 signature (to tell "truncated" from "not NetCDF").
fn looks_like_netcdf(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 8];
    let Ok(mut f) = std::fs::File::open(path) else { return false };
    let n = f.read(&mut head).unwrap_or(0);
    (n >= 3 && &head[..3] == b"CDF") || (n >= 8 && head == *b"\x89HDF\r\n\x1a\n")
}
