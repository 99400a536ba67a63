//! `proxy-order-operator healthcheck URL`: GET a plain-HTTP URL and exit 0 on a 2xx answer, 1
//! otherwise. The chart's `helm test` Pod runs it from the operator's own image against the
//! metrics Service's `/healthz`, so the test needs no other image (a cluster that pulls nothing
//! can run it). Up to [`ATTEMPTS`] tries, [`RETRY_DELAY`] apart, each within [`TIMEOUT`]: the
//! Service may still be getting its endpoints when the test starts.

use std::{
    io::{Read, Write},
    net::{TcpStream, ToSocketAddrs},
    time::Duration,
};

pub const ATTEMPTS: u32 = 6;
pub const RETRY_DELAY: Duration = Duration::from_secs(5);
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the subcommand when the first argument is `healthcheck`: `Some(exit code)`, or `None`
/// for the operator's usual command line.
pub fn from_args(args: &[String]) -> Option<i32> {
    if args.get(1).map(String::as_str) != Some("healthcheck") {
        return None;
    }
    let [url] = &args[2..] else {
        eprintln!("usage: proxy-order-operator healthcheck http://HOST:PORT/PATH");
        return Some(2);
    };
    Some(run(url, ATTEMPTS, RETRY_DELAY, TIMEOUT))
}

/// GETs `url` up to `attempts` times; 0 on the first 2xx, 1 when none came.
pub fn run(url: &str, attempts: u32, delay: Duration, timeout: Duration) -> i32 {
    for attempt in 1..=attempts {
        match get(url, timeout) {
            Ok(status) if (200..300).contains(&status) => {
                println!("healthcheck: {url}: {status}");
                return 0;
            }
            Ok(status) => eprintln!("healthcheck: {url}: {status} (attempt {attempt}/{attempts})"),
            Err(e) => eprintln!("healthcheck: {url}: {e} (attempt {attempt}/{attempts})"),
        }
        if attempt < attempts {
            std::thread::sleep(delay);
        }
    }
    1
}

/// One GET; the answer's status code.
pub fn get(url: &str, timeout: Duration) -> Result<u16, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| "invalid port")?),
        None => (authority, 80),
    };
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nUser-Agent: proxy-order-operator-healthcheck\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    // The status line is all we need: `HTTP/1.1 200 OK`.
    let mut head = Vec::new();
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 4096 {
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or_default();
    line.split_whitespace()
        .nth(1)
        .filter(|_| line.starts_with("HTTP/1."))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {line:?}"))
}

#[cfg(test)]
mod tests {
    use std::{net::TcpListener, thread};

    use super::*;

    /// A server that answers each of `answers` to one connection, in turn.
    fn serve(answers: Vec<&'static str>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for answer in answers {
                let (mut s, _) = listener.accept().unwrap();
                // The whole request first: closing a socket with unread data resets the
                // connection, and the client could lose the answer to that.
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s.write_all(answer.as_bytes());
            }
        });
        format!("http://{addr}/healthz")
    }

    #[test]
    fn a_2xx_answer_is_healthy() {
        let url = serve(vec!["HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]);
        assert_eq!(run(&url, 1, Duration::ZERO, TIMEOUT), 0);
    }

    #[test]
    fn an_error_answer_is_retried_then_fails() {
        let url = serve(vec![
            "HTTP/1.1 503 Service Unavailable\r\n\r\n",
            "HTTP/1.1 500 Internal Server Error\r\n\r\n",
        ]);
        assert_eq!(run(&url, 2, Duration::ZERO, TIMEOUT), 1);
    }

    #[test]
    fn a_later_success_counts() {
        let url = serve(vec![
            "HTTP/1.1 503 Service Unavailable\r\n\r\n",
            "HTTP/1.1 204 No Content\r\n\r\n",
        ]);
        assert_eq!(run(&url, 3, Duration::ZERO, TIMEOUT), 0);
    }

    #[test]
    fn nothing_listening_fails() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/healthz", listener.local_addr().unwrap());
        drop(listener);
        assert_eq!(run(&url, 1, Duration::ZERO, Duration::from_secs(2)), 1);
    }

    #[test]
    fn only_the_subcommand_is_taken() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(from_args(&args(&["op", "--namespace", "x"])), None);
        assert_eq!(from_args(&args(&["op"])), None);
        assert_eq!(from_args(&args(&["op", "healthcheck"])), Some(2));
        assert_eq!(from_args(&args(&["op", "healthcheck", "a", "b"])), Some(2));
        assert!(get("https://example.invalid/", TIMEOUT).is_err());
        assert!(get("http://127.0.0.1:notaport/", TIMEOUT).is_err());
    }
}
