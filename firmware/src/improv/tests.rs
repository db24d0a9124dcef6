//! Improv sessions replayed: a client's packets in, the device's packets
//! and requests out.

extern crate std;
use super::*;
use crate::improv::frame::{Decoder, Frame, encode};
use std::vec::Vec as StdVec;

const INFO: DeviceInfo = DeviceInfo {
    firmware: "easel-esp32c3",
    version: "0.1.0",
    chip: "ESP32-C3",
    name: "entrance",
};

fn site() -> SiteSettings {
    SiteSettings::new("old-net", "old-passphrase", "10.0.0.5:1883", "", "").unwrap()
}

/// An RPC packet as a client sends it.
fn rpc(command: u8, strings: &[&str]) -> StdVec<u8> {
    let strings: StdVec<&[u8]> = strings.iter().map(|s| s.as_bytes()).collect();
    let body = rpc::body(command, &strings).unwrap();
    let mut out: Vec<u8, 300> = Vec::new();
    encode(PacketType::Rpc, &body, &mut out).unwrap();
    out.to_vec()
}

/// What the device said, packet by packet, as the client reads it.
#[derive(Debug, PartialEq)]
enum Said {
    State(u8),
    Error(u8),
    Result(u8, StdVec<StdVec<u8>>),
}

fn said(out: &Outbox) -> StdVec<Said> {
    let mut d = Decoder::new();
    let mut found = StdVec::new();
    for &b in out.iter() {
        match d.push(b) {
            Some(Frame::Packet { kind: 1, data }) => found.push(Said::State(data[0])),
            Some(Frame::Packet { kind: 2, data }) => found.push(Said::Error(data[0])),
            Some(Frame::Packet { kind: 4, data }) => {
                let r = Rpc::parse(data).unwrap();
                let strings = r.strings::<8>().unwrap();
                found.push(Said::Result(
                    r.command,
                    strings.iter().map(|s| s.as_bytes().to_vec()).collect(),
                ));
            }
            Some(other) => panic!("device sent {other:?}"),
            None => {}
        }
    }
    found
}

/// Feeds `bytes`; returns what was said and the last request.
fn feed(p: &mut Provisioner, site: &SiteSettings, bytes: &[u8]) -> (StdVec<Said>, Option<Request>) {
    let mut out = Outbox::new();
    let mut request = None;
    for &b in bytes {
        if let Some(r) = p.handle_byte(b, site, &mut out) {
            request = Some(r);
        }
    }
    (said(&out), request)
}

fn strings(s: &[&str]) -> StdVec<StdVec<u8>> {
    s.iter().map(|s| s.as_bytes().to_vec()).collect()
}

#[test]
fn device_info_names_the_firmware_and_the_controller() {
    let mut p = Provisioner::new(INFO);
    let (said, req) = feed(&mut p, &site(), &rpc(0x03, &[]));
    assert_eq!(
        said,
        [Said::Result(
            0x03,
            strings(&["easel-esp32c3", "0.1.0", "ESP32-C3", "entrance"])
        )]
    );
    assert_eq!(req, None);
}

#[test]
fn current_state_follows_the_link() {
    let mut p = Provisioner::new(INFO);
    assert_eq!(
        feed(&mut p, &site(), &rpc(0x02, &[])).0,
        [Said::State(0x02)]
    );
    let mut out = Outbox::new();
    p.handle_link(true, &mut out);
    assert_eq!(said(&out), [Said::State(0x04)]);
    // Provisioned: the state, then a result (ESP Web Tools waits for it).
    assert_eq!(
        feed(&mut p, &site(), &rpc(0x02, &[])).0,
        [Said::State(0x04), Said::Result(0x02, StdVec::new())]
    );
    let mut out = Outbox::new();
    p.handle_link(true, &mut out);
    assert!(out.is_empty(), "no news, nothing said");
}

#[test]
fn wifi_settings_join_then_keep() {
    let mut p = Provisioner::new(INFO);
    let (first, req) = feed(&mut p, &site(), &rpc(0x01, &["gallery", "the-passphrase"]));
    assert_eq!(first, [Said::Error(0x00), Said::State(0x03)]);
    let want = site().with_wifi("gallery", "the-passphrase").unwrap();
    assert_eq!(req, Some(Request::Join(want)));
    // The link drops while the board switches networks: not news.
    let mut out = Outbox::new();
    p.handle_link(false, &mut out);
    assert!(out.is_empty());
    p.handle_joined(Ok(()), &mut out);
    assert_eq!(
        said(&out),
        [Said::State(0x04), Said::Result(0x01, StdVec::new())]
    );
    assert_eq!(p.state(), State::Provisioned);
}

#[test]
fn a_network_that_cannot_be_joined_is_reported_and_setup_can_go_on() {
    let mut p = Provisioner::new(INFO);
    feed(
        &mut p,
        &site(),
        &rpc(0x01, &["gallery", "wrong-passphrase"]),
    );
    let mut out = Outbox::new();
    p.handle_joined(Err(Failure::Join), &mut out);
    assert_eq!(said(&out), [Said::Error(0x03), Said::State(0x02)]);
    // A second try is accepted.
    let (_, req) = feed(
        &mut p,
        &site(),
        &rpc(0x01, &["gallery", "right-passphrase"]),
    );
    assert!(matches!(req, Some(Request::Join(_))));
}

#[test]
fn joined_but_not_kept_is_an_error() {
    let mut p = Provisioner::new(INFO);
    feed(&mut p, &site(), &rpc(0x01, &["gallery", "the-passphrase"]));
    let mut out = Outbox::new();
    p.handle_joined(Err(Failure::Storage), &mut out);
    assert_eq!(said(&out), [Said::Error(0xFF), Said::State(0x04)]);
}

#[test]
fn impossible_credentials_are_refused_before_anything_is_tried() {
    let mut p = Provisioner::new(INFO);
    for (ssid, pass) in [("", "the-passphrase"), ("gallery", "short")] {
        let (answer, req) = feed(&mut p, &site(), &rpc(0x01, &[ssid, pass]));
        assert_eq!(answer, [Said::Error(0x03)], "{ssid:?} {pass:?}");
        assert_eq!(req, None);
    }
    assert_eq!(p.state(), State::Ready);
}

#[test]
fn malformed_and_unknown_commands_get_the_spec_errors() {
    let mut p = Provisioner::new(INFO);
    // Scanning is not offered: ESP Web Tools then asks for the name.
    assert_eq!(
        feed(&mut p, &site(), &rpc(0x04, &[])).0,
        [Said::Error(0x02)]
    );
    // One string where two belong.
    assert_eq!(
        feed(&mut p, &site(), &rpc(0x01, &["gallery"])).0,
        [Said::Error(0x01)]
    );
    // Inner length that does not match.
    let mut out: Vec<u8, 64> = Vec::new();
    encode(PacketType::Rpc, &[0x01, 0x07, 0x01, b'x'], &mut out).unwrap();
    assert_eq!(feed(&mut p, &site(), &out).0, [Said::Error(0x01)]);
    // A damaged packet.
    let mut bad = rpc(0x02, &[]);
    bad[10] ^= 0xFF;
    assert_eq!(feed(&mut p, &site(), &bad).0, [Said::Error(0x01)]);
    // Our own packets echoed back are not commands.
    let mut echo: Vec<u8, 64> = Vec::new();
    encode(PacketType::CurrentState, &[0x02], &mut echo).unwrap();
    assert_eq!(feed(&mut p, &site(), &echo).0, []);
}

#[test]
fn the_broker_is_reported_and_set_without_the_password_ever_leaving() {
    let mut p = Provisioner::new(INFO);
    let current = site();
    assert_eq!(
        feed(&mut p, &current, &rpc(0xE0, &[])).0,
        [Said::Result(0xE0, strings(&["10.0.0.5:1883", ""]))]
    );
    let (said_now, req) = feed(
        &mut p,
        &current,
        &rpc(0xE0, &["mqtt://broker.gallery:1883", "entrance", "s3cret"]),
    );
    assert_eq!(said_now, []);
    let kept = current
        .with_broker("mqtt://broker.gallery:1883", "entrance", "s3cret")
        .unwrap();
    assert_eq!(req, Some(Request::Keep(kept.clone())));
    let mut out = Outbox::new();
    p.handle_kept(Ok(()), &kept, &mut out);
    assert_eq!(
        said(&out),
        [Said::Result(
            0xE0,
            strings(&["mqtt://broker.gallery:1883", "entrance"])
        )]
    );
    // A bare host (no login) is enough.
    let (_, req) = feed(&mut p, &kept, &rpc(0xE0, &["broker.gallery"]));
    assert_eq!(
        req,
        Some(Request::Keep(
            kept.with_broker("broker.gallery", "", "").unwrap()
        ))
    );
}

#[test]
fn a_broker_the_board_cannot_use_is_refused() {
    let mut p = Provisioner::new(INFO);
    for bad in ["mqtts://broker.gallery", "http://x", "broker gallery"] {
        let (answer, req) = feed(&mut p, &site(), &rpc(0xE0, &[bad]));
        assert_eq!(answer, [Said::Error(0x01)], "{bad}");
        assert_eq!(req, None);
    }
}

#[test]
fn one_change_at_a_time() {
    let mut p = Provisioner::new(INFO);
    feed(&mut p, &site(), &rpc(0x01, &["gallery", "the-passphrase"]));
    let (answer, req) = feed(&mut p, &site(), &rpc(0xE0, &["broker.gallery"]));
    assert_eq!(answer, [Said::Error(0xFF)]);
    assert_eq!(req, None);
    // Questions are still answered meanwhile.
    assert_eq!(
        feed(&mut p, &site(), &rpc(0x02, &[])).0,
        [Said::State(0x03)]
    );
    // A stray report for a request never made changes nothing.
    let mut out = Outbox::new();
    p.handle_kept(Ok(()), &site(), &mut out);
    assert!(out.is_empty());
}
