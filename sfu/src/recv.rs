//! Receiving a datagram with the time the kernel received it.
//!
//! Chromium's bandwidth estimate for what it sends the SFU comes from the SFU's transport-wide
//! congestion control feedback: the time each packet arrived. The SFU's one thread stamps a
//! datagram only when it gets to it, after forwarding what came before (a keyframe to several
//! subscribers takes milliseconds), so packets that arrived spread out were stamped in a
//! bunch. Chromium then read its probes as "receive interval 0 us" (probing unsuccessful, seen in
//! its own log) and the jitter as congestion, and kept its estimate at 84-240 kbit/s, sending only
//! the lowest simulcast layer. On Linux the kernel's own receive time (`SO_TIMESTAMPNS`) is used
//! instead; elsewhere, or if the kernel gives none, the time the thread read it.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Instant;

/// Reads datagrams with their arrival time.
pub(crate) struct Receiver {
    /// The kernel adds its receive time to each datagram.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    stamped: bool,
    #[cfg(any(target_os = "linux", target_os = "android"))]
    control: Vec<u8>,
}

impl Receiver {
    /// Asks the kernel to stamp what `socket` receives, where it can.
    pub(crate) fn new(socket: &UdpSocket) -> Receiver {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use nix::sys::socket::{setsockopt, sockopt};
            let stamped = setsockopt(socket, sockopt::ReceiveTimestampns, &true).is_ok();
            if !stamped {
                log::warn!("sfu: the kernel does not stamp received datagrams: arrival times are the thread's");
            }
            Receiver {
                stamped,
                control: nix::cmsg_space!(nix::sys::time::TimeSpec),
            }
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let _ = socket;
            Receiver {}
        }
    }

    /// One datagram into `buf`: its length, its source and when it arrived. Errors as
    /// `recv_from`'s (a timeout is `WouldBlock` or `TimedOut`).
    pub(crate) fn recv(&mut self, socket: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Instant)> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if self.stamped {
            return self.recv_stamped(socket, buf);
        }
        let (n, source) = socket.recv_from(buf)?;
        Ok((n, source, Instant::now()))
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn recv_stamped(&mut self, socket: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Instant)> {
        use std::io::IoSliceMut;
        use std::os::fd::AsRawFd;
        use std::time::{Duration, SystemTime, UNIX_EPOCH};

        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrStorage};

        let mut iov = [IoSliceMut::new(buf)];
        let msg = recvmsg::<SockaddrStorage>(socket.as_raw_fd(), &mut iov, Some(&mut self.control), MsgFlags::empty())
            .map_err(io::Error::from)?;
        let read = Instant::now();
        let n = msg.bytes;
        let source = msg
            .address
            .as_ref()
            .and_then(|a| {
                a.as_sockaddr_in()
                    .map(|v4| SocketAddr::V4((*v4).into()))
                    .or_else(|| a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into())))
            })
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "a datagram without an IP source address"))?;
        // The kernel's stamp is wall-clock time: how long ago that was, on the monotonic clock.
        let mut at = read;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::ScmTimestampns(ts) = c {
                    let stamped = UNIX_EPOCH + Duration::new(ts.tv_sec().max(0) as u64, ts.tv_nsec().clamp(0, 999_999_999) as u32);
                    // A wall clock stepped back (NTP) gives no age: the read time stands.
                    if let Ok(age) = SystemTime::now().duration_since(stamped) {
                        // An age past a second is a clock step forward, not a queue: ignored.
                        if age < Duration::from_secs(1) {
                            at = read.checked_sub(age).unwrap_or(read);
                        }
                    }
                }
            }
        }
        Ok((n, source, at))
    }
}
