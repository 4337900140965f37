//! The sensor's configuration file (TOML), one for live and offline runs.
//!
//! Every field has a default, taken from the library's own defaults
//! ([`FlowConfig`], [`AppConfig`], [`StreamConfig`], [`DefragConfig`],
//! [`SinkConfig`]) so that there is one place for each; the file only
//! names what differs. Command-line flags override the file. An unknown
//! field, a value of the wrong type or out of range is an error naming
//! the file, the line and the field. `sensor/dist/mekong.toml` is the
//! documented sample.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::app::AppConfig;
use crate::decode::DefragConfig;
use crate::flow::table::SEC;
use crate::flow::FlowConfig;
use crate::output::SinkConfig;
use crate::stream::StreamConfig;

/// A configuration error: where, which field, what is wrong.
#[derive(Debug)]
pub struct ConfigError {
    /// The file ("command line" for a flag).
    pub file: String,
    /// 1-based line of the field, when known.
    pub line: Option<usize>,
    /// The field (`section.key`), when known.
    pub field: Option<String>,
    /// What is wrong.
    pub msg: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, " line {l}")?;
        }
        write!(f, ": ")?;
        if let Some(k) = &self.field {
            write!(f, "{k}: ")?;
        }
        write!(f, "{}", self.msg)
    }
}

impl std::error::Error for ConfigError {}

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SensorConfig {
    /// `[sensor]`: identity and threads.
    pub sensor: SensorSection,
    /// `[capture]`: where packets come from (live runs).
    pub capture: CaptureSection,
    /// `[flows]`: the flow table.
    pub flows: FlowsSection,
    /// `[app]`: application parsing and stream reassembly.
    pub app: AppSection,
    /// `[net]`: address groups (`HOME_NET` and the rules' other variables).
    pub net: NetSection,
    /// `[detection]`: detectors and rules.
    pub detection: DetectionSection,
    /// `[output]`: the Parquet tree.
    pub output: OutputSection,
    /// `[control]`: metrics and privileges (live runs).
    pub control: ControlSection,
    /// The directory relative paths are read from (the file's).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `[sensor]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SensorSection {
    /// Sensor identifier in every record and path (letters, digits, `.`,
    /// `_`, `-`); empty: the host name.
    pub id: String,
    /// Flow worker threads; 0: one per core.
    pub workers: usize,
}

/// How live packets are read.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CaptureMethod {
    /// libpcap (any interface libpcap opens).
    Pcap,
    /// Linux AF_PACKET: a TPACKET_V3 ring per worker, in a fanout group
    /// hashing flows symmetrically (no dispatching thread).
    AfPacket,
    /// Linux AF_XDP: a socket per receive queue, an XDP program
    /// redirecting every packet to them.
    AfXdp,
}

/// How the AF_XDP method attaches its XDP program.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum XdpAttach {
    /// The kernel chooses: the driver's native XDP where it has one, else
    /// generic.
    Auto,
    /// The driver's native XDP only (fails where the driver has none).
    Native,
    /// Generic (SKB) XDP, after the kernel has built its socket buffer:
    /// any interface, slower.
    Generic,
}

/// `[capture]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaptureSection {
    /// Interfaces to capture on (live runs).
    pub interfaces: Vec<String>,
    /// `pcap` (libpcap), `af-packet` (TPACKET_V3 rings with fanout) or
    /// `af-xdp` (AF_XDP sockets).
    pub method: CaptureMethod,
    /// With `af-xdp`: `auto`, `native` or `generic` XDP.
    pub xdp_mode: XdpAttach,
    /// BPF filter, as in tcpdump; empty: every packet.
    pub filter: String,
    /// Bytes kept of each packet (64 to 262144).
    pub snaplen: u32,
    /// Promiscuous mode.
    pub promiscuous: bool,
    /// Kernel capture buffer per interface, MiB (1 to 4096).
    pub buffer_mib: u32,
    /// How long the reader waits for packets before it lets the clock move
    /// time on for an idle link, ms (10 to 1000).
    pub timeout_ms: u32,
}

/// `[flows]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlowsSection {
    /// Flows held in memory at once; beyond it the flow closest to expiry
    /// is evicted (and counted).
    pub max_flows: usize,
    /// TCP idle timeout, s.
    pub idle_tcp_s: u64,
    /// UDP idle timeout, s.
    pub idle_udp_s: u64,
    /// ICMP and ICMPv6 idle timeout, s.
    pub idle_icmp_s: u64,
    /// Idle timeout of other protocols, s.
    pub idle_other_s: u64,
    /// Long flows are cut into records of at most this many seconds.
    pub active_timeout_s: u64,
    /// Seconds a closed TCP connection waits for trailing packets.
    pub tcp_linger_s: u64,
    /// Seconds a fragmented datagram may wait for its fragments.
    pub frag_timeout_s: u64,
    /// Datagrams in reassembly at once, per worker.
    pub frag_max_datagrams: usize,
}

/// `[app]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppSection {
    /// Read application metadata (DNS, TLS, HTTP, SSH, QUIC, SMB...).
    pub enabled: bool,
    /// Bytes of each direction a parser may hold while it waits for the
    /// rest of a message (256 to 1048576).
    pub stream_depth: usize,
    /// Parser buffers held at once, all flows together, MiB.
    pub stream_budget_mib: usize,
    /// Bytes of each direction of a TCP flow put in order for the stages
    /// (1024 to 1073741824).
    pub reassembly_depth: u64,
}

/// `[net]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetSection {
    /// The protected networks (CIDR blocks); empty: the detector file's
    /// (`net.home_net`) for the detectors, Suricata's default for rules.
    pub home_net: Vec<String>,
    /// The rules' other variables, as in suricata.yaml's address and port
    /// groups: `EXTERNAL_NET = "!$HOME_NET"`, `HTTP_PORTS = "[80,8080]"`.
    pub groups: BTreeMap<String, String>,
}

/// `[detection]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectionSection {
    /// Run the detectors and the rules.
    pub enabled: bool,
    /// Detector thresholds, windows, allow-lists and indicator lists
    /// (signatures/detectors.toml documents every field); empty: built-in.
    pub detectors: String,
    /// Rule files or directories of `*.rules`, loaded beside Mekong's.
    pub rules: Vec<String>,
    /// Load Mekong's shipped rules.
    pub default_rules: bool,
    /// Run rules at all (the detectors run either way).
    pub rules_enabled: bool,
    /// A classification.config adding classtypes; empty: none.
    pub classification_file: String,
    /// A threshold.config (suppress, threshold, event_filter,
    /// rate_filter); empty: none.
    pub threshold_file: String,
    /// The rules' prefilter: `hyperscan` or `aho-corasick`; empty: the
    /// best this build has.
    pub prefilter: String,
    /// Compiled prefilters kept here between runs; empty: the user's cache
    /// directory.
    pub rule_cache: String,
    /// Indicator lists (`[[detection.indicators]]`, the fields of the
    /// detector file's `[[indicators]]`: name, path, kind, format, column,
    /// technique), added to the detector file's. Paths are read from this
    /// file's directory. Reloaded on SIGHUP.
    pub indicators: Vec<mekong_detect::config::IndicatorList>,
}

/// `[output]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutputSection {
    /// Root of the Parquet tree (`DIR/flows/sensor=ID/date=.../hour=HH/`).
    pub dir: String,
    /// Live runs close every open file this often, s, so that a crash
    /// loses at most this much (10 to 3600).
    pub rotate_s: u64,
    /// Records per file before a new one is started.
    pub rows_per_file: usize,
    /// ZSTD level (1 to 22).
    pub zstd_level: i32,
    /// Delete partitions (hours) older than this many days; 0: keep all.
    pub retention_days: u32,
    /// Delete the oldest partitions while the tree holds more than this
    /// many GiB; 0: no limit.
    pub retention_max_gib: f64,
}

/// `[control]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlSection {
    /// Address of the Prometheus metrics endpoint (`127.0.0.1:9090`);
    /// empty: none.
    pub metrics: String,
    /// Drop to this user (and its groups) once the capture is open;
    /// empty: stay.
    pub user: String,
}

impl Default for CaptureSection {
    fn default() -> Self {
        CaptureSection {
            interfaces: Vec::new(),
            method: CaptureMethod::Pcap,
            xdp_mode: XdpAttach::Auto,
            filter: String::new(),
            snaplen: 65_535,
            promiscuous: true,
            buffer_mib: 256,
            timeout_ms: 100,
        }
    }
}

impl Default for FlowsSection {
    fn default() -> Self {
        let f = FlowConfig::default();
        let d = DefragConfig::default();
        FlowsSection {
            max_flows: f.max_flows,
            idle_tcp_s: f.idle_tcp_ns / SEC,
            idle_udp_s: f.idle_udp_ns / SEC,
            idle_icmp_s: f.idle_icmp_ns / SEC,
            idle_other_s: f.idle_other_ns / SEC,
            active_timeout_s: f.active_ns / SEC,
            tcp_linger_s: f.linger_ns / SEC,
            frag_timeout_s: d.timeout_ns / SEC,
            frag_max_datagrams: d.max_datagrams,
        }
    }
}

impl Default for AppSection {
    fn default() -> Self {
        let a = AppConfig::default();
        AppSection {
            enabled: a.enabled,
            stream_depth: a.stream_depth,
            stream_budget_mib: a.budget >> 20,
            reassembly_depth: StreamConfig::default().depth,
        }
    }
}

impl Default for DetectionSection {
    fn default() -> Self {
        DetectionSection {
            enabled: true,
            detectors: String::new(),
            rules: Vec::new(),
            default_rules: true,
            rules_enabled: true,
            classification_file: String::new(),
            threshold_file: String::new(),
            prefilter: String::new(),
            rule_cache: String::new(),
            indicators: Vec::new(),
        }
    }
}

impl Default for OutputSection {
    fn default() -> Self {
        let s = SinkConfig::new(PathBuf::new(), String::new());
        OutputSection {
            dir: String::new(),
            rotate_s: 60,
            rows_per_file: s.max_rows_per_file,
            zstd_level: s.zstd_level,
            retention_days: 0,
            retention_max_gib: 0.0,
        }
    }
}

impl Default for SensorConfig {
    fn default() -> Self {
        SensorConfig {
            sensor: SensorSection::default(),
            capture: CaptureSection::default(),
            flows: FlowsSection::default(),
            app: AppSection::default(),
            net: NetSection::default(),
            detection: DetectionSection::default(),
            output: OutputSection::default(),
            control: ControlSection::default(),
            base_dir: PathBuf::new(),
        }
    }
}

/// The line (1-based) of `key` in `[section]` of `text`, if written there.
fn line_of(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if let Some(s) = l.strip_prefix('[') {
            current = s.trim_end_matches(']').trim().to_string();
            continue;
        }
        let Some((k, _)) = l.split_once('=') else {
            continue;
        };
        if current == section && k.trim().trim_matches('"') == key {
            return Some(i + 1);
        }
    }
    None
}

/// The `section.key` written on line `line` (1-based), if it holds one:
/// what a value the parser refused belongs to.
fn field_on(text: &str, line: usize) -> Option<String> {
    let mut current = String::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if let Some(s) = l.strip_prefix('[') {
            current = s.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        } else if i + 1 == line {
            let (k, _) = l.split_once('=')?;
            let k = k.trim().trim_matches('"');
            return Some(if current.is_empty() {
                k.to_string()
            } else {
                format!("{current}.{k}")
            });
        }
        if i + 1 >= line {
            break;
        }
    }
    None
}

impl SensorConfig {
    /// Reads and checks a file.
    pub fn load(path: &Path) -> Result<SensorConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            line: None,
            field: None,
            msg: e.to_string(),
        })?;
        let mut c = SensorConfig::parse(&text, &path.display().to_string())?;
        c.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(c)
    }

    /// Parses and checks configuration text (`name` names it in errors).
    pub fn parse(text: &str, name: &str) -> Result<SensorConfig, ConfigError> {
        let c: SensorConfig = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            ConfigError {
                file: name.to_string(),
                line,
                field: line.and_then(|l| field_on(text, l)),
                msg: e.message().trim_end().replace('\n', " "),
            }
        })?;
        c.check().map_err(|(section, key, msg)| ConfigError {
            file: name.to_string(),
            line: line_of(text, section, key),
            field: Some(format!("{section}.{key}")),
            msg,
        })?;
        Ok(c)
    }

    /// Checks every value; the error names the section, key and problem.
    pub fn check(&self) -> Result<(), (&'static str, &'static str, String)> {
        fn range<T: PartialOrd + fmt::Display + Copy>(
            section: &'static str,
            key: &'static str,
            v: T,
            lo: T,
            hi: T,
            unit: &str,
        ) -> Result<(), (&'static str, &'static str, String)> {
            if v < lo || v > hi {
                return Err((
                    section,
                    key,
                    format!("must be between {lo} and {hi}{unit} (got {v})"),
                ));
            }
            Ok(())
        }
        let id = &self.sensor.id;
        if !id.is_empty() && !valid_sensor_id(id) {
            return Err((
                "sensor",
                "id",
                format!("{id:?}: use 1-64 letters, digits, '.', '_' or '-', not starting with '.'"),
            ));
        }
        range("sensor", "workers", self.sensor.workers, 0, 256, "")?;
        let c = &self.capture;
        for i in &c.interfaces {
            if i.is_empty() || i.len() > 64 {
                return Err((
                    "capture",
                    "interfaces",
                    format!("{i:?}: not an interface name"),
                ));
            }
        }
        range("capture", "snaplen", c.snaplen, 64, 262_144, " bytes")?;
        range("capture", "buffer_mib", c.buffer_mib, 1, 4096, " MiB")?;
        range("capture", "timeout_ms", c.timeout_ms, 10, 1000, " ms")?;
        let f = &self.flows;
        if f.max_flows == 0 {
            return Err(("flows", "max_flows", "must be at least 1".into()));
        }
        let month = 30 * 86_400;
        range("flows", "idle_tcp_s", f.idle_tcp_s, 1, month, " s")?;
        range("flows", "idle_udp_s", f.idle_udp_s, 1, month, " s")?;
        range("flows", "idle_icmp_s", f.idle_icmp_s, 1, month, " s")?;
        range("flows", "idle_other_s", f.idle_other_s, 1, month, " s")?;
        range(
            "flows",
            "active_timeout_s",
            f.active_timeout_s,
            1,
            month,
            " s",
        )?;
        range("flows", "tcp_linger_s", f.tcp_linger_s, 1, month, " s")?;
        range("flows", "frag_timeout_s", f.frag_timeout_s, 1, month, " s")?;
        range(
            "flows",
            "frag_max_datagrams",
            f.frag_max_datagrams,
            1,
            1 << 24,
            "",
        )?;
        let a = &self.app;
        range(
            "app",
            "stream_depth",
            a.stream_depth,
            256,
            1 << 20,
            " bytes",
        )?;
        range(
            "app",
            "stream_budget_mib",
            a.stream_budget_mib,
            1,
            1 << 20,
            " MiB",
        )?;
        range(
            "app",
            "reassembly_depth",
            a.reassembly_depth,
            1024,
            1 << 30,
            " bytes",
        )?;
        for b in &self.net.home_net {
            b.parse::<mekong_detect::net::Cidr>()
                .map_err(|e| ("net", "home_net", format!("{b:?}: {e}")))?;
        }
        for k in self.net.groups.keys() {
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(("net", "groups", format!("{k:?}: bad variable name")));
            }
        }
        let d = &self.detection;
        if !d.prefilter.is_empty()
            && mekong_signatures::prefilter::Backend::parse(&d.prefilter).is_none()
        {
            return Err((
                "detection",
                "prefilter",
                format!("{:?}: hyperscan or aho-corasick", d.prefilter),
            ));
        }
        let o = &self.output;
        range("output", "rotate_s", o.rotate_s, 10, 3600, " s")?;
        range("output", "rows_per_file", o.rows_per_file, 1, 1 << 30, "")?;
        range("output", "zstd_level", o.zstd_level, 1, 22, "")?;
        if !(0.0..=1e6).contains(&o.retention_max_gib) {
            return Err((
                "output",
                "retention_max_gib",
                format!(
                    "must be between 0 and 1000000 (got {})",
                    o.retention_max_gib
                ),
            ));
        }
        if !self.control.metrics.is_empty()
            && self
                .control
                .metrics
                .parse::<std::net::SocketAddr>()
                .is_err()
        {
            return Err((
                "control",
                "metrics",
                format!("{:?}: expected ADDRESS:PORT", self.control.metrics),
            ));
        }
        Ok(())
    }

    /// A path of the file, relative to the file's directory.
    pub fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// The sensor id (the host name when not set).
    pub fn sensor_id(&self) -> String {
        if self.sensor.id.is_empty() {
            default_sensor_id()
        } else {
            self.sensor.id.clone()
        }
    }

    /// Worker threads (cores when 0).
    pub fn workers(&self) -> usize {
        if self.sensor.workers == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            self.sensor.workers
        }
    }

    /// The flow table's settings.
    pub fn flow_config(&self) -> FlowConfig {
        let f = &self.flows;
        FlowConfig {
            sensor_id: Arc::from(self.sensor_id().as_str()),
            idle_tcp_ns: f.idle_tcp_s * SEC,
            idle_udp_ns: f.idle_udp_s * SEC,
            idle_icmp_ns: f.idle_icmp_s * SEC,
            idle_other_ns: f.idle_other_s * SEC,
            active_ns: f.active_timeout_s * SEC,
            linger_ns: f.tcp_linger_s * SEC,
            max_flows: f.max_flows,
            app: AppConfig {
                enabled: self.app.enabled,
                stream_depth: self.app.stream_depth,
                budget: self.app.stream_budget_mib.saturating_mul(1 << 20),
            },
            stream: StreamConfig {
                depth: self.app.reassembly_depth,
                ..StreamConfig::default()
            },
        }
    }

    /// Fragment reassembly's settings.
    pub fn defrag_config(&self) -> DefragConfig {
        DefragConfig {
            max_datagrams: self.flows.frag_max_datagrams,
            timeout_ns: self.flows.frag_timeout_s * SEC,
            ..DefragConfig::default()
        }
    }

    /// The writer's settings (`live`: files rotate).
    pub fn sink_config(&self, live: bool) -> SinkConfig {
        let flow = self.flow_config();
        let max_idle = [
            flow.idle_tcp_ns,
            flow.idle_udp_ns,
            flow.idle_icmp_ns,
            flow.idle_other_ns,
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        let mut s = SinkConfig::new(self.path(&self.output.dir), self.sensor_id());
        s.max_rows_per_file = self.output.rows_per_file;
        s.zstd_level = self.output.zstd_level;
        s.close_after_ns = flow.active_ns + max_idle + flow.linger_ns + 2 * SEC;
        if live {
            s.rotate_ns = Some(self.output.rotate_s * SEC);
        }
        s
    }

    /// The rules' variables: the groups, with `HOME_NET` from `home_net`.
    pub fn rule_vars(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .net
            .groups
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !self.net.home_net.is_empty() && !self.net.groups.contains_key("HOME_NET") {
            v.push((
                "HOME_NET".into(),
                format!("[{}]", self.net.home_net.join(",")),
            ));
        }
        v
    }
}

/// Is `id` a sensor id (path-safe)?
pub fn valid_sensor_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && !id.starts_with('.')
}

/// The host name, made path-safe ("mekong" when there is none).
pub fn default_sensor_id() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| {
            s.trim()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
                .collect::<String>()
        })
        .filter(|s| valid_sensor_id(s))
        .unwrap_or_else(|| "mekong".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_every_default() {
        let c = SensorConfig::parse("", "t.toml").unwrap();
        let f = FlowConfig::default();
        assert_eq!(c.flows.idle_tcp_s * SEC, f.idle_tcp_ns);
        assert_eq!(c.flows.max_flows, f.max_flows);
        assert_eq!(c.app.stream_depth, AppConfig::default().stream_depth);
        assert!(c.detection.enabled && c.detection.default_rules);
        assert_eq!(c.capture.method, CaptureMethod::Pcap);
    }

    #[test]
    fn the_shipped_sample_parses_and_names_every_field() {
        let text = include_str!("../dist/mekong.toml");
        let c = SensorConfig::parse(text, "mekong.toml").unwrap();
        assert_eq!(c.capture.interfaces, vec!["eth1".to_string()]);
        // Every field of every section is written in the sample.
        let fields = [
            ("sensor", &["id", "workers"][..]),
            (
                "capture",
                &[
                    "interfaces",
                    "method",
                    "xdp_mode",
                    "filter",
                    "snaplen",
                    "promiscuous",
                    "buffer_mib",
                    "timeout_ms",
                ][..],
            ),
            (
                "flows",
                &[
                    "max_flows",
                    "idle_tcp_s",
                    "idle_udp_s",
                    "idle_icmp_s",
                    "idle_other_s",
                    "active_timeout_s",
                    "tcp_linger_s",
                    "frag_timeout_s",
                    "frag_max_datagrams",
                ][..],
            ),
            (
                "app",
                &[
                    "enabled",
                    "stream_depth",
                    "stream_budget_mib",
                    "reassembly_depth",
                ][..],
            ),
            ("net", &["home_net"][..]),
            (
                "detection",
                &[
                    "enabled",
                    "detectors",
                    "rules",
                    "default_rules",
                    "rules_enabled",
                    "classification_file",
                    "threshold_file",
                    "prefilter",
                    "rule_cache",
                ][..],
            ),
            (
                "output",
                &[
                    "dir",
                    "rotate_s",
                    "rows_per_file",
                    "zstd_level",
                    "retention_days",
                    "retention_max_gib",
                ][..],
            ),
            ("control", &["metrics", "user"][..]),
        ];
        for (s, keys) in fields {
            for k in keys {
                assert!(
                    line_of(text, s, k).is_some(),
                    "{s}.{k} missing from the sample"
                );
            }
        }
    }

    #[test]
    fn a_bad_value_names_file_line_and_field() {
        let e = SensorConfig::parse(
            "[sensor]\nid = \"a\"\n\n[flows]\nidle_tcp_s = 0\n",
            "m.toml",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(5));
        assert_eq!(e.field.as_deref(), Some("flows.idle_tcp_s"));
        assert_eq!(
            e.to_string(),
            "m.toml line 5: flows.idle_tcp_s: must be between 1 and 2592000 s (got 0)"
        );
    }

    #[test]
    fn an_unknown_field_or_wrong_type_names_the_line() {
        let e = SensorConfig::parse("[capture]\nsnaplen = 1500\nbufer_mib = 3\n", "m.toml")
            .unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.msg.contains("bufer_mib"), "{e}");
        let e = SensorConfig::parse("[output]\n\nzstd_level = \"high\"\n", "m.toml").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        let e = SensorConfig::parse("[capture]\nmethod = \"dpdk\"\n", "m.toml").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        let e = SensorConfig::parse("[capture]\n\nxdp_mode = \"fast\"\n", "m.toml").unwrap_err();
        assert_eq!(
            (e.line, e.field.as_deref()),
            (Some(3), Some("capture.xdp_mode")),
            "{e}"
        );
        let e = SensorConfig::parse("[flows]\nidle_tcp_s = \"5\"\n", "m.toml").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("flows.idle_tcp_s"), "{e}");
        assert!(
            e.to_string()
                .starts_with("m.toml line 2: flows.idle_tcp_s: "),
            "{e}"
        );
        let e = SensorConfig::parse("[[detection.indicators]]\nkind = 3\n", "m.toml").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("detection.indicators.kind"), "{e}");
        let c = SensorConfig::parse(
            "[capture]\nmethod = \"af-xdp\"\nxdp_mode = \"generic\"\n",
            "m.toml",
        )
        .unwrap();
        assert_eq!(
            (c.capture.method, c.capture.xdp_mode),
            (CaptureMethod::AfXdp, XdpAttach::Generic)
        );
        let e = SensorConfig::parse("[net]\nhome_net = [\"10.0.0.0/33\"]\n", "m.toml").unwrap_err();
        assert_eq!(
            (e.line, e.field.as_deref()),
            (Some(2), Some("net.home_net"))
        );
        let e = SensorConfig::parse("[control]\nmetrics = \"localhost\"\n", "m.toml").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("control.metrics"));
    }

    #[test]
    fn home_net_becomes_the_rules_variable() {
        let c = SensorConfig::parse(
            "[net]\nhome_net = [\"10.0.0.0/8\", \"192.168.0.0/16\"]\n[net.groups]\nHTTP_PORTS = \"[80,8080]\"\n",
            "m.toml",
        )
        .unwrap();
        let v = c.rule_vars();
        assert!(v.contains(&("HOME_NET".into(), "[10.0.0.0/8,192.168.0.0/16]".into())));
        assert!(v.contains(&("HTTP_PORTS".into(), "[80,8080]".into())));
    }

    #[test]
    fn relative_paths_are_read_from_the_files_directory() {
        let c = SensorConfig {
            base_dir: PathBuf::from("/etc/mekong"),
            ..SensorConfig::default()
        };
        assert_eq!(
            c.path("rules/local.rules"),
            PathBuf::from("/etc/mekong/rules/local.rules")
        );
        assert_eq!(c.path("/var/lib/mekong"), PathBuf::from("/var/lib/mekong"));
    }
}
