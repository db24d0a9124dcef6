//! A small builder for ONNX graphs on tract's prost types, enough to write
//! easel's reference generators: float weights, int64 constants, nodes
//! with int/float/string attributes, fixed-shape inputs and outputs.
//!
//! Encoding is deterministic (prost writes fields in tag order, we add
//! everything in program order), so a model is reproducible byte for byte.

use easel_engine::seed::Latent;
use prost::Message;
use tract_onnx::pb;

/// The opset every reference model is exported at.
pub const OPSET: i64 = 17;

pub struct GraphBuilder {
    graph: pb::GraphProto,
    next: usize,
    /// The stream weights are drawn from: every `normal` call continues it.
    weight_seed: u64,
}

/// A node attribute.
pub enum Attr {
    Ints(Vec<i64>),
    Float(f32),
    Str(&'static str),
}

/// A tensor type; a `0` in `shape` marks a dimension left free at run
/// time (named `height`/`width` in positions 2 and 3).
fn tensor_type(shape: &[usize]) -> pb::TypeProto {
    use pb::tensor_shape_proto::dimension::Value;
    let dim = shape
        .iter()
        .enumerate()
        .map(|(i, &d)| pb::tensor_shape_proto::Dimension {
            value: Some(match (d, i) {
                (0, 2) => Value::DimParam("height".into()),
                (0, 3) => Value::DimParam("width".into()),
                (0, _) => Value::DimParam(format!("dim{i}")),
                (d, _) => Value::DimValue(d as i64),
            }),
            ..Default::default()
        })
        .collect();
    pb::TypeProto {
        value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
            elem_type: pb::tensor_proto::DataType::Float as i32,
            shape: Some(pb::TensorShapeProto { dim }),
        })),
        ..Default::default()
    }
}

impl GraphBuilder {
    pub fn new(name: &str, weight_seed: u64) -> GraphBuilder {
        GraphBuilder {
            graph: pb::GraphProto {
                name: name.into(),
                ..Default::default()
            },
            next: 0,
            weight_seed,
        }
    }

    pub fn input(&mut self, name: &str, shape: &[usize]) -> String {
        self.graph.input.push(pb::ValueInfoProto {
            name: name.into(),
            r#type: Some(tensor_type(shape)),
            ..Default::default()
        });
        name.into()
    }

    /// Names `value` (a node output) as the graph output `name`.
    pub fn output(&mut self, value: &str, name: &str, shape: &[usize]) {
        self.node("Identity", &[value], vec![], Some(name));
        self.graph.output.push(pb::ValueInfoProto {
            name: name.into(),
            r#type: Some(tensor_type(shape)),
            ..Default::default()
        });
    }

    fn fresh(&mut self, stem: &str) -> String {
        self.next += 1;
        format!("{stem}_{}", self.next)
    }

    /// A float initializer with the given values.
    pub fn weight(&mut self, stem: &str, dims: &[usize], values: Vec<f32>) -> String {
        assert_eq!(
            dims.iter().product::<usize>(),
            values.len(),
            "{stem}: dims vs values"
        );
        let name = self.fresh(stem);
        self.graph.initializer.push(pb::TensorProto {
            name: name.clone(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: pb::tensor_proto::DataType::Float as i32,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name
    }

    /// An int64 initializer (shapes, pads, axes).
    pub fn int64s(&mut self, stem: &str, values: &[i64]) -> String {
        let name = self.fresh(stem);
        self.graph.initializer.push(pb::TensorProto {
            name: name.clone(),
            dims: vec![values.len() as i64],
            data_type: pb::tensor_proto::DataType::Int64 as i32,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name
    }

    /// `len` values drawn from N(mean, std²), continuing the weight stream.
    pub fn normal(&mut self, len: usize, mean: f32, std: f32) -> Vec<f32> {
        self.weight_seed = self.weight_seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        Latent::from_seed(self.weight_seed, len)
            .values
            .into_iter()
            .map(|v| mean + std * v)
            .collect()
    }

    /// A weight of `dims` drawn from N(mean, std²).
    pub fn random_weight(&mut self, stem: &str, dims: &[usize], mean: f32, std: f32) -> String {
        let values = self.normal(dims.iter().product(), mean, std);
        self.weight(stem, dims, values)
    }

    /// Adds a node; returns the name of its (single) output.
    pub fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        attrs: Vec<(&str, Attr)>,
        output: Option<&str>,
    ) -> String {
        let out = output.map_or_else(|| self.fresh(&op.to_ascii_lowercase()), str::to_string);
        let attribute = attrs
            .into_iter()
            .map(|(name, attr)| {
                use pb::attribute_proto::AttributeType as T;
                let mut a = pb::AttributeProto {
                    name: name.into(),
                    ..Default::default()
                };
                match attr {
                    Attr::Ints(v) => (a.r#type, a.ints) = (T::Ints as i32, v),
                    Attr::Float(f) => (a.r#type, a.f) = (T::Float as i32, f),
                    Attr::Str(s) => (a.r#type, a.s) = (T::String as i32, s.as_bytes().to_vec()),
                }
                a
            })
            .collect();
        let name = format!("{op}_{}", self.next);
        self.graph.node.push(pb::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            name,
            op_type: op.into(),
            attribute,
            ..Default::default()
        });
        out
    }

    /// Shorthand for a node without attributes.
    pub fn op(&mut self, op: &str, inputs: &[&str]) -> String {
        self.node(op, inputs, vec![], None)
    }

    /// The encoded model.
    pub fn finish(self, doc: &str) -> Vec<u8> {
        let model = pb::ModelProto {
            ir_version: 8,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            producer_name: "easel".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            doc_string: doc.into(),
            graph: Some(self.graph),
            ..Default::default()
        };
        model.encode_to_vec()
    }
}
