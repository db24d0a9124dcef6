//! Improv serial framing: `IMPROV`, version 1, type, length, data, and a
//! checksum byte (the sum of every byte before it).
//!
//! The serial port also carries whatever else a board prints and whatever
//! a terminal sends, so the decoder looks for the header byte by byte and
//! ignores everything outside a packet; a packet whose checksum does not
//! match is reported (the service answers "invalid RPC"), then dropped.
//! No IO here.

use heapless::Vec;

pub const HEADER: [u8; 6] = *b"IMPROV";
pub const VERSION: u8 = 1;
/// Header, version, type, length.
const PREFIX: usize = HEADER.len() + 3;
/// The largest packet: a one-byte length allows 255 bytes of data.
pub const MAX_PACKET: usize = PREFIX + 255 + 1;

/// Packet types (the spec's numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PacketType {
    /// Device to client: the provisioning state.
    CurrentState = 0x01,
    /// Device to client: the error state.
    ErrorState = 0x02,
    /// Client to device: a command.
    Rpc = 0x03,
    /// Device to client: a command's result.
    RpcResult = 0x04,
}

/// What the decoder made of the bytes so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole packet with a good checksum.
    Packet { kind: u8, data: &'a [u8] },
    /// A whole packet with a wrong checksum.
    BadChecksum,
}

/// Finds packets in a byte stream, one byte at a time.
pub struct Decoder {
    buf: Vec<u8, MAX_PACKET>,
    /// `buf` holds the packet returned by the last push: the next byte
    /// starts afresh (the packet stays readable until then).
    done: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    pub const fn new() -> Decoder {
        Decoder {
            buf: Vec::new(),
            done: false,
        }
    }

    /// Takes the next byte; returns a frame when this byte completed one.
    pub fn push(&mut self, byte: u8) -> Option<Frame<'_>> {
        if self.done {
            self.buf.clear();
            self.done = false;
        }
        let at = self.buf.len();
        let fits = match at {
            0..6 => byte == HEADER[at],
            6 => byte == VERSION,
            _ => true,
        };
        if !fits {
            self.buf.clear();
            // The byte that broke a header may start the next one.
            if byte == HEADER[0] {
                let _ = self.buf.push(byte);
            }
            return None;
        }
        // Never full: a packet is complete at PREFIX + length + 1 bytes.
        let _ = self.buf.push(byte);
        if self.buf.len() <= PREFIX {
            return None;
        }
        let len = self.buf[PREFIX - 1] as usize;
        if self.buf.len() < PREFIX + len + 1 {
            return None;
        }
        self.done = true;
        let (body, checksum) = self.buf.split_at(PREFIX + len);
        Some(if sum(body) == checksum[0] {
            Frame::Packet {
                kind: body[PREFIX - 2],
                data: &body[PREFIX..],
            }
        } else {
            Frame::BadChecksum
        })
    }
}

fn sum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b))
}

/// Appends one packet (and a newline, as ESPHome does, so a terminal
/// watching the port stays readable; clients skip it). Returns `Err` when
/// `out` has no room; nothing is appended then.
pub fn encode<const N: usize>(
    kind: PacketType,
    data: &[u8],
    out: &mut Vec<u8, N>,
) -> Result<(), Full> {
    if data.len() > 255 || out.capacity() - out.len() < PREFIX + data.len() + 2 {
        return Err(Full);
    }
    let start = out.len();
    let _ = out.extend_from_slice(&HEADER);
    let _ = out.extend_from_slice(&[VERSION, kind as u8, data.len() as u8]);
    let _ = out.extend_from_slice(data);
    let checksum = sum(&out[start..]);
    let _ = out.extend_from_slice(&[checksum, b'\n']);
    Ok(())
}

/// The output buffer had no room for a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec as StdVec;

    fn packet(kind: PacketType, data: &[u8]) -> StdVec<u8> {
        let mut out: Vec<u8, 300> = Vec::new();
        encode(kind, data, &mut out).unwrap();
        out.to_vec()
    }

    /// Every frame found in `bytes`, as (type, data) or `None` for a bad checksum.
    fn frames(bytes: &[u8]) -> StdVec<Option<(u8, StdVec<u8>)>> {
        let mut d = Decoder::new();
        let mut found = StdVec::new();
        for &b in bytes {
            if let Some(f) = d.push(b) {
                found.push(match f {
                    Frame::Packet { kind, data } => Some((kind, data.to_vec())),
                    Frame::BadChecksum => None,
                });
            }
        }
        found
    }

    #[test]
    fn encodes_the_spec_layout() {
        // Current state "ready" (0x02): I M P R O V, 1, 1, 1, 2, checksum.
        let p = packet(PacketType::CurrentState, &[0x02]);
        let mut want = b"IMPROV\x01\x01\x01\x02".to_vec();
        want.push(want.iter().fold(0u8, |s, &b| s.wrapping_add(b)));
        want.push(b'\n');
        assert_eq!(p, want);
        // 73+77+80+82+79+86 ("IMPROV") + 1 + 1 + 1 + 2 = 482 = 0x1E2.
        assert_eq!(p[10], 0xE2);
    }

    #[test]
    fn finds_packets_among_log_lines() {
        let mut stream = b"boot: easel\r\nIMPR".to_vec();
        stream.extend(packet(PacketType::Rpc, &[0x02, 0x00]));
        stream.extend(b"IIMPROX garbage");
        stream.extend(packet(PacketType::Rpc, &[0x03, 0x00]));
        assert_eq!(
            frames(&stream),
            [
                Some((0x03, [0x02, 0x00].to_vec())),
                Some((0x03, [0x03, 0x00].to_vec()))
            ]
        );
    }

    #[test]
    fn a_wrong_checksum_is_reported_not_passed_on() {
        let mut p = packet(PacketType::Rpc, &[0x02, 0x00]);
        p[11] = p[11].wrapping_add(1);
        let mut stream = p;
        stream.extend(packet(PacketType::Rpc, &[0x02, 0x00]));
        assert_eq!(frames(&stream), [None, Some((0x03, [0x02, 0x00].to_vec()))]);
    }

    #[test]
    fn other_versions_are_not_packets() {
        let mut p = packet(PacketType::Rpc, &[0x02, 0x00]);
        p[6] = 2;
        assert!(frames(&p).is_empty());
    }

    #[test]
    fn longest_data_and_empty_data() {
        let long = [0xAB; 255];
        assert_eq!(
            frames(&packet(PacketType::RpcResult, &long)),
            [Some((0x04, long.to_vec()))]
        );
        assert_eq!(
            frames(&packet(PacketType::RpcResult, &[])),
            [Some((0x04, StdVec::new()))]
        );
        let mut small: Vec<u8, 12> = Vec::new();
        assert_eq!(
            encode(PacketType::RpcResult, &[1, 2], &mut small),
            Err(Full)
        );
        assert!(small.is_empty());
    }
}
