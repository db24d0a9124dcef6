//! What the web tests share: the real `easeld` as they run it (the harness
//! of `easel-test-support`: node `web-test`, the reference DCGAN, the
//! embedded broker, an admin token), its admin `generate`, the raw HTTP
//! client (raw, so traversal paths reach the server exactly as written), a
//! Prometheus text parser, and a real headless Chromium driven over
//! `--remote-debugging-pipe`.
#![allow(dead_code)]

pub mod browser;
pub mod prometheus;

pub use easel_test_support::http::{get, request};
pub use easel_test_support::{Daemon, DaemonBuilder};
use std::net::SocketAddr;

pub const ADMIN_TOKEN: &str = "test-admin-token";

/// easeld as node `web-test` with dcgan-64 only (fast), on the embedded
/// broker, `/admin` controls on with [`ADMIN_TOKEN`]; more settings may
/// follow before `start`.
pub fn easeld() -> DaemonBuilder {
    Daemon::builder(env!("CARGO_BIN_EXE_easeld"))
        .node("web-test")
        .models(&["dcgan-64"])
        .admin_token(Some(ADMIN_TOKEN))
}

/// `generate` through the admin endpoint; the generated event.
pub fn generate(daemon: &Daemon, payload: &str) -> serde_json::Value {
    let r = request(
        daemon.http_addr(),
        "POST",
        "/admin/cmd/generate",
        &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
        payload.as_bytes(),
    )
    .expect("admin endpoint answers");
    assert_eq!(
        r.status,
        200,
        "generate failed: {}\n{}",
        r.text(),
        daemon.log()
    );
    serde_json::from_slice(&r.body).unwrap()
}

/// The `url` of the picture `/api/state` calls the newest, if any.
pub fn latest_url(addr: SocketAddr) -> Option<String> {
    let r = get(addr, "/api/state").ok()?;
    let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
    v["latest"]["url"].as_str().map(String::from)
}
