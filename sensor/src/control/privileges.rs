//! Dropping root once the capture is open: the sensor then runs as an
//! unprivileged user (`--user`, `control.user`), which owns the output
//! tree's directories. Output files are created without any permission
//! for others (umask 027).

use std::ffi::{CStr, CString};
use std::path::Path;

/// A user's ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ids {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

/// Looks `name` up in the user database.
pub fn lookup(name: &str) -> Result<Ids, String> {
    let c = CString::new(name).map_err(|_| format!("user {name:?}: not a user name"))?;
    let mut pw: libc::passwd = unsafe_zeroed_passwd();
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call: `c` is a NUL-terminated
    // string, `pw` and `out` are owned locals, `buf` is a live buffer of
    // the length passed.
    #[allow(unsafe_code)]
    let rc =
        unsafe { libc::getpwnam_r(c.as_ptr(), &mut pw, buf.as_mut_ptr(), buf.len(), &mut out) };
    if rc != 0 || out.is_null() {
        return Err(format!("user {name:?}: no such user"));
    }
    Ok(Ids {
        uid: pw.pw_uid,
        gid: pw.pw_gid,
    })
}

fn unsafe_zeroed_passwd() -> libc::passwd {
    // SAFETY: `passwd` is a plain C struct of integers and pointers, for
    // which all-zero bytes (null pointers) is a valid value.
    #[allow(unsafe_code)]
    unsafe {
        std::mem::zeroed()
    }
}

/// Files this process creates get no permission for others.
pub fn private_files() {
    // SAFETY: umask only sets the process's file mode mask.
    #[allow(unsafe_code)]
    unsafe {
        libc::umask(0o027);
    }
}

/// Gives the directories under `root` (not the files) to `ids`, so the
/// unprivileged sensor can create files in them.
pub fn own_dirs(root: &Path, ids: Ids) -> Result<(), String> {
    fn walk(d: &Path, ids: Ids) -> Result<(), String> {
        std::os::unix::fs::chown(d, Some(ids.uid), Some(ids.gid))
            .map_err(|e| format!("{}: {e}", d.display()))?;
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    walk(&e.path(), ids)?;
                }
            }
        }
        Ok(())
    }
    walk(root, ids)
}

/// Becomes `name` (its groups, then its group, then the user): for good,
/// root cannot be taken back.
pub fn become_user(name: &str) -> Result<Ids, String> {
    let ids = lookup(name)?;
    let c = CString::new(name).map_err(|_| format!("user {name:?}: not a user name"))?;
    let err = |what: &str| {
        format!(
            "dropping to user {name:?}: {what}: {}",
            std::io::Error::last_os_error()
        )
    };
    // SAFETY: plain system calls on the calling process, with a valid
    // NUL-terminated name.
    #[allow(unsafe_code)]
    unsafe {
        if libc::initgroups(c.as_ptr(), ids.gid) != 0 {
            return Err(err("initgroups"));
        }
        if libc::setgid(ids.gid) != 0 {
            return Err(err("setgid"));
        }
        if libc::setuid(ids.uid) != 0 {
            return Err(err("setuid"));
        }
        if ids.uid != 0 && libc::setuid(0) == 0 {
            return Err(format!(
                "dropping to user {name:?}: root could be taken back"
            ));
        }
    }
    Ok(ids)
}

/// The name of the current user id, for messages.
pub fn current_user() -> String {
    // SAFETY: getuid cannot fail; getpwuid's result is read at once.
    #[allow(unsafe_code)]
    unsafe {
        let p = libc::getpwuid(libc::getuid());
        if p.is_null() || (*p).pw_name.is_null() {
            return libc::getuid().to_string();
        }
        CStr::from_ptr((*p).pw_name).to_string_lossy().into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_nobody_are_found_and_strangers_are_not() {
        assert_eq!(lookup("root").unwrap().uid, 0);
        assert!(lookup("nobody").unwrap().uid > 0);
        assert!(lookup("no-such-user-here").is_err());
        assert!(lookup("a\0b").is_err());
    }
}
