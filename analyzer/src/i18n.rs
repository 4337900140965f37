//! The analyzer's two languages: Vietnamese, which the provincial team
//! reads, and English. Every message the command line prints and every
//! word of the report comes from [`Text`]; DataFusion's own messages (a
//! query's syntax error) stay as DataFusion writes them.

/// A language of the analyzer's messages and reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Tiếng Việt.
    Vi,
    /// English.
    En,
}

impl Lang {
    /// The language asked for by the environment: `MEKONG_LANG` (`vi` or
    /// `en`), else `LANG`/`LC_ALL` starting with `vi`, else English.
    pub fn from_env() -> Lang {
        let pick = |v: &str| {
            if v.to_ascii_lowercase().starts_with("vi") {
                Some(Lang::Vi)
            } else if v.to_ascii_lowercase().starts_with("en") {
                Some(Lang::En)
            } else {
                None
            }
        };
        for k in ["MEKONG_LANG", "LC_ALL", "LANG"] {
            if let Some(l) = std::env::var(k).ok().as_deref().and_then(pick) {
                return l;
            }
        }
        Lang::En
    }

    /// The HTML `lang` code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    /// The words of this language.
    pub fn text(self) -> &'static Text {
        match self {
            Lang::Vi => &VI,
            Lang::En => &EN,
        }
    }

    /// A whole number with this language's thousands separator
    /// (`1.234.567` in Vietnamese, `1,234,567` in English).
    pub fn number(self, n: i64) -> String {
        let sep = match self {
            Lang::Vi => '.',
            Lang::En => ',',
        };
        let digits = n.unsigned_abs().to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(sep);
            }
            out.push(c);
        }
        if n < 0 {
            out.insert(0, '-');
        }
        out
    }
}

/// Every message and label, in one language.
#[allow(missing_docs)]
pub struct Text {
    pub error: &'static str,
    pub cannot_start: &'static str,
    pub intact: &'static str,
    pub problems: &'static str,
    pub extract_written: &'static str,
    pub flow_records: &'static str,
    pub alerts: &'static str,
    pub audit_line: &'static str,
    pub report_written: &'static str,
    pub title: &'static str,
    pub tree: &'static str,
    pub period: &'static str,
    pub totals: &'static str,
    pub flows: &'static str,
    pub packets: &'static str,
    pub bytes: &'static str,
    pub sensors: &'static str,
    pub first: &'static str,
    pub last: &'static str,
    pub alerts_over_time: &'static str,
    pub alerts_by_technique: &'static str,
    pub technique: &'static str,
    pub tactic: &'static str,
    pub sources: &'static str,
    pub hour_utc: &'static str,
    pub top_attackers: &'static str,
    pub rank: &'static str,
    pub host: &'static str,
    pub score: &'static str,
    pub tactics: &'static str,
    pub techniques: &'static str,
    pub targets: &'static str,
    pub tools: &'static str,
    pub campaigns: &'static str,
    pub campaign: &'static str,
    pub hosts: &'static str,
    pub evidence: &'static str,
    pub hunt_findings: &'static str,
    pub beacons: &'static str,
    pub client: &'static str,
    pub server: &'static str,
    pub port: &'static str,
    pub calls: &'static str,
    pub period_s: &'static str,
    pub rita_score: &'static str,
    pub slow_scans: &'static str,
    pub source: &'static str,
    pub span_s: &'static str,
    pub dns_tunnels: &'static str,
    pub domain: &'static str,
    pub names: &'static str,
    pub long_connections: &'static str,
    pub seconds: &'static str,
    pub completeness: &'static str,
    pub sensor: &'static str,
    pub date: &'static str,
    pub hour: &'static str,
    pub seen: &'static str,
    pub dropped: &'static str,
    pub dropped_hour: &'static str,
    pub none: &'static str,
    pub footer: &'static str,
}

/// Tiếng Việt.
pub static VI: Text = Text {
    error: "lỗi",
    cannot_start: "không khởi động được",
    intact: "nguyên vẹn",
    problems: "vấn đề",
    extract_written: "đã ghi bản trích xuất",
    flow_records: "bản ghi luồng",
    alerts: "cảnh báo",
    audit_line: "dòng nhật ký kiểm toán",
    report_written: "đã ghi báo cáo",
    title: "Báo cáo phân tích hành vi mạng Mekong",
    tree: "Cây dữ liệu",
    period: "Khoảng thời gian",
    totals: "Tổng quan",
    flows: "Luồng",
    packets: "Gói tin",
    bytes: "Byte",
    sensors: "Cảm biến",
    first: "Đầu tiên",
    last: "Cuối cùng",
    alerts_over_time: "Cảnh báo theo thời gian, theo kỹ thuật",
    alerts_by_technique: "Cảnh báo theo kỹ thuật",
    technique: "Kỹ thuật",
    tactic: "Chiến thuật",
    sources: "Nguồn",
    hour_utc: "Giờ (UTC)",
    top_attackers: "Các máy tấn công hàng đầu",
    rank: "Hạng",
    host: "Máy",
    score: "Điểm",
    tactics: "Chiến thuật",
    techniques: "Kỹ thuật",
    targets: "Mục tiêu",
    tools: "Công cụ",
    campaigns: "Chiến dịch",
    campaign: "Chiến dịch",
    hosts: "Các máy",
    evidence: "Bằng chứng",
    hunt_findings: "Kết quả săn tìm",
    beacons: "Tín hiệu định kỳ (beacon)",
    client: "Máy khách",
    server: "Máy chủ",
    port: "Cổng",
    calls: "Lần gọi",
    period_s: "Chu kỳ (giây)",
    rita_score: "Điểm theo RITA",
    slow_scans: "Quét chậm",
    source: "Nguồn",
    span_s: "Kéo dài (giây)",
    dns_tunnels: "Đường hầm DNS",
    domain: "Tên miền",
    names: "Tên khác nhau",
    long_connections: "Kết nối dài",
    seconds: "Giây",
    completeness: "Độ đầy đủ của dữ liệu bắt gói",
    sensor: "Cảm biến",
    date: "Ngày",
    hour: "Giờ",
    seen: "Gói đã thấy",
    dropped: "Gói bị mất",
    dropped_hour: "Mất trong giờ",
    none: "Không có",
    footer: "Tạo bởi mekong-analyzer",
};

/// English.
pub static EN: Text = Text {
    error: "error",
    cannot_start: "cannot start",
    intact: "intact",
    problems: "problems",
    extract_written: "extract written",
    flow_records: "flow records",
    alerts: "alerts",
    audit_line: "audit line",
    report_written: "report written",
    title: "Mekong network behaviour report",
    tree: "Tree",
    period: "Period",
    totals: "Totals",
    flows: "Flows",
    packets: "Packets",
    bytes: "Bytes",
    sensors: "Sensors",
    first: "First",
    last: "Last",
    alerts_over_time: "Alerts over time, by technique",
    alerts_by_technique: "Alerts by technique",
    technique: "Technique",
    tactic: "Tactic",
    sources: "Sources",
    hour_utc: "Hour (UTC)",
    top_attackers: "Top attackers",
    rank: "Rank",
    host: "Host",
    score: "Score",
    tactics: "Tactics",
    techniques: "Techniques",
    targets: "Targets",
    tools: "Tools",
    campaigns: "Campaigns",
    campaign: "Campaign",
    hosts: "Hosts",
    evidence: "Evidence",
    hunt_findings: "Hunt findings",
    beacons: "Beacons",
    client: "Client",
    server: "Server",
    port: "Port",
    calls: "Calls",
    period_s: "Period (s)",
    rita_score: "RITA's score",
    slow_scans: "Slow scans",
    source: "Source",
    span_s: "Span (s)",
    dns_tunnels: "DNS tunnels",
    domain: "Domain",
    names: "Distinct names",
    long_connections: "Long connections",
    seconds: "Seconds",
    completeness: "Capture completeness",
    sensor: "Sensor",
    date: "Date",
    hour: "Hour",
    seen: "Packets seen",
    dropped: "Packets dropped",
    dropped_hour: "Dropped that hour",
    none: "None",
    footer: "Made by mekong-analyzer",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_take_each_languages_separator() {
        assert_eq!(Lang::Vi.number(1_234_567), "1.234.567");
        assert_eq!(Lang::En.number(1_234_567), "1,234,567");
        assert_eq!(Lang::En.number(999), "999");
        assert_eq!(Lang::Vi.number(-1000), "-1.000");
        assert_eq!(Lang::En.number(0), "0");
    }
}
