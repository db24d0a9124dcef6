//! The address other machines reach the gallery page at, for links that
//! leave the board (Home Assistant's image entity, OSC's
//! `/easel/generated`): the configured one, else made from the address
//! the page listens on. A listener on every interface (`0.0.0.0`) has no
//! single address to give, so the host name stands in for it; venues set
//! `[homeassistant] base_url` when that name does not resolve there.

use std::net::SocketAddr;

/// `http://host:port`, no trailing `/`.
pub fn base_url(configured: Option<&str>, http: SocketAddr, hostname: Option<&str>) -> String {
    if let Some(url) = configured {
        return url.trim_end_matches('/').to_string();
    }
    let port = http.port();
    let host = match http.ip() {
        ip if ip.is_unspecified() => hostname
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map_or_else(|| "127.0.0.1".to_string(), String::from),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("http://{host}:{port}")
}

/// The machine's host name, as `/etc/hostname` has it.
pub fn hostname() -> Option<String> {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_wins_then_the_listen_address_then_the_host_name() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(
            base_url(Some("https://art.example/"), addr("127.0.0.1:8080"), None),
            "https://art.example"
        );
        assert_eq!(
            base_url(None, addr("10.0.0.5:8080"), Some("board")),
            "http://10.0.0.5:8080"
        );
        assert_eq!(
            base_url(None, addr("0.0.0.0:8080"), Some("board\n")),
            "http://board:8080"
        );
        assert_eq!(base_url(None, addr("[::1]:80"), None), "http://[::1]:80");
    }
}
