//! Frame sources end to end through the real `easeld`: `capture` from the
//! test pattern and from a file (archived, with provenance, the very pixels
//! the engine paints from that file), live mode (frames counted and served,
//! image models switched, a still scene skipped), and a missing camera
//! (warning in state and `/healthz`, the fallback shown, live mode parked
//! with `fallback = "still"`).
//!
//! Commands and events go over MQTT (the daemon's embedded broker); state,
//! health, metrics, pictures and frames over HTTP.

// Only the probe is used here; the module's other helpers serve other tests.
#[allow(unused_imports)]
mod mqtt_support;
mod web_support;

use easel_engine::package::ModelPackage;
use easel_engine::picture::{RgbImage, read_png_text};
use easel_engine::{Engine, Lane, RenderRequest, Source, Urgency};
use easel_test_support::{repo_root, wait_for};
use mqtt_support::Probe;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use web_support::{Daemon, get, prometheus};

const NODE: &str = "web-test";

/// One daemon at a time: each paints 256² frames on a 2-core machine.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A daemon with dcgan-64 (the default, not an image model), style-256
/// and a second image model `style-b` (the same network under another
/// name), on the embedded broker, with `extra` config lines; and the
/// broker's port.
fn start(extra: &str) -> (Daemon, u16) {
    let mut daemon = web_support::easeld()
        .models(&["style-256"])
        .model_as("style-256", "style-b")
        .extra(extra)
        .start();
    daemon.wait_ready();
    // The image models load in the background after the default one.
    wait_for(Duration::from_secs(120), "all three models", || {
        (state(&daemon)["models"].as_array()?.len() == 3).then_some(())
    });
    let mqtt_port = daemon.mqtt_port();
    (daemon, mqtt_port)
}

fn state(daemon: &Daemon) -> Value {
    let r = get(daemon.http_addr(), "/api/state").unwrap();
    serde_json::from_slice(&r.body).unwrap()
}

fn frames_total(daemon: &Daemon) -> f64 {
    frames_at(daemon.http_addr())
}

/// `easel_frames_total` of the daemon at `addr`.
fn frames_at(addr: std::net::SocketAddr) -> f64 {
    let text = get(addr, "/metrics").unwrap().text();
    let samples = prometheus::parse(&text).expect("metrics parse");
    prometheus::value(&samples, "easel_frames_total", &[]).unwrap()
}

/// Waits until `easel_frames_total` reaches `at_least`.
async fn wait_frames(daemon: &Daemon, at_least: f64, what: &'static str) {
    let addr = daemon.http_addr();
    blocking(move || {
        wait_for(Duration::from_secs(120), what, || {
            (frames_at(addr) >= at_least).then_some(())
        })
    })
    .await
}

async fn probe(port: u16) -> Probe {
    let mut probe = Probe::connect(port, "camera-test").await;
    let status = format!("easel/{NODE}/status");
    probe
        .wait("status online", 30, |s| {
            s.topic == status && s.payload == "online"
        })
        .await;
    probe
}

async fn command(probe: &Probe, name: &str, payload: Value) {
    probe
        .publish(
            &format!("easel/{NODE}/cmd/{name}"),
            payload.to_string(),
            false,
        )
        .await;
}

/// The event answering `request_id`.
async fn answer(probe: &mut Probe, request_id: &str, secs: u64) -> Value {
    let topic = format!("easel/{NODE}/event");
    probe
        .wait(&format!("the answer to {request_id}"), secs, |s| {
            s.topic == topic && s.json()["request_id"] == request_id
        })
        .await
        .json()
}

/// Runs blocking HTTP polling off the async test's thread.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// Captures once and returns the `generated` event and the picture's text chunks.
async fn capture(
    probe: &mut Probe,
    daemon: &Daemon,
    id: &str,
    payload: Value,
) -> (Value, HashMap<String, String>, Vec<u8>) {
    let mut payload = payload;
    payload["request_id"] = json!(id);
    command(probe, "capture", payload).await;
    let event = answer(probe, id, 120).await;
    assert_eq!(event["type"], "generated", "{event}\n{}", daemon.log());
    let png = get(daemon.http_addr(), event["url"].as_str().unwrap()).unwrap();
    assert_eq!(png.status, 200);
    let text = read_png_text(&png.body).unwrap().into_iter().collect();
    (event, text, png.body)
}

fn params(text: &HashMap<String, String>) -> Value {
    serde_json::from_str(&text["easel:params"]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_from_the_pattern_is_archived_with_provenance() {
    let _serial = SERIAL.lock().await;
    let (daemon, port) = start("source = \"test://pattern\"");
    let mut probe = probe(port).await;

    // The current model is dcgan-64: capture takes the first image model.
    let (event, text, _) = capture(&mut probe, &daemon, "cap-1", json!({})).await;
    assert_eq!(event["model"], "style-256");
    assert_eq!(
        (event["width"].as_u64(), event["height"].as_u64()),
        (Some(256), Some(256))
    );
    assert!(event["seed"].is_null());
    let p = params(&text);
    assert_eq!(p["captured"], true, "{p}");
    assert_eq!(p["source"], "test://pattern");
    assert_eq!(p["size"], json!([256, 256]));
    assert_eq!(p["frame"]["width"], 640, "the [camera] default size: {p}");
    assert_eq!(text["easel:model"], "style-256");
    assert!(text["Software"].starts_with("easel "));
    assert!(
        text["XML:com.adobe.xmp"].contains("trainedAlgorithmicMedia"),
        "{text:?}"
    );
    // Shown: the newest picture, and its palette.
    assert_eq!(state(&daemon)["latest"]["id"], event["id"]);
    let palette = format!("easel/{NODE}/palette");
    probe
        .wait("a palette", 10, |s| {
            s.topic == palette && s.payload.starts_with('#')
        })
        .await;

    // A named image model; refusals with clear codes.
    let (event, _, _) = capture(&mut probe, &daemon, "cap-2", json!({"model": "style-b"})).await;
    assert_eq!(event["model"], "style-b");
    command(
        &probe,
        "capture",
        json!({"request_id": "cap-3", "model": "dcgan-64"}),
    )
    .await;
    let refused = answer(&mut probe, "cap-3", 30).await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("not_image_model"))
    );
    command(
        &probe,
        "capture",
        json!({"request_id": "cap-4", "model": "nope"}),
    )
    .await;
    assert_eq!(
        answer(&mut probe, "cap-4", 30).await["code"],
        "unknown_model"
    );

    // Two captures a moment apart paint two different moments.
    let (a, _, first) = capture(&mut probe, &daemon, "cap-5", json!({})).await;
    let (b, _, second) = capture(&mut probe, &daemon, "cap-6", json!({})).await;
    assert_ne!(a["id"], b["id"]);
    assert_ne!(
        RgbImage::decode_png(&first).unwrap(),
        RgbImage::decode_png(&second).unwrap(),
        "the pattern moves between captures"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_from_a_file_paints_that_file() {
    let _serial = SERIAL.lock().await;
    // A picture the test makes: 320x200, so the model crops and resizes.
    let dir = tempfile::tempdir().unwrap();
    let picture = RgbImage::new(
        320,
        200,
        (0..320 * 200 * 3).map(|i| ((i * 37) % 251) as u8).collect(),
    );
    let file = dir.path().join("visitor.png");
    let provenance = easel_engine::picture::Provenance {
        model: "none".into(),
        model_sha256: "0".into(),
        seed: None,
        params: json!({}),
    };
    std::fs::write(
        &file,
        easel_engine::picture::encode_png(&picture, &provenance),
    )
    .unwrap();
    let uri = format!("file://{}", file.display());
    let (daemon, port) = start(&format!("source = {uri:?}"));
    let mut probe = probe(port).await;

    let (event, text, png) =
        capture(&mut probe, &daemon, "file-1", json!({"model": "style-256"})).await;
    assert_eq!(event["model"], "style-256");
    assert_eq!(params(&text)["source"], uri.as_str());
    assert_eq!(params(&text)["captured"], true);

    // The same pixels as the engine paints from that picture, here.
    let expected = blocking(move || {
        let engine = Engine::start(1, 4);
        let package = ModelPackage::open(repo_root().join("models/style-256")).unwrap();
        engine.load_blocking(package).unwrap();
        let painted = engine
            .render_blocking(RenderRequest {
                model: "style-256".into(),
                source: Source::Image(Arc::new(picture)),
                size: None,
                urgency: Urgency::Latest(Lane::Interactive),
            })
            .unwrap();
        engine.shutdown();
        painted.image
    })
    .await;
    assert_eq!(RgbImage::decode_png(&png).unwrap(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_mode_paints_frames_and_switches_image_models() {
    let _serial = SERIAL.lock().await;
    let (daemon, port) =
        start("source = \"test://pattern\"\n[camera]\nwidth = 320\nheight = 240\nfps = 15");
    let mut probe = probe(port).await;
    let before = frames_total(&daemon);
    assert!(
        get(daemon.http_addr(), "/frames/latest.png")
            .unwrap()
            .status
            == 404,
        "no frames yet"
    );

    // dcgan-64 is current: live mode picks the first image model.
    command(
        &probe,
        "mode",
        json!({"request_id": "live-1", "mode": "live", "fps": 0}),
    )
    .await;
    assert_eq!(answer(&mut probe, "live-1", 30).await["type"], "done");
    let s = state(&daemon);
    assert_eq!(
        (s["mode"].as_str(), s["model"].as_str()),
        (Some("live"), Some("style-256"))
    );
    wait_frames(&daemon, before + 3.0, "three live frames").await;
    let frame = get(daemon.http_addr(), "/frames/latest.png").unwrap();
    assert_eq!(frame.status, 200);
    assert!(frame.header("x-easel-frame").is_some());
    let image = RgbImage::decode_png(&frame.body).unwrap();
    assert_eq!((image.width, image.height), (256, 256));
    let text: HashMap<_, _> = read_png_text(&frame.body).unwrap().into_iter().collect();
    assert_eq!(params(&text)["live"], true);

    // Only image models while live: next_model skips dcgan-64, model refuses it.
    command(&probe, "next_model", json!({"request_id": "next-1"})).await;
    answer(&mut probe, "next-1", 30).await;
    assert_eq!(state(&daemon)["model"], "style-b");
    command(&probe, "next_model", json!({"request_id": "next-2"})).await;
    answer(&mut probe, "next-2", 30).await;
    assert_eq!(state(&daemon)["model"], "style-256");
    command(
        &probe,
        "model",
        json!({"request_id": "m-1", "name": "dcgan-64"}),
    )
    .await;
    assert_eq!(
        answer(&mut probe, "m-1", 30).await["code"],
        "not_image_model"
    );
    command(
        &probe,
        "model",
        json!({"request_id": "m-2", "name": "style-b"}),
    )
    .await;
    assert_eq!(answer(&mut probe, "m-2", 30).await["type"], "done");
    let now = frames_total(&daemon);
    wait_frames(&daemon, now + 2.0, "frames from style-b").await;

    // Leaving live mode stops the frames.
    command(
        &probe,
        "mode",
        json!({"request_id": "still-1", "mode": "still"}),
    )
    .await;
    answer(&mut probe, "still-1", 30).await;
    // Frames in flight when the mode changed still finish (one per lane,
    // slow on a loaded machine: a style-256 frame of the test build took
    // over 2 s there once): wait until none has come for 5 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut stopped = frames_total(&daemon);
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let now = frames_total(&daemon);
        if now == stopped {
            break;
        }
        stopped = now;
        assert!(
            std::time::Instant::now() < deadline,
            "frames keep coming in still mode"
        );
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(frames_total(&daemon), stopped, "no frames in still mode");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_still_scene_is_painted_once() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("still.png");
    let provenance = easel_engine::picture::Provenance {
        model: "none".into(),
        model_sha256: "0".into(),
        seed: None,
        params: json!({}),
    };
    let picture = easel_daemon::source::pattern::render(320, 240, 1.0);
    std::fs::write(
        &file,
        easel_engine::picture::encode_png(&picture, &provenance),
    )
    .unwrap();
    let (daemon, port) = start(&format!(
        "source = \"file://{}\"\n[camera]\nfps = 20",
        file.display()
    ));
    let mut probe = probe(port).await;
    let before = frames_total(&daemon);
    command(
        &probe,
        "mode",
        json!({"request_id": "live-1", "mode": "live", "fps": 0}),
    )
    .await;
    answer(&mut probe, "live-1", 30).await;
    wait_frames(&daemon, before + 1.0, "the first frame").await;
    // Twenty source frames a second, all the same picture: none repainted.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        frames_total(&daemon),
        before + 1.0,
        "a still scene is painted once"
    );
    // Another model paints it again, once.
    command(&probe, "next_model", json!({"request_id": "next-1"})).await;
    answer(&mut probe, "next-1", 30).await;
    wait_frames(&daemon, before + 2.0, "a frame from the next model").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(frames_total(&daemon), before + 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_camera_warns_and_falls_back() {
    let _serial = SERIAL.lock().await;
    let (daemon, port) =
        start("source = \"v4l:///dev/nonexistent\"\n[camera]\nwidth = 320\nheight = 240");
    let mut probe = probe(port).await;

    // state and /healthz say why; healthz stays 200 (the fallback works).
    let s = state(&daemon);
    assert_eq!(s["source"]["ok"], false, "{s}");
    assert_eq!(s["source"]["uri"], "v4l:///dev/nonexistent");
    assert_eq!(s["source"]["showing"], "test://pattern");
    let health = get(daemon.http_addr(), "/healthz").unwrap();
    assert_eq!(health.status, 200, "{}", health.text());
    let body: Value = serde_json::from_slice(&health.body).unwrap();
    let warnings = body["warnings"].as_array().cloned().unwrap_or_default();
    assert!(
        warnings.iter().filter_map(Value::as_str).any(|w| {
            w.contains("no camera at /dev/nonexistent: no such device")
                && w.contains("test pattern")
        }),
        "{body}"
    );
    assert!(
        daemon.log().contains("frame source failing"),
        "{}",
        daemon.log()
    );

    // Live mode runs on the pattern; a capture says where its frame came from.
    let before = frames_total(&daemon);
    command(
        &probe,
        "mode",
        json!({"request_id": "live-1", "mode": "live"}),
    )
    .await;
    answer(&mut probe, "live-1", 30).await;
    let (_, text, _) = capture(&mut probe, &daemon, "cap-1", json!({})).await;
    assert_eq!(params(&text)["source"], "test://pattern");
    wait_frames(&daemon, before + 2.0, "live frames on the fallback").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_pattern_fallback_live_mode_waits_in_still_mode() {
    let _serial = SERIAL.lock().await;
    // An existing file that is no camera: refused by the device layer, or
    // by a build without camera support; either way with its reason.
    let (daemon, port) = start("source = \"v4l:///dev/null\"\n[camera]\nfallback = \"still\"");
    let mut probe = probe(port).await;
    let s = state(&daemon);
    let warning = s["source"]["warning"].as_str().unwrap_or_default();
    assert!(
        warning.contains("built without camera support") || warning.contains("not a V4L2 device"),
        "{s}"
    );
    assert!(warning.contains("still images"), "{warning}");
    assert!(s["source"]["showing"].is_null());

    command(
        &probe,
        "mode",
        json!({"request_id": "live-1", "mode": "live"}),
    )
    .await;
    answer(&mut probe, "live-1", 30).await;
    let addr = daemon.http_addr();
    blocking(move || {
        wait_for(
            Duration::from_secs(10),
            "live mode parked in still mode",
            || {
                let r = get(addr, "/api/state").unwrap();
                let v: Value = serde_json::from_slice(&r.body).unwrap();
                (v["mode"] == "still").then_some(())
            },
        )
    })
    .await;
    command(&probe, "capture", json!({"request_id": "cap-1"})).await;
    let refused = answer(&mut probe, "cap-1", 30).await;
    assert_eq!(refused["code"], "no_frame", "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("/dev/null"),
        "{refused}"
    );
    // Still the daemon serves and stays healthy.
    assert_eq!(get(daemon.http_addr(), "/healthz").unwrap().status, 200);
}
