//! Settings of the provider API that its documentation leaves open, so they are configuration
//! rather than code: where the API lives, how the API key is sent, and how an empty IP
//! allow-list is spelled. How the key is sent is shared with the simulator
//! ([`proxy_solutions_wire::auth`]).

use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::duration::parse_duration;

pub use proxy_solutions_wire::auth::{
    AuthArgs, AuthScheme, DEFAULT_AUTH_HEADER, DEFAULT_AUTH_SCHEME,
};

/// Default base URL of the provider API.
pub const DEFAULT_BASE_URL: &str = "https://v3.proxy-solutions.net/api";

/// How a change request asks the provider to empty the IP allow-list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum IpAuthClear {
    /// `"ip_auth": []`
    #[default]
    EmptyList,
    /// `"ip_auth": "clear"`
    ClearString,
}

/// Everything the HTTP client needs to reach the provider.
#[derive(Clone, Debug)]
pub struct ProviderConfig {
    pub base_url: String,
    pub auth: AuthScheme,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub ip_auth_clear: IpAuthClear,
    /// Largest response body read before the response counts as undecodable.
    pub max_body_bytes: usize,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        ProviderConfig {
            base_url: DEFAULT_BASE_URL.to_string(),
            auth: AuthScheme::default(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            ip_auth_clear: IpAuthClear::EmptyList,
            max_body_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Command-line (and environment) flags that build a [`ProviderConfig`].
#[derive(Args, Clone, Debug)]
pub struct ProviderArgs {
    /// Base URL of the provider API.
    #[arg(long, env = "PROXY_ORDER_PROVIDER_URL", default_value = DEFAULT_BASE_URL)]
    pub provider_url: String,

    #[command(flatten)]
    pub auth: AuthArgs,

    /// Timeout of one provider request (e.g. `30s`, `1m30s`). A bare number is seconds, so the
    /// deprecated `--provider-timeout-secs 30`, which names the same setting, still works.
    #[arg(
        long,
        alias = "provider-timeout-secs",
        env = "PROXY_ORDER_PROVIDER_TIMEOUT",
        default_value = "30s",
        value_parser = parse_duration
    )]
    pub provider_timeout: Duration,

    /// How an empty IP allow-list is sent to the provider.
    #[arg(long, env = "PROXY_ORDER_IP_AUTH_CLEAR", value_enum, default_value_t = IpAuthClear::EmptyList)]
    pub ip_auth_clear: IpAuthClear,
}

impl ProviderArgs {
    pub fn config(&self) -> ProviderConfig {
        ProviderConfig {
            base_url: self.provider_url.clone(),
            auth: self.auth.scheme(),
            request_timeout: self.provider_timeout,
            ip_auth_clear: self.ip_auth_clear,
            ..ProviderConfig::default()
        }
    }
}

/// The provider as order ids belong to it: its base URL with the host lower-cased, without a
/// default port, user information, query or fragment, or a trailing `/`. So two spellings of
/// one provider (two ProxyProviders for one account) share their claims.
pub fn scope_of(base_url: &str) -> String {
    match url::Url::parse(base_url) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!(
                "{}://{}{port}{}",
                u.scheme(),
                u.host_str().unwrap_or_default().to_ascii_lowercase(),
                u.path().trim_end_matches('/')
            )
        }
        Err(_) => base_url.trim_end_matches('/').to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_provider_spelled_two_ways_is_one_scope() {
        let s = scope_of("https://api.example/api");
        for other in [
            "https://API.Example/api/",
            "https://api.example:443/api",
            "https://user:pw@api.example/api?x=1#f",
        ] {
            assert_eq!(scope_of(other), s, "{other}");
        }
        assert_ne!(scope_of("https://api.example:8443/api"), s);
        assert_ne!(scope_of("http://api.example/api"), s);
        assert_eq!(
            scope_of("http://127.0.0.1:18080/api"),
            "http://127.0.0.1:18080/api"
        );
    }
}
