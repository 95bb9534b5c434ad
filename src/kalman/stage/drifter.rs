//! The `baseline` stage with drifter observations (`obs_operator = "drifters"`): prior members
//! drawn from the samples of a `lagrangian_states.nc` (see [`crate::kalman::io::flow_ensemble`]),
//! the tracks of one sample of a trajectory file (see [`crate::kalman::io::drifter_file`])
//! assimilated through the drifter forward model ([`crate::kalman::obs::drifter_obs`]), and the
//! analysis written in the layout `evaluate` reads: `coef`, `omega`, `psi`, `u`, `v` over
//! `(member, ...)` with their `_mean`, `_spread` and `_increment` fields and the analysis time.
//!
//! EnOI's static ensemble is the `static` input, another states file (e.g. the whole archive).
//! The LETKF localises the grid points against the observed positions on the periodic unit
//! square and analyses the coefficients and frequencies, which have no location, with the global
//! weights: with the grid fields localised, the analysed `psi` is no longer exactly the field of
//! the analysed coefficients, which is the price of localisation.

use std::time::Instant;

use serde_json::json;

use super::options::BaselineOptions;
use super::output::{AnalysisFields, analyse, analysis_file, check_members, staged, write_diagnostics};
use crate::cf::{NcFile, NcWriter};
use crate::error::{Error, Result};
use crate::kalman::io::drifter_file::{self, DrifterSpec, LoadedDrifters};
use crate::kalman::io::flow_ensemble::{FlowEnsemble, choose, sample_count};
use crate::kalman::localization::Distance;
use crate::kalman::obs::drifter_obs::{DEFAULT_MAX_DT, DrifterObs};
use crate::kalman::obs::obs_operator::observe;
use crate::kalman::obs::screening::screen_groups;
use crate::kalman::{BaselineConfig, Filter, Geometry};
use crate::pipeline::hash::derive_seed;
use crate::pipeline::stage::StageContext;

/// Runs the stage (options already checked).
pub(super) fn run(ctx: &StageContext, options: &BaselineOptions, config: &BaselineConfig, options_key: &str) -> Result<serde_json::Value> {
    let started = Instant::now();
    let member_dim = options.member_dim.as_deref().unwrap_or("time");
    let prior_path = ctx.input("prior")?;
    let prior_file = NcFile::open(prior_path)?;
    // Drawn from the run's seed, not the stage's: baseline stages with the same prior file and
    // ensemble size start from the same members, so their scores compare the methods alone.
    let chosen = choose(
        sample_count(&prior_file, member_dim)?,
        options.members,
        derive_seed(ctx.section("run.seed")?, "baseline prior members"),
        &format!("{options_key}.members"),
    )?;
    let prior = FlowEnsemble::read(&prior_file, member_dim, &chosen)?;
    let obs_file = NcFile::open(ctx.input("observations")?)?;
    let spec = DrifterSpec {
        sample: options.obs_time_index,
        error_std: options.obs_error_std,
        max_dt: options.drifter_dt.unwrap_or(DEFAULT_MAX_DT),
        restart: options.drifter_restart(),
        options_key: options_key.to_string(),
    };
    let mut loaded = drifter_file::load(&obs_file, &prior_file, prior.n_state(), prior.slots, &spec)?;
    let rejected_tracks = screen_tracks(&mut loaded, &prior, &spec, options.outlier_threshold(), obs_file.path())?;
    let statics = if config.needs_static_ensemble() { Some(read_static(ctx, options, member_dim, &prior, options_key)?) } else { None };
    check_members(config.method, chosen.len(), prior_path, "coef")?;
    // The flow is periodic on the unit square whatever the file's coordinates say.
    let geometry = Geometry { state: prior.locations.clone(), distance: Distance::Periodic2D { lx: 1.0, ly: 1.0 } };
    let mut filter = Filter::new(config, Some(geometry), statics)?;

    let mut ensemble = prior.ensemble.clone();
    let (before, after) = analyse(&mut filter, &mut ensemble, &loaded.op, &loaded.obs, ctx.seed)?;
    prior.keep_unobservable_mode(&mut ensemble);
    let fields = AnalysisFields::of(prior.ensemble.view(), ensemble.view());
    let title = format!("contrada {} analysis of the Lagrangian flow with drifter observations", config.method.name());
    let mut w = NcWriter::create(&staged(ctx, &analysis_file(config.method)), &ctx.section("io")?, &title)?;
    w.global("method", config.method.name())?;
    prior.write_analysis(w, &prior_file, &ensemble, &fields.named(), (loaded.time, &loaded.time_units))?;
    let details = json!({
        "obs_operator": "drifters",
        "members": chosen.len(),
        "prior_samples": chosen,
        "state_elements": prior.n_state(),
        "observations": loaded.obs.values.len(),
        "tracks": loaded.tracks,
        "observed_sample": loaded.sample,
        "analysis_time": loaded.time_units.decode(loaded.time).to_string(),
        "obs_error_std": options.obs_error_std,
        "drifter_restart": options.drifter_restart(),
        "tracks_rejected_gross_error": rejected_tracks,
        "outlier_threshold": options.outlier_threshold(),
    });
    write_diagnostics(ctx, config.method, &fields, (before, after), started, details)
}

/// The background check ([`screen_groups`]) on the prior: a track with a rejected position is
/// dropped whole (each position is predicted from the one before it, so a gap in a track would
/// join positions the model never linked), with a WARN line; returns how many were dropped.
fn screen_tracks(loaded: &mut LoadedDrifters, prior: &FlowEnsemble, spec: &DrifterSpec, threshold: f64, path: &std::path::Path) -> Result<usize> {
    let mut hx = ndarray::Array2::zeros((0, 0));
    if threshold > 0.0 {
        observe(&loaded.op, prior.ensemble.view(), &mut hx);
    }
    // Track t owns its positions' x and y, in order.
    let owner: Vec<usize> = loaded.op.tracks().iter().enumerate().flat_map(|(t, track)| std::iter::repeat_n(t, 2 * track.positions.len())).collect();
    let Some(s) = screen_groups(hx.view(), &loaded.obs, threshold, &owner) else { return Ok(0) };
    let n_tracks = loaded.op.tracks().len();
    tracing::warn!(
        "{}: {} of {n_tracks} drifter tracks rejected by the background check ({} positions with innovations beyond {threshold} standard deviations of sqrt(var(Hx) + R))",
        path.display(),
        s.groups_dropped,
        s.rejected
    );
    // A track stands or falls whole, so any of its observations says which.
    let mut kept = vec![false; n_tracks];
    owner.iter().zip(&s.keep).for_each(|(&t, &k)| kept[t] = k);
    let tracks = loaded.op.tracks().iter().zip(&kept).filter(|(_, k)| **k).map(|(t, _)| t.clone()).collect();
    loaded.op = DrifterObs::new(prior.n_state(), prior.slots, tracks, spec.max_dt).map_err(|e| Error::input(path, e))?.with_restarts(spec.restart);
    loaded.obs.retain(&s.keep);
    loaded.tracks -= s.groups_dropped;
    if loaded.obs.values.is_empty() {
        return Err(Error::input(path, "every drifter track was rejected by the background check; nothing left to assimilate"));
    }
    Ok(s.groups_dropped)
}

/// EnOI's static ensemble: `static_members` samples (all by default) of the `static` states
/// file, whose state must have the prior's layout.
fn read_static(ctx: &StageContext, options: &BaselineOptions, member_dim: &str, prior: &FlowEnsemble, options_key: &str) -> Result<ndarray::Array2<f64>> {
    let path = ctx.input("static")?;
    let file = NcFile::open(path)?;
    let chosen = choose(
        sample_count(&file, member_dim)?,
        options.static_members,
        derive_seed(ctx.section("run.seed")?, "baseline static members"),
        &format!("{options_key}.static_members"),
    )?;
    let statics = FlowEnsemble::read(&file, member_dim, &chosen)?;
    if statics.blocks != prior.blocks {
        let names = |e: &FlowEnsemble| {
            e.blocks.iter().map(|b| format!("{}{:?}", b.name, b.dims.iter().map(|d| d.1).collect::<Vec<_>>())).collect::<Vec<_>>().join(", ")
        };
        return Err(Error::input(path, format!("static ensemble state ({}) differs from the prior's ({})", names(&statics), names(prior))));
    }
    Ok(statics.ensemble)
}
