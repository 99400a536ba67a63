//! The commands that ask the operator for something: each sets one of the ProxyOrder's
//! annotations (a fresh token where a new value is what asks) and says what will happen.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{anyhow, bail};
use k8s_openapi::jiff::Timestamp;
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
};
use proxy_order_api::{
    APPROVE_ANNOTATION, PAUSED_ANNOTATION, PLUGIN_FIELD_MANAGER, PlannedChange, ProxyOrder,
    ProxyProvider, ROTATE_PASSWORD_ANNOTATION, SYNC_REQUESTED_ANNOTATION,
    annotations::{ApproveOn, approvals},
};
use serde_json::json;

use crate::cluster::{self, Cluster, Request};

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

    /// The answer, asked on stderr (stdout stays the command's output).
    fn obtain(&self, question: &str) -> anyhow::Result<bool> {
        match self {
            Confirm::Given => Ok(true),
            Confirm::Ask => {
                let stdin = std::io::stdin();
                if !stdin.is_terminal() {
                    bail!("not asking for confirmation without a terminal: pass --yes");
                }
                let mut err = std::io::stderr().lock();
                write!(err, "{question} [y/N] ")?;
                err.flush()?;
                let mut answer = String::new();
                stdin.lock().read_line(&mut answer)?;
                Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
            }
        }
    }
}

/// The held changes `select` names (each once), or why none can be chosen. `held` are those
/// waiting for an approval.
pub fn choose<'a>(
    held: &'a [PlannedChange],
    select: &Select,
    object: &str,
) -> anyhow::Result<Vec<&'a PlannedChange>> {
    match select {
        Select::All if held.is_empty() => bail!("{object} holds no change back for approval"),
        Select::All => Ok(held.iter().collect()),
        Select::Only => match held {
            [one] => Ok(vec![one]),
            _ => Err(anyhow!(
                "{object} holds {} changes back: pass --all, or --hash for each one to approve:\n{}",
                held.len(),
                table(held.iter())
            )),
        },
        Select::Hashes(hashes) => {
            let mut chosen: Vec<&PlannedChange> = Vec::new();
            for h in hashes {
                let change = held.iter().find(|c| c.hash == *h).ok_or_else(|| {
                    anyhow!(
                        "{object} holds no change with hash {h} back for approval (it may have \
                         been approved, sent or replaced); held now:\n{}",
                        table(held.iter())
                    )
                })?;
                if !chosen.iter().any(|c| c.hash == change.hash) {
                    chosen.push(change);
                }
            }
            Ok(chosen)
        }
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

/// The approve annotation's value with `add` approved too: the hashes already there and the
/// new ones, each once, in order. Nothing is dropped: a hash no change has any more approves
/// nothing, while one another person just approved must stay.
pub fn merged_approvals(existing: Option<&str>, add: &[&str]) -> String {
    let mut hashes = approvals(existing);
    for h in add {
        if !hashes.iter().any(|x| x == h) {
            hashes.push(h.to_string());
        }
    }
    hashes.join(",")
}

/// The changes approved on the ProxyOrder and those on each ProxyProvider.
type Split<'a> = (
    Vec<&'a PlannedChange>,
    Vec<(String, Vec<&'a PlannedChange>)>,
);

/// Splits the chosen changes by where they are approved.
pub fn split<'a>(chosen: &[&'a PlannedChange]) -> anyhow::Result<Split<'a>> {
    let (mut own, mut providers): Split = (Vec::new(), Vec::new());
    for c in chosen {
        match c.approval_target() {
            Some(ApproveOn::ProxyOrder) => own.push(c),
            Some(ApproveOn::ProxyProvider(name)) => {
                match providers.iter_mut().find(|(p, _)| *p == name) {
                    Some((_, list)) => list.push(c),
                    None => providers.push((name, vec![c])),
                }
            }
            None => bail!(
                "the change with hash {} is to be approved on {:?}, which this kubectl pxo \
                 does not know: annotate it by hand",
                c.hash,
                c.approve_on
            ),
        }
    }
    Ok((own, providers))
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
    let po = cluster.proxy_order(name).await?;
    let Some(status) = po.status.as_ref() else {
        bail!(
            "{object} has no status yet: is the operator running, and does it watch this \
             namespace?"
        );
    };
    if let (Some(seen), Some(now)) = (status.observed_generation, po.metadata.generation)
        && seen != now
    {
        eprintln!(
            "warning: {object}'s status is for generation {seen}, its spec is at {now}: the \
             operator has not looked at the latest change yet, and the held changes may be \
             replaced"
        );
    }
    let (held, waiting): (Vec<PlannedChange>, Vec<PlannedChange>) = status
        .planned_changes
        .iter()
        .cloned()
        .partition(|c| !c.approved);
    if held.is_empty() && select == Select::Only {
        writeln!(
            out,
            "{object} holds no change back for approval: nothing to approve."
        )?;
        for c in &waiting {
            writeln!(
                out,
                "Approved and waiting to be sent (an active order's term, or another \
                 approval): {} {} -> {}, hash {}",
                c.field, c.from, c.to, c.hash
            )?;
        }
        return Ok(());
    }
    let chosen = choose(&held, &select, &object)?;
    let (own, providers) = split(&chosen)?;
    write!(out, "Held by {object}:\n{}", table(chosen.iter().copied()))?;
    for (provider, changes) in &providers {
        let hashes: Vec<&str> = changes.iter().map(|c| c.hash.as_str()).collect();
        writeln!(
            out,
            "Above ProxyProvider {provider}'s maxQuantity: the approval belongs on the \
             ProxyProvider, which only those who may annotate it (usually cluster \
             administrators) can give{}",
            if on_provider {
                ".".to_string()
            } else {
                format!(
                    ": kubectl pxo approve {name} -n {ns} --on-provider --hash {}",
                    hashes.join(" --hash ")
                )
            }
        )?;
    }
    let providers = if on_provider { providers } else { Vec::new() };
    if own.is_empty() && providers.is_empty() {
        bail!("nothing approved: the changes above are approved on their ProxyProvider");
    }
    // Rights first, so that nothing is written halfway.
    for (provider, _) in &providers {
        let req = Request::proxy_provider("patch", provider);
        if !cluster.may("patch", req).await? {
            bail!(
                "forbidden: you may not patch proxyproviders.proxy-solutions.net {provider} \
                 (RBAC): the approval belongs to whoever may; nothing was approved"
            );
        }
    }
    let mut targets = Vec::new();
    if !own.is_empty() {
        targets.push(object.clone());
    }
    targets.extend(providers.iter().map(|(p, _)| format!("ProxyProvider {p}")));
    let count = own.len() + providers.iter().map(|(_, c)| c.len()).sum::<usize>();
    let question = format!(
        "Approve {count} change{} (annotate {})?",
        if count == 1 { "" } else { "s" },
        targets.join(" and ")
    );
    if !confirm.obtain(&question)? {
        bail!("not approved");
    }

    if !own.is_empty() {
        let add: Vec<&str> = own.iter().map(|c| c.hash.as_str()).collect();
        let api = Api::<ProxyOrder>::namespaced(cluster.client.clone(), ns);
        let req = Request::proxy_order("patch", ns, name);
        let value = annotate_merged(cluster, name, &api, name, &add, req).await?;
        writeln!(out, "Annotated {object} {APPROVE_ANNOTATION}={value}")?;
    }
    for (provider, changes) in &providers {
        let add: Vec<&str> = changes.iter().map(|c| c.hash.as_str()).collect();
        let api = Api::<ProxyProvider>::all(cluster.client.clone());
        let req = Request::proxy_provider("patch", provider);
        // Other ProxyOrders' approvals may be there too: all kept.
        let value = annotate_merged(cluster, name, &api, provider, &add, req).await?;
        writeln!(
            out,
            "Annotated ProxyProvider {provider} {APPROVE_ANNOTATION}={value}"
        )?;
    }
    writeln!(
        out,
        "The operator sends each approved change once (one provider call): at once when \
         nothing else holds it, else when the order's term ends, listing it as approved until \
         then. `kubectl pxo status {name}` shows the outcome."
    )?;
    Ok(())
}

/// Adds `add` to the approve annotation of `target` (the ProxyOrder `name`, or its
/// ProxyProvider), after checking on a fresh read of the ProxyOrder that each change is still
/// held, with the target's resourceVersion as a precondition: an approval someone gives at the
/// same moment is not lost (read again and retried).
async fn annotate_merged<K>(
    cluster: &Cluster,
    name: &str,
    api: &Api<K>,
    target: &str,
    add: &[&str],
    req: Request<'_>,
) -> anyhow::Result<String>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let client = &cluster.client;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let po = cluster.proxy_order(name).await?;
        let listed = po
            .status
            .as_ref()
            .map(|s| s.planned_changes.as_slice())
            .unwrap_or_default();
        if let Some(gone) = add.iter().find(|h| !listed.iter().any(|c| c.hash == **h)) {
            bail!(
                "the change with hash {gone} is no longer held (sent, or replaced by another): \
                 nothing more was approved; see kubectl pxo status {name}"
            );
        }
        let object = match api.get(target).await {
            Ok(o) => o,
            Err(e) => {
                return Err(cluster::explain(client, e, Request { verb: "get", ..req }).await);
            }
        };
        let value = merged_approvals(
            object
                .annotations()
                .get(APPROVE_ANNOTATION)
                .map(String::as_str),
            add,
        );
        let patch = json!({"metadata": {
            "resourceVersion": object.resource_version(),
            "annotations": {APPROVE_ANNOTATION: value},
        }});
        match api.patch(target, &params(), &Patch::Merge(&patch)).await {
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

/// Sets (or, with `None`, removes) one annotation of the ProxyOrder.
async fn set_annotation(
    cluster: &Cluster,
    name: &str,
    key: &str,
    value: Option<&str>,
) -> anyhow::Result<()> {
    let ns = cluster.namespace.as_str();
    let patch = json!({"metadata": {"annotations": {key: value}}});
    match Api::<ProxyOrder>::namespaced(cluster.client.clone(), ns)
        .patch(name, &params(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let req = Request::proxy_order("patch", ns, name);
            Err(cluster::explain(&cluster.client, e, req).await)
        }
    }
}

/// `kubectl pxo rotate NAME`.
pub async fn rotate(cluster: &Cluster, name: &str, out: &mut impl Write) -> anyhow::Result<()> {
    let ns = cluster.namespace.as_str();
    let po = cluster.proxy_order(name).await?;
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
    if po.is_paused() {
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
    let po = cluster.proxy_order(name).await?;
    let token = token();
    set_annotation(cluster, name, SYNC_REQUESTED_ANNOTATION, Some(&token)).await?;
    writeln!(
        out,
        "Annotated ProxyOrder {ns}/{name} {SYNC_REQUESTED_ANNOTATION}={token}"
    )?;
    writeln!(
        out,
        "The operator re-reads the order list from the provider (within seconds: one read per \
         API key at most every 10 s) and updates the status and Secret {} from it{}",
        po.secret_name(),
        if po.spec.observes() {
            "; with managementPolicy Observe nothing is sent."
        } else {
            "; what the spec asks for and the provider lacks is then applied."
        }
    )?;
    if po.is_paused() {
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
    let po = cluster.proxy_order(name).await?;
    match (pause, po.is_paused()) {
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
                "The operator makes no provider call and writes nothing for it but its status \
                 (Synced=False/Paused) until `kubectl pxo resume {name}`; deleting it still \
                 works."
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
        let picked = choose(&two, &Select::Hashes(vec!["b2".into(), "b2".into()]), "x").unwrap();
        assert_eq!(picked.len(), 1, "a hash named twice is approved once");
        assert_eq!(picked[0].hash, "b2");
        let err = choose(&two, &Select::Hashes(vec!["zz".into()]), "x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no change with hash zz"), "{err}");
        // Asking for all or for a hash with nothing held is an error, not a success.
        assert!(choose(&[], &Select::All, "x").is_err());
        assert!(choose(&[], &Select::Hashes(vec!["a1".into()]), "x").is_err());
    }

    #[test]
    fn changes_split_by_where_they_are_approved() {
        let changes = [
            change("a", "ProxyOrder"),
            change("b", "ProxyProvider shared"),
            change("c", "ProxyProvider shared"),
            change("d", "ProxyProvider other"),
        ];
        let chosen: Vec<&PlannedChange> = changes.iter().collect();
        let (own, providers) = split(&chosen).unwrap();
        assert_eq!(own.iter().map(|c| &c.hash).collect::<Vec<_>>(), ["a"]);
        let names: Vec<(&str, usize)> = providers
            .iter()
            .map(|(p, c)| (p.as_str(), c.len()))
            .collect();
        assert_eq!(names, [("shared", 2), ("other", 1)]);
        let odd = [change("e", "ProxyProviderX")];
        let chosen: Vec<&PlannedChange> = odd.iter().collect();
        assert!(split(&chosen).is_err(), "an unknown place is not guessed");
    }

    #[test]
    fn approvals_merge_once_each_and_keep_what_is_there() {
        assert_eq!(merged_approvals(None, &["a"]), "a");
        assert_eq!(merged_approvals(Some("x, a"), &["a", "b"]), "x,a,b");
        assert_eq!(merged_approvals(Some(""), &["b"]), "b");
    }

    #[test]
    fn tokens_are_fresh() {
        let (a, b) = (token(), token());
        assert_ne!(a, b);
        let (time, random) = a.rsplit_once('-').unwrap();
        assert!(time.parse::<Timestamp>().is_ok(), "{a}");
        assert_eq!(random.len(), 6, "{a}");
    }
}
