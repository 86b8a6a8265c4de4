//! Switches read once at start from the environment: for people running the app by hand on a
//! machine where multicast must not leave it, and for the end-to-end tests.
//!
//! | variable | effect |
//! |---|---|
//! | `LANCALL_NO_MDNS=1` | neither advertise nor browse by mDNS (joining by link or address still works) |
//! | `LANCALL_TEST_MOCK_CAPTURE=1` | WebKitGTK's mock camera and microphone instead of real devices (tests only) |
//! | `LANCALL_DATA_DIR=DIR` | keep settings and the CA in DIR instead of the platform's app-data folder |
//! | `LANCALL_LOG=LEVEL` | log level: error, warn, info (default), debug, trace (trace also shows webrtc-rs, kept to errors otherwise) |
//! | `LANCALL_LISTEN=ADDR:PORT` | where the hub's HTTPS port listens when hosting (default `0.0.0.0:7443`, any free port if taken) |
//! | `LANCALL_INTERFACES=a,b` | use exactly these network interfaces for mDNS and links |
//! | `LANCALL_SCAN_PORT=PORT` | the port "Search this network" probes (default 7443, lancall's) |

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use lancall_hub::netif::InterfacePolicy;

/// The hub's HTTPS port when hosting, the same as `lancall-host`'s.
pub const DEFAULT_HTTPS_PORT: u16 = lancall_protocol::link::DEFAULT_HTTPS_PORT;

/// What the environment asked for.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// Advertise and browse with mDNS.
    pub mdns: bool,
    /// Use WebKit's mock capture devices.
    pub mock_capture: bool,
    /// Overrides the app-data folder.
    pub data_dir: Option<PathBuf>,
    /// Log level.
    pub log_level: log::LevelFilter,
    /// The HTTPS address to host on.
    pub https_listen: SocketAddr,
    /// Which interfaces are the LAN.
    pub interfaces: InterfacePolicy,
    /// The port the subnet scan probes.
    pub scan_port: u16,
}

impl AppOptions {
    /// Reads the process environment.
    pub fn from_env() -> AppOptions {
        AppOptions::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads the switches through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> AppOptions {
        let flag = |key: &str| get(key).is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes" | "on"));
        let log_level = get("LANCALL_LOG")
            .and_then(|v| v.trim().parse::<log::LevelFilter>().ok())
            .unwrap_or(log::LevelFilter::Info);
        let https_listen = get("LANCALL_LISTEN")
            .and_then(|v| v.trim().parse::<SocketAddr>().ok())
            .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), DEFAULT_HTTPS_PORT));
        let interfaces = match get("LANCALL_INTERFACES") {
            Some(list) if !list.trim().is_empty() => {
                InterfacePolicy::only(list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from))
            }
            _ => InterfacePolicy::default(),
        };
        AppOptions {
            mdns: !flag("LANCALL_NO_MDNS"),
            mock_capture: flag("LANCALL_TEST_MOCK_CAPTURE"),
            data_dir: get("LANCALL_DATA_DIR").filter(|v| !v.trim().is_empty()).map(PathBuf::from),
            log_level,
            https_listen,
            interfaces,
            scan_port: get("LANCALL_SCAN_PORT").and_then(|v| v.trim().parse().ok()).filter(|p| *p != 0).unwrap_or(DEFAULT_HTTPS_PORT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn opts(pairs: &[(&str, &str)]) -> AppOptions {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        AppOptions::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_advertise_on_the_lan_with_real_devices() {
        let o = opts(&[]);
        assert!(o.mdns);
        assert!(!o.mock_capture);
        assert_eq!(o.https_listen.port(), DEFAULT_HTTPS_PORT);
        assert_eq!(o.log_level, log::LevelFilter::Info);
        assert_eq!(o.interfaces, InterfacePolicy::default());
    }

    #[test]
    fn switches_turn_mdns_off_and_mock_devices_on() {
        let o = opts(&[
            ("LANCALL_NO_MDNS", "1"),
            ("LANCALL_TEST_MOCK_CAPTURE", "1"),
            ("LANCALL_LOG", "debug"),
            ("LANCALL_LISTEN", "127.0.0.1:0"),
            ("LANCALL_INTERFACES", "lan0, lan1"),
        ]);
        assert!(!o.mdns);
        assert!(o.mock_capture);
        assert_eq!(o.log_level, log::LevelFilter::Debug);
        assert_eq!(o.https_listen.port(), 0);
        assert_eq!(o.interfaces, InterfacePolicy::only(["lan0", "lan1"]));
        // Anything but a clear "on" leaves mDNS on.
        assert!(opts(&[("LANCALL_NO_MDNS", "0")]).mdns);
    }
}
