//! The locked embedded broker (docs/mqtt.md, "A locked broker"), from
//! outside: a real easeld whose embedded broker listens on every
//! interface with `[mqtt] username` set, probed with mosquitto's own
//! clients at MQTT 3.1.1 and 5. Anonymous and wrong-password logins are
//! refused, the right login works, a controller from the password file may
//! press its buttons but not send commands, and the daemon keeps serving.
//! An open broker off loopback is refused by `easeld check`.

use easel_test_support::{Daemon, wait_for};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const PASSWORD: &str = "gallery-secret-1";
const CONTROLLER_PASSWORD: &str = "button-box-2";
const VERSIONS: [&str; 2] = ["mqttv311", "mqttv5"];

/// `NAME:$argon2id$…` from `easeld passwd NAME`.
fn passwd_line(name: &str, password: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_easeld"))
        .args(["passwd", name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(line.starts_with(&format!("{name}:$argon2")), "{line}");
    line
}

/// The daemon, and the folder of its password file (read at start, which
/// may come after `start` returns: HTTP is served first).
fn locked_daemon() -> (Daemon, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    std::fs::write(&users, passwd_line("ctl-1", CONTROLLER_PASSWORD)).unwrap();
    let daemon = Daemon::builder(env!("CARGO_BIN_EXE_easeld"))
        .models(&["cppn-aurora"])
        .embedded_host("0.0.0.0")
        .mqtt_lines(&format!(
            "username = \"artist\"\npassword_file = {:?}",
            users.display().to_string()
        ))
        .env("EASEL_MQTT_PASSWORD", PASSWORD)
        .start();
    (daemon, dir)
}

/// `mosquitto_sub` for one retained message of `topic`: its output, or
/// the refusal (exit status and stderr).
fn sub_once(
    port: u16,
    version: &str,
    login: Option<(&str, &str)>,
    topic: &str,
) -> Result<String, String> {
    let mut c = Command::new("mosquitto_sub");
    c.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-V", version])
        .args(["-t", topic, "-C", "1", "-W", "10"]);
    if let Some((user, password)) = login {
        c.args(["-u", user, "-P", password]);
    }
    let out = c
        .output()
        .expect("mosquitto_sub (apt-get install mosquitto-clients)");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn publish(
    port: u16,
    version: &str,
    login: (&str, &str),
    topic: &str,
    payload: &str,
) -> std::process::Output {
    Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-V", version])
        .args([
            "-u", login.0, "-P", login.1, "-q", "1", "-t", topic, "-m", payload,
        ])
        .output()
        .unwrap()
}

/// A subscriber that reports each message on `topic` once subscribed.
struct Watch {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Watch {
    fn start(port: u16, version: &str, login: (&str, &str), topic: &str) -> Watch {
        // Line-buffered: mosquitto_sub's stdout is a pipe here.
        let mut child = Command::new("stdbuf")
            .args(["-oL", "mosquitto_sub"])
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-V", version])
            .args(["-u", login.0, "-P", login.1, "-q", "1", "-t", topic, "-d"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let w = Watch { child, lines };
        w.next_containing("SUBACK", Duration::from_secs(10));
        w
    }

    fn next_containing(&self, what: &str, limit: Duration) -> String {
        self.any_containing(what, limit)
            .unwrap_or_else(|| panic!("no line with {what:?} within {limit:?}"))
    }

    /// The next line containing `what` within `limit`, if one comes.
    fn any_containing(&self, what: &str, limit: Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(what) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_locked_broker_admits_only_its_users_and_the_daemon_still_serves() {
    let (mut daemon, _users) = locked_daemon();
    daemon.wait_ready();
    let port = daemon.mqtt_port();
    let status = format!("easel/{}/status", daemon.node());
    for version in VERSIONS {
        let anonymous = sub_once(port, version, None, &status);
        assert!(
            anonymous.is_err(),
            "{version}: anonymous got in: {anonymous:?}"
        );
        let wrong = sub_once(port, version, Some(("artist", "guess")), &status);
        assert!(
            wrong.is_err(),
            "{version}: a wrong password got in: {wrong:?}"
        );
        let stranger = sub_once(port, version, Some(("mallory", PASSWORD)), &status);
        assert!(
            stranger.is_err(),
            "{version}: an unknown user got in: {stranger:?}"
        );
        assert_eq!(
            sub_once(port, version, Some(("artist", PASSWORD)), &status).as_deref(),
            Ok("online"),
            "{version}: the right login"
        );
    }
    // The daemon logged in itself: healthy (MQTT connected).
    wait_for(Duration::from_secs(20), "/healthz 200", || {
        let r = easel_test_support::http::get(daemon.http_addr(), "/healthz").ok()?;
        (r.status == 200).then_some(())
    });
    // And it serves commands sent with the right login, at both versions.
    let event = format!("easel/{}/event", daemon.node());
    let generate = format!("easel/{}/cmd/generate", daemon.node());
    for (version, seed) in [("mqttv311", "11"), ("mqttv5", "12")] {
        let watch = Watch::start(port, version, ("artist", PASSWORD), &event);
        let out = publish(
            port,
            version,
            ("artist", PASSWORD),
            &generate,
            &format!("{{\"seed\":{seed}}}"),
        );
        assert!(out.status.success(), "{out:?}");
        let line = watch.next_containing("\"generated\"", Duration::from_secs(60));
        assert!(line.contains(&format!("\"seed\":{seed}")), "{line}");
    }
}

#[test]
fn a_controller_presses_buttons_but_cannot_command_or_listen_in() {
    let (mut daemon, _users) = locked_daemon();
    daemon.wait_ready();
    let port = daemon.mqtt_port();
    let controller = ("ctl-1", CONTROLLER_PASSWORD);
    let status = format!("easel/{}/status", daemon.node());
    let event = format!("easel/{}/event", daemon.node());
    for version in VERSIONS {
        // What the firmware follows: the node's status (and palette).
        assert_eq!(
            sub_once(port, version, Some(controller), &status).as_deref(),
            Ok("online"),
            "{version}"
        );
        // Events are not for controllers: the subscription is refused,
        // so nothing ever arrives.
        let sub = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-V", version])
            .args([
                "-u",
                controller.0,
                "-P",
                controller.1,
                "-t",
                &event,
                "-C",
                "1",
                "-W",
                "3",
            ])
            .output()
            .unwrap();
        // mosquitto_sub says so on stderr (exiting 0 at 3.1.1).
        let said = String::from_utf8_lossy(&sub.stderr);
        assert!(
            sub.stdout.is_empty() && (said.contains("denied") || !sub.status.success()),
            "{version}: {sub:?}"
        );
    }
    let watch = Watch::start(port, "mqttv5", ("artist", PASSWORD), &event);
    // A command straight from the controller's login is dropped by the
    // broker; its own input topic works and the binding makes a picture.
    let generate = format!("easel/{}/cmd/generate", daemon.node());
    let _ = publish(port, "mqttv5", controller, &generate, "{\"seed\":99}");
    let out = publish(
        port,
        "mqttv311",
        controller,
        "easel/ctl/ctl-1/input",
        r#"{"input":"button1","event":"click"}"#,
    );
    assert!(out.status.success(), "{out:?}");
    let line = watch.next_containing("\"generated\"", Duration::from_secs(60));
    let event: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert!(
        event["seed"] != 99,
        "the controller's own command got through: {line}"
    );
    // Another controller's topic is not its to use.
    let _ = publish(
        port,
        "mqttv5",
        controller,
        "easel/ctl/ctl-2/input",
        r#"{"input":"button1","event":"click"}"#,
    );
    assert_eq!(
        watch.any_containing("PUBLISH", Duration::from_secs(3)),
        None,
        "ctl-1 pressed ctl-2's button"
    );
}

#[test]
fn an_open_broker_off_loopback_is_a_config_error_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("easel.toml");
    std::fs::write(
        &config,
        "node = \"n\"\n\n[mqtt]\nembedded_listen = \"0.0.0.0:1883\"\n",
    )
    .unwrap();
    let check = |env: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_easeld"));
        // From the repository root: the default models_dir is `models`,
        // which `check` reads.
        c.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .arg("check")
            .arg("--config")
            .arg(&config)
            .env_remove("EASEL_MQTT_PASSWORD");
        if let Some(p) = env {
            c.env("EASEL_MQTT_PASSWORD", p);
        }
        c.output().unwrap()
    };
    let out = check(None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("{}:4: embedded_listen:", config.display())),
        "{stderr}"
    );
    // Said on purpose, it is allowed.
    std::fs::write(
        &config,
        "node = \"n\"\n[mqtt]\nembedded_listen = \"0.0.0.0:1883\"\nallow_anonymous = true\n",
    )
    .unwrap();
    assert!(check(None).status.success());
    // A username locks it, and then the daemon needs its password.
    std::fs::write(
        &config,
        "node = \"n\"\n[mqtt]\nembedded_listen = \"0.0.0.0:1883\"\nusername = \"artist\"\n",
    )
    .unwrap();
    let out = check(None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("EASEL_MQTT_PASSWORD"));
    assert!(check(Some("secret")).status.success());
}
