//! `docs/PROTOCOL.md` is the protocol's prose twin: every message and error code it lists exists
//! in this crate, and the reverse. The web client's list of join-ending codes
//! (`ui/js/lib/signaling.js`) is checked against [`ErrorCode::ends_join`] the same way.

use std::collections::BTreeSet;

use lancall_protocol::hub::{ErrorCode, CLIENT_MESSAGE_TYPES, SERVER_MESSAGE_TYPES};

fn read(path: &str) -> String {
    let full = concat!(env!("CARGO_MANIFEST_DIR"), "/../").to_owned() + path;
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("cannot read {full}: {e}"))
}

/// The text between heading `## {title}` and the next `## ` heading.
fn section<'a>(doc: &'a str, title: &str) -> &'a str {
    let start = doc.find(&format!("\n## {title}")).unwrap_or_else(|| panic!("PROTOCOL.md has no section \"{title}\""));
    let rest = &doc[start + 1..];
    let end = rest[3..].find("\n## ").map(|i| i + 3).unwrap_or(rest.len());
    &rest[..end]
}

/// Every `name` in back-quotes on the `### ` headings of a section.
fn headed_names(section: &str) -> BTreeSet<String> {
    section
        .lines()
        .filter(|l| l.starts_with("### "))
        .flat_map(|l| l.split('`').skip(1).step_by(2).map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

#[test]
fn every_message_the_document_lists_is_in_the_crate_and_the_reverse() {
    let doc = read("docs/PROTOCOL.md");
    let client = headed_names(section(&doc, "Client → hub"));
    let server = headed_names(section(&doc, "Hub → client"));
    assert_eq!(client, CLIENT_MESSAGE_TYPES.iter().map(|s| s.to_string()).collect(), "client → hub messages");
    assert_eq!(server, SERVER_MESSAGE_TYPES.iter().map(|s| s.to_string()).collect(), "hub → client messages");
}

#[test]
fn every_error_code_the_document_lists_is_in_the_crate_and_the_reverse() {
    let doc = read("docs/PROTOCOL.md");
    let listed: BTreeSet<String> = section(&doc, "Error codes")
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect();
    let crate_codes: BTreeSet<String> = ErrorCode::ALL.iter().map(|c| c.as_str().to_owned()).collect();
    assert_eq!(listed, crate_codes);
}

#[test]
fn the_web_client_ends_a_join_on_the_same_codes() {
    let js = read("ui/js/lib/signaling.js");
    let start = js.find("const FATAL_JOIN_CODES = new Set([").expect("signaling.js defines FATAL_JOIN_CODES");
    let list = &js[start..];
    let list = &list[..list.find("]);").expect("the set's end")];
    let in_js: BTreeSet<String> = list.split('\'').skip(1).step_by(2).map(str::to_owned).collect();
    let in_rust: BTreeSet<String> =
        ErrorCode::ALL.iter().filter(|c| c.ends_join()).map(|c| c.as_str().to_owned()).collect();
    assert_eq!(in_js, in_rust);
}
