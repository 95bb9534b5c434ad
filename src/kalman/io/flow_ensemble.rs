//! A Lagrangian states file (`lagrangian_states.nc`, see [`crate::synth::lagrangian`]) as an
//! ensemble for the Kalman baselines, and the analysis written back in the layout `evaluate`
//! reads (the one of the `assimilate` stage's `analysis_M.nc`).
//!
//! Each selected sample along the member dimension (`time` in the synth files) is a member. Its
//! state is the blocks `coef` (the Fourier coefficients at the sample's time stamp), `omega` (the
//! frequencies, which the drifter operator needs to run the flow back from the stamp) and every
//! gridded field over `(member, y, x)` (`psi`, `u`, `v`: linear in the coefficients, analysed
//! alongside them so that the analysis has them as ensembles). The coefficients and frequencies
//! are global quantities: their location is [`UNLOCALISED`], so the LETKF gives them the global
//! (ETKF) weights; grid points sit at their `(x, y)` on the periodic unit square.

use ndarray::Array2;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::analysis::layout::{borrowed, copied_attributes, copy_globals, copy_variable, statistic_attrs};
use crate::cf::time::TimeUnits;
use crate::cf::{NcFile, NcWriter};
use crate::error::{Error, Result};
use crate::kalman::localization::{Point, UNLOCALISED};
use crate::kalman::obs::drifter_obs::FlowSlots;
use crate::models::fourier_flow::FourierFlow;

/// One variable of the state: its name, its dimensions after the member dimension, and where
/// its values sit in the state vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Variable name in the states file (and the analysis file).
    pub name: String,
    /// Dimensions after the member dimension, with lengths.
    pub dims: Vec<(String, usize)>,
    /// Offset in the state vector.
    pub offset: usize,
}

impl Block {
    /// Number of state elements.
    pub fn len(&self) -> usize {
        self.dims.iter().map(|d| d.1).product()
    }

    /// Whether the block is empty (never, for a block read from a file).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Selected samples of a states file as an ensemble.
#[derive(Debug, Clone)]
pub struct FlowEnsemble {
    /// The state's variables, `coef` and `omega` first.
    pub blocks: Vec<Block>,
    /// Where the flow is in each state vector.
    pub slots: FlowSlots,
    /// Indices of the selected samples along the member dimension.
    pub members: Vec<usize>,
    /// Members x state.
    pub ensemble: Array2<f64>,
    /// Location of each state element.
    pub locations: Vec<Point>,
}

/// Number of samples along `member_dim` of `coef`.
pub fn sample_count(file: &NcFile, member_dim: &str) -> Result<usize> {
    let dims = file.var_dims("coef")?;
    if dims.first().map(String::as_str) != Some(member_dim) || dims.len() != 2 {
        return Err(file.var_error("coef", format!("has dimensions ({}); expected ({member_dim}, coef_index)", dims.join(", "))));
    }
    file.dim_len(member_dim)
}

/// `k` of the `n` samples drawn without replacement from `seed`, in increasing order; all of
/// them when `k` is `None`. `key` names the option for errors.
pub fn choose(n: usize, k: Option<usize>, seed: u64, key: &str) -> Result<Vec<usize>> {
    match k {
        None => Ok((0..n).collect()),
        Some(k) if k == 0 || k > n => Err(Error::config("pipeline file", key, format!("{k} members requested; the file has {n} samples (1 to {n})"))),
        Some(k) => {
            let mut chosen = rand::seq::index::sample(&mut StdRng::seed_from_u64(seed), n, k).into_vec();
            chosen.sort_unstable();
            Ok(chosen)
        }
    }
}

impl FlowEnsemble {
    /// Reads samples `members` (indices along `member_dim`) of `file`. Missing or misshapen
    /// `coef`, `omega`, `kx`, `ky`, or fields with missing values, are input errors naming the
    /// variable.
    pub fn read(file: &NcFile, member_dim: &str, members: &[usize]) -> Result<FlowEnsemble> {
        let n = sample_count(file, member_dim)?;
        let n_coef = file.dim_len(&file.var_dims("coef")?[1])?;
        let modes = n_coef / 2;
        let side = (modes as f64).sqrt().round() as usize;
        if !n_coef.is_multiple_of(2) || side * side != modes || side.is_multiple_of(2) {
            return Err(file.var_error("coef", format!("has {n_coef} values per sample; expected 2 (2 kmax + 1)^2 (Re and Im of every mode)")));
        }
        let kmax = side / 2;
        let omega_dims = file.var_dims("omega")?;
        let omega_ok = omega_dims.len() == 2 && omega_dims[0] == member_dim && file.dim_len(&omega_dims[1])? == modes;
        if !omega_ok {
            return Err(file.var_error(
                "omega",
                format!("has dimensions ({}); expected ({member_dim}, mode) with {modes} modes, one per coefficient pair", omega_dims.join(", ")),
            ));
        }
        // The operator builds the flow in FourierFlow's mode order; the file must use it.
        for (name, c) in [("kx", 0), ("ky", 1)] {
            let k = file.read_values(name)?;
            let expected: Vec<f64> = (0..modes)
                .map(|m| {
                    let v = FourierFlow::wave_vector(kmax, m);
                    [v.0, v.1][c] as f64
                })
                .collect();
            if k != expected {
                return Err(
                    file.var_error(name, format!("wave numbers are not in the expected order (mode m has kx = m / {side} - {kmax}, ky = m % {side} - {kmax})"))
                );
            }
        }
        if let Some(&bad) = members.iter().find(|&&i| i >= n) {
            return Err(file.var_error("coef", format!("sample {bad} requested; the file has {n}")));
        }
        let mut blocks = vec![
            Block { name: "coef".into(), dims: vec![(file.var_dims("coef")?[1].clone(), n_coef)], offset: 0 },
            Block { name: "omega".into(), dims: vec![(omega_dims[1].clone(), modes)], offset: n_coef },
        ];
        let mut grid: Option<(String, String)> = None;
        for name in file.var_names() {
            let dims = file.var_dims(&name)?;
            if dims.len() != 3 || dims[0] != member_dim {
                continue;
            }
            let yx = (dims[1].clone(), dims[2].clone());
            if let Some(g) = &grid
                && *g != yx
            {
                return Err(file.var_error(&name, format!("is over ({}); the other fields are over ({member_dim}, {}, {})", dims.join(", "), g.0, g.1)));
            }
            let offset = blocks.last().map_or(0, |b| b.offset + b.len());
            blocks.push(Block { name, dims: vec![(yx.0.clone(), file.dim_len(&yx.0)?), (yx.1.clone(), file.dim_len(&yx.1)?)], offset });
            grid = Some(yx);
        }
        let n_state = blocks.last().map_or(0, |b| b.offset + b.len());
        let mut ensemble = Array2::zeros((members.len(), n_state));
        for b in &blocks {
            let values = file.read_values(&b.name)?;
            let width = b.len();
            for (row, &i) in members.iter().enumerate() {
                let src = &values[i * width..(i + 1) * width];
                if let Some(k) = src.iter().position(|v| !v.is_finite()) {
                    return Err(file.var_error(&b.name, format!("sample {i}, element {k} is missing or not finite; every state element needs a value")));
                }
                ensemble.row_mut(row).as_slice_mut().expect("standard layout")[b.offset..b.offset + width].copy_from_slice(src);
            }
        }
        let mut locations = vec![UNLOCALISED; n_state];
        if let Some((y_dim, x_dim)) = &grid {
            let axis = |dim: &str| -> Result<Vec<f64>> {
                let len = file.dim_len(dim)?;
                // The flow lives on the periodic unit square; without coordinates the grid is j / n.
                if file.has_var(dim) { file.read_values(dim) } else { Ok((0..len).map(|j| j as f64 / len as f64).collect()) }
            };
            let (y, x) = (axis(y_dim)?, axis(x_dim)?);
            for b in blocks.iter().skip(2) {
                for (i, &yi) in y.iter().enumerate() {
                    for (j, &xj) in x.iter().enumerate() {
                        locations[b.offset + i * x.len() + j] = [xj, yi];
                    }
                }
            }
        }
        let slots = FlowSlots { kmax, coef: 0, omega: n_coef };
        Ok(FlowEnsemble { blocks, slots, members: members.to_vec(), ensemble, locations })
    }

    /// Number of state elements.
    pub fn n_state(&self) -> usize {
        self.ensemble.ncols()
    }

    /// Undoes the analysis of the mode `k = 0` in `analysis` (members x state, the members of
    /// this prior in order): a spatially constant streamfunction moves no water, so no drifter
    /// observes it, its coefficient or its frequency; its exact Kalman increment is zero and
    /// what an ensemble gives it is sampling noise (spurious correlations). Its coefficient and
    /// frequency get their prior values back, and so does the spatial mean of `psi` (which is
    /// `Re psi_0` on any grid finer than the flow). For the LETKF, whose `psi` increments are
    /// local, the mean removed also holds the area average of the local increments (their
    /// size times the fraction of the domain they cover).
    pub fn keep_unobservable_mode(&self, analysis: &mut Array2<f64>) {
        let zero = self.slots.modes() / 2;
        let frozen = [self.slots.coef + 2 * zero, self.slots.coef + 2 * zero + 1, self.slots.omega + zero];
        let psi = self.blocks.iter().find(|b| b.name == "psi").map(|b| b.offset..b.offset + b.len());
        for (mut after, before) in analysis.rows_mut().into_iter().zip(self.ensemble.rows()) {
            for &e in &frozen {
                after[e] = before[e];
            }
            if let Some(range) = &psi {
                let mean = |row: &[f64]| row[range.clone()].iter().sum::<f64>() / range.len() as f64;
                let shift = mean(before.as_slice().expect("standard layout")) - mean(after.as_slice().expect("standard layout"));
                after.as_slice_mut().expect("standard layout")[range.clone()].iter_mut().for_each(|v| *v += shift);
            }
        }
    }

    /// Writes the analysis `ensemble` (members x state) into the new file `w`: per block the
    /// ensemble `<name>(member, ...)` and the fields `<name>_<statistic>` of `fields`
    /// (`(statistic, values over the whole state)`), the analysis `time` (one value, in `units`),
    /// the coordinate variables and the flow set-up attributes of `file` (the prior's).
    pub fn write_analysis(
        &self,
        mut w: NcWriter,
        file: &NcFile,
        ensemble: &Array2<f64>,
        fields: &[(&str, &[f64])],
        (time, units): (f64, &TimeUnits),
    ) -> Result<()> {
        copy_globals(&mut w, file)?;
        let time_units = format!("{} since {}", crate::cf::dsg::unit_name(units.unit_seconds), units.epoch);
        w.coord("time", &[time], vec![("standard_name", "time".into()), ("units", time_units.into()), ("calendar", units.calendar.name().into())])?;
        w.dim("member", ensemble.nrows())?;
        let mut defined = vec!["time".to_string(), "member".to_string()];
        for (dim, len) in self.blocks.iter().flat_map(|b| b.dims.iter()) {
            if !defined.contains(dim) {
                w.dim(dim, *len)?;
                defined.push(dim.clone());
            }
        }
        // Coordinates of the state's dimensions and the wave vectors, as in the prior file.
        for var in file.var_names() {
            let dims = file.var_dims(&var)?;
            let on_state_dim = dims.len() == 1 && self.blocks.iter().any(|b| b.dims.iter().any(|d| d.0 == dims[0]));
            if on_state_dim && !self.blocks.iter().any(|b| b.name == var) {
                copy_variable(&mut w, file, &var)?;
            }
        }
        for b in &self.blocks {
            let dims: Vec<&str> = b.dims.iter().map(|d| d.0.as_str()).collect();
            let mut with_member = vec!["member"];
            with_member.extend(&dims);
            let range = b.offset..b.offset + b.len();
            let values: Vec<f64> = ensemble.rows().into_iter().flat_map(|r| r.as_slice().expect("standard layout")[range.clone()].to_vec()).collect();
            w.var_f64(&b.name, &with_member, &values, borrowed(&copied_attributes(file, &b.name)?))?;
            for (statistic, field) in fields {
                w.var_f64(&format!("{}_{statistic}", b.name), &dims, &field[range.clone()], statistic_attrs(file, &b.name, statistic))?;
            }
        }
        w.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unobservable_mode_keeps_its_prior_values() {
        // kmax = 1: 9 modes, k = 0 is mode 4; state = coef (18), omega (9), psi on a 4 x 4 grid.
        let psi_len = 16;
        let blocks = vec![
            Block { name: "coef".into(), dims: vec![("coef_index".into(), 18)], offset: 0 },
            Block { name: "omega".into(), dims: vec![("mode".into(), 9)], offset: 18 },
            Block { name: "psi".into(), dims: vec![("y".into(), 4), ("x".into(), 4)], offset: 27 },
        ];
        let n = 27 + psi_len;
        let prior = Array2::from_shape_fn((3, n), |(i, j)| ((i * 7 + j * 3) as f64).sin());
        let ensemble = FlowEnsemble {
            blocks,
            slots: FlowSlots { kmax: 1, coef: 0, omega: 18 },
            members: vec![0, 1, 2],
            ensemble: prior.clone(),
            locations: vec![UNLOCALISED; n],
        };
        let mut analysis = prior.mapv(|v| v + 0.5) + Array2::from_shape_fn((3, n), |(i, j)| 0.01 * (i + j) as f64);
        let moved = analysis.clone();
        ensemble.keep_unobservable_mode(&mut analysis);
        let mean = |row: ndarray::ArrayView1<f64>| row.slice(ndarray::s![27..]).sum() / psi_len as f64;
        for i in 0..3 {
            for j in 0..27 {
                let frozen = [8, 9, 22].contains(&j);
                assert_eq!(analysis[(i, j)], if frozen { prior[(i, j)] } else { moved[(i, j)] }, "member {i}, element {j}");
            }
            assert!((mean(analysis.row(i)) - mean(prior.row(i))).abs() < 1e-12);
            // psi keeps its analysed shape: only its mean changed.
            let shift = analysis[(i, 27)] - moved[(i, 27)];
            assert!((27..n).all(|j| (analysis[(i, j)] - moved[(i, j)] - shift).abs() < 1e-12));
        }
    }
}
