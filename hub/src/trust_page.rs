//! The plain-HTTP page that helps a phone or a desktop browser trust the host's CA.
//!
//! It is served over plain HTTP on purpose: before the CA is installed, a browser cannot open
//! the HTTPS port without a warning, and this page is how it gets the CA in the first place.
//! The fingerprint lets a careful person check that the file came from the right host.

/// The CA a host serves for browsers to install: offered by this page, served as `/ca.crt` by
/// [`crate::server`].
#[derive(Debug, Clone)]
pub struct CaDownload {
    /// PEM text.
    pub pem: String,
    /// DER bytes (`/ca.crt`).
    pub der: Vec<u8>,
    /// SHA-256 of the DER, as 64 lowercase hex characters.
    pub sha256_hex: String,
    /// The four words of that fingerprint ([`lancall_certs::Fingerprint::words`]).
    pub words: String,
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Groups a hex fingerprint as `AB:CD:EF:01` blocks of 4 bytes that never break inside (a phone
/// wraps between blocks, never in the middle of a byte, so two people can read it out block by
/// block).
fn grouped(hex: &str) -> String {
    let pairs: Vec<String> = hex.as_bytes().chunks(2).map(|p| String::from_utf8_lossy(p).to_uppercase()).collect();
    pairs.chunks(4).map(|block| format!(r#"<span class="fpg">{}</span>"#, block.join(":"))).collect::<Vec<_>>().join(" ")
}

/// The page's one script (served as `/trust.js`): the call's link travels in the URL fragment,
/// which never reaches a server, so the "Continue to the call" link takes it along here; without
/// one, the page says how to get back into the call.
pub const SCRIPT: &str = r#"'use strict';
const hash = location.hash;
const call = /(^#|&)room=/.test(hash);
for (const a of document.querySelectorAll('a[data-continue]')) {
  if (call) a.href = a.href.split('#')[0] + hash;
}
const lost = document.getElementById('no-call');
if (lost) lost.hidden = call;
"#;

/// The page. `https_url` is the host's HTTPS address as this browser reached it, if known;
/// `open_rooms` the rooms anyone on the LAN may join (name and topology), linked from it.
pub fn render(ca: Option<&CaDownload>, host_name: &str, https_url: Option<&str>, open_rooms: &[(String, String)]) -> String {
    let name = escape_html(host_name);
    let rooms = match https_url {
        Some(base) if !open_rooms.is_empty() => {
            let fp = ca.map(|c| format!("&fp={}", c.sha256_hex)).unwrap_or_default();
            let items: String = open_rooms
                .iter()
                .map(|(room, topology)| {
                    let how = match topology.as_str() {
                        "sfu" => "calls go through the host",
                        "auto" => "directly for two, through the host from three",
                        _ => "calls go directly between devices",
                    };
                    format!(
                        r#"<li><a data-room href="{}#room={}{fp}">{}</a> <span class="hint">({how})</span></li>"#,
                        escape_html(base),
                        escape_html(room),
                        escape_html(room)
                    )
                })
                .collect();
            format!("<h2>Rooms open to everyone on this network</h2>\n<ul class=\"rooms\">{items}</ul>")
        }
        _ => String::new(),
    };
    let go = https_url
        .map(|u| {
            format!(
                r#"<p><a class="button" data-continue href="{0}">Continue to the call: {0}</a></p>
<p id="no-call" class="hint" hidden>This page was opened without the call's link: after installing, scan the host's
QR code again (or open the join link it shared) to go straight into the call.</p>"#,
                escape_html(u)
            )
        })
        .unwrap_or_default();
    let Some(ca) = ca else {
        return page(
            &name,
            &format!("<p>This host uses a certificate from a public authority: your browser trusts it already.</p>{go}{rooms}"),
        );
    };
    let body = format!(
        r#"<p>Calls on <b>{name}</b> are encrypted with a certificate that this host made itself. Install its
certificate authority once on each device, and the call page opens with no warning. The authority is limited
to private network addresses and <code>.local</code> names: it cannot vouch for any public website.</p>
<p><a class="button" href="/ca.crt" download="lancall-ca.crt">Download the certificate (lancall-ca.crt)</a></p>
<p>Before you install it, check that these four words are the ones the host's screen shows (read them out to each other):</p>
<p class="words" id="ca-words">{words}</p>
<p>Or compare its whole SHA-256 fingerprint:</p>
<p class="fp">{fp}</p>
<h2>Android</h2>
<ol><li>Download the file above.</li>
<li>Open <i>Settings → Security &amp; privacy → More security settings → Encryption &amp; credentials → Install a certificate → CA certificate</i> (names vary a little by maker; search Settings for "CA certificate").</li>
<li>Tap <i>Install anyway</i>, pick <i>lancall-ca.crt</i>, and confirm with your screen lock.</li>
<li>Chrome on Android trusts it from then on; open the link below.</li></ol>
<h2>iPhone and iPad</h2>
<ol><li>Open this page in Safari and download the file; allow the configuration profile.</li>
<li>Open <i>Settings → General → VPN &amp; Device Management</i>, tap the lancall profile, <i>Install</i>.</li>
<li>Open <i>Settings → General → About → Certificate Trust Settings</i> and switch on full trust for the lancall CA.</li></ol>
<h2>Desktop browsers</h2>
<ul><li><b>Chrome, Edge</b>: Settings → Privacy and security → Security → Manage certificates → Authorities (or your system's
certificate store) → Import, tick "trust for websites".</li>
<li><b>Firefox</b>: Settings → Privacy &amp; Security → Certificates → View Certificates → Authorities → Import, tick "Trust this CA to identify websites".</li>
<li><b>Safari (macOS)</b>: double-click the file to add it to Keychain Access, open it, and set <i>When using this certificate</i> to <i>Always Trust</i>.</li></ul>
<p>You can also skip all this and accept the browser's warning once: the call is still encrypted, but you have
not checked that you reached the right host.</p>
{go}
{rooms}"#,
        fp = grouped(&ca.sha256_hex),
        words = escape_html(&ca.words),
    );
    page(&name, &body)
}

fn page(name: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Trust {name} — lancall</title>
<style>
body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:0 auto;padding:1rem;background:#101418;color:#e8eaed}}
a{{color:#8ab4f8}} .button{{display:inline-block;padding:.6rem 1rem;border-radius:.5rem;background:#1a73e8;color:#fff;text-decoration:none}}
.fp{{font-family:ui-monospace,monospace;font-size:.9rem;background:#1e252c;padding:.5rem;border-radius:.4rem;line-height:1.8}}
.words{{font-size:1.4rem;font-weight:600;letter-spacing:.02em}}
.fpg{{display:inline-block;white-space:nowrap;margin-right:.6ch}} .hint{{color:#bdc1c6;font-size:.9rem}}
h1{{font-size:1.4rem}} h2{{font-size:1.1rem;margin-top:1.5rem}}
</style></head>
<body><h1>Trust the lancall host “{name}”</h1>
{body}
<script src="/trust.js"></script>
</body></html>
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_shows_fingerprint_and_escapes_the_name() {
        let ca = CaDownload { pem: String::new(), der: Vec::new(), sha256_hex: "ab".repeat(32), words: "apple banana cherry dog".into() };
        let html = render(Some(&ca), "<script>x</script>", Some("https://10.0.0.2:7443/"), &[]);
        assert!(html.contains(r#"<span class="fpg">AB:AB:AB:AB</span>"#), "bytes in unbreakable blocks of 4");
        assert_eq!(html.matches(r#"class="fpg""#).count(), 8);
        assert!(html.contains("data-continue") && html.contains(r#"<script src="/trust.js">"#));
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("href=\"https://10.0.0.2:7443/\""));
        assert!(html.contains("/ca.crt"));
        assert!(!html.contains("data-room"), "no rooms, no list");
    }

    #[test]
    fn open_rooms_are_linked_with_the_fingerprint_and_hostile_names_escaped() {
        let ca = CaDownload { pem: String::new(), der: Vec::new(), sha256_hex: "cd".repeat(32), words: "a b c d".into() };
        let rooms = [("lobby".to_owned(), "sfu".to_owned()), ("<b>".to_owned(), "mesh".to_owned())];
        let html = render(Some(&ca), "Kitchen", Some("https://10.0.0.2:7443/"), &rooms);
        assert!(html.contains(&format!(r#"href="https://10.0.0.2:7443/#room=lobby&fp={}">lobby</a>"#, "cd".repeat(32))), "{html}");
        assert!(html.contains("calls go through the host"));
        assert!(html.contains("&lt;b&gt;") && !html.contains("<b></a>"));
        // Without the address the browser came by, nothing to link to.
        assert!(!render(Some(&ca), "Kitchen", None, &rooms).contains("data-room"));
    }
}
