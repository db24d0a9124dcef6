//! The daemon's HTTP surface against the real `easeld` binary: archived
//! pictures and path traversal, Prometheus metrics, state, health reasons,
//! and the admin token.

mod web_support;

use std::time::Duration;
use web_support::{ADMIN_TOKEN, generate, get, prometheus, request};

#[test]
fn images_metrics_state_and_admin() {
    let mut daemon = web_support::easeld().start();
    // A secret next to the archive that traversal must not reach.
    std::fs::write(daemon.dir().join("secret.txt"), "do not serve").unwrap();
    daemon.wait_ready();
    let addr = daemon.http_addr();

    let before = prometheus::parse(&get(addr, "/metrics").unwrap().text()).expect("metrics parse");
    let generated = |s: &[prometheus::Sample]| {
        prometheus::value(s, "easel_images_generated_total", &[]).unwrap()
    };
    let start = generated(&before);

    // Three pictures through the technician's controls.
    let mut ids = Vec::new();
    for seed in [11, 12, 13] {
        let event = generate(&daemon, &format!("{{\"seed\":{seed}}}"));
        assert_eq!(event["type"], "generated");
        assert_eq!(event["seed"], seed);
        assert_eq!(event["model"], "dcgan-64");
        ids.push(event["id"].as_str().unwrap().to_string());
    }

    // The archive serves them, with provenance inside and long caching.
    let r = get(addr, &format!("/images/{}.png", ids[2])).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert!(
        r.header("cache-control")
            .unwrap()
            .contains("max-age=31536000"),
        "{:?}",
        r.headers
    );
    let text = easel_engine::picture::read_png_text(&r.body).unwrap();
    assert!(
        text.iter().any(|(k, v)| k == "easel:seed" && v == "13"),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|(k, v)| k == "easel:model" && v == "dcgan-64")
    );

    // Metrics parse and count exactly the pictures made.
    let metrics = get(addr, "/metrics").unwrap();
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let after = prometheus::parse(&metrics.text()).expect("metrics parse");
    assert_eq!(generated(&after) - start, 3.0, "{}", metrics.text());
    assert!(
        prometheus::value(
            &after,
            "easel_inference_seconds_count",
            &[
                ("model", "dcgan-64"),
                ("engine", "tract"),
                ("provider", "cpu")
            ]
        )
        .unwrap()
            >= 3.0
    );
    for name in [
        "easel_errors_total",
        "easel_mqtt_connected",
        "easel_frames_total",
        "easel_queue_depth",
        "easel_frames_dropped_total",
    ] {
        assert!(
            after.iter().any(|s| s.name == name)
                || metrics.text().contains(&format!("# TYPE {name}")),
            "{name} missing"
        );
    }
    assert_eq!(
        prometheus::value(&after, "easel_archive_images", &[]),
        Some(3.0)
    );

    // Traversal in every spelling: 404, and nothing outside is read.
    for path in [
        "/images/../secret.txt",
        "/images/..%2fsecret.txt",
        "/images/..%2F..%2Fsecret.txt",
        "/images/%2e%2e%2fsecret.txt",
        "/images/..%5csecret.txt",
        "/images/....//secret.txt",
        "/images/../../../../etc/passwd",
        "/images/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/images/%2Fetc%2Fpasswd",
        "/images/1700000000000-000001.png",
        "/images/1700000000000-000001.png%00.txt",
        "/images/latest.png",
        "/images/",
        &format!("/images/{}", ids[0]),
        &format!("/images/{}.png/..", ids[0]),
        &format!("/images/{}.png/../../secret.txt", ids[0]),
    ] {
        let r = get(addr, path).unwrap();
        assert_eq!(r.status, 404, "{path} gave {}", r.status);
        let body = r.text();
        assert!(
            !body.contains("do not serve") && !body.contains("root:"),
            "{path} leaked {body}"
        );
    }

    // State is the piece's JSON.
    let state: serde_json::Value =
        serde_json::from_slice(&get(addr, "/api/state").unwrap().body).unwrap();
    assert_eq!(state["node"], "web-test");
    assert_eq!(state["model"], "dcgan-64");
    assert_eq!(state["latest"]["id"], ids[2].as_str());

    // Health says why it is not healthy (no MQTT edge connected yet, or connected).
    let h = get(addr, "/healthz").unwrap();
    let health: serde_json::Value = serde_json::from_slice(&h.body).unwrap();
    assert_eq!(h.status == 200, health["ok"] == true, "{health}");
    if h.status == 503 {
        assert!(!health["reasons"].as_array().unwrap().is_empty());
    }

    // Controls need the token; reading does not.
    let no_token = request(addr, "POST", "/admin/cmd/generate", &[], b"{}").unwrap();
    assert_eq!(no_token.status, 401);
    let wrong = request(
        addr,
        "POST",
        "/admin/cmd/generate",
        &[("Authorization", "Bearer nope")],
        b"{}",
    )
    .unwrap();
    assert_eq!(wrong.status, 401);
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let bad = request(
        addr,
        "POST",
        "/admin/cmd/generate",
        &[("Authorization", &auth)],
        b"{\"seed\":\"x\"}",
    )
    .unwrap();
    assert_eq!(bad.status, 400, "{}", bad.text());
    let mode = request(
        addr,
        "POST",
        "/admin/cmd/mode",
        &[("Authorization", &auth)],
        b"{\"mode\":\"still\"}",
    )
    .unwrap();
    // The command's own answer: `done`, and an unknown model's `error`.
    assert_eq!(mode.status, 200, "{}", mode.text());
    let done: serde_json::Value = serde_json::from_slice(&mode.body).unwrap();
    assert_eq!(
        (done["type"].as_str(), done["command"].as_str()),
        (Some("done"), Some("mode")),
        "{done}"
    );
    let nope = request(
        addr,
        "POST",
        "/admin/cmd/model",
        &[("Authorization", &auth)],
        b"{\"name\":\"nope\"}",
    )
    .unwrap();
    assert_eq!(nope.status, 422, "{}", nope.text());
    let refused: serde_json::Value = serde_json::from_slice(&nope.body).unwrap();
    assert_eq!(refused["code"], "unknown_model", "{refused}");
    assert_eq!(get(addr, "/admin").unwrap().status, 200);
    let recent: serde_json::Value =
        serde_json::from_slice(&get(addr, "/admin/recent").unwrap().body).unwrap();
    assert_eq!(recent["controls"], true);
    let seeds: Vec<_> = recent["pictures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(
        seeds,
        vec![13, 12, 11],
        "newest first, seeds from provenance"
    );

    // The refused command was counted like any other error.
    let last = prometheus::parse(&get(addr, "/metrics").unwrap().text()).unwrap();
    assert_eq!(
        prometheus::value(&last, "easel_errors_total", &[("code", "bad_request")]),
        Some(1.0)
    );
    assert_eq!(generated(&last) - start, 3.0, "refusals make no pictures");

    let status = daemon.stop();
    assert!(status.success(), "easeld exits 0 on SIGTERM: {status}");
}

#[test]
fn admin_controls_are_off_without_a_token() {
    let daemon = web_support::easeld().admin_token(None).start();
    let r = request(
        daemon.http_addr(),
        "POST",
        "/admin/cmd/generate",
        &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
        b"{}",
    )
    .unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    // The page is served at once, before any model has loaded.
    let page = get(daemon.http_addr(), "/").unwrap();
    assert_eq!(page.status, 200);
    assert!(page.text().contains("EventSource"));
    assert!(
        !page.text().contains("http://") && !page.text().contains("https://"),
        "no external assets"
    );
    std::thread::sleep(Duration::from_millis(100));
}

/// Morph mode as fast as the engine goes: frames flow in batches
/// (`easel_frames_total` grows), the newest is served as a PNG with its
/// morph position in the provenance, and still mode stops the flow.
#[test]
fn morph_frames_flow_and_stop() {
    let mut daemon = web_support::easeld().start();
    daemon.wait_ready();
    let addr = daemon.http_addr();
    let command = |name: &str, payload: &str| {
        let r = request(
            addr,
            "POST",
            &format!("/admin/cmd/{name}"),
            &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
            payload.as_bytes(),
        )
        .unwrap();
        assert!(matches!(r.status, 200 | 202), "{name}: {}", r.text());
    };
    let frames = || {
        let samples = prometheus::parse(&get(addr, "/metrics").unwrap().text()).unwrap();
        prometheus::value(&samples, "easel_frames_total", &[]).unwrap()
    };
    command("mode", r#"{"mode":"morph","seconds":2,"fps":0}"#);
    easel_test_support::wait_for(Duration::from_secs(30), "100 morph frames", || {
        (frames() >= 100.0).then_some(())
    });
    let r = get(addr, "/frames/latest.png").unwrap();
    assert_eq!(r.status, 200);
    assert!(r.header("x-easel-frame").is_some());
    let picture = easel_engine::picture::RgbImage::decode_png(&r.body).unwrap();
    assert_eq!((picture.width, picture.height), (64, 64));
    let text = easel_engine::picture::read_png_text(&r.body).unwrap();
    let params = text
        .iter()
        .find(|(k, _)| k == "easel:params")
        .map(|(_, v)| serde_json::from_str::<serde_json::Value>(v).unwrap())
        .expect("frame provenance has params");
    assert!(params["morph"]["t"].is_number(), "{params}");

    command("mode", r#"{"mode":"still"}"#);
    // The batch in flight may still be shown; then nothing more.
    std::thread::sleep(Duration::from_millis(500));
    let stopped = frames();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(frames(), stopped, "frames after still mode");
}
