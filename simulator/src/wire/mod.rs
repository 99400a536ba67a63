//! The simulator's own wire types: the bodies it accepts and sends on the provider API under
//! `/api`, written from `docs/provider-api.md` (sections cited on each type).
//!
//! They are not the operator's models (crate `proxy-solutions-wire`) on purpose: if both sides
//! serialized with the same structs, a wrong field name or type would be mirrored on both and
//! no test between them could see it. Instead each side is tested against the provider's
//! published examples (`wire/tests/golden/`): the operator's models in `wire/tests/golden.rs`,
//! the simulator's answers, as its HTTP server sends them, in `tests/api/golden.rs`.
//!
//! What the simulator does take from `proxy-solutions-wire` is [`proxy_solutions_wire::auth`]:
//! where the API key travels is not a body shape but a setting (§1.2), and the simulator must
//! accept the key exactly where the operator is configured to send it, with the same flags and
//! defaults.
//!
//! Requests only deserialize and answers only serialize. [`Order`] does both: it is also what
//! the simulator stores, what the admin API shows and takes, and the shape of an orders file.
//!
//! `order.rs`: the order and its nested objects; `requests.rs`: change, perform and charge
//! bodies; `answers.rs`: the answers and the error bodies; `query.rs`: `lang` and `currency`.

mod answers;
mod order;
mod query;
mod requests;

pub use answers::{
    ChangeAnswer, ChargeAnswer, MessageBody, OrderList, Payment, PerformAnswer, ValidationErrorBody,
};
pub use order::{Access, Location, Operator, Order, OrderStatus, Proxy, Service};
pub use query::{Currency, Lang};
pub use requests::{ChangeRequest, ChargeRequest, IpAuth, PerformRequest};

#[cfg(test)]
mod tests {
    use std::{fs, path::Path};

    /// What the simulator may name from `proxy-solutions-wire`: the API-key setting only.
    const ALLOWED: [&str; 3] = ["auth", "AuthScheme", "AuthArgs"];

    /// Every `proxy_solutions_wire::` path in the `.rs` files under `dir`, as
    /// `(file, first path segment)`; `{a, b}` lists yield each item.
    fn wire_paths(dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                wire_paths(&path, out);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = fs::read_to_string(&path).unwrap();
            let marker = "proxy_solutions_wire::";
            let mut from = 0;
            while let Some(at) = text[from..].find(marker) {
                let rest = &text[from + at + marker.len()..];
                let items: Vec<&str> = match rest.strip_prefix('{') {
                    Some(list) => list[..list.find('}').unwrap()].split(',').collect(),
                    None => vec![rest],
                };
                for item in items {
                    let item = item.trim();
                    let end = item
                        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .unwrap_or(item.len());
                    if end > 0 {
                        out.push((path.display().to_string(), item[..end].to_string()));
                    }
                }
                from += at + marker.len();
            }
        }
    }

    #[test]
    fn only_the_api_key_setting_comes_from_the_operators_wire_crate() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut found = Vec::new();
        wire_paths(&root.join("src"), &mut found);
        wire_paths(&root.join("tests"), &mut found);
        // The scan sees the uses that are there (main.rs takes the auth flags).
        assert!(
            found.iter().any(|(_, item)| item == "AuthArgs"),
            "{found:?}"
        );
        let other: Vec<_> = found
            .iter()
            .filter(|(_, item)| !ALLOWED.contains(&item.as_str()))
            .collect();
        assert!(
            other.is_empty(),
            "wire types taken from the operator's crate: {other:?}"
        );
    }
}
