//! The Linux controller against a real broker: inputs arrive on the right
//! topics with the right payloads, the Last Will appears when the
//! controller is killed, and it comes back after a broker restart.
//!
//! Every scenario is written against the `Broker` trait and instantiated
//! per broker by `broker_tests!`; mosquitto is the one that exists today,
//! the daemon's embedded broker is added with one more impl and one line.
//! Observation uses mosquitto's own clients (`mosquitto_sub`/`_pub`).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A broker a test can start, stop and restart on the same port.
trait Broker: Sized {
    /// Starts on a free port; `None` when this broker is not installed.
    fn start(dir: &Path) -> Option<Self>;
    fn port(&self) -> u16;
    fn stop(&mut self);
    fn restart(&mut self);
}

struct Mosquitto {
    exe: &'static str,
    conf: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Mosquitto {
    fn spawn(&mut self) {
        let child = Command::new(self.exe)
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting mosquitto");
        self.child = Some(child);
        wait_port(self.port);
    }
}

impl Broker for Mosquitto {
    fn start(dir: &Path) -> Option<Self> {
        let exe = ["/usr/sbin/mosquitto", "mosquitto"].into_iter().find(|e| {
            Command::new(e)
                .arg("-h")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
        });
        let Some(exe) = exe else {
            eprintln!("SKIPPED: mosquitto is not installed");
            return None;
        };
        let port = free_port();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\n"),
        )
        .unwrap();
        let mut m = Mosquitto {
            exe,
            conf,
            port,
            child: None,
        };
        m.spawn();
        Some(m)
    }
    fn port(&self) -> u16 {
        self.port
    }
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16) {
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "broker did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
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
        let mut child = Command::new(env!("CARGO_BIN_EXE_easel-controller"))
            .args([
                "--simulate",
                "--broker",
                &format!("127.0.0.1:{port}"),
                "--id",
                id,
            ])
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
    let Some(broker) = B::start(dir.path()) else {
        return;
    };
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
    let Some(broker) = B::start(dir.path()) else {
        return;
    };
    let port = broker.port();
    let obs = Observer::start(port, "easel/ctl/+/status");
    let mut ctl = Controller::start(port, "t-will");
    obs.lines.expect("easel/ctl/t-will/status online", WAIT);
    ctl.child.kill().unwrap(); // SIGKILL: no goodbye, only the will
    obs.lines.expect("easel/ctl/t-will/status offline", WAIT);
}

fn reconnects_after_a_broker_restart<B: Broker>() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut broker) = B::start(dir.path()) else {
        return;
    };
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
            fn reconnects_after_a_broker_restart() {
                super::reconnects_after_a_broker_restart::<$broker>();
            }
        }
    )*};
}

broker_tests! {
    mosquitto => Mosquitto,
}
