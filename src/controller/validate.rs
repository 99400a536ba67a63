//! Checks of `spec.secret` that must hold before any provider call: the Secret the operator
//! would write must be one the API server accepts. The CRD schema refuses most bad values at
//! admission; these checks also cover what CEL cannot express (the length of a label key's
//! prefix, the size of the rendered Secret) and objects stored before a stricter CRD. Pure.

use std::collections::BTreeMap;

use crate::credentials;

/// Largest rendered credentials Secret the operator writes: half the API server's 1 MiB limit
/// on a Secret, so that the estimate (which assumes generous password lengths) keeps a margin.
pub const MAX_SECRET_BYTES: usize = 512 * 1024;
/// The API server's limit on all annotations of one object together.
pub const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;
/// Assumed longest provider-generated password when its length is not known yet.
pub const ASSUMED_PASSWORD_LEN: usize = 64;

/// What the size check needs to know about the credentials before they exist.
#[derive(Clone, Copy, Debug)]
pub struct SizeInputs {
    pub proxies: usize,
    pub login_len: usize,
    pub password_len: usize,
}

/// Why a Secret with these labels and annotations cannot be written, if it cannot.
pub fn metadata_problem(
    labels: Option<&BTreeMap<String, String>>,
    annotations: Option<&BTreeMap<String, String>>,
) -> Option<String> {
    for (k, v) in labels.into_iter().flatten() {
        if let Err(e) = qualified_name(k) {
            return Some(format!("spec.secret.labels key {k:?}: {e}"));
        }
        if let Err(e) = label_value(v) {
            return Some(format!("spec.secret.labels[{k:?}]: {e}"));
        }
    }
    let mut total = 0usize;
    for (k, v) in annotations.into_iter().flatten() {
        if let Err(e) = qualified_name(k) {
            return Some(format!("spec.secret.annotations key {k:?}: {e}"));
        }
        total += k.len() + v.len();
    }
    (total > MAX_ANNOTATIONS_BYTES).then(|| {
        format!(
            "spec.secret.annotations are {total} bytes together; the API server accepts at most {MAX_ANNOTATIONS_BYTES}"
        )
    })
}

/// Why the rendered Secret could be too large, if it could.
pub fn size_problem(template: Option<&BTreeMap<String, String>>, s: SizeInputs) -> Option<String> {
    let bound = credentials::rendered_size_bound(template, s.proxies, s.login_len, s.password_len);
    (bound > MAX_SECRET_BYTES).then(|| {
        format!(
            "the credentials Secret for {} proxies could reach {bound} bytes, over the operator's limit of {MAX_SECRET_BYTES}: \
             shorten spec.secret.template or lower the quantity",
            s.proxies
        )
    })
}

/// Kubernetes' qualified name: `[prefix/]name`, the prefix a DNS subdomain of at most 253
/// characters, the name at most 63 characters of `[-A-Za-z0-9_.]`, alphanumeric at both ends.
fn qualified_name(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix
        && (p.is_empty() || p.len() > 253 || !dns_subdomain(p))
    {
        return Err(
            "the prefix before '/' must be a DNS subdomain of at most 253 characters".into(),
        );
    }
    if name.is_empty() || name.len() > 63 || !label_chars(name) {
        return Err(
            "the name must be 1-63 characters of [-A-Za-z0-9_.], starting and ending with a letter or digit"
                .into(),
        );
    }
    Ok(())
}

fn label_value(v: &str) -> Result<(), String> {
    if v.is_empty() || (v.len() <= 63 && label_chars(v)) {
        Ok(())
    } else {
        Err("a label value must be empty or 1-63 characters of [-A-Za-z0-9_.], starting and ending with a letter or digit".into())
    }
}

fn label_chars(s: &str) -> bool {
    let b = s.as_bytes();
    let ends = |c: &u8| c.is_ascii_alphanumeric();
    b.first().is_some_and(ends)
        && b.last().is_some_and(ends)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
}

fn dns_subdomain(s: &str) -> bool {
    s.split('.').all(|part| {
        let b = part.as_bytes();
        let ends = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        b.first().is_some_and(ends)
            && b.last().is_some_and(ends)
            && b.iter().all(|c| ends(c) || *c == b'-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn qualified_names_as_the_api_server_checks_them() {
        for ok in [
            "a",
            "app",
            "app.kubernetes.io/name",
            "example.com/A_b-c.9",
            &"x".repeat(63),
        ] {
            assert_eq!(qualified_name(ok), Ok(()), "{ok}");
        }
        let long_prefix = format!("{}/name", "a".repeat(254));
        for bad in [
            "",
            "-a",
            "a-",
            "a b",
            "a/b/c",
            "/name",
            "Example.com/name",
            "ex_ample.com/n",
            &"x".repeat(64),
            &long_prefix,
            "example.com/",
        ] {
            assert!(qualified_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn label_values() {
        assert!(label_value("").is_ok());
        assert!(label_value("a.b-c_D9").is_ok());
        for bad in ["a b", "-a", "a.", &"x".repeat(64)] {
            assert!(label_value(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn metadata_problems_name_the_key() {
        assert_eq!(metadata_problem(None, None), None);
        assert_eq!(
            metadata_problem(
                Some(&map(&[("team", "a")])),
                Some(&map(&[("a/b", "any value !")]))
            ),
            None
        );
        let p = metadata_problem(Some(&map(&[("bad key", "v")])), None).unwrap();
        assert!(p.contains("labels key \"bad key\""), "{p}");
        let p = metadata_problem(Some(&map(&[("ok", "bad value")])), None).unwrap();
        assert!(p.contains("labels[\"ok\"]"), "{p}");
        let big: BTreeMap<String, String> = (0..70)
            .map(|i| (format!("k{i}"), "v".repeat(4096)))
            .collect();
        let p = metadata_problem(None, Some(&big)).unwrap();
        assert!(p.contains("bytes together"), "{p}");
    }

    #[test]
    fn the_secret_size_is_bounded_before_any_call() {
        let small = SizeInputs {
            proxies: 100,
            login_len: 10,
            password_len: ASSUMED_PASSWORD_LEN,
        };
        assert_eq!(size_problem(None, small), None);
        // Sixteen keys of 146 URLs each (1022 characters, within the CRD's 1024).
        let urls = "{{url}}".repeat(146);
        let names: Vec<String> = (b'a'..=b'p').map(|c| (c as char).to_string()).collect();
        let pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), urls.as_str())).collect();
        let tpl = map(&pairs);
        let p = size_problem(
            Some(&tpl),
            SizeInputs {
                proxies: 1,
                ..small
            },
        )
        .expect("2336 URLs are too many");
        assert!(p.contains("spec.secret.template"), "{p}");
        let many = SizeInputs {
            proxies: 1_000_000,
            ..small
        };
        assert!(size_problem(None, many).is_some());
    }
}
