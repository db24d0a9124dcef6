//! Availability payloads for `P/N/status` and `P/ctl/<id>/status`:
//! plain text, retained. `offline` is always the Last Will.

/// The three availability states of a daemon or controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Connected and serving; published on every (re)connect.
    Online,
    /// Gone without saying goodbye: the broker publishes it as Last Will.
    Offline,
    /// Shut down cleanly on purpose.
    Stopped,
}

impl Availability {
    /// The payload text.
    pub const fn as_str(self) -> &'static str {
        match self {
            Availability::Online => "online",
            Availability::Offline => "offline",
            Availability::Stopped => "stopped",
        }
    }

    /// Parses a payload, tolerating surrounding whitespace.
    pub fn parse(payload: &[u8]) -> Option<Availability> {
        match core::str::from_utf8(payload).ok()?.trim() {
            "online" => Some(Availability::Online),
            "offline" => Some(Availability::Offline),
            "stopped" => Some(Availability::Stopped),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for a in [
            Availability::Online,
            Availability::Offline,
            Availability::Stopped,
        ] {
            assert_eq!(Availability::parse(a.as_str().as_bytes()), Some(a));
        }
        assert_eq!(Availability::parse(b"online\n"), Some(Availability::Online));
        assert_eq!(Availability::parse(b"maybe"), None);
        assert_eq!(Availability::parse(&[0xff]), None);
    }
}
