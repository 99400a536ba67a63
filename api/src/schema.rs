//! The CRDs as they are published.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

/// `crd` as it is published (crdgen, the chart, the test kit):
/// - descriptions as `kubectl explain` shows them best: the lines of a paragraph, wrapped where
///   the Rust doc comment wrapped, joined into one (a list item keeps its line);
/// - an optional enum (`Option<Lang>`) neither `nullable` nor with `null` among its values: the
///   API server then prunes an explicit `null` (the same as leaving the field out) instead of
///   refusing it, and `kubectl explain` lists only the real values (a `null` value shows there
///   as `<no value>`).
pub fn published(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::Array(values)) = map.get_mut("enum") {
                    values.retain(|v| !v.is_null());
                    map.remove("nullable");
                }
                for (key, value) in map.iter_mut() {
                    match value {
                        serde_json::Value::String(text) if key == "description" => {
                            *text = unwrap_paragraphs(text);
                        }
                        _ => walk(value),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(&crd).expect("a CRD serializes");
    walk(&mut value);
    serde_json::from_value(value).expect("the same CRD deserializes")
}

/// Joins the lines of each paragraph (paragraphs end at blank lines) with a space, except
/// before a line that starts a list item (`- `, `* `, `1. `).
pub(crate) fn unwrap_paragraphs(text: &str) -> String {
    let list_item = |l: &str| {
        let l = l.trim_start();
        l.starts_with("- ")
            || l.starts_with("* ")
            || l.split_once(". ")
                .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    text.split("\n\n")
        .map(|paragraph| {
            let mut out = String::new();
            for (i, line) in paragraph.lines().enumerate() {
                if i > 0 {
                    out.push(if list_item(line) { '\n' } else { ' ' });
                }
                out.push_str(if i > 0 && !list_item(line) {
                    line.trim_start()
                } else {
                    line
                });
            }
            out
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}
