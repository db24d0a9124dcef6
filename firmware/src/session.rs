//! The controller's MQTT session, as a pure state machine.
//!
//! It decides *what* to say to the broker and *when*; the driver (`mqtt`
//! on boards and on Linux, or a test) does the talking. Like rumqttc's
//! `MqttState`, it never touches a socket: the driver asks
//! [`Session::poll`] for the next [`Action`], performs it, and reports back
//! with `handle_*` calls. That is what lets the reconnect logic be tested
//! with a table on a laptop and then run unchanged on every board.
//!
//! The contract it implements:
//!
//! - connect with the Last Will `offline`, retained, on `P/ctl/<id>/status`
//!   ([`Session::will_topic`]);
//! - on every (re)connect: subscribe to the daemon's `P/N/status` and
//!   `P/N/palette`, then publish `online`, retained, on the status topic;
//! - publish input events on `P/ctl/<id>/input` (QoS 1, never retained);
//! - on a lost or failed connection, retry with exponential backoff and
//!   jitter (so a gallery of controllers does not stampede a restarted
//!   broker), reset only after a connection that stayed up a while.
//!
//! Keepalive pings and their timeouts are done by the MQTT client (minimq)
//! with [`SessionConfig::keepalive_s`]; a missed ping surfaces here as
//! `handle_disconnected`.
//!
//! Input events wait in a small queue while the link is down; the oldest
//! are dropped when it is full, and events older than `max_event_age_ms`
//! are dropped at publish time: a click made during an outage must not
//! fire a picture a minute later. No IO here.

use crate::event::{InputEvent, MAX_PAYLOAD};
use crate::status_led::StatusPattern;
use core::fmt::Write;
use easel_protocol::{Availability, Palette, Route, Topic};
use heapless::{Deque, String, Vec};

/// Longest topic the session writes: a 24-byte prefix, a 32-byte id.
pub const MAX_TOPIC: usize = 72;
/// Longest prefix accepted.
pub const MAX_PREFIX: usize = 24;
/// Queued events while disconnected.
pub const QUEUE: usize = 16;
/// A connection that lasted this long resets the backoff.
const STABLE_MS: u64 = 10_000;

/// A topic name.
pub type TopicName = String<MAX_TOPIC>;

/// Session settings, usually fixed at build time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Topic prefix (`mqtt.prefix` of the daemon).
    pub prefix: &'static str,
    /// This controller's id, `[a-z0-9_-]{1,32}`.
    pub id: &'static str,
    /// The daemon node whose status and palette to follow.
    pub node: &'static str,
    /// MQTT keepalive, in seconds.
    pub keepalive_s: u16,
    pub backoff_min_ms: u64,
    pub backoff_max_ms: u64,
    pub max_event_age_ms: u64,
}

impl SessionConfig {
    /// Defaults for everything but the names.
    pub const fn new(prefix: &'static str, id: &'static str, node: &'static str) -> Self {
        SessionConfig {
            prefix,
            id,
            node,
            keepalive_s: 15,
            backoff_min_ms: 500,
            backoff_max_ms: 30_000,
            max_event_age_ms: 3_000,
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// The controller id is not `[a-z0-9_-]{1,32}`.
    BadId,
    /// The node is not `[a-z0-9_-]{1,32}`.
    BadNode,
    /// The prefix is empty, too long or holds `/`, `+`, `#`.
    BadPrefix,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ConfigError::BadId => "controller id must be [a-z0-9_-]{1,32}",
            ConfigError::BadNode => "node must be [a-z0-9_-]{1,32}",
            ConfigError::BadPrefix => "prefix must be 1-24 bytes without '/', '+' or '#'",
        })
    }
}

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Open the transport and connect with client id [`Session::client_id`]
    /// and the will from [`Session::will_topic`]; report with
    /// `handle_connected` or `handle_connect_failed`.
    Connect,
    /// Subscribe (QoS 1) to these topics, then `handle_sent`.
    Subscribe([TopicName; 2]),
    /// Publish at QoS 1, then `handle_sent`.
    Publish(Publication),
}

/// One message to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Publication {
    pub topic: TopicName,
    pub payload: Vec<u8, MAX_PAYLOAD>,
    pub retain: bool,
    /// For input events: when the edge was seen (latency accounting).
    pub event_at_ms: Option<u64>,
}

/// Something the daemon told us.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Update {
    Daemon(Availability),
    Palette(Palette),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Down {
        retry_at: u64,
    },
    Connecting,
    Up {
        since: u64,
        subscribed: bool,
        announced: bool,
    },
}

/// The session state machine.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    link: Link,
    /// Failed attempts since the last stable connection.
    attempts: u32,
    /// The broker refused us (credentials, id): needs a person.
    refused: bool,
    queue: Deque<InputEvent, QUEUE>,
    dropped: u32,
    daemon: Option<Availability>,
    rng: u32,
}

impl Session {
    /// A disconnected session that will connect on the first `poll`.
    /// `seed` varies the backoff jitter between controllers (a chip id,
    /// a MAC address).
    pub fn new(config: SessionConfig, seed: u32) -> Result<Session, ConfigError> {
        if !easel_protocol::is_valid_node_id(config.id) {
            return Err(ConfigError::BadId);
        }
        if !easel_protocol::is_valid_node_id(config.node) {
            return Err(ConfigError::BadNode);
        }
        let p = config.prefix;
        if p.is_empty() || p.len() > MAX_PREFIX || p.contains(['/', '+', '#']) {
            return Err(ConfigError::BadPrefix);
        }
        Ok(Session {
            config,
            link: Link::Down { retry_at: 0 },
            attempts: 0,
            refused: false,
            queue: Deque::new(),
            dropped: 0,
            daemon: None,
            rng: seed | 1,
        })
    }

    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The MQTT client id: `easel-ctl-<id>`, unique per controller.
    pub fn client_id(&self) -> String<48> {
        let mut s = String::new();
        let _ = write!(s, "easel-ctl-{}", self.config.id);
        s
    }

    /// `P/ctl/<id>/status`: the Last Will's topic (payload `offline`,
    /// retained, QoS 1) and where `online` goes.
    pub fn will_topic(&self) -> TopicName {
        self.topic(Topic::ControllerStatus {
            prefix: self.config.prefix,
            id: self.config.id,
        })
    }

    /// The Last Will payload.
    pub fn will_payload(&self) -> &'static str {
        Availability::Offline.as_str()
    }

    /// True while connected to the broker.
    pub fn is_connected(&self) -> bool {
        matches!(self.link, Link::Up { .. })
    }

    /// The daemon's last announced availability.
    pub fn daemon(&self) -> Option<Availability> {
        self.daemon
    }

    /// Events dropped because the queue was full or they went stale.
    pub fn dropped(&self) -> u32 {
        self.dropped
    }

    /// What the status LED should show.
    pub fn status_pattern(&self) -> StatusPattern {
        match self.link {
            _ if self.refused => StatusPattern::FastBlink,
            Link::Up { .. } if self.daemon == Some(Availability::Online) => StatusPattern::Steady,
            Link::Up { .. } => StatusPattern::Blip,
            _ => StatusPattern::SlowBlink,
        }
    }

    /// When the session next wants to be polled while it has nothing to do
    /// (the reconnect time), if it is waiting for one.
    pub fn next_deadline(&self) -> Option<u64> {
        match self.link {
            Link::Down { retry_at } => Some(retry_at),
            _ => None,
        }
    }

    /// The next thing to do, if any. Repeats the same action until it is
    /// acknowledged with a `handle_*` call.
    pub fn poll(&mut self, now: u64) -> Option<Action> {
        match self.link {
            Link::Down { retry_at } if now >= retry_at => {
                self.link = Link::Connecting;
                Some(Action::Connect)
            }
            Link::Down { .. } | Link::Connecting => None,
            Link::Up {
                subscribed: false, ..
            } => Some(Action::Subscribe([
                self.topic(Topic::Status {
                    prefix: self.config.prefix,
                    node: self.config.node,
                }),
                self.topic(Topic::Palette {
                    prefix: self.config.prefix,
                    node: self.config.node,
                }),
            ])),
            Link::Up {
                announced: false, ..
            } => Some(Action::Publish(Publication {
                topic: self.will_topic(),
                payload: Vec::from_slice(Availability::Online.as_str().as_bytes())
                    .unwrap_or_default(),
                retain: true,
                event_at_ms: None,
            })),
            Link::Up { .. } => {
                while let Some(front) = self.queue.front() {
                    if now.saturating_sub(front.at_ms) <= self.config.max_event_age_ms {
                        break;
                    }
                    self.queue.pop_front();
                    self.dropped += 1;
                }
                let event = *self.queue.front()?;
                let mut payload = [0u8; MAX_PAYLOAD];
                let Ok(n) = event.encode(&mut payload) else {
                    // cannot happen for valid names; drop rather than wedge
                    self.queue.pop_front();
                    self.dropped += 1;
                    return None;
                };
                Some(Action::Publish(Publication {
                    topic: self.topic(Topic::ControllerInput {
                        prefix: self.config.prefix,
                        id: self.config.id,
                    }),
                    payload: Vec::from_slice(&payload[..n]).unwrap_or_default(),
                    retain: false,
                    event_at_ms: Some(event.at_ms),
                }))
            }
        }
    }

    /// The last action from `poll` (subscribe or publish) was done.
    pub fn handle_sent(&mut self) {
        if let Link::Up {
            since,
            subscribed,
            announced,
        } = self.link
        {
            if !subscribed {
                self.link = Link::Up {
                    since,
                    subscribed: true,
                    announced,
                };
            } else if !announced {
                self.link = Link::Up {
                    since,
                    subscribed,
                    announced: true,
                };
            } else {
                self.queue.pop_front();
            }
        }
    }

    /// The broker accepted the connection.
    pub fn handle_connected(&mut self, now: u64) {
        self.refused = false;
        self.link = Link::Up {
            since: now,
            subscribed: false,
            announced: false,
        };
    }

    /// The transport or the MQTT handshake failed; `refused` when the
    /// broker answered with a rejection (bad credentials, bad id).
    pub fn handle_connect_failed(&mut self, refused: bool, now: u64) {
        self.refused = refused;
        self.schedule_retry(now);
    }

    /// An established connection was lost.
    pub fn handle_disconnected(&mut self, now: u64) {
        if let Link::Up { since, .. } = self.link
            && now.saturating_sub(since) >= STABLE_MS
        {
            self.attempts = 0;
        }
        self.schedule_retry(now);
    }

    /// A visitor did something.
    pub fn handle_input(&mut self, event: InputEvent) {
        if self.queue.is_full() {
            self.queue.pop_front();
            self.dropped += 1;
        }
        let _ = self.queue.push_back(event);
    }

    /// A message arrived on a subscribed topic.
    pub fn handle_message(&mut self, topic: &str, payload: &[u8]) -> Option<Update> {
        match Route::parse(self.config.prefix, topic)? {
            Route::Status { node } if node == self.config.node => {
                let a = Availability::parse(payload)?;
                self.daemon = Some(a);
                Some(Update::Daemon(a))
            }
            Route::Palette { node } if node == self.config.node => {
                Palette::parse(payload).map(Update::Palette)
            }
            _ => None,
        }
    }

    fn schedule_retry(&mut self, now: u64) {
        let shift = self.attempts.min(16);
        let base = (self.config.backoff_min_ms << shift).min(self.config.backoff_max_ms);
        let base = if self.refused {
            self.config.backoff_max_ms
        } else {
            base
        };
        // jitter: 75 %..125 % of the base delay
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 17;
        self.rng ^= self.rng << 5;
        let jitter = base / 2 * (self.rng % 1001) as u64 / 1000;
        let delay = base - base / 4 + jitter;
        self.attempts = self.attempts.saturating_add(1);
        self.link = Link::Down {
            retry_at: now + delay,
        };
    }

    fn topic(&self, topic: Topic<'_>) -> TopicName {
        let mut s = TopicName::new();
        // lengths are bounded by the checks in `new`
        let _ = write!(s, "{topic}");
        s
    }
}

#[cfg(test)]
mod tests;
