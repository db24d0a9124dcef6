//! The tools' `--engine` as other programs script it, through the real
//! `easel` binary: `generate`, `bench --json`, `inspect` and `profile` on
//! onnxruntime (the library found as easeld finds it: the `onnxruntime`
//! Python package); and the failures, each a one-line reason that names
//! onnxruntime: a library that does not exist, and one too old (a stand-in
//! library built here that says it is onnxruntime 1.16.0).

use easel_engine::picture::RgbImage;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn model(name: &str) -> PathBuf {
    easel_test_support::reference_model(name)
}

/// `easel ARGS` with `ORT_DYLIB_PATH` set to `dylib` (empty: searched).
fn easel(args: &[&str], dylib: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_easel"))
        .args(args)
        .env("ORT_DYLIB_PATH", dylib)
        .output()
        .expect("running easel")
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn max_level_diff(a: &RgbImage, b: &RgbImage) -> u8 {
    assert_eq!((a.width, a.height), (b.width, b.height));
    a.rgb
        .iter()
        .zip(&b.rgb)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

#[test]
fn generate_on_onnxruntime_paints_what_tract_paints() {
    let dir = tempfile::tempdir().unwrap();
    let m = model("dcgan-64");
    let mut pictures = Vec::new();
    for engine in ["tract", "onnxruntime"] {
        let png = dir.path().join(format!("{engine}.png"));
        let out = easel(
            &[
                "generate",
                "--model",
                s(&m),
                "--seed",
                "7",
                "--engine",
                engine,
                "-o",
                s(&png),
            ],
            "",
        );
        ok(&out, engine);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains(&format!("({engine} on cpu)")), "{said}");
        pictures.push(RgbImage::decode_png(&std::fs::read(&png).unwrap()).unwrap());
    }
    let diff = max_level_diff(&pictures[0], &pictures[1]);
    assert!(diff <= 1, "{diff} levels apart");
}

#[test]
fn a_missing_library_is_a_one_line_reason_naming_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("x.png");
    let missing = "/nonexistent/easel-test/libonnxruntime.so";
    let out = easel(
        &[
            "generate",
            "--model",
            s(&model("dcgan-64")),
            "--seed",
            "1",
            "--engine",
            "onnxruntime",
            "-o",
            s(&png),
        ],
        missing,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("onnxruntime") && err.contains(missing),
        "{err}"
    );
    assert!(!png.exists(), "no picture from a failed engine");
}

/// A shared library that exports `OrtGetApiBase` and says it is 1.16.0.
fn old_library(dir: &Path) -> PathBuf {
    let c = dir.join("old.c");
    std::fs::write(
        &c,
        "typedef struct { const void *(*get_api)(unsigned); const char *(*version)(void); } Base;\n\
         static const void *get_api(unsigned v) { (void)v; return 0; }\n\
         static const char *version(void) { return \"1.16.0\"; }\n\
         static const Base base = { get_api, version };\n\
         const Base *OrtGetApiBase(void) { return &base; }\n",
    )
    .unwrap();
    let so = dir.join("libonnxruntime.so.1.16.0");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&c)
        .status()
        .expect("a C compiler (cc) for the stand-in library");
    assert!(status.success());
    so
}

#[test]
fn an_onnxruntime_older_than_the_minimum_is_refused_by_version() {
    let dir = tempfile::tempdir().unwrap();
    let old = old_library(dir.path());
    let png = dir.path().join("x.png");
    let out = easel(
        &[
            "generate",
            "--model",
            s(&model("dcgan-64")),
            "--seed",
            "1",
            "--engine",
            "onnxruntime",
            "-o",
            s(&png),
        ],
        s(&old),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("onnxruntime") && err.contains("1.16.0") && err.contains("1.17 or newer"),
        "{err}"
    );
}

#[test]
fn bench_json_measures_both_engines() {
    let out = easel(
        &[
            "bench",
            s(&model("dcgan-64")),
            "--engine",
            "tract,onnxruntime",
            "--threads",
            "1",
            "--runs",
            "3",
            "--warmup",
            "1",
            "--json",
        ],
        "",
    );
    let rows: serde_json::Value = serde_json::from_str(&ok(&out, "bench")).unwrap();
    let rows = rows.as_array().unwrap();
    let engines: Vec<&str> = rows.iter().map(|r| r["engine"].as_str().unwrap()).collect();
    assert_eq!(engines, vec!["tract", "onnxruntime"]);
    for r in rows {
        assert_eq!(r["model"], "dcgan-64");
        assert_eq!(r["threads"], 1);
        assert!(r["median_ms"].as_f64().unwrap() > 0.0, "{r}");
        assert_eq!(r["provider"], "cpu");
    }
}

#[test]
fn inspect_and_profile_ask_onnxruntime() {
    let m = model("style-256");
    let out = easel(&["inspect", s(&m), "--engine", "onnxruntime", "--json"], "");
    let report: serde_json::Value = serde_json::from_str(&ok(&out, "inspect")).unwrap();
    assert_eq!(report["engine"], "onnxruntime");
    assert_eq!(report["onnxruntime"]["ok"], true, "{report}");
    assert_eq!(report["onnxruntime"]["provider"], "cpu");
    assert!(report["macs"].as_u64().unwrap() > 0, "{report}");

    let out = easel(
        &[
            "profile",
            s(&model("dcgan-64")),
            "--engine",
            "onnxruntime",
            "--threads",
            "1",
            "--runs",
            "3",
            "--warmup",
            "1",
        ],
        "",
    );
    let text = ok(&out, "profile");
    assert!(
        text.contains("dcgan-64 (onnxruntime) at 1 thread"),
        "{text}"
    );
    assert!(text.contains("ConvTranspose"), "{text}");
}
