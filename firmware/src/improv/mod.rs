//! Improv serial (the protocol ESP Web Tools, ESPHome and Home Assistant
//! use to hand a device its WiFi network over USB), plus one command of
//! easel's own for the broker: how an ESP32-C3 controller is set up on
//! site without rebuilding its firmware.
//!
//! - [`frame`]: packets (`IMPROV`, version, type, length, data, checksum);
//! - [`rpc`]: commands and results inside them;
//! - [`service`]: the device's state machine ([`Provisioner`]).
//!
//! All pure: the board reads the serial port and feeds bytes in, writes
//! what comes out, and does the joining and the flash writes it is asked
//! for. A host tool uses the same `frame` and `rpc` code as the client.

pub mod frame;
pub mod rpc;
pub mod service;

pub use rpc::Command;
pub use service::{DeviceInfo, ErrorCode, Failure, Outbox, Provisioner, Request, State};
