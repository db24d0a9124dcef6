//! Where the broker is: the one address grammar every easel client
//! accepts, so that what a technician types for `easel ctl`, `easel
//! deploy`, `easel-controller`, a board's build settings or its on-site
//! setup is the same string.
//!
//! Accepted: `mqtt://host:port`, `mqtts://host:port`, `host:port`, and
//! each without the port (1883, or 8883 for `mqtts://`). A bare address is
//! plain MQTT. `host` is a DNS name, an IPv4 address, or an IPv6 address
//! in brackets (`[fd00::5]:1883`); one trailing `/` is tolerated (URLs get
//! pasted). Parsing borrows the host from the input: no allocation, so
//! the firmware uses it as is. Resolving the name is the caller's job.

use core::fmt;

/// Plain MQTT's port.
pub const DEFAULT_PORT: u16 = 1883;
/// MQTT over TLS's port.
pub const DEFAULT_TLS_PORT: u16 = 8883;

/// A parsed broker address; `host` has no brackets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerAddr<'a> {
    pub host: &'a str,
    pub port: u16,
    pub tls: bool,
}

/// Why a broker address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerAddrError {
    /// A scheme other than `mqtt://` or `mqtts://`.
    Scheme,
    /// Nothing before the port.
    EmptyHost,
    /// A character no host name or IP address has (`@`, `/`, a space…),
    /// or an IPv6 address without brackets.
    BadHost,
    /// Not a number from 1 to 65535.
    BadPort,
}

impl fmt::Display for BrokerAddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BrokerAddrError::Scheme => "the scheme must be mqtt:// or mqtts://",
            BrokerAddrError::EmptyHost => "the host is missing",
            BrokerAddrError::BadHost => {
                "the host must be a name, an IPv4 address or an [IPv6] address in brackets"
            }
            BrokerAddrError::BadPort => "the port must be a number from 1 to 65535",
        })
    }
}

/// Parses any of the accepted forms (see the module docs).
pub fn parse(address: &str) -> Result<BrokerAddr<'_>, BrokerAddrError> {
    let (rest, tls) = match address.split_once("://") {
        Some(("mqtt", rest)) => (rest, false),
        Some(("mqtts", rest)) => (rest, true),
        Some(_) => return Err(BrokerAddrError::Scheme),
        None => (address, false),
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port, bracketed) = if let Some(inner) = rest.strip_prefix('[') {
        let (host, after) = inner.split_once(']').ok_or(BrokerAddrError::BadHost)?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or(BrokerAddrError::BadPort)?),
        };
        (host, port, true)
    } else {
        match rest.split_once(':') {
            Some((_, port)) if port.contains(':') => return Err(BrokerAddrError::BadHost),
            Some((host, port)) => (host, Some(port), false),
            None => (rest, None, false),
        }
    };
    if host.is_empty() {
        return Err(BrokerAddrError::EmptyHost);
    }
    let allowed = |c: char| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') || (bracketed && c == ':')
    };
    if !host.chars().all(allowed) || (bracketed && !host.contains(':')) {
        return Err(BrokerAddrError::BadHost);
    }
    let port = match port {
        None if tls => DEFAULT_TLS_PORT,
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            // `+1` parses as a u16; a port is digits only.
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(BrokerAddrError::BadPort),
        },
    };
    Ok(BrokerAddr { host, port, tls })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(host: &str, port: u16, tls: bool) -> Result<BrokerAddr<'_>, BrokerAddrError> {
        Ok(BrokerAddr { host, port, tls })
    }

    #[test]
    fn every_accepted_form() {
        let cases = [
            ("mqtt://10.0.0.5:1884", ok("10.0.0.5", 1884, false)),
            ("10.0.0.5:1884", ok("10.0.0.5", 1884, false)),
            ("10.0.0.5", ok("10.0.0.5", 1883, false)),
            ("mqtt://broker.gallery", ok("broker.gallery", 1883, false)),
            ("broker.gallery:1883", ok("broker.gallery", 1883, false)),
            ("mqtts://broker.gallery", ok("broker.gallery", 8883, true)),
            (
                "mqtts://broker.gallery:8884/",
                ok("broker.gallery", 8884, true),
            ),
            ("mqtt://[::1]:1884/", ok("::1", 1884, false)),
            ("[fd00::5]", ok("fd00::5", 1883, false)),
            (
                "pi-5_gallery.local:1883",
                ok("pi-5_gallery.local", 1883, false),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(parse(input), expected, "{input}");
        }
    }

    #[test]
    fn refusals_name_the_part_that_is_wrong() {
        let cases = [
            ("http://x:1", BrokerAddrError::Scheme),
            ("tcp://x", BrokerAddrError::Scheme),
            ("mqtt://:1883", BrokerAddrError::EmptyHost),
            (":1883", BrokerAddrError::EmptyHost),
            ("", BrokerAddrError::EmptyHost),
            ("mqtt://h:port", BrokerAddrError::BadPort),
            ("h:0", BrokerAddrError::BadPort),
            ("h:65536", BrokerAddrError::BadPort),
            ("h:+1", BrokerAddrError::BadPort),
            ("h:", BrokerAddrError::BadPort),
            ("[::1]1883", BrokerAddrError::BadPort),
            ("mqtt://u@h:1", BrokerAddrError::BadHost),
            ("h/x:1", BrokerAddrError::BadHost),
            ("my broker:1883", BrokerAddrError::BadHost),
            // Unbracketed IPv6 would be read as host "fd00" and a port.
            ("fd00::5:1883", BrokerAddrError::BadHost),
            ("mqtt://::1", BrokerAddrError::BadHost),
            ("[::1", BrokerAddrError::BadHost),
            ("[gallery]:1883", BrokerAddrError::BadHost),
        ];
        for (input, expected) in cases {
            assert_eq!(parse(input), Err(expected), "{input}");
        }
    }
}
