//! easel's controller on Linux: the firmware's logic, unchanged, on a
//! Raspberry Pi's GPIO or driven from a terminal.
//!
//! The MQTT side is `easel_firmware::mqtt` — minimq over tokio TCP — not a
//! std MQTT client: it is the exact client and session the boards run, so
//! the broker tests of this binary are tests of the firmware's network
//! behaviour (will, retained online, reconnect). The costs are MQTT 5 only
//! and a 1 ms polling loop, both fine on a Pi.
//!
//! - [`panel`]: the input pins and knobs, sampled every millisecond;
//! - [`gpio`]: a panel on GPIO character-device lines;
//! - [`simulate`]: a panel on simulated pins pressed by terminal keys;
//! - [`link`]: the TCP connector and the session runner;
//! - [`bench`]: input-to-publish latency against a real broker.

pub mod bench;
pub mod cli;
pub mod gpio;
pub mod link;
pub mod panel;
pub mod simulate;
