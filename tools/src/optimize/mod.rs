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
use easel_engine::package::{MANIFEST, Manifest, ModelKind, ModelPackage, TractSpec, sha256_hex};
use indicatif::ProgressBar;
use plan::Plan;
use prost::Message;
use rewrite::Subpixel;
use std::path::{Path, PathBuf};
use std::time::Instant;
use verify::Agreement;

/// Knob settings `--tune` tries on the rewritten model.
const TUNE_CANDIDATES: [&[(&str, &str)]; 2] = [&[], &[("TRACT_DISABLE_DIRECT_SPATIAL", "1")]];

/// A knob setting must beat tract's defaults by this much to be recorded,
/// and by more than the spread of the repeated measurements.
const TUNE_MARGIN: f64 = 0.03;

/// `--tune` measures every setting this many times, interleaved, so that
/// a difference can be told from the run-to-run noise.
const TUNE_ROUNDS: usize = 3;

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
    /// Exact, but since the engine copies a Resize and the Pad after it in
    /// one pass itself (`EaselRemap`) it only adds copies: not a default.
    ResizeNearest,
    /// A Conv with few output channels as SpaceToDepth + Conv +
    /// DepthToSpace, filling tract's matrix tiles. Since the engine
    /// computes such a Conv directly (`EaselDirectConv`), slower: not a
    /// default.
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
    /// Rewrites to apply, comma separated (default: those that still pay
    /// with the engine's fast paths, docs/performance.md).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "fold-batch-norm"
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
    /// Picture size WxH at which a cppn model is verified and timed
    /// (default: the manifest's size; smaller is quicker, since every
    /// rewrite acts per pixel).
    #[arg(long, value_parser = crate::generate::parse_size)]
    pub size: Option<(u32, u32)>,
}

/// One speed measurement, ms median.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Timing {
    pub threads: usize,
    pub original_ms: f64,
    pub optimized_ms: f64,
}

/// One knob setting's repeated measurement.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Tuning {
    pub knobs: Vec<String>,
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
}

/// Which knob setting `--tune` keeps: one whose slowest round beats the
/// defaults' fastest round (the two ranges do not overlap) and whose
/// median beats theirs by [`TUNE_MARGIN`]; the fastest such. `tuning[0]`
/// is tract's defaults.
pub fn kept_setting(tuning: &[Tuning]) -> Option<usize> {
    let default = tuning.first()?;
    (1..tuning.len())
        .filter(|&i| {
            let t = &tuning[i];
            t.max_ms < default.min_ms && t.median_ms < default.median_ms * (1.0 - TUNE_MARGIN)
        })
        .min_by(|&a, &b| tuning[a].median_ms.total_cmp(&tuning[b].median_ms))
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
    /// `--tune`: per knob setting at the largest thread count, the median
    /// of its rounds' medians and the lowest and highest round, ms.
    pub tuning: Vec<Tuning>,
    pub knobs: Vec<(String, String)>,
    /// Whether a package was written (not when nothing would change).
    pub written: bool,
}

pub fn run(args: OptimizeArgs) -> anyhow::Result<()> {
    let report = optimize(&args)?;
    if report.written {
        print_report(&report, &args.output);
    }
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
    let size = match (args.size, source.manifest.kind) {
        (Some((w, h)), ModelKind::Cppn) => Some((w as usize, h as usize)),
        (Some(_), kind) => bail!("--size applies to cppn models; {kind} models have a fixed size"),
        (None, _) => None,
    };
    let original = plan::prepared_proto(&source)?;
    let mut proto = original.clone();
    let applied = apply(&mut proto, &args.rewrites, args.subpixel);
    if applied.is_empty() && !args.tune {
        // An identical graph: nothing to verify, time or write.
        eprintln!(
            "{}: no rewrite applies ({}); nothing written",
            source.manifest.name,
            args.rewrites
                .iter()
                .map(|r| rewrite_name(*r))
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(Report {
            source: source.manifest.name.clone(),
            name: package_name(out, &source.manifest.name),
            applied,
            agreement: Agreement::identical(),
            tolerance: args.tolerance,
            timings: vec![],
            tuning: vec![],
            knobs: plan::manifest_knobs(&source),
            written: false,
        });
    }
    // Nothing to rewrite (but --tune): the model keeps its own bytes.
    let onnx = if applied.is_empty() {
        source.read_onnx()?
    } else {
        proto.encode_to_vec()
    };
    let manifest_knobs = plan::manifest_knobs(&source);
    let plan_at = |proto: &tract_onnx::pb::ModelProto, threads, knobs: &[(String, String)]| {
        plan::plan_sized(&source, proto, threads, knobs, size)
    };

    let spinner = ProgressBar::new_spinner().with_message("preparing both models in tract");
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let reference = plan_at(&original, 1, &manifest_knobs)?;
    let rewritten =
        plan_at(&proto, 1, &manifest_knobs).context("tract cannot prepare the rewritten model")?;
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
        written: true,
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
    if args.runs > 0 && !report.applied.is_empty() {
        for &threads in &args.threads {
            let a = plan_at(&original, threads, &manifest_knobs)?;
            let b = plan_at(&proto, threads, &manifest_knobs)?;
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
        let settings: Vec<Vec<(String, String)>> = TUNE_CANDIDATES
            .iter()
            .map(|c| {
                c.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .collect();
        let plans: Vec<_> = settings
            .iter()
            .map(|knobs| plan_at(&proto, threads, knobs))
            .collect::<anyhow::Result<_>>()?;
        // Interleaved rounds: a machine that gets busier affects every
        // setting alike instead of the last one measured.
        let mut rounds = vec![Vec::new(); plans.len()];
        for _ in 0..TUNE_ROUNDS {
            for (i, p) in plans.iter().enumerate() {
                rounds[i].push(median_ms(&source, p, runs)?);
            }
        }
        report.tuning = settings
            .iter()
            .zip(rounds)
            .map(|(knobs, mut ms)| {
                ms.sort_by(f64::total_cmp);
                Tuning {
                    knobs: knobs.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                    median_ms: ms[ms.len() / 2],
                    min_ms: ms[0],
                    max_ms: ms[ms.len() - 1],
                }
            })
            .collect();
        report.knobs = match kept_setting(&report.tuning) {
            Some(i) => settings[i].clone(),
            None => vec![],
        };
        if report.applied.is_empty() && report.knobs.is_empty() {
            report.written = false;
            print_report(&report, out);
            eprintln!(
                "{}: no rewrite applies and no knob beats tract's defaults beyond the noise; nothing written",
                source.manifest.name
            );
            return Ok(report);
        }
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
        eprintln!("  no rewrite applies: the graph is unchanged (only the [tract] knobs are new)");
    }
    for (rewrite, nodes) in &r.applied {
        eprintln!(
            "  {}: {}",
            rewrite_name(*rewrite),
            crate::table::count(nodes.len(), "node")
        );
        for n in nodes {
            eprintln!("    {n}");
        }
    }
    let a = &r.agreement;
    eprintln!(
        "  verified on {}: max abs error {:.3e} (tolerance {:.1e}), max {}, {} differ by a level",
        crate::table::count(a.samples, "sample"),
        a.max_abs_error,
        r.tolerance,
        crate::table::count(a.max_levels as usize, "8-bit level"),
        crate::table::count(a.differing_levels, "value")
    );
    for t in &r.timings {
        eprintln!(
            "  {}: {:.2} ms -> {:.2} ms ({:.2}x)",
            crate::table::count(t.threads, "thread"),
            t.original_ms,
            t.optimized_ms,
            t.original_ms / t.optimized_ms
        );
    }
    for t in &r.tuning {
        let shown = if t.knobs.is_empty() {
            "tract defaults".to_string()
        } else {
            t.knobs.join(" ")
        };
        eprintln!(
            "  tune: {shown}: {:.3} ms (rounds {:.3}-{:.3} ms)",
            t.median_ms, t.min_ms, t.max_ms
        );
    }
    if !r.tuning.is_empty() && r.knobs.is_empty() {
        eprintln!(
            "  tune: no setting beats tract's defaults beyond the noise (its slowest round under their fastest, and {:.0} % faster): none recorded",
            TUNE_MARGIN * 100.0
        );
    }
    if !r.knobs.is_empty() {
        let shown: Vec<String> = r.knobs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        eprintln!("  [tract] knobs: {}", shown.join(" "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(median: f64, min: f64, max: f64) -> Tuning {
        Tuning {
            knobs: vec![],
            median_ms: median,
            min_ms: min,
            max_ms: max,
        }
    }

    #[test]
    fn a_knob_is_kept_only_beyond_the_noise() {
        // Regression: 0.21 ms against 0.35 ms on a 0.1 ms model was kept
        // from one measurement each; rounds that overlap are noise.
        assert_eq!(
            kept_setting(&[t(0.35, 0.12, 0.40), t(0.21, 0.11, 0.30)]),
            None
        );
        // Clearly apart: kept.
        assert_eq!(
            kept_setting(&[t(10.0, 9.8, 10.3), t(8.0, 7.9, 8.2)]),
            Some(1)
        );
        // Apart but under the margin: not kept.
        assert_eq!(
            kept_setting(&[t(10.0, 9.99, 10.01), t(9.9, 9.89, 9.91)]),
            None
        );
        assert_eq!(kept_setting(&[t(1.0, 1.0, 1.0)]), None);
    }
}
