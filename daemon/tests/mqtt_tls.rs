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
use mqtt_support::{Mosquitto, NODE, Probe, free_port, wait_port};
use serde_json::json;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// mosquitto with a plain listener (`port`, for the probe) and a TLS one.
fn tls_mosquitto(dir: &Path, pki: &Pki) -> (Mosquitto, u16) {
    let tls_port = free_port();
    let m = Mosquitto::start_with(dir, &tls::mosquitto_listener(dir, pki, tls_port));
    wait_port(tls_port);
    (m, tls_port)
}

/// The real easeld on `mqtts://127.0.0.1:<port>` with `ca_file`.
struct Easeld {
    dir: tempfile::TempDir,
    child: Child,
    http: u16,
}

impl Easeld {
    fn start(tls_port: u16, ca_file: &Path) -> Easeld {
        Easeld::start_with(
            &format!(
                "url = \"mqtts://127.0.0.1:{tls_port}\"\nca_file = \"{}\"\n",
                ca_file.display()
            ),
            None,
        )
    }

    /// easeld with these lines in its `[mqtt]` table and, if given,
    /// `EASEL_MQTT_PASSWORD` in its environment.
    fn start_with(mqtt: &str, password: Option<&str>) -> Easeld {
        let dir = tempfile::tempdir().unwrap();
        let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/dcgan-64");
        let to = dir.path().join("models/dcgan-64");
        std::fs::create_dir_all(&to).unwrap();
        for f in std::fs::read_dir(models).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
        }
        let http = free_port();
        let config = dir.path().join("easel.toml");
        std::fs::write(
            &config,
            format!(
                "node = \"{NODE}\"\nmodels_dir = \"{}\"\ndata_dir = \"{}\"\ndefault_model = \"dcgan-64\"\nthreads = 1\n\n[mqtt]\n{mqtt}\n[http]\nlisten = \"127.0.0.1:{http}\"\n",
                dir.path().join("models").display(),
                dir.path().join("data").display(),
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("easeld.log")).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_easeld"));
        command
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info,tract=warn")
            .env_remove("EASEL_MQTT_PASSWORD")
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(password) = password {
            command.env("EASEL_MQTT_PASSWORD", password);
        }
        let child = command.spawn().expect("starting easeld");
        wait_port(http);
        Easeld { dir, child, http }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("easeld.log")).unwrap_or_default()
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// `GET /healthz`: (status, body).
    fn healthz(&self) -> (u16, String) {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.http)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (status, text)
    }
}

impl Drop for Easeld {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- easeld log ---\n{}", self.log());
        }
    }
}

#[tokio::test]
async fn generate_over_tls() {
    let _serial = mqtt_support::SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki("good");
    let (broker, tls_port) = tls_mosquitto(dir.path(), &pki);
    let mut probe = Probe::connect(broker.port, "tls-probe").await;
    let mut d = Easeld::start(tls_port, &tls::write(dir.path(), "trusted.pem", &pki.ca));
    probe.wait_online(60).await;
    probe
        .command("generate", json!({"seed": 21, "request_id": "tls-1"}))
        .await;
    let answer = probe.answer("tls-1", 30).await;
    assert_eq!(answer["type"], "generated", "{answer}");
    assert_eq!(answer["seed"], 21);
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.healthz().0 != 200 {
        assert!(Instant::now() < deadline, "healthz: {:?}", d.healthz());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(d.running());
}

#[tokio::test]
async fn wrong_ca_is_a_logged_error_and_503_not_a_crash() {
    let _serial = mqtt_support::SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (broker, tls_port) = tls_mosquitto(dir.path(), &make_pki("broker"));
    // A CA that did not sign the broker's certificate.
    let other = make_pki("stranger");
    let mut d = Easeld::start(tls_port, &tls::write(dir.path(), "wrong.pem", &other.ca));
    refused(&mut d, broker.port, &["UnknownIssuer", "certificate"]).await;
}

/// easeld cannot connect: it says why in its log (one of `reasons`), keeps
/// retrying and serving its page, answers `/healthz` with 503, and nothing
/// it said reached the broker (seen on `broker_port`).
async fn refused(d: &mut Easeld, broker_port: u16, reasons: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !d.log().contains("MQTT connect failed") {
        assert!(d.running(), "easeld exited");
        assert!(Instant::now() < deadline, "no connect failure logged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = d.log();
    assert!(
        reasons.iter().any(|why| log.contains(why)),
        "the log does not say why ({reasons:?}):\n{log}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(d.running());
    let (status, body) = d.healthz();
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
    let mqtt = format!(
        "url = \"mqtt://127.0.0.1:{}\"\nusername = \"artist\"\n",
        broker.port
    );
    let mut d = Easeld::start_with(&mqtt, Some("s3cret words"));
    probe.wait_online(60).await;
    probe
        .command("generate", json!({"seed": 5, "request_id": "auth-1"}))
        .await;
    let answer = probe.answer("auth-1", 30).await;
    assert_eq!(answer["type"], "generated", "{answer}");
    assert!(d.running());
    // The password is never written to the log.
    assert!(!d.log().contains("s3cret"), "{}", d.log());
}

#[tokio::test]
async fn wrong_password_is_a_logged_error_and_503() {
    let _serial = mqtt_support::SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let broker = password_mosquitto(dir.path(), "right");
    let mqtt = format!(
        "url = \"mqtt://127.0.0.1:{}\"\nusername = \"artist\"\n",
        broker.port
    );
    let mut d = Easeld::start_with(&mqtt, Some("wrong"));
    refused(
        &mut d,
        broker.port,
        &["NotAuthorized", "BadUserNamePassword", "refused"],
    )
    .await;
}
