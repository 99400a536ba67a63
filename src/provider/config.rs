//! Settings of the provider API that its documentation leaves open, so they are configuration
//! rather than code: where the API lives, how the API key is sent, and how an empty IP
//! allow-list is spelled. The operator and the simulator share these flags and defaults.

use std::time::Duration;

use clap::{Args, ValueEnum};

/// Default base URL of the provider API.
pub const DEFAULT_BASE_URL: &str = "https://v3.proxy-solutions.net/api";
/// Default header that carries the API key.
pub const DEFAULT_AUTH_HEADER: &str = "Authorization";
/// Default prefix of the API key in that header (`Authorization: Bearer <key>`).
pub const DEFAULT_AUTH_SCHEME: &str = "Bearer";

/// How the API key travels with each request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthScheme {
    /// In a header: `<name>: <prefix> <key>`, or `<name>: <key>` when the prefix is empty.
    Header { name: String, prefix: String },
    /// In a query parameter: `?<param>=<key>`.
    Query { param: String },
}

impl Default for AuthScheme {
    fn default() -> Self {
        AuthScheme::Header {
            name: DEFAULT_AUTH_HEADER.to_string(),
            prefix: DEFAULT_AUTH_SCHEME.to_string(),
        }
    }
}

impl AuthScheme {
    /// The header value for a key under a header scheme.
    pub fn header_value(prefix: &str, key: &str) -> String {
        if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix} {key}")
        }
    }
}

/// Command-line (and environment) flags that select the [`AuthScheme`].
#[derive(Args, Clone, Debug)]
pub struct AuthArgs {
    /// Header that carries the provider API key.
    #[arg(long, env = "PROXY_ORDER_AUTH_HEADER", default_value = DEFAULT_AUTH_HEADER)]
    pub auth_header: String,

    /// Prefix of the API key in that header; an empty string sends the bare key.
    #[arg(long, env = "PROXY_ORDER_AUTH_SCHEME", default_value = DEFAULT_AUTH_SCHEME)]
    pub auth_scheme: String,

    /// Send the API key in this query parameter instead of a header.
    #[arg(long, env = "PROXY_ORDER_AUTH_QUERY_PARAM")]
    pub auth_query_param: Option<String>,
}

impl AuthArgs {
    pub fn scheme(&self) -> AuthScheme {
        match &self.auth_query_param {
            Some(param) if !param.is_empty() => AuthScheme::Query {
                param: param.clone(),
            },
            _ => AuthScheme::Header {
                name: self.auth_header.clone(),
                prefix: self.auth_scheme.clone(),
            },
        }
    }
}

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

    /// Timeout of one provider request, in seconds.
    #[arg(long, env = "PROXY_ORDER_PROVIDER_TIMEOUT", default_value_t = 30)]
    pub provider_timeout_secs: u64,

    /// How an empty IP allow-list is sent to the provider.
    #[arg(long, env = "PROXY_ORDER_IP_AUTH_CLEAR", value_enum, default_value_t = IpAuthClear::EmptyList)]
    pub ip_auth_clear: IpAuthClear,
}

impl ProviderArgs {
    pub fn config(&self) -> ProviderConfig {
        ProviderConfig {
            base_url: self.provider_url.clone(),
            auth: self.auth.scheme(),
            request_timeout: Duration::from_secs(self.provider_timeout_secs.max(1)),
            ip_auth_clear: self.ip_auth_clear,
            ..ProviderConfig::default()
        }
    }
}
