//! `easel bench`: how fast a model runs on this machine, through the same
//! engine the daemon uses — load time, per-picture latency at each thread
//! count, throughput and peak memory — so an artist can pick a variant by
//! measurement on the target, and we can compare tract with onnxruntime
//! (bench/ort_bench.py prints the same columns).
//!
//! Each (model, thread count) is measured in a fresh child process (this
//! binary re-executed with a hidden `--measure` flag): peak RSS is then the
//! model's own, not the sum of everything measured before, and a model that
//! crashes tract takes only its own row down. The child prints one JSON line.

use crate::generate::parse_size;
use anyhow::{Context, bail, ensure};
use easel_daemon::engine::{Engine, RenderRequest, Source, Urgency};
use easel_daemon::package::{ModelKind, ModelPackage};
use easel_daemon::picture::RgbImage;
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
        let m = measure(
            &args.models[0],
            args.threads[0],
            args.runs,
            args.warmup,
            args.size,
        )?;
        println!("{}", serde_json::to_string(&m)?);
        return Ok(());
    }
    let mut all = Vec::new();
    if !args.json {
        print_header(&args);
    }
    for dir in &args.models {
        for &threads in &args.threads {
            let m = measure_in_child(dir, threads, &args)?;
            if args.json {
                eprintln!("  {} at {threads} threads: {:.2} ms", m.model, m.median_ms);
            } else {
                print_row(&m);
            }
            all.push(m);
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(())
}

/// Re-executes this binary to measure one model at one thread count.
fn measure_in_child(dir: &Path, threads: usize, args: &BenchArgs) -> anyhow::Result<Measurement> {
    let exe = std::env::current_exe().context("finding the easel executable")?;
    let mut cmd = Command::new(exe);
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
    let out = cmd
        .arg(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("starting a measuring process for {}", dir.display()))?;
    if !out.status.success() {
        bail!(
            "measuring {} at {threads} threads failed ({})",
            dir.display(),
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
fn measure(
    dir: &Path,
    threads: usize,
    runs: usize,
    warmup: usize,
    size: Option<(u32, u32)>,
) -> anyhow::Result<Measurement> {
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
    let engine = Engine::start(threads, 1);
    let result = (|| {
        let info = engine.load_blocking(package)?;
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
            .filter(|(k, _)| k.starts_with("TRACT_"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
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
struct Stats {
    median: f64,
    /// Nearest-rank 99th percentile: with fewer than 100 runs, the slowest.
    p99: f64,
    mean: f64,
}

impl Stats {
    fn of(times: &[Duration]) -> Stats {
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
        "easel bench: tract through the easel engine, {} {}, {cores} cores; latency = render (inference + pixels), {} runs after {} warm-up",
        std::env::consts::OS,
        std::env::consts::ARCH,
        args.runs,
        args.warmup
    );
    println!(
        "{:<16} {:>9} {:>7} {:>10} {:>10} {:>10} {:>9} {:>9}",
        "model", "size", "threads", "load ms", "median ms", "p99 ms", "images/s", "peak MB"
    );
}

fn print_row(m: &Measurement) {
    let rss = m
        .peak_rss_mb
        .map_or_else(|| "-".into(), |mb| format!("{mb:.0}"));
    println!(
        "{:<16} {:>9} {:>7} {:>10.1} {:>10.2} {:>10.2} {:>9.1} {:>9}{}",
        m.model,
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
