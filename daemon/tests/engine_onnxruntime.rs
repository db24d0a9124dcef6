//! easeld on the onnxruntime engine, end to end: still pictures, morph
//! frames and live frames through a real daemon configured with
//! `engine = "onnxruntime"` (the library found as on a board: the
//! `onnxruntime` Python package); `state` names each model's engine and
//! provider and the metrics label them. And the fallbacks, each with its
//! message: a library that does not exist (in `[onnxruntime] library`,
//! and in `ORT_DYLIB_PATH`, which is read first) runs the models on
//! tract; a provider the library lacks runs them on onnxruntime's CPU;
//! both keep `/healthz` at 200 with a warning that names onnxruntime.

mod web_support;

use easel_engine::onnxruntime::library;
use easel_engine::picture::RgbImage;
use easel_engine::{RenderRequest, Source, Urgency};
use easel_test_support::wait_for;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use web_support::{ADMIN_TOKEN, Daemon, generate, get, prometheus, request};

/// One daemon at a time: each loads models on every core of a 2-core machine.
static SERIAL: Mutex<()> = Mutex::new(());

const MISSING: &str = "/nonexistent/easel-test/libonnxruntime.so";

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// easeld with `extra` config; `ORT_DYLIB_PATH` empty unless given, so
/// the developer's shell cannot choose the library.
fn start(models: &[&str], extra: &str, ort_dylib_path: &str) -> Daemon {
    let mut daemon = web_support::easeld()
        .models(models)
        .extra(extra)
        .env(library::ENV, ort_dylib_path)
        .start();
    daemon.wait_ready();
    let want = models.len().max(1);
    wait_for(Duration::from_secs(180), "every model to load", || {
        (state(&daemon)["models"].as_array()?.len() == want).then_some(())
    });
    daemon
}

fn state(daemon: &Daemon) -> Value {
    serde_json::from_slice(&get(daemon.http_addr(), "/api/state").unwrap().body).unwrap()
}

fn health(daemon: &Daemon) -> (u16, Value) {
    let r = get(daemon.http_addr(), "/healthz").unwrap();
    (r.status, serde_json::from_slice(&r.body).unwrap())
}

/// `(engine, provider, warnings)` of a loaded model in `/api/state`.
fn engine_of(daemon: &Daemon, model: &str) -> (String, String, Vec<String>) {
    let s = state(daemon);
    let m = s["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == model)
        .unwrap_or_else(|| panic!("{model} not in {s}"))
        .clone();
    let warnings = m["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    (
        m["engine"].as_str().unwrap().into(),
        m["provider"].as_str().unwrap().into(),
        warnings,
    )
}

fn command(daemon: &Daemon, name: &str, payload: &str) {
    let r = request(
        daemon.http_addr(),
        "POST",
        &format!("/admin/cmd/{name}"),
        &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
        payload.as_bytes(),
    )
    .unwrap();
    assert!(matches!(r.status, 200 | 202), "{name}: {}", r.text());
}

fn frames(daemon: &Daemon) -> f64 {
    let samples = prometheus::parse(&get(daemon.http_addr(), "/metrics").unwrap().text()).unwrap();
    prometheus::value(&samples, "easel_frames_total", &[]).unwrap()
}

fn latest_frame(daemon: &Daemon) -> RgbImage {
    let r = get(daemon.http_addr(), "/frames/latest.png").unwrap();
    assert_eq!(r.status, 200);
    RgbImage::decode_png(&r.body).unwrap()
}

/// Waits for `more` frames after `from`, then returns the count.
fn wait_frames(daemon: &Daemon, from: f64, more: f64, what: &str) -> f64 {
    wait_for(Duration::from_secs(120), what, || {
        let now = frames(daemon);
        (now >= from + more).then_some(now)
    })
}

/// The same picture from tract in this process: the engines must agree.
fn tract_picture(model: &str, seed: u64) -> RgbImage {
    let package =
        easel_engine::package::ModelPackage::open(easel_test_support::reference_model(model))
            .unwrap();
    let engine = easel_engine::Engine::start(1, 1);
    engine.load_blocking(package).unwrap();
    let picture = engine
        .render_blocking(RenderRequest {
            model: model.into(),
            source: Source::Seed(seed),
            size: None,
            urgency: Urgency::Ordered,
        })
        .unwrap()
        .image;
    engine.shutdown();
    picture
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
fn still_morph_and_live_run_on_onnxruntime() {
    let _serial = serial();
    let daemon = start(
        &["dcgan-64", "style-256"],
        // No disk floor: the warnings checked below are the engine's, and
        // the machine running the tests may be short of space.
        "engine = \"onnxruntime\"\nsource = \"test://pattern\"\n[camera]\nwidth = 320\nheight = 240\nfps = 15\n[health]\nmin_free_disk_mb = 0",
        "",
    );
    for model in ["dcgan-64", "style-256"] {
        let (engine, provider, warnings) = engine_of(&daemon, model);
        assert_eq!(
            (engine.as_str(), provider.as_str()),
            ("onnxruntime", "cpu"),
            "{model}"
        );
        assert!(warnings.is_empty(), "{model}: {warnings:?}");
    }
    let (status, body) = health(&daemon);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["warnings"], serde_json::json!([]), "{body}");

    // Still: the picture is the one tract paints, within one level.
    let event = generate(&daemon, r#"{"seed":7}"#);
    assert_eq!(event["type"], "generated", "{event}");
    let png = get(daemon.http_addr(), event["url"].as_str().unwrap()).unwrap();
    let picture = RgbImage::decode_png(&png.body).unwrap();
    let diff = max_level_diff(&picture, &tract_picture("dcgan-64", 7));
    assert!(
        diff <= 1,
        "onnxruntime's picture is {diff} levels from tract's"
    );
    let samples = prometheus::parse(&get(daemon.http_addr(), "/metrics").unwrap().text()).unwrap();
    let labels = [
        ("model", "dcgan-64"),
        ("engine", "onnxruntime"),
        ("provider", "cpu"),
    ];
    assert_eq!(
        prometheus::value(&samples, "easel_inference_seconds_count", &labels),
        Some(1.0)
    );

    // Morph: frames in batches on the lanes.
    let before = frames(&daemon);
    command(&daemon, "mode", r#"{"mode":"morph","seconds":2,"fps":0}"#);
    let after = wait_frames(&daemon, before, 60.0, "60 morph frames");
    let frame = latest_frame(&daemon);
    assert_eq!((frame.width, frame.height), (64, 64));

    // Live: the first image model paints the pattern's frames.
    command(&daemon, "mode", r#"{"mode":"live","fps":0}"#);
    wait_for(Duration::from_secs(30), "live mode on style-256", || {
        let s = state(&daemon);
        (s["mode"] == "live" && s["model"] == "style-256").then_some(())
    });
    wait_frames(&daemon, after, 4.0, "live frames");
    let frame = wait_for(Duration::from_secs(60), "a 256² live frame", || {
        let f = latest_frame(&daemon);
        (f.width == 256).then_some(f)
    });
    assert_eq!((frame.width, frame.height), (256, 256));
    command(&daemon, "mode", r#"{"mode":"still"}"#);
    assert!(
        daemon.log().contains("onnxruntime loaded"),
        "{}",
        daemon.log()
    );
}

/// The onnxruntime library the search finds on this machine.
fn real_library() -> PathBuf {
    library::python_package_dir(Duration::from_secs(20))
        .and_then(|dir| library::in_python_package(&dir))
        .expect("the onnxruntime Python package (scripts/setup.sh installs it)")
}

/// A daemon whose onnxruntime cannot be opened: dcgan-64 runs on tract,
/// generates, and `/healthz` is 200 with a warning naming onnxruntime.
fn assert_runs_on_tract_with_a_warning(daemon: &Daemon, names: &str) {
    let (engine, _, warnings) = engine_of(daemon, "dcgan-64");
    assert_eq!(engine, "tract");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("onnxruntime") && warnings[0].contains(names),
        "{}",
        warnings[0]
    );
    let (status, body) = health(daemon);
    assert_eq!(status, 200, "{body}");
    let listed: Vec<&str> = body["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        listed
            .iter()
            .any(|w| w.contains("onnxruntime") && w.contains(MISSING)),
        "{body}"
    );
    let event = generate(daemon, r#"{"seed":3}"#);
    assert_eq!(event["type"], "generated", "{event}");
    assert!(
        daemon.log().contains("runs on tract instead"),
        "the fallback is logged:\n{}",
        daemon.log()
    );
}

#[test]
fn a_missing_library_runs_on_tract_with_a_warning() {
    let _serial = serial();
    let daemon = start(
        &["dcgan-64"],
        &format!("engine = \"onnxruntime\"\n[onnxruntime]\nlibrary = {MISSING:?}"),
        "",
    );
    assert_runs_on_tract_with_a_warning(&daemon, "[onnxruntime] library");
}

#[test]
fn ort_dylib_path_is_read_before_the_config() {
    let _serial = serial();
    // The config names the real library; the environment's missing one wins.
    let daemon = start(
        &["dcgan-64"],
        &format!(
            "engine = \"onnxruntime\"\n[onnxruntime]\nlibrary = {:?}",
            real_library()
        ),
        MISSING,
    );
    assert_runs_on_tract_with_a_warning(&daemon, "ORT_DYLIB_PATH");
}

#[test]
fn a_missing_provider_runs_on_onnxruntimes_cpu_with_a_warning() {
    let _serial = serial();
    let daemon = start(
        &["dcgan-64"],
        "engine = \"onnxruntime\"\n[onnxruntime]\nproviders = [\"tensorrt\", \"cpu\"]",
        "",
    );
    let (engine, provider, warnings) = engine_of(&daemon, "dcgan-64");
    assert_eq!((engine.as_str(), provider.as_str()), ("onnxruntime", "cpu"));
    assert!(
        warnings.len() == 1
            && warnings[0].contains("onnxruntime")
            && warnings[0].contains("tensorrt"),
        "{warnings:?}"
    );
    let (status, body) = health(&daemon);
    assert_eq!(status, 200, "{body}");
    let listed = body["warnings"].to_string();
    assert!(
        listed.contains("onnxruntime") && listed.contains("tensorrt"),
        "{body}"
    );
    assert_eq!(generate(&daemon, r#"{"seed":3}"#)["type"], "generated");
}
