//! `easel quantize`: writes a smaller variant of a model package and says
//! how far its pictures drift from the f32 model.
//!
//! - `weights`: int8 weights per output channel behind `DequantizeLinear`
//!   (about 4x smaller; tract folds them back to f32, so same speed);
//! - `static`: `QLinearConv` / `QLinearMatMul` with calibrated uint8
//!   activations, where an integer kernel exists; other weight layers keep
//!   float compute (with int8 weights) and the report lists them;
//! - `f16`: half-precision weights cast back to f32 in the graph.
//!
//! The result is a complete package (its manifest carries a `[variant]`
//! table with the quality numbers), judged through the same engine the
//! daemon uses. It is built in a hidden folder beside the destination and
//! renamed into place only when everything succeeded, so a failed or
//! refused run leaves nothing behind.

pub mod calib;
pub mod grid;
pub mod quality;
pub mod rewrite;

use crate::generate::parse_size;
use anyhow::{Context, bail, ensure};
use calib::{CalibSet, Method};
use easel_engine::package::{MANIFEST, Manifest, ModelKind, ModelPackage, VariantSpec, sha256_hex};
use easel_engine::picture::{Provenance, RgbImage, encode_png};
use easel_engine::tract::load as tract_load;
use easel_engine::{Model, Source, load};
use indicatif::ProgressBar;
use prost::Message;
use quality::Score;
use std::path::{Path, PathBuf};
use tract_onnx::tract_core::runtime::RunOptions;

/// Pictures in the sample grid.
const GRID_ROWS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, clap::ValueEnum)]
pub enum Mode {
    Weights,
    Static,
    F16,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Weights => "weights",
            Mode::Static => "static",
            Mode::F16 => "f16",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct QuantizeArgs {
    /// The f32 model package to start from.
    pub model: PathBuf,
    /// What to make.
    #[arg(long, value_enum)]
    pub mode: Mode,
    /// Calibration: a number of seeds, or a folder of PNG pictures (image
    /// models). Quality is judged on other seeds (1..=N) or on the pictures.
    #[arg(long)]
    pub calib: Option<String>,
    /// How `static` chooses activation ranges (default: both are tried and
    /// the one whose variant scores best on the quality check is kept).
    #[arg(long, value_enum)]
    pub method: Option<Method>,
    /// Percentile for `--method percentile`.
    #[arg(long, default_value_t = 99.99)]
    pub percentile: f32,
    /// Pictures compared with the f32 model for the quality report.
    #[arg(long, default_value_t = 32)]
    pub samples: usize,
    /// Refuse a variant whose mean PSNR is below this (dB).
    #[arg(long, default_value_t = 30.0)]
    pub floor: f64,
    /// Write the variant even below the floor.
    #[arg(long)]
    pub force: bool,
    /// Picture size WxH for cppn models during calibration and comparison.
    #[arg(long, value_parser = parse_size, default_value = "128x128")]
    pub size: (u32, u32),
    /// The package folder to write (must not exist yet).
    #[arg(short, long)]
    pub output: PathBuf,
}

/// The quality report, also written as `quality.json` in the package.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub source: String,
    pub variant: String,
    pub mode: &'static str,
    pub calibration: String,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub summary: quality::Summary,
    pub floor_db: f64,
    /// The architecture the pictures were compared on (tract's kernels
    /// for it): int8 rounding can differ on another one.
    pub arch: &'static str,
    pub integer_layers: Vec<String>,
    pub float_layers: Vec<String>,
    pub scores: Vec<Score>,
}

pub fn run(args: QuantizeArgs) -> anyhow::Result<()> {
    let report = quantize(&args)?;
    print_report(&report, &args.output);
    Ok(())
}

pub fn quantize(args: &QuantizeArgs) -> anyhow::Result<Report> {
    ensure!(args.samples >= 1, "--samples must be at least 1");
    ensure!(
        args.percentile > 50.0 && args.percentile <= 100.0,
        "--percentile must be within (50, 100]"
    );
    let source = ModelPackage::open(&args.model)
        .with_context(|| format!("opening model package {}", args.model.display()))?;
    let onnx_path = source.onnx_path();
    let bytes = source.read_onnx()?;
    let proto = load::decode(&onnx_path, &bytes)?;
    tract_load::check(&onnx_path, &proto, &source.manifest)?;
    let out = &args.output;
    if out.exists() {
        let empty = out.is_dir() && std::fs::read_dir(out)?.next().is_none();
        ensure!(
            empty,
            "{} already exists; choose a new folder or remove it",
            out.display()
        );
    }
    let calib = CalibSet::parse(args.calib.as_deref(), 32)?;
    let opset = load::opset(&proto);
    ensure!(
        args.mode == Mode::F16 || opset >= rewrite::MIN_OPSET,
        "{}: opset {opset}: per-channel int8 needs opset >= {}; export again with opset_version=17",
        onnx_path.display(),
        rewrite::MIN_OPSET
    );
    let kind = source.manifest.kind;
    let cppn_size = (args.size.0 as usize, args.size.1 as usize);
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    // Dropped (and deleted) on every error path below.
    let staging = tempfile::Builder::new()
        .prefix(".easel-quantize-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a staging folder in {}", parent.display()))?;
    let name = variant_name(out, &source.manifest.name, args.mode);
    let mut manifest = Manifest {
        name: name.clone(),
        file: "model.onnx".into(),
        sha256: String::new(),
        description: format!(
            "{} ({} variant of {})",
            source.manifest.description,
            args.mode.name(),
            source.manifest.name
        ),
        variant: None,
        ..source.manifest.clone()
    };
    let eval = calib::evaluation_sources(&calib, kind, args.samples);
    let reference = render_reference(&source, &eval, kind, args.size)?;
    // `static` without --method tries both ways of choosing activation
    // ranges and keeps the better variant: which one wins depends on the
    // model (percentile clips a CPPN's sin layers that min-max keeps).
    let static_layers = rewrite::static_candidates(&proto);
    let methods: Vec<Option<Method>> = match (args.mode, args.method) {
        (Mode::Static, _) if static_layers.is_empty() => vec![None],
        (Mode::Static, Some(m)) => vec![Some(m)],
        (Mode::Static, None) => vec![Some(Method::Percentile), Some(Method::Minmax)],
        _ => vec![None],
    };
    let describe = |m: Option<Method>| match m {
        Some(Method::Minmax) => "min-max".to_string(),
        Some(Method::Percentile) => format!("percentile {}", args.percentile),
        None => "no activations to calibrate".into(),
    };
    let mut trials: Vec<Trial> = Vec::new();
    for method in methods {
        let mut proto = proto.clone();
        let rewritten = match (args.mode, method) {
            (Mode::Weights, _) => rewrite::int8_weights(&mut proto),
            (Mode::F16, _) => rewrite::f16_weights(&mut proto),
            (Mode::Static, None) => rewrite::static_int8(&mut proto, &Default::default()),
            (Mode::Static, Some(method)) => {
                let sources = calib.calibration_sources(kind);
                let progress = crate::progress::steps(sources.len() as u64, "calibrating");
                let ranges = calib::activation_ranges(
                    &proto,
                    &source.manifest,
                    &static_layers,
                    &sources,
                    cppn_size,
                    (method, args.percentile),
                    &progress,
                )
                .with_context(|| format!("calibrating {}", onnx_path.display()))?;
                progress.finish_and_clear();
                rewrite::static_int8(&mut proto, &ranges)
            }
        };
        ensure!(
            rewritten.tensors > 0,
            "{}: no Conv, ConvTranspose, Gemm or MatMul weights to quantize",
            onnx_path.display()
        );
        let onnx = proto.encode_to_vec();
        manifest.sha256 = sha256_hex(&onnx);
        std::fs::write(staging.path().join(&manifest.file), &onnx)?;
        std::fs::write(staging.path().join(MANIFEST), manifest.to_toml())?;
        let variant_package = ModelPackage::open(staging.path())?;
        let (scores, pictures) = compare(&reference, &variant_package, &eval, kind, args.size)?;
        let summary = quality::summarize(&scores);
        trials.push(Trial {
            method,
            onnx,
            rewritten,
            summary,
            scores,
            pictures,
        });
    }
    // The better variant: its worst sample first (what some visitor
    // sees), then its mean.
    let tried: Vec<String> = trials
        .iter()
        .map(|t| {
            format!(
                "{}: {:.1} dB mean, {:.1} dB worst",
                describe(t.method),
                t.summary.psnr_db,
                t.summary.psnr_worst_db
            )
        })
        .collect();
    let best = (0..trials.len())
        .max_by(|&a, &b| {
            let (x, y) = (&trials[a].summary, &trials[b].summary);
            x.psnr_worst_db
                .total_cmp(&y.psnr_worst_db)
                .then(x.psnr_db.total_cmp(&y.psnr_db))
        })
        .expect("one trial at least");
    let Trial {
        method,
        onnx,
        rewritten,
        summary,
        scores,
        pictures,
    } = trials.swap_remove(best);
    manifest.sha256 = sha256_hex(&onnx);
    std::fs::write(staging.path().join(&manifest.file), &onnx)?;
    std::fs::write(staging.path().join(MANIFEST), manifest.to_toml())?;
    let report = Report {
        source: source.manifest.name.clone(),
        variant: name.clone(),
        mode: args.mode.name(),
        calibration: match args.mode {
            Mode::Static if tried.len() > 1 => format!(
                "{}, {} (kept; tried {})",
                calib.describe(),
                describe(method),
                tried.join("; ")
            ),
            Mode::Static => format!("{}, {}", calib.describe(), describe(method)),
            _ => "none (weights only)".into(),
        },
        bytes_before: bytes.len() as u64,
        bytes_after: onnx.len() as u64,
        summary,
        floor_db: args.floor,
        arch: std::env::consts::ARCH,
        integer_layers: rewritten.integer_layers,
        float_layers: rewritten.float_layers,
        scores,
    };
    if report.summary.psnr_db < args.floor && !args.force {
        print_report(&report, out);
        bail!(
            "{} variant of {}: mean PSNR {:.1} dB is below the {:.1} dB floor; nothing written. {}",
            args.mode.name(),
            source.manifest.name,
            report.summary.psnr_db,
            args.floor,
            advice(args, method)
        );
    }
    manifest.variant = Some(VariantSpec {
        mode: args.mode.name().into(),
        source: source.manifest.name.clone(),
        source_sha256: source.manifest.sha256.to_ascii_lowercase(),
        calibration: report.calibration.clone(),
        samples: report.summary.samples as u32,
        psnr_db: round2(report.summary.psnr_db),
        psnr_worst_db: round2(report.summary.psnr_worst_db),
        ssim: round4(report.summary.ssim),
        ssim_worst: round4(report.summary.ssim_worst),
        bytes_before: report.bytes_before,
        bytes_after: report.bytes_after,
        float_layers: report.float_layers.clone(),
    });
    manifest
        .validate()
        .map_err(anyhow::Error::msg)
        .context("variant manifest")?;
    std::fs::write(staging.path().join(MANIFEST), manifest.to_toml())?;
    let psnr: Vec<f64> = report.scores.iter().map(|s| s.psnr_db).collect();
    let worst = grid::pick_rows(&psnr, 1).first().copied();
    let rows: Vec<grid::Row<'_>> = grid::pick_rows(&psnr, GRID_ROWS)
        .into_iter()
        .map(|i| grid::Row {
            label: format!(
                "{}: {:.1} dB{}",
                report.scores[i].sample,
                report.scores[i].psnr_db,
                if Some(i) == worst.filter(|_| psnr.len() > 1) {
                    " (worst)"
                } else {
                    ""
                }
            ),
            worst: Some(i) == worst && psnr.len() > 1,
            f32: &reference[i],
            variant: &pictures[i],
        })
        .collect();
    let grid = grid::grid(&rows);
    let provenance = Provenance {
        model: name,
        model_sha256: manifest.sha256.clone(),
        seed: None,
        params: serde_json::json!({"grid": "f32 | variant | difference x8, rows labelled with sample and PSNR, the worst included", "source": report.source}),
    };
    std::fs::write(
        staging.path().join("samples.png"),
        encode_png(&grid, &provenance),
    )?;
    std::fs::write(
        staging.path().join("quality.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    if out.exists() {
        std::fs::remove_dir(out).with_context(|| format!("replacing empty {}", out.display()))?;
    }
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, out) {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(e).with_context(|| format!("moving the variant into {}", out.display()));
    }
    Ok(report)
}

/// One way of making the variant, scored.
struct Trial {
    method: Option<Method>,
    onnx: Vec<u8>,
    rewritten: rewrite::Rewritten,
    summary: quality::Summary,
    scores: Vec<Score>,
    /// The variant's picture of every sample.
    pictures: Vec<RgbImage>,
}

/// What to try when the variant is below the floor: the other way of
/// choosing ranges when only one was tried, else another mode.
fn advice(args: &QuantizeArgs, kept: Option<Method>) -> String {
    match (args.mode, args.method, kept) {
        (Mode::Static, Some(Method::Percentile), _) => {
            "Try --method minmax (or leave --method out: both are tried), --mode weights, or --force to write it anyway".into()
        }
        (Mode::Static, Some(Method::Minmax), _) => {
            "Try --method percentile (or leave --method out: both are tried), --mode weights, or --force to write it anyway".into()
        }
        (Mode::Static, None, _) => {
            "Both calibration methods were tried; --mode weights or f16 keep float compute (or --force writes it anyway)".into()
        }
        _ => "--mode f16 keeps more precision; --force writes it anyway".into(),
    }
}

/// The f32 model's picture of every sample (rendered once, whatever the
/// number of variants tried).
fn render_reference(
    source: &ModelPackage,
    eval: &[Source],
    kind: ModelKind,
    size: (u32, u32),
) -> anyhow::Result<Vec<RgbImage>> {
    let spinner = ProgressBar::new_spinner().with_message("loading the f32 model");
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let mut model = Model::load(source, &RunOptions::default())
        .with_context(|| format!("loading {}", source.dir.display()))?;
    spinner.finish_and_clear();
    let size = (kind == ModelKind::Cppn).then_some(size);
    eval.iter()
        .map(|s| {
            model
                .render(s, size)
                .context("rendering with the f32 model")
        })
        .collect()
}

/// Renders every source through the variant and scores its pictures
/// against the f32 ones.
fn compare(
    reference: &[RgbImage],
    variant: &ModelPackage,
    eval: &[Source],
    kind: ModelKind,
    size: (u32, u32),
) -> anyhow::Result<(Vec<Score>, Vec<RgbImage>)> {
    let mut q_model = Model::load(variant, &RunOptions::default())
        .context("loading the variant in the engine")?;
    let size = (kind == ModelKind::Cppn).then_some(size);
    let progress = crate::progress::steps(eval.len() as u64, "comparing");
    let mut scores = Vec::with_capacity(eval.len());
    let mut pictures = Vec::with_capacity(eval.len());
    for (i, (s, a)) in eval.iter().zip(reference).enumerate() {
        let b = q_model
            .render(s, size)
            .context("rendering with the variant")?;
        scores.push(Score {
            sample: match s {
                Source::Seed(seed) => format!("seed {seed}"),
                _ => format!("picture {}", i + 1),
            },
            psnr_db: quality::psnr(a, &b),
            ssim: quality::ssim(a, &b),
        });
        pictures.push(b);
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok((scores, pictures))
}

/// The output folder's name when it is a valid model name, else
/// `<source>-<suffix>`.
fn variant_name(out: &Path, source: &str, mode: Mode) -> String {
    let folder = out.file_name().map(|n| n.to_string_lossy().to_string());
    match folder {
        Some(n) if easel_protocol::is_valid_model_name(&n) => n,
        _ => {
            let suffix = match mode {
                Mode::Weights => "int8w",
                Mode::Static => "int8",
                Mode::F16 => "f16",
            };
            format!("{source}-{suffix}")
        }
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

fn print_report(r: &Report, out: &Path) {
    let s = &r.summary;
    eprintln!(
        "{} -> {} ({} mode), {}",
        r.source,
        out.display(),
        r.mode,
        r.calibration
    );
    eprintln!(
        "  size     {:.2} MB -> {:.2} MB ({:.1}x smaller)",
        r.bytes_before as f64 / 1e6,
        r.bytes_after as f64 / 1e6,
        r.bytes_before as f64 / r.bytes_after.max(1) as f64
    );
    eprintln!(
        "  PSNR     mean {:.2} dB, worst {:.2} dB ({}), floor {:.1} dB, over {} pictures",
        s.psnr_db, s.psnr_worst_db, s.psnr_worst_sample, r.floor_db, s.samples
    );
    eprintln!("  SSIM     mean {:.4}, worst {:.4}", s.ssim, s.ssim_worst);
    eprintln!("  measured on {} (tract's kernels for it)", r.arch);
    if !r.integer_layers.is_empty() {
        eprintln!("  int8 compute: {} layers", r.integer_layers.len());
    }
    for l in &r.float_layers {
        eprintln!("  float: {l}");
    }
    if r.mode == "static" && !r.integer_layers.is_empty() {
        eprintln!(
            "  note: int8 layers round in {}'s kernels; on another architecture the pictures can differ slightly: `easel inspect` the package on the board",
            r.arch
        );
        eprintln!(
            "  note: tract's int8 kernels are fast on aarch64 (SDOT) but much slower than f32 on x86 without VNNI: run `easel bench --pick` on the target"
        );
    }
}
