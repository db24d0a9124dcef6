//! The Linux controller against the daemon's embedded broker when it is
//! locked (docs/mqtt.md, "A locked broker"): with `--username <its id>`
//! and the password in `EASEL_MQTT_PASSWORD` it gets in and its input
//! arrives; without a login it never does. The broker runs in the test
//! process with the same access rules `easeld` builds; observation is
//! `mosquitto_sub` logged in as the admin.

use easel_daemon::mqtt::access::Access;
use easel_daemon::mqtt::broker::EmbeddedBroker;
use easel_daemon::mqtt::gate::hash_password;
use easel_test_support::{free_port, wait_port};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const ADMIN: (&str, &str) = ("artist", "gallery-secret-1");
const CONTROLLER_PASSWORD: &str = "button-box-2";

/// `mosquitto_sub -v` as the admin on `easel/ctl/#`, lines on a channel.
struct Observer {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Observer {
    fn start(port: u16) -> Observer {
        let mut child = Command::new("stdbuf")
            .args(["-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .args(["-V", "mqttv5", "-v", "-t", "easel/ctl/#"])
            .args(["-u", ADMIN.0, "-P", ADMIN.1])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_sub (mosquitto-clients) must be installed");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        // Give the subscription time to land before anything is published.
        std::thread::sleep(Duration::from_millis(300));
        Observer { child, lines }
    }

    /// The next line equal to `want` within `limit`.
    fn saw(&self, want: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line == want => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        false
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn controller(port: u16, password: Option<&str>) -> Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_easel-controller"));
    c.args(["--simulate", "--broker", &format!("127.0.0.1:{port}")])
        .args(["--id", "ctl-1", "--node", "gallery-1"])
        .env_remove("EASEL_MQTT_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(password) = password {
        c.args(["--username", "ctl-1"])
            .env("EASEL_MQTT_PASSWORD", password);
    }
    c.spawn().unwrap()
}

#[test]
fn a_controller_gets_into_a_locked_broker_only_with_its_login() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let addr = SocketAddr::from(([0, 0, 0, 0], free_port()));
    let access = Access::new(
        "easel",
        (ADMIN.0.into(), hash_password(ADMIN.1).unwrap()),
        vec![("ctl-1".into(), hash_password(CONTROLLER_PASSWORD).unwrap())],
        &[],
        vec!["easeld-gallery-1".into()],
    );
    let broker = runtime
        .block_on(EmbeddedBroker::start(addr, Some(access)))
        .unwrap();
    wait_port(addr.port());
    let obs = Observer::start(addr.port());

    let mut anonymous = controller(addr.port(), None);
    assert!(
        !obs.saw("easel/ctl/ctl-1/status online", Duration::from_secs(3)),
        "a controller without a login got in"
    );
    let _ = anonymous.kill();
    let _ = anonymous.wait();

    let mut ctl = controller(addr.port(), Some(CONTROLLER_PASSWORD));
    assert!(obs.saw("easel/ctl/ctl-1/status online", Duration::from_secs(15)));
    let mut keys = ctl.stdin.take().unwrap();
    keys.write_all(b"2").unwrap();
    keys.flush().unwrap();
    assert!(obs.saw(
        r#"easel/ctl/ctl-1/input {"input":"button2","event":"click"}"#,
        Duration::from_secs(10)
    ));
    let _ = ctl.kill();
    let _ = ctl.wait();
    runtime.block_on(broker.stop());
}
