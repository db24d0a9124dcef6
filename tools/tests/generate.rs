//! `easel generate` as other programs script it: the real binary, run as
//! separate processes. The same model and seed must give the same PNG
//! bytes on every run, the same bytes the engine gives in-process, and a
//! latent saved with `--save-latent` must render the same picture again.

use easel_engine::package::ModelPackage;
use easel_engine::picture::{RgbImage, encode_png, read_png_text};
use easel_engine::{Engine, RenderRequest, Source, Urgency};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn model(name: &str) -> PathBuf {
    easel_test_support::reference_model(name)
}

/// Runs `easel generate ARGS --no-credentials -o <tmp>/NAME` and returns
/// the PNG bytes. Without Content Credentials: a signed picture differs
/// between runs in its manifest's id and signature (tools/tests/credentials.rs
/// checks those); the encoding itself is what must be reproducible.
fn generate(dir: &Path, name: &str, args: &[&str]) -> Vec<u8> {
    let out = dir.join(name);
    let status = Command::new(env!("CARGO_BIN_EXE_easel"))
        .arg("generate")
        .args(args)
        .arg("--no-credentials")
        .arg("-o")
        .arg(&out)
        .output()
        .expect("running easel");
    assert!(
        status.status.success(),
        "easel generate {args:?}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    std::fs::read(&out).unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

#[test]
fn dcgan_same_seed_same_png_bytes_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let m = model("dcgan-64");
    let args = ["--model", path(&m), "--seed", "7"];
    let a = generate(dir.path(), "a.png", &args);
    let b = generate(dir.path(), "b.png", &args);
    assert_eq!(a, b, "two runs of the same command differ");
    let other = generate(dir.path(), "c.png", &["--model", path(&m), "--seed", "8"]);
    assert_ne!(a, other, "seed 8 drew the same picture as seed 7");
    let image = RgbImage::decode_png(&a).unwrap();
    assert_eq!((image.width, image.height), (64, 64));
}

#[test]
fn cppn_with_size_same_png_bytes_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let m = model("cppn-aurora");
    let args = ["--model", path(&m), "--seed", "7", "--size", "120x72"];
    let a = generate(dir.path(), "a.png", &args);
    let b = generate(dir.path(), "b.png", &args);
    assert_eq!(a, b);
    let image = RgbImage::decode_png(&a).unwrap();
    assert_eq!((image.width, image.height), (120, 72));
    // Thread count changes how the work is split, not the seed's picture
    // size or provenance; pixels may differ by rounding, so only check the file is valid.
    let two = generate(
        dir.path(),
        "t.png",
        &[&args[..], &["--threads", "2"]].concat(),
    );
    assert_eq!(RgbImage::decode_png(&two).unwrap().width, 120);
}

#[test]
fn command_line_and_in_process_engine_give_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let m = model("cppn-aurora");
    let from_cli = generate(
        dir.path(),
        "cli.png",
        &["--model", path(&m), "--seed", "11", "--size", "64x40"],
    );

    let engine = Engine::start(1, 1);
    engine
        .load_blocking(ModelPackage::open(&m).unwrap())
        .unwrap();
    let rendered = engine
        .render_blocking(RenderRequest {
            model: "cppn-aurora".into(),
            source: Source::Seed(11),
            size: Some((64, 40)),
            urgency: Urgency::Ordered,
        })
        .unwrap();
    engine.shutdown();
    assert_eq!(
        RgbImage::decode_png(&from_cli).unwrap(),
        rendered.image,
        "pixels"
    );
    // Same pixels and same provenance make the same file.
    let params = serde_json::json!({"size": [64, 40]});
    assert_eq!(
        encode_png(&rendered.image, &rendered.provenance(params)),
        from_cli,
        "file bytes"
    );
}

#[test]
fn image_model_same_input_same_png_bytes_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let m = model("style-256");
    let picture = root().join("tests/fixtures/style-256_bands.png");
    let args = ["--model", path(&m), "--input", path(&picture)];
    let a = generate(dir.path(), "a.png", &args);
    assert_eq!(a, generate(dir.path(), "b.png", &args));
    let text: std::collections::HashMap<_, _> = read_png_text(&a).unwrap().into_iter().collect();
    assert_eq!(text["easel:model"], "style-256");
    assert_eq!(
        text["easel:seed"], "",
        "an image model's picture has no seed"
    );
}

#[test]
fn saved_latent_renders_the_same_picture_and_matches_the_seed_algorithm() {
    let dir = tempfile::tempdir().unwrap();
    let m = model("dcgan-64");
    let npy = dir.path().join("z.npy");
    let by_seed = generate(
        dir.path(),
        "seed.png",
        &[
            "--model",
            path(&m),
            "--seed",
            "7",
            "--save-latent",
            path(&npy),
        ],
    );
    let by_latent = generate(
        dir.path(),
        "latent.png",
        &["--model", path(&m), "--latent", path(&npy)],
    );
    assert_eq!(
        RgbImage::decode_png(&by_seed).unwrap(),
        RgbImage::decode_png(&by_latent).unwrap()
    );
    // The saved values are the ones the independent Python implementation
    // of the seed algorithm computed (the fixture): compare the data bytes.
    let saved = std::fs::read(&npy).unwrap();
    let fixture = std::fs::read(root().join("tests/fixtures/dcgan-64_seed7_latent.npy")).unwrap();
    assert_eq!(
        saved[saved.len() - 400..],
        fixture[fixture.len() - 400..],
        "100 float32 values"
    );
}

#[test]
fn failure_is_a_one_line_reason_and_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_easel"))
        .args([
            "generate",
            "--model",
            path(&dir.path().join("no-such-model")),
            "--seed",
            "1",
            "-o",
        ])
        .arg(dir.path().join("x.png"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("easel: ") && stderr.contains("easel.toml"),
        "{stderr}"
    );
    assert!(!dir.path().join("x.png").exists(), "no picture on failure");
}
