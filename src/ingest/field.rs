//! Reading one variable laid out as time × [member] × [level] × points, in whatever dimension
//! order the file uses, at a chosen subset of its elements, a chunk of times at a time.
//!
//! States, gridded observations and station series are all such variables; they differ only in
//! which elements are kept (a land mask, stations inside the domain) and in what the point
//! dimensions mean. An element is a (level, point) pair: the index along the level dimension (0
//! when there is none) and the row-major flat index over the point dimensions, which are every
//! dimension that is not time, member or level, in file order.

use crate::cf::{MaskCounts, NcFile};
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
        let time_axis = pos(roles.time).ok_or_else(|| {
            file.var_error(var, format!("has dimensions ({}); expected the time dimension `{}`", dims.join(", "), roles.time))
        })?;
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

    /// The multi-index over [`FieldLayout::element_dims`] of element `(level, point)`.
    pub fn element_index(&self, level: usize, point: usize) -> Vec<usize> {
        let mut idx = Vec::with_capacity(self.point_axes.len() + 1);
        if self.level_axis.is_some() {
            idx.push(level);
        }
        idx.extend(unravel(point, &self.point_shape()));
        idx
    }
}

/// The row-major multi-index of `flat` in `shape`.
pub fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (i, &n) in shape.iter().enumerate().rev() {
        idx[i] = flat % n.max(1);
        flat /= n.max(1);
    }
    idx
}

/// Reads chunks of a variable at selected elements, reusing its buffer between reads.
#[derive(Debug, Default)]
pub struct FieldReader {
    buf: Vec<f64>,
    offsets: Vec<usize>,
}

/// Where the values of one read go: rows of `stride` values, this variable's elements starting
/// at column `col` of each row.
pub struct Target<'a> {
    /// Row-major output, `rows × stride`; rows are (time, member) pairs, member fastest.
    pub out: &'a mut [f64],
    /// Values per row.
    pub stride: usize,
    /// First column of this variable.
    pub col: usize,
}

impl FieldReader {
    /// Reads times `t0 .. t0+n` of `layout` from `file` at `elements` (pairs of level and point
    /// index), masked and unpacked, into `target`; returns the masking counts over the selected
    /// values only.
    pub fn read(&mut self, file: &NcFile, layout: &FieldLayout, t0: usize, n: usize, elements: &[(usize, usize)], target: Target) -> Result<MaskCounts> {
        let (lmin, lmax) = elements.iter().fold((usize::MAX, 0), |(lo, hi), &(l, _)| (lo.min(l), hi.max(l)));
        let (lmin, lmax) = if elements.is_empty() { (0, 0) } else { (lmin, lmax) };
        let mut start = vec![0; layout.shape.len()];
        let mut count = layout.shape.clone();
        start[layout.time_axis] = t0;
        count[layout.time_axis] = n;
        if let Some(a) = layout.level_axis {
            start[a] = lmin;
            count[a] = lmax - lmin + 1;
        }
        file.read_slab_raw_into(&layout.var, &start, &count, &mut self.buf)?;
        let mut strides = vec![1; count.len()];
        for a in (0..count.len().saturating_sub(1)).rev() {
            strides[a] = strides[a + 1] * count[a + 1];
        }
        let point_shape = layout.point_shape();
        self.offsets.clear();
        for &(level, point) in elements {
            let mut off = layout.level_axis.map_or(0, |a| (level - lmin) * strides[a]);
            for (k, i) in unravel(point, &point_shape).into_iter().enumerate() {
                off += i * strides[layout.point_axes[k]];
            }
            self.offsets.push(off);
        }
        let members = layout.members();
        let (st, sm) = (strides[layout.time_axis], layout.member_axis.map_or(0, |a| strides[a]));
        let rule = file.mask_rule(&layout.var);
        let mut counts = MaskCounts::default();
        for t in 0..n {
            for m in 0..members {
                let base = t * st + m * sm;
                let row = (t * members + m) * target.stride + target.col;
                let dst = &mut target.out[row..row + elements.len()];
                for (d, &off) in dst.iter_mut().zip(&self.offsets) {
                    *d = self.buf[base + off];
                }
                counts += rule.apply_all(dst);
            }
        }
        Ok(counts)
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
        let idx = layout.element_index(level, point);
        self.values[idx.iter().zip(&self.strides).map(|(i, s)| i * s).sum::<usize>()]
    }
}
