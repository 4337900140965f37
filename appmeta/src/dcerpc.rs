//! DCE/RPC, connection-oriented (MS-RPCE over TCP, and over SMB named
//! pipes): binds with their interface UUIDs, named for the interfaces
//! attackers use (service control, task scheduling, SAM and LSA
//! enumeration, Netlogon, directory replication, shares, the endpoint
//! mapper, the registry, DCOM and WMI), and each request's interface and
//! operation number, with the operation's name.

use crate::event::Events;

/// A PDU's header (the 16 bytes every connection-oriented PDU begins with).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// PDU type ([`REQUEST`], [`BIND`] ...).
    pub ptype: u8,
    /// Flags (first fragment 0x01, last 0x02, object UUID 0x80).
    pub flags: u8,
    /// Little-endian integers (the data representation's first byte).
    pub le: bool,
    /// Length of this fragment, header included.
    pub frag_len: u16,
    /// Length of the authentication verifier.
    pub auth_len: u16,
    /// Call id.
    pub call_id: u32,
}

/// PDU types.
pub const REQUEST: u8 = 0;
/// A response.
pub const RESPONSE: u8 = 2;
/// A fault.
pub const FAULT: u8 = 3;
/// A bind.
pub const BIND: u8 = 11;
/// The bind's acceptance.
pub const BIND_ACK: u8 = 12;
/// The bind's refusal.
pub const BIND_NAK: u8 = 13;
/// A new presentation context on a bound association.
pub const ALTER_CONTEXT: u8 = 14;
/// Its answer.
pub const ALTER_CONTEXT_RESP: u8 = 15;

/// Reads the header at the start of `b`: version 5.0 or 5.1 and a fragment
/// length of at least the header.
pub fn header(b: &[u8]) -> Option<Header> {
    if b.len() < 16 || b[0] != 5 || b[1] > 1 || b[2] > 20 {
        return None;
    }
    let le = b[4] & 0x10 != 0;
    let u16at = |at: usize| {
        let v = [b[at], b[at + 1]];
        if le {
            u16::from_le_bytes(v)
        } else {
            u16::from_be_bytes(v)
        }
    };
    let call = [b[12], b[13], b[14], b[15]];
    let h = Header {
        ptype: b[2],
        flags: b[3],
        le,
        frag_len: u16at(8),
        auth_len: u16at(10),
        call_id: if le {
            u32::from_le_bytes(call)
        } else {
            u32::from_be_bytes(call)
        },
    };
    (h.frag_len >= 16).then_some(h)
}

/// An interface UUID as text (the first three fields in the PDU's byte
/// order, as MS-RPCE writes them).
pub fn uuid_text(u: &[u8], le: bool) -> Option<String> {
    let u: &[u8; 16] = u.get(..16)?.try_into().ok()?;
    let (d1, d2, d3) = if le {
        (
            u32::from_le_bytes([u[0], u[1], u[2], u[3]]),
            u16::from_le_bytes([u[4], u[5]]),
            u16::from_le_bytes([u[6], u[7]]),
        )
    } else {
        (
            u32::from_be_bytes([u[0], u[1], u[2], u[3]]),
            u16::from_be_bytes([u[4], u[5]]),
            u16::from_be_bytes([u[6], u[7]]),
        )
    };
    Some(format!(
        "{d1:08x}-{d2:04x}-{d3:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]
    ))
}

/// A named interface and the names of its operations.
#[derive(Debug)]
pub struct Iface {
    /// Interface UUID, lower case.
    pub uuid: &'static str,
    /// Its name.
    pub name: &'static str,
    /// (opnum, operation name).
    pub ops: &'static [(u16, &'static str)],
}

/// The interfaces Mekong names (MS-SCMR, MS-TSCH, MS-SAMR, MS-LSAT/LSAD,
/// MS-NRPC, MS-DRSR, MS-SRVS, MS-WKST, MS-RPCE's endpoint mapper, MS-RRP,
/// MS-DCOM, MS-WMI).
pub static IFACES: &[Iface] = &[
    Iface {
        uuid: "367abb81-9844-35f1-ad32-98f038001003",
        name: "svcctl",
        ops: &[
            (0, "RCloseServiceHandle"),
            (1, "RControlService"),
            (2, "RDeleteService"),
            (3, "RLockServiceDatabase"),
            (6, "RQueryServiceStatus"),
            (11, "RChangeServiceConfigW"),
            (12, "RCreateServiceW"),
            (14, "REnumServicesStatusW"),
            (15, "ROpenSCManagerW"),
            (16, "ROpenServiceW"),
            (17, "RQueryServiceConfigW"),
            (19, "RStartServiceW"),
            (23, "RChangeServiceConfigA"),
            (24, "RCreateServiceA"),
            (27, "ROpenSCManagerA"),
            (28, "ROpenServiceA"),
            (31, "RStartServiceA"),
            (37, "RChangeServiceConfig2W"),
            (40, "RQueryServiceStatusEx"),
            (42, "REnumServicesStatusExW"),
            (44, "RCreateServiceWOW64A"),
            (45, "RCreateServiceWOW64W"),
        ],
    },
    Iface {
        uuid: "1ff70682-0a51-30e8-076d-740be8cee98b",
        name: "atsvc",
        ops: &[
            (0, "NetrJobAdd"),
            (1, "NetrJobDel"),
            (2, "NetrJobEnum"),
            (3, "NetrJobGetInfo"),
        ],
    },
    Iface {
        uuid: "86d35949-83c9-4044-b424-db363231fd0c",
        name: "ITaskSchedulerService",
        ops: &[
            (0, "SchRpcHighestVersion"),
            (1, "SchRpcRegisterTask"),
            (2, "SchRpcRetrieveTask"),
            (3, "SchRpcCreateFolder"),
            (6, "SchRpcEnumFolders"),
            (7, "SchRpcEnumTasks"),
            (12, "SchRpcRun"),
            (13, "SchRpcDelete"),
            (17, "SchRpcGetTaskInfo"),
            (19, "SchRpcEnableTask"),
        ],
    },
    Iface {
        uuid: "12345778-1234-abcd-ef00-0123456789ac",
        name: "samr",
        ops: &[
            (0, "SamrConnect"),
            (1, "SamrCloseHandle"),
            (3, "SamrQuerySecurityObject"),
            (5, "SamrLookupDomainInSamServer"),
            (6, "SamrEnumerateDomainsInSamServer"),
            (7, "SamrOpenDomain"),
            (8, "SamrQueryInformationDomain"),
            (11, "SamrEnumerateGroupsInDomain"),
            (12, "SamrCreateUserInDomain"),
            (13, "SamrEnumerateUsersInDomain"),
            (15, "SamrEnumerateAliasesInDomain"),
            (16, "SamrGetAliasMembership"),
            (17, "SamrLookupNamesInDomain"),
            (18, "SamrLookupIdsInDomain"),
            (19, "SamrOpenGroup"),
            (20, "SamrQueryInformationGroup"),
            (22, "SamrAddMemberToGroup"),
            (25, "SamrGetMembersInGroup"),
            (27, "SamrOpenAlias"),
            (28, "SamrQueryInformationAlias"),
            (31, "SamrAddMemberToAlias"),
            (33, "SamrGetMembersInAlias"),
            (34, "SamrOpenUser"),
            (35, "SamrDeleteUser"),
            (36, "SamrQueryInformationUser"),
            (37, "SamrSetInformationUser"),
            (39, "SamrGetGroupsForUser"),
            (40, "SamrQueryDisplayInformation"),
            (44, "SamrGetUserDomainPasswordInformation"),
            (50, "SamrCreateUser2InDomain"),
            (56, "SamrGetDomainPasswordInformation"),
            (57, "SamrConnect2"),
            (58, "SamrSetInformationUser2"),
            (62, "SamrConnect4"),
            (64, "SamrConnect5"),
            (65, "SamrRidToSid"),
        ],
    },
    Iface {
        uuid: "12345778-1234-abcd-ef00-0123456789ab",
        name: "lsarpc",
        ops: &[
            (0, "LsarClose"),
            (6, "LsarOpenPolicy"),
            (7, "LsarQueryInformationPolicy"),
            (14, "LsarLookupNames"),
            (15, "LsarLookupSids"),
            (44, "LsarOpenPolicy2"),
            (45, "LsarGetUserName"),
            (46, "LsarQueryInformationPolicy2"),
            (57, "LsarLookupSids2"),
            (58, "LsarLookupNames2"),
            (68, "LsarLookupNames3"),
            (76, "LsarLookupSids3"),
            (77, "LsarLookupNames4"),
        ],
    },
    Iface {
        uuid: "12345678-1234-abcd-ef00-01234567cffb",
        name: "netlogon",
        ops: &[
            (2, "NetrLogonSamLogon"),
            (3, "NetrLogonSamLogoff"),
            (4, "NetrServerReqChallenge"),
            (5, "NetrServerAuthenticate"),
            (6, "NetrServerPasswordSet"),
            (15, "NetrServerAuthenticate2"),
            (21, "NetrLogonGetCapabilities"),
            (26, "NetrServerAuthenticate3"),
            (29, "NetrLogonGetDomainInfo"),
            (30, "NetrServerPasswordSet2"),
            (34, "DsrGetDcNameEx2"),
            (39, "NetrLogonSamLogonEx"),
            (40, "DsrEnumerateDomainTrusts"),
        ],
    },
    Iface {
        uuid: "e3514235-4b06-11d1-ab04-00c04fc2dcd2",
        name: "drsuapi",
        ops: &[
            (0, "DRSBind"),
            (1, "DRSUnbind"),
            (2, "DRSReplicaSync"),
            (3, "DRSGetNCChanges"),
            (4, "DRSUpdateRefs"),
            (5, "DRSReplicaAdd"),
            (6, "DRSReplicaDel"),
            (12, "DRSCrackNames"),
            (16, "DRSDomainControllerInfo"),
            (17, "DRSAddEntry"),
        ],
    },
    Iface {
        uuid: "4b324fc8-1670-01d3-1278-5a47bf6ee188",
        name: "srvsvc",
        ops: &[
            (8, "NetrConnectionEnum"),
            (9, "NetrFileEnum"),
            (12, "NetrSessionEnum"),
            (15, "NetrShareEnum"),
            (16, "NetrShareGetInfo"),
            (21, "NetrServerGetInfo"),
            (28, "NetrRemoteTOD"),
            (36, "NetrShareEnumSticky"),
        ],
    },
    Iface {
        uuid: "6bffd098-a112-3610-9833-46c3f87e345a",
        name: "wkssvc",
        ops: &[(0, "NetrWkstaGetInfo"), (2, "NetrWkstaUserEnum")],
    },
    Iface {
        uuid: "e1af8308-5d1f-11c9-91a4-08002b14a0fa",
        name: "epmapper",
        ops: &[
            (0, "ept_insert"),
            (1, "ept_delete"),
            (2, "ept_lookup"),
            (3, "ept_map"),
            (4, "ept_lookup_handle_free"),
            (5, "ept_inq_object"),
            (6, "ept_mgmt_delete"),
        ],
    },
    Iface {
        uuid: "338cd001-2244-31f1-aaaa-900038001003",
        name: "winreg",
        ops: &[
            (0, "OpenClassesRoot"),
            (1, "OpenCurrentUser"),
            (2, "OpenLocalMachine"),
            (4, "OpenUsers"),
            (5, "BaseRegCloseKey"),
            (6, "BaseRegCreateKey"),
            (7, "BaseRegDeleteKey"),
            (8, "BaseRegDeleteValue"),
            (9, "BaseRegEnumKey"),
            (10, "BaseRegEnumValue"),
            (15, "BaseRegOpenKey"),
            (16, "BaseRegQueryInfoKey"),
            (17, "BaseRegQueryValue"),
            (20, "BaseRegSaveKey"),
            (22, "BaseRegSetValue"),
        ],
    },
    Iface {
        uuid: "000001a0-0000-0000-c000-000000000046",
        name: "IRemoteSCMActivator",
        ops: &[(3, "RemoteGetClassObject"), (4, "RemoteCreateInstance")],
    },
    Iface {
        uuid: "4d9f4ab8-7d1c-11cf-861e-0020af6e7c57",
        name: "IActivation",
        ops: &[(0, "RemoteActivation")],
    },
    Iface {
        uuid: "99fcfec4-5260-101b-bbcb-00aa0021347a",
        name: "IOXIDResolver",
        ops: &[
            (0, "ResolveOxid"),
            (1, "SimplePing"),
            (2, "ComplexPing"),
            (3, "ServerAlive"),
            (4, "ResolveOxid2"),
            (5, "ServerAlive2"),
        ],
    },
    Iface {
        uuid: "00000143-0000-0000-c000-000000000046",
        name: "IRemUnknown2",
        ops: &[
            (3, "RemQueryInterface"),
            (4, "RemAddRef"),
            (5, "RemRelease"),
        ],
    },
    Iface {
        uuid: "00020400-0000-0000-c000-000000000046",
        name: "IDispatch",
        ops: &[
            (3, "GetTypeInfoCount"),
            (4, "GetTypeInfo"),
            (5, "GetIDsOfNames"),
            (6, "Invoke"),
        ],
    },
    Iface {
        uuid: "f309ad18-d86a-11d0-a075-00c04fb68820",
        name: "IWbemLevel1Login",
        ops: &[
            (3, "EstablishPosition"),
            (4, "RequestChallenge"),
            (5, "WBEMLogin"),
            (6, "NTLMLogin"),
        ],
    },
    Iface {
        uuid: "9556dc99-828c-11cf-a37e-00aa003240c7",
        name: "IWbemServices",
        ops: &[
            (3, "OpenNamespace"),
            (6, "GetObject"),
            (20, "ExecQuery"),
            (21, "ExecQueryAsync"),
            (22, "ExecNotificationQuery"),
            (24, "ExecMethod"),
            (25, "ExecMethodAsync"),
        ],
    },
];

/// The interface of `uuid` (lower-case text), when Mekong names it.
pub fn iface(uuid: &str) -> Option<&'static Iface> {
    IFACES.iter().find(|i| i.uuid == uuid)
}

impl Iface {
    /// The name of operation `opnum`.
    pub fn op(&self, opnum: u16) -> Option<&'static str> {
        self.ops.iter().find(|(n, _)| *n == opnum).map(|(_, s)| *s)
    }
}

/// The abstract syntaxes of a bind or alter-context PDU: (context id,
/// interface UUID text, major version) for each presentation context.
pub fn bind_contexts(pdu: &[u8], h: &Header) -> Vec<(u16, String, u16)> {
    let mut out = Vec::new();
    let rd16 = |at: usize| -> Option<u16> {
        let v = [*pdu.get(at)?, *pdu.get(at + 1)?];
        Some(if h.le {
            u16::from_le_bytes(v)
        } else {
            u16::from_be_bytes(v)
        })
    };
    let Some(&n) = pdu.get(24) else { return out };
    let mut at = 28;
    for _ in 0..n.min(MAX_CONTEXTS as u8) {
        let (Some(ctx), Some(&ntrans)) = (rd16(at), pdu.get(at + 2)) else {
            break;
        };
        let Some(uuid) = pdu.get(at + 4..at + 20).and_then(|u| uuid_text(u, h.le)) else {
            break;
        };
        let ver = rd16(at + 20).unwrap_or(0);
        out.push((ctx, uuid, ver));
        at += 24 + 20 * usize::from(ntrans);
    }
    out
}

/// Presentation contexts read from one bind.
pub const MAX_CONTEXTS: usize = 16;

/// A request's (context id, opnum).
pub fn request(pdu: &[u8], h: &Header) -> Option<(u16, u16)> {
    let v = |at: usize| -> Option<u16> {
        let b = [*pdu.get(at)?, *pdu.get(at + 1)?];
        Some(if h.le {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    };
    Some((v(20)?, v(22)?))
}

/// Whether a Netlogon request carries an all-zero client challenge
/// (`NetrServerReqChallenge`, opnum 4) or client credential
/// (`NetrServerAuthenticate`/`2`/`3`, opnums 5, 15, 26): what Zerologon
/// sends, and what a real client's random values never are. The value
/// ends the stub (followed by the negotiate flags for 15 and 26).
pub fn zero_credential(pdu: &[u8], h: &Header, opnum: u16) -> bool {
    if h.auth_len != 0 {
        return false; // an authenticated call is past the secure channel's set-up
    }
    let start = if h.flags & 0x80 != 0 { 40 } else { 24 };
    let end = usize::from(h.frag_len).min(pdu.len());
    let Some(stub) = pdu.get(start..end) else {
        return false;
    };
    let tail = match opnum {
        4 | 5 => 0,
        15 | 26 => 4,
        _ => return false,
    };
    let n = stub.len();
    n >= 8 + tail + 8 && stub[n - tail - 8..n - tail].iter().all(|&b| b == 0)
}

/// The NTLMSSP message of a PDU's authentication verifier, if any.
pub fn auth_ntlmssp<'a>(pdu: &'a [u8], h: &Header) -> Option<&'a [u8]> {
    if h.auth_len == 0 {
        return None;
    }
    let end = usize::from(h.frag_len).min(pdu.len());
    let start = end.checked_sub(usize::from(h.auth_len))?;
    // The 8-byte security trailer before it: auth type 10 is NTLMSSP.
    let trailer = pdu.get(start.checked_sub(8)?..start)?;
    (trailer[0] == 10).then(|| pdu.get(start..end)).flatten()
}

/// What one DCE/RPC association has learned: the interface of each
/// presentation context, and what its PDUs said.
#[derive(Clone, Debug, Default)]
pub struct Association {
    /// (context id, interface UUID text).
    contexts: Vec<(u16, String)>,
}

/// What the DCE/RPC of a flow did, for its record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DceRpcMeta {
    /// Interfaces bound (names, else UUIDs), in order of first bind, at
    /// most [`MAX_LIST`].
    pub interfaces: Vec<String>,
    /// Distinct operations called (`iface.Operation`, else `iface.opnum`),
    /// in order of first call, at most [`MAX_LIST`].
    pub operations: Vec<String>,
    /// Requests.
    pub requests: u32,
    /// Faults answered.
    pub faults: u32,
    /// Binds refused.
    pub bind_naks: u32,
    /// A list was cut at [`MAX_LIST`].
    pub cut: bool,
}

/// Longest list kept in a record.
pub const MAX_LIST: usize = 32;

fn push_distinct(list: &mut Vec<String>, v: &str, cut: &mut bool) {
    crate::push_distinct(list, v, MAX_LIST, cut)
}

/// What a PDU said, for the caller that carries NTLMSSP further.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PduSeen<'a> {
    /// The NTLMSSP message of its verifier.
    pub ntlmssp: Option<&'a [u8]>,
}

impl Association {
    /// Reads one PDU (`dir` 0 from the client) at the start of `pdu` (the
    /// whole fragment or its first bytes), raising bind and request events.
    pub fn pdu<'a>(
        &mut self,
        pdu: &'a [u8],
        meta: &mut DceRpcMeta,
        ev: &mut Events,
    ) -> Option<PduSeen<'a>> {
        let h = header(pdu)?;
        match h.ptype {
            BIND | ALTER_CONTEXT => {
                for (ctx, uuid, _) in bind_contexts(pdu, &h) {
                    let name = iface(&uuid).map(|i| i.name);
                    push_distinct(&mut meta.interfaces, name.unwrap_or(&uuid), &mut meta.cut);
                    ev.dcerpc_bind(name, &uuid);
                    if let Some(e) = self.contexts.iter_mut().find(|e| e.0 == ctx) {
                        e.1 = uuid;
                    } else if self.contexts.len() < MAX_CONTEXTS {
                        self.contexts.push((ctx, uuid));
                    }
                }
            }
            REQUEST => {
                meta.requests = meta.requests.saturating_add(1);
                if let Some((ctx, opnum)) = request(pdu, &h) {
                    let uuid = self
                        .contexts
                        .iter()
                        .find(|e| e.0 == ctx)
                        .map(|e| e.1.as_str());
                    let ifc = uuid.and_then(iface);
                    let op = ifc.and_then(|i| i.op(opnum));
                    let label = match (ifc, op) {
                        (Some(i), Some(o)) => format!("{}.{o}", i.name),
                        (Some(i), None) => format!("{}.{opnum}", i.name),
                        (None, _) => format!("{}.{opnum}", uuid.unwrap_or("?")),
                    };
                    push_distinct(&mut meta.operations, &label, &mut meta.cut);
                    let zero = ifc.is_some_and(|i| i.name == "netlogon")
                        && zero_credential(pdu, &h, opnum);
                    ev.dcerpc_request(ifc.map(|i| i.name).or(uuid), opnum, op, zero);
                }
            }
            FAULT => meta.faults = meta.faults.saturating_add(1),
            BIND_NAK => meta.bind_naks = meta.bind_naks.saturating_add(1),
            _ => {}
        }
        Some(PduSeen {
            ntlmssp: auth_ntlmssp(pdu, &h),
        })
    }
}

/// Recognises DCE/RPC over TCP from the client's first bytes: a bind.
pub fn detect(first: &[u8]) -> crate::Outcome<()> {
    use crate::Outcome;
    if first.len() < 16 {
        return if first.first().is_none_or(|&b| b == 5) {
            Outcome::Incomplete
        } else {
            Outcome::NotThis
        };
    }
    match header(first) {
        Some(h) if h.ptype == BIND && usize::from(h.frag_len) >= 28 => Outcome::Parsed(()),
        _ => Outcome::NotThis,
    }
}

/// DCE/RPC over TCP: PDUs framed by their fragment length; long fragments
/// are read from their first bytes and the rest passed over.
#[derive(Clone, Debug, Default)]
pub struct DceRpcSession {
    assoc: Association,
    skip: [usize; 2],
}

/// Bytes of a PDU read before its rest is passed over.
pub const PDU_HEAD: usize = 4096;

impl DceRpcSession {
    /// Parses the next in-order bytes of direction `dir`.
    pub fn parse(
        &mut self,
        dir: usize,
        data: &[u8],
        meta: &mut crate::AppMeta,
        ev: &mut Events,
    ) -> crate::Step {
        use crate::Step;
        let d = dir.min(1);
        if self.skip[d] > 0 {
            let n = self.skip[d].min(data.len());
            self.skip[d] -= n;
            return Step::Consumed(n);
        }
        let Some(h) = header(data) else {
            return if data.len() < 16 {
                Step::NeedMore
            } else {
                Step::Malformed
            };
        };
        let len = usize::from(h.frag_len);
        let want = len.min(PDU_HEAD);
        if data.len() < want {
            return Step::NeedMore;
        }
        let pdu = &data[..want];
        let rpc = meta.dcerpc.get_or_insert_with(Default::default);
        if let Some(seen) = self.assoc.pdu(pdu, rpc, ev) {
            if let Some(m) = seen.ntlmssp {
                crate::ntlm::NtlmMeta::seen(&mut meta.ntlm, m, ev);
            }
        }
        self.skip[d] = len - want;
        Step::Consumed(want)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::AppEvent;

    /// The UUID's 16 bytes in little-endian order.
    pub(crate) fn uuid_le(text: &str) -> [u8; 16] {
        let h: String = text.chars().filter(|c| *c != '-').collect();
        let b: Vec<u8> = (0..16)
            .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let mut u = [0u8; 16];
        u[..4].copy_from_slice(&[b[3], b[2], b[1], b[0]]);
        u[4..6].copy_from_slice(&[b[5], b[4]]);
        u[6..8].copy_from_slice(&[b[7], b[6]]);
        u[8..].copy_from_slice(&b[8..]);
        u
    }

    /// A little-endian bind of `uuids`, one context each (NDR transfer syntax).
    pub(crate) fn bind(call: u32, uuids: &[&str]) -> Vec<u8> {
        let mut b = vec![5, 0, BIND, 3, 0x10, 0, 0, 0, 0, 0, 0, 0];
        b.extend(call.to_le_bytes());
        b.extend(4280u16.to_le_bytes());
        b.extend(4280u16.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend([uuids.len() as u8, 0, 0, 0]);
        for (i, u) in uuids.iter().enumerate() {
            b.extend((i as u16).to_le_bytes());
            b.extend([1, 0]);
            b.extend(uuid_le(u));
            b.extend([1, 0, 0, 0]);
            b.extend(uuid_le("8a885d04-1ceb-11c9-9fe8-08002b104860"));
            b.extend([2, 0, 0, 0]);
        }
        let n = b.len() as u16;
        b[8..10].copy_from_slice(&n.to_le_bytes());
        b
    }

    /// A little-endian request of `opnum` on context `ctx` with `stub` bytes.
    pub(crate) fn request_pdu(call: u32, ctx: u16, opnum: u16, stub: usize) -> Vec<u8> {
        let mut b = vec![5, 0, REQUEST, 3, 0x10, 0, 0, 0, 0, 0, 0, 0];
        b.extend(call.to_le_bytes());
        b.extend((stub as u32).to_le_bytes());
        b.extend(ctx.to_le_bytes());
        b.extend(opnum.to_le_bytes());
        b.extend(std::iter::repeat_n(0u8, stub));
        let n = b.len() as u16;
        b[8..10].copy_from_slice(&n.to_le_bytes());
        b
    }

    #[test]
    fn zerologon_credentials_are_all_zeros() {
        let h = |pdu: &[u8]| header(pdu).unwrap();
        // NetrServerAuthenticate3: ... credential(8) flags(4) ends the stub.
        let mut zero = request_pdu(2, 0, 26, 40);
        zero[24 + 36..].copy_from_slice(&0x212f_ffffu32.to_le_bytes());
        assert!(zero_credential(&zero, &h(&zero), 26));
        let mut real = zero.clone();
        real[24 + 30] = 0x5a;
        assert!(!zero_credential(&real, &h(&real), 26));
        // NetrServerReqChallenge: the challenge ends the stub.
        let mut ch = request_pdu(3, 0, 4, 30);
        assert!(zero_credential(&ch, &h(&ch), 4));
        ch[24 + 29] = 1;
        assert!(!zero_credential(&ch, &h(&ch), 4));
        assert!(!zero_credential(&zero, &h(&zero), 21));
        assert!(!zero_credential(&zero[..20], &h(&zero), 26));
    }

    #[test]
    fn binds_and_requests_are_named() {
        let mut a = Association::default();
        let mut m = DceRpcMeta::default();
        let mut ev = Events::new();
        let svcctl = "367abb81-9844-35f1-ad32-98f038001003";
        let unknown = "01234567-89ab-cdef-0123-456789abcdef";
        a.pdu(&bind(1, &[svcctl, unknown]), &mut m, &mut ev)
            .unwrap();
        a.pdu(&request_pdu(2, 0, 12, 40), &mut m, &mut ev).unwrap();
        a.pdu(&request_pdu(3, 0, 99, 0), &mut m, &mut ev).unwrap();
        a.pdu(&request_pdu(4, 1, 7, 0), &mut m, &mut ev).unwrap();
        assert_eq!(
            m.interfaces,
            vec!["svcctl".to_string(), unknown.to_string()]
        );
        assert_eq!(
            m.operations,
            vec![
                "svcctl.RCreateServiceW".to_string(),
                "svcctl.99".to_string(),
                format!("{unknown}.7"),
            ]
        );
        assert_eq!(m.requests, 3);
        let evs: Vec<AppEvent<'_>> = (0..ev.len()).filter_map(|i| ev.get(i)).collect();
        assert_eq!(
            evs[0],
            AppEvent::DceRpcBind {
                iface: Some("svcctl"),
                uuid: svcctl
            }
        );
        assert_eq!(
            evs[2],
            AppEvent::DceRpcRequest {
                iface: Some("svcctl"),
                opnum: 12,
                op: Some("RCreateServiceW"),
                zero_credential: false,
            }
        );
    }

    #[test]
    fn uuids_read_in_either_byte_order() {
        let t = "e1af8308-5d1f-11c9-91a4-08002b14a0fa";
        assert_eq!(uuid_text(&uuid_le(t), true).unwrap(), t);
        let mut be = uuid_le(t);
        be[..4].reverse();
        be[4..6].reverse();
        be[6..8].reverse();
        assert_eq!(uuid_text(&be, false).unwrap(), t);
        assert_eq!(uuid_text(&[0; 8], true), None);
    }

    #[test]
    fn detects_a_bind_and_nothing_else() {
        use crate::Outcome;
        let b = bind(1, &["e1af8308-5d1f-11c9-91a4-08002b14a0fa"]);
        assert_eq!(detect(&b), Outcome::Parsed(()));
        assert_eq!(detect(&b[..5]), Outcome::Incomplete);
        assert_eq!(detect(b"GET / HTTP/1.1\r\n\r\n"), Outcome::NotThis);
        assert_eq!(detect(&request_pdu(1, 0, 0, 0)), Outcome::NotThis);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_pdus_never_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..300), t in 0u8..16) {
            let mut p = vec![5u8, 0, t, 3, 0x10, 0, 0, 0];
            p.extend(&b);
            let mut a = Association::default();
            let _ = a.pdu(&p, &mut DceRpcMeta::default(), &mut Events::new());
            let _ = detect(&p);
        }
    }
}
