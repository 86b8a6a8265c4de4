//! How `lancall-host discover` prints the hosts it found: readable blocks, or JSON lines.
//!
//! Also compiled into `hub/tests/discovery.rs` (by `#[path]`), which checks both forms.

use lancall_hub::discovery::HostInfo;

/// The human output of `lancall-host discover`: one block per host, or a sentence saying none
/// was found and what to try.
pub fn format_hosts_human(hosts: &[HostInfo]) -> String {
    if hosts.is_empty() {
        return "No lancall hosts found on this network. Is the host on the same Wi-Fi? You can also enter its address by hand.\n".to_string();
    }
    let mut out = String::new();
    for host in hosts {
        let addresses: Vec<String> = host.addresses.iter().map(ToString::to_string).collect();
        out.push_str(&format!("{}\n", host.display_name));
        if host.instance != host.display_name {
            out.push_str(&format!("  advertised as: {}\n", host.instance));
        }
        out.push_str(&format!(
            "  addresses:     {} (port {})\n",
            addresses.join(", "),
            host.port
        ));
        let open = if host.rooms.is_empty() {
            if host.open_rooms { "yes" } else { "no" }.to_owned()
        } else {
            host.rooms.iter().map(|r| format!("{} ({})", r.name, r.topology)).collect::<Vec<_>>().join(", ")
        };
        out.push_str(&format!("  open rooms:    {open}\n"));
        out.push_str(&format!("  host id:       {}\n", host.host_id));
        match &host.ca_fingerprint {
            Some(fp) => {
                out.push_str(&format!("  CA SHA-256:    {}\n", fp.to_colon_hex()));
                out.push_str(&format!("  CA words:      {}\n", fp.speakable()));
            }
            None => out.push_str("  CA SHA-256:    (none)\n"),
        }
        if let Some(why) = &host.not_joinable {
            out.push_str(&format!("  cannot join:   {why}\n"));
        }
    }
    out
}

/// The `--json` output of `lancall-host discover`: one JSON object per host per line, with
/// `instance`, `name`, `host_id`, `hostname`, `addresses` (strings), `port`, `fingerprint`
/// (hex or null), `words` (the fingerprint's four words, or null), `found_by` (`mdns`, `scan` or
/// `mdns-and-scan`), `open_rooms`, `rooms` (the open rooms: `name` and `topology`), `version` (text or null), `joinable`, and `problem` (null, or an
/// object with a `problem` code such as `unsupported_version` and a `message`).
pub fn format_hosts_json_lines(hosts: &[HostInfo]) -> String {
    let mut out = String::new();
    for host in hosts {
        let problem = host.not_joinable.as_ref().map(|why| {
            let mut value = serde_json::to_value(why).unwrap_or(serde_json::Value::Null);
            if let Some(object) = value.as_object_mut() {
                object.insert("message".into(), why.to_string().into());
            }
            value
        });
        let line = serde_json::json!({
            "instance": host.instance,
            "name": host.display_name,
            "host_id": host.host_id,
            "hostname": host.hostname,
            "addresses": host.addresses,
            "port": host.port,
            "fingerprint": host.ca_fingerprint,
            "words": host.ca_fingerprint.map(|f| f.speakable()),
            "found_by": host.found_by,
            "open_rooms": host.open_rooms,
            "rooms": host.rooms,
            "version": host.protocol_version,
            "joinable": host.is_joinable(),
            "problem": problem,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}
