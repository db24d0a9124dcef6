//! The `.easelpkg` file's layout: one model package (manifest + ONNX) in
//! one signed file, written by `easel pack`, sent by `easel deploy`,
//! checked by the daemon before a byte of it lands on disk.
//!
//! ```text
//! offset   size  field
//! 0        8     magic "EASELPKG"
//! 8        4     format version, u32 little-endian (1)
//! 12       4     index length L, u32 little-endian (at most 64 KiB)
//! 16       L     index: UTF-8 JSON {"entries":[{"name","size","sha256"}, ...]}
//! 16+L     32    signer's ed25519 public key  (all zero: unsigned)
//! 48+L     64    ed25519 signature            (all zero: unsigned)
//! 112+L    ...   the entries' bytes, in index order, back to back; nothing after
//! ```
//!
//! The content hash is the sha256 of the index bytes; since the index holds
//! every entry's size and sha256, it pins every byte of the package. The
//! signature is over `"easel-package-v1\0" || content hash`
//! ([`signed_message`]), the prefix keeping these signatures from being
//! valid for anything else the same key might sign.
//!
//! Here: the constants, the header and section split (`no_std`, borrowed
//! slices, a "need more bytes" answer for a reader that streams), and the
//! index's JSON shape (`std`). Hashing, signatures and the checks of a
//! package are the daemon's: this module trusts nothing and checks only
//! the layout.

use core::fmt;
use core::ops::Range;

pub const MAGIC: &[u8; 8] = b"EASELPKG";
pub const VERSION: u32 = 1;
/// What the signature covers, before the content hash.
pub const SIGNING_CONTEXT: &[u8] = b"easel-package-v1\0";
/// Largest index: a few entries need a few hundred bytes.
pub const MAX_INDEX: usize = 64 << 10;
/// Offset of the format version (u32 little-endian).
pub const VERSION_AT: usize = 8;
/// Offset of the index length (u32 little-endian).
pub const INDEX_LEN_AT: usize = 12;
/// Magic, version and index length; the index follows.
pub const HEADER_LEN: usize = 16;
/// The signer's ed25519 public key, right after the index.
pub const KEY_LEN: usize = 32;
/// The ed25519 signature, right after the key.
pub const SIGNATURE_LEN: usize = 64;
/// Key and signature together; the entries follow.
pub const SEAL_LEN: usize = KEY_LEN + SIGNATURE_LEN;
/// Length of content hash (sha256) the signature covers.
pub const CONTENT_HASH_LEN: usize = 32;
/// Length of [`signed_message`].
pub const SIGNED_MESSAGE_LEN: usize = SIGNING_CONTEXT.len() + CONTENT_HASH_LEN;

/// What is signed for a package whose index hashes to `content_hash`.
pub fn signed_message(content_hash: &[u8; CONTENT_HASH_LEN]) -> [u8; SIGNED_MESSAGE_LEN] {
    let mut out = [0; SIGNED_MESSAGE_LEN];
    let (context, hash) = out.split_at_mut(SIGNING_CONTEXT.len());
    context.copy_from_slice(SIGNING_CONTEXT);
    hash.copy_from_slice(content_hash);
    out
}

/// An entry name a node will write to disk: a plain file name, never a
/// path, never hidden (staging uses dot-names for its own temporaries).
pub fn is_plain_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Why bytes are not (yet) a package's header or sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// The bytes so far are a valid start; `needed` bytes in all are
    /// needed to go on. In a whole file: it is truncated.
    NeedMore { needed: usize },
    /// Not an easel package.
    BadMagic,
    /// A package format this version does not read.
    UnsupportedVersion(u32),
    /// An index longer than [`MAX_INDEX`].
    IndexTooLarge(u32),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::NeedMore { needed } => {
                write!(f, "truncated package: {needed} bytes needed")
            }
            HeaderError::BadMagic => f.write_str("not an easel package (bad magic)"),
            HeaderError::UnsupportedVersion(v) => {
                write!(
                    f,
                    "package format {v} is not supported (format {VERSION} is)"
                )
            }
            HeaderError::IndexTooLarge(len) => {
                write!(f, "an index of {len} bytes (at most {MAX_INDEX})")
            }
        }
    }
}

/// The fixed 16 bytes in front of every package: they say where the index,
/// the seal and the entries are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// At most [`MAX_INDEX`], so every offset fits any `usize`.
    index_len: u32,
}

impl Header {
    /// The header of a package whose index is `index_len` bytes.
    pub fn new(index_len: usize) -> Result<Header, HeaderError> {
        match u32::try_from(index_len) {
            Ok(len) if index_len <= MAX_INDEX => Ok(Header { index_len: len }),
            Ok(len) => Err(HeaderError::IndexTooLarge(len)),
            Err(_) => Err(HeaderError::IndexTooLarge(u32::MAX)),
        }
    }

    /// Reads the header from the start of `bytes` (more may follow). A
    /// prefix of a valid header is `NeedMore`; a prefix that cannot become
    /// one is `BadMagic` at once.
    pub fn parse(bytes: &[u8]) -> Result<Header, HeaderError> {
        let seen = bytes.len().min(MAGIC.len());
        if bytes[..seen] != MAGIC[..seen] {
            return Err(HeaderError::BadMagic);
        }
        if bytes.len() < HEADER_LEN {
            return Err(HeaderError::NeedMore { needed: HEADER_LEN });
        }
        let word = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let version = word(VERSION_AT);
        if version != VERSION {
            return Err(HeaderError::UnsupportedVersion(version));
        }
        let index_len = word(INDEX_LEN_AT);
        if index_len as usize > MAX_INDEX {
            return Err(HeaderError::IndexTooLarge(index_len));
        }
        Ok(Header { index_len })
    }

    /// The 16 bytes as written in a file.
    pub fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut out = [0; HEADER_LEN];
        out[..VERSION_AT].copy_from_slice(MAGIC);
        out[VERSION_AT..INDEX_LEN_AT].copy_from_slice(&VERSION.to_le_bytes());
        out[INDEX_LEN_AT..].copy_from_slice(&self.index_len.to_le_bytes());
        out
    }

    pub fn index_len(self) -> usize {
        self.index_len as usize
    }

    /// Where the index is in the file.
    pub fn index(self) -> Range<usize> {
        HEADER_LEN..HEADER_LEN + self.index_len()
    }

    /// Where the signer's key is.
    pub fn key(self) -> Range<usize> {
        let start = self.index().end;
        start..start + KEY_LEN
    }

    /// Where the signature is.
    pub fn signature(self) -> Range<usize> {
        let start = self.key().end;
        start..start + SIGNATURE_LEN
    }

    /// Where the entries' bytes start: everything before is header, index
    /// and seal.
    pub fn entries_start(self) -> usize {
        self.signature().end
    }

    /// Splits a package file (`bytes` from its start) into its sections.
    pub fn sections(self, bytes: &[u8]) -> Result<Sections<'_>, HeaderError> {
        let entries_start = self.entries_start();
        if bytes.len() < entries_start {
            return Err(HeaderError::NeedMore {
                needed: entries_start,
            });
        }
        Ok(Sections {
            header: self,
            index: &bytes[self.index()],
            key: bytes[self.key()].try_into().expect("KEY_LEN bytes"),
            signature: bytes[self.signature()]
                .try_into()
                .expect("SIGNATURE_LEN bytes"),
            entries: &bytes[entries_start..],
        })
    }
}

/// A package file cut at its offsets; nothing in it is checked yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sections<'a> {
    pub header: Header,
    /// The index JSON; its sha256 is the content hash.
    pub index: &'a [u8],
    pub key: &'a [u8; KEY_LEN],
    pub signature: &'a [u8; SIGNATURE_LEN],
    /// The entries' bytes, back to back, to the end of the file.
    pub entries: &'a [u8],
}

impl<'a> Sections<'a> {
    /// [`Header::parse`], then [`Header::sections`].
    pub fn parse(bytes: &'a [u8]) -> Result<Sections<'a>, HeaderError> {
        Header::parse(bytes)?.sections(bytes)
    }

    /// False when key and signature are all zero (an unsigned package,
    /// which a node refuses as such, before looking for a key).
    pub fn is_signed(&self) -> bool {
        self.key
            .iter()
            .chain(self.signature.iter())
            .any(|&b| b != 0)
    }
}

#[cfg(feature = "std")]
pub use index::{Index, IndexEntry};

#[cfg(feature = "std")]
mod index {
    use core::ops::Range;
    use serde::{Deserialize, Serialize};
    use std::string::String;
    use std::vec::Vec;

    /// The index, exactly as serialised into the file.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Index {
        pub entries: Vec<IndexEntry>,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct IndexEntry {
        pub name: String,
        pub size: u64,
        /// Lower-case hex.
        pub sha256: String,
    }

    impl Index {
        /// Where entry `name` lies in the entries' bytes (from
        /// [`super::Header::entries_start`]), by the declared sizes;
        /// `None` when it is not there or the sizes overflow.
        pub fn range_of(&self, name: &str) -> Option<Range<u64>> {
            let mut start = 0u64;
            for entry in &self.entries {
                let end = start.checked_add(entry.size)?;
                if entry.name == name {
                    return Some(start..end);
                }
                start = end;
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A package laid out by hand from the table in the module docs.
    fn file(index: &[u8], seal: u8, entries: &[u8]) -> [u8; 256] {
        let mut out = [0u8; 256];
        out[..8].copy_from_slice(b"EASELPKG");
        out[8..12].copy_from_slice(&1u32.to_le_bytes());
        out[12..16].copy_from_slice(&(index.len() as u32).to_le_bytes());
        out[16..16 + index.len()].copy_from_slice(index);
        let seal_at = 16 + index.len();
        out[seal_at..seal_at + 96].fill(seal);
        out[seal_at + 96..seal_at + 96 + entries.len()].copy_from_slice(entries);
        out
    }

    const INDEX: &[u8] = br#"{"entries":[]}"#;

    #[test]
    fn offsets_follow_the_layout() {
        let bytes = file(INDEX, 7, b"xyz");
        let len = 16 + INDEX.len() + 96 + 3;
        let header = Header::parse(&bytes[..len]).unwrap();
        assert_eq!(header.index_len(), INDEX.len());
        assert_eq!(header.index(), 16..16 + INDEX.len());
        assert_eq!(header.key(), 16 + INDEX.len()..48 + INDEX.len());
        assert_eq!(header.signature(), 48 + INDEX.len()..112 + INDEX.len());
        assert_eq!(header.entries_start(), 112 + INDEX.len());
        let s = Sections::parse(&bytes[..len]).unwrap();
        assert_eq!(s.index, INDEX);
        assert_eq!(s.key, &[7; 32]);
        assert_eq!(s.signature, &[7; 64]);
        assert_eq!(s.entries, b"xyz");
        assert!(s.is_signed());
        assert_eq!(header.to_bytes(), bytes[..16]);
    }

    #[test]
    fn headers_round_trip() {
        for len in [0, 1, 300, MAX_INDEX] {
            let header = Header::new(len).unwrap();
            assert_eq!(Header::parse(&header.to_bytes()), Ok(header));
        }
        assert_eq!(
            Header::new(MAX_INDEX + 1),
            Err(HeaderError::IndexTooLarge(MAX_INDEX as u32 + 1))
        );
    }

    #[test]
    fn truncated_input_needs_more_bytes() {
        let bytes = file(INDEX, 1, b"");
        let whole = 112 + INDEX.len();
        for len in 0..HEADER_LEN {
            assert_eq!(
                Header::parse(&bytes[..len]),
                Err(HeaderError::NeedMore { needed: 16 }),
                "{len}"
            );
        }
        for len in HEADER_LEN..whole {
            assert_eq!(
                Sections::parse(&bytes[..len]),
                Err(HeaderError::NeedMore { needed: whole }),
                "{len}"
            );
        }
        let s = Sections::parse(&bytes[..whole]).unwrap();
        assert!(s.entries.is_empty());
    }

    #[test]
    fn foreign_files_are_refused_early() {
        assert_eq!(Header::parse(b"not a package"), Err(HeaderError::BadMagic));
        assert_eq!(Header::parse(b"EASELX"), Err(HeaderError::BadMagic));
        assert_eq!(
            Header::parse(b"E"),
            Err(HeaderError::NeedMore { needed: 16 })
        );
        let mut bytes = file(INDEX, 1, b"");
        bytes[8] = 2;
        assert_eq!(
            Header::parse(&bytes),
            Err(HeaderError::UnsupportedVersion(2))
        );
        let mut bytes = file(INDEX, 1, b"");
        bytes[12..16].copy_from_slice(&(MAX_INDEX as u32 + 1).to_le_bytes());
        assert_eq!(
            Header::parse(&bytes),
            Err(HeaderError::IndexTooLarge(MAX_INDEX as u32 + 1))
        );
        bytes[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            Header::parse(&bytes),
            Err(HeaderError::IndexTooLarge(u32::MAX))
        );
    }

    #[test]
    fn an_all_zero_seal_is_unsigned() {
        let bytes = file(INDEX, 0, b"x");
        assert!(!Sections::parse(&bytes).unwrap().is_signed());
    }

    #[test]
    fn the_signed_message_is_context_then_hash() {
        let message = signed_message(&[0xab; 32]);
        assert_eq!(&message[..17], b"easel-package-v1\0");
        assert_eq!(&message[17..], &[0xab; 32]);
    }

    #[test]
    fn names_are_plain() {
        for good in ["easel.toml", "model.onnx", "weights_2-b.bin"] {
            assert!(is_plain_name(good), "{good}");
        }
        let long = [b'a'; 65];
        for bad in [
            "",
            "../x",
            "a/b",
            "a\\b",
            ".hidden",
            "..",
            "c:x",
            "x\0",
            core::str::from_utf8(&long).unwrap(),
        ] {
            assert!(!is_plain_name(bad), "{bad:?}");
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod index_tests {
    use super::*;

    fn index() -> Index {
        Index {
            entries: std::vec![
                IndexEntry {
                    name: "easel.toml".into(),
                    size: 10,
                    sha256: "aa".into(),
                },
                IndexEntry {
                    name: "model.onnx".into(),
                    size: 5,
                    sha256: "bb".into(),
                },
            ],
        }
    }

    #[test]
    fn index_wire_shape() {
        let json = serde_json::to_string(&index()).unwrap();
        assert_eq!(
            json,
            r#"{"entries":[{"name":"easel.toml","size":10,"sha256":"aa"},{"name":"model.onnx","size":5,"sha256":"bb"}]}"#
        );
        assert_eq!(serde_json::from_str::<Index>(&json).unwrap(), index());
        for bad in [
            r#"{"entries":[],"extra":1}"#,
            r#"{"entries":[{"name":"a","size":1,"sha256":"c","mode":7}]}"#,
            r#"{"entries":[{"name":"a","size":-1,"sha256":"c"}]}"#,
            r#"{}"#,
        ] {
            assert!(serde_json::from_str::<Index>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn entries_are_found_by_declared_sizes() {
        assert_eq!(index().range_of("easel.toml"), Some(0..10));
        assert_eq!(index().range_of("model.onnx"), Some(10..15));
        assert_eq!(index().range_of("other"), None);
        let mut huge = index();
        huge.entries[0].size = u64::MAX;
        assert_eq!(huge.range_of("model.onnx"), None);
    }
}
