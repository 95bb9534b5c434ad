//! Reading one variable laid out as time × [member] × [level] × points, in whatever dimension
//! order the file uses, at a chosen subset of its elements, a chunk of times at a time.
//!
//! States, gridded observations and station series are all such variables; they differ only in
//! which elements are kept (a land mask, stations inside the domain) and in what the point
//! dimensions mean. An element is a (level, point) pair: the index along the level dimension (0
//! when there is none) and the row-major flat index over the point dimensions, which are every
//! dimension that is not time, member or level, in file order.

use crate::cf::{MaskCounts, MaskRule, NcFile};
use crate::error::Result;

/// Which dimensions play which role.
#[derive(Debug, Clone, Copy)]
pub struct Roles<'a> {
    /// The time dimension (required).
    pub time: &'a str,
    /// Ensemble member dimension, if any.
    pub member: Option<&'a str>,
    /// Depth or layer dimension, if any (a variable without it has no levels).
    pub level: Option<&'a str>,
}

/// How one variable of one file is laid out.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldLayout {
    /// Variable name.
    pub var: String,
    /// Dimension names in file order.
    pub dims: Vec<String>,
    /// Dimension lengths in file order.
    pub shape: Vec<usize>,
    /// Position of the time dimension.
    pub time_axis: usize,
    /// Position of the member dimension.
    pub member_axis: Option<usize>,
    /// Position of the level dimension.
    pub level_axis: Option<usize>,
    /// Positions of the point dimensions, in file order.
    pub point_axes: Vec<usize>,
}

impl FieldLayout {
    /// The layout of `var` in `file`; the variable must have the time dimension, and the member
    /// dimension when one is configured.
    pub fn of(file: &NcFile, var: &str, roles: &Roles) -> Result<FieldLayout> {
        let dims = file.var_dims(var)?;
        let shape: Vec<usize> = dims.iter().map(|d| file.dim_len(d)).collect::<Result<_>>()?;
        let pos = |name: &str| dims.iter().position(|d| d == name);
        let time_axis = pos(roles.time)
            .ok_or_else(|| file.var_error(var, format!("has dimensions ({}); expected the time dimension `{}`", dims.join(", "), roles.time)))?;
        let member_axis = match roles.member {
            Some(m) => Some(pos(m).ok_or_else(|| file.var_error(var, format!("has dimensions ({}); expected the member dimension `{m}`", dims.join(", "))))?),
            None => None,
        };
        let level_axis = roles.level.and_then(pos);
        let point_axes = (0..dims.len()).filter(|&a| a != time_axis && Some(a) != member_axis && Some(a) != level_axis).collect();
        Ok(FieldLayout { var: var.to_string(), dims, shape, time_axis, member_axis, level_axis, point_axes })
    }

    /// Number of times in the file.
    pub fn times(&self) -> usize {
        self.shape[self.time_axis]
    }

    /// Number of members (1 without a member dimension).
    pub fn members(&self) -> usize {
        self.member_axis.map_or(1, |a| self.shape[a])
    }

    /// Number of levels (1 without a level dimension).
    pub fn levels(&self) -> usize {
        self.level_axis.map_or(1, |a| self.shape[a])
    }

    /// Names of the point dimensions.
    pub fn point_dims(&self) -> Vec<String> {
        self.point_axes.iter().map(|&a| self.dims[a].clone()).collect()
    }

    /// Lengths of the point dimensions.
    pub fn point_shape(&self) -> Vec<usize> {
        self.point_axes.iter().map(|&a| self.shape[a]).collect()
    }

    /// Number of points per level.
    pub fn points(&self) -> usize {
        self.point_shape().iter().product()
    }

    /// Names and lengths of the element dimensions: the level dimension (if any), then the points.
    pub fn element_dims(&self) -> Vec<(String, usize)> {
        self.level_axis.iter().chain(&self.point_axes).map(|&a| (self.dims[a].clone(), self.shape[a])).collect()
    }

    /// Whether `other` (the same variable in another file) has the same layout apart from the
    /// number of times.
    pub fn same_but_time(&self, other: &FieldLayout) -> bool {
        let strip = |l: &FieldLayout| {
            let mut s = l.shape.clone();
            s[l.time_axis] = 0;
            (l.dims.clone(), s)
        };
        strip(self) == strip(other)
    }

    /// Bytes of f64 one time of this variable occupies (all members, levels and points).
    pub fn bytes_per_time(&self) -> usize {
        8 * self.shape.iter().enumerate().filter(|(a, _)| *a != self.time_axis).map(|(_, n)| n).product::<usize>()
    }
}

/// A slab of a variable as stored: times `t0 .. t0+n`, every member and point, the levels
/// `lmin ..= lmax`; `float` variables stay `f32` (half the memory, no conversion pass).
#[derive(Debug, Default)]
pub struct Slab {
    f32: Vec<f32>,
    f64: Vec<f64>,
    single: bool,
    count: Vec<usize>,
    lmin: usize,
}

impl Slab {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        if self.single { 4 * self.f32.len() } else { 8 * self.f64.len() }
    }
}

/// The range of level indices `elements` use.
pub fn level_range(elements: &[(usize, usize)]) -> (usize, usize) {
    let lmin = elements.iter().map(|e| e.0).min().unwrap_or(0);
    let lmax = elements.iter().map(|e| e.0).max().unwrap_or(0);
    (lmin, lmax)
}

impl FieldLayout {
    /// Reads times `t0 .. t0+n` and levels `levels` (inclusive) of this variable into `slab`.
    pub fn read(&self, file: &NcFile, t0: usize, n: usize, levels: (usize, usize), slab: &mut Slab) -> Result<()> {
        let mut start = vec![0; self.shape.len()];
        let mut count = self.shape.clone();
        start[self.time_axis] = t0;
        count[self.time_axis] = n;
        if let Some(a) = self.level_axis {
            start[a] = levels.0;
            count[a] = levels.1 - levels.0 + 1;
        }
        slab.single = file.is_f32(&self.var)?;
        if slab.single {
            file.read_slab_raw_into(&self.var, &start, &count, &mut slab.f32)?;
        } else {
            file.read_slab_raw_into(&self.var, &start, &count, &mut slab.f64)?;
        }
        slab.count = count;
        slab.lmin = levels.0;
        Ok(())
    }
}

/// What to pick out of a variable's slabs: its layout in one file, the elements, and the file's
/// masking rule for it.
#[derive(Clone, Copy)]
pub struct Selection<'a> {
    /// The layout.
    pub layout: &'a FieldLayout,
    /// `(level, point)` pairs.
    pub elements: &'a [(usize, usize)],
    /// Masking and unpacking.
    pub rule: &'a MaskRule,
}

/// Picks the selected elements out of slabs of one variable; the offsets are computed once per
/// slab shape and reused.
#[derive(Debug, Default)]
pub struct Gather {
    key: Option<(Vec<usize>, usize)>,
    /// Runs of elements stored one after the other: (offset in the slab, length); a land mask
    /// leaves long runs of sea points, copied without per-element offsets.
    runs: Vec<(usize, usize)>,
    time_stride: usize,
    member_stride: usize,
}

impl Gather {
    fn prepare(&mut self, layout: &FieldLayout, slab: &Slab, elements: &[(usize, usize)]) {
        if self.key.as_ref().is_some_and(|(c, l)| *c == slab.count && *l == slab.lmin) {
            return;
        }
        let count = &slab.count;
        let mut strides = vec![1; count.len()];
        for a in (0..count.len().saturating_sub(1)).rev() {
            strides[a] = strides[a + 1] * count[a + 1];
        }
        let point_shape = layout.point_shape();
        self.runs.clear();
        for &(level, point) in elements {
            let mut off = layout.level_axis.map_or(0, |a| (level - slab.lmin) * strides[a]);
            let mut rest = point;
            for (k, &n) in point_shape.iter().enumerate().rev() {
                off += (rest % n) * strides[layout.point_axes[k]];
                rest /= n;
            }
            match self.runs.last_mut() {
                Some((start, len)) if *start + *len == off => *len += 1,
                _ => self.runs.push((off, 1)),
            }
        }
        self.time_stride = strides[layout.time_axis];
        self.member_stride = layout.member_axis.map_or(0, |a| strides[a]);
        self.key = Some((slab.count.clone(), slab.lmin));
    }

    /// Writes member `m` at time `t` (both within the slab) of the selected elements into `dst`,
    /// masked and unpacked; returns the masking counts.
    pub fn row(&mut self, sel: &Selection, slab: &Slab, t: usize, m: usize, dst: &mut [f64]) -> MaskCounts {
        let rule = sel.rule;
        self.prepare(sel.layout, slab, sel.elements);
        let base = t * self.time_stride + m * self.member_stride;
        let mut counts = MaskCounts::default();
        let mut at = 0;
        for &(off, len) in &self.runs {
            let out = &mut dst[at..at + len];
            if slab.single {
                rule.unpack_all(slab.f32[base + off..base + off + len].iter().map(|&x| f64::from(x)), out, &mut counts);
            } else {
                rule.unpack_all(slab.f64[base + off..base + off + len].iter().copied(), out, &mut counts);
            }
            at += len;
        }
        counts
    }
}

/// Looks up, for each element of a layout, the value of a static variable (a mask or a
/// coordinate) whose dimensions are some of the element dimensions: `lon(y, x)` for a
/// `temp(time, depth, y, x)`, `depth(depth)`, `mask(y, x)`.
pub struct Projection {
    values: Vec<f64>,
    strides: Vec<usize>,
}

impl Projection {
    /// The projection of variable `var` of `file` onto the element dimensions of `layout`, or
    /// None when `var` has a dimension that is not an element dimension (e.g. a mask on another
    /// grid) or a length that differs.
    pub fn new(file: &NcFile, var: &str, layout: &FieldLayout) -> Result<Option<Projection>> {
        let dims = file.var_dims(var)?;
        let elem = layout.element_dims();
        let mut strides = vec![0; elem.len()];
        let mut stride = 1;
        for d in dims.iter().rev() {
            let Some(k) = elem.iter().position(|(n, _)| n == d) else { return Ok(None) };
            if file.dim_len(d)? != elem[k].1 {
                return Ok(None);
            }
            strides[k] = stride;
            stride *= elem[k].1;
        }
        let values = file.read_values(var)?;
        Ok(Some(Projection { values, strides }))
    }

    /// The value at element `(level, point)` of `layout`.
    pub fn at(&self, layout: &FieldLayout, level: usize, point: usize) -> f64 {
        let mut k = self.strides.len();
        let mut flat = 0;
        let mut rest = point;
        for &a in layout.point_axes.iter().rev() {
            k -= 1;
            let n = layout.shape[a].max(1);
            flat += (rest % n) * self.strides[k];
            rest /= n;
        }
        if layout.level_axis.is_some() {
            flat += level * self.strides[0];
        }
        self.values[flat]
    }
}
