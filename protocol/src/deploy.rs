//! The model transfer contract (docs/deploy.md, "Transfer over MQTT"): the
//! topics under `P/N/deploy/<id>/`, the chunk limits, and the `begin` and
//! `commit` payloads a sender (`easel deploy`) and a node (`easeld`) agree
//! on.
//!
//! | topic part | payload |
//! |---|---|
//! | `begin` | JSON `Offer` |
//! | `chunk/<index>` | binary: sha256 of the chunk ([`CHUNK_HASH`] bytes), then the chunk |
//! | `commit` | JSON `Commit` (empty = `{"activate":false}`) |
//! | `abort` | empty |
//!
//! The limits, the transfer id and the topic parts are `no_std` and need no
//! allocator; the JSON payloads need the `std` feature. The node's checks of
//! an offer against its own limits (`max_package_mb`), the spool and the
//! transfer state machine are the daemon's, not part of the contract.

use core::fmt;

/// Largest chunk a sender may use (payload = 32-byte hash + chunk). Well
/// under the embedded broker's and the daemon client's packet limits.
pub const MAX_CHUNK: u32 = 256 << 10;
/// Smallest chunk size (only the last chunk may be shorter): bounds the
/// number of chunks, hence the bookkeeping per transfer.
pub const MIN_CHUNK: u32 = 4 << 10;
/// Length of the hash in front of every chunk.
pub const CHUNK_HASH: usize = 32;
/// Longest transfer id.
pub const MAX_ID: usize = 64;

/// A transfer id: chosen by the sender, part of topics and file names,
/// hence `[A-Za-z0-9_-]{1,64}` (no `.`, no `/`).
pub fn is_valid_id(id: &str) -> bool {
    (1..=MAX_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `ceil(size / chunk_size)`: the `chunks` an offer must announce; `None`
/// for a zero chunk size or more chunks than a `u32` counts.
pub const fn chunk_count(size: u64, chunk_size: u32) -> Option<u32> {
    if chunk_size == 0 {
        return None;
    }
    let chunks = size.div_ceil(chunk_size as u64);
    if chunks > u32::MAX as u64 {
        return None;
    }
    Some(chunks as u32)
}

/// What a message of a transfer is: the topic levels after
/// `P/N/deploy/<id>/`. Formats as those levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// `begin`: open a transfer, or (the same offer again) ask what the
    /// node still misses.
    Begin,
    /// `chunk/<index>`: chunk `index`, 0-based.
    Chunk(u32),
    /// `commit`: all sent; check, install, maybe activate.
    Commit,
    /// `abort`: drop the transfer and its spool.
    Abort,
}

/// Topic levels after `P/N/deploy/<id>/` that name no [`Part`]. Borrowed
/// from the topic, so a node can say what it refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartError<'a> {
    /// Not `begin`, `chunk/<n>`, `commit` or `abort` (`""` when the topic
    /// ends at the id).
    Unknown(&'a str),
    /// `chunk/<this>`: not a `u32`.
    BadIndex(&'a str),
}

impl Part {
    /// Parses the topic levels after `P/N/deploy/<id>/`. A chunk index is
    /// read like `u32::from_str` (as the daemon always has).
    pub fn parse(levels: &str) -> Result<Part, PartError<'_>> {
        match levels.split_once('/') {
            None if levels == "begin" => Ok(Part::Begin),
            None if levels == "commit" => Ok(Part::Commit),
            None if levels == "abort" => Ok(Part::Abort),
            Some(("chunk", index)) => index
                .parse::<u32>()
                .map(Part::Chunk)
                .map_err(|_| PartError::BadIndex(index)),
            _ => Err(PartError::Unknown(levels)),
        }
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Part::Begin => f.write_str("begin"),
            Part::Chunk(index) => write!(f, "chunk/{index}"),
            Part::Commit => f.write_str("commit"),
            Part::Abort => f.write_str("abort"),
        }
    }
}

/// The first `chars` characters of `text`: a hostile topic can be long.
fn head(text: &str, chars: usize) -> &str {
    match text.char_indices().nth(chars) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

impl fmt::Display for PartError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartError::Unknown(levels) => {
                write!(f, "unknown deploy message {:?}", head(levels, 64))
            }
            PartError::BadIndex(index) => write!(f, "chunk index {:?}", head(index, 64)),
        }
    }
}

/// Splits what follows `P/N/deploy/` into the transfer id and its part.
/// The id is returned unchecked (it may be empty or invalid: check it with
/// [`is_valid_id`]), so a node can refuse a bad message instead of
/// ignoring it.
pub fn parse_path(path: &str) -> (&str, Result<Part, PartError<'_>>) {
    let (id, levels) = path.split_once('/').unwrap_or((path, ""));
    (id, Part::parse(levels))
}

#[cfg(feature = "std")]
pub use payload::{Commit, Offer};

#[cfg(feature = "std")]
mod payload {
    use super::{MAX_CHUNK, MIN_CHUNK, chunk_count};
    use core::ops::Range;
    use serde::{Deserialize, Serialize};
    use std::string::String;

    /// The `begin` payload: what is coming.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Offer {
        /// The model name (must match the package's manifest).
        pub name: String,
        /// Bytes of the whole `.easelpkg` file.
        pub size: u64,
        /// sha256 of the whole file, lower-case hex.
        pub sha256: String,
        pub chunk_size: u32,
        pub chunks: u32,
    }

    impl Offer {
        /// The offer for a file of `size` bytes in chunks of `chunk_size`,
        /// with `chunks` computed; `None` when `chunk_size` is outside
        /// [`MIN_CHUNK`]`..=`[`MAX_CHUNK`] (a node would refuse it).
        pub fn new(name: String, size: u64, sha256: String, chunk_size: u32) -> Option<Offer> {
            if !(MIN_CHUNK..=MAX_CHUNK).contains(&chunk_size) {
                return None;
            }
            Some(Offer {
                name,
                size,
                sha256,
                chunk_size,
                chunks: chunk_count(size, chunk_size)?,
            })
        }

        /// Where chunk `index` lies in the file; every chunk is
        /// `chunk_size` bytes but the last. `None` past the end.
        pub fn chunk_range(&self, index: u32) -> Option<Range<u64>> {
            let size = u64::from(self.chunk_size);
            let start = u64::from(index).checked_mul(size)?;
            (index < self.chunks && start < self.size)
                .then(|| start..start.saturating_add(size).min(self.size))
        }
    }

    /// The `commit` payload; an empty payload means `activate: false`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Commit {
        /// Make the version current once it is installed.
        #[serde(default)]
        pub activate: bool,
    }

    impl Commit {
        /// Decodes a `commit` payload: empty (or whitespace) is the default.
        pub fn parse(payload: &[u8]) -> Result<Commit, serde_json::Error> {
            if payload.iter().all(u8::is_ascii_whitespace) {
                return Ok(Commit::default());
            }
            serde_json::from_slice(payload)
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn transfer_ids() {
        for good in ["t1", "abc-DEF_09", &"x".repeat(64)] {
            assert!(is_valid_id(good), "{good}");
        }
        for bad in ["", "a.b", "a/b", "+", "#", "é", &"x".repeat(65)] {
            assert!(!is_valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn parts_round_trip() {
        for part in [
            Part::Begin,
            Part::Chunk(0),
            Part::Chunk(u32::MAX),
            Part::Commit,
            Part::Abort,
        ] {
            assert_eq!(Part::parse(&part.to_string()), Ok(part));
        }
        assert_eq!(Part::Chunk(7).to_string(), "chunk/7");
    }

    #[test]
    fn bad_parts_are_named() {
        let cases = [
            ("", PartError::Unknown("")),
            ("explode", PartError::Unknown("explode")),
            ("chunk", PartError::Unknown("chunk")),
            ("begin/x", PartError::Unknown("begin/x")),
            ("chunk/x", PartError::BadIndex("x")),
            ("chunk/-1", PartError::BadIndex("-1")),
            ("chunk/", PartError::BadIndex("")),
            ("chunk/1/2", PartError::BadIndex("1/2")),
            ("chunk/4294967296", PartError::BadIndex("4294967296")),
        ];
        for (levels, want) in cases {
            assert_eq!(Part::parse(levels), Err(want), "{levels}");
        }
        assert_eq!(
            PartError::Unknown("explode").to_string(),
            "unknown deploy message \"explode\""
        );
        assert_eq!(PartError::BadIndex("x").to_string(), "chunk index \"x\"");
        let long = "y".repeat(100);
        assert_eq!(
            PartError::Unknown(&long).to_string(),
            std::format!("unknown deploy message {:?}", "y".repeat(64))
        );
    }

    #[test]
    fn paths_split_into_id_and_part() {
        assert_eq!(parse_path("t1/chunk/3"), ("t1", Ok(Part::Chunk(3))));
        assert_eq!(parse_path("t1/begin"), ("t1", Ok(Part::Begin)));
        assert_eq!(parse_path("t1"), ("t1", Err(PartError::Unknown(""))));
        assert_eq!(parse_path(""), ("", Err(PartError::Unknown(""))));
        assert_eq!(parse_path("a.b/commit"), ("a.b", Ok(Part::Commit)));
    }

    #[test]
    fn chunk_counts() {
        assert_eq!(chunk_count(0, MIN_CHUNK), Some(0));
        assert_eq!(chunk_count(1, MIN_CHUNK), Some(1));
        assert_eq!(chunk_count(4096, 4096), Some(1));
        assert_eq!(chunk_count(4097, 4096), Some(2));
        assert_eq!(chunk_count(5, 0), None);
        assert_eq!(chunk_count(u64::MAX, 1), None);
    }
}

#[cfg(all(test, feature = "std"))]
mod payload_tests {
    use super::*;

    fn offer() -> Offer {
        Offer::new("dcgan-64".into(), 12388, "ab".repeat(32), MIN_CHUNK).unwrap()
    }

    #[test]
    fn offer_wire_shape() {
        let json = serde_json::to_string(&offer()).unwrap();
        assert_eq!(
            json,
            r#"{"name":"dcgan-64","size":12388,"sha256":"abababababababababababababababababababababababababababababababab","chunk_size":4096,"chunks":4}"#
        );
        assert_eq!(serde_json::from_str::<Offer>(&json).unwrap(), offer());
    }

    #[test]
    fn bad_offers_are_refused() {
        for bad in [
            r#"{"name":"m","extra":1}"#,
            r#"{"name":"m","size":5000,"sha256":"00","chunk_size":4096,"chunks":2,"extra":1}"#,
            r#"{"name":"m","size":5000,"sha256":"00","chunk_size":4096}"#,
            r#"{"name":"m","size":-1,"sha256":"00","chunk_size":4096,"chunks":2}"#,
            r#"{"name":"m","size":5000,"sha256":"00","chunk_size":4294967296,"chunks":2}"#,
            r#"{"name":7,"size":5000,"sha256":"00","chunk_size":4096,"chunks":2}"#,
            r#"{"name":"m","size":"5000","sha256":"00","chunk_size":4096,"chunks":2}"#,
            "{",
            "",
        ] {
            assert!(serde_json::from_str::<Offer>(bad).is_err(), "{bad}");
        }
        // What the daemon's own transfer tests send is accepted.
        let ok = br#"{"name":"m","size":5000,"sha256":"00","chunk_size":4096,"chunks":2}"#;
        assert_eq!(serde_json::from_slice::<Offer>(ok).unwrap().chunks, 2);
    }

    #[test]
    fn offers_are_built_only_with_chunk_sizes_a_node_takes() {
        assert_eq!(offer().chunks, 4);
        let big = |chunk| Offer::new("m".into(), 1 << 20, "00".into(), chunk);
        assert!(big(MIN_CHUNK - 1).is_none());
        assert!(big(MAX_CHUNK + 1).is_none());
        assert_eq!(big(MAX_CHUNK).unwrap().chunks, 4);
    }

    #[test]
    fn chunk_ranges_cover_the_file() {
        let o = offer();
        assert_eq!(o.chunk_range(0), Some(0..4096));
        assert_eq!(o.chunk_range(2), Some(8192..12288));
        assert_eq!(o.chunk_range(3), Some(12288..12388));
        assert_eq!(o.chunk_range(4), None);
        assert_eq!(o.chunk_range(u32::MAX), None);
    }

    #[test]
    fn commit_payloads() {
        assert_eq!(Commit::parse(b"").unwrap(), Commit { activate: false });
        assert_eq!(Commit::parse(b" \n").unwrap(), Commit { activate: false });
        assert_eq!(Commit::parse(b"{}").unwrap(), Commit { activate: false });
        assert_eq!(
            Commit::parse(br#"{"activate":true}"#).unwrap(),
            Commit { activate: true }
        );
        for bad in [
            &br#"{"activate":"yes"}"#[..],
            br#"{"activate":true,"now":1}"#,
            b"{",
            b"true",
        ] {
            assert!(Commit::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            serde_json::to_string(&Commit { activate: true }).unwrap(),
            r#"{"activate":true}"#
        );
    }
}
