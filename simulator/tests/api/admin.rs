//! The admin API (put, status, delete), loading orders files, and shutdown.

use proxy_solutions_sim::wire::OrderStatus;
use proxy_solutions_sim::{SimConfig, example_orders, load_orders_file};
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{Api, assert_422, client, config, four_proxy_waiting_order, ips, start};

#[tokio::test]
async fn admin_put_status_and_delete() {
    let api = Api::new().await;
    let mut order = serde_json::to_value(four_proxy_waiting_order(1)).unwrap();
    order["access"]["password"] = json!("Admin-Put-Pw");
    let (status, body) = api.admin_put("/orders/30000", order.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["id"], 30000);
    let stored = api.order(30000).await;
    assert_eq!(stored["access"]["password"], "Admin-Put-Pw");
    assert_eq!(ips(&stored).len(), 4);
    let (status, _) = api.admin_get("/orders/1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Replace: 200, and the change endpoint sees it.
    order["access"]["port"] = json!(9999);
    let (status, _) = api.admin_put("/orders/30000", order).await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = api.post("/user/orders/30000", json!({})).await;
    assert_eq!(body["order"]["access"]["port"], 9999);

    let (status, body) = api
        .admin_put("/orders/30001", json!({"status": "active"}))
        .await;
    assert_422(status, &body, "service");

    let (status, body) = api
        .admin_post("/orders/30000/status", json!({"status": "frozen"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "frozen");
    let (status, body) = api.admin_post("/orders/30000/status", json!({})).await;
    assert_422(status, &body, "status");
    let (status, _) = api
        .admin_post("/orders/31234/status", json!({"status": "waiting"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = api.admin_delete("/orders/30000").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.post("/user/orders/30000", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, all) = api.admin_get("/orders").await;
    assert_eq!(all.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn orders_file_loads_yaml_and_json() {
    let dir = std::env::temp_dir().join(format!("sim-orders-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let yaml_path = dir.join("orders.yaml");
    let json_path = dir.join("orders.json");
    let bad_path = dir.join("bad.yaml");
    let yaml = r#"
- id: 555
  status: waiting
  service: { id: 4, provider: server-proxies, name: City proxies }
  period: 30
  quantity: 2
  amount: 3.62
  allowed_operations: []
  resources_allocated: false
  access: { port: 8100, login: yamluser, password: "yaml-pw-1", ip_list: ["192.0.2.7"] }
  proxies: [ { ip: "198.51.100.200" }, { ip: "198.51.100.201" } ]
"#;
    std::fs::write(&yaml_path, yaml).unwrap();
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&example_orders()).unwrap(),
    )
    .unwrap();
    std::fs::write(&bad_path, "- id: 1\n  status: active\n  period: thirty\n").unwrap();

    let from_yaml = load_orders_file(&yaml_path).unwrap();
    assert_eq!(from_yaml.len(), 1);
    assert_eq!(from_yaml[0].id, 555);
    assert_eq!(from_yaml[0].status, OrderStatus::Waiting);
    assert_eq!(
        from_yaml[0].proxy_ips(),
        vec!["198.51.100.200", "198.51.100.201"]
    );
    assert_eq!(load_orders_file(&json_path).unwrap(), example_orders());

    let err = load_orders_file(&bad_path).unwrap_err().to_string();
    assert!(err.contains("bad.yaml"), "{err}");
    let err = load_orders_file(&dir.join("missing.yaml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing.yaml") && err.contains("cannot read"),
        "{err}"
    );

    // The loaded orders are what the simulator serves.
    let api = Api::with(SimConfig {
        orders: from_yaml,
        ..config()
    })
    .await;
    let o = api.order(555).await;
    assert_eq!(o["access"]["password"], "yaml-pw-1");
    assert_eq!(o["access"]["login"], "yamluser");
    let (_, list) = api.get("/user/orders").await;
    assert_eq!(list["orders"].as_array().unwrap().len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let sim = start(config()).await;
    let url = format!("{}/healthz", sim.admin_url());
    let http = client();
    assert_eq!(
        http.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
    let addr = sim.addr();
    sim.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
