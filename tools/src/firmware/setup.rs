//! `easel firmware setup`: gives an ESP32-C3 controller its WiFi network
//! and broker over USB serial, speaking Improv serial as ESP Web Tools
//! does, plus easel's broker command (`0xE0`).
//!
//! The packets are built and read by the firmware's own code
//! (`easel_firmware::improv::{frame, rpc}`), so the tool and the
//! controller cannot disagree about the format. [`Client`] works over any
//! byte stream with a read timeout; [`open_port`] makes one of a serial
//! device (raw mode, 115200 baud: the chip's USB serial ignores the rate).

use anyhow::{Context, bail};
use easel_firmware::improv::Outbox;
use easel_firmware::improv::frame::{self, Decoder, Frame, PacketType};
use easel_firmware::improv::rpc::{self, Command, Rpc};
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// What a controller said, as the client reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    State(u8),
    Error(u8),
    Result { command: u8, strings: Vec<String> },
}

/// Why a request did not get its result.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("the controller answered error {code:#04x} ({})", describe_error(*code))]
    Device { code: u8 },
    #[error(
        "no answer from the controller within {0:?} (is this its USB serial port, and is it running easel firmware?)"
    )]
    Timeout(Duration),
    #[error("serial port: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0} does not fit one Improv packet")]
    TooLong(&'static str),
}

fn describe_error(code: u8) -> &'static str {
    match code {
        0x01 => "invalid request: a value the controller refuses",
        0x02 => "unknown command: not easel firmware, or an older one",
        0x03 => "unable to connect: wrong WiFi name or passphrase, or the network is out of reach",
        _ => "the setting could not be stored, or another change is in progress",
    }
}

/// An Improv client over a byte stream whose reads time out (returning 0
/// bytes or `WouldBlock`/`TimedOut`) rather than block forever.
pub struct Client<P> {
    port: P,
    decoder: Decoder,
    /// How long one request may take (a WiFi join takes seconds).
    pub timeout: Duration,
    /// Every state change seen, for the caller to report.
    pub states: Vec<u8>,
}

impl<P: Read + Write> Client<P> {
    pub fn new(port: P, timeout: Duration) -> Client<P> {
        Client {
            port,
            decoder: Decoder::new(),
            timeout,
            states: Vec::new(),
        }
    }

    /// Sends one RPC and waits for its result's strings. An error state
    /// other than "no error" ends the wait.
    pub fn request(
        &mut self,
        command: Command,
        strings: &[&str],
    ) -> Result<Vec<String>, SetupError> {
        let raw: Vec<&[u8]> = strings.iter().map(|s| s.as_bytes()).collect();
        let body = rpc::body(command as u8, &raw).ok_or(SetupError::TooLong("the request"))?;
        let mut packet = Outbox::new();
        frame::encode(PacketType::Rpc, &body, &mut packet)
            .map_err(|_| SetupError::TooLong("the request"))?;
        self.port.write_all(&packet)?;
        self.port.flush()?;
        let deadline = Instant::now() + self.timeout;
        while Instant::now() < deadline {
            for reply in self.read_replies()? {
                match reply {
                    Reply::State(s) => self.states.push(s),
                    Reply::Error(0) => {}
                    Reply::Error(code) => return Err(SetupError::Device { code }),
                    Reply::Result {
                        command: c,
                        strings,
                    } if c == command as u8 => {
                        return Ok(strings);
                    }
                    Reply::Result { .. } => {}
                }
            }
        }
        Err(SetupError::Timeout(self.timeout))
    }

    /// What has arrived so far (one read).
    fn read_replies(&mut self) -> Result<Vec<Reply>, SetupError> {
        let mut buf = [0u8; 256];
        let n = match self.port.read(&mut buf) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => 0,
            Err(e) if e.kind() == ErrorKind::Interrupted => 0,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut replies = Vec::new();
        for &b in &buf[..n] {
            match self.decoder.push(b) {
                Some(Frame::Packet {
                    kind: 0x01,
                    data: [s],
                }) => replies.push(Reply::State(*s)),
                Some(Frame::Packet {
                    kind: 0x02,
                    data: [e],
                }) => replies.push(Reply::Error(*e)),
                Some(Frame::Packet { kind: 0x04, data }) => {
                    if let Ok(r) = Rpc::parse(data)
                        && let Ok(strings) = r.strings::<8>()
                    {
                        replies.push(Reply::Result {
                            command: r.command,
                            strings: strings.iter().map(|s| s.to_string()).collect(),
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(replies)
    }

    /// Firmware name, version, chip, controller id.
    pub fn device_info(&mut self) -> Result<Vec<String>, SetupError> {
        self.request(Command::RequestInfo, &[])
    }

    /// Joins the network and keeps it (the controller answers only once
    /// it has joined and written the settings).
    pub fn set_wifi(&mut self, ssid: &str, passphrase: &str) -> Result<(), SetupError> {
        self.request(Command::WifiSettings, &[ssid, passphrase])
            .map(|_| ())
    }

    /// Sets (and keeps) the broker and login; returns `[broker, username]`
    /// as the controller now has them.
    pub fn set_broker(
        &mut self,
        broker: &str,
        login: Option<(&str, &str)>,
    ) -> Result<Vec<String>, SetupError> {
        match login {
            Some((user, password)) => self.request(Command::Broker, &[broker, user, password]),
            None => self.request(Command::Broker, &[broker]),
        }
    }

    /// `[broker, username]` in use.
    pub fn broker(&mut self) -> Result<Vec<String>, SetupError> {
        self.request(Command::Broker, &[])
    }
}

/// Opens a serial device in raw mode with reads that return after 100 ms
/// without data.
pub fn open_port(path: &Path) -> anyhow::Result<File> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(path)
        .with_context(|| format!("opening the serial port {}", path.display()))?;
    let fd = file.as_raw_fd();
    // SAFETY: termios is plain data; fd is open for the life of `file`.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) != 0 {
            bail!(
                "{} is not a serial port: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
        }
        libc::cfmakeraw(&mut t);
        libc::cfsetspeed(&mut t, libc::B115200);
        t.c_cc[libc::VMIN] = 0;
        t.c_cc[libc::VTIME] = 1;
        if libc::tcsetattr(fd, libc::TCSANOW, &t) != 0 {
            bail!(
                "configuring {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(file)
}

/// What `easel firmware setup` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// (network name, passphrase)
    pub wifi: Option<(String, String)>,
    pub broker: Option<String>,
    pub login: Option<(String, String)>,
}

/// Runs the plan: device info first (a wrong port fails fast), broker
/// before WiFi (so the first connection on the new network goes to the
/// right broker). One line per step on stdout.
pub fn run<P: Read + Write>(client: &mut Client<P>, plan: &Plan) -> anyhow::Result<()> {
    let info = client
        .device_info()
        .context("asking the controller who it is")?;
    println!("controller: {}", info.join(" "));
    if let Some(broker) = &plan.broker {
        let login = plan.login.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
        let now = client
            .set_broker(broker, login)
            .with_context(|| format!("setting the broker {broker}"))?;
        println!("broker: {}", describe_broker(&now));
    }
    if let Some((ssid, passphrase)) = &plan.wifi {
        client
            .set_wifi(ssid, passphrase)
            .with_context(|| format!("joining the WiFi network {ssid:?}"))?;
        println!("wifi: joined {ssid:?} and kept it");
    }
    if plan.broker.is_none() && plan.wifi.is_none() {
        let now = client.broker().context("asking for the broker")?;
        println!("broker: {}", describe_broker(&now));
    }
    Ok(())
}

fn describe_broker(strings: &[String]) -> String {
    match strings {
        [broker, user] if !user.is_empty() => format!("{broker} (as {user})"),
        [broker, ..] => broker.clone(),
        [] => "?".into(),
    }
}

#[cfg(test)]
#[path = "setup_tests.rs"]
mod tests;
