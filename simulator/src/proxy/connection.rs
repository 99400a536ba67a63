//! One proxy listener and the connections it accepts: an HTTP/1.1 request head, `CONNECT
//! host:port` only, authorised by the order's current credentials or its IP allow-list, then a
//! byte tunnel to the target.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use base64::Engine;
use secrecy::ExposeSecret;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinSet,
};

use super::{ConnectOutcome, served_addresses};
use crate::{Shared, wire::Access};

/// Longest request head read.
const MAX_HEAD_BYTES: usize = 8 * 1024;
/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting to the target may take.
const TARGET_TIMEOUT: Duration = Duration::from_secs(10);

const ANSWER_407: &[u8] = b"HTTP/1.1 407 Proxy Authentication Required\r\n\
Proxy-Authenticate: Basic realm=\"proxy-solutions\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const ANSWER_405: &[u8] = b"HTTP/1.1 405 Method Not Allowed\r\nAllow: CONNECT\r\n\
Content-Length: 0\r\nConnection: close\r\n\r\n";
const ANSWER_400: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const ANSWER_502: &[u8] =
    b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const ANSWER_200: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";

/// Accepts connections on one proxy address of one order until the task is aborted (the
/// listener set stops it) or the simulator shuts down. Open tunnels end with it.
pub(super) async fn serve(
    listener: TcpListener,
    order_id: u64,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(handle(stream, peer, order_id, shared.clone()));
                }
                Err(e) => {
                    tracing::warn!(target: "proxy_solutions_sim", order_id, error = %e, "proxy accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// A parsed request head.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Head {
    pub method: String,
    pub target: String,
    /// The `Proxy-Authorization` value, if sent.
    pub authorization: Option<String>,
}

/// Parses a request head (request line and headers, without the blank line). `None` if it is
/// not HTTP/1.x.
pub(super) fn parse_head(head: &[u8]) -> Option<Head> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let mut parts = lines.next()?.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !version.starts_with("HTTP/1.") || method.is_empty() {
        return None;
    }
    let mut authorization = None;
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':')?;
        if name.trim().eq_ignore_ascii_case("proxy-authorization") {
            authorization = Some(value.trim().to_string());
        }
    }
    Some(Head {
        method: method.to_string(),
        target: target.to_string(),
        authorization,
    })
}

/// Whether a CONNECT target has the `host:port` form.
fn valid_target(target: &str) -> bool {
    target
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0))
}

/// Whether the order's current access opens the proxy for this client: its address is in
/// `ip_list`, or `Proxy-Authorization: Basic base64(login:password)` carries the current
/// login and password.
pub(super) fn authorised(access: &Access, client: IpAddr, authorization: Option<&str>) -> bool {
    let client = client.to_canonical();
    let listed = access
        .ip_list
        .iter()
        .filter_map(|entry| entry.parse::<IpAddr>().ok())
        .any(|ip| ip.to_canonical() == client);
    listed || authorization.is_some_and(|value| basic_matches(access, value))
}

fn basic_matches(access: &Access, value: &str) -> bool {
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let Some((login, password)) = std::str::from_utf8(&decoded)
        .ok()
        .and_then(|s| s.split_once(':'))
    else {
        return false;
    };
    login == access.login && password == access.password.expose_secret()
}

enum HeadRead {
    /// The head (without the blank line) and any bytes the client sent after it.
    Complete(Vec<u8>, Vec<u8>),
    TooLarge,
    Closed,
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<HeadRead> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(HeadRead::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            buf.truncate(end);
            return Ok(HeadRead::Complete(buf, rest));
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Ok(HeadRead::TooLarge);
        }
    }
}

/// The order's access if it is still served on `local` (the listener set may not have caught
/// up with a change yet).
fn current_access(shared: &Shared, order_id: u64, local: SocketAddr) -> Option<Access> {
    let st = shared.lock();
    let order = st.get(order_id)?;
    let pool = shared.proxies.as_ref()?.pool();
    served_addresses(order, pool)
        .contains(&local)
        .then(|| order.access.clone())
        .flatten()
}

async fn handle(mut stream: TcpStream, peer: SocketAddr, order_id: u64, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    match admit(&mut stream, peer, order_id, &shared).await {
        Verdict::Tunnel(target, rest) => tunnel(&shared, order_id, stream, target, &rest).await,
        Verdict::Answer(outcome, answer) => {
            finish(&shared, order_id, &mut stream, outcome, answer).await
        }
        Verdict::Close => {}
    }
}

/// What to do with one connection, after reading its request head.
enum Verdict {
    /// Connected to the target: tunnel, starting with the bytes the client sent early.
    Tunnel(TcpStream, Vec<u8>),
    /// Answer and close.
    Answer(ConnectOutcome, &'static [u8]),
    /// Close unanswered.
    Close,
}

async fn admit(
    stream: &mut TcpStream,
    peer: SocketAddr,
    order_id: u64,
    shared: &Shared,
) -> Verdict {
    let bad = |answer| Verdict::Answer(ConnectOutcome::BadRequest, answer);
    let Ok(local) = stream.local_addr() else {
        return Verdict::Close;
    };
    let (head, rest) = match tokio::time::timeout(HEAD_TIMEOUT, read_head(stream)).await {
        Ok(Ok(HeadRead::Complete(head, rest))) => (head, rest),
        Ok(Ok(HeadRead::TooLarge)) => return bad(ANSWER_400),
        Ok(Ok(HeadRead::Closed)) | Ok(Err(_)) | Err(_) => return Verdict::Close,
    };
    let Some(head) = parse_head(&head) else {
        return bad(ANSWER_400);
    };
    if head.method != "CONNECT" {
        return bad(ANSWER_405);
    }
    if !valid_target(&head.target) {
        return bad(ANSWER_400);
    }
    let Some(access) = current_access(shared, order_id, local) else {
        // No longer served here: close unanswered, like a port nobody listens on.
        return Verdict::Close;
    };
    if !authorised(&access, peer.ip(), head.authorization.as_deref()) {
        return Verdict::Answer(ConnectOutcome::Rejected, ANSWER_407);
    }
    match tokio::time::timeout(TARGET_TIMEOUT, TcpStream::connect(&head.target)).await {
        Ok(Ok(target)) => Verdict::Tunnel(target, rest),
        Ok(Err(_)) | Err(_) => Verdict::Answer(ConnectOutcome::TargetUnreachable, ANSWER_502),
    }
}

/// Records the outcome, then sends the answer and closes the connection.
async fn finish(
    shared: &Shared,
    order_id: u64,
    stream: &mut TcpStream,
    outcome: ConnectOutcome,
    answer: &[u8],
) {
    record(shared, order_id, outcome);
    let _ = stream.write_all(answer).await;
    let _ = stream.shutdown().await;
}

fn record(shared: &Shared, order_id: u64, outcome: ConnectOutcome) {
    tracing::debug!(target: "proxy_solutions_sim", order_id, ?outcome, "proxy CONNECT");
    if let Some(proxies) = &shared.proxies {
        proxies.record(order_id, outcome);
    }
}

async fn tunnel(
    shared: &Shared,
    order_id: u64,
    mut client: TcpStream,
    mut target: TcpStream,
    early: &[u8],
) {
    record(shared, order_id, ConnectOutcome::Established);
    let _ = target.set_nodelay(true);
    if client.write_all(ANSWER_200).await.is_err() {
        return;
    }
    if !early.is_empty() && target.write_all(early).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut target).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn access(ip_list: &[&str]) -> Access {
        Access {
            port: 8000,
            login: "user1".into(),
            password: SecretString::from("pa:ss w0rd"),
            ip_list: ip_list.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn basic(creds: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(creds)
        )
    }

    #[test]
    fn heads() {
        let head = parse_head(
            b"CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\nproxy-authorization:  Basic abc \r\n",
        )
        .unwrap();
        assert_eq!(head.method, "CONNECT");
        assert_eq!(head.target, "example.test:443");
        assert_eq!(head.authorization.as_deref(), Some("Basic abc"));
        let head = parse_head(b"GET / HTTP/1.0\r\nHost: x").unwrap();
        assert_eq!(head.method, "GET");
        assert_eq!(head.authorization, None);
        assert!(parse_head(b"CONNECT x:1").is_none());
        assert!(parse_head(b"CONNECT x:1 SPDY/3").is_none());
        assert!(parse_head(b"CONNECT x:1 HTTP/1.1\r\nno colon").is_none());
        assert!(parse_head(b"\xff\xfe").is_none());
        assert!(valid_target("127.0.0.1:80"));
        assert!(valid_target("[::1]:80"));
        assert!(!valid_target("example.test"));
        assert!(!valid_target(":80"));
        assert!(!valid_target("x:0"));
        assert!(!valid_target("x:http"));
    }

    #[test]
    fn authorisation() {
        let a = access(&[]);
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(authorised(&a, local, Some(&basic("user1:pa:ss w0rd"))));
        assert!(authorised(
            &a,
            local,
            Some(&basic("user1:pa:ss w0rd").replace("Basic", "basic"))
        ));
        assert!(!authorised(&a, local, Some(&basic("user1:pa:ss w0rd!"))));
        assert!(!authorised(&a, local, Some(&basic("user2:pa:ss w0rd"))));
        assert!(!authorised(&a, local, Some(&basic("user1"))));
        assert!(!authorised(&a, local, Some("Bearer abc")));
        assert!(!authorised(&a, local, Some("Basic ###")));
        assert!(!authorised(&a, local, None));

        let listed = access(&["10.0.0.1", "127.0.0.1", "not-an-ip"]);
        assert!(authorised(&listed, local, None));
        assert!(authorised(
            &listed,
            "::ffff:127.0.0.1".parse().unwrap(),
            None
        ));
        assert!(!authorised(&listed, "127.0.0.2".parse().unwrap(), None));
        // Wrong credentials do not matter when the address is listed.
        assert!(authorised(&listed, local, Some(&basic("x:y"))));
    }
}
