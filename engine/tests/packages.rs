//! Bad model packages, as an artist or a stranger might hand them to an
//! installation: each must be refused with a sentence that names the file
//! and the problem, never a panic, and must leave the engine able to load
//! and run a good model afterwards. Also: the provenance in the PNG files
//! the engine's pictures become.
//!
//! Broken packages are made here from the real reference packages (copied
//! and damaged) or from tiny ONNX graphs built with tract's protobuf types.

mod reference;

use easel_engine::package::{
    InputSpec, Layout, MANIFEST, Manifest, ModelKind, ModelPackage, OutputSpec, PackageError,
    sha256_hex,
};
use easel_engine::picture::{
    DIGITAL_SOURCE_TYPE, Provenance, RgbImage, encode_png, read_png_text, software,
};
use easel_engine::{Engine, LoadError, Model, RenderRequest, Source, Urgency};
use prost::Message;
use reference::model_dir;
use std::collections::HashMap;
use std::path::Path;
use tempfile::TempDir;
use tract_onnx::pb;
use tract_onnx::tract_core::runtime::RunOptions;

/// A copy of a reference package in a temporary folder, to damage.
fn copy_of(name: &str) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(model_dir(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

fn edit_manifest(dir: &Path, edit: impl FnOnce(String) -> String) {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(text)).unwrap();
}

/// Opens and loads a package the way the daemon does; the error as text.
fn load_error(dir: &Path) -> String {
    let package = match ModelPackage::open(dir) {
        Ok(package) => package,
        Err(e) => return e.to_string(),
    };
    match Model::load(&package, &RunOptions::default()) {
        Ok(_) => panic!("{}: a bad package loaded", dir.display()),
        Err(e) => e.to_string(),
    }
}

fn assert_mentions(message: &str, wanted: &[&str]) {
    for w in wanted {
        assert!(
            message.contains(w),
            "error {message:?} does not mention {w:?}"
        );
    }
}

// --- tiny ONNX graphs --------------------------------------------------------

fn value_info(name: &str, shape: &[i64]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value};
    let dim = shape
        .iter()
        .map(|&d| Dimension {
            value: Some(Value::DimValue(d)),
            ..Default::default()
        })
        .collect();
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn floats(name: &str, dims: &[i64], values: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: pb::tensor_proto::DataType::Float as i32,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn node(op: &str, name: &str, inputs: &[&str], output: &str) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        ..Default::default()
    }
}

fn model(opset: i64, graph: pb::GraphProto) -> Vec<u8> {
    pb::ModelProto {
        ir_version: if opset < 11 { 4 } else { 8 },
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: opset,
        }],
        producer_name: "easel tests".into(),
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

/// `z [1, 3, 1, 1] -> Add(bias) -> Sigmoid -> image`: a 1x1 latent model.
fn tiny_graph() -> pb::GraphProto {
    pb::GraphProto {
        name: "tiny".into(),
        node: vec![
            node("Add", "add_bias", &["z", "bias"], "sum"),
            node("Sigmoid", "squash", &["sum"], "image"),
        ],
        initializer: vec![floats("bias", &[1, 3, 1, 1], &[0.5, -0.5, 0.0])],
        input: vec![value_info("z", &[1, 3, 1, 1])],
        output: vec![value_info("image", &[1, 3, 1, 1])],
        ..Default::default()
    }
}

fn tiny_manifest(onnx: &[u8]) -> Manifest {
    Manifest {
        name: "tiny".into(),
        kind: ModelKind::Latent,
        file: "model.onnx".into(),
        sha256: sha256_hex(onnx),
        license: "MIT".into(),
        description: "test model".into(),
        input: InputSpec {
            name: "z".into(),
            shape: vec![1, 3, 1, 1],
            range: None,
            fit: Default::default(),
        },
        output: OutputSpec {
            name: "image".into(),
            layout: Layout::Nchw,
            range: [0.0, 1.0],
        },
        cppn: None,
        variant: None,
        tract: None,
        engine: None,
    }
}

/// Writes a package folder holding `onnx` under `manifest`.
fn package_dir(onnx: &[u8], manifest: &Manifest) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(&manifest.file), onnx).unwrap();
    std::fs::write(dir.path().join(MANIFEST), manifest.to_toml()).unwrap();
    dir
}

// --- the control: the tiny model is good -------------------------------------

#[test]
fn tiny_hand_made_model_loads_and_runs() {
    // The bad packages below differ from this one by one defect each, so
    // their errors come from that defect and not from the test's builder.
    let onnx = model(17, tiny_graph());
    let dir = package_dir(&onnx, &tiny_manifest(&onnx));
    let package = ModelPackage::open(dir.path()).unwrap();
    let mut model = Model::load(&package, &RunOptions::default()).unwrap();
    let (values, shape) = model
        .infer(
            &Source::Latent(easel_engine::seed::Latent {
                values: vec![0.0; 3],
            }),
            None,
        )
        .unwrap();
    assert_eq!(shape, vec![1, 3, 1, 1]);
    let want = [0.5f32, -0.5, 0.0].map(|b| 1.0 / (1.0 + (-b).exp()));
    for (got, want) in values.iter().zip(want) {
        assert!((got - want).abs() < 1e-6, "{values:?}");
    }
}

// --- damaged reference packages ---------------------------------------------

#[test]
fn wrong_sha256_is_refused() {
    let dir = copy_of("cppn-aurora");
    let actual = sha256_hex(&std::fs::read(dir.path().join("model.onnx")).unwrap());
    let wrong = "0".repeat(64);
    edit_manifest(dir.path(), |t| t.replace(&actual, &wrong));
    let package = ModelPackage::open(dir.path()).unwrap();
    let err = package.read_onnx().unwrap_err();
    assert!(matches!(err, PackageError::Checksum { .. }), "{err:?}");
    let message = load_error(dir.path());
    assert_mentions(
        &message,
        &[
            "model.onnx",
            "sha256 mismatch",
            &wrong,
            &actual,
            "refusing to load",
        ],
    );
}

#[test]
fn modified_onnx_with_the_old_sha256_is_refused() {
    // The other way round: the manifest is intact, the file was changed.
    let dir = copy_of("cppn-aurora");
    let path = dir.path().join("model.onnx");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    assert_mentions(&load_error(dir.path()), &["model.onnx", "sha256 mismatch"]);
}

#[test]
fn missing_onnx_file_is_named() {
    let dir = copy_of("cppn-aurora");
    std::fs::remove_file(dir.path().join("model.onnx")).unwrap();
    let message = load_error(dir.path());
    assert_mentions(&message, &["model.onnx", "cannot read"]);
}

#[test]
fn missing_manifest_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let message = load_error(dir.path());
    assert_mentions(&message, &[MANIFEST, "cannot read"]);
}

#[test]
fn unknown_manifest_key_is_an_error_with_its_line() {
    let dir = copy_of("dcgan-64");
    edit_manifest(dir.path(), |t| t.replace("license = ", "licence = "));
    let message = load_error(dir.path());
    let line = std::fs::read_to_string(dir.path().join(MANIFEST))
        .unwrap()
        .lines()
        .position(|l| l.starts_with("licence"))
        .unwrap()
        + 1;
    assert_mentions(&message, &[MANIFEST, "licence", &format!("line {line}")]);
}

#[test]
fn unknown_key_in_a_manifest_table_is_an_error() {
    let dir = copy_of("dcgan-64");
    edit_manifest(dir.path(), |t| {
        t.replace("[output]\n", "[output]\nlayuot = \"nhwc\"\n")
    });
    assert_mentions(&load_error(dir.path()), &[MANIFEST, "layuot"]);
}

#[test]
fn garbage_bytes_as_onnx_are_not_onnx() {
    // Bytes that are no protobuf at all: a field tag with wire type 7.
    let mut garbage = vec![0xffu8, 0xff, 0xff, 0xff, 0x0f];
    garbage.extend((0u32..4096).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let manifest = tiny_manifest(&garbage);
    let dir = package_dir(&garbage, &manifest);
    assert_mentions(
        &load_error(dir.path()),
        &["model.onnx", "not a readable ONNX model"],
    );
}

#[test]
fn a_text_file_as_onnx_is_not_onnx() {
    let text = b"This is not a model, it is a README someone renamed.\n".repeat(20);
    let dir = package_dir(&text, &tiny_manifest(&text));
    assert_mentions(
        &load_error(dir.path()),
        &["model.onnx", "not a readable ONNX model"],
    );
}

#[test]
fn empty_onnx_file_has_no_graph() {
    // An empty protobuf decodes as an empty message: the graph check catches it.
    let dir = package_dir(b"", &tiny_manifest(b""));
    assert_mentions(
        &load_error(dir.path()),
        &["model.onnx", "not a readable ONNX model", "no graph"],
    );
}

#[test]
fn truncated_onnx_is_not_onnx() {
    let bytes = std::fs::read(model_dir("cppn-aurora").join("model.onnx")).unwrap();
    let half = &bytes[..bytes.len() / 2];
    let dir = package_dir(half, &tiny_manifest(half));
    assert_mentions(
        &load_error(dir.path()),
        &["model.onnx", "not a readable ONNX model"],
    );
}

// --- graphs the engine cannot or must not run --------------------------------

#[test]
fn upsample_at_opset_9_names_the_op_the_node_and_the_way_out() {
    let graph = pb::GraphProto {
        name: "old-export".into(),
        node: vec![node("Upsample", "decoder.up1", &["z", "scales"], "image")],
        initializer: vec![floats("scales", &[4], &[1.0, 1.0, 2.0, 2.0])],
        input: vec![value_info("z", &[1, 3, 1, 1])],
        output: vec![value_info("image", &[1, 3, 2, 2])],
        ..Default::default()
    };
    let onnx = model(9, graph);
    let dir = package_dir(&onnx, &tiny_manifest(&onnx));
    let package = ModelPackage::open(dir.path()).unwrap();
    let err = Model::load(&package, &RunOptions::default())
        .err()
        .expect("Upsample must be refused");
    match &err {
        LoadError::UnsupportedOp { op, node, .. } => {
            assert_eq!(op, "Upsample");
            assert_eq!(node, "decoder.up1");
        }
        other => panic!("expected UnsupportedOp, got {other:?}"),
    }
    assert_mentions(
        &err.to_string(),
        &[
            "model.onnx",
            "unsupported operator Upsample",
            "decoder.up1",
            "opset >= 11",
            "Resize",
        ],
    );
}

#[test]
fn unknown_op_gets_general_advice() {
    let mut graph = tiny_graph();
    graph.node[1] = node("FancyActivation", "head.act", &["sum"], "image");
    let onnx = model(17, graph);
    let dir = package_dir(&onnx, &tiny_manifest(&onnx));
    assert_mentions(
        &load_error(dir.path()),
        &[
            "unsupported operator FancyActivation",
            "head.act",
            "supported operators",
        ],
    );
}

#[test]
fn input_name_not_in_graph_lists_the_real_inputs() {
    let onnx = model(17, tiny_graph());
    let mut manifest = tiny_manifest(&onnx);
    manifest.input.name = "latent".into();
    let dir = package_dir(&onnx, &manifest);
    assert_mentions(
        &load_error(dir.path()),
        &[
            "model.onnx",
            "\"latent\"",
            "not an input of the graph",
            "\"z\"",
        ],
    );
}

#[test]
fn output_name_not_in_graph_lists_the_real_outputs() {
    let onnx = model(17, tiny_graph());
    let mut manifest = tiny_manifest(&onnx);
    manifest.output.name = "rgb".into();
    let dir = package_dir(&onnx, &manifest);
    assert_mentions(
        &load_error(dir.path()),
        &[
            "model.onnx",
            "\"rgb\"",
            "not an output of the graph",
            "\"image\"",
        ],
    );
}

#[test]
fn graph_input_the_manifest_does_not_describe_is_an_error() {
    let mut graph = tiny_graph();
    graph.input.push(value_info("mask", &[1, 3, 1, 1]));
    graph.node[0] = node("Add", "add_mask", &["z", "mask"], "sum");
    let onnx = model(17, graph);
    let dir = package_dir(&onnx, &tiny_manifest(&onnx));
    assert_mentions(
        &load_error(dir.path()),
        &["\"mask\"", "manifest does not describe"],
    );
}

#[test]
fn external_data_tensor_is_refused() {
    // The tensor points at a file beside the model (or anywhere on the
    // board): the engine must not follow it.
    let mut graph = tiny_graph();
    graph.initializer[0] = pb::TensorProto {
        name: "bias".into(),
        dims: vec![1, 3, 1, 1],
        data_type: pb::tensor_proto::DataType::Float as i32,
        data_location: Some(1),
        external_data: vec![
            pb::StringStringEntryProto {
                key: "location".into(),
                value: "../../../etc/passwd".into(),
            },
            pb::StringStringEntryProto {
                key: "length".into(),
                value: "12".into(),
            },
        ],
        ..Default::default()
    };
    let onnx = model(17, graph);
    let dir = package_dir(&onnx, &tiny_manifest(&onnx));
    assert_mentions(
        &load_error(dir.path()),
        &["model.onnx", "\"bias\"", "external data", "self-contained"],
    );
}

#[test]
fn shape_in_the_manifest_that_the_graph_cannot_take_is_an_error() {
    let onnx = model(17, tiny_graph());
    let mut manifest = tiny_manifest(&onnx);
    manifest.input.shape = vec![1, 5, 1, 1];
    let dir = package_dir(&onnx, &manifest);
    // Regression: this used to surface only at the smoke test as "Can not broadcast 5 against 3".
    assert_mentions(
        &load_error(dir.path()),
        &["model.onnx", "input.shape [1, 5, 1, 1]", "[1, 3, 1, 1]"],
    );
}

#[test]
fn bad_packages_leave_the_engine_working() {
    // The daemon loads through the worker thread: a refused package must
    // answer with its error and leave the worker alive for the next one.
    let engine = Engine::start(1, 4);
    let garbage = b"\xff\xff\xff\xff\x0fnot onnx".to_vec();
    let bad = package_dir(&garbage, &tiny_manifest(&garbage));
    let err = engine
        .load_blocking(ModelPackage::open(bad.path()).unwrap())
        .unwrap_err();
    assert_mentions(&err.to_string(), &["not a readable ONNX model"]);
    let upsample = {
        let mut graph = tiny_graph();
        graph.node[1] = node("Upsample", "up", &["sum", "bias"], "image");
        model(9, graph)
    };
    let bad = package_dir(&upsample, &tiny_manifest(&upsample));
    let err = engine
        .load_blocking(ModelPackage::open(bad.path()).unwrap())
        .unwrap_err();
    assert_mentions(&err.to_string(), &["Upsample"]);
    // A failed load of a name does not leave a half-loaded model behind.
    let request = |model: &str| RenderRequest {
        model: model.into(),
        source: Source::Seed(1),
        size: None,
        urgency: Urgency::Ordered,
    };
    assert_eq!(
        engine.render_blocking(request("tiny")).unwrap_err().code(),
        "unknown_model"
    );
    let info = engine
        .load_blocking(ModelPackage::open(model_dir("cppn-aurora")).unwrap())
        .unwrap();
    let rendered = engine
        .render_blocking(RenderRequest {
            size: Some((16, 8)),
            ..request(&info.name)
        })
        .unwrap();
    assert_eq!((rendered.image.width, rendered.image.height), (16, 8));
    engine.shutdown();
}

// --- provenance in the PNG ---------------------------------------------------

#[test]
fn png_from_the_engine_carries_parseable_provenance() {
    let engine = Engine::start(1, 4);
    let package = ModelPackage::open(model_dir("dcgan-64")).unwrap();
    let sha256 = package.manifest.sha256.clone();
    let info = engine.load_blocking(package).unwrap();
    let rendered = engine
        .render_blocking(RenderRequest {
            model: info.name.clone(),
            source: Source::Seed(42),
            size: None,
            urgency: Urgency::Ordered,
        })
        .unwrap();
    engine.shutdown();
    let params = serde_json::json!({"size": [64, 64], "mode": "still"});
    let bytes = encode_png(&rendered.image, &rendered.provenance(params.clone()));

    // Pixels survive, and the file is 8-bit RGB as the contract says.
    assert_eq!(RgbImage::decode_png(&bytes).unwrap(), rendered.image);
    let info_png = png::Decoder::new(std::io::Cursor::new(&bytes))
        .read_info()
        .unwrap()
        .info()
        .clone();
    assert_eq!(
        (info_png.color_type, info_png.bit_depth),
        (png::ColorType::Rgb, png::BitDepth::Eight)
    );

    let text: HashMap<String, String> = read_png_text(&bytes).unwrap().into_iter().collect();
    assert_eq!(text["Software"], software());
    assert!(text["Software"].starts_with("easel "));
    assert_eq!(text["easel:model"], "dcgan-64");
    assert_eq!(text["easel:model_sha256"], sha256);
    assert_eq!(text["easel:seed"].parse::<u64>().unwrap(), 42);
    let parsed: serde_json::Value = serde_json::from_str(&text["easel:params"]).unwrap();
    assert_eq!(parsed, params);

    let xmp = &text["XML:com.adobe.xmp"];
    assert!(xmp.starts_with("<?xpacket begin="), "{xmp}");
    assert!(xmp.trim_end().ends_with("<?xpacket end=\"r\"?>"), "{xmp}");
    let attr = format!("Iptc4xmpExt:DigitalSourceType=\"{DIGITAL_SOURCE_TYPE}\"");
    assert!(xmp.contains(&attr), "{xmp}");
    assert!(
        xmp.contains("xmlns:Iptc4xmpExt=\"http://iptc.org/std/Iptc4xmpExt/2008-02-29/\""),
        "{xmp}"
    );
    assert!(xmp.contains("dcgan-64") && xmp.contains(&sha256), "{xmp}");
    // Every element that opens closes (a cheap well-formedness check).
    for tag in [
        "x:xmpmeta",
        "rdf:RDF",
        "rdf:Description",
        "dc:description",
        "rdf:Alt",
        "rdf:li",
    ] {
        assert_eq!(
            xmp.matches(&format!("<{tag}")).count(),
            xmp.matches(&format!("</{tag}>")).count(),
            "{tag}"
        );
    }
}

#[test]
fn png_of_an_image_model_has_no_seed_but_says_it_is_ai_generated() {
    let provenance = Provenance {
        model: "style-256".into(),
        model_sha256: "ab".repeat(32),
        seed: None,
        params: serde_json::json!({"source": "test://pattern"}),
    };
    let bytes = encode_png(&RgbImage::new(2, 2, vec![7; 12]), &provenance);
    let text: HashMap<String, String> = read_png_text(&bytes).unwrap().into_iter().collect();
    assert_eq!(text["easel:seed"], "");
    assert!(text["XML:com.adobe.xmp"].contains(DIGITAL_SOURCE_TYPE));
}

// --- hostile graphs: memory bombs --------------------------------------------

fn int64s(name: &str, values: &[i64]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: vec![values.len() as i64],
        data_type: pb::tensor_proto::DataType::Int64 as i32,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// `z + op(shape)`: a file of a few hundred bytes whose `op`
/// (`ConstantOfShape` or `Expand`) makes a tensor of `shape`'s volume. The
/// output's shape is left undeclared, so nothing but the size can stop it.
fn bomb(op: &str, shape: &[i64]) -> Vec<u8> {
    let inputs: &[&str] = match op {
        "ConstantOfShape" => &["big_shape"],
        _ => &["z", "big_shape"],
    };
    let mut image = value_info("image", &[]);
    if let Some(pb::type_proto::Value::TensorType(t)) =
        image.r#type.as_mut().and_then(|t| t.value.as_mut())
    {
        t.shape = None;
    }
    let graph = pb::GraphProto {
        name: "bomb".into(),
        node: vec![
            node(op, "bomb", inputs, "big"),
            node("Add", "add", &["z", "big"], "image"),
        ],
        initializer: vec![int64s("big_shape", shape)],
        input: vec![value_info("z", &[1, 3, 1, 1])],
        output: vec![image],
        ..Default::default()
    };
    model(17, graph)
}

/// 4e13 elements: 160 TB of f32.
const HUGE: [i64; 4] = [1, 3, 4_000_000, 3_333_334];

/// Regression: a 300-byte `ConstantOfShape` to 4e13 elements panicked the
/// engine thread while tract allocated it; now it is refused, by name,
/// before tract sees it.
#[test]
fn constant_of_shape_to_4e13_elements_is_refused_naming_the_tensor() {
    let onnx = bomb("ConstantOfShape", &HUGE);
    assert!(onnx.len() < 400, "{} bytes", onnx.len());
    let dir = package_dir(&onnx, &tiny_manifest(&onnx));
    assert_mentions(
        &load_error(dir.path()),
        &[
            "model.onnx",
            "\"big (ConstantOfShape",
            "memory budget",
            "max_model_mb",
        ],
    );
}

/// Regression: `Expand` of the input to 4e13 elements, only allocated when
/// the model runs (the smoke test): refused at load, by name.
#[test]
fn expand_to_4e13_elements_is_refused_naming_the_tensor() {
    let onnx = bomb("Expand", &HUGE);
    let dir = package_dir(&onnx, &tiny_manifest(&onnx));
    assert_mentions(&load_error(dir.path()), &["\"big (Expand", "memory budget"]);
}

/// Regression: a 2 GB constant in a file of a few hundred bytes took 2 GB
/// of memory and 14 s of the engine; over the default budget it is
/// refused, and a budget above it lets the same check pass.
#[test]
fn a_2gb_constant_is_over_the_default_budget() {
    let onnx = bomb("ConstantOfShape", &[1, 2, 16384, 16384]);
    let dir = package_dir(&onnx, &tiny_manifest(&onnx));
    let message = load_error(dir.path());
    assert_mentions(
        &message,
        &["\"big (ConstantOfShape", "2048 MB", "budget of 1024 MB"],
    );
    let package = ModelPackage::open(dir.path()).unwrap();
    let small = easel_engine::load::read_checked(&package, &easel_engine::Budget::mb(1));
    assert!(matches!(small, Err(LoadError::TooBig { .. })));
    let roomy = easel_engine::load::read_checked(&package, &easel_engine::Budget::mb(4096));
    assert!(roomy.is_ok(), "the proto check alone passes under 4 GB");
}

/// Regression: a model that makes tract panic left the worker dead ("all
/// models loaded", then no picture ever again). With no budget to stop
/// it first, the panic is caught: that model is refused as crashed, and
/// the worker goes on loading and rendering the others.
#[test]
fn a_model_that_crashes_the_engine_is_refused_and_the_others_keep_serving() {
    let choice = easel_engine::EngineChoice {
        budget: easel_engine::Budget::mb(u64::MAX / (1 << 20)),
        ..Default::default()
    };
    let engine = Engine::start_with(1, 4, choice);
    let good = engine
        .load_blocking(ModelPackage::open(model_dir("cppn-aurora")).unwrap())
        .unwrap();
    let onnx = bomb("ConstantOfShape", &HUGE);
    let dir = package_dir(&onnx, &tiny_manifest(&onnx));
    let err = engine
        .load_blocking(ModelPackage::open(dir.path()).unwrap())
        .unwrap_err();
    assert!(matches!(err, LoadError::Crashed { .. }), "{err}");
    assert_mentions(&err.to_string(), &["model.onnx", "crashed", "refused"]);
    let rendered = engine
        .render_blocking(RenderRequest {
            model: good.name.clone(),
            source: Source::Seed(1),
            size: Some((16, 8)),
            urgency: Urgency::Ordered,
        })
        .unwrap();
    assert_eq!((rendered.image.width, rendered.image.height), (16, 8));
    assert_eq!(engine.faults().restarts, 0);
    engine.shutdown();
}
