//! The unit that flows from input state machines to the MQTT session: an
//! input name and what it reports, encoded to the contract's JSON with
//! `easel-protocol`'s serializer so firmware and daemon cannot drift.

use easel_protocol::{InputMessage, Signal};

/// Largest encoded input payload: `{"input":"<32 bytes>","value":0.123456}`
/// fits with room to spare.
pub const MAX_PAYLOAD: usize = 96;

/// One visitor input event, as produced by a state machine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputEvent {
    /// The input's name on the wire (`button1`, `knob1`, `enc1`, `presence`).
    pub input: &'static str,
    pub signal: Signal,
    /// When the edge that caused this event was seen (ms); used to drop
    /// stale events after an outage and to measure latency.
    pub at_ms: u64,
}

/// Why an event could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// The payload did not fit the buffer.
    TooLong,
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EncodeError::TooLong => f.write_str("input payload does not fit the buffer"),
        }
    }
}

impl InputEvent {
    /// The wire message.
    pub fn message(&self) -> InputMessage<'static> {
        InputMessage {
            input: self.input,
            signal: self.signal,
        }
    }

    /// Writes the contract's JSON into `buf`, returning its length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        serde_json_core::to_slice(&self.message(), buf).map_err(|_| EncodeError::TooLong)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use easel_protocol::ButtonEvent;

    #[test]
    fn encodes_contract_json() {
        let cases: &[(&'static str, Signal, &str)] = &[
            (
                "button1",
                Signal::Button(ButtonEvent::Click),
                r#"{"input":"button1","event":"click"}"#,
            ),
            (
                "knob1",
                Signal::Level(0.42),
                r#"{"input":"knob1","value":0.42}"#,
            ),
            ("enc1", Signal::Delta(-2), r#"{"input":"enc1","delta":-2}"#),
            (
                "presence",
                Signal::Presence(true),
                r#"{"input":"presence","value":true}"#,
            ),
        ];
        for &(input, signal, want) in cases {
            let mut buf = [0u8; MAX_PAYLOAD];
            let n = InputEvent {
                input,
                signal,
                at_ms: 0,
            }
            .encode(&mut buf)
            .unwrap();
            assert_eq!(core::str::from_utf8(&buf[..n]).unwrap(), want);
        }
    }

    #[test]
    fn longest_name_fits() {
        let name = "abcdefghijklmnopqrstuvwxyz012345";
        let mut buf = [0u8; MAX_PAYLOAD];
        let e = InputEvent {
            input: name,
            signal: Signal::Level(0.123_456),
            at_ms: 0,
        };
        assert!(e.encode(&mut buf).is_ok());
        assert_eq!(e.encode(&mut [0u8; 8]), Err(EncodeError::TooLong));
    }
}
