//! `easel ctl watch`: everything the pieces and their controllers say,
//! one line per message, retained messages first (that is the current
//! status, state and palette of each node).

use crate::link::{BrokerArgs, Link};
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

pub async fn run(broker: &BrokerArgs, args: WatchArgs) -> anyhow::Result<()> {
    let mut link = Link::connect(&broker.link_config("watch")?).await?;
    link.subscribe(
        &filters(&broker.prefix, args.node.as_deref()),
        Duration::from_secs(10),
    )
    .await?;
    let end = match args.duration {
        Some(s) if s.is_finite() && s >= 0.0 => Instant::now() + Duration::from_secs_f64(s),
        Some(_) => anyhow::bail!("--duration must be a number of seconds"),
        None => Instant::now() + Duration::from_secs(100 * 365 * 86400),
    };
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => break,
            m = link.recv_until(end) => match m? {
                Some(m) => println!("{}", line(&m.topic, &m.payload, m.retain, args.json)),
                None => break,
            },
        }
    }
    link.disconnect().await;
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
}
