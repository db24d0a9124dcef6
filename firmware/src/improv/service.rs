//! The device side of Improv serial: answers a client (ESP Web Tools,
//! Home Assistant, `easel provision`) and tells the board what to do.
//!
//! It is fed the serial port's bytes and the board's reports, and returns
//! the bytes to write back and, for the two commands that change
//! something, a [`Request`]: join a network (and keep it once joined), or
//! keep another broker. It never touches the radio or the flash itself,
//! and it only changes [`SiteSettings`] through their validating
//! constructors, so a bad value is refused before anything is tried and
//! the board's settings are never left half-changed.
//!
//! Nothing here is reachable from the visitor inputs: setup happens over
//! the USB serial port only (the spec's "authorized" state from the start:
//! being plugged into the board is the authorization). No IO here.

use super::frame::{self, Decoder, Frame, PacketType};
use super::rpc::{self, Command, Rpc};
use crate::site::SiteSettings;
use heapless::Vec;

/// Bytes one input can produce at most (error, state, a full result).
pub const OUTBOX: usize = 512;
/// Where replies go; the board writes them to the port.
pub type Outbox = Vec<u8, OUTBOX>;

/// Provisioning state (the spec's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    /// Ready to accept credentials (not on a network now).
    Ready = 0x02,
    /// Credentials received, joining.
    Provisioning = 0x03,
    /// On the network.
    Provisioned = 0x04,
}

/// Error state (the spec's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ErrorCode {
    None = 0x00,
    InvalidRpc = 0x01,
    UnknownCommand = 0x02,
    UnableToConnect = 0x03,
    Unknown = 0xFF,
}

/// What "request device information" answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceInfo {
    pub firmware: &'static str,
    pub version: &'static str,
    pub chip: &'static str,
    /// The controller id.
    pub name: &'static str,
}

/// What the board must do; it reports back with `handle_joined` or
/// `handle_kept`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Join this network; once joined, keep these settings (flash) and use
    /// them. If joining fails, go back to the previous network.
    Join(SiteSettings),
    /// Keep these settings (a new broker or login) and reconnect with them.
    Keep(SiteSettings),
}

/// Why a request did not take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The network could not be joined (wrong passphrase, out of reach).
    Join,
    /// The settings could not be written to flash.
    Storage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Busy {
    Joining,
    Keeping,
}

/// The Improv service of one serial port.
pub struct Provisioner {
    info: DeviceInfo,
    decoder: Decoder,
    state: State,
    busy: Option<Busy>,
}

impl Provisioner {
    pub fn new(info: DeviceInfo) -> Provisioner {
        Provisioner {
            info,
            decoder: Decoder::new(),
            state: State::Ready,
            busy: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// One byte from the port. `site` is what the board uses now.
    pub fn handle_byte(
        &mut self,
        byte: u8,
        site: &SiteSettings,
        out: &mut Outbox,
    ) -> Option<Request> {
        let (kind, data) = match self.decoder.push(byte)? {
            Frame::BadChecksum => {
                error(ErrorCode::InvalidRpc, out);
                return None;
            }
            Frame::Packet { kind, data } => (kind, data),
        };
        // Only commands flow from the client; anything else is an echo.
        if kind != PacketType::Rpc as u8 {
            return None;
        }
        let Ok(rpc) = Rpc::parse(data) else {
            error(ErrorCode::InvalidRpc, out);
            return None;
        };
        let Some(command) = Command::from_u8(rpc.command) else {
            error(ErrorCode::UnknownCommand, out);
            return None;
        };
        let state = self.state;
        let busy = self.busy;
        let info = self.info;
        match command {
            Command::RequestState => {
                send(PacketType::CurrentState, &[state as u8], out);
                if state == State::Provisioned {
                    result(Command::RequestState, &[], out);
                }
                None
            }
            Command::RequestInfo => {
                let strings = [info.firmware, info.version, info.chip, info.name];
                result(Command::RequestInfo, &strings.map(str::as_bytes), out);
                None
            }
            _ if busy.is_some() => {
                error(ErrorCode::Unknown, out);
                None
            }
            Command::WifiSettings => {
                let Some([ssid, passphrase]) = rpc
                    .strings::<2>()
                    .ok()
                    .and_then(|v| v.into_array::<2>().ok())
                else {
                    error(ErrorCode::InvalidRpc, out);
                    return None;
                };
                let Ok(candidate) = site.with_wifi(ssid, passphrase) else {
                    // A name or passphrase no network can have.
                    error(ErrorCode::UnableToConnect, out);
                    return None;
                };
                error(ErrorCode::None, out);
                self.set_state(State::Provisioning, out);
                self.busy = Some(Busy::Joining);
                Some(Request::Join(candidate))
            }
            Command::Broker => {
                let Ok(strings) = rpc.strings::<3>() else {
                    error(ErrorCode::InvalidRpc, out);
                    return None;
                };
                let at = |i: usize| strings.get(i).copied().unwrap_or("");
                if strings.is_empty() {
                    broker_result(site, out);
                    return None;
                }
                let Ok(candidate) = site.with_broker(at(0), at(1), at(2)) else {
                    error(ErrorCode::InvalidRpc, out);
                    return None;
                };
                self.busy = Some(Busy::Keeping);
                Some(Request::Keep(candidate))
            }
        }
    }

    /// The board's answer to [`Request::Join`].
    pub fn handle_joined(&mut self, outcome: Result<(), Failure>, out: &mut Outbox) {
        if self.busy != Some(Busy::Joining) {
            return;
        }
        self.busy = None;
        match outcome {
            Ok(()) => {
                self.set_state(State::Provisioned, out);
                result(Command::WifiSettings, &[], out);
            }
            Err(Failure::Join) => {
                error(ErrorCode::UnableToConnect, out);
                self.set_state(State::Ready, out);
            }
            // Joined, but it would not survive a restart: say so.
            Err(Failure::Storage) => {
                error(ErrorCode::Unknown, out);
                self.set_state(State::Provisioned, out);
            }
        }
    }

    /// The board's answer to [`Request::Keep`]; `site` is what it uses now.
    pub fn handle_kept(
        &mut self,
        outcome: Result<(), Failure>,
        site: &SiteSettings,
        out: &mut Outbox,
    ) {
        if self.busy != Some(Busy::Keeping) {
            return;
        }
        self.busy = None;
        match outcome {
            Ok(()) => broker_result(site, out),
            Err(_) => error(ErrorCode::Unknown, out),
        }
    }

    /// The WiFi link came up or went down (not while joining: the board is
    /// switching networks then, and [`Provisioner::handle_joined`] says
    /// how it ended).
    pub fn handle_link(&mut self, up: bool, out: &mut Outbox) {
        if self.busy == Some(Busy::Joining) {
            return;
        }
        self.set_state(if up { State::Provisioned } else { State::Ready }, out);
    }

    fn set_state(&mut self, state: State, out: &mut Outbox) {
        if self.state != state {
            self.state = state;
            send(PacketType::CurrentState, &[state as u8], out);
        }
    }
}

fn send(kind: PacketType, data: &[u8], out: &mut Outbox) {
    // OUTBOX holds the most one input produces; a client that stopped
    // reading loses replies, never the board its footing.
    let _ = frame::encode(kind, data, out);
}

fn error(code: ErrorCode, out: &mut Outbox) {
    send(PacketType::ErrorState, &[code as u8], out);
}

fn result(command: Command, strings: &[&[u8]], out: &mut Outbox) {
    match rpc::body(command as u8, strings) {
        Some(body) => send(PacketType::RpcResult, &body, out),
        None => error(ErrorCode::Unknown, out),
    }
}

/// The broker and username in use (never the password).
fn broker_result(site: &SiteSettings, out: &mut Outbox) {
    let user = site.login().map_or("", |(u, _)| u);
    result(
        Command::Broker,
        &[site.broker_text().as_bytes(), user.as_bytes()],
        out,
    );
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
