//! Where a host is and what a join link says: the one Rust reader of a typed address
//! (`10.0.0.2`, `10.0.0.2:7443`, `[fd00::2]:7443`, `kitchen.local:7443`) and of a join link
//! (`https://HOST:PORT/#room=ROOM&token=HEX&fp=HEX`). The app's address field, its QR scanner and
//! the CLI peer read through it; the web page has its twin in `ui/js/lib/link.js`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// The host's HTTPS/WSS port when an address names none (`lancall-host`'s default).
pub const DEFAULT_HTTPS_PORT: u16 = 7443;

/// Why a typed address or a link cannot be used, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkError(pub String);

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LinkError {}

/// A host's HTTPS/WSS address, normalised so that the same host always gives the same key (for
/// the fingerprint pinned to it).
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

    /// Reads `10.0.0.2`, `10.0.0.2:7443`, `[fd00::2]:7443`, `host.local:7443` or a link such as
    /// `https://10.0.0.2:7443/#room=…`. A bare address without a port gets
    /// [`DEFAULT_HTTPS_PORT`]; an `https://` link without one gets 443, as any URL would.
    pub fn parse(text: &str) -> Result<HostAddr, LinkError> {
        let bad = || {
            LinkError(format!(
                "\"{}\" is not a host address. Enter it as shown by the host, for example 192.168.1.20:7443, or paste the join link.",
                text.chars().take(80).collect::<String>().escape_debug()
            ))
        };
        let t = text.trim();
        let (t, default_port) = match t.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("wss") => (rest, 443),
            Some(_) => return Err(bad()),
            None => (t, DEFAULT_HTTPS_PORT),
        };
        let authority = t.split(['/', '#', '?']).next().unwrap_or_default();
        if authority.is_empty() || authority.contains('@') {
            return Err(bad());
        }
        if let Ok(sa) = authority.parse::<SocketAddr>() {
            return if sa.port() == 0 { Err(bad()) } else { Ok(HostAddr::from_socket(sa)) };
        }
        if let Ok(ip) = authority.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            return Ok(HostAddr { host: ip.to_string(), port: default_port });
        }
        let (name, port) = match authority.rsplit_once(':') {
            Some((name, port)) => (name, port.parse::<u16>().map_err(|_| bad())?),
            None => (authority, default_port),
        };
        let valid = !name.is_empty()
            && name.len() <= 253
            && name
                .split('.')
                .all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
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
    /// `host:port`, an IPv6 address in brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip() {
            Some(IpAddr::V6(v6)) => write!(f, "[{v6}]:{}", self.port),
            _ => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

/// What a join link says: `https://HOST:PORT/#room=ROOM&token=HEX&fp=HEX`. The fragment never
/// reaches a server (browsers do not send it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinLink {
    /// Where the host is.
    pub addr: HostAddr,
    /// Room name.
    pub room: String,
    /// Room token (absent for an open room).
    pub token: Option<String>,
    /// The host CA's SHA-256 fingerprint to pin, 64 lowercase hex digits.
    pub fingerprint: String,
}

impl JoinLink {
    /// Reads a join link; the error says what is wrong with it.
    pub fn parse(link: &str) -> Result<JoinLink, LinkError> {
        let bad = |why: &str| LinkError(format!("This join link cannot be used: {why}."));
        let t = link.trim();
        if !t.get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://")) {
            return Err(bad("it must start with https://"));
        }
        let (_, fragment) = t
            .split_once('#')
            .ok_or_else(|| bad("it has no #room=…&token=…&fp=… part; copy the whole link"))?;
        let addr = HostAddr::parse(t).map_err(|_| bad("it names no host that can be reached"))?;
        let (mut room, mut token, mut fp) = (None, None, None);
        for pair in fragment.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v);
            match k {
                "room" => room = Some(v),
                "token" if !v.is_empty() => token = Some(v),
                "fp" => fp = Some(v),
                _ => {}
            }
        }
        let room = room.filter(|r| !r.is_empty()).ok_or_else(|| bad("it names no room"))?;
        let fp = fp.ok_or_else(|| {
            bad("it carries no host fingerprint (fp=…), so the host cannot be checked; use the link the host prints")
        })?;
        let fingerprint: String = fp.chars().filter(|c| *c != ':').collect::<String>().to_ascii_lowercase();
        if fingerprint.len() != 64 || !fingerprint.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("its host fingerprint (fp=…) is not 64 hex digits"));
        }
        Ok(JoinLink { addr, room, token, fingerprint })
    }
}

/// `%XX` and `+` as a form-encoded fragment writes them; a bad escape is kept as typed.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> String {
        HostAddr::parse(text).map(|h| h.to_string()).unwrap_or_else(|e| format!("error: {e}"))
    }

    const FP: &str = "3f2a000000000000000000000000000000000000000000000000000000000001";

    #[test]
    fn reads_addresses_links_and_names() {
        assert_eq!(p("10.0.0.2"), "10.0.0.2:7443");
        assert_eq!(p(" 10.0.0.2:8443 "), "10.0.0.2:8443");
        assert_eq!(p("https://10.0.0.2:8443/#room=call&token=ab&fp=cd"), "10.0.0.2:8443");
        assert_eq!(p("https://10.0.0.2/#room=call"), "10.0.0.2:443", "a URL without a port is 443");
        assert_eq!(p("[fd00::2]:7443"), "[fd00::2]:7443");
        assert_eq!(p("fd00::2"), "[fd00::2]:7443");
        assert_eq!(p("Kitchen.local:7443"), "kitchen.local:7443");
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for bad in ["", "http://10.0.0.2/", "user@10.0.0.2", "10.0.0.2:99999", "10.0.0.2:0", "a b", "javascript:alert(1)", "\u{202e}x"] {
            assert!(HostAddr::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn reads_the_links_the_host_prints() {
        let l = JoinLink::parse(&format!("https://10.99.3.1:46017/#room=call&token=ab12&fp={}", FP.to_uppercase()))
            .expect("a link");
        assert_eq!(l.addr.to_string(), "10.99.3.1:46017");
        assert_eq!((l.room.as_str(), l.token.as_deref()), ("call", Some("ab12")));
        assert_eq!(l.fingerprint, FP, "lowercased");
        let l = JoinLink::parse(&format!("https://[fd00::1]:7443/#room=Tea%20time&fp={FP}")).expect("ipv6");
        assert_eq!((l.addr.to_string().as_str(), l.room.as_str(), l.token), ("[fd00::1]:7443", "Tea time", None));
    }

    #[test]
    fn says_what_is_wrong_with_a_bad_link() {
        let why = |link: &str| JoinLink::parse(link).expect_err(link).to_string();
        assert!(why("http://10.0.0.2:7443/#room=a").contains("https://"));
        assert!(why("https://10.0.0.2:7443/").contains("#room="));
        assert!(why(&format!("https://10.0.0.2:7443/#token=ab&fp={FP}")).contains("no room"));
        assert!(why("https://10.0.0.2:7443/#room=a&token=ab").contains("fingerprint"));
        assert!(why("https://10.0.0.2:7443/#room=a&fp=abc").contains("64 hex"));
        assert!(why(&format!("https://:7443/#room=a&fp={FP}")).contains("no host"));
        assert!(why(&format!("https://10.0.0.2:port/#room=a&fp={FP}")).contains("no host"));
    }
}
