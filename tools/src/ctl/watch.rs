//! `easel ctl watch`: everything the pieces and their controllers say,
//! one line per message, retained messages first (that is the current
//! status, state and palette of each node).
//!
//! A watch runs for hours beside a piece, so a lost connection (a broker
//! restart, a pulled cable) is not the end: it says so on stderr, tries
//! again with a growing pause (at most [`MAX_PAUSE`]), and once back says
//! so and subscribes again (the retained messages then come again). Only
//! the first connection failing is an error.

use crate::link::{BrokerArgs, Link, LinkConfig, LinkError};
use clap::Args;
use easel_protocol::topic::Topic;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Args, Debug)]
pub struct WatchArgs {
    /// Only this node (controllers are shown either way).
    #[arg(long)]
    pub node: Option<String>,
    /// One JSON object per line: {"topic", "retain", "payload"}.
    #[arg(long)]
    pub json: bool,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
}

/// The filters: the node's own topics and every controller's.
pub fn filters(prefix: &str, node: Option<&str>) -> Vec<String> {
    let node = node.unwrap_or("+");
    [
        Topic::Status { prefix, node },
        Topic::State { prefix, node },
        Topic::Event { prefix, node },
        Topic::Palette { prefix, node },
        Topic::ControllerInput { prefix, id: "+" },
        Topic::ControllerStatus { prefix, id: "+" },
    ]
    .iter()
    .map(Topic::to_string)
    .collect()
}

/// `topic payload` (control characters escaped so a line stays a line).
pub fn line(topic: &str, payload: &[u8], retain: bool, json: bool) -> String {
    let text = String::from_utf8_lossy(payload);
    if json {
        serde_json::json!({"topic": topic, "retain": retain, "payload": text}).to_string()
    } else {
        let text: String = text
            .chars()
            .flat_map(|c| {
                let escaped: Vec<char> = if c.is_control() {
                    c.escape_default().collect()
                } else {
                    vec![c]
                };
                escaped
            })
            .collect();
        format!("{topic} {text}")
    }
}

/// The longest pause between two reconnection attempts.
pub const MAX_PAUSE: Duration = Duration::from_secs(4);

/// The pause before reconnection attempt `n` (0-based): 0.5, 1, 2, 4, 4… s.
pub fn pause(attempt: u32) -> Duration {
    (Duration::from_millis(500) * 2u32.saturating_pow(attempt.min(4))).min(MAX_PAUSE)
}

async fn connect(config: &LinkConfig, filters: &[String]) -> Result<Link, LinkError> {
    let mut link = Link::connect(config).await?;
    link.subscribe(filters, Duration::from_secs(10)).await?;
    Ok(link)
}

/// What one turn of the watch loop saw.
enum Turn {
    Stop,
    Line(String),
    Lost(LinkError),
    Back(Link),
    StillDown(LinkError),
}

pub async fn run(broker: &BrokerArgs, args: WatchArgs) -> anyhow::Result<()> {
    let config = broker.link_config("watch")?;
    let filters = filters(&broker.prefix, args.node.as_deref());
    let mut link = Some(connect(&config, &filters).await?);
    let end = match args.duration {
        Some(s) if s.is_finite() && s >= 0.0 => Instant::now() + Duration::from_secs_f64(s),
        Some(_) => anyhow::bail!("--duration must be a number of seconds"),
        None => Instant::now() + Duration::from_secs(100 * 365 * 86400),
    };
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut attempt = 0;
    loop {
        let turn = match link.as_mut() {
            Some(l) => tokio::select! {
                _ = &mut ctrl_c => Turn::Stop,
                m = l.recv_until(end) => match m {
                    Ok(Some(m)) => Turn::Line(line(&m.topic, &m.payload, m.retain, args.json)),
                    Ok(None) => Turn::Stop,
                    Err(e) => Turn::Lost(e),
                },
            },
            None => {
                let wait = pause(attempt).min(end.saturating_duration_since(Instant::now()));
                tokio::select! {
                    _ = &mut ctrl_c => Turn::Stop,
                    _ = tokio::time::sleep_until(end) => Turn::Stop,
                    r = async {
                        tokio::time::sleep(wait).await;
                        connect(&config, &filters).await
                    } => match r {
                        Ok(l) => Turn::Back(l),
                        Err(e) => Turn::StillDown(e),
                    },
                }
            }
        };
        match turn {
            Turn::Stop => break,
            Turn::Line(text) => println!("{text}"),
            Turn::Lost(e) => {
                eprintln!(
                    "easel ctl watch: lost the connection to {} ({e}); reconnecting",
                    config.url
                );
                link = None;
                attempt = 0;
            }
            Turn::Back(l) => {
                eprintln!(
                    "easel ctl watch: reconnected to {}; watching again (retained messages follow)",
                    config.url
                );
                link = Some(l);
            }
            Turn::StillDown(e) => {
                attempt += 1;
                // Once at the start, then about once a minute.
                if attempt == 1 || attempt % 15 == 0 {
                    eprintln!(
                        "easel ctl watch: {} still unreachable ({e}); retrying every {} s",
                        config.url,
                        MAX_PAUSE.as_secs()
                    );
                }
            }
        }
    }
    if let Some(link) = link {
        link.disconnect().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_filters() {
        assert_eq!(
            line("easel/n/palette", b"#ff0000", true, false),
            "easel/n/palette #ff0000"
        );
        assert_eq!(line("t", b"a\nb", false, false), "t a\\nb");
        assert_eq!(
            line("t", b"{\"a\":\"\xc3\xa9\"}", false, false),
            "t {\"a\":\"\u{e9}\"}"
        );
        let j: serde_json::Value =
            serde_json::from_str(&line("t", b"{\"x\":1}", true, true)).unwrap();
        assert_eq!(j["retain"], true);
        assert_eq!(j["payload"], "{\"x\":1}");
        assert_eq!(filters("easel", Some("n1"))[0], "easel/n1/status");
        assert_eq!(filters("easel", None)[5], "easel/ctl/+/status");
    }

    #[test]
    fn pauses_grow_to_a_ceiling() {
        let ms: Vec<u128> = (0..7).map(|a| pause(a).as_millis()).collect();
        assert_eq!(ms, [500, 1000, 2000, 4000, 4000, 4000, 4000]);
    }
}
