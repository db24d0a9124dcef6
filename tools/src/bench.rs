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
    if !args.json {
        print_header(&args);
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
                            "  {} on {} at {threads} threads: {:.2} ms",
                            m.model, m.engine, m.median_ms
                        )
                    });
                } else {
                    progress.suspend(|| print_row(&m));
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
        let variant = ModelPackage::open(dir)?.manifest.variant;
        candidates.push(pick::Candidate {
            label: format!("{} on {}", m.model, m.engine),
            mean_ms: m.mean_ms,
            p99_ms: m.p99_ms,
            psnr_db: variant.as_ref().map(|v| v.psnr_db),
            psnr_worst_db: variant.as_ref().map(|v| v.psnr_worst_db),
        });
    }
    let floors = pick::Floors {
        mean_db: args.floor,
        worst_db: args.worst_floor.unwrap_or(args.floor - 5.0),
    };
    let (winner, why) = pick::choose(&candidates, floors);
    for reason in why {
        eprintln!("pick: skipping {reason}");
    }
    let ix = winner.context("no measured model meets the quality floors")?;
    let (dir, best) = rows[ix];
    let quality = match (&candidates[ix].psnr_db, &candidates[ix].psnr_worst_db) {
        (Some(mean), Some(worst)) => format!("{mean:.1} dB PSNR vs f32 ({worst:.1} dB worst)"),
        _ => "f32 source".into(),
    };
    let knobs = if best.knobs.is_empty() {
        String::new()
    } else {
        format!(", with {} in easeld's environment", best.knobs.join(" "))
    };
    println!(
        "pick: {} ({}) on {} — {:.2} ms mean, {:.2} ms slowest at {threads} threads on this machine, {quality}{knobs}",
        best.model,
        dir.display(),
        best.engine,
        best.mean_ms,
        best.p99_ms
    );
    if let Some(config) = &args.config {
        let text = std::fs::read_to_string(config)
            .with_context(|| format!("reading {}", config.display()))?;
        let updated = set_top_level(
            &set_default_model(&text, &best.model),
            "engine",
            &best.engine,
        );
        let tmp = config.with_extension("toml.easel-tmp");
        std::fs::write(&tmp, updated).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, config).with_context(|| format!("replacing {}", config.display()))?;
        println!(
            "pick: {} now has default_model = {:?} and engine = {:?} (its models_dir must hold that package)",
            config.display(),
            best.model,
            best.engine
        );
    }
    Ok(())
}

/// `text` with its top-level `default_model` set to `name`; comments and
/// every other line are kept as they are.
fn set_default_model(text: &str, name: &str) -> String {
    set_top_level(text, "default_model", name)
}

/// `text` with the top-level string `key` set to `value` (added before
/// the first table when absent); every other line is kept.
fn set_top_level(text: &str, key: &str, value: &str) -> String {
    let line = format!("{key} = {value:?}");
    let mut out = Vec::new();
    let mut done = false;
    let mut in_table = false;
    for l in text.lines() {
        let t = l.trim_start();
        if t.starts_with('[') {
            if !done {
                out.push(line.clone());
                done = true;
            }
            in_table = true;
        }
        let is_key = t
            .strip_prefix(key)
            .is_some_and(|r| r.trim_start().starts_with('='));
        if !in_table && is_key {
            if !done {
                out.push(line.clone());
                done = true;
            }
            continue;
        }
        out.push(l.to_string());
    }
    if !done {
        out.push(line);
    }
    out.join("\n") + "\n"
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
        Stats {
            median,
            p99: v[rank.clamp(1, n) - 1],
            mean: v.iter().sum::<f64>() / n as f64,
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

fn print_header(args: &BenchArgs) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "easel bench: through the easel engine (worker, model code), {} {}, {cores} cores; latency = render (inference + pixels), {} runs after {} warm-up",
        std::env::consts::OS,
        std::env::consts::ARCH,
        args.runs,
        args.warmup
    );
    println!(
        "{:<16} {:<16} {:>9} {:>7} {:>10} {:>10} {:>10} {:>9} {:>9}",
        "model",
        "engine",
        "size",
        "threads",
        "load ms",
        "median ms",
        "p99 ms",
        "images/s",
        "peak MB"
    );
}

fn print_row(m: &Measurement) {
    let rss = m
        .peak_rss_mb
        .map_or_else(|| "-".into(), |mb| format!("{mb:.0}"));
    println!(
        "{:<16} {:<16} {:>9} {:>7} {:>10.1} {:>10.2} {:>10.2} {:>9.1} {:>9}{}",
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
        }
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
        let hundred: Vec<Duration> = (1..=200).map(Duration::from_millis).collect();
        assert_eq!(Stats::of(&hundred).p99, 198.0);
        assert_eq!(
            Stats::of(&[Duration::from_millis(3)]),
            Stats {
                median: 3.0,
                p99: 3.0,
                mean: 3.0
            }
        );
    }

    #[test]
    fn pick_sets_the_top_level_default_model_only() {
        let text = "# gallery\nnode = \"g1\"\ndefault_model = \"cppn-aurora\"\n\n[mqtt]\nprefix = \"easel\"\n";
        let out = set_default_model(text, "dcgan-64-int8w");
        assert_eq!(
            out,
            "# gallery\nnode = \"g1\"\ndefault_model = \"dcgan-64-int8w\"\n\n[mqtt]\nprefix = \"easel\"\n"
        );
        // Absent: added before the first table.
        let out = set_default_model("node = \"g1\"\n[http]\nlisten = \"x\"\n", "m");
        assert_eq!(
            out,
            "node = \"g1\"\ndefault_model = \"m\"\n[http]\nlisten = \"x\"\n"
        );
        assert_eq!(set_default_model("", "m"), "default_model = \"m\"\n");
        let both = set_top_level(&out, "engine", "onnxruntime");
        assert_eq!(
            both,
            "node = \"g1\"\ndefault_model = \"m\"\nengine = \"onnxruntime\"\n[http]\nlisten = \"x\"\n"
        );
        assert_eq!(
            set_top_level(&both, "engine", "tract")
                .matches("engine")
                .count(),
            1
        );
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
