//! A secured external broker end to end. `mqtts://`: a mosquitto with a
//! TLS listener (CA and server certificate made here with rcgen), the real
//! `easeld` configured with `[mqtt] url = "mqtts://…"` and `ca_file`, a
//! command and its event over TLS; and a daemon given the wrong CA stays
//! up, says why in its log and answers `/healthz` with 503 instead of
//! crashing. Username and password: a mosquitto with a password file,
//! `[mqtt] username` and the password from `EASEL_MQTT_PASSWORD`; a wrong
//! password is refused by the broker, logged, and a 503.
//!
//! The broker also has a plain listener, used only by the test's probe:
//! easeld is given the TLS port alone, so everything it says went over TLS.

mod mqtt_support;

use easel_test_support::tls::{self, Pki, make_pki};
use easel_test_support::{Broker, Daemon, DaemonBuilder, Mosquitto, free_port, http, wait_port};
use mqtt_support::{NODE, Probe};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// mosquitto with a plain listener (`port`, for the probe) and a TLS one.
fn tls_mosquitto(dir: &Path, pki: &Pki) -> (Mosquitto, u16) {
    let tls_port = free_port();
    let m = Mosquitto::start_with(dir, &tls::mosquitto_listener(dir, pki, tls_port));
    wait_port(tls_port);
    (m, tls_port)
}

/// The real easeld as node `NODE` with dcgan-64 on the broker at `url`.
fn easeld(url: String) -> DaemonBuilder {
    Daemon::builder(env!("CARGO_BIN_EXE_easeld"))
        .node(NODE)
        .models(&["dcgan-64"])
        .broker(Broker::External(url))
}

/// easeld on `mqtts://127.0.0.1:<tls_port>` with `ca_file`.
fn start_tls(tls_port: u16, ca_file: &Path) -> Daemon {
    easeld(format!("mqtts://127.0.0.1:{tls_port}"))
        .mqtt_lines(&format!("ca_file = \"{}\"", ca_file.display()))
        .start()
}

/// easeld as user `artist` on the broker at `port`, its password given
/// in `EASEL_MQTT_PASSWORD`.
fn start_as_artist(port: u16, password: &str) -> Daemon {
    easeld(format!("mqtt://127.0.0.1:{port}"))
        .mqtt_lines("username = \"artist\"")
        .env("EASEL_MQTT_PASSWORD", password)
        .start()
}

/// `GET /healthz`: (status, body).
fn healthz(d: &Daemon) -> (u16, String) {
    let r = http::get(d.http_addr(), "/healthz").unwrap();
    (r.status, r.text())
}

#[tokio::test]
async fn generate_over_tls() {
    let _serial = mqtt_support::SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki("good");
    let (broker, tls_port) = tls_mosquitto(dir.path(), &pki);
    let mut probe = Probe::connect(broker.port, "tls-probe").await;
    let mut d = start_tls(tls_port, &tls::write(dir.path(), "trusted.pem", &pki.ca));
    probe.wait_online(60).await;
    probe
        .command("generate", json!({"seed": 21, "request_id": "tls-1"}))
        .await;
    let answer = probe.answer("tls-1", 30).await;
    assert_eq!(answer["type"], "generated", "{answer}");
    assert_eq!(answer["seed"], 21);
    let deadline = Instant::now() + Duration::from_secs(10);
    while healthz(&d).0 != 200 {
        assert!(Instant::now() < deadline, "healthz: {:?}", healthz(&d));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(d.is_running());
}

#[tokio::test]
async fn wrong_ca_is_a_logged_error_and_503_not_a_crash() {
    let _serial = mqtt_support::SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (broker, tls_port) = tls_mosquitto(dir.path(), &make_pki("broker"));
    // A CA that did not sign the broker's certificate.
    let other = make_pki("stranger");
    let mut d = start_tls(tls_port, &tls::write(dir.path(), "wrong.pem", &other.ca));
    refused(&mut d, broker.port, &["UnknownIssuer", "certificate"]).await;
}

/// easeld cannot connect: it says why in its log (one of `reasons`), keeps
/// retrying and serving its page, answers `/healthz` with 503, and nothing
/// it said reached the broker (seen on `broker_port`).
async fn refused(d: &mut Daemon, broker_port: u16, reasons: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !d.log().contains("MQTT connect failed") {
        assert!(d.is_running(), "easeld exited");
        assert!(Instant::now() < deadline, "no connect failure logged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = d.log();
    assert!(
        reasons.iter().any(|why| log.contains(why)),
        "the log does not say why ({reasons:?}):\n{log}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(d.is_running());
    let (status, body) = healthz(d);
    assert_eq!(status, 503, "{body}");
    let mut probe = Probe::connect(broker_port, "refused-probe").await;
    let seen = probe.drain(1.0).await;
    assert!(
        seen.iter()
            .all(|s| !s.topic.starts_with(&format!("easel/{NODE}/"))),
        "{seen:?}"
    );
}

/// mosquitto whose one user is `artist` with `password`; anonymous clients
/// (the probe) are still let in, but a client that names a user must give
/// that user's password, so a refused wrong password proves easeld sends
/// what it was given.
fn password_mosquitto(dir: &Path, password: &str) -> Mosquitto {
    let file = dir.join("passwords");
    let status = Command::new("mosquitto_passwd")
        .args(["-b", "-c"])
        .arg(&file)
        .args(["artist", password])
        .status()
        .expect("mosquitto_passwd (package mosquitto) is installed");
    assert!(status.success());
    Mosquitto::start_with(dir, &format!("password_file {}", file.display()))
}

#[tokio::test]
async fn username_and_password_from_the_environment() {
    let _serial = mqtt_support::SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let broker = password_mosquitto(dir.path(), "s3cret words");
    let mut probe = Probe::connect(broker.port, "auth-probe").await;
    let mut d = start_as_artist(broker.port, "s3cret words");
    probe.wait_online(60).await;
    probe
        .command("generate", json!({"seed": 5, "request_id": "auth-1"}))
        .await;
    let answer = probe.answer("auth-1", 30).await;
    assert_eq!(answer["type"], "generated", "{answer}");
    assert!(d.is_running());
    // The password is never written to the log.
    assert!(!d.log().contains("s3cret"), "{}", d.log());
}

#[tokio::test]
async fn wrong_password_is_a_logged_error_and_503() {
    let _serial = mqtt_support::SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let broker = password_mosquitto(dir.path(), "right");
    let mut d = start_as_artist(broker.port, "wrong");
    refused(
        &mut d,
        broker.port,
        &["NotAuthorized", "BadUserNamePassword", "refused"],
    )
    .await;
}
