//! The `ingest` stage: CF NetCDF states and observations in, paired, quality-controlled,
//! split and normalised training data out (`dataset.nc`, see [`dataset`], with the state vectors
//! in `dataset.states.bin` beside it, see [`state_rows`]), with a QC summary (`qc.json`, see
//! [`qc`]).
//!
//! Everything about the user's files comes from the `[ingest]` configuration ([`config`]) and the
//! stage inputs (a path or a file pattern per input); [`stage`] is the pipeline stage. The run:
//! 1. reads the time axes of the states and of every observation source, with time QC;
//! 2. refuses sources whose times do not overlap the states' (an empty data set helps no one);
//! 3. pairs each state time with its observation windows by calendar date ([`pairing`]);
//! 4. splits the paired times into train/validation/test by contiguous blocks ([`split`]);
//! 5. streams the state archive in chunks of times: QC, the observation vectors, appending rows to
//!    `dataset.nc` and the states file, and accumulating training statistics and an EOF sample
//!    ([`stats`]);
//! 6. writes the normalisation and the EOF basis, and `qc.json`.
//!
//! Memory: one chunk of states (`chunk_mb`), the observation rows of the current windows, the
//! trajectories, per-element moments, and the EOF sample (`eof.max_memory_mb`). Nothing else
//! grows with the length of the archive.

pub mod config;
pub mod dataset;
pub mod field;
pub mod layout;
pub mod observations;
pub mod pairing;
pub mod qc;
pub mod ragged_stations;
pub mod split;
pub mod stage;
pub mod state;
pub mod state_rows;
pub mod stats;
pub mod timeline;
pub mod tracks;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::Array1;
use netcdf::AttributeValue;
use serde_json::json;

use crate::config::IoConfig;
use crate::error::{Error, Result};
use crate::pipeline::hash::derive_seed;
use crate::progress::Progress;
use config::{IngestConfig, Normalise};
use dataset::{DATASET_FILE, DatasetWriter, EofBasis, Header, Rows, SourceMeta, Statistics};
use layout::GridVariable;
use observations::Source;
use pairing::{Candidate, Window};
use qc::{NamedQc, QcSummary, SampleCounts};
use split::Split;
use state::{Chunk, RowStatus, StateQc, StateSource};
use state_rows::StatesWriter;
use stats::{ElementMoments, Reservoir, StateMoments};

/// The files of each input an ingest reads.
#[derive(Debug, Clone)]
pub struct IngestInputs {
    /// The state files, in time order.
    pub state: Vec<PathBuf>,
    /// Per observation source (configuration order), its files.
    pub sources: Vec<Vec<PathBuf>>,
}

impl IngestInputs {
    /// Looks up the inputs `cfg` names in `inputs` (a path per key, or `key.N` for the files of a
    /// pattern); `missing` makes the error for an absent key.
    pub fn from_map(cfg: &IngestConfig, inputs: &BTreeMap<String, PathBuf>, missing: impl Fn(&str) -> Error) -> Result<IngestInputs> {
        let get = |name: &str| crate::pipeline::stage::input_files(inputs, name).ok_or_else(|| missing(name));
        Ok(IngestInputs { state: get(&cfg.state.input)?, sources: cfg.observations.iter().map(|o| get(o.input_name())).collect::<Result<_>>()? })
    }
}

/// Runs an ingest of `inputs` as configured, writing `dataset.nc` and `qc.json` into `out` (a
/// staging directory); returns a summary for the manifest.
pub fn run(cfg: &IngestConfig, io: &IoConfig, inputs: &IngestInputs, out: &Path, seed: u64) -> Result<serde_json::Value> {
    let mut problems = crate::config::Problems::default();
    cfg.require(&mut problems);
    if let Some((key, message)) = problems.0.into_iter().next() {
        return Err(Error::config("configuration", key, message));
    }
    let tol = config::seconds(&cfg.tolerance);
    let clock = Instant::now();
    let mut timings = Timings::default();
    let mut state_qc = StateQc::default();
    let state = StateSource::open(&cfg.state, &inputs.state, tol, &mut state_qc)?;
    let mut sources: Vec<Source> = cfg.observations.iter().zip(&inputs.sources).map(|(c, p)| Source::open(c, p, &cfg.qc, tol)).collect::<Result<_>>()?;
    for s in &sources {
        pairing::check_overlap(&state.timeline, &state.paths, s)?;
    }
    let plan = pairing::plan(&state.timeline, &mut sources, cfg.incomplete, tol);
    tracing::info!(
        "ingest: {} of {} state times paired ({} dropped as incomplete, {} padded)",
        plan.report.paired,
        plan.report.state_times,
        plan.report.dropped_incomplete,
        plan.report.padded
    );
    if plan.report.dropped_incomplete > 0 {
        let per: Vec<String> = plan.report.sources.iter().filter(|s| s.incomplete > 0).map(|s| format!("`{}`: {}", s.name, s.incomplete)).collect();
        tracing::warn!(
            "ingest: {} of {} state times dropped: an observation window is incomplete ({}); ingest.incomplete = \"pad\" keeps them with the observations masked",
            plan.report.dropped_incomplete,
            plan.report.state_times,
            per.join(", ")
        );
    }
    if plan.candidates.is_empty() {
        let per: Vec<String> = plan
            .report
            .sources
            .iter()
            .map(|s| format!("`{}`: {} complete, {} incomplete, {} dates not in its calendar", s.name, s.complete, s.incomplete, s.date_not_in_calendar))
            .collect();
        let files: Vec<String> = sources.iter().flat_map(|s| s.paths().iter().map(|p| p.display().to_string())).collect();
        return Err(Error::input(
            &inputs.state[0],
            format!(
                "no state time could be paired with observations from {} ({}); widen the windows, set ingest.incomplete = \"pad\", or check the files",
                files.join(", "),
                per.join("; ")
            ),
        ));
    }

    // Windows in state time units, for the split guard.
    let su = state.timeline.units.unit_seconds;
    let (before, after) = sources.iter().fold((0.0f64, 0.0f64), |(b, a), s| {
        let (sb, sa) = s.window();
        let k = s.units().unit_seconds / su;
        (b.max(sb * k), a.max(sa * k))
    });
    let times: Vec<f64> = plan.candidates.iter().map(|c| state.timeline.entries[c.entry].value).collect();
    let split_seed = derive_seed(seed, "split");
    let labels = split::assign(&times, before, after, &cfg.split, split_seed);
    let samples = SampleCounts { dropped_split_guard: labels.iter().filter(|l| l.is_none()).count(), ..Default::default() };
    if samples.dropped_split_guard > 0 {
        // A consequence of the split design, not of the data: said, but not as a warning.
        tracing::info!("ingest: {} of {} paired state times left out so that no observation window is in two splits", samples.dropped_split_guard, times.len());
    }
    let kept: Vec<(&Candidate, Split)> = plan.candidates.iter().zip(&labels).filter_map(|(c, l)| l.map(|l| (c, l))).collect();

    let obs_layout = observations::obs_layout(&sources);
    let grid: Vec<GridVariable> = state.variables.iter().map(|v| v.grid.clone()).collect();
    let metas: Vec<SourceMeta> = sources.iter().zip(&cfg.observations).map(|(s, c)| source_meta(s, c)).collect();
    let state_files: Vec<String> = state.paths.iter().map(|p| p.display().to_string()).collect();
    let globals = vec![
        ("normalisation".to_string(), AttributeValue::Str(format!("{:?}", cfg.stats.normalise).to_lowercase())),
        ("split_fractions".to_string(), AttributeValue::Doubles(vec![cfg.split.train, cfg.split.validation, cfg.split.test])),
        ("split_blocks".to_string(), AttributeValue::Longlong(cfg.split.blocks as i64)),
        ("split_seed".to_string(), AttributeValue::Str(split_seed.to_string())),
        ("incomplete_windows".to_string(), AttributeValue::Str(format!("{:?}", cfg.incomplete).to_lowercase())),
    ];
    let header = Header {
        time_units: &state.timeline.units,
        member_dim: state.member_dim.as_deref(),
        grid: &grid,
        state: &state.layout,
        obs: &obs_layout,
        sources: &metas,
        state_files: &state_files,
        precision: cfg.precision,
        globals,
    };
    let io = IoConfig { deflate_level: cfg.deflate_level, ..io.clone() };
    let dataset_path = out.join(DATASET_FILE);
    let mut writer = DatasetWriter::create(&dataset_path, &io, &header)?;
    let (sd, od) = (state.dim(), obs_layout.variable.len());
    let mut states = StatesWriter::create(&state_rows::states_path(&dataset_path), cfg.precision, sd)?;

    let ranges = state.variables.iter().map(|v| v.columns.clone()).collect();
    let mut pass = Pass {
        state_moments: StateMoments::new(cfg.stats.normalise == Normalise::Variable, ranges, sd),
        obs_moments: ElementMoments::new(od),
        reservoir: (cfg.eof.modes > 0).then(|| Reservoir::new(sd, cfg.eof.max_snapshots, cfg.eof.max_memory_mb << 20, derive_seed(seed, "eof"))),
        samples,
        state_qc,
        train_rows: 0,
    };
    timings.prepare = clock.elapsed().as_secs_f64();
    let c = Instant::now();
    stream(&state, &mut sources, &kept, cfg, (&mut writer, &mut states), &mut pass, &mut timings)?;
    timings.pass = c.elapsed().as_secs_f64();
    let Pass { state_moments, obs_moments, reservoir, mut samples, state_qc, train_rows } = pass;
    samples.written = writer.rows();
    check_pass(&state, &state_qc, &samples, &sources, cfg.qc.max_dropped_fraction)?;
    if samples.written == 0 {
        if let Some(e) = sources.iter().find_map(Source::all_missing) {
            return Err(e);
        }
        return Err(Error::input(
            &inputs.state[0],
            format!(
                "no sample survived pairing, the split and quality control ({} left out by state QC, {} without observations)",
                samples.dropped_state_qc, samples.dropped_no_observations
            ),
        ));
    }
    // A single observation window (what a daily assimilation feeds a trained model) has no
    // statistics of its own: the model brings the training set's. Identity statistics are
    // written and said so, rather than refusing the window.
    let (state_mean, state_std, obs_mean, obs_std, state_degenerate, obs_degenerate, eof) = if train_rows < 2 {
        tracing::warn!(
            "ingest: {train_rows} training sample(s): no normalisation statistics or EOFs (mean 0, std 1 written); use this data set only with a model trained elsewhere"
        );
        let (sd_n, od_n) = (state.layout.variable.len(), obs_layout.variable.len());
        (vec![0.0; sd_n], vec![1.0; sd_n], vec![0.0; od_n], vec![1.0; od_n], 0, 0, None)
    } else {
        let (state_mean, state_std, state_degenerate) = state_moments.normalisation();
        let (obs_mean, obs_std, obs_degenerate) = obs_moments.normalisation(Some(&obs_layout.variable));
        let eof = match reservoir {
            Some(r) => {
                let training_snapshots = r.seen();
                let c = Instant::now();
                let mut x = r.into_matrix();
                let (mean, std) = (Array1::from(state_mean.clone()), Array1::from(state_std.clone()));
                x -= &mean;
                x /= &std;
                let e = stats::eof(x, cfg.eof.modes)?;
                timings.eof = c.elapsed().as_secs_f64();
                Some(EofBasis {
                    modes: e.modes,
                    mean: e.mean,
                    variance: e.variance,
                    total_variance: e.total_variance,
                    snapshots: e.snapshots,
                    training_snapshots,
                })
            }
            None => None,
        };
        (state_mean, state_std, obs_mean, obs_std, state_degenerate, obs_degenerate, eof)
    };
    let c = Instant::now();
    let states = states.finish()?;
    writer.finish(&Statistics { state_mean: &state_mean, state_std: &state_std, obs_mean: &obs_mean, obs_std: &obs_std, eof: eof.as_ref() }, &states)?;

    let summary = QcSummary {
        state: state_qc,
        sources: sources.iter().map(|s| NamedQc { name: s.name().to_string(), kind: s.kind_name().to_string(), counts: s.qc() }).collect(),
        pairing: plan.report,
        samples,
    };
    summary.write(out)?;
    timings.finish = c.elapsed().as_secs_f64();
    timings.total = clock.elapsed().as_secs_f64();
    let explained: Vec<f64> = eof.as_ref().map_or_else(Vec::new, |e| {
        let mut acc = 0.0;
        e.variance
            .iter()
            .map(|v| {
                acc += v;
                acc / e.total_variance
            })
            .collect()
    });
    tracing::info!(
        "ingest: {} samples written (train {}, validation {}, test {}); state_dim {sd}, obs_dim {od}{}",
        samples.written,
        samples.train,
        samples.validation,
        samples.test,
        explained.last().map_or_else(String::new, |f| format!("; {} EOFs explain {:.1}% of the variance", explained.len(), 100.0 * f))
    );
    Ok(json!({
        "samples": samples.written,
        "train": samples.train,
        "validation": samples.validation,
        "test": samples.test,
        "state_dim": sd,
        "obs_dim": od,
        "paired_state_times": summary.pairing.paired,
        "state_times": summary.pairing.state_times,
        "dropped_split_guard": samples.dropped_split_guard,
        "dropped_state_qc": samples.dropped_state_qc,
        "dropped_no_observations": samples.dropped_no_observations,
        "constant_state_elements": state_degenerate,
        "constant_obs_elements": obs_degenerate,
        "eof_modes": eof.as_ref().map_or(0, |e| e.modes.nrows()),
        "eof_snapshots": eof.as_ref().map_or(0, |e| e.snapshots),
        "eof_cumulative_explained_variance": explained,
        "timings_s": timings,
    }))
}

/// After the data pass: warns of the snapshots and observations quality control left out, and
/// fails when more than `limit` of the snapshots (or of a source's values) were.
fn check_pass(state: &StateSource, qc: &StateQc, samples: &SampleCounts, sources: &[Source], limit: f64) -> Result<()> {
    let files = qc::join(&state.paths);
    let read = samples.snapshots_read;
    if qc.snapshots_incomplete > 0 {
        tracing::warn!(
            "ingest: states: {} of {read} snapshots dropped: a kept element missing ({} values) or outside valid_range ({} values) ({files})",
            qc.snapshots_incomplete,
            qc.values_missing,
            qc.values_outside_valid_range
        );
    }
    if qc.snapshots_outside_limits > 0 {
        tracing::warn!(
            "ingest: states: {} of {read} snapshots dropped: {} values outside ingest.state.limits ({files})",
            qc.snapshots_outside_limits,
            qc.values_outside_limits
        );
    }
    if samples.dropped_no_observations > 0 {
        tracing::warn!(
            "ingest: {} of {read} snapshots dropped: no observation value in their windows survived quality control",
            samples.dropped_no_observations
        );
    }
    let why = format!("{} incomplete, {} outside ingest.state.limits; files {files}", qc.snapshots_incomplete, qc.snapshots_outside_limits);
    qc::check_loss("states", samples.dropped_state_qc, read, "snapshots", limit, &state.paths[0], &why)?;
    sources.iter().try_for_each(|s| s.check_values(limit))
}

/// Where the time of a run went, in seconds (in the manifest summary): the data pass is bounded
/// below by reading the states (netcdf-c); QC, statistics and conversion run on a worker thread
/// and the state rows are written on a writer thread, both beside the reading.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
struct Timings {
    /// Opening the files, time QC, pairing, split and the output header.
    prepare: f64,
    /// The data pass.
    pass: f64,
    /// ...of which reading (and decompressing) the states,
    read_states: f64,
    /// ...reading observations and building observation vectors,
    read_observations: f64,
    /// ...writing the rest of each row (times, split, observations) into dataset.nc,
    write: f64,
    /// ...and waiting for the writer thread at the end.
    wait_states: f64,
    /// Beside the pass, on the worker thread: gathering, QC, statistics and conversion of rows.
    process: f64,
    /// Beside the pass, on the writer thread: writing the state rows,
    write_states: f64,
    /// ...and their checksum.
    hash_states: f64,
    /// EOFs (normalising the sampled snapshots, the decomposition).
    eof: f64,
    /// Statistics, EOFs and qc.json written, files closed.
    finish: f64,
    /// Everything.
    total: f64,
}

/// What the data pass accumulates.
struct Pass {
    state_moments: StateMoments,
    obs_moments: ElementMoments,
    reservoir: Option<Reservoir>,
    samples: SampleCounts,
    state_qc: StateQc,
    train_rows: usize,
}

/// One chunk of consecutive state times with the observation vectors of its kept candidates.
#[derive(Default)]
struct Work {
    chunk: Chunk,
    /// Indices into the kept candidates.
    kept: std::ops::Range<usize>,
    /// Observation vectors and masks of those candidates, one after the other.
    obs: Vec<f64>,
    obs_mask: Vec<u8>,
}

/// The data pass. All netCDF calls (reading states and observations, writing the rest of each row
/// into dataset.nc) stay on this thread, since netcdf-c serialises them anyway. Two threads work
/// beside it: a worker gathers state vectors from the chunk read before, applies QC, accumulates
/// the training statistics and converts the rows; a writer appends the state rows to the states
/// file with plain file I/O and checksums them. Both overlap the reading and decompression of the
/// next chunks. In memory at once: at most three chunks of states (being read, queued, being
/// processed) and five of rows (being converted, queued here, here, queued for the writer, being
/// written).
fn stream(
    state: &StateSource,
    sources: &mut [Source],
    kept: &[(&Candidate, Split)],
    cfg: &IngestConfig,
    (writer, states): (&mut DatasetWriter, &mut StatesWriter),
    pass: &mut Pass,
    timings: &mut Timings,
) -> Result<()> {
    let per_chunk = state.times_per_chunk(cfg.chunk_mb);
    // Kept candidates by chunk: consecutive ones of one file whose indices span fewer than
    // `per_chunk` times (sorted times may come from indices out of order), with that span.
    let mut groups: Vec<(std::ops::Range<usize>, std::ops::RangeInclusive<usize>)> = Vec::new();
    for (k, (cand, _)) in kept.iter().enumerate() {
        let e = state.timeline.entries[cand.entry];
        match groups.last_mut() {
            Some((g, span))
                if state.timeline.entries[kept[g.start].0.entry].file == e.file && e.index.max(*span.end()) - e.index.min(*span.start()) < per_chunk =>
            {
                g.end = k + 1;
                *span = e.index.min(*span.start())..=e.index.max(*span.end());
            }
            _ => groups.push((k..k + 1, e.index..=e.index)),
        }
    }
    let od: usize = sources.iter().map(Source::width).sum();
    let members = state.members;
    let progress = Progress::new("ingest", (kept.len() * members) as u64);
    let precision = cfg.precision;
    std::thread::scope(|scope| -> Result<()> {
        let (to_worker, work_in) = std::sync::mpsc::sync_channel::<Work>(1);
        let (to_main, rows_in) = std::sync::mpsc::sync_channel::<Rows>(1);
        let (to_writer, rows_out) = std::sync::mpsc::sync_channel::<Rows>(1);
        let (free_work, spare_work) = std::sync::mpsc::channel::<Work>();
        let (free_rows, spare_rows) = std::sync::mpsc::channel::<Rows>();
        let worker = scope.spawn(move || {
            let mut gathers = state.gathers();
            let mut row = vec![0.0; state.dim()];
            let mut busy = 0.0;
            for work in work_in {
                let mut rows = spare_rows.try_recv().unwrap_or_else(|_| Rows::new(precision));
                rows.clear();
                let c = Instant::now();
                process(state, &work, kept, od, &mut gathers, &mut row, &mut rows, pass);
                busy += c.elapsed().as_secs_f64();
                // A closed channel means the main thread stopped on an error: stop too.
                if to_main.send(rows).is_err() {
                    break;
                }
                let _ = free_work.send(work);
            }
            busy
        });
        // On an error the writer stops, which closes its channel; its join returns the error.
        let states_writer = scope.spawn(move || -> Result<(f64, f64)> {
            for rows in rows_out {
                states.append(&rows.state, rows.len())?;
                let _ = free_rows.send(rows);
            }
            Ok(states.seconds())
        });
        // The rows of one chunk: the rest into dataset.nc here, the states to the writer; false
        // when the writer has stopped.
        let mut deliver = |rows: Rows, write_s: &mut f64| -> Result<bool> {
            let c = Instant::now();
            writer.append(&rows)?;
            *write_s += c.elapsed().as_secs_f64();
            progress.inc(rows.len() as u64);
            Ok(to_writer.send(rows).is_ok())
        };
        let mut pending = 0;
        let mut result = Ok(true);
        for (g, span) in &groups {
            let mut work = spare_work.try_recv().unwrap_or_default();
            let read = (|| -> Result<()> {
                let file = state.timeline.entries[kept[g.start].0.entry].file;
                let c = Instant::now();
                state.read_chunk(file, *span.start(), span.end() - span.start() + 1, &mut work.chunk)?;
                timings.read_states += c.elapsed().as_secs_f64();
                let c = Instant::now();
                work.kept = g.clone();
                work.obs.resize(g.len() * od, 0.0);
                work.obs_mask.resize(g.len() * od, 0);
                for (k, &(cand, _)) in kept[g.clone()].iter().enumerate() {
                    fill_obs(sources, cand, &mut work.obs[k * od..(k + 1) * od], &mut work.obs_mask[k * od..(k + 1) * od])?;
                }
                timings.read_observations += c.elapsed().as_secs_f64();
                Ok(())
            })();
            if let Err(e) = read {
                result = Err(e);
                break;
            }
            if to_worker.send(work).is_err() {
                break;
            }
            pending += 1;
            // Keep one chunk in the worker's hands while writing the rows of the one before.
            if pending > 1 {
                let rows = rows_in.recv().map_err(|_| Error::Other("the ingest worker stopped".into()))?;
                pending -= 1;
                result = deliver(rows, &mut timings.write);
                if !matches!(result, Ok(true)) {
                    break;
                }
            }
        }
        drop(to_worker);
        if matches!(result, Ok(true)) {
            for rows in rows_in.iter().take(pending) {
                result = deliver(rows, &mut timings.write);
                if !matches!(result, Ok(true)) {
                    break;
                }
            }
        }
        drop(rows_in);
        drop(to_writer);
        let c = Instant::now();
        let written = states_writer.join().map_err(|_| Error::Other("the states writer panicked".into()))?;
        timings.wait_states = c.elapsed().as_secs_f64();
        timings.process = worker.join().map_err(|_| Error::Other("the ingest worker panicked".into()))?;
        result?;
        (timings.write_states, timings.hash_states) = written?;
        Ok(())
    })?;
    progress.finish();
    Ok(())
}

/// Gathers, checks and converts the snapshots of one chunk (see [`stream`]).
#[allow(clippy::too_many_arguments)]
fn process(
    state: &StateSource,
    work: &Work,
    kept: &[(&Candidate, Split)],
    od: usize,
    gathers: &mut [field::Gather],
    row: &mut [f64],
    rows: &mut Rows,
    pass: &mut Pass,
) {
    for (k, &(cand, split)) in kept[work.kept.clone()].iter().enumerate() {
        let e = state.timeline.entries[cand.entry];
        let (obs_vals, obs_mask) = (&work.obs[k * od..(k + 1) * od], &work.obs_mask[k * od..(k + 1) * od]);
        let observed = od == 0 || obs_mask.contains(&1);
        for m in 0..state.members {
            let complete = state.row(gathers, &work.chunk, e.index, m, row, &mut pass.state_qc);
            pass.samples.snapshots_read += 1;
            if state.check(row, complete, &mut pass.state_qc) != RowStatus::Good {
                pass.samples.dropped_state_qc += 1;
                continue;
            }
            if !observed {
                pass.samples.dropped_no_observations += 1;
                continue;
            }
            rows.time.push(e.value);
            rows.member.push(m as i32);
            rows.split.push(split as i32);
            rows.file.push(e.file as i32);
            rows.index.push(e.index as i32);
            rows.state.push(row);
            rows.obs.push(obs_vals);
            rows.obs_mask.extend(obs_mask.iter().map(|&v| v as i8));
            match split {
                Split::Train => {
                    pass.samples.train += 1;
                    pass.train_rows += 1;
                    pass.state_moments.add_row(row);
                    pass.obs_moments.add_row(obs_vals);
                    if let Some(r) = pass.reservoir.as_mut() {
                        r.offer(row);
                    }
                }
                Split::Validation => pass.samples.validation += 1,
                Split::Test => pass.samples.test += 1,
            }
        }
    }
}

/// Fills the observation vector of one candidate from every source.
fn fill_obs(sources: &mut [Source], cand: &Candidate, vals: &mut [f64], mask: &mut [u8]) -> Result<()> {
    let mut at = 0;
    for (src, (tau, window)) in sources.iter_mut().zip(&cand.windows) {
        let len = src.width();
        let (v, m) = (&mut vals[at..at + len], &mut mask[at..at + len]);
        match (src, window) {
            (Source::Field(f), Window::Field(range)) => f.fill(range.clone(), *tau, v, m)?,
            (Source::Tracks(t), Window::Tracks(slots)) => t.fill(slots, *tau, v, m),
            _ => {
                v.fill(f64::NAN);
                m.fill(0);
            }
        }
        at += len;
    }
    Ok(())
}

fn source_meta(s: &Source, c: &config::ObservationConfig) -> SourceMeta {
    let pairing = match s {
        Source::Field(_) => format!(
            "observations from {} before to {} after the state time, {} per element",
            c.window_before.as_deref().unwrap_or("0"),
            c.window_after.as_deref().unwrap_or("0"),
            format!("{:?}", c.combine.unwrap_or_default()).to_lowercase()
        ),
        Source::Tracks(t) => format!("segments of {} ending at the state time, {} points, {} tracks", c.segment.as_deref().unwrap_or("0"), t.points, t.slots),
    };
    SourceMeta { name: s.name().to_string(), kind: s.kind_name().to_string(), files: s.paths().iter().map(|p| p.display().to_string()).collect(), pairing }
}
