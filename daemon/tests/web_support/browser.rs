//! A real headless Chromium, driven over the DevTools protocol through
//! `--remote-debugging-pipe`: requests go to the browser's fd 3, answers
//! come back on its fd 4, each a JSON message ended by a NUL byte. No
//! websocket client and no browser-automation crate to compile.

use serde_json::{Value, json};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Debian calls it `chromium`; others `chromium-browser` or Chrome.
/// `CHROMIUM` overrides. A missing browser is a failure, not a skip.
pub fn chromium_binary() -> String {
    if let Ok(path) = std::env::var("CHROMIUM") {
        return path;
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(name)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            return name.into();
        }
    }
    panic!(
        "no chromium on PATH: install Debian's `chromium` (scripts/setup.sh does) or set CHROMIUM"
    );
}

pub struct Browser {
    child: Child,
    to: File,
    from: mpsc::Receiver<Value>,
    next_id: u64,
    _profile: tempfile::TempDir,
}

pub struct Page {
    session: String,
}

fn pipe() -> (i32, i32) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds; O_CLOEXEC keeps them out of other children.
    assert_eq!(
        unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) },
        0,
        "pipe2"
    );
    (fds[0], fds[1])
}

impl Browser {
    pub fn launch() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let (to_read, to_write) = pipe();
        let (from_read, from_write) = pipe();
        let mut command = Command::new(chromium_binary());
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-dev-shm-usage",
                "--window-size=1280,720",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec.
        unsafe {
            command.pre_exec(move || {
                // Move both ends above 4 first, so placing one cannot clobber the other.
                let r = libc::fcntl(to_read, libc::F_DUPFD, 10);
                let w = libc::fcntl(from_write, libc::F_DUPFD, 10);
                if r < 0 || w < 0 || libc::dup2(r, 3) < 0 || libc::dup2(w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("chromium starts");
        // SAFETY: the fds come from pipe2 above and are owned from here on.
        let (to, mut from_file) = unsafe {
            libc::close(to_read);
            libc::close(from_write);
            (File::from_raw_fd(to_write), File::from_raw_fd(from_read))
        };
        let (tx, from) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            while let Ok(n) = from_file.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.iter().position(|&b| b == 0) {
                    let message: Vec<u8> = buf.drain(..=end).collect();
                    if let Ok(v) = serde_json::from_slice(&message[..end])
                        && tx.send(v).is_err()
                    {
                        return;
                    }
                }
            }
        });
        Browser {
            child,
            to,
            from,
            next_id: 1,
            _profile: profile,
        }
    }

    /// One DevTools call; the `result` of its answer.
    pub fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).expect("chromium reads its pipe");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let answer = self
                .from
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("chromium did not answer {method}"));
            if answer["id"] == json!(id) {
                if let Some(e) = answer.get("error") {
                    panic!("{method} failed: {e}");
                }
                return answer["result"].clone();
            }
        }
    }

    /// Opens `url` in a new tab.
    pub fn open(&mut self, url: &str) -> Page {
        let target = self.call(None, "Target.createTarget", json!({"url": url}));
        let target_id = target["targetId"]
            .as_str()
            .expect("a target id")
            .to_string();
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        Page {
            session: attached["sessionId"]
                .as_str()
                .expect("a session id")
                .to_string(),
        }
    }

    /// Opens `url` in a new tab whose screen is `width` x `height` CSS
    /// pixels at a device pixel ratio of 1, set before the page loads (so
    /// its first script already sees that size).
    pub fn open_sized(&mut self, url: &str, width: u32, height: u32) -> Page {
        let page = self.open("about:blank");
        let session = Some(page.session.as_str());
        self.call(
            session,
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
        self.call(session, "Page.navigate", json!({"url": url}));
        page
    }

    /// Opens the gallery page at `url` and waits for its live connection.
    pub fn open_connected(&mut self, url: &str) -> Page {
        let page = self.open(url);
        self.wait_connected(&page);
        page
    }

    /// Waits for the gallery page in `page` to hold its live connection.
    pub fn wait_connected(&mut self, page: &Page) {
        self.wait_until(
            page,
            Duration::from_secs(30),
            "a live connection",
            "window.easel && window.easel.connected",
        );
    }

    /// Evaluates `expression` in the page (awaiting promises); its value.
    /// A page that is not loaded (yet) gives `Value::Null`.
    pub fn eval(&mut self, page: &Page, expression: &str) -> Value {
        let r = self.call(
            Some(&page.session),
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        if r.get("exceptionDetails").is_some() {
            return Value::Null;
        }
        r["result"]["value"].clone()
    }

    /// Evaluates until the value is truthy (not null/false); the value.
    pub fn wait_until(
        &mut self,
        page: &Page,
        limit: Duration,
        what: &str,
        expression: &str,
    ) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let v = self.eval(page, expression);
            if !(v.is_null() || v == json!(false)) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {limit:?} waiting for the page to show {what}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
