//! Command-line definitions (clap) and the glue from each subcommand to the library.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

use contrada::app::config::Config;
use contrada::app::runner::{self, RunOptions};
use contrada::app::standalone::{StandaloneRun, run_standalone};
use contrada::assimilate::stage::AssimilateOptions;
use contrada::cf::NcFile;
use contrada::cf::inspect::inspect;
use contrada::config::{BackendChoice, Problems, Resolved};
use contrada::error::{Error, Result};
use contrada::evaluate::config::EvaluateOptions;
use contrada::kalman::stage::options::BaselineOptions;
use contrada::learn::backend;
use contrada::learn::stage::TrainOptions;
use contrada::pipeline::manifest::{MANIFEST, Manifest, RUN_RECORD, RunRecord, read_json};
use contrada::synth::stage::SynthOptions;

/// contrada: contrastive data assimilation for ocean state estimation, with ensemble Kalman baselines.
#[derive(Parser, Debug)]
#[command(name = "contrada", version, about, long_about = None)]
pub struct Cli {
    /// More log output (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the stages of a pipeline (skipping those already done).
    Run(RunArgs),
    /// Show the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Describe a NetCDF file: dimensions, variables, decoded time range, CF problems. Exit code 0
    /// when it finds no problem, 2 when it lists any, cannot read the file or an --expect fails.
    Inspect(InspectArgs),
    /// Show what a run directory holds: last run, stages, outputs.
    Status(StatusArgs),
    /// Generate synthetic truth and observations (OSSE) as CF NetCDF, seeded like a pipeline stage
    /// named `synth` (from run.seed), or by --seed exactly.
    Synth(SynthArgs),
    /// List the wgpu adapters and show which learning backend `--backend` selects (checked with a
    /// small computation on it).
    Backends(BackendsArgs),
    /// Pair states with observations into a normalised training data set (dataset.nc with its
    /// state rows in dataset.states.bin, qc.json).
    Ingest(IngestArgs),
    /// Train the contrastive encoders on an ingest data set (model.bpk, model.json, metrics.csv,
    /// recall.json); rerun after a kill, it resumes from the last finished epoch.
    Train(TrainArgs),
    /// Analyse one window with the learned generator: analysis ensemble, fields and diagnostics
    /// per method (analysis_METHOD.nc, diagnostics_METHOD.json).
    Assimilate(AssimilateArgs),
    /// One ensemble Kalman analysis (EnKF, ETKF, LETKF, EnOI) of a prior ensemble file.
    Baseline(BaselineArgs),
    /// Score analyses against the truth and write the comparison report (tables and plots).
    Evaluate(EvaluateArgs),
}

#[derive(Args, Debug)]
struct Overrides {
    /// Override a configuration key, e.g. --set run.seed=7 or --set "ingest.qc.domain_x=[0, 1]"
    /// (a TOML value, or a bare string; repeatable; highest precedence).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Pipeline file (TOML), e.g. pipelines/demo.toml.
    pipeline: PathBuf,
    /// Date window for daily stages: YYYY-MM-DD or "today" (UTC).
    #[arg(long, value_name = "DATE|today")]
    window: Option<String>,
    /// Run only this stage.
    #[arg(long, value_name = "NAME")]
    stage: Option<String>,
    /// Rerun stages even when their outputs are current.
    #[arg(long)]
    force: bool,
    /// Learning backend.
    #[arg(long, value_enum)]
    backend: Option<BackendChoice>,
    /// Run directory (default: run.run_dir, or runs/<pipeline name>).
    #[arg(long, value_name = "DIR")]
    run_dir: Option<PathBuf>,
    #[command(flatten)]
    overrides: Overrides,
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Print the fully resolved configuration (defaults < pipeline < environment < --set).
    Show {
        /// Pipeline file whose configuration to resolve.
        pipeline: Option<PathBuf>,
        #[command(flatten)]
        overrides: Overrides,
    },
}

#[derive(Args, Debug)]
struct InspectArgs {
    /// The NetCDF file.
    file: PathBuf,
    /// Require variable VAR with exactly these dimensions (repeatable), e.g. --expect sst=time,lat,lon.
    #[arg(long, value_name = "VAR=DIM,DIM")]
    expect: Vec<String>,
    /// Accepted for compatibility and ignored: any CF problem gives exit code 2 without it.
    #[arg(long = "strict")]
    _strict: bool,
}

#[derive(Args, Debug)]
struct SynthArgs {
    #[command(flatten)]
    options: SynthOptions,
    /// Output directory (created if needed; files of the same name are replaced atomically).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Configuration file (TOML) layered over the built-in defaults.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    overrides: Overrides,
}

#[derive(Args, Debug)]
struct BackendsArgs {
    /// Learning backend to select (default: run.backend of the configuration).
    #[arg(long, value_enum)]
    backend: Option<BackendChoice>,
    #[command(flatten)]
    overrides: Overrides,
}

#[derive(Args, Debug)]
struct IngestArgs {
    /// Configuration file (TOML) with the [ingest] section, layered over the built-in defaults.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// An input named in [ingest]: NAME=PATH, PATH may be a file pattern (repeatable),
    /// e.g. --input states='archive/ocean_*.nc' --input drifters=gdp.nc.
    #[arg(long = "input", value_name = "NAME=PATH")]
    inputs: Vec<String>,
    /// Output directory (created if needed; dataset.nc, dataset.states.bin and qc.json are
    /// replaced atomically).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    overrides: Overrides,
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// The ingest data set (dataset.nc, with dataset.states.bin beside it).
    #[arg(long, value_name = "FILE")]
    dataset: PathBuf,
    /// Output directory (created if needed; files of the same name are replaced atomically).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    options: TrainOptions,
    #[command(flatten)]
    settings: LearningSettings,
}

#[derive(Args, Debug)]
struct AssimilateArgs {
    /// The trained model: model.json of `contrada train` (model.bpk beside it).
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// Bank of states to weight: an ingest dataset.nc of a climatological archive or a forecast ensemble.
    #[arg(long, value_name = "FILE")]
    bank: PathBuf,
    /// The window's observations: an ingest dataset.nc.
    #[arg(long, value_name = "FILE")]
    observations: PathBuf,
    /// Output directory (created if needed; files of the same name are replaced atomically).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Window to analyse, YYYY-MM-DD or "today" (default: the last observation time in the file).
    #[arg(long, value_name = "DATE|today")]
    window: Option<String>,
    #[command(flatten)]
    options: AssimilateOptions,
    /// Cache of the bank's codes (default: .cache beside the model).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    #[command(flatten)]
    settings: LearningSettings,
}

/// The configuration and backend of a learning command.
#[derive(Args, Debug)]
struct LearningSettings {
    /// Learning backend (default: run.backend).
    #[arg(long, value_enum)]
    backend: Option<BackendChoice>,
    /// Configuration file, e.g. the pipeline file of the model ([train], [run], [io]), over the built-in defaults.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    overrides: Overrides,
}

impl LearningSettings {
    fn resolve(&self) -> Result<Resolved<Config>> {
        resolve(self.config.as_deref(), &self.overrides.set, backend_override(self.backend))
    }
}

#[derive(Args, Debug)]
struct BaselineArgs {
    /// Prior ensemble (NetCDF; the analysed variable has a member dimension).
    #[arg(long, value_name = "FILE")]
    prior: PathBuf,
    /// Observations (NetCDF; gridded like the state, or points with x/y coordinates).
    #[arg(long, value_name = "FILE")]
    observations: PathBuf,
    /// EnOI: static ensemble in the prior's layout.
    #[arg(long = "static", value_name = "FILE")]
    static_ensemble: Option<PathBuf>,
    /// Output directory (analysis_METHOD.nc with the ensemble and fields, diagnostics_METHOD.json).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    options: BaselineOptions,
    /// Configuration file (a pipeline file's sections, e.g. [baseline]).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    overrides: Overrides,
}

#[derive(Args, Debug)]
struct EvaluateArgs {
    /// Output directory (created if needed; files of the same name are replaced atomically).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Truth states file (OSSE), e.g. sample_data/lagrangian/today/lagrangian_states.nc.
    #[arg(long, value_name = "FILE")]
    truth: PathBuf,
    /// An analysis file, named NAME=FILE or just FILE (named after analysis_NAME.nc); repeatable.
    #[arg(long = "analysis", value_name = "[NAME=]FILE")]
    analyses: Vec<String>,
    /// Bank of past states, scored as the climatological ensemble.
    #[arg(long, value_name = "FILE")]
    bank: Option<PathBuf>,
    /// Drifter trajectories (CF DSG) to draw over the analysis means.
    #[arg(long, value_name = "FILE")]
    observations: Option<PathBuf>,
    /// metrics.csv of the train stage, for the training curves.
    #[arg(long, value_name = "FILE")]
    training: Option<PathBuf>,
    /// recall.json of the train stage, for R@1 and R@5 of the encoder methods.
    #[arg(long, value_name = "FILE")]
    recall: Option<PathBuf>,
    #[command(flatten)]
    options: EvaluateOptions,
    /// Window shown in the report, YYYY-MM-DD (default: the analyses' window attribute).
    #[arg(long, value_name = "DATE")]
    window: Option<String>,
    /// Configuration file (TOML) layered over the built-in defaults (for run.seed).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    overrides: Overrides,
}

#[derive(Args, Debug)]
struct StatusArgs {
    /// Run directory.
    run_dir: PathBuf,
}

/// Sets up logging to stderr: info by default, -v debug, -q warnings.
pub fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Runs the parsed command.
pub fn execute(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(args) => run(args),
        Command::Config(ConfigCommand::Show { pipeline, overrides }) => {
            let resolved = resolve(pipeline.as_deref(), &overrides.set, Vec::new())?;
            print!("{}", toml::to_string_pretty(&resolved.config).map_err(|e| Error::Other(e.to_string()))?);
            Ok(())
        }
        Command::Inspect(args) => inspect_file(args),
        Command::Status(args) => status(args),
        Command::Synth(args) => synth_flow(args),
        Command::Backends(args) => backends(args),
        Command::Ingest(args) => ingest(args),
        Command::Train(args) => train(args),
        Command::Assimilate(args) => assimilate(args),
        Command::Baseline(args) => baseline(args),
        Command::Evaluate(args) => evaluate(args),
    }
}

fn parse_overrides(set: &[String]) -> Result<Vec<(String, String)>> {
    set.iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| Error::Usage(format!("--set {kv}: expected KEY=VALUE, e.g. --set run.seed=7")))
        })
        .collect()
}

fn resolve(pipeline: Option<&std::path::Path>, set: &[String], extra: Vec<(String, String)>) -> Result<Resolved<Config>> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let mut overrides = parse_overrides(set)?;
    overrides.extend(extra);
    contrada::app::config::load(pipeline, env, &overrides)
}

/// A stage's options as the `options` table of a pipeline entry.
fn options_table<T: serde::Serialize>(options: &T) -> Result<toml::Table> {
    toml::Table::try_from(options).map_err(|e| Error::Other(format!("stage options: {e}")))
}

fn parse_window(text: &str) -> Result<NaiveDate> {
    if text.eq_ignore_ascii_case("today") {
        return Ok(chrono::Utc::now().date_naive());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| Error::Usage(format!("--window {text}: expected a date YYYY-MM-DD or \"today\"")))
}

fn run(args: RunArgs) -> Result<()> {
    let window = args.window.as_deref().map(parse_window).transpose()?;
    let mut extra = backend_override(args.backend);
    if let Some(dir) = &args.run_dir {
        extra.push(("run.run_dir".to_string(), dir.display().to_string()));
    }
    let resolved = resolve(Some(&args.pipeline), &args.overrides.set, extra)?;
    let opts = RunOptions {
        run_dir: runner::default_run_dir(&resolved.config),
        window,
        only_stage: args.stage,
        force: args.force,
        pipeline_file: args.pipeline.clone(),
    };
    let outcomes = runner::run(&resolved.config, &opts)?;
    let ran = outcomes.iter().filter(|o| o.status == "done").count();
    if ran == 0 {
        println!("{}: already done ({} stages current)", opts.run_dir.display(), outcomes.len());
    } else {
        println!("{}: {ran} stage(s) run, {} already done", opts.run_dir.display(), outcomes.len() - ran);
    }
    for outcome in &outcomes {
        let mut reports = Vec::new();
        find_named(&opts.run_dir.join(&outcome.stage), "report.html", &mut reports);
        for r in reports {
            println!("report: {}", r.display());
        }
    }
    Ok(())
}

fn synth_flow(args: SynthArgs) -> Result<()> {
    let resolved = resolve(args.config.as_deref(), &args.overrides.set, Vec::new())?;
    let flow = args.options.flow;
    let run = StandaloneRun {
        kind: "synth",
        options: options_table(&args.options)?,
        inputs: BTreeMap::new(),
        out: &args.out,
        window: None,
        cache_dir: None,
        resumable: false,
    };
    let (summary, files) = run_standalone(&resolved.config, run)?;
    for path in files {
        println!("{}", path.display());
    }
    tracing::info!("synth {}: {summary}", flow.name());
    Ok(())
}

fn backends(args: BackendsArgs) -> Result<()> {
    let resolved = resolve(None, &args.overrides.set, backend_override(args.backend))?;
    let adapters = backend::adapters();
    if adapters.is_empty() {
        println!("wgpu adapters: none");
    }
    for adapter in adapters {
        println!("wgpu adapter: {adapter}{}", if adapter.hardware { "" } else { " [software]" });
    }
    let choice = resolved.config.run.backend;
    let selected = backend::select(choice, &resolved.layers.origin("run.backend"))?;
    backend::smoke_test(&selected.device).map_err(|e| Error::Other(format!("backend {selected}: {e}")))?;
    println!("backend {}: {selected}", format!("{choice:?}").to_lowercase());
    Ok(())
}

fn ingest(args: IngestArgs) -> Result<()> {
    let resolved = resolve(Some(&args.config), &args.overrides.set, Vec::new())?;
    let config = &resolved.config;
    let mut problems = Problems::default();
    config.ingest.require(&mut problems);
    if let Some((key, message)) = problems.0.into_iter().next() {
        return Err(Error::config(resolved.layers.origin(&key), key, message));
    }
    let mut inputs = BTreeMap::new();
    for kv in &args.inputs {
        let (name, path) = kv.split_once('=').ok_or_else(|| Error::Usage(format!("--input {kv}: expected NAME=PATH, e.g. --input states=ocean.nc")))?;
        inputs.extend(runner::expand_input(name.trim(), std::path::Path::new(path.trim()), &format!("--input {name}"))?);
    }
    // Every input [ingest] names must be given: said by its flag before anything is read.
    contrada::ingest::IngestInputs::from_map(&config.ingest, &inputs, |name| {
        Error::Usage(format!("--input {name}=PATH is required: [ingest] reads an input called `{name}`"))
    })?;
    let run = StandaloneRun { kind: "ingest", options: toml::Table::new(), inputs, out: &args.out, window: None, cache_dir: None, resumable: false };
    let (summary, files) = run_standalone(config, run)?;
    for path in files {
        println!("{}", path.display());
    }
    tracing::debug!("ingest: {summary}");
    Ok(())
}

fn baseline(args: BaselineArgs) -> Result<()> {
    let resolved = resolve(args.config.as_deref(), &args.overrides.set, Vec::new())?;
    let mut inputs = BTreeMap::from([("prior".to_string(), args.prior), ("observations".to_string(), args.observations)]);
    if let Some(s) = args.static_ensemble {
        inputs.insert("static".to_string(), s);
    }
    let run =
        StandaloneRun { kind: "baseline", options: options_table(&args.options)?, inputs, out: &args.out, window: None, cache_dir: None, resumable: false };
    print_summary(&run_standalone(&resolved.config, run)?.0)
}

fn train(args: TrainArgs) -> Result<()> {
    let resolved = args.settings.resolve()?;
    let inputs = BTreeMap::from([("dataset".to_string(), args.dataset)]);
    let run = StandaloneRun { kind: "train", options: options_table(&args.options)?, inputs, out: &args.out, window: None, cache_dir: None, resumable: true };
    print_summary(&run_standalone(&resolved.config, run)?.0)
}

fn assimilate(args: AssimilateArgs) -> Result<()> {
    let resolved = args.settings.resolve()?;
    let window = args.window.as_deref().map(parse_window).transpose()?;
    let options = options_table(&args.options)?;
    let model_dir = args.model.parent().map(PathBuf::from).unwrap_or_default();
    let cache_dir = args.cache.unwrap_or_else(|| model_dir.join(".cache"));
    let inputs = BTreeMap::from([("model".to_string(), args.model), ("bank".to_string(), args.bank), ("observations".to_string(), args.observations)]);
    let run = StandaloneRun { kind: "assimilate", options, inputs, out: &args.out, window, cache_dir: Some(cache_dir), resumable: false };
    print_summary(&run_standalone(&resolved.config, run)?.0)
}

fn backend_override(backend: Option<BackendChoice>) -> Vec<(String, String)> {
    backend.map(|b| ("run.backend".to_string(), format!("{b:?}").to_lowercase())).into_iter().collect()
}

fn print_summary(summary: &serde_json::Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(summary).map_err(|e| Error::Other(e.to_string()))?);
    Ok(())
}

fn evaluate(args: EvaluateArgs) -> Result<()> {
    use contrada::evaluate::config::{BANK, OBSERVATIONS, RECALL, TRAINING, TRUTH};
    let resolved = resolve(args.config.as_deref(), &args.overrides.set, Vec::new())?;
    let window = args.window.as_deref().map(parse_window).transpose()?;
    let mut inputs = BTreeMap::new();
    inputs.insert(TRUTH.to_string(), args.truth);
    for (key, path) in [(BANK, args.bank), (OBSERVATIONS, args.observations), (TRAINING, args.training), (RECALL, args.recall)] {
        if let Some(p) = path {
            inputs.insert(key.to_string(), p);
        }
    }
    for a in &args.analyses {
        let (name, path) = match a.split_once('=') {
            Some((name, path)) => (name.trim().to_string(), PathBuf::from(path.trim())),
            None => {
                let stem = std::path::Path::new(a).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                (stem.trim_start_matches("analysis_").to_string(), PathBuf::from(a))
            }
        };
        if inputs.insert(format!("analysis_{name}"), path).is_some() {
            return Err(Error::Usage(format!("--analysis {a}: a second analysis named `{name}`; name them NAME=FILE")));
        }
    }
    let run = StandaloneRun { kind: "evaluate", options: options_table(&args.options)?, inputs, out: &args.out, window, cache_dir: None, resumable: false };
    let (summary, _) = run_standalone(&resolved.config, run)?;
    println!("{}", args.out.join(contrada::evaluate::report::REPORT_HTML).display());
    println!("{}", args.out.join(contrada::evaluate::report::REPORT_MD).display());
    tracing::info!("evaluate: {summary}");
    Ok(())
}

fn inspect_file(args: InspectArgs) -> Result<()> {
    let report = inspect(&args.file)?;
    print!("{report}");
    if !args.expect.is_empty() {
        // Dimensions only: reading the variables again could need gigabytes, and the report has
        // already checked their values.
        let file = NcFile::open(&args.file)?;
        for e in &args.expect {
            let (var, dims) = e.split_once('=').ok_or_else(|| Error::Usage(format!("--expect {e}: expected VAR=DIM,DIM")))?;
            let dims: Vec<&str> = dims.split(',').map(str::trim).filter(|d| !d.is_empty()).collect();
            file.expect_dims(var, &dims)?;
        }
    }
    if let Some(first) = report.problems.first() {
        return Err(Error::input(&args.file, format!("{} CF problem(s); first: {first}", report.problems.len())));
    }
    Ok(())
}

fn status(args: StatusArgs) -> Result<()> {
    let dir = &args.run_dir;
    if !dir.is_dir() {
        return Err(Error::input(dir, "not a run directory (does not exist)"));
    }
    match read_json::<RunRecord>(&dir.join(RUN_RECORD)) {
        Ok(rec) => {
            let window = rec.window.map(|w| format!(", window {w}")).unwrap_or_default();
            println!("pipeline {} (last run {}{window})", rec.pipeline, rec.started);
            for s in &rec.stages {
                let msg = s.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
                println!("  {:<20} {:<8} {:>8.1} s{msg}", s.stage, s.status, s.elapsed_s);
            }
        }
        Err(_) => println!("{}: no run recorded yet", dir.display()),
    }
    let lock = std::fs::read_to_string(dir.join(".lock")).unwrap_or_default();
    if !lock.trim().is_empty() {
        println!("running now: {}", lock.trim());
    }
    let mut manifests = Vec::new();
    find_named(dir, MANIFEST, &mut manifests);
    manifests.sort();
    for path in manifests {
        let m: Manifest = read_json(&path)?;
        let window = m.window.map(|w| format!(" [{w}]")).unwrap_or_default();
        println!("{}{window}: {} ({} outputs, {:.1} s, finished {}, git {})", m.stage, m.status, m.outputs.len(), m.elapsed_s, m.finished, m.git_revision);
        for o in &m.outputs {
            println!("    {} ({} bytes)", o.path, o.bytes);
        }
    }
    Ok(())
}

/// Files called `name` below `dir` (hidden staging directories skipped).
fn find_named(dir: &std::path::Path, name: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && !entry.file_name().to_string_lossy().starts_with('.') {
            find_named(&path, name, out);
        } else if entry.file_name() == name {
            out.push(path);
        }
    }
}
