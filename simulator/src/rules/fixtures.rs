//! Orders and change requests shared by the rules' unit tests.

use crate::wire::{Access, ChangeRequest, Order, OrderStatus, Proxy, Service};
use secrecy::SecretString;

use super::OPERATIONS;

pub(super) fn order(
    status: OrderStatus,
    service_name: &str,
    provider: &str,
    ips: &[&str],
) -> Order {
    Order {
        id: 7,
        status,
        service: Service {
            id: 1,
            provider: provider.into(),
            name: service_name.into(),
        },
        location: None,
        operator: None,
        period: 30,
        quantity: ips.len() as u32,
        minimal_payment: None,
        amount: 1.81 * ips.len() as f64,
        converted_amount: None,
        auto_continuation: false,
        allowed_operations: vec![],
        resources_allocated: true,
        access: Some(Access {
            port: 8000,
            login: "user7".into(),
            password: SecretString::from("pw"),
            ip_list: vec![],
        }),
        proxies: Some(ips.iter().map(|ip| Proxy { ip: ip.to_string() }).collect()),
    }
}

pub(super) fn individual(status: OrderStatus, ips: &[&str]) -> Order {
    order(status, "Individual proxies", "server-proxies", ips)
}

pub(super) fn mobile(status: OrderStatus, ips: &[&str]) -> Order {
    let mut o = order(status, "Mobile proxies", "mobile-proxies", ips);
    o.allowed_operations = OPERATIONS.iter().map(|s| s.to_string()).collect();
    o
}

pub(super) fn req(v: serde_json::Value) -> ChangeRequest {
    serde_json::from_value(v).unwrap()
}

pub(super) const FOUR: [&str; 4] = [
    "198.51.100.1",
    "198.51.100.2",
    "198.51.100.3",
    "198.51.100.4",
];
