//! Passwords: generated ones, the rotate annotation, and passwords from a Secret.

use super::*;

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
    let apply = expect_apply(&call);
    assert_eq!(apply.origin, Some(PasswordOrigin::Generated));
    assert_eq!(apply.rotation, None);
    assert_eq!(
        apply.pending,
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
    let apply = expect_apply(&call);
    assert_eq!(apply.rotation.as_deref(), Some("t1"));
    let pending = apply
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
    assert_eq!(expect_apply(&call).rotation.as_deref(), Some("t2"));
}

#[test]
fn rotate_annotation_also_works_when_the_password_is_unmanaged() {
    let (res, data) = applied(base_spec());
    let res = res.annotate(ROTATE_PASSWORD_ANNOTATION, "t1");
    let call = expect_call(res.plan(&with_secret(&data)));
    assert_eq!(call.request, request(|r| r.gen_password = Some(true)));
    assert_eq!(expect_apply(&call).rotation.as_deref(), Some("t1"));
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
    let apply = expect_apply(&call);
    assert_eq!(apply.origin, Some(PasswordOrigin::SecretKeyRef));
    assert_eq!(apply.pending, None, "sending a value is idempotent");

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
    assert_ne!(
        Some(&expect_apply(&call).applied_hash),
        res.status.last_applied_hash.as_ref()
    );

    // A rotate annotation cannot override a password from a Secret.
    let res = res.annotate(ROTATE_PASSWORD_ANNOTATION, "t1");
    expect_settle(res.plan(&with_ref_password(with_secret(&data), FIRST)));
}
