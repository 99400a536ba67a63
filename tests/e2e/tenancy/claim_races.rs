//! Simultaneous claims of one order from two tenants, in one operator and across two shards:
//! exactly one winner each round.

use std::collections::BTreeMap;

use proxy_solutions_sim::{SimConfig, example_orders, generate_orders, seed::GENERATED_FIRST_ID};
use serde_json::{Value, json};

use proxy_order_testkit::tenancy::TENANCY_LABEL;
use proxy_order_testkit::tenancy::{Tenancy, two_tenants, via};
use proxy_order_testkit::*;

/// Rounds of the simultaneous-claims scenarios.
const RACE_ROUNDS: u64 = 5;

/// A simulator with the example orders and one generated order per round plus one.
fn race_sim() -> SimConfig {
    SimConfig {
        orders: example_orders()
            .into_iter()
            .chain(generate_orders(RACE_ROUNDS as u32 + 1))
            .collect(),
        ..SimConfig::default()
    }
}

/// What one ProxyOrder alone costs: the change calls for a spec like the racers' (port and
/// login), on the last generated order, created with the extra `labels`.
async fn race_baseline(t: &Tenancy, ns: &str, provider: &str, labels: Value) -> usize {
    let order = GENERATED_FIRST_ID + RACE_ROUNDS;
    t.apply_labelled(
        ns,
        "alone",
        labels,
        via(provider, order, json!({"port": 9000, "login": "alone"})),
    )
    .await;
    t.env.wait_ready_in(ns, "alone").await;
    let baseline = t.env.change_calls(order).await.len();
    assert_eq!(baseline, 1, "{:#?}", t.env.change_calls(order).await);
    baseline
}

/// [`RACE_ROUNDS`] rounds, each creating two ProxyOrders for one order at the same instant in
/// team-a and team-b (with the extra labels `labels_a` and `labels_b`): exactly one is
/// Ready/Applied and holds the claim, the other OrderConflict without credentials, and the
/// order got exactly the winner's calls, no more than one ProxyOrder alone makes.
async fn race_rounds(
    t: &Tenancy,
    (ns_a, ns_b, provider): (&str, &str, &str),
    (labels_a, labels_b): (Value, Value),
    baseline: usize,
) -> BTreeMap<u64, String> {
    let mut winners = BTreeMap::new();
    for round in 0..RACE_ROUNDS {
        let order = GENERATED_FIRST_ID + round;
        let (name_a, name_b) = (format!("race{round}-a"), format!("race{round}-b"));
        let spec =
            |port: u64, login: &str| via(provider, order, json!({"port": port, "login": login}));
        let (spec_a, spec_b) = (spec(9100 + round, "racer-a"), spec(9200 + round, "racer-b"));
        let apply_a = t.apply_labelled(ns_a, &name_a, labels_a.clone(), spec_a);
        let apply_b = t.apply_labelled(ns_b, &name_b, labels_b.clone(), spec_b);
        // Whichever request leaves first tends to win: the tenants take turns at going first.
        if round % 2 == 0 {
            tokio::join!(apply_a, apply_b);
        } else {
            tokio::join!(apply_b, apply_a);
        }
        let outcome = async |ns: &str, name: &str| {
            let po = t.orders(ns).get_opt(name).await.ok()??;
            let (status, reason, _) = condition(&po, "Ready")?;
            let current = po.status.as_ref()?.observed_generation == po.metadata.generation;
            (current && (reason == "Applied" || reason == "OrderConflict"))
                .then_some((status, reason))
        };
        let decided = async || {
            let a = outcome(ns_a, &name_a).await?;
            let b = outcome(ns_b, &name_b).await?;
            Some((a, b))
        };
        t.env
            .wait_for(&format!("round {round}: both decided"), 30, async || {
                decided().await
            })
            .await;
        settle(2).await;
        let (a, b) = decided().await.expect("still decided");
        let ((winner_ns, winner), (loser_ns, loser), port, login) =
            match (a.1.as_str(), b.1.as_str()) {
                ("Applied", "OrderConflict") => {
                    ((ns_a, &name_a), (ns_b, &name_b), 9100 + round, "racer-a")
                }
                ("OrderConflict", "Applied") => {
                    ((ns_b, &name_b), (ns_a, &name_a), 9200 + round, "racer-b")
                }
                other => panic!("round {round}: not one winner: {other:?}"),
            };
        t.env.wait_ready_in(winner_ns, winner).await;
        let loser_msg = t.wait_refused(loser_ns, loser, "OrderConflict").await;
        assert!(
            !loser_msg.contains(winner_ns) && !loser_msg.contains(winner.as_str()),
            "round {round}: the winner is named: {loser_msg}"
        );
        let calls = t.env.change_calls(order).await;
        assert_eq!(
            calls.len(),
            baseline,
            "round {round}: one claimant's calls only: {calls:#?}"
        );
        for call in &calls {
            assert_eq!(call["status"], 200, "round {round}: {call}");
            assert_eq!(call["body"]["port"], port, "round {round}: {call}");
            assert_eq!(call["body"]["login"], login, "round {round}: {call}");
        }
        assert_eq!(
            t.env.sim_order(order).await["access"]["port"],
            port,
            "round {round}"
        );
        let data = t
            .secret_data(winner_ns, &format!("{winner}-proxy"))
            .await
            .unwrap();
        assert_eq!(data["port"], port.to_string(), "round {round}");
        assert!(
            t.secret_data(loser_ns, &format!("{loser}-proxy"))
                .await
                .is_none(),
            "round {round}: the loser got credentials"
        );
        t.assert_claimed_by(order, winner_ns, winner).await;
        winners.insert(order, winner_ns.to_string());
    }
    // One claim per order (and the baseline's).
    let claims = t.claims().await;
    assert_eq!(claims.len() as u64, RACE_ROUNDS + 1, "{claims:#?}");
    eprintln!("simultaneous claims: winners by order {winners:?}");
    winners
}

#[tokio::test]
async fn simultaneous_claims_have_one_winner() {
    let mut t = Tenancy::start("race", race_sim(), &[]).await;
    let (ns_a, ns_b, provider) = two_tenants(&mut t).await;
    let baseline = race_baseline(&t, &ns_a, &provider, json!({})).await;
    race_rounds(
        &t,
        (&ns_a, &ns_b, &provider),
        (json!({}), json!({})),
        baseline,
    )
    .await;
    t.assert_no_forbidden();
    t.assert_no_leaks(&[]).await;
    t.finish().await;
}

/// The same with two operator instances (shards, `--selector`), each seeing only one of the
/// two ProxyOrders: no in-process lock can decide, only the claim Lease the API server
/// arbitrates.
#[tokio::test]
async fn simultaneous_claims_across_shards_have_one_winner() {
    const SHARD: &str = "e2e-shard";
    let mut t = Tenancy::start("shards", race_sim(), &[]).await;
    let (ns_a, ns_b, provider) = two_tenants(&mut t).await;
    // The provider's status is the first operator's; the ProxyOrders are the shards'.
    t.env
        .wait_for("the ProxyProvider's status", 30, async || {
            t.provider(&provider).await["status"]["orders"]
                .as_u64()
                .map(|_| ())
        })
        .await;
    t.env.stop_operator();
    let selector = |shard: &str| format!("{TENANCY_LABEL}={},{SHARD}={shard}", t.id);
    let shard_a = t.env.start_shard("shard-a", &selector("a")).await;
    let shard_b = t.env.start_shard("shard-b", &selector("b")).await;
    let baseline = race_baseline(&t, &ns_a, &provider, json!({SHARD: "a"})).await;
    let winners = race_rounds(
        &t,
        (&ns_a, &ns_b, &provider),
        (json!({SHARD: "a"}), json!({SHARD: "b"})),
        baseline,
    )
    .await;
    // Each shard claimed and called for its own ProxyOrders only. A shard that lost every
    // round (one time in sixteen or so) claimed and called nothing: the OrderConflict of its
    // ProxyOrders, which only it writes, showed it at work in each round.
    for (log, own, other) in [
        (shard_a.log_text(), &ns_a, &ns_b),
        (shard_b.log_text(), &ns_b, &ns_a),
    ] {
        let acted: Vec<&str> = log
            .lines()
            .filter(|l| {
                l.contains(r#""message":"claimed the order""#)
                    || l.contains(r#""message":"provider call succeeded""#)
            })
            .collect();
        let won = winners.values().any(|ns| ns == own.as_str());
        assert!(
            !won || !acted.is_empty(),
            "{own}'s shard won a round but its log shows no claim:\n{log}"
        );
        for line in acted {
            assert!(
                line.contains(own.as_str()) && !line.contains(other.as_str()),
                "{line}"
            );
        }
        assert!(
            !log.to_lowercase().contains("forbidden"),
            "RBAC denial in a shard's log:\n{}",
            tail(&log, 60)
        );
        assert!(
            !log.contains(API_KEY),
            "the API key leaked into a shard's log"
        );
    }
    t.assert_no_leaks(&[]).await;
    drop((shard_a, shard_b));
    t.finish().await;
}
