//! Receiving a package in chunks (docs/deploy.md, "Transfer over MQTT") as
//! a pure state machine: messages and clock ticks in, decisions out. The
//! caller (`piece::deploy`) writes chunks to a spool file, publishes
//! progress and errors, and verifies a completed package; nothing here
//! touches a file, a socket or the clock.
//!
//! A transfer is opened by `begin` (name, size, whole sha256, chunk size,
//! chunk count), fed by `chunk/<index>` messages whose payload is the
//! chunk's sha256 (32 bytes) followed by its bytes, and closed by `commit`.
//! A commit with chunks missing is answered with the missing ranges, so a
//! sender resends exactly those and commits again; a second `begin` with
//! the same offer is the way to ask what the node already holds (resume).
//! A chunk that does not match its hash ends the transfer: over TCP that is
//! not line noise but a broken or hostile sender.

use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

pub use easel_protocol::deploy::{CHUNK_HASH, MAX_CHUNK, MIN_CHUNK, Offer, is_valid_id};
use easel_protocol::deploy::{Commit, Part, PartError};

/// Finished transfer ids remembered, so a duplicate (QoS 1) commit or
/// chunk arriving after the end is ignored instead of answered with an error.
const REMEMBERED: usize = 32;

/// What the daemon accepts; from `[deploy]` in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferLimits {
    /// The whole `.easelpkg` file.
    pub max_package: u64,
    /// Transfers open at once (each holds a spool file as large as its package).
    pub max_transfers: usize,
    /// A transfer with no message for this long is abandoned.
    pub stall: Duration,
}

impl Default for TransferLimits {
    fn default() -> TransferLimits {
        TransferLimits {
            max_package: 256 << 20,
            max_transfers: 2,
            stall: Duration::from_secs(120),
        }
    }
}

/// One decoded message of a transfer (`id` = the transfer id in the topic).
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Begin {
        id: String,
        offer: Offer,
    },
    /// `payload` is the 32-byte sha256 of the chunk, then the chunk.
    Chunk {
        id: String,
        index: u32,
        payload: Vec<u8>,
    },
    Commit {
        id: String,
        activate: bool,
    },
    Abort {
        id: String,
    },
}

/// A message refused before it reached a transfer, or a transfer ended by
/// an error; `code` is stable (docs/deploy.md lists them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub id: String,
    pub code: &'static str,
    pub message: String,
}

/// How far a transfer is; `missing` as half-open index ranges `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub id: String,
    pub name: String,
    pub received: u32,
    pub total: u32,
    pub missing: Vec<[u32; 2]>,
    /// This report answers a `commit`: the chunks it lists as missing never
    /// arrived. Reports sent while chunks stream in may be overtaken by the
    /// sender's own later chunks, so a sender resends only on this one.
    pub answers_commit: bool,
}

/// What the caller must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Create an empty spool file for transfer `id`, `size` bytes long.
    Open {
        id: String,
        size: u64,
    },
    /// Write `bytes` at `offset` of the spool file of `id`.
    Write {
        id: String,
        offset: u64,
        bytes: Vec<u8>,
    },
    Progress(Progress),
    /// Every chunk is in and checked: read the spool, check the whole
    /// sha256, verify the package, stage it (and activate). The transfer
    /// is closed; the spool is the caller's to remove.
    Complete {
        id: String,
        offer: Offer,
        activate: bool,
    },
    /// Remove the spool file of `id`.
    Discard {
        id: String,
    },
    /// Publish an error event.
    Refuse(Refusal),
}

/// Decodes one message from its topic parts (transfer `id`, then `part`:
/// what follows `P/N/deploy/<id>/`, as the protocol parsed it) and payload.
pub fn parse(
    id: &str,
    part: Result<Part, PartError>,
    payload: Vec<u8>,
) -> Result<Message, Refusal> {
    let refuse = |code, message: String| Refusal {
        id: id.chars().take(64).collect(),
        code,
        message,
    };
    if !is_valid_id(id) {
        return Err(refuse(
            "bad_request",
            format!(
                "transfer id {:?} is not [A-Za-z0-9_-]{{1,64}}",
                id.chars().take(64).collect::<String>()
            ),
        ));
    }
    let id = id.to_string();
    match part.map_err(|e| refuse("bad_request", e.to_string()))? {
        Part::Begin => serde_json::from_slice(&payload)
            .map(|offer| Message::Begin {
                id: id.clone(),
                offer,
            })
            .map_err(|e| refuse("bad_request", format!("begin: {e}"))),
        Part::Commit => {
            let body = Commit::parse(&payload)
                .map_err(|e| refuse("bad_request", format!("commit: {e}")))?;
            Ok(Message::Commit {
                id,
                activate: body.activate,
            })
        }
        Part::Abort => Ok(Message::Abort { id }),
        Part::Chunk(index) => Ok(Message::Chunk { id, index, payload }),
    }
}

struct Transfer {
    offer: Offer,
    have: Vec<bool>,
    received: u32,
    last: Instant,
}

impl Transfer {
    fn progress(&self, id: &str) -> Progress {
        let mut missing = Vec::new();
        let mut start = None;
        for (i, &have) in self.have.iter().enumerate() {
            match (have, start) {
                (false, None) => start = Some(i as u32),
                (true, Some(s)) => {
                    missing.push([s, i as u32]);
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            missing.push([s, self.have.len() as u32]);
        }
        Progress {
            id: id.into(),
            name: self.offer.name.clone(),
            received: self.received,
            total: self.offer.chunks,
            missing,
            answers_commit: false,
        }
    }

    fn chunk_len(&self, index: u32) -> u64 {
        let size = u64::from(self.offer.chunk_size);
        let start = u64::from(index) * size;
        size.min(self.offer.size - start)
    }

    /// Progress is reported about twenty times per transfer, and at the end.
    fn reports_at(&self) -> bool {
        let step = (self.offer.chunks / 20).max(1);
        self.received.is_multiple_of(step) || self.received == self.offer.chunks
    }
}

/// Every open transfer of one daemon.
pub struct Transfers {
    limits: TransferLimits,
    open: BTreeMap<String, Transfer>,
    finished: VecDeque<String>,
}

impl Transfers {
    pub fn new(limits: TransferLimits) -> Transfers {
        Transfers {
            limits,
            open: BTreeMap::new(),
            finished: VecDeque::new(),
        }
    }

    /// Ids of the open transfers.
    pub fn open_ids(&self) -> Vec<String> {
        self.open.keys().cloned().collect()
    }

    fn check_offer(&self, offer: &Offer) -> Result<(), (&'static str, String)> {
        if !easel_protocol::is_valid_model_name(&offer.name) {
            return Err((
                "bad_name",
                format!("{:?} is not a model name ([a-z0-9_-]{{1,64}})", offer.name),
            ));
        }
        if offer.size > self.limits.max_package {
            return Err((
                "too_large",
                format!(
                    "{} bytes; this node takes packages up to {} bytes",
                    offer.size, self.limits.max_package
                ),
            ));
        }
        if offer.sha256.len() != 64 || !offer.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(("bad_request", "sha256 must be 64 hex digits".into()));
        }
        if !(MIN_CHUNK..=MAX_CHUNK).contains(&offer.chunk_size) {
            return Err((
                "bad_request",
                format!(
                    "chunk_size {} is not within {MIN_CHUNK}..={MAX_CHUNK}",
                    offer.chunk_size
                ),
            ));
        }
        let chunks = offer.size.div_ceil(u64::from(offer.chunk_size));
        if offer.size == 0 || chunks != u64::from(offer.chunks) {
            return Err((
                "bad_request",
                format!(
                    "{} bytes in chunks of {} are {chunks} chunks, not {}",
                    offer.size, offer.chunk_size, offer.chunks
                ),
            ));
        }
        Ok(())
    }

    fn refuse(id: &str, code: &'static str, message: String) -> Decision {
        Decision::Refuse(Refusal {
            id: id.into(),
            code,
            message,
        })
    }

    /// Ends transfer `id` with an error: its spool is freed.
    fn fail(&mut self, id: &str, code: &'static str, message: String) -> Vec<Decision> {
        self.open.remove(id);
        self.remember(id);
        vec![
            Decision::Discard { id: id.into() },
            Self::refuse(id, code, message),
        ]
    }

    fn remember(&mut self, id: &str) {
        if !self.finished.iter().any(|f| f == id) {
            if self.finished.len() == REMEMBERED {
                self.finished.pop_front();
            }
            self.finished.push_back(id.into());
        }
    }

    /// A message for a transfer that is not open.
    fn unknown(&self, id: &str) -> Vec<Decision> {
        if self.finished.iter().any(|f| f == id) {
            return Vec::new();
        }
        vec![Self::refuse(
            id,
            "unknown_transfer",
            format!("no transfer {id} is open (send begin first)"),
        )]
    }

    pub fn handle(&mut self, message: Message, now: Instant) -> Vec<Decision> {
        match message {
            Message::Begin { id, offer } => self.handle_begin(id, offer, now),
            Message::Chunk { id, index, payload } => self.handle_chunk(id, index, payload, now),
            Message::Commit { id, activate } => match self.open.get_mut(&id) {
                None => self.unknown(&id),
                Some(t) if t.received < t.offer.chunks => {
                    t.last = now;
                    let mut progress = t.progress(&id);
                    progress.answers_commit = true;
                    vec![Decision::Progress(progress)]
                }
                Some(_) => {
                    let t = self.open.remove(&id).expect("just found");
                    self.remember(&id);
                    vec![Decision::Complete {
                        id,
                        offer: t.offer,
                        activate,
                    }]
                }
            },
            Message::Abort { id } => match self.open.remove(&id) {
                None => Vec::new(),
                Some(_) => {
                    self.remember(&id);
                    vec![Decision::Discard { id }]
                }
            },
        }
    }

    fn handle_begin(&mut self, id: String, offer: Offer, now: Instant) -> Vec<Decision> {
        if let Err((code, message)) = self.check_offer(&offer) {
            if self.open.contains_key(&id) {
                return self.fail(&id, code, message);
            }
            return vec![Self::refuse(&id, code, message)];
        }
        let mut out = Vec::new();
        let full = self.open.len() >= self.limits.max_transfers;
        match self.open.get_mut(&id) {
            // Resume: the same offer again asks what is still missing.
            Some(t) if t.offer == offer => {
                t.last = now;
                return vec![Decision::Progress(t.progress(&id))];
            }
            // The sender started over with another file under this id.
            Some(_) => {
                self.open.remove(&id);
                out.push(Decision::Discard { id: id.clone() });
            }
            None if full => {
                return vec![Self::refuse(
                    &id,
                    "busy",
                    format!(
                        "{} transfers are already open; try again when one ends",
                        self.open.len()
                    ),
                )];
            }
            None => {}
        }
        self.finished.retain(|f| f != &id);
        let transfer = Transfer {
            have: vec![false; offer.chunks as usize],
            received: 0,
            last: now,
            offer,
        };
        out.push(Decision::Open {
            id: id.clone(),
            size: transfer.offer.size,
        });
        out.push(Decision::Progress(transfer.progress(&id)));
        self.open.insert(id, transfer);
        out
    }

    fn handle_chunk(
        &mut self,
        id: String,
        index: u32,
        mut payload: Vec<u8>,
        now: Instant,
    ) -> Vec<Decision> {
        let Some(t) = self.open.get_mut(&id) else {
            return self.unknown(&id);
        };
        t.last = now;
        if index >= t.offer.chunks {
            let message = format!("chunk {index} of a {}-chunk transfer", t.offer.chunks);
            return self.fail(&id, "bad_request", message);
        }
        let expected = t.chunk_len(index);
        if payload.len() as u64 != CHUNK_HASH as u64 + expected {
            let message = format!(
                "chunk {index}: {} bytes after its hash, expected {expected}",
                payload.len().saturating_sub(CHUNK_HASH)
            );
            return self.fail(&id, "bad_request", message);
        }
        let bytes = payload.split_off(CHUNK_HASH);
        if Sha256::digest(&bytes).as_slice() != payload.as_slice() {
            let message = format!("chunk {index} does not match its sha256");
            return self.fail(&id, "hash_mismatch", message);
        }
        if t.have[index as usize] {
            return Vec::new();
        }
        t.have[index as usize] = true;
        t.received += 1;
        let mut out = vec![Decision::Write {
            id: id.clone(),
            offset: u64::from(index) * u64::from(t.offer.chunk_size),
            bytes,
        }];
        if t.reports_at() {
            out.push(Decision::Progress(t.progress(&id)));
        }
        out
    }

    /// Abandons transfers that heard nothing for `limits.stall`.
    pub fn tick(&mut self, now: Instant) -> Vec<Decision> {
        let stall = self.limits.stall;
        let stalled: Vec<String> = self
            .open
            .iter()
            .filter(|(_, t)| now.saturating_duration_since(t.last) >= stall)
            .map(|(id, _)| id.clone())
            .collect();
        stalled
            .into_iter()
            .flat_map(|id| {
                let message = format!("no message for {} s; transfer abandoned", stall.as_secs());
                self.fail(&id, "abandoned", message)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHUNK: u32 = MIN_CHUNK;

    fn package(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    fn offer(bytes: &[u8]) -> Offer {
        Offer {
            name: "dcgan-64".into(),
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(bytes)),
            chunk_size: CHUNK,
            chunks: bytes.len().div_ceil(CHUNK as usize) as u32,
        }
    }

    fn chunk(bytes: &[u8], index: u32) -> Message {
        let start = index as usize * CHUNK as usize;
        let data = &bytes[start..(start + CHUNK as usize).min(bytes.len())];
        let mut payload = Sha256::digest(data).to_vec();
        payload.extend_from_slice(data);
        Message::Chunk {
            id: "t1".into(),
            index,
            payload,
        }
    }

    fn begin(bytes: &[u8]) -> Message {
        Message::Begin {
            id: "t1".into(),
            offer: offer(bytes),
        }
    }

    fn commit() -> Message {
        Message::Commit {
            id: "t1".into(),
            activate: true,
        }
    }

    /// A decision reduced to a comparable word.
    fn word(d: &Decision) -> String {
        match d {
            Decision::Open { size, .. } => format!("open {size}"),
            Decision::Write { offset, bytes, .. } => format!("write {offset}+{}", bytes.len()),
            Decision::Progress(p) => format!("progress {}/{} {:?}", p.received, p.total, p.missing),
            Decision::Complete { activate, .. } => format!("complete {activate}"),
            Decision::Discard { .. } => "discard".into(),
            Decision::Refuse(r) => format!("refuse {}", r.code),
        }
    }

    fn run(transfers: &mut Transfers, steps: Vec<(Message, u64)>) -> Vec<Vec<String>> {
        let t0 = Instant::now();
        steps
            .into_iter()
            .map(|(m, at)| {
                let now = t0 + Duration::from_secs(at);
                transfers.handle(m, now).iter().map(word).collect()
            })
            .collect()
    }

    #[test]
    fn only_the_answer_to_a_commit_is_marked_as_such() {
        // A sender resends only on the commit's answer: the reports made
        // while chunks stream in may be overtaken by its later chunks.
        let p = package(3 * CHUNK as usize + 100);
        let mut transfers = Transfers::new(limits());
        let now = Instant::now();
        let mut reports = Vec::new();
        for m in [
            begin(&p),
            chunk(&p, 0),
            chunk(&p, 1),
            chunk(&p, 2),
            commit(),
        ] {
            for d in transfers.handle(m, now) {
                if let Decision::Progress(progress) = d {
                    reports.push((progress.missing, progress.answers_commit));
                }
            }
        }
        let (last, rest) = reports.split_last().expect("the commit is answered");
        assert_eq!(*last, (vec![[3, 4]], true));
        assert!(rest.iter().all(|(_, commit)| !commit), "{reports:?}");
    }

    fn limits() -> TransferLimits {
        TransferLimits {
            max_package: 64 << 10,
            max_transfers: 1,
            stall: Duration::from_secs(10),
        }
    }

    #[test]
    fn scenarios() {
        let p = package(3 * CHUNK as usize + 100);
        let mut flipped = chunk(&p, 1);
        if let Message::Chunk { payload, .. } = &mut flipped {
            payload[CHUNK_HASH + 5] ^= 1;
        }
        let mut bad_name = offer(&p);
        bad_name.name = "../etc".into();
        let mut huge = offer(&package(65 << 10));
        huge.name = "big".into();
        let mut wrong_count = offer(&p);
        wrong_count.chunks = 3;
        let short = Message::Chunk {
            id: "t1".into(),
            index: 0,
            payload: vec![0; CHUNK_HASH + 10],
        };
        let s = |x: &str| x.to_string();
        #[allow(clippy::type_complexity)]
        let table: Vec<(&str, Vec<(Message, u64)>, Vec<Vec<String>>)> = vec![
            (
                "in order, then commit",
                vec![
                    (begin(&p), 0),
                    (chunk(&p, 0), 1),
                    (chunk(&p, 1), 1),
                    (chunk(&p, 2), 1),
                    (chunk(&p, 3), 1),
                    (commit(), 2),
                ],
                vec![
                    vec![s("open 12388"), s("progress 0/4 [[0, 4]]")],
                    vec![s("write 0+4096"), s("progress 1/4 [[1, 4]]")],
                    vec![s("write 4096+4096"), s("progress 2/4 [[2, 4]]")],
                    vec![s("write 8192+4096"), s("progress 3/4 [[3, 4]]")],
                    vec![s("write 12288+100"), s("progress 4/4 []")],
                    vec![s("complete true")],
                ],
            ),
            (
                "a gap is reported at commit; resent chunk completes; duplicates ignored",
                vec![
                    (begin(&p), 0),
                    (chunk(&p, 0), 0),
                    (chunk(&p, 0), 0),
                    (chunk(&p, 3), 0),
                    (commit(), 0),
                    (begin(&p), 0),
                    (chunk(&p, 1), 0),
                    (chunk(&p, 2), 0),
                    (commit(), 0),
                    (commit(), 0),
                    (chunk(&p, 2), 0),
                ],
                vec![
                    vec![s("open 12388"), s("progress 0/4 [[0, 4]]")],
                    vec![s("write 0+4096"), s("progress 1/4 [[1, 4]]")],
                    vec![],
                    vec![s("write 12288+100"), s("progress 2/4 [[1, 3]]")],
                    vec![s("progress 2/4 [[1, 3]]")],
                    vec![s("progress 2/4 [[1, 3]]")],
                    vec![s("write 4096+4096"), s("progress 3/4 [[2, 3]]")],
                    vec![s("write 8192+4096"), s("progress 4/4 []")],
                    vec![s("complete true")],
                    vec![],
                    vec![],
                ],
            ),
            (
                "a flipped byte in one chunk ends the transfer",
                vec![
                    (begin(&p), 0),
                    (chunk(&p, 0), 0),
                    (flipped, 0),
                    (chunk(&p, 2), 0),
                ],
                vec![
                    vec![s("open 12388"), s("progress 0/4 [[0, 4]]")],
                    vec![s("write 0+4096"), s("progress 1/4 [[1, 4]]")],
                    vec![s("discard"), s("refuse hash_mismatch")],
                    vec![],
                ],
            ),
            (
                "bad offers are refused before anything is opened",
                vec![
                    (
                        Message::Begin {
                            id: "t1".into(),
                            offer: bad_name,
                        },
                        0,
                    ),
                    (
                        Message::Begin {
                            id: "t1".into(),
                            offer: huge,
                        },
                        0,
                    ),
                    (
                        Message::Begin {
                            id: "t1".into(),
                            offer: wrong_count,
                        },
                        0,
                    ),
                    (chunk(&p, 0), 0),
                    (commit(), 0),
                ],
                vec![
                    vec![s("refuse bad_name")],
                    vec![s("refuse too_large")],
                    vec![s("refuse bad_request")],
                    vec![s("refuse unknown_transfer")],
                    vec![s("refuse unknown_transfer")],
                ],
            ),
            (
                "a chunk of the wrong length or index ends the transfer",
                vec![
                    (begin(&p), 0),
                    (short, 0),
                    (begin(&p), 0),
                    (chunk(&p, 0), 0),
                ],
                vec![
                    vec![s("open 12388"), s("progress 0/4 [[0, 4]]")],
                    vec![s("discard"), s("refuse bad_request")],
                    vec![s("open 12388"), s("progress 0/4 [[0, 4]]")],
                    vec![s("write 0+4096"), s("progress 1/4 [[1, 4]]")],
                ],
            ),
            (
                "one transfer at a time under these limits; abort frees the slot",
                vec![
                    (begin(&p), 0),
                    (
                        Message::Begin {
                            id: "t2".into(),
                            offer: offer(&p),
                        },
                        0,
                    ),
                    (Message::Abort { id: "t1".into() }, 0),
                    (
                        Message::Begin {
                            id: "t2".into(),
                            offer: offer(&p),
                        },
                        0,
                    ),
                ],
                vec![
                    vec![s("open 12388"), s("progress 0/4 [[0, 4]]")],
                    vec![s("refuse busy")],
                    vec![s("discard")],
                    vec![s("open 12388"), s("progress 0/4 [[0, 4]]")],
                ],
            ),
            (
                "a begin with another file under the same id starts over",
                vec![
                    (begin(&p), 0),
                    (chunk(&p, 0), 0),
                    (begin(&package(5000)), 0),
                ],
                vec![
                    vec![s("open 12388"), s("progress 0/4 [[0, 4]]")],
                    vec![s("write 0+4096"), s("progress 1/4 [[1, 4]]")],
                    vec![s("discard"), s("open 5000"), s("progress 0/2 [[0, 2]]")],
                ],
            ),
        ];
        for (name, steps, expected) in table {
            let mut transfers = Transfers::new(limits());
            assert_eq!(run(&mut transfers, steps), expected, "{name}");
        }
    }

    #[test]
    fn a_stalled_transfer_is_abandoned_and_its_spool_freed() {
        let p = package(2 * CHUNK as usize);
        let mut transfers = Transfers::new(limits());
        let t0 = Instant::now();
        transfers.handle(begin(&p), t0);
        transfers.handle(chunk(&p, 0), t0 + Duration::from_secs(5));
        assert!(transfers.tick(t0 + Duration::from_secs(14)).is_empty());
        let out: Vec<_> = transfers
            .tick(t0 + Duration::from_secs(15))
            .iter()
            .map(word)
            .collect();
        assert_eq!(out, ["discard", "refuse abandoned"]);
        assert!(transfers.open_ids().is_empty());
        // A late chunk of the abandoned transfer is ignored quietly.
        assert!(transfers.handle(chunk(&p, 1), t0).is_empty());
    }

    /// `parse` from the topic levels as text, as they arrive.
    fn parse(id: &str, rest: &str, payload: Vec<u8>) -> Result<Message, Refusal> {
        super::parse(id, Part::parse(rest), payload)
    }

    #[test]
    fn messages_parse_from_topic_parts() {
        let offer_json = br#"{"name":"m","size":5000,"sha256":"00","chunk_size":4096,"chunks":2}"#;
        assert!(matches!(
            parse("abc", "begin", offer_json.to_vec()),
            Ok(Message::Begin { .. })
        ));
        assert_eq!(
            parse("abc", "commit", b"".to_vec()),
            Ok(Message::Commit {
                id: "abc".into(),
                activate: false
            })
        );
        assert_eq!(
            parse("abc", "commit", br#"{"activate":true}"#.to_vec()),
            Ok(Message::Commit {
                id: "abc".into(),
                activate: true
            })
        );
        assert_eq!(
            parse("abc", "chunk/7", vec![1]),
            Ok(Message::Chunk {
                id: "abc".into(),
                index: 7,
                payload: vec![1]
            })
        );
        for (id, rest, payload) in [
            ("a.b", "begin", offer_json.to_vec()),
            ("abc", "begin", b"{".to_vec()),
            ("abc", "begin", br#"{"name":"m","extra":1}"#.to_vec()),
            ("abc", "chunk/x", vec![]),
            ("abc", "chunk/-1", vec![]),
            ("abc", "commit", br#"{"activate":"yes"}"#.to_vec()),
            ("abc", "explode", vec![]),
        ] {
            assert_eq!(
                parse(id, rest, payload).map_err(|r| r.code),
                Err("bad_request"),
                "{id} {rest}"
            );
        }
    }
}
