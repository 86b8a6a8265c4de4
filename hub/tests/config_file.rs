//! `lancall-host --config FILE`, as the host package's service runs it: the file's settings take
//! effect, the command line and the environment win over them, and a mistake in the file stops the
//! host with a sentence that names the file and the key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::BufRead;
use std::process::{Command, Stdio};

fn host() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lancall-host"));
    c.stdin(Stdio::null()).env_remove("LANCALL_TOPOLOGY").env_remove("LANCALL_DATA_DIR");
    c
}

/// Starts the host with `args` and returns its ready event (then stops it).
fn ready_event(cmd: &mut Command) -> serde_json::Value {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("no ready line ({e}): {line}\n{}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn the_settings_file_names_the_room_the_topology_and_the_data_folder_and_flags_win_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("state");
    let file = dir.path().join("host.toml");
    std::fs::write(
        &file,
        format!(
            "data-dir = {data:?}\nname = \"Kitchen\"\nroom = \"family\"\ncapacity = 4\ntopology = \"sfu\"\nlisten = \"127.0.0.1:0\"\nno-http = true\nno-mdns = true\nknock = \"refuse\"\n"
        ),
    )
    .unwrap();

    let ready = ready_event(host().arg("--config").arg(&file).arg("--json"));
    assert_eq!(ready["name"], "Kitchen");
    assert_eq!(ready["room"], "family");
    assert_eq!(ready["capacity"], 4);
    assert_eq!(ready["topology"], "sfu");
    assert_eq!(ready["http_port"], serde_json::Value::Null, "no-http = true");
    assert_eq!(ready["mdns_instance"], serde_json::Value::Null, "no-mdns = true");
    assert!(data.join("rooms.json").exists(), "the room's token is kept in the file's data-dir");

    // The command line wins over the file, and so does the environment.
    let ready = ready_event(host().arg("--config").arg(&file).args(["--json", "--name", "Attic", "--capacity", "6"]).env("LANCALL_TOPOLOGY", "mesh"));
    assert_eq!(ready["name"], "Attic");
    assert_eq!(ready["capacity"], 6);
    assert_eq!(ready["topology"], "mesh");
    assert_eq!(ready["room"], "family", "what the command line leaves alone still comes from the file");

    // The global settings reach the subcommands too: `ca` shows the CA of the file's data-dir.
    let out = host().arg("--config").arg(&file).arg("ca").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&data.display().to_string()));
}

#[test]
fn a_mistake_in_the_settings_file_is_a_sentence_naming_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("host.toml");
    std::fs::write(&file, "nmae = \"Kitchen\"\n").unwrap();
    let out = host().arg("--config").arg(&file).args(["--no-mdns", "--listen", "127.0.0.1:0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&file.display().to_string()) && err.contains("`nmae` is not a setting"), "{err}");

    let missing = dir.path().join("nowhere.toml");
    let out = host().arg("--config").arg(&missing).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot read the settings file") && err.contains("nowhere.toml"), "{err}");
}

#[test]
fn a_list_in_the_settings_file_is_the_option_repeated() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("host.toml");
    std::fs::write(&file, "room = [\"standup\", \"lobby:open\"]\nlisten = \"127.0.0.1:0\"\nno-http = true\nno-mdns = true\n").unwrap();
    let ready = ready_event(host().arg("--config").arg(&file).arg("--json").arg("--data-dir").arg(dir.path()));
    let rooms: Vec<(String, bool)> = ready["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["room"].as_str().unwrap().to_owned(), r["open"].as_bool().unwrap()))
        .collect();
    assert_eq!(rooms, [("standup".to_owned(), false), ("lobby".to_owned(), true)]);
}
