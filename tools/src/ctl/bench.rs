//! `easel ctl bench`: what the control plane costs and how it holds up.
//!
//! 1. Latency: one client sends `generate` commands one after the other
//!    and times each from publish to its `generated` event. The event's
//!    own `latency_ms` (arrival in the daemon to picture in the archive)
//!    is the engine's part; the rest is the control plane (broker, JSON,
//!    queues, both directions).
//! 2. Flood: many clients publish `generate` as fast as they can. Every
//!    request must get exactly one answer (a picture or a `busy` refusal);
//!    meanwhile `/healthz` is polled, and afterwards the retained state and
//!    the newest pictures are checked.
//!
//! Run it against a node that is otherwise idle: other commands and morph
//! frames would be measured too.

use super::answers::fresh_request_id;
use crate::link::{BrokerArgs, Link};
use clap::Args;
use easel_protocol::command::{self, GeneratePayload};
use easel_protocol::event::Event;
use easel_protocol::topic::Topic;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Sequential `generate` commands for the latency figures.
    #[arg(long, default_value_t = 200)]
    pub count: usize,
    /// Model to generate with (default: the node's current model).
    #[arg(long)]
    pub model: Option<String>,
    /// Flood: this many clients at once (0 = no flood).
    #[arg(long, default_value_t = 10)]
    pub flood_clients: usize,
    /// Flood: commands per client.
    #[arg(long, default_value_t = 1000)]
    pub flood_count: usize,
    /// The node's web address (`[http] listen`), to poll /healthz and
    /// fetch pictures during and after the flood.
    #[arg(long, value_name = "URL")]
    pub http: Option<String>,
    /// Print the results as one JSON object.
    #[arg(long)]
    pub json: bool,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn summary(mut v: Vec<f64>) -> Value {
    v.sort_by(f64::total_cmp);
    json!({"n": v.len(), "median_ms": percentile(&v, 50.0), "p99_ms": percentile(&v, 99.0), "max_ms": v.last().copied().unwrap_or(f64::NAN)})
}

/// A GET over plain HTTP/1.0 (the daemon's own page): (status, body).
pub fn http_get(base: &str, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let rest = base
        .strip_prefix("http://")
        .ok_or_else(|| std::io::Error::other(format!("{base}: only http:// is supported")))?;
    let host = rest.trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n")?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP header"))?;
    let head = String::from_utf8_lossy(&response[..end]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no HTTP status"))?;
    Ok((status, response[end + 4..].to_vec()))
}

fn target(to: Option<String>) -> anyhow::Result<String> {
    match to {
        Some(n) if n != "all" => Ok(n),
        _ => anyhow::bail!("easel ctl bench needs --to NODE (one node)"),
    }
}

async fn latency(
    broker: &BrokerArgs,
    node: &str,
    args: &BenchArgs,
    timeout: Duration,
) -> anyhow::Result<Value> {
    let prefix = &broker.prefix;
    let mut link = Link::connect(&broker.link_config("bench")?).await?;
    link.subscribe(&[Topic::Event { prefix, node }.to_string()], timeout)
        .await?;
    let topic = generate_topic(prefix, node);
    let (mut round_trip, mut engine, mut overhead) = (Vec::new(), Vec::new(), Vec::new());
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    let warmup = 10;
    for i in 0..warmup + args.count {
        let id = fresh_request_id(i as u64);
        let payload = generate_payload(&id, i as u64, &args.model);
        let sent = Instant::now();
        link.publish(&topic, payload, false).await?;
        let deadline = sent + timeout;
        let event = loop {
            let Some(m) = link.recv_until(deadline).await? else {
                anyhow::bail!("no answer to generate {i} within {timeout:?}");
            };
            if let Ok(event) = Event::parse(&m.payload)
                && event.request_id() == Some(id.as_str())
            {
                break event;
            }
        };
        let rtt = sent.elapsed().as_secs_f64() * 1e3;
        if i < warmup {
            continue;
        }
        match event {
            Event::Generated(g) => {
                round_trip.push(rtt);
                engine.push(g.latency_ms);
                overhead.push(rtt - g.latency_ms);
            }
            Event::Error(e) => *errors.entry(e.code).or_default() += 1,
            other => *errors.entry(other.kind().to_string()).or_default() += 1,
        }
    }
    link.disconnect().await;
    Ok(json!({
        "round_trip": summary(round_trip),
        "engine": summary(engine),
        "control_plane": summary(overhead),
        "errors": errors,
    }))
}

/// One flooding client: publishes everything, then collects the answers
/// to its own ids. Returns (answers by id, publish time).
async fn flood_client(
    broker: BrokerArgs,
    node: String,
    client: usize,
    count: usize,
    model: Option<String>,
    quiet: Duration,
) -> anyhow::Result<(HashMap<String, Vec<Event>>, Duration)> {
    let prefix = &broker.prefix;
    let mut link = Link::connect(&broker.link_config("flood")?).await?;
    link.subscribe(
        &[Topic::Event {
            prefix,
            node: &node,
        }
        .to_string()],
        Duration::from_secs(10),
    )
    .await?;
    let topic = generate_topic(prefix, &node);
    let mine = format!("flood-{}-{client}-", std::process::id());
    let mut answers: HashMap<String, Vec<Event>> = HashMap::new();
    let start = Instant::now();
    for i in 0..count {
        let payload = generate_payload(&format!("{mine}{i}"), (client * count + i) as u64, &model);
        link.publish(&topic, payload, false).await?;
    }
    link.flush(Duration::from_secs(120)).await?;
    let published = start.elapsed();
    let mut received = 0;
    // Collect until every id is answered or nothing came for `quiet`.
    while received < count {
        let Some(m) = link.recv_until(Instant::now() + quiet).await? else {
            break;
        };
        if let Ok(event) = Event::parse(&m.payload)
            && let Some(id) = event.request_id()
            && id.starts_with(&mine)
        {
            let slot = answers.entry(id.to_string()).or_default();
            if slot.is_empty() {
                received += 1;
            }
            slot.push(event);
        }
    }
    // Late duplicates would show up right after the last answer.
    while let Some(m) = link
        .recv_until(Instant::now() + Duration::from_millis(300))
        .await?
    {
        if let Ok(event) = Event::parse(&m.payload)
            && let Some(id) = event.request_id()
            && id.starts_with(&mine)
        {
            answers.entry(id.to_string()).or_default().push(event);
        }
    }
    link.disconnect().await;
    Ok((answers, published))
}

async fn flood(
    broker: &BrokerArgs,
    node: &str,
    args: &BenchArgs,
    timeout: Duration,
) -> anyhow::Result<Value> {
    let state_before = retained_state(broker, node).await?;
    // Health: polled every 200 ms while the flood runs.
    let stop = Arc::new(AtomicBool::new(false));
    let health = args.http.clone().map(|base| {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut polls, mut bad, mut worst) = (0usize, 0usize, 0f64);
            while !stop.load(Ordering::Relaxed) {
                let t = std::time::Instant::now();
                let ok = matches!(http_get(&base, "/healthz"), Ok((200, _)));
                worst = worst.max(t.elapsed().as_secs_f64() * 1e3);
                polls += 1;
                bad += usize::from(!ok);
                std::thread::sleep(Duration::from_millis(200));
            }
            json!({"polls": polls, "not_ok": bad, "slowest_ms": worst})
        })
    });
    let start = Instant::now();
    let clients: Vec<_> = (0..args.flood_clients)
        .map(|c| {
            tokio::spawn(flood_client(
                broker.clone(),
                node.to_string(),
                c,
                args.flood_count,
                args.model.clone(),
                timeout,
            ))
        })
        .collect();
    let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
    let (mut answered, mut duplicates, mut missing) = (0usize, 0usize, 0usize);
    let mut publish_secs: f64 = 0.0;
    let mut newest: Vec<(f64, String, u64)> = Vec::new();
    for c in clients {
        let (answers, published) = c.await??;
        publish_secs = publish_secs.max(published.as_secs_f64());
        missing += args.flood_count - answers.len();
        for events in answers.values() {
            answered += 1;
            duplicates += events.len() - 1;
            let kind = match &events[0] {
                Event::Error(e) => format!("error:{}", e.code),
                other => other.kind().to_string(),
            };
            *by_type.entry(kind).or_default() += 1;
            if let Event::Generated(g) = &events[0] {
                newest.push((g.latency_ms, g.url.clone(), g.seed.unwrap_or(0)));
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let health = health.map(|h| h.join().unwrap_or(Value::Null));
    let sent = args.flood_clients * args.flood_count;
    // After: healthz, the retained state, and the pictures of the flood
    // (the archive keeps the newest; check up to 50 of them are served).
    let state_after = retained_state(broker, node).await?;
    let mut after = json!({
        "state_model_before": state_before["model"],
        "state_model_after": state_after["model"],
    });
    if let Some(base) = &args.http {
        after["healthz"] = json!(http_get(base, "/healthz").map(|r| r.0).unwrap_or(0));
        let (mut served, mut checked) = (0usize, 0usize);
        for (_, url, _) in newest.iter().rev().take(50) {
            checked += 1;
            if let Ok((200, body)) = http_get(base, url)
                && body.starts_with(b"\x89PNG")
            {
                served += 1;
            }
        }
        after["pictures_checked"] = json!(checked);
        after["pictures_served"] = json!(served);
    }
    Ok(json!({
        "clients": args.flood_clients,
        "sent": sent,
        "answered": answered,
        "missing": missing,
        "duplicates": duplicates,
        "answers": by_type,
        "seconds": elapsed,
        "publish_seconds": publish_secs,
        "answers_per_second": answered as f64 / elapsed,
        "health_during": health,
        "after": after,
    }))
}

async fn retained_state(broker: &BrokerArgs, node: &str) -> anyhow::Result<Value> {
    let mut link = Link::connect(&broker.link_config("bench")?).await?;
    let topic = format!("{}/{node}/state", broker.prefix);
    link.subscribe(std::slice::from_ref(&topic), Duration::from_secs(10))
        .await?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let state = loop {
        match link.recv_until(deadline).await? {
            Some(m) if m.topic == topic => {
                break serde_json::from_slice(&m.payload).unwrap_or(Value::Null);
            }
            Some(_) => {}
            None => anyhow::bail!("no retained state on {topic}: is {node} running?"),
        }
    };
    link.disconnect().await;
    Ok(state)
}

pub async fn run(
    broker: &BrokerArgs,
    to: Option<String>,
    args: BenchArgs,
    timeout: Duration,
) -> anyhow::Result<()> {
    let node = target(to)?;
    let mut report = json!({"node": node, "broker": broker.broker});
    if args.count > 0 {
        eprintln!("latency: {} sequential generate commands…", args.count);
        report["latency"] = latency(broker, &node, &args, timeout).await?;
    }
    if args.flood_clients > 0 && args.flood_count > 0 {
        eprintln!(
            "flood: {} clients x {} commands…",
            args.flood_clients, args.flood_count
        );
        report["flood"] = flood(broker, &node, &args, timeout).await?;
    }
    if args.json {
        println!("{report}");
    } else {
        print_report(&report);
    }
    let flood = &report["flood"];
    if !flood.is_null() && (flood["missing"] != 0 || flood["duplicates"] != 0) {
        anyhow::bail!(
            "flood: {} requests without an answer, {} answered twice",
            flood["missing"],
            flood["duplicates"]
        );
    }
    Ok(())
}

fn print_report(r: &Value) {
    println!("node {} via {}", r["node"], r["broker"]);
    if let Some(l) = r.get("latency") {
        for (name, key) in [
            ("round trip (publish -> event)", "round_trip"),
            ("engine (event latency_ms)", "engine"),
            ("control plane (difference)", "control_plane"),
        ] {
            let s = &l[key];
            println!(
                "  {name:32} median {:7.2} ms  p99 {:7.2} ms  max {:7.2} ms  (n={})",
                s["median_ms"].as_f64().unwrap_or(f64::NAN),
                s["p99_ms"].as_f64().unwrap_or(f64::NAN),
                s["max_ms"].as_f64().unwrap_or(f64::NAN),
                s["n"]
            );
        }
        println!("  errors: {}", l["errors"]);
    }
    if let Some(f) = r.get("flood") {
        println!(
            "flood: {} clients, {} sent, {} answered ({}), {} missing, {} duplicated",
            f["clients"], f["sent"], f["answered"], f["answers"], f["missing"], f["duplicates"]
        );
        println!(
            "  {:.1} s ({:.1} s to publish), {:.0} answers/s",
            f["seconds"].as_f64().unwrap_or(0.0),
            f["publish_seconds"].as_f64().unwrap_or(0.0),
            f["answers_per_second"].as_f64().unwrap_or(0.0)
        );
        println!("  health during: {}", f["health_during"]);
        println!("  after: {}", f["after"]);
    }
}

/// `P/N/cmd/generate`.
fn generate_topic(prefix: &str, node: &str) -> String {
    Topic::Command {
        prefix,
        node,
        command: command::GENERATE,
    }
    .to_string()
}

/// A `generate` payload with its request id.
fn generate_payload(request_id: &str, seed: u64, model: &Option<String>) -> String {
    serde_json::to_string(&GeneratePayload {
        request_id: Some(request_id.into()),
        seed: Some(seed),
        model: model.clone(),
    })
    .expect("a payload serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 51.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert!(percentile(&[], 50.0).is_nan());
        let s = summary(vec![3.0, 1.0, 2.0]);
        assert_eq!(s["median_ms"], 2.0);
        assert_eq!(s["max_ms"], 3.0);
    }
}
