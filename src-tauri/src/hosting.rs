//! Hosting a call inside the app: the same host runtime as `lancall-host`
//! (`lancall_hub::host::start`: CA, leaf certificate, hub, HTTPS/WSS port) plus the mDNS
//! advertisement, all in this process.
//!
//! Knocks (a guest without the link's token asking to be let in) reach the UI with the
//! participant list: every hub event re-sends both, and the `answer_knock` command admits or
//! refuses one.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use lancall_hub::discovery::{Advertisement, Advertiser, CaFingerprint};
use lancall_hub::host::{self, HostConfig, HostError, RunningHost};
use lancall_hub::hub::{Hub, KnockInfo};
use lancall_hub::server::ServerError;
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use lancall_protocol::HostAddr;
use crate::error::AppError;
use crate::netlock::MulticastGuard;
use crate::options::AppOptions;

/// The folder, inside the app-data folder, for the CA and the leaf certificate.
pub const HOST_DATA_DIR: &str = "host";

/// Someone in the call, as the host's UI lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Participant {
    /// Peer id.
    pub id: String,
    /// Display name.
    pub name: String,
}

pub use lancall_hub::qr::{qr_matrix, QrMatrix};

/// Who is in the call and who is knocking: sent to the UI after every change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Presence {
    /// Who is in the call, oldest first.
    pub participants: Vec<Participant>,
    /// Who asks to be let in, oldest first.
    pub knocks: Vec<KnockInfo>,
}

/// What the UI shows while hosting.
#[derive(Debug, Clone, Serialize)]
pub struct HostingView {
    /// The host's name as others see it.
    pub name: String,
    /// The room.
    pub room: String,
    /// The room's token (none for an open room).
    pub token: Option<String>,
    /// `host:port` of the first link address: what this app's own webview joins.
    pub address: String,
    /// The join link for the first address.
    pub join_url: String,
    /// A join link for each LAN address.
    pub join_urls: Vec<String>,
    /// The plain-HTTP page that explains how to trust this host, for each address.
    pub trust_urls: Vec<String>,
    /// The QR code of `join_url`.
    pub qr: Option<QrMatrix>,
    /// The CA fingerprint (64 hex digits).
    pub fingerprint: Option<String>,
    /// Its four words, for joiners to compare aloud.
    pub words: Option<String>,
    /// Whether the host is advertised by mDNS.
    pub advertised: bool,
    /// Why not, when mDNS was wanted but failed.
    pub advertise_problem: Option<String>,
    /// Who is in the call now, oldest first.
    pub participants: Vec<Participant>,
    /// Who asks to be let in now.
    pub knocks: Vec<KnockInfo>,
}

/// A running in-app host.
pub struct Hosting {
    host: RunningHost,
    advertiser: Option<Advertiser>,
    forwarder: JoinHandle<()>,
    view: HostingView,
    _multicast: Option<MulticastGuard>,
}

/// The participants of `room` now.
pub fn participants(hub: &Hub, room: &str) -> Vec<Participant> {
    hub.room(room)
        .map(|r| r.peers.into_iter().map(|p| Participant { id: p.id, name: p.name }).collect())
        .unwrap_or_default()
}

/// Who is in `room` and who knocks on it now.
pub fn presence(hub: &Hub, room: &str) -> Presence {
    Presence {
        participants: participants(hub, room),
        knocks: hub.pending_knocks().into_iter().filter(|k| k.room == room).collect(),
    }
}

impl Hosting {
    /// Starts hosting: certificates in `data_dir/host`, the hub and its ports (the configured
    /// port, or any free one if it is taken), and the mDNS advertisement unless switched off.
    /// `on_presence` is called with the new lists whenever someone joins, leaves or knocks.
    pub async fn start(
        options: &AppOptions,
        data_dir: &Path,
        display_name: String,
        host_id: String,
        multicast: Option<MulticastGuard>,
        on_presence: impl Fn(Presence) + Send + 'static,
    ) -> Result<Hosting, AppError> {
        let mut config = HostConfig::new(data_dir.join(HOST_DATA_DIR));
        config.https_listen = options.https_listen;
        let http_port = if options.https_listen.port() == 0 { 0 } else { lancall_hub::server::DEFAULT_HTTP_PORT };
        config.http_listen = Some(SocketAddr::new(options.https_listen.ip(), http_port));
        config.display_name = display_name.clone();
        let host = match host::start(config.clone()).await {
            Err(HostError::Server(ServerError::Bind { addr, source })) if addr.port() != 0 => {
                log::info!("port {} is taken ({source}); hosting on any free port", addr.port());
                config.https_listen.set_port(0);
                config.http_listen = config.http_listen.map(|mut a| {
                    a.set_port(0);
                    a
                });
                host::start(config).await?
            }
            other => other?,
        };

        let room = host.room.name.clone();
        let hub = host.hub.clone();
        let mut events = hub.subscribe();
        let forwarder = tokio::spawn({
            let room = room.clone();
            async move {
                // A lagged receiver only missed events: the lists are read afresh anyway.
                while let Ok(_) | Err(RecvError::Lagged(_)) = events.recv().await {
                    on_presence(presence(&hub, &room));
                }
            }
        });

        let fingerprint = host.ca_fingerprint;
        let (advertiser, advertise_problem) = match (options.mdns, fingerprint) {
            (false, _) => (None, None),
            (true, None) => (None, Some("a host with an external certificate has no CA fingerprint to advertise".to_owned())),
            (true, Some(fp)) => {
                let advertisement = Advertisement {
                    display_name: display_name.clone(),
                    host_id,
                    port: host.https_addr.port(),
                    ca_fingerprint: CaFingerprint::from_bytes(*fp.as_bytes()),
                    open_rooms: host.hub.has_open_rooms(),
                };
                match Advertiser::start(advertisement, &options.interfaces) {
                    Ok(a) => (Some(a), None),
                    Err(e) => {
                        log::warn!("hosting without mDNS: {e}");
                        (None, Some(e.to_string()))
                    }
                }
            }
        };

        let join_urls = host.join_urls();
        let join_url = join_urls.first().cloned().unwrap_or_default();
        let address = host
            .addresses
            .first()
            .map(|ip| HostAddr::from_socket(SocketAddr::new(*ip, host.https_addr.port())).to_string())
            .unwrap_or_default();
        let view = HostingView {
            name: display_name,
            room: room.clone(),
            token: host.room.token.clone(),
            address,
            qr: qr_matrix(&join_url),
            join_url,
            join_urls,
            trust_urls: host.http_urls(),
            fingerprint: fingerprint.map(|f| f.to_hex()),
            words: fingerprint.map(|f| f.speakable()),
            advertised: advertiser.is_some(),
            advertise_problem,
            participants: participants(&host.hub, &room),
            knocks: Vec::new(),
        };
        log::info!("hosting \"{}\": {}", view.name, view.join_url);
        Ok(Hosting { host, advertiser, forwarder, view, _multicast: multicast })
    }

    /// What the UI shows, with the participants as of now.
    pub fn view(&self) -> HostingView {
        let Presence { participants, knocks } = presence(&self.host.hub, &self.view.room);
        HostingView { participants, knocks, ..self.view.clone() }
    }

    /// Lets a knocker in, or not.
    pub fn answer_knock(&self, id: &str, admit: bool) -> Result<(), AppError> {
        self.host.hub.answer_knock(id, admit).map_err(|e| AppError::KnockGone(format!("{e}")))
    }

    /// The hub, for in-process signaling sessions.
    pub fn hub(&self) -> Hub {
        self.host.hub.clone()
    }

    /// Whether `addr` is this host (one of its link addresses, loopback, on its port).
    pub fn is_local(&self, addr: &HostAddr) -> bool {
        if addr.port != self.host.https_addr.port() {
            return false;
        }
        match addr.ip() {
            Some(ip) => ip.is_loopback() || self.host.addresses.contains(&ip) || ip == self.host.https_addr.ip(),
            None => false,
        }
    }

    /// The port and addresses, for `is_local` checks elsewhere.
    pub fn local_addresses(&self) -> (u16, Vec<IpAddr>) {
        (self.host.https_addr.port(), self.host.addresses.clone())
    }

    /// Renames the host in its advertisement.
    pub async fn rename(&mut self, display_name: String) {
        if let Some(advertiser) = &self.advertiser {
            if let Err(e) = advertiser.set_display_name(display_name.clone()).await {
                log::warn!("could not advertise the new name: {e}");
            }
        }
        self.view.name = display_name;
    }

    /// Withdraws the advertisement (goodbye packets), tells everyone in the call the host is
    /// closing, and closes the ports.
    pub async fn stop(self) {
        if let Some(advertiser) = self.advertiser {
            advertiser.stop().await;
        }
        self.host.hub.shutdown("The host ended the call.");
        self.host.stop().await;
        self.forwarder.abort();
        log::info!("stopped hosting");
    }
}

