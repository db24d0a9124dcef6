//! What the web tests share: a real `easeld` on free ports with a copy of
//! the reference DCGAN, a raw HTTP/1.1 client (raw, so traversal paths
//! reach the server exactly as written), a Prometheus text parser, and a
//! real headless Chromium driven over `--remote-debugging-pipe`.
#![allow(dead_code)]

pub mod browser;
pub mod prometheus;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const ADMIN_TOKEN: &str = "test-admin-token";

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A daemon's folder: config, models (dcgan-64 only: fast), data.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Setup {
    /// `http` is the listen address (`127.0.0.1:0` for a free port);
    /// `mqtt` is either `embedded_listen = …` or `url = …` lines.
    pub fn new(http: &str, mqtt: &str, extra: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(
            &repo_root().join("models/dcgan-64"),
            &dir.path().join("models/dcgan-64"),
        );
        let config = dir.path().join("easeld.toml");
        Setup { dir, config }.with_config(http, mqtt, extra)
    }

    pub fn with_config(self, http: &str, mqtt: &str, extra: &str) -> Setup {
        let root = self.dir.path();
        let text = format!(
            "node = \"web-test\"\nmodels_dir = {models:?}\ndata_dir = {data:?}\ndefault_model = \"dcgan-64\"\nthreads = 1\n{extra}\n\n[mqtt]\n{mqtt}\n\n[http]\nlisten = {http:?}\nadmin_token = {ADMIN_TOKEN:?}\n",
            models = root.join("models").display().to_string(),
            data = root.join("data").display().to_string(),
        );
        std::fs::write(&self.config, text).unwrap();
        self
    }

    /// The default MQTT part: the embedded broker on a free port.
    pub fn embedded() -> String {
        format!("embedded_listen = \"127.0.0.1:{}\"", free_port())
    }
}

/// A running `easeld`; killed (SIGTERM, then SIGKILL) when dropped.
pub struct Daemon {
    child: Child,
    pub addr: SocketAddr,
    /// Every stderr line so far, for failure messages.
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Daemon {
    pub fn start(config: &Path) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_easeld"))
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info,tract=warn")
            .env("NO_COLOR", "1")
            .env_remove("EASEL_ADMIN_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("easeld starts");
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("listening http://") {
                    let url = &line[at + "listening http://".len()..];
                    let addr = url.split('/').next().unwrap_or_default().to_string();
                    let _ = tx.send(addr);
                }
                lines.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr.parse().expect("listening line has an address"),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "easeld never said where it listens:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        Daemon { child, addr, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits until `/api/state` names a current model.
    pub fn wait_ready(&self) {
        wait_for(Duration::from_secs(120), "a model to load", || {
            get(self.addr, "/api/state")
                .ok()
                .filter(|r| r.status == 200)
                .and_then(|r| {
                    let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
                    v["model"].as_str().map(|_| ())
                })
        });
    }

    /// `generate` through the admin endpoint; the generated event.
    pub fn generate(&self, payload: &str) -> serde_json::Value {
        let r = request(
            self.addr,
            "POST",
            "/admin/cmd/generate",
            &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
            payload.as_bytes(),
        )
        .expect("admin endpoint answers");
        assert_eq!(
            r.status,
            200,
            "generate failed: {}\n{}",
            r.text(),
            self.log()
        );
        serde_json::from_slice(&r.body).unwrap()
    }

    /// SIGTERM and wait; returns the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.terminate()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return self.child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.terminate();
        }
    }
}

/// Polls `f` until it gives a value; panics after `limit`.
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

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<Response> {
    request(addr, "GET", path, &[], b"")
}

/// One HTTP/1.1 request, sent byte for byte as given (no normalisation).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(90)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(std::io::ErrorKind::InvalidData)?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or(std::io::ErrorKind::InvalidData)?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = unchunk(&body);
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
    out
}

/// The `url` of the picture `/api/state` calls the newest, if any.
pub fn latest_url(addr: SocketAddr) -> Option<String> {
    let r = get(addr, "/api/state").ok()?;
    let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
    v["latest"]["url"].as_str().map(String::from)
}
