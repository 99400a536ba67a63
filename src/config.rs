//! Command-line and environment configuration of the operator.

use std::{net::SocketAddr, time::Duration};

use clap::Parser;

use crate::{
    duration::{parse_duration, parse_duration_or_zero},
    provider::config::ProviderArgs,
    telemetry::LogFormat,
};

/// Manages proxy-solutions proxy orders from `ProxyOrder` resources.
#[derive(Parser, Clone, Debug)]
#[command(name = "proxy-order-operator", version, about, long_about = None)]
pub struct Config {
    #[command(flatten)]
    pub provider: ProviderArgs,

    /// Secret (`namespace/name`, key `api-key`) with the API key for ProxyOrders that do not
    /// name their own.
    #[arg(long, env = "PROXY_ORDER_DEFAULT_API_KEY_SECRET", value_parser = parse_namespaced_name)]
    pub default_api_key_secret: Option<NamespacedName>,

    /// The operator's own namespace: where order claims (Leases) live, and where a
    /// ProxyProvider's API-key Secret is looked up when it names no namespace. Default:
    /// `POD_NAMESPACE`, else `--namespace`, else `default`.
    #[arg(long, env = "PROXY_ORDER_OPERATOR_NAMESPACE")]
    pub operator_namespace: Option<String>,

    /// Namespaces, besides the operator's own, that hold ProxyProvider API-key Secrets
    /// (`apiKeySecretRef.namespace`; comma-separated). With `--namespace`, their Secrets are
    /// watched (metadata only) so that a key created or fixed there is used at once (chart:
    /// `providerKeyNamespaces`, which grants get, list and watch on Secrets there). Watching
    /// all namespaces covers them anyway.
    #[arg(
        long,
        env = "PROXY_ORDER_PROVIDER_KEY_NAMESPACES",
        value_delimiter = ','
    )]
    pub provider_key_namespaces: Vec<String>,

    /// Allow ProxyOrders to name an API-key Secret in their own namespace
    /// (`spec.apiKeySecretRef`). Multi-tenant clusters set this to false, so that every
    /// ProxyOrder goes through a ProxyProvider (or the default key) the administrators control;
    /// a ProxyOrder that names one then fails with reason `ApiKeySecretRefDisabled`.
    #[arg(long, env = "PROXY_ORDER_ALLOW_API_KEY_SECRET_REF", default_value_t = true, action = clap::ArgAction::Set)]
    pub allow_api_key_secret_ref: bool,

    /// Act on `spec.secret.rolloutTargets`: annotate the Pod templates of those Deployments,
    /// StatefulSets and DaemonSets with a hash of the credentials, so they restart when the
    /// credentials change. Needs get, list, watch and patch on them (chart: `rollout.enabled`); when
    /// off, ProxyOrders naming targets say `RolloutsUpdated=False` (reason `RolloutDisabled`).
    #[arg(long, env = "PROXY_ORDER_ROLLOUT_TARGETS")]
    pub rollout_targets: bool,

    /// How long the order claim of a deleted ProxyOrder stays reserved for its namespace, so
    /// that deleting and re-creating a ProxyOrder never hands the order to a ProxyOrder of
    /// another namespace waiting for it. `0s`: released at once. A ProxyOrder annotated
    /// `proxy-solutions.net/release-order: "true"` releases its order at once when deleted.
    #[arg(long, env = "PROXY_ORDER_CLAIM_RESERVATION", default_value = "1h", value_parser = parse_duration_or_zero)]
    pub claim_reservation: Duration,

    /// Least time between two password rotations (`proxy-solutions.net/rotate-password`) of one
    /// ProxyOrder: a newer token waits for it. Keeps a rotation loop from spending a shared
    /// API key's requests on password generations. `0s`: no limit.
    #[arg(long, env = "PROXY_ORDER_ROTATION_MIN_INTERVAL", default_value = "1m", value_parser = parse_duration_or_zero)]
    pub rotation_min_interval: Duration,

    /// How often orders are re-read from the provider to detect drift (e.g. `10m`, `90s`).
    #[arg(long, env = "PROXY_ORDER_REFRESH_INTERVAL", default_value = "10m", value_parser = parse_duration)]
    pub refresh_interval: Duration,

    /// How many ProxyOrders are reconciled at the same time. Each namespace with work gets an
    /// equal part while others have work too.
    #[arg(long, env = "PROXY_ORDER_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,

    /// Provider requests per second allowed per API key (token bucket; bursts up to twice
    /// this), shared fairly by the namespaces using the key.
    #[arg(long, env = "PROXY_ORDER_RATE_LIMIT", default_value_t = 5.0, value_parser = parse_rate)]
    pub rate_limit: f64,

    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "PROXY_ORDER_NAMESPACE")]
    pub namespace: Option<String>,

    /// Reconcile only ProxyOrders (and update the status only of ProxyProviders) matching this
    /// label selector, to shard across instances (default: all). Checked at start: `key`,
    /// `!key`, `key=value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`, comma-separated.
    #[arg(long, env = "PROXY_ORDER_SELECTOR", value_parser = parse_label_selector)]
    pub selector: Option<String>,

    /// Take a `coordination.k8s.io` Lease before reconciling, so only one of several replicas
    /// acts. A standby reports ready while it sees a leader renew the Lease (not while the
    /// Lease is held by a replica that is gone), stops at once on SIGTERM and never takes the
    /// Lease once stopping; the leader gives the Lease up at shutdown (retried, a failure
    /// logged).
    #[arg(long, env = "PROXY_ORDER_LEADER_ELECTION")]
    pub leader_election: bool,

    /// Name of the leader-election Lease; instances that shard by `--selector` need
    /// different names.
    #[arg(
        long,
        env = "PROXY_ORDER_LEASE_NAME",
        default_value = "proxy-order-operator"
    )]
    pub lease_name: String,

    /// Namespace of the leader-election Lease (default: `--namespace`, else `POD_NAMESPACE`,
    /// else `default`).
    #[arg(long, env = "PROXY_ORDER_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,

    /// How long a leader's Lease lasts without renewal; a successor waits this long after a
    /// leader vanishes. Must exceed the provider timeout by more than 3 s: the leader stops
    /// starting provider calls and writes a provider timeout (plus 2 s) before its lease could
    /// pass to another replica.
    #[arg(long, env = "PROXY_ORDER_LEASE_DURATION", default_value = "60s", value_parser = parse_duration)]
    pub lease_duration: Duration,

    /// Address of the metrics and health endpoints (`/metrics` for Prometheus, `/healthz`,
    /// `/readyz`).
    #[arg(long, env = "PROXY_ORDER_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,

    /// Read the live credentials with an empty change request (`{}`). The provider does not
    /// document this; when off, a change that re-sends the current port is used instead.
    #[arg(long, env = "PROXY_ORDER_EMPTY_CHANGE_READ", default_value_t = true, action = clap::ArgAction::Set)]
    pub empty_change_read: bool,

    /// How long a request the provider refused (401/404/422) waits before it is tried again
    /// unchanged. A change of the spec, an annotation or a referenced Secret retries at once.
    #[arg(long, env = "PROXY_ORDER_TERMINAL_RECHECK", default_value = "10m", value_parser = parse_duration)]
    pub terminal_recheck: Duration,

    /// Longest wait between retries after the provider failed transiently (5xx, 429,
    /// timeouts, connection errors); the wait doubles from 1 s per consecutive failure, each
    /// wait plus a random share of up to as much again.
    #[arg(long, env = "PROXY_ORDER_BACKOFF_MAX", default_value = "5m", value_parser = parse_backoff_max)]
    pub backoff_max: Duration,

    /// Check that published credentials open a proxy: after each change, and then every
    /// `--probe-interval`, one HTTP CONNECT through the order's first proxy to
    /// `--probe-target` (condition `CredentialsVerified`). A proxy refusing them (407) has the
    /// credentials read again. Needs `--probe-target`.
    #[arg(long, env = "PROXY_ORDER_VERIFY_CREDENTIALS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", requires = "probe_target")]
    pub verify_credentials: bool,

    /// `host:port` the credentials probe CONNECTs to through the proxy (any address the
    /// proxies can reach; the answer's content is never read).
    #[arg(long, env = "PROXY_ORDER_PROBE_TARGET")]
    pub probe_target: Option<String>,

    /// How long one probe may take.
    #[arg(long, env = "PROXY_ORDER_PROBE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub probe_timeout: Duration,

    /// How often unchanged credentials that verified are probed again.
    #[arg(long, env = "PROXY_ORDER_PROBE_INTERVAL", default_value = "30m", value_parser = parse_duration)]
    pub probe_interval: Duration,

    /// Credentials probes per second, all ProxyOrders together.
    #[arg(long, env = "PROXY_ORDER_PROBE_RATE", default_value_t = 2.0, value_parser = parse_rate)]
    pub probe_rate: f64,

    /// Log format.
    #[arg(long, env = "PROXY_ORDER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// What `--verify-credentials` and its flags set.
#[derive(Clone, Debug)]
pub struct ProbeSettings {
    /// `host:port` to CONNECT to.
    pub target: String,
    pub timeout: Duration,
    /// How often unchanged, verified credentials are checked again.
    pub interval: Duration,
    /// Probes per second, all ProxyOrders together.
    pub rate: f64,
}

impl Config {
    /// The operator's own namespace (see `--operator-namespace`).
    pub fn operator_namespace(&self) -> String {
        self.operator_namespace
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| {
                std::env::var("POD_NAMESPACE")
                    .ok()
                    .filter(|s| !s.is_empty())
            })
            .or_else(|| self.namespace.clone())
            .unwrap_or_else(|| "default".to_string())
    }
}

/// A `namespace/name` pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespacedName {
    pub namespace: String,
    pub name: String,
}

fn parse_namespaced_name(s: &str) -> Result<NamespacedName, String> {
    match s.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok(NamespacedName {
                namespace: ns.to_string(),
                name: name.to_string(),
            })
        }
        _ => Err(format!("expected namespace/name, got {s:?}")),
    }
}

/// A retry ceiling: a duration of at least the first retry's 1 s.
fn parse_backoff_max(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_secs(1) {
        return Err(format!("{s:?} is shorter than the first retry (1s)"));
    }
    Ok(d)
}

impl Config {
    /// The credentials probe's settings, when `--verify-credentials` is on.
    pub fn probe(&self) -> Option<ProbeSettings> {
        let target = self
            .probe_target
            .clone()
            .filter(|_| self.verify_credentials)?;
        Some(ProbeSettings {
            target,
            timeout: self.probe_timeout,
            interval: self.probe_interval,
            rate: self.probe_rate,
        })
    }
}

/// A label selector in the syntax of `kubectl -l`: requirements separated by commas, each
/// `key`, `!key`, `key=value`, `key==value`, `key!=value`, `key in (v1,v2)` or
/// `key notin (v1,v2)`; keys are qualified names (an optional DNS-subdomain prefix and `/`),
/// values label values. Checked at start: the API server would refuse a bad one on every
/// list and watch, and nothing would ever be reconciled.
fn parse_label_selector(s: &str) -> Result<String, String> {
    let fail = |why: String| Err(format!("invalid label selector {s:?}: {why}"));
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return fail("empty".to_string());
    }
    for req in split_requirements(trimmed) {
        let req = req.trim();
        if let Some(key) = req.strip_prefix('!') {
            if let Err(e) = check_label_key(key.trim()) {
                return fail(e);
            }
            continue;
        }
        let set_op = [" notin ", " in "]
            .into_iter()
            .find_map(|op| req.find(op).map(|i| (i, op)));
        let result = if let Some((i, op)) = set_op {
            let (key, rest) = (&req[..i], req[i + op.len()..].trim());
            match rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
                Some(values) => check_label_key(key.trim()).and_then(|()| {
                    values
                        .split(',')
                        .try_for_each(|v| check_label_value(v.trim()))
                }),
                None => Err(format!(
                    "{req:?}: the values of {} go in parentheses",
                    op.trim()
                )),
            }
        } else if let Some((key, value)) = req
            .split_once("!=")
            .or_else(|| req.split_once("=="))
            .or_else(|| req.split_once('='))
        {
            check_label_key(key.trim()).and_then(|()| check_label_value(value.trim()))
        } else {
            check_label_key(req)
        };
        if let Err(e) = result {
            return fail(e);
        }
    }
    Ok(trimmed.to_string())
}

/// The requirements of a selector: split at the commas outside parentheses.
fn split_requirements(s: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// A label key: `[prefix/]name`, the prefix a DNS subdomain (at most 253 characters), the name
/// at most 63 characters of alphanumerics, `-`, `_` and `.`, alphanumeric at both ends.
fn check_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if p.is_empty() || p.len() > 253 || !p.split('.').all(label_ok) {
            return Err(format!("{key:?}: the key's prefix must be a DNS subdomain"));
        }
    }
    if name.is_empty() || !label_value_ok(name) {
        return Err(format!(
            "{key:?}: a key's name is 1 to 63 characters of letters, digits, '-', '_' and '.', \
             beginning and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// A label value: empty, or up to 63 characters as a key's name.
fn check_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() || label_value_ok(value) {
        Ok(())
    } else {
        Err(format!(
            "{value:?}: a value is at most 63 characters of letters, digits, '-', '_' and '.', \
             beginning and ending with a letter or digit"
        ))
    }
}

fn label_value_ok(v: &str) -> bool {
    let b = v.as_bytes();
    v.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.01..=10_000.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "expected requests per second between 0.01 and 10000, got {s:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::AuthScheme;

    #[test]
    fn label_selectors_are_checked_at_start() {
        for good in [
            "shard=a",
            "shard==a,tier!=b",
            "proxy-solutions.net/shard=a",
            "shard in (a, b),!legacy",
            "env notin (dev,test), team",
            "shard=",
        ] {
            assert_eq!(parse_label_selector(good).as_deref(), Ok(good), "{good}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("shard=a b", "\"a b\""),
            ("=a", "\"\""),
            ("Shard.Example/x=a", "prefix"),
            ("shard in a,b", "parentheses"),
            ("shard=-a", "\"-a\""),
            ("a,,b", "\"\""),
        ] {
            let err = parse_label_selector(bad).expect_err(bad);
            assert!(err.contains(why), "{bad}: {err}");
            assert!(err.starts_with("invalid label selector"), "{err}");
        }
        let err = parse(&["--selector", "shard in a"]).expect_err("refused");
        assert!(err.to_string().contains("parentheses"), "{err}");
    }

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("proxy-order-operator").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_follow_the_design() {
        let c = parse(&[]).unwrap();
        let p = c.provider.config();
        assert_eq!(p.base_url, "https://v3.proxy-solutions.net/api");
        assert_eq!(
            p.auth,
            AuthScheme::Header {
                name: "Authorization".into(),
                prefix: "Bearer".into()
            }
        );
        assert_eq!(c.refresh_interval, Duration::from_secs(600));
        assert_eq!(c.concurrency, 8);
        assert!(!c.leader_election);
        assert_eq!(c.backoff_max, Duration::from_secs(300));
        assert!(c.allow_api_key_secret_ref);
    }

    #[test]
    fn namespaced_api_keys_can_be_switched_off() {
        let c = parse(&["--allow-api-key-secret-ref=false"]).unwrap();
        assert!(!c.allow_api_key_secret_ref);
        let c = parse(&["--operator-namespace", "ops", "--namespace", "team-a"]).unwrap();
        assert_eq!(c.operator_namespace(), "ops");
    }

    #[test]
    fn backoff_ceiling_is_at_least_the_first_retry() {
        assert_eq!(
            parse(&["--backoff-max", "30s"]).unwrap().backoff_max,
            Duration::from_secs(30)
        );
        assert!(parse(&["--backoff-max", "500ms"]).is_err());
    }

    #[test]
    fn auth_scheme_is_configurable() {
        let c = parse(&["--auth-header", "X-API-KEY", "--auth-scheme", ""]).unwrap();
        assert_eq!(
            c.provider.config().auth,
            AuthScheme::Header {
                name: "X-API-KEY".into(),
                prefix: String::new()
            }
        );
        let c = parse(&["--auth-query-param", "api_key"]).unwrap();
        assert_eq!(
            c.provider.config().auth,
            AuthScheme::Query {
                param: "api_key".into()
            }
        );
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        let e = parse(&["--default-api-key-secret", "nonamespace"]).unwrap_err();
        assert!(e.to_string().contains("namespace/name"), "{e}");
        let e = parse(&["--refresh-interval", "5x"]).unwrap_err();
        assert!(e.to_string().contains("unknown time unit"), "{e}");
        let e = parse(&["--refresh-interval", "5y"]).unwrap_err();
        assert!(e.to_string().contains("longer than 7 days"), "{e}");
        assert!(parse(&["--concurrency", "0"]).is_err());
        assert!(parse(&["--rate-limit", "-1"]).is_err());
        assert!(parse(&["--rate-limit", "1e-300"]).is_err());
    }

    #[test]
    fn provider_timeout_takes_a_duration_or_the_old_seconds_flag() {
        let timeout = |args: &[&str]| parse(args).unwrap().provider.config().request_timeout;
        assert_eq!(timeout(&[]), Duration::from_secs(30));
        assert_eq!(
            timeout(&["--provider-timeout", "1m30s"]),
            Duration::from_secs(90)
        );
        assert_eq!(
            timeout(&["--provider-timeout", "500ms"]),
            Duration::from_millis(500)
        );
        // The deprecated flag, and the environment variable's old form: a bare number of
        // seconds.
        assert_eq!(
            timeout(&["--provider-timeout-secs", "45"]),
            Duration::from_secs(45)
        );
        assert_eq!(
            timeout(&["--provider-timeout", "45"]),
            Duration::from_secs(45)
        );
        assert!(parse(&["--provider-timeout", "0s"]).is_err());
        assert!(parse(&["--provider-timeout", "soon"]).is_err());
    }

    #[test]
    fn default_api_key_secret() {
        let c = parse(&["--default-api-key-secret", "ops/provider-key"]).unwrap();
        assert_eq!(
            c.default_api_key_secret,
            Some(NamespacedName {
                namespace: "ops".into(),
                name: "provider-key".into()
            })
        );
    }
}
