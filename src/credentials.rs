//! The credentials a ProxyOrder publishes: what goes into its Secret, and the fingerprints that
//! let status say which password is live without ever holding it. Pure functions only.

use std::collections::BTreeMap;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// The keys of the credentials Secret (part of the API: workloads mount them).
pub use proxy_order_api::names::{
    KEY_IPS, KEY_LOGIN, KEY_PASSWORD, KEY_PORT, KEY_PROXIES, KEY_URLS, RESERVED_KEYS,
};

/// Characters escaped in the user-info part of a URL (RFC 3986 `userinfo` allows unreserved,
/// sub-delims and ':'; ':' is escaped too since it separates login and password).
const USERINFO: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b':')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Live connection data of an order.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub port: u16,
    pub login: String,
    pub password: SecretString,
    pub proxies: Vec<String>,
}

/// One Secret data value. `Debug` never shows values, since every one of them may embed the
/// password.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretData(pub BTreeMap<String, String>);

impl std::fmt::Debug for SecretData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

fn host(ip: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    }
}

/// Renders the Secret's data: `login`, `password`, `port`, `ips` (one per line), `proxies.txt`
/// (`ip:port:login:password` per line), `urls` (`http://login:password@ip:port` per line,
/// percent-encoded), plus the extra `template` keys.
pub fn render(creds: &Credentials, template: Option<&BTreeMap<String, String>>) -> SecretData {
    let pw = creds.password.expose_secret();
    let mut data = BTreeMap::new();
    data.insert(KEY_LOGIN.to_string(), creds.login.clone());
    data.insert(KEY_PASSWORD.to_string(), pw.to_string());
    data.insert(KEY_PORT.to_string(), creds.port.to_string());
    data.insert(KEY_IPS.to_string(), lines(creds.proxies.iter().cloned()));
    data.insert(
        KEY_PROXIES.to_string(),
        lines(
            creds
                .proxies
                .iter()
                .map(|ip| format!("{}:{}:{}:{}", host(ip), creds.port, creds.login, pw)),
        ),
    );
    data.insert(
        KEY_URLS.to_string(),
        lines(creds.proxies.iter().map(|ip| url(creds, ip))),
    );
    for (key, tpl) in template.into_iter().flatten() {
        if !RESERVED_KEYS.contains(&key.as_str()) {
            data.insert(key.clone(), expand(tpl, creds));
        }
    }
    SecretData(data)
}

fn url(creds: &Credentials, ip: &str) -> String {
    format!(
        "http://{}:{}@{}:{}",
        utf8_percent_encode(&creds.login, USERINFO),
        utf8_percent_encode(creds.password.expose_secret(), USERINFO),
        host(ip),
        creds.port
    )
}

fn lines(items: impl Iterator<Item = String>) -> String {
    let mut out = String::new();
    for item in items {
        out.push_str(&item);
        out.push('\n');
    }
    out
}

/// A template placeholder: `{{ login }}`, `{{ password }}`, `{{ port }}`, `{{ ip }}` (the first
/// proxy) or `{{ url }}` (its http URL).
#[derive(Clone, Copy)]
enum Placeholder {
    Login,
    Password,
    Port,
    Ip,
    Url,
}

impl Placeholder {
    /// The placeholder named `name` (what is between the braces, trimmed).
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "login" => Placeholder::Login,
            "password" => Placeholder::Password,
            "port" => Placeholder::Port,
            "ip" => Placeholder::Ip,
            "url" => Placeholder::Url,
            _ => return None,
        })
    }
}

/// Expands the [`Placeholder`]s (spaces inside the braces optional). Anything else is left as
/// written.
fn expand(template: &str, creds: &Credentials) -> String {
    let first = creds
        .proxies
        .first()
        .map(String::as_str)
        .unwrap_or_default();
    let first_url = if first.is_empty() {
        String::new()
    } else {
        url(creds, first)
    };
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let value = Placeholder::parse(after[..end].trim()).map(|p| match p {
            Placeholder::Login => creds.login.clone(),
            Placeholder::Password => creds.password.expose_secret().to_string(),
            Placeholder::Port => creds.port.to_string(),
            Placeholder::Ip => host(first),
            Placeholder::Url => first_url.clone(),
        });
        match value {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Longest textual proxy host in a Secret line: an IPv6 address with an embedded IPv4 one (45
/// characters) in brackets.
const MAX_HOST: usize = 47;
/// `65535`.
const MAX_PORT_DIGITS: usize = 5;

/// An upper bound, in bytes, of what [`render`] writes for `proxies` proxies with a login and a
/// password of at most these lengths (every character of either may be percent-encoded in URLs,
/// tripling it). Cheap: nothing is rendered, so it can be checked before any provider call.
pub fn rendered_size_bound(
    template: Option<&BTreeMap<String, String>>,
    proxies: usize,
    login_len: usize,
    password_len: usize,
) -> usize {
    let url =
        "http://".len() + 3 * login_len + 1 + 3 * password_len + 1 + MAX_HOST + 1 + MAX_PORT_DIGITS;
    let per_proxy = (45 + 1) // ips
        + (MAX_HOST + 1 + MAX_PORT_DIGITS + 1 + login_len + 1 + password_len + 1) // proxies.txt
        + (url + 1); // urls
    let fixed = RESERVED_KEYS.iter().map(|k| k.len()).sum::<usize>()
        + login_len
        + password_len
        + MAX_PORT_DIGITS;
    let templates: usize = template
        .into_iter()
        .flatten()
        .map(|(key, tpl)| {
            key.len()
                + expanded_size_bound(tpl, |p| match p {
                    Placeholder::Login => login_len,
                    Placeholder::Password => password_len,
                    Placeholder::Port => MAX_PORT_DIGITS,
                    Placeholder::Ip => MAX_HOST,
                    Placeholder::Url => url,
                })
        })
        .sum();
    fixed
        .saturating_add(proxies.saturating_mul(per_proxy))
        .saturating_add(templates)
}

/// The longest `expand` can make `template`, given the longest value of each placeholder.
fn expanded_size_bound(template: &str, max_value: impl Fn(Placeholder) -> usize) -> usize {
    let mut size = 0;
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        size += start;
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return size + rest.len() - start;
        };
        size += Placeholder::parse(after[..end].trim()).map_or(end + 4, &max_value);
        rest = &after[end + 2..];
    }
    size + rest.len()
}

/// A salted fingerprint of a password: enough to tell whether two passwords are equal, not to
/// recover one. The salt is the ProxyOrder's UID, so equal passwords on two resources do not
/// share a fingerprint.
pub fn password_fingerprint(salt: &str, password: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"proxy-order-operator/password/v1\0");
    h.update(salt.as_bytes());
    h.update(b"\0");
    h.update(password.as_bytes());
    format!("sha256:{}", hex(&h.finalize()[..16]))
}

/// A fingerprint of any sequence of non-secret strings.
pub fn fingerprint<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    format!("sha256:{}", hex(&h.finalize()[..16]))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            port: 8000,
            login: "team-a".into(),
            password: SecretString::from("p@ss:w/rd"),
            proxies: vec!["198.51.100.1".into(), "2001:db8::2".into()],
        }
    }

    #[test]
    fn renders_every_key() {
        let d = render(&creds(), None).0;
        assert_eq!(d["login"], "team-a");
        assert_eq!(d["password"], "p@ss:w/rd");
        assert_eq!(d["port"], "8000");
        assert_eq!(d["ips"], "198.51.100.1\n2001:db8::2\n");
        assert_eq!(
            d["proxies.txt"],
            "198.51.100.1:8000:team-a:p@ss:w/rd\n[2001:db8::2]:8000:team-a:p@ss:w/rd\n"
        );
        assert_eq!(
            d["urls"],
            "http://team-a:p%40ss%3Aw%2Frd@198.51.100.1:8000\nhttp://team-a:p%40ss%3Aw%2Frd@[2001:db8::2]:8000\n"
        );
    }

    #[test]
    fn urls_parse_back_to_the_credentials() {
        let d = render(&creds(), None).0;
        for line in d["urls"].lines() {
            let u = url::Url::parse(line).unwrap();
            assert_eq!(u.username(), "team-a");
            let pw = percent_encoding::percent_decode_str(u.password().unwrap())
                .decode_utf8()
                .unwrap();
            assert_eq!(pw, "p@ss:w/rd");
            assert_eq!(u.port(), Some(8000));
        }
    }

    #[test]
    fn no_proxies_gives_empty_lists() {
        let mut c = creds();
        c.proxies.clear();
        let d = render(&c, None).0;
        assert_eq!(d["ips"], "");
        assert_eq!(d["urls"], "");
    }

    #[test]
    fn templates_expand_known_placeholders_only() {
        let mut t = BTreeMap::new();
        t.insert("HTTP_PROXY".to_string(), "{{url}}".to_string());
        t.insert(
            "conf".to_string(),
            "user={{ login }} port={{ port }} x={{ nope }} {{".to_string(),
        );
        t.insert("password".to_string(), "cannot override".to_string());
        let d = render(&creds(), Some(&t)).0;
        assert_eq!(
            d["HTTP_PROXY"],
            "http://team-a:p%40ss%3Aw%2Frd@198.51.100.1:8000"
        );
        assert_eq!(d["conf"], "user=team-a port=8000 x={{ nope }} {{");
        assert_eq!(d["password"], "p@ss:w/rd");
    }

    #[test]
    fn debug_of_secret_data_shows_keys_only() {
        let d = render(&creds(), None);
        let s = format!("{d:?}");
        assert!(s.contains("password") && !s.contains("p@ss"), "{s}");
    }

    #[test]
    fn the_size_bound_is_never_below_the_rendering() {
        let template: BTreeMap<String, String> = [
            ("HTTP_PROXY", "{{ url }}"),
            (
                "conf",
                "user {{login}} pass {{ password }} at {{ip}}:{{port}} {{ other }} {{",
            ),
            ("many", "{{url}}{{url}}{{url}}x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (login, password, proxies) in [
            ("a", "b", vec![]),
            ("team-a", "p@ss:w/rd%", vec!["192.0.2.1".to_string()]),
            (
                "x".repeat(64).as_str(),
                "@".repeat(100).as_str(),
                (0..50)
                    .map(|i| format!("2001:db8::ffff:192.0.2.{i}"))
                    .collect(),
            ),
        ] {
            let creds = Credentials {
                port: 65535,
                login: login.to_string(),
                password: SecretString::from(password.to_string()),
                proxies: proxies.clone(),
            };
            let data = render(&creds, Some(&template));
            let actual: usize = data.0.iter().map(|(k, v)| k.len() + v.len()).sum();
            let bound =
                rendered_size_bound(Some(&template), proxies.len(), login.len(), password.len());
            assert!(bound >= actual, "bound {bound} < actual {actual}");
            // And not wildly above it for the worst case of every character escaped.
            if password.starts_with('@') {
                assert!(bound < actual * 2, "bound {bound}, actual {actual}");
            }
        }
        assert_eq!(
            rendered_size_bound(None, usize::MAX, 64, 64),
            usize::MAX,
            "saturates instead of overflowing"
        );
    }

    #[test]
    fn fingerprints() {
        let a = password_fingerprint("uid-1", "secret");
        assert_eq!(a, password_fingerprint("uid-1", "secret"));
        assert_ne!(a, password_fingerprint("uid-2", "secret"));
        assert_ne!(a, password_fingerprint("uid-1", "secret2"));
        assert!(!a.contains("secret"));
        assert!(a.starts_with("sha256:") && a.len() == 7 + 32);
        assert_ne!(fingerprint(["ab", "c"]), fingerprint(["a", "bc"]));
    }
}
