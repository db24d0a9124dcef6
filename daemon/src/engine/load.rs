//! Reading an ONNX graph safely and checking it against its manifest
//! before tract sees it: a model from a stranger must fail with a sentence
//! that names the problem, never with a panic or a read outside its file.
//!
//! Checks: the bytes decode as an ONNX protobuf with a graph; no tensor
//! points at external data (it could name any file on the board); every
//! operator is one tract implements (named with its node); the manifest's
//! input and output names exist; the graph takes no input the manifest
//! does not describe. Then the inference model is built with every input
//! shape fixed, ready for `into_optimized`.

use crate::package::{Manifest, ModelKind};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use tract_onnx::pb;
use tract_onnx::prelude::*;

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
    #[error("{path}: smoke test failed: {message}")]
    SmokeTest { path: PathBuf, message: String },
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
fn graphs(graph: &pb::GraphProto) -> Vec<&pb::GraphProto> {
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

/// `(op_type, node name)` of every node tract has no implementation for.
pub fn unsupported_ops(proto: &pb::ModelProto) -> Vec<(String, String)> {
    let onnx = tract_onnx::onnx();
    let Some(graph) = proto.graph.as_ref() else {
        return vec![];
    };
    graphs(graph)
        .into_iter()
        .flat_map(|g| &g.node)
        .filter(|n| !onnx.op_register.0.contains_key(&n.op_type))
        .map(|n| (n.op_type.clone(), n.name.clone()))
        .collect()
}

/// Advice for an operator tract lacks, when we know a way around it.
pub fn op_hint(op: &str) -> &'static str {
    match op {
        "Upsample" => {
            "; Upsample is deprecated since opset 10: export at opset >= 11 (torch.onnx.export(..., opset_version=17)) so it becomes Resize"
        }
        _ => "; export with a newer opset or replace the layer with supported operators",
    }
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

/// Checks the graph against the manifest: operators and names.
pub fn check(path: &Path, proto: &pb::ModelProto, manifest: &Manifest) -> Result<(), LoadError> {
    if let Some((op, node)) = unsupported_ops(proto).into_iter().next() {
        let hint = op_hint(&op).to_string();
        return Err(LoadError::UnsupportedOp {
            path: path.into(),
            op,
            node,
            hint,
        });
    }
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

/// The tract inference model with every input fixed to a concrete shape:
/// the manifest's input shape, and for CPPNs the `[1, 3, h, w]` grid.
pub fn fixed_model(
    path: &Path,
    proto: &pb::ModelProto,
    manifest: &Manifest,
    size: Option<(usize, usize)>,
) -> Result<InferenceModel, LoadError> {
    let tract_err = |stage, e: TractError| LoadError::Tract {
        path: path.into(),
        stage,
        message: format!("{e:#}"),
    };
    let mut model = tract_onnx::onnx()
        .model_for_proto_model(proto)
        .map_err(|e| tract_err("read", e))?;
    let mut shapes = vec![(manifest.input.name.clone(), manifest.input.shape.clone())];
    if let (ModelKind::Cppn, Some(cppn), Some((w, h))) = (manifest.kind, &manifest.cppn, size) {
        shapes.push((cppn.coords.clone(), vec![1, 3, h, w]));
    }
    let input_names: Vec<String> = model
        .input_outlets()
        .map_err(|e| tract_err("read", e))?
        .iter()
        .map(|o| model.node(o.node).name.clone())
        .collect();
    for (ix, name) in input_names.iter().enumerate() {
        let (_, shape) =
            shapes
                .iter()
                .find(|(n, _)| n == name)
                .ok_or_else(|| LoadError::Graph {
                    path: path.into(),
                    message: format!("graph input {name:?} has no shape"),
                })?;
        model
            .set_input_fact(
                ix,
                InferenceFact::dt_shape(f32::datum_type(), shape.as_slice()),
            )
            .map_err(|e| tract_err("shape", e))?;
    }
    model
        .select_outputs_by_name([manifest.output.name.as_str()])
        .map_err(|e| tract_err("read", e))?;
    Ok(model)
}
