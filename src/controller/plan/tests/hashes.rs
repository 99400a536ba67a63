//! `inputs_hash`: what changes it and what does not.

use super::*;

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
