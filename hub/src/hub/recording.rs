//! Recording a room in the host (rooms whose media goes through the SFU): the hub's side.
//!
//! The SFU does the recording ([`lancall_sfu::Sfu::start_recording`]: one WebM file per person,
//! as forwarded). The hub decides who may start and stop it (the host always; a participant when
//! the host lets them, [`HubConfig::participants_may_record`](super::HubConfig)), keeps who
//! started it, and tells everyone in the room while it records (`recording`, also sent to each
//! joiner). When the recording stops by itself (a full disk), the person who started it gets a
//! `recording-failed` error that says why, and everyone hears that it stopped.

use std::borrow::Cow;
use std::path::PathBuf;

use lancall_protocol::sync::lock;
use lancall_sfu::RecordedFile;

use super::{Effects, Hub, HubError, HubEvent, Outgoing, RecordingBy, State};
use crate::protocol::{encode, ErrorCode, ProtocolError, ServerMessage, Topology};

impl State {
    /// Tells everyone in `room` whether it is recorded, and by whom.
    pub(super) fn announce_recording(&mut self, room: &str, by: Option<&RecordingBy>, fx: &mut Effects) {
        let text = Outgoing::from(encode(&ServerMessage::Recording {
            active: by.is_some(),
            by: by.and_then(|b| b.name.as_deref()).map(Cow::Borrowed),
        }));
        let members = self.rooms.get(room).map(|r| r.members.clone()).unwrap_or_default();
        for member in members {
            if let Some(conn) = self.peers.get(&member).map(|p| p.conn) {
                self.send(conn, text.clone(), fx);
            }
        }
        fx.events.push(HubEvent::Recording {
            room: room.to_owned(),
            active: by.is_some(),
            by: by.and_then(|b| b.name.clone()),
            files: Vec::new(),
            error: None,
        });
    }
}

impl Hub {
    /// The folder recordings go to, if this hub may record.
    pub fn recordings_dir(&self) -> Option<PathBuf> {
        self.inner.config.recordings.clone()
    }

    /// Whether `room` is being recorded now.
    pub fn is_recording(&self, room: &str) -> bool {
        lock(&self.inner.state).rooms.get(room).is_some_and(|r| r.recording.is_some())
    }

    /// Starts recording `room` (the host's own request; `by_peer`: a participant's, already
    /// allowed). Everyone in the room is told.
    pub async fn start_recording(&self, room: &str) -> Result<(), HubError> {
        self.start_recording_by(room, None).await
    }

    pub(super) async fn start_recording_by(&self, room: &str, by_peer: Option<&str>) -> Result<(), HubError> {
        let Some(dir) = self.inner.config.recordings.clone() else {
            return Err(HubError::Recording("this host was started without a folder for recordings".into()));
        };
        let Some(media) = self.inner.media.get() else {
            return Err(HubError::Recording("this host forwards no media (start it with --topology sfu)".into()));
        };
        let by = {
            let state = lock(&self.inner.state);
            let Some(r) = state.rooms.get(room) else {
                return Err(HubError::UnknownRoom(room.to_owned()));
            };
            if r.topology != Topology::Sfu {
                return Err(HubError::Recording(format!(
                    "room \"{room}\" does not send its media through this host now (topology {}): only calls through the host's SFU are recorded",
                    r.setting.as_str()
                )));
            }
            if r.recording.is_some() {
                return Err(HubError::Recording(format!("room \"{room}\" is being recorded already")));
            }
            RecordingBy {
                peer: by_peer.map(str::to_owned),
                name: by_peer.and_then(|p| state.peers.get(p)).map(|p| p.info.name.clone()),
            }
        };
        media.sfu().start_recording(room, &dir).await.map_err(|e| HubError::Recording(e.to_string()))?;
        let mut fx = Effects::default();
        let found = {
            let mut state = lock(&self.inner.state);
            match state.rooms.get_mut(room) {
                Some(r) => {
                    r.recording = Some(by.clone());
                    state.announce_recording(room, Some(&by), &mut fx);
                    state.drop_slow(&mut fx);
                    true
                }
                None => false,
            }
        };
        if !found {
            // The room went while the SFU started: stop again.
            let _ = media.sfu().stop_recording(room).await;
            return Err(HubError::UnknownRoom(room.to_owned()));
        }
        log::info!("recording room \"{room}\" into {} (started by {})", dir.display(), by.name.as_deref().unwrap_or("the host"));
        self.finish(fx);
        Ok(())
    }

    /// Stops recording `room`; answers the files made. Everyone in the room is told.
    pub async fn stop_recording(&self, room: &str) -> Result<Vec<RecordedFile>, HubError> {
        let Some(media) = self.inner.media.get() else {
            return Err(HubError::Recording("this host forwards no media".into()));
        };
        if !self.is_recording(room) {
            return Err(HubError::Recording(format!("room \"{room}\" is not being recorded")));
        }
        let files = media.sfu().stop_recording(room).await.map_err(|e| HubError::Recording(e.to_string()))?;
        self.recording_ended(room, files.clone(), None);
        Ok(files)
    }

    /// The SFU's recording of `room` ended (stopped, or `error`: by itself): clear it, tell the
    /// room, and the person who started it why, if it failed.
    pub(super) fn recording_ended(&self, room: &str, files: Vec<RecordedFile>, error: Option<String>) {
        let mut fx = Effects::default();
        let mut state = lock(&self.inner.state);
        let by = state.rooms.get_mut(room).and_then(|r| r.recording.take());
        if let (Some(error), Some(peer)) = (&error, by.as_ref().and_then(|b| b.peer.as_deref())) {
            if let Some(conn) = state.peers.get(peer).map(|p| p.conn) {
                let e = ProtocolError::new(ErrorCode::RecordingFailed, format!("The recording stopped: {error}"));
                state.send(conn, Outgoing::from(e.re("record").encode()), &mut fx);
            }
        }
        state.announce_recording(room, None, &mut fx);
        // The event says what was made, and why it stopped.
        if let Some(HubEvent::Recording { files: f, error: e, by: b, .. }) = fx.events.last_mut() {
            *f = files.iter().map(|f| f.path.clone()).collect();
            e.clone_from(&error);
            *b = by.and_then(|b| b.name);
        }
        state.drop_slow(&mut fx);
        drop(state);
        self.finish(fx);
    }
}

/// A participant's `record`: allowed by the host (or from the host's own device, the app that
/// hosts: `host`), in a room that goes through the SFU.
pub(super) fn participant_record(hub: &Hub, peer: &str, room: &str, active: bool, host: bool) -> Result<(), ProtocolError> {
    if !hub.inner.config.participants_may_record && !host {
        return Err(ProtocolError::new(
            ErrorCode::NotAllowed,
            "The host does not let participants record this call. Ask the host to record it, or record on your own device.",
        ));
    }
    if hub.inner.config.recordings.is_none() || hub.inner.media.get().is_none() {
        return Err(ProtocolError::new(ErrorCode::NoMediaServer, "This host cannot record: it forwards no media."));
    }
    let (hub, peer, room) = (hub.clone(), peer.to_owned(), room.to_owned());
    tokio::spawn(async move {
        let result = if active {
            hub.start_recording_by(&room, Some(&peer)).await
        } else {
            hub.stop_recording(&room).await.map(|_| ())
        };
        if let Err(e) = result {
            log::info!("a participant's record ({active}) in room \"{room}\" was refused: {e}");
            let e = ProtocolError::new(ErrorCode::RecordingFailed, format!("The host could not {} recording: {e}.", if active { "start" } else { "stop" }));
            hub.send_to_peer(&peer, Outgoing::from(e.re("record").encode()));
        }
    });
    Ok(())
}
