//! The commands that ask the operator for something: each sets one of the ProxyOrder's
//! annotations (a fresh token where a new value is what asks) and says what will happen.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{anyhow, bail};
use k8s_openapi::jiff::Timestamp;
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{Patch, PatchParams},
};
use proxy_order_api::{
    APPROVE_ANNOTATION, PAUSED_ANNOTATION, PLUGIN_FIELD_MANAGER, PlannedChange, ProxyOrder,
    ProxyProvider, ROTATE_PASSWORD_ANNOTATION, SYNC_REQUESTED_ANNOTATION,
};
use serde_json::json;

use crate::cluster::{self, Cluster, Request};
use crate::trace::{get_proxy_order, proxy_order_request};

/// Which held changes `approve` approves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Select {
    /// The only one held (an error when several are).
    Only,
    All,
    Hashes(Vec<String>),
}

/// How `approve` gets its confirmation.
pub enum Confirm {
    /// `--yes`.
    Given,
    /// Ask on the terminal.
    Ask,
}

impl Confirm {
    pub fn new(yes: bool) -> Self {
        if yes { Confirm::Given } else { Confirm::Ask }
    }

    fn obtain(&self, question: &str, out: &mut impl Write) -> anyhow::Result<bool> {
        match self {
            Confirm::Given => Ok(true),
            Confirm::Ask => {
                let stdin = std::io::stdin();
                if !stdin.is_terminal() {
                    bail!("not asking for confirmation without a terminal: pass --yes");
                }
                write!(out, "{question} [y/N] ")?;
                out.flush()?;
                let mut answer = String::new();
                stdin.lock().read_line(&mut answer)?;
                Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
            }
        }
    }
}

/// The ProxyProvider a held change must be approved on, if not the ProxyOrder.
pub fn provider_of(change: &PlannedChange) -> Option<&str> {
    change
        .approve_on
        .strip_prefix("ProxyProvider")
        .map(str::trim)
        .filter(|name| !name.is_empty())
}

/// The held changes `select` names, or why none can be chosen.
pub fn choose<'a>(
    held: &'a [PlannedChange],
    select: &Select,
    object: &str,
) -> anyhow::Result<Vec<&'a PlannedChange>> {
    match select {
        Select::All => Ok(held.iter().collect()),
        Select::Only => match held {
            [one] => Ok(vec![one]),
            _ => Err(anyhow!(
                "{object} holds {} changes back: pass --all, or --hash for each one to approve:\n{}",
                held.len(),
                table(held.iter())
            )),
        },
        Select::Hashes(hashes) => hashes
            .iter()
            .map(|h| {
                held.iter().find(|c| c.hash == *h).ok_or_else(|| {
                    anyhow!(
                        "{object} holds no change with hash {h} (it may have been sent or \
                         replaced); held now:\n{}",
                        table(held.iter())
                    )
                })
            })
            .collect(),
    }
}

/// The held changes as a table: field, from, to, limit, where to approve, hash.
pub fn table<'a>(changes: impl Iterator<Item = &'a PlannedChange>) -> String {
    let mut out = format!(
        "  {:<10} {:>8} {:>8} {:>8}  {:<28} {}\n",
        "FIELD", "FROM", "TO", "LIMIT", "APPROVE ON", "HASH"
    );
    for c in changes {
        out.push_str(&format!(
            "  {:<10} {:>8} {:>8} {:>8}  {:<28} {}\n",
            c.field, c.from, c.to, c.limit, c.approve_on, c.hash
        ));
    }
    out
}

/// The approve annotation's value with `add` approved too: the hashes already there (unless
/// `keep` says one is obsolete) and the new ones, each once, in order.
pub fn merged_approvals(
    existing: Option<&str>,
    add: &[&str],
    keep: impl Fn(&str) -> bool,
) -> String {
    let mut hashes: Vec<String> = existing
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty() && keep(h))
        .map(str::to_string)
        .collect();
    for h in add {
        if !hashes.iter().any(|x| x == h) {
            hashes.push(h.to_string());
        }
    }
    hashes.join(",")
}

/// `kubectl pxo approve NAME`.
pub async fn approve(
    cluster: &Cluster,
    name: &str,
    select: Select,
    on_provider: bool,
    confirm: Confirm,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let ns = cluster.namespace.as_str();
    let object = format!("ProxyOrder {ns}/{name}");
    let po = get_proxy_order(&cluster.client, ns, name).await?;
    let held = po
        .status
        .as_ref()
        .map(|s| s.planned_changes.clone())
        .unwrap_or_default();
    if held.is_empty() {
        writeln!(out, "{object} holds no change back: nothing to approve.")?;
        return Ok(());
    }
    let chosen = choose(&held, &select, &object)?;
    let (own, providers): (Vec<&PlannedChange>, Vec<&PlannedChange>) =
        chosen.into_iter().partition(|c| provider_of(c).is_none());
    write!(
        out,
        "Held by {object}:\n{}",
        table(own.iter().chain(&providers).copied())
    )?;
    for c in &providers {
        let provider = provider_of(c).unwrap_or_default();
        let how = if on_provider {
            ".".to_string()
        } else {
            format!(
                ": kubectl annotate proxyprovider {provider} {APPROVE_ANNOTATION}={} --overwrite \
                 (keep the hashes already there), or this command with --on-provider.",
                c.hash
            )
        };
        writeln!(
            out,
            "{} {} -> {} exceeds ProxyProvider {provider}'s maxQuantity ({}): the approval \
             belongs on the ProxyProvider, which only those who may annotate it (usually cluster \
             administrators) can give{how}",
            c.field, c.from, c.to, c.limit
        )?;
    }
    let providers = if on_provider { providers } else { Vec::new() };
    if own.is_empty() && providers.is_empty() {
        bail!("nothing approved: the changes above are approved on their ProxyProvider");
    }
    let mut targets = Vec::new();
    if !own.is_empty() {
        targets.push(object.clone());
    }
    let mut provider_names: Vec<&str> = providers.iter().filter_map(|c| provider_of(c)).collect();
    provider_names.sort();
    provider_names.dedup();
    targets.extend(provider_names.iter().map(|p| format!("ProxyProvider {p}")));
    let count = own.len() + providers.len();
    let question = format!(
        "Approve {count} change{} (annotate {})?",
        if count == 1 { "" } else { "s" },
        targets.join(" and ")
    );
    if !confirm.obtain(&question, out)? {
        bail!("not approved");
    }

    if !own.is_empty() {
        let add: Vec<&str> = own.iter().map(|c| c.hash.as_str()).collect();
        let api = Api::<ProxyOrder>::namespaced(cluster.client.clone(), ns);
        // Hashes of changes no longer held were used or replaced: dropped.
        let value = annotate_merged(
            &cluster.client,
            &api,
            name,
            &add,
            |h| held.iter().any(|c| c.hash == h),
            proxy_order_request("patch", ns, name),
        )
        .await?;
        writeln!(out, "Annotated {object} {APPROVE_ANNOTATION}={value}")?;
    }
    for provider in provider_names {
        let add: Vec<&str> = providers
            .iter()
            .filter(|c| provider_of(c) == Some(provider))
            .map(|c| c.hash.as_str())
            .collect();
        let api = Api::<ProxyProvider>::all(cluster.client.clone());
        let req = Request {
            verb: "patch",
            resource: "proxyproviders.proxy-solutions.net",
            kind: "ProxyProvider",
            namespace: None,
            name: Some(provider),
        };
        // Other ProxyOrders' approvals may be there too: all kept.
        let value = annotate_merged(&cluster.client, &api, provider, &add, |_| true, req).await?;
        writeln!(
            out,
            "Annotated ProxyProvider {provider} {APPROVE_ANNOTATION}={value}"
        )?;
    }
    writeln!(
        out,
        "The operator sends each approved change once (one provider call) and then no longer \
         lists it in status.plannedChanges; `kubectl pxo status {name}` shows the outcome."
    )?;
    Ok(())
}

/// Adds `add` to the object's approve annotation, with its resourceVersion as a precondition
/// (another approval at the same moment is not lost: read again and retried).
async fn annotate_merged<K>(
    client: &Client,
    api: &Api<K>,
    name: &str,
    add: &[&str],
    keep: impl Fn(&str) -> bool,
    req: Request<'_>,
) -> anyhow::Result<String>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let object = match api.get(name).await {
            Ok(o) => o,
            Err(e) => return Err(cluster::explain(client, e, Request { verb: "get", ..req }).await),
        };
        let value = merged_approvals(
            object
                .annotations()
                .get(APPROVE_ANNOTATION)
                .map(String::as_str),
            add,
            &keep,
        );
        let patch = json!({"metadata": {
            "resourceVersion": object.resource_version(),
            "annotations": {APPROVE_ANNOTATION: value},
        }});
        match api.patch(name, &params(), &Patch::Merge(&patch)).await {
            Ok(_) => return Ok(value),
            Err(kube::Error::Api(s)) if s.code == 409 && attempt < 5 => continue,
            Err(e) => return Err(cluster::explain(client, e, req).await),
        }
    }
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(PLUGIN_FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    }
}

/// A fresh token: the time and a random part, so two requests in one second differ.
pub fn token() -> String {
    let now = Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .unwrap_or(Timestamp::now());
    format!("{now}-{:06x}", rand::random::<u32>() & 0xff_ffff)
}

async fn set_annotation(
    cluster: &Cluster,
    name: &str,
    key: &str,
    value: Option<&str>,
) -> anyhow::Result<()> {
    let ns = cluster.namespace.as_str();
    let patch = json!({"metadata": {"annotations": {key: value}}});
    Api::<ProxyOrder>::namespaced(cluster.client.clone(), ns)
        .patch(name, &params(), &Patch::Merge(&patch))
        .await
        .map(drop)
        .map_err(|e| cluster::describe(e, proxy_order_request("patch", ns, name), false))
}

fn paused(po: &ProxyOrder) -> bool {
    po.annotations().get(PAUSED_ANNOTATION).map(String::as_str) == Some("true")
}

/// `kubectl pxo rotate NAME`.
pub async fn rotate(cluster: &Cluster, name: &str, out: &mut impl Write) -> anyhow::Result<()> {
    let ns = cluster.namespace.as_str();
    let po = get_proxy_order(&cluster.client, ns, name).await?;
    if po.spec.observes() {
        bail!(
            "ProxyOrder {ns}/{name} has managementPolicy Observe: the operator sends no password \
             (nothing to rotate until it is Manage)"
        );
    }
    if let Some(p) = po
        .spec
        .password
        .as_ref()
        .and_then(|p| p.secret_key_ref.as_ref())
    {
        bail!(
            "ProxyOrder {ns}/{name} takes its password from Secret {} (key {}): a rotation would \
             be undone by that value, so the operator ignores it; change the password in that \
             Secret instead",
            p.name,
            p.key
        );
    }
    let token = token();
    set_annotation(cluster, name, ROTATE_PASSWORD_ANNOTATION, Some(&token)).await?;
    writeln!(
        out,
        "Annotated ProxyOrder {ns}/{name} {ROTATE_PASSWORD_ANNOTATION}={token}"
    )?;
    writeln!(
        out,
        "The operator asks the provider for one new generated password (one provider call; at \
         most one rotation per --rotation-min-interval, 1m by default), writes it to Secret {} \
         and, with rollout targets, restarts them.",
        po.secret_name()
    )?;
    if paused(&po) {
        writeln!(
            out,
            "It is paused: the rotation waits for `kubectl pxo resume {name}`."
        )?;
    }
    Ok(())
}

/// `kubectl pxo sync NAME`.
pub async fn sync(cluster: &Cluster, name: &str, out: &mut impl Write) -> anyhow::Result<()> {
    let ns = cluster.namespace.as_str();
    let po = get_proxy_order(&cluster.client, ns, name).await?;
    let token = token();
    set_annotation(cluster, name, SYNC_REQUESTED_ANNOTATION, Some(&token)).await?;
    writeln!(
        out,
        "Annotated ProxyOrder {ns}/{name} {SYNC_REQUESTED_ANNOTATION}={token}"
    )?;
    writeln!(
        out,
        "The operator re-reads the order list from the provider now and updates the status and \
         Secret {} from it; a difference from the spec is then applied as usual.",
        po.secret_name()
    )?;
    if paused(&po) {
        writeln!(
            out,
            "It is paused: the sync waits for `kubectl pxo resume {name}`."
        )?;
    }
    Ok(())
}

/// `kubectl pxo pause NAME` (`pause = true`) and `kubectl pxo resume NAME`.
pub async fn pause(
    cluster: &Cluster,
    name: &str,
    pause: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let ns = cluster.namespace.as_str();
    let po = get_proxy_order(&cluster.client, ns, name).await?;
    match (pause, paused(&po)) {
        (true, true) => writeln!(out, "ProxyOrder {ns}/{name} is already paused.")?,
        (false, false) => writeln!(out, "ProxyOrder {ns}/{name} is not paused.")?,
        (true, false) => {
            set_annotation(cluster, name, PAUSED_ANNOTATION, Some("true")).await?;
            writeln!(
                out,
                "Annotated ProxyOrder {ns}/{name} {PAUSED_ANNOTATION}=true"
            )?;
            writeln!(
                out,
                "The operator makes no provider call and no write for it (Synced becomes \
                 False/Paused) until `kubectl pxo resume {name}`; deleting it still works."
            )?;
        }
        (false, true) => {
            set_annotation(cluster, name, PAUSED_ANNOTATION, None).await?;
            writeln!(
                out,
                "Removed {PAUSED_ANNOTATION} from ProxyOrder {ns}/{name}"
            )?;
            writeln!(
                out,
                "The operator reconciles it again: what the spec asks for and the provider \
                 lacks is applied."
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(hash: &str, approve_on: &str) -> PlannedChange {
        PlannedChange {
            hash: hash.into(),
            field: "quantity".into(),
            from: 5,
            to: 20,
            limit: 10,
            approve_on: approve_on.into(),
            held_since: None,
            approved: false,
        }
    }

    #[test]
    fn the_only_held_change_is_chosen_several_need_all_or_hashes() {
        let one = [change("a1", "ProxyOrder")];
        assert_eq!(choose(&one, &Select::Only, "x").unwrap()[0].hash, "a1");
        let two = [
            change("a1", "ProxyOrder"),
            change("b2", "ProxyProvider shared"),
        ];
        let err = choose(&two, &Select::Only, "ProxyOrder t/x")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("holds 2 changes back: pass --all, or --hash"),
            "{err}"
        );
        assert!(err.contains("b2"), "the table lists them: {err}");
        assert_eq!(choose(&two, &Select::All, "x").unwrap().len(), 2);
        let picked = choose(&two, &Select::Hashes(vec!["b2".into()]), "x").unwrap();
        assert_eq!(picked[0].hash, "b2");
        let err = choose(&two, &Select::Hashes(vec!["zz".into()]), "x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no change with hash zz"), "{err}");
    }

    #[test]
    fn provider_level_changes_name_their_provider() {
        assert_eq!(
            provider_of(&change("a", "ProxyProvider shared")),
            Some("shared")
        );
        assert_eq!(provider_of(&change("a", "ProxyOrder")), None);
    }

    #[test]
    fn approvals_merge_once_each_and_drop_obsolete_ones() {
        assert_eq!(merged_approvals(None, &["a"], |_| true), "a");
        assert_eq!(
            merged_approvals(Some("x, a"), &["a", "b"], |_| true),
            "x,a,b"
        );
        assert_eq!(merged_approvals(Some("x,a"), &["b"], |h| h != "x"), "a,b");
        assert_eq!(merged_approvals(Some(""), &["b"], |_| true), "b");
    }

    #[test]
    fn tokens_are_fresh() {
        let (a, b) = (token(), token());
        assert_ne!(a, b);
        assert!(a.ends_with(|c: char| c.is_ascii_hexdigit()), "{a}");
        assert!(a.len() <= 63, "{a}");
    }
}
