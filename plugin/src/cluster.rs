//! The connection to the cluster, as kubectl makes it (kubeconfig, context, namespace), and
//! errors a user can act on: a missing CRD, a missing object, an RBAC denial.

use std::path::PathBuf;

use anyhow::anyhow;
use kube::{
    Client, Config,
    config::{KubeConfigOptions, Kubeconfig},
};
use proxy_order_api::GROUP;

/// The API version both custom resources are served at.
const VERSION: &str = "v1alpha1";

/// How to reach the cluster: kubectl's connection flags.
#[derive(clap::Args, Debug, Clone)]
pub struct ConnectArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, global = true, env = "KUBECONFIG", hide_env = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The kubeconfig cluster to use.
    #[arg(long, global = true)]
    pub cluster: Option<String>,
    /// The kubeconfig user to use.
    #[arg(long, global = true)]
    pub user: Option<String>,
    /// The ProxyOrder's namespace (default: the context's namespace, else `default`).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// The operator's namespace, where its order claims live. Default: the namespace of the
    /// ProxyOrder's claim when you may list Leases in all namespaces, else
    /// `proxy-order-operator` (the chart's usual one).
    #[arg(long, global = true, env = "PXO_OPERATOR_NAMESPACE")]
    pub operator_namespace: Option<String>,
}

/// The namespace the operator is looked for in when it is not given and cannot be found.
pub const DEFAULT_OPERATOR_NAMESPACE: &str = "proxy-order-operator";

/// A connected client and the namespaces to work in.
pub struct Cluster {
    pub client: Client,
    pub namespace: String,
    /// `--operator-namespace`, if given.
    pub operator_namespace: Option<String>,
}

impl ConnectArgs {
    pub async fn connect(&self) -> anyhow::Result<Cluster> {
        // kube's TLS uses rustls with ring; installed once, before the first connection.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let options = KubeConfigOptions {
            context: self.context.clone(),
            cluster: self.cluster.clone(),
            user: self.user.clone(),
        };
        let config = match &self.kubeconfig {
            // KUBECONFIG may list several files, as kubectl merges them.
            Some(paths) => {
                let mut merged: Option<Kubeconfig> = None;
                for path in std::env::split_paths(paths).filter(|p| !p.as_os_str().is_empty()) {
                    // kube's message names the file and the cause.
                    let file = Kubeconfig::read_from(&path).map_err(|e| anyhow!("{e}"))?;
                    merged = Some(match merged {
                        Some(m) => m
                            .merge(file)
                            .map_err(|e| anyhow!("cannot merge kubeconfig files: {e}"))?,
                        None => file,
                    });
                }
                let kubeconfig = merged.ok_or_else(|| anyhow!("--kubeconfig names no file"))?;
                Config::from_custom_kubeconfig(kubeconfig, &options).await
            }
            None => Config::from_kubeconfig(&options).await,
        }
        .map_err(|e| anyhow!("cannot load the kubeconfig: {e}"))?;
        let namespace = self
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = Client::try_from(config)
            .map_err(|e| anyhow!("cannot build a client from the kubeconfig: {e}"))?;
        Ok(Cluster {
            client,
            namespace,
            operator_namespace: self.operator_namespace.clone(),
        })
    }
}

/// What a request tried, to say what went wrong in the user's terms.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// `get`, `list`, `patch`.
    pub verb: &'a str,
    /// The resource as RBAC names it: `proxyorders`, `secrets`, `leases.coordination.k8s.io`.
    pub resource: &'a str,
    /// The kind, for "not found": `ProxyOrder`.
    pub kind: &'a str,
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
}

impl Request<'_> {
    fn object(&self) -> String {
        match (self.namespace, self.name) {
            (Some(ns), Some(name)) => format!("{} {ns}/{name}", self.kind),
            (None, Some(name)) => format!("{} {name}", self.kind),
            (Some(ns), None) => format!("{} in namespace {ns}", self.resource),
            (None, None) => self.resource.to_string(),
        }
    }

    fn is_ours(&self) -> bool {
        self.resource.ends_with(GROUP)
    }
}

/// Whether the API server serves `resource` (`proxyorders.proxy-solutions.net`): false when
/// the CRD is not installed.
pub async fn served(client: &Client, resource: &str) -> anyhow::Result<bool> {
    let plural = resource.split('.').next().unwrap_or(resource);
    match client
        .list_api_group_resources(&format!("{GROUP}/{VERSION}"))
        .await
    {
        Ok(list) => Ok(list.resources.iter().any(|r| r.name == plural)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// `err` as a user can act on it. A 404 for one of our resources is checked against discovery
/// to tell a missing CRD from a missing object.
pub async fn explain(client: &Client, err: kube::Error, req: Request<'_>) -> anyhow::Error {
    let crd_missing = match &err {
        kube::Error::Api(s) if s.code == 404 && req.is_ours() => {
            matches!(served(client, req.resource).await, Ok(false))
        }
        _ => false,
    };
    describe(err, req, crd_missing)
}

/// [`explain`] once it is known whether the CRD is missing.
pub fn describe(err: kube::Error, req: Request<'_>, crd_missing: bool) -> anyhow::Error {
    match err {
        kube::Error::Api(_) if crd_missing => anyhow!(
            "the {} CRD ({}) is not installed in this cluster: install the operator's CRDs \
             (`kubectl apply -f deploy/crds/` or the Helm chart) or check --context",
            req.kind,
            req.resource
        ),
        kube::Error::Api(s) if s.code == 404 => anyhow!("{} not found", req.object()),
        kube::Error::Api(s) if s.code == 403 => {
            let scope = match req.namespace {
                Some(ns) => format!(" in namespace {ns}"),
                None => String::new(),
            };
            anyhow!(
                "forbidden: you may not {} {}{scope} (RBAC); ask an administrator for `{}` on \
                 `{}`{scope}. The API server said: {}",
                req.verb,
                req.resource,
                req.verb,
                req.resource,
                s.message
            )
        }
        kube::Error::Api(s) if s.code == 401 => anyhow!(
            "unauthorized: the API server refused the kubeconfig's credentials ({})",
            s.message
        ),
        kube::Error::Api(s) if s.code == 409 => anyhow!(
            "{} changed while it was being updated; run the command again ({})",
            req.object(),
            s.message
        ),
        other => anyhow!(other).context(format!("cannot {} {}", req.verb, req.object())),
    }
}

/// Whether `err` says only that the object does not exist (the CRD being there).
pub fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 404)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn status(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(
            Status {
                code,
                reason: reason.into(),
                message: message.into(),
                ..Status::default()
            }
            .boxed(),
        )
    }

    const GET_PO: Request<'static> = Request {
        verb: "get",
        resource: "proxyorders.proxy-solutions.net",
        kind: "ProxyOrder",
        namespace: Some("team-a"),
        name: Some("web"),
    };

    #[test]
    fn errors_say_what_to_do() {
        let missing = describe(status(404, "NotFound", "not found"), GET_PO, false).to_string();
        assert_eq!(missing, "ProxyOrder team-a/web not found");

        let crd = describe(
            status(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ),
            GET_PO,
            true,
        )
        .to_string();
        assert!(
            crd.contains("ProxyOrder CRD (proxyorders.proxy-solutions.net) is not installed"),
            "{crd}"
        );

        let denied = describe(
            status(403, "Forbidden", "proxyorders.proxy-solutions.net \"web\" is forbidden: User \"u\" cannot get resource"),
            GET_PO,
            false,
        )
        .to_string();
        assert!(denied.starts_with("forbidden: you may not get proxyorders.proxy-solutions.net in namespace team-a (RBAC)"), "{denied}");
        assert!(denied.contains("User \"u\" cannot get"), "{denied}");

        let conflict = describe(
            status(409, "Conflict", "the object has been modified"),
            GET_PO,
            false,
        )
        .to_string();
        assert!(conflict.contains("run the command again"), "{conflict}");
    }

    #[test]
    fn only_our_resources_are_checked_for_a_missing_crd() {
        assert!(GET_PO.is_ours());
        let secret = Request {
            resource: "secrets",
            kind: "Secret",
            ..GET_PO
        };
        assert!(!secret.is_ours());
        assert_eq!(secret.object(), "Secret team-a/web");
        let list = Request {
            name: None,
            ..secret
        };
        assert_eq!(list.object(), "secrets in namespace team-a");
    }
}
