//! Tests of the ProxyOrder CRD's generated schema (names, bounds, CEL rules, formats,
//! descriptions) and of the spec's wire form.

use super::*;
use crate::{published, schema::unwrap_paragraphs};
use kube::CustomResourceExt;
use serde_json::{Value, json};

fn schema() -> Value {
    let crd = serde_json::to_value(ProxyOrder::crd()).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

fn spec_prop(name: &str) -> Value {
    schema()["properties"]["spec"]["properties"][name].clone()
}

fn rules(v: &Value) -> Vec<String> {
    v["x-kubernetes-validations"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| r["rule"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn crd_identity() {
    let crd = serde_json::to_value(ProxyOrder::crd()).unwrap();
    assert_eq!(crd["metadata"]["name"], "proxyorders.proxy-solutions.net");
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    assert_eq!(crd["spec"]["names"]["shortNames"], json!(["pxo"]));
    let v = &crd["spec"]["versions"][0];
    assert_eq!(v["name"], "v1alpha1");
    assert_eq!(v["subresources"]["status"], json!({}));
    let cols: Vec<&str> = v["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for want in ["Order", "Order-Status", "Proxies", "Ready", "Synced", "Age"] {
        assert!(cols.contains(&want), "{cols:?}");
    }
}

#[test]
fn order_id_is_required_positive_and_immutable() {
    let s = schema();
    assert_eq!(s["properties"]["spec"]["required"], json!(["orderId"]));
    let p = spec_prop("orderId");
    assert_eq!(p["minimum"].as_f64(), Some(1.0));
    assert_eq!(rules(&p), vec!["self == oldSelf"]);
}

#[test]
fn only_formats_the_api_server_knows() {
    // Unknown formats (uint16, ...) make every apply print a warning.
    let yaml = serde_yaml::to_string(&ProxyOrder::crd()).unwrap();
    for line in yaml
        .lines()
        .filter(|l| l.trim_start().starts_with("format:"))
    {
        let format = line.trim_start().trim_start_matches("format:").trim();
        assert!(
            ["int32", "int64", "date-time"].contains(&format),
            "unexpected format {format}"
        );
    }
}

#[test]
fn numeric_ranges() {
    assert_eq!(spec_prop("port")["minimum"].as_f64(), Some(1.0));
    assert_eq!(spec_prop("port")["maximum"].as_f64(), Some(65535.0));
    assert_eq!(spec_prop("quantity")["minimum"].as_f64(), Some(1.0));
}

#[test]
fn ip_lists_are_validated_and_bounded() {
    for f in ["ipAuth", "removeProxies"] {
        let p = spec_prop(f);
        assert_eq!(rules(&p), vec![ALL_IPS], "{f}");
        assert_eq!(p["maxItems"], json!(1000), "{f}");
        assert_eq!(p["items"]["maxLength"], json!(45), "{f}");
    }
}

#[test]
fn password_is_one_of_two_sources() {
    let p = spec_prop("password");
    assert_eq!(
        rules(&p),
        vec!["has(self.secretKeyRef) != has(self.generate)"]
    );
    assert_eq!(rules(&p["properties"]["generate"]), vec!["self == true"]);
}

#[test]
fn template_keys_may_not_shadow_the_reserved_keys() {
    let t = &spec_prop("secret")["properties"]["template"];
    let rule = &t["x-kubernetes-validations"][0];
    assert_eq!(
        rule["rule"],
        "self.all(k, k.matches('^[-._a-zA-Z0-9]+$') && !(k in ['login', 'password', 'port', \
         'ips', 'proxies.txt', 'urls']))"
    );
    assert_eq!(
        rule["message"],
        "template keys must match [-._a-zA-Z0-9]+ and must not be login, password, port, ips, \
         proxies.txt or urls"
    );
    // The list in the rule is the one the renderer skips template keys for.
    let (_, listed) = rule["rule"].as_str().unwrap().split_once("k in [").unwrap();
    let (listed, _) = listed.split_once(']').unwrap();
    let listed = listed
        .split(", ")
        .map(|k| k.trim_matches('\''))
        .collect::<Vec<_>>();
    assert_eq!(listed, crate::names::RESERVED_KEYS);
}

#[test]
fn conditions_merge_by_type_under_server_side_apply() {
    let c = &schema()["properties"]["status"]["properties"]["conditions"];
    assert_eq!(c["x-kubernetes-list-type"], "map");
    assert_eq!(c["x-kubernetes-list-map-keys"], json!(["type"]));
}

#[test]
fn provider_enums() {
    let values = |f: &str| -> Vec<Value> {
        let p = spec_prop(f);
        p["enum"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| !v.is_null())
            .cloned()
            .collect()
    };
    assert_eq!(values("lang"), vec![json!("EN"), json!("RU"), json!("UA")]);
    assert_eq!(
        values("currency"),
        ["USD", "EUR", "RUB", "UAH", "KZT"]
            .map(|c| json!(c))
            .to_vec()
    );
}

#[test]
fn fields_are_documented_for_kubectl_explain() {
    let spec = &schema()["properties"]["spec"]["properties"];
    for (name, prop) in spec.as_object().unwrap() {
        let d = prop["description"].as_str().unwrap_or_default();
        assert!(d.len() > 10, "spec.{name} has no description");
    }
}

#[test]
fn spec_round_trips_in_camel_case() {
    let v = json!({
        "orderId": 10000, "quantity": 2, "port": 8000, "login": "team-a",
        "password": {"generate": true}, "ipAuth": [], "lang": "EN", "currency": "EUR",
        "apiKeySecretRef": {"name": "key", "key": "api-key"},
        "secret": {"name": "creds", "labels": {"a": "b"}},
        "removeProxies": ["10.0.0.1"], "deletionPolicy": "Revoke"
    });
    let spec: ProxyOrderSpec = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(spec.ip_auth, Some(vec![]));
    assert_eq!(serde_json::to_value(&spec).unwrap(), v);
}

#[test]
fn secret_name_defaults_to_resource_name() {
    let mut o = ProxyOrder::new("web", ProxyOrderSpec::default());
    assert_eq!(o.secret_name(), "web-proxy");
    assert_eq!(o.spec.secret_name("other"), "other-proxy");
    assert!(o.writes_secret("web-proxy") && !o.writes_secret("web") && !o.writes_secret("x-proxy"));
    o.spec.secret = Some(SecretTarget {
        name: Some("custom".into()),
        ..Default::default()
    });
    assert_eq!(o.secret_name(), "custom");
    assert_eq!(o.spec.secret_name("other"), "custom");
    assert!(o.writes_secret("custom") && !o.writes_secret("web-proxy"));
}

#[test]
fn rollout_targets_are_bounded_and_validated() {
    let p = &spec_prop("secret")["properties"]["rolloutTargets"];
    assert_eq!(p["maxItems"], json!(MAX_ROLLOUT_TARGETS));
    let item = &p["items"];
    assert_eq!(item["required"], json!(["kind"]));
    assert_eq!(rules(item), vec!["has(self.name) != has(self.selector)"]);
    assert_eq!(
        item["properties"]["kind"]["enum"],
        json!(["Deployment", "StatefulSet", "DaemonSet"])
    );
    // A workload name is an object name, like the Secret's; no namespace can be given.
    assert_eq!(item["properties"]["name"]["pattern"], json!(DNS_SUBDOMAIN));
    assert!(item["properties"].get("namespace").is_none());
    let sel = &item["properties"]["selector"];
    assert!(
        rules(sel)[0].contains("size(self.matchLabels) > 0"),
        "{sel}"
    );
    assert_eq!(sel["properties"]["matchLabels"]["maxProperties"], json!(16));
    assert_eq!(
        rules(&sel["properties"]["matchLabels"]),
        vec![QUALIFIED_KEYS, LABEL_VALUES]
    );
    let expr = &sel["properties"]["matchExpressions"];
    assert_eq!(expr["maxItems"], json!(16));
    assert_eq!(
        expr["items"]["properties"]["operator"]["enum"],
        json!(["In", "NotIn", "Exists", "DoesNotExist"])
    );
    assert_eq!(
        expr["items"]["properties"]["key"]["pattern"],
        json!(QUALIFIED_NAME)
    );
    assert_eq!(rules(&expr["items"]).len(), 1);
}

#[test]
fn rollout_targets_round_trip_as_kubernetes_spells_them() {
    let v = json!({
        "orderId": 1,
        "secret": {"rolloutTargets": [
            {"kind": "Deployment", "name": "web"},
            {"kind": "StatefulSet", "selector": {
                "matchLabels": {"app": "db"},
                "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["x"]}]
            }},
            {"kind": "DaemonSet", "selector": {"matchExpressions": [{"key": "a", "operator": "Exists"}]}}
        ]}
    });
    let spec: ProxyOrderSpec = serde_json::from_value(v.clone()).unwrap();
    let targets = spec
        .secret
        .as_ref()
        .unwrap()
        .rollout_targets
        .as_ref()
        .unwrap();
    assert_eq!(targets[1].kind, WorkloadKind::StatefulSet);
    assert_eq!(
        targets[1]
            .selector
            .as_ref()
            .unwrap()
            .match_expressions
            .as_ref()
            .unwrap()[0]
            .operator,
        SelectorOperator::NotIn
    );
    assert_eq!(serde_json::to_value(&spec).unwrap(), v);
}

#[test]
fn no_published_enum_lists_null_or_is_nullable() {
    // `kubectl explain` shows a `null` value as `<no value>`; a nullable enum without it refuses
    // an explicit null. Neither: the API server prunes the null.
    fn walk(v: &Value, path: &str, enums: &mut usize) {
        match v {
            Value::Object(map) => {
                if let Some(values) = map.get("enum").and_then(Value::as_array) {
                    *enums += 1;
                    assert!(values.iter().all(|v| !v.is_null()), "{path}: {values:?}");
                    assert!(map.get("nullable").is_none(), "{path}: nullable");
                }
                for (k, v) in map {
                    walk(v, &format!("{path}.{k}"), enums);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, path, enums)),
            _ => {}
        }
    }
    let mut enums = 0;
    for crd in [
        published(ProxyOrder::crd()),
        published(crate::proxy_provider::ProxyProvider::crd()),
    ] {
        walk(&serde_json::to_value(&crd).unwrap(), "", &mut enums);
    }
    // lang, currency, managementPolicy, deletionPolicy, rollout kinds, selector operators...
    assert!(enums >= 4, "only {enums} enums seen");
}

#[test]
fn descriptions_are_one_line_per_paragraph_for_kubectl_explain() {
    assert_eq!(
        unwrap_paragraphs("A sentence wrapped\nwhere the comment wrapped.\n\nNext one:\n- a\n- b"),
        "A sentence wrapped where the comment wrapped.\n\nNext one:\n- a\n- b"
    );
    // Every description of both shipped CRDs: no line break inside a paragraph but before a
    // list item, and every property described (status.access included).
    for crd in [
        published(ProxyOrder::crd()),
        published(crate::proxy_provider::ProxyProvider::crd()),
    ] {
        let mut undescribed = Vec::new();
        fn walk(v: &Value, path: &str, undescribed: &mut Vec<String>) {
            if let Some(d) = v.get("description").and_then(Value::as_str) {
                for paragraph in d.split("\n\n") {
                    for line in paragraph.lines().skip(1) {
                        let item = line.starts_with("- ") || line.starts_with("* ");
                        assert!(item, "{path}: a wrapped line in {d:?}");
                    }
                }
            }
            if let Some(props) = v.get("properties").and_then(Value::as_object) {
                for (name, p) in props {
                    let here = format!("{path}.{name}");
                    if p.get("description").is_none() && !here.contains(".conditions") {
                        undescribed.push(here.clone());
                    }
                    walk(p, &here, undescribed);
                }
            }
            if let Some(items) = v.get("items") {
                walk(items, path, undescribed);
            }
        }
        let v = serde_json::to_value(&crd).unwrap();
        let schema = &v["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        walk(schema, "", &mut undescribed);
        let access: Vec<_> = undescribed
            .iter()
            .filter(|p| p.starts_with(".status.access"))
            .collect();
        assert!(access.is_empty(), "undescribed: {access:?}");
    }
}
