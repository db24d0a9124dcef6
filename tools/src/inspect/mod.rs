//! `easel inspect`: what is inside an ONNX model and whether easel can run
//! it — inputs and outputs, opset, operator histogram, parameters, MACs
//! per image, tract's load+optimize verdict with the failing operator and
//! node, and concrete advice. `--fix-upsample -o FILE` rewrites opset ≤ 9
//! `Upsample` nodes to `Resize`, which tract supports. `--engine
//! onnxruntime` asks onnxruntime instead of tract whether it runs the
//! model (and for a package, loads it as the daemon would).
//!
//! A verdict, not only a listing: the model is run on seeded inputs
//! (`run.rs`), and the exit status is non-zero when the engine refuses it
//! or the run draws no picture (non-finite, flat, or blind to its input).
//! `inspect PKG.easelpkg` lists and verifies a signed package offline
//! (`package.rs`).

pub mod package;
pub mod run;

use anyhow::{Context, ensure};
use easel_engine::load;
use easel_engine::package::{ModelKind, ModelPackage};
use easel_engine::tract::load as tract_load;
use easel_engine::{EngineKind, Model};
use indicatif::ProgressBar;
use prost::Message;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use tract_onnx::pb;
use tract_onnx::prelude::*;

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// A model package folder or an .onnx file.
    pub model: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Rewrite Upsample (opset <= 9) to Resize and write the model to -o.
    #[arg(long, requires = "output")]
    pub fix_upsample: bool,
    /// Where --fix-upsample writes the rewritten .onnx file.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// For a `.easelpkg`: public key files (`easel keygen`'s `.pub`) the
    /// signer must be one of, as a node's `[deploy] trusted_keys`.
    #[arg(long = "trusted", value_name = "KEY.pub")]
    pub trusted: Vec<PathBuf>,
    #[command(flatten)]
    pub engine: crate::engine_args::EngineArgs,
}

#[derive(Debug, Serialize)]
pub struct Value {
    pub name: String,
    /// Concrete sizes, or the symbol's name for free dimensions.
    pub shape: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub path: String,
    pub producer: String,
    pub ir_version: i64,
    pub opset: i64,
    pub inputs: Vec<Value>,
    pub outputs: Vec<Value>,
    pub ops: BTreeMap<String, usize>,
    pub params: u64,
    pub param_bytes: u64,
    /// Multiply-accumulates per image (Conv, ConvTranspose, Gemm, MatMul),
    /// when every shape is known.
    pub macs: Option<u64>,
    pub macs_by_op: BTreeMap<String, u64>,
    /// Whether tract reads and optimizes the model with fixed shapes.
    pub tract_ok: bool,
    pub tract_error: Option<String>,
    /// The engine asked (`--engine`; tract by default).
    pub engine: EngineKind,
    /// With `--engine onnxruntime`: whether onnxruntime runs the model,
    /// its version and the providers its library has.
    pub onnxruntime: Option<OrtVerdict>,
    /// The run on seeded inputs (`None`: not run, the engine refused).
    pub run: Option<run::RunVerdict>,
    pub advice: Vec<String>,
}

impl Report {
    /// Why the model cannot go on a piece as it is, if it cannot: the
    /// asked engine refuses it, or its run on seeded inputs draws nothing.
    pub fn refusal(&self) -> Option<String> {
        let engine_error = match (&self.engine, &self.onnxruntime) {
            (EngineKind::Onnxruntime, Some(o)) => o
                .error
                .as_ref()
                .map(|e| format!("onnxruntime refuses the model: {e}")),
            _ => self
                .tract_error
                .as_ref()
                .map(|e| format!("tract refuses the model: {e}")),
        };
        engine_error.or_else(|| {
            self.run
                .as_ref()
                .and_then(|r| r.error.as_ref())
                .map(|e| format!("the run on seeded inputs fails: {e}"))
        })
    }
}

#[derive(Debug, Serialize)]
pub struct OrtVerdict {
    pub ok: bool,
    pub error: Option<String>,
    pub version: Option<String>,
    pub library: Option<String>,
    pub providers: Vec<String>,
    /// The provider a package loaded on, and the fallbacks on the way.
    pub provider: Option<String>,
    pub warnings: Vec<String>,
}

pub fn run(args: InspectArgs) -> anyhow::Result<()> {
    if package::is_package_file(&args.model) {
        return package::run(&args.model, &args.trusted, args.json);
    }
    let (onnx_path, package) = if args.model.is_dir() {
        let p = ModelPackage::open(&args.model)?;
        (p.onnx_path(), Some(p))
    } else {
        (args.model.clone(), None)
    };
    let bytes =
        std::fs::read(&onnx_path).with_context(|| format!("reading {}", onnx_path.display()))?;
    let mut proto = load::decode(&onnx_path, &bytes)?;
    if args.fix_upsample {
        let out = args.output.as_ref().expect("clap requires -o");
        let n = upsample_to_resize(&mut proto);
        ensure!(
            n > 0,
            "{}: no Upsample node to rewrite",
            onnx_path.display()
        );
        std::fs::write(out, proto.encode_to_vec())
            .with_context(|| format!("writing {}", out.display()))?;
        eprintln!(
            "rewrote {} to Resize (opset {}): {}",
            crate::table::count(n, "Upsample node"),
            load::opset(&proto),
            out.display()
        );
        return Ok(());
    }
    let engine = args.engine.engine.unwrap_or_default();
    let mut report = if engine == EngineKind::Onnxruntime {
        inspect_as(&onnx_path, &proto, package.as_ref(), false)
    } else {
        inspect(&onnx_path, &proto, package.as_ref())
    };
    if engine == EngineKind::Onnxruntime {
        report.engine = engine;
        let (verdict, ran) = ort_verdict(&args, &bytes, package.as_ref());
        report.onnxruntime = Some(verdict);
        report.run = ran;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    match report.refusal() {
        Some(reason) => Err(anyhow::anyhow!(reason)),
        None => Ok(()),
    }
}

fn shape_of(v: &pb::ValueInfoProto) -> Vec<String> {
    use pb::tensor_shape_proto::dimension::Value as D;
    let Some(pb::type_proto::Value::TensorType(t)) =
        v.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return vec![];
    };
    t.shape
        .iter()
        .flat_map(|s| &s.dim)
        .map(|d| match &d.value {
            Some(D::DimValue(n)) => n.to_string(),
            Some(D::DimParam(p)) => p.clone(),
            None => "?".into(),
        })
        .collect()
}

/// Bytes per element of an ONNX data type.
fn elem_bytes(dt: i32) -> u64 {
    use pb::tensor_proto::DataType as T;
    match T::try_from(dt) {
        Ok(T::Double | T::Int64 | T::Uint64) => 8,
        Ok(T::Float | T::Int32 | T::Uint32) => 4,
        Ok(T::Float16 | T::Bfloat16 | T::Int16 | T::Uint16) => 2,
        _ => 1,
    }
}

/// onnxruntime's verdict: a session of the bare file, or the package
/// loaded as the daemon would (smoke test included) and then run on
/// seeded inputs.
fn ort_verdict(
    args: &InspectArgs,
    bytes: &[u8],
    package: Option<&ModelPackage>,
) -> (OrtVerdict, Option<run::RunVerdict>) {
    let choice = args.engine.choice();
    let mut verdict = OrtVerdict {
        ok: false,
        error: None,
        version: None,
        library: None,
        providers: Vec::new(),
        provider: None,
        warnings: Vec::new(),
    };
    let runtime = match easel_engine::onnxruntime::open(&choice.onnxruntime) {
        Ok(runtime) => runtime,
        Err(e) => {
            verdict.error = Some(e.to_string());
            return (verdict, None);
        }
    };
    verdict.version = Some(runtime.version.clone());
    verdict.library = Some(runtime.library.display().to_string());
    verdict.providers = runtime.providers().iter().map(|p| p.to_string()).collect();
    let mut ran = None;
    let result = match package {
        Some(p) => {
            Model::load_onnxruntime(p, runtime, &choice.onnxruntime.providers, 1, &choice.budget)
                .map(|mut m| {
                    verdict.provider = Some(m.info().provider.to_string());
                    verdict.warnings = m.info().warnings.clone();
                    ran = Some(run::run_model(&mut m));
                })
                .map_err(|e| e.to_string())
        }
        None => easel_engine::onnxruntime::model::try_session(runtime, bytes),
    };
    match result {
        Ok(()) => verdict.ok = true,
        Err(e) => verdict.error = Some(e),
    }
    (verdict, ran)
}

pub fn inspect(path: &Path, proto: &pb::ModelProto, package: Option<&ModelPackage>) -> Report {
    inspect_as(path, proto, package, true)
}

/// The report; `try_tract`: whether tract loads and optimizes the model
/// (skipped when onnxruntime is asked instead).
fn inspect_as(
    path: &Path,
    proto: &pb::ModelProto,
    package: Option<&ModelPackage>,
    try_tract: bool,
) -> Report {
    let graph = proto.graph.as_ref().expect("decode checked the graph");
    let mut ops = BTreeMap::new();
    for n in &graph.node {
        *ops.entry(n.op_type.clone()).or_insert(0) += 1;
    }
    let params: u64 = graph
        .initializer
        .iter()
        .map(|t| t.dims.iter().product::<i64>().max(1) as u64)
        .sum();
    let param_bytes = graph
        .initializer
        .iter()
        .map(|t| t.dims.iter().product::<i64>().max(1) as u64 * elem_bytes(t.data_type))
        .sum();
    let real_inputs = load::graph_inputs(graph);
    let inputs: Vec<Value> = graph
        .input
        .iter()
        .filter(|i| real_inputs.contains(&i.name))
        .map(|i| Value {
            name: i.name.clone(),
            shape: shape_of(i),
        })
        .collect();
    let outputs: Vec<Value> = graph
        .output
        .iter()
        .map(|o| Value {
            name: o.name.clone(),
            shape: shape_of(o),
        })
        .collect();
    let opset = load::opset(proto);
    let mut advice = Vec::new();
    let unsupported = tract_load::unsupported_ops(proto);
    for (op, node) in &unsupported {
        advice.push(format!(
            "tract has no {op} (node {node:?}){}",
            tract_load::op_hint(op)
        ));
    }
    if unsupported.iter().any(|(op, _)| op == "Upsample") {
        advice.push(format!(
            "or rewrite it here: easel inspect {} --fix-upsample -o fixed.onnx",
            path.display()
        ));
    }
    // Concrete input shapes: the manifest's, else the declared ones.
    let mut fixed: Vec<(String, Vec<usize>)> = Vec::new();
    let mut symbolic = Vec::new();
    for i in &inputs {
        let from_manifest = package.and_then(|p| {
            let m = &p.manifest;
            if i.name == m.input.name {
                Some(m.input.shape.clone())
            } else if let (ModelKind::Cppn, Some(c)) = (m.kind, &m.cppn) {
                (i.name == c.coords).then(|| vec![1, 3, c.size[1] as usize, c.size[0] as usize])
            } else {
                None
            }
        });
        let declared: Option<Vec<usize>> = i.shape.iter().map(|d| d.parse().ok()).collect();
        match from_manifest.or(declared) {
            Some(s) if !i.shape.is_empty() || package.is_some() => fixed.push((i.name.clone(), s)),
            _ if package.is_none() && coords_like(i, inputs.len()) => {
                // A CPPN's grid: free height and width are its nature (the
                // picture size is chosen per render), not a missing shape.
                let channels = i.shape[1].parse().expect("coords_like checked");
                let (w, h) = run::CPPN_SIZE;
                fixed.push((i.name.clone(), vec![1, channels, h as usize, w as usize]));
                advice.push(format!(
                    "input {:?} looks like a CPPN's coordinate grid ([1, {channels}, H, W]): its free height and width are right, the picture size is chosen per render; package it with kind = \"cppn\" and [cppn] coords = {:?}, size = [W, H] (the default picture size), the other input as [input]; checked here at {w}x{h}",
                    i.name, i.name
                ));
            }
            _ => symbolic.push(i.name.clone()),
        }
    }
    if !symbolic.is_empty() {
        advice.push(format!(
            "inputs {symbolic:?} have free dimensions: describe their shape in easel.toml ([input] shape) or export with fixed shapes; tract runs much faster with every shape fixed"
        ));
    }
    if opset < 11 {
        advice.push(format!(
            "opset {opset} is old: export again with torch.onnx.export(..., opset_version=17)"
        ));
    }
    let (mut tract_ok, mut tract_error, mut macs, mut macs_by_op) =
        (false, None, None, BTreeMap::new());
    let mut plan = None;
    if !try_tract {
        // Only the MACs: shapes typed by tract, its verdict not asked.
        if unsupported.is_empty()
            && symbolic.is_empty()
            && let Ok(((m, by_op), _)) = tract_verdict(proto, &fixed, false)
        {
            macs = m;
            macs_by_op = by_op;
        }
    } else if unsupported.is_empty() && symbolic.is_empty() {
        let spinner = ProgressBar::new_spinner().with_message("tract: load and optimize");
        spinner.enable_steady_tick(std::time::Duration::from_millis(120));
        match tract_verdict(proto, &fixed, true) {
            Ok(((m, by_op), runnable)) => {
                tract_ok = true;
                macs = m;
                macs_by_op = by_op;
                plan = runnable;
            }
            Err(e) => {
                tract_error = Some(format!("{e:#}"));
                advice.push("tract could not optimize the model: see the error; simplify the graph (onnxsim) or export with a newer opset".into());
            }
        }
        spinner.finish_and_clear();
    } else if let Some((op, node)) = unsupported.first() {
        tract_error = Some(format!("unsupported operator {op} (node {node:?})"));
    } else {
        tract_error = Some("free input dimensions".into());
    }
    if let Some(p) = package
        && try_tract
        && let Err(e) = tract_load::check(path, proto, &p.manifest)
        && tract_error.is_none()
    {
        tract_error = Some(e.to_string());
        tract_ok = false;
    }
    // The run: a package exactly as a node loads it (its smoke test's
    // message on failure), a bare file on tract's plan.
    let ran = match (tract_ok, package, plan) {
        (false, _, _) => None,
        (true, Some(p), _) => {
            let spinner = ProgressBar::new_spinner().with_message("running on seeded inputs");
            spinner.enable_steady_tick(std::time::Duration::from_millis(120));
            let verdict = match Model::load_standalone(p) {
                Ok(mut model) => run::run_model(&mut model),
                Err(e) => run::RunVerdict::failed(e.to_string()),
            };
            spinner.finish_and_clear();
            Some(verdict)
        }
        (true, None, Some((plan, shapes))) => Some(run::run_plan(&plan, &shapes)),
        (true, None, None) => None,
    };
    if ops.contains_key("ConvTranspose") {
        advice.push("ConvTranspose has no int8 kernel in tract: `easel quantize --mode weights` shrinks the file; `static` leaves these layers in float".into());
    }
    if ops.contains_key("Conv") || ops.contains_key("MatMul") {
        advice.push("try `easel quantize --mode weights|static|f16`, then `easel bench --pick` on the target to choose".into());
    }
    Report {
        path: path.display().to_string(),
        producer: format!("{} {}", proto.producer_name, proto.producer_version)
            .trim()
            .to_string(),
        ir_version: proto.ir_version,
        opset,
        inputs,
        outputs,
        ops,
        params,
        param_bytes,
        macs,
        macs_by_op,
        tract_ok,
        tract_error,
        engine: EngineKind::Tract,
        onnxruntime: None,
        run: ran,
        advice,
    }
}

/// Whether a bare model's input looks like a CPPN's coordinate grid:
/// `[1, C, H, W]` with C fixed and small, H and W free, beside another
/// input (the latent), or named so.
fn coords_like(input: &Value, inputs: usize) -> bool {
    let s = &input.shape;
    let grid = s.len() == 4
        && s[0] == "1"
        && s[1].parse::<usize>().is_ok_and(|c| (1..=8).contains(&c))
        && s[2].parse::<usize>().is_err()
        && s[3].parse::<usize>().is_err();
    grid && (inputs > 1 || input.name.to_ascii_lowercase().contains("coord"))
}

/// Total MACs (when every shape is known) and MACs per operator type.
type Macs = (Option<u64>, BTreeMap<String, u64>);

/// tract's plan and the shape of each of its inputs, in input order.
type Plan = (Arc<TypedRunnableModel>, Vec<Vec<usize>>);

/// Loads, types and (with `optimize`) optimizes the model with fixed
/// input shapes; returns MACs per image computed from the typed shapes,
/// and the runnable plan when optimized and every input shape is fixed.
fn tract_verdict(
    proto: &pb::ModelProto,
    fixed: &[(String, Vec<usize>)],
    optimize: bool,
) -> TractResult<(Macs, Option<Plan>)> {
    let mut model = tract_onnx::onnx().model_for_proto_model(proto)?;
    let names: Vec<String> = model
        .input_outlets()?
        .iter()
        .map(|o| model.node(o.node).name.clone())
        .collect();
    for (ix, name) in names.iter().enumerate() {
        if let Some((_, shape)) = fixed.iter().find(|(n, _)| n == name) {
            model.set_input_fact(
                ix,
                InferenceFact::dt_shape(f32::datum_type(), shape.as_slice()),
            )?;
        }
    }
    let typed = model.into_typed()?;
    let mut shapes: HashMap<String, Vec<usize>> = HashMap::new();
    let graph = proto.graph.as_ref().expect("decoded");
    for n in &graph.node {
        for name in n.input.iter().chain(&n.output) {
            if let Some(o) = typed.find_outlet_label(name).or_else(|| {
                typed
                    .node_by_name(name)
                    .ok()
                    .map(|n| OutletId::new(n.id, 0))
            }) && let Ok(f) = typed.outlet_fact(o)
                && let Some(s) = f.shape.as_concrete()
            {
                shapes.insert(name.clone(), s.to_vec());
            }
        }
    }
    for t in &graph.initializer {
        shapes.insert(t.name.clone(), t.dims.iter().map(|&d| d as usize).collect());
    }
    let (macs, by_op) = count_macs(graph, &shapes);
    let input_shapes: Option<Vec<Vec<usize>>> = names
        .iter()
        .map(|n| fixed.iter().find(|(f, _)| f == n).map(|(_, s)| s.clone()))
        .collect();
    let mut plan = None;
    if optimize {
        let runnable = typed.into_optimized()?.into_runnable()?;
        plan = input_shapes.map(|s| (runnable, s));
    }
    Ok(((macs, by_op), plan))
}

/// MACs of Conv, ConvTranspose, Gemm and MatMul; `None` if a shape is missing.
pub fn count_macs(graph: &pb::GraphProto, shapes: &HashMap<String, Vec<usize>>) -> Macs {
    let mut by_op = BTreeMap::new();
    let mut complete = true;
    let prod = |s: &[usize]| s.iter().map(|&d| d as u64).product::<u64>();
    for n in &graph.node {
        let get = |ix: usize| n.input.get(ix).and_then(|name| shapes.get(name));
        let out = n.output.first().and_then(|name| shapes.get(name));
        let macs = match n.op_type.as_str() {
            // Every output value sums Cin/group * kernel products.
            "Conv" => match (get(1), out) {
                (Some(w), Some(y)) => Some(prod(y) * prod(&w[1..])),
                _ => None,
            },
            // Every input value scatters into Cout/group * kernel outputs.
            "ConvTranspose" => match (get(0), get(1)) {
                (Some(x), Some(w)) => Some(prod(x) * prod(&w[1..])),
                _ => None,
            },
            "Gemm" | "MatMul" => match (get(0), out) {
                (Some(a), Some(y)) if !a.is_empty() => {
                    let trans_a = n
                        .attribute
                        .iter()
                        .any(|at| at.name == "transA" && at.i == 1);
                    let k = if trans_a && a.len() == 2 {
                        a[0]
                    } else {
                        a[a.len() - 1]
                    };
                    Some(prod(y) * k as u64)
                }
                _ => None,
            },
            _ => continue,
        };
        match macs {
            Some(m) => *by_op.entry(n.op_type.clone()).or_insert(0) += m,
            None => complete = false,
        }
    }
    let total = complete.then(|| by_op.values().sum());
    (total, by_op)
}

/// Rewrites every `Upsample` to `Resize` with the same mode, raising the
/// default-domain opset to 11 if it is lower. Returns how many.
pub fn upsample_to_resize(proto: &mut pb::ModelProto) -> usize {
    let graph = proto.graph.as_mut().expect("decoded");
    let mut count = 0;
    let mut extra = Vec::new();
    for (ix, n) in graph.node.iter_mut().enumerate() {
        if n.op_type != "Upsample" {
            continue;
        }
        let mode = n
            .attribute
            .iter()
            .find(|a| a.name == "mode")
            .map_or_else(|| b"nearest".to_vec(), |a| a.s.clone());
        let scales = if n.input.len() >= 2 {
            n.input[1].clone()
        } else {
            // Opset 7: scales were an attribute.
            let values = n
                .attribute
                .iter()
                .find(|a| a.name == "scales")
                .map(|a| a.floats.clone())
                .unwrap_or_default();
            let name = format!("upsample_{ix}_scales");
            extra.push(pb::TensorProto {
                name: name.clone(),
                dims: vec![values.len() as i64],
                data_type: pb::tensor_proto::DataType::Float as i32,
                raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
                ..Default::default()
            });
            name
        };
        let roi = format!("upsample_{ix}_roi");
        extra.push(pb::TensorProto {
            name: roi.clone(),
            dims: vec![0],
            data_type: pb::tensor_proto::DataType::Float as i32,
            ..Default::default()
        });
        let string = |name: &str, s: &[u8]| pb::AttributeProto {
            name: name.into(),
            r#type: pb::attribute_proto::AttributeType::String as i32,
            s: s.to_vec(),
            ..Default::default()
        };
        n.op_type = "Resize".into();
        n.input = vec![n.input[0].clone(), roi, scales];
        // Upsample's sampling: pixel (x) reads source x / scale, rounded down.
        n.attribute = vec![
            string(
                "mode",
                if mode == b"linear" {
                    b"linear"
                } else {
                    b"nearest"
                },
            ),
            string("coordinate_transformation_mode", b"asymmetric"),
            string("nearest_mode", b"floor"),
        ];
        count += 1;
    }
    graph.initializer.extend(extra);
    if count > 0 {
        for o in &mut proto.opset_import {
            if (o.domain.is_empty() || o.domain == "ai.onnx") && o.version < 11 {
                o.version = 11;
            }
        }
    }
    count
}

fn print_text(r: &Report) {
    println!("{}", r.path);
    println!(
        "  producer  {}  (ir {}, opset {})",
        r.producer, r.ir_version, r.opset
    );
    for i in &r.inputs {
        println!("  input     {} [{}]", i.name, i.shape.join(", "));
    }
    for o in &r.outputs {
        println!("  output    {} [{}]", o.name, o.shape.join(", "));
    }
    let hist: Vec<String> = r.ops.iter().map(|(op, n)| format!("{op} {n}")).collect();
    println!("  ops       {}", hist.join(", "));
    println!(
        "  params    {} ({:.2} MB)",
        r.params,
        r.param_bytes as f64 / 1e6
    );
    match r.macs {
        Some(m) => {
            let parts: Vec<String> = r
                .macs_by_op
                .iter()
                .map(|(op, v)| format!("{op} {:.1}M", *v as f64 / 1e6))
                .collect();
            println!(
                "  MACs      {:.1} M per image ({})",
                m as f64 / 1e6,
                parts.join(", ")
            );
        }
        None => println!("  MACs      unknown (shapes not all known)"),
    }
    match &r.tract_error {
        None if r.tract_ok => println!("  tract     loads and optimizes"),
        Some(e) => println!("  tract     FAILS: {e}"),
        None => println!("  tract     not tried"),
    }
    match &r.run {
        Some(run) if run.ok => println!(
            "  run       seeds {:?}: finite, varied output{}",
            run.seeds,
            run.range
                .map(|[lo, hi]| format!(" in [{lo:.3}, {hi:.3}]"))
                .unwrap_or_default()
        ),
        Some(run) => println!("  run       FAILS: {}", run.error.as_deref().unwrap_or("?")),
        None => println!("  run       not run"),
    }
    if let Some(o) = &r.onnxruntime {
        match (&o.error, &o.version) {
            (None, Some(v)) => println!(
                "  onnxruntime {v} runs it (on {}; library has {})",
                o.provider.as_deref().unwrap_or("cpu"),
                o.providers.join(", ")
            ),
            (Some(e), _) => println!("  onnxruntime FAILS: {e}"),
            (None, None) => println!("  onnxruntime not tried"),
        }
        for w in &o.warnings {
            println!("  warning   {w}");
        }
    }
    for a in &r.advice {
        println!("  advice    {a}");
    }
}
