//! The fault suite's orders: the simulator's order set (every fourth one expired with three
//! proxies) and the ProxyOrder spec asked of each.

use proxy_order_testkit::KEY_SECRET;
use proxy_solutions_sim::{
    generate_orders,
    wire::{Order, OrderStatus, Proxy},
};
use serde_json::{Value, json};

use crate::FAULT_PORT;

/// Every fourth order is expired with three proxies, and asks for four without the first.
pub(super) fn removes_proxies(i: usize) -> bool {
    i % 4 == 1
}

pub(super) fn proxy_ip(i: usize, k: usize) -> String {
    format!("10.{}.{}.{}", (i >> 8) & 255, i & 255, k + 1)
}

pub(super) fn fault_orders(n: usize) -> Vec<Order> {
    let mut orders = generate_orders(n as u32);
    for (i, o) in orders.iter_mut().enumerate() {
        if removes_proxies(i) {
            o.status = OrderStatus::Waiting;
            o.quantity = 3;
            o.proxies = Some((0..3).map(|k| Proxy { ip: proxy_ip(i, k) }).collect());
        }
    }
    orders
}

pub(super) fn fault_spec(i: usize, id: u64) -> Value {
    let mut spec = json!({
        "orderId": id,
        "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
        "port": FAULT_PORT,
    });
    if removes_proxies(i) {
        spec["quantity"] = json!(4);
        spec["removeProxies"] = json!([proxy_ip(i, 0)]);
    }
    spec
}
