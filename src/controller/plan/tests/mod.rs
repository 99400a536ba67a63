//! Table-style tests of the pure decision: `plan` and `after_call`, over small fixtures. The
//! fixtures are here; the tests are in one file per topic.

mod apply;
mod errors;
mod guardrail;
mod hashes;
mod observe_only;
mod passwords;
mod preconditions;
mod quantity;
mod recovery;
mod revoke;
mod secret;
mod transitions;

use std::{collections::BTreeMap, time::Duration};

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};
use secrecy::SecretString;
use serde_json::json;

use super::{
    Apply, Call, CallKind, Inputs, MissingSecret, Observed, OwnedSecret, Plan, Requeue, Settle,
    after_call, inputs_hash, plan, request_hash, revoke_refusal,
};
use crate::{
    controller::conditions::{self, READY, Reason, SYNCED},
    credentials::{self, SecretData},
    provider::{
        Access, ChangeRequest, IpAuth, Location, Operator, Order, OrderStatus, ProviderError,
        Proxy, Service,
    },
};
use proxy_order_api::{
    PAUSED_ANNOTATION, PasswordOrigin, PasswordSource, PendingRequest, ProxyOrderSpec,
    ProxyOrderStatus, ROTATE_PASSWORD_ANNOTATION, SecretKeyRef,
};

const UID: &str = "0b6f9a52-uid";
const NAME: &str = "web";
const ORDER_ID: u64 = 10000;
/// The provider's password in the fixtures; it must never show up in status.
const PASSWORD: &str = "s3cret-canary";
const CLIENT_IP: &str = "192.0.2.1";
const PROXY_A: &str = "10.0.0.1";
const PROXY_B: &str = "10.0.0.2";

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

fn at(offset_secs: i64) -> Time {
    Time(Timestamp::from_second(1_800_000_000 + offset_secs).unwrap())
}

fn now() -> Time {
    at(0)
}

/// The fingerprint salt the operator made for the fixtures' resource (random in the operator)
/// and that its credentials Secret then carries.
fn salt() -> String {
    "9b2f61c0d4e8a7355e0c1d2b3a4f5e6d".to_string()
}

fn fp(password: &str) -> String {
    // Salted like plan::pw_fp.
    credentials::password_fingerprint(&format!("{UID}\0{}", salt()), password)
}

/// An order as the change endpoint returns it: with access and proxies.
fn order(status: OrderStatus, service: &str, password: &str) -> Order {
    Order {
        id: ORDER_ID,
        status,
        service: Service {
            id: 4,
            provider: "server-proxies".into(),
            name: service.into(),
        },
        location: Some(Location {
            id: 24,
            kind: "city".into(),
            name: "New York".into(),
            country_name: "USA".into(),
        }),
        operator: Some(Operator {
            id: 37,
            name: "Orange".into(),
        }),
        period: 30,
        quantity: 2,
        minimal_payment: Some(1.81),
        amount: 1.81,
        converted_amount: Some(100.0),
        auto_continuation: true,
        allowed_operations: vec![],
        resources_allocated: true,
        access: Some(Access {
            port: 8000,
            login: "team-a".into(),
            password: SecretString::from(password.to_string()),
            ip_list: vec![CLIENT_IP.into()],
        }),
        proxies: Some(vec![
            Proxy { ip: PROXY_A.into() },
            Proxy { ip: PROXY_B.into() },
        ]),
    }
}

/// An active city order.
fn active_order() -> Order {
    order(OrderStatus::Active, "City proxies", PASSWORD)
}

/// A city order whose term ran out.
fn expired_order() -> Order {
    order(OrderStatus::Waiting, "City proxies", PASSWORD)
}

/// An expired mobile order.
fn mobile_order() -> Order {
    order(OrderStatus::Waiting, "Mobile proxies", PASSWORD)
}

/// The same order as the order list shows it: no access, no proxies.
fn listed(mut o: Order) -> Order {
    o.access = None;
    o.proxies = None;
    o
}

fn with_password(mut o: Order, password: &str) -> Order {
    if let Some(a) = o.access.as_mut() {
        a.password = SecretString::from(password.to_string());
    }
    o
}

fn with_port(mut o: Order, port: u16) -> Order {
    if let Some(a) = o.access.as_mut() {
        a.port = port;
    }
    o
}

fn with_quantity(mut o: Order, quantity: u32) -> Order {
    o.quantity = quantity;
    o
}

/// port + login + ipAuth managed; nothing else.
fn base_spec() -> ProxyOrderSpec {
    ProxyOrderSpec {
        order_id: ORDER_ID,
        port: Some(8000),
        login: Some("team-a".into()),
        ip_auth: Some(vec![CLIENT_IP.into()]),
        ..Default::default()
    }
}

fn generate() -> Option<PasswordSource> {
    Some(PasswordSource {
        generate: Some(true),
        ..Default::default()
    })
}

fn secret_key_ref() -> Option<PasswordSource> {
    Some(PasswordSource {
        secret_key_ref: Some(SecretKeyRef {
            name: "px-pass".into(),
            key: "password".into(),
        }),
        ..Default::default()
    })
}

/// A ProxyOrder as the decision sees it.
#[derive(Clone, Debug)]
struct Res {
    generation: Option<i64>,
    annotations: BTreeMap<String, String>,
    spec: ProxyOrderSpec,
    status: ProxyOrderStatus,
}

impl Res {
    fn new(spec: ProxyOrderSpec) -> Self {
        Res {
            generation: Some(1),
            annotations: BTreeMap::new(),
            spec,
            status: ProxyOrderStatus::default(),
        }
    }

    fn inputs(&self) -> Inputs<'_> {
        Inputs {
            name: NAME,
            uid: UID,
            generation: self.generation,
            annotations: &self.annotations,
            spec: &self.spec,
            status: &self.status,
        }
    }

    fn annotate(mut self, key: &str, value: &str) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    fn with_status(mut self, status: ProxyOrderStatus) -> Self {
        self.status = status;
        self
    }

    /// A spec edit: the generation moves on.
    fn edit(mut self, f: impl FnOnce(&mut ProxyOrderSpec)) -> Self {
        f(&mut self.spec);
        self.generation = self.generation.map(|g| g + 1);
        self
    }

    fn plan(&self, obs: &Observed) -> Plan {
        plan(&self.inputs(), obs)
    }

    fn after(&self, obs: &Observed, call: &Call, result: Result<&Order, &ProviderError>) -> Settle {
        after_call(&self.inputs(), obs, call, result)
    }
}

fn observed() -> Observed {
    Observed {
        api_key: Ok("sha256:key".into()),
        password: None,
        secret: OwnedSecret::Missing,
        listed: None,
        empty_change_read: false,
        conflict: None,
        denied: None,
        fingerprint_salt: None,
        new_salt: salt(),
        answer_grace: Duration::from_secs(30),
        provider_limit: None,
        now: now(),
    }
}

/// The operator's own Secret holding `data`, with the fingerprint salt it wrote there.
fn with_secret(data: &SecretData) -> Observed {
    Observed {
        secret: OwnedSecret::Present(data.clone()),
        fingerprint_salt: Some(salt()),
        ..observed()
    }
}

fn with_ref_password(mut obs: Observed, value: &str) -> Observed {
    obs.password = Some(Ok(SecretString::from(value.to_string())));
    obs
}

fn expect_call(p: Plan) -> Call {
    match p {
        Plan::Call(c) => *c,
        Plan::Settle(s) => panic!("expected a provider call, got {s:#?}"),
    }
}

/// What a call that must carry out the spec (not a read) carries.
#[track_caller]
fn expect_apply(call: &Call) -> &Apply {
    match &call.kind {
        CallKind::Apply(apply) => apply,
        CallKind::Read => panic!("expected a call that carries out the spec, got {call:#?}"),
    }
}

fn expect_settle(p: Plan) -> Settle {
    match p {
        Plan::Settle(s) => *s,
        Plan::Call(c) => panic!("expected no provider call, got {c:#?}"),
    }
}

fn cond<'a>(st: &'a ProxyOrderStatus, type_: &str) -> &'a Condition {
    conditions::get(&st.conditions, type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {:#?}", st.conditions))
}

#[track_caller]
fn assert_cond(st: &ProxyOrderStatus, type_: &str, status: &str, reason: &str) {
    let c = cond(st, type_);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        (status, reason),
        "{type_}: {c:#?}"
    );
}

/// Plans, expects a call, and feeds it a successful answer.
fn call_ok(res: &Res, obs: &Observed, response: &Order) -> (Call, Settle) {
    let call = expect_call(res.plan(obs));
    let settle = res.after(obs, &call, Ok(response));
    (call, settle)
}

/// The resource after a successful first reconcile, and the Secret data that produced.
fn applied(spec: ProxyOrderSpec) -> (Res, SecretData) {
    let res = Res::new(spec);
    let (_, s) = call_ok(&res, &observed(), &active_order());
    let data = s.secret.expect("the first success writes the Secret");
    (res.with_status(s.status), data)
}

fn request(f: impl FnOnce(&mut ChangeRequest)) -> ChangeRequest {
    let mut r = ChangeRequest::default();
    f(&mut r);
    r
}

fn http_error(status: u16, retry_after: Option<u64>, body: &str) -> ProviderError {
    ProviderError::from_response(
        status,
        retry_after.map(Duration::from_secs),
        body.as_bytes(),
        &[],
    )
}
