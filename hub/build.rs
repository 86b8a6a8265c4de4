// The web UI in ../ui is embedded into the binary with include_dir!. Cargo only
// re-runs the build (and so re-embeds) when told which files matter: a directory
// here makes it watch every file below it.
fn main() {
    println!("cargo:rerun-if-changed=../ui");
}
