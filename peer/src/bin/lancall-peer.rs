//! `lancall-peer`: joins a lancall call from the command line as a native (webrtc-rs) peer,
//! sending a moving test pattern and a tone, and reporting what arrives.
//!
//!     lancall-peer --join 'https://HOST:PORT/#room=…&token=…&fp=…' --name Bot [--seconds N] [--json]
//!
//!     lancall-peer --join LINK --synthetic N --seconds S [--size 640x360] [--fps 25] [--bitrate 600] [--loop-seconds 2]
//!
//! `--synthetic N` runs N participants from this process, each with its own hub connection and
//! media connection, sending a pre-encoded VP8 loop and Opus and counting what arrives; it prints
//! one JSON summary (frames per stream, loss) at the end.
//!
//! Standard input takes commands, one per line: plain text is a chat line; JSON objects
//! `{"cmd":"chat","text":"…"}`, `{"cmd":"mute","kind":"audio"|"video","muted":true}`,
//! `{"cmd":"stats"}`, `{"cmd":"hangup"}`. Incoming chat is answered (`got: …`).

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

use lancall_peer::codec::opus::rms;
use lancall_peer::codec::{OpusDecoder, Vp8Config, Vp8Decoder};
use lancall_peer::crowd::{run_crowd, CrowdConfig};
use lancall_peer::synthetic::{spawn_feed, FeedConfig};
use lancall_peer::testsrc::{read_stamp, stamp_clock_ms};
use lancall_peer::{
    Call, CallConfig, CallEvent, HubSocket, JoinLink, LinkId, LocalMedia, LocalMediaConfig,
    MediaKind, RemoteFrame, TrackRole,
};

/// Replies to chat start with this, and lines that start with it are not answered (two bots in
/// one call would otherwise answer each other forever).
const REPLY_PREFIX: &str = "got: ";

#[derive(Parser, Debug)]
#[command(
    name = "lancall-peer",
    version,
    about = "Join a lancall call as a native WebRTC peer (test pattern + tone)"
)]
struct Args {
    /// The join link the host prints: https://HOST:PORT/#room=…&token=…&fp=…
    #[arg(long)]
    join: String,
    /// Display name.
    #[arg(long, default_value = "Bot")]
    name: String,
    /// Hang up after this many seconds (default: run until `hangup` on stdin, SIGINT or SIGTERM).
    #[arg(long)]
    seconds: Option<f64>,
    /// One JSON object per line on stdout instead of text.
    #[arg(long)]
    json: bool,
    /// Picture size of the test pattern, WxH (even numbers).
    #[arg(long, default_value = "640x480")]
    size: String,
    /// Frames per second of the test pattern.
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// VP8 bitrate, kbit/s.
    #[arg(long, default_value_t = 1200)]
    bitrate: u32,
    /// Send this chat line to each peer once its data channel opens.
    #[arg(long)]
    chat: Option<String>,
    /// Do not decode what arrives (count encoded frames only).
    #[arg(long)]
    no_decode: bool,
    /// Our session id (32 hex characters; random by default). The lower session of two peers
    /// is the polite one: tests pin it to make this peer the offerer (ff…) or the answerer (00…).
    #[arg(long, hide = true)]
    session: Option<String>,
    /// Run this many synthetic participants (pre-encoded VP8 loop and Opus, each its own hub
    /// and media connection; what arrives is counted, not decoded) and print a JSON summary at
    /// the end. Needs --seconds. --size defaults to 640x360 then.
    #[arg(long, value_name = "N")]
    synthetic: Option<usize>,
    /// With --synthetic: seconds between two participants' joins.
    #[arg(long, default_value_t = 0.2)]
    join_every: f64,
    /// With --synthetic: length of the pre-encoded loop, in seconds. Its first picture is its
    /// only key frame, so each participant also sends one this often (and when asked); a
    /// browser sends one only when asked.
    #[arg(long, default_value_t = 2.0)]
    loop_seconds: f64,
    /// Log level for stderr: error, warn, info, debug, trace (or a RUST_LOG-style filter).
    #[arg(long, default_value = "warn", env = "LANCALL_PEER_LOG")]
    log_level: String,
}

/// Prints events: JSON lines or text.
#[derive(Clone)]
struct Out {
    json: bool,
    started: Instant,
}

impl Out {
    fn event(&self, mut v: Value) {
        let mut stdout = std::io::stdout().lock();
        if self.json {
            // The machine's clock, so events of several processes (and a browser) line up.
            if let Some(o) = v.as_object_mut() {
                o.insert("unix_ms".into(), json!(lancall_peer::messages::now_ms()));
            }
            let _ = writeln!(stdout, "{v}");
        } else {
            let name = v
                .get("event")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned();
            let mut rest = v;
            if let Some(o) = rest.as_object_mut() {
                o.remove("event");
            }
            let _ = writeln!(
                stdout,
                "[{:7.2}s] {name} {rest}",
                self.started.elapsed().as_secs_f64()
            );
        }
        let _ = stdout.flush();
    }
}

/// What arrived on one connection since the last report.
#[derive(Default)]
struct Tally {
    video_frames: u64,
    video_decoded: u64,
    audio_packets: u64,
    audio_rms_max: f64,
    width: u32,
    height: u32,
    latency_ms: Vec<f64>,
    first_video: bool,
    first_audio: bool,
    last_luma_sum: u64,
    changing: u64,
}

struct Decoders {
    vp8: Option<Vp8Decoder>,
    opus: Option<OpusDecoder>,
}

fn main() {
    let args = Args::parse();
    // The WebRTC stack warns about things that are normal while a connection starts or ends
    // (packets before DTLS is up, after close): at the plain levels, only its errors are shown.
    let filter = match args.log_level.as_str() {
        level @ ("warn" | "error") => {
            format!("{level},rtc=error,rtc_dtls=error,rtc_ice=error,rtc_sctp=error,webrtc=error")
        }
        other => other.to_owned(),
    };
    env_logger::Builder::new()
        .parse_filters(&filter)
        .format_timestamp_millis()
        .target(env_logger::Target::Stderr)
        .init();
    let out = Out {
        json: args.json,
        started: Instant::now(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lancall-peer: could not start: {e}");
            std::process::exit(1);
        }
    };
    let code = match args.synthetic {
        Some(n) => runtime.block_on(run_synthetic(args, n, out.clone())),
        None => runtime.block_on(run(args, out.clone())),
    };
    runtime.shutdown_timeout(Duration::from_secs(1));
    std::process::exit(code);
}

fn fail(out: &Out, message: &str) -> i32 {
    if out.json {
        out.event(json!({ "event": "error", "message": message }));
    }
    eprintln!("lancall-peer: {message}");
    1
}

async fn run(args: Args, out: Out) -> i32 {
    let link = match JoinLink::parse(&args.join) {
        Ok(l) => l,
        Err(e) => return fail(&out, &e.to_string()),
    };
    let Some((width, height)) = parse_size(&args.size) else {
        return fail(
            &out,
            &format!(
                "--size must be WIDTHxHEIGHT with even numbers, like 640x480, not {:?}",
                args.size
            ),
        );
    };
    let socket = match HubSocket::connect(&link).await {
        Ok(s) => s,
        Err(e) => return fail(&out, &e.to_string()),
    };

    let media = LocalMedia::new(LocalMediaConfig {
        video: Vp8Config {
            bitrate_kbps: args.bitrate,
            fps: args.fps.max(1),
            ..Vp8Config::default()
        },
        ..LocalMediaConfig::default()
    });
    let stop_media = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let feed = FeedConfig {
        fps: args.fps.max(1),
        tone_amplitude: 0.25,
        ..FeedConfig::new((width, height))
    };
    let media_thread = spawn_feed(media.clone(), feed, stop_media.clone()).unwrap_or_else(|e| {
        log::error!("could not start the media thread: {e}");
        std::thread::spawn(|| {})
    });

    // Remote frames go to a decoding thread; it keeps a tally per connection.
    let tallies: Arc<Mutex<HashMap<LinkId, Tally>>> = Arc::default();
    let (frame_tx, frame_rx) = std::sync::mpsc::sync_channel::<(LinkId, RemoteFrame)>(512);
    let decode_thread =
        spawn_decode_thread(frame_rx, tallies.clone(), !args.no_decode, out.clone());
    let sink: lancall_peer::LinkFrameSink = Arc::new(move |link: LinkId, f: RemoteFrame| {
        // A full queue means decoding cannot keep up: drop (and count nothing) rather than stall
        // the receive task.
        let _ = frame_tx.try_send((link, f));
    });

    let (hub_tx, hub_rx) = mpsc::unbounded_channel();
    if let Some(s) = &args.session {
        if s.len() != 32
            || !s
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return fail(&out, "--session must be 32 lowercase hex characters");
        }
    }
    let config = CallConfig {
        session: args.session.clone(),
        ..CallConfig::default()
    };
    let (call, mut events) = Call::start(config, media.clone(), sink, hub_tx);
    let pump_call = call.clone();
    let pump_link = link.clone();
    let name = args.name.clone();
    let mut pump =
        tokio::spawn(async move { socket.run(&pump_link, &name, &pump_call, hub_rx).await });

    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let mut report = tokio::time::interval(Duration::from_secs(1));
    report.tick().await;
    let deadline = args
        .seconds
        .map(|s| tokio::time::Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    let mut sigterm = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        Ok(s) => s,
        Err(e) => return fail(&out, &format!("could not listen for SIGTERM: {e}")),
    };
    let mut names: HashMap<LinkId, (Option<String>, String)> = HashMap::new();
    let mut connected: std::collections::HashSet<LinkId> = Default::default();
    let mut greeted: std::collections::HashSet<LinkId> = Default::default();
    // What each remote last said of its hand and recording (an event goes out on each change).
    let mut statuses: std::collections::HashMap<LinkId, (bool, bool)> = Default::default();
    let joined_at = Instant::now();
    let mut code = 0;

    loop {
        tokio::select! {
            ev = events.recv() => {
                let Some(ev) = ev else { break };
                let value = serde_json::to_value(&ev).unwrap_or(Value::Null);
                out.event(value);
                match ev {
                    CallEvent::RemoteAdded { link, peer, name, .. } => { names.insert(link, (peer, name)); }
                    CallEvent::RemoteUpdated { link, peer, name, connection, chat_open, hand, recording, .. } => {
                        names.insert(link, (peer.clone(), name.clone()));
                        if statuses.insert(link, (hand, recording)).unwrap_or((false, false)) != (hand, recording) {
                            out.event(json!({"event": "status", "link": link, "peer": peer, "name": name,
                                "hand": hand, "recording": recording}));
                        }
                        if connection == "connected" && connected.insert(link) {
                            out.event(json!({"event": "peer-connected", "link": link, "peer": peer, "name": name,
                                "ms_since_join": joined_at.elapsed().as_millis() as u64}));
                        }
                        if chat_open && greeted.insert(link) {
                            if let Some(text) = &args.chat {
                                call.send_chat(text).await;
                            }
                        }
                    }
                    CallEvent::RemoteRemoved { link, .. } => {
                        names.remove(&link);
                        connected.remove(&link);
                        greeted.remove(&link);
                        statuses.remove(&link);
                        if let Ok(mut t) = tallies.lock() { t.remove(&link); }
                    }
                    CallEvent::Chat { name, text, .. } if !text.starts_with(REPLY_PREFIX) => {
                        call.send_chat(&format!("{REPLY_PREFIX}{text} (from {name})")).await;
                    }
                    CallEvent::Reaction { link, peer, name, emoji } => {
                        out.event(json!({"event": "reaction", "link": link, "peer": peer, "name": name, "emoji": emoji}));
                    }
                    CallEvent::Fatal { message, .. } => {
                        code = fail(&out, &message);
                        break;
                    }
                    _ => {}
                }
            }
            result = &mut pump => {
                match result {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => code = fail(&out, &e.to_string()),
                    Err(e) => code = fail(&out, &format!("the hub connection task failed: {e}")),
                }
                break;
            }
            line = stdin.next_line(), if stdin_open => match line {
                Ok(Some(line)) => {
                    if !command(&line, &call, &out).await {
                        break;
                    }
                }
                _ => stdin_open = false,
            },
            _ = report.tick() => report_media(&out, &tallies, &names),
            _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = sigterm.recv() => break,
        }
    }

    call.hangup().await;
    // Let `bye` and `leave` go out before the process ends.
    let _ = tokio::time::timeout(Duration::from_secs(2), &mut pump).await;
    pump.abort();
    stop_media.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = media_thread.join();
    drop(call);
    drop(events);
    let totals = media.totals();
    out.event(json!({"event": "closed", "sent": totals}));
    drop(decode_thread);
    code
}

/// `--synthetic N`: the crowd, then its summary on stdout (one JSON object).
async fn run_synthetic(args: Args, n: usize, out: Out) -> i32 {
    let link = match JoinLink::parse(&args.join) {
        Ok(l) => l,
        Err(e) => return fail(&out, &e.to_string()),
    };
    let Some(seconds) = args.seconds else {
        return fail(&out, "--synthetic needs --seconds (how long the participants stay)");
    };
    let size = if args.size == "640x480" { "640x360" } else { args.size.as_str() };
    let Some(size) = parse_size(size) else {
        return fail(&out, &format!("--size must be WIDTHxHEIGHT with even numbers, like 640x360, not {:?}", args.size));
    };
    let fps = if args.fps == 30 { 25 } else { args.fps.max(1) };
    let config = CrowdConfig {
        participants: n,
        name: args.name.clone(),
        size,
        fps,
        bitrate_kbps: if args.bitrate == 1200 { 600 } else { args.bitrate },
        // At most a minute of pictures (~7 MB at 640x360 and 600 kbit/s per participant).
        loop_frames: ((f64::from(fps) * args.loop_seconds.clamp(0.1, 60.0)).round() as u32).max(1),
        duration: Duration::from_secs_f64(seconds.max(0.0)),
        join_every: Duration::from_secs_f64(args.join_every.max(0.0)),
    };
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
    }
    let summary = run_crowd(&link, &config, stop).await;
    let mut value = serde_json::to_value(&summary).unwrap_or(Value::Null);
    if let Some(o) = value.as_object_mut() {
        o.insert("event".into(), json!("synthetic-summary"));
    }
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{value}");
    let _ = stdout.flush();
    i32::from(summary.joined < n)
}

/// Handles one stdin line; false means hang up.
async fn command(line: &str, call: &Call, out: &Out) -> bool {
    let line = line.trim();
    if line.is_empty() {
        return true;
    }
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        let n = call.send_chat(line).await;
        out.event(json!({"event": "chat-sent", "to": n}));
        return true;
    };
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
    match s("cmd") {
        "chat" => {
            let n = call.send_chat(s("text")).await;
            out.event(json!({"event": "chat-sent", "to": n}));
        }
        "mute" => {
            let kind = if s("kind") == "audio" { MediaKind::Audio } else { MediaKind::Video };
            let muted = v.get("muted").and_then(Value::as_bool).unwrap_or(true);
            call.set_muted(kind, muted);
            out.event(json!({"event": "muted", "kind": kind, "muted": muted}));
        }
        "stats" => {
            let stats = call.stats().await;
            out.event(json!({"event": "stats", "remotes": stats}));
        }
        "hangup" => return false,
        other => out.event(json!({"event": "error", "message": format!("unknown command {other:?}: use chat, mute, stats or hangup")})),
    }
    true
}

fn report_media(
    out: &Out,
    tallies: &Arc<Mutex<HashMap<LinkId, Tally>>>,
    names: &HashMap<LinkId, (Option<String>, String)>,
) {
    let Ok(mut t) = tallies.lock() else { return };
    for (link, tally) in t.iter_mut() {
        let (peer, name) = names.get(link).cloned().unwrap_or((None, String::new()));
        let mut lat = std::mem::take(&mut tally.latency_ms);
        lat.sort_by(f64::total_cmp);
        let latency = lat.get(lat.len() / 2).copied();
        out.event(json!({
            "event": "media", "link": link, "peer": peer, "name": name,
            "video_fps": tally.video_frames, "video_decoded": tally.video_decoded,
            "video_changing": tally.changing,
            "width": tally.width, "height": tally.height,
            "audio_pps": tally.audio_packets, "audio_rms": (tally.audio_rms_max * 1000.0).round() / 1000.0,
            "latency_ms": latency,
        }));
        tally.video_frames = 0;
        tally.video_decoded = 0;
        tally.changing = 0;
        tally.audio_packets = 0;
        tally.audio_rms_max = 0.0;
    }
}

fn parse_size(s: &str) -> Option<(u32, u32)> {
    let (w, h) = s.split_once(['x', 'X'])?;
    let (w, h): (u32, u32) = (w.parse().ok()?, h.parse().ok()?);
    (w >= 16 && h >= 16 && w % 2 == 0 && h % 2 == 0 && w <= 3840 && h <= 2160).then_some((w, h))
}

fn spawn_decode_thread(
    rx: std::sync::mpsc::Receiver<(LinkId, RemoteFrame)>,
    tallies: Arc<Mutex<HashMap<LinkId, Tally>>>,
    decode: bool,
    out: Out,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut decoders: HashMap<LinkId, Decoders> = HashMap::new();
        let started = Instant::now();
        while let Ok((link, frame)) = rx.recv() {
            if frame.role != TrackRole::Main {
                continue;
            }
            let d = decoders.entry(link).or_insert_with(|| Decoders {
                vp8: None,
                opus: None,
            });
            let Ok(mut tallies) = tallies.lock() else {
                return;
            };
            let t = tallies.entry(link).or_default();
            match frame.kind {
                MediaKind::Video => {
                    t.video_frames += 1;
                    if let Some((w, h)) = frame.size {
                        (t.width, t.height) = (w, h);
                    }
                    if !decode {
                        continue;
                    }
                    if d.vp8.is_none() {
                        d.vp8 = Vp8Decoder::new().ok();
                    }
                    let Some(dec) = d.vp8.as_mut() else { continue };
                    match dec.decode(&frame.data) {
                        Ok(Some(pic)) => {
                            t.video_decoded += 1;
                            (t.width, t.height) = (pic.width, pic.height);
                            let luma = pic.luma();
                            let sum: u64 = luma.iter().step_by(97).map(|&b| u64::from(b)).sum();
                            if sum != t.last_luma_sum {
                                t.changing += 1;
                            }
                            t.last_luma_sum = sum;
                            if let Some(stamp) =
                                read_stamp(luma, pic.width as usize, pic.height as usize)
                            {
                                let age = stamp_clock_ms().wrapping_sub(stamp);
                                if age < 10_000 {
                                    t.latency_ms.push(f64::from(age));
                                }
                            }
                            if !t.first_video {
                                t.first_video = true;
                                out.event(json!({"event": "first-frame", "link": link, "kind": "video",
                                    "width": pic.width, "height": pic.height,
                                    "ms_since_start": started.elapsed().as_millis() as u64}));
                            }
                        }
                        Ok(None) => {}
                        Err(e) => log::debug!("VP8 decode: {e}"),
                    }
                }
                MediaKind::Audio => {
                    t.audio_packets += 1;
                    if !decode {
                        continue;
                    }
                    if d.opus.is_none() {
                        d.opus = OpusDecoder::new().ok();
                    }
                    let Some(dec) = d.opus.as_mut() else { continue };
                    if let Ok(pcm) = dec.decode(&frame.data) {
                        let level = rms(pcm);
                        t.audio_rms_max = t.audio_rms_max.max(level);
                        if !t.first_audio && level > 0.01 {
                            t.first_audio = true;
                            out.event(
                                json!({"event": "first-audio", "link": link, "rms": level,
                                "ms_since_start": started.elapsed().as_millis() as u64}),
                            );
                        }
                    }
                }
            }
        }
    })
}
