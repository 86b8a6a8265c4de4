//! ICE-TCP (RFC 6544), for networks that let no UDP through to the host: the SFU also listens
//! on a TCP port and offers a passive TCP host candidate beside each UDP one; a browser that
//! gets no answer over UDP connects to it. Media then goes framed as RFC 4571 says (a 2-byte
//! big-endian length before each packet) over that connection.
//!
//! Built for a fallback, beside the one-thread UDP engine rather than inside it: an acceptor
//! thread, and per connection a reader thread (frames in, handed to the engine's thread as
//! commands, which it serves within its command poll of at most 5 ms) and a writer thread
//! (frames out, through a bounded queue the engine never waits on: a full queue drops the
//! packet, as a full UDP socket buffer would). At most [`MAX_CONNECTIONS`] at once; a
//! connection that sends a zero length, or that the engine cannot place within
//! [`IDENTIFY_WITHIN`], is closed.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::Command;

/// Connections at once (a fallback for a few people, not a second front door).
pub(crate) const MAX_CONNECTIONS: usize = 256;
/// Packets waiting for one connection's writer.
const WRITE_QUEUE: usize = 512;
/// A connection whose first packet has not come by then is closed (a port scan, a stray).
const IDENTIFY_WITHIN: Duration = Duration::from_secs(10);
/// A reader waits this long for more of a frame once it started.
const FRAME_PATIENCE: Duration = Duration::from_secs(30);

/// The writer's side of a connection, as the engine holds it.
pub(crate) type TcpWriter = SyncSender<Vec<u8>>;

/// Binds the TCP port for ICE-TCP: `port`'s number if free, else the next, else any. `None`
/// (logged) when no TCP port can be had: the SFU then offers UDP only.
pub(crate) fn bind(ip: std::net::IpAddr, port: u16) -> Option<TcpListener> {
    let tries: &[u16] = if port == 0 { &[0] } else { &[port, port.saturating_add(1), 0] };
    for &p in tries {
        match TcpListener::bind(SocketAddr::new(ip, p)) {
            Ok(l) => return Some(l),
            Err(e) => log::debug!("sfu: TCP port {p} for ICE-TCP: {e}"),
        }
    }
    log::warn!("sfu: no TCP port for ICE-TCP: networks that block UDP cannot reach calls through this host");
    None
}

/// How often the acceptor looks whether the engine still runs when nobody connects.
const ACCEPT_POLL: Duration = Duration::from_millis(20);

/// Accepts connections on `listener` (its own thread) until the engine is gone (`engine`
/// cannot be upgraded any more).
pub(crate) fn serve(listener: TcpListener, commands: Sender<Command>, engine: std::sync::Weak<()>) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let live = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new().name("lancall-sfu-tcp".into()).spawn(move || {
        while engine.upgrade().is_some() {
            let stream = match listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(ACCEPT_POLL);
                    continue;
                }
                Err(e) => {
                    log::debug!("sfu: ICE-TCP accept failed: {e}");
                    std::thread::sleep(ACCEPT_POLL);
                    continue;
                }
            };
            if let Err(e) = stream.set_nonblocking(false) {
                log::debug!("sfu: an ICE-TCP connection could not be set up: {e}");
                continue;
            }
            if live.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
                log::warn!("sfu: {MAX_CONNECTIONS} ICE-TCP connections already: one more refused");
                let _ = stream.shutdown(Shutdown::Both);
                continue;
            }
            if let Err(e) = connection(stream, &commands, &live) {
                log::debug!("sfu: an ICE-TCP connection could not start: {e}");
            }
        }
    })?;
    Ok(())
}

/// Starts a connection's reader and writer threads.
fn connection(stream: TcpStream, commands: &Sender<Command>, live: &Arc<AtomicUsize>) -> std::io::Result<()> {
    let remote = stream.peer_addr()?;
    let local = stream.local_addr()?;
    stream.set_nodelay(true)?;
    let mut reading = stream.try_clone()?;
    let mut writing = stream;
    let (tx, rx): (TcpWriter, Receiver<Vec<u8>>) = sync_channel(WRITE_QUEUE);
    commands.send(Command::TcpOpened { remote, writer: tx }).map_err(|_| ErrorKind::BrokenPipe)?;
    live.fetch_add(1, Ordering::Relaxed);
    std::thread::Builder::new().name("lancall-sfu-tcp-w".into()).spawn(move || {
        let mut frame = Vec::with_capacity(1500);
        while let Ok(packet) = rx.recv() {
            let Ok(len) = u16::try_from(packet.len()) else { continue };
            frame.clear();
            frame.extend_from_slice(&len.to_be_bytes());
            frame.extend_from_slice(&packet);
            if writing.write_all(&frame).is_err() {
                break;
            }
        }
        let _ = writing.shutdown(Shutdown::Both);
    })?;
    let commands = commands.clone();
    let live = live.clone();
    std::thread::Builder::new().name("lancall-sfu-tcp-r".into()).spawn(move || {
        log::debug!("sfu: ICE-TCP connection from {remote}");
        let started = Instant::now();
        let _ = reading.set_read_timeout(Some(IDENTIFY_WITHIN));
        let mut len = [0u8; 2];
        let mut first = true;
        loop {
            if reading.read_exact(&mut len).is_err() {
                break;
            }
            let n = usize::from(u16::from_be_bytes(len));
            if n == 0 {
                log::debug!("sfu: ICE-TCP from {remote}: an empty frame; closing");
                break;
            }
            let mut data = vec![0u8; n];
            let _ = reading.set_read_timeout(Some(FRAME_PATIENCE));
            if reading.read_exact(&mut data).is_err() {
                break;
            }
            if first {
                first = false;
                // Idle after the first packet is fine (ICE consent checks keep it alive).
                let _ = reading.set_read_timeout(None);
                log::debug!("sfu: first ICE-TCP packet from {remote} after {:?}", started.elapsed());
            }
            if commands.send(Command::TcpIn { data, source: remote, local, at: Instant::now() }).is_err() {
                break;
            }
        }
        let _ = reading.shutdown(Shutdown::Both);
        live.fetch_sub(1, Ordering::Relaxed);
        let _ = commands.send(Command::TcpClosed { remote });
    })?;
    Ok(())
}
