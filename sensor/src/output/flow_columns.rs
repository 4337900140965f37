//! The flow record's row: every column from the record's [`FlowSummary`],
//! its application metadata and its alerts, in schema order.

use std::fmt::Write as _;

use mekong_appmeta::AppMeta;

use super::columns::{Col, Columns, Row};
use crate::engine::FlowOut;
use crate::flow::summary::Stat;

fn u32c(v: u64) -> u32 {
    v.min(u64::from(u32::MAX)) as u32
}

fn i64c(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

/// Appends one flow record.
pub fn append(cols: &mut Columns, r: &FlowOut, sensor_id: &str) {
    cols.append_with(|w| write_record(w, r, sensor_id));
}

fn write_record(w: &mut Row<'_>, r: &FlowOut, sensor_id: &str) {
    let s = &r.summary;
    w.i64("flow_uid", Some(s.uid));
    w.u32("piece", Some(s.piece));
    w.bool("continues", Some(s.continues));
    w.str("sensor_id", Some(sensor_id));
    w.str("community_id", Some(s.community_id().as_str()));
    w.u16("vlan", s.vlan);
    w.u16("inner_vlan", s.inner_vlan);
    w.u8("ip_version", Some(s.ip_version));
    w.u8("proto", Some(s.proto));
    let (orig, resp) = (s.orig, s.resp);
    w.built("orig_addr", |b| {
        let _ = write!(b, "{orig}");
    });
    w.u16("orig_port", Some(s.orig_port));
    w.built("resp_addr", |b| {
        let _ = write!(b, "{resp}");
    });
    w.u16("resp_port", Some(s.resp_port));
    w.u16("icmp_id", s.icmp_id);
    let tun = &s.tunnel;
    let tunnelled = tun.depth > 0;
    let addr = |a: Option<std::net::IpAddr>| a.filter(|_| tunnelled).map(|a| a.to_string());
    w.str("tunnel_type", tunnelled.then(|| tun.type_name()).as_deref());
    w.str("tunnel_outer_src", addr(tun.outer_src).as_deref());
    w.str("tunnel_outer_dst", addr(tun.outer_dst).as_deref());
    w.u32("tunnel_id", tun.id.filter(|_| tunnelled));
    w.ts("first_ts", Some(s.first_us));
    w.ts("last_ts", Some(s.last_us));
    w.i64("duration_us", Some(s.duration_us()));
    macro_rules! direction {
        ($d:literal, $s:expr) => {{
            let s = &$s;
            w.i64(concat!($d, "_pkts"), Some(i64c(s.pkts)));
            w.i64(concat!($d, "_wire_bytes"), Some(i64c(s.wire_bytes)));
            w.i64(concat!($d, "_ip_bytes"), Some(i64c(s.ip_bytes)));
            w.i64(concat!($d, "_payload_bytes"), Some(i64c(s.payload_bytes)));
            w.i64(
                concat!($d, "_l4_header_bytes"),
                Some(i64c(s.l4_header_bytes)),
            );
            w.u8(concat!($d, "_l4_header_min"), s.l4_header_min);
            w.i64(concat!($d, "_payload_pkts"), Some(i64c(s.payload_pkts)));
            w.u32(concat!($d, "_fin"), Some(s.flags[0]));
            w.u32(concat!($d, "_syn"), Some(s.flags[1]));
            w.u32(concat!($d, "_rst"), Some(s.flags[2]));
            w.u32(concat!($d, "_psh"), Some(s.flags[3]));
            w.u32(concat!($d, "_ack"), Some(s.flags[4]));
            w.u32(concat!($d, "_urg"), Some(s.flags[5]));
            w.u32(concat!($d, "_ece"), Some(s.flags[6]));
            w.u32(concat!($d, "_cwr"), Some(s.flags[7]));
            w.u16(concat!($d, "_init_win"), s.init_win);
            w.u32(concat!($d, "_frags"), Some(s.frags));
            w.u32(concat!($d, "_retrans"), Some(s.retrans));
            w.u32(concat!($d, "_ooo"), Some(s.ooo));
            w.u32(concat!($d, "_zero_win"), Some(s.zero_win));
        }};
    }
    direction!("orig", s.dir[0]);
    direction!("resp", s.dir[1]);
    macro_rules! stats {
        ($d:literal, $len:expr, $iat:expr) => {{
            let (len, iat): (&Stat, &Stat) = ($len, $iat);
            w.u32(concat!($d, "_payload_len_min"), len.min.map(u32c));
            w.u32(concat!($d, "_payload_len_max"), len.max.map(u32c));
            w.f64(concat!($d, "_payload_len_mean"), len.mean);
            w.f64(concat!($d, "_payload_len_std"), len.std);
            w.i64(concat!($d, "_iat_min_us"), iat.min.map(i64c));
            w.i64(concat!($d, "_iat_max_us"), iat.max.map(i64c));
            w.f64(concat!($d, "_iat_mean_us"), iat.mean);
            w.f64(concat!($d, "_iat_std_us"), iat.std);
        }};
    }
    stats!("orig", &s.dir[0].len, &s.dir[0].iat);
    stats!("resp", &s.dir[1].len, &s.dir[1].iat);
    stats!("flow", &s.flow_len, &s.flow_iat);
    w.i64("active_min_us", s.active.min.map(i64c));
    w.i64("active_max_us", s.active.max.map(i64c));
    w.f64("active_mean_us", s.active.mean);
    w.f64("active_std_us", s.active.std);
    w.i64("idle_min_us", s.idle.min.map(i64c));
    w.i64("idle_max_us", s.idle.max.map(i64c));
    w.f64("idle_mean_us", s.idle.mean);
    w.f64("idle_std_us", s.idle.std);
    w.u32("subflows", Some(s.subflows));
    macro_rules! bulk {
        ($d:literal, $b:expr) => {{
            let b = &$b;
            w.u32(concat!($d, "_bulks"), Some(b.count));
            w.i64(concat!($d, "_bulk_pkts"), Some(i64::from(b.pkts)));
            w.i64(concat!($d, "_bulk_bytes"), Some(i64c(b.bytes)));
            w.i64(concat!($d, "_bulk_us"), Some(i64::from(b.us)));
        }};
    }
    bulk!("orig", s.bulks[0]);
    bulk!("resp", s.bulks[1]);
    let n = usize::from(s.splt_n);
    w.list("splt_len", &s.splt_len[..n], |c, v| {
        if let Col::LI16(b) = c {
            b.values().append_slice(v);
            b.append(true);
        }
    });
    w.list("splt_iat_us", &s.splt_iat_us[..n], |c, v| {
        if let Col::LI64(b) = c {
            b.values().append_slice(v);
            b.append(true);
        }
    });
    w.list("splt_flags", &s.splt_flags[..n], |c, v| {
        if let Col::LU8(b) = c {
            b.values().append_slice(v);
            b.append(true);
        }
    });
    w.str("end_reason", Some(s.end.name()));
    w.str("conn_state", s.conn_state);
    w.str("history", s.history.as_ref().map(|h| h.as_str()));
    w.u32("anomalies", Some(s.anomalies));
    write_app(w, r.app.as_deref());
    match &r.alerts {
        Some(a) => {
            w.u32("alert_count", Some(a.count));
            w.list_str("alert_techniques", Some(&a.techniques));
        }
        None => {
            w.u32("alert_count", Some(0));
            w.list_str("alert_techniques", None);
        }
    }
}

/// The application columns (null where the record has no such metadata).
fn write_app(w: &mut Row<'_>, a: Option<&AppMeta>) {
    let Some(a) = a else {
        // Most records: every application column null, `app_anomalies` 0.
        w.nulls_until("app_proto", "app_anomalies", "alert_count");
        return;
    };
    let a = Some(a);
    w.str("app_proto", a.and_then(|a| a.proto).map(|p| p.name()));
    // Lists cut at their bound are flagged as values cut.
    let cut = a.is_some_and(|a| {
        a.smb.as_ref().is_some_and(|m| m.cut)
            || a.dcerpc.as_ref().is_some_and(|m| m.cut)
            || a.ntlm.as_ref().is_some_and(|m| m.users_cut)
            || a.krb.as_ref().is_some_and(|m| m.cut)
            || a.login.as_ref().is_some_and(|m| m.cut)
            || a.ftp.as_ref().is_some_and(|m| m.cut)
            || a.smtp.as_ref().is_some_and(|m| m.cut)
            || a.mining.as_ref().is_some_and(|m| m.cut)
    });
    let truncated = if cut {
        mekong_appmeta::flags::TRUNCATED
    } else {
        0
    };
    w.u32(
        "app_anomalies",
        Some(a.map_or(0, |a| a.anomalies) | truncated),
    );
    let dns = a.and_then(|a| a.dns.as_ref());
    w.str("dns_query", dns.and_then(|d| d.query.as_deref()));
    w.u16("dns_qtype", dns.and_then(|d| d.qtype));
    w.u16("dns_qclass", dns.and_then(|d| d.qclass));
    w.u8("dns_rcode", dns.and_then(|d| d.rcode));
    w.u16("dns_answer_count", dns.and_then(|d| d.answer_count));
    w.list_str("dns_answers", dns.and_then(|d| d.answers.as_deref()));
    w.u32("dns_min_ttl", dns.and_then(|d| d.min_ttl));
    w.u32("dns_queries", dns.map(|d| d.queries));
    w.u32("dns_distinct_names", dns.map(|d| d.distinct_names()));
    let qname = dns.and_then(|d| d.query.as_deref());
    w.u16(
        "dns_qname_len",
        qname.map(|q| q.len().min(usize::from(u16::MAX)) as u16),
    );
    w.u8("dns_qname_labels", dns.and_then(|d| d.qname_labels));
    w.f64("dns_qname_entropy", dns.and_then(|d| d.qname_entropy));
    w.u16("dns_tcp_longest", dns.and_then(|d| d.tcp_longest));
    let tls = a.and_then(|a| a.tls.as_ref());
    w.str("tls_sni", tls.and_then(|t| t.sni.as_deref()));
    w.list_u16(
        "tls_client_versions",
        tls.and_then(|t| t.client_versions.as_deref()),
    );
    w.list_str("tls_alpn", tls.and_then(|t| t.alpn.as_deref()));
    w.list_u16("tls_ciphers", tls.and_then(|t| t.ciphers.as_deref()));
    w.list_u16("tls_extensions", tls.and_then(|t| t.extensions.as_deref()));
    w.str("tls_ja4", tls.and_then(|t| t.ja4.as_deref()));
    w.str("tls_ja3", tls.and_then(|t| t.ja3.as_deref()));
    w.str("tls_ja3s", tls.and_then(|t| t.ja3s.as_deref()));
    w.u16("tls_server_version", tls.and_then(|t| t.server_version));
    w.u16("tls_server_cipher", tls.and_then(|t| t.server_cipher));
    let cert = tls.and_then(|t| t.cert.as_ref());
    w.str("tls_cert_subject", cert.map(|c| c.subject.as_str()));
    w.str("tls_cert_issuer", cert.map(|c| c.issuer.as_str()));
    w.ts("tls_cert_not_before", cert.and_then(|c| c.not_before_us));
    w.ts("tls_cert_not_after", cert.and_then(|c| c.not_after_us));
    w.str("tls_cert_sha256", cert.map(|c| c.sha256.as_str()));
    let hb = a.and_then(|a| a.heartbeat.as_ref());
    w.u32("tls_heartbeats", hb.map(|h| h.records));
    w.u32("tls_heartbeat_client_max", hb.map(|h| h.client_max));
    w.u32("tls_heartbeat_server_max", hb.map(|h| h.server_max));
    w.u32("tls_heartbeat_overclaims", hb.map(|h| h.overclaims));
    let http = a.and_then(|a| a.http.as_ref());
    w.str("http_method", http.and_then(|h| h.method.as_deref()));
    w.str("http_host", http.and_then(|h| h.host.as_deref()));
    w.str("http_uri", http.and_then(|h| h.uri.as_deref()));
    w.str(
        "http_user_agent",
        http.and_then(|h| h.user_agent.as_deref()),
    );
    w.u16("http_status", http.and_then(|h| h.status));
    w.str(
        "http_content_type",
        http.and_then(|h| h.content_type.as_deref()),
    );
    w.i64(
        "http_request_body_len",
        http.and_then(|h| h.request_body_len).map(i64c),
    );
    w.i64(
        "http_response_body_len",
        http.and_then(|h| h.response_body_len).map(i64c),
    );
    w.u32("http_requests", http.map(|h| h.requests));
    w.u32("http_responses", http.map(|h| h.responses));
    let ssh = a.and_then(|a| a.ssh.as_ref());
    w.str(
        "ssh_client_banner",
        ssh.and_then(|s| s.client_banner.as_deref()),
    );
    w.str(
        "ssh_server_banner",
        ssh.and_then(|s| s.server_banner.as_deref()),
    );
    w.str("ssh_hassh", ssh.and_then(|s| s.hassh.as_deref()));
    w.str(
        "ssh_hassh_server",
        ssh.and_then(|s| s.hassh_server.as_deref()),
    );
    w.u32("quic_version", a.and_then(|a| a.quic_version));
    let smb = a.and_then(|a| a.smb.as_ref());
    w.u8("smb_version", smb.map(|m| m.version));
    w.u16("smb_dialect", smb.and_then(|m| m.dialect));
    w.u32("smb_requests", smb.map(|m| m.requests));
    let names: Option<Vec<&str>> = smb.filter(|m| m.version == 2).map(|m| {
        mekong_appmeta::smb::SMB2_COMMANDS
            .iter()
            .enumerate()
            .filter(|(i, _)| m.commands & (1 << i) != 0)
            .map(|(_, n)| *n)
            .collect()
    });
    w.list_strs("smb_commands", names.as_deref());
    w.u32("smb_errors", smb.map(|m| m.errors));
    w.u32("smb_logon_failures", smb.map(|m| m.logon_failures));
    w.list_str("smb_shares", smb.map(|m| m.shares.as_slice()));
    w.list_str("smb_files", smb.map(|m| m.files.as_slice()));
    w.list_str("smb_pipes", smb.map(|m| m.pipes.as_slice()));
    w.u32("smb_files_written", smb.map(|m| m.files_written));
    w.i64("smb_bytes_written", smb.map(|m| i64c(m.bytes_written)));
    w.i64("smb_bytes_read", smb.map(|m| i64c(m.bytes_read)));
    w.u32("smb_encrypted", smb.map(|m| m.encrypted));
    w.u32("smb_compressed", smb.map(|m| m.compressed));
    w.u32("smb_bad_compression", smb.map(|m| m.bad_compression));
    let v1 = smb.filter(|m| m.version == 1);
    w.u32("smb1_trans2", v1.map(|m| m.trans2));
    w.u32("smb1_nt_trans", v1.map(|m| m.nt_trans));
    w.u32("smb1_max_trans_data", v1.map(|m| m.max_trans_data));
    w.u32("smb1_mid_mismatches", v1.map(|m| m.mid_mismatches));
    w.u32(
        "smb1_trans2_session_setups",
        v1.map(|m| m.trans2_session_setups),
    );
    w.u32("smb1_backdoor_answers", v1.map(|m| m.backdoor_answers));
    let rpc = a.and_then(|a| a.dcerpc.as_ref());
    w.list_str("dcerpc_interfaces", rpc.map(|r| r.interfaces.as_slice()));
    w.list_str("dcerpc_operations", rpc.map(|r| r.operations.as_slice()));
    w.u32("dcerpc_requests", rpc.map(|r| r.requests));
    w.u32("dcerpc_faults", rpc.map(|r| r.faults));
    w.u32("dcerpc_bind_naks", rpc.map(|r| r.bind_naks));
    let ntlm = a.and_then(|a| a.ntlm.as_ref());
    w.str("ntlm_user", ntlm.and_then(|n| n.user.as_deref()));
    w.str("ntlm_domain", ntlm.and_then(|n| n.domain.as_deref()));
    w.str(
        "ntlm_workstation",
        ntlm.and_then(|n| n.workstation.as_deref()),
    );
    w.list_str("ntlm_users", ntlm.map(|n| n.users.as_slice()));
    w.u32("ntlm_attempts", ntlm.map(|n| n.attempts));
    w.u32("ntlm_anonymous", ntlm.map(|n| n.anonymous));
    w.u32("ntlm_failures", ntlm.map(|n| n.failures));
    w.u32("ntlm_successes", ntlm.map(|n| n.successes));
    w.list_str("ntlm_failed_users", ntlm.map(|n| n.failed_users.as_slice()));
    let krb = a.and_then(|a| a.krb.as_ref());
    let types: Option<Vec<&str>> = krb.map(|k| {
        [
            (10, "AS-REQ"),
            (11, "AS-REP"),
            (12, "TGS-REQ"),
            (13, "TGS-REP"),
            (30, "KRB-ERROR"),
        ]
        .iter()
        .filter(|(t, _)| k.msg_types & (1 << t) != 0)
        .map(|(_, n)| *n)
        .collect()
    });
    w.list_strs("krb_msg_types", types.as_deref());
    w.str("krb_cname", krb.and_then(|k| k.cname.as_deref()));
    w.str("krb_realm", krb.and_then(|k| k.realm.as_deref()));
    w.list_str("krb_snames", krb.map(|k| k.snames.as_slice()));
    let i16s = |v: &[i32]| -> Vec<i16> {
        v.iter()
            .map(|&x| x.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16)
            .collect()
    };
    for (name, v) in [
        ("krb_request_etypes", krb.map(|k| i16s(&k.request_etypes))),
        ("krb_ticket_etypes", krb.map(|k| i16s(&k.ticket_etypes))),
        ("krb_error_codes", krb.map(|k| i16s(&k.error_codes))),
    ] {
        let present = v.is_some();
        w.list(name, v.as_deref().unwrap_or(&[]), |c, v| {
            if let Col::LI16(b) = c {
                if present {
                    b.values().append_slice(v);
                }
                b.append(present);
            }
        });
    }
    w.u32("krb_requests", krb.map(|k| k.requests));
    w.u32("krb_errors", krb.map(|k| k.errors));
    let dhcp = a.and_then(|a| a.dhcp.as_ref());
    let types: Option<Vec<&str>> = dhcp.map(|d| {
        let names: &[&str] = if d.v6 {
            &mekong_appmeta::dhcp::TYPES6
        } else {
            &mekong_appmeta::dhcp::TYPES
        };
        names
            .iter()
            .enumerate()
            .filter(|(i, _)| d.msg_types & (1 << (i + 1)) != 0)
            .map(|(_, n)| *n)
            .collect()
    });
    w.list_strs("dhcp_msg_types", types.as_deref());
    w.str(
        "dhcp_client_mac",
        dhcp.and_then(|d| d.client_mac.as_deref()),
    );
    w.str("dhcp_hostname", dhcp.and_then(|d| d.hostname.as_deref()));
    w.str(
        "dhcp_vendor_class",
        dhcp.and_then(|d| d.vendor_class.as_deref()),
    );
    for (name, v) in [
        ("dhcp_requested_addr", dhcp.and_then(|d| d.requested)),
        ("dhcp_offered_addr", dhcp.and_then(|d| d.offered)),
        ("dhcp_server_id", dhcp.and_then(|d| d.server_id)),
    ] {
        match v {
            Some(a) => w.built(name, |b| {
                let _ = write!(b, "{a}");
            }),
            None => w.str(name, None),
        }
    }
    w.u32("dhcp_messages", dhcp.map(|d| d.messages));
    let rdp = a.and_then(|a| a.rdp.as_ref());
    w.str("rdp_cookie", rdp.and_then(|r| r.cookie.as_deref()));
    w.u32("rdp_requested_protocols", rdp.and_then(|r| r.requested));
    w.u32("rdp_selected_protocol", rdp.and_then(|r| r.selected));
    w.u32("rdp_negotiation_failure", rdp.and_then(|r| r.failure));
    let login = a.and_then(|a| a.login.as_ref());
    w.str("login_user", login.and_then(|l| l.user.as_deref()));
    w.list_str("login_users", login.map(|l| l.users.as_slice()));
    w.u32("login_attempts", login.map(|l| l.attempts));
    w.u32("login_failures", login.map(|l| l.failures));
    w.u32("login_successes", login.map(|l| l.successes));
    w.list_str(
        "login_failed_users",
        login.map(|l| l.failed_users.as_slice()),
    );
    let ftp = a.and_then(|a| a.ftp.as_ref());
    // A data connection has only its control connection's uid.
    let control = ftp.filter(|f| f.control_uid.is_none());
    w.list_str("ftp_commands", control.map(|f| f.commands.as_slice()));
    w.list_u16("ftp_reply_codes", control.map(|f| f.reply_codes.as_slice()));
    w.list_str("ftp_files", control.map(|f| f.files.as_slice()));
    w.u32("ftp_uploads", control.map(|f| f.uploads));
    w.u32("ftp_downloads", control.map(|f| f.downloads));
    w.u32("ftp_data_channels", control.map(|f| f.data_channels));
    w.i64("ftp_control_uid", ftp.and_then(|f| f.control_uid));
    let smtp = a.and_then(|a| a.smtp.as_ref());
    w.str("smtp_helo", smtp.and_then(|m| m.helo.as_deref()));
    w.bool("smtp_starttls", smtp.map(|m| m.starttls));
    w.str(
        "smtp_auth_mechanism",
        smtp.and_then(|m| m.auth_mechanism.as_deref()),
    );
    w.u32("smtp_mail_from", smtp.map(|m| m.mail_from));
    w.u32("smtp_rcpt_to", smtp.map(|m| m.rcpt_to));
    w.u32("smtp_messages", smtp.map(|m| m.messages));
    let sizes = smtp.map(|m| m.message_sizes.as_slice());
    w.list("smtp_message_sizes", sizes.unwrap_or(&[]), |c, v| {
        if let Col::LI64(b) = c {
            if sizes.is_some() {
                b.values().append_slice(v);
            }
            b.append(sizes.is_some());
        }
    });
    w.list_str("smtp_attachments", smtp.map(|m| m.attachments.as_slice()));
    let mining = a.and_then(|a| a.mining.as_ref());
    w.list_str("mining_methods", mining.map(|m| m.methods.as_slice()));
    w.str("mining_agent", mining.and_then(|m| m.agent.as_deref()));
    w.str("mining_login", mining.and_then(|m| m.login.as_deref()));
    w.str("mining_worker", mining.and_then(|m| m.worker.as_deref()));
    w.u32("mining_submits", mining.map(|m| m.submits));
}
