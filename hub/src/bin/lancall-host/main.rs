//! `lancall-host`: host lancall calls without a window, for a machine that only serves browsers.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use lancall_certs::{Authority, LeafNames};
use lancall_hub::host::{self, HostConfig, RoomConfig, RunningHost};
use lancall_hub::discovery;
use lancall_hub::hub::{HubEvent, RoomTopology};
use lancall_hub::netif::InterfacePolicy;
use std::time::Duration;
use lancall_protocol::IceServer;
use lancall_hub::server::{DEFAULT_HTTPS_PORT, DEFAULT_HTTP_PORT};

mod config;
mod held_log;
mod host_list;

#[derive(Parser)]
#[command(
    name = "lancall-host",
    version,
    about = "Host lancall video calls on this LAN without a window: serves the call page to browsers over HTTPS and relays their signaling.",
    after_help = "Logs go to stderr; set the level with --log-level or RUST_LOG. Links and events go to stdout.

Examples:
  lancall-host --name Kitchen              host as \"Kitchen\" (prints link, QR)
  lancall-host --open                      anyone on the LAN may join
  lancall-host --no-mdns                   off mDNS: joiners need the link
  lancall-host --listen 192.168.1.20:8443  one address and port (0: any)
  lancall-host --json --knock ask          JSON events; answer knocks on stdin
  lancall-host --config host.toml          settings from a file (flags win)
  lancall-host --topology sfu --record     calls through this host, recorded
  lancall-host recordings                  the recordings made here
  lancall-host discover                    the lancall hosts on this network

Typed while it runs (with --json, as {\"add-room\":\"standup:sfu\"}):
  add-room NAME[:OPTIONS]   one room more (the options of --room)
  remove-room NAME          close a room (everyone in it is told)
  record ROOM               record a room whose calls go through here
  stop-recording ROOM       stop that recording"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
    /// Folder for the CA and certificates [default: the OS's data folder, e.g. ~/.local/share/lancall]
    #[arg(long, global = true, value_name = "DIR", env = "LANCALL_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Log level: error, warn, info, debug or trace (RUST_LOG, if set, wins)
    #[arg(long, global = true, default_value = "info", value_name = "LEVEL")]
    log_level: String,
    /// Read settings from this TOML file: each key a long option without its dashes
    /// (name = "Kitchen", topology = "auto", open = true). Options given here or in the
    /// environment win over the file
    #[arg(long = config::CONFIG_ARG, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Args)]
struct ServeArgs {
    /// HTTPS address and port; port 0 picks a free one
    #[arg(long, value_name = "ADDR:PORT", default_value_t = SocketAddr::from(([0, 0, 0, 0], DEFAULT_HTTPS_PORT)))]
    listen: SocketAddr,
    /// Plain-HTTP address for the "trust this host" page [default: the --listen address, port 7080, or 0 when --listen's port is 0]
    #[arg(long, value_name = "ADDR:PORT")]
    http_listen: Option<SocketAddr>,
    /// Do not open the plain-HTTP port
    #[arg(long, conflicts_with = "http_listen")]
    no_http: bool,
    /// The host's name as others see it [default: the machine's hostname]
    #[arg(long)]
    name: Option<String>,
    /// A room to make, repeatable: NAME (letters, digits, '-', '_', '.'), optionally followed
    /// by ':' and options that override --open, --topology and --capacity for that room,
    /// comma-separated: open, token, mesh, sfu, auto, capacity=N. For example
    /// `--room standup --room all-hands:sfu,capacity=40 --room lobby:open`
    #[arg(long = "room", value_name = "NAME[:OPTIONS]", default_value = "call", value_parser = parse_room)]
    rooms: Vec<RoomArg>,
    /// Make the room open to anyone on the LAN, with no token
    #[arg(long)]
    open: bool,
    /// Give the room a new token, so that links shared before stop working (the token is
    /// otherwise kept in the data folder and links survive restarts)
    #[arg(long, conflicts_with = "open")]
    new_token: bool,
    /// Peers per room
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(2..=64))]
    capacity: u16,
    /// Do not advertise this host on the LAN by mDNS
    #[arg(long)]
    no_mdns: bool,
    /// Use only this network interface for links, the certificate and mDNS (repeatable)
    /// [default: every LAN interface, skipping loopback, container bridges, tunnels, cellular]
    #[arg(long = "interface", value_name = "NAME")]
    interfaces: Vec<String>,
    /// Print one JSON object per line (events) instead of text and QR codes
    #[arg(long)]
    json: bool,
    /// When someone without the link knocks: ask (a prompt here; with --json, answer with lines
    /// {"admit":"ID"} or {"refuse":"ID"} on stdin), admit, or refuse [default: ask when stdin
    /// is a terminal or with --json, refuse otherwise]
    #[arg(long, value_enum, value_name = "POLICY")]
    knock: Option<KnockPolicy>,
    /// STUN or TURN server for clients, repeatable: stun:HOST:PORT or turn:USER:PASSWORD@HOST:PORT
    #[arg(long = "ice-server", value_name = "URL")]
    ice_servers: Vec<IceServer>,
    /// Serve this certificate chain (PEM) instead of the generated one, e.g. a public domain's
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) for --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// How the room's media travels: mesh (each device sends to each other device directly),
    /// sfu (each device sends once, to this host, which forwards to the others), or auto
    /// (directly while two talk, through this host from the third person on, switched live)
    #[arg(long, value_enum, default_value = "mesh", env = "LANCALL_TOPOLOGY")]
    topology: TopologyArg,
    /// UDP port for media through this host (--topology sfu) [default: the --listen port's
    /// number; 0 picks a free one]
    #[arg(long, value_name = "PORT")]
    media_port: Option<u16>,
    /// The largest file, in megabytes (10^6 bytes), that people may send each other in a call
    /// (files go directly between devices, never through this host; clients keep to the cap)
    /// [default: no cap]
    #[arg(long, value_name = "MB")]
    max_file_mb: Option<u64>,
    /// Record every room whose media goes through this host (--topology sfu) from the start:
    /// one WebM file per person in the recordings folder. Start and stop later with the stdin
    /// commands record ROOM / stop-recording ROOM (with --json: {"record":"ROOM"},
    /// {"stop-recording":"ROOM"}); everyone in the call is told while it records
    #[arg(long)]
    record: bool,
    /// Let participants start and stop the recording of their room (rooms through this host)
    #[arg(long)]
    allow_recording: bool,
    /// Where recordings go [default: recordings/ in the data folder]
    #[arg(long, value_name = "DIR", env = "LANCALL_RECORDINGS")]
    recordings: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum TopologyArg {
    Mesh,
    Sfu,
    Auto,
}

impl TopologyArg {
    fn setting(self) -> RoomTopology {
        match self {
            TopologyArg::Mesh => RoomTopology::Mesh,
            TopologyArg::Sfu => RoomTopology::Sfu,
            TopologyArg::Auto => RoomTopology::Auto,
        }
    }
}

/// One `--room NAME[:OPTIONS]`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct RoomArg {
    name: String,
    open: Option<bool>,
    topology: Option<RoomTopology>,
    capacity: Option<usize>,
}

fn parse_room(text: &str) -> Result<RoomArg, String> {
    let (name, options) = text.split_once(':').unwrap_or((text, ""));
    lancall_protocol::hub::check_room_name(name).map_err(|_| {
        format!("\"{name}\" cannot be a room name: use 1 to 64 letters, digits, '-', '_' or '.'")
    })?;
    let mut room = RoomArg { name: name.to_owned(), open: None, topology: None, capacity: None };
    for option in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        match option {
            "open" => room.open = Some(true),
            "token" => room.open = Some(false),
            "mesh" => room.topology = Some(RoomTopology::Mesh),
            "sfu" => room.topology = Some(RoomTopology::Sfu),
            "auto" => room.topology = Some(RoomTopology::Auto),
            other => match other.strip_prefix("capacity=").map(str::parse::<usize>) {
                Some(Ok(n)) if (2..=64).contains(&n) => room.capacity = Some(n),
                Some(_) => return Err(format!("room \"{name}\": capacity is 2 to 64 people")),
                None => {
                    return Err(format!(
                        "room \"{name}\": \"{other}\" is not a room option (use open, token, mesh, sfu, auto, capacity=N)"
                    ))
                }
            },
        }
    }
    Ok(room)
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum KnockPolicy {
    Ask,
    Admit,
    Refuse,
}

#[derive(Subcommand)]
enum Command {
    /// Run the host (what plain `lancall-host` does)
    Serve,
    /// Show the local CA (fingerprint, files), or export it for a browser or phone to install
    Ca {
        /// Write the CA certificate to this file
        #[arg(long, value_name = "FILE")]
        export: Option<PathBuf>,
        /// Export as DER (what phones install) instead of PEM
        #[arg(long, requires = "export")]
        der: bool,
    },
    /// List the lancall hosts on this network (mDNS, and a scan of the local subnets when mDNS
    /// finds nothing), then exit
    Discover {
        /// How long to listen
        #[arg(long, default_value_t = 3.0, value_name = "SECONDS")]
        seconds: f64,
        /// Also scan the local subnets even if mDNS finds hosts (for networks that block multicast)
        #[arg(long, conflicts_with = "no_scan")]
        scan: bool,
        /// Never scan: mDNS only
        #[arg(long)]
        no_scan: bool,
        /// The port the scan probes
        #[arg(long, default_value_t = lancall_hub::server::DEFAULT_HTTPS_PORT, value_name = "PORT")]
        scan_port: u16,
        /// One JSON object per host per line
        #[arg(long)]
        json: bool,
        /// Use only this network interface (repeatable)
        #[arg(long = "interface", value_name = "NAME")]
        interfaces: Vec<String>,
    },
    /// List the recordings this host made (newest last), then exit
    Recordings {
        /// Look in this folder [default: recordings/ in the data folder]
        #[arg(long, value_name = "DIR", env = "LANCALL_RECORDINGS")]
        dir: Option<PathBuf>,
        /// One JSON object per file per line
        #[arg(long)]
        json: bool,
    },
    /// Issue a certificate for the given addresses and names into a folder (like `mkcert create-cert`)
    Issue {
        /// Folder to write leaf.crt (chain) and leaf.key into
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// IP addresses and DNS names (private ranges, *.local and localhost only)
        #[arg(required = true, value_name = "ADDR")]
        names: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli: Cli = config::parse();
    // Serving with text output: the log waits until the link and QR code are printed, so that
    // they are the first thing in the terminal. `--json` and the other commands log as they go.
    let hold = matches!(cli.command, None | Some(Command::Serve)) && !cli.serve.json;
    let held = init_logging(&cli.log_level, hold);
    let data_dir = match cli.data_dir.clone().or_else(|| dirs::data_dir().map(|d| d.join("lancall"))) {
        Some(d) => d,
        None => {
            log::error!("found no data folder for this user: give one with --data-dir");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        None | Some(Command::Serve) => serve(cli.serve, data_dir, held.as_ref()),
        Some(Command::Ca { export, der }) => show_ca(&data_dir, export.as_deref(), der),
        Some(Command::Issue { out, names }) => issue(&data_dir, &out, &names),
        Some(Command::Recordings { dir, json }) => list_recordings(&dir.unwrap_or_else(|| data_dir.join("recordings")), json),
        Some(Command::Discover { seconds, scan, no_scan, scan_port, json, interfaces }) => {
            let scan = if no_scan { ScanWhen::Never } else if scan { ScanWhen::Always } else { ScanWhen::IfNothingFound };
            discover(seconds, scan, scan_port, json, interfaces)
        }
    };
    // The link was printed, or start failed: either way, out with what the log held.
    if let Some(held) = &held {
        held.release();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            let mut source = std::error::Error::source(e.as_ref());
            while let Some(cause) = source {
                log::error!("  because: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr; with `hold`, through a gate that keeps the lines until the returned handle
/// releases them.
fn init_logging(level: &str, hold: bool) -> Option<held_log::HeldLog> {
    let mut builder = env_logger::Builder::new();
    builder.parse_filters(level).format_timestamp_millis();
    let held = if hold {
        let (held, writer) = held_log::HeldLog::stderr();
        // A pipe target has no terminal to look at: choose colours as for stderr itself.
        builder.write_style(stderr_style()).target(env_logger::Target::Pipe(Box::new(writer)));
        Some(held)
    } else {
        builder.target(env_logger::Target::Stderr);
        None
    };
    if std::env::var_os("RUST_LOG").is_some() {
        builder.parse_default_env();
    }
    builder.init();
    held
}

/// Colours when stderr is a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb say otherwise
/// (CLICOLOR_FORCE forces them), as env_logger decides for its own stderr target.
fn stderr_style() -> env_logger::WriteStyle {
    use std::io::IsTerminal;
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if var("NO_COLOR").is_some() {
        env_logger::WriteStyle::Never
    } else if var("CLICOLOR_FORCE").is_some_and(|v| v != "0") {
        env_logger::WriteStyle::Always
    } else if var("CLICOLOR").is_some_and(|v| v == "0") || var("TERM").is_some_and(|v| v == "dumb") {
        env_logger::WriteStyle::Never
    } else if std::io::stderr().is_terminal() {
        env_logger::WriteStyle::Always
    } else {
        env_logger::WriteStyle::Never
    }
}

type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// Writes one line to stdout (the program's output, as opposed to its log).
fn out(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// Runs the host until SIGINT or SIGTERM. `held`, the log held back during start, is released
/// once the link and QR code are printed.
fn serve(args: ServeArgs, data_dir: PathBuf, held: Option<&held_log::HeldLog>) -> Result<(), AnyError> {
    // Thousands of browsers may connect; the default soft limit of 1024 descriptors is too low.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        log::debug!("could not raise the open-files limit: {e}");
    }
    let mut config = HostConfig::new(data_dir);
    config.https_listen = args.listen;
    config.http_listen = if args.no_http {
        None
    } else {
        Some(args.http_listen.unwrap_or_else(|| {
            let port = if args.listen.port() == 0 { 0 } else { DEFAULT_HTTP_PORT };
            SocketAddr::new(args.listen.ip(), port)
        }))
    };
    if let Some(name) = args.name {
        config.display_name = name;
    }
    config.new_token = args.new_token;
    config.ice_servers = args.ice_servers;
    config.external_tls = args.tls_cert.zip(args.tls_key);
    let mut rooms = args.rooms.iter().map(|r| RoomConfig {
        name: r.name.clone(),
        open: r.open.unwrap_or(args.open),
        capacity: r.capacity.unwrap_or(usize::from(args.capacity)),
        topology: r.topology.unwrap_or(args.topology.setting()),
    });
    if let Some(first) = rooms.next() {
        config.room = first.name;
        config.open = first.open;
        config.capacity = first.capacity;
        config.topology = first.topology;
    }
    config.more_rooms = rooms.collect();
    config.media_port = args.media_port;
    config.max_file_bytes = args.max_file_mb.map(|mb| mb.saturating_mul(1_000_000));
    if let Some(dir) = args.recordings {
        config.recordings = dir;
    }
    config.record = args.record;
    config.participants_may_record = args.allow_recording;
    if args.no_mdns || mdns_switched_off() {
        log::info!("mDNS advertising is off (--no-mdns): joiners need the link or the address");
    }
    config.advertise = !args.no_mdns && !mdns_switched_off();
    config.interfaces = policy(args.interfaces);
    let json = args.json;
    let defaults = RoomDefaults { open: args.open, capacity: usize::from(args.capacity), topology: args.topology.setting() };
    let knock = args.knock.unwrap_or_else(|| {
        use std::io::IsTerminal;
        if json || std::io::stdin().is_terminal() {
            KnockPolicy::Ask
        } else {
            KnockPolicy::Refuse
        }
    });
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        // Listen for SIGINT/SIGTERM before anything says "ready": a stop that arrives between
        // the ready line and a spawned task's first poll would otherwise take the default action
        // and kill the host without telling anyone (seen under load in the lifecycle test).
        let stop_signal = StopSignal::listen();
        let host = host::start(config).await?;
        // Subscribe before saying "ready": a client that knocks the moment it reads the ready
        // line must not knock before anyone listens (its knock was lost once in CI).
        let events = json.then(|| host.hub.subscribe());
        let knock_events = host.hub.subscribe();
        if json {
            print_ready_json(&host);
        } else {
            print_ready_text(&host);
        }
        if let Some(held) = held {
            held.release();
        }
        if let Some(events) = events {
            tokio::spawn(print_events(events));
        }
        let lines = read_commands(&host, defaults, json, knock == KnockPolicy::Ask);
        tokio::spawn(answer_knocks(host.hub.clone(), knock_events, knock, json, lines));
        let stop = host.stop_token();
        tokio::spawn(async move {
            stop_signal.wait().await;
            log::info!("stopping: telling everyone in the call");
            stop.cancel();
        });
        host.wait().await;
        if json {
            out(&serde_json::json!({"event": "stopped"}).to_string());
        }
        Ok::<(), AnyError>(())
    })
}

/// SIGINT or SIGTERM, listened for from the moment it is made.
struct StopSignal {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl StopSignal {
    /// Installs the handlers now (inside a Tokio runtime).
    fn listen() -> StopSignal {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
                (Ok(int), Ok(term)) => StopSignal { signals: Some((int, term)) },
                (Err(e), _) | (_, Err(e)) => {
                    log::warn!("cannot watch for SIGINT/SIGTERM ({e}); Ctrl+C may stop the host without a goodbye");
                    StopSignal { signals: None }
                }
            }
        }
        #[cfg(not(unix))]
        StopSignal {}
    }

    /// Until a stop signal arrives.
    async fn wait(self) {
        #[cfg(unix)]
        match self.signals {
            Some((mut int, mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn print_events(mut events: tokio::sync::broadcast::Receiver<HubEvent>) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let line = match events.recv().await {
            Ok(HubEvent::PeerJoined { room, peer }) => {
                serde_json::json!({"event": "peer-joined", "room": room, "peer": peer})
            }
            Ok(HubEvent::PeerLeft { room, peer, reason }) => {
                serde_json::json!({"event": "peer-left", "room": room, "peer": peer, "reason": reason})
            }
            Ok(HubEvent::Knock(k)) => serde_json::json!({"event": "knock", "id": k.id, "room": k.room, "name": k.name, "addr": k.addr}),
            Ok(HubEvent::KnockWithdrawn { id }) => serde_json::json!({"event": "knock-withdrawn", "id": id}),
            Ok(HubEvent::KnockAnswered { id, admitted }) => {
                serde_json::json!({"event": "knock-answered", "id": id, "admitted": admitted})
            }
            Ok(HubEvent::TopologyChanged { room, topology }) => {
                serde_json::json!({"event": "topology", "room": room, "topology": topology})
            }
            // Said by the command that changed them (room-added, room-removed).
            Ok(HubEvent::RoomsChanged) => continue,
            Ok(HubEvent::Recording { room, active, by, files, error }) => serde_json::json!({
                "event": "recording", "room": room, "active": active, "by": by,
                "files": files, "error": error,
            }),
            Err(RecvError::Lagged(n)) => serde_json::json!({"event": "events-missed", "count": n}),
            Err(RecvError::Closed) => return,
        };
        out(&line.to_string());
    }
}

/// Lines typed on stdin, read on a thread of their own (stdin has no async reader that works
/// everywhere).
fn stdin_lines() -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            match line {
                Ok(line) => {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    });
    rx
}

/// Reads the commands typed on stdin (with `--json`, one JSON object a line), acts on the
/// host's own ones ([`HostCommand`]) and passes the rest (answers to knocks) on. Only when stdin
/// is a terminal, with `--json` or when knocks are asked about: a host started from a service
/// manager with its defaults reads nothing.
fn read_commands(host: &RunningHost, defaults: RoomDefaults, json: bool, asks: bool) -> Option<tokio::sync::mpsc::UnboundedReceiver<String>> {
    use std::io::IsTerminal;
    if !json && !asks && !std::io::stdin().is_terminal() {
        return None;
    }
    let (hub, rooms) = (host.hub.clone(), host.room_control());
    let mut lines = stdin_lines();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(line) = lines.recv().await {
            match HostCommand::parse(&line, json) {
                Some(Ok(HostCommand::Record { room, start })) => {
                    let hub = hub.clone();
                    tokio::spawn(async move { record_command(&hub, &room, start, json).await });
                }
                // In order: what is said of one room comes before the next command's answer.
                Some(Ok(HostCommand::AddRoom(spec))) => add_room(&rooms, spec, defaults, json).await,
                Some(Ok(HostCommand::RemoveRoom(name))) => match rooms.remove(&name) {
                    Ok(()) if json => out(&serde_json::json!({"event": "room-removed", "room": name}).to_string()),
                    Ok(()) => out(&format!("Room \"{name}\" removed; everyone in it was told.")),
                    Err(e) => command_failed("remove-room", &name, &e.to_string(), json),
                },
                Some(Err(e)) => command_failed("add-room", "", &e, json),
                None => {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            }
        }
    });
    Some(rx)
}

/// What a room made at run time gets when its options do not say.
#[derive(Clone, Copy)]
struct RoomDefaults {
    open: bool,
    capacity: usize,
    topology: RoomTopology,
}

/// A command typed to the running host.
#[derive(Debug, PartialEq, Eq)]
enum HostCommand {
    /// `record ROOM` / `stop-recording ROOM`; `{"record":"ROOM"}` / `{"stop-recording":"ROOM"}`.
    Record { room: String, start: bool },
    /// `add-room NAME[:OPTIONS]`; `{"add-room":"NAME[:OPTIONS]"}` (the options of `--room`).
    AddRoom(RoomArg),
    /// `remove-room NAME`; `{"remove-room":"NAME"}`.
    RemoveRoom(String),
}

impl HostCommand {
    /// `None`: not one of these (an answer to a knock, say); `Some(Err)`: one of these, badly
    /// written (the sentence says how to write it).
    fn parse(line: &str, json: bool) -> Option<Result<HostCommand, String>> {
        let (verb, arg) = if json {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            let obj = v.as_object()?;
            let (verb, arg) = obj.iter().find(|(k, _)| matches!(k.as_str(), "record" | "stop-recording" | "add-room" | "remove-room"))?;
            (verb.clone(), arg.as_str().map(str::to_owned))
        } else {
            let mut words = line.split_whitespace();
            let verb = words.next()?.to_owned();
            if !matches!(verb.as_str(), "record" | "stop-recording" | "add-room" | "remove-room") {
                return None;
            }
            (verb, words.next().map(str::to_owned))
        };
        let Some(arg) = arg else {
            return Some(Err(format!("\"{verb}\" needs a room name, e.g. {verb} standup")));
        };
        Some(match verb.as_str() {
            "record" => Ok(HostCommand::Record { room: arg, start: true }),
            "stop-recording" => Ok(HostCommand::Record { room: arg, start: false }),
            "add-room" => parse_room(&arg).map(HostCommand::AddRoom),
            _ => Ok(HostCommand::RemoveRoom(arg)),
        })
    }
}

fn command_failed(command: &str, room: &str, message: &str, json: bool) {
    let message = format!("{}{}.", message[..1.min(message.len())].to_uppercase(), message.get(1..).unwrap_or_default());
    if json {
        out(&serde_json::json!({"event": "error", "command": command, "room": room, "message": message}).to_string());
    } else {
        out(&message);
    }
}

async fn add_room(rooms: &lancall_hub::host::RoomControl, spec: RoomArg, defaults: RoomDefaults, json: bool) {
    let config = RoomConfig {
        name: spec.name.clone(),
        open: spec.open.unwrap_or(defaults.open),
        capacity: spec.capacity.unwrap_or(defaults.capacity),
        topology: spec.topology.unwrap_or(defaults.topology),
    };
    match rooms.add(config).await {
        Ok(room) => {
            let links = rooms.join_urls_for(&room);
            if json {
                out(&serde_json::json!({
                    "event": "room-added", "room": room.name, "token": room.token, "open": room.token.is_none(),
                    "capacity": room.capacity, "topology": room.setting.as_str(),
                    "join_url": links.first(), "join_urls": links,
                }).to_string());
            } else {
                out(&format!("Room \"{}\" added ({}): {}", room.name, room.setting.as_str(), links.first().map_or("", String::as_str)));
            }
        }
        Err(e) => command_failed("add-room", &spec.name, &e.to_string(), json),
    }
}

#[cfg(feature = "sfu")]
async fn record_command(hub: &lancall_hub::hub::Hub, room: &str, start: bool, json: bool) {
    let result = if start { hub.start_recording(room).await.map(|()| Vec::new()) } else { hub.stop_recording(room).await };
    match result {
        // The hub's `recording` event tells a --json reader; a person reads this.
        Ok(files) if !json => {
            if start {
                out(&format!("Recording room \"{room}\" (everyone in it is told)."));
            } else {
                out(&format!("Recording of \"{room}\" stopped:"));
                for f in files {
                    out(&format!("  {} ({}, {:.0} s)", f.path.display(), f.name, f.duration.as_secs_f64()));
                }
            }
        }
        Ok(_) => {}
        Err(e) => command_failed(if start { "record" } else { "stop-recording" }, room, &e.to_string(), json),
    }
}

#[cfg(not(feature = "sfu"))]
async fn record_command(_hub: &lancall_hub::hub::Hub, room: &str, _start: bool, _json: bool) {
    out(&format!("This lancall-host was built without the SFU: room \"{room}\" cannot be recorded."));
}

/// `lancall-host recordings`: the files in the recordings folder, oldest first.
fn list_recordings(dir: &Path, json: bool) -> Result<(), AnyError> {
    let mut files: Vec<(std::time::SystemTime, PathBuf, u64)> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "webm"))
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                Some((meta.modified().unwrap_or(std::time::UNIX_EPOCH), e.path(), meta.len()))
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(format!("cannot read the recordings folder {}: {e}", dir.display()).into()),
    };
    files.sort();
    for (modified, path, bytes) in &files {
        if json {
            let modified = modified.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            out(&serde_json::json!({"path": path, "bytes": bytes, "modified": modified}).to_string());
        } else {
            out(&format!("{}  {:.1} MB", path.display(), *bytes as f64 / 1e6));
        }
    }
    if files.is_empty() && !json {
        out(&format!("No recordings in {} yet.", dir.display()));
    }
    Ok(())
}

/// Answers knocks by policy, or asks the person at the terminal (or the program on stdin with
/// `--json`: `lines`, what [`read_commands`] did not take), one knock at a time.
async fn answer_knocks(
    hub: lancall_hub::hub::Hub,
    mut events: tokio::sync::broadcast::Receiver<HubEvent>,
    policy: KnockPolicy,
    json: bool,
    lines: Option<tokio::sync::mpsc::UnboundedReceiver<String>>,
) {
    use tokio::sync::broadcast::error::RecvError;
    let mut lines = if policy == KnockPolicy::Ask { lines } else { None };
    loop {
        let knock = match events.recv().await {
            Ok(HubEvent::Knock(k)) => k,
            Ok(_) | Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        };
        let admit = match (policy, lines.as_mut()) {
            (KnockPolicy::Admit, _) => true,
            (KnockPolicy::Refuse, _) | (KnockPolicy::Ask, None) => false,
            (KnockPolicy::Ask, Some(lines)) if json => {
                // The knock event was printed; wait for {"admit": ID} or {"refuse": ID}.
                let mut answer = None;
                while answer.is_none() {
                    let Some(line) = lines.recv().await else { return };
                    match serde_json::from_str::<serde_json::Value>(&line) {
                        Ok(v) if v["admit"] == knock.id.as_str() => answer = Some(true),
                        Ok(v) if v["refuse"] == knock.id.as_str() => answer = Some(false),
                        Ok(_) => log::warn!("ignored stdin line: expected {{\"admit\":\"{}\"}} or {{\"refuse\":\"{}\"}}", knock.id, knock.id),
                        Err(e) => log::warn!("ignored stdin line that is not JSON: {e}"),
                    }
                }
                answer.unwrap_or(false)
            }
            (KnockPolicy::Ask, Some(lines)) => {
                let from = knock.addr.map(|a| format!(" from {a}")).unwrap_or_default();
                out(&format!("\n{}{from} knocks on room \"{}\". Let them in? [y/N]", knock.name, knock.room));
                let Some(line) = lines.recv().await else { return };
                matches!(line.trim().to_lowercase().as_str(), "y" | "yes")
            }
        };
        match hub.answer_knock(&knock.id, admit) {
            Ok(()) if !json => out(if admit { "Let in." } else { "Refused." }),
            Ok(()) => {}
            Err(e) => {
                if !json {
                    out(&format!("{e}."));
                }
            }
        }
    }
}

fn print_ready_json(host: &RunningHost) {
    let join_urls = host.join_urls();
    let line = serde_json::json!({
        "event": "ready",
        "name": host.display_name,
        "https_url": host.https_urls().first(),
        "https_urls": host.https_urls(),
        "http_url": host.http_urls().first(),
        "join_url": join_urls.first(),
        "join_urls": join_urls,
        "room": host.room.name,
        "token": host.room.token,
        "open": host.room.token.is_none(),
        "capacity": host.room.capacity,
        "ca_sha256": host.ca_fingerprint.map(|f| f.to_hex()),
        "ca_words": host.ca_fingerprint.map(|f| f.speakable()),
        "mdns_instance": host.mdns_instance,
        "host_id": host.host_id,
        "https_port": host.https_addr.port(),
        "http_port": host.http_addr.map(|a| a.port()),
        "topology": host.room.setting.as_str(),
        "rooms": host.rooms.iter().map(|r| serde_json::json!({
            "room": r.name,
            "token": r.token,
            "open": r.token.is_none(),
            "capacity": r.capacity,
            "topology": r.setting.as_str(),
            "join_url": host.join_urls_for(r).first(),
            "join_urls": host.join_urls_for(r),
        })).collect::<Vec<_>>(),
        "media_port": host.media_addr.map(|a| a.port()),
        "media_tcp_port": media_tcp_port(host),
        "pid": std::process::id(),
    });
    out(&line.to_string());
}

/// What a room's media does, for the banner.
/// The SFU's ICE-TCP port, when it has one.
fn media_tcp_port(host: &RunningHost) -> Option<u16> {
    #[cfg(feature = "sfu")]
    return host.hub.media_tcp_addr().map(|a| a.port());
    #[cfg(not(feature = "sfu"))]
    return {
        let _ = host;
        None
    };
}

fn media_line(room: &lancall_hub::hub::RoomInfo, media: Option<SocketAddr>, tcp: Option<u16>) -> Option<String> {
    let port = media?.port();
    let port = match tcp {
        Some(tcp) => format!("{port}; TCP {tcp} where UDP is blocked"),
        None => port.to_string(),
    };
    match room.setting {
        RoomTopology::Mesh => None,
        RoomTopology::Auto => Some(format!(
            "Media goes directly between two people, and through this host (SFU, UDP port {port}) from the third on."
        )),
        RoomTopology::Sfu => Some(format!("Media goes through this host (SFU, UDP port {port}): each device sends once.")),
    }
}

fn print_ready_text(host: &RunningHost) {
    out(&format!("lancall host \"{}\" is ready.", host.display_name));
    out("");
    let who = |room: &lancall_hub::hub::RoomInfo| if room.token.is_some() { "anyone with this link" } else { "anyone on this network" };
    out(&format!("Room \"{}\": {} can join.", host.room.name, who(&host.room)));
    if let Some(line) = media_line(&host.room, host.media_addr, media_tcp_port(host)) {
        out(&line);
    }
    out("Open the link in a browser, or scan the code with a phone:");
    for (url, ip) in host.join_urls().iter().zip(&host.addresses) {
        out("");
        out(&format!("  {url}"));
        if ip.is_loopback() && host.https_addr.ip().is_loopback() {
            out("  (--listen is a loopback address: only this machine can join)");
        } else if ip.is_loopback() {
            out("  (no LAN address found: only this machine can join; connect to a network and restart)");
        }
        match lancall_hub::qr::qr_terminal(url) {
            Some(qr) => out(&qr),
            None => out("  (the link is too long for a QR code)"),
        }
        let base = url.split_once('#').map_or(url.as_str(), |(base, _)| base);
        for line in typed_form(base, &host.room.name, host.room.token.as_deref()) {
            out(&line);
        }
    }
    // The other rooms: their links (the QR codes above are the first room's).
    for room in host.rooms.iter().skip(1) {
        out("");
        out(&format!("Room \"{}\" ({} people at most): {} can join.", room.name, room.capacity, who(room)));
        if let Some(line) = media_line(room, host.media_addr, media_tcp_port(host)) {
            out(&line);
        }
        for url in host.join_urls_for(room) {
            out(&format!("  {url}"));
        }
    }
    out("");
    if let Some(fp) = host.ca_fingerprint {
        out("Browsers warn about the certificate until the device trusts this host's CA.");
        for url in host.http_urls() {
            out(&format!("To trust it (phones, once): open {url}"));
        }
        out(&format!("CA fingerprint (SHA-256): {}", fp.to_colon_hex()));
        out(&format!("Its four words, to compare aloud with a joining device: {}", fp.speakable()));
    }
    if let Some(instance) = &host.mdns_instance {
        out(&format!("Apps on this network see it as \"{instance}\"."));
    }
    out("Press Ctrl+C to stop.");
}

/// The join link in short pieces a person can read out or type, each line within 80 columns:
/// the page's address (a browser opened there without the link's `#…` shows the "Where to
/// join" fields) and what goes in its Room and Token fields. The fingerprint is left out: a
/// browser checks the certificate itself, and the app takes it from the link, the QR code, or
/// the host's mDNS record.
fn typed_form(base: &str, room: &str, token: Option<&str>) -> Vec<String> {
    let fields = if token.is_some() { "Room and Token" } else { "Room" };
    let mut lines = vec![
        format!("  To type it instead, open this in a browser and fill in {fields}:"),
        format!("    {base}"),
        format!("    Room:  {room}"),
    ];
    if let Some(token) = token {
        lines.push(format!("    Token: {token}"));
    }
    lines
}

fn policy(interfaces: Vec<String>) -> InterfacePolicy {
    if interfaces.is_empty() {
        InterfacePolicy::default()
    } else {
        InterfacePolicy::only(interfaces)
    }
}

/// `LANCALL_NO_MDNS` is set (`1`, `true`, `yes` or `on`, as the app reads it): no mDNS and no
/// scan.
fn mdns_switched_off() -> bool {
    std::env::var("LANCALL_NO_MDNS").is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes" | "on"))
}

/// When `discover` scans the subnets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ScanWhen {
    Never,
    Always,
    IfNothingFound,
}

fn discover(seconds: f64, scan: ScanWhen, scan_port: u16, json: bool, interfaces: Vec<String>) -> Result<(), AnyError> {
    if !(0.1..=600.0).contains(&seconds) {
        return Err("--seconds takes a number from 0.1 to 600".into());
    }
    if mdns_switched_off() {
        // The switch that turns mDNS off turns the scan off too: nothing is sent.
        return Err("discovery is off (LANCALL_NO_MDNS is set): open the host's link instead".into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let policy = policy(interfaces);
    let mut hosts = runtime.block_on(discovery::discover_for(Duration::from_secs_f64(seconds), &policy))?;
    if scan == ScanWhen::Always || (scan == ScanWhen::IfNothingFound && hosts.is_empty()) {
        let (scanned, _) = runtime.block_on(discovery::scan_subnets(&policy, &discovery::ScanConfig::for_port(scan_port)));
        hosts = discovery::merge(hosts.into_iter().chain(scanned).collect());
    }
    if json {
        let lines = host_list::format_hosts_json_lines(&hosts);
        if !lines.is_empty() {
            out(lines.trim_end());
        }
    } else if hosts.is_empty() {
        out("No lancall hosts found on this network. Is the host on the same Wi-Fi, and not started with --no-mdns?");
    } else {
        out(host_list::format_hosts_human(&hosts).trim_end());
    }
    Ok(())
}

fn show_ca(data_dir: &Path, export: Option<&Path>, der: bool) -> Result<(), AnyError> {
    let authority = Authority::load_or_create(data_dir)?;
    match export {
        Some(path) => {
            let bytes = if der { authority.ca_der().to_vec() } else { authority.ca_pem().into_bytes() };
            std::fs::write(path, bytes).map_err(|e| format!("could not write {}: {e}", path.display()))?;
            out(&format!("Wrote the CA certificate ({}) to {}", if der { "DER" } else { "PEM" }, path.display()));
        }
        None => {
            out(&format!("CA certificate: {}", Authority::cert_path(data_dir).display()));
            out(&format!("SHA-256 fingerprint: {}", authority.fingerprint().to_colon_hex()));
            out(&format!("Four words to compare: {}", authority.fingerprint().speakable()));
            out(&format!("Valid until: {}", authority.not_after()));
            out("It is limited to private addresses, localhost and .local names.");
            out(&authority.ca_pem());
        }
    }
    Ok(())
}

fn issue(data_dir: &Path, out_dir: &Path, names: &[String]) -> Result<(), AnyError> {
    let authority = Authority::load_or_create(data_dir)?;
    let (ips, dns): (Vec<&String>, Vec<&String>) = names.iter().partition(|n| n.parse::<IpAddr>().is_ok());
    let ips: Vec<IpAddr> = ips.iter().filter_map(|n| n.parse().ok()).collect();
    for ip in &ips {
        if !lancall_certs::is_permitted_ip(*ip) {
            return Err(format!("{ip} is not a private or link-local address: this CA may only certify those").into());
        }
    }
    let leaf = authority.issue_leaf(&LeafNames::new(ips, dns))?;
    std::fs::create_dir_all(out_dir).map_err(|e| format!("could not create {}: {e}", out_dir.display()))?;
    leaf.write_to(out_dir)?;
    out(&format!("Wrote {} and {} in {}", lancall_certs::LEAF_CERT_FILE, lancall_certs::LEAF_KEY_FILE, out_dir.display()));
    out(&format!("Valid until {}; issued by the CA with SHA-256 {}", leaf.not_after(), authority.fingerprint().to_colon_hex()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::typed_form;

    #[test]
    fn the_typed_form_fits_80_columns_at_its_longest() {
        let widest_base = "https://[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535/";
        let longest_room = "r".repeat(lancall_protocol::hub::MAX_ROOM_CHARS);
        for token in [Some("0123456789abcdef0123456789abcdef"), None] {
            let lines = typed_form(widest_base, &longest_room, token);
            for line in &lines {
                assert!(line.chars().count() <= 80, "{} columns: {line}", line.chars().count());
            }
            assert!(lines.iter().any(|l| l.trim() == widest_base), "{lines:?}");
            assert!(lines.iter().any(|l| l.trim() == format!("Room:  {longest_room}")), "{lines:?}");
            let token_line = token.map(|t| format!("Token: {t}"));
            assert_eq!(lines.iter().map(|l| l.trim()).find(|l| l.starts_with("Token:")), token_line.as_deref(), "{lines:?}");
        }
    }
}
