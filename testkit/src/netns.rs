//! A veth pair with one end in a network namespace of its own: the sensor
//! captures on the end left in the host's namespace, tcpreplay sends a
//! capture into the other end. Both are removed when the link is dropped.
//! Needs root (CI runs as root), iproute2 and tcpreplay (`scripts/setup.sh`
//! installs them).

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A veth pair, one end in its own namespace.
pub struct VethLink {
    /// The namespace holding the sending end.
    pub ns: String,
    /// The end in the host's namespace (capture here).
    pub host_if: String,
    /// The end in `ns` (tcpreplay sends here).
    pub peer_if: String,
}

fn sh(cmd: &mut Command) -> Result<(), String> {
    let o = cmd
        .output()
        .map_err(|e| format!("{:?}: {e}", cmd.get_program()))?;
    if !o.status.success() {
        return Err(format!(
            "{:?} {:?}: {}",
            cmd.get_program(),
            cmd.get_args().collect::<Vec<_>>(),
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    Ok(())
}

/// Is this process root?
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

impl VethLink {
    /// A new link named after `tag` (a few letters) and this process.
    ///
    /// # Panics
    /// With instructions when not root or when `ip` or `tcpreplay` is missing.
    pub fn new(tag: &str) -> VethLink {
        assert!(
            is_root(),
            "live-capture tests need root (a network namespace and a veth pair); CI runs as root: run them with sudo"
        );
        assert!(
            Command::new("tcpreplay").arg("-V").output().is_ok(),
            "tcpreplay is not installed: run scripts/setup.sh"
        );
        let id = std::process::id() % 100_000;
        let l = VethLink {
            ns: format!("mekong-{id}-{tag}"),
            host_if: format!("mk{id}{tag}h"),
            peer_if: format!("mk{id}{tag}p"),
        };
        // A link left by a killed earlier run of the same id goes first.
        let _ = sh(Command::new("ip").args(["link", "del", &l.host_if]));
        let _ = sh(Command::new("ip").args(["netns", "del", &l.ns]));
        let ip = |args: &[&str]| {
            sh(Command::new("ip").args(args))
                .unwrap_or_else(|e| panic!("setting up the veth pair: {e}"))
        };
        ip(&["netns", "add", &l.ns]);
        ip(&[
            "link", "add", &l.host_if, "type", "veth", "peer", "name", &l.peer_if,
        ]);
        // No traffic of the kernel's own (IPv6 router solicitations, MLD)
        // on either end, from before the links come up: the sensor sees
        // only what is replayed.
        let off = |dev: &str| format!("net.ipv6.conf.{dev}.disable_ipv6=1");
        sh(Command::new("sysctl").args(["-qw", &off(&l.host_if)]))
            .unwrap_or_else(|e| panic!("disabling IPv6 on the veth: {e}"));
        ip(&["link", "set", &l.peer_if, "netns", &l.ns]);
        ip(&["netns", "exec", &l.ns, "sysctl", "-qw", &off(&l.peer_if)]);
        ip(&[
            "netns", "exec", &l.ns, "ip", "link", "set", &l.peer_if, "up",
        ]);
        ip(&["link", "set", &l.host_if, "up"]);
        l
    }

    /// tcpreplay of `pcap` into the link at `pps` packets per second (0:
    /// as fast as it can), not yet started.
    pub fn replay_command(&self, pcap: &Path, pps: u64) -> Command {
        self.replay_command_looped(pcap, pps, 1)
    }

    /// The same, sending the capture `loops` times over.
    pub fn replay_command_looped(&self, pcap: &Path, pps: u64, loops: u32) -> Command {
        self.replay_command_on(None, pcap, pps, loops)
    }

    /// The same, tcpreplay confined to CPU `cpu` when given (`taskset`).
    pub fn replay_command_on(
        &self,
        cpu: Option<usize>,
        pcap: &Path,
        pps: u64,
        loops: u32,
    ) -> Command {
        let mut c = match cpu {
            Some(n) => {
                let mut c = Command::new("taskset");
                c.args(["-c", &n.to_string(), "ip"]);
                c
            }
            None => Command::new("ip"),
        };
        c.args(["netns", "exec", &self.ns, "tcpreplay", "-i", &self.peer_if]);
        if loops > 1 {
            c.arg(format!("--loop={loops}"));
        }
        if pps == 0 {
            c.arg("--topspeed");
        } else {
            c.arg(format!("--pps={pps}"));
        }
        c.arg(pcap);
        c
    }

    /// Replays `pcap` at `pps` and returns the packets tcpreplay sent.
    ///
    /// # Panics
    /// When tcpreplay fails or reports failed packets.
    pub fn replay(&self, pcap: &Path, pps: u64) -> u64 {
        let o = self
            .replay_command(pcap, pps)
            .output()
            .expect("tcpreplay runs");
        let text =
            String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "tcpreplay failed: {text}");
        let n = |key: &str| -> u64 {
            text.lines()
                .find(|l| l.trim_start().starts_with(key))
                .and_then(|l| l.split(':').nth(1))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        assert_eq!(
            n("Failed packets"),
            0,
            "tcpreplay could not send every packet: {text}"
        );
        n("Successful packets")
    }

    /// Starts a replay in the background.
    pub fn spawn_replay(&self, pcap: &Path, pps: u64) -> Child {
        self.replay_command(pcap, pps)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tcpreplay starts")
    }
}

impl Drop for VethLink {
    fn drop(&mut self) {
        let _ = sh(Command::new("ip").args(["link", "del", &self.host_if]));
        let _ = sh(Command::new("ip").args(["netns", "del", &self.ns]));
    }
}
