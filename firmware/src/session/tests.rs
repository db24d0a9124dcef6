//! Session scenarios: the driver's calls replayed as data.

use super::*;
use easel_protocol::{ButtonEvent, Rgb, Signal};

const CONFIG: SessionConfig = SessionConfig::new("easel", "ctl-1", "gallery-1");

fn session() -> Session {
    Session::new(CONFIG, 7).unwrap()
}

fn click(at_ms: u64) -> InputEvent {
    InputEvent {
        input: "button1",
        signal: Signal::Button(ButtonEvent::Click),
        at_ms,
    }
}

fn publication(action: Option<Action>) -> (std::string::String, std::string::String, bool) {
    extern crate std;
    match action {
        Some(Action::Publish(p)) => (
            p.topic.as_str().into(),
            std::string::String::from_utf8(p.payload.to_vec()).unwrap(),
            p.retain,
        ),
        other => panic!("expected a publish, got {other:?}"),
    }
}

extern crate std;

/// Connects and acknowledges subscribe + online.
fn connect(s: &mut Session, now: u64) {
    assert_eq!(s.poll(now), Some(Action::Connect));
    s.handle_connected(now);
    assert!(matches!(s.poll(now), Some(Action::Subscribe(_))));
    s.handle_sent();
    assert!(matches!(s.poll(now), Some(Action::Publish(_))));
    s.handle_sent();
}

#[test]
fn connect_subscribes_then_announces_online_retained() {
    let mut s = session();
    assert_eq!(s.client_id().as_str(), "easel-ctl-ctl-1");
    assert_eq!(s.will_topic().as_str(), "easel/ctl/ctl-1/status");
    assert_eq!(s.will_payload(), "offline");
    assert_eq!(s.status_pattern(), StatusPattern::SlowBlink);
    assert_eq!(s.poll(0), Some(Action::Connect));
    assert_eq!(s.poll(1), None, "waits for the driver while connecting");
    s.handle_connected(5);
    match s.poll(5) {
        Some(Action::Subscribe([a, b])) => {
            assert_eq!(a.as_str(), "easel/gallery-1/status");
            assert_eq!(b.as_str(), "easel/gallery-1/palette");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(s.poll(5), Some(Action::Subscribe(_))),
        "repeats until acknowledged"
    );
    s.handle_sent();
    let online = publication(s.poll(5));
    assert_eq!(
        online,
        ("easel/ctl/ctl-1/status".into(), "online".into(), true)
    );
    s.handle_sent();
    assert_eq!(s.poll(5), None);
    assert_eq!(
        s.status_pattern(),
        StatusPattern::Blip,
        "daemon not seen yet"
    );
}

#[test]
fn inputs_publish_on_the_input_topic_in_order() {
    let mut s = session();
    connect(&mut s, 0);
    s.handle_input(click(10));
    s.handle_input(InputEvent {
        input: "knob1",
        signal: Signal::Level(0.5),
        at_ms: 11,
    });
    let first = publication(s.poll(12));
    assert_eq!(
        first,
        (
            "easel/ctl/ctl-1/input".into(),
            r#"{"input":"button1","event":"click"}"#.into(),
            false
        )
    );
    s.handle_sent();
    let second = publication(s.poll(12));
    assert_eq!(second.1, r#"{"input":"knob1","value":0.5}"#);
    s.handle_sent();
    assert_eq!(s.poll(13), None);
}

#[test]
fn events_during_an_outage_wait_and_stale_ones_are_dropped() {
    let mut s = session();
    connect(&mut s, 0);
    s.handle_disconnected(100);
    s.handle_input(click(200)); // will be stale
    s.handle_input(click(5_000)); // fresh enough
    let retry = s.next_deadline().unwrap();
    assert!(
        (100 + 375..=100 + 625).contains(&retry),
        "first retry after ~0.5 s: {retry}"
    );
    connect(&mut s, 6_000);
    let (_, payload, _) = publication(s.poll(6_000));
    assert!(payload.contains("click"));
    s.handle_sent();
    assert_eq!(s.poll(6_000), None);
    assert_eq!(s.dropped(), 1);
}

#[test]
fn a_failed_publish_is_retried_after_reconnect() {
    let mut s = session();
    connect(&mut s, 0);
    s.handle_input(click(10));
    assert!(matches!(s.poll(10), Some(Action::Publish(_))));
    s.handle_disconnected(11); // the publish did not go out
    let at = s.next_deadline().unwrap();
    connect(&mut s, at);
    assert!(publication(s.poll(at)).1.contains("click"));
}

#[test]
fn full_queue_drops_the_oldest() {
    let mut s = session();
    for i in 0..(QUEUE as u64 + 3) {
        s.handle_input(click(i));
    }
    assert_eq!(s.dropped(), 3);
}

#[test]
fn backoff_grows_caps_and_resets_after_a_stable_connection() {
    let mut s = session();
    let mut now = 0;
    let mut delays = std::vec::Vec::new();
    for _ in 0..10 {
        assert_eq!(s.poll(now), Some(Action::Connect));
        s.handle_connect_failed(false, now);
        let next = s.next_deadline().unwrap();
        assert_eq!(s.poll(next - 1), None, "no attempt before the deadline");
        delays.push(next - now);
        now = next;
    }
    // (base, attempt) with ±25 % jitter: 0.5, 1, 2, 4, 8, 16, 30, 30 … s
    let bases = [
        500u64, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000,
    ];
    for (d, b) in delays.iter().zip(bases) {
        assert!(*d >= b * 3 / 4 && *d <= b * 5 / 4, "{delays:?}");
    }
    // an unstable connection (dropped at once) keeps the backoff high
    s.poll(now);
    s.handle_connected(now);
    s.handle_disconnected(now + 100);
    assert!(s.next_deadline().unwrap() - (now + 100) >= 30_000 * 3 / 4);
    // a stable one resets it
    now = s.next_deadline().unwrap();
    s.poll(now);
    s.handle_connected(now);
    s.handle_disconnected(now + STABLE_MS);
    assert!(s.next_deadline().unwrap() - (now + STABLE_MS) <= 625);
}

#[test]
fn refusal_blinks_fast_and_waits_long() {
    let mut s = session();
    s.poll(0);
    s.handle_connect_failed(true, 0);
    assert_eq!(s.status_pattern(), StatusPattern::FastBlink);
    assert!(s.next_deadline().unwrap() >= 30_000 * 3 / 4);
    let at = s.next_deadline().unwrap();
    connect(&mut s, at);
    assert_eq!(s.status_pattern(), StatusPattern::Blip);
}

#[test]
fn daemon_messages_table() {
    let cases: &[(&str, &[u8], Option<Update>)] = &[
        (
            "easel/gallery-1/status",
            b"online",
            Some(Update::Daemon(Availability::Online)),
        ),
        (
            "easel/gallery-1/status",
            b"stopped",
            Some(Update::Daemon(Availability::Stopped)),
        ),
        ("easel/gallery-1/status", b"garbage", None),
        ("easel/other/status", b"online", None),
        (
            "easel/gallery-1/palette",
            b"#ff0000,#00ff00",
            Some(Update::Palette(Palette::new(&[
                Rgb(255, 0, 0),
                Rgb(0, 255, 0),
            ]))),
        ),
        ("easel/gallery-1/palette", b"not a palette", None),
        ("elsewhere/gallery-1/palette", b"#ff0000", None),
        ("easel/gallery-1/state", b"{}", None),
    ];
    for (topic, payload, want) in cases {
        let mut s = session();
        assert_eq!(s.handle_message(topic, payload), *want, "{topic}");
    }
    let mut s = session();
    connect(&mut s, 0);
    s.handle_message("easel/gallery-1/status", b"online");
    assert_eq!(s.status_pattern(), StatusPattern::Steady);
    s.handle_message("easel/gallery-1/status", b"offline");
    assert_eq!(s.status_pattern(), StatusPattern::Blip);
}

#[test]
fn bad_configs_are_refused() {
    let cases = [
        (
            SessionConfig::new("easel", "Bad Id", "g"),
            ConfigError::BadId,
        ),
        (SessionConfig::new("easel", "c", ""), ConfigError::BadNode),
        (SessionConfig::new("a/b", "c", "g"), ConfigError::BadPrefix),
        (SessionConfig::new("", "c", "g"), ConfigError::BadPrefix),
        (
            SessionConfig::new("abcdefghijklmnopqrstuvwxyz", "c", "g"),
            ConfigError::BadPrefix,
        ),
    ];
    for (config, want) in cases {
        assert_eq!(Session::new(config, 1).unwrap_err(), want);
    }
}
