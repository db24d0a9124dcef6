//! One node's transfer (docs/deploy.md, "Transfer over MQTT"): `begin`,
//! the chunks the node says it is missing (all of them the first time),
//! `commit`; a commit answered with missing ranges sends those again. A
//! lost connection is reconnected and the transfer resumed from what the
//! node already holds, since the transfer id is derived from the file's
//! hash. The node checks everything; this side checks nothing it could get
//! wrong in the node's place (a package the node refuses is reported with
//! the node's code).

use crate::link::{Link, LinkConfig, LinkError};
use anyhow::{Context, bail};
use easel_protocol::deploy::{CHUNK_HASH, Commit, Offer, Part};
use easel_protocol::event::Event;
use easel_protocol::package::{Index, Sections};
use easel_protocol::topic::Topic;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

/// One node's result.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Installed(String),
    Activated(String),
    /// The node refused, with its own error code (or `no_answer`).
    Rejected {
        code: String,
        message: String,
    },
    /// This side gave up: the broker unreachable, the connection lost
    /// more often than it is resumed.
    Failed(String),
}

/// The package file and what a node is told about it.
pub struct Package {
    bytes: Vec<u8>,
    offer: Offer,
    /// Derived from the content: a rerun resumes where the last one stopped.
    id: String,
}

impl Package {
    fn chunk(&self, index: u32) -> Vec<u8> {
        let range = self.offer.chunk_range(index).expect("a chunk of the offer");
        let data = &self.bytes[range.start as usize..range.end as usize];
        let mut payload = Vec::with_capacity(CHUNK_HASH + data.len());
        payload.extend_from_slice(&Sha256::digest(data));
        payload.extend_from_slice(data);
        payload
    }
}

/// The model name in a package's manifest, read without checking anything
/// else (the node does the checking).
fn model_name(bytes: &[u8]) -> anyhow::Result<String> {
    let sections = Sections::parse(bytes)
        .map_err(|e| anyhow::anyhow!("not an easel package ({e}); make one with `easel pack`"))?;
    let index: Index = serde_json::from_slice(sections.index).context("reading the index")?;
    let range = index
        .range_of(easel_engine::package::MANIFEST)
        .context("the package holds no easel.toml")?;
    let text = sections
        .entries
        .get(range.start as usize..range.end as usize)
        .context("truncated package")?;
    let manifest: toml::Value = toml::from_str(std::str::from_utf8(text)?)?;
    manifest
        .get("name")
        .and_then(|n| n.as_str())
        .map(str::to_owned)
        .context("easel.toml has no name")
}

/// Reads a package file and makes its offer in chunks of `chunk_kib` KiB.
pub fn read_package(file: &Path, chunk_kib: u32) -> anyhow::Result<Package> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let name = model_name(&bytes).with_context(|| format!("reading {}", file.display()))?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let chunk_size = chunk_kib.saturating_mul(1 << 10);
    let Some(offer) = Offer::new(name, bytes.len() as u64, sha256.clone(), chunk_size) else {
        bail!("--chunk-kib {chunk_kib}: must be within 4..=256");
    };
    Ok(Package {
        id: format!("{}-{}", &sha256[..16], chunk_size >> 10),
        bytes,
        offer,
    })
}

/// What one node said about this transfer.
enum Answer {
    /// `commit`: the report answers our commit (see the daemon's
    /// `DeployProgress::commit`).
    Progress {
        received: u32,
        missing: Vec<u32>,
        commit: bool,
    },
    Deployed(String),
    Activated {
        version: String,
        load_ms: f64,
    },
    RolledBack(easel_protocol::event::RolledBack),
    Error {
        code: String,
        message: String,
    },
}

/// The answer an event gives, if it is one this sender acts on.
fn answer(event: Event) -> Option<Answer> {
    Some(match event {
        Event::DeployProgress(p) => Answer::Progress {
            received: p.received,
            missing: p.missing_chunks().collect(),
            commit: p.commit,
        },
        Event::Deployed(d) => Answer::Deployed(d.version),
        Event::Activated(a) => Answer::Activated {
            version: a.version,
            load_ms: a.load_ms,
        },
        Event::RolledBack(r) => Answer::RolledBack(r),
        Event::Error(e) => Answer::Error {
            code: e.code,
            message: e.message,
        },
        Event::Generated(_) | Event::Done(_) => return None,
    })
}

/// One node's transfer over one connection; `Err(Lost)` means reconnect
/// and resume.
struct Session<'a> {
    link: Link,
    package: &'a Package,
    prefix: &'a str,
    node: &'a str,
    events: String,
    bar: &'a ProgressBar,
    timeout: Duration,
    times: Times,
}

/// When the steps of one session happened, for the summary line.
struct Times {
    begun: Instant,
    /// The node reported every chunk received.
    all_in: Option<Instant>,
    /// The last commit sent.
    committed: Option<Instant>,
    deployed: Option<Instant>,
}

impl Times {
    /// `transfer 1.20 s (11.9 MB/s), commit to deployed 850 ms[, commit to activated 1290 ms]`.
    fn summary(&self, size: u64, activated: bool) -> String {
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
        let mut out = Vec::new();
        if let Some(all_in) = self.all_in {
            let t = ms(self.begun, all_in);
            out.push(format!(
                "transfer {:.2} s ({:.1} MB/s)",
                t / 1e3,
                size as f64 / t / 1e3
            ));
        }
        if let Some(c) = self.committed {
            if let Some(d) = self.deployed {
                out.push(format!("commit to deployed {:.0} ms", ms(c, d)));
            }
            if activated {
                out.push(format!(
                    "commit to activated {:.0} ms",
                    ms(c, Instant::now())
                ));
            }
        }
        out.join(", ")
    }
}

impl Session<'_> {
    /// The topic of one message of this transfer.
    fn topic(&self, part: Part) -> String {
        Topic::Deploy {
            prefix: self.prefix,
            node: self.node,
            id: &self.package.id,
            part,
        }
        .to_string()
    }

    /// The next answer to this transfer, or a timeout.
    async fn next(&mut self, deadline: Instant) -> Result<Option<Answer>, LinkError> {
        loop {
            let Some(m) = self.link.recv_until(deadline).await? else {
                return Ok(None);
            };
            if m.topic != self.events {
                continue;
            }
            // Not an event, or one this tool does not know (a newer node's):
            // not an answer to the transfer.
            let Ok(event) = Event::parse(&m.payload) else {
                continue;
            };
            if event.request_id() != Some(self.package.id.as_str()) {
                continue;
            }
            if let Some(a) = answer(event) {
                if let Answer::Progress { received, .. } = &a {
                    self.show(*received);
                    if *received == self.package.offer.chunks && self.times.all_in.is_none() {
                        self.times.all_in = Some(Instant::now());
                    }
                }
                return Ok(Some(a));
            }
        }
    }

    fn show(&self, received: u32) {
        let bytes = u64::from(received) * u64::from(self.package.offer.chunk_size);
        self.bar.set_position(bytes.min(self.package.offer.size));
    }

    /// Sends the chunks in `missing`; stops early on an error from the node.
    async fn send(&mut self, missing: &[u32]) -> Result<Option<Answer>, LinkError> {
        for &index in missing {
            let topic = self.topic(Part::Chunk(index));
            self.link
                .publish(&topic, self.package.chunk(index), false)
                .await?;
            // Keep up with the node's answers without waiting for them.
            while let Some(a) = self.next(Instant::now()).await? {
                if let Answer::Error { .. } = a {
                    return Ok(Some(a));
                }
            }
        }
        self.link.flush(self.timeout).await?;
        Ok(None)
    }

    async fn run(&mut self, activate: bool) -> Result<Outcome, LinkError> {
        let offer = serde_json::to_vec(&self.package.offer).expect("an offer serialises");
        self.link
            .publish(&self.topic(Part::Begin), offer, false)
            .await?;
        let commit = serde_json::to_string(&Commit { activate }).expect("a commit serialises");
        let mut deployed = None;
        let mut committed = false;
        loop {
            let deadline = Instant::now() + self.timeout;
            let Some(a) = self.next(deadline).await? else {
                return Ok(Outcome::Rejected {
                    code: "no_answer".into(),
                    message: format!(
                        "no answer within {} s (is the node online and on this broker?)",
                        self.timeout.as_secs()
                    ),
                });
            };
            match a {
                // Before our commit, any report says what to send; after
                // it, only the commit's answer (earlier reports may predate
                // chunks already sent).
                Answer::Progress {
                    missing,
                    commit: answers_commit,
                    ..
                } if !missing.is_empty() && (!committed || answers_commit) => {
                    if let Some(error) = self.send(&missing).await? {
                        return Ok(rejected(error));
                    }
                    self.link
                        .publish(&self.topic(Part::Commit), commit.clone(), false)
                        .await?;
                    self.times.committed = Some(Instant::now());
                    committed = true;
                }
                // The node holds every chunk (a resumed transfer): commit.
                Answer::Progress { .. } if !committed => {
                    self.link
                        .publish(&self.topic(Part::Commit), commit.clone(), false)
                        .await?;
                    self.times.committed = Some(Instant::now());
                    committed = true;
                }
                // A report sent while the chunks streamed in.
                Answer::Progress { .. } => {}
                Answer::Deployed(version) if activate => {
                    self.times.deployed = Some(Instant::now());
                    deployed = Some(version)
                }
                Answer::Deployed(version) => {
                    self.times.deployed = Some(Instant::now());
                    self.bar
                        .println(self.times.summary(self.package.offer.size, false));
                    return Ok(Outcome::Installed(version));
                }
                Answer::Activated { version, load_ms } => {
                    say(
                        self.bar,
                        format!(
                            "{}, loaded in {load_ms:.0} ms",
                            self.times.summary(self.package.offer.size, true)
                        ),
                    );
                    return Ok(Outcome::Activated(version));
                }
                Answer::RolledBack(event) => {
                    return Ok(Outcome::Rejected {
                        code: "rolled_back".into(),
                        message: format!(
                            "{} did not activate and was rolled back: {}",
                            event.from,
                            event.reason.as_deref().unwrap_or("")
                        ),
                    });
                }
                // An activation failure is followed by its rolled_back event.
                Answer::Error { code, .. } if code == "activation_failed" && deployed.is_some() => {
                }
                a @ Answer::Error { .. } => return Ok(rejected(a)),
            }
        }
    }
}

/// A line on stderr above the progress bar (`println` of a hidden bar,
/// when stderr is not a terminal, would print nothing).
fn say(bar: &ProgressBar, line: impl AsRef<str>) {
    bar.suspend(|| eprintln!("{}", line.as_ref()));
}

fn rejected(a: Answer) -> Outcome {
    match a {
        Answer::Error { code, message } => Outcome::Rejected { code, message },
        _ => unreachable!("only errors are rejections"),
    }
}

/// What every node's transfer shares.
pub struct Job {
    pub package: Package,
    pub config: LinkConfig,
    pub prefix: String,
    pub activate: bool,
    pub timeout: Duration,
    /// The progress bars of the transfers running at once.
    pub bars: MultiProgress,
}

/// Deploys to one node, reconnecting (and resuming) up to five times; a
/// connection that cannot be made or kept is `Outcome::Failed`, so the
/// other nodes go on.
pub async fn deploy_to(job: &Job, node: &str) -> Outcome {
    let package = &job.package;
    let prefix = job.prefix.as_str();
    let bar = job.bars.add(
        ProgressBar::new(package.offer.size).with_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {elapsed}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        ),
    );
    bar.set_prefix(node.to_string());
    // Its own client id: transfers run at once, and a broker drops the
    // older of two connections with one id.
    let mut config = job.config.clone();
    config.client_id = crate::link::unique_client_id(&format!("deploy-{node}"));
    let mut attempts = 0;
    let outcome = loop {
        attempts += 1;
        let link = match Link::connect(&config).await {
            Ok(link) => link,
            Err(e) if attempts < 6 => {
                say(&bar, format!("{node}: {e}; retrying"));
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(e) => break Outcome::Failed(e.to_string()),
        };
        let events = Topic::Event { prefix, node }.to_string();
        let mut session = Session {
            link,
            package,
            prefix,
            node,
            events: events.clone(),
            bar: &bar,
            timeout: job.timeout,
            times: Times {
                begun: Instant::now(),
                all_in: None,
                committed: None,
                deployed: None,
            },
        };
        let result = match session.link.subscribe(&[events], session.timeout).await {
            Ok(()) => session.run(job.activate).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(outcome) => {
                session.link.disconnect().await;
                break outcome;
            }
            Err(e) if attempts < 6 => {
                say(&bar, format!("{node}: {e}; reconnecting to resume"));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => break Outcome::Failed(format!("{e} (gave up after {attempts} connections)")),
        }
    };
    bar.finish_and_clear();
    job.bars.remove(&bar);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use easel_pack::format;

    #[test]
    fn reads_the_model_name_without_trusting_anything() {
        let manifest = b"name = \"../evil\"\nkind = \"latent\"\n";
        let file = format::encode(&[("easel.toml", manifest), ("m.onnx", b"x")], None);
        assert_eq!(model_name(&file).unwrap(), "../evil");
        assert!(model_name(b"not a package").is_err());
        let file = format::encode(&[("m.onnx", b"x")], None);
        assert!(model_name(&file).is_err());
    }

    #[test]
    fn progress_ranges_expand_to_chunk_indices() {
        let event = Event::parse(
            br#"{"type":"deploy_progress","request_id":"t","transfer":"t","name":"m","received":3,"total":9,"missing":[[0,2],[5,7]],"commit":false}"#,
        )
        .unwrap();
        match answer(event) {
            Some(Answer::Progress {
                received, missing, ..
            }) => {
                assert_eq!((received, missing), (3, vec![0, 1, 5, 6]));
            }
            _ => panic!("not progress"),
        }
    }
}
