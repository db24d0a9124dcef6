//! A mosquitto of the test's own on a private port, restartable on that
//! port. Nothing here knows about easel: any test that needs an external
//! broker starts one.

use crate::{free_port, wait_port};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A mosquitto started by the test on a free port, killed on drop.
/// Anonymous, in memory (`persistence false`): a restart forgets every
/// session and retained message, as a rebooted broker box would.
pub struct Mosquitto {
    conf: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl Mosquitto {
    /// Writes its config into `dir` and starts it. Panics when mosquitto
    /// is missing: CI installs it (`apt-get install mosquitto
    /// mosquitto-clients`, scripts/setup.sh), and a skipped broker test
    /// hides bugs.
    pub fn start(dir: &Path) -> Mosquitto {
        Mosquitto::start_with(dir, "")
    }

    /// Like [`Mosquitto::start`], with more lines right after the
    /// `listener` line; they apply to that listener (`certfile`, `keyfile`
    /// and `cafile` make it a TLS listener).
    pub fn start_with(dir: &Path, listener_options: &str) -> Mosquitto {
        let port = free_port();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\n{listener_options}\nallow_anonymous true\npersistence false\n"
            ),
        )
        .unwrap();
        let mut m = Mosquitto {
            conf,
            port,
            child: None,
        };
        m.spawn();
        m
    }

    fn spawn(&mut self) {
        // Debian installs the broker in /usr/sbin, which is not on every PATH.
        let exe = ["/usr/sbin/mosquitto", "mosquitto"]
            .into_iter()
            .find(|e| {
                Command::new(e)
                    .arg("-h")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok()
            })
            .expect("mosquitto is not installed (apt-get install mosquitto mosquitto-clients)");
        let child = Command::new(exe)
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        self.child = Some(child.expect("starting mosquitto"));
        wait_port(self.port);
    }

    /// Kills it (SIGKILL: clients see their connection drop, no goodbye).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills it and starts a fresh one on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;

    #[test]
    fn mosquitto_listens_stops_and_comes_back_on_its_port() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Mosquitto::start(dir.path());
        assert!(TcpStream::connect(("127.0.0.1", m.port)).is_ok());
        m.stop();
        assert!(TcpStream::connect(("127.0.0.1", m.port)).is_err());
        m.restart();
        assert!(TcpStream::connect(("127.0.0.1", m.port)).is_ok());
    }
}
