//! Signals are honoured at any time: the real `easeld` binary gets SIGTERM
//! while its first model is still loading, and stops cleanly (exit 0,
//! `stopping` in its log) without waiting for that load.
//!
//! Regression: SIGTERM and Ctrl-C were ignored until a model had loaded
//! (up to the 120 s start timer).

use easel_test_support::{free_port, repo_root, wait_for};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The shipped CPPN with a 4K default size: its load (a smoke test and
/// thread measurements at that size) takes many seconds, long after the
/// signal has come.
fn slow_cppn(models: &std::path::Path) {
    let from = repo_root().join("models/cppn-aurora");
    let to = models.join("cppn-slow");
    std::fs::create_dir_all(&to).unwrap();
    std::fs::copy(from.join("model.onnx"), to.join("model.onnx")).unwrap();
    let manifest = std::fs::read_to_string(from.join("easel.toml")).unwrap();
    assert!(manifest.contains("size = [512, 512]"), "{manifest}");
    let manifest = manifest
        .replace("name = \"cppn-aurora\"", "name = \"cppn-slow\"")
        .replace("size = [512, 512]", "size = [3840, 2160]");
    std::fs::write(to.join("easel.toml"), manifest).unwrap();
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
    slow_cppn(&models);
    let config = dir.path().join("easel.toml");
    std::fs::write(
        &config,
        format!(
            "node = \"signals\"\nmodels_dir = \"{}\"\ndata_dir = \"{}\"\ndefault_model = \"cppn-slow\"\nthreads = 1\n\
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
    assert!(text.contains("stopping"), "{text}");
    assert!(
        !text.contains("model loaded"),
        "the exit waited for the model to load:\n{text}"
    );
}
