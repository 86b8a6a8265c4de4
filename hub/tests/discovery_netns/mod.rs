//! Network namespaces for the discovery tests and benchmark.
//!
//! mDNS is multicast, and `mdns_sd::ServiceDaemon::new()` joins the group on every interface of
//! the namespace it runs in, so nothing here may ever create a daemon in the machine's own
//! namespace. The rule is enforced, not just followed:
//!
//! - [`NsRuntime`] builds a Tokio runtime from a thread that has `setns`-ed into a test
//!   namespace. Every thread the runtime starts later checks, in `on_thread_start`, that it is in
//!   that namespace, and aborts the process if not. `mdns-sd` spawns its daemon thread from the
//!   thread that calls `ServiceDaemon::new()`, a runtime worker, so it inherits the namespace;
//!   [`assert_mdns_threads_confined`] checks every `mDNS_daemon` thread of the process.
//! - Work only reaches a namespace through [`NsRuntime::run`]/[`NsRuntime::spawn`], which run
//!   the future on a worker (never on the calling thread, as a bare `block_on` would).
//!
//! Namespaces are named `lc-d-<pid>-<n>-<tag>` and deleted on drop (also when a test panics);
//! ones left by a killed run (dead pid) are deleted by the next run.

#![allow(dead_code)] // each test binary and the benchmark use a different subset

use std::fs;
use std::future::Future;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;
use std::time::Duration;

/// Whether this machine can create namespaces here, or why not (the message says what to do).
pub fn namespaces_available() -> Result<(), String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Err("needs root to create network namespaces (CI runs as root; locally: sudo -E cargo test -p lancall-hub --test discovery)".into());
    }
    match Command::new("ip")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => Ok(()),
        _ => Err("needs the `ip` command from iproute2 (apt-get install iproute2)".into()),
    }
}

/// Skips the calling test with a message when namespaces are not available.
#[macro_export]
macro_rules! require_namespaces {
    () => {
        if let Err(why) = $crate::discovery_netns::namespaces_available() {
            let test = std::thread::current().name().unwrap_or("test").to_string();
            // Straight to stderr, past the test harness's capture, so a skip is seen.
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!("SKIPPED {test}: {why}\n").as_bytes(),
            );
            return;
        }
    };
}

fn ip(args: &[&str]) -> io::Result<()> {
    let output = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// Deletes `lc-d-<pid>-…` namespaces whose process is gone (a run killed before its Drop ran).
fn delete_stale_namespaces() {
    let Ok(output) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix("lc-d-") else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "delete", name]);
            let _ = fs::remove_dir_all(format!("/etc/netns/{name}"));
        }
    }
}

/// A network namespace this process created; deleted on drop.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Creates `lc-d-<pid>-<n>-<tag>` with `lo` up and nothing else.
    pub fn create(tag: &str) -> io::Result<Self> {
        static CLEANUP: Once = Once::new();
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        CLEANUP.call_once(delete_stale_namespaces);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("lc-d-{}-{n}-{tag}", std::process::id());
        ip(&["netns", "add", &name])?;
        let ns = Self { name };
        // `ip netns exec` bind-mounts /etc/netns/<name>/resolv.conf: point name lookups at
        // loopback so a child process never asks the machine's resolver.
        let etc = format!("/etc/netns/{}", ns.name);
        fs::create_dir_all(&etc)?;
        fs::write(format!("{etc}/resolv.conf"), "nameserver 127.0.0.1\n")?;
        ns.ip(&["link", "set", "lo", "up"])?;
        // No IPv6 duplicate address detection: link-local addresses are usable at once
        // instead of after ~2 s, so the daemon does not start on tentative addresses.
        ns.sysctl("net.ipv6.conf.all.accept_dad", "0")?;
        ns.sysctl("net.ipv6.conf.default.accept_dad", "0")?;
        // Deleting an interface's first IPv4 address must not take the others in its subnet
        // with it (the tests replace an address by adding one and deleting the first).
        ns.sysctl("net.ipv4.conf.all.promote_secondaries", "1")?;
        ns.sysctl("net.ipv4.conf.default.promote_secondaries", "1")?;
        Ok(ns)
    }

    /// `ip -n <name> ARGS`.
    pub fn ip(&self, args: &[&str]) -> io::Result<()> {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        ip(&full)
    }

    fn sysctl(&self, key: &str, value: &str) -> io::Result<()> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let output = self
            .exec("sh")
            .args(["-c", &format!("echo {value} > {path}")])
            .output()?;
        if output.status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "sysctl {key}: {}",
                String::from_utf8_lossy(&output.stderr)
            )))
        }
    }

    /// A command that runs `program` inside this namespace (`ip netns exec`).
    pub fn exec(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }

    /// The inode of the namespace, as `/proc/<tid>/ns/net` shows it (`net:[<inode>]`).
    pub fn inode_link(&self) -> io::Result<String> {
        let inode = fs::metadata(format!("/var/run/netns/{}", self.name))?.ino();
        Ok(format!("net:[{inode}]"))
    }

    /// Waits (up to 5 s) until `device` is operationally up.
    pub fn wait_until_up(&self, device: &str) -> io::Result<()> {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let output = Command::new("ip")
                .args(["-n", &self.name, "-o", "link", "show", device])
                .output()?;
            if String::from_utf8_lossy(&output.stdout).contains("state UP") {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "{device} in {} did not come up",
                    self.name
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Adds `address` (CIDR) to `device`.
    pub fn add_address(&self, device: &str, address: &str) -> io::Result<()> {
        self.ip(&["addr", "add", address, "dev", device])
    }

    /// Removes `address` (CIDR) from `device`.
    pub fn del_address(&self, device: &str, address: &str) -> io::Result<()> {
        self.ip(&["addr", "del", address, "dev", device])
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "delete", &self.name]) {
            eprintln!("could not delete namespace {}: {e}", self.name);
        }
        let _ = fs::remove_dir_all(format!("/etc/netns/{}", self.name));
    }
}

/// Two namespaces joined by a veth pair: `eth0` 10.99.0.1/24 in `a`, `eth0` 10.99.0.2/24 in
/// `b`. No default route: nothing can leave the pair.
#[derive(Debug)]
pub struct Lan {
    pub a: Netns,
    pub b: Netns,
}

pub const ADDRESS_A: &str = "10.99.0.1";
pub const ADDRESS_B: &str = "10.99.0.2";

impl Lan {
    pub fn create(tag: &str) -> io::Result<Self> {
        let a = Netns::create(&format!("{tag}-a"))?;
        let b = Netns::create(&format!("{tag}-b"))?;
        // Created inside `a` with its peer inside `b`: the pair never exists in the machine's
        // namespace, so parallel tests cannot collide on interface names.
        a.ip(&[
            "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", &b.name,
        ])?;
        address_and_bring_up(&a, &b)?;
        Ok(Self { a, b })
    }
}

/// Gives `a`'s and `b`'s `eth0` [`ADDRESS_A`] and [`ADDRESS_B`] (/24) and waits until both are up.
fn address_and_bring_up(a: &Netns, b: &Netns) -> io::Result<()> {
    a.add_address("eth0", &format!("{ADDRESS_A}/24"))?;
    b.add_address("eth0", &format!("{ADDRESS_B}/24"))?;
    a.ip(&["link", "set", "eth0", "up"])?;
    b.ip(&["link", "set", "eth0", "up"])?;
    // The carrier comes up asynchronously. A daemon started before it sees `eth0` as down,
    // leaves it out, and looks again only every 5 s.
    a.wait_until_up("eth0")?;
    b.wait_until_up("eth0")
}

/// Two machines on one subnet whose switch does not pass multicast (as a Wi-Fi access point
/// with client isolation or multicast filtering): `a` and `b` are plugged into a bridge in a
/// third namespace whose ports have `mcast_flood off`. Unicast goes through; mDNS does not.
pub struct IsolatedLan {
    pub a: Netns,
    pub b: Netns,
    pub switch: Netns,
}

impl IsolatedLan {
    pub fn create(tag: &str) -> io::Result<Self> {
        let a = Netns::create(&format!("{tag}-a"))?;
        let b = Netns::create(&format!("{tag}-b"))?;
        let switch = Netns::create(&format!("{tag}-s"))?;
        switch.ip(&["link", "add", "br0", "type", "bridge"])?;
        switch.ip(&["link", "set", "br0", "up"])?;
        for (port, ns) in [("pa", &a), ("pb", &b)] {
            switch.ip(&["link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", &ns.name])?;
            switch.ip(&["link", "set", port, "master", "br0"])?;
            switch.ip(&["link", "set", port, "up"])?;
            let out = switch.exec("bridge").args(["link", "set", "dev", port, "mcast_flood", "off"]).output()?;
            if !out.status.success() {
                return Err(io::Error::other(format!("bridge link set {port} mcast_flood off: {}", String::from_utf8_lossy(&out.stderr))));
            }
        }
        address_and_bring_up(&a, &b)?;
        Ok(Self { a, b, switch })
    }
}

/// The network namespace of the calling thread, as `net:[<inode>]`.
pub fn current_thread_netns() -> io::Result<String> {
    Ok(fs::read_link("/proc/thread-self/ns/net")?
        .to_string_lossy()
        .into_owned())
}

/// The namespace the process started in (its main thread's): the machine's own, for our purposes.
pub fn process_netns() -> io::Result<String> {
    let pid = std::process::id();
    Ok(fs::read_link(format!("/proc/{pid}/task/{pid}/ns/net"))?
        .to_string_lossy()
        .into_owned())
}

/// Panics if any `mDNS_daemon` thread of this process is in the process's own namespace.
/// Returns how many daemon threads were checked.
pub fn assert_mdns_threads_confined() -> usize {
    let own = process_netns().expect("read own namespace");
    let mut checked = 0;
    for task in fs::read_dir("/proc/self/task")
        .expect("list threads")
        .flatten()
    {
        let comm = fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != "mDNS_daemon" {
            continue;
        }
        let Ok(ns) = fs::read_link(task.path().join("ns/net")) else {
            continue;
        }; // thread exited
        let ns = ns.to_string_lossy().into_owned();
        assert_ne!(
            ns, own,
            "an mDNS daemon thread runs in the machine's own network namespace"
        );
        checked += 1;
    }
    checked
}

/// A Tokio runtime whose threads all live in one namespace.
pub struct NsRuntime {
    runtime: Option<tokio::runtime::Runtime>,
    pub netns: String,
}

impl NsRuntime {
    pub fn new(ns: &Netns) -> io::Result<Self> {
        let expected = ns.inode_link()?;
        let path = format!("/var/run/netns/{}", ns.name);
        let name = ns.name.clone();
        let build = std::thread::spawn(move || -> io::Result<tokio::runtime::Runtime> {
            let file = fs::File::open(&path)?;
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(io::Error::from)?;
            let here = current_thread_netns()?;
            if here != expected {
                return Err(io::Error::other(format!(
                    "setns into {name} left the thread in {here}"
                )));
            }
            // Threads spawned from here inherit the namespace; check that claim on a fresh one.
            let child = std::thread::spawn(current_thread_netns)
                .join()
                .map_err(|_| io::Error::other("probe thread panicked"))??;
            if child != expected {
                return Err(io::Error::other(format!(
                    "a thread spawned in {name} is in {child}"
                )));
            }
            let check = expected.clone();
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name(format!("ns-{name}"))
                .enable_all()
                .on_thread_start(move || {
                    let here = current_thread_netns().unwrap_or_default();
                    if here != check {
                        eprintln!(
                            "runtime thread outside its namespace ({here} != {check}): aborting"
                        );
                        std::process::abort();
                    }
                })
                .build()
        });
        let runtime = build
            .join()
            .map_err(|_| io::Error::other("runtime builder panicked"))??;
        Ok(Self {
            runtime: Some(runtime),
            netns: ns.name.clone(),
        })
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("runtime present until drop")
    }

    /// Runs `future` on a worker inside the namespace and waits for it.
    pub fn run<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let task = self.runtime().spawn(future);
        self.runtime()
            .block_on(task)
            .expect("task in namespace panicked")
    }

    /// Starts `future` on a worker inside the namespace.
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime().spawn(future)
    }
}

impl Drop for NsRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// Runs a command to completion with a deadline, killing it when the deadline passes.
pub fn output_with_timeout(mut command: Command, timeout: Duration) -> io::Result<Output> {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let result = child.wait_with_output();
        let _ = done_tx.send(());
        result
    });
    if done_rx.recv_timeout(timeout).is_err() {
        // Ours, by pid; `ip netns exec` execs the program, so this is the program itself.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    waiter
        .join()
        .map_err(|_| io::Error::other("waiter panicked"))?
}
