//! Credentials probe: whether an order's published credentials (or its IP allow-list) really
//! open one of its proxies.
//!
//! [`probe`] sends one HTTP `CONNECT target` through the proxy, with
//! `Proxy-Authorization: Basic ...` for [`ProbeAuth::Basic`] or no credentials for
//! [`ProbeAuth::AllowList`] (the proxy must recognise the operator's address), and reads the
//! status line of the answer. Nothing else is sent: a 2xx answer is the evidence, and the
//! connection is closed right after it.
//!
//! The password is held as a [`SecretString`] from the caller to the socket: it is never part
//! of an outcome, an error text, a `Debug` output or a log line, and the request bytes that
//! carry it are zeroed when dropped. Outcomes quote only the proxy's address, the target and
//! the answer's status code, never the answer's reason phrase or headers (a proxy could echo
//! the request back).

use std::{fmt, net::SocketAddr, time::Duration};

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Longest answer head read from the proxy.
const MAX_ANSWER_HEAD: usize = 8 * 1024;

/// How the probe authenticates to the proxy.
#[derive(Clone)]
pub enum ProbeAuth {
    /// `Proxy-Authorization: Basic base64(login:password)`.
    Basic {
        login: String,
        password: SecretString,
    },
    /// No credentials: the proxy must admit the operator's address (the order's `ip_auth`).
    AllowList,
}

impl fmt::Debug for ProbeAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeAuth::Basic { login, .. } => f
                .debug_struct("Basic")
                .field("login", login)
                .field("password", &"[REDACTED]")
                .finish(),
            ProbeAuth::AllowList => f.write_str("AllowList"),
        }
    }
}

/// What one probe found out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The proxy answered the CONNECT with 2xx: the credentials (or the allow-list) open it.
    Verified,
    /// The proxy answered 407 Proxy Authentication Required: the credentials (or the
    /// operator's address) do not open it.
    Rejected,
    /// The proxy answered 5xx (usually 502 or 504): it accepted the credentials but could not
    /// reach the probe target. Says nothing against the credentials.
    TargetUnreachable {
        /// The answer's status code.
        status: u16,
    },
    /// No usable answer: the proxy could not be reached, did not answer in time, closed the
    /// connection, answered something that is not HTTP, or answered a status that is none of
    /// the above (e.g. 403). Says nothing about the credentials.
    Unreachable(String),
}

impl ProbeOutcome {
    /// Whether the outcome says anything about the credentials (`Verified` or `Rejected`).
    pub fn is_conclusive(&self) -> bool {
        matches!(self, ProbeOutcome::Verified | ProbeOutcome::Rejected)
    }
}

impl fmt::Display for ProbeOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeOutcome::Verified => f.write_str("the proxy accepted the credentials"),
            ProbeOutcome::Rejected => f.write_str(
                "the proxy rejected the credentials (407 Proxy Authentication Required)",
            ),
            ProbeOutcome::TargetUnreachable { status } => write!(
                f,
                "the proxy accepted the credentials but could not reach the probe target (HTTP {status})"
            ),
            ProbeOutcome::Unreachable(reason) => {
                write!(f, "the proxy could not be checked: {reason}")
            }
        }
    }
}

/// Sends one `CONNECT target` (`host:port`) through the proxy at `proxy`, authenticated as
/// `auth`, and classifies the answer. The whole exchange (connecting, sending, reading the
/// answer's head) is bounded by `timeout`.
pub async fn probe(
    proxy: SocketAddr,
    target: &str,
    auth: ProbeAuth,
    timeout: Duration,
) -> ProbeOutcome {
    if !valid_target(target) {
        return ProbeOutcome::Unreachable(format!("the probe target {target:?} is not host:port"));
    }
    let request = connect_request(target, &auth);
    // The password is not needed past this point; dropping it zeroes it.
    drop(auth);
    match tokio::time::timeout(timeout, exchange(proxy, &request)).await {
        Ok(outcome) => outcome,
        Err(_) => ProbeOutcome::Unreachable(format!(
            "no answer from the proxy at {proxy} within {timeout:?}"
        )),
    }
}

/// `host:port` with a non-empty host, a port 1-65535 and no whitespace or control characters
/// (the target goes into the request line and the `Host` header as it is).
fn valid_target(target: &str) -> bool {
    !target.chars().any(|c| c.is_whitespace() || c.is_control())
        && target.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        })
}

/// The request head; a secret, since it carries the encoded password. Both buffers that hold
/// the password are allocated at their final size, so no reallocation leaves a copy of it
/// behind, and both are zeroed when dropped.
fn connect_request(target: &str, auth: &ProbeAuth) -> SecretString {
    const AUTH: &str = "Proxy-Authorization: Basic ";
    let line = |head: &mut String, parts: &[&str]| parts.iter().for_each(|p| head.push_str(p));
    let mut len = "CONNECT  HTTP/1.1\r\nHost: \r\n\r\n".len() + 2 * target.len();
    let pair = match auth {
        ProbeAuth::Basic { login, password } => {
            let password = password.expose_secret();
            let mut pair = String::with_capacity(login.len() + 1 + password.len());
            line(&mut pair, &[login, ":", password]);
            len += AUTH.len() + pair.len().div_ceil(3) * 4 + 2;
            Some(SecretString::from(pair))
        }
        ProbeAuth::AllowList => None,
    };
    let mut head = String::with_capacity(len);
    line(
        &mut head,
        &["CONNECT ", target, " HTTP/1.1\r\nHost: ", target, "\r\n"],
    );
    if let Some(pair) = &pair {
        head.push_str(AUTH);
        base64::engine::general_purpose::STANDARD
            .encode_string(pair.expose_secret().as_bytes(), &mut head);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    debug_assert!(
        head.len() == len && head.capacity() == len,
        "the head was sized wrong"
    );
    SecretString::from(head)
}

async fn exchange(proxy: SocketAddr, request: &SecretString) -> ProbeOutcome {
    let mut stream = match TcpStream::connect(proxy).await {
        Ok(stream) => stream,
        Err(e) => {
            return ProbeOutcome::Unreachable(format!(
                "cannot connect to the proxy at {proxy}: {e}"
            ));
        }
    };
    let _ = stream.set_nodelay(true);
    if let Err(e) = stream.write_all(request.expose_secret().as_bytes()).await {
        return ProbeOutcome::Unreachable(format!("sending to the proxy at {proxy} failed: {e}"));
    }
    let status = match read_status(&mut stream).await {
        Ok(status) => status,
        Err(reason) => return ProbeOutcome::Unreachable(format!("the proxy at {proxy} {reason}")),
    };
    classify(status)
}

/// The status code of the answer to a CONNECT.
fn classify(status: u16) -> ProbeOutcome {
    match status {
        200..=299 => ProbeOutcome::Verified,
        407 => ProbeOutcome::Rejected,
        500..=599 => ProbeOutcome::TargetUnreachable { status },
        other => ProbeOutcome::Unreachable(format!("unexpected answer HTTP {other}")),
    }
}

/// Reads the answer's head and returns its status code; the error completes "the proxy at
/// ADDR ...".
async fn read_status(stream: &mut TcpStream) -> Result<u16, String> {
    let mut head = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_ANSWER_HEAD {
            return Err(format!("sent an answer head over {MAX_ANSWER_HEAD} bytes"));
        }
        match stream.read(&mut chunk).await {
            Ok(0) => return Err("closed the connection without a complete answer".into()),
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("failed while answering: {e}")),
        }
    }
    parse_status_line(&head).ok_or_else(|| "did not answer with HTTP/1.x".to_string())
}

/// The status code of `HTTP/1.x NNN ...`.
fn parse_status_line(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?;
    let code = parts.next()?;
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return None;
    }
    code.parse().ok().filter(|c| (100..=599).contains(c))
}

#[cfg(test)]
mod tests;
