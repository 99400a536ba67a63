//! Table-style tests of the pure decision: `plan` and `after_call`, over small fixtures.

use std::{collections::BTreeMap, time::Duration};

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};
use secrecy::SecretString;
use serde_json::json;

use super::{
    conditions::{self, READY, Reason, SYNCED},
    plan::{
        Call, CallKind, Inputs, MissingSecret, Observed, OwnedSecret, Plan, Requeue, Settle,
        after_call, inputs_hash, plan, request_hash, revoke_refusal,
    },
};
use crate::{
    crd::{
        PAUSED_ANNOTATION, PasswordOrigin, PasswordSource, PendingRequest, ProxyOrderSpec,
        ProxyOrderStatus, ROTATE_PASSWORD_ANNOTATION, SecretKeyRef,
    },
    credentials::{self, SecretData},
    provider::{
        Access, ChangeRequest, IpAuth, Location, Operator, Order, OrderStatus, ProviderError,
        Proxy, Service,
    },
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

/// The fingerprint salt the fixtures' resource starts with (derived from its UID and API-key
/// fingerprint) and that its credentials Secret then carries.
fn salt() -> String {
    credentials::fingerprint(["fingerprint-salt", UID, "sha256:key"])
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
        answer_grace: Duration::from_secs(30),
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

// ---------------------------------------------------------------------------------------------
// 1-4: first apply, publish, steady state, a managed field changes
// ---------------------------------------------------------------------------------------------

#[test]
fn first_reconcile_sends_exactly_the_managed_auth_fields() {
    let res = Res::new(base_spec());
    let call = expect_call(res.plan(&observed()));
    assert_eq!(call.kind, CallKind::Apply);
    assert_eq!(
        call.request,
        request(|r| {
            r.port = Some(8000);
            r.login = Some("team-a".into());
            r.ip_auth = Some(IpAuth::List(vec![CLIENT_IP.into()]));
        })
    );
    assert_eq!(
        serde_json::to_value(&call.request).unwrap(),
        json!({"port": 8000, "login": "team-a", "ip_auth": [CLIENT_IP]})
    );
    assert_eq!(call.pending, None, "an auth-only change is idempotent");
    assert_eq!(call.rotation, None);
    assert_eq!(call.origin, None);
    assert_eq!(call.held, None);
    assert!(call.applied_hash.is_some());
}

#[test]
fn first_success_publishes_credentials_and_mirrors_status_without_the_password() {
    let res = Res::new(base_spec());
    let obs = observed();
    let (call, s) = call_ok(&res, &obs, &active_order());
    let st = &s.status;

    assert_eq!(s.requeue, Requeue::Refresh);
    assert_eq!(st.observed_generation, Some(1));
    let access = st.access.as_ref().unwrap();
    assert_eq!(
        (access.port, access.login.as_str(), access.ip_list.clone()),
        (8000, "team-a", vec![CLIENT_IP.to_string()])
    );
    assert_eq!(st.proxies, Some(vec![PROXY_A.into(), PROXY_B.into()]));
    let order = st.order.as_ref().unwrap();
    assert_eq!(order.status, "active");
    assert_eq!(order.service.as_deref(), Some("City proxies"));
    assert_eq!(order.location.as_deref(), Some("New York, USA"));
    assert_eq!(order.operator.as_deref(), Some("Orange"));
    assert_eq!((order.period, order.quantity), (30, 2));
    assert_eq!(order.amount, "1.81");
    assert_eq!(order.converted_amount.as_deref(), Some("100"));
    assert_eq!(order.currency.as_deref(), Some("USD"));
    assert!(order.auto_continuation && order.resources_allocated);

    assert_eq!(st.password_fingerprint, Some(fp(PASSWORD)));
    assert_eq!(st.password_origin, Some(PasswordOrigin::Provider));
    assert_eq!(st.last_applied_hash, call.applied_hash);
    assert!(st.last_applied_hash.is_some());
    assert_eq!(st.last_sync_time, Some(now()));
    assert_eq!(st.secret_name.as_deref(), Some("web-proxy"));
    assert_eq!(st.pending_request, None);
    assert_cond(st, READY, "True", "Applied");
    assert_cond(st, SYNCED, "True", "Applied");
    assert!(cond(st, READY).message.contains("web-proxy"));
    assert_eq!(cond(st, READY).observed_generation, Some(1));

    let json = serde_json::to_string(st).unwrap();
    assert!(
        !json.contains(PASSWORD),
        "password leaked into status: {json}"
    );

    let data = s.secret.expect("Secret data").0;
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["ips", "login", "password", "port", "proxies.txt", "urls"]
    );
    assert_eq!(data["password"], PASSWORD);
    assert_eq!(data["port"], "8000");
    assert_eq!(data["ips"], format!("{PROXY_A}\n{PROXY_B}\n"));
}

#[test]
fn an_unchanged_resource_costs_no_call_and_no_write() {
    let (res, data) = applied(base_spec());
    let later = |obs: Observed| Observed {
        now: at(3600),
        ..obs
    };
    let table = [
        ("not fetched", later(with_secret(&data))),
        (
            "listed and unchanged",
            Observed {
                listed: Some(Ok(Some(listed(active_order())))),
                ..later(with_secret(&data))
            },
        ),
    ];
    for (name, obs) in table {
        let s = expect_settle(res.plan(&obs));
        assert_eq!(s.secret, None, "{name}");
        assert_eq!(s.status, res.status, "{name}: status must not change");
        assert_eq!(s.requeue, Requeue::Refresh, "{name}");
    }
}

#[test]
fn a_changed_managed_field_sends_only_that_field() {
    let (res, data) = applied(base_spec());
    type Edit = fn(&mut ProxyOrderSpec);
    let table: [(&str, Edit, ChangeRequest); 5] = [
        (
            "port",
            |s| s.port = Some(8001),
            request(|r| r.port = Some(8001)),
        ),
        (
            "login",
            |s| s.login = Some("team-b".into()),
            request(|r| r.login = Some("team-b".into())),
        ),
        (
            "ipAuth added",
            |s| s.ip_auth = Some(vec!["198.51.100.7".into(), CLIENT_IP.into()]),
            request(|r| {
                r.ip_auth = Some(IpAuth::List(vec!["198.51.100.7".into(), CLIENT_IP.into()]))
            }),
        ),
        (
            "ipAuth cleared",
            |s| s.ip_auth = Some(vec![]),
            request(|r| r.ip_auth = Some(IpAuth::List(vec![]))),
        ),
        (
            "port and login",
            |s| {
                s.port = Some(9000);
                s.login = Some("x".into());
            },
            request(|r| {
                r.port = Some(9000);
                r.login = Some("x".into());
            }),
        ),
    ];
    for (name, edit, want) in table {
        let res = res.clone().edit(edit);
        let call = expect_call(res.plan(&with_secret(&data)));
        assert_eq!(call.kind, CallKind::Apply, "{name}");
        assert_eq!(call.request, want, "{name}");
        assert_eq!(call.pending, None, "{name}");
        assert_ne!(call.applied_hash, res.status.last_applied_hash, "{name}");
    }

    // Fields that are no longer managed send nothing.
    let table: [(&str, Edit); 3] = [
        ("port unmanaged", |s| s.port = None),
        ("login unmanaged", |s| s.login = None),
        ("ipAuth unmanaged", |s| s.ip_auth = None),
    ];
    for (name, edit) in table {
        let res = res.clone().edit(edit);
        let s = expect_settle(res.plan(&with_secret(&data)));
        assert_eq!(s.secret, None, "{name}");
        assert_cond(&s.status, SYNCED, "True", "Applied");
    }
}

#[test]
fn ip_auth_order_does_not_matter() {
    let mut spec = base_spec();
    spec.ip_auth = Some(vec![CLIENT_IP.into(), "198.51.100.7".into()]);
    let res = Res::new(spec);
    let mut response = active_order();
    response.access.as_mut().unwrap().ip_list = vec!["198.51.100.7".into(), CLIENT_IP.into()];
    let (_, s) = call_ok(&res, &observed(), &response);
    let data = s.secret.unwrap();
    let res = res.with_status(s.status);
    expect_settle(res.plan(&with_secret(&data)));
}

// ---------------------------------------------------------------------------------------------
// 5: generated passwords and the rotate annotation
// ---------------------------------------------------------------------------------------------

#[test]
fn generate_asks_for_a_password_once() {
    let (res, data) = applied(base_spec());
    let res = res.edit(|s| s.password = generate());
    let obs = with_secret(&data);
    let call = expect_call(res.plan(&obs));
    assert_eq!(call.request, request(|r| r.gen_password = Some(true)));
    assert_eq!(call.origin, Some(PasswordOrigin::Generated));
    assert_eq!(call.rotation, None);
    assert_eq!(
        call.pending,
        Some(PendingRequest {
            hash: request_hash(&call.request, &res.inputs(), &obs),
            gen_password: true,
            remove_proxies: vec![],
            previous_password_fingerprint: Some(fp(PASSWORD)),
            rotation: None,
            started_at: now(),
            read_not_before: None,
        })
    );

    let s = res.after(&obs, &call, Ok(&with_password(active_order(), "gen-1")));
    assert_eq!(s.status.password_origin, Some(PasswordOrigin::Generated));
    assert_eq!(s.status.password_fingerprint, Some(fp("gen-1")));
    assert_eq!(s.status.pending_request, None);
    let data = s.secret.expect("the new password goes to the Secret");
    assert_eq!(data.0["password"], "gen-1");

    // Generated already: nothing more to do.
    let res = res.with_status(s.status);
    let s = expect_settle(res.plan(&with_secret(&data)));
    assert_eq!(s.secret, None);
    assert_eq!(s.status, res.status);
}

#[test]
fn rotate_annotation_generates_once_per_token() {
    let (res, data) = applied(base_spec());
    let res = res.edit(|s| s.password = generate());
    let mut status = res.status.clone();
    status.password_origin = Some(PasswordOrigin::Generated);
    let res = res
        .with_status(status)
        .annotate(ROTATE_PASSWORD_ANNOTATION, "t1");
    let obs = with_secret(&data);

    let call = expect_call(res.plan(&obs));
    assert_eq!(call.request, request(|r| r.gen_password = Some(true)));
    assert_eq!(call.rotation.as_deref(), Some("t1"));
    let pending = call
        .pending
        .clone()
        .expect("gen_password is recorded first");
    assert!(pending.gen_password);
    assert_eq!(pending.rotation.as_deref(), Some("t1"));
    assert_eq!(pending.previous_password_fingerprint, Some(fp(PASSWORD)));

    let s = res.after(&obs, &call, Ok(&with_password(active_order(), "gen-2")));
    assert_eq!(s.status.password_rotation.as_deref(), Some("t1"));
    assert_eq!(s.status.password_fingerprint, Some(fp("gen-2")));
    let data = s.secret.unwrap();

    // The same token again: nothing.
    let res = res.with_status(s.status);
    let s = expect_settle(res.plan(&with_secret(&data)));
    assert_eq!(s.secret, None);
    assert_eq!(s.status, res.status);

    // A new token: one more.
    let res = res.annotate(ROTATE_PASSWORD_ANNOTATION, "t2");
    let call = expect_call(res.plan(&with_secret(&data)));
    assert_eq!(call.request, request(|r| r.gen_password = Some(true)));
    assert_eq!(call.rotation.as_deref(), Some("t2"));
}

#[test]
fn rotate_annotation_also_works_when_the_password_is_unmanaged() {
    let (res, data) = applied(base_spec());
    let res = res.annotate(ROTATE_PASSWORD_ANNOTATION, "t1");
    let call = expect_call(res.plan(&with_secret(&data)));
    assert_eq!(call.request, request(|r| r.gen_password = Some(true)));
    assert_eq!(call.rotation.as_deref(), Some("t1"));
    // An empty token asks for nothing.
    let res = res.annotate(ROTATE_PASSWORD_ANNOTATION, "");
    expect_settle(res.plan(&with_secret(&data)));
}

// ---------------------------------------------------------------------------------------------
// 6: passwords from a Secret
// ---------------------------------------------------------------------------------------------

#[test]
fn secret_key_ref_password_is_sent_and_resent_on_change_only() {
    const FIRST: &str = "hunter22-canary";
    const SECOND: &str = "second-canary";
    let (res, data) = applied(base_spec());
    let res = res.edit(|s| s.password = secret_key_ref());

    let obs = with_ref_password(with_secret(&data), FIRST);
    let call = expect_call(res.plan(&obs));
    assert_eq!(
        call.request,
        request(|r| r.password = Some(SecretString::from(FIRST)))
    );
    assert_eq!(call.origin, Some(PasswordOrigin::SecretKeyRef));
    assert_eq!(call.pending, None, "sending a value is idempotent");

    let s = res.after(&obs, &call, Ok(&with_password(active_order(), FIRST)));
    assert_eq!(s.status.password_origin, Some(PasswordOrigin::SecretKeyRef));
    assert_eq!(s.status.password_fingerprint, Some(fp(FIRST)));
    let json = serde_json::to_string(&s.status).unwrap();
    assert!(!json.contains(FIRST), "{json}");
    assert!(!json.contains(PASSWORD), "{json}");
    let data = s.secret.unwrap();
    assert_eq!(data.0["password"], FIRST);
    let res = res.with_status(s.status);

    // Same value: nothing.
    let s = expect_settle(res.plan(&with_ref_password(with_secret(&data), FIRST)));
    assert_eq!(s.secret, None);
    assert_eq!(s.status, res.status);

    // A new value: one call carrying it.
    let call = expect_call(res.plan(&with_ref_password(with_secret(&data), SECOND)));
    assert_eq!(
        call.request,
        request(|r| r.password = Some(SecretString::from(SECOND)))
    );
    assert_ne!(call.applied_hash, res.status.last_applied_hash);

    // A rotate annotation cannot override a password from a Secret.
    let res = res.annotate(ROTATE_PASSWORD_ANNOTATION, "t1");
    expect_settle(res.plan(&with_ref_password(with_secret(&data), FIRST)));
}

// ---------------------------------------------------------------------------------------------
// 7: quantity
// ---------------------------------------------------------------------------------------------

#[test]
fn quantity_change_waits_while_the_order_is_active() {
    let (res, data) = applied(base_spec());
    let res = res.edit(|s| s.quantity = Some(3));
    let obs = Observed {
        listed: Some(Ok(Some(listed(active_order())))),
        ..with_secret(&data)
    };
    let s = expect_settle(res.plan(&obs));
    assert_eq!(s.secret, None);
    assert_eq!(s.requeue, Requeue::Refresh);
    assert_cond(&s.status, READY, "True", "Applied");
    assert_cond(&s.status, SYNCED, "False", "WaitingForExpiry");
    let msg = &cond(&s.status, SYNCED).message;
    assert!(
        msg.contains("from 2 to 3") && msg.contains("active"),
        "{msg}"
    );

    // The order status known from status works the same without a list.
    let s = expect_settle(res.plan(&with_secret(&data)));
    assert_cond(&s.status, SYNCED, "False", "WaitingForExpiry");

    // Other changes still go through, without the quantity.
    let res = res.edit(|s| s.port = Some(8001));
    let call = expect_call(res.plan(&obs));
    assert_eq!(call.request, request(|r| r.port = Some(8001)));
    assert!(call.held.as_deref().unwrap().contains("from 2 to 3"));
    let s = res.after(&obs, &call, Ok(&with_port(active_order(), 8001)));
    assert_cond(&s.status, READY, "True", "Applied");
    assert_cond(&s.status, SYNCED, "False", "WaitingForExpiry");
}

#[test]
fn quantity_change_on_an_expired_order() {
    let (res, data) = applied(base_spec());
    let some_ips = |ips: &[&str]| Some(ips.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    struct Case {
        name: &'static str,
        order: Order,
        remove: Option<Vec<String>>,
        want: ChangeRequest,
    }
    let table = [
        Case {
            name: "city, removals filtered to the order's proxies",
            order: expired_order(),
            remove: some_ips(&["203.0.113.9", PROXY_B]),
            want: request(|r| {
                r.quantity = Some(3);
                r.remove_proxies = some_ips(&[PROXY_B]);
            }),
        },
        Case {
            name: "city, no removals",
            order: expired_order(),
            remove: None,
            want: request(|r| r.quantity = Some(3)),
        },
        Case {
            name: "city, no removal in the order",
            order: expired_order(),
            remove: some_ips(&["203.0.113.9"]),
            want: request(|r| r.quantity = Some(3)),
        },
        Case {
            name: "mobile: quantity only",
            order: mobile_order(),
            remove: some_ips(&[PROXY_A]),
            want: request(|r| r.quantity = Some(3)),
        },
    ];
    for c in table {
        let res = res.clone().edit(|s| {
            s.quantity = Some(3);
            s.remove_proxies = c.remove.clone();
        });
        let obs = Observed {
            listed: Some(Ok(Some(listed(c.order.clone())))),
            ..with_secret(&data)
        };
        let call = expect_call(res.plan(&obs));
        assert_eq!(call.kind, CallKind::Apply, "{}", c.name);
        assert_eq!(call.request, c.want, "{}", c.name);
        assert_eq!(call.held, None, "{}", c.name);
        match &c.want.remove_proxies {
            Some(removed) => assert_eq!(
                call.pending,
                Some(PendingRequest {
                    hash: request_hash(&call.request, &res.inputs(), &obs),
                    gen_password: false,
                    remove_proxies: removed.clone(),
                    previous_password_fingerprint: Some(fp(PASSWORD)),
                    rotation: None,
                    started_at: now(),
                    read_not_before: None,
                }),
                "{}",
                c.name
            ),
            None => assert_eq!(call.pending, None, "{}", c.name),
        }
    }
}

#[test]
fn quantity_uses_the_known_order_when_the_list_was_not_fetched() {
    // A mobile order, last seen expired: quantity only, judged from status.order.
    let res = Res::new(base_spec());
    let (_, s) = call_ok(&res, &observed(), &mobile_order());
    let data = s.secret.unwrap();
    let res = res.with_status(s.status).edit(|s| {
        s.quantity = Some(5);
        s.remove_proxies = Some(vec![PROXY_A.into()]);
    });
    let call = expect_call(res.plan(&with_secret(&data)));
    assert_eq!(call.request, request(|r| r.quantity = Some(5)));

    // Reaching the quantity settles as Synced.
    let s = res.after(
        &with_secret(&data),
        &call,
        Ok(&with_quantity(mobile_order(), 5)),
    );
    assert_cond(&s.status, SYNCED, "True", "Applied");
    let res = res.with_status(s.status);
    expect_settle(res.plan(&with_secret(&data)));
}

#[test]
fn quantity_with_nothing_known_reads_first() {
    let mut spec = base_spec();
    spec.quantity = Some(3);
    spec.port = None;
    spec.login = None;
    spec.ip_auth = None;
    let res = Res::new(spec);
    // Without a way to read, the credentials stay unknown.
    let s = expect_settle(res.plan(&observed()));
    assert_cond(&s.status, READY, "False", "CredentialsUnknown");
    let call = expect_call(res.plan(&Observed {
        empty_change_read: true,
        ..observed()
    }));
    assert_eq!(call.kind, CallKind::Read);
    assert!(call.request.is_empty());
}

// ---------------------------------------------------------------------------------------------
// 8: provider errors
// ---------------------------------------------------------------------------------------------

#[test]
fn provider_errors_set_conditions_and_requeue() {
    struct Case {
        name: &'static str,
        error: ProviderError,
        reason: &'static str,
        message: &'static str,
        requeue: Requeue,
    }
    let table = [
        Case {
            name: "401",
            error: http_error(401, None, ""),
            reason: "Unauthorized",
            message: "401",
            requeue: Requeue::Terminal,
        },
        Case {
            name: "404",
            error: http_error(404, None, ""),
            reason: "OrderNotFound",
            message: "404",
            requeue: Requeue::Terminal,
        },
        Case {
            name: "422",
            error: http_error(422, None, r#"{"message":"Only auth data can be changed"}"#),
            reason: "ProviderRejected",
            message: "Only auth data can be changed",
            requeue: Requeue::Terminal,
        },
        Case {
            name: "503",
            error: http_error(503, Some(7), ""),
            reason: "ProviderUnavailable",
            message: "503",
            requeue: Requeue::Backoff {
                retry_after: Some(Duration::from_secs(7)),
            },
        },
        Case {
            name: "429",
            error: http_error(429, Some(30), ""),
            reason: "ProviderUnavailable",
            message: "429",
            requeue: Requeue::Backoff {
                retry_after: Some(Duration::from_secs(30)),
            },
        },
        Case {
            name: "timeout",
            error: ProviderError::Timeout(Duration::from_secs(10)),
            reason: "ProviderUnavailable",
            message: "did not answer",
            requeue: Requeue::Backoff { retry_after: None },
        },
    ];
    let res = Res::new(base_spec());
    let obs = observed();
    let call = expect_call(res.plan(&obs));
    for c in table {
        let s = res.after(&obs, &call, Err(&c.error));
        assert_eq!(s.secret, None, "{}", c.name);
        assert_eq!(s.requeue, c.requeue, "{}", c.name);
        assert_cond(&s.status, READY, "False", c.reason);
        assert_cond(&s.status, SYNCED, "False", c.reason);
        let msg = &cond(&s.status, SYNCED).message;
        assert!(msg.contains(c.message), "{}: {msg}", c.name);
        assert_eq!(s.status.last_applied_hash, None, "{}", c.name);
        assert_eq!(s.status.access, None, "{}", c.name);
    }
}

#[test]
fn transient_errors_keep_a_ready_resource_ready_terminal_ones_do_not() {
    let (res, data) = applied(base_spec());
    let res = res.edit(|s| s.port = Some(8001));
    let obs = with_secret(&data);
    let call = expect_call(res.plan(&obs));

    // A 503 on the change call: the provider may have acted on it, so the Secret may be
    // stale and the resource is not Ready.
    let s = res.after(&obs, &call, Err(&http_error(503, None, "")));
    assert_cond(&s.status, READY, "False", "ProviderUnavailable");
    assert_cond(&s.status, SYNCED, "False", "ProviderUnavailable");

    // A 503 on the order list changes nothing at the provider: the Secret, still current,
    // keeps the resource Ready.
    let s = expect_settle(res.plan(&Observed {
        listed: Some(Err(http_error(503, None, ""))),
        ..with_secret(&data)
    }));
    assert_cond(&s.status, READY, "True", "Applied");
    assert_cond(&s.status, SYNCED, "False", "ProviderUnavailable");
    assert_eq!(
        cond(&s.status, READY).last_transition_time,
        cond(&res.status, READY).last_transition_time
    );
    // Without the Secret it is not.
    let s = expect_settle(res.plan(&Observed {
        listed: Some(Err(http_error(503, None, ""))),
        ..observed()
    }));
    assert_cond(&s.status, READY, "False", "ProviderUnavailable");
    let s = res.after(&obs, &call, Err(&http_error(503, None, "")));
    // What was last applied is still what was last applied.
    assert_eq!(s.status.last_applied_hash, res.status.last_applied_hash);
    assert_eq!(s.status.access, res.status.access);

    let s = res.after(&obs, &call, Err(&http_error(401, None, "")));
    assert_cond(&s.status, READY, "False", "Unauthorized");
    assert_cond(&s.status, SYNCED, "False", "Unauthorized");
    assert_eq!(s.requeue, Requeue::Terminal);
}

#[test]
fn a_lost_answer_keeps_the_pending_intent_an_http_answer_clears_it() {
    let (res, data) = applied(base_spec());
    let res = res.annotate(ROTATE_PASSWORD_ANNOTATION, "t1");
    let obs = with_secret(&data);
    let call = expect_call(res.plan(&obs));
    let pending = call.pending.clone().expect("gen_password is recorded");
    // The reconciler records the intent before calling.
    let mut recorded = res.status.clone();
    recorded.pending_request = Some(pending.clone());
    let res = res.with_status(recorded);

    let table = [
        (ProviderError::Transport("connection reset".into()), true),
        (ProviderError::Timeout(Duration::from_secs(10)), true),
        // A gateway may answer 5xx after the provider acted: the intent stays.
        (http_error(503, None, ""), true),
        (http_error(422, None, r#"{"message":"no"}"#), false),
    ];
    // A kept intent is not read back while the provider could still be carrying the request
    // out: two request timeouts (`answer_grace`, 30 s here) and a second after `now`, which
    // is from before the call.
    let lost = PendingRequest {
        read_not_before: Some(at(61)),
        ..pending.clone()
    };
    for (error, kept) in table {
        let s = res.after(&obs, &call, Err(&error));
        let want = if kept { Some(lost.clone()) } else { None };
        assert_eq!(s.status.pending_request, want, "{error}");
        assert_eq!(s.status.password_rotation, None, "{error}");
    }

    // Even when the intent was not yet in the status the reconciler passed, a lost answer
    // records it.
    let (res, _) = applied(base_spec());
    let res = res.annotate(ROTATE_PASSWORD_ANNOTATION, "t1");
    let s = res.after(&obs, &call, Err(&ProviderError::Transport("reset".into())));
    assert_eq!(s.status.pending_request, Some(lost));
}

#[test]
fn a_lost_answer_is_read_back_only_after_the_grace() {
    let (res, data) = applied(base_spec());
    let res = res.annotate(ROTATE_PASSWORD_ANNOTATION, "t1");
    let obs = with_secret(&data);
    let call = expect_call(res.plan(&obs));
    let mut recorded = res.status.clone();
    recorded.pending_request = call.pending.clone();
    let s = res.with_status(recorded).after(
        &obs,
        &call,
        Err(&ProviderError::Timeout(Duration::from_secs(30))),
    );
    let res = Res::new(base_spec())
        .annotate(ROTATE_PASSWORD_ANNOTATION, "t1")
        .with_status(s.status);

    // 10 s later: no call, wait the remaining 51 s.
    let early = Observed {
        now: at(10),
        ..with_secret(&data)
    };
    match res.plan(&early) {
        Plan::Settle(s) => assert_eq!(
            s.requeue,
            Requeue::Backoff {
                retry_after: Some(Duration::from_secs(51))
            }
        ),
        Plan::Call(c) => panic!("read before the grace ended: {:?}", c.request),
    }
    // Once it has passed: the read that resolves the intent.
    let late = Observed {
        now: at(61),
        ..with_secret(&data)
    };
    let read = expect_call(res.plan(&late));
    assert_eq!(read.kind, CallKind::Read);
}

#[test]
fn a_success_without_access_is_a_transient_failure() {
    let res = Res::new(base_spec());
    let obs = observed();
    let call = expect_call(res.plan(&obs));
    let s = res.after(&obs, &call, Ok(&listed(active_order())));
    assert_eq!(s.secret, None);
    assert_cond(&s.status, READY, "False", "ProviderUnavailable");
    assert!(matches!(s.requeue, Requeue::Backoff { .. }));
}

// ---------------------------------------------------------------------------------------------
// 9-11: missing Secrets, paused, the order list
// ---------------------------------------------------------------------------------------------

#[test]
fn missing_referenced_secrets_stop_before_any_call() {
    let missing = |purpose: &'static str, name: &str, key: &str, key_missing: bool| MissingSecret {
        purpose,
        namespace: "team".into(),
        name: name.into(),
        key: key.into(),
        key_missing,
    };
    let (applied_res, data) = applied(base_spec());
    let mut ref_spec = base_spec();
    ref_spec.password = secret_key_ref();
    let table = [
        (
            "API key Secret",
            Res::new(base_spec()),
            Observed {
                api_key: Err(missing("API key", "px-key", "api-key", false)),
                ..observed()
            },
            "team/px-key",
            "api-key",
        ),
        (
            "API key of a Ready resource",
            applied_res.clone(),
            Observed {
                api_key: Err(missing("API key", "px-key", "api-key", true)),
                ..with_secret(&data)
            },
            "team/px-key",
            "api-key",
        ),
        (
            "password Secret",
            Res::new(ref_spec),
            Observed {
                password: Some(Err(missing("password", "px-pass", "pw", true))),
                ..observed()
            },
            "team/px-pass",
            "pw",
        ),
    ];
    for (name, res, obs, secret, key) in table {
        let s = expect_settle(res.plan(&obs));
        assert_eq!(s.secret, None, "{name}");
        assert_eq!(s.requeue, Requeue::Terminal, "{name}");
        assert_cond(&s.status, READY, "False", "SecretNotFound");
        assert_cond(&s.status, SYNCED, "False", "SecretNotFound");
        let msg = &cond(&s.status, READY).message;
        assert!(msg.contains(secret) && msg.contains(key), "{name}: {msg}");
    }
}

#[test]
fn paused_makes_no_call_and_changes_only_synced() {
    let (res, data) = applied(base_spec());
    let res = res
        .edit(|s| s.port = Some(8001))
        .annotate(ROTATE_PASSWORD_ANNOTATION, "t1")
        .annotate(PAUSED_ANNOTATION, "true");
    let obs = Observed {
        now: at(60),
        ..with_ref_password(with_secret(&data), "whatever")
    };
    let s = expect_settle(res.plan(&obs));
    assert_eq!(s.secret, None);
    assert_eq!(s.requeue, Requeue::AwaitChange);
    assert_cond(&s.status, SYNCED, "False", "Paused");
    assert!(cond(&s.status, SYNCED).message.contains(PAUSED_ANNOTATION));
    assert_eq!(cond(&s.status, READY), cond(&res.status, READY));

    let strip = |st: &ProxyOrderStatus| ProxyOrderStatus {
        conditions: vec![],
        observed_generation: None,
        ..st.clone()
    };
    assert_eq!(strip(&s.status), strip(&res.status));

    // While paused nothing is called or fixed, but Ready does not claim a Secret it cannot
    // confirm: a missing API key or a foreign Secret turn it False.
    let obs = Observed {
        api_key: Err(MissingSecret {
            purpose: "API key",
            namespace: "team".into(),
            name: "k".into(),
            key: "k".into(),
            key_missing: false,
        }),
        secret: OwnedSecret::Foreign,
        ..observed()
    };
    let s = expect_settle(res.plan(&obs));
    assert_eq!(s.secret, None);
    assert_cond(&s.status, READY, "False", "Paused");
    assert_cond(&s.status, SYNCED, "False", "Paused");

    // Any other value is not paused.
    let res = res.annotate(PAUSED_ANNOTATION, "false");
    expect_call(res.plan(&with_secret(&data)));
}

#[test]
fn the_order_list_can_end_the_decision_without_a_call() {
    let (res, data) = applied(base_spec());
    let table = [
        (
            "not in the list",
            Some(Ok(None)),
            "OrderNotFound",
            Requeue::Terminal,
        ),
        (
            "401 on the list",
            Some(Err(http_error(401, None, ""))),
            "Unauthorized",
            Requeue::Terminal,
        ),
    ];
    for (name, listed, reason, requeue) in table {
        for res in [Res::new(base_spec()), res.clone()] {
            let obs = Observed {
                listed: listed.clone(),
                ..with_secret(&data)
            };
            let s = expect_settle(res.plan(&obs));
            assert_eq!(s.secret, None, "{name}");
            assert_eq!(s.requeue, requeue, "{name}");
            assert_cond(&s.status, READY, "False", reason);
            assert_cond(&s.status, SYNCED, "False", reason);
            if reason == "OrderNotFound" {
                let msg = &cond(&s.status, READY).message;
                assert!(msg.contains(&ORDER_ID.to_string()), "{msg}");
            }
        }
    }

    // A transient failure of the list on a Ready resource: Ready stays, back off.
    let obs = Observed {
        listed: Some(Err(http_error(503, Some(5), ""))),
        ..with_secret(&data)
    };
    let s = expect_settle(res.plan(&obs));
    assert_cond(&s.status, READY, "True", "Applied");
    assert_cond(&s.status, SYNCED, "False", "ProviderUnavailable");
    assert_eq!(
        s.requeue,
        Requeue::Backoff {
            retry_after: Some(Duration::from_secs(5))
        }
    );
}

#[test]
fn the_listed_order_refreshes_the_order_summary() {
    let (res, data) = applied(base_spec());
    let mut renewed = listed(active_order());
    renewed.auto_continuation = false;
    renewed.amount = 2.5;
    let obs = Observed {
        listed: Some(Ok(Some(renewed))),
        ..with_secret(&data)
    };
    let s = expect_settle(res.plan(&obs));
    let order = s.status.order.as_ref().unwrap();
    assert!(!order.auto_continuation);
    assert_eq!(order.amount, "2.5");
    assert_eq!(s.secret, None);
}

// ---------------------------------------------------------------------------------------------
// 12: crash recovery
// ---------------------------------------------------------------------------------------------

/// A resource whose generated password was last rotated for `t0`, asked to rotate for `t1`,
/// with the `t1` generation interrupted before its outcome was recorded.
fn interrupted_rotation() -> (Res, SecretData) {
    let (res, data) = applied(base_spec());
    let res = res
        .edit(|s| s.password = generate())
        .annotate(ROTATE_PASSWORD_ANNOTATION, "t1");
    let mut status = res.status.clone();
    status.password_origin = Some(PasswordOrigin::Generated);
    status.password_rotation = Some("t0".into());
    status.pending_request = Some(PendingRequest {
        hash: request_hash(
            &request(|r| r.gen_password = Some(true)),
            &res.inputs(),
            &observed(),
        ),
        gen_password: true,
        remove_proxies: vec![],
        previous_password_fingerprint: Some(fp(PASSWORD)),
        rotation: Some("t1".into()),
        // Long enough ago that the provider can no longer be carrying it out.
        started_at: at(-61),
        read_not_before: None,
    });
    (res.with_status(status), data)
}

#[test]
fn an_interrupted_request_is_resolved_by_a_read() {
    let (res, data) = interrupted_rotation();
    for (empty_change_read, body) in [(true, json!({})), (false, json!({"port": 8000}))] {
        let obs = Observed {
            empty_change_read,
            ..with_secret(&data)
        };
        let call = expect_call(res.plan(&obs));
        assert_eq!(call.kind, CallKind::Read);
        assert_eq!(serde_json::to_value(&call.request).unwrap(), body);
        assert_eq!(call.pending, None);
        assert_eq!(call.applied_hash, None);
    }
}

#[test]
fn an_intent_left_by_a_dead_process_is_read_only_after_the_answer_grace() {
    // Only the intent was recorded (no readNotBefore): the process died during the call. A
    // new process must not read before started_at + 2 x timeout + 1 s, or it could read the
    // old password while the provider is still generating and then generate a second time.
    let (res, data) = interrupted_rotation();
    let mut status = res.status.clone();
    let pending = status.pending_request.as_mut().unwrap();
    pending.started_at = at(-10);
    assert_eq!(pending.read_not_before, None);
    let res = res.with_status(status);
    for now in [0, 30, 50] {
        let obs = Observed {
            now: at(now),
            ..with_secret(&data)
        };
        let s = expect_settle(res.plan(&obs));
        assert_eq!(
            s.requeue,
            Requeue::Backoff {
                retry_after: Some(Duration::from_secs((51 - now) as u64))
            },
            "at {now}s"
        );
        assert_eq!(s.status.pending_request, res.status.pending_request);
        assert_eq!(s.secret, None);
        // Status does not claim the spec applied or the Secret current meanwhile.
        assert_cond(&s.status, SYNCED, "False", "Progressing");
        assert_cond(&s.status, READY, "False", "Progressing");
        assert!(
            cond(&s.status, SYNCED)
                .message
                .contains("password generation"),
            "{:?}",
            cond(&s.status, SYNCED)
        );
    }
    let obs = Observed {
        now: at(51),
        ..with_secret(&data)
    };
    assert_eq!(expect_call(res.plan(&obs)).kind, CallKind::Read);

    // A recorded readNotBefore later than that still wins.
    let mut status = res.status.clone();
    status.pending_request.as_mut().unwrap().read_not_before = Some(at(90));
    let res = res.with_status(status);
    assert!(matches!(res.plan(&obs), Plan::Settle(_)));
}

#[test]
fn a_read_after_a_generation_that_happened_records_it() {
    let (res, data) = interrupted_rotation();
    let obs = with_secret(&data);
    let call = expect_call(res.plan(&obs));
    let s = res.after(&obs, &call, Ok(&with_password(active_order(), "gen-new")));
    assert_eq!(s.status.pending_request, None);
    assert_eq!(s.status.password_origin, Some(PasswordOrigin::Generated));
    assert_eq!(s.status.password_rotation.as_deref(), Some("t1"));
    assert_eq!(s.status.password_fingerprint, Some(fp("gen-new")));
    assert_eq!(s.requeue, Requeue::Soon);
    assert_eq!(s.status.last_applied_hash, res.status.last_applied_hash);
    let data = s.secret.expect("the new password is published");
    assert_eq!(data.0["password"], "gen-new");

    // And the rotation is not repeated.
    let res = res.with_status(s.status);
    let s = expect_settle(res.plan(&with_secret(&data)));
    assert_eq!(s.secret, None);
}

#[test]
fn a_rotated_api_key_does_not_make_a_lost_generation_look_done() {
    // The t1 generation was interrupted; meanwhile the API-key Secret was rotated (same
    // account, new key). The read shows the old password: the generation did not happen, and
    // must not be recorded as done just because the key changed.
    let (res, data) = interrupted_rotation();
    let obs = Observed {
        api_key: Ok("sha256:rotated-key".into()),
        ..with_secret(&data)
    };
    let call = expect_call(res.plan(&obs));
    assert_eq!(call.kind, CallKind::Read);
    let s = res.after(&obs, &call, Ok(&active_order()));
    assert_eq!(
        s.status.password_rotation.as_deref(),
        Some("t0"),
        "not done"
    );
    assert_eq!(
        s.status.password_fingerprint,
        Some(fp(PASSWORD)),
        "same password, same fingerprint under the Secret's salt"
    );
    let res = res.with_status(s.status);
    let call = expect_call(res.plan(&obs));
    assert_eq!(call.request, request(|r| r.gen_password = Some(true)));
    assert_eq!(call.rotation.as_deref(), Some("t1"));
}

#[test]
fn without_the_secrets_salt_a_generation_cannot_be_confirmed() {
    // The Secret (and with it the salt the earlier fingerprint was made with) is gone: the
    // read cannot tell, so the generation is asked for again (the documented worst case)
    // rather than assumed.
    let (res, _) = interrupted_rotation();
    let obs = Observed {
        api_key: Ok("sha256:rotated-key".into()),
        ..observed()
    };
    let call = expect_call(res.plan(&obs));
    assert_eq!(call.kind, CallKind::Read);
    let s = res.after(&obs, &call, Ok(&with_password(active_order(), "other")));
    assert_eq!(s.status.password_rotation.as_deref(), Some("t0"));
}

#[test]
fn the_fingerprint_salt_comes_from_the_secret_and_is_never_in_status() {
    let (res, data) = applied(base_spec());
    let fresh = super::plan::fingerprint_salt(UID, &observed());
    assert_eq!(fresh, salt(), "derived before there is a Secret");
    let kept = Observed {
        api_key: Ok("sha256:rotated-key".into()),
        fingerprint_salt: Some("salt-from-secret".into()),
        ..with_secret(&data)
    };
    assert_eq!(
        super::plan::fingerprint_salt(UID, &kept),
        "salt-from-secret"
    );
    let status = serde_json::to_string(&res.status).unwrap();
    assert!(!status.contains(&salt()), "{status}");
}

#[test]
fn a_read_after_a_generation_that_never_happened_generates_again() {
    let (res, data) = interrupted_rotation();
    let obs = with_secret(&data);
    let call = expect_call(res.plan(&obs));
    let s = res.after(&obs, &call, Ok(&active_order()));
    assert_eq!(s.status.pending_request, None);
    assert_eq!(s.status.password_origin, Some(PasswordOrigin::Generated));
    assert_eq!(s.status.password_rotation.as_deref(), Some("t0"));
    assert_eq!(s.secret, None, "the Secret already holds that password");

    let res = res.with_status(s.status);
    let call = expect_call(res.plan(&obs));
    assert_eq!(call.kind, CallKind::Apply);
    assert_eq!(call.request, request(|r| r.gen_password = Some(true)));
    assert_eq!(call.rotation.as_deref(), Some("t1"));
}

#[test]
fn a_read_cannot_confirm_a_generation_when_the_old_password_was_unknown() {
    // First reconcile with generate: true, interrupted. The password before it is unknown.
    let mut spec = base_spec();
    spec.password = generate();
    let res = Res::new(spec);
    let obs = Observed {
        empty_change_read: true,
        ..observed()
    };
    let call = expect_call(res.plan(&obs));
    let pending = call.pending.clone().unwrap();
    assert_eq!(pending.previous_password_fingerprint, None);
    let s = res.after(&obs, &call, Err(&ProviderError::Transport("reset".into())));
    assert_eq!(
        s.status.pending_request,
        Some(PendingRequest {
            read_not_before: Some(at(61)),
            ..pending
        })
    );
    let res = res.with_status(s.status);

    // Read back once the provider can no longer be carrying the lost request out.
    let obs = Observed { now: at(61), ..obs };
    let read = expect_call(res.plan(&obs));
    assert_eq!(read.kind, CallKind::Read);
    // The read shows the order's password; whether it is a generated one cannot be told, so
    // the generation is asked for again (at worst one extra rotation) rather than assumed.
    let s = res.after(&obs, &read, Ok(&active_order()));
    assert_eq!(s.status.pending_request, None);
    assert_ne!(s.status.password_origin, Some(PasswordOrigin::Generated));
    let res = res.with_status(s.status);
    let obs = Observed {
        secret: OwnedSecret::Present(s.secret.unwrap()),
        ..obs
    };
    let call = expect_call(res.plan(&obs));
    assert_eq!(call.request, request(|r| r.gen_password = Some(true)));
}

#[test]
fn a_failed_recovery_read_keeps_the_intent() {
    let (res, data) = interrupted_rotation();
    let obs = with_secret(&data);
    let read = expect_call(res.plan(&obs));
    assert_eq!(read.kind, CallKind::Read);
    for error in [
        http_error(503, None, ""),
        http_error(401, None, ""),
        ProviderError::Transport("reset".into()),
    ] {
        let s = res.after(&obs, &read, Err(&error));
        assert_eq!(
            s.status.pending_request, res.status.pending_request,
            "{error}: the interrupted request is still unresolved"
        );
        // So the next reconcile reads again instead of generating again.
        let next = res.clone().with_status(s.status);
        assert_eq!(expect_call(next.plan(&obs)).kind, CallKind::Read, "{error}");
    }
}

#[test]
fn an_interrupted_request_without_a_way_to_read_is_repeated() {
    // Nothing known about access, no empty reads: the intent is dropped and the plan repeats
    // what is still missing.
    let mut spec = base_spec();
    spec.password = generate();
    let res = Res::new(spec);
    let status = ProxyOrderStatus {
        pending_request: Some(PendingRequest {
            hash: "sha256:x".into(),
            gen_password: true,
            remove_proxies: vec![],
            previous_password_fingerprint: None,
            rotation: None,
            started_at: at(-61),
            read_not_before: None,
        }),
        ..Default::default()
    };
    let res = res.with_status(status);
    let call = expect_call(res.plan(&observed()));
    assert_eq!(call.kind, CallKind::Apply);
    assert_eq!(call.request.gen_password, Some(true));
    assert_eq!(call.request.port, Some(8000));
}

#[test]
fn an_interrupted_proxy_removal_is_read_not_repeated() {
    let (res, data) = applied(base_spec());
    let res = res.edit(|s| {
        s.quantity = Some(3);
        s.remove_proxies = Some(vec![PROXY_B.into()]);
    });
    let obs = Observed {
        listed: Some(Ok(Some(listed(expired_order())))),
        ..with_secret(&data)
    };
    let call = expect_call(res.plan(&obs));
    let mut recorded = res.status.clone();
    recorded.pending_request = call.pending.clone();
    assert!(recorded.pending_request.is_some());
    let res = res.with_status(recorded);

    // The process died with the call in flight: the outcome is read only once the provider can
    // no longer be carrying it out (two timeouts and a second after it started).
    let s = expect_settle(res.plan(&obs));
    assert_eq!(
        s.requeue,
        Requeue::Backoff {
            retry_after: Some(Duration::from_secs(61))
        }
    );
    let obs = Observed { now: at(61), ..obs };
    let read = expect_call(res.plan(&obs));
    assert_eq!(read.kind, CallKind::Read);
    assert_eq!(read.request, request(|r| r.port = Some(8000)));

    // The removal had happened: the order has 3 proxies, PROXY_B gone.
    let mut done = with_quantity(expired_order(), 3);
    done.proxies = Some(vec![
        Proxy { ip: PROXY_A.into() },
        Proxy {
            ip: "10.0.0.3".into(),
        },
        Proxy {
            ip: "10.0.0.4".into(),
        },
    ]);
    let s = res.after(&obs, &read, Ok(&done));
    assert_eq!(s.status.pending_request, None);
    assert_eq!(
        s.status.proxies,
        Some(vec![PROXY_A.into(), "10.0.0.3".into(), "10.0.0.4".into()])
    );
    let res = res.with_status(s.status);
    let obs = Observed {
        listed: Some(Ok(Some(listed(done)))),
        secret: OwnedSecret::Present(s.secret.unwrap()),
        ..obs
    };
    let s = expect_settle(res.plan(&obs));
    assert_cond(&s.status, SYNCED, "True", "Applied");
}

// ---------------------------------------------------------------------------------------------
// 13-15: the credentials Secret
// ---------------------------------------------------------------------------------------------

/// A Ready resource whose password came from `generate: true`, and one whose password comes
/// from a Secret, with their Secret data.
fn generated_and_referenced() -> [(&'static str, Res, SecretData, Option<&'static str>); 2] {
    let (res, _) = applied(base_spec());
    let res = res.edit(|s| s.password = generate());
    let (_, s) = call_ok(&res, &observed(), &with_password(active_order(), "gen-1"));
    let generated = (
        "generated",
        res.with_status(s.status),
        s.secret.unwrap(),
        None,
    );

    let (res, _) = applied(base_spec());
    let res = res.edit(|s| s.password = secret_key_ref());
    let obs = with_ref_password(observed(), "ref-pw");
    let (_, s) = call_ok(&res, &obs, &with_password(active_order(), "ref-pw"));
    let referenced = (
        "secretKeyRef",
        res.with_status(s.status),
        s.secret.unwrap(),
        Some("ref-pw"),
    );
    [generated, referenced]
}

fn obs_for(secret: OwnedSecret, ref_password: Option<&str>) -> Observed {
    let obs = Observed {
        secret,
        ..observed()
    };
    match ref_password {
        Some(p) => with_ref_password(obs, p),
        None => obs,
    }
}

#[test]
fn a_deleted_secret_is_rebuilt_or_read_back() {
    for (name, res, data, ref_password) in generated_and_referenced() {
        // Sanity: with the Secret in place nothing happens.
        let s = expect_settle(res.plan(&obs_for(OwnedSecret::Present(data.clone()), ref_password)));
        assert_eq!(s.secret, None, "{name}");

        let obs = obs_for(OwnedSecret::Missing, ref_password);
        match ref_password {
            None => {
                // Only the deleted Secret knew the generated password: read it back.
                let call = expect_call(res.plan(&obs));
                assert_eq!(call.kind, CallKind::Read, "{name}");
                assert_eq!(call.request, request(|r| r.port = Some(8000)), "{name}");
                let s = res.after(&obs, &call, Ok(&with_password(active_order(), "gen-1")));
                assert_eq!(s.secret, Some(data), "{name}");
                assert_eq!(s.status.password_origin, Some(PasswordOrigin::Generated));
            }
            Some(_) => {
                let s = expect_settle(res.plan(&obs));
                assert_eq!(s.secret, Some(data), "{name}");
                assert_cond(&s.status, READY, "True", "Applied");
                assert_eq!(s.status, res.status, "{name}");
            }
        }
    }
}

#[test]
fn a_tampered_secret_is_rebuilt_or_read_back() {
    for (name, res, data, ref_password) in generated_and_referenced() {
        let mut wrong_password = data.clone();
        wrong_password
            .0
            .insert("password".into(), "tampered".into());
        let obs = obs_for(OwnedSecret::Present(wrong_password), ref_password);
        match ref_password {
            None => {
                let call = expect_call(res.plan(&obs));
                assert_eq!(call.kind, CallKind::Read, "{name}");
            }
            Some(_) => {
                let s = expect_settle(res.plan(&obs));
                assert_eq!(s.secret, Some(data.clone()), "{name}");
            }
        }

        // Another key edited, the password intact: rewritten from what is known.
        let mut wrong_port = data.clone();
        wrong_port.0.insert("port".into(), "1".into());
        wrong_port.0.insert("extra".into(), "x".into());
        let s = expect_settle(res.plan(&obs_for(OwnedSecret::Present(wrong_port), ref_password)));
        assert_eq!(s.secret, Some(data), "{name}");
    }
}

#[test]
fn a_foreign_secret_is_a_conflict() {
    let (res, _) = applied(base_spec());
    for res in [Res::new(base_spec()), res] {
        let s = expect_settle(res.plan(&obs_for(OwnedSecret::Foreign, None)));
        assert_eq!(s.secret, None);
        assert_eq!(s.requeue, Requeue::Terminal);
        assert_cond(&s.status, READY, "False", "SecretConflict");
        assert_cond(&s.status, SYNCED, "False", "SecretConflict");
        assert!(cond(&s.status, READY).message.contains("web-proxy"));
    }
}

#[test]
fn the_secret_name_and_template_come_from_the_spec() {
    let mut spec = base_spec();
    spec.secret = Some(crate::crd::SecretTarget {
        name: Some("creds".into()),
        template: Some(BTreeMap::from([(
            "HTTP_PROXY".to_string(),
            "{{ url }}".to_string(),
        )])),
        ..Default::default()
    });
    let res = Res::new(spec);
    let (_, s) = call_ok(&res, &observed(), &active_order());
    assert_eq!(s.status.secret_name.as_deref(), Some("creds"));
    let data = s.secret.unwrap();
    assert_eq!(
        data.0["HTTP_PROXY"],
        format!("http://team-a:{PASSWORD}@{PROXY_A}:8000")
    );
    let res = res.with_status(s.status);
    assert_eq!(expect_settle(res.plan(&with_secret(&data))).secret, None);
}

// ---------------------------------------------------------------------------------------------
// 16: condition transition times
// ---------------------------------------------------------------------------------------------

#[test]
fn transition_times_move_only_when_a_condition_changes() {
    let (res, data) = applied(base_spec());
    let t0 = now();
    assert_eq!(cond(&res.status, READY).last_transition_time, t0);

    // Re-asserting Ready at a later time keeps t0.
    let s = expect_settle(res.plan(&Observed {
        now: at(3600),
        ..with_secret(&data)
    }));
    assert_eq!(cond(&s.status, READY).last_transition_time, t0);
    assert_eq!(cond(&s.status, SYNCED).last_transition_time, t0);

    // Synced turns False at t1 and stays False through a later failure.
    let res = res.edit(|s| s.port = Some(8001));
    let obs1 = Observed {
        now: at(100),
        ..with_secret(&data)
    };
    let call = expect_call(res.plan(&obs1));
    let s = res.after(&obs1, &call, Err(&http_error(503, None, "")));
    assert_eq!(cond(&s.status, SYNCED).last_transition_time, at(100));
    assert_eq!(cond(&s.status, READY).last_transition_time, at(100));
    let res = res.with_status(s.status);
    let obs2 = Observed {
        now: at(200),
        ..with_secret(&data)
    };
    let s = res.after(&obs2, &call, Err(&http_error(502, None, "")));
    assert_eq!(cond(&s.status, SYNCED).last_transition_time, at(100));

    // And back to True at t3.
    let obs3 = Observed {
        now: at(300),
        ..with_secret(&data)
    };
    let s = res.after(&obs3, &call, Ok(&with_port(active_order(), 8001)));
    assert_eq!(cond(&s.status, SYNCED).last_transition_time, at(300));
    assert_eq!(cond(&s.status, READY).last_transition_time, at(300));
}

// ---------------------------------------------------------------------------------------------
// 17: inputs_hash
// ---------------------------------------------------------------------------------------------

#[test]
fn inputs_hash_follows_the_inputs_only() {
    let (res, data) = applied(base_spec());
    let res = res.edit(|s| s.password = secret_key_ref());
    let obs = with_ref_password(with_secret(&data), "pw-1");
    let base = inputs_hash(&res.inputs(), &obs);
    assert!(base.starts_with("sha256:"));
    assert!(!base.contains("pw-1"));

    let changes: [(&str, Res, Observed); 5] = [
        ("spec", res.clone().edit(|s| s.port = Some(1)), obs.clone()),
        (
            "spec quantity",
            res.clone().edit(|s| s.quantity = Some(9)),
            obs.clone(),
        ),
        (
            "API key",
            res.clone(),
            Observed {
                api_key: Ok("sha256:other".into()),
                ..obs.clone()
            },
        ),
        (
            "password value",
            res.clone(),
            with_ref_password(obs.clone(), "pw-2"),
        ),
        (
            "rotate annotation",
            res.clone().annotate(ROTATE_PASSWORD_ANNOTATION, "t1"),
            obs.clone(),
        ),
    ];
    for (name, r, o) in changes {
        assert_ne!(
            inputs_hash(&r.inputs(), &o),
            base,
            "{name} must change the hash"
        );
    }

    let mut other_status = res.status.clone();
    other_status.last_sync_time = Some(at(999));
    other_status.conditions.clear();
    let mut generation_only = res.clone();
    generation_only.generation = Some(42);
    let same: [(&str, Res, Observed); 7] = [
        ("again", res.clone(), obs.clone()),
        ("status", res.clone().with_status(other_status), obs.clone()),
        ("generation", generation_only, obs.clone()),
        (
            "other annotation",
            res.clone().annotate("example.com/note", "x"),
            obs.clone(),
        ),
        (
            "time",
            res.clone(),
            Observed {
                now: at(999),
                ..obs.clone()
            },
        ),
        (
            "owned Secret",
            res.clone(),
            Observed {
                secret: OwnedSecret::Missing,
                ..obs.clone()
            },
        ),
        (
            "order list",
            res.clone(),
            Observed {
                listed: Some(Ok(Some(listed(active_order())))),
                empty_change_read: true,
                ..obs.clone()
            },
        ),
    ];
    for (name, r, o) in same {
        assert_eq!(
            inputs_hash(&r.inputs(), &o),
            base,
            "{name} must not change the hash"
        );
    }
}

#[test]
fn a_second_resource_for_the_same_order_is_refused() {
    let res = Res::new(base_spec());
    let s = expect_settle(res.plan(&Observed {
        conflict: Some("ProxyOrder first in this namespace".into()),
        ..observed()
    }));
    assert_eq!(s.secret, None);
    assert_eq!(s.requeue, Requeue::Terminal);
    assert_cond(&s.status, READY, "False", "OrderConflict");
    assert!(cond(&s.status, READY).message.contains("first"));
}

#[test]
fn a_provider_that_denies_access_gets_no_call_and_names_why() {
    for reason in [
        Reason::ProviderNotFound,
        Reason::NamespaceNotAllowed,
        Reason::ApiKeySecretRefDisabled,
    ] {
        // Even with credentials to publish and a spec change to make: nothing is sent and the
        // Secret is not touched.
        let (res, data) = applied(base_spec());
        let mut res = res;
        res.spec.port = Some(9999);
        let s = expect_settle(res.plan(&Observed {
            denied: Some((reason, "ProxyProvider shared does not allow it".into())),
            ..with_secret(&data)
        }));
        assert_eq!(s.secret, None, "{reason:?}");
        assert_eq!(s.requeue, Requeue::Terminal, "{reason:?}");
        assert_cond(&s.status, READY, "False", reason.as_str());
        assert_cond(&s.status, SYNCED, "False", reason.as_str());
        assert!(
            cond(&s.status, SYNCED)
                .message
                .contains("ProxyProvider shared")
        );
    }
}

#[test]
fn a_denied_resource_revokes_nothing() {
    let (owner, data) = applied(base_spec());
    let why = revoke_refusal(
        &owner.inputs(),
        &Observed {
            denied: Some((
                Reason::ProviderNotFound,
                "ProxyProvider gone not found".into(),
            )),
            ..with_secret(&data)
        },
    )
    .expect("no access, no revocation");
    assert!(why.contains("gone not found"), "{why}");
}

// ---------------------------------------------------------------------------------------------
// Deletion with deletionPolicy: Revoke
// ---------------------------------------------------------------------------------------------

#[test]
fn revoke_only_what_this_resource_managed() {
    let (owner, data) = applied(base_spec());
    let obs = with_secret(&data);
    assert_eq!(
        revoke_refusal(&owner.inputs(), &obs),
        None,
        "the owner revokes"
    );

    // A duplicate that lost OrderConflict never published anything.
    let dup = Res::new(base_spec());
    let conflict = Observed {
        conflict: Some("ProxyOrder first in this namespace".into()),
        ..observed()
    };
    let why = revoke_refusal(&dup.inputs(), &conflict).expect("a duplicate revokes nothing");
    assert!(why.contains("first"), "{why}");

    // One that published credentials once but whose claim another ProxyOrder holds now does
    // not own the order any more either.
    let why = revoke_refusal(
        &owner.inputs(),
        &Observed {
            conflict: Some("a ProxyOrder in another namespace".into()),
            ..with_secret(&data)
        },
    );
    assert!(why.is_some_and(|w| w.contains("another namespace")));

    // Never reconciled (e.g. missing API key from the start): nothing to revoke.
    let why = revoke_refusal(&dup.inputs(), &observed()).expect("never published");
    assert!(why.contains("never published"), "{why}");
}

// ---------------------------------------------------------------------------------------------
// The Secret must be writable before any call
// ---------------------------------------------------------------------------------------------

#[test]
fn a_secret_the_api_server_would_refuse_is_refused_before_any_call() {
    use crate::crd::SecretTarget;
    let target = |f: &dyn Fn(&mut SecretTarget)| {
        let mut t = SecretTarget::default();
        f(&mut t);
        let mut spec = base_spec();
        spec.password = generate();
        spec.secret = Some(t);
        spec
    };
    let urls = "{{ url }}".repeat(455);
    let cases: Vec<(&str, ProxyOrderSpec, &str, &str)> = vec![
        (
            "label key",
            target(&|t| t.labels = Some([("bad key".into(), "v".into())].into())),
            "InvalidSpec",
            "bad key",
        ),
        (
            "label key prefix over 253",
            target(&|t| t.labels = Some([(format!("{}/n", "a".repeat(254)), "v".into())].into())),
            "InvalidSpec",
            "prefix",
        ),
        (
            "annotation key",
            target(&|t| t.annotations = Some([("a/b/c".into(), "v".into())].into())),
            "InvalidSpec",
            "a/b/c",
        ),
        (
            "template",
            target(&|t| {
                t.template = Some((0..8).map(|i| (format!("K{i}"), urls.clone())).collect())
            }),
            "SecretTooLarge",
            "spec.secret.template",
        ),
        (
            "quantity",
            {
                let mut s = base_spec();
                s.quantity = Some(1_000_000);
                s
            },
            "SecretTooLarge",
            "1000000 proxies",
        ),
    ];
    for (name, spec, reason, names) in cases {
        // A first reconcile and one of an applied resource alike: no call, both conditions
        // False with the reason, the offending part named.
        let fresh = Res::new(spec.clone());
        let (applied_res, data) = applied(base_spec());
        let edited = applied_res.edit(|s| *s = spec.clone());
        for (res, obs) in [(fresh, observed()), (edited, with_secret(&data))] {
            let s = expect_settle(res.plan(&obs));
            assert_cond(&s.status, READY, "False", reason);
            assert_cond(&s.status, SYNCED, "False", reason);
            let msg = &cond(&s.status, READY).message;
            assert!(msg.contains(names), "{name}: {msg}");
            assert_eq!(s.secret, None, "{name}");
            assert_eq!(s.requeue, Requeue::Terminal, "{name}");
        }
    }
}
