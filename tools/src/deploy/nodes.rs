//! The gallery around a deploy: which nodes `--to` names (`all`: every
//! node whose retained status is online), `easel list` (what each node
//! holds, from its retained `state`) and `easel activate` (the daemon's
//! `activate` command: an installed or staged version becomes current, as
//! `easel ctl activate --version V` would send it).

use crate::ctl::send::{node_statuses, online};
use crate::link::{BrokerArgs, Link, LinkConfig};
use crate::table::{Align, render};
use anyhow::bail;
use easel_protocol::topic::Topic;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// The nodes `--to` names: `all` (alone) = every node online now, else
/// the names given, checked.
pub async fn targets(
    broker: &BrokerArgs,
    config: &LinkConfig,
    to: &[String],
) -> anyhow::Result<Vec<String>> {
    if to.iter().any(|n| n == "all") {
        if to.len() > 1 {
            bail!("--to all stands alone (it already means every node online)");
        }
        let statuses = statuses(broker, config).await?;
        let nodes = online(&statuses);
        if nodes.is_empty() {
            bail!(
                "no node is online under {}/+/status{}",
                broker.prefix,
                describe(&statuses)
            );
        }
        return Ok(nodes);
    }
    let mut nodes = Vec::new();
    for node in to {
        if !easel_protocol::is_valid_node_id(node) {
            bail!("--to {node:?}: not a node name or `all`");
        }
        if !nodes.contains(node) {
            nodes.push(node.clone());
        }
    }
    Ok(nodes)
}

/// Every node's retained status.
async fn statuses(
    broker: &BrokerArgs,
    config: &LinkConfig,
) -> anyhow::Result<BTreeMap<String, String>> {
    let prefix = broker.prefix.as_str();
    let mut link = Link::connect(config).await?;
    link.subscribe(
        &[Topic::Status { prefix, node: "+" }.to_string()],
        Duration::from_secs(10),
    )
    .await?;
    let statuses = node_statuses(&mut link, prefix).await?;
    link.disconnect().await;
    Ok(statuses)
}

fn describe(statuses: &BTreeMap<String, String>) -> String {
    if statuses.is_empty() {
        return String::new();
    }
    let seen: Vec<String> = statuses.iter().map(|(n, s)| format!("{n} ({s})")).collect();
    format!("; seen: {}", seen.join(", "))
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub broker: BrokerArgs,
    /// Node names, comma separated, or `all` (every node that ever said
    /// its state on this broker, online or not).
    #[arg(
        long,
        value_name = "NODE[,NODE…]|all",
        value_delimiter = ',',
        default_value = "all"
    )]
    pub to: Vec<String>,
    /// Print each node's `state` fields as one JSON object per line.
    #[arg(long)]
    pub json: bool,
}

/// How long retained states may take to arrive.
const STATE_WINDOW: Duration = Duration::from_millis(1500);

/// `easel list`: per node, its status, the model on screen and every
/// deployed model with its current and previous version.
pub fn list(args: ListArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let nodes = runtime.block_on(read_states(&args))?;
    if nodes.is_empty() {
        bail!(
            "no node has a retained state under {}/{}/state",
            args.broker.prefix,
            if args.to == ["all"] { "+" } else { "NODE" }
        );
    }
    if args.json {
        for (node, (status, state)) in &nodes {
            println!(
                "{}",
                serde_json::json!({"node": node, "status": status, "state": state})
            );
        }
    } else {
        print!("{}", render_list(&nodes));
    }
    let missing: Vec<&String> = args
        .to
        .iter()
        .filter(|n| *n != "all" && !nodes.contains_key(*n))
        .collect();
    if !missing.is_empty() {
        bail!("no retained state from {missing:?} (wrong name, prefix or broker?)");
    }
    Ok(())
}

type NodeStates = BTreeMap<String, (String, Value)>;

async fn read_states(args: &ListArgs) -> anyhow::Result<NodeStates> {
    let prefix = args.broker.prefix.as_str();
    let config = args.broker.link_config("list")?;
    let mut link = Link::connect(&config).await?;
    let names: Vec<&str> = if args.to == ["all"] {
        vec!["+"]
    } else {
        args.to.iter().map(String::as_str).collect()
    };
    let mut filters = Vec::new();
    for node in &names {
        filters.push(Topic::State { prefix, node }.to_string());
        filters.push(Topic::Status { prefix, node }.to_string());
    }
    link.subscribe(&filters, Duration::from_secs(10)).await?;
    let deadline = Instant::now() + STATE_WINDOW;
    let (mut states, mut statuses) = (BTreeMap::new(), BTreeMap::new());
    while let Some(m) = link.recv_until(deadline).await? {
        let Some(rest) = m
            .topic
            .strip_prefix(prefix)
            .and_then(|t| t.strip_prefix('/'))
        else {
            continue;
        };
        match rest.split_once('/') {
            Some((node, "state")) => {
                if let Ok(v) = serde_json::from_slice::<Value>(&m.payload) {
                    states.insert(node.to_string(), v);
                }
            }
            Some((node, "status")) => {
                statuses.insert(node.to_string(), m.payload_str().into_owned());
            }
            _ => {}
        }
        let wanted = names != ["+"] && names.iter().all(|n| states.contains_key(*n));
        if wanted {
            break;
        }
    }
    link.disconnect().await;
    Ok(states
        .into_iter()
        .map(|(node, state)| {
            let status = statuses.remove(&node).unwrap_or_else(|| "?".into());
            (node, (status, state))
        })
        .collect())
}

/// The table: one row per deployed model (a node without any gets one row).
fn render_list(nodes: &NodeStates) -> String {
    let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let mut rows = Vec::new();
    for (node, (status, state)) in nodes {
        let showing = s(&state["model"]);
        let installed = state["installed"].as_array().cloned().unwrap_or_default();
        if installed.is_empty() {
            rows.push(vec![
                node.clone(),
                status.clone(),
                showing.clone(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]);
        }
        for m in installed {
            rows.push(vec![
                node.clone(),
                status.clone(),
                showing.clone(),
                s(&m["name"]),
                s(&m["current"]),
                s(&m["previous"]),
            ]);
        }
    }
    render(
        &[
            "node", "status", "showing", "deployed", "current", "previous",
        ],
        &rows,
        &[Align::Left; 6],
    )
}

#[derive(clap::Args, Debug)]
pub struct ActivateArgs {
    /// The version to make current: `<model>-<8 hex digits>`, as `easel
    /// deploy` (without --activate), `easel inspect PKG.easelpkg` and
    /// `easel list` print it.
    pub version: String,
    #[command(flatten)]
    pub broker: BrokerArgs,
    /// The node, or `all` (every node online).
    #[arg(long, value_name = "NODE|all")]
    pub to: Option<String>,
    /// Seconds to wait for the answers (a load can take a while).
    #[arg(long, default_value_t = 60.0)]
    pub timeout: f64,
}

/// `easel activate`: the daemon's `activate` command, answered by
/// `activated` (printed as JSON lines, as `easel ctl` prints answers).
pub fn activate(args: ActivateArgs) -> anyhow::Result<()> {
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        bail!("--timeout must be a positive number of seconds");
    }
    let mut payload = serde_json::Map::new();
    payload.insert("version".into(), Value::String(args.version.clone()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(crate::ctl::send::run(
        &args.broker,
        args.to.as_deref(),
        easel_protocol::command::ACTIVATE,
        payload,
        Duration::from_secs_f64(args.timeout),
    ))
}
