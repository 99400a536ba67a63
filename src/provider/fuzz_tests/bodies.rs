//! Real bodies for the property tests: the orders and answers the simulator sends.

use super::*;

/// Orders as the simulator holds them (generated and seeded), each with access data carrying
/// [`PW`] and proxies; the first one's login is the API key (a body may echo anything).
pub(super) fn sim_orders() -> Vec<Order> {
    let mut seeded = proxy_solutions_sim::generate_orders(2);
    seeded.extend(proxy_solutions_sim::example_orders());
    // The simulator has order types of its own: its orders reach the client's as JSON.
    let mut orders: Vec<Order> =
        serde_json::from_value(serde_json::to_value(&seeded).unwrap()).unwrap();
    for (i, o) in orders.iter_mut().enumerate() {
        let access = o.access.get_or_insert_with(|| Access {
            port: 8000,
            login: format!("user{}", o.id),
            password: SecretString::from(String::new()),
            ip_list: vec!["192.0.2.7".into()],
        });
        access.password = SecretString::from(PW);
        if i == 0 {
            access.login = KEY.to_string();
        }
        o.proxies.get_or_insert_with(|| {
            vec![Proxy {
                ip: format!("198.51.100.{}", i + 1),
            }]
        });
        o.converted_amount = Some(o.amount);
    }
    orders
}

/// A change answer, list answers with and without access data, and a perform answer.
pub(super) fn real_bodies() -> Vec<Vec<u8>> {
    let orders = sim_orders();
    let change = OrderResponse {
        lang: Some(Lang::En),
        currency: Some(Currency::Usd),
        order: orders[0].clone(),
    };
    let list = OrderList {
        lang: Some(Lang::Ru),
        currency: Some(Currency::Eur),
        orders: orders.clone(),
    };
    let bare = OrderList {
        orders: orders
            .iter()
            .cloned()
            .map(|mut o| {
                o.access = None;
                o.proxies = None;
                o
            })
            .collect(),
        ..list.clone()
    };
    let perform = PerformResponse {
        operation_status: "complete".into(),
        order: orders[orders.len() - 1].clone(),
    };
    let bodies = vec![
        serde_json::to_vec(&change).unwrap(),
        serde_json::to_vec(&list).unwrap(),
        serde_json::to_vec(&bare).unwrap(),
        serde_json::to_vec_pretty(&perform).unwrap(),
    ];
    for b in &bodies[..2] {
        assert!(String::from_utf8_lossy(b).contains(PW));
    }
    bodies
}
