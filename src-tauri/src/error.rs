//! The app's one error type. It reaches the UI as `{code, message}`: `code` is stable, for the
//! UI to pick a reaction; `message` is a sentence a person can act on. The log gets the cause
//! chain.

use serde::ser::SerializeStruct;

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The host presented a CA other than the pinned one: a different device now answers at that
    /// address, or someone is in between.
    #[error(
        "The host at {host} is not the one this link or the network announced: its identity changed \
         (certificate fingerprint mismatch). If the host reinstalled lancall, ask for a new link or QR code; \
         otherwise do not join."
    )]
    IdentityChanged {
        /// `host:port`.
        host: String,
    },
    /// The TLS handshake failed for another reason (expired certificate, wrong address).
    #[error("The host at {host} did not prove who it is: {detail}. Ask for a new link or QR code.")]
    BadCertificate {
        /// `host:port`.
        host: String,
        /// rustls's words.
        detail: String,
    },
    /// Nothing answered, or the connection broke.
    #[error("Cannot reach the host at {host}: {detail}. Is it still hosting, and is this device on the same network?")]
    Unreachable {
        /// `host:port`.
        host: String,
        /// The operating system's words.
        detail: String,
    },
    /// There is no fingerprint to pin for this host.
    #[error(
        "The app needs the host's certificate fingerprint to join {host} safely: use the host's join link or \
         QR code (it carries the fingerprint), or pick the host from the list of calls on this network."
    )]
    NoFingerprint {
        /// `host:port`.
        host: String,
    },
    /// The typed address or link could not be read.
    #[error("{0}")]
    BadAddress(String),
    /// A host could not start.
    #[error("Could not start hosting: {0}")]
    Host(#[from] lancall_hub::host::HostError),
    /// The command needs a running host.
    #[error("This device is not hosting a call.")]
    NotHosting,
    /// A hosting option the page sent cannot be used (an unknown topology, or one this device
    /// cannot host): nothing was started.
    #[error("{0}")]
    HostOption(String),
    /// The host's recording of its call could not start or stop (the media does not go through
    /// this computer, the folder cannot be written): the sentence says why.
    #[error("{0}")]
    HostRecording(String),

    #[error("This is not the {name} you joined before: its certificate is different. Join only if {name} was reinstalled, or if you know this device (compare its four words with its screen).")]
    NotTheSameHost {
        /// The name it was known under.
        name: String,
    },
    /// The knock was answered already, or the knocker left.
    #[error("{0}")]
    KnockGone(String),
    /// No such signaling session (closed already).
    #[error("That connection to the host is closed.")]
    NoSession,
    /// A signaling session the page asked for cannot be opened (a bad id, too many open).
    #[error("{0}")]
    Session(String),
    /// The Rust-backed peer connection (for a webview without WebRTC) refused a request.
    #[error("{0}")]
    Bridge(String),
    /// A recording could not be saved (empty, or a name that is not a recording's).
    #[error("{0}")]
    Recording(String),
    /// A file sent in the call could not be saved (more bytes than announced, ended short, an
    /// unknown handle).
    #[error("{0}")]
    ReceivedFile(String),
    /// Reading or writing app data failed.
    #[error("Could not {action} {path}: {source}")]
    Io {
        /// What was being done, phrased to follow "could not".
        action: &'static str,
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Tauri refused something (no data folder on this platform, for example).
    #[error("{0}")]
    Tauri(#[from] tauri::Error),
}

impl AppError {
    /// The stable code the UI reacts to.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::IdentityChanged { .. } => "identity-changed",
            AppError::BadCertificate { .. } => "bad-certificate",
            AppError::Unreachable { .. } => "unreachable",
            AppError::NoFingerprint { .. } => "no-fingerprint",
            AppError::BadAddress(_) => "bad-address",
            AppError::Host(_) => "host-failed",
            AppError::NotHosting => "not-hosting",
            AppError::HostOption(_) => "bad-host-option",
            AppError::HostRecording(_) => "host-recording",
            AppError::NotTheSameHost { .. } => "not-the-same-host",
            AppError::KnockGone(_) => "knock-gone",
            AppError::NoSession => "no-session",
            AppError::Session(_) => "session",
            AppError::Bridge(_) => "rtc-bridge",
            AppError::Recording(_) => "recording",
            AppError::ReceivedFile(_) => "received-file",
            AppError::Io { .. } => "io",
            AppError::Tauri(_) => "internal",
        }
    }

    /// Logs the error with its cause chain.
    pub fn log(&self, what: &str) {
        log::warn!("{what}: {self}");
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            log::warn!("  because: {cause}");
            source = cause.source();
        }
    }
}

impl From<lancall_protocol::LinkError> for AppError {
    fn from(e: lancall_protocol::LinkError) -> Self {
        AppError::BadAddress(e.0)
    }
}

impl From<lancall_protocol::client::ConnectError> for AppError {
    fn from(e: lancall_protocol::client::ConnectError) -> Self {
        use lancall_protocol::client::ConnectError as C;
        match e {
            C::IdentityChanged { address } => AppError::IdentityChanged { host: address },
            C::BadCertificate { address, detail } => AppError::BadCertificate { host: address, detail },
            C::Unreachable { address, detail } => AppError::Unreachable { host: address, detail },
            C::BadName { host } => AppError::BadAddress(format!("\"{host}\" cannot be checked against a certificate.")),
        }
    }
}

#[cfg(target_os = "linux")]
impl From<lancall_peer::PeerError> for AppError {
    fn from(e: lancall_peer::PeerError) -> Self {
        AppError::Bridge(e.to_string())
    }
}

impl serde::Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("AppError", 2)?;
        s.serialize_field("code", self.code())?;
        s.serialize_field("message", &self.to_string())?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_reach_the_ui_as_code_and_sentence() {
        let e = AppError::IdentityChanged { host: "10.0.0.2:7443".into() };
        let json = serde_json::to_value(&e).unwrap_or_default();
        assert_eq!(json["code"], "identity-changed");
        let message = json["message"].as_str().unwrap_or_default();
        assert!(message.contains("10.0.0.2:7443") && message.contains("identity changed"), "{message}");
    }
}
