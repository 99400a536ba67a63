//! Orders the simulator starts with: the built-in examples, an orders file, or generated ones.

use std::{
    collections::BTreeSet,
    fmt,
    path::{Path, PathBuf},
};

use secrecy::SecretString;

use super::state::generate_password;
use crate::wire::{Access, Location, Operator, Order, OrderStatus, Proxy, Service};

/// First id of orders made by [`generate_orders`].
pub const GENERATED_FIRST_ID: u64 = 100_000;

fn proxies(ips: &[&str]) -> Option<Vec<Proxy>> {
    Some(ips.iter().map(|ip| Proxy { ip: ip.to_string() }).collect())
}

fn access(port: u16, login: &str, password: &str, ip_list: &[&str]) -> Option<Access> {
    Some(Access {
        port,
        login: login.to_string(),
        password: SecretString::from(password.to_string()),
        ip_list: ip_list.iter().map(|s| s.to_string()).collect(),
    })
}

/// The city-proxies service of the provider's examples.
pub fn city_service() -> Service {
    Service {
        id: 4,
        provider: "server-proxies".into(),
        name: "City proxies".into(),
    }
}

/// The default seed (see `docs/simulator.md`):
/// - 10000: active City order, New York/USA, 2 proxies, port 8000, login `user10000`;
/// - 10001: expired (`waiting`) Individual order, Germany, 3 proxies;
/// - 10002: active Mobile order, 1 channel, all four `channels-*` operations allowed.
pub fn example_orders() -> Vec<Order> {
    vec![
        Order {
            id: 10000,
            status: OrderStatus::Active,
            service: city_service(),
            location: Some(Location {
                id: 24,
                kind: "city".into(),
                name: "New York".into(),
                country_name: "USA".into(),
            }),
            operator: None,
            period: 30,
            quantity: 2,
            minimal_payment: Some(1.81),
            amount: 3.62,
            converted_amount: Some(3.62),
            auto_continuation: false,
            allowed_operations: vec![],
            resources_allocated: true,
            access: access(8000, "user10000", "bfQQKiIOM0jT2dOJvBQh", &["192.168.1.1"]),
            proxies: proxies(&["198.51.100.1", "198.51.100.2"]),
        },
        Order {
            id: 10001,
            status: OrderStatus::Waiting,
            service: Service {
                id: 1,
                provider: "server-proxies".into(),
                name: "Individual proxies".into(),
            },
            location: Some(Location {
                id: 8,
                kind: "country".into(),
                name: "Germany".into(),
                country_name: "Germany".into(),
            }),
            operator: None,
            period: 30,
            quantity: 3,
            minimal_payment: Some(1.5),
            amount: 4.5,
            converted_amount: Some(4.5),
            auto_continuation: false,
            allowed_operations: vec![],
            resources_allocated: false,
            access: access(8001, "user10001", "Zt0sYq8LmN2pWx5RkA7e", &[]),
            proxies: proxies(&["198.51.100.3", "198.51.100.4", "198.51.100.5"]),
        },
        Order {
            id: 10002,
            status: OrderStatus::Active,
            service: Service {
                id: 12,
                provider: "mobile-proxies".into(),
                name: "Mobile proxies".into(),
            },
            location: Some(Location {
                id: 31,
                kind: "country".into(),
                name: "Poland".into(),
                country_name: "Poland".into(),
            }),
            operator: Some(Operator {
                id: 37,
                name: "Orange".into(),
            }),
            period: 30,
            quantity: 1,
            minimal_payment: Some(25.0),
            amount: 25.0,
            converted_amount: Some(25.0),
            auto_continuation: false,
            allowed_operations: super::rules::OPERATIONS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            resources_allocated: true,
            access: access(8002, "user10002", "Mb7HkR2vQe9TnL4cWs3u", &[]),
            proxies: proxies(&["198.51.100.6"]),
        },
    ]
}

/// `n` active City orders with ids from [`GENERATED_FIRST_ID`] upward, one proxy each (the
/// address is allocated when the simulator starts), login `user<ID>`, random password.
pub fn generate_orders(n: u32) -> Vec<Order> {
    (0..n as u64)
        .map(|i| {
            let id = GENERATED_FIRST_ID + i;
            Order {
                id,
                status: OrderStatus::Active,
                service: city_service(),
                location: Some(Location {
                    id: 24,
                    kind: "city".into(),
                    name: "New York".into(),
                    country_name: "USA".into(),
                }),
                operator: None,
                period: 30,
                quantity: 1,
                minimal_payment: Some(1.81),
                amount: 1.81,
                converted_amount: None,
                auto_continuation: false,
                allowed_operations: vec![],
                resources_allocated: true,
                access: Some(Access {
                    port: 8000,
                    login: format!("user{id}"),
                    password: SecretString::from(generate_password()),
                    ip_list: vec![],
                }),
                proxies: None,
            }
        })
        .collect()
}

/// An orders file that could not be used.
#[derive(Debug)]
pub struct SeedError {
    pub path: PathBuf,
    pub problem: String,
}

impl fmt::Display for SeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "orders file {}: {}", self.path.display(), self.problem)
    }
}

impl std::error::Error for SeedError {}

/// Parses orders from YAML or JSON text: a list of orders in the provider's shape (with
/// `access` and `proxies`), or an object with an `orders` list (the list endpoint's envelope).
pub fn parse_orders(text: &str) -> Result<Vec<Order>, String> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        orders: Vec<Order>,
    }
    // Look at the top level first, then parse the text again into the typed shape so errors
    // carry serde_yaml's line and column.
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    let orders = match value {
        serde_yaml::Value::Sequence(_) => {
            serde_yaml::from_str::<Vec<Order>>(text).map_err(|e| e.to_string())?
        }
        serde_yaml::Value::Mapping(m) if m.contains_key("orders") => {
            serde_yaml::from_str::<Envelope>(text)
                .map_err(|e| e.to_string())?
                .orders
        }
        serde_yaml::Value::Null => Vec::new(),
        _ => return Err("expected a list of orders (or an object with an `orders` list)".into()),
    };
    let mut seen = BTreeSet::new();
    for (i, o) in orders.iter().enumerate() {
        if o.id == 0 {
            return Err(format!("order #{}: id must be at least 1", i + 1));
        }
        if !seen.insert(o.id) {
            return Err(format!("order #{}: duplicate id {}", i + 1, o.id));
        }
    }
    Ok(orders)
}

/// Reads an orders file (YAML or JSON). Errors name the file and the problem.
pub fn load_orders_file(path: &Path) -> Result<Vec<Order>, SeedError> {
    let err = |problem: String| SeedError {
        path: path.to_path_buf(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
    parse_orders(&text).map_err(|e| err(format!("invalid: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn examples_match_the_docs() {
        let o = example_orders();
        assert_eq!(
            o.iter().map(|o| o.id).collect::<Vec<_>>(),
            vec![10000, 10001, 10002]
        );
        assert_eq!(o[0].status, OrderStatus::Active);
        assert_eq!(o[0].quantity as usize, o[0].proxy_ips().len());
        assert_eq!(o[0].access.as_ref().unwrap().login, "user10000");
        assert!(o[1].status.is_expired());
        assert!(!o[1].is_mobile());
        assert_eq!(o[1].proxy_ips().len(), 3);
        assert!(o[2].is_mobile());
        assert_eq!(o[2].allowed_operations.len(), 4);
    }

    #[test]
    fn generated_orders() {
        let g = generate_orders(3);
        assert_eq!(
            g.iter().map(|o| o.id).collect::<Vec<_>>(),
            vec![100000, 100001, 100002]
        );
        assert_eq!(g[2].access.as_ref().unwrap().login, "user100002");
        assert_ne!(
            g[0].access.as_ref().unwrap().password.expose_secret(),
            g[1].access.as_ref().unwrap().password.expose_secret()
        );
    }

    #[test]
    fn parse_yaml_json_and_envelope() {
        let json = serde_json::to_string(&example_orders()).unwrap();
        assert_eq!(parse_orders(&json).unwrap(), example_orders());
        let yaml = serde_yaml::to_string(&example_orders()).unwrap();
        assert_eq!(parse_orders(&yaml).unwrap(), example_orders());
        let env = serde_json::json!({"lang": "EN", "orders": example_orders()}).to_string();
        assert_eq!(parse_orders(&env).unwrap().len(), 3);
        assert_eq!(parse_orders("").unwrap(), vec![]);
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        let e = parse_orders("- id: 1\n  status: active\n").unwrap_err();
        assert!(e.contains("service"), "{e}");
        let e = parse_orders("42").unwrap_err();
        assert!(e.contains("list of orders"), "{e}");
        let mut two = example_orders();
        two[1].id = two[0].id;
        let e = parse_orders(&serde_json::to_string(&two).unwrap()).unwrap_err();
        assert!(e.contains("duplicate id 10000"), "{e}");
    }
}
