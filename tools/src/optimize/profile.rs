//! `easel profile`: where tract spends its time on a model, node by node
//! and per operator type, at a given thread count and tract knobs.
//!
//! Each node of the optimized plan is timed by running the plan through
//! `SimpleState::run_plan_with_eval` with tract's own `plan::eval` wrapped
//! in a clock (the multithreaded executor's scope is entered by tract
//! around the whole walk, so a node's time includes its parallel work).
//! The profiled walk is slower than a plain `run` (the wrapped eval, the
//! clock reads, tract's bookkeeping per node), by a lot on a tiny model:
//! its own wall time is measured too, the overhead (walk minus run) is
//! printed per model, and node times are labelled as inclusive of it —
//! read them as shares of the walk, not as milliseconds a run would save.
//!
//! `--engine onnxruntime` profiles the same model on onnxruntime instead,
//! with onnxruntime's own profiler (`easel_engine::onnxruntime::profile`),
//! on the same sample input; its node names and operators are
//! onnxruntime's (after its graph fusions), not tract's.

use super::plan::{self, Plan};
use anyhow::{Context, ensure};
use easel_engine::package::{ModelKind, ModelPackage};
use easel_engine::{EngineKind, Source};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tract_onnx::tract_core::plan::eval;

#[derive(Debug, clap::Args)]
pub struct ProfileArgs {
    /// Model package folders.
    #[arg(required = true)]
    pub models: Vec<PathBuf>,
    /// Thread counts, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub threads: Vec<usize>,
    /// Profiled runs (times are means over these).
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
    /// Untimed runs first.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Nodes listed, slowest first.
    #[arg(long, default_value_t = 15)]
    pub top: usize,
    /// tract knobs in scope while the model is optimized, `NAME=VALUE`
    /// (`NAME` alone means 1), e.g. `--knob TRACT_DISABLE_DIRECT_SPATIAL`.
    #[arg(long = "knob")]
    pub knobs: Vec<String>,
    /// Print markdown tables (for docs) instead of aligned text.
    #[arg(long)]
    pub markdown: bool,
    /// Picture size WxH for cppn models (default: the manifest's size);
    /// tract only.
    #[arg(long, value_parser = crate::generate::parse_size)]
    pub size: Option<(u32, u32)>,
    #[command(flatten)]
    pub engine: crate::engine_args::EngineArgs,
}

/// One node's share of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeTime {
    pub node: String,
    pub op: String,
    pub shape: String,
    pub ms: f64,
}

/// A model's profile at one thread count.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Profile {
    pub model: String,
    pub threads: usize,
    pub knobs: Vec<String>,
    /// Median wall time of a plain `run`.
    pub run_ms: f64,
    /// Mean of the per-node times summed, per run.
    pub profiled_ms: f64,
    /// Median wall time of a profiled walk (tract only): `walk_ms -
    /// run_ms` is the profiler's overhead, included in the node times.
    pub walk_ms: Option<f64>,
    /// Slowest first.
    pub nodes: Vec<NodeTime>,
}

impl Profile {
    /// Total time per operator type, slowest first: (op, ms, node count).
    pub fn by_op(&self) -> Vec<(String, f64, usize)> {
        let mut ops: HashMap<&str, (f64, usize)> = HashMap::new();
        for n in &self.nodes {
            let e = ops.entry(&n.op).or_default();
            e.0 += n.ms;
            e.1 += 1;
        }
        let mut ops: Vec<_> = ops
            .into_iter()
            .map(|(op, (ms, count))| (op.to_string(), ms, count))
            .collect();
        ops.sort_by(|a, b| b.1.total_cmp(&a.1));
        ops
    }
}

pub fn run(args: ProfileArgs) -> anyhow::Result<()> {
    ensure!(args.runs >= 1, "--runs must be at least 1");
    ensure!(
        !args.threads.is_empty() && !args.threads.contains(&0),
        "--threads must list positive counts"
    );
    let cli_knobs = plan::parse_knobs(&args.knobs)?;
    if args.engine.engine == Some(EngineKind::Onnxruntime) {
        ensure!(
            args.size.is_none(),
            "--size profiles tract only (onnxruntime's profile runs the manifest's size)"
        );
        return run_onnxruntime(&args);
    }
    let size = args.size.map(|(w, h)| (w as usize, h as usize));
    for dir in &args.models {
        let package = ModelPackage::open(dir)
            .with_context(|| format!("opening model package {}", dir.display()))?;
        let proto = plan::prepared_proto(&package)?;
        let mut knobs = plan::manifest_knobs(&package);
        knobs.extend(cli_knobs.iter().cloned());
        for &threads in &args.threads {
            let plan = plan::plan_sized(&package, &proto, threads, &knobs, size)?;
            let p = profile(&package, &plan, threads, &knobs, args.runs, args.warmup)?;
            print(&p, args.top, args.markdown);
        }
    }
    Ok(())
}

/// `easel profile --engine onnxruntime`: onnxruntime's profile of each
/// model at each thread count, printed like tract's.
fn run_onnxruntime(args: &ProfileArgs) -> anyhow::Result<()> {
    let runtime = easel_engine::onnxruntime::open(&args.engine.choice().onnxruntime)?;
    eprintln!(
        "onnxruntime {} from {}",
        runtime.version,
        runtime.library.display()
    );
    let scratch = tempfile::tempdir().context("a scratch folder for onnxruntime's trace")?;
    for dir in &args.models {
        let package = ModelPackage::open(dir)
            .with_context(|| format!("opening model package {}", dir.display()))?;
        let m = &package.manifest;
        let source = match m.kind {
            ModelKind::Image => Source::Image(std::sync::Arc::new(plan::test_picture(
                0,
                m.input.shape[3],
                m.input.shape[2],
            ))),
            _ => Source::Seed(0),
        };
        for &threads in &args.threads {
            let p = easel_engine::onnxruntime::profile::profile(
                &package,
                runtime,
                &source,
                threads,
                args.runs,
                args.warmup,
                scratch.path(),
            )
            .map_err(|e| anyhow::anyhow!("profiling {} on onnxruntime: {e}", dir.display()))?;
            let profile = Profile {
                model: format!("{} (onnxruntime)", m.name),
                threads,
                knobs: Vec::new(),
                run_ms: p.run_ms,
                profiled_ms: p.profiled_ms,
                walk_ms: None,
                nodes: p
                    .nodes
                    .into_iter()
                    .map(|n| NodeTime {
                        node: n.node,
                        op: n.op,
                        shape: n.shape,
                        ms: n.ms,
                    })
                    .collect(),
            };
            print(&profile, args.top, args.markdown);
        }
    }
    Ok(())
}

/// Profiles `plan` over `runs` runs of sample 0.
pub fn profile(
    package: &ModelPackage,
    plan: &Plan,
    threads: usize,
    knobs: &[(String, String)],
    runs: usize,
    warmup: usize,
) -> anyhow::Result<Profile> {
    let inputs = plan::sample_inputs(package, plan, 0)?;
    let mut state = plan.spawn()?;
    for _ in 0..warmup {
        state.run(inputs.clone())?;
    }
    let mut plain = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        state.run(inputs.clone())?;
        plain.push(started.elapsed());
    }
    plain.sort();
    let model = plan.model();
    let mut per_node = vec![Duration::ZERO; model.nodes.len()];
    let mut walks = Vec::with_capacity(runs);
    for _ in 0..runs {
        let walk = Instant::now();
        state.run_plan_with_eval(inputs.clone(), |ctx, op_state, node, node_inputs| {
            let started = Instant::now();
            let out = eval(ctx, op_state, node, node_inputs);
            per_node[node.id] += started.elapsed();
            out
        })?;
        walks.push(walk.elapsed());
    }
    walks.sort();
    let per_run = |d: Duration| d.as_secs_f64() * 1e3 / runs as f64;
    let mut nodes: Vec<NodeTime> = model
        .nodes
        .iter()
        .filter(|n| per_node[n.id] > Duration::ZERO)
        .map(|n| NodeTime {
            node: n.name.clone(),
            op: n.op().name().to_string(),
            shape: n
                .outputs
                .first()
                .map(|o| format!("{:?}", o.fact.shape))
                .unwrap_or_default(),
            ms: per_run(per_node[n.id]),
        })
        .collect();
    nodes.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    Ok(Profile {
        model: package.manifest.name.clone(),
        threads,
        knobs: knobs.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        run_ms: plain[plain.len() / 2].as_secs_f64() * 1e3,
        profiled_ms: nodes.iter().map(|n| n.ms).sum(),
        walk_ms: Some(walks[walks.len() / 2].as_secs_f64() * 1e3),
        nodes,
    })
}

fn print(p: &Profile, top: usize, markdown: bool) {
    let knobs = if p.knobs.is_empty() {
        String::new()
    } else {
        format!(", {}", p.knobs.join(" "))
    };
    println!(
        "\n{} at {}{knobs}: run {:.2} ms (median), nodes sum to {:.2} ms",
        p.model,
        crate::table::count(p.threads, "thread"),
        p.run_ms,
        p.profiled_ms
    );
    if let Some(walk) = p.walk_ms {
        let overhead = walk - p.run_ms;
        println!(
            "  profiler overhead: a profiled run takes {walk:.2} ms, {overhead:.2} ms ({:.0} %) more than a plain run; node times are inclusive of it: read them as shares",
            100.0 * overhead / p.run_ms.max(1e-9)
        );
    }
    let total = p.profiled_ms.max(1e-9);
    let ops = p.by_op();
    if markdown {
        println!("\n| op | nodes | ms (inclusive) | % |\n|---|---:|---:|---:|");
        for (op, ms, count) in &ops {
            println!("| {op} | {count} | {ms:.2} | {:.1} |", 100.0 * ms / total);
        }
        println!("\n| node | op | output | ms (inclusive) | % |\n|---|---|---|---:|---:|");
        for n in p.nodes.iter().take(top) {
            println!(
                "| {} | {} | {} | {:.2} | {:.1} |",
                n.node,
                n.op,
                n.shape,
                n.ms,
                100.0 * n.ms / total
            );
        }
    } else {
        println!("  {:<28} {:>5} {:>9} {:>6}", "op", "nodes", "ms", "%");
        for (op, ms, count) in &ops {
            println!(
                "  {op:<28} {count:>5} {ms:>9.2} {:>6.1}",
                100.0 * ms / total
            );
        }
        println!(
            "  {:<40} {:<22} {:<18} {:>8} {:>6}",
            "node", "op", "output", "ms", "%"
        );
        for n in p.nodes.iter().take(top) {
            println!(
                "  {:<40} {:<22} {:<18} {:>8.2} {:>6.1}",
                n.node,
                n.op,
                n.shape,
                n.ms,
                100.0 * n.ms / total
            );
        }
    }
}
