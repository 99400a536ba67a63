//! HTTP client for the provider API (reqwest + rustls).

use std::{fmt, time::SystemTime};

use reqwest::{Method, StatusCode, header::HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::{Serialize, de::DeserializeOwned};

use super::{
    config::{AuthScheme, IpAuthClear, ProviderConfig},
    error::{ProviderError, parse_retry_after},
    models::{
        ChangeRequest, ChargeRequest, ChargeResponse, Currency, IpAuth, Lang, OrderList,
        OrderResponse, PerformRequest, PerformResponse,
    },
};

/// A provider API key. `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct ApiKey(SecretString);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(SecretString::from(key.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([REDACTED])")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// The `lang` / `currency` query parameters the order endpoints accept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct QueryOptions {
    pub lang: Option<Lang>,
    pub currency: Option<Currency>,
}

/// Installs rustls' ring crypto provider for the process, once. Safe to call repeatedly.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The provider's HTTP API.
#[derive(Clone, Debug)]
pub struct ProviderClient {
    http: reqwest::Client,
    config: ProviderConfig,
    base: url::Url,
}

impl ProviderClient {
    pub fn new(config: ProviderConfig) -> Result<Self, ProviderError> {
        install_crypto_provider();
        let mut base = url::Url::parse(&config.base_url).map_err(|e| {
            ProviderError::InvalidRequest(format!("provider base URL is not a URL: {e}"))
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ProviderError::InvalidRequest(
                "provider base URL must be http or https".to_string(),
            ));
        }
        // Make relative joins append to the base path (`.../api` + `user/orders`).
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("proxy-order-operator/", env!("CARGO_PKG_VERSION")))
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            // A redirect could carry the API key header or a password body to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ProviderError::InvalidRequest(e.without_url().to_string()))?;
        Ok(ProviderClient { http, config, base })
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// `GET /user/orders`: every order on the account.
    pub async fn list_orders(
        &self,
        key: &ApiKey,
        query: QueryOptions,
    ) -> Result<OrderList, ProviderError> {
        self.send::<(), _>(Method::GET, "user/orders", key, query, None, &[])
            .await
    }

    /// `POST /user/orders/{order_id}`: change an order; answers with its live credentials.
    pub async fn change_order(
        &self,
        key: &ApiKey,
        order_id: u64,
        request: &ChangeRequest,
        query: QueryOptions,
    ) -> Result<OrderResponse, ProviderError> {
        let wire = self.wire_change(request);
        let password = wire.password.as_ref().map(|p| p.expose_secret());
        let secrets: Vec<&str> = password.into_iter().collect();
        let path = format!("user/orders/{order_id}");
        self.send(Method::POST, &path, key, query, Some(&wire), &secrets)
            .await
    }

    /// `POST /user/orders/{order_id}/perform`.
    pub async fn perform(
        &self,
        key: &ApiKey,
        order_id: u64,
        request: &PerformRequest,
    ) -> Result<PerformResponse, ProviderError> {
        let path = format!("user/orders/{order_id}/perform");
        self.send(
            Method::POST,
            &path,
            key,
            QueryOptions::default(),
            Some(request),
            &[],
        )
        .await
    }

    /// `POST /user/orders/{order_id}/charge`.
    pub async fn charge(
        &self,
        key: &ApiKey,
        order_id: u64,
        request: &ChargeRequest,
    ) -> Result<ChargeResponse, ProviderError> {
        let path = format!("user/orders/{order_id}/charge");
        self.send(
            Method::POST,
            &path,
            key,
            QueryOptions::default(),
            Some(request),
            &[],
        )
        .await
    }

    /// Applies the configured spelling of "clear the allow-list".
    fn wire_change(&self, request: &ChangeRequest) -> ChangeRequest {
        let mut wire = request.clone();
        if self.config.ip_auth_clear == IpAuthClear::ClearString
            && matches!(&wire.ip_auth, Some(IpAuth::List(ips)) if ips.is_empty())
        {
            wire.ip_auth = Some(IpAuth::Clear);
        }
        if self.config.ip_auth_clear == IpAuthClear::EmptyList
            && wire.ip_auth == Some(IpAuth::Clear)
        {
            wire.ip_auth = Some(IpAuth::List(Vec::new()));
        }
        wire
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        key: &ApiKey,
        query: QueryOptions,
        body: Option<&B>,
        extra_secrets: &[&str],
    ) -> Result<T, ProviderError> {
        let mut url = self
            .base
            .join(path)
            .map_err(|e| ProviderError::InvalidRequest(format!("bad request path: {e}")))?;
        {
            let mut pairs = url.query_pairs_mut();
            if let Some(lang) = query.lang {
                pairs.append_pair("lang", lang.as_str());
            }
            if let Some(currency) = query.currency {
                pairs.append_pair("currency", currency.as_str());
            }
            if let AuthScheme::Query { param } = &self.config.auth {
                pairs.append_pair(param, key.expose());
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let mut req = self.http.request(method, url);
        if let AuthScheme::Header { name, prefix } = &self.config.auth {
            let mut value = HeaderValue::from_str(&AuthScheme::header_value(prefix, key.expose()))
                .map_err(|_| {
                    ProviderError::InvalidRequest(
                        "the API key contains characters that cannot be sent in a header"
                            .to_string(),
                    )
                })?;
            value.set_sensitive(true);
            req = req.header(name.as_str(), value);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| self.transport_error(e))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let bytes = self.read_body(resp).await?;
        if !status.is_success() {
            let mut secrets = vec![key.expose()];
            secrets.extend_from_slice(extra_secrets);
            return Err(ProviderError::from_response(
                status.as_u16(),
                retry_after,
                &bytes,
                &secrets,
            ));
        }
        decode(status, &bytes)
    }

    async fn read_body(&self, mut resp: reqwest::Response) -> Result<Vec<u8>, ProviderError> {
        // Sized once from Content-Length when the provider sends it (within the limit): a large
        // order list then takes its own size in memory, not up to twice that while it grows.
        let announced = resp.content_length().and_then(|n| usize::try_from(n).ok());
        let mut body = Vec::with_capacity(announced.unwrap_or(0).min(self.config.max_body_bytes));
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport_error(e))? {
            if body.len() + chunk.len() > self.config.max_body_bytes {
                return Err(ProviderError::Decode(format!(
                    "response body larger than {} bytes",
                    self.config.max_body_bytes
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Turns a reqwest error into a `ProviderError` without its URL (which may carry the key
    /// under a query-parameter auth scheme).
    fn transport_error(&self, e: reqwest::Error) -> ProviderError {
        if e.is_timeout() {
            return ProviderError::Timeout(self.config.request_timeout);
        }
        let e = e.without_url();
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        ProviderError::Transport(text)
    }
}

/// Decodes a 2xx body. The error says where and what kind of problem it was, never which
/// values the body held (a body may carry a password). Visible to the provider module for its
/// property tests (`fuzz_tests/`).
pub(super) fn decode<T: DeserializeOwned>(
    status: StatusCode,
    bytes: &[u8],
) -> Result<T, ProviderError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "invalid JSON",
            serde_json::error::Category::Data => "unexpected JSON shape",
            serde_json::error::Category::Eof => "truncated JSON",
        };
        ProviderError::Decode(format!(
            "{what} in a {} response at line {} column {}",
            status.as_u16(),
            e.line(),
            e.column()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_is_redacted() {
        let k = ApiKey::new("key-canary-123");
        assert!(!format!("{k:?} {k}").contains("canary"));
        assert_eq!(k.expose(), "key-canary-123");
    }

    #[test]
    fn decode_errors_do_not_echo_values() {
        let err = decode::<OrderResponse>(StatusCode::OK, br#"{"order": {"id": "pw-canary"}}"#)
            .unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("pw-canary"), "{text}");
        assert!(text.contains("unexpected JSON shape"), "{text}");
        let err = decode::<OrderResponse>(StatusCode::OK, br#"{"order": {"#).unwrap_err();
        assert!(err.to_string().contains("truncated JSON"), "{err}");
    }

    #[test]
    fn base_url_must_be_http() {
        let err = ProviderClient::new(ProviderConfig {
            base_url: "ftp://example.invalid/api".into(),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("http or https"));
        assert!(ProviderClient::new(ProviderConfig::default()).is_ok());
    }

    #[test]
    fn clear_spelling_follows_the_setting() {
        let empty = ChangeRequest {
            ip_auth: Some(IpAuth::List(vec![])),
            ..Default::default()
        };
        let list_client = ProviderClient::new(ProviderConfig::default()).unwrap();
        assert_eq!(
            list_client.wire_change(&empty).ip_auth,
            Some(IpAuth::List(vec![]))
        );
        let clear_client = ProviderClient::new(ProviderConfig {
            ip_auth_clear: IpAuthClear::ClearString,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            clear_client.wire_change(&empty).ip_auth,
            Some(IpAuth::Clear)
        );
    }
}
