//! The async MQTT driver: runs a [`Session`] over minimq and any
//! `embedded-io-async` byte stream.
//!
//! This is the only place where the session meets a network. The same
//! code runs on the boards (embassy-net TCP sockets) and in the Linux
//! controller (tokio TCP through an adapter), so the broker tests of the
//! Linux build exercise the firmware's MQTT stack byte for byte. minimq
//! speaks MQTT 5 only; brokers must accept v5 (mosquitto does).
//!
//! The driver loops: ask the session for an action, do it, report back;
//! when there is nothing to do, wait for whichever comes first: a packet
//! (minimq also sends keepalive pings from inside `poll`), a visitor
//! input, the reconnect deadline, or shutdown. On shutdown while connected
//! it publishes `offline` itself (retained) and disconnects cleanly, so a
//! controller switched off on purpose does not rely on the Last Will.

use crate::event::InputEvent;
use crate::session::{Action, Publication, Session, Update};
use crate::status_led::StatusPattern;
use core::future::Future;
use core::pin::pin;
use embassy_futures::select::{Either, Either3, select, select3};
use embassy_time::{Duration, Instant, Timer, with_timeout};
use minimq::{
    Buffers, ConfigBuilder, ConfigError, Connection, Io, PeerError, PubError, QoS,
    SubscriptionOptions, TopicFilter, Will,
};

/// How long to wait for TCP connect plus CONNACK.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a fresh byte stream to the broker for each connection attempt.
pub trait Connector {
    type Io<'a>: Io
    where
        Self: 'a;
    type Error: core::fmt::Debug;
    fn connect(&mut self) -> impl Future<Output = Result<Self::Io<'_>, Self::Error>>;
}

/// Where input events come from (a channel fed by the input task).
/// `next` must be cancel-safe: it is raced against the network.
pub trait Inputs {
    fn next(&mut self) -> impl Future<Output = InputEvent>;
}

/// What the rest of the controller wants to hear about. All optional.
pub trait Hooks {
    /// The daemon's status or palette changed.
    fn update(&mut self, _update: Update) {}
    /// A publication was handed to the transport at `now_ms`.
    fn published(&mut self, _publication: &Publication, _now_ms: u64) {}
    /// The status LED should show this.
    fn pattern(&mut self, _pattern: StatusPattern) {}
}

/// Milliseconds on the embassy clock (boot, or process start on Linux).
pub fn now_ms() -> u64 {
    Instant::now().as_millis()
}

/// minimq configuration for `session`: client id, keepalive, and the Last
/// Will `offline` (retained, QoS 1) on the controller's status topic.
pub fn client_config<'a>(
    session: &Session,
    buffers: Buffers<'a>,
) -> Result<ConfigBuilder<'a>, ConfigError> {
    let will = Will::new(&session.will_topic(), b"offline", &[])?
        .retained()
        .qos(QoS::AtLeastOnce);
    ConfigBuilder::new(buffers)
        .client_id(&session.client_id())?
        .keepalive_interval(session.config().keepalive_s)
        .will(will)
}

/// Runs the session until `shutdown` resolves.
pub async fn run<C: Connector, I: Inputs, H: Hooks>(
    session: &mut Session,
    client: &mut minimq::Session<'_>,
    connector: &mut C,
    inputs: &mut I,
    hooks: &mut H,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = pin!(shutdown);
    loop {
        hooks.pattern(session.status_pattern());
        let now = now_ms();
        if let Some(Action::Connect) = session.poll(now) {
            let Some(mut conn) = connect(session, client, connector).await else {
                continue;
            };
            session.handle_connected(now_ms());
            let stop = serve(session, &mut conn, inputs, hooks, &mut shutdown).await;
            if stop {
                let topic = session.will_topic();
                let offline = minimq::Publication::text(&topic, "offline")
                    .qos(QoS::AtLeastOnce)
                    .retain();
                let _ = with_timeout(Duration::from_secs(2), async {
                    let _ = conn.publish(offline).await;
                    let _ = conn.disconnect().await;
                })
                .await;
                return;
            }
            session.handle_disconnected(now_ms());
            continue;
        }
        // Down and waiting: keep queueing inputs until the retry time.
        let deadline = session.next_deadline().unwrap_or(now + 1000);
        let timer = Timer::at(Instant::from_millis(deadline));
        match select3(inputs.next(), timer, &mut shutdown).await {
            Either3::First(event) => session.handle_input(event),
            Either3::Second(()) => {}
            Either3::Third(()) => return,
        }
    }
}

async fn connect<'c, 'b, C: Connector>(
    session: &mut Session,
    client: &'c mut minimq::Session<'b>,
    connector: &'c mut C,
) -> Option<Connection<'c, 'b, C::Io<'c>>> {
    let attempt = async {
        let io = connector.connect().await.map_err(|_| false)?;
        client
            .connect(io)
            .await
            .map_err(|e| matches!(e, minimq::Error::Peer(PeerError::Rejected(_))))
    };
    match with_timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(Ok(conn)) => Some(conn),
        Ok(Err(refused)) => {
            session.handle_connect_failed(refused, now_ms());
            None
        }
        Err(_) => {
            session.handle_connect_failed(false, now_ms());
            None
        }
    }
}

/// Serves one connection; returns true on shutdown, false when it was lost.
async fn serve<IO: Io, I: Inputs, H: Hooks, S: Future<Output = ()> + Unpin>(
    session: &mut Session,
    conn: &mut Connection<'_, '_, IO>,
    inputs: &mut I,
    hooks: &mut H,
    shutdown: &mut S,
) -> bool {
    loop {
        while let Some(action) = session.poll(now_ms()) {
            match perform(conn, &action).await {
                Step::Done => {
                    if let Action::Publish(p) = &action {
                        hooks.published(p, now_ms());
                    }
                    session.handle_sent();
                }
                Step::Busy => break,
                Step::Lost => return false,
            }
        }
        hooks.pattern(session.status_pattern());
        match select(select(conn.poll(), inputs.next()), &mut *shutdown).await {
            Either::First(Either::First(Ok(Some(message)))) => {
                if let Some(update) = session.handle_message(message.topic(), message.payload()) {
                    hooks.update(update);
                }
            }
            Either::First(Either::First(Ok(None))) => {}
            Either::First(Either::First(Err(_))) => return false,
            Either::First(Either::Second(event)) => session.handle_input(event),
            Either::Second(()) => return true,
        }
    }
}

enum Step {
    Done,
    /// minimq's buffers are full of in-flight QoS 1 state: poll, retry.
    Busy,
    Lost,
}

async fn perform<IO: Io>(conn: &mut Connection<'_, '_, IO>, action: &Action) -> Step {
    match action {
        Action::Subscribe(topics) => {
            let options = SubscriptionOptions::default().maximum_qos(QoS::AtLeastOnce);
            let filters = [
                TopicFilter::new(&topics[0]).options(options),
                TopicFilter::new(&topics[1]).options(options),
            ];
            match conn.subscribe(&filters, &[]).await {
                Ok(_) => Step::Done,
                Err(minimq::Error::NotReady) => Step::Busy,
                Err(_) => Step::Lost,
            }
        }
        Action::Publish(p) => {
            let mut publication =
                minimq::Publication::bytes(&p.topic, &p.payload).qos(QoS::AtLeastOnce);
            if p.retain {
                publication = publication.retain();
            }
            match conn.publish(publication).await {
                Ok(_) => Step::Done,
                Err(PubError::Session(minimq::Error::NotReady)) => Step::Busy,
                Err(_) => Step::Lost,
            }
        }
        // the session never asks to connect while connected
        Action::Connect => Step::Lost,
    }
}
