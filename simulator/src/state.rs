//! The simulator's in-memory world: orders, the proxy address pool, the request log and the
//! active faults. All of it sits behind one mutex in [`super::Shared`]; nothing here awaits.

use std::{
    collections::{BTreeMap, HashMap},
    net::Ipv4Addr,
};

use rand::{Rng, distr::Alphanumeric};
use secrecy::SecretString;

use super::{
    faults::FaultSet,
    record::RequestLog,
    rules::{
        self, AddressPool, ChangePlan, ChargePlan, PasswordChange, QuantityPlan, ValidationErrors,
    },
};
use crate::wire::{Access, Order, OrderStatus, PerformRequest, Proxy};

/// Length of generated passwords (the provider's example password has 20 characters).
pub const GENERATED_PASSWORD_LEN: usize = 20;
/// Port given to orders that come without an `access` block.
pub const DEFAULT_PORT: u16 = 8000;

/// A random alphanumeric password.
pub fn generate_password() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(GENERATED_PASSWORD_LEN)
        .map(char::from)
        .collect()
}

/// Why an order operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpError {
    NotFound,
    Invalid(ValidationErrors),
}

impl From<ValidationErrors> for OpError {
    fn from(e: ValidationErrors) -> Self {
        OpError::Invalid(e)
    }
}

/// Orders plus everything derived from them.
#[derive(Debug)]
pub struct SimState {
    orders: BTreeMap<u64, Order>,
    /// Pool addresses (IPv4) currently held by some order, with a holder count.
    in_use: HashMap<Ipv4Addr, u32>,
    /// Where fresh addresses come from.
    pool: AddressPool,
    /// Where the next address allocation starts scanning the pool.
    cursor: u64,
    pub requests: RequestLog,
    pub faults: FaultSet,
}

impl SimState {
    /// Builds the state from seed orders. Orders without `proxies` get `quantity` fresh
    /// addresses; orders without `access` get port 8000, login `user<ID>` and a random
    /// password. Fails on duplicate ids or when the address pool runs out. Addresses come from
    /// the documentation pool.
    pub fn new(orders: Vec<Order>, log_capacity: usize) -> Result<Self, String> {
        Self::with_pool(orders, log_capacity, AddressPool::Documentation)
    }

    /// [`SimState::new`] with fresh addresses from `pool`. With a loopback pool, every address
    /// outside 127.0.0.0/8 that a seed order comes with is replaced by a fresh pool address
    /// (in id order), as it is in orders stored later.
    pub fn with_pool(
        orders: Vec<Order>,
        log_capacity: usize,
        pool: AddressPool,
    ) -> Result<Self, String> {
        let mut state = SimState {
            orders: BTreeMap::new(),
            in_use: HashMap::new(),
            pool,
            cursor: 0,
            requests: RequestLog::new(log_capacity),
            faults: FaultSet::default(),
        };
        // Index every given address first so allocation never hands one out twice.
        for order in orders {
            if order.id == 0 {
                return Err("order id 0 is not valid (ids start at 1)".into());
            }
            if state.orders.contains_key(&order.id) {
                return Err(format!("duplicate order id {}", order.id));
            }
            state.index(&order, true);
            state.orders.insert(order.id, order);
        }
        let ids: Vec<u64> = state.orders.keys().copied().collect();
        for id in ids {
            let mut order = state.orders.remove(&id).expect("id was just listed");
            let res = state.complete(&mut order);
            state.orders.insert(id, order);
            res.map_err(|e| format!("order {id}: {e}"))?;
        }
        Ok(state)
    }

    pub fn len(&self) -> usize {
        self.orders.len()
    }

    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }

    pub fn get(&self, id: u64) -> Option<&Order> {
        self.orders.get(&id)
    }

    pub fn orders(&self) -> impl Iterator<Item = &Order> {
        self.orders.values()
    }

    /// Creates or replaces an order (admin API). Returns the stored order and whether it was
    /// created.
    pub fn put_order(&mut self, mut order: Order) -> Result<(Order, bool), ValidationErrors> {
        if order.id == 0 {
            return Err(ValidationErrors::single(
                "id",
                "The order id must be at least 1.",
            ));
        }
        let old = self.orders.remove(&order.id);
        if let Some(old) = &old {
            self.index(old, false);
        }
        self.index(&order, true);
        if let Err(e) = self.complete(&mut order) {
            // Roll back to the previous order.
            self.index(&order, false);
            if let Some(old) = old {
                self.index(&old, true);
                self.orders.insert(old.id, old);
            }
            return Err(ValidationErrors::single("proxies", e));
        }
        let created = old.is_none();
        self.orders.insert(order.id, order.clone());
        Ok((order, created))
    }

    /// Deletes an order (admin API).
    pub fn remove_order(&mut self, id: u64) -> Option<Order> {
        let order = self.orders.remove(&id)?;
        self.index(&order, false);
        Some(order)
    }

    /// Sets the provider status (admin API).
    pub fn set_status(&mut self, id: u64, status: OrderStatus) -> Option<Order> {
        let order = self.orders.get_mut(&id)?;
        order.status = status;
        Some(order.clone())
    }

    /// Applies a validated change plan (see [`rules::plan_change`]).
    pub fn apply_change(&mut self, id: u64, plan: ChangePlan) -> Result<Order, OpError> {
        let mut order = self.orders.get(&id).cloned().ok_or(OpError::NotFound)?;
        if let Some(q) = &plan.quantity {
            self.apply_quantity(&mut order, q)?;
        }
        let access = order.access.get_or_insert_with(|| default_access(id));
        if let Some(port) = plan.port {
            access.port = port;
        }
        if let Some(login) = plan.login {
            access.login = login;
        }
        match plan.password {
            PasswordChange::Keep => {}
            PasswordChange::Set(p) => access.password = SecretString::from(p),
            PasswordChange::Generate => access.password = SecretString::from(generate_password()),
        }
        if let Some(list) = plan.ip_list {
            access.ip_list = list;
        }
        self.orders.insert(id, order.clone());
        Ok(order)
    }

    fn apply_quantity(&mut self, order: &mut Order, q: &QuantityPlan) -> Result<(), OpError> {
        let mut ips = order.proxy_ips();
        ips.retain(|ip| !q.remove.contains(ip));
        let fresh = self.allocate(q.add).ok_or_else(|| {
            ValidationErrors::single("quantity", "The simulator has no free addresses left.")
        })?;
        for ip in &q.remove {
            self.release(ip);
        }
        ips.extend(fresh);
        order.amount = rules::scale_amount(order.amount, order.quantity, q.quantity);
        order.minimal_payment = order
            .minimal_payment
            .map(|m| rules::scale_amount(m, order.quantity, q.quantity));
        order.quantity = q.quantity;
        order.proxies = Some(ips.into_iter().map(|ip| Proxy { ip }).collect());
        Ok(())
    }

    /// Runs a validated operation. `channels-change-ip` gives every proxy of the order a fresh
    /// address; the other operations change nothing the API shows.
    pub fn perform(&mut self, id: u64, req: &PerformRequest) -> Result<Order, OpError> {
        let mut order = self.orders.get(&id).cloned().ok_or(OpError::NotFound)?;
        rules::check_perform(&order, req)?;
        if req.operation == "channels-change-ip" {
            let old = order.proxy_ips();
            let fresh = self.allocate(old.len() as u32).ok_or_else(|| {
                ValidationErrors::single("operation", "The simulator has no free addresses left.")
            })?;
            for ip in &old {
                self.release(ip);
            }
            order.proxies = Some(fresh.into_iter().map(|ip| Proxy { ip }).collect());
        }
        self.orders.insert(id, order.clone());
        Ok(order)
    }

    /// Applies a validated charge: paying from the balance extends the order at once (status
    /// `active`, resources allocated, period as paid for); other merchants change nothing until
    /// the customer pays on the returned page (which never happens in the simulator).
    pub fn charge(&mut self, id: u64, plan: &ChargePlan) -> Result<Order, OpError> {
        let order = self.orders.get_mut(&id).ok_or(OpError::NotFound)?;
        if plan.from_balance {
            order.status = OrderStatus::Active;
            order.resources_allocated = true;
            order.period = plan.period;
        }
        Ok(order.clone())
    }

    /// Fills in `access` and `proxies` of an order that comes without them, and replaces the
    /// addresses the pool does not keep (see [`AddressPool::keeps`]). The order's addresses
    /// are already held; on an error nothing of `proxies` has changed.
    fn complete(&mut self, order: &mut Order) -> Result<(), String> {
        const EXHAUSTED: &str = "the simulator's address pool is exhausted";
        if order.access.is_none() {
            order.access = Some(default_access(order.id));
        }
        let Some(proxies) = &mut order.proxies else {
            let ips = self.allocate(order.quantity).ok_or(EXHAUSTED)?;
            order.proxies = Some(ips.into_iter().map(|ip| Proxy { ip }).collect());
            return Ok(());
        };
        let pool = self.pool;
        let foreign: Vec<&mut Proxy> = proxies.iter_mut().filter(|p| !pool.keeps(&p.ip)).collect();
        if !foreign.is_empty() {
            let fresh = self.allocate(foreign.len() as u32).ok_or(EXHAUSTED)?;
            for (proxy, ip) in foreign.into_iter().zip(fresh) {
                self.release(&proxy.ip);
                proxy.ip = ip;
            }
        }
        Ok(())
    }

    fn allocate(&mut self, count: u32) -> Option<Vec<String>> {
        let in_use = &self.in_use;
        let ips = rules::allocate_ips(
            self.pool,
            count,
            |ip| in_use.contains_key(&ip),
            &mut self.cursor,
        )?;
        for ip in &ips {
            self.hold(ip);
        }
        Some(ips)
    }

    fn index(&mut self, order: &Order, add: bool) {
        for ip in order.proxy_ips() {
            if add {
                self.hold(&ip);
            } else {
                self.release(&ip);
            }
        }
    }

    fn hold(&mut self, ip: &str) {
        if let Ok(v4) = ip.parse::<Ipv4Addr>() {
            *self.in_use.entry(v4).or_default() += 1;
        }
    }

    fn release(&mut self, ip: &str) {
        if let Ok(v4) = ip.parse::<Ipv4Addr>()
            && let Some(n) = self.in_use.get_mut(&v4)
        {
            *n -= 1;
            if *n == 0 {
                self.in_use.remove(&v4);
            }
        }
    }

    /// Whether an address is held by any order (for tests).
    pub fn ip_in_use(&self, ip: &str) -> bool {
        ip.parse::<Ipv4Addr>()
            .map(|v4| self.in_use.contains_key(&v4))
            .unwrap_or(false)
    }
}

fn default_access(id: u64) -> Access {
    Access {
        port: DEFAULT_PORT,
        login: format!("user{id}"),
        password: SecretString::from(generate_password()),
        ip_list: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        rules::{RuleOptions, plan_change},
        seed::example_orders,
    };
    use secrecy::ExposeSecret;

    fn state() -> SimState {
        SimState::new(example_orders(), 100).unwrap()
    }

    #[test]
    fn generated_passwords_are_alphanumeric_and_differ() {
        let a = generate_password();
        let b = generate_password();
        assert_eq!(a.len(), GENERATED_PASSWORD_LEN);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn seed_rejects_duplicates_and_fills_missing_blocks() {
        let mut orders = example_orders();
        orders.push(orders[0].clone());
        assert!(SimState::new(orders, 10).unwrap_err().contains("duplicate"));

        let mut o = example_orders().remove(0);
        o.id = 5;
        o.access = None;
        o.proxies = None;
        o.quantity = 3;
        let mut orders = example_orders();
        orders.push(o);
        let s = SimState::new(orders, 10).unwrap();
        let o = s.get(5).unwrap();
        assert_eq!(o.access.as_ref().unwrap().login, "user5");
        let ips = o.proxy_ips();
        assert_eq!(ips.len(), 3);
        // None of the new addresses collides with an address of the example orders.
        for other in example_orders() {
            for ip in other.proxy_ips() {
                assert!(!ips.contains(&ip), "{ip} reused");
            }
        }
    }

    #[test]
    fn quantity_change_swaps_addresses_and_scales_amount() {
        let mut s = state();
        let before = s.get(10001).unwrap().clone();
        let old_ips = before.proxy_ips();
        let req = serde_json::from_value(serde_json::json!({
            "remove_proxies": [old_ips[0]], "quantity": 5
        }))
        .unwrap();
        let plan = plan_change(&before, &req, RuleOptions::default()).unwrap();
        let after = s.apply_change(10001, plan).unwrap();
        let ips = after.proxy_ips();
        assert_eq!(after.quantity, 5);
        assert_eq!(ips.len(), 5);
        assert!(!ips.contains(&old_ips[0]));
        assert!(!s.ip_in_use(&old_ips[0]));
        assert!(ips.iter().all(|ip| s.ip_in_use(ip)));
        assert_eq!(after.amount, rules::scale_amount(before.amount, 3, 5));
        assert_eq!(s.get(10001).unwrap(), &after);
    }

    #[test]
    fn password_change_and_generation() {
        let mut s = state();
        let old = s.get(10000).unwrap().access.clone().unwrap();
        let plan = ChangePlan {
            password: PasswordChange::Generate,
            ..ChangePlan::noop()
        };
        let o = s.apply_change(10000, plan).unwrap();
        let new = o.access.unwrap();
        assert_ne!(new.password.expose_secret(), old.password.expose_secret());
        assert_eq!(new.login, old.login);
        let plan = ChangePlan {
            password: PasswordChange::Set("chosen-1".into()),
            ..ChangePlan::noop()
        };
        let o = s.apply_change(10000, plan).unwrap();
        assert_eq!(o.access.unwrap().password.expose_secret(), "chosen-1");
        assert_eq!(
            s.apply_change(1, ChangePlan::noop()).unwrap_err(),
            OpError::NotFound
        );
    }

    #[test]
    fn change_ip_and_charge() {
        let mut s = state();
        let old = s.get(10002).unwrap().proxy_ips();
        let req = PerformRequest {
            operation: "channels-change-ip".into(),
            ..Default::default()
        };
        let o = s.perform(10002, &req).unwrap();
        assert_eq!(o.proxy_ips().len(), old.len());
        assert_ne!(o.proxy_ips(), old);
        let bad = PerformRequest {
            operation: "channels-reset".into(),
            ..Default::default()
        };
        assert!(matches!(s.perform(10000, &bad), Err(OpError::Invalid(_))));

        let plan = ChargePlan {
            merchant: "balance".into(),
            currency: crate::wire::Currency::Usd,
            period: 60,
            payer_amount: 1.0,
            discount: 0.0,
            from_balance: true,
        };
        let o = s.charge(10001, &plan).unwrap();
        assert_eq!(o.status, OrderStatus::Active);
        assert!(o.resources_allocated);
        assert_eq!(o.period, 60);
        let mut other = plan.clone();
        other.from_balance = false;
        s.set_status(10001, OrderStatus::Waiting).unwrap();
        assert_eq!(
            s.charge(10001, &other).unwrap().status,
            OrderStatus::Waiting
        );
    }

    #[test]
    fn loopback_pool_replaces_other_addresses() {
        let pool = AddressPool::Loopback { block: 9 };
        let mut s = SimState::with_pool(example_orders(), 10, pool).unwrap();
        assert_eq!(
            s.get(10000).unwrap().proxy_ips(),
            ["127.9.0.1", "127.9.0.2"]
        );
        assert_eq!(s.get(10002).unwrap().proxy_ips(), ["127.9.0.6"]);
        assert!(!s.ip_in_use("198.51.100.1"));
        let mut o = s.get(10000).unwrap().clone();
        o.proxies = Some(vec![
            Proxy {
                ip: "127.0.5.5".into(),
            },
            Proxy {
                ip: "203.0.113.1".into(),
            },
        ]);
        let (stored, _) = s.put_order(o).unwrap();
        assert_eq!(stored.proxy_ips(), ["127.0.5.5", "127.9.0.7"]);
        assert!(!s.ip_in_use("203.0.113.1") && s.ip_in_use("127.9.0.7"));
    }

    #[test]
    fn put_and_remove_keep_the_index() {
        let mut s = state();
        let mut o = s.get(10000).unwrap().clone();
        let old_ips = o.proxy_ips();
        o.proxies = Some(vec![Proxy {
            ip: "203.0.113.77".into(),
        }]);
        let (stored, created) = s.put_order(o).unwrap();
        assert!(!created);
        assert_eq!(stored.proxy_ips(), vec!["203.0.113.77"]);
        assert!(s.ip_in_use("203.0.113.77"));
        assert!(!s.ip_in_use(&old_ips[0]));
        s.remove_order(10000).unwrap();
        assert!(!s.ip_in_use("203.0.113.77"));
        assert!(s.get(10000).is_none());
    }
}
