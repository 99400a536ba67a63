//! The connection to the cluster, as kubectl makes it (kubeconfig, context, namespace,
//! impersonation, timeout), the requests the commands make, and errors a user can act on: a
//! missing CRD, a missing object, an RBAC denial.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::anyhow;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::{
    Api, Client, Config, CustomResourceExt,
    api::PostParams,
    config::{KubeConfigOptions, Kubeconfig},
};
use proxy_order_api::{GROUP, ProxyOrder, ProxyProvider, VERSION};

/// How to reach the cluster: kubectl's connection flags.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Connection (as kubectl)")]
pub struct ConnectArgs {
    /// The kubeconfig file (default: the files $KUBECONFIG lists, merged, else
    /// ~/.kube/config, else the Pod's service account).
    #[arg(long, global = true)]
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
    /// Act as this user (impersonation, as kubectl --as).
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,
    /// Act with this group too (repeatable; with --as).
    #[arg(
        long = "as-group",
        global = true,
        value_name = "GROUP",
        requires = "as_user"
    )]
    pub as_group: Vec<String>,
    /// Give up on one request to the API server after this long (e.g. 10s, 1m).
    #[arg(long, global = true, default_value = "30s", value_parser = parse_timeout)]
    pub request_timeout: Duration,
    /// The ProxyOrder's namespace (default: the context's namespace, else `default`).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// The operator's namespace, where its order claims live (or $PXO_OPERATOR_NAMESPACE).
    /// Default: where the ProxyOrder's claim is, when you may list Leases in every namespace;
    /// else `proxy-order-operator`.
    #[arg(long, global = true, env = "PXO_OPERATOR_NAMESPACE", hide_env = true)]
    pub operator_namespace: Option<String>,
}

/// `10s`, `1m`, `1m30s`, or a bare number of seconds.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number
            .parse()
            .map_err(|_| format!("{text:?} is no duration: use 30s, 1m"))?;
        total += match c {
            's' => n,
            'm' => n * 60,
            'h' => n * 3600,
            _ => return Err(format!("{text:?} is no duration: use 30s, 1m")),
        };
        number.clear();
    }
    if !number.is_empty() {
        total += number.parse::<u64>().map_err(|e| e.to_string())?;
    }
    if total == 0 {
        return Err("the timeout must be more than 0s".to_string());
    }
    Ok(Duration::from_secs(total))
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

/// The kubeconfig files kubectl would read: `--kubeconfig` alone, else the files `$KUBECONFIG`
/// lists that exist (an empty or unset variable: none).
fn kubeconfig_files(flag: Option<&Path>, env: Option<&std::ffi::OsStr>) -> Vec<PathBuf> {
    match flag {
        Some(file) => vec![file.to_path_buf()],
        None => env
            .map(|paths| {
                std::env::split_paths(paths)
                    .filter(|p| !p.as_os_str().is_empty() && p.exists())
                    .collect()
            })
            .unwrap_or_default(),
    }
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
        let env = std::env::var_os("KUBECONFIG");
        let files = kubeconfig_files(self.kubeconfig.as_deref(), env.as_deref());
        let mut config = if files.is_empty() {
            if env.as_ref().is_some_and(|v| !v.is_empty()) {
                return Err(anyhow!(
                    "none of the files KUBECONFIG lists exists: {}",
                    env.unwrap_or_default().to_string_lossy()
                ));
            }
            let named =
                options.context.is_some() || options.cluster.is_some() || options.user.is_some();
            if named {
                Config::from_kubeconfig(&options)
                    .await
                    .map_err(|e| anyhow!("cannot load the kubeconfig: {e}"))?
            } else {
                // ~/.kube/config, else the Pod's service account.
                Config::infer()
                    .await
                    .map_err(|e| anyhow!("cannot load the kubeconfig: {e}"))?
            }
        } else {
            let mut merged: Option<Kubeconfig> = None;
            for path in &files {
                // kube's message names the file and the cause.
                let file = Kubeconfig::read_from(path).map_err(|e| anyhow!("{e}"))?;
                merged = Some(match merged {
                    Some(m) => m
                        .merge(file)
                        .map_err(|e| anyhow!("cannot merge kubeconfig files: {e}"))?,
                    None => file,
                });
            }
            let kubeconfig = merged.expect("at least one file");
            Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| anyhow!("cannot load the kubeconfig: {e}"))?
        };
        if let Some(user) = &self.as_user {
            config.auth_info.impersonate = Some(user.clone());
            config.auth_info.impersonate_groups =
                (!self.as_group.is_empty()).then(|| self.as_group.clone());
        }
        config.connect_timeout = Some(self.request_timeout);
        config.read_timeout = Some(self.request_timeout);
        config.write_timeout = Some(self.request_timeout);
        config.reset_reader_on_write = true;
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

impl Cluster {
    /// The ProxyOrder `name` in the namespace, or an error that says why it cannot be read.
    pub async fn proxy_order(&self, name: &str) -> anyhow::Result<ProxyOrder> {
        let ns = self.namespace.as_str();
        match Api::<ProxyOrder>::namespaced(self.client.clone(), ns)
            .get(name)
            .await
        {
            Ok(po) => Ok(po),
            Err(e) => Err(explain(&self.client, e, Request::proxy_order("get", ns, name)).await),
        }
    }

    /// Whether the API server would let the user `verb` the `resource` (a
    /// SelfSubjectAccessReview, which every authenticated user may make).
    pub async fn may(&self, verb: &str, req: Request<'_>) -> anyhow::Result<bool> {
        let (resource, group) = req.resource.split_once('.').unwrap_or((req.resource, ""));
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.to_string()),
                    group: Some(group.to_string()),
                    resource: Some(resource.to_string()),
                    namespace: req.namespace.map(str::to_string),
                    name: req.name.map(str::to_string),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let answer = Api::<SelfSubjectAccessReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| anyhow!("cannot ask the API server what you may do: {e}"))?;
        Ok(answer.status.is_some_and(|s| s.allowed))
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

impl<'a> Request<'a> {
    /// A request for one ProxyOrder.
    pub fn proxy_order(verb: &'a str, ns: &'a str, name: &'a str) -> Self {
        Request {
            verb,
            resource: ProxyOrder::crd_name(),
            kind: "ProxyOrder",
            namespace: Some(ns),
            name: Some(name),
        }
    }

    /// A request for one ProxyProvider.
    pub fn proxy_provider(verb: &'a str, name: &'a str) -> Self {
        Request {
            verb,
            resource: ProxyProvider::crd_name(),
            kind: "ProxyProvider",
            namespace: None,
            name: Some(name),
        }
    }

    /// A request for a namespaced resource of Kubernetes: `resource` as RBAC names it.
    pub fn namespaced(
        verb: &'a str,
        resource: &'a str,
        kind: &'a str,
        ns: &'a str,
        name: Option<&'a str>,
    ) -> Self {
        Request {
            verb,
            resource,
            kind,
            namespace: Some(ns),
            name,
        }
    }

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
    fn requests_name_the_resources_as_rbac_does() {
        let po = Request::proxy_order("get", "team-a", "web");
        assert_eq!(
            (po.resource, po.kind, po.namespace, po.name),
            (GET_PO.resource, "ProxyOrder", Some("team-a"), Some("web"))
        );
        assert_eq!(
            Request::proxy_provider("patch", "p").resource,
            "proxyproviders.proxy-solutions.net"
        );
    }

    #[test]
    fn kubeconfig_files_are_found_as_kubectl_finds_them() {
        let dir = std::env::temp_dir().join(format!("pxo-kc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = dir.join("a");
        std::fs::write(&a, "").unwrap();
        let missing = dir.join("missing");
        let list = std::env::join_paths([missing.clone(), a.clone()]).unwrap();
        // The flag names one file, as given; the variable's missing files are skipped.
        assert_eq!(
            kubeconfig_files(Some(&missing), Some(&list)),
            std::slice::from_ref(&missing)
        );
        assert_eq!(
            kubeconfig_files(None, Some(&list)),
            std::slice::from_ref(&a)
        );
        assert!(kubeconfig_files(None, Some(std::ffi::OsStr::new(""))).is_empty());
        assert!(kubeconfig_files(None, None).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn timeouts_read_like_kubectls() {
        assert_eq!(parse_timeout("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_timeout("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_timeout("5"), Ok(Duration::from_secs(5)));
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("1x").is_err());
    }

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
