//! easeld as systemd runs it (docs/install.md): the notify protocol on a
//! real unix datagram socket the test binds in place of systemd's
//! (`NOTIFY_SOCKET`, `WATCHDOG_USEC`), and the log on a pipe, as the
//! journal takes it.

mod web_support;

use std::io::Read;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use web_support::generate;

/// What systemd would have received: each datagram's lines, with when.
#[derive(Clone, Default)]
struct Notifications(Arc<Mutex<Vec<(Instant, String)>>>);

impl Notifications {
    /// Binds `dir/notify.sock` and collects every datagram from now on.
    fn listen(dir: &std::path::Path) -> (Notifications, std::path::PathBuf) {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("binding the notify socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let got = Notifications::default();
        let sink = got.0.clone();
        // Ends with the test process; a datagram socket holds nothing else.
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            loop {
                if let Ok(n) = socket.recv(&mut buf) {
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    sink.lock()
                        .unwrap()
                        .extend(text.lines().map(|l| (Instant::now(), l.to_string())));
                }
            }
        });
        (got, path)
    }

    fn all(&self) -> Vec<(Instant, String)> {
        self.0.lock().unwrap().clone()
    }

    fn lines(&self) -> Vec<String> {
        self.all().into_iter().map(|(_, l)| l).collect()
    }

    /// Where `line` first came, if it did.
    fn first(&self, line: &str) -> Option<usize> {
        self.lines().iter().position(|l| l == line)
    }

    fn wait(&self, what: &str, limit: Duration, f: impl Fn(&[String]) -> bool) {
        easel_test_support::wait_for(limit, what, || f(&self.lines()).then_some(()));
    }

    /// The times of the watchdog pings.
    fn pings(&self) -> Vec<Instant> {
        self.all()
            .into_iter()
            .filter(|(_, l)| l == "WATCHDOG=1")
            .map(|(t, _)| t)
            .collect()
    }
}

#[test]
fn ready_then_watchdog_pings_then_stopping_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (got, socket) = Notifications::listen(dir.path());
    let mut daemon = web_support::easeld()
        .env("NOTIFY_SOCKET", socket.to_str().unwrap())
        .env("WATCHDOG_USEC", "400000")
        .start();
    daemon.wait_ready();
    got.wait("READY=1", Duration::from_secs(60), |l| {
        l.iter().any(|l| l == "READY=1")
    });
    let ready = got.first("READY=1").unwrap();
    got.wait(
        "three watchdog pings after READY=1",
        Duration::from_secs(30),
        |l| l[ready..].iter().filter(|l| *l == "WATCHDOG=1").count() >= 3,
    );
    let lines = got.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("STATUS=") && l.contains("dcgan-64")),
        "STATUS= names the current model: {lines:?}"
    );
    assert!(
        !lines[..ready].contains(&"WATCHDOG=1".to_string()),
        "no pings before READY=1: {lines:?}"
    );

    let status = daemon.stop();
    assert!(status.success(), "{status}\n{}", daemon.log());
    got.wait("STOPPING=1", Duration::from_secs(5), |l| {
        l.iter().any(|l| l == "STOPPING=1")
    });
    assert!(got.first("STOPPING=1").unwrap() > ready);
}

/// A render that shows no progress for longer than the watchdog interval
/// is what a stuck engine looks like: the pings stop until it answers.
/// (Here the interval is made far shorter than one 2048x2048 cppn-aurora
/// picture, ~0.7 s on one thread in a test build; on a board it is a minute.)
#[test]
fn no_watchdog_pings_while_the_engine_shows_no_progress() {
    let dir = tempfile::tempdir().unwrap();
    let (got, socket) = Notifications::listen(dir.path());
    // The reference CPPN drawing at 2048x2048: a render that takes a while
    // (1024x1024 took 0.19 s once the engine was built optimized in tests,
    // too close to the 150 ms gap asserted below).
    let big = dir.path().join("cppn-aurora");
    std::fs::create_dir(&big).unwrap();
    let from = easel_test_support::reference_model("cppn-aurora");
    std::fs::copy(from.join("model.onnx"), big.join("model.onnx")).unwrap();
    let manifest = std::fs::read_to_string(from.join("easel.toml")).unwrap();
    assert!(manifest.contains("size = [512, 512]"), "{manifest}");
    std::fs::write(
        big.join("easel.toml"),
        manifest.replace("size = [512, 512]", "size = [2048, 2048]"),
    )
    .unwrap();
    let mut daemon = web_support::easeld()
        .package(&big)
        .env("NOTIFY_SOCKET", socket.to_str().unwrap())
        .env("WATCHDOG_USEC", "40000")
        .start();
    daemon.wait_ready();
    let addr = daemon.http_addr();
    easel_test_support::wait_for(Duration::from_secs(120), "cppn-aurora to load", || {
        let r = web_support::get(addr, "/api/state").ok()?;
        let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
        v["models"]
            .to_string()
            .contains("cppn-aurora")
            .then_some(())
    });
    got.wait("pings", Duration::from_secs(60), |l| {
        l.iter().filter(|l| *l == "WATCHDOG=1").count() >= 5
    });
    // Pings are steady while the engine idles.
    let before = Instant::now();
    let event = generate(&daemon, r#"{"model":"cppn-aurora","seed":3}"#);
    let after = Instant::now();
    assert_eq!(event["type"], "generated", "{event}");
    got.wait("pings after the picture", Duration::from_secs(10), |_| {
        got.pings().iter().filter(|t| **t > after).count() >= 3
    });
    let pings = got.pings();
    let longest = pings
        .windows(2)
        .filter(|w| w[1] > before && w[0] < after)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap();
    let took = after - before;
    assert!(
        longest >= Duration::from_millis(150),
        "the longest gap between pings while the picture was made ({took:?}) was {longest:?}"
    );
    let log = daemon.log();
    assert!(log.contains("watchdog pings withheld"), "{log}");
    assert!(log.contains("watchdog pings resumed"), "{log}");
}

/// The journal's view: stderr a pipe, no `NO_COLOR`, no `RUST_LOG` (the
/// unit sets neither). No colour codes, and the embedded broker's line
/// per client (easeld's own MQTT client is one) is not at info.
#[test]
fn the_log_on_a_pipe_has_no_colour_codes_and_no_line_per_broker_client() {
    // The harness lays out the folder and config; this test runs easeld
    // itself, to give it a pipe for stderr and an environment without
    // NO_COLOR and RUST_LOG (the harness sets both).
    let mut prepared = web_support::easeld().start();
    prepared.wait_ready();
    prepared.stop();
    let mut child = Command::new(env!("CARGO_BIN_EXE_easeld"))
        .arg("--config")
        .arg(prepared.config_path())
        .env_remove("NO_COLOR")
        .env_remove("JOURNAL_STREAM")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        stderr.read_to_end(&mut all).map(|_| all)
    });
    let addr = prepared.http_addr();
    easel_test_support::wait_for(Duration::from_secs(120), "a model", || {
        let r = web_support::get(addr, "/api/state").ok()?;
        let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
        v["model"].is_string().then_some(())
    });
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child, not waited for yet.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = child.wait().unwrap();
    let log = reader.join().unwrap().unwrap();
    let text = String::from_utf8_lossy(&log);
    assert!(status.success(), "{status}\n{text}");
    assert!(text.contains(" INFO ") && text.contains("ready"), "{text}");
    assert!(
        !log.contains(&0x1b),
        "ESC bytes in the log on a pipe:\n{text:?}"
    );
    assert!(text.contains("MQTT connected"), "{text}");
    assert!(
        !text.contains("connected from") && !text.contains("Registered client"),
        "a line per broker client at the default level:\n{text}"
    );
}
