//! `easel bench`: how fast a model runs on this machine, through the same
//! engine the daemon uses — load time, per-picture latency at each thread
//! count, throughput and peak memory — so an artist can pick a variant by
//! measurement on the target, on either engine (`--engine tract,onnxruntime`
//! measures both), and we can compare them with onnxruntime used alone
//! (bench/ort_bench.py prints the same columns).
//!
//! Each (model, thread count) is measured in a fresh child process (this
//! binary re-executed with a hidden `--measure` flag): peak RSS is then the
//! model's own, not the sum of everything measured before, and a model that
//! crashes tract takes only its own row down. The child prints one JSON line.

mod pick;

use crate::generate::parse_size;
use anyhow::{Context, bail, ensure};
use easel_engine::package::{ModelKind, ModelPackage};
use easel_engine::picture::RgbImage;
use easel_engine::{Engine, EngineKind, Provider, RenderRequest, Source, Urgency};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Model package folders.
    #[arg(required = true)]
    pub models: Vec<PathBuf>,
    /// Inference thread counts to measure, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub threads: Vec<usize>,
    /// Timed runs per model and thread count (median and p99 are over these).
    #[arg(long, default_value_t = 30)]
    pub runs: usize,
    /// Untimed runs before timing, after the engine's own warm-up.
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// Picture size WxH for cppn models (default: the manifest's size).
    #[arg(long, value_parser = parse_size)]
    pub size: Option<(u32, u32)>,
    /// Print JSON (one array of measurements) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Inference engines to measure, comma separated: tract, onnxruntime
    /// (default: the manifest's `engine`, else tract). onnxruntime's
    /// library comes from ORT_DYLIB_PATH, else the onnxruntime Python
    /// package, else the system's library path.
    #[arg(long = "engine", value_delimiter = ',')]
    pub engines: Vec<EngineKind>,
    /// onnxruntime execution providers in order of preference: tensorrt,
    /// cuda, cpu (a missing one falls back to the next).
    #[arg(long, value_delimiter = ',', default_value = "cpu")]
    pub providers: Vec<Provider>,
    /// tract switches (`tract list-knobs`) to measure both off and on, e.g.
    /// `--knob TRACT_DISABLE_DIRECT_SPATIAL`: every row is measured once
    /// without and once with each knob set to 1.
    #[arg(long = "knob")]
    pub knobs: Vec<String>,
    /// Choose among the given packages on every engine (without
    /// `--engine`: tract and onnxruntime) the fastest on this machine whose
    /// recorded quality meets the floors, judged on the worst sample and
    /// the slowest run as well as the means.
    #[arg(long)]
    pub pick: bool,
    /// Quality floor for `--pick` on a variant's mean PSNR against its f32
    /// source, dB (f32 packages always qualify).
    #[arg(long, default_value_t = 30.0)]
    pub floor: f64,
    /// Quality floor for `--pick` on a variant's worst sample, dB
    /// (default: 5 dB under `--floor`).
    #[arg(long)]
    pub worst_floor: Option<f64>,
    /// With `--pick`: set `default_model` (and `engine`) to the choice in
    /// this installation config (easeld's TOML); other lines are kept.
    #[arg(long, requires = "pick")]
    pub config: Option<PathBuf>,
    /// Measure one model at one thread count in this process (used by the
    /// parent process; prints one JSON line).
    #[arg(long, hide = true)]
    pub measure: bool,
}

/// One model at one thread count.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measurement {
    pub model: String,
    pub kind: String,
    pub width: u32,
    pub height: u32,
    pub threads: usize,
    /// Read, check, optimize, plan and the engine's smoke-test runs.
    pub load_ms: f64,
    pub runs: usize,
    pub median_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
    /// Sample standard deviation of the runs: the noise a difference in
    /// mean must beat (`--pick`).
    #[serde(default)]
    pub stddev_ms: f64,
    /// Sequential throughput: runs / total render time.
    pub images_per_s: f64,
    /// Peak resident memory of the measuring process (Linux: VmHWM).
    pub peak_rss_mb: Option<f64>,
    /// tract tuning switches set in the environment (`TRACT_*`), which
    /// change what is measured.
    pub knobs: Vec<String>,
    /// The engine that ran it and its provider (`cpu` for tract).
    #[serde(default)]
    pub engine: String,
    #[serde(default)]
    pub provider: String,
    /// Fallbacks on the way (an onnxruntime provider missing, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    ensure!(args.runs >= 1, "--runs must be at least 1");
    ensure!(
        !args.threads.is_empty() && !args.threads.contains(&0),
        "--threads must list positive counts"
    );
    if args.measure {
        ensure!(
            args.models.len() == 1 && args.threads.len() == 1,
            "--measure takes one model and one thread count"
        );
        ensure!(
            args.engines.len() <= 1,
            "--measure takes one engine at most"
        );
        let m = measure(&args.models[0], args.threads[0], &args)?;
        println!("{}", serde_json::to_string(&m)?);
        return Ok(());
    }
    for k in &args.knobs {
        ensure!(
            k.starts_with("TRACT_"),
            "--knob {k}: tract knobs start with TRACT_"
        );
    }
    let mut all = Vec::new();
    let columns = Columns::new(&args);
    if !args.json {
        print_header(&args, &columns);
    }
    let mut settings: Vec<Option<&str>> = vec![None];
    settings.extend(args.knobs.iter().map(|k| Some(k.as_str())));
    let engines: Vec<Option<EngineKind>> = match (args.engines.is_empty(), args.pick) {
        (true, false) => vec![None],
        // The pick is among engine x variant.
        (true, true) => EngineKind::ALL.into_iter().map(Some).collect(),
        (false, _) => args.engines.iter().copied().map(Some).collect(),
    };
    // tract's knobs mean nothing to onnxruntime: its rows are measured once.
    let runs: Vec<(Option<EngineKind>, Option<&str>)> = engines
        .iter()
        .flat_map(|&engine| {
            settings
                .iter()
                .filter(move |k| k.is_none() || engine != Some(EngineKind::Onnxruntime))
                .map(move |&k| (engine, k))
        })
        .collect();
    let total = (args.models.len() * args.threads.len() * runs.len()) as u64;
    let progress = crate::progress::steps(total, "measuring");
    let mut rows = Vec::new();
    for dir in &args.models {
        for &threads in &args.threads {
            for &(engine, knob) in &runs {
                let m = match measure_in_child(dir, threads, engine, knob, &args) {
                    // A pick over both engines goes on without onnxruntime.
                    Err(e)
                        if args.pick
                            && args.engines.is_empty()
                            && engine == Some(EngineKind::Onnxruntime) =>
                    {
                        progress.inc(1);
                        progress.suspend(|| eprintln!("pick: not on onnxruntime: {e:#}"));
                        continue;
                    }
                    other => other?,
                };
                progress.inc(1);
                if args.json {
                    progress.suspend(|| {
                        eprintln!(
                            "  {} on {} at {}: {:.2} ms",
                            m.model,
                            m.engine,
                            crate::table::count(threads, "thread"),
                            m.median_ms
                        )
                    });
                } else {
                    progress.suspend(|| print_row(&m, &columns));
                }
                rows.push((dir.clone(), m.clone()));
                all.push(m);
            }
        }
    }
    progress.finish_and_clear();
    if args.json && !args.pick {
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    if args.pick {
        pick(&rows, &args)?;
    }
    Ok(())
}

/// The choice among the rows at the highest thread count (see
/// [`pick::choose`]); prints it and, with `--config`, writes it as the
/// installation's default model and engine.
fn pick(rows: &[(PathBuf, Measurement)], args: &BenchArgs) -> anyhow::Result<()> {
    let threads = *args.threads.iter().max().expect("checked non-empty");
    let rows: Vec<&(PathBuf, Measurement)> =
        rows.iter().filter(|(_, m)| m.threads == threads).collect();
    let mut candidates = Vec::new();
    for (dir, m) in &rows {
        let package = ModelPackage::open(dir)?;
        let bytes = std::fs::metadata(package.onnx_path()).map_or(0, |m| m.len());
        let variant = package.manifest.variant;
        candidates.push(pick::Candidate {
            label: format!("{} on {}", m.model, m.engine),
            mean_ms: m.mean_ms,
            p99_ms: m.p99_ms,
            psnr_db: variant.as_ref().map(|v| v.psnr_db),
            psnr_worst_db: variant.as_ref().map(|v| v.psnr_worst_db),
            sem_ms: m.stddev_ms / (m.runs.max(1) as f64).sqrt(),
            bytes,
            tract: m.engine == EngineKind::Tract.to_string(),
        });
    }
    let floors = pick::Floors {
        mean_db: args.floor,
        worst_db: args.worst_floor.unwrap_or(args.floor - 5.0),
    };
    eprintln!(
        "pick: quality floors against the f32 source: mean PSNR >= {:.1} dB (--floor), worst sample >= {:.1} dB (--worst-floor); a faster row must beat the simplest by {:.0} % or {} standard errors",
        floors.mean_db,
        floors.worst_db,
        pick::MIN_MARGIN * 100.0,
        pick::SIGMAS
    );
    let (winner, why) = pick::choose(&candidates, floors);
    for reason in why {
        eprintln!("pick: not {reason}");
    }
    let ix = winner.context("no measured model meets the quality floors")?;
    let (dir, best) = rows[ix];
    let quality = match (&candidates[ix].psnr_db, &candidates[ix].psnr_worst_db) {
        (Some(mean), Some(worst)) => format!(
            "{mean:.1} dB mean PSNR vs f32 (floor {:.1}), {worst:.1} dB on its worst sample (floor {:.1})",
            floors.mean_db, floors.worst_db
        ),
        _ => "f32 source".into(),
    };
    let knobs = if best.knobs.is_empty() {
        String::new()
    } else {
        format!(", with {} in easeld's environment", best.knobs.join(" "))
    };
    println!(
        "pick: {} ({}) on {} — {:.2} ms mean, {:.2} ms slowest at {} on this machine ({} {}), {quality}{knobs}",
        best.model,
        dir.display(),
        best.engine,
        best.mean_ms,
        best.p99_ms,
        crate::table::count(threads, "thread"),
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    // The speeds (and an int8 variant's pictures) belong to this machine's
    // kernels: on another architecture the pick can differ.
    println!(
        "pick: measured on {}; pick again on the board if it is not one",
        std::env::consts::ARCH
    );
    if let Some(config) = &args.config {
        let text = std::fs::read_to_string(config)
            .with_context(|| format!("reading {}", config.display()))?;
        let models_dir = models_dir_of(&text, config)
            .with_context(|| format!("reading {}", config.display()))?;
        ensure!(
            holds_model(&models_dir, &best.model),
            "{}: not written: its models_dir ({}) holds no package named {:?}; copy {} there first (a default_model the piece cannot load would leave it on its fallback)",
            config.display(),
            models_dir.display(),
            best.model,
            dir.display()
        );
        let updated = set_top_level(
            &text,
            &[("default_model", &best.model), ("engine", &best.engine)],
        )
        .with_context(|| format!("editing {}", config.display()))?;
        let tmp = config.with_extension("toml.easel-tmp");
        std::fs::write(&tmp, updated).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, config).with_context(|| format!("replacing {}", config.display()))?;
        println!(
            "pick: {} now has default_model = {:?} and engine = {:?} (in {})",
            config.display(),
            best.model,
            best.engine,
            models_dir.display()
        );
    }
    Ok(())
}

/// The config's `models_dir` (default `models`). easeld reads a relative
/// one from its working directory; here it is taken from the current
/// directory when it exists there, else beside the config file.
fn models_dir_of(text: &str, config: &Path) -> anyhow::Result<PathBuf> {
    let doc: toml_edit::DocumentMut = text.parse()?;
    let dir = PathBuf::from(
        doc.get("models_dir")
            .and_then(|v| v.as_str())
            .unwrap_or("models"),
    );
    if dir.is_absolute() || dir.is_dir() {
        return Ok(dir);
    }
    let beside = config.parent().unwrap_or(Path::new(".")).join(&dir);
    Ok(if beside.is_dir() { beside } else { dir })
}

/// Whether a package named `name` (its manifest's name, as easeld finds
/// it) is in `models_dir`.
fn holds_model(models_dir: &Path, name: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(models_dir) else {
        return false;
    };
    entries
        .flatten()
        .filter_map(|e| ModelPackage::open(e.path()).ok())
        .any(|p| p.manifest.name == name)
}

/// `text` with the top-level string keys set, through `toml_edit`: every
/// comment (a trailing one on the replaced line included), blank line and
/// table stays as written; an absent key goes with the other top-level
/// keys, before the first table.
fn set_top_level(text: &str, pairs: &[(&str, &str)]) -> anyhow::Result<String> {
    let mut doc: toml_edit::DocumentMut = text.parse()?;
    for (key, value) in pairs {
        match doc.get_mut(key).and_then(|item| item.as_value_mut()) {
            Some(old) => {
                let decor = old.decor().clone();
                *old = toml_edit::Value::from(*value);
                *old.decor_mut() = decor;
            }
            None => doc[key] = toml_edit::value(*value),
        }
    }
    Ok(doc.to_string())
}

/// Re-executes this binary to measure one model at one thread count.
fn measure_in_child(
    dir: &Path,
    threads: usize,
    engine: Option<EngineKind>,
    knob: Option<&str>,
    args: &BenchArgs,
) -> anyhow::Result<Measurement> {
    let exe = std::env::current_exe().context("finding the easel executable")?;
    let mut cmd = Command::new(exe);
    if let Some(k) = knob {
        cmd.env(k, "1");
    }
    cmd.args(["bench", "--measure", "--threads", &threads.to_string()])
        .args([
            "--runs",
            &args.runs.to_string(),
            "--warmup",
            &args.warmup.to_string(),
        ]);
    if let Some((w, h)) = args.size {
        cmd.arg("--size").arg(format!("{w}x{h}"));
    }
    if let Some(engine) = engine {
        cmd.arg("--engine").arg(engine.as_str());
    }
    let providers: Vec<&str> = args.providers.iter().map(|p| p.as_str()).collect();
    cmd.arg("--providers").arg(providers.join(","));
    let out = cmd
        .arg(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("starting a measuring process for {}", dir.display()))?;
    if !out.status.success() {
        bail!(
            "measuring {} at {threads} threads{} failed ({})",
            dir.display(),
            engine.map_or_else(String::new, |e| format!(" on {e}")),
            out.status
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .last()
        .context("the measuring process printed nothing")?;
    serde_json::from_str(line).with_context(|| format!("reading the measurement {line:?}"))
}

/// Loads and times one model in this process.
fn measure(dir: &Path, threads: usize, args: &BenchArgs) -> anyhow::Result<Measurement> {
    let (runs, warmup, size) = (args.runs, args.warmup, args.size);
    let package = ModelPackage::open(dir)?;
    let kind = package.manifest.kind;
    let source = match kind {
        ModelKind::Image => {
            let [_, _, h, w] = package.manifest.input.shape[..] else {
                bail!("image model without [1, 3, H, W]")
            };
            Source::Image(Arc::new(test_picture(w as u32, h as u32)))
        }
        _ => Source::Seed(1),
    };
    let size = if kind == ModelKind::Cppn { size } else { None };
    let choice = crate::engine_args::choice(args.engines.first().copied(), &args.providers);
    let engine = Engine::start_with(threads, 1, choice);
    let result = (|| {
        let info = engine.load_blocking(package)?;
        for warning in &info.warnings {
            eprintln!("easel bench: warning: {}: {warning}", info.name);
        }
        let request = || RenderRequest {
            model: info.name.clone(),
            source: source.clone(),
            size,
            urgency: Urgency::Ordered,
        };
        for _ in 0..warmup {
            engine.render_blocking(request())?;
        }
        let mut times = Vec::with_capacity(runs);
        let (mut width, mut height) = (info.width, info.height);
        for _ in 0..runs {
            let rendered = engine.render_blocking(request())?;
            (width, height) = (rendered.image.width, rendered.image.height);
            times.push(rendered.inference);
        }
        Ok::<_, anyhow::Error>((info, times, width, height))
    })();
    engine.shutdown();
    let (info, times, width, height) =
        result.with_context(|| format!("benchmarking {}", dir.display()))?;
    let stats = Stats::of(&times);
    Ok(Measurement {
        model: info.name.clone(),
        kind: kind.to_string(),
        width,
        height,
        threads,
        load_ms: ms(info.load_time),
        runs,
        median_ms: stats.median,
        p99_ms: stats.p99,
        mean_ms: stats.mean,
        stddev_ms: stats.stddev,
        images_per_s: 1e3 / stats.mean,
        peak_rss_mb: peak_rss_kb().map(|kb| kb as f64 / 1024.0),
        knobs: std::env::vars()
            .filter(|(k, _)| k.starts_with("TRACT_") && info.engine == EngineKind::Tract)
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        engine: info.engine.to_string(),
        provider: info.provider.to_string(),
        warnings: info.warnings.clone(),
    })
}

/// A deterministic picture with gradients and edges, for image models.
fn test_picture(w: u32, h: u32) -> RgbImage {
    let mut rgb = Vec::with_capacity(3 * (w * h) as usize);
    for y in 0..h {
        for x in 0..w {
            let check = if (x / 16 + y / 16) % 2 == 0 { 40 } else { 200 };
            rgb.extend([
                (x * 255 / w.max(2)) as u8,
                (y * 255 / h.max(2)) as u8,
                check,
            ]);
        }
    }
    RgbImage::new(w, h, rgb)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Latency statistics in milliseconds.
#[derive(Debug, PartialEq)]
pub(crate) struct Stats {
    pub(crate) median: f64,
    /// Nearest-rank 99th percentile: with fewer than 100 runs, the slowest.
    pub(crate) p99: f64,
    pub(crate) mean: f64,
    /// Sample standard deviation (0 for one run): the run-to-run noise.
    pub(crate) stddev: f64,
}

impl Stats {
    pub(crate) fn of(times: &[Duration]) -> Stats {
        let mut v: Vec<f64> = times.iter().map(|d| ms(*d)).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        let rank = (0.99 * n as f64).ceil() as usize;
        let mean = v.iter().sum::<f64>() / n as f64;
        let stddev = if n > 1 {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Stats {
            median,
            p99: v[rank.clamp(1, n) - 1],
            mean,
            stddev,
        }
    }
}

/// `VmHWM` from /proc/self/status, in kB; `None` where there is no procfs.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_hwm(&status)
}

fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The widths of the two text columns, fixed before the first row (rows
/// are printed as they are measured): the longest model name and the
/// longest `engine (provider)` this run can print.
struct Columns {
    model: usize,
    engine: usize,
}

impl Columns {
    fn new(args: &BenchArgs) -> Columns {
        let model = args
            .models
            .iter()
            .map(|dir| match ModelPackage::open(dir) {
                Ok(p) => p.manifest.name.chars().count(),
                Err(_) => dir.display().to_string().chars().count(),
            })
            .chain([5])
            .max()
            .unwrap_or(5);
        let engines: Vec<EngineKind> = if args.engines.is_empty() {
            EngineKind::ALL.to_vec()
        } else {
            args.engines.clone()
        };
        let engine = engines
            .iter()
            .flat_map(|e| {
                args.providers
                    .iter()
                    .chain([&Provider::Cpu])
                    .map(move |p| format!("{e} ({p})").chars().count())
            })
            .chain([6])
            .max()
            .unwrap_or(6);
        Columns { model, engine }
    }
}

fn print_header(args: &BenchArgs, c: &Columns) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "easel bench: through the easel engine (worker, model code), {} {}, {}; latency = render (inference + pixels), {} after {}",
        std::env::consts::OS,
        std::env::consts::ARCH,
        crate::table::count(cores, "core"),
        crate::table::count(args.runs, "run"),
        crate::table::count(args.warmup, "warm-up run")
    );
    println!(
        "{:<mw$}  {:<ew$} {:>9} {:>7} {:>10} {:>10} {:>10} {:>9} {:>9}",
        "model",
        "engine",
        "size",
        "threads",
        "load ms",
        "median ms",
        "p99 ms",
        "images/s",
        "peak MB",
        mw = c.model,
        ew = c.engine,
    );
}

fn print_row(m: &Measurement, c: &Columns) {
    let rss = m
        .peak_rss_mb
        .map_or_else(|| "-".into(), |mb| format!("{mb:.0}"));
    println!(
        "{:<mw$}  {:<ew$} {:>9} {:>7} {:>10.1} {:>10.2} {:>10.2} {:>9.1} {:>9}{}",
        m.model,
        format!("{} ({})", m.engine, m.provider),
        format!("{}x{}", m.width, m.height),
        m.threads,
        m.load_ms,
        m.median_ms,
        m.p99_ms,
        m.images_per_s,
        rss,
        if m.knobs.is_empty() {
            String::new()
        } else {
            format!("  ({})", m.knobs.join(" "))
        },
        mw = c.model,
        ew = c.engine,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_median_and_nearest_rank_p99() {
        let times: Vec<Duration> = (1..=20).rev().map(Duration::from_millis).collect();
        let s = Stats::of(&times);
        assert_eq!(s.median, 10.5);
        assert_eq!(s.p99, 20.0);
        assert_eq!(s.mean, 10.5);
        // 1..=20 ms: sample variance 35.
        assert!((s.stddev - 35f64.sqrt()).abs() < 1e-9, "{}", s.stddev);
        let hundred: Vec<Duration> = (1..=200).map(Duration::from_millis).collect();
        assert_eq!(Stats::of(&hundred).p99, 198.0);
        assert_eq!(
            Stats::of(&[Duration::from_millis(3)]),
            Stats {
                median: 3.0,
                p99: 3.0,
                mean: 3.0,
                stddev: 0.0
            }
        );
    }

    #[test]
    fn pick_sets_the_top_level_default_model_only() {
        let text = "# gallery\nnode = \"g1\"\ndefault_model = \"cppn-aurora\"  # the screen's model\n\n[mqtt]\nprefix = \"easel\"\n";
        let out = set_top_level(text, &[("default_model", "dcgan-64-int8w")]).unwrap();
        // Regression: the trailing comment on the replaced line was eaten.
        assert_eq!(
            out,
            "# gallery\nnode = \"g1\"\ndefault_model = \"dcgan-64-int8w\"  # the screen's model\n\n[mqtt]\nprefix = \"easel\"\n"
        );
        // Absent: added with the top-level keys, before the first table.
        let out = set_top_level(
            "node = \"g1\"\n[http]\nlisten = \"x\"\n",
            &[("default_model", "m")],
        )
        .unwrap();
        assert_eq!(
            out,
            "node = \"g1\"\ndefault_model = \"m\"\n[http]\nlisten = \"x\"\n"
        );
        assert_eq!(
            set_top_level("", &[("default_model", "m")]).unwrap(),
            "default_model = \"m\"\n"
        );
        let both = set_top_level(&out, &[("engine", "onnxruntime")]).unwrap();
        assert_eq!(
            both,
            "node = \"g1\"\ndefault_model = \"m\"\nengine = \"onnxruntime\"\n[http]\nlisten = \"x\"\n"
        );
        let again = set_top_level(&both, &[("engine", "tract")]).unwrap();
        assert_eq!(again.matches("engine").count(), 1);
        // A [mqtt] key of the same name is not the top-level one.
        let nested = set_top_level("[mqtt]\nengine = \"x\"\n", &[("engine", "tract")]).unwrap();
        assert!(nested.starts_with("engine = \"tract\"\n"), "{nested}");
        assert!(set_top_level("not = [toml", &[("engine", "tract")]).is_err());
    }

    #[test]
    fn vm_hwm_is_read_in_kb() {
        let status = "Name:\teasel\nVmPeak:\t  900 kB\nVmHWM:\t   123456 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(123_456));
        assert_eq!(parse_vm_hwm("Name:\teasel\n"), None);
    }

    #[test]
    fn test_picture_has_the_requested_size() {
        let p = test_picture(7, 5);
        assert_eq!((p.width, p.height, p.rgb.len()), (7, 5, 105));
    }
}
