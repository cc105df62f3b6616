//! A node's network through system calls rather than `ip` processes:
//! named network namespaces as `ip netns` makes them (a bind mount of the
//! namespace on `/run/netns/NAME`), and the few rtnetlink requests a node
//! needs (a veth pair with one end in the node, links up, an address, a
//! link deleted). Each `ip` run costs a process (about a millisecond of
//! CPU); a request costs a system call.

use std::ffi::CString;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

// rtnetlink, from <linux/netlink.h>, <linux/rtnetlink.h>, <linux/if_link.h>
// and <linux/veth.h>: stable kernel ABI.
const NLMSG_ERROR: u16 = 2;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFF_UP: u32 = libc::IFF_UP as u32;

/// Where `ip netns` keeps named network namespaces.
pub const NETNS_DIR: &str = "/run/netns";

/// One rtnetlink request being built: header, fixed part, attributes.
struct Msg {
    buf: Vec<u8>,
}

impl Msg {
    fn new(kind: u16, flags: u16) -> Msg {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set by `finish`
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // sequence, set by `finish`
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port: the kernel
        Msg { buf }
    }

    /// `struct ifinfomsg`.
    fn ifinfo(mut self, index: i32, flags: u32, change: u32) -> Msg {
        push_ifinfo(&mut self.buf, index, flags, change);
        self
    }

    /// `struct ifaddrmsg` for IPv4, universe scope.
    fn ifaddr(mut self, prefix_len: u8, index: u32) -> Msg {
        self.buf
            .extend_from_slice(&[libc::AF_INET as u8, prefix_len, 0, 0]);
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self
    }

    fn attr(&mut self, kind: u16, data: &[u8]) {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
    }

    /// A string attribute, NUL-terminated as the kernel's `nla_strscpy` expects.
    fn attr_str(&mut self, kind: u16, s: &str) {
        let mut data = s.as_bytes().to_vec();
        data.push(0);
        self.attr(kind, &data);
    }

    fn nest(&mut self, kind: u16) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        at
    }

    fn end_nest(&mut self, at: usize) {
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    fn finish(mut self, seq: u32) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.buf
    }
}

fn push_ifinfo(buf: &mut Vec<u8>, index: i32, flags: u32, change: u32) {
    buf.extend_from_slice(&[libc::AF_UNSPEC as u8, 0]);
    buf.extend_from_slice(&0u16.to_ne_bytes()); // device type
    buf.extend_from_slice(&index.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&change.to_ne_bytes());
}

/// A rtnetlink socket, bound to the network namespace of the thread that
/// opened it for its whole life.
pub struct Socket {
    fd: OwnedFd,
    seq: u32,
}

impl Socket {
    pub fn open() -> io::Result<Socket> {
        // SAFETY: plain system call; the descriptor is owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Socket { fd, seq: 0 })
    }

    /// Sends one request and waits for the kernel's acknowledgement.
    fn request(&mut self, msg: Msg) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let bytes = msg.finish(seq);
        // SAFETY: a zeroed sockaddr_nl with the family set is the kernel's address.
        let mut to: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        to.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: the buffer and address outlive the call; lengths match.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                0,
                (&raw const to).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            // SAFETY: reads into a buffer we own, of the length given.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let mut at = 0usize;
            let n = n as usize;
            while at + 16 <= n {
                let len = u32::from_ne_bytes(buf[at..at + 4].try_into().expect("4 bytes")) as usize;
                let kind = u16::from_ne_bytes(buf[at + 4..at + 6].try_into().expect("2 bytes"));
                let got = u32::from_ne_bytes(buf[at + 8..at + 12].try_into().expect("4 bytes"));
                if len < 16 || at + len > n {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "malformed netlink answer",
                    ));
                }
                if kind == NLMSG_ERROR && got == seq && len >= 20 {
                    let code =
                        i32::from_ne_bytes(buf[at + 16..at + 20].try_into().expect("4 bytes"));
                    return if code == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::from_raw_os_error(-code))
                    };
                }
                at += (len + 3) & !3;
            }
        }
    }

    /// `ip link add name HOST type veth peer name PEER address MAC netns NS`,
    /// with HOST on the bridge of index `master` and up.
    pub fn add_veth(
        &mut self,
        host: &str,
        master: u32,
        peer: &str,
        peer_mac: [u8; 6],
        peer_netns: RawFd,
    ) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL).ifinfo(0, IFF_UP, IFF_UP);
        m.attr_str(IFLA_IFNAME, host);
        m.attr(IFLA_MASTER, &master.to_ne_bytes());
        let info = m.nest(IFLA_LINKINFO);
        m.attr(IFLA_INFO_KIND, b"veth");
        let data = m.nest(IFLA_INFO_DATA);
        let peer_at = m.nest(VETH_INFO_PEER);
        push_ifinfo(&mut m.buf, 0, 0, 0);
        m.attr_str(IFLA_IFNAME, peer);
        m.attr(IFLA_ADDRESS, &peer_mac);
        m.attr(IFLA_NET_NS_FD, &(peer_netns as u32).to_ne_bytes());
        m.end_nest(peer_at);
        m.end_nest(data);
        m.end_nest(info);
        self.request(m)
    }

    /// `ip link set dev (index) up`.
    pub fn set_up(&mut self, index: u32) -> io::Result<()> {
        self.request(Msg::new(RTM_NEWLINK, 0).ifinfo(index as i32, IFF_UP, IFF_UP))
    }

    /// `ip addr add IP/PREFIX dev (index)`.
    pub fn add_address(&mut self, index: u32, ip: Ipv4Addr, prefix_len: u8) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL).ifaddr(prefix_len, index);
        m.attr(IFA_LOCAL, &ip.octets());
        m.attr(IFA_ADDRESS, &ip.octets());
        self.request(m)
    }

    /// `ip link del dev NAME`; a link that does not exist is not an error.
    pub fn delete_link(&mut self, name: &str) -> io::Result<()> {
        let mut m = Msg::new(RTM_DELLINK, 0).ifinfo(0, 0, 0);
        m.attr_str(IFLA_IFNAME, name);
        match self.request(m) {
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            r => r,
        }
    }
}

/// The index of an interface in the calling thread's network namespace.
pub fn link_index(name: &str) -> io::Result<u32> {
    let c = cstring(name)?;
    // SAFETY: `c` is a valid C string for the call.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(io::Error::last_os_error()),
        i => Ok(i),
    }
}

fn cstring(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte"))
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `mount(2)` with Rust strings; `None` passes a null pointer.
fn mount(src: &str, target: &str, fstype: Option<&str>, flags: libc::c_ulong) -> io::Result<()> {
    let (src, target) = (cstring(src)?, cstring(target)?);
    let fstype = fstype.map(cstring).transpose()?;
    // SAFETY: valid C strings or null, as mount(2) takes them.
    check(unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ref().map_or(std::ptr::null(), |f| f.as_ptr()),
            flags,
            std::ptr::null(),
        )
    })
}

/// Makes `/run/netns` a shared mount point, as `ip netns add` does, so a
/// namespace mounted there later is seen in mount namespaces copied from
/// the host's before.
fn share_netns_dir() -> io::Result<()> {
    std::fs::create_dir_all(NETNS_DIR)?;
    match mount("", NETNS_DIR, Some("none"), libc::MS_SHARED | libc::MS_REC) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            // Not a mount point yet: make it one, then shared.
            mount(
                NETNS_DIR,
                NETNS_DIR,
                Some("none"),
                libc::MS_BIND | libc::MS_REC,
            )?;
            mount("", NETNS_DIR, Some("none"), libc::MS_SHARED | libc::MS_REC)
        }
        r => r,
    }
}

/// The node's network in one go: `ip netns add NETNS`, a veth pair `HOST`
/// (on `bridge`, up) and `eth0` (in the namespace, with `mac`), then in the
/// namespace `lo` and `eth0` up and `ip/prefix_len` on `eth0`. Runs on a
/// thread of its own, which moves into the new namespace (a thread's
/// network namespace is its own; the caller's stays as it was). On an error
/// the namespace and the veth pair are removed again.
pub fn add_node_network(
    netns: &str,
    host: &str,
    bridge: &str,
    mac: [u8; 6],
    ip: Ipv4Addr,
    prefix_len: u8,
) -> Result<(), (&'static str, io::Error)> {
    share_netns_dir().map_err(|e| ("making /run/netns a shared mount", e))?;
    let master = link_index(bridge).map_err(|e| ("finding the cluster bridge", e))?;
    let mut root = Socket::open().map_err(|e| ("opening a netlink socket", e))?;
    let path = Path::new(NETNS_DIR).join(netns);
    let (netns, host) = (netns.to_string(), host.to_string());
    let made = std::thread::scope(|s| {
        s.spawn(|| -> Result<(), (&'static str, io::Error)> {
            // SAFETY: open(2) with a valid path; the descriptor is closed at once.
            let c = cstring(&path.display().to_string()).map_err(|e| ("naming", e))?;
            let fd = unsafe {
                libc::open(
                    c.as_ptr(),
                    libc::O_RDONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
                    0,
                )
            };
            if fd < 0 {
                return Err((
                    "creating the network namespace file",
                    io::Error::last_os_error(),
                ));
            }
            // SAFETY: closing the descriptor just opened.
            unsafe { libc::close(fd) };
            // SAFETY: moves this thread alone into a new network namespace.
            check(unsafe { libc::unshare(libc::CLONE_NEWNET) })
                .map_err(|e| ("creating the network namespace", e))?;
            mount(
                "/proc/thread-self/ns/net",
                &path.display().to_string(),
                Some("none"),
                libc::MS_BIND,
            )
            .map_err(|e| ("mounting the network namespace", e))?;
            let ns_file =
                std::fs::File::open(&path).map_err(|e| ("opening the network namespace", e))?;
            root.add_veth(&host, master, "eth0", mac, ns_file.as_raw_fd())
                .map_err(|e| ("creating the veth pair", e))?;
            let mut inner = Socket::open().map_err(|e| ("opening a netlink socket", e))?;
            let lo = link_index("lo").map_err(|e| ("finding lo", e))?;
            let eth0 = link_index("eth0").map_err(|e| ("finding eth0", e))?;
            inner.set_up(lo).map_err(|e| ("bringing lo up", e))?;
            inner
                .add_address(eth0, ip, prefix_len)
                .map_err(|e| ("adding the node's address", e))?;
            inner.set_up(eth0).map_err(|e| ("bringing eth0 up", e))
        })
        .join()
        .unwrap_or_else(|_| {
            Err((
                "setting up the node's network",
                io::Error::other("the thread panicked"),
            ))
        })
    });
    // A namespace file that was there already is not ours to remove.
    if made
        .as_ref()
        .is_err_and(|(what, _)| *what != "creating the network namespace file")
    {
        let _ = root.delete_link(&host);
        let _ = delete_netns(&netns);
    }
    made
}

/// One more interface for a namespace [`add_node_network`] made: a veth
/// pair `HOST` (on `bridge`, up) and `peer` (in the namespace, with `mac`,
/// up, with `ip/prefix_len`). On an error the pair is removed again.
pub fn add_nic(
    netns: &str,
    host: &str,
    bridge: &str,
    peer: &str,
    mac: [u8; 6],
    ip: Ipv4Addr,
    prefix_len: u8,
) -> Result<(), (&'static str, io::Error)> {
    let master = link_index(bridge).map_err(|e| ("finding the bridge", e))?;
    let mut root = Socket::open().map_err(|e| ("opening a netlink socket", e))?;
    let ns_file = std::fs::File::open(Path::new(NETNS_DIR).join(netns))
        .map_err(|e| ("opening the network namespace", e))?;
    root.add_veth(host, master, peer, mac, ns_file.as_raw_fd())
        .map_err(|e| ("creating the veth pair", e))?;
    let made = std::thread::scope(|s| {
        s.spawn(|| -> Result<(), (&'static str, io::Error)> {
            // SAFETY: moves this thread alone into the node's network namespace.
            check(unsafe { libc::setns(ns_file.as_raw_fd(), libc::CLONE_NEWNET) })
                .map_err(|e| ("entering the network namespace", e))?;
            let mut inner = Socket::open().map_err(|e| ("opening a netlink socket", e))?;
            let index = link_index(peer).map_err(|e| ("finding the new interface", e))?;
            inner
                .add_address(index, ip, prefix_len)
                .map_err(|e| ("adding the interface's address", e))?;
            inner
                .set_up(index)
                .map_err(|e| ("bringing the interface up", e))
        })
        .join()
        .unwrap_or_else(|_| {
            Err((
                "setting up the interface",
                io::Error::other("the thread panicked"),
            ))
        })
    });
    if made.is_err() {
        let _ = root.delete_link(host);
    }
    made
}

/// `ip netns del NAME`: unmounts and removes `/run/netns/NAME`; a missing
/// one is not an error.
pub fn delete_netns(name: &str) -> io::Result<()> {
    let path = Path::new(NETNS_DIR).join(name);
    let c = cstring(&path.display().to_string())?;
    // SAFETY: umount2 with a valid C string. EINVAL: not mounted (a file
    // left half-made); ENOENT: gone.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } < 0 {
        let e = io::Error::last_os_error();
        if !matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOENT)) {
            return Err(e);
        }
    }
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// `02:ab:...` → bytes.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse() {
        assert_eq!(
            parse_mac("02:0a:ff:00:10:9b"),
            Some([2, 0x0a, 0xff, 0, 0x10, 0x9b])
        );
        assert_eq!(parse_mac("02:0a:ff:00:10"), None);
        assert_eq!(parse_mac("02:0a:ff:00:10:9b:01"), None);
        assert_eq!(parse_mac("02:0a:ff:00:10:zz"), None);
    }

    #[test]
    fn requests_are_aligned_and_sized() {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE).ifinfo(0, IFF_UP, IFF_UP);
        m.attr_str(IFLA_IFNAME, "abc");
        let at = m.nest(IFLA_LINKINFO);
        m.attr(IFLA_INFO_KIND, b"veth");
        m.end_nest(at);
        let b = m.finish(7);
        assert_eq!(
            u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize,
            b.len()
        );
        assert_eq!(u32::from_ne_bytes(b[8..12].try_into().unwrap()), 7);
        // header 16 + ifinfomsg 16 + "abc\0" attr 8 + nest 4 + "veth" attr 8
        assert_eq!(b.len(), 52);
        assert_eq!(u16::from_ne_bytes(b[40..42].try_into().unwrap()), 12);
    }
}
