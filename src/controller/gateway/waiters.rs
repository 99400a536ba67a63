//! ProxyOrders whose last decision waits on how the provider's order list shows their order:
//! not listed (`OrderNotFound`: bought later, or listed to another key) or not yet expired
//! (`WaitingForExpiry`). Every fetch of a key's list, whoever asked for it, wakes those of that
//! key whose order now shows differently, so they decide again from that list at no extra
//! provider call instead of at their next re-check.

use std::{collections::HashMap, sync::OnceLock};

use futures::channel::mpsc::UnboundedSender;
use kube::runtime::reflector::ObjectRef;
use parking_lot::Mutex;

use crate::provider::OrderList;
use proxy_order_api::ProxyOrder;

/// How the waiting ProxyOrder's order showed in the list its decision came from.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Awaited {
    order_id: u64,
    /// The order's provider status, `None` when it was not listed.
    status: Option<String>,
}

#[derive(Default)]
struct Waiting {
    /// By the list's cache key ([`super::Target::cache_key`]).
    by_key: HashMap<String, HashMap<ObjectRef<ProxyOrder>, Awaited>>,
    /// Which key each waiter is listed under.
    key_of: HashMap<ObjectRef<ProxyOrder>, String>,
}

/// See the module documentation.
#[derive(Default)]
pub struct ListWaiters {
    waiting: Mutex<Waiting>,
    /// Where woken ProxyOrders go (the controller's own trigger); none in unit tests.
    wake: OnceLock<UnboundedSender<ObjectRef<ProxyOrder>>>,
}

impl ListWaiters {
    /// Sends woken ProxyOrders to `wake` from now on.
    pub fn wake_into(&self, wake: UnboundedSender<ObjectRef<ProxyOrder>>) {
        let _ = self.wake.set(wake);
    }

    /// `who` decided from the list of `key` that it waits: order `order_id` showed with
    /// `status` (`None`: not listed). Replaces what it waited for before.
    pub fn wait(
        &self,
        key: &str,
        who: ObjectRef<ProxyOrder>,
        order_id: u64,
        status: Option<String>,
    ) {
        let mut w = self.waiting.lock();
        let awaited = Awaited { order_id, status };
        if let Some(old) = w.key_of.get(&who)
            && old != key
        {
            let old = old.clone();
            remove(&mut w.by_key, &old, &who);
        }
        w.key_of.insert(who.clone(), key.to_string());
        w.by_key
            .entry(key.to_string())
            .or_default()
            .insert(who, awaited);
    }

    /// `who` no longer waits on a list (it decided otherwise, or it was deleted).
    pub fn stop_waiting(&self, who: &ObjectRef<ProxyOrder>) {
        let mut w = self.waiting.lock();
        if let Some(key) = w.key_of.remove(who) {
            remove(&mut w.by_key, &key, who);
        }
    }

    /// A list of `key` was just fetched: the waiters whose order shows differently in it stop
    /// waiting and are woken. Returns them.
    pub fn listed(&self, key: &str, list: &OrderList) -> Vec<ObjectRef<ProxyOrder>> {
        let woken: Vec<ObjectRef<ProxyOrder>> = {
            let mut w = self.waiting.lock();
            let Some(waiters) = w.by_key.get_mut(key) else {
                return Vec::new();
            };
            let status: HashMap<u64, String> = list
                .orders
                .iter()
                .filter(|o| waiters.values().any(|a| a.order_id == o.id))
                .map(|o| (o.id, o.status.to_string()))
                .collect();
            let woken: Vec<_> = waiters
                .iter()
                .filter(|(_, a)| status.get(&a.order_id) != a.status.as_ref())
                .map(|(who, _)| who.clone())
                .collect();
            for who in &woken {
                waiters.remove(who);
            }
            if waiters.is_empty() {
                w.by_key.remove(key);
            }
            for who in &woken {
                w.key_of.remove(who);
            }
            woken
        };
        if let Some(wake) = self.wake.get() {
            for who in &woken {
                let _ = wake.unbounded_send(who.clone());
            }
        }
        woken
    }

    /// How many ProxyOrders wait.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.waiting.lock().key_of.len()
    }
}

fn remove(
    by_key: &mut HashMap<String, HashMap<ObjectRef<ProxyOrder>, Awaited>>,
    key: &str,
    who: &ObjectRef<ProxyOrder>,
) {
    if let Some(waiters) = by_key.get_mut(key) {
        waiters.remove(who);
        if waiters.is_empty() {
            by_key.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::provider::Order;

    fn order(id: u64, status: &str) -> Order {
        serde_json::from_value(serde_json::json!({
            "id": id, "status": status, "period": 30, "quantity": 1, "amount": 1.0,
            "service": { "id": 4, "provider": "server-proxies", "name": "City proxies" },
        }))
        .unwrap()
    }

    fn list(orders: &[Order]) -> OrderList {
        OrderList {
            lang: None,
            currency: None,
            orders: orders.to_vec(),
        }
    }

    fn po(name: &str) -> ObjectRef<ProxyOrder> {
        ObjectRef::new(name).within("ns")
    }

    #[tokio::test]
    async fn a_list_wakes_the_waiters_of_its_key_whose_order_shows_differently() {
        let w = ListWaiters::default();
        let (tx, rx) = futures::channel::mpsc::unbounded();
        w.wake_into(tx);
        // Not listed; waiting for expiry; another key's.
        w.wait("k", po("bought"), 7, None);
        w.wait("k", po("expiring"), 1, Some("active".into()));
        w.wait("other", po("elsewhere"), 7, None);
        // Unchanged: nobody is woken.
        assert!(w.listed("k", &list(&[order(1, "active")])).is_empty());
        assert_eq!(w.len(), 3);
        // Order 7 was bought: only the waiter of this key for it.
        assert_eq!(
            w.listed("k", &list(&[order(1, "active"), order(7, "active")])),
            [po("bought")]
        );
        // Order 1 expired.
        assert_eq!(
            w.listed("k", &list(&[order(1, "expired"), order(7, "active")])),
            [po("expiring")]
        );
        assert_eq!(w.len(), 1, "the woken stop waiting");
        let sent: Vec<_> = rx.take(2).collect().await;
        assert_eq!(sent, [po("bought"), po("expiring")]);
    }

    #[test]
    fn a_waiter_waits_under_one_key_and_stops_when_told() {
        let w = ListWaiters::default();
        w.wait("k", po("a"), 7, None);
        // The API key was replaced: it waits on the new key's list only.
        w.wait("k2", po("a"), 7, None);
        assert!(w.listed("k", &list(&[order(7, "active")])).is_empty());
        assert_eq!(w.len(), 1);
        w.stop_waiting(&po("a"));
        assert_eq!(w.len(), 0);
        assert!(w.listed("k2", &list(&[order(7, "active")])).is_empty());
        // A removed order wakes a waiter that saw it listed.
        w.wait("k", po("b"), 7, Some("active".into()));
        assert_eq!(w.listed("k", &list(&[])), [po("b")]);
    }
}
