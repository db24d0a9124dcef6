//! The Linux controller against a real broker: inputs arrive on the right
//! topics with the right payloads, the Last Will appears when the
//! controller is killed, and it comes back after a broker restart.
//!
//! Every scenario is written against the `Broker` trait and instantiated
//! per broker by `broker_tests!`: mosquitto (a private one on a free port)
//! and the daemon's embedded broker (`easel_daemon::mqtt::broker`, the code
//! `easeld` runs with no `[mqtt] url`, here in the test process on a free
//! port). The controller is the real binary in a child process, so killing
//! it is a real dropped connection. Observation uses mosquitto's own
//! clients (`mosquitto_sub` at MQTT 5, `mosquitto_pub` at 3.1.1).

use easel_daemon::mqtt::broker::EmbeddedBroker;
use easel_test_support::{Mosquitto, free_port, wait_port};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A broker a test can start, stop and restart on the same port. Each
/// restart forgets sessions and retained messages.
trait Broker: Sized {
    /// Starts on a free port, keeping any files under `dir`.
    fn start(dir: &Path) -> Self;
    fn port(&self) -> u16;
    fn stop(&mut self);
    fn restart(&mut self);
}

impl Broker for Mosquitto {
    fn start(dir: &Path) -> Self {
        Mosquitto::start(dir)
    }
    fn port(&self) -> u16 {
        self.port
    }
    fn stop(&mut self) {
        Mosquitto::stop(self)
    }
    fn restart(&mut self) {
        Mosquitto::restart(self)
    }
}

/// The daemon's embedded broker on its own tokio runtime (the test itself
/// is synchronous). Stopping it closes every connection, as a daemon exit
/// would.
struct Embedded {
    runtime: tokio::runtime::Runtime,
    addr: SocketAddr,
    broker: Option<EmbeddedBroker>,
}

impl Embedded {
    fn listen(&mut self) {
        let broker = self
            .runtime
            .block_on(EmbeddedBroker::start(self.addr, None))
            .expect("starting the embedded broker");
        self.broker = Some(broker);
        wait_port(self.addr.port());
    }
}

impl Broker for Embedded {
    fn start(_dir: &Path) -> Self {
        let mut b = Embedded {
            runtime: tokio::runtime::Runtime::new().unwrap(),
            addr: SocketAddr::from(([127, 0, 0, 1], free_port())),
            broker: None,
        };
        b.listen();
        b
    }
    fn port(&self) -> u16 {
        self.addr.port()
    }
    fn stop(&mut self) {
        if let Some(broker) = self.broker.take() {
            self.runtime.block_on(broker.stop());
        }
    }
    fn restart(&mut self) {
        self.stop();
        self.listen();
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Lines from a child's stdout or stderr, readable with a timeout.
struct Lines(mpsc::Receiver<String>);

impl Lines {
    fn from(stream: impl std::io::Read + Send + 'static) -> Lines {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines(rx)
    }

    /// Waits for a line equal to `want`; panics with what was seen.
    fn expect(&self, want: &str, within: Duration) {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.0.recv_timeout(left) {
                Ok(line) if line == want => return,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("expected {want:?} within {within:?}; saw {seen:#?}");
    }
}

/// `mosquitto_sub -v` on `topic`: lines are `topic payload`.
struct Observer {
    child: Child,
    lines: Lines,
}

impl Observer {
    fn start(port: u16, topic: &str) -> Observer {
        let mut child = Command::new("mosquitto_sub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-v",
                "-V",
                "mqttv5",
                "-t",
                topic,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_sub (mosquitto-clients) must be installed");
        let lines = Lines::from(child.stdout.take().unwrap());
        // give the subscription time to land before anything is published
        std::thread::sleep(Duration::from_millis(300));
        Observer { child, lines }
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn publish_retained(port: u16, topic: &str, payload: &str) {
    let ok = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-r",
            "-q",
            "1",
            "-t",
            topic,
            "-m",
            payload,
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok, "mosquitto_pub failed");
}

/// The controller binary in `--simulate` mode, keys on a pipe.
struct Controller {
    child: Child,
    keys: ChildStdin,
    log: Lines,
}

impl Controller {
    fn start(port: u16, id: &str) -> Controller {
        Controller::start_at(&format!("127.0.0.1:{port}"), id)
    }

    /// With `--broker` exactly as given.
    fn start_at(broker: &str, id: &str) -> Controller {
        let mut child = Command::new(env!("CARGO_BIN_EXE_easel-controller"))
            .args(["--simulate", "--broker", broker, "--id", id])
            .args(["--node", "gallery-1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let keys = child.stdin.take().unwrap();
        let log = Lines::from(child.stderr.take().unwrap());
        Controller { child, keys, log }
    }

    fn press(&mut self, keys: &str) {
        self.keys.write_all(keys.as_bytes()).unwrap();
        self.keys.flush().unwrap();
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const WAIT: Duration = Duration::from_secs(10);

fn inputs_arrive_on_the_right_topics<B: Broker>() {
    let dir = tempfile::tempdir().unwrap();
    let broker = B::start(dir.path());
    let port = broker.port();
    let obs = Observer::start(port, "easel/ctl/#");
    let mut ctl = Controller::start(port, "t-inputs");
    obs.lines.expect("easel/ctl/t-inputs/status online", WAIT);
    let input = |json: &str| format!("easel/ctl/t-inputs/input {json}");

    ctl.press("2");
    obs.lines
        .expect(&input(r#"{"input":"button2","event":"press"}"#), WAIT);
    obs.lines
        .expect(&input(r#"{"input":"button2","event":"release"}"#), WAIT);
    obs.lines
        .expect(&input(r#"{"input":"button2","event":"click"}"#), WAIT);

    ctl.press("1");
    std::thread::sleep(Duration::from_millis(120));
    ctl.press("1");
    obs.lines
        .expect(&input(r#"{"input":"button1","event":"double"}"#), WAIT);

    ctl.press("!");
    obs.lines
        .expect(&input(r#"{"input":"button1","event":"long"}"#), WAIT);

    ctl.press("]");
    obs.lines
        .expect(&input(r#"{"input":"enc1","delta":1}"#), WAIT);
    std::thread::sleep(Duration::from_millis(100));
    ctl.press("[");
    obs.lines
        .expect(&input(r#"{"input":"enc1","delta":-1}"#), WAIT);

    ctl.press("p");
    obs.lines
        .expect(&input(r#"{"input":"presence","value":true}"#), WAIT);

    // the daemon's retained status and palette reach the controller
    publish_retained(port, "easel/gallery-1/status", "online");
    publish_retained(port, "easel/gallery-1/palette", "#ff0000,#00ff00");
    ctl.log.expect("daemon: online", WAIT);
    ctl.log.expect("palette: #ff0000,#00ff00", WAIT);

    // quitting says goodbye itself
    ctl.press("q");
    obs.lines.expect("easel/ctl/t-inputs/status offline", WAIT);
}

fn last_will_appears_when_killed<B: Broker>() {
    let dir = tempfile::tempdir().unwrap();
    let broker = B::start(dir.path());
    let port = broker.port();
    let obs = Observer::start(port, "easel/ctl/+/status");
    let mut ctl = Controller::start(port, "t-will");
    obs.lines.expect("easel/ctl/t-will/status online", WAIT);
    ctl.child.kill().unwrap(); // SIGKILL: no goodbye, only the will
    obs.lines.expect("easel/ctl/t-will/status offline", WAIT);
}

fn reconnects_after_a_broker_restart<B: Broker>() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = B::start(dir.path());
    let port = broker.port();
    let mut ctl = Controller::start(port, "t-restart");
    ctl.log.expect("status: connected, daemon not online", WAIT);
    broker.stop();
    ctl.log.expect("status: broker unreachable, retrying", WAIT);
    std::thread::sleep(Duration::from_millis(500));
    broker.restart();
    // the restarted broker kept nothing: a retained `online` proves the
    // controller announced itself again
    ctl.log.expect(
        "status: connected, daemon not online",
        Duration::from_secs(40),
    );
    let obs = Observer::start(port, "easel/ctl/#");
    obs.lines.expect("easel/ctl/t-restart/status online", WAIT);
    ctl.press("]");
    obs.lines.expect(
        r#"easel/ctl/t-restart/input {"input":"enc1","delta":1}"#,
        WAIT,
    );
}

/// The tools' URL form and a DNS name (resolved at connect) reach the
/// broker too: `--broker` takes what `easel ctl --broker` takes.
fn reaches_the_broker_by_url_and_name<B: Broker>() {
    let dir = tempfile::tempdir().unwrap();
    let broker = B::start(dir.path());
    let port = broker.port();
    let obs = Observer::start(port, "easel/ctl/+/status");
    let _url = Controller::start_at(&format!("mqtt://127.0.0.1:{port}"), "t-url");
    obs.lines.expect("easel/ctl/t-url/status online", WAIT);
    let _name = Controller::start_at(&format!("mqtt://localhost:{port}/"), "t-name");
    obs.lines.expect("easel/ctl/t-name/status online", WAIT);
}

macro_rules! broker_tests {
    ($($module:ident => $broker:ty),* $(,)?) => {$(
        mod $module {
            use super::*;
            #[test]
            fn inputs_arrive_on_the_right_topics() {
                super::inputs_arrive_on_the_right_topics::<$broker>();
            }
            #[test]
            fn last_will_appears_when_killed() {
                super::last_will_appears_when_killed::<$broker>();
            }
            #[test]
            fn reaches_the_broker_by_url_and_name() {
                super::reaches_the_broker_by_url_and_name::<$broker>();
            }
            #[test]
            fn reconnects_after_a_broker_restart() {
                super::reconnects_after_a_broker_restart::<$broker>();
            }
        }
    )*};
}

broker_tests! {
    mosquitto => Mosquitto,
    embedded => Embedded,
}
