//! Where onnxruntime spends its time on a model, node by node (what
//! `easel profile --engine onnxruntime` prints): onnxruntime's own
//! profiler (`SessionOptions::EnableProfiling`) writes a Chrome trace of
//! every node run; this reads it back and sums each node's kernel time
//! per run. Plain runs on a second, unprofiled session give the time to
//! compare with, so the profiler's overhead is visible.

use super::Runtime;
use crate::model::Source;
use crate::package::ModelPackage;
use crate::tensors::Tensors;
use ort::session::{Session, SessionInputValue};
use ort::value::Tensor;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

/// One node's mean time per run.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeTime {
    pub node: String,
    pub op: String,
    pub shape: String,
    pub ms: f64,
}

/// A model's profile on onnxruntime at one thread count.
#[derive(Debug, Clone, PartialEq)]
pub struct OrtProfile {
    /// Median of plain runs.
    pub run_ms: f64,
    /// Node times summed, per run.
    pub profiled_ms: f64,
    /// Slowest first.
    pub nodes: Vec<NodeTime>,
}

/// Profiles `package` on `source` with `threads` intra-op threads; the
/// trace goes to `dir` (a scratch folder the caller removes).
pub fn profile(
    package: &ModelPackage,
    runtime: &Runtime,
    source: &Source,
    threads: usize,
    runs: usize,
    warmup: usize,
    dir: &Path,
) -> Result<OrtProfile, String> {
    let checked = crate::load::read_checked(package, &crate::budget::Budget::default())
        .map_err(|e| e.to_string())?;
    let tensors = Tensors::new(package.manifest.clone());
    let size = tensors.size_for(None).map_err(|e| e.to_string())?;
    let grid = tensors.coords(size);
    let main = tensors.main_input(source).map_err(|e| e.to_string())?;
    let text = |e: ort::Error<_>| e.to_string();
    let builder = || {
        Session::builder(&runtime.env)
            .map_err(|e| e.to_string())?
            .with_intra_threads(threads.max(1))
            .map_err(text)
    };
    let mut plain = builder()?
        .commit_from_memory(&checked.bytes)
        .map_err(|e| e.to_string())?;
    let mut profiled = builder()?
        .with_profiling(dir.join("easel-profile"))
        .map_err(text)?
        .commit_from_memory(&checked.bytes)
        .map_err(|e| e.to_string())?;
    let run = |session: &mut Session| -> Result<(), String> {
        let manifest = &tensors.manifest;
        let main = Tensor::from_array((manifest.input.shape.clone(), main.clone()))
            .map_err(|e| e.to_string())?;
        let mut inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> =
            vec![(manifest.input.name.as_str().into(), main.into())];
        if let (Some(grid), Some(cppn)) = (&grid, &manifest.cppn) {
            let grid = Tensor::from_array((vec![1, 3, size.1, size.0], grid.clone()))
                .map_err(|e| e.to_string())?;
            inputs.push((cppn.coords.as_str().into(), grid.into()));
        }
        session.run(inputs).map(drop).map_err(|e| e.to_string())
    };
    for _ in 0..warmup {
        run(&mut plain)?;
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        run(&mut plain)?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    for _ in 0..runs.max(1) {
        run(&mut profiled)?;
    }
    let file = profiled.end_profiling().map_err(|e| e.to_string())?;
    let trace = std::fs::read_to_string(&file).map_err(|e| format!("reading {file}: {e}"))?;
    let _ = std::fs::remove_file(&file);
    let mut profile = parse_trace(&trace)?;
    profile.run_ms = times[times.len() / 2];
    Ok(profile)
}

/// Node times per run from onnxruntime's trace: the `Node` events named
/// `<node>_kernel_time`, over the number of `model_run` events.
pub fn parse_trace(trace: &str) -> Result<OrtProfile, String> {
    let events: Vec<serde_json::Value> =
        serde_json::from_str(trace).map_err(|e| format!("onnxruntime's profile: {e}"))?;
    let runs = events
        .iter()
        .filter(|e| e["cat"] == "Session" && e["name"] == "model_run")
        .count()
        .max(1) as f64;
    let mut by_node: HashMap<String, NodeTime> = HashMap::new();
    for e in events.iter().filter(|e| e["cat"] == "Node") {
        let Some(node) = e["name"]
            .as_str()
            .and_then(|n| n.strip_suffix("_kernel_time"))
        else {
            continue;
        };
        let us = e["dur"].as_f64().unwrap_or(0.0);
        let args = &e["args"];
        let entry = by_node.entry(node.to_string()).or_insert_with(|| NodeTime {
            node: node.to_string(),
            op: args["op_name"].as_str().unwrap_or("?").to_string(),
            shape: shape_of(&args["output_type_shape"]),
            ms: 0.0,
        });
        entry.ms += us / 1e3 / runs;
    }
    let mut nodes: Vec<NodeTime> = by_node.into_values().collect();
    nodes.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    Ok(OrtProfile {
        run_ms: 0.0,
        profiled_ms: nodes.iter().map(|n| n.ms).sum(),
        nodes,
    })
}

/// `[1, 3, 64, 64]` from `[{"float": [1, 3, 64, 64]}]`.
fn shape_of(v: &serde_json::Value) -> String {
    let dims = v
        .as_array()
        .and_then(|a| a.first())
        .and_then(|t| t.as_object())
        .and_then(|o| o.values().next())
        .and_then(|d| d.as_array());
    match dims {
        Some(dims) => {
            let dims: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
            format!("[{}]", dims.join(", "))
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_times_are_per_run_and_slowest_first() {
        let trace = r#"[
          {"cat":"Session","name":"model_loading_array","dur":900},
          {"cat":"Session","name":"model_run","dur":500},
          {"cat":"Node","name":"conv1_kernel_time","dur":300,"args":{"op_name":"Conv","output_type_shape":[{"float":[1,8,64,64]}]}},
          {"cat":"Node","name":"relu_kernel_time","dur":100,"args":{"op_name":"Relu"}},
          {"cat":"Node","name":"conv1_fence_before","dur":1,"args":{}},
          {"cat":"Session","name":"model_run","dur":500},
          {"cat":"Node","name":"conv1_kernel_time","dur":500,"args":{"op_name":"Conv"}},
          {"cat":"Node","name":"relu_kernel_time","dur":100,"args":{"op_name":"Relu"}}
        ]"#;
        let p = parse_trace(trace).unwrap();
        let names: Vec<&str> = p.nodes.iter().map(|n| n.node.as_str()).collect();
        assert_eq!(names, vec!["conv1", "relu"]);
        assert!((p.nodes[0].ms - 0.4).abs() < 1e-9, "{:?}", p.nodes[0]);
        assert_eq!(p.nodes[0].shape, "[1, 8, 64, 64]");
        assert_eq!(p.nodes[1].op, "Relu");
        assert!((p.profiled_ms - 0.5).abs() < 1e-9);
        assert!(parse_trace("not json").unwrap_err().contains("onnxruntime"));
    }
}
