//! Improv RPC payloads: a command is `command, length, data`; its data
//! and a result's are length-prefixed strings (the WiFi settings are the
//! strings `ssid`, `passphrase`). Over serial the packet's checksum covers
//! the RPC, so it carries none of its own. No IO here.

use heapless::Vec;

/// RPC commands this service knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Command {
    /// `ssid`, `passphrase`: join this network and keep it.
    WifiSettings = 0x01,
    /// Answer with the current state (and, once provisioned, a result).
    RequestState = 0x02,
    /// Answer with firmware name, version, chip, device name.
    RequestInfo = 0x03,
    /// easel's extension (device-specific, outside the spec's numbers):
    /// no strings = report the broker and username; `broker` or `broker,
    /// username, password` = use and keep this broker.
    Broker = 0xE0,
}

impl Command {
    pub fn from_u8(b: u8) -> Option<Command> {
        Some(match b {
            0x01 => Command::WifiSettings,
            0x02 => Command::RequestState,
            0x03 => Command::RequestInfo,
            0xE0 => Command::Broker,
            _ => return None,
        })
    }
}

/// An RPC packet that does not parse ("invalid RPC packet" in the spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// A command byte and its data, borrowed from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rpc<'a> {
    pub command: u8,
    pub data: &'a [u8],
}

impl<'a> Rpc<'a> {
    /// Splits an RPC packet's data; the inner length must match exactly.
    pub fn parse(packet: &'a [u8]) -> Result<Rpc<'a>, Malformed> {
        match packet {
            [command, len, data @ ..] if *len as usize == data.len() => Ok(Rpc {
                command: *command,
                data,
            }),
            _ => Err(Malformed),
        }
    }

    /// The data as up to `N` UTF-8 strings; malformed when a length runs
    /// past the end, a string is not UTF-8, or there are more than `N`.
    pub fn strings<const N: usize>(&self) -> Result<Vec<&'a str, N>, Malformed> {
        let mut out = Vec::new();
        let mut rest = self.data;
        while let [len, tail @ ..] = rest {
            let len = *len as usize;
            if tail.len() < len {
                return Err(Malformed);
            }
            let (s, next) = tail.split_at(len);
            let s = core::str::from_utf8(s).map_err(|_| Malformed)?;
            out.push(s).map_err(|_| Malformed)?;
            rest = next;
        }
        Ok(out)
    }
}

/// An RPC (or result) body: `command, total length, strings…`. `None`
/// when it would not fit one packet.
pub fn body(command: u8, strings: &[&[u8]]) -> Option<Vec<u8, 255>> {
    let mut out: Vec<u8, 255> = Vec::new();
    out.extend_from_slice(&[command, 0]).ok()?;
    for s in strings {
        let len = u8::try_from(s.len()).ok()?;
        out.push(len).ok()?;
        out.extend_from_slice(s).ok()?;
    }
    out[1] = (out.len() - 2) as u8;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wifi_settings_as_the_spec_lays_them_out() {
        // command 1, length 9, "ab" (2), "secret" (6)
        let packet = b"\x01\x0a\x02ab\x06secret";
        let rpc = Rpc::parse(packet).unwrap();
        assert_eq!(rpc.command, 0x01);
        assert_eq!(rpc.strings::<2>().unwrap().as_slice(), ["ab", "secret"]);
        assert_eq!(body(0x01, &[b"ab", b"secret"]).unwrap().as_slice(), packet);
    }

    #[test]
    fn lengths_must_add_up() {
        assert_eq!(Rpc::parse(b"\x01\x05\x02ab"), Err(Malformed));
        assert_eq!(Rpc::parse(b"\x01"), Err(Malformed));
        let rpc = Rpc::parse(b"\x01\x03\x05ab").unwrap();
        assert_eq!(rpc.strings::<2>(), Err(Malformed));
        let three = Rpc::parse(b"\xe0\x03\x00\x00\x00").unwrap();
        assert_eq!(three.strings::<2>(), Err(Malformed));
        assert_eq!(three.strings::<3>().unwrap().as_slice(), ["", "", ""]);
        let not_utf8 = Rpc::parse(b"\x01\x02\x01\xff").unwrap();
        assert_eq!(not_utf8.strings::<2>(), Err(Malformed));
    }

    #[test]
    fn a_result_that_does_not_fit_is_refused() {
        assert!(body(0x03, &[&[b'x'; 252]]).is_some());
        assert!(body(0x03, &[&[b'x'; 253]]).is_none());
        assert_eq!(body(0x02, &[]).unwrap().as_slice(), [0x02, 0x00]);
    }
}
