//! `easel optimize` and `easel profile` on the reference models, through
//! the real binary: the optimized package computes what the original does
//! (checked here again, independently of the tool's own verification, on
//! other seeds and pictures, and against the onnxruntime fixtures of the
//! original), a model no rewrite applies to passes through byte for byte,
//! a failed verification writes nothing, and the engine honours and
//! checks a manifest's `[tract]` knobs.

use easel_engine::package::{ModelPackage, TractSpec, sha256_hex};
use easel_engine::picture::RgbImage;
use easel_engine::{LoadError, Model, Source};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use tract_onnx::prelude::Framework;
use tract_onnx::tract_core::runtime::RunOptions;

/// The numerics tests' bar for "same numbers as onnxruntime".
const ORT_TOLERANCE: f32 = 1e-4;

fn easel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_easel"))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn model(name: &str) -> PathBuf {
    easel_test_support::reference_model(name)
}

/// Runs `easel optimize`; returns (success, stderr).
fn optimize(src: &Path, out: &Path, args: &[&str]) -> (bool, String) {
    let o = easel()
        .arg("optimize")
        .arg(src)
        .arg("-o")
        .arg(out)
        .args(["--runs", "0"])
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

fn load(dir: &Path) -> Model {
    let package = ModelPackage::open(dir).unwrap();
    Model::load(&package, &RunOptions::default()).unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Largest difference of 8-bit levels over [-1, 1].
fn max_levels(a: &[f32], b: &[f32]) -> u8 {
    let level = |v: f32| ((v.clamp(-1.0, 1.0) + 1.0) / 2.0 * 255.0).round() as i32;
    a.iter()
        .zip(b)
        .map(|(x, y)| level(*x).abs_diff(level(*y)) as u8)
        .max()
        .unwrap_or(0)
}

/// An `.npy` fixture (little-endian f32, C order) as values.
fn read_npy(name: &str) -> Vec<f32> {
    let bytes = std::fs::read(root().join("tests/fixtures").join(name)).unwrap();
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = String::from_utf8_lossy(&bytes[10..10 + header_len]);
    assert!(
        header.contains("'<f4'") && header.contains("False"),
        "{header}"
    );
    bytes[10 + header_len..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// A picture unlike the tool's test pictures: a radial pattern.
fn rings(seed: u32, w: u32, h: u32) -> RgbImage {
    let mut rgb = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f32 - w as f32 / 3.0, y as f32 - h as f32 / 2.0);
            let r = (dx * dx + dy * dy).sqrt() / (3.0 + seed as f32);
            rgb.extend([
                (127.5 + 127.5 * r.sin()) as u8,
                ((x * 7 + y * 3 + seed * 50) % 256) as u8,
                (127.5 + 127.5 * (r * 0.3).cos()) as u8,
            ]);
        }
    }
    RgbImage::new(w, h, rgb)
}

#[test]
fn dcgan_optimized_matches_the_original_on_many_seeds_and_onnxruntime() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("dcgan-64-fast");
    let (ok, err) = optimize(&model("dcgan-64"), &out, &["--samples", "16"]);
    assert!(ok, "{err}");
    assert!(err.contains("fold-batch-norm: 4 nodes"), "{err}");
    let package = ModelPackage::open(&out).unwrap();
    let m = &package.manifest;
    assert_eq!(m.name, "dcgan-64-fast");
    assert!(
        m.description.contains("fold-batch-norm x4"),
        "{}",
        m.description
    );
    let onnx = package.read_onnx().unwrap();
    assert_eq!(m.sha256, sha256_hex(&onnx));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("optimize.json")).unwrap()).unwrap();
    assert_eq!(report["agreement"]["samples"], 16);
    // No BatchNormalization is left in the graph.
    let proto = tract_onnx::onnx()
        .proto_model_for_read(&mut &onnx[..])
        .unwrap();
    let ops: Vec<&str> = proto
        .graph
        .as_ref()
        .unwrap()
        .node
        .iter()
        .map(|n| n.op_type.as_str())
        .collect();
    assert!(!ops.contains(&"BatchNormalization"), "{ops:?}");

    // Other seeds than the tool checked, through the daemon's engine.
    let (mut original, mut fast) = (load(&model("dcgan-64")), load(&out));
    for seed in (100..140).chain([u64::MAX, 0]) {
        let (a, _) = original.infer(&Source::Seed(seed), None).unwrap();
        let (b, _) = fast.infer(&Source::Seed(seed), None).unwrap();
        let err = max_abs_diff(&a, &b);
        assert!(err < 1e-4, "seed {seed}: max abs error {err}");
        assert!(max_levels(&a, &b) <= 1, "seed {seed}");
    }
    // And against onnxruntime on the original file.
    for seed in [7u64, 18446744073709551557] {
        let want = read_npy(&format!("dcgan-64_seed{seed}_output.npy"));
        let (got, _) = fast.infer(&Source::Seed(seed), None).unwrap();
        let err = max_abs_diff(&got, &want);
        assert!(err <= ORT_TOLERANCE, "seed {seed}: {err} vs onnxruntime");
    }
}

#[test]
fn subpixel_variant_of_dcgan_is_exact_too() {
    let tmp = tempfile::tempdir().unwrap();
    for how in ["phases", "joint"] {
        let out = tmp.path().join(format!("dcgan-{how}"));
        let (ok, err) = optimize(
            &model("dcgan-64"),
            &out,
            &[
                "--rewrites",
                "fold-batch-norm,subpixel",
                "--subpixel",
                how,
                "--samples",
                "8",
            ],
        );
        assert!(ok, "{err}");
        assert!(err.contains("subpixel: 4 nodes"), "{err}");
        let want = read_npy("dcgan-64_seed7_output.npy");
        let (got, _) = load(&out).infer(&Source::Seed(7), None).unwrap();
        assert!(max_abs_diff(&got, &want) <= ORT_TOLERANCE, "{how}");
    }
}

#[test]
fn style_optimized_matches_the_original_on_other_pictures_and_onnxruntime() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("style-256-fast");
    // No longer defaults (the engine's own ops are faster), still exact.
    let (ok, err) = optimize(
        &model("style-256"),
        &out,
        &["--samples", "4", "--rewrites", "resize-nearest,thin-conv"],
    );
    assert!(ok, "{err}");
    assert!(err.contains("resize-nearest: 2 nodes"), "{err}");
    assert!(err.contains("thin-conv: 1 node"), "{err}");
    let (mut original, mut fast) = (load(&model("style-256")), load(&out));
    for seed in 0..3 {
        let picture = Source::Image(Arc::new(rings(seed, 256, 256)));
        let (a, _) = original.infer(&picture, None).unwrap();
        let (b, _) = fast.infer(&picture, None).unwrap();
        let err = max_abs_diff(&a, &b);
        assert!(err < 1e-4, "picture {seed}: max abs error {err}");
        assert!(max_levels(&a, &b) <= 1, "picture {seed}");
    }
    for picture in ["bands", "noise"] {
        let png =
            std::fs::read(root().join(format!("tests/fixtures/style-256_{picture}.png"))).unwrap();
        let source = Source::Image(Arc::new(RgbImage::decode_png(&png).unwrap()));
        let (got, _) = fast.infer(&source, None).unwrap();
        let want = read_npy(&format!("style-256_{picture}_output.npy"));
        let err = max_abs_diff(&got, &want);
        assert!(err <= ORT_TOLERANCE, "{picture}: {err} vs onnxruntime");
    }
}

#[test]
fn a_model_no_rewrite_applies_to_is_not_copied() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cppn-copy");
    // Regression: an identical copy was written and timed ("0.58x"), after
    // a 512x512 verification; now nothing is written, at once, exit 0.
    let (ok, err) = optimize(
        &model("cppn-aurora"),
        &out,
        &["--samples", "4", "--size", "32x32"],
    );
    assert!(ok, "{err}");
    assert!(err.contains("no rewrite applies"), "{err}");
    assert!(err.contains("nothing written"), "{err}");
    assert!(
        !err.contains("x)"),
        "no speed ratio for an identical graph: {err}"
    );
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "no staging left"
    );
    // --size is for CPPNs only.
    let (ok, err) = optimize(&model("dcgan-64"), &out, &["--size", "32x32"]);
    assert!(!ok);
    assert!(err.contains("--size applies to cppn models"), "{err}");
}

#[test]
fn failed_verification_and_bad_input_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    // Folding BatchNorm rounds differently: a zero tolerance refuses it.
    let out = tmp.path().join("refused");
    let (ok, err) = optimize(
        &model("dcgan-64"),
        &out,
        &["--tolerance", "0", "--samples", "4"],
    );
    assert!(!ok, "{err}");
    assert!(err.contains("nothing written"), "{err}");
    assert!(!out.exists());
    // An existing, non-empty destination is left as it is.
    let occupied = tmp.path().join("occupied");
    std::fs::create_dir(&occupied).unwrap();
    std::fs::write(occupied.join("keep.txt"), "mine").unwrap();
    let (ok, err) = optimize(&model("dcgan-64"), &occupied, &[]);
    assert!(!ok && err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_dir(&occupied).unwrap().count(), 1);
    // Not a package.
    let (ok, err) = optimize(tmp.path(), &tmp.path().join("x"), &[]);
    assert!(!ok && err.contains("easel.toml"), "{err}");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("occupied")]);
}

#[test]
fn manifest_knobs_are_applied_and_checked_by_the_engine() {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(model("dcgan-64")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).unwrap();
    }
    let write = |knobs: &[(&str, &str)]| {
        let mut m = ModelPackage::open(tmp.path()).unwrap().manifest;
        m.tract = Some(TractSpec {
            knobs: knobs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
        std::fs::write(tmp.path().join("easel.toml"), m.to_toml()).unwrap();
        ModelPackage::open(tmp.path()).unwrap()
    };
    let package = write(&[("TRACT_DISABLE_DIRECT_SPATIAL", "1")]);
    let mut model_with_knob = Model::load(&package, &RunOptions::default()).unwrap();
    let want = read_npy("dcgan-64_seed7_output.npy");
    let (got, _) = model_with_knob.infer(&Source::Seed(7), None).unwrap();
    assert!(max_abs_diff(&got, &want) <= ORT_TOLERANCE);
    for (knobs, says) in [
        (vec![("TRACT_NO_SUCH_KNOB", "1")], "TRACT_NO_SUCH_KNOB"),
        (vec![("TRACT_DISABLE_DIRECT_SPATIAL", "maybe")], "maybe"),
        // Read process-wide only: a per-model value would be a lie.
        (
            vec![("TRACT_AVX512_FMA_UNITS", "2")],
            "TRACT_AVX512_FMA_UNITS",
        ),
    ] {
        let package = write(&knobs);
        let err = Model::load(&package, &RunOptions::default())
            .err()
            .expect("refused");
        assert!(matches!(err, LoadError::Knobs { .. }), "{err}");
        assert!(err.to_string().contains(says), "{err}");
    }
}

#[test]
fn profile_lists_nodes_and_operators_with_their_share() {
    let o = easel()
        .args([
            "profile",
            "--threads",
            "1",
            "--runs",
            "3",
            "--warmup",
            "1",
            "--markdown",
        ])
        .arg(model("dcgan-64"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("dcgan-64 at 1 thread:"), "{text}");
    // The profiler's own cost is stated, and node times say they include it.
    assert!(
        text.contains("profiler overhead: a profiled run takes"),
        "{text}"
    );
    assert!(
        text.contains("| op | nodes | ms (inclusive) | % |"),
        "{text}"
    );
    // The per-op table: shares add up to about 100 %.
    let ops: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("| op |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert!(ops.iter().any(|l| l.contains("OptMatMul")), "{text}");
    let total: f64 = ops
        .iter()
        .map(|l| l.split('|').nth(4).unwrap().trim().parse::<f64>().unwrap())
        .sum();
    assert!((99.0..=101.0).contains(&total), "{total}: {text}");
    assert!(text.contains("ConvTranspose"), "{text}");
}

/// The engine's fast path shows in the profile as one node for the whole
/// CPPN, and `EASEL_TRACT_FUSE=0` loads the model as tract alone would
/// (the six products and their packing back, the sines one element at a
/// time).
#[test]
fn the_cppn_runs_as_one_fused_node_unless_switched_off() {
    let profile = |fuse: &str| {
        let o = easel()
            .args(["profile", "--threads", "1", "--runs", "1", "--warmup", "0"])
            .arg(model("cppn-aurora"))
            .env("EASEL_TRACT_FUSE", fuse)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    // The per-operator table's node count for `op`.
    let nodes = |text: &str, op: &str| -> usize {
        text.lines()
            .find_map(|l| {
                let mut words = l.split_whitespace();
                (words.next() == Some(op)).then(|| words.next()?.parse().ok())?
            })
            .unwrap_or(0)
    };
    let fused = profile("1");
    assert_eq!(nodes(&fused, "EaselPointwiseChain"), 1, "{fused}");
    // Left to tract: only the latent's own product (once per picture).
    assert_eq!(nodes(&fused, "OptMatMul"), 1, "{fused}");
    let plain = profile("0");
    assert_eq!(nodes(&plain, "EaselPointwiseChain"), 0, "{plain}");
    assert_eq!(nodes(&plain, "OptMatMul"), 6, "{plain}");
    assert_eq!(nodes(&plain, "Sin"), 2, "{plain}");
}
