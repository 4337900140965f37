//! MITRE ATT&CK (Enterprise) techniques Mekong's detectors name, with their
//! names and tactics, so every alert carries `mitre_technique_id`,
//! `mitre_technique_name`, `mitre_tactic_id` and `mitre_tactic_name` as ET
//! rules write them in their metadata.

/// One technique or sub-technique.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Technique {
    /// `T1046`, `T1110.001`...
    pub id: &'static str,
    /// Its name.
    pub name: &'static str,
    /// Tactic id (`TA0007`).
    pub tactic: &'static str,
}

/// Tactic names by id.
pub const TACTICS: [(&str, &str); 14] = [
    ("TA0043", "Reconnaissance"),
    ("TA0042", "Resource_Development"),
    ("TA0001", "Initial_Access"),
    ("TA0002", "Execution"),
    ("TA0003", "Persistence"),
    ("TA0004", "Privilege_Escalation"),
    ("TA0005", "Defense_Evasion"),
    ("TA0006", "Credential_Access"),
    ("TA0007", "Discovery"),
    ("TA0008", "Lateral_Movement"),
    ("TA0009", "Collection"),
    ("TA0010", "Exfiltration"),
    ("TA0011", "Command_And_Control"),
    ("TA0040", "Impact"),
];

/// The techniques of the table.
pub const TECHNIQUES: &[Technique] = &[
    t("T1018", "Remote_System_Discovery", "TA0007"),
    t("T1046", "Network_Service_Discovery", "TA0007"),
    t("T1595", "Active_Scanning", "TA0043"),
    t("T1595.001", "Scanning_IP_Blocks", "TA0043"),
    t("T1595.002", "Vulnerability_Scanning", "TA0043"),
    t("T1110", "Brute_Force", "TA0006"),
    t("T1110.001", "Password_Guessing", "TA0006"),
    t("T1110.003", "Password_Spraying", "TA0006"),
    t("T1498", "Network_Denial_of_Service", "TA0040"),
    t("T1498.001", "Direct_Network_Flood", "TA0040"),
    t("T1498.002", "Reflection_Amplification", "TA0040"),
    t("T1499", "Endpoint_Denial_of_Service", "TA0040"),
    t("T1499.001", "OS_Exhaustion_Flood", "TA0040"),
    t("T1499.002", "Service_Exhaustion_Flood", "TA0040"),
    t("T1071", "Application_Layer_Protocol", "TA0011"),
    t("T1071.001", "Web_Protocols", "TA0011"),
    t("T1071.004", "DNS", "TA0011"),
    t("T1572", "Protocol_Tunneling", "TA0011"),
    t("T1568", "Dynamic_Resolution", "TA0011"),
    t("T1568.002", "Domain_Generation_Algorithms", "TA0011"),
    t("T1041", "Exfiltration_Over_C2_Channel", "TA0010"),
    t("T1048", "Exfiltration_Over_Alternative_Protocol", "TA0010"),
    t(
        "T1048.003",
        "Exfiltration_Over_Unencrypted_Non-C2_Protocol",
        "TA0010",
    ),
    t("T1496", "Resource_Hijacking", "TA0040"),
    t("T1090", "Proxy", "TA0011"),
    t("T1090.003", "Multi-hop_Proxy", "TA0011"),
    t("T1190", "Exploit_Public-Facing_Application", "TA0001"),
    t("T1021", "Remote_Services", "TA0008"),
    t("T1021.001", "Remote_Desktop_Protocol", "TA0008"),
    t("T1021.002", "SMB/Windows_Admin_Shares", "TA0008"),
    t("T1021.003", "Distributed_Component_Object_Model", "TA0008"),
    t("T1210", "Exploitation_of_Remote_Services", "TA0008"),
    t("T1569", "System_Services", "TA0002"),
    t("T1569.002", "Service_Execution", "TA0002"),
    t("T1053", "Scheduled_Task/Job", "TA0002"),
    t("T1053.002", "At", "TA0002"),
    t("T1053.005", "Scheduled_Task", "TA0002"),
    t("T1047", "Windows_Management_Instrumentation", "TA0002"),
    t("T1003", "OS_Credential_Dumping", "TA0006"),
    t("T1003.006", "DCSync", "TA0006"),
    t("T1558", "Steal_or_Forge_Kerberos_Tickets", "TA0006"),
    t("T1558.003", "Kerberoasting", "TA0006"),
    t("T1558.004", "AS-REP_Roasting", "TA0006"),
    t("T1087", "Account_Discovery", "TA0007"),
    t("T1087.002", "Domain_Account", "TA0007"),
    t("T1069", "Permission_Groups_Discovery", "TA0007"),
    t("T1069.002", "Domain_Groups", "TA0007"),
    t("T1135", "Network_Share_Discovery", "TA0007"),
    t("T1557", "Adversary-in-the-Middle", "TA0006"),
    t("T1557.003", "DHCP_Spoofing", "TA0006"),
];

const fn t(id: &'static str, name: &'static str, tactic: &'static str) -> Technique {
    Technique { id, name, tactic }
}

/// The technique with this id (case ignored), if the table has it.
pub fn technique(id: &str) -> Option<&'static Technique> {
    TECHNIQUES.iter().find(|t| t.id.eq_ignore_ascii_case(id))
}

/// A technique id as written in ATT&CK: `T` and four digits, with an
/// optional `.` and three digits.
pub fn valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    match b.len() {
        5 => b[0] == b'T' && digits(&b[1..]),
        9 => b[0] == b'T' && digits(&b[1..5]) && b[5] == b'.' && digits(&b[6..]),
        _ => false,
    }
}

/// The name of a tactic id.
pub fn tactic_name(id: &str) -> Option<&'static str> {
    TACTICS.iter().find(|(t, _)| *t == id).map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_technique_is_well_formed_and_has_a_known_tactic() {
        for t in TECHNIQUES {
            assert!(valid_id(t.id), "{}", t.id);
            assert!(tactic_name(t.tactic).is_some(), "{}", t.tactic);
            // A sub-technique's parent is in the same tactic and in the table.
            if let Some((parent, _)) = t.id.split_once('.') {
                let p = technique(parent).unwrap_or_else(|| panic!("parent of {}", t.id));
                assert_eq!(p.tactic, t.tactic, "{}", t.id);
            }
        }
        assert!(!valid_id("T10"));
        assert!(!valid_id("TA0007"));
        assert_eq!(technique("t1046").unwrap().tactic, "TA0007");
    }
}
