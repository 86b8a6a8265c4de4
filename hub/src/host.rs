//! A whole host in one call: certificates, hub, room, both ports. `lancall-host` is a thin
//! command line around [`start`]; the Tauri app calls the same function to host in-process.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::time::Duration;

use lancall_certs::{Authority, Fingerprint, Leaf, LeafNames, ReloadableCert};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::discovery::{self, Advertisement, Advertiser, AdvertiserOptions};
use crate::hub::{Hub, HubConfig, HubError, HubEvent, RoomInfo, RoomSpec, RoomTopology};
use crate::netif::{self, AddressWatcher, InterfacePolicy};
use lancall_protocol::IceServer;
use crate::server::{Server, ServerError, ServerOptions, Timing};
use crate::trust_page::CaDownload;

/// Everything a host needs to start.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Where the CA and the leaf certificate are kept.
    pub data_dir: PathBuf,
    /// HTTPS port address (port 0: any free port).
    pub https_listen: SocketAddr,
    /// Plain-HTTP port address, or none.
    pub http_listen: Option<SocketAddr>,
    /// The host's name as others see it.
    pub display_name: String,
    /// The room to make.
    pub room: String,
    /// Whether the room is open to the LAN (no token).
    pub open: bool,
    /// Peers per room.
    pub capacity: usize,
    /// STUN/TURN servers for clients; none by default (host candidates suffice on a LAN).
    pub ice_servers: Vec<IceServer>,
    /// Serve this certificate chain and key (PEM files) instead of the generated leaf.
    pub external_tls: Option<(PathBuf, PathBuf)>,
    /// Keep-alive and timeouts.
    pub timing: Timing,
    /// Make a new token for the room instead of reusing the saved one: old links stop working.
    pub new_token: bool,
    /// Advertise the host on the LAN by mDNS (`_lancall._tcp`). Off unless asked for, so that a
    /// library user (a test, or an app with its own advertiser) never multicasts by surprise.
    pub advertise: bool,
    /// Which interfaces count as the LAN: for links, the certificate and mDNS.
    pub interfaces: InterfacePolicy,
    /// How often to look for address changes (Wi-Fi to Ethernet, DHCP renewal).
    pub address_poll: Duration,
    /// How the room's media travels: directly between devices (`mesh`), through this host's
    /// SFU (`sfu`, which opens the UDP media port), or directly for two and through the SFU from
    /// three people on (`auto`).
    pub topology: RoomTopology,
    /// More rooms beside the first (`room`, `open`, `capacity`, `topology`), each with its own
    /// token, capacity and topology (`lancall-host --room` given more than once).
    pub more_rooms: Vec<RoomConfig>,
    /// The SFU's UDP port; `None`: the HTTPS port's number (one number to allow in a
    /// firewall, TCP for the page and signaling, UDP for media); 0: any free port.
    pub media_port: Option<u16>,
    /// The largest file people may send each other in a call, in bytes; `None`: no cap.
    pub max_file_bytes: Option<u64>,
    /// Where recordings of rooms through the SFU go [`recordings/` in the data folder].
    pub recordings: PathBuf,
    /// Record every room whose media goes through the SFU from the start.
    pub record: bool,
    /// Participants may start and stop the host's recording of their room.
    pub participants_may_record: bool,
}

impl HostConfig {
    /// Defaults for everything but the data folder: all interfaces on the default ports,
    /// one room `call` that needs a token, 8 peers.
    pub fn new(data_dir: PathBuf) -> HostConfig {
        HostConfig {
            recordings: data_dir.join("recordings"),
            record: false,
            participants_may_record: false,
            data_dir,
            https_listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), crate::server::DEFAULT_HTTPS_PORT),
            http_listen: Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), crate::server::DEFAULT_HTTP_PORT)),
            display_name: lancall_certs::hostname().unwrap_or_else(|| "lancall host".to_owned()),
            room: "call".to_owned(),
            open: false,
            capacity: 8,
            ice_servers: Vec::new(),
            external_tls: None,
            timing: Timing::default(),
            new_token: false,
            advertise: false,
            interfaces: InterfacePolicy::default(),
            address_poll: discovery::DEFAULT_ADDRESS_POLL,
            topology: RoomTopology::Mesh,
            more_rooms: Vec::new(),
            media_port: None,
            max_file_bytes: None,
        }
    }

    /// Every room to make, the first one first.
    pub fn rooms(&self) -> Vec<RoomConfig> {
        let first = RoomConfig { name: self.room.clone(), open: self.open, capacity: self.capacity, topology: self.topology };
        std::iter::once(first).chain(self.more_rooms.iter().cloned()).collect()
    }
}

/// One room a host makes at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomConfig {
    /// Room name, as in links.
    pub name: String,
    /// Open to anyone on the LAN, with no token.
    pub open: bool,
    /// Peers at most.
    pub capacity: usize,
    /// How its media travels.
    pub topology: RoomTopology,
}

/// Why a host could not start.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// Making or loading certificates failed.
    #[error(transparent)]
    Certs(#[from] lancall_certs::CertError),
    /// A port could not be opened.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The room could not be made.
    #[error(transparent)]
    Room(#[from] HubError),
    /// The saved room tokens could not be written.
    #[error("could not save the room token in {path}: {source}. Check that the data folder is writable, or pick another with --data-dir")]
    Tokens {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// mDNS advertising could not start.
    #[error("could not advertise this host on the LAN: {0}. Start with --no-mdns and share the link instead")]
    Discovery(#[from] discovery::DiscoveryError),
    /// The SFU's media port could not be opened.
    #[cfg(feature = "sfu")]
    #[error("could not open the media port for calls through this host: {0}. Pick another with --media-port, or use --topology mesh")]
    Media(#[from] lancall_sfu::SfuError),
    /// The data folder could not be made.
    #[error("could not create the data folder {path}: {source}. Pick another with --data-dir")]
    DataDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A host that is serving.
pub struct RunningHost {
    /// The hub, for the in-process client and for watching who joins.
    pub hub: Hub,
    /// The first room made at start.
    pub room: RoomInfo,
    /// Every room made at start, the first one first.
    pub rooms: Vec<RoomInfo>,
    /// Where the HTTPS port listens.
    pub https_addr: SocketAddr,
    /// Where the plain-HTTP port listens.
    pub http_addr: Option<SocketAddr>,
    /// The CA's fingerprint; `None` when serving an external certificate.
    pub ca_fingerprint: Option<Fingerprint>,
    /// The addresses that went in links at start, best first ([`RunningHost::join_urls`] follows
    /// later changes).
    pub addresses: Vec<IpAddr>,
    /// The mDNS instance name, when advertising.
    pub mdns_instance: Option<String>,
    /// A stable id for this host (from its CA), as in mDNS TXT `id`.
    pub host_id: String,
    /// The host's name as others see it.
    pub display_name: String,
    /// The SFU's UDP media port, when the room's media goes through this host.
    pub media_addr: Option<SocketAddr>,
    stop: CancellationToken,
    task: JoinHandle<()>,
    lan: watch::Receiver<Vec<IpAddr>>,
    control: RoomControl,
}

/// Adds and removes rooms while the host runs (`lancall-host`'s stdin commands). Clone it freely.
#[derive(Clone)]
pub struct RoomControl {
    hub: Hub,
    data_dir: PathBuf,
    /// Where the SFU would listen, for the first room that needs it when none was made at start.
    media_bind: SocketAddr,
    listen: IpAddr,
    lan: watch::Receiver<Vec<IpAddr>>,
    https_port: u16,
    ca_fingerprint: Option<Fingerprint>,
}

impl RoomControl {
    /// Makes a room (with its saved token when it had one before; a new one is saved). The
    /// first room whose media goes through this host starts the SFU, if none runs yet.
    pub async fn add(&self, spec: RoomConfig) -> Result<RoomInfo, HostError> {
        #[cfg(feature = "sfu")]
        if spec.topology.needs_media_server() && !self.hub.has_media_server() {
            let addresses = link_addresses(self.listen, &self.lan.borrow());
            let (sfu, events) = lancall_sfu::Sfu::start(lancall_sfu::SfuConfig::new(self.media_bind, addresses))?;
            self.hub.attach_sfu(sfu, events)?;
            if self.listen.is_unspecified() {
                tokio::spawn(offer_media_on_address_change(self.lan.clone(), self.hub.clone(), self.listen));
            }
        }
        match make_room(&self.hub, &self.data_dir, &spec, true) {
            // The room works; its link will not survive a restart.
            Err(HostError::Tokens { path, source }) => {
                log::warn!("could not save the token of room \"{}\" in {}: {source}", spec.name, path.display());
                self.hub.room(&spec.name).ok_or_else(|| HubError::UnknownRoom(spec.name.clone()).into())
            }
            other => other,
        }
    }

    /// Removes a room: everyone in it is told and disconnected.
    pub fn remove(&self, name: &str) -> Result<(), HostError> {
        Ok(self.hub.remove_room(name)?)
    }

    /// `https://ADDR:PORT/` for each address now.
    pub fn https_urls(&self) -> Vec<String> {
        link_addresses(self.listen, &self.lan.borrow()).iter().map(|ip| format!("https://{}/", host_port(*ip, self.https_port))).collect()
    }

    /// The join link of `room` for each address now.
    pub fn join_urls_for(&self, room: &RoomInfo) -> Vec<String> {
        self.https_urls().into_iter().map(|base| format!("{base}#{}", self.fragment(room))).collect()
    }

    fn fragment(&self, room: &RoomInfo) -> String {
        let mut f = format!("room={}", room.name);
        if let Some(token) = &room.token {
            f.push_str(&format!("&token={token}"));
        }
        if let Some(fp) = &self.ca_fingerprint {
            f.push_str(&format!("&fp={}", fp.to_hex()));
        }
        f
    }
}

impl RunningHost {
    /// The handle that adds and removes rooms while this host runs.
    pub fn room_control(&self) -> RoomControl {
        self.control.clone()
    }

    /// The addresses that go in links now, best first.
    pub fn current_addresses(&self) -> Vec<IpAddr> {
        link_addresses(self.https_addr.ip(), &self.lan.borrow())
    }

    /// `https://ADDR:PORT/` for each address.
    pub fn https_urls(&self) -> Vec<String> {
        self.control.https_urls()
    }

    /// The plain-HTTP CA page for each address.
    pub fn http_urls(&self) -> Vec<String> {
        match self.http_addr {
            Some(http) => self.current_addresses().iter().map(|ip| format!("http://{}/", host_port(*ip, http.port()))).collect(),
            None => Vec::new(),
        }
    }

    /// The join link for each address: room, token and CA fingerprint in the fragment, which
    /// browsers never send to a server or put in a Referer.
    pub fn join_urls(&self) -> Vec<String> {
        self.join_urls_for(&self.room)
    }

    /// The join link of `room` for each address.
    pub fn join_urls_for(&self, room: &RoomInfo) -> Vec<String> {
        self.control.join_urls_for(room)
    }

    /// A handle that stops the host when cancelled (for signal handlers).
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Tells every client the host is closing, closes the ports, and waits for that.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }

    /// Waits until the host stops (someone cancelled [`RunningHost::stop_token`]).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

fn hub_media_addr(hub: &Hub) -> Option<SocketAddr> {
    #[cfg(feature = "sfu")]
    return hub.media_addr();
    #[cfg(not(feature = "sfu"))]
    return {
        let _ = hub;
        None
    };
}

fn host_port(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

/// The addresses to put in links: the listening address when it is a specific one, otherwise
/// the machine's LAN addresses (IPv4 first), or loopback when there is no LAN at all.
pub fn link_addresses(listen: IpAddr, lan: &[IpAddr]) -> Vec<IpAddr> {
    if !listen.is_unspecified() {
        return vec![listen];
    }
    let mut addrs: Vec<IpAddr> = lan.iter().copied().filter(|ip| !ip.is_loopback()).collect();
    if listen.is_ipv4() {
        addrs.retain(IpAddr::is_ipv4);
    }
    addrs.sort_by_key(|ip| (ip.is_ipv6(), *ip));
    addrs.dedup();
    if addrs.is_empty() {
        addrs.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    addrs
}

/// File in the data folder that keeps each room's token, so that links survive a restart.
pub const TOKENS_FILE: &str = "rooms.json";

/// Makes `spec`'s room with its saved token (when `reuse` and it had one), saving a new one.
fn make_room(hub: &Hub, data_dir: &Path, spec: &RoomConfig, reuse: bool) -> Result<RoomInfo, HostError> {
    let saved = (!spec.open && reuse).then(|| saved_token(data_dir, &spec.name)).flatten();
    let room = hub.create_room(RoomSpec {
        name: spec.name.clone(),
        open: spec.open,
        capacity: Some(spec.capacity),
        token: saved.clone(),
        topology: spec.topology,
    })?;
    if let (Some(token), true) = (&room.token, saved.is_none()) {
        save_token(data_dir, &spec.name, token)?;
    }
    Ok(room)
}

fn saved_token(dir: &Path, room: &str) -> Option<String> {
    let path = dir.join(TOKENS_FILE);
    let text = std::fs::read_to_string(&path).ok()?;
    let saved: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            log::warn!("ignoring {}: {e}; the room gets a new token (old links stop working)", path.display());
            return None;
        }
    };
    let token = saved["rooms"][room]["token"].as_str()?.to_owned();
    crate::hub::is_token(&token).then_some(token)
}

/// Saves a room's token beside the others, readable only by this user (it is a secret: anyone
/// with it can join), written whole or not at all.
fn save_token(dir: &Path, room: &str, token: &str) -> Result<(), HostError> {
    let path = dir.join(TOKENS_FILE);
    let mut saved: serde_json::Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    if !saved["rooms"].is_object() {
        saved["rooms"] = serde_json::json!({});
    }
    saved["rooms"][room] = serde_json::json!({ "token": token });
    let tmp = dir.join(format!(".{TOKENS_FILE}.tmp"));
    let fail = |source| HostError::Tokens { path: path.clone(), source };
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).map_err(fail)?;
        file.write_all(serde_json::to_string_pretty(&saved).unwrap_or_default().as_bytes()).map_err(fail)?;
        file.sync_all().map_err(fail)?;
    }
    std::fs::rename(&tmp, &path).map_err(fail)?;
    Ok(())
}

/// Starts a host: loads or makes the CA and a leaf for the current addresses, makes the room,
/// opens both ports and serves until stopped.
pub async fn start(config: HostConfig) -> Result<RunningHost, HostError> {
    lancall_certs::install_crypto_provider();
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|source| HostError::DataDir { path: config.data_dir.clone(), source })?;
    let watcher = netif::watch_addresses(config.interfaces.clone(), config.address_poll);
    let lan = watcher.current();
    let addresses = link_addresses(config.https_listen.ip(), &lan);

    let (leaf, ca) = match &config.external_tls {
        Some((cert, key)) => (Leaf::load_pem_files(cert, key)?, None),
        None => {
            let authority = Authority::load_or_create(&config.data_dir)?;
            let (leaf, reissued) = authority.ensure_leaf(&config.data_dir, &leaf_names(&lan, &addresses, &authority))?;
            if reissued {
                log::info!("issued a new certificate for this host's addresses");
            }
            (leaf, Some(authority))
        }
    };
    let host_id = match &ca {
        Some(authority) => authority.fingerprint().to_hex()[..16].to_owned(),
        None => leaf.fingerprint().to_hex()[..16].to_owned(),
    };
    let resolver: Arc<ReloadableCert> = ReloadableCert::new(&leaf)?;
    let tls = Arc::new(lancall_certs::server_config(resolver.clone()));

    let hub = Hub::new(HubConfig {
        default_capacity: config.capacity,
        ice_servers: config.ice_servers.clone(),
        max_file_bytes: config.max_file_bytes,
        recordings: Some(config.recordings.clone()),
        participants_may_record: config.participants_may_record,
        ..HubConfig::default()
    });
    let room_configs = config.rooms();
    #[cfg(feature = "sfu")]
    if room_configs.iter().any(|r| r.topology.needs_media_server()) {
        let port = config.media_port.unwrap_or(config.https_listen.port());
        let mut sfu_config = lancall_sfu::SfuConfig::new(SocketAddr::new(config.https_listen.ip(), port), addresses.clone());
        // The SFU starts before the HTTPS port is bound: its ICE-TCP port must not take that
        // number (the default media port has it), so it tries the next one.
        if port != 0 && port == config.https_listen.port() {
            sfu_config.tcp_port = Some(port.saturating_add(1));
        }
        let (sfu, events) = lancall_sfu::Sfu::start(sfu_config)?;
        hub.attach_sfu(sfu, events)?;
    }
    let mut rooms = Vec::new();
    for spec in &room_configs {
        rooms.push(make_room(&hub, &config.data_dir, spec, !config.new_token)?);
    }
    #[cfg(feature = "sfu")]
    if config.record {
        for spec in room_configs.iter().filter(|r| r.topology == RoomTopology::Sfu) {
            if let Err(e) = hub.start_recording(&spec.name).await {
                log::warn!("room \"{}\" is not recorded: {e}", spec.name);
            }
        }
    }
    let room = rooms[0].clone();
    let ca_fingerprint: Option<Fingerprint> = ca.as_ref().map(Authority::fingerprint);
    let ca_download = ca.as_ref().map(|a| CaDownload {
        pem: a.ca_pem(),
        der: a.ca_der().to_vec(),
        sha256_hex: a.fingerprint().to_hex(),
        words: a.fingerprint().speakable(),
    });
    let server = Server::bind(
        hub.clone(),
        ServerOptions {
            https_listen: config.https_listen,
            http_listen: config.http_listen,
            tls,
            ca: ca_download,
            host_name: config.display_name.clone(),
            host_id: ca.as_ref().map(|_| host_id.clone()),
            timing: config.timing,
        },
    )
    .await?;
    let https_addr = server.https_addr().map_err(|source| ServerError::Bind { addr: config.https_listen, source })?;
    let http_addr = match (server.http_addr(), config.http_listen) {
        (Some(Ok(a)), _) => Some(a),
        (Some(Err(source)), Some(addr)) => return Err(ServerError::Bind { addr, source }.into()),
        _ => None,
    };
    let advertiser = match (&ca, config.advertise) {
        (Some(authority), true) => {
            let ad = Advertisement {
                display_name: config.display_name.clone(),
                host_id: host_id.clone(),
                port: https_addr.port(),
                ca_fingerprint: authority.fingerprint(),
                open_rooms: hub.has_open_rooms(),
            };
            // A host listening on one address must advertise only that one; otherwise joiners
            // would try addresses where nothing answers.
            let addresses = if config.https_listen.ip().is_unspecified() {
                watcher.subscribe()
            } else {
                watch::channel(vec![config.https_listen.ip()]).1
            };
            let options = AdvertiserOptions { addresses: Some(addresses), ..AdvertiserOptions::default() };
            Some(Advertiser::start_with(ad, &config.interfaces, options)?)
        }
        (None, true) => {
            log::warn!("not advertising by mDNS: app joiners pin the host's own CA, and this host serves another certificate; share the link instead");
            None
        }
        (_, false) => None,
    };
    let mdns_instance = advertiser.as_ref().map(Advertiser::instance_name);

    let stop = CancellationToken::new();
    let lan_rx = watcher.subscribe();
    let reissue = ca.map(|authority| {
        tokio::spawn(reissue_on_address_change(
            watcher.subscribe(),
            authority,
            resolver,
            config.data_dir.clone(),
            https_addr.ip(),
        ))
    });
    #[cfg(feature = "sfu")]
    if config.https_listen.ip().is_unspecified() && hub.media_addr().is_some() {
        tokio::spawn(offer_media_on_address_change(watcher.subscribe(), hub.clone(), config.https_listen.ip()));
    }
    let task = tokio::spawn(run_until_stopped(hub.clone(), server, stop.clone(), advertiser, watcher, reissue));
    let media_addr = hub_media_addr(&hub);
    let media_bind = SocketAddr::new(config.https_listen.ip(), config.media_port.unwrap_or(https_addr.port()));
    let hub_for_control = hub.clone();
    log::info!("host \"{}\" serving HTTPS on {https_addr}", config.display_name);
    Ok(RunningHost {
        hub,
        room,
        rooms,
        https_addr,
        http_addr,
        ca_fingerprint,
        addresses,
        mdns_instance,
        host_id,
        display_name: config.display_name,
        media_addr,
        stop,
        task,
        control: RoomControl {
            hub: hub_for_control,
            data_dir: config.data_dir.clone(),
            media_bind,
            listen: config.https_listen.ip(),
            lan: lan_rx.clone(),
            https_port: https_addr.port(),
            ca_fingerprint,
        },
        lan: lan_rx,
    })
}

/// Follows the LAN's addresses with the SFU's candidates (Wi-Fi to Ethernet, a new DHCP lease),
/// until the watcher stops.
#[cfg(feature = "sfu")]
async fn offer_media_on_address_change(mut lan: watch::Receiver<Vec<IpAddr>>, hub: Hub, listen: IpAddr) {
    while lan.changed().await.is_ok() {
        let addresses = link_addresses(listen, &lan.borrow_and_update().clone());
        match hub.set_media_addresses(addresses.clone()).await {
            Ok(()) => log::info!("the SFU now offers {addresses:?}"),
            Err(e) => log::warn!("the SFU kept its old addresses: {e}"),
        }
    }
}

/// Names for the leaf: the LAN and link addresses, loopback, `localhost`, `<hostname>.local`,
/// and the mDNS host name the advertiser uses for this host.
fn leaf_names(lan: &[IpAddr], links: &[IpAddr], authority: &Authority) -> LeafNames {
    let mut ips = lan.to_vec();
    ips.extend(links.iter().copied());
    let base = LeafNames::for_host(&ips, lancall_certs::hostname().as_deref());
    let mdns = discovery::mdns_hostname(&authority.fingerprint().to_hex()[..16]);
    let dns: Vec<String> = base.dns_names().map(str::to_owned).chain([mdns.trim_end_matches('.').to_owned()]).collect();
    LeafNames::new(base.ips(), dns)
}

/// When the LAN addresses change, issue a leaf for the new ones and serve it from then on: a
/// phone that joins by the new address must find it in the certificate.
async fn reissue_on_address_change(
    mut lan: watch::Receiver<Vec<IpAddr>>,
    authority: Authority,
    resolver: Arc<ReloadableCert>,
    data_dir: PathBuf,
    listen: IpAddr,
) {
    while lan.changed().await.is_ok() {
        let current = lan.borrow_and_update().clone();
        let names = leaf_names(&current, &link_addresses(listen, &current), &authority);
        match authority.ensure_leaf(&data_dir, &names).and_then(|(leaf, reissued)| {
            if reissued {
                resolver.set(&leaf)?;
            }
            Ok(reissued)
        }) {
            Ok(true) => log::info!("the LAN addresses changed to {current:?}: serving a new certificate for them"),
            Ok(false) => {}
            Err(e) => log::error!("the LAN addresses changed, but the certificate could not be reissued: {e}"),
        }
    }
}

/// Tells the LAN which rooms are open now (TXT `rooms` and `open`).
async fn readvertise_rooms(advertiser: &Advertiser, hub: &Hub) {
    let result = match advertiser.set_rooms(discovery::open_room_listings(hub)).await {
        Ok(()) if advertiser.advertisement().open_rooms != hub.has_open_rooms() => advertiser.set_open_rooms(hub.has_open_rooms()).await,
        other => other,
    };
    if let Err(e) = result {
        log::warn!("the rooms could not be advertised: {e}");
    }
}

async fn run_until_stopped(
    hub: Hub,
    server: Server,
    stop: CancellationToken,
    advertiser: Option<Advertiser>,
    watcher: AddressWatcher,
    reissue: Option<JoinHandle<()>>,
) {
    let serving = tokio::spawn(server.run(stop.clone()));
    // The rooms open to the LAN are in TXT, and follow rooms made or removed while running.
    let mut events = hub.subscribe();
    if let Some(advertiser) = &advertiser {
        readvertise_rooms(advertiser, &hub).await;
    }
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            event = events.recv() => match event {
                Ok(HubEvent::RoomsChanged) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    if let Some(advertiser) = &advertiser {
                        readvertise_rooms(advertiser, &hub).await;
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Closed) => stop.cancelled().await,
            },
        }
    }
    // Say goodbye on mDNS first, so that lists drop the host while its clients are told.
    if let Some(advertiser) = advertiser {
        advertiser.stop().await;
    }
    watcher.stop();
    if let Some(task) = reissue {
        task.abort();
    }
    let _ = serving.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_use_the_specific_listen_address_or_the_lan() {
        let lan: Vec<IpAddr> = vec!["192.168.1.20".parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)), "fd00::2".parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))];
        let specific: IpAddr = "10.99.1.1".parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(link_addresses(specific, &lan), vec![specific]);
        assert_eq!(link_addresses(IpAddr::V4(Ipv4Addr::UNSPECIFIED), &lan), vec![lan[0]]);
        assert_eq!(link_addresses(IpAddr::V4(Ipv4Addr::UNSPECIFIED), &[]), vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    }
}
