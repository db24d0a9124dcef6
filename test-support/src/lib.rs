//! What the workspace's end-to-end tests share to run real processes:
//! free ports, bounded waits, a mosquitto of the test's own ([`Mosquitto`],
//! TLS certificates in [`tls`]), a raw HTTP client ([`http`]), and the one
//! harness for "a real `easeld` on free ports with these models and this
//! config" ([`Daemon`]): the config file, the model copies, the process,
//! its log and its lifecycle, for every test that runs easeld (the
//! daemon's and the tools'; the controller's run brokers only).
//!
//! It knows how to run easeld, not what easeld should do: no assertions
//! about easel here, and no scenario observers (the MQTT probe, the
//! browser, the Prometheus parser stay with the tests that use them). It
//! must not depend on `easel-daemon` (the daemon's tests depend on it):
//! easeld is a binary it starts, never a library it links. Test-only:
//! nothing in a shipped binary depends on it.

mod daemon;
pub mod http;
mod mosquitto;
pub mod tls;

pub use daemon::{Broker, Daemon, DaemonBuilder, find_target_binary, target_binary};
pub use mosquitto::Mosquitto;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The workspace's root (where `models/` and `Cargo.toml` are).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("test-support lives in the workspace")
        .to_path_buf()
}

/// Where the reference models live: the shipped ones in `models/`, and
/// those kept only for tests (the DCGAN, whose untrained weights draw
/// noise) in `tests/fixtures/models/`.
pub fn reference_model_dirs() -> [PathBuf; 2] {
    let root = repo_root();
    [root.join("models"), root.join("tests/fixtures/models")]
}

/// The folder of the reference model `name`, shipped or test-only.
pub fn reference_model(name: &str) -> PathBuf {
    reference_model_dirs()
        .into_iter()
        .map(|dir| dir.join(name))
        .find(|dir| dir.join("easel.toml").is_file())
        .unwrap_or_else(|| panic!("no reference model {name} in models/ or tests/fixtures/models/"))
}

/// Every reference model's name, shipped and test-only, sorted.
pub fn reference_model_names() -> Vec<String> {
    let mut names: Vec<String> = reference_model_dirs()
        .iter()
        .flat_map(|dir| {
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        })
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("easel.toml").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every file under `dir`, recursively (empty folders do not count); none
/// when `dir` does not exist.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flat_map(|e| {
            let path = e.unwrap().path();
            if path.is_dir() {
                files_under(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

/// A port nobody listens on right now (the OS picks it; a test binds it
/// soon after, so a clash with another process is possible but rare).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on `127.0.0.1:port`; panics
/// after 10 s.
pub fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `f` every 50 ms until it gives a value; panics after `limit`
/// naming `what` it waited for.
pub fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
