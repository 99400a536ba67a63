//! The proxy listeners (`SimConfig::proxy_listeners`): real CONNECT requests over real sockets
//! to the proxies of the example orders, and how the listeners follow changes.

use std::net::SocketAddr;

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::support::{Api, config, ips};

const ACTIVE: u64 = 10000;

async fn api() -> Api {
    Api::with(proxy_solutions_sim::SimConfig {
        proxy_listeners: true,
        ..config()
    })
    .await
}

/// A TCP server that echoes what it reads, the tunnels' target.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = stream.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

fn basic(login: &str, password: &str) -> String {
    let creds = base64::engine::general_purpose::STANDARD.encode(format!("{login}:{password}"));
    format!("Proxy-Authorization: Basic {creds}\r\n")
}

/// Sends a request head to a proxy; returns the answer's head and the open stream.
async fn request(proxy: SocketAddr, head: &str) -> (String, TcpStream) {
    let mut stream = TcpStream::connect(proxy).await.expect("proxy accepts");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.unwrap();
        assert_eq!(
            n,
            1,
            "answer ended early: {:?}",
            String::from_utf8_lossy(&answer)
        );
        answer.push(byte[0]);
    }
    (String::from_utf8(answer).unwrap(), stream)
}

async fn connect(proxy: SocketAddr, target: SocketAddr, auth: &str) -> (String, TcpStream) {
    request(
        proxy,
        &format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{auth}\r\n"),
    )
    .await
}

/// The status line of a CONNECT answer.
async fn status(proxy: SocketAddr, target: SocketAddr, auth: &str) -> String {
    let (head, _) = connect(proxy, target, auth).await;
    head.lines().next().unwrap().to_string()
}

/// Every proxy address of an order, at its port.
fn proxies_of(order: &Value) -> Vec<SocketAddr> {
    let port = order["access"]["port"].as_u64().unwrap();
    ips(order)
        .iter()
        .map(|ip| format!("{ip}:{port}").parse().unwrap())
        .collect()
}

fn password(order: &Value) -> String {
    order["access"]["password"].as_str().unwrap().to_string()
}

async fn connects(api: &Api, id: u64) -> Value {
    let (status, body) = api
        .admin_get(&format!("/proxy-connects?order_id={id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body[0].clone()
}

#[tokio::test]
async fn fresh_credentials_open_a_tunnel_and_wrong_ones_get_407() {
    let api = api().await;
    let target = echo_server().await;
    let order = api.order(ACTIVE).await;
    let proxies = proxies_of(&order);
    assert_eq!(proxies.len(), 2);
    assert!(proxies.iter().all(|p| p.ip().is_loopback()), "{proxies:?}");
    let login = order["access"]["login"].as_str().unwrap();

    for proxy in &proxies {
        let (head, mut tunnel) = connect(*proxy, target, &basic(login, &password(&order))).await;
        assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        tunnel.write_all(b"ping through the tunnel").await.unwrap();
        let mut buf = [0u8; 23];
        tunnel.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping through the tunnel");
    }

    let (head, _) = connect(proxies[0], target, &basic(login, "not-the-password")).await;
    assert!(
        head.starts_with("HTTP/1.1 407 Proxy Authentication Required\r\n"),
        "{head}"
    );
    assert!(
        head.contains("Proxy-Authenticate: Basic realm=\"proxy-solutions\"\r\n"),
        "{head}"
    );
    assert!(status(proxies[0], target, "").await.contains(" 407 "));
    assert!(
        status(proxies[0], target, &basic("user10001", &password(&order)))
            .await
            .contains(" 407 ")
    );
    let (head, _) = request(proxies[0], "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 405 "), "{head}");

    let counts = connects(&api, ACTIVE).await;
    assert_eq!(
        counts,
        json!({"order_id": ACTIVE, "attempts": 6, "established": 2, "rejected": 3,
               "target_unreachable": 0, "bad_requests": 1})
    );
    assert_eq!(api.sim.proxy_connects(ACTIVE).unwrap().established, 2);
    let (_, cleared) = api.admin_delete("/proxy-connects").await;
    assert_eq!(cleared["cleared"], 1);
    assert_eq!(connects(&api, ACTIVE).await["attempts"], 0);
}

#[tokio::test]
async fn a_changed_password_is_refused_at_once() {
    let api = api().await;
    let target = echo_server().await;
    let order = api.order(ACTIVE).await;
    let proxy = proxies_of(&order)[0];
    let old = password(&order);
    assert!(
        status(proxy, target, &basic("user10000", &old))
            .await
            .contains(" 200 ")
    );

    let (code, body) = api
        .post(
            &format!("/user/orders/{ACTIVE}"),
            json!({"gen_password": true}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let new = password(&body["order"]);
    assert_ne!(new, old);
    assert!(
        status(proxy, target, &basic("user10000", &old))
            .await
            .contains(" 407 ")
    );
    assert!(
        status(proxy, target, &basic("user10000", &new))
            .await
            .contains(" 200 ")
    );

    // A new login works with the password, the old login no longer does.
    api.post(
        &format!("/user/orders/{ACTIVE}"),
        json!({"login": "renamed"}),
    )
    .await;
    assert!(
        status(proxy, target, &basic("user10000", &new))
            .await
            .contains(" 407 ")
    );
    assert!(
        status(proxy, target, &basic("renamed", &new))
            .await
            .contains(" 200 ")
    );
}

#[tokio::test]
async fn a_changed_port_moves_the_listeners() {
    let api = api().await;
    let target = echo_server().await;
    let order = api.order(ACTIVE).await;
    let old = proxies_of(&order);
    // A free port: bind one on the proxy's address, then let it go.
    let port = TcpListener::bind(SocketAddr::new(old[0].ip(), 0))
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, body) = api
        .post(&format!("/user/orders/{ACTIVE}"), json!({"port": port}))
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let new = proxies_of(&body["order"]);
    assert!(new.iter().all(|p| p.port() == port));
    for addr in &old {
        let refused = TcpStream::connect(addr).await;
        assert!(
            refused.is_err(),
            "{addr} still accepts after the port change"
        );
    }
    let auth = basic("user10000", &password(&order));
    for addr in &new {
        assert!(status(*addr, target, &auth).await.contains(" 200 "));
    }
    let (_, listed) = api.admin_get("/proxy-listeners").await;
    let listed: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["order_id"] == ACTIVE)
        .map(|l| l["address"].as_str().unwrap().to_string())
        .collect();
    let mut want: Vec<String> = new.iter().map(ToString::to_string).collect();
    want.sort();
    assert_eq!(listed, want);
}

#[tokio::test]
async fn the_allow_list_opens_the_proxy_without_credentials() {
    let api = api().await;
    let target = echo_server().await;
    let order = api.order(ACTIVE).await;
    let proxy = proxies_of(&order)[0];
    assert!(status(proxy, target, "").await.contains(" 407 "));
    let (code, body) = api
        .post(
            &format!("/user/orders/{ACTIVE}"),
            json!({"ip_auth": ["127.0.0.1"]}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (head, mut tunnel) = connect(proxy, target, "").await;
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    tunnel.write_all(b"x").await.unwrap();
    let mut b = [0u8; 1];
    tunnel.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"x");
    api.post(
        &format!("/user/orders/{ACTIVE}"),
        json!({"ip_auth": "clear"}),
    )
    .await;
    assert!(status(proxy, target, "").await.contains(" 407 "));
}

#[tokio::test]
async fn unreachable_targets_get_502() {
    let api = api().await;
    let order = api.order(ACTIVE).await;
    let proxy = proxies_of(&order)[0];
    // A port nothing listens on.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let auth = basic("user10000", &password(&order));
    assert!(status(proxy, closed, &auth).await.contains(" 502 "));
    assert_eq!(connects(&api, ACTIVE).await["target_unreachable"], 1);
}

#[tokio::test]
async fn listeners_follow_status_address_changes_and_deletion() {
    let api = api().await;
    let mobile = api.order(10002).await;
    let old = proxies_of(&mobile)[0];
    // The expired example order has no listener.
    let expired = proxies_of(&api.order(10001).await);
    for addr in &expired {
        assert!(TcpStream::connect(addr).await.is_err(), "{addr}");
    }
    assert!(TcpStream::connect(old).await.is_ok());

    let (code, body) = api
        .post(
            "/user/orders/10002/perform",
            json!({"operation": "channels-change-ip"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let new = proxies_of(&body["order"])[0];
    assert_ne!(new, old);
    assert!(TcpStream::connect(old).await.is_err());
    assert!(TcpStream::connect(new).await.is_ok());

    api.admin_post("/orders/10002/status", json!({"status": "waiting"}))
        .await;
    assert!(
        TcpStream::connect(new).await.is_err(),
        "expired order still served"
    );
    api.admin_post("/orders/10002/status", json!({"status": "active"}))
        .await;
    assert!(TcpStream::connect(new).await.is_ok());

    let (code, _) = api.admin_delete("/orders/10002").await;
    assert_eq!(code, StatusCode::OK);
    assert!(
        TcpStream::connect(new).await.is_err(),
        "deleted order still served"
    );

    let active = proxies_of(&api.order(ACTIVE).await);
    api.sim.shutdown().await;
    for addr in &active {
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "{addr} after shutdown"
        );
    }
}

#[tokio::test]
async fn simulators_side_by_side_get_their_own_addresses() {
    let (a, b) = (api().await, api().await);
    let (pa, pb) = (
        proxies_of(&a.order(ACTIVE).await),
        proxies_of(&b.order(ACTIVE).await),
    );
    assert_ne!(pa[0].ip(), pb[0].ip());
    assert_eq!(pa[0].port(), pb[0].port());
}

#[tokio::test]
async fn without_listeners_the_admin_endpoints_say_so() {
    let api = Api::new().await;
    let (code, body) = api.admin_get("/proxy-connects").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("--proxy-listeners")
    );
    assert!(api.sim.proxy_connects(ACTIVE).is_none());
    // The documentation addresses stay.
    assert_eq!(
        ips(&api.order(ACTIVE).await),
        ["198.51.100.1", "198.51.100.2"]
    );
}

#[tokio::test]
async fn a_renewed_order_is_served_on_its_new_addresses() {
    let api = api().await;
    let expired = api.order(10001).await;
    let old = ips(&expired);
    let (code, body) = api
        .post(
            "/user/orders/10001",
            json!({"remove_proxies": [old[0]], "quantity": 4}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let renewed = proxies_of(&body["order"]);
    assert_eq!(renewed.len(), 4);
    for addr in &renewed {
        assert!(TcpStream::connect(addr).await.is_err(), "expired, {addr}");
    }
    let (code, body) = api
        .post(
            "/user/orders/10001/charge",
            json!({"merchant": "balance", "currency": "USD"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let target = echo_server().await;
    let auth = basic("user10001", &password(&expired));
    for addr in &renewed {
        assert!(
            status(*addr, target, &auth).await.contains(" 200 "),
            "{addr}"
        );
    }
    let dropped: SocketAddr = format!("{}:{}", old[0], renewed[0].port()).parse().unwrap();
    assert!(TcpStream::connect(dropped).await.is_err());
}
