//! Where the provider's API key travels. The provider's documentation does not say, so it is a
//! setting shared by the operator's client and the simulator, with the same flags and defaults.

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

/// Command-line (and environment) flags that select the [`AuthScheme`] (feature `cli`).
#[cfg(feature = "cli")]
#[derive(clap::Args, Clone, Debug)]
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

#[cfg(feature = "cli")]
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
