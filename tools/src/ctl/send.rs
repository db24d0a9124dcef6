//! `easel ctl <command>`: publish one command and wait for the answers.
//!
//! The event topics are subscribed (and the SUBACK awaited) before the
//! command goes out, so a fast answer cannot be missed. For `--to all` (or
//! no `--to`) the nodes asked are those whose retained `status` is
//! `online` when the command is sent.

use super::answers::{Seen, Waiting, fresh_request_id, status_node};
use crate::link::{BrokerArgs, Link, LinkError};
use easel_protocol::Availability;
use easel_protocol::topic::{ALL, Topic};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// How long retained statuses may take to arrive after the SUBACK.
const DISCOVERY_WINDOW: Duration = Duration::from_millis(400);
/// Discovery ends earlier once the broker has been quiet for this long.
const DISCOVERY_QUIET: Duration = Duration::from_millis(150);

/// The retained `P/+/status` of every node, by node name.
pub async fn node_statuses(
    link: &mut Link,
    prefix: &str,
) -> Result<BTreeMap<String, String>, LinkError> {
    let mut statuses = BTreeMap::new();
    let end = Instant::now() + DISCOVERY_WINDOW;
    loop {
        let quiet = (Instant::now() + DISCOVERY_QUIET).min(end);
        match link.recv_until(quiet).await? {
            Some(m) => {
                if let Some(node) = status_node(prefix, &m.topic) {
                    statuses.insert(node.to_string(), m.payload_str().into_owned());
                }
            }
            None => break,
        }
    }
    Ok(statuses)
}

fn command_topic(prefix: &str, node: &str, command: &str) -> String {
    Topic::Command {
        prefix,
        node,
        command,
    }
    .to_string()
}

/// The nodes whose retained status is `online`.
pub fn online(statuses: &BTreeMap<String, String>) -> Vec<String> {
    statuses
        .iter()
        .filter(|(_, s)| Availability::parse(s.as_bytes()) == Some(Availability::Online))
        .map(|(n, _)| n.clone())
        .collect()
}

fn describe(statuses: &BTreeMap<String, String>) -> String {
    if statuses.is_empty() {
        return "no node has ever said its status on this broker and prefix".into();
    }
    statuses
        .iter()
        .map(|(n, s)| format!("{n} ({s})"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn run(
    broker: &BrokerArgs,
    to: Option<&str>,
    command: &str,
    mut payload: Map<String, Value>,
    timeout: Duration,
) -> anyhow::Result<()> {
    let prefix = broker.prefix.as_str();
    let mut link = Link::connect(&broker.link_config("ctl")?).await?;
    let events = match to {
        Some(node) if node != ALL => Topic::Event { prefix, node }.to_string(),
        _ => Topic::Event { prefix, node: "+" }.to_string(),
    };
    let statuses = Topic::Status { prefix, node: "+" }.to_string();
    link.subscribe(&[events, statuses], timeout).await?;
    let statuses = node_statuses(&mut link, prefix).await?;
    let (topic, nodes) = match to {
        Some("all") => {
            let nodes = online(&statuses);
            if nodes.is_empty() {
                anyhow::bail!(
                    "no node is online under prefix {prefix:?}: {}",
                    describe(&statuses)
                );
            }
            (command_topic(prefix, ALL, command), nodes)
        }
        Some(node) => (command_topic(prefix, node, command), vec![node.to_string()]),
        None => match online(&statuses).as_slice() {
            [node] => (command_topic(prefix, node, command), vec![node.clone()]),
            [] => anyhow::bail!(
                "no node is online under prefix {prefix:?} ({}); name one with --to",
                describe(&statuses)
            ),
            many => anyhow::bail!(
                "{} nodes are online ({}): choose one with --to NODE, or --to all",
                many.len(),
                many.join(", ")
            ),
        },
    };
    let request_id = match payload.get("request_id").and_then(Value::as_str) {
        Some(id) => id.to_string(),
        None => {
            let id = fresh_request_id(0);
            payload.insert("request_id".into(), Value::String(id.clone()));
            id
        }
    };
    link.publish(&topic, Value::Object(payload).to_string(), false)
        .await?;
    let mut waiting = Waiting::new(prefix, &request_id, nodes);
    let deadline = Instant::now() + timeout;
    while !waiting.done() {
        let Some(m) = link.recv_until(deadline).await? else {
            break;
        };
        match waiting.handle(&m.topic, &m.payload) {
            Seen::Other => {}
            Seen::Progress { event, .. } | Seen::Answer { event, .. } => println!("{event}"),
        }
    }
    link.disconnect().await;
    let late: Vec<String> = waiting
        .pending()
        .map(|n| match statuses.get(n) {
            Some(s) => format!("{n} (status {s})"),
            None => format!("{n} (no status seen)"),
        })
        .collect();
    let errors: Vec<String> = waiting.errors().map(|(n, e)| format!("{n}: {e}")).collect();
    match (late.is_empty(), errors.is_empty()) {
        (true, true) => Ok(()),
        (true, false) => anyhow::bail!("{command} refused by {}", errors.join("; ")),
        (false, _) => {
            let mut reason = format!(
                "no answer to {command} (request_id {request_id}) within {:.1} s from {}",
                timeout.as_secs_f64(),
                late.join(", ")
            );
            if !errors.is_empty() {
                reason += &format!("; refused by {}", errors.join("; "));
            }
            anyhow::bail!(reason)
        }
    }
}
