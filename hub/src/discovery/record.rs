//! The DNS-SD records of a lancall host: what an [`Advertisement`] puts in them, what a
//! [`HostInfo`] reads back (and why a host may not be joinable), and the names and labels.
//!
//! # Records
//!
//! - Instance name: the display name and a four-hex-digit tag derived from the host id, "Ana's
//!   laptop (3f2a)" ([`Advertisement::instance_name`]). The tag makes two hosts with the same
//!   display name (three phones called "Pixel 8") distinct by construction, instead of relying
//!   on renaming at run time: `mdns-sd` 0.21 renames a host that probes second to "… (2)" (RFC
//!   6762 §9) but does not defend the new name, so a third host with the name also takes
//!   "… (2)"; and probing cannot separate two hosts that announced the same name before their
//!   networks joined. The tag also keeps a host's instance name stable across restarts. People
//!   see TXT `name`, not the instance name. Probing still runs, as a backstop for a tag
//!   collision (or one host id running twice):
//!   [`Advertiser::instance_name`](super::Advertiser::instance_name) reports a rename.
//! - SRV: the hub's HTTPS/WSS port, target `lancall-<host id>.local.` ([`mdns_hostname`]), so
//!   two hosts never fight over a host name either.
//! - A/AAAA: exactly [`netif::lan_addresses`](crate::netif::lan_addresses), the addresses in
//!   the leaf certificate's SANs, so a joiner never picks an address the certificate does not
//!   cover.
//! - TXT: `v` protocol version ([`PROTOCOL_VERSION`]), `id` host id, `name` display name (the
//!   instance name may be truncated or renamed; this is the one to show), `fp` the CA's SHA-256
//!   fingerprint as 64 lowercase hex digits (app joiners pin it), `open` `1` when the host has
//!   a room that admits joiners now, else `0`, `rooms` the rooms open to the LAN (no token) as
//!   `name:topology` joined by `,` (`standup:sfu,lobby:mesh`; as many as fit in one TXT string;
//!   absent when there is none). A room that needs a token is not named to the whole network.

use std::fmt;
use std::net::IpAddr;

use mdns_sd::ResolvedService;
use serde::Serialize;

use super::{CaFingerprint, DiscoveryError};

/// The DNS-SD service type of a lancall hub.
pub const SERVICE_TYPE: &str = "_lancall._tcp.local.";

/// The signaling protocol version this build speaks, advertised in TXT `v`. A host with another
/// version is listed but not joinable: its messages may mean something else.
pub const PROTOCOL_VERSION: u32 = 1;

/// TXT keys. Short because every byte of the TXT record is sent in every announcement.
const TXT_VERSION: &str = "v";
const TXT_HOST_ID: &str = "id";
const TXT_NAME: &str = "name";
const TXT_FINGERPRINT: &str = "fp";
const TXT_OPEN: &str = "open";
const TXT_ROOMS: &str = "rooms";

/// Rooms read back from TXT `rooms` at most (a hostile record cannot make a long list).
const MAX_LISTED_ROOMS: usize = 32;

/// A room a host lists in TXT `rooms`: one open to the LAN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomListing {
    /// Its name, as in links.
    pub name: String,
    /// How its media travels: `mesh`, `sfu` or `auto`.
    pub topology: String,
}

/// `name:topology,…`, whole entries only, within one TXT string.
fn encode_rooms(rooms: &[RoomListing]) -> String {
    let mut text = String::new();
    for r in rooms {
        let entry = format!("{}:{}", r.name, r.topology);
        let len = text.len() + usize::from(!text.is_empty()) + entry.len();
        if len > 255 - TXT_ROOMS.len() - 1 {
            break;
        }
        if !text.is_empty() {
            text.push(',');
        }
        text.push_str(&entry);
    }
    text
}

/// TXT `rooms` read back: entries with a valid room name and a known topology; others skipped.
pub(crate) fn decode_rooms(text: &str) -> Vec<RoomListing> {
    text.split(',')
        .filter_map(|entry| {
            let (name, topology) = entry.split_once(':')?;
            lancall_protocol::hub::check_room_name(name).ok()?;
            matches!(topology, "mesh" | "sfu" | "auto").then(|| RoomListing { name: name.to_owned(), topology: topology.to_owned() })
        })
        .take(MAX_LISTED_ROOMS)
        .collect()
}

/// A DNS label holds 63 bytes. The display name part of the instance name leaves room for the
/// host tag " (xxxx)" and a conflict suffix " (NN)".
const INSTANCE_NAME_MAX_BYTES: usize = 50;

/// A TXT string holds 255 bytes, `name=` included.
const TXT_NAME_MAX_BYTES: usize = 255 - TXT_NAME.len() - 1;

/// Host ids go into TXT and into the host name label: keep them short and printable.
const HOST_ID_MAX_BYTES: usize = 64;

/// What a host tells the LAN about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertisement {
    /// The name people see ("Ana's laptop"). Also the instance name, truncated to fit a DNS label.
    pub display_name: String,
    /// Stable id of this host (survives restarts and renames), so joiners recognise it.
    pub host_id: String,
    /// The hub's HTTPS/WSS port.
    pub port: u16,
    /// SHA-256 of the host's CA certificate.
    pub ca_fingerprint: CaFingerprint,
    /// Whether a room admits joiners now.
    pub open_rooms: bool,
}

impl Advertisement {
    pub(super) fn validate(&self) -> Result<(), DiscoveryError> {
        let invalid = |why: &str| Err(DiscoveryError::InvalidAdvertisement(why.to_string()));
        if clean_display_name(&self.display_name).is_empty() {
            return invalid("the display name is empty");
        }
        if self.host_id.is_empty() || self.host_id.len() > HOST_ID_MAX_BYTES {
            return invalid("the host id must be 1 to 64 bytes");
        }
        if self.host_id.chars().any(|c| c.is_control()) {
            return invalid("the host id contains control characters");
        }
        if self.port == 0 {
            return invalid("the port is 0");
        }
        Ok(())
    }

    /// The DNS-SD instance name: the display name and a tag from the host id, "Ana's laptop
    /// (3f2a)". See the module documentation for why the tag is always there.
    pub fn instance_name(&self) -> String {
        format!(
            "{} ({})",
            clean_display_name(&self.display_name),
            host_tag(&self.host_id)
        )
    }

    /// What `GET /.well-known/lancall` answers (the scan's probe): the instance name, the port,
    /// and the TXT record's keys and values, so that a scanned host is read exactly as one found
    /// by mDNS.
    pub fn well_known(&self, rooms: &[RoomListing]) -> serde_json::Value {
        let txt: serde_json::Map<String, serde_json::Value> =
            self.txt_properties(rooms).into_iter().map(|(k, v)| (k.to_owned(), v.into())).collect();
        serde_json::json!({ "instance": self.instance_name(), "port": self.port, "txt": txt })
    }

    pub(super) fn txt_properties(&self, rooms: &[RoomListing]) -> Vec<(&'static str, String)> {
        let rooms = encode_rooms(rooms);
        let mut txt = vec![
            (TXT_VERSION, PROTOCOL_VERSION.to_string()),
            (TXT_HOST_ID, self.host_id.clone()),
            (
                TXT_NAME,
                truncate_utf8(self.display_name.trim(), TXT_NAME_MAX_BYTES).to_string(),
            ),
            (TXT_FINGERPRINT, self.ca_fingerprint.to_hex()),
            (
                TXT_OPEN,
                if self.open_rooms { "1" } else { "0" }.to_string(),
            ),
        ];
        if !rooms.is_empty() {
            txt.push((TXT_ROOMS, rooms));
        }
        txt
    }
}

/// The mDNS host name a host with `host_id` uses for its address records: `lancall-<id>.local.`
/// (lowercase letters, digits and `-` of the id, at most 40 of them). Derived from the host id
/// rather than the OS host name so it is stable, unique on the LAN, and usable in the leaf
/// certificate's SANs (without the trailing dot).
pub fn mdns_hostname(host_id: &str) -> String {
    let label: String = host_id
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' | '-' => Some(c),
            'A'..='Z' => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .take(40)
        .collect();
    let label = label.trim_matches('-');
    if label.is_empty() {
        "lancall.local.".to_string()
    } else {
        format!("lancall-{label}.local.")
    }
}

/// Why a host that was found cannot be joined from here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum NotJoinable {
    /// No `v` in TXT: not a lancall hub, or a broken one.
    MissingVersion,
    /// A protocol version this build does not speak (usually a newer lancall).
    UnsupportedVersion {
        /// The advertised version, as text.
        version: String,
    },
    /// No `id` in TXT.
    MissingHostId,
    /// No `fp` in TXT: nothing to pin, so an app joiner cannot trust the host.
    MissingFingerprint,
    /// `fp` is not 64 hex digits.
    BadFingerprint,
    /// No address records.
    NoAddress,
}

impl fmt::Display for NotJoinable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingVersion => write!(f, "it does not say which lancall version it runs"),
            Self::UnsupportedVersion { version } => write!(
                f,
                "it runs lancall protocol version {version}, this app speaks {PROTOCOL_VERSION}: update the older one"
            ),
            Self::MissingHostId => write!(f, "it does not give a host id"),
            Self::MissingFingerprint => write!(f, "it does not give its certificate fingerprint"),
            Self::BadFingerprint => write!(f, "its certificate fingerprint is malformed"),
            Self::NoAddress => write!(f, "it gives no address"),
        }
    }
}

/// How a host was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FoundBy {
    /// Its mDNS advertisement.
    #[default]
    Mdns,
    /// The subnet scan (`/.well-known/lancall`).
    Scan,
    /// Both.
    MdnsAndScan,
}

/// A host found on the LAN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostInfo {
    /// The DNS-SD instance name (unique on the LAN; the key of
    /// [`DiscoveryEvent::Gone`](super::DiscoveryEvent::Gone)).
    pub instance: String,
    /// The name to show (TXT `name`, or the instance name when absent).
    pub display_name: String,
    /// TXT `id` (empty when absent).
    pub host_id: String,
    /// The mDNS host name of the SRV target.
    pub hostname: String,
    /// Addresses, IPv4 first.
    pub addresses: Vec<IpAddr>,
    /// The hub's port.
    pub port: u16,
    /// TXT `fp`, when present and well formed.
    pub ca_fingerprint: Option<CaFingerprint>,
    /// TXT `open` is `1`.
    pub open_rooms: bool,
    /// TXT `rooms`: the rooms open to the LAN, with their topology (empty from an older host).
    pub rooms: Vec<RoomListing>,
    /// TXT `v` as text, when present.
    pub protocol_version: Option<String>,
    /// `None` when the app can join; otherwise why not. Such hosts are listed, not hidden, so
    /// the person sees "Ana's laptop: runs a newer lancall" instead of wondering.
    pub not_joinable: Option<NotJoinable>,
    /// mDNS, the scan, or both.
    pub found_by: FoundBy,
}

impl HostInfo {
    /// Whether the app can join this host.
    pub fn is_joinable(&self) -> bool {
        self.not_joinable.is_none()
    }

    pub(super) fn from_resolved(resolved: &ResolvedService) -> Self {
        let txt = |key: &str| {
            resolved
                .txt_properties
                .get_property_val_str(key)
                .map(str::to_string)
        };
        Self::from_record(
            label_of_fullname(&resolved.fullname),
            resolved.host.clone(),
            resolved.addresses.iter().map(|a| a.to_ip_addr()).collect(),
            resolved.port,
            txt,
            FoundBy::Mdns,
        )
    }

    /// A host from what it says about itself: the TXT record's keys (mDNS), or the same keys in
    /// its `/.well-known/lancall` answer (the scan); the same checks either way.
    pub(crate) fn from_record(
        instance: String,
        hostname: String,
        mut addresses: Vec<IpAddr>,
        port: u16,
        txt: impl Fn(&str) -> Option<String>,
        found_by: FoundBy,
    ) -> Self {
        addresses.sort_by_key(|a| (a.is_ipv6(), *a));
        addresses.dedup();

        let protocol_version = txt(TXT_VERSION);
        let host_id = txt(TXT_HOST_ID).unwrap_or_default();
        let fingerprint_text = txt(TXT_FINGERPRINT);
        let ca_fingerprint = fingerprint_text.as_deref().and_then(|t| t.parse().ok());

        let not_joinable = match protocol_version.as_deref() {
            None => Some(NotJoinable::MissingVersion),
            Some(v) if v.trim().parse::<u32>().ok() != Some(PROTOCOL_VERSION) => {
                Some(NotJoinable::UnsupportedVersion {
                    version: v.chars().take(16).collect(),
                })
            }
            Some(_) if host_id.is_empty() => Some(NotJoinable::MissingHostId),
            Some(_) if fingerprint_text.is_none() => Some(NotJoinable::MissingFingerprint),
            Some(_) if ca_fingerprint.is_none() => Some(NotJoinable::BadFingerprint),
            Some(_) if addresses.is_empty() => Some(NotJoinable::NoAddress),
            Some(_) => None,
        };
        if let Some(why) = &not_joinable {
            log::info!("discovery: found {instance:?}, not joinable: {why}");
        }

        Self {
            display_name: txt(TXT_NAME)
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| instance.clone()),
            instance,
            host_id,
            hostname,
            addresses,
            port,
            ca_fingerprint,
            open_rooms: txt(TXT_OPEN).as_deref() == Some("1"),
            rooms: txt(TXT_ROOMS).map(|t| decode_rooms(&t)).unwrap_or_default(),
            protocol_version,
            not_joinable,
            found_by,
        }
    }
}

/// A display name fit for an instance label: trimmed, control characters dropped, cut to fit.
fn clean_display_name(display_name: &str) -> String {
    let cleaned: String = display_name
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    truncate_utf8(cleaned.trim(), INSTANCE_NAME_MAX_BYTES)
        .trim_end()
        .to_string()
}

/// Four hex digits derived from the host id (32-bit FNV-1a, folded to 16 bits): short, the
/// same on every platform and version, and different for different hosts with overwhelming
/// likelihood whatever the id looks like (`host-a` and `host-b` share a prefix, for example).
fn host_tag(host_id: &str) -> String {
    let hash = host_id.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    format!("{:04x}", (hash >> 16) ^ (hash & 0xffff))
}

fn truncate_utf8(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The instance label of a full service name, with DNS escapes (`\.`, `\\`, `\DDD`) undone.
pub(super) fn label_of_fullname(fullname: &str) -> String {
    let suffix = format!(".{SERVICE_TYPE}");
    let label = if fullname.len() > suffix.len() && fullname.to_ascii_lowercase().ends_with(&suffix)
    {
        &fullname[..fullname.len() - suffix.len()]
    } else {
        fullname
            .split_once("._")
            .map_or(fullname, |(label, _)| label)
    };
    unescape_label(label)
}

fn unescape_label(label: &str) -> String {
    let mut bytes = Vec::with_capacity(label.len());
    let raw = label.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' && i + 1 < raw.len() {
            let digits = raw
                .get(i + 1..i + 4)
                .filter(|d| d.iter().all(u8::is_ascii_digit));
            if let Some(value) =
                digits.and_then(|d| std::str::from_utf8(d).ok()?.parse::<u8>().ok())
            {
                bytes.push(value);
                i += 4;
            } else {
                bytes.push(raw[i + 1]);
                i += 2;
            }
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

pub(super) fn escape_label(label: &str) -> String {
    label.replace('\\', "\\\\").replace('.', "\\.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_unescape_and_truncate() {
        assert_eq!(
            label_of_fullname("Ana\\.s laptop (2)._lancall._tcp.local."),
            "Ana.s laptop (2)"
        );
        assert_eq!(
            label_of_fullname("caf\\195\\169._lancall._tcp.local."),
            "café"
        );
        assert!(
            clean_display_name("  ümlaut ".repeat(20).as_str()).len() <= INSTANCE_NAME_MAX_BYTES
        );
        assert_eq!(host_tag("host-a").len(), 4);
        assert_ne!(host_tag("host-a"), host_tag("host-b"));
        assert_eq!(mdns_hostname("3F2A-9c1e_X"), "lancall-3f2a-9c1ex.local.");
        assert_eq!(mdns_hostname("!!!"), "lancall.local.");
    }
}

#[cfg(test)]
mod room_tests {
    use super::{decode_rooms, encode_rooms, RoomListing};

    fn room(name: &str, topology: &str) -> RoomListing {
        RoomListing { name: name.into(), topology: topology.into() }
    }

    #[test]
    fn rooms_go_into_one_txt_string_and_come_back() {
        let rooms = vec![room("standup", "sfu"), room("lobby", "mesh"), room("all-hands", "auto")];
        let text = encode_rooms(&rooms);
        assert_eq!(text, "standup:sfu,lobby:mesh,all-hands:auto");
        assert_eq!(decode_rooms(&text), rooms);
        // Too many for one TXT string: whole entries only, within 255 bytes with the key.
        let many: Vec<RoomListing> = (0..40).map(|i| room(&format!("room-number-{i:02}"), "mesh")).collect();
        let text = encode_rooms(&many);
        assert!(text.len() + "rooms=".len() <= 255, "{}", text.len());
        assert_eq!(decode_rooms(&text), many[..decode_rooms(&text).len()].to_vec());
    }

    #[test]
    fn a_hostile_rooms_record_yields_only_valid_rooms() {
        assert_eq!(decode_rooms("ok:sfu,../../x:mesh,bad room:mesh,y:teleport,:mesh,z,\u{0}:auto"), vec![room("ok", "sfu")]);
        let flood = "a:mesh,".repeat(1000);
        assert_eq!(decode_rooms(&flood).len(), 32);
    }
}
