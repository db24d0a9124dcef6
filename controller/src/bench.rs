//! `easel-controller bench`: how long from a pin edge to the MQTT publish
//! handed to the network stack, through the real session, minimq and a
//! real broker connection.
//!
//! Each sample: take the time, feed a button edge to the `Button` state
//! machine (debounce 0, so the edge is a press at once), send the event
//! down the same channel the panel uses, and stop the clock when the
//! driver reports the publish written to the socket. One event in flight
//! at a time, so this is latency, not throughput. A second figure is the
//! pure logic cost per event (session queue, JSON encoding), without IO.
//!
//! Debounce (10 ms) and the double-click window (250 ms) come on top on
//! real hardware by design; they are timings, not latency.

use crate::cli::BenchArgs;
use crate::link::{self, Console, Settings};
use anyhow::{Context, bail};
use easel_firmware::mqtt::now_ms;
use easel_firmware::session::Action;
use easel_firmware::{Button, ButtonTimings, InputEvent, Session, SessionConfig};
use easel_protocol::Signal;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicU8;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// A private mosquitto for the benchmark, stopped on drop.
struct PrivateBroker {
    child: Child,
    _dir: std::path::PathBuf,
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

fn start_mosquitto() -> anyhow::Result<(PrivateBroker, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let dir = std::env::temp_dir().join(format!("easel-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\n"),
    )?;
    let exe = ["mosquitto", "/usr/sbin/mosquitto"]
        .into_iter()
        .find(|m| {
            Command::new(m)
                .arg("-h")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
        })
        .context("no --broker given and mosquitto is not installed")?;
    let child = Command::new(exe)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting mosquitto")?;
    let addr = format!("127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(&addr).is_ok() {
            return Ok((PrivateBroker { child, _dir: dir }, addr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("mosquitto did not start on {addr}")
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let (_broker, addr) = match &args.broker {
        Some(a) => (None, a.clone()),
        None => {
            let (b, a) = start_mosquitto()?;
            (Some(b), a)
        }
    };
    let settings = Settings::new(&addr, "easel", "bench", "gallery-1")?;
    let (tx, rx) = mpsc::channel(8);
    let (ptx, mut published) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let hooks = Console {
        pattern: Arc::new(AtomicU8::new(0)),
        published: Some(ptx),
    };
    let session = link::run_session(&settings, rx, hooks, async {
        let _ = stop_rx.await;
    });

    let measure = async move {
        let timings = ButtonTimings {
            debounce_ms: 0,
            double_ms: 0,
            long_ms: u64::MAX,
        };
        let mut button = Button::new(timings);
        let mut samples = Vec::with_capacity(args.events as usize);
        // one warm-up event also waits for the connection
        for i in 0..=args.events {
            let t0 = Instant::now();
            let now = now_ms();
            let first = button.update(i % 2 == 0, now).into_iter().next();
            let Some(gesture) = first else {
                bail!("no gesture from an edge")
            };
            let event = InputEvent {
                input: "button1",
                signal: Signal::Button(gesture),
                at_ms: now,
            };
            tx.send(event).await.context("session stopped")?;
            let t1 = tokio::time::timeout(Duration::from_secs(15), published.recv())
                .await
                .context("no publish within 15 s: is the broker reachable?")?
                .context("session stopped")?;
            if i > 0 {
                samples.push(t1.duration_since(t0));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let _ = stop_tx.send(());
        Ok::<_, anyhow::Error>(samples)
    };
    let (done, mut samples) = tokio::join!(session, measure);
    done?;
    let samples = samples.as_mut().map_err(|e| anyhow::anyhow!("{e:#}"))?;
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let pct = |p: f64| us(samples[((samples.len() - 1) as f64 * p) as usize]);
    let mean = samples.iter().map(|&d| us(d)).sum::<f64>() / samples.len() as f64;
    println!(
        "input-to-publish over TCP to {addr} ({} events, one in flight):",
        samples.len()
    );
    println!(
        "  mean {mean:.0} us  p50 {:.0} us  p90 {:.0} us  p99 {:.0} us  max {:.0} us",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "  logic only (queue, JSON, topic), no IO: {:.0} ns/event",
        logic_cost()
    );
    Ok(())
}

/// Nanoseconds per event through a connected session without IO.
fn logic_cost() -> f64 {
    let mut s = match Session::new(SessionConfig::new("easel", "bench", "gallery-1"), 1) {
        Ok(s) => s,
        Err(_) => return f64::NAN,
    };
    s.poll(0);
    s.handle_connected(0);
    s.handle_sent();
    s.handle_sent();
    let n = 200_000u64;
    let event = InputEvent {
        input: "knob1",
        signal: Signal::Level(0.5),
        at_ms: 0,
    };
    let t0 = Instant::now();
    for _ in 0..n {
        s.handle_input(event);
        if let Some(Action::Publish(p)) = s.poll(0) {
            std::hint::black_box(&p);
            s.handle_sent();
        }
    }
    t0.elapsed().as_nanos() as f64 / n as f64
}
