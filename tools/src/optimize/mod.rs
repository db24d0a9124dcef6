//! `easel optimize` and `easel profile`: make a model run faster in tract
//! without changing what it computes (beyond float rounding), and show
//! where tract spends its time.
//!
//! `easel optimize <model> -o <out>` rewrites the graph (`rewrite`),
//! checks the result against the original on many seeds or pictures
//! (`verify`) and refuses to write a package that disagrees; with
//! `--tune` it also measures tract's knobs on the rewritten model and
//! records the fastest in the manifest's `[tract]` table, which the
//! engine applies when it loads the model. Like `easel quantize`, the
//! package is built in a hidden folder beside the destination and renamed
//! into place only when everything succeeded.

pub mod plan;
pub mod profile;
pub mod rewrite;
pub mod verify;

use anyhow::{Context, bail, ensure};
use easel_engine::package::{MANIFEST, Manifest, ModelPackage, TractSpec, sha256_hex};
use indicatif::ProgressBar;
use plan::Plan;
use prost::Message;
use rewrite::Subpixel;
use std::path::{Path, PathBuf};
use std::time::Instant;
use verify::Agreement;

/// Knob settings `--tune` tries on the rewritten model.
const TUNE_CANDIDATES: [&[(&str, &str)]; 2] = [&[], &[("TRACT_DISABLE_DIRECT_SPATIAL", "1")]];

/// A knob setting must beat tract's defaults by this much to be recorded.
const TUNE_MARGIN: f64 = 0.03;

/// A graph rewrite `easel optimize` can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rewrite {
    /// Fold BatchNormalization into the preceding Conv / ConvTranspose.
    FoldBatchNorm,
    /// A stride-s ConvTranspose as sub-pixel convolutions + DepthToSpace
    /// (exact, but slower in tract 0.23 on dcgan-64: not a default).
    Subpixel,
    /// A nearest-neighbour Resize by an integer factor as Concat +
    /// DepthToSpace (+ edge Pad and Slice for shifted coordinate modes).
    ResizeNearest,
    /// A Conv with few output channels as SpaceToDepth + Conv +
    /// DepthToSpace, filling tract's matrix tiles.
    ThinConv,
    /// A stride-2 Conv as SpaceToDepth + a dense stride-1 Conv (exact, but
    /// slower in tract 0.23 on style-256: not a default).
    StridedConv,
}

/// Output channels up to which `thin-conv` applies (4 blocks of them
/// still fit one 16-row matrix tile).
const THIN_CONV_MAX_OUT: usize = 4;

#[derive(Debug, clap::Args)]
pub struct OptimizeArgs {
    /// The model package to start from.
    pub model: PathBuf,
    /// The package folder to write (must not exist yet, or be empty).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Rewrites to apply, comma separated (default: all).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "fold-batch-norm,resize-nearest,thin-conv"
    )]
    pub rewrites: Vec<Rewrite>,
    /// How `subpixel` splits a ConvTranspose.
    #[arg(long, value_enum, default_value = "phases")]
    pub subpixel: Subpixel,
    /// Seeds (latent models) or test pictures (image models) the rewritten
    /// model is checked on.
    #[arg(long, default_value_t = 32)]
    pub samples: usize,
    /// Largest absolute output difference accepted (outputs must also stay
    /// within one 8-bit level).
    #[arg(long, default_value_t = 1e-3)]
    pub tolerance: f32,
    /// Measure tract's knobs on the rewritten model and record the fastest
    /// setting in the manifest's `[tract]` table.
    #[arg(long)]
    pub tune: bool,
    /// Thread counts at which speed is measured (and tuned: the largest).
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub threads: Vec<usize>,
    /// Timed runs per measurement (median); 0 skips measuring.
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
}

/// One speed measurement, ms median.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Timing {
    pub threads: usize,
    pub original_ms: f64,
    pub optimized_ms: f64,
}

/// What `easel optimize` did, also written as `optimize.json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub source: String,
    pub name: String,
    pub applied: Vec<(Rewrite, Vec<String>)>,
    pub agreement: Agreement,
    pub tolerance: f32,
    pub timings: Vec<Timing>,
    /// `--tune`: median ms per knob setting at the largest thread count.
    pub tuning: Vec<(Vec<String>, f64)>,
    pub knobs: Vec<(String, String)>,
}

pub fn run(args: OptimizeArgs) -> anyhow::Result<()> {
    let report = optimize(&args)?;
    print_report(&report, &args.output);
    Ok(())
}

/// Applies the requested rewrites to `proto`; what each one changed.
pub fn apply(
    proto: &mut tract_onnx::pb::ModelProto,
    rewrites: &[Rewrite],
    subpixel: Subpixel,
) -> Vec<(Rewrite, Vec<String>)> {
    // Folding first: a BatchNorm after a ConvTranspose folds into its
    // weights before the ConvTranspose is split into phases.
    let mut order = vec![
        Rewrite::FoldBatchNorm,
        Rewrite::Subpixel,
        Rewrite::ResizeNearest,
        Rewrite::ThinConv,
        Rewrite::StridedConv,
    ];
    order.retain(|r| rewrites.contains(r));
    order
        .into_iter()
        .map(|r| {
            let done = match r {
                Rewrite::FoldBatchNorm => rewrite::fold_batch_norm(proto),
                Rewrite::Subpixel => rewrite::subpixel_conv_transpose(proto, subpixel),
                Rewrite::ResizeNearest => rewrite::resize_nearest_to_depth_to_space(proto),
                Rewrite::ThinConv => rewrite::space_to_depth_thin_conv(proto, THIN_CONV_MAX_OUT),
                Rewrite::StridedConv => rewrite::space_to_depth_strided_conv(proto),
            };
            (r, done)
        })
        .filter(|(_, done)| !done.is_empty())
        .collect()
}

/// The median of `runs` timed runs of sample 0.
pub fn median_ms(package: &ModelPackage, plan: &Plan, runs: usize) -> anyhow::Result<f64> {
    let inputs = plan::sample_inputs(package, plan, 0)?;
    let mut state = plan.spawn()?;
    for _ in 0..2 {
        state.run(inputs.clone())?;
    }
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            state.run(inputs.clone())?;
            Ok(started.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<anyhow::Result<_>>()?;
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

pub fn optimize(args: &OptimizeArgs) -> anyhow::Result<Report> {
    ensure!(args.samples >= 1, "--samples must be at least 1");
    ensure!(
        !args.threads.is_empty() && !args.threads.contains(&0),
        "--threads must list positive counts"
    );
    let source = ModelPackage::open(&args.model)
        .with_context(|| format!("opening model package {}", args.model.display()))?;
    let out = &args.output;
    if out.exists() {
        let empty = out.is_dir() && std::fs::read_dir(out)?.next().is_none();
        ensure!(
            empty,
            "{} already exists; choose a new folder or remove it",
            out.display()
        );
    }
    let original = plan::prepared_proto(&source)?;
    let mut proto = original.clone();
    let applied = apply(&mut proto, &args.rewrites, args.subpixel);
    // Nothing to rewrite: the package passes through with its own bytes.
    let onnx = if applied.is_empty() {
        source.read_onnx()?
    } else {
        proto.encode_to_vec()
    };
    let manifest_knobs = plan::manifest_knobs(&source);

    let spinner = ProgressBar::new_spinner().with_message("preparing both models in tract");
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let reference = plan::plan(&source, &original, 1, &manifest_knobs)?;
    let rewritten = plan::plan(&source, &proto, 1, &manifest_knobs)
        .context("tract cannot prepare the rewritten model")?;
    spinner.finish_and_clear();
    let progress = crate::progress::steps(args.samples as u64, "verifying");
    let agreement = verify::agreement(&source, &reference, &rewritten, args.samples, || {
        progress.inc(1)
    })?;
    progress.finish_and_clear();
    let mut report = Report {
        source: source.manifest.name.clone(),
        name: package_name(out, &source.manifest.name),
        applied,
        agreement,
        tolerance: args.tolerance,
        timings: vec![],
        tuning: vec![],
        knobs: manifest_knobs.clone(),
    };
    if !agreement.passes(args.tolerance) {
        print_report(&report, out);
        bail!(
            "the rewritten {} differs from the original (max abs error {:.3e}, tolerance {:.1e}; up to {} 8-bit levels, at most 1 allowed); nothing written",
            source.manifest.name,
            agreement.max_abs_error,
            args.tolerance,
            agreement.max_levels
        );
    }
    if args.runs > 0 {
        for &threads in &args.threads {
            let a = plan::plan(&source, &original, threads, &manifest_knobs)?;
            let b = plan::plan(&source, &proto, threads, &manifest_knobs)?;
            report.timings.push(Timing {
                threads,
                original_ms: median_ms(&source, &a, args.runs)?,
                optimized_ms: median_ms(&source, &b, args.runs)?,
            });
        }
    }
    if args.tune {
        let threads = *args.threads.iter().max().expect("checked non-empty");
        let runs = args.runs.max(5);
        for candidate in TUNE_CANDIDATES {
            let knobs: Vec<(String, String)> = candidate
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let p = plan::plan(&source, &proto, threads, &knobs)?;
            let ms = median_ms(&source, &p, runs)?;
            let shown = knobs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            report.tuning.push((shown, ms));
        }
        let default_ms = report.tuning[0].1;
        let best = (1..report.tuning.len())
            .min_by(|&a, &b| report.tuning[a].1.total_cmp(&report.tuning[b].1))
            .filter(|&i| report.tuning[i].1 < default_ms * (1.0 - TUNE_MARGIN));
        report.knobs = match best {
            Some(i) => TUNE_CANDIDATES[i]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            None => vec![],
        };
    }
    write_package(&source, &onnx, &report, out)?;
    Ok(report)
}

/// Writes the package through a staging folder renamed into place.
fn write_package(
    source: &ModelPackage,
    onnx: &[u8],
    report: &Report,
    out: &Path,
) -> anyhow::Result<()> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".easel-optimize-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a staging folder in {}", parent.display()))?;
    let rewrites: Vec<String> = report
        .applied
        .iter()
        .map(|(r, nodes)| format!("{} x{}", rewrite_name(*r), nodes.len()))
        .collect();
    let mut description = source.manifest.description.clone();
    if !rewrites.is_empty() {
        description.push_str(&format!(
            " (optimized from {}: {}; verified on {} samples, max abs error {:.1e})",
            source.manifest.name,
            rewrites.join(", "),
            report.agreement.samples,
            report.agreement.max_abs_error
        ));
    }
    let manifest = Manifest {
        name: report.name.clone(),
        file: "model.onnx".into(),
        sha256: sha256_hex(onnx),
        description,
        tract: (!report.knobs.is_empty()).then(|| TractSpec {
            knobs: report.knobs.iter().cloned().collect(),
        }),
        ..source.manifest.clone()
    };
    manifest
        .validate()
        .map_err(anyhow::Error::msg)
        .context("optimized manifest")?;
    std::fs::write(staging.path().join(&manifest.file), onnx)?;
    std::fs::write(staging.path().join(MANIFEST), manifest.to_toml())?;
    std::fs::write(
        staging.path().join("optimize.json"),
        serde_json::to_string_pretty(report)?,
    )?;
    // The engine must accept what we wrote (sha256, checks, knobs).
    let written = ModelPackage::open(staging.path())?;
    plan::prepared_proto(&written).context("checking the written package")?;
    if out.exists() {
        std::fs::remove_dir(out).with_context(|| format!("replacing empty {}", out.display()))?;
    }
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, out) {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(e).with_context(|| format!("moving the package into {}", out.display()));
    }
    Ok(())
}

fn rewrite_name(r: Rewrite) -> &'static str {
    match r {
        Rewrite::FoldBatchNorm => "fold-batch-norm",
        Rewrite::Subpixel => "subpixel",
        Rewrite::ResizeNearest => "resize-nearest",
        Rewrite::ThinConv => "thin-conv",
        Rewrite::StridedConv => "strided-conv",
    }
}

/// The output folder's name when it is a valid model name, else
/// `<source>-fast`.
fn package_name(out: &Path, source: &str) -> String {
    match out.file_name().map(|n| n.to_string_lossy().to_string()) {
        Some(n) if easel_protocol::is_valid_model_name(&n) => n,
        _ => format!("{source}-fast"),
    }
}

fn print_report(r: &Report, out: &Path) {
    eprintln!("{} -> {} ({})", r.source, out.display(), r.name);
    if r.applied.is_empty() {
        eprintln!("  no rewrite applies: the model passes through unchanged");
    }
    for (rewrite, nodes) in &r.applied {
        eprintln!("  {}: {} node(s)", rewrite_name(*rewrite), nodes.len());
        for n in nodes {
            eprintln!("    {n}");
        }
    }
    let a = &r.agreement;
    eprintln!(
        "  verified on {} samples: max abs error {:.3e} (tolerance {:.1e}), max {} 8-bit level(s), {} values differ by a level",
        a.samples, a.max_abs_error, r.tolerance, a.max_levels, a.differing_levels
    );
    for t in &r.timings {
        eprintln!(
            "  {} thread(s): {:.2} ms -> {:.2} ms ({:.2}x)",
            t.threads,
            t.original_ms,
            t.optimized_ms,
            t.original_ms / t.optimized_ms
        );
    }
    for (knobs, ms) in &r.tuning {
        let shown = if knobs.is_empty() {
            "tract defaults".to_string()
        } else {
            knobs.join(" ")
        };
        eprintln!("  tune: {shown}: {ms:.2} ms");
    }
    if !r.knobs.is_empty() {
        let shown: Vec<String> = r.knobs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        eprintln!("  [tract] knobs: {}", shown.join(" "));
    }
}
