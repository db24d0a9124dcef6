//! How much memory one model may ask for, checked before any engine
//! allocates a byte of it.
//!
//! An ONNX file of a few hundred bytes can declare tensors of terabytes:
//! an initializer whose `dims` promise more than its data, a
//! `ConstantOfShape` or `Expand` to 4e13 elements, a `Tile` or `Reshape`
//! with giant constant repeats. tract folds such constants while it types
//! the graph, so by the time it could say no, it is already allocating
//! (and panics, or takes seconds and gigabytes). So the protobuf is read
//! here first ([`check_proto`]): every initializer and `Constant`, and the
//! outputs of the operators whose size a constant decides, are sized from
//! their declarations alone, and a model over the budget is refused naming
//! the tensor. What only fixed input shapes reveal (an intermediate tensor
//! of a graph that passed) is checked on tract's typed model
//! ([`check_facts`]) before it is optimized, planned or run.
//!
//! Pure: a protobuf or tensor facts in, a verdict out. No IO, no engine.

use crate::load::LoadError;
use std::collections::HashMap;
use std::path::Path;
use tract_onnx::pb;

/// The default budget: sized for a 4 GB board, which also runs the OS,
/// the kiosk browser and the daemon itself. The reference models need a
/// few MB; a 256² style network at f32 well under 100 MB.
pub const DEFAULT_MAX_MODEL_MB: u64 = 1024;

const MB: u64 = 1024 * 1024;

/// The most bytes one model's tensors may take: any single tensor, and all
/// constants together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub max_bytes: u64,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget::mb(DEFAULT_MAX_MODEL_MB)
    }
}

impl Budget {
    pub fn mb(mb: u64) -> Budget {
        Budget {
            max_bytes: mb.saturating_mul(MB),
        }
    }

    fn refuse(&self, path: &Path, tensor: &str, bytes: Option<u64>) -> LoadError {
        LoadError::TooBig {
            path: path.into(),
            tensor: tensor.into(),
            size: match bytes {
                Some(b) => format!("{} MB", b.div_ceil(MB)),
                None => "more bytes than a machine has".into(),
            },
            budget_mb: self.max_bytes / MB,
        }
    }

    fn fits(&self, path: &Path, tensor: &str, bytes: Option<u64>) -> Result<(), LoadError> {
        match bytes {
            Some(b) if b <= self.max_bytes => Ok(()),
            other => Err(self.refuse(path, tensor, other)),
        }
    }
}

/// Bytes per element of an ONNX data type (`None`: strings, unknown).
fn elem_size(data_type: i32) -> u64 {
    use pb::tensor_proto::DataType as T;
    match T::try_from(data_type).unwrap_or(T::Undefined) {
        T::Double | T::Int64 | T::Uint64 | T::Complex64 => 8,
        T::Complex128 => 16,
        T::Float | T::Int32 | T::Uint32 => 4,
        T::Float16 | T::Bfloat16 | T::Int16 | T::Uint16 => 2,
        // Strings and unknown types: count at least one byte each.
        _ => 1,
    }
}

/// The element count of `dims`, `None` when negative or overflowing.
fn volume(dims: impl IntoIterator<Item = i64>) -> Option<u64> {
    dims.into_iter().try_fold(1u64, |acc, d| {
        u64::try_from(d).ok().and_then(|d| acc.checked_mul(d))
    })
}

fn bytes_of(dims: impl IntoIterator<Item = i64>, elem: u64) -> Option<u64> {
    volume(dims).and_then(|v| v.checked_mul(elem))
}

/// The int64 values of a small constant tensor (a shape, repeats), when
/// its data is in the file.
fn int64s(t: &pb::TensorProto) -> Option<Vec<i64>> {
    use pb::tensor_proto::DataType as T;
    if t.data_type != T::Int64 as i32 {
        return None;
    }
    if !t.int64_data.is_empty() {
        return Some(t.int64_data.clone());
    }
    t.raw_data.len().is_multiple_of(8).then(|| {
        t.raw_data
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect()
    })
}

fn tensor_name<'a>(t: &'a pb::TensorProto, fallback: &'a str) -> &'a str {
    if t.name.is_empty() { fallback } else { &t.name }
}

/// Checks every size the protobuf alone decides: initializers and
/// `Constant` values (each, and all together), and the outputs of
/// `ConstantOfShape`, `Expand`, `Tile` and `Reshape` whose shape input is a
/// constant. Subgraphs included.
pub fn check_proto(path: &Path, proto: &pb::ModelProto, budget: &Budget) -> Result<(), LoadError> {
    let Some(graph) = proto.graph.as_ref() else {
        return Ok(());
    };
    let mut total: u64 = 0;
    let mut add = |name: &str, bytes: Option<u64>| -> Result<(), LoadError> {
        budget.fits(path, name, bytes)?;
        total = total.saturating_add(bytes.unwrap_or(u64::MAX));
        budget.fits(
            path,
            &format!("{name} (with the constants before it)"),
            Some(total),
        )
    };
    for g in crate::load::graphs(graph) {
        // Constant int64 tensors by name: the shapes other nodes read.
        let mut ints: HashMap<&str, Vec<i64>> = HashMap::new();
        for t in &g.initializer {
            add(
                tensor_name(t, "an unnamed initializer"),
                bytes_of(t.dims.iter().copied(), elem_size(t.data_type)),
            )?;
            if let Some(v) = int64s(t) {
                ints.insert(&t.name, v);
            }
        }
        for n in &g.node {
            let out = n.output.first().map_or(n.name.as_str(), String::as_str);
            if n.op_type == "Constant" {
                for a in &n.attribute {
                    if let Some(t) = &a.t {
                        add(
                            out,
                            bytes_of(t.dims.iter().copied(), elem_size(t.data_type)),
                        )?;
                        if let (Some(v), Some(o)) = (int64s(t), n.output.first()) {
                            ints.insert(o, v);
                        }
                    }
                }
                continue;
            }
            let shape_input = match n.op_type.as_str() {
                "ConstantOfShape" => n.input.first(),
                "Expand" | "Tile" | "Reshape" => n.input.get(1),
                _ => None,
            };
            let Some(shape) = shape_input.and_then(|i| ints.get(i.as_str())) else {
                continue;
            };
            let elem = match n.op_type.as_str() {
                // The fill value's type; float when absent.
                "ConstantOfShape" => n
                    .attribute
                    .iter()
                    .find(|a| a.name == "value")
                    .and_then(|a| a.t.as_ref())
                    .map_or(4, |t| elem_size(t.data_type)),
                // The data's type is not known here: f32, the common case.
                _ => 4,
            };
            // Reshape's 0 and -1 take their size from the input, which is
            // at least one element: a lower bound is enough to refuse.
            let dims = shape.iter().map(|&d| if d <= 0 { 1 } else { d });
            budget.fits(
                path,
                &format!("{out} ({} {:?})", n.op_type, n.name),
                bytes_of(dims, elem),
            )?;
        }
    }
    Ok(())
}

/// One tensor of a typed graph: its name, whether it is a constant, and
/// its bytes (`None` when its shape is not concrete yet or overflows).
pub struct Fact {
    pub name: String,
    pub constant: bool,
    pub bytes: Option<u64>,
}

/// Checks the tensors of a graph whose shapes are fixed: each concrete
/// one fits, and all constants together fit. Tensors whose shape is not
/// concrete are left to run time.
pub fn check_facts(
    path: &Path,
    facts: impl IntoIterator<Item = Fact>,
    budget: &Budget,
) -> Result<(), LoadError> {
    let mut constants: u64 = 0;
    for fact in facts {
        if let Some(bytes) = fact.bytes {
            budget.fits(path, &fact.name, Some(bytes))?;
            if fact.constant {
                constants = constants.saturating_add(bytes);
                let name = format!("{} (with the constants before it)", fact.name);
                budget.fits(path, &name, Some(constants))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape_tensor(name: &str, values: &[i64]) -> pb::TensorProto {
        pb::TensorProto {
            name: name.into(),
            dims: vec![values.len() as i64],
            data_type: pb::tensor_proto::DataType::Int64 as i32,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        }
    }

    fn node(op: &str, inputs: &[&str], output: &str) -> pb::NodeProto {
        pb::NodeProto {
            op_type: op.into(),
            name: format!("{op}_node"),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            ..Default::default()
        }
    }

    fn proto(nodes: Vec<pb::NodeProto>, inits: Vec<pb::TensorProto>) -> pb::ModelProto {
        pb::ModelProto {
            graph: Some(pb::GraphProto {
                node: nodes,
                initializer: inits,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn verdict(p: &pb::ModelProto) -> Result<(), String> {
        check_proto(Path::new("m.onnx"), p, &Budget::mb(64)).map_err(|e| e.to_string())
    }

    #[test]
    fn shapes_from_constants_are_sized_before_anything_runs() {
        for op in ["ConstantOfShape", "Expand", "Tile", "Reshape"] {
            let inputs: &[&str] = if op == "ConstantOfShape" {
                &["s"]
            } else {
                &["x", "s"]
            };
            let huge = proto(
                vec![node(op, inputs, "big")],
                vec![shape_tensor("s", &[1, 3, 4_000_000, 3_333_333])],
            );
            let e = verdict(&huge).unwrap_err();
            assert!(
                e.contains("\"big (") && e.contains(op) && e.contains("64 MB"),
                "{e}"
            );
            let small = proto(
                vec![node(op, inputs, "y")],
                vec![shape_tensor("s", &[1, 3, 8, 8])],
            );
            assert_eq!(verdict(&small), Ok(()), "{op}");
        }
    }

    #[test]
    fn an_initializer_is_sized_by_its_dims_not_its_data() {
        let lying = pb::TensorProto {
            name: "w".into(),
            dims: vec![1 << 20, 1 << 10],
            data_type: pb::tensor_proto::DataType::Float as i32,
            ..Default::default()
        };
        let e = verdict(&proto(vec![], vec![lying])).unwrap_err();
        assert!(e.contains("\"w\"") && e.contains("4096 MB"), "{e}");
        let overflow = shape_tensor("o", &[]);
        let overflow = pb::TensorProto {
            dims: vec![i64::MAX, i64::MAX],
            ..overflow
        };
        assert!(verdict(&proto(vec![], vec![overflow])).is_err());
    }

    #[test]
    fn constants_add_up() {
        let forty = |name: &str| pb::TensorProto {
            name: name.into(),
            dims: vec![10 << 20],
            data_type: pb::tensor_proto::DataType::Float as i32,
            ..Default::default()
        };
        assert_eq!(verdict(&proto(vec![], vec![forty("a")])), Ok(()));
        let e = verdict(&proto(vec![], vec![forty("a"), forty("b")])).unwrap_err();
        assert!(e.contains("\"b (with the constants before it)\""), "{e}");
    }

    #[test]
    fn typed_facts_refuse_the_first_tensor_over() {
        let fact = |name: &str, mb: u64, constant| Fact {
            name: name.into(),
            constant,
            bytes: Some(mb * MB),
        };
        let p = Path::new("m.onnx");
        let b = Budget::mb(64);
        assert!(check_facts(p, [fact("a", 10, false), fact("b", 60, false)], &b).is_ok());
        let e = check_facts(p, [fact("a", 10, false), fact("huge", 65, false)], &b).unwrap_err();
        assert!(e.to_string().contains("\"huge\""));
        assert!(check_facts(p, [fact("c1", 40, true), fact("c2", 40, true)], &b).is_err());
    }
}
