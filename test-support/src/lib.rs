//! What the workspace's integration tests share to run real brokers: free
//! ports, waiting for a listener, and a mosquitto of the test's own on a
//! private port, restartable on the same port; and listing the files a
//! test left behind.
//!
//! Only process and socket plumbing lives here, no assertions about easel:
//! the daemon's and the controller's tests each keep their own scenarios
//! and observers. Test-only: nothing in a shipped binary depends on it.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// Certificates for a TLS broker made inside a test: a CA and a server
/// certificate for `127.0.0.1` and `localhost` signed by it, all PEM.
pub mod tls {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    use std::path::{Path, PathBuf};

    pub struct Pki {
        pub ca: String,
        pub cert: String,
        pub key: String,
    }

    /// A fresh CA named `name` and a server certificate it signed.
    pub fn make_pki(name: &str) -> Pki {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, format!("easel test CA {name}"));
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let mut server =
            CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
        server
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        let key = KeyPair::generate().unwrap();
        let cert = server.signed_by(&key, &ca).unwrap();
        Pki {
            ca: ca.pem(),
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    /// Writes `ca.pem`, `server.pem` and `server.key` into `dir`; returns
    /// the listener options that make a mosquitto listener on `port` use
    /// them (for [`super::Mosquitto::start_with`]).
    pub fn mosquitto_listener(dir: &Path, pki: &Pki, port: u16) -> String {
        for (file, pem) in [
            ("ca.pem", &pki.ca),
            ("server.pem", &pki.cert),
            ("server.key", &pki.key),
        ] {
            std::fs::write(dir.join(file), pem).unwrap();
        }
        format!(
            "listener {port} 127.0.0.1\ncertfile {}\nkeyfile {}\n",
            dir.join("server.pem").display(),
            dir.join("server.key").display()
        )
    }

    /// Writes `pem` to `dir/name` and returns the path.
    pub fn write(dir: &Path, name: &str, pem: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mosquitto_listens_stops_and_comes_back_on_its_port() {
        let dir = std::env::temp_dir().join(format!("easel-test-support-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut m = Mosquitto::start(&dir);
        assert!(TcpStream::connect(("127.0.0.1", m.port)).is_ok());
        m.stop();
        assert!(TcpStream::connect(("127.0.0.1", m.port)).is_err());
        m.restart();
        assert!(TcpStream::connect(("127.0.0.1", m.port)).is_ok());
        drop(m);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
