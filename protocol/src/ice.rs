//! ICE servers, as the hub hands them to clients in `welcome.iceServers` and as `--ice-server`
//! takes them on the command line. On a LAN the list is empty: host candidates suffice.

use serde::{Deserialize, Deserializer, Serialize};

/// An ICE server handed to clients in `welcome.iceServers`, in the shape `RTCPeerConnection` takes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    /// `stun:` or `turn:`/`turns:` URLs. Read from one string or a list, as `RTCIceServer` takes it.
    #[serde(default, deserialize_with = "one_or_many")]
    pub urls: Vec<String>,
    /// TURN user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

impl std::str::FromStr for IceServer {
    type Err = String;

    /// Parses `stun:host:port`, `turn:host:port` or `turn:user:password@host:port` (also `turns:`),
    /// the form `--ice-server` takes on the command line.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("\"{s}\" is not an ICE server URL: write stun:HOST:PORT or turn:USER:PASSWORD@HOST:PORT"))?;
        match scheme {
            "stun" | "stuns" => {
                if rest.contains('@') {
                    return Err(format!("\"{s}\": a STUN server takes no user name or password"));
                }
                Ok(IceServer { urls: vec![s.to_owned()], username: None, credential: None })
            }
            "turn" | "turns" => match rest.rsplit_once('@') {
                Some((userinfo, host)) => {
                    let (user, pass) = userinfo
                        .split_once(':')
                        .ok_or_else(|| format!("\"{s}\": write the TURN credentials as USER:PASSWORD@HOST:PORT"))?;
                    if host.is_empty() {
                        return Err(format!("\"{s}\" has no host after '@'"));
                    }
                    Ok(IceServer {
                        urls: vec![format!("{scheme}:{host}")],
                        username: Some(user.to_owned()),
                        credential: Some(pass.to_owned()),
                    })
                }
                None => Err(format!("\"{s}\": a TURN server needs credentials: turn:USER:PASSWORD@HOST:PORT")),
            },
            _ => Err(format!("\"{s}\" is not an ICE server URL: it must start with stun:, stuns:, turn: or turns:")),
        }
    }
}

/// `urls` may be one string or a list of them, as in `RTCIceServer`.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Urls {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<Urls>::deserialize(d)? {
        None => Vec::new(),
        Some(Urls::One(u)) => vec![u],
        Some(Urls::Many(v)) => v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ice_server_flags_parse() {
        let s: IceServer = "turn:alice:s3cret@10.0.0.2:3478".parse().expect("turn");
        assert_eq!(s.urls, vec!["turn:10.0.0.2:3478"]);
        assert_eq!(s.username.as_deref(), Some("alice"));
        assert_eq!(s.credential.as_deref(), Some("s3cret"));
        let s: IceServer = "stun:10.0.0.2:3478".parse().expect("stun");
        assert_eq!(s.urls, vec!["stun:10.0.0.2:3478"]);
        assert!("turn:10.0.0.2:3478".parse::<IceServer>().is_err());
        assert!("http://x".parse::<IceServer>().is_err());
        assert!("stun:u:p@x".parse::<IceServer>().is_err());
    }

    #[test]
    fn ice_servers_read_as_browsers_write_them() {
        let one: IceServer = serde_json::from_str(r#"{"urls":"stun:10.0.0.2:3478"}"#).expect("one url");
        assert_eq!(one.urls, vec!["stun:10.0.0.2:3478"]);
        let many: IceServer =
            serde_json::from_str(r#"{"urls":["turn:10.0.0.2:3478","turns:10.0.0.2:5349"],"username":"u","credential":"p"}"#)
                .expect("a list");
        assert_eq!(many.urls.len(), 2);
        assert_eq!(many.credential.as_deref(), Some("p"));
        let text = serde_json::to_string(&many).expect("encodes");
        assert_eq!(serde_json::from_str::<IceServer>(&text).ok(), Some(many));
        assert!(serde_json::from_str::<IceServer>(r#"{"urls":5}"#).is_err());
    }
}
