//! The controller's link to the broker: a tokio TCP connector for the
//! firmware's MQTT driver, the input channel, and hooks that report what
//! the daemon says.

use crate::cli::Cli;
use anyhow::Context;
use easel_firmware::mqtt::{self, Connector, Hooks, Inputs};
use easel_firmware::session::{Publication, Update};
use easel_firmware::{InputEvent, Session, SessionConfig, StatusPattern};
use embedded_io_adapters::tokio_1::FromTokio;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Validated settings for one controller.
#[derive(Debug, Clone)]
pub struct Settings {
    pub broker: String,
    pub session: SessionConfig,
    /// (user, password) for a broker that wants a login.
    pub login: Option<(String, String)>,
}

impl Settings {
    /// Checks the names (the session does) and fixes them for the life of
    /// the process: the firmware's session borrows `'static` names, as a
    /// board's compile-time constants are.
    pub fn from_cli(cli: &Cli) -> anyhow::Result<Settings> {
        let mut settings = Settings::new(&cli.broker, &cli.prefix, &cli.id, &cli.node)?;
        if let Some(user) = &cli.username {
            let password = std::env::var("EASEL_MQTT_PASSWORD").unwrap_or_default();
            settings.login = Some((user.clone(), password));
        }
        Ok(settings)
    }

    pub fn new(broker: &str, prefix: &str, id: &str, node: &str) -> anyhow::Result<Settings> {
        let leak = |s: &str| -> &'static str { Box::leak(s.to_owned().into_boxed_str()) };
        let session = SessionConfig::new(leak(prefix), leak(id), leak(node));
        Session::new(session, 1).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Settings {
            broker: connect_address(broker)?,
            session,
            login: None,
        })
    }
}

/// The `host:port` to connect to for a broker address in any form the
/// tools accept (`mqtt://host:port`, `host:port`, a DNS name or an IP;
/// `easel_protocol::broker`). The name is resolved at every connection
/// attempt, so a broker that moves to another address is found again.
pub fn connect_address(broker: &str) -> anyhow::Result<String> {
    let addr = easel_protocol::broker::parse(broker).map_err(|e| {
        anyhow::anyhow!(
            "--broker {broker:?} is not a broker address (mqtt://host:port or host:port): {e}"
        )
    })?;
    anyhow::ensure!(
        !addr.tls,
        "--broker {broker:?}: the controller speaks plain MQTT (mqtt://), not TLS"
    );
    Ok(if addr.host.contains(':') {
        format!("[{}]:{}", addr.host, addr.port)
    } else {
        format!("{}:{}", addr.host, addr.port)
    })
}

/// Connects a fresh TCP stream per attempt (Nagle off: an input event is
/// one small packet that should leave at once).
pub struct Tcp {
    pub addr: String,
}

impl Connector for Tcp {
    type Io<'a> = FromTokio<TcpStream>;
    type Error = std::io::Error;

    async fn connect(&mut self) -> std::io::Result<FromTokio<TcpStream>> {
        let stream = TcpStream::connect(&self.addr).await?;
        stream.set_nodelay(true)?;
        Ok(FromTokio::new(stream))
    }
}

/// Input events from the panel task.
pub struct Channel(pub mpsc::Receiver<InputEvent>);

impl Inputs for Channel {
    async fn next(&mut self) -> InputEvent {
        match self.0.recv().await {
            Some(e) => e,
            // the panel stopped: nothing more will come
            None => std::future::pending().await,
        }
    }
}

/// Prints what the daemon says and keeps the LED pattern for the LED loop.
pub struct Console {
    pub pattern: Arc<AtomicU8>,
    pub published: Option<mpsc::UnboundedSender<std::time::Instant>>,
}

impl Hooks for Console {
    fn update(&mut self, update: Update) {
        match update {
            Update::Daemon(a) => eprintln!("daemon: {}", a.as_str()),
            Update::Palette(p) => eprintln!("palette: {p}"),
        }
    }

    fn published(&mut self, publication: &Publication, _now_ms: u64) {
        if let Some(tx) = &self.published
            && publication.event_at_ms.is_some()
        {
            let _ = tx.send(std::time::Instant::now());
        }
    }

    fn pattern(&mut self, pattern: StatusPattern) {
        let code = pattern as u8;
        if self.pattern.swap(code, Ordering::Relaxed) != code {
            eprintln!("status: {}", describe(pattern));
        }
    }
}

/// The LED pattern stored in [`Console::pattern`].
pub fn pattern_from(code: u8) -> StatusPattern {
    [
        StatusPattern::Off,
        StatusPattern::Steady,
        StatusPattern::Blip,
        StatusPattern::SlowBlink,
        StatusPattern::FastBlink,
    ]
    .get(code as usize)
    .copied()
    .unwrap_or(StatusPattern::SlowBlink)
}

fn describe(p: StatusPattern) -> &'static str {
    match p {
        StatusPattern::Off => "off",
        StatusPattern::Steady => "connected, daemon online",
        StatusPattern::Blip => "connected, daemon not online",
        StatusPattern::SlowBlink => "broker unreachable, retrying",
        StatusPattern::FastBlink => "refused by the broker",
    }
}

/// Runs the MQTT session until `shutdown`; publishes `offline` on the way out.
pub async fn run_session(
    settings: &Settings,
    inputs: mpsc::Receiver<InputEvent>,
    mut hooks: Console,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let seed = std::process::id() ^ (mqtt::now_ms() as u32);
    let mut session = Session::new(settings.session, seed).map_err(|e| anyhow::anyhow!("{e}"))?;
    let rx = Box::leak(Box::new([0u8; 1024]));
    let tx = Box::leak(Box::new([0u8; 2048]));
    let mut config = mqtt::client_config(&session, minimq::Buffers::new(rx, tx))
        .map_err(|e| anyhow::anyhow!("MQTT client configuration: {e}"))
        .context("building the controller's MQTT session")?;
    if let Some((user, password)) = &settings.login {
        // minimq borrows the login for the life of the session, as a
        // board's compile-time constants are.
        let user: &'static str = Box::leak(user.clone().into_boxed_str());
        let password: &'static [u8] = Box::leak(password.clone().into_bytes().into_boxed_slice());
        config = config
            .auth(user, password)
            .map_err(|e| anyhow::anyhow!("MQTT login: {e}"))?;
    }
    let mut client = minimq::Session::new(config);
    let mut tcp = Tcp {
        addr: settings.broker.clone(),
    };
    let mut channel = Channel(inputs);
    mqtt::run(
        &mut session,
        &mut client,
        &mut tcp,
        &mut channel,
        &mut hooks,
        shutdown,
    )
    .await;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn signals() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod address_tests {
    use super::connect_address;

    #[test]
    fn the_tools_broker_forms_are_accepted() {
        for (given, connect) in [
            ("127.0.0.1:1884", "127.0.0.1:1884"),
            ("mqtt://127.0.0.1:1884", "127.0.0.1:1884"),
            ("mqtt://broker.gallery", "broker.gallery:1883"),
            ("broker.gallery", "broker.gallery:1883"),
            ("mqtt://[::1]:1884/", "[::1]:1884"),
        ] {
            assert_eq!(connect_address(given).unwrap(), connect, "{given}");
        }
    }

    #[test]
    fn tls_and_nonsense_are_refused_with_the_reason() {
        let e = connect_address("mqtts://broker.gallery").unwrap_err();
        assert!(e.to_string().contains("plain MQTT"), "{e}");
        let e = connect_address("http://broker.gallery:1883").unwrap_err();
        assert!(e.to_string().contains("mqtt:// or mqtts://"), "{e}");
        let e = connect_address("broker.gallery:port").unwrap_err();
        assert!(e.to_string().contains("port"), "{e}");
    }
}
