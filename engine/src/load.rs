//! What every engine checks before it sees a model: the package's bytes
//! (sha256 checked), decoded as an ONNX protobuf without following any
//! reference to another file, and held against the manifest (input and
//! output names, the declared input shape). A model from a stranger must
//! fail here with a sentence that names the problem, never with a panic,
//! a read outside its file, or an engine's own confusing message.
//!
//! What only one engine cares about (tract's operator set and knobs, the
//! fixed-shape inference model) is that engine's (`tract::load`); this
//! module knows no engine. The protobuf types are tract's prost ones
//! (`tract_onnx::pb`): a decoder, not the tract engine.

use crate::budget::Budget;
use crate::package::{Manifest, ModelPackage};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use tract_onnx::pb;
use tract_onnx::prelude::Framework;

/// Why a model cannot be loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Package(#[from] crate::package::PackageError),
    #[error("{path}: not a readable ONNX model: {message}")]
    NotOnnx { path: PathBuf, message: String },
    #[error("{path}: unsupported operator {op} (node {node:?}){hint}")]
    UnsupportedOp {
        path: PathBuf,
        op: String,
        node: String,
        hint: String,
    },
    #[error("{path}: {message}")]
    Graph { path: PathBuf, message: String },
    #[error("{path}: tract cannot {stage} this model: {message}")]
    Tract {
        path: PathBuf,
        stage: &'static str,
        message: String,
    },
    #[error("{path}: manifest [tract] knobs: {message}")]
    Knobs { path: PathBuf, message: String },
    #[error("{path}: smoke test failed: {message}")]
    SmokeTest { path: PathBuf, message: String },
    /// The onnxruntime library could not be found or used (the message
    /// says where it looked), or it refused this model.
    #[error("{path}: onnxruntime: {message}")]
    Onnxruntime { path: PathBuf, message: String },
    /// A tensor (or the constants together) would take more memory than
    /// the budget allows (`crate::budget`): refused before any is allocated.
    #[error(
        "{path}: tensor {tensor:?} needs {size}, over the memory budget of {budget_mb} MB per model (max_model_mb)"
    )]
    TooBig {
        path: PathBuf,
        tensor: String,
        size: String,
        budget_mb: u64,
    },
    /// The engine panicked on this model (a bug or a hostile graph): the
    /// model is refused, the worker and the other models carry on.
    #[error("{path}: the engine crashed on this model ({message}); it is refused")]
    Crashed { path: PathBuf, message: String },
    /// The load showed no progress past the supervisor's limit: the worker
    /// was replaced (see `Engine::replace_stuck`) and the model refused.
    #[error("{path}: {message}")]
    Stalled { path: PathBuf, message: String },
}

/// A package read and checked for every engine: its bytes (sha256 as the
/// manifest says) and their protobuf.
pub struct Checked {
    pub path: PathBuf,
    /// The budget it was checked against, for what an engine sizes later.
    pub budget: Budget,
    pub bytes: Vec<u8>,
    pub proto: pb::ModelProto,
}

/// Reads `package`'s ONNX file and runs the checks every engine needs,
/// the memory `budget` among them.
pub fn read_checked(package: &ModelPackage, budget: &Budget) -> Result<Checked, LoadError> {
    let path = package.onnx_path();
    let bytes = package.read_onnx()?;
    let proto = decode(&path, &bytes)?;
    crate::budget::check_proto(&path, &proto, budget)?;
    check_manifest(&path, &proto, &package.manifest)?;
    Ok(Checked {
        path,
        budget: *budget,
        bytes,
        proto,
    })
}

/// Decodes ONNX bytes into a protobuf, without following any reference
/// to other files.
pub fn decode(path: &Path, bytes: &[u8]) -> Result<pb::ModelProto, LoadError> {
    let not_onnx = |message: String| LoadError::NotOnnx {
        path: path.into(),
        message,
    };
    let proto = tract_onnx::onnx()
        .proto_model_for_read(&mut &bytes[..])
        .map_err(|e| not_onnx(format!("{e:#}")))?;
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| not_onnx("it has no graph".into()))?;
    if graph.node.is_empty() {
        return Err(not_onnx("its graph has no nodes".into()));
    }
    if proto.opset_import.is_empty() {
        return Err(not_onnx("it declares no opset".into()));
    }
    if let Some(name) = external_tensor(graph) {
        return Err(LoadError::Graph {
            path: path.into(),
            message: format!(
                "tensor {name:?} refers to external data; a package must be one self-contained ONNX file"
            ),
        });
    }
    Ok(proto)
}

/// The ONNX default-domain opset the model was exported with.
pub fn opset(proto: &pb::ModelProto) -> i64 {
    proto
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map_or(0, |o| o.version)
}

/// Every graph in the model, subgraphs of control-flow nodes included.
pub fn graphs(graph: &pb::GraphProto) -> Vec<&pb::GraphProto> {
    let mut out = vec![graph];
    for node in &graph.node {
        for attr in &node.attribute {
            for g in attr.g.iter().chain(&attr.graphs) {
                out.extend(graphs(g));
            }
        }
    }
    out
}

fn external_tensor(graph: &pb::GraphProto) -> Option<String> {
    const EXTERNAL: i32 = 1;
    for g in graphs(graph) {
        let attr_tensors = g
            .node
            .iter()
            .flat_map(|n| &n.attribute)
            .flat_map(|a| a.t.iter().chain(&a.tensors));
        for t in g.initializer.iter().chain(attr_tensors) {
            if t.data_location == Some(EXTERNAL) || !t.external_data.is_empty() {
                return Some(t.name.clone());
            }
        }
    }
    None
}

/// The names of the graph's real inputs (initializers listed as inputs by
/// old exporters are weights, not inputs).
pub fn graph_inputs(graph: &pb::GraphProto) -> Vec<String> {
    let weights: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    graph
        .input
        .iter()
        .map(|i| i.name.clone())
        .filter(|n| !weights.contains(n.as_str()))
        .collect()
}

/// The dimensions a graph input declares: `Some(n)` fixed, `None` symbolic.
fn declared_shape(input: &pb::ValueInfoProto) -> Option<Vec<Option<usize>>> {
    use pb::tensor_shape_proto::dimension::Value;
    let pb::type_proto::Value::TensorType(t) = input.r#type.as_ref()?.value.as_ref()?;
    let dims = &t.shape.as_ref()?.dim;
    Some(
        dims.iter()
            .map(|d| match d.value {
                Some(Value::DimValue(n)) if n > 0 => Some(n as usize),
                _ => None,
            })
            .collect(),
    )
}

/// Checks the graph against the manifest: the manifest's inputs exist
/// and are the only ones, the main input's declared shape fits the
/// manifest's, the output exists.
pub fn check_manifest(
    path: &Path,
    proto: &pb::ModelProto,
    manifest: &Manifest,
) -> Result<(), LoadError> {
    let graph = proto.graph.as_ref().expect("decode checked the graph");
    let inputs = graph_inputs(graph);
    let outputs: Vec<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    let graph_err = |message: String| LoadError::Graph {
        path: path.into(),
        message,
    };
    let mut expected = vec![manifest.input.name.as_str()];
    if let Some(cppn) = &manifest.cppn {
        expected.push(&cppn.coords);
    }
    for name in &expected {
        if !inputs.iter().any(|i| i == name) {
            return Err(graph_err(format!(
                "manifest input {name:?} is not an input of the graph (inputs: {inputs:?})"
            )));
        }
    }
    if let Some(extra) = inputs.iter().find(|i| !expected.contains(&i.as_str())) {
        return Err(graph_err(format!(
            "the graph takes input {extra:?}, which the manifest does not describe"
        )));
    }
    let declared = graph
        .input
        .iter()
        .find(|i| i.name == manifest.input.name)
        .and_then(declared_shape);
    if let Some(declared) = declared {
        let fits = declared.len() == manifest.input.shape.len()
            && declared
                .iter()
                .zip(&manifest.input.shape)
                .all(|(d, m)| d.is_none_or(|d| d == *m));
        if !fits {
            let shown: Vec<String> = declared
                .iter()
                .map(|d| d.map_or("?".into(), |d| d.to_string()))
                .collect();
            return Err(graph_err(format!(
                "manifest input.shape {:?} but the graph declares input {:?} as [{}]",
                manifest.input.shape,
                manifest.input.name,
                shown.join(", ")
            )));
        }
    }
    if !outputs.contains(&manifest.output.name.as_str()) {
        return Err(graph_err(format!(
            "manifest output {:?} is not an output of the graph (outputs: {outputs:?})",
            manifest.output.name
        )));
    }
    Ok(())
}
