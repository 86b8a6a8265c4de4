//! Where a host is: `host:port` as typed, scanned, linked or discovered, normalised so the same
//! host always gives the same key for its pinned fingerprint.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::error::AppError;
use crate::options::DEFAULT_HTTPS_PORT;

/// A host's HTTPS/WSS address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostAddr {
    /// An IP address or a DNS name (lowercase), without brackets.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl HostAddr {
    /// From an IP address and port.
    pub fn from_socket(addr: SocketAddr) -> HostAddr {
        HostAddr { host: addr.ip().to_string(), port: addr.port() }
    }

    /// Reads `10.0.0.2`, `10.0.0.2:7443`, `[fd00::2]:7443`, `host.local:7443` or a link such
    /// as `https://10.0.0.2:7443/#room=…`; the port defaults to the hub's.
    pub fn parse(text: &str) -> Result<HostAddr, AppError> {
        let bad = || {
            AppError::BadAddress(format!(
                "\"{}\" is not a host address. Enter it as shown by the host, for example 192.168.1.20:7443, or paste the join link.",
                text.chars().take(80).collect::<String>()
            ))
        };
        let t = text.trim();
        let t = match t.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("wss") => rest,
            Some(_) => return Err(bad()),
            None => t,
        };
        let authority = t.split(['/', '#', '?']).next().unwrap_or_default();
        if authority.is_empty() || authority.contains('@') {
            return Err(bad());
        }
        if let Ok(sa) = authority.parse::<SocketAddr>() {
            return Ok(HostAddr::from_socket(sa));
        }
        if let Ok(ip) = authority.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            return Ok(HostAddr { host: ip.to_string(), port: DEFAULT_HTTPS_PORT });
        }
        let (name, port) = match authority.rsplit_once(':') {
            Some((name, port)) => (name, port.parse::<u16>().map_err(|_| bad())?),
            None => (authority, DEFAULT_HTTPS_PORT),
        };
        let valid = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        if !valid || port == 0 {
            return Err(bad());
        }
        Ok(HostAddr { host: name.to_ascii_lowercase(), port })
    }

    /// The IP address, when the host is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

impl fmt::Display for HostAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip() {
            Some(IpAddr::V6(v6)) => write!(f, "[{v6}]:{}", self.port),
            _ => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> String {
        HostAddr::parse(text).map(|h| h.to_string()).unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn reads_addresses_links_and_names() {
        assert_eq!(p("10.0.0.2"), "10.0.0.2:7443");
        assert_eq!(p(" 10.0.0.2:8443 "), "10.0.0.2:8443");
        assert_eq!(p("https://10.0.0.2:8443/#room=call&token=ab&fp=cd"), "10.0.0.2:8443");
        assert_eq!(p("[fd00::2]:7443"), "[fd00::2]:7443");
        assert_eq!(p("fd00::2"), "[fd00::2]:7443");
        assert_eq!(p("Kitchen.local:7443"), "kitchen.local:7443");
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for bad in ["", "http://10.0.0.2/", "user@10.0.0.2", "10.0.0.2:99999", "a b", "javascript:alert(1)"] {
            assert!(HostAddr::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
