//! Signals are honoured at any time: the real `easeld` binary gets SIGTERM
//! while its first model is loading (a load that never ends), and stops
//! cleanly (exit 0, `stopped` in its log) without waiting for that load.
//!
//! Regression: SIGTERM and Ctrl-C were ignored until a model had loaded
//! (up to the 120 s start timer).

use easel_test_support::{free_port, repo_root, wait_for};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A package whose ONNX file is a FIFO nobody writes to: reading it
/// blocks for ever, so its load never ends (a hung card reader, a network
/// mount gone away). Only a daemon that does not wait for it can stop.
fn stuck_model(models: &std::path::Path) {
    let from = repo_root().join("models/cppn-aurora");
    let to = models.join("stuck");
    std::fs::create_dir_all(&to).unwrap();
    let manifest = std::fs::read_to_string(from.join("easel.toml"))
        .unwrap()
        .replace("name = \"cppn-aurora\"", "name = \"stuck\"");
    std::fs::write(to.join("easel.toml"), manifest).unwrap();
    let fifo = std::ffi::CString::new(to.join("model.onnx").to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
}

/// Kills the child it holds if the test ends early (a failed wait).
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn sigterm_while_the_first_model_loads_stops_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    stuck_model(&models);
    let config = dir.path().join("easel.toml");
    std::fs::write(
        &config,
        format!(
            "node = \"signals\"\nmodels_dir = \"{}\"\ndata_dir = \"{}\"\ndefault_model = \"stuck\"\nthreads = 1\n\
             [mqtt]\nembedded_listen = \"127.0.0.1:{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n",
            models.display(),
            dir.path().join("data").display(),
            free_port()
        ),
    )
    .unwrap();
    let log_path = dir.path().join("easeld.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_easeld"))
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info,tract=warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    // Up and serving: the model is loading behind the page by now.
    wait_for(Duration::from_secs(60), "easeld to listen", || {
        read_log().contains("listening http").then_some(())
    });
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    let status = wait_for(Duration::from_secs(60), "easeld to exit", || {
        child.0.try_wait().unwrap()
    });
    let text = read_log();
    assert!(status.success(), "{status}\n{text}");
    assert!(text.contains("stopped"), "{text}");
}
