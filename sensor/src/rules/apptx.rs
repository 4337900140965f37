//! The buffers of SMB, DCE/RPC, FTP and Kerberos transactions for the
//! rules of [`Point::AppTx`](mekong_signatures::compile::Point::AppTx):
//! `smb.share`, `smb.named_pipe`, `dcerpc.iface`, `dcerpc.opnum`,
//! `ftp.command`, `ftp.command_data`, `krb5.cname`, `krb5.sname`,
//! `krb5_msg_type`, `krb5_err_code`. Numbers are given as decimal text.

use mekong_appmeta::event::SmbAction;
use mekong_appmeta::AppEvent;
use mekong_signatures::buffers::Buf;
use mekong_signatures::engine::Buffers;
use mekong_signatures::App;

/// Buffers of one transaction of SMB, DCE/RPC, FTP or Kerberos, held on
/// the stack (no allocation per transaction).
pub struct AppTxBuffers<'a> {
    list: [(Buf, &'a [u8]); 4],
    n: usize,
}

impl Default for AppTxBuffers<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> AppTxBuffers<'a> {
    /// An empty list.
    pub fn new() -> AppTxBuffers<'a> {
        AppTxBuffers {
            list: [(Buf::PktData, &[]); 4],
            n: 0,
        }
    }

    /// Adds a buffer's value (at most four are kept).
    pub fn push(&mut self, b: Buf, v: &'a [u8]) {
        if self.n < self.list.len() {
            self.list[self.n] = (b, v);
            self.n += 1;
        }
    }
}

impl Buffers for AppTxBuffers<'_> {
    fn each(&self, buf: Buf, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.list[..self.n]
            .iter()
            .filter(|(b, _)| *b == buf)
            .any(|(_, v)| f(v))
    }
}

/// Decimal text of `v` in `buf` (the number buffers' form).
pub fn decimal(v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Fills `b` from an application event: the application whose rules
/// read it and whether it goes to the server; `None` for other events.
pub fn fill<'a>(
    ev: &AppEvent<'a>,
    b: &mut AppTxBuffers<'a>,
    nums: &'a mut [[u8; 20]; 2],
) -> Option<(App, bool)> {
    let [n1, n2] = nums;
    Some(match *ev {
        AppEvent::SmbTree { share, .. } => {
            b.push(Buf::SmbShare, share.as_bytes());
            (App::Smb, true)
        }
        AppEvent::SmbFile {
            name,
            action: SmbAction::OpenPipe,
            ..
        } => {
            b.push(Buf::SmbNamedPipe, name.as_bytes());
            (App::Smb, true)
        }
        AppEvent::DceRpcRequest {
            iface: Some(iface),
            opnum,
            ..
        } => {
            let uuid = mekong_appmeta::dcerpc::IFACES
                .iter()
                .find(|i| i.name == iface)
                .map_or(iface, |i| i.uuid);
            b.push(Buf::DcerpcIface, uuid.as_bytes());
            b.push(Buf::DcerpcOpnum, decimal(u64::from(opnum), n1));
            (App::Dcerpc, true)
        }
        AppEvent::FtpCommand { command, arg } => {
            b.push(Buf::FtpCommand, command.as_bytes());
            if let Some(a) = arg {
                b.push(Buf::FtpCommandData, a.as_bytes());
            }
            (App::Ftp, true)
        }
        AppEvent::Kerberos {
            msg_type,
            cname,
            sname,
            error_code,
            ..
        } => {
            if let Some(c) = cname {
                b.push(Buf::Krb5Cname, c.as_bytes());
            }
            if let Some(s) = sname {
                b.push(Buf::Krb5Sname, s.as_bytes());
            }
            b.push(Buf::Krb5MsgType, decimal(u64::from(msg_type), n1));
            if let Some(c) = error_code.and_then(|c| u64::try_from(c).ok()) {
                b.push(Buf::Krb5ErrCode, decimal(c, n2));
            }
            // Requests come from the client; replies and errors from the KDC.
            (App::Krb5, matches!(msg_type, 10 | 12))
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_decimal_text() {
        let mut n = [0u8; 20];
        assert_eq!(decimal(0, &mut n), b"0");
        assert_eq!(decimal(18456, &mut n), b"18456");
        assert_eq!(decimal(u64::MAX, &mut n), b"18446744073709551615");
    }
}
