//! Hosting a call inside the app: the same host runtime as `lancall-host`
//! (`lancall_hub::host::start`: CA, leaf certificate, hub, HTTPS/WSS port) plus the mDNS
//! advertisement, all in this process.
//!
//! Knocks (a guest without the link's token asking to be let in) reach the UI with the
//! participant list: every hub event re-sends both, and the `answer_knock` command admits or
//! refuses one.
//!
//! How the room's media travels is the host's choice when it starts ([`parse_topology`]): `mesh`
//! (directly between devices), `sfu` (through this computer) or `auto` (directly for two, through
//! this computer from three). Android hosts mesh rooms only: a phone is a poor forwarder, and its
//! build has no SFU. While the media goes through this computer the host can record the call
//! ([`HostRecorder`]: one WebM file per person, in `recordings/` in the app-data folder); the
//! recording's state and the files made ride along with the participant list.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use lancall_hub::discovery::{Advertisement, Advertiser, CaFingerprint};
use lancall_hub::host::{self, HostConfig, HostError, RoomConfig, RoomControl, RunningHost};
use lancall_hub::hub::{Hub, HubEvent, KnockInfo, RoomTopology};
use lancall_hub::protocol::Topology;
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

/// The folder, inside the app-data folder, the host's recordings go to.
pub const RECORDINGS_DIR: &str = "recordings";

/// The recordings listed in the hosting screen at most (the newest).
const RECORDINGS_LISTED: usize = 50;

/// The topologies this build may host, in the order the UI offers them.
#[cfg(not(target_os = "android"))]
pub const HOST_TOPOLOGIES: &[&str] = &["auto", "sfu", "mesh"];
/// Android hosts mesh rooms only: a phone is a poor forwarder (and this build has no SFU).
#[cfg(target_os = "android")]
pub const HOST_TOPOLOGIES: &[&str] = &["mesh"];

/// Reads the host's choice of topology (`auto`, `sfu`, `mesh`), refusing what this build cannot
/// host (on Android: anything but `mesh`).
pub fn parse_topology(text: &str) -> Result<RoomTopology, AppError> {
    let topology = match text.trim() {
        "mesh" => RoomTopology::Mesh,
        "sfu" => RoomTopology::Sfu,
        "auto" => RoomTopology::Auto,
        other => {
            let shown: String = other.chars().filter(|c| !c.is_control()).take(32).collect();
            return Err(AppError::HostOption(format!(
                "\"{shown}\" is not a way to carry a call's media: choose auto, sfu (through this computer) or mesh (directly between devices)."
            )));
        }
    };
    if !HOST_TOPOLOGIES.contains(&topology.as_str()) {
        return Err(AppError::HostOption(
            "On this device calls go directly between devices (mesh) only: a phone does not forward the others' video.".into(),
        ));
    }
    Ok(topology)
}

/// Someone in the call, as the host's UI lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Participant {
    /// Peer id.
    pub id: String,
    /// Display name.
    pub name: String,
}

pub use lancall_hub::qr::{qr_matrix, QrMatrix};

/// Who is in the call and who is knocking, how its media travels and whether it is recorded:
/// sent to the UI after every change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Presence {
    /// Who is in the call, oldest first.
    pub participants: Vec<Participant>,
    /// Who asks to be let in, oldest first.
    pub knocks: Vec<KnockInfo>,
    /// How the media travels now: `mesh` (directly) or `sfu` (through this computer).
    pub media: &'static str,
    /// The host's recording of the call.
    pub recording: RecordingView,
    /// The rooms besides the main one, by name.
    pub rooms: Vec<RoomView>,
}

/// A room the host made besides its main one, as the hosting screen lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomView {
    /// Its name, as in its link.
    pub name: String,
    /// How the host set its media up: `mesh`, `sfu` or `auto`.
    pub topology: &'static str,
    /// How its media travels now: `mesh` or `sfu`.
    pub media: &'static str,
    /// Its join link, for the first address.
    pub join_url: String,
    /// How many people are in it now.
    pub people: usize,
}

/// A file in the recordings folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordingEntry {
    /// The file's name (room, person, time).
    pub name: String,
    /// Its full path.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// When it was last written, in seconds since 1970.
    pub modified: u64,
}

/// The host's recording, as the hosting screen shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordingView {
    /// Recording now.
    pub active: bool,
    /// Who started it: a participant's name; `None` while not recording, or started here.
    pub by: Option<String>,
    /// Why "Record the call" cannot work now (a sentence); `None`: it can.
    pub unavailable: Option<String>,
    /// Why the last recording stopped by itself (a full disk), as a sentence.
    pub error: Option<String>,
    /// The folder recordings go to.
    pub folder: String,
    /// The newest files in it, newest first.
    pub files: Vec<RecordingEntry>,
    /// How many files it holds (more than `files` lists when there are many).
    pub total: usize,
}

/// What the hosting screen remembers of recordings between hub events.
#[derive(Debug, Default)]
struct RecordingNotes {
    /// Who started the running recording (a participant's name).
    by: Option<String>,
    /// Why the last recording stopped by itself.
    error: Option<String>,
    /// The folder's files, newest first (read at start and when a recording stops).
    files: Vec<RecordingEntry>,
    /// How many there are.
    total: usize,
}

/// The `.webm` files in `dir`, newest first (at most [`RECORDINGS_LISTED`]), and how many there
/// are. A folder not made yet holds none.
pub fn list_recordings(dir: &Path) -> (Vec<RecordingEntry>, usize) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                log::warn!("cannot read the recordings folder {}: {e}", dir.display());
            }
            return (Vec::new(), 0);
        }
    };
    let mut files: Vec<RecordingEntry> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "webm"))
        .filter_map(|e| {
            let meta = e.metadata().ok().filter(std::fs::Metadata::is_file)?;
            Some(RecordingEntry {
                name: e.file_name().to_string_lossy().into_owned(),
                path: e.path().display().to_string(),
                bytes: meta.len(),
                modified: meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs()),
            })
        })
        .collect();
    // Newest first; among files of one second (one recording's people), by name.
    files.sort_by(|a, b| b.modified.cmp(&a.modified).then_with(|| a.name.cmp(&b.name)));
    let total = files.len();
    files.truncate(RECORDINGS_LISTED);
    (files, total)
}

/// Why the host cannot record a room of this setting whose media travels `now`; `None`: it can.
fn why_not_record(setting: RoomTopology, now: Topology) -> Option<String> {
    if cfg!(target_os = "android") {
        return Some("This device cannot record calls: a phone hosts calls directly between devices, and only calls through the host are recorded.".into());
    }
    match (setting, now) {
        (_, Topology::Sfu) => None,
        (RoomTopology::Auto, Topology::Mesh) => Some(
            "While two people talk, their video goes directly between them, not through this computer: recording is possible from three people on.".into(),
        ),
        _ => Some(
            "This call's video goes directly between devices, not through this computer, so it cannot record it. To record, host with \"Through this computer\" or \"Automatic\".".into(),
        ),
    }
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
    /// How the host set the room's media up: `mesh`, `sfu` or `auto`.
    pub topology: &'static str,
    /// How the media travels now: `mesh` or `sfu`.
    pub media: &'static str,
    /// The host's recording of the call.
    pub recording: RecordingView,
    /// The rooms besides the main one, by name.
    pub rooms: Vec<RoomView>,
}

/// A running in-app host.
pub struct Hosting {
    host: RunningHost,
    control: RoomControl,
    advertiser: Option<Advertiser>,
    forwarder: JoinHandle<()>,
    view: HostingView,
    recorder: HostRecorder,
    _multicast: Option<MulticastGuard>,
}

/// Starts and stops the recording of the hosted room, without holding the app's hosting lock
/// (a start waits up to 2 s for everyone's top layer).
#[derive(Clone)]
pub struct HostRecorder {
    hub: Hub,
    room: String,
    folder: PathBuf,
    notes: Arc<Mutex<RecordingNotes>>,
}

impl HostRecorder {
    /// Starts (`true`) or stops recording the room. A refusal is a sentence saying why.
    pub async fn record(&self, active: bool) -> Result<(), AppError> {
        if active {
            self.start().await
        } else {
            self.stop().await
        }
    }

    #[cfg(not(target_os = "android"))]
    async fn start(&self) -> Result<(), AppError> {
        let room = self.hub.room(&self.room).ok_or(AppError::NotHosting)?;
        if self.hub.is_recording(&self.room) {
            return Err(AppError::HostRecording("The call is being recorded already.".into()));
        }
        if let Some(why) = why_not_record(room.setting, room.topology) {
            return Err(AppError::HostRecording(why));
        }
        lock(&self.notes).error = None;
        self.hub.start_recording(&self.room).await.map_err(|e| AppError::HostRecording(sentence("The recording could not start", &e)))
    }

    #[cfg(not(target_os = "android"))]
    async fn stop(&self) -> Result<(), AppError> {
        if !self.hub.is_recording(&self.room) {
            // Stopped already (by a full disk, or by the room going direct): nothing to do.
            self.refresh();
            return Ok(());
        }
        let files = self.hub.stop_recording(&self.room).await.map_err(|e| AppError::HostRecording(sentence("The recording could not stop", &e)))?;
        log::info!("recording stopped: {} files in {}", files.len(), self.folder.display());
        // The hub's Recording event refreshes the list too; this makes it current before the
        // command answers.
        self.refresh();
        Ok(())
    }

    #[cfg(target_os = "android")]
    async fn start(&self) -> Result<(), AppError> {
        Err(AppError::HostRecording(why_not_record(RoomTopology::Mesh, Topology::Mesh).unwrap_or_default()))
    }

    #[cfg(target_os = "android")]
    async fn stop(&self) -> Result<(), AppError> {
        Ok(())
    }

    /// Reads the folder again.
    fn refresh(&self) {
        let (files, total) = list_recordings(&self.folder);
        let mut notes = lock(&self.notes);
        notes.files = files;
        notes.total = total;
    }

    /// Follows the hub's recording events: who started it, why it stopped, the files made.
    fn note(&self, event: &HubEvent) {
        if let HubEvent::Recording { room, active, by, error, .. } = event {
            if *room != self.room {
                return;
            }
            {
                let mut notes = lock(&self.notes);
                notes.by = if *active { by.clone() } else { None };
                if *active {
                    notes.error = None;
                } else if let Some(error) = error {
                    // The recorder's words are a sentence already ("The disk is full: …").
                    let why = error.trim();
                    let stop = if why.ends_with('.') { "" } else { "." };
                    notes.error = Some(format!("The recording stopped by itself. {why}{stop}"));
                }
            }
            if !*active {
                self.refresh();
            }
        }
    }

    /// Whether the room is being recorded now.
    #[cfg(not(target_os = "android"))]
    fn active(&self) -> bool {
        self.hub.is_recording(&self.room)
    }

    /// Whether the room is being recorded now: never, on Android.
    #[cfg(target_os = "android")]
    fn active(&self) -> bool {
        false
    }

    /// The recording as the UI shows it, the room being `room` now.
    fn view(&self, room: Option<&lancall_hub::hub::RoomInfo>) -> RecordingView {
        let active = self.active();
        let notes = lock(&self.notes);
        RecordingView {
            active,
            by: if active { notes.by.clone() } else { None },
            unavailable: match room {
                Some(r) => why_not_record(r.setting, r.topology),
                None => Some("The call has ended.".into()),
            },
            error: notes.error.clone(),
            folder: self.folder.display().to_string(),
            files: notes.files.clone(),
            total: notes.total,
        }
    }
}

/// Adds and removes the host's rooms besides its main one.
pub struct HostRooms {
    control: RoomControl,
    hub: Hub,
    main: String,
}

impl HostRooms {
    /// Makes room `name` (1-64 of `A-Z a-z 0-9 - _ .`), with a link of its own whose token is
    /// kept across restarts, as private and as large as the main room, its media as `topology`.
    pub async fn add(&self, name: &str, topology: RoomTopology) -> Result<(), AppError> {
        let name = name.trim();
        let main = self.hub.room(&self.main);
        if name == self.main || self.hub.room(name).is_some() {
            return Err(AppError::HostOption(format!("There is a room called \"{name}\" already: choose another name.")));
        }
        if self.hub.rooms().len() > MAX_EXTRA_ROOMS {
            return Err(AppError::HostOption(format!(
                "This computer hosts {MAX_EXTRA_ROOMS} rooms besides the main one at most: remove one first."
            )));
        }
        let spec = RoomConfig {
            name: name.to_owned(),
            open: main.as_ref().is_some_and(|r| r.token.is_none()),
            capacity: main.as_ref().map_or_else(|| HostConfig::new(PathBuf::new()).capacity, |r| r.capacity),
            topology,
        };
        self.control.add(spec).await.map_err(|e| AppError::HostOption(format!("The room could not be made: {e}.")))?;
        log::info!("hosting room \"{name}\" too ({} media)", topology.as_str());
        Ok(())
    }

    /// Ends room `name`: everyone in it is told the host closed it. The main room ends only with
    /// hosting.
    pub fn remove(&self, name: &str) -> Result<(), AppError> {
        if name == self.main {
            return Err(AppError::HostOption("The main room ends when you stop hosting.".into()));
        }
        self.control.remove(name).map_err(|e| AppError::HostOption(format!("The room could not be removed: {e}.")))?;
        log::info!("room \"{name}\" removed");
        Ok(())
    }
}

/// "What: why." from a hub error ("cannot record: …"), as one sentence.
#[cfg(not(target_os = "android"))]
fn sentence(what: &str, e: &lancall_hub::hub::HubError) -> String {
    let text = e.to_string();
    let why = text.strip_prefix("cannot record: ").unwrap_or(&text).trim_end_matches('.');
    format!("{what}: {why}.")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The participants of `room` now.
pub fn participants(hub: &Hub, room: &str) -> Vec<Participant> {
    hub.room(room)
        .map(|r| r.peers.into_iter().map(|p| Participant { id: p.id, name: p.name }).collect())
        .unwrap_or_default()
}

/// Who is in the recorder's room and who knocks on it now, how its media travels, and its
/// recording; and the host's other rooms.
fn presence(recorder: &HostRecorder, control: &RoomControl) -> Presence {
    let (hub, room) = (&recorder.hub, recorder.room.as_str());
    let info = hub.room(room);
    let mut rooms: Vec<RoomView> = hub
        .rooms()
        .into_iter()
        .filter(|r| r.name != room)
        .map(|r| RoomView {
            join_url: control.join_urls_for(&r).into_iter().next().unwrap_or_default(),
            name: r.name,
            topology: r.setting.as_str(),
            media: r.topology.as_str(),
            people: r.peers.len(),
        })
        .collect();
    rooms.sort_by(|a, b| a.name.cmp(&b.name));
    Presence {
        participants: participants(hub, room),
        knocks: hub.pending_knocks().into_iter().filter(|k| k.room == room).collect(),
        media: info.as_ref().map_or(Topology::Mesh, |r| r.topology).as_str(),
        recording: recorder.view(info.as_ref()),
        rooms,
    }
}

/// The most rooms the app hosts besides its main one.
pub const MAX_EXTRA_ROOMS: usize = 16;

impl Hosting {
    /// Starts hosting: certificates in `data_dir/host`, the hub and its ports (the configured
    /// port, or any free one if it is taken), and the mDNS advertisement unless switched off.
    /// `topology` says how the room's media travels (see [`parse_topology`]); with `sfu` or
    /// `auto` the SFU takes any free UDP port. `on_presence` is called with the new lists
    /// whenever someone joins, leaves or knocks, the media changes path, or a recording starts
    /// or stops.
    pub async fn start(
        options: &AppOptions,
        data_dir: &Path,
        display_name: String,
        host_id: String,
        topology: RoomTopology,
        multicast: Option<MulticastGuard>,
        on_presence: impl Fn(Presence) + Send + 'static,
    ) -> Result<Hosting, AppError> {
        let mut config = HostConfig::new(data_dir.join(HOST_DATA_DIR));
        config.https_listen = options.https_listen;
        let http_port = if options.https_listen.port() == 0 { 0 } else { lancall_hub::server::DEFAULT_HTTP_PORT };
        config.http_listen = Some(SocketAddr::new(options.https_listen.ip(), http_port));
        config.display_name = display_name.clone();
        config.topology = topology;
        // Any free UDP port: the app may run beside a lancall-host, or on a port that is taken.
        config.media_port = Some(0);
        let folder = data_dir.join(RECORDINGS_DIR);
        config.recordings = folder.clone();
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
        let recorder = HostRecorder {
            hub: host.hub.clone(),
            room: room.clone(),
            folder,
            notes: Arc::default(),
        };
        // Subscribe before reading the lists, so nothing that changes between is missed.
        let mut events = host.hub.subscribe();
        recorder.refresh();
        let control = host.room_control();
        let forwarder = tokio::spawn({
            let recorder = recorder.clone();
            let control = control.clone();
            async move {
                loop {
                    match events.recv().await {
                        Ok(event) => recorder.note(&event),
                        // A lagged receiver only missed events: the lists are read afresh anyway,
                        // and so is the folder (a recording may have stopped meanwhile).
                        Err(RecvError::Lagged(_)) => recorder.refresh(),
                        Err(RecvError::Closed) => break,
                    }
                    on_presence(presence(&recorder, &control));
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
        let now = presence(&recorder, &control);
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
            participants: now.participants,
            knocks: now.knocks,
            topology: topology.as_str(),
            media: now.media,
            recording: now.recording,
            rooms: now.rooms,
        };
        log::info!("hosting \"{}\" ({} media): {}", view.name, view.topology, view.join_url);
        Ok(Hosting { host, control, advertiser, forwarder, view, recorder, _multicast: multicast })
    }

    /// What the UI shows, with the participants, the recording and the rooms as of now.
    pub fn view(&self) -> HostingView {
        let Presence { participants, knocks, media, recording, rooms } = presence(&self.recorder, &self.control);
        HostingView { participants, knocks, media, recording, rooms, ..self.view.clone() }
    }

    /// What adds and removes rooms (the caller need not hold the hosting lock while it works:
    /// the first room through this computer starts the SFU).
    pub fn rooms(&self) -> HostRooms {
        HostRooms { control: self.control.clone(), hub: self.host.hub.clone(), main: self.view.room.clone() }
    }

    /// Starts and stops the room's recording (the caller need not hold the hosting lock).
    pub fn recorder(&self) -> HostRecorder {
        self.recorder.clone()
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
        // A recording is finished first, so its files are sealed (Cues, Duration) before the
        // media server goes.
        if self.recorder.active() {
            if let Err(e) = self.recorder.stop().await {
                e.log("stopping the recording with the call");
            }
        }
        if let Some(advertiser) = self.advertiser {
            advertiser.stop().await;
        }
        self.host.hub.shutdown("The host ended the call.");
        self.host.stop().await;
        self.forwarder.abort();
        log::info!("stopped hosting");
    }
}


#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_host_topology_is_checked_before_anything_starts() {
        #[cfg(not(target_os = "android"))]
        for (text, want) in [("auto", RoomTopology::Auto), ("sfu", RoomTopology::Sfu), (" mesh ", RoomTopology::Mesh)] {
            assert_eq!(parse_topology(text).unwrap(), want);
        }
        let e = parse_topology("ring\u{7}").unwrap_err();
        assert_eq!(e.code(), "bad-host-option");
        assert!(e.to_string().contains("\"ring\" is not a way"), "{e}");
        // The default is one this build can host; Android's (mesh only) falls back to mesh.
        assert_eq!(
            parse_topology(crate::settings::DEFAULT_HOST_TOPOLOGY).unwrap_or_default().as_str(),
            if cfg!(target_os = "android") { "mesh" } else { crate::settings::DEFAULT_HOST_TOPOLOGY }
        );
    }

    #[test]
    #[cfg(not(target_os = "android"))]
    fn recording_is_offered_only_while_the_media_goes_through_this_computer() {
        assert!(why_not_record(RoomTopology::Sfu, Topology::Sfu).is_none());
        assert!(why_not_record(RoomTopology::Auto, Topology::Sfu).is_none());
        assert!(why_not_record(RoomTopology::Auto, Topology::Mesh).unwrap().contains("from three people on"));
        assert!(why_not_record(RoomTopology::Mesh, Topology::Mesh).unwrap().contains("directly between devices"));
    }

    #[test]
    fn recordings_are_listed_newest_first_webm_only() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(list_recordings(&dir.path().join("not-made-yet")), (Vec::new(), 0));
        let old = dir.path().join("call_Ada_2026-01-01_10-00-00.webm");
        std::fs::write(&old, vec![0u8; 1500]).unwrap();
        let past = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options().write(true).open(&old).unwrap().set_modified(past).unwrap();
        std::fs::write(dir.path().join("call_Bo_2026-01-01_11-00-00.webm"), b"x").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"not a recording").unwrap();
        std::fs::create_dir(dir.path().join("folder.webm")).unwrap();
        let (files, total) = list_recordings(dir.path());
        assert_eq!(total, 2);
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["call_Bo_2026-01-01_11-00-00.webm", "call_Ada_2026-01-01_10-00-00.webm"]);
        assert_eq!(files[1].bytes, 1500);
        assert!(files[0].modified > files[1].modified);
    }
}
