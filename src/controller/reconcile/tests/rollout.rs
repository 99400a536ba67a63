//! Rollout targets in a reconcile: after the credentials Secret is written each target is read,
//! only one whose Pod-template annotation differs from the credentials hash is patched (before
//! the status), and failures end up in the `RolloutsUpdated` condition, not in a failed
//! reconcile or lost credentials.

use crate::{
    controller::rollout::{ROLLOUTS_UPDATED, credentials_hash},
    credentials::SecretData,
};
use proxy_order_api::{
    CREDENTIALS_HASH_ANNOTATION, FINGERPRINT_SALT_ANNOTATION, RolloutTarget, SecretTarget,
    WorkloadKind, WorkloadSelector,
};

use super::*;
use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};

const APP: &str = "app";
const DB_LABELS: &str = "app=db";

fn deployments_path() -> String {
    format!("/apis/apps/v1/namespaces/{NS}/deployments")
}

fn app_path() -> String {
    format!("{}/{APP}", deployments_path())
}

fn statefulsets_path() -> String {
    format!("/apis/apps/v1/namespaces/{NS}/statefulsets")
}

fn proxyorders_path() -> String {
    format!("/apis/proxy-solutions.net/v1alpha1/namespaces/{NS}/proxyorders")
}

/// A world whose operator settings `change` adjusts.
async fn world_with(change: impl FnOnce(&mut crate::controller::context::Settings)) -> World {
    let mut w = world().await;
    change(&mut Arc::get_mut(&mut w.ctx).expect("not shared yet").settings);
    w
}

/// The first reconcile of `po` up to its Secret's creation, then `rest`.
fn after_the_secret(w: &World, po: &ProxyOrder, rest: impl IntoIterator<Item = Step>) -> Vec<Step> {
    let mut steps = first_observation(&w.sim);
    steps.extend([read_order(po), secret_created()]);
    steps.extend(rest);
    steps
}

/// Asserts the written status's `RolloutsUpdated` condition: False with `reason`, its message
/// mentioning `mentions`.
fn rollout_condition_is(body: &Value, reason: &str, mentions: &str) {
    let cond = condition(&body["status"], ROLLOUTS_UPDATED);
    assert_eq!(
        (&cond["status"], &cond["reason"]),
        (&json!("False"), &json!(reason)),
        "{cond}"
    );
    let message = cond["message"].as_str().unwrap_or_default();
    assert!(message.contains(mentions), "{cond}");
}

/// The port change of [`port_spec`] with these rollout targets.
fn spec_with(targets: Vec<RolloutTarget>) -> ProxyOrderSpec {
    ProxyOrderSpec {
        secret: Some(SecretTarget {
            rollout_targets: Some(targets),
            ..Default::default()
        }),
        ..port_spec()
    }
}

fn app_target() -> RolloutTarget {
    RolloutTarget {
        kind: WorkloadKind::Deployment,
        name: Some(APP.into()),
        selector: None,
    }
}

fn db_target() -> RolloutTarget {
    RolloutTarget {
        kind: WorkloadKind::StatefulSet,
        name: None,
        selector: Some(WorkloadSelector {
            match_labels: Some([("app".to_string(), "db".to_string())].into()),
            match_expressions: None,
        }),
    }
}

/// A workload of `kind` named `name`, its Pod template annotated with `hash` if given.
fn workload(kind: &str, name: &str, hash: Option<&str>) -> Value {
    let mut annotations = json!({ "example.com/kept": "yes" });
    if let Some(hash) = hash {
        annotations[CREDENTIALS_HASH_ANNOTATION] = json!(hash);
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": { "name": name, "namespace": NS, "resourceVersion": "5",
                      "labels": { "app": name } },
        "spec": {
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name }, "annotations": annotations },
                "spec": { "containers": [{ "name": "c", "image": "example.com/app:1" }] },
            },
        },
    })
}

/// The annotation patch of a workload: a server-side apply by the operator's field manager
/// that carries that annotation and nothing else; `hash` receives its value.
fn annotated(path: String, kind: &'static str, hash: Arc<Mutex<Option<String>>>) -> Step {
    Step::patch(path)
        .check(move |req| {
            assert!(req.query.contains(&format!("fieldManager={FIELD_MANAGER}")));
            assert!(req.query.contains("force=true"));
            let body = &req.body;
            assert_eq!(body["kind"], kind);
            assert_eq!(body["apiVersion"], "apps/v1");
            let annotations = body["spec"]["template"]["metadata"]["annotations"]
                .as_object()
                .expect("annotations");
            assert_eq!(annotations.len(), 1, "{body}");
            assert_eq!(body["spec"].as_object().unwrap().len(), 1, "{body}");
            *hash.lock() = annotations[CREDENTIALS_HASH_ANNOTATION]
                .as_str()
                .map(str::to_string);
        })
        .reply_with(|req| (200, req.body.clone()))
}

/// The hash the operator must set for the Secret it created (its data and salt annotation).
fn expected_hash(secret: &Secret) -> String {
    let data = SecretData(
        secret
            .data
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), String::from_utf8(v.0.clone()).unwrap()))
            .collect(),
    );
    let salt = &secret.metadata.annotations.as_ref().unwrap()[FINGERPRINT_SALT_ANNOTATION];
    credentials_hash(UID, salt, &data)
}

#[tokio::test]
async fn new_credentials_annotate_every_target_once_then_nothing_is_written() {
    let mut w = world().await;
    let po = proxy_order(spec_with(vec![app_target(), db_target()]));
    let app_hash = Arc::new(Mutex::new(None));
    let db_hash = Arc::new(Mutex::new(None));
    let written = Arc::new(Mutex::new(Value::Null));
    let keep = written.clone();
    let steps = after_the_secret(
        &w,
        &po,
        [
            // Each target is read after the Secret is written: by name, and by its selector.
            Step::get(app_path()).reply(200, workload("Deployment", APP, None)),
            Step::get(statefulsets_path())
                .check(|req| {
                    assert!(
                        req.query.contains("labelSelector=app%3Ddb"),
                        "{} has no labelSelector={DB_LABELS}",
                        req.query
                    )
                })
                .reply(
                    200,
                    json!({ "apiVersion": "apps/v1", "kind": "StatefulSetList", "metadata": {},
                            "items": [workload("StatefulSet", "db", Some("sha256:stale"))] }),
                ),
            annotated(app_path(), "Deployment", app_hash.clone()),
            annotated(
                format!("{}/db", statefulsets_path()),
                "StatefulSet",
                db_hash.clone(),
            ),
            status_applied(&po, "101", move |body| {
                assert_ready(&body["status"]);
                *keep.lock() = body["status"].clone();
            }),
        ],
    );
    let action = w
        .reconcile(&po, steps)
        .await
        .expect("the reconcile succeeds");
    assert_refresh(&action);

    let created = created_secret(&w.api);
    let hash = expected_hash(&serde_json::from_value(created.clone()).unwrap());
    assert_eq!(app_hash.lock().as_deref(), Some(hash.as_str()));
    assert_eq!(db_hash.lock().as_deref(), Some(hash.as_str()));
    let status = written.lock().clone();
    let cond = condition(&status, ROLLOUTS_UPDATED);
    assert_eq!(cond["status"], "True", "{cond}");
    assert_eq!(cond["reason"], "UpToDate");
    assert_eq!(
        cond["message"],
        "2 workloads carry the current credentials hash: Deployment/app, StatefulSet/db"
    );
    assert!(w.event_reasons().contains(&"RolloutTriggered".to_string()));
    // The workloads see a salted hash, never the password.
    w.assert_password_only_in_secret();

    assert_eq!(status["rolloutHash"], json!(hash));

    // The next reconcile (from the copy the status write left) knows every target carries
    // the hash of unchanged credentials: it reads no target and writes nothing at all.
    w.api.clear();
    let mut cached = at_version(&po, "101");
    cached.status = Some(serde_json::from_value(status.clone()).unwrap());
    let steps = vec![
        read_api_key(),
        credentials_are(created.clone()),
        claim_exists(&w.sim),
        claim_held(&w.sim),
    ];
    let action = w.reconcile(&cached, steps).await.unwrap();
    assert_refresh(&action);
    assert!(w.api.events().is_empty());

    // Another generation (the targets may have changed): read again, nothing to patch.
    w.api.clear();
    let mut edited = cached.clone();
    edited.metadata.generation = Some(2);
    let steps = vec![
        read_api_key(),
        credentials_are(created),
        claim_exists(&w.sim),
        claim_held(&w.sim),
        Step::get(app_path()).reply(200, workload("Deployment", APP, Some(&hash))),
        Step::get(statefulsets_path()).reply(
            200,
            json!({ "apiVersion": "apps/v1", "kind": "StatefulSetList", "metadata": {},
                    "items": [workload("StatefulSet", "db", Some(&hash))] }),
        ),
        status_applied(&edited, "102", |body| {
            let cond = condition(&body["status"], ROLLOUTS_UPDATED);
            assert_eq!(cond["status"], "True", "{cond}");
            assert_eq!(cond["observedGeneration"], 2, "{cond}");
        }),
    ];
    let action = w.reconcile(&edited, steps).await.unwrap();
    assert_refresh(&action);
    w.sim.shutdown().await;
}

#[tokio::test]
async fn a_forbidden_target_is_a_condition_and_the_credentials_are_kept() {
    let mut w = world().await;
    let po = proxy_order(spec_with(vec![app_target()]));
    let steps = after_the_secret(
        &w,
        &po,
        [
            Step::get(app_path()).fail(403, "Forbidden"),
            status_applied(&po, "101", |body| {
                let status = &body["status"];
                assert_ready(status);
                let cond = condition(status, ROLLOUTS_UPDATED);
                assert_eq!(cond["status"], "False", "{cond}");
                assert_eq!(cond["reason"], "Forbidden");
                assert!(
                    cond["message"]
                        .as_str()
                        .unwrap()
                        .contains("may not get deployments"),
                    "{cond}"
                );
            }),
        ],
    );
    let action = w
        .reconcile(&po, steps)
        .await
        .expect("not a failed reconcile");
    assert_refresh(&action);
    assert!(w.event_reasons().contains(&"Forbidden".to_string()));
    w.sim.shutdown().await;
}

#[tokio::test]
async fn a_missing_target_leaves_the_others_patched() {
    let mut w = world().await;
    let po = proxy_order(spec_with(vec![app_target(), db_target()]));
    let db_hash = Arc::new(Mutex::new(None));
    let steps = after_the_secret(
        &w,
        &po,
        [
            Step::get(app_path()).fail(404, "NotFound"),
            Step::get(statefulsets_path()).reply(
                200,
                json!({ "apiVersion": "apps/v1", "kind": "StatefulSetList", "metadata": {},
                        "items": [workload("StatefulSet", "db", None)] }),
            ),
            annotated(
                format!("{}/db", statefulsets_path()),
                "StatefulSet",
                db_hash.clone(),
            ),
            status_applied(&po, "101", |body| {
                let cond = condition(&body["status"], ROLLOUTS_UPDATED);
                assert_eq!(cond["reason"], "TargetNotFound", "{cond}");
                // Not settled: the next reconcile reads the targets again.
                assert!(body["status"].get("rolloutHash").is_none(), "{body}");
                assert_eq!(
                    cond["message"],
                    "Deployment/app not found. StatefulSet/db carries the current credentials hash"
                );
            }),
        ],
    );
    w.reconcile(&po, steps).await.unwrap();
    assert!(db_hash.lock().is_some());
    w.sim.shutdown().await;
}

/// A patch of the one target refused with 403, then `read_after` (the check whether it still
/// exists): the condition must say `reason`, mentioning `mentions`.
async fn refused_patch(read_after: Step, reason: &str, mentions: &str) -> Vec<String> {
    let mut w = world().await;
    let po = proxy_order(spec_with(vec![app_target()]));
    let (reason, mentions) = (reason.to_string(), mentions.to_string());
    let steps = after_the_secret(
        &w,
        &po,
        [
            Step::get(app_path()).reply(200, workload("Deployment", APP, None)),
            Step::patch(app_path()).fail(403, "Forbidden"),
            read_after,
            status_applied(&po, "101", move |body| {
                rollout_condition_is(body, &reason, &mentions);
            }),
        ],
    );
    w.reconcile(&po, steps).await.unwrap();
    let events = w.event_reasons();
    w.sim.shutdown().await;
    events
}

#[tokio::test]
async fn a_target_deleted_between_its_read_and_its_patch_is_not_found_not_forbidden() {
    // Deleted meanwhile: the apply would create it, which the operator may not do.
    let gone = Step::get(app_path()).fail(404, "NotFound");
    let events = refused_patch(gone, "TargetNotFound", "Deployment/app not found").await;
    assert!(!events.contains(&"Forbidden".to_string()), "{events:?}");
}

#[tokio::test]
async fn a_refused_patch_of_a_target_that_exists_says_so() {
    let there = Step::get(app_path()).reply(200, workload("Deployment", APP, None));
    refused_patch(there, "Forbidden", "may not patch deployments").await;
}

/// Under `--selector` the cache holds only this instance's share of the ProxyOrders: an older
/// ProxyOrder of another instance that targets the same workload is found by listing the
/// namespace, and the workload is left to it.
#[tokio::test]
async fn a_sharded_instance_lists_the_namespace_to_find_an_older_owner() {
    let mut w = world_with(|s| s.sharded = true).await;
    let mut po = proxy_order(spec_with(vec![app_target()]));
    po.metadata.creation_timestamp = Some(Time(Timestamp::from_second(1_800_000_100).unwrap()));
    let mut older = proxy_order(spec_with(vec![app_target()]));
    older.metadata.name = Some("other-shard".into());
    older.metadata.uid = Some("uid-other-shard".into());
    older.metadata.creation_timestamp = Some(Time(Timestamp::from_second(1_800_000_000).unwrap()));
    let list = json!({
        "apiVersion": "proxy-solutions.net/v1alpha1", "kind": "ProxyOrderList",
        "metadata": {}, "items": [to_json(&older), to_json(&po)],
    });
    let steps = after_the_secret(
        &w,
        &po,
        [
            Step::get(app_path()).reply(200, workload("Deployment", APP, None)),
            Step::get(proxyorders_path()).reply(200, list),
            // No patch: the older ProxyOrder owns the workload.
            status_applied(&po, "101", |body| {
                rollout_condition_is(body, "TargetConflict", "other-shard");
                assert!(body["status"].get("rolloutHash").is_none(), "{body}");
            }),
        ],
    );
    w.reconcile(&po, steps).await.unwrap();
    w.sim.shutdown().await;
}

#[tokio::test]
async fn a_sharded_instance_that_cannot_list_the_namespace_patches_nothing() {
    let mut w = world_with(|s| s.sharded = true).await;
    let po = proxy_order(spec_with(vec![app_target()]));
    let steps = after_the_secret(
        &w,
        &po,
        [
            Step::get(app_path()).reply(200, workload("Deployment", APP, None)),
            Step::get(proxyorders_path()).fail(403, "Forbidden"),
            status_applied(&po, "101", |body| {
                assert_ready(&body["status"]);
                rollout_condition_is(body, "RolloutFailed", "rule out a conflict");
            }),
        ],
    );
    w.reconcile(&po, steps).await.unwrap();
    w.sim.shutdown().await;
}

#[tokio::test]
async fn an_unavailable_api_server_retries_after_the_status_is_written() {
    let mut w = world().await;
    let po = proxy_order(spec_with(vec![app_target()]));
    let steps = after_the_secret(
        &w,
        &po,
        [
            Step::get(app_path()).fail(503, "ServiceUnavailable"),
            // The provider's answer is saved all the same.
            status_applied(&po, "101", |body| {
                assert_ready(&body["status"]);
                let cond = condition(&body["status"], ROLLOUTS_UPDATED);
                assert_eq!(cond["reason"], "RolloutFailed", "{cond}");
            }),
        ],
    );
    let err = w
        .reconcile(&po, steps)
        .await
        .expect_err("retried with backoff");
    assert!(
        matches!(&err, crate::error::Error::Kube(kube::Error::Api(s)) if s.code == 503),
        "{err}"
    );
    assert!(!w.has_unsaved(&po), "the credentials are saved");
    w.sim.shutdown().await;
}

#[tokio::test]
async fn without_the_flag_targets_are_not_read_and_the_condition_says_so() {
    let mut w = world_with(|s| s.rollout_targets = false).await;
    let po = proxy_order(spec_with(vec![app_target()]));
    let steps = after_the_secret(
        &w,
        &po,
        [status_applied(&po, "101", |body| {
            let cond = condition(&body["status"], ROLLOUTS_UPDATED);
            assert_eq!(cond["status"], "False", "{cond}");
            assert_eq!(cond["reason"], "RolloutDisabled");
        })],
    );
    w.reconcile(&po, steps).await.unwrap();
    w.sim.shutdown().await;
}
