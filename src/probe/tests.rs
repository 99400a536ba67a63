//! The probe against tiny scripted TCP servers: what it sends, and how it reads each answer.

use std::{net::SocketAddr, time::Duration};

use base64::Engine;
use secrecy::SecretString;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    task::JoinHandle,
};

use super::*;

const PASSWORD: &str = "s3cr3t-Pr0be-pass";
const TIMEOUT: Duration = Duration::from_secs(5);
const TARGET: &str = "probe-target.test:443";

fn basic() -> ProbeAuth {
    ProbeAuth::Basic {
        login: "user7".into(),
        password: SecretString::from(PASSWORD),
    }
}

/// A server that accepts one connection, reads the request head, sends `answer` (unless it is
/// `None`: then it holds the connection open without answering) and returns the head it read.
async fn server(answer: Option<Vec<u8>>) -> (SocketAddr, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).await.unwrap() == 1 {
            head.push(byte[0]);
        }
        match answer {
            Some(answer) => stream.write_all(&answer).await.unwrap(),
            None => tokio::time::sleep(Duration::from_secs(30)).await,
        }
        String::from_utf8(head).unwrap()
    });
    (addr, task)
}

async fn probe_answer(answer: &[u8], auth: ProbeAuth) -> (ProbeOutcome, String) {
    let (addr, task) = server(Some(answer.to_vec())).await;
    let outcome = probe(addr, TARGET, auth, TIMEOUT).await;
    (outcome, task.await.unwrap())
}

#[tokio::test]
async fn sends_one_connect_with_basic_credentials() {
    let (outcome, head) =
        probe_answer(b"HTTP/1.1 200 Connection established\r\n\r\n", basic()).await;
    assert_eq!(outcome, ProbeOutcome::Verified);
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("user7:{PASSWORD}"));
    assert_eq!(
        head,
        format!(
            "CONNECT {TARGET} HTTP/1.1\r\nHost: {TARGET}\r\nProxy-Authorization: Basic {encoded}\r\n\r\n"
        )
    );

    let (outcome, head) = probe_answer(b"HTTP/1.0 200 OK\r\n\r\n", ProbeAuth::AllowList).await;
    assert_eq!(outcome, ProbeOutcome::Verified);
    assert_eq!(
        head,
        format!("CONNECT {TARGET} HTTP/1.1\r\nHost: {TARGET}\r\n\r\n")
    );
}

#[tokio::test]
async fn classifies_the_answers() {
    let cases: [(&[u8], ProbeOutcome); 6] = [
        (
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\n\r\n",
            ProbeOutcome::Rejected,
        ),
        (
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n",
            ProbeOutcome::TargetUnreachable { status: 502 },
        ),
        (
            b"HTTP/1.1 504 Gateway Timeout\r\n\r\n",
            ProbeOutcome::TargetUnreachable { status: 504 },
        ),
        (
            // Any 2xx opens the tunnel (RFC 9110 §9.3.6).
            b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n",
            ProbeOutcome::Verified,
        ),
        (
            b"HTTP/1.1 403 Forbidden\r\n\r\n",
            ProbeOutcome::Unreachable("".into()),
        ),
        (b"SSH-2.0-OpenSSH\r\n\r\n", ProbeOutcome::Unreachable("".into())),
    ];
    for (answer, want) in cases {
        let (got, _) = probe_answer(answer, basic()).await;
        match (&want, &got) {
            (ProbeOutcome::Unreachable(_), ProbeOutcome::Unreachable(reason)) => {
                assert!(!reason.is_empty());
            }
            _ => assert_eq!(got, want, "{}", String::from_utf8_lossy(answer)),
        }
        assert_eq!(
            got.is_conclusive(),
            matches!(want, ProbeOutcome::Verified | ProbeOutcome::Rejected)
        );
    }
}

#[tokio::test]
async fn no_usable_answer_is_unreachable() {
    // Closed without an answer.
    let (got, _) = probe_answer(b"", basic()).await;
    assert!(
        matches!(&got, ProbeOutcome::Unreachable(r) if r.contains("closed the connection")),
        "{got:?}"
    );
    // No answer in time.
    let (addr, task) = server(None).await;
    let got = probe(addr, TARGET, basic(), Duration::from_millis(200)).await;
    assert!(
        matches!(&got, ProbeOutcome::Unreachable(r) if r.contains("within")),
        "{got:?}"
    );
    task.abort();
    // Nothing listens.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let got = probe(closed, TARGET, basic(), TIMEOUT).await;
    assert!(
        matches!(&got, ProbeOutcome::Unreachable(r) if r.contains("cannot connect")),
        "{got:?}"
    );
    // A head that never ends.
    let (got, _) = probe_answer(&vec![b'x'; 3 * MAX_ANSWER_HEAD], basic()).await;
    assert!(matches!(got, ProbeOutcome::Unreachable(_)), "{got:?}");
}

#[tokio::test]
async fn bad_targets_are_not_sent() {
    for target in [
        "no-port.test",
        ":443",
        "x:0",
        "x:http",
        "a b:1",
        "x:1\r\nX-Injected: 1",
    ] {
        let got = probe("127.0.0.1:9".parse().unwrap(), target, basic(), TIMEOUT).await;
        assert!(
            matches!(&got, ProbeOutcome::Unreachable(r) if r.contains("not host:port")),
            "{target:?}: {got:?}"
        );
    }
    assert!(valid_target("[2001:db8::1]:443"));
    assert!(valid_target("127.0.0.1:80"));
}

#[test]
fn status_lines() {
    assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n\r\n"), Some(200));
    assert_eq!(parse_status_line(b"HTTP/1.0 407\r\n\r\n"), Some(407));
    assert_eq!(parse_status_line(b"HTTP/2 200\r\n\r\n"), None);
    assert_eq!(parse_status_line(b"HTTP/1.1 20 OK\r\n"), None);
    assert_eq!(parse_status_line(b"HTTP/1.1 999 X\r\n"), None);
    assert_eq!(parse_status_line(b"\xff\xfe"), None);
}

/// A proxy that echoes the request into its answer (reason phrase, headers, or as garbage)
/// must not get the password into any outcome; neither may `Debug` or `Display`.
#[tokio::test]
async fn the_password_never_appears_in_outcomes_or_debug_output() {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("user7:{PASSWORD}"));
    let leaks = |text: &str| text.contains(PASSWORD) || text.contains(&encoded);

    let mut outcomes = Vec::new();
    for status in ["200 OK", "407 Nope", "502 Bad", "403 Forbidden", "garbage"] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let status = status.to_string();
        let echo = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut head = vec![0u8; 1024];
            let n = stream.read(&mut head).await.unwrap();
            let request = String::from_utf8_lossy(&head[..n]).replace("\r\n", " | ");
            let answer = if status == "garbage" {
                format!("{request}\r\n\r\n")
            } else {
                format!("HTTP/1.1 {status} {request}\r\nX-Echo: {request}\r\n\r\n")
            };
            stream.write_all(answer.as_bytes()).await.unwrap();
        });
        outcomes.push(probe(addr, TARGET, basic(), TIMEOUT).await);
        echo.await.unwrap();
    }
    assert_eq!(outcomes[0], ProbeOutcome::Verified);
    assert_eq!(outcomes[1], ProbeOutcome::Rejected);
    // The other paths: timeout, refused connection, bad target.
    let (addr, task) = server(None).await;
    outcomes.push(probe(addr, TARGET, basic(), Duration::from_millis(100)).await);
    task.abort();
    outcomes.push(probe("127.0.0.1:9".parse().unwrap(), TARGET, basic(), TIMEOUT).await);
    outcomes.push(
        probe(
            "127.0.0.1:9".parse().unwrap(),
            "bad target",
            basic(),
            TIMEOUT,
        )
        .await,
    );

    for outcome in &outcomes {
        for text in [format!("{outcome:?}"), format!("{outcome}")] {
            assert!(!leaks(&text), "{text}");
        }
    }
    let auth = basic();
    for text in [format!("{auth:?}"), format!("{auth:#?}")] {
        assert!(!leaks(&text), "{text}");
        assert!(
            text.contains("user7") && text.contains("REDACTED"),
            "{text}"
        );
    }
    assert_eq!(format!("{:?}", ProbeAuth::AllowList), "AllowList");
    let request = connect_request(TARGET, &basic());
    assert!(!leaks(&format!("{request:?}")));
}

/// The buffers holding the password are sized once (`connect_request` asserts it in debug
/// builds), for every padding of the encoded pair, and the head is the same as one built the
/// plain way.
#[test]
fn the_request_head_is_built_in_buffers_of_its_final_size() {
    for login_len in 0..4 {
        for password_len in 0..7 {
            let login = "l".repeat(login_len);
            let password = "p".repeat(password_len);
            let auth = ProbeAuth::Basic {
                login: login.clone(),
                password: SecretString::from(password.clone()),
            };
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{login}:{password}"));
            let want = format!(
                "CONNECT {TARGET} HTTP/1.1\r\nHost: {TARGET}\r\n\
                 Proxy-Authorization: Basic {encoded}\r\n\r\n"
            );
            assert_eq!(connect_request(TARGET, &auth).expose_secret(), want);
        }
    }
    let allow = connect_request(TARGET, &ProbeAuth::AllowList);
    assert_eq!(
        allow.expose_secret(),
        format!("CONNECT {TARGET} HTTP/1.1\r\nHost: {TARGET}\r\n\r\n")
    );
}
