//! Quantity changes (`quantity`, `remove_proxies`), which only an expired order takes: the
//! per-type limits, the plan of addresses to drop and add, and the price at the new quantity.

use std::collections::BTreeSet;

use crate::wire::Order;

use super::{ValidationErrors, round2};

/// Largest quantity one order may have, per proxy type (`provider-api.md` §2.4). Told from the
/// service name; `None` where the docs state no limit (mobile, batch, unknown types).
pub fn max_quantity(order: &Order) -> Option<u32> {
    if order.is_mobile() {
        return None;
    }
    let name = order.service.name.to_ascii_lowercase();
    if name.contains("individual") || name.contains("personal") {
        Some(500)
    } else if name.contains("prime") {
        Some(100)
    } else if name.contains("city") {
        Some(50)
    } else {
        None
    }
}

/// A validated quantity change: drop `remove` (in the order's proxy order), then allocate `add`
/// fresh addresses, ending at `quantity`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuantityPlan {
    pub quantity: u32,
    pub remove: Vec<String>,
    pub add: u32,
}

pub(super) fn plan_quantity(
    order: &Order,
    quantity: Option<u32>,
    remove_proxies: Option<&[String]>,
) -> Result<Option<QuantityPlan>, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    if !order.status.is_expired() {
        let msg = format!(
            "Order {} is {}: only authentication data (port, login, password, gen_password, \
             ip_auth) can be changed; the quantity can be changed once the order has expired.",
            order.id, order.status
        );
        if quantity.is_some() {
            errors.add("quantity", msg.clone());
        }
        if remove_proxies.is_some() {
            errors.add("remove_proxies", msg);
        }
        return Err(errors);
    }

    let current = order.proxy_ips();
    if let Some(q) = quantity {
        if q == 0 {
            errors.add("quantity", "The quantity must be at least 1.");
        }
        if let Some(max) = max_quantity(order)
            && q > max
        {
            errors.add(
                "quantity",
                format!(
                    "The quantity must not be greater than {max} for {}.",
                    order.service.name
                ),
            );
        }
    }

    if order.is_mobile() {
        if remove_proxies.is_some() {
            errors.add(
                "remove_proxies",
                "Mobile orders do not take remove_proxies; send only quantity (the number of channels).",
            );
        }
        let Some(q) = quantity else {
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let len = current.len() as u32;
        let plan = if q >= len {
            QuantityPlan {
                quantity: q,
                remove: Vec::new(),
                add: q - len,
            }
        } else {
            QuantityPlan {
                quantity: q,
                remove: current[q as usize..].to_vec(),
                add: 0,
            }
        };
        return Ok(Some(plan));
    }

    // Non-mobile: remove_proxies + final quantity.
    let mut remove: Vec<String> = Vec::new();
    if let Some(list) = remove_proxies {
        let owned: BTreeSet<&str> = current.iter().map(String::as_str).collect();
        let mut seen = BTreeSet::new();
        for ip in list {
            if !owned.contains(ip.as_str()) {
                errors.add(
                    "remove_proxies",
                    format!("The address {ip} does not belong to order {}.", order.id),
                );
            } else if seen.insert(ip.as_str()) {
                remove.push(ip.clone());
            }
        }
    }
    let Some(q) = quantity else {
        errors.add(
            "quantity",
            "The quantity (the final total) is required together with remove_proxies.",
        );
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let kept = (current.len() - remove.len()) as u32;
    if q < kept {
        errors.add(
            "quantity",
            format!(
                "The quantity ({q}) is below the {kept} addresses that would remain; list the \
                 addresses to drop in remove_proxies."
            ),
        );
        return Err(errors);
    }
    Ok(Some(QuantityPlan {
        quantity: q,
        remove,
        add: q - kept,
    }))
}

/// Scales a money field to a new quantity (the price per address stays the same).
pub fn scale_amount(amount: f64, old_quantity: u32, new_quantity: u32) -> f64 {
    if old_quantity == 0 {
        amount
    } else {
        round2(amount / old_quantity as f64 * new_quantity as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{
        RuleOptions,
        fixtures::{FOUR, individual, mobile, order, req},
        plan_change, usd_rate,
    };
    use crate::wire::{Currency, OrderStatus};

    #[test]
    fn documented_worked_example_removes_two_adds_four() {
        let o = individual(OrderStatus::Waiting, &FOUR);
        let plan = plan_change(
            &o,
            &req(serde_json::json!({"remove_proxies": ["198.51.100.1", "198.51.100.3"], "quantity": 6})),
            RuleOptions::default(),
        )
        .unwrap();
        assert_eq!(
            plan.quantity,
            Some(QuantityPlan {
                quantity: 6,
                remove: vec!["198.51.100.1".into(), "198.51.100.3".into()],
                add: 4
            })
        );
    }

    #[test]
    fn quantity_on_active_order_is_rejected() {
        let o = individual(OrderStatus::Active, &FOUR);
        let err = plan_change(
            &o,
            &req(serde_json::json!({"quantity": 5})),
            RuleOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err.field("quantity").len(), 1);
        assert!(err.field("quantity")[0].contains("only authentication data"));
        let err = plan_change(
            &o,
            &req(serde_json::json!({"remove_proxies": []})),
            RuleOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err.field("remove_proxies").len(), 1);
        // Auth data still fine on an active order.
        let plan = plan_change(
            &o,
            &req(serde_json::json!({"port": 9000})),
            RuleOptions::default(),
        )
        .unwrap();
        assert_eq!(plan.port, Some(9000));
    }

    #[test]
    fn other_statuses_count_as_not_expired() {
        for status in [
            OrderStatus::WaitingActivation,
            OrderStatus::ActiveSuspended,
            OrderStatus::Archived,
        ] {
            let o = individual(status, &FOUR);
            assert!(
                plan_change(
                    &o,
                    &req(serde_json::json!({"quantity": 4})),
                    RuleOptions::default()
                )
                .is_err()
            );
        }
    }

    #[test]
    fn remove_proxies_must_belong_to_the_order() {
        let o = individual(OrderStatus::Waiting, &FOUR);
        let err = plan_change(
            &o,
            &req(serde_json::json!({"remove_proxies": ["1.1.1.1"], "quantity": 4})),
            RuleOptions::default(),
        )
        .unwrap_err();
        assert!(
            err.field("remove_proxies")[0].contains("1.1.1.1"),
            "{err:?}"
        );
    }

    #[test]
    fn quantity_may_not_drop_addresses_implicitly() {
        let o = individual(OrderStatus::Waiting, &FOUR);
        let err = plan_change(
            &o,
            &req(serde_json::json!({"remove_proxies": ["198.51.100.1"], "quantity": 2})),
            RuleOptions::default(),
        )
        .unwrap_err();
        assert!(err.field("quantity")[0].contains("3 addresses"), "{err:?}");
        // Exactly what remains is fine (a pure removal).
        let plan = plan_change(
            &o,
            &req(serde_json::json!({"remove_proxies": ["198.51.100.1"], "quantity": 3})),
            RuleOptions::default(),
        )
        .unwrap();
        assert_eq!(plan.quantity.unwrap().add, 0);
    }

    #[test]
    fn remove_proxies_needs_quantity_and_duplicates_count_once() {
        let o = individual(OrderStatus::Waiting, &FOUR);
        let err = plan_change(
            &o,
            &req(serde_json::json!({"remove_proxies": ["198.51.100.1"]})),
            RuleOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err.field("quantity").len(), 1);
        let plan = plan_change(
            &o,
            &req(serde_json::json!({"remove_proxies": ["198.51.100.1", "198.51.100.1"], "quantity": 4})),
            RuleOptions::default(),
        )
        .unwrap();
        assert_eq!(
            plan.quantity.unwrap(),
            QuantityPlan {
                quantity: 4,
                remove: vec!["198.51.100.1".into()],
                add: 1
            }
        );
    }

    #[test]
    fn quantity_caps_and_minimum() {
        let o = order(
            OrderStatus::Waiting,
            "City proxies",
            "server-proxies",
            &FOUR,
        );
        let err = plan_change(
            &o,
            &req(serde_json::json!({"quantity": 51})),
            RuleOptions::default(),
        )
        .unwrap_err();
        assert!(err.field("quantity")[0].contains("50"));
        let err = plan_change(
            &o,
            &req(serde_json::json!({"quantity": 0, "remove_proxies": FOUR})),
            RuleOptions::default(),
        )
        .unwrap_err();
        assert!(err.field("quantity")[0].contains("at least 1"));
    }

    #[test]
    fn mobile_takes_quantity_only() {
        let o = mobile(OrderStatus::Waiting, &["198.51.100.9", "198.51.100.10"]);
        let plan = plan_change(
            &o,
            &req(serde_json::json!({"quantity": 5})),
            RuleOptions::default(),
        )
        .unwrap();
        assert_eq!(
            plan.quantity.unwrap(),
            QuantityPlan {
                quantity: 5,
                remove: vec![],
                add: 3
            }
        );
        let plan = plan_change(
            &o,
            &req(serde_json::json!({"quantity": 1})),
            RuleOptions::default(),
        )
        .unwrap();
        assert_eq!(
            plan.quantity.unwrap(),
            QuantityPlan {
                quantity: 1,
                remove: vec!["198.51.100.10".into()],
                add: 0
            }
        );
        let err = plan_change(
            &o,
            &req(serde_json::json!({"quantity": 1, "remove_proxies": ["198.51.100.9"]})),
            RuleOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err.field("remove_proxies").len(), 1);
        let active = mobile(OrderStatus::Active, &["198.51.100.9"]);
        assert!(
            plan_change(
                &active,
                &req(serde_json::json!({"quantity": 2})),
                RuleOptions::default()
            )
            .is_err()
        );
    }

    #[test]
    fn amounts_scale_per_address() {
        assert_eq!(scale_amount(3.62, 2, 6), 10.86);
        assert_eq!(scale_amount(5.0, 0, 3), 5.0);
        assert_eq!(usd_rate(Currency::Usd), 1.0);
    }
}
