//! The settings a controller is given on site: WiFi network, broker and
//! broker login. They start as the build-time values and are replaced over
//! the USB serial port (Improv, see [`crate::improv`]); a board keeps them
//! in one flash sector as the record this module encodes.
//!
//! The record is versioned and checksummed, so blank flash (all `0xFF`), a
//! record from another firmware or one torn by a power cut mid-write reads
//! as "none" and the board falls back to its build-time settings instead
//! of joining a garbage network. Every constructor validates: a record
//! that decodes is one the board can use. No IO here.

use core::fmt;
use easel_protocol::broker;
use heapless::String;

/// Longest WiFi network name (802.11).
pub const MAX_SSID: usize = 32;
/// Longest WPA2 passphrase.
pub const MAX_PASSPHRASE: usize = 63;
/// Longest broker address (`mqtt://` + a long host name + `:65535`).
pub const MAX_BROKER: usize = 96;
/// Longest MQTT username or password kept.
pub const MAX_LOGIN: usize = 64;
/// Bytes a record takes at most; boards reserve this much (in one sector).
pub const RECORD_LEN: usize = 512;

/// `EASL` + record format 1.
const MAGIC: [u8; 5] = *b"EASL\x01";

/// Where the controller connects, as set on site (or at build time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteSettings {
    /// Empty only for a controller built without a network, until setup
    /// gives it one ([`SiteSettings::without_wifi`]).
    ssid: String<MAX_SSID>,
    /// Empty: an open network.
    passphrase: String<MAX_PASSPHRASE>,
    /// Any form of [`easel_protocol::broker`] except `mqtts://` (the
    /// boards speak plain MQTT).
    broker: String<MAX_BROKER>,
    /// Empty: connect without a login.
    username: String<MAX_LOGIN>,
    password: String<MAX_LOGIN>,
}

/// Why a setting was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteError {
    /// Not 1 to 32 bytes.
    Ssid,
    /// Not empty (open network) nor 8 to 63 ASCII characters.
    Passphrase,
    /// Not a broker address the boards can reach.
    Broker(broker::BrokerAddrError),
    /// `mqtts://`: the boards have no TLS.
    BrokerTls,
    /// A username or password longer than 64 bytes, or a password
    /// without a username.
    Login,
}

impl fmt::Display for SiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SiteError::Ssid => f.write_str("WiFi network name must be 1 to 32 bytes"),
            SiteError::Passphrase => f.write_str(
                "WiFi passphrase must be empty (open network) or 8 to 63 ASCII characters",
            ),
            SiteError::Broker(e) => write!(f, "broker address: {e}"),
            SiteError::BrokerTls => f.write_str("the controller speaks plain MQTT, not mqtts://"),
            SiteError::Login => f.write_str(
                "MQTT username and password must be at most 64 bytes, a password needs a username",
            ),
        }
    }
}

/// Why a stored record was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// No record (blank flash or another format).
    Absent,
    /// A record whose checksum or lengths do not add up (torn write).
    Corrupt,
    /// A well-formed record with a value this firmware refuses.
    Invalid(SiteError),
}

fn text<const N: usize>(s: &str, err: SiteError) -> Result<String<N>, SiteError> {
    String::try_from(s).map_err(|_| err)
}

impl SiteSettings {
    /// Validates every value.
    pub fn new(
        ssid: &str,
        passphrase: &str,
        broker: &str,
        username: &str,
        password: &str,
    ) -> Result<SiteSettings, SiteError> {
        if ssid.is_empty() {
            return Err(SiteError::Ssid);
        }
        let pass_ok = passphrase.is_empty()
            || ((8..=MAX_PASSPHRASE).contains(&passphrase.len()) && passphrase.is_ascii());
        if !pass_ok {
            return Err(SiteError::Passphrase);
        }
        let addr = broker::parse(broker).map_err(SiteError::Broker)?;
        if addr.tls {
            return Err(SiteError::BrokerTls);
        }
        if username.is_empty() && !password.is_empty() {
            return Err(SiteError::Login);
        }
        Ok(SiteSettings {
            ssid: text(ssid, SiteError::Ssid)?,
            passphrase: text(passphrase, SiteError::Passphrase)?,
            broker: text(broker, SiteError::Broker(broker::BrokerAddrError::BadHost))?,
            username: text(username, SiteError::Login)?,
            password: text(password, SiteError::Login)?,
        })
    }

    /// Settings without a network yet: a controller built for no venue in
    /// particular, which joins nothing until setup gives it a network.
    pub fn without_wifi(
        broker: &str,
        username: &str,
        password: &str,
    ) -> Result<SiteSettings, SiteError> {
        let mut site = SiteSettings::new("-", "", broker, username, password)?;
        site.ssid.clear();
        Ok(site)
    }

    /// Whether there is a network to join.
    pub fn has_wifi(&self) -> bool {
        !self.ssid.is_empty()
    }

    /// The same settings on another WiFi network.
    pub fn with_wifi(&self, ssid: &str, passphrase: &str) -> Result<SiteSettings, SiteError> {
        SiteSettings::new(
            ssid,
            passphrase,
            &self.broker,
            &self.username,
            &self.password,
        )
    }

    /// The same network with another broker and login.
    pub fn with_broker(
        &self,
        broker: &str,
        username: &str,
        password: &str,
    ) -> Result<SiteSettings, SiteError> {
        SiteSettings::new(&self.ssid, &self.passphrase, broker, username, password)
    }

    pub fn ssid(&self) -> &str {
        &self.ssid
    }

    pub fn passphrase(&self) -> &str {
        &self.passphrase
    }

    /// The broker address as given.
    pub fn broker_text(&self) -> &str {
        &self.broker
    }

    /// The broker's host (a name to resolve, or an IP) and port.
    pub fn broker(&self) -> broker::BrokerAddr<'_> {
        // Validated in `new`, the only constructor.
        broker::parse(&self.broker).unwrap_or(broker::BrokerAddr {
            host: "",
            port: broker::DEFAULT_PORT,
            tls: false,
        })
    }

    /// `(username, password)` when the broker wants a login.
    pub fn login(&self) -> Option<(&str, &str)> {
        (!self.username.is_empty()).then_some((&self.username, &self.password))
    }

    /// The record for flash: magic, five length-prefixed fields, CRC-32 of
    /// all that; the rest of the buffer stays `0xFF` (erased flash).
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut out = [0xFF; RECORD_LEN];
        out[..MAGIC.len()].copy_from_slice(&MAGIC);
        let mut at = MAGIC.len();
        for field in self.fields() {
            out[at] = field.len() as u8;
            out[at + 1..at + 1 + field.len()].copy_from_slice(field.as_bytes());
            at += 1 + field.len();
        }
        let crc = crc32(&out[..at]);
        out[at..at + 4].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Reads a record written by [`SiteSettings::encode`].
    pub fn decode(record: &[u8]) -> Result<SiteSettings, RecordError> {
        if !record.starts_with(&MAGIC) {
            return Err(RecordError::Absent);
        }
        let mut fields = [""; 5];
        let mut at = MAGIC.len();
        for field in &mut fields {
            let len = *record.get(at).ok_or(RecordError::Corrupt)? as usize;
            let bytes = record
                .get(at + 1..at + 1 + len)
                .ok_or(RecordError::Corrupt)?;
            *field = core::str::from_utf8(bytes).map_err(|_| RecordError::Corrupt)?;
            at += 1 + len;
        }
        let stored = record.get(at..at + 4).ok_or(RecordError::Corrupt)?;
        if crc32(&record[..at]).to_le_bytes() != stored {
            return Err(RecordError::Corrupt);
        }
        let [ssid, passphrase, broker, username, password] = fields;
        SiteSettings::new(ssid, passphrase, broker, username, password)
            .map_err(RecordError::Invalid)
    }

    fn fields(&self) -> [&str; 5] {
        [
            &self.ssid,
            &self.passphrase,
            &self.broker,
            &self.username,
            &self.password,
        ]
    }
}

/// CRC-32 (IEEE, reflected, as zlib): bitwise, a record is a few hundred
/// bytes written once per setup.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

    fn gallery() -> SiteSettings {
        SiteSettings::new(
            "gallery",
            "the-passphrase",
            "broker.gallery:1883",
            "ctl-1",
            "s3cret",
        )
        .unwrap()
    }

    #[test]
    fn crc_is_zlibs() {
        // The standard check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let s = gallery();
        assert_eq!(SiteSettings::decode(&s.encode()), Ok(s.clone()));
        let open = s.with_wifi("open-net", "").unwrap();
        assert_eq!(SiteSettings::decode(&open.encode()), Ok(open));
        let longest = SiteSettings::new(
            &"s".repeat(MAX_SSID),
            &"p".repeat(MAX_PASSPHRASE),
            &format!("mqtt://{}:65535", "h".repeat(MAX_BROKER - 13)),
            &"u".repeat(MAX_LOGIN),
            &"w".repeat(MAX_LOGIN),
        )
        .unwrap();
        assert_eq!(SiteSettings::decode(&longest.encode()), Ok(longest));
    }

    #[test]
    fn blank_flash_is_no_record() {
        assert_eq!(
            SiteSettings::decode(&[0xFF; RECORD_LEN]),
            Err(RecordError::Absent)
        );
    }

    #[test]
    fn a_torn_or_flipped_record_is_not_used() {
        let good = gallery().encode();
        // A write cut short: the tail is still erased.
        let mut torn = good;
        torn[20..].fill(0xFF);
        assert_eq!(SiteSettings::decode(&torn), Err(RecordError::Corrupt));
        // One flipped bit anywhere in the fields or the checksum.
        let used = MAGIC.len()
            + gallery()
                .fields()
                .iter()
                .map(|f| 1 + f.len())
                .sum::<usize>()
            + 4;
        for at in MAGIC.len()..used {
            let mut bad = good;
            bad[at] ^= 0x04;
            assert!(SiteSettings::decode(&bad).is_err(), "byte {at}");
        }
    }

    #[test]
    fn bad_values_are_refused_and_say_which() {
        let s = gallery();
        assert_eq!(s.with_wifi("", "the-passphrase"), Err(SiteError::Ssid));
        assert_eq!(
            s.with_wifi(&"s".repeat(33), "the-passphrase"),
            Err(SiteError::Ssid)
        );
        assert_eq!(s.with_wifi("g", "short"), Err(SiteError::Passphrase));
        assert_eq!(
            s.with_wifi("g", &"p".repeat(64)),
            Err(SiteError::Passphrase)
        );
        assert_eq!(
            s.with_broker("mqtts://broker.gallery", "", ""),
            Err(SiteError::BrokerTls)
        );
        assert!(matches!(
            s.with_broker("broker gallery", "", ""),
            Err(SiteError::Broker(_))
        ));
        assert_eq!(s.with_broker("h:1883", "", "pw"), Err(SiteError::Login));
        assert_eq!(
            s.with_broker("h:1883", &"u".repeat(65), ""),
            Err(SiteError::Login)
        );
    }

    #[test]
    fn a_controller_without_a_network_gets_one_from_setup() {
        let bare = SiteSettings::without_wifi("broker.gallery", "", "").unwrap();
        assert!(!bare.has_wifi());
        assert_eq!(bare.ssid(), "");
        let joined = bare.with_wifi("gallery", "the-passphrase").unwrap();
        assert!(joined.has_wifi());
        assert_eq!(joined.broker_text(), "broker.gallery");
        assert!(gallery().has_wifi());
        // A broker is still required and checked.
        assert!(SiteSettings::without_wifi("mqtts://x", "", "").is_err());
    }

    #[test]
    fn the_broker_and_login_are_what_was_given() {
        let s = gallery().with_broker("mqtt://10.0.0.5", "", "").unwrap();
        assert_eq!(s.broker().host, "10.0.0.5");
        assert_eq!(s.broker().port, 1883);
        assert_eq!(s.login(), None);
        assert_eq!(gallery().login(), Some(("ctl-1", "s3cret")));
        assert_eq!(s.ssid(), "gallery");
    }
}
