//! A real `easeld` for end-to-end tests: the process started from the
//! folder [`DaemonBuilder`] wrote, its log in a file there, readiness
//! polled with bounded waits, and its lifecycle (signal, stop, kill,
//! restart on the same config and ports). Drop kills the one child it
//! started and nothing else; a failing test gets that child's log.
//!
//! No assertions about what easeld does: tests observe it over HTTP
//! ([`crate::http`]) and MQTT with their own clients.

mod builder;

pub use builder::{Broker, DaemonBuilder};

use crate::{Mosquitto, http};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running (or stopped, restartable) `easeld` on free ports.
pub struct Daemon {
    exe: PathBuf,
    env: Vec<(String, String)>,
    node: String,
    config: PathBuf,
    http: SocketAddr,
    /// `None` with an external broker: the test knows its own ports.
    mqtt_port: Option<u16>,
    mqtt_url: String,
    /// `None` once stopped or killed (and reaped).
    child: Option<Child>,
    /// Where this run's lines start in `easeld.log` (restarts append).
    log_from: usize,
    mosquitto: Option<Mosquitto>,
    /// Last, so it is removed after the broker that keeps files in it.
    dir: tempfile::TempDir,
}

/// What the builder hands over.
struct Parts {
    exe: PathBuf,
    env: Vec<(String, String)>,
    node: String,
    config: PathBuf,
    http: SocketAddr,
    mqtt_port: Option<u16>,
    mqtt_url: String,
    mosquitto: Option<Mosquitto>,
    dir: tempfile::TempDir,
}

/// How long easeld may take to serve HTTP, and to load its first model.
const HTTP_WITHIN: Duration = Duration::from_secs(60);
const MODEL_WITHIN: Duration = Duration::from_secs(120);
/// How long SIGTERM gets before SIGKILL.
const STOP_WITHIN: Duration = Duration::from_secs(30);

impl Daemon {
    /// A daemon from the binary at `exe`: daemon tests pass
    /// `env!("CARGO_BIN_EXE_easeld")`, others [`target_binary`]`("easeld")`.
    pub fn builder(exe: impl Into<PathBuf>) -> DaemonBuilder {
        DaemonBuilder::new(exe.into())
    }

    fn spawn_first(p: Parts) -> Daemon {
        let mut d = Daemon {
            exe: p.exe,
            env: p.env,
            node: p.node,
            config: p.config,
            http: p.http,
            mqtt_port: p.mqtt_port,
            mqtt_url: p.mqtt_url,
            child: None,
            log_from: 0,
            mosquitto: p.mosquitto,
            dir: p.dir,
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("opening easeld.log");
        self.log_from = log.metadata().unwrap().len() as usize;
        let mut command = Command::new(&self.exe);
        command
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "info,tract=warn")
            .env("NO_COLOR", "1")
            .env_remove("EASEL_ADMIN_TOKEN")
            .env_remove("EASEL_MQTT_PASSWORD")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for (key, value) in &self.env {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.exe.display()));
        self.child = Some(child);
        self.wait_until(HTTP_WITHIN, "easeld to serve /healthz", |d| {
            // Any status will do (503 while MQTT is down), but it must be
            // easeld's answer, not another program's on a reused port.
            let r = http::get(d.http, "/healthz").ok()?;
            let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
            v.get("ok").map(|_| ())
        });
    }

    /// Polls `f` every 50 ms; panics after `limit`, or at once when easeld
    /// has exited (Drop then prints its log).
    fn wait_until<T>(
        &mut self,
        limit: Duration,
        what: &str,
        mut f: impl FnMut(&Self) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = f(self) {
                return v;
            }
            let child = self.child.as_mut().expect("easeld is not running");
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "easeld ({}) exited ({status}) while waiting for {what}",
                    self.node
                );
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {limit:?} waiting for {what} ({})",
                self.node
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until a model is loaded (`/api/state` names one); 120 s.
    pub fn wait_ready(&mut self) {
        self.wait_until(MODEL_WITHIN, "a model to load", |d| {
            let r = http::get(d.http, "/api/state").ok()?;
            let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
            v["model"].is_string().then_some(())
        });
    }

    /// Waits until this run's log has a line containing `what`.
    pub fn wait_log(&mut self, what: &str, limit: Duration) {
        self.wait_until(limit, &format!("{what:?} in the log"), |d| {
            d.log().contains(what).then_some(())
        });
    }

    /// The `[http] listen` address (a free port, kept across restarts).
    pub fn http_addr(&self) -> SocketAddr {
        self.http
    }

    /// `http://<http_addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// The broker's port: the embedded one's or the private mosquitto's.
    /// Panics with an external broker, whose port the test chose.
    pub fn mqtt_port(&self) -> u16 {
        self.mqtt_port
            .unwrap_or_else(|| panic!("easeld uses the test's broker at {}", self.mqtt_url))
    }

    /// The broker's URL as easeld was given it (`mqtt://127.0.0.1:<port>`).
    pub fn mqtt_url(&self) -> String {
        self.mqtt_url.clone()
    }

    /// The private mosquitto of [`Broker::Mosquitto`], to stop or restart.
    pub fn mosquitto(&mut self) -> Option<&mut Mosquitto> {
        self.mosquitto.as_mut()
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// The daemon's folder: `easel.toml`, `easeld.log`, `models/`, `data/`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `data_dir`: the archive (`images/`), deploys (`deploy/`), scenes.
    pub fn data_dir(&self) -> PathBuf {
        self.dir().join("data")
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }

    fn log_path(&self) -> PathBuf {
        self.dir().join("easeld.log")
    }

    /// What this run has logged so far (earlier runs' lines precede it in
    /// `easeld.log`).
    pub fn log(&self) -> String {
        let all = std::fs::read(self.log_path()).unwrap_or_default();
        String::from_utf8_lossy(&all[self.log_from.min(all.len())..]).into_owned()
    }

    /// The running child's pid.
    pub fn pid(&self) -> i32 {
        let child = self.child.as_ref().expect("easeld is not running");
        i32::try_from(child.id()).expect("a pid fits i32")
    }

    /// Sends `signal` (`libc::SIGHUP`, …) without waiting; nothing when
    /// easeld has exited already.
    pub fn signal(&mut self, signal: libc::c_int) {
        let child = self.child.as_mut().expect("easeld is not running");
        if child.try_wait().unwrap().is_some() {
            // Reaped: its pid may name another process by now.
            return;
        }
        let pid = i32::try_from(child.id()).expect("a pid fits i32");
        // SAFETY: kill(2) on our own child, not reaped yet (try_wait just
        // said so, and only this struct waits on it), so the pid is its.
        let sent = unsafe { libc::kill(pid, signal) };
        assert_eq!(sent, 0, "kill({pid}, {signal}) failed");
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// SIGTERM, then waits for the exit (SIGKILL after 30 s).
    pub fn stop(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        let mut child = self.child.take().expect("easeld is not running");
        let deadline = Instant::now() + STOP_WITHIN;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("easeld ({}) ignored SIGTERM for {STOP_WITHIN:?}", self.node);
        let _ = child.kill();
        child.wait().unwrap()
    }

    /// SIGKILL and the exit status: no goodbye, as a power cut.
    pub fn kill(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("easeld is not running");
        let _ = child.kill();
        child.wait().unwrap()
    }

    /// Starts easeld again on the same folder, config and ports (stopping
    /// it first if it runs); returns once it serves HTTP.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        self.spawn();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
            eprintln!(
                "--- easeld {} log ({}) ---\n{log}",
                self.node,
                self.dir().display()
            );
        }
    }
}

/// A binary of this workspace in the target directory the running test was
/// built into (`target/<profile>/`, above the test's `deps/`), if built.
pub fn find_target_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// Like [`find_target_binary`] for a binary another package of the
/// workspace builds (`easeld` for the tools' tests); panics saying how to
/// build it when it is missing.
pub fn target_binary(name: &str) -> PathBuf {
    find_target_binary(name).unwrap_or_else(|| {
        let dir = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent()?.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        panic!(
            "{name} is not built in {}: `cargo test --workspace` builds it, or \
             `cargo build --workspace` first (not `-p`, which resolves other \
             features and rebuilds the dependencies)",
            dir.display()
        )
    })
}
