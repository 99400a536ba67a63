//! Order claims named by an earlier version (after the provider URL as well as the order id)
//! are renamed at start: one claim per order, kept by the first holder.

use crate::controller::claim;

use super::*;

/// A claim of the earlier naming on `order`, through the provider URL `url`, held by
/// `holder` (`namespace/name/uid`) since `acquired` (RFC 3339).
fn old_claim(order: u64, url: &str, holder: &str, acquired: &str, rv: &str) -> Value {
    let old = credentials::fingerprint(["order-claim", url, &order.to_string()]);
    let uid = holder.rsplit('/').next().unwrap();
    json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {
            "name": format!("pxo-claim-{}", old.trim_start_matches("sha256:")),
            "namespace": OPERATOR_NS, "uid": format!("lease-{rv}"), "resourceVersion": rv,
            "labels": {claim::CLAIM_LABEL: "true", claim::HOLDER_UID_LABEL: uid,
                       "app.kubernetes.io/managed-by": "proxy-order-operator"},
            "annotations": {"proxy-solutions.net/order-id": order.to_string(),
                            claim::PROVIDER_URL_ANNOTATION: url,
                            claim::HOLDER_ANNOTATION: holder.rsplit_once('/').unwrap().0},
        },
        "spec": {"holderIdentity": holder, "acquireTime": acquired},
    })
}

#[tokio::test]
async fn claims_of_the_earlier_naming_become_one_claim_per_order_kept_by_the_first_holder() {
    let mut w = world().await;
    // Two spellings of one account's URL gave two claims on order 10000: the victim's first,
    // then another tenant's. Order 10001 has one old claim; 10002 is claimed under its new name.
    let victim = old_claim(
        10000,
        "http://localhost:8080/api",
        "team-a/web/uid-a",
        "2026-12-01T10:00:00.000000Z",
        "11",
    );
    let later = old_claim(
        10000,
        "http://127.0.0.1:8080/api",
        "team-b/snipe/uid-b",
        "2026-12-01T11:00:00.000000Z",
        "12",
    );
    let single = old_claim(
        10001,
        "http://localhost:8080/api",
        "team-a/other/uid-c",
        "2026-12-01T09:00:00.000000Z",
        "13",
    );
    let mut current = old_claim(
        10002,
        "http://localhost:8080/api",
        "team-c/new/uid-d",
        "2026-12-01T09:00:00.000000Z",
        "14",
    );
    current["metadata"]["name"] = json!(claim::claim_name(10002));
    let list = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "LeaseList",
        "metadata": {"resourceVersion": "20"},
        "items": [later.clone(), victim.clone(), single.clone(), current]});
    let name = |v: &Value| v["metadata"]["name"].as_str().unwrap().to_string();
    let deleted = |v: &Value| {
        let (lease, rv) = (name(v), v["metadata"]["resourceVersion"].clone());
        Step::delete(format!("{}/{lease}", leases_path()))
            .check(move |req| {
                // Only the version read: a claim changed meanwhile is left alone.
                assert_eq!(req.body["preconditions"]["resourceVersion"], rv);
            })
            .reply(200, json!({"kind": "Status", "status": "Success"}))
    };
    let moved = |order: u64, holder: &'static str| {
        Step::post(leases_path())
            .check(move |req| {
                assert_eq!(
                    req.body["metadata"]["name"],
                    json!(claim::claim_name(order))
                );
                assert_eq!(req.body["spec"]["holderIdentity"], holder);
                assert_eq!(
                    req.body["metadata"]["labels"][claim::CLAIM_LABEL],
                    json!("true")
                );
            })
            .reply_with(|req| (201, with_version(req.body.clone(), "30")))
    };
    let steps = vec![
        Step::get(leases_path()).reply(200, list),
        moved(10000, "team-a/web/uid-a"),
        deleted(&victim),
        deleted(&later),
        moved(10001, "team-a/other/uid-c"),
        deleted(&single),
    ];
    let ctx = w.ctx.clone();
    w.api
        .serve(steps, claim::migrate(&ctx))
        .await
        .expect("the claims are renamed");
    w.sim.shutdown().await;
}
