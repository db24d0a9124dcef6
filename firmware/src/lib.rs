#![no_std]
//! easel controller logic: everything a controller decides, nothing it touches.
//!
//! Visitor input (buttons, encoders, knobs, presence sensors), the status
//! LED and LED strip patterns, and the MQTT session are plain state machines
//! driven by `(input, now_ms)` or `tick(now_ms)`. They never read a pin, a
//! socket or a clock: the board crates, the Linux controller and the host
//! tests feed them, which is why the same behaviour can be tested on a
//! laptop and run unchanged on an RP2040, an ESP32-C3 or a Raspberry Pi.
//!
//! Time is a `u64` count of milliseconds from an arbitrary origin (boot);
//! it must never go backwards.
//!
//! `pins` and `ws2812` are the thin drivers that connect the state machines
//! to embedded-hal 1.0 traits; `mqtt` (feature `mqtt`) is the async loop
//! that connects [`session::Session`] to minimq and a byte stream.
//!
//! Nothing a visitor can do with the inputs is destructive: gestures only
//! become input events for the daemon. Id, node and prefix are fixed at
//! build time; WiFi and broker ([`site`]) start as build-time values and
//! change only over the USB serial port ([`improv`]), never by a gesture.

pub mod button;
pub mod encoder;
pub mod event;
pub mod improv;
pub mod knob;
#[cfg(feature = "mqtt")]
pub mod mqtt;
pub mod pins;
pub mod presence;
pub mod session;
pub mod site;
pub mod status_led;
pub mod strip;
pub mod ws2812;

pub use button::{Button, ButtonTimings};
pub use encoder::{Encoder, EncoderConfig};
pub use event::InputEvent;
pub use knob::{Knob, KnobConfig};
pub use presence::{Distance, DistanceConfig, Pir, PirConfig};
pub use session::{Session, SessionConfig};
pub use site::SiteSettings;
pub use status_led::{StatusLed, StatusPattern};
pub use strip::{Strip, StripConfig};
