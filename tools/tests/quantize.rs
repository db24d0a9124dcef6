//! `easel quantize` and `easel inspect` on the reference models, through
//! the real binary: quality of each variant against f32, validity of every
//! variant for the daemon's engine and for onnxruntime, and clear errors
//! with nothing left behind on bad input.
//!
//! Documented bounds (docs/tools.md): `weights` >= 30 dB (the floor) on all
//! reference models; `f16` >= 50 dB; `static` >= 30 dB where no layer has
//! an integer path (dcgan-64), >= 20 dB mean on cppn-aurora and style-256
//! (untrained weights, uint8 activations; below the floor, so `--force`).

use easel_engine::package::{Manifest, ModelPackage, sha256_hex};
use prost::Message;
use std::path::{Path, PathBuf};
use std::process::Command;
use tract_onnx::pb;

fn easel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_easel"))
}

fn model(name: &str) -> PathBuf {
    easel_test_support::reference_model(name)
}

/// Runs `easel quantize`; returns (success, stderr).
fn quantize(src: &Path, out: &Path, args: &[&str]) -> (bool, String) {
    let o = easel()
        .arg("quantize")
        .arg(src)
        .args(args)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

fn variant(out: &Path) -> easel_engine::package::VariantSpec {
    ModelPackage::open(out)
        .unwrap()
        .manifest
        .variant
        .expect("a [variant] table")
}

/// The variant renders through `easel generate` (the daemon's engine).
fn renders_in_engine(out: &Path, kind_image: bool) {
    let png = out.with_extension("png");
    let mut cmd = easel();
    cmd.args(["generate", "--model"])
        .arg(out)
        .arg("-o")
        .arg(&png);
    if kind_image {
        let input = out.join("samples.png");
        cmd.arg("--input").arg(input);
    } else {
        cmd.args(["--seed", "5"]);
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::metadata(&png).unwrap().len() > 100);
}

/// Runs the variant in onnxruntime with inputs of its manifest's shapes.
/// Skips (with a message) only when python3 or onnxruntime is missing on a
/// developer's machine; under CI (`CI` set) a missing onnxruntime fails.
fn valid_for_onnxruntime(out: &Path) {
    let probe = Command::new("python3")
        .args(["-c", "import onnxruntime, numpy"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "onnxruntime is missing under CI: scripts/setup.sh must install it"
        );
        eprintln!(
            "SKIPPED onnxruntime check: python3 with onnxruntime and numpy not found (scripts/setup.sh installs them)"
        );
        return;
    }
    let script = r#"
import sys, numpy as np, onnxruntime as ort
s = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
feeds = {}
for i in s.get_inputs():
    shape = [d if isinstance(d, int) else 32 for d in i.shape]
    feeds[i.name] = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
out = s.run(None, feeds)[0]
assert np.isfinite(out).all(), "non-finite output"
print(out.shape)
"#;
    let o = Command::new("python3")
        .args(["-c", script])
        .arg(out.join("model.onnx"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "onnxruntime rejects {}: {}",
        out.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Nothing but `keep` in `dir`: no staging folder, no half-written package.
fn only(dir: &Path, keep: &[&str]) {
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect();
    assert!(names.is_empty(), "left behind: {names:?}");
}

#[test]
fn weights_variants_stay_above_the_floor_and_load_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, image) in [
        ("dcgan-64", false),
        ("cppn-aurora", false),
        ("style-256", true),
    ] {
        let out = tmp.path().join(format!("{name}-int8w"));
        let (ok, err) = quantize(&model(name), &out, &["--mode", "weights", "--samples", "4"]);
        assert!(ok, "{name}: {err}");
        let v = variant(&out);
        assert_eq!(v.mode, "weights");
        assert!(
            v.psnr_db >= 30.0 && v.psnr_worst_db >= 30.0,
            "{name}: {v:?}"
        );
        assert!(v.ssim_worst > 0.95, "{name}: {v:?}");
        if name != "cppn-aurora" {
            // Big weight tensors dominate: close to 4x smaller.
            assert!(v.bytes_after * 3 < v.bytes_before, "{name}: {v:?}");
        }
        assert!(out.join("samples.png").exists() && out.join("quality.json").exists());
        renders_in_engine(&out, image);
        valid_for_onnxruntime(&out);
    }
}

#[test]
fn f16_variants_are_within_bounds() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["dcgan-64", "cppn-aurora"] {
        let out = tmp.path().join(format!("{name}-f16"));
        let (ok, err) = quantize(&model(name), &out, &["--mode", "f16", "--samples", "4"]);
        assert!(ok, "{name}: {err}");
        let v = variant(&out);
        assert!(v.psnr_worst_db >= 50.0, "{name}: {v:?}");
        renders_in_engine(&out, false);
        valid_for_onnxruntime(&out);
    }
}

#[test]
fn static_variants_are_within_bounds_and_say_what_stays_float() {
    let tmp = tempfile::tempdir().unwrap();
    // dcgan-64 is all ConvTranspose: nothing has an integer path.
    let out = tmp.path().join("dcgan-64-int8");
    let (ok, err) = quantize(
        &model("dcgan-64"),
        &out,
        &["--mode", "static", "--samples", "4", "--calib", "4"],
    );
    assert!(ok, "{err}");
    assert!(err.contains("no integer ConvTranspose kernel"), "{err}");
    let v = variant(&out);
    assert_eq!(v.float_layers.len(), 5, "{v:?}");
    assert!(v.psnr_db >= 30.0, "{v:?}");
    valid_for_onnxruntime(&out);

    // cppn-aurora: every Conv becomes QLinearConv.
    let out = tmp.path().join("cppn-aurora-int8");
    let (ok, err) = quantize(
        &model("cppn-aurora"),
        &out,
        &[
            "--mode",
            "static",
            "--samples",
            "4",
            "--calib",
            "4",
            "--force",
            "--size",
            "64x64",
        ],
    );
    assert!(ok, "{err}");
    let v = variant(&out);
    assert!(v.float_layers.is_empty(), "{v:?}");
    assert!(v.psnr_db >= 20.0, "{v:?}");
    assert!(v.calibration.contains("percentile"), "{v:?}");
    let onnx = std::fs::read(out.join("model.onnx")).unwrap();
    let proto = pb::ModelProto::decode(&onnx[..]).unwrap();
    let qconv = proto
        .graph
        .unwrap()
        .node
        .iter()
        .filter(|n| n.op_type == "QLinearConv")
        .count();
    // Five 1x1 convolutions over the pixels and the latent's own.
    assert_eq!(qconv, 6);
    renders_in_engine(&out, false);
    valid_for_onnxruntime(&out);
}

#[test]
fn a_variant_below_the_floor_is_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("refused");
    let (ok, err) = quantize(
        &model("dcgan-64"),
        &out,
        &["--mode", "weights", "--samples", "2", "--floor", "90"],
    );
    assert!(!ok);
    assert!(err.contains("below the 90.0 dB floor"), "{err}");
    only(tmp.path(), &[]);
}

/// A package folder holding `onnx` with the dcgan-64 manifest's fields.
fn package_with(dir: &Path, onnx: &[u8], input: &str, output: &str) -> PathBuf {
    let src = ModelPackage::open(model("dcgan-64")).unwrap().manifest;
    let mut m: Manifest = src.clone();
    m.name = "broken".into();
    m.sha256 = sha256_hex(onnx);
    m.input.name = input.into();
    m.input.shape = vec![1, 1, 2, 2];
    m.output.name = output.into();
    let pkg = dir.join("broken");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("model.onnx"), onnx).unwrap();
    std::fs::write(pkg.join("easel.toml"), m.to_toml()).unwrap();
    pkg
}

fn value_info(name: &str, dims: &[i64]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value};
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: 1,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(Value::DimValue(d)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// x [1,1,2,2] -> Upsample (opset 9, nearest, x2) -> y [1,1,4,4].
fn upsample_model() -> Vec<u8> {
    let scales = pb::TensorProto {
        name: "scales".into(),
        dims: vec![4],
        data_type: 1,
        raw_data: [1f32, 1.0, 2.0, 2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        ..Default::default()
    };
    pb::ModelProto {
        ir_version: 4,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 9,
        }],
        graph: Some(pb::GraphProto {
            name: "up".into(),
            node: vec![pb::NodeProto {
                op_type: "Upsample".into(),
                name: "up1".into(),
                input: vec!["x".into(), "scales".into()],
                output: vec!["y".into()],
                ..Default::default()
            }],
            initializer: vec![scales],
            input: vec![value_info("x", &[1, 1, 2, 2])],
            output: vec![value_info("y", &[1, 1, 4, 4])],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

#[test]
fn bad_inputs_fail_clearly_and_leave_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let out = work.join("out");

    // Not ONNX at all.
    let pkg = package_with(tmp.path(), b"this is not a protobuf at all", "x", "y");
    let (ok, err) = quantize(&pkg, &out, &["--mode", "weights"]);
    assert!(!ok);
    assert!(err.contains("not a readable ONNX model"), "{err}");
    only(&work, &[]);
    std::fs::remove_dir_all(&pkg).unwrap();

    // An operator tract lacks, named with its node and advice.
    let pkg = package_with(tmp.path(), &upsample_model(), "x", "y");
    let (ok, err) = quantize(&pkg, &out, &["--mode", "weights"]);
    assert!(!ok);
    assert!(err.contains("unsupported operator Upsample"), "{err}");
    assert!(err.contains("up1") && err.contains("opset"), "{err}");
    only(&work, &[]);

    // An empty calibration folder.
    let calib = tmp.path().join("calib");
    std::fs::create_dir(&calib).unwrap();
    let calib_arg = calib.to_str().unwrap();
    let (ok, err) = quantize(
        &model("style-256"),
        &out,
        &["--mode", "static", "--calib", calib_arg],
    );
    assert!(!ok);
    assert!(err.contains("holds no pictures"), "{err}");
    only(&work, &[]);

    // An unreadable picture in it.
    std::fs::write(calib.join("photo.png"), b"JFIF? no, just text").unwrap();
    let (ok, err) = quantize(
        &model("style-256"),
        &out,
        &["--mode", "static", "--calib", calib_arg],
    );
    assert!(!ok);
    assert!(
        err.contains("photo.png") && err.contains("not a readable PNG"),
        "{err}"
    );
    only(&work, &[]);

    // An existing, non-empty destination is never overwritten.
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), b"mine").unwrap();
    let (ok, err) = quantize(&model("dcgan-64"), &out, &["--mode", "weights"]);
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(out.join("keep.txt")).unwrap(), b"mine");
    only(&work, &["out"]);
}

/// `inspect --json`: whether it passed the model (exit 0), and the report
/// it prints either way.
fn inspect_verdict(path: &Path) -> (bool, serde_json::Value) {
    let o = easel()
        .args(["inspect", "--json"])
        .arg(path)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    (o.status.success(), report)
}

fn inspect_json(path: &Path) -> serde_json::Value {
    let (ok, report) = inspect_verdict(path);
    assert!(ok, "{report}");
    report
}

#[test]
fn inspect_counts_macs_and_params_of_dcgan() {
    let r = inspect_json(&model("dcgan-64"));
    assert_eq!(r["opset"], 17);
    assert_eq!(r["ops"]["ConvTranspose"], 5);
    assert_eq!(r["tract_ok"], true);
    // 100x512x4x4 + 3 x (2^13 x 2^12) + 64x32x32 x 3x4x4, by hand.
    let expected = 100 * 512 * 16 + 3 * 8192 * 4096 + 65536 * 48;
    assert_eq!(r["macs"], expected);
    assert_eq!(r["params"], 3_578_624);
}

#[test]
fn inspect_explains_upsample_and_the_fix_makes_it_load() {
    let tmp = tempfile::tempdir().unwrap();
    let onnx = tmp.path().join("up.onnx");
    std::fs::write(&onnx, upsample_model()).unwrap();
    // A model the engine refuses is a failed verdict, with its report.
    let (ok, r) = inspect_verdict(&onnx);
    assert!(!ok, "{r}");
    assert_eq!(r["tract_ok"], false);
    let advice = r["advice"].to_string();
    assert!(advice.contains("--fix-upsample"), "{advice}");
    assert!(r["tract_error"].as_str().unwrap().contains("up1"), "{r}");

    let fixed = tmp.path().join("fixed.onnx");
    let o = easel()
        .arg("inspect")
        .arg(&onnx)
        .args(["--fix-upsample", "-o"])
        .arg(&fixed)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (_, r) = inspect_verdict(&fixed);
    assert_eq!(r["tract_ok"], true, "{r}");
    assert_eq!(r["ops"]["Resize"], 1);
    assert_eq!(r["opset"], 11);

    // Not ONNX: a clear error, non-zero exit.
    let junk = tmp.path().join("junk.onnx");
    std::fs::write(&junk, b"\x00\x01garbage").unwrap();
    let o = easel().arg("inspect").arg(&junk).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a readable ONNX"));
}

/// The sample grid's size, from the PNG header.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn static_tries_both_calibrations_and_keeps_the_better() {
    let tmp = tempfile::tempdir().unwrap();
    let common = [
        "--mode",
        "static",
        "--samples",
        "6",
        "--calib",
        "4",
        "--force",
        "--size",
        "32x32",
    ];
    let run = |name: &str, extra: &[&str]| {
        let out = tmp.path().join(name);
        let args: Vec<&str> = common.iter().chain(extra).copied().collect();
        let (ok, err) = quantize(&model("cppn-aurora"), &out, &args);
        assert!(ok, "{name}: {err}");
        (variant(&out), out)
    };
    let (percentile, _) = run("cppn-p", &["--method", "percentile"]);
    let (minmax, _) = run("cppn-m", &["--method", "minmax"]);
    // Regression: the default used percentile only, whatever it cost.
    let (chosen, out) = run("cppn-best", &[]);
    let best = percentile.psnr_worst_db.max(minmax.psnr_worst_db);
    assert_eq!(chosen.psnr_worst_db, best, "{chosen:?}");
    assert!(
        chosen.calibration.contains("tried percentile") && chosen.calibration.contains("min-max:"),
        "{}",
        chosen.calibration
    );
    // The grid of a 32x32 model is scaled up to 128 px cells (3 columns +
    // gutters), one labelled row per shown sample under a title line.
    let (w, h) = png_size(&out.join("samples.png"));
    assert_eq!(w, 3 * 128 + 4 * 4, "{w}x{h}");
    assert_eq!(h, 4 + 10 + 4 * (10 + 128 + 4), "{w}x{h}");
    // The worst sample is always a row: quality.json names it.
    let q: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("quality.json")).unwrap()).unwrap();
    assert!(q["summary"]["psnr_worst_sample"].as_str().is_some());
    // ... and the architecture the pictures were compared on.
    assert_eq!(q["arch"], std::env::consts::ARCH, "{q}");
}

#[test]
fn a_refusal_says_which_calibration_to_try() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("refused");
    let (ok, err) = quantize(
        &model("cppn-aurora"),
        &out,
        &[
            "--mode",
            "static",
            "--method",
            "percentile",
            "--samples",
            "2",
            "--calib",
            "2",
            "--size",
            "32x32",
            "--floor",
            "99",
        ],
    );
    assert!(!ok);
    // Regression: the refusal only suggested --force.
    assert!(err.contains("Try --method minmax"), "{err}");
    only(tmp.path(), &[]);
}
