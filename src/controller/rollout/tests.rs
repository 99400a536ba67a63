//! The pure part of the rollout step: the hash, which workloads are patched, who owns a shared
//! workload, selectors, and the condition.

use std::collections::BTreeMap;

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};

use super::*;
use proxy_order_api::{
    ProxyOrderSpec, RolloutTarget, SecretTarget, SelectorOperator, SelectorRequirement,
    WorkloadKind, WorkloadSelector,
};

fn data(password: &str) -> SecretData {
    SecretData(
        [
            ("login", "team-a"),
            ("password", password),
            ("port", "8000"),
            ("ips", "198.51.100.1\n"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    )
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn deployment(name: &str) -> WorkloadRef {
    WorkloadRef {
        kind: WorkloadKind::Deployment,
        name: name.into(),
    }
}

fn workload(name: &str, hash: Option<&str>) -> Workload {
    Workload {
        id: deployment(name),
        labels: labels(&[("app", name)]),
        hash: hash.map(str::to_string),
    }
}

fn by_name(kind: WorkloadKind, name: &str) -> RolloutTarget {
    RolloutTarget {
        kind,
        name: Some(name.into()),
        selector: None,
    }
}

fn by_labels(kind: WorkloadKind, pairs: &[(&str, &str)]) -> RolloutTarget {
    RolloutTarget {
        kind,
        name: None,
        selector: Some(WorkloadSelector {
            match_labels: Some(labels(pairs)),
            match_expressions: None,
        }),
    }
}

/// A ProxyOrder `name` in `ns`, created at second `created`, with these rollout targets.
fn order(ns: &str, name: &str, created: i64, targets: Vec<RolloutTarget>) -> ProxyOrder {
    let mut po = ProxyOrder::new(
        name,
        ProxyOrderSpec {
            order_id: 1,
            secret: Some(SecretTarget {
                rollout_targets: Some(targets),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    po.metadata.namespace = Some(ns.into());
    po.metadata.uid = Some(format!("uid-{ns}-{name}"));
    po.metadata.creation_timestamp = Some(Time(Timestamp::from_second(created).unwrap()));
    po
}

#[test]
fn the_hash_is_stable_salted_and_follows_every_key() {
    let h = credentials_hash("uid-1", "salt-1", &data("s3cret-pw"));
    assert_eq!(h, credentials_hash("uid-1", "salt-1", &data("s3cret-pw")));
    assert!(
        h.starts_with("sha256:") && h.len() == 7 + 32,
        "{h} is a short hex fingerprint"
    );
    assert!(!h.contains("s3cret"));
    // Another password, salt or ProxyOrder: another hash.
    assert_ne!(h, credentials_hash("uid-1", "salt-1", &data("s3cret-pw2")));
    assert_ne!(h, credentials_hash("uid-1", "salt-2", &data("s3cret-pw")));
    assert_ne!(h, credentials_hash("uid-2", "salt-1", &data("s3cret-pw")));
    // Any other key too (a new port, a template key), and where a value ends matters.
    let mut more = data("s3cret-pw");
    more.0.insert("HTTP_PROXY".into(), "http://x".into());
    assert_ne!(h, credentials_hash("uid-1", "salt-1", &more));
    let split = |k: &str, v: &str| SecretData([(k.to_string(), v.to_string())].into());
    assert_ne!(
        credentials_hash("u", "s", &split("ab", "c")),
        credentials_hash("u", "s", &split("a", "bc"))
    );
    // Not the unsalted digest of the data, which a short password would give away.
    assert_ne!(
        credentials_hash("uid-1", "salt-1", &data("pw")),
        credentials_hash("uid-1", "", &data("pw"))
    );
}

#[test]
fn only_workloads_whose_annotation_differs_are_patched() {
    let me = order("team-a", "web", 10, vec![]);
    let found = vec![
        workload("current", Some("sha256:new")),
        workload("stale", Some("sha256:old")),
        workload("bare", None),
        // Found again by a second target: patched once.
        workload("stale", Some("sha256:old")),
    ];
    let d = decide("sha256:new", found, &me, &[]);
    assert_eq!(d.patch, vec![deployment("bare"), deployment("stale")]);
    assert_eq!(d.current, vec![deployment("current")]);
    assert!(d.conflicts.is_empty());

    let d = decide(
        "sha256:new",
        vec![
            workload("a", Some("sha256:new")),
            workload("b", Some("sha256:new")),
        ],
        &me,
        &[],
    );
    assert!(d.patch.is_empty(), "nothing changed: no write");
    assert_eq!(d.current.len(), 2);
}

#[test]
fn a_workload_two_proxyorders_target_follows_the_older_one() {
    let web = workload("web", Some("sha256:older-ones"));
    let older = order(
        "team-a",
        "first",
        10,
        vec![by_labels(WorkloadKind::Deployment, &[("app", "web")])],
    );
    let newer = order(
        "team-a",
        "second",
        20,
        vec![by_name(WorkloadKind::Deployment, "web")],
    );
    // The cache holds both; the newer one leaves the workload alone and says why.
    let cache = [&older, &newer];
    let d = decide("sha256:mine", vec![web.clone()], &newer, &cache);
    assert!(d.patch.is_empty());
    assert_eq!(
        d.conflicts,
        vec![Problem::Conflict {
            workload: deployment("web"),
            owner: "first".into()
        }]
    );
    // The older one patches it.
    let d = decide("sha256:mine", vec![web.clone()], &older, &cache);
    assert_eq!(d.patch, vec![deployment("web")]);

    // Another namespace, another kind or a non-matching selector is no conflict.
    let elsewhere = order(
        "team-b",
        "first",
        1,
        vec![by_name(WorkloadKind::Deployment, "web")],
    );
    let other_kind = order(
        "team-a",
        "sts",
        1,
        vec![by_name(WorkloadKind::StatefulSet, "web")],
    );
    let other_labels = order(
        "team-a",
        "db",
        1,
        vec![by_labels(WorkloadKind::Deployment, &[("app", "db")])],
    );
    let cache = [&elsewhere, &other_kind, &other_labels, &newer];
    let d = decide("sha256:mine", vec![web], &newer, &cache);
    assert_eq!(d.patch, vec![deployment("web")]);
}

#[test]
fn selectors_match_labels_and_expressions_and_render_as_a_query() {
    let sel = WorkloadSelector {
        match_labels: Some(labels(&[("app", "web")])),
        match_expressions: Some(vec![
            SelectorRequirement {
                key: "tier".into(),
                operator: SelectorOperator::In,
                values: Some(vec!["a".into(), "b".into()]),
            },
            SelectorRequirement {
                key: "track".into(),
                operator: SelectorOperator::NotIn,
                values: Some(vec!["canary".into()]),
            },
            SelectorRequirement {
                key: "team".into(),
                operator: SelectorOperator::Exists,
                values: None,
            },
            SelectorRequirement {
                key: "legacy".into(),
                operator: SelectorOperator::DoesNotExist,
                values: None,
            },
        ]),
    };
    assert_eq!(
        sel.query(),
        "app=web,tier in (a,b),track notin (canary),team,!legacy"
    );
    let base = [("app", "web"), ("tier", "a"), ("team", "x")];
    assert!(sel.matches(&labels(&base)));
    let with = |extra: (&'static str, &'static str)| {
        let mut l = labels(&base);
        l.insert(extra.0.into(), extra.1.into());
        l
    };
    assert!(!sel.matches(&with(("app", "db"))));
    assert!(!sel.matches(&with(("tier", "c"))));
    assert!(!sel.matches(&with(("track", "canary"))));
    assert!(sel.matches(&with(("track", "stable"))));
    assert!(!sel.matches(&with(("legacy", ""))));
    assert!(!sel.matches(&labels(&[("app", "web"), ("tier", "a")])));
    // An empty selector (refused by the schema) matches nothing rather than everything.
    assert!(!WorkloadSelector::default().matches(&labels(&base)));

    let t = by_labels(WorkloadKind::Deployment, &[("app", "web")]);
    assert!(target_matches(&t, &workload("web", None)));
    assert!(!target_matches(&t, &workload("db", None)));
    let sts = by_name(WorkloadKind::StatefulSet, "web");
    assert!(
        !target_matches(&sts, &workload("web", None)),
        "kind differs"
    );
}

#[test]
fn the_condition_says_which_workloads_carry_the_hash_or_what_stands_in_the_way() {
    let (ok, reason, msg) = condition(&[deployment("web")], &[]);
    assert!(ok);
    assert_eq!(reason, Reason::UpToDate);
    assert_eq!(msg, "Deployment/web carries the current credentials hash");

    // The message does not depend on the order things were found in.
    let a = condition(&[deployment("b"), deployment("a")], &[]);
    let b = condition(&[deployment("a"), deployment("b"), deployment("a")], &[]);
    assert_eq!(a, b);
    assert_eq!(
        a.2,
        "2 workloads carry the current credentials hash: Deployment/a, Deployment/b"
    );

    let (ok, _, msg) = condition(&[], &[]);
    assert!(ok, "a selector that matches nothing is no error");
    assert_eq!(msg, "no workload matches spec.secret.rolloutTargets");

    let many: Vec<WorkloadRef> = (0..12).map(|i| deployment(&format!("w{i:02}"))).collect();
    assert!(
        condition(&many, &[])
            .2
            .ends_with("Deployment/w09 and 2 more")
    );

    // Forbidden wins the reason over a missing target; both are named, once each.
    let problems = [
        Problem::NotFound(deployment("gone")),
        Problem::Forbidden {
            kind: WorkloadKind::StatefulSet,
            verb: "list",
        },
        Problem::Forbidden {
            kind: WorkloadKind::StatefulSet,
            verb: "list",
        },
    ];
    let (ok, reason, msg) = condition(&[deployment("web")], &problems);
    assert!(!ok);
    assert_eq!(reason, Reason::Forbidden);
    assert_eq!(
        msg,
        "Deployment/gone not found; the operator may not list statefulsets in this namespace \
         (install the chart with rollout.enabled=true). Deployment/web carries the current \
         credentials hash"
    );
    let (_, reason, _) = condition(&[], &[Problem::NotFound(deployment("gone"))]);
    assert_eq!(reason, Reason::TargetNotFound);
    let (_, reason, msg) = condition(
        &[],
        &[Problem::Conflict {
            workload: deployment("web"),
            owner: "first".into(),
        }],
    );
    assert_eq!(reason, Reason::TargetConflict);
    assert!(msg.contains("ProxyOrder first"), "{msg}");

    let (ok, reason, _) = disabled();
    assert!(!ok);
    assert_eq!(reason, Reason::RolloutDisabled);
}
