//! Benchmark (ignored by default): button-to-pixel latency on the gallery
//! page in a real headless Chromium, and the frame rate the page shows in
//! morph mode. Run it with
//!
//! ```text
//! cargo test -p easel-daemon --test web_bench -- --ignored --nocapture
//! ```
//!
//! (the test profile builds dependencies optimized, so tract runs at speed).
//! The "button" is the technician's control (`POST /admin/cmd/generate`);
//! every press is split into
//! - control plane: request sent → command answered, minus the piece's own
//!   time (HTTP parsing, the command queue, the answer back),
//! - engine: time in the model (`easel_inference_seconds`, per picture),
//! - encode: PNG encoding, palette and the archive write (the piece's time
//!   minus the engine's),
//! - delivery: answer received → the page has fetched, decoded and begun
//!   fading in the picture (SSE notice, image request, decode, next frame).

mod web_support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use web_support::browser::Browser;
use web_support::{ADMIN_TOKEN, get, prometheus, request};

const PRESSES: usize = 60;

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1e3
}

fn stats(name: &str, mut v: Vec<f64>) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:>14}: median {:7.2} ms   p99 {:7.2} ms   (n={})",
        at(0.5),
        at(0.99),
        v.len()
    );
}

fn inference(addr: std::net::SocketAddr) -> (f64, f64) {
    let s = prometheus::parse(&get(addr, "/metrics").unwrap().text()).unwrap();
    let sum = prometheus::value(
        &s,
        "easel_inference_seconds_sum",
        &[
            ("model", "dcgan-64"),
            ("engine", "tract"),
            ("provider", "cpu"),
        ],
    )
    .unwrap_or(0.0);
    let count = prometheus::value(
        &s,
        "easel_inference_seconds_count",
        &[
            ("model", "dcgan-64"),
            ("engine", "tract"),
            ("provider", "cpu"),
        ],
    )
    .unwrap_or(0.0);
    (sum, count)
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn button_to_pixel_and_morph_frame_rate() {
    let mut daemon = web_support::easeld().start();
    daemon.wait_ready();
    let mut browser = Browser::launch();
    let page = browser.open_connected(&daemon.url("/"));
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let (mut total, mut control, mut engine, mut encode, mut delivery) =
        (vec![], vec![], vec![], vec![], vec![]);
    for press in 0..PRESSES + 3 {
        let (sum0, _) = inference(daemon.http_addr());
        let sent = now_ms();
        let r = request(
            daemon.http_addr(),
            "POST",
            "/admin/cmd/generate",
            &[("Authorization", &auth)],
            b"{}",
        )
        .unwrap();
        let answered = now_ms();
        assert_eq!(r.status, 200, "{}", r.text());
        let event: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let id = event["id"].as_str().unwrap();
        let shown = browser.wait_until(
            &page,
            Duration::from_secs(20),
            "the picture",
            &format!("(window.easel.shownLog.find(e => e.id === '{id}') || {{}}).at || null"),
        );
        let (sum1, _) = inference(daemon.http_addr());
        if press < 3 {
            continue; // warm-up
        }
        let piece_ms = event["latency_ms"].as_f64().unwrap();
        let engine_ms = (sum1 - sum0) * 1e3;
        total.push(shown.as_f64().unwrap() - sent);
        control.push((answered - sent) - piece_ms);
        engine.push(engine_ms);
        encode.push(piece_ms - engine_ms);
        delivery.push(shown.as_f64().unwrap() - answered);
    }
    println!("button-to-pixel on dcgan-64 (64x64), {PRESSES} presses, headless Chromium:");
    stats("total", total);
    stats("control plane", control);
    stats("engine", engine);
    stats("encode+archive", encode);
    stats("delivery", delivery);

    // Morph mode: frames the page really drew per second.
    let r = request(
        daemon.http_addr(),
        "POST",
        "/admin/cmd/mode",
        &[("Authorization", &auth)],
        br#"{"mode":"morph","fps":0}"#,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    std::thread::sleep(Duration::from_secs(2));
    let before = browser
        .eval(&page, "window.easel.framesShown")
        .as_f64()
        .unwrap();
    let seconds = 10.0;
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let after = browser
        .eval(&page, "window.easel.framesShown")
        .as_f64()
        .unwrap();
    println!(
        "morph mode (fps=0: as fast as possible): the page drew {:.1} frames/s",
        (after - before) / seconds
    );
}
