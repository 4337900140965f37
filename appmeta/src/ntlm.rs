//! What the NTLM authentications of a flow say, for its record: who logged
//! on (user, domain, workstation), how many tried and how many failed.

use crate::event::{Events, LoginResult};
use crate::ntlmssp;

/// Distinct user names kept per record.
pub const MAX_USERS: usize = 16;

/// NTLM authentications of a flow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NtlmMeta {
    /// First user name.
    pub user: Option<String>,
    /// First domain.
    pub domain: Option<String>,
    /// First workstation.
    pub workstation: Option<String>,
    /// Distinct `DOMAIN\user` names, at most [`MAX_USERS`].
    pub users: Vec<String>,
    /// More users than [`MAX_USERS`] were seen.
    pub users_cut: bool,
    /// AUTHENTICATE messages.
    pub attempts: u32,
    /// Anonymous logons among them.
    pub anonymous: u32,
    /// Authentications the server refused (where its answer is known).
    pub failures: u32,
    /// Authentications the server accepted.
    pub successes: u32,
    /// `DOMAIN\user` of the failures, at most [`MAX_USERS`].
    pub failed_users: Vec<String>,
}

fn qualified(a: &ntlmssp::Auth) -> String {
    if a.domain.is_empty() {
        a.user.clone()
    } else {
        format!("{}\\{}", a.domain, a.user)
    }
}

impl NtlmMeta {
    /// Reads an NTLMSSP message of the flow (from its signature on): an
    /// AUTHENTICATE is recorded and raised as an event. Returns it.
    pub fn seen(
        meta: &mut Option<Box<NtlmMeta>>,
        msg: &[u8],
        ev: &mut Events,
    ) -> Option<ntlmssp::Auth> {
        let a = ntlmssp::authenticate(msg)?;
        let m = meta.get_or_insert_with(Default::default);
        m.attempts = m.attempts.saturating_add(1);
        if a.anonymous {
            m.anonymous = m.anonymous.saturating_add(1);
        }
        if m.user.is_none() && !a.user.is_empty() {
            m.user = Some(a.user.clone());
            m.domain = Some(a.domain.clone());
            m.workstation = Some(a.workstation.clone());
        }
        if !a.user.is_empty() {
            let q = qualified(&a);
            if !m.users.contains(&q) {
                if m.users.len() < MAX_USERS {
                    m.users.push(q);
                } else {
                    m.users_cut = true;
                }
            }
        }
        ev.ntlm_auth(&a.user, &a.domain, &a.workstation, a.anonymous);
        Some(a)
    }

    /// The server's answer to the authentication of `auth`.
    pub fn outcome(&mut self, auth: Option<&ntlmssp::Auth>, result: LoginResult) {
        match result {
            LoginResult::Succeeded => self.successes = self.successes.saturating_add(1),
            LoginResult::Failed => {
                self.failures = self.failures.saturating_add(1);
                if let Some(a) = auth.filter(|a| !a.user.is_empty()) {
                    let q = qualified(a);
                    if !self.failed_users.contains(&q) {
                        if self.failed_users.len() < MAX_USERS {
                            self.failed_users.push(q);
                        } else {
                            self.users_cut = true;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntlmssp::tests::auth_msg;
    use crate::AppEvent;

    #[test]
    fn authentications_are_counted_by_user_and_outcome() {
        let mut m = None;
        let mut ev = Events::new();
        for user in ["alice", "bob", "alice"] {
            let a = NtlmMeta::seen(&mut m, &auth_msg("CORP", user, "WS01", 24), &mut ev);
            m.as_mut().unwrap().outcome(a.as_ref(), LoginResult::Failed);
        }
        let a = NtlmMeta::seen(&mut m, &auth_msg("", "", "", 0), &mut ev);
        m.as_mut()
            .unwrap()
            .outcome(a.as_ref(), LoginResult::Succeeded);
        let m = m.unwrap();
        assert_eq!(m.user.as_deref(), Some("alice"));
        assert_eq!(m.users, vec!["CORP\\alice", "CORP\\bob"]);
        assert_eq!(m.failed_users, vec!["CORP\\alice", "CORP\\bob"]);
        assert_eq!(
            (m.attempts, m.anonymous, m.failures, m.successes),
            (4, 1, 3, 1)
        );
        assert_eq!(
            ev.get(1),
            Some(AppEvent::NtlmAuth {
                user: "bob",
                domain: "CORP",
                workstation: "WS01",
                anonymous: false
            })
        );
    }
}
