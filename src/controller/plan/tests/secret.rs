//! The credentials Secret: deleted, tampered with or foreign, and its name and template.

use super::*;

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
    spec.secret = Some(proxy_order_api::SecretTarget {
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
