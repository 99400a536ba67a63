//! Prints a reference page as Markdown: `docgen flags` (the operator's flags and environment
//! variables, docs/reference/flags.md), `docgen crds` (the fields of the custom resources,
//! docs/reference/crds.md) or `docgen names` (the annotations, labels, finalizer, field
//! managers, Secret keys, condition types and reasons and Event reasons,
//! docs/reference/names.md).

use std::io::Write as _;

use anyhow::Context as _;
use clap::{Arg, ArgAction, Command, CommandFactory};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionVersion, JSONSchemaProps,
    JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use proxy_order_operator::config::Config;

fn main() -> anyhow::Result<()> {
    let page = match std::env::args().nth(1).as_deref() {
        Some("flags") => flags_page(Config::command()),
        Some("crds") => {
            let crds: Vec<_> = proxy_order_api::crds()
                .into_iter()
                .map(|(_, crd)| crd)
                .collect();
            crds_page(&crds)?
        }
        Some("names") => names_page(),
        other => anyhow::bail!("unknown page {other:?}: use flags, crds or names"),
    };
    std::io::stdout()
        .write_all(page.as_bytes())
        .context("writing the page")
}

/// The names page: every name of `proxy_order_api::names` by kind, the condition types, the
/// condition reasons and the reasons of Events that report no condition.
fn names_page() -> String {
    use proxy_order_api::{
        conditions::{self, Reason},
        events::EventOnlyReason,
        names,
    };
    let mut out = String::from(
        "# Names\n\n\
         The names users and other programs rely on, from the API crate (`api/`): renaming one \
         is a change of the API. This page is generated from the code by `make generate`; do \
         not edit it by hand.\n\n\
         | name | kind | constant | meaning |\n\
         |---|---|---|---|\n",
    );
    // Rust's intra-doc links ([`NAME`]) read as plain code here.
    let doc = |text: &str| cell(&text.replace("[`", "`").replace("`]", "`"));
    for n in names::ALL {
        out.push_str(&format!(
            "| {} | {} | `{}` | {} |\n",
            code(n.value),
            n.kind,
            n.constant,
            doc(n.doc)
        ));
    }
    out.push_str(
        "\n## Condition types\n\n\
         | type | constant |\n\
         |---|---|\n",
    );
    for (value, constant) in [
        (conditions::READY, "READY"),
        (conditions::SYNCED, "SYNCED"),
        (conditions::ROLLOUTS_UPDATED, "ROLLOUTS_UPDATED"),
        (conditions::CREDENTIALS_VERIFIED, "CREDENTIALS_VERIFIED"),
    ] {
        out.push_str(&format!("| {} | `{constant}` |\n", code(value)));
    }
    out.push_str(
        "\n## Condition reasons\n\n\
         `status.conditions[].reason` of a ProxyOrder (and of a ProxyProvider: `Available` and \
         the reasons of a missing key), and the reason of the Event that reports the same \
         outcome.\n\n\
         | reason | meaning |\n\
         |---|---|\n",
    );
    for r in Reason::ALL {
        out.push_str(&format!("| {} | {} |\n", code(r.as_str()), doc(r.doc())));
    }
    out.push_str(
        "\n## Event reasons\n\n\
         Besides the condition reasons above, the Events on a ProxyOrder have these reasons.\n\n\
         | reason | meaning |\n\
         |---|---|\n",
    );
    for r in EventOnlyReason::ALL {
        out.push_str(&format!("| {} | {} |\n", code(r.as_str()), doc(r.doc())));
    }
    out
}

/// The flags page: one table row per argument of `cmd`, in declaration order.
fn flags_page(mut cmd: Command) -> String {
    // Building fills in what the help output shows: value names, implied defaults.
    cmd.build();
    let mut out = String::from(
        "# Operator flags\n\n\
         Every flag can also be set by its environment variable. This page is generated from \
         the code by `make generate`; do not edit it by hand.\n\n\
         | flag | env | default | meaning |\n\
         |---|---|---|---|\n",
    );
    for arg in documented_args(&cmd) {
        let env = arg
            .get_env()
            .map_or_else(|| "–".to_string(), |e| code(&e.to_string_lossy()));
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| code(&v.to_string_lossy()))
            .collect();
        let default = if defaults.is_empty() {
            "–".to_string()
        } else {
            defaults.join(", ")
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            cell(&code(&flag_spelling(arg))),
            cell(&env),
            cell(&default),
            cell(&meaning(arg)),
        ));
    }
    out
}

/// The arguments a user sets: all but help, version and hidden ones.
fn documented_args(cmd: &Command) -> impl Iterator<Item = &Arg> {
    cmd.get_arguments().filter(|a| {
        !a.is_hide_set()
            && !matches!(
                a.get_action(),
                ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
            )
    })
}

/// How the argument is written, as the help output shows it: `--name <VALUE>`,
/// `--name [<VALUE>]` when the value is optional, `--name` for a switch.
fn flag_spelling(arg: &Arg) -> String {
    let value_name = arg
        .get_value_names()
        .and_then(|names| names.first())
        .map_or_else(|| arg.get_id().to_string(), ToString::to_string);
    let mut value = format!("<{value_name}>");
    if let Some(delimiter) = arg.get_value_delimiter() {
        value = format!("{value}[{delimiter}<{value_name}>...]");
    }
    if arg.is_positional() {
        return value;
    }
    let mut names = Vec::new();
    if let Some(short) = arg.get_short() {
        names.push(format!("-{short}"));
    }
    if let Some(long) = arg.get_long() {
        names.push(format!("--{long}"));
    }
    let mut spelling = names.join(", ");
    if arg.get_action().takes_values() {
        if arg.get_num_args().is_some_and(|n| n.min_values() == 0) {
            spelling.push_str(&format!(" [{value}]"));
        } else {
            spelling.push_str(&format!(" {value}"));
        }
    }
    spelling
}

/// The argument's help (the long help when it has one), then its values when it takes one of
/// a fixed set other than `true` and `false`.
fn meaning(arg: &Arg) -> String {
    let mut text = arg
        .get_long_help()
        .or(arg.get_help())
        .map(ToString::to_string)
        .unwrap_or_default();
    let values: Vec<_> = arg
        .get_possible_values()
        .into_iter()
        .filter(|v| !v.is_hide_set())
        .collect();
    let boolean = values.len() == 2
        && values
            .iter()
            .all(|v| v.matches("true", false) || v.matches("false", false));
    if !values.is_empty() && !boolean {
        let listed: Vec<String> = values
            .iter()
            .map(|v| match v.get_help() {
                Some(help) => format!("{} ({})", code(v.get_name()), clause(&help.to_string())),
                None => code(v.get_name()),
            })
            .collect();
        if !text.is_empty() {
            text.push_str(if text.ends_with('.') { " " } else { ". " });
        }
        text.push_str(&format!("Values: {}", listed.join(", ")));
    }
    text
}

/// A sentence as a clause inside a longer one: without its final period, and lower-cased at
/// the start unless it starts with an abbreviation (`JSON`).
fn clause(sentence: &str) -> String {
    let sentence = sentence.trim().trim_end_matches('.');
    let mut chars = sentence.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if first.is_uppercase() && !second.is_uppercase() => first
            .to_lowercase()
            .chain(sentence.chars().skip(1))
            .collect(),
        _ => sentence.to_string(),
    }
}

/// The CRD page: a section per kind and served version, a table each for its spec and status.
fn crds_page(crds: &[CustomResourceDefinition]) -> anyhow::Result<String> {
    let mut out = String::from(
        "# Custom resources\n\n\
         The fields of the custom resources the operator serves, as their schemas define them \
         (what the API server checks on every write). This page is generated from the code by \
         `make generate`; do not edit it by hand.\n",
    );
    for crd in crds {
        let served: Vec<_> = crd.spec.versions.iter().filter(|v| v.served).collect();
        anyhow::ensure!(
            !served.is_empty(),
            "CRD {} serves no version",
            crd.spec.names.kind
        );
        for version in served {
            kind_section(&mut out, crd, version)?;
        }
    }
    Ok(out)
}

fn kind_section(
    out: &mut String,
    crd: &CustomResourceDefinition,
    version: &CustomResourceDefinitionVersion,
) -> anyhow::Result<()> {
    let names = &crd.spec.names;
    let schema = version
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .with_context(|| format!("CRD {} {} has no schema", names.kind, version.name))?;
    let list = |items: &Option<Vec<String>>| match items.as_deref() {
        Some(items) if !items.is_empty() => {
            items.iter().map(|i| code(i)).collect::<Vec<_>>().join(", ")
        }
        _ => "–".to_string(),
    };
    out.push_str(&format!("\n## {}\n\n| | |\n|---|---|\n", names.kind));
    out.push_str(&format!(
        "| API version | {} |\n",
        cell(&code(&format!("{}/{}", crd.spec.group, version.name)))
    ));
    out.push_str(&format!("| scope | {} |\n", cell(&crd.spec.scope)));
    out.push_str(&format!(
        "| plural, singular | {}, {} |\n",
        code(&names.plural),
        names
            .singular
            .as_deref()
            .map_or_else(|| "–".to_string(), code)
    ));
    out.push_str(&format!(
        "| short names | {} |\n",
        cell(&list(&names.short_names))
    ));
    out.push_str(&format!(
        "| categories | {} |\n",
        cell(&list(&names.categories))
    ));
    if let Some(columns) = version.additional_printer_columns.as_deref() {
        let columns: Vec<String> = columns
            .iter()
            .map(|c| {
                let wide = if c.priority.unwrap_or(0) > 0 {
                    ", wide"
                } else {
                    ""
                };
                format!("{} ({}{wide})", code(&c.name), code(&c.json_path))
            })
            .collect();
        out.push_str(&format!(
            "| `kubectl get` columns | {} |\n",
            cell(&columns.join(", "))
        ));
    }
    if let Some(description) = &schema.description {
        out.push_str(&format!("\n{}\n", one_line(description)));
    }
    let required = schema.required.as_deref().unwrap_or_default();
    for (name, field) in schema.properties.iter().flatten() {
        if name == "status" {
            out.push_str(&format!(
                "\n### `{name}`\n\nSet by the operator, not by users: what it observed and did.\n\n"
            ));
        } else {
            out.push_str(&format!("\n### `{name}`\n\n"));
        }
        out.push_str("| field | type | required | description |\n|---|---|---|---|\n");
        field_rows(out, name, field, Some(required.contains(name)));
    }
    Ok(())
}

/// The rows of the field at `path` and of the fields inside it. `required` is `None` for the
/// items of a list and the values of a map, which are neither.
fn field_rows(out: &mut String, path: &str, field: &JSONSchemaProps, required: Option<bool>) {
    let required_cell = match required {
        Some(true) => "yes",
        Some(false) => "no",
        None => "–",
    };
    let mut description = field
        .description
        .as_deref()
        .map(one_line)
        .unwrap_or_default();
    let rules = rules(field);
    if !rules.is_empty() {
        if !description.is_empty() {
            description.push(' ');
        }
        // Rule messages hold semicolons of their own: more than one is numbered.
        let listed = match rules.as_slice() {
            [one] => one.clone(),
            _ => rules
                .iter()
                .enumerate()
                .map(|(i, r)| format!("({}) {r}", i + 1))
                .collect::<Vec<_>>()
                .join(" "),
        };
        description.push_str(&format!("Rules: {listed}."));
    }
    out.push_str(&format!(
        "| {} | {} | {} | {} |\n",
        cell(&code(path)),
        cell(&type_of(field)),
        required_cell,
        cell(&description)
    ));
    let required = field.required.as_deref().unwrap_or_default();
    for (name, inner) in field.properties.iter().flatten() {
        field_rows(
            out,
            &format!("{path}.{name}"),
            inner,
            Some(required.contains(name)),
        );
    }
    if let Some(items) = items(field).filter(|items| has_own_rows(items)) {
        field_rows(out, &format!("{path}[]"), items, None);
    }
    if let Some(values) = map_values(field).filter(|values| has_own_rows(values)) {
        field_rows(out, &format!("{path}.*"), values, None);
    }
}

/// The schema of a list's items.
fn items(field: &JSONSchemaProps) -> Option<&JSONSchemaProps> {
    match field.items.as_ref()? {
        JSONSchemaPropsOrArray::Schema(items) => Some(items),
        JSONSchemaPropsOrArray::Schemas(items) => items.first(),
    }
}

/// The schema of a map's values.
fn map_values(field: &JSONSchemaProps) -> Option<&JSONSchemaProps> {
    match field.additional_properties.as_ref()? {
        JSONSchemaPropsOrBool::Schema(values) => Some(values),
        JSONSchemaPropsOrBool::Bool(_) => None,
    }
}

/// Whether list items or map values get rows of their own (objects, or anything with a
/// description or rules) rather than being summed up in the type of the list or map.
fn has_own_rows(schema: &JSONSchemaProps) -> bool {
    schema.properties.as_ref().is_some_and(|p| !p.is_empty())
        || schema.description.is_some()
        || !rules(schema).is_empty()
}

/// The messages of the schema's validation rules (the rule itself where it has none).
fn rules(schema: &JSONSchemaProps) -> Vec<String> {
    schema
        .x_kubernetes_validations
        .iter()
        .flatten()
        .map(|v| match &v.message {
            Some(message) => one_line(message),
            None => code(&v.rule),
        })
        .collect()
}

/// The type of a field and its constraints: `integer (int32); minimum 1; maximum 65535`.
fn type_of(schema: &JSONSchemaProps) -> String {
    let mut parts = vec![base_type(schema)];
    parts.extend(constraints(schema));
    if let Some(items) = items(schema).filter(|items| !has_own_rows(items)) {
        let inner = constraints(items);
        if !inner.is_empty() {
            parts.push(format!("items: {}", inner.join(", ")));
        }
    }
    if let Some(values) = map_values(schema).filter(|values| !has_own_rows(values)) {
        let inner = constraints(values);
        if !inner.is_empty() {
            parts.push(format!("values: {}", inner.join(", ")));
        }
    }
    parts.join("; ")
}

/// `string`, `integer (int64)`, `array of string`, `map of string`.
fn base_type(schema: &JSONSchemaProps) -> String {
    let name = if schema.x_kubernetes_int_or_string == Some(true) {
        "integer or string".to_string()
    } else {
        match schema.type_.as_deref() {
            Some("array") => match items(schema) {
                Some(items) => format!("array of {}", base_type(items)),
                None => "array".to_string(),
            },
            Some("object") => match map_values(schema) {
                Some(values) if schema.properties.is_none() => {
                    format!("map of {}", base_type(values))
                }
                _ => "object".to_string(),
            },
            Some(other) => other.to_string(),
            None => "any".to_string(),
        }
    };
    match &schema.format {
        Some(format) => format!("{name} ({format})"),
        None => name,
    }
}

/// What the schema asks of a value besides its type.
fn constraints(schema: &JSONSchemaProps) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(values) = &schema.enum_ {
        let values: Vec<String> = values
            .iter()
            .map(|v| match &v.0 {
                serde_json::Value::String(s) => code(s),
                other => code(&other.to_string()),
            })
            .collect();
        out.push(format!("one of {}", values.join(", ")));
    }
    let bound = |name: &str, value: Option<f64>, exclusive: Option<bool>| {
        value.map(|v| {
            let exclusive = if exclusive == Some(true) {
                " (exclusive)"
            } else {
                ""
            };
            format!("{name} {}{exclusive}", number(v))
        })
    };
    out.extend(bound("minimum", schema.minimum, schema.exclusive_minimum));
    out.extend(bound("maximum", schema.maximum, schema.exclusive_maximum));
    if let Some(m) = schema.multiple_of {
        out.push(format!("multiple of {}", number(m)));
    }
    for (name, value) in [
        ("minLength", schema.min_length),
        ("maxLength", schema.max_length),
        ("minItems", schema.min_items),
        ("maxItems", schema.max_items),
        ("minProperties", schema.min_properties),
        ("maxProperties", schema.max_properties),
    ] {
        if let Some(value) = value {
            out.push(format!("{name} {value}"));
        }
    }
    if let Some(pattern) = &schema.pattern {
        out.push(format!("pattern {}", code(pattern)));
    }
    if schema.unique_items == Some(true) {
        out.push("unique items".to_string());
    }
    if let Some(list_type) = &schema.x_kubernetes_list_type {
        let keys = schema
            .x_kubernetes_list_map_keys
            .iter()
            .flatten()
            .map(|k| code(k))
            .collect::<Vec<_>>();
        if keys.is_empty() {
            out.push(format!("list type {}", code(list_type)));
        } else {
            out.push(format!(
                "list type {} (keys {})",
                code(list_type),
                keys.join(", ")
            ));
        }
    }
    if let Some(default) = &schema.default {
        out.push(format!("default {}", code(&default.0.to_string())));
    }
    if schema.nullable == Some(true) {
        out.push("nullable".to_string());
    }
    out
}

/// A schema number as written: `65535`, not `65535.0`.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}

/// Text on one line: every run of whitespace, newlines included, becomes one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A table cell: on one line, with `|` escaped (also inside code spans, as tables require).
fn cell(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

/// A code span, with a longer fence around text that holds a backtick.
fn code(text: &str) -> String {
    if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table rows of a page (the lines starting with `|`, without header and separator).
    fn rows(page: &str) -> Vec<&str> {
        page.lines()
            .filter(|l| {
                l.starts_with("| ") && !l.starts_with("| flag |") && !l.starts_with("| field |")
            })
            .collect()
    }

    #[test]
    fn the_names_page_lists_every_name_and_reason() {
        let page = names_page();
        for want in [
            "| `proxy-solutions.net/approve` | annotation | `APPROVE_ANNOTATION` |",
            "| `proxy-solutions.net/revoke` | finalizer | `FINALIZER` |",
            "| `password` | Secret key | `KEY_PASSWORD` |",
            "| `RolloutsUpdated` | `ROLLOUTS_UPDATED` |",
            "| `AwaitingApproval` |",
            "| `RevokeSkipped` |",
        ] {
            assert!(page.contains(want), "{want:?} not in\n{page}");
        }
        let rows = page.lines().filter(|l| l.starts_with("| `")).count();
        assert_eq!(
            rows,
            proxy_order_api::names::ALL.len()
                + 4
                + proxy_order_api::conditions::Reason::ALL.len()
                + proxy_order_api::events::EventOnlyReason::ALL.len()
        );
    }

    #[test]
    fn flags_table_has_a_row_per_documented_argument() {
        let page = flags_page(Config::command());
        let mut cmd = Config::command();
        cmd.build();
        let expected: Vec<_> = documented_args(&cmd).collect();
        assert!(expected.len() > 20, "{} arguments", expected.len());
        let rows = rows(&page);
        assert_eq!(rows.len(), expected.len(), "{page}");
        // In declaration order, each starting with its own flag.
        for (row, arg) in rows.iter().zip(&expected) {
            let long = arg.get_long().expect("every flag has a long name");
            assert!(row.starts_with(&format!("| `--{long}")), "{row}");
        }
        assert!(!page.contains("--help"), "{page}");
        assert!(!page.contains("--version"), "{page}");
    }

    #[test]
    fn flags_show_env_default_values_and_computed_defaults() {
        let page = flags_page(Config::command());
        let row = |flag: &str| {
            page.lines()
                .find(|l| l.starts_with(&format!("| `{flag}")))
                .unwrap_or_else(|| panic!("no row for {flag}:\n{page}"))
        };
        assert!(
            row("--provider-url <PROVIDER_URL>`")
                .contains("| `PROXY_ORDER_PROVIDER_URL` | `https://v3.proxy-solutions.net/api` |"),
            "{}",
            row("--provider-url")
        );
        // Flattened from the wire crate.
        assert!(row("--auth-header").contains("`PROXY_ORDER_AUTH_HEADER` | `Authorization`"));
        // A value enum lists its values.
        assert!(row("--log-format").contains("`text` (one human-readable line per event)"));
        assert!(row("--ip-auth-clear").contains("`clear-string`"));
        // A switch has no value; a boolean with an optional value shows it as optional.
        assert!(row("--leader-election`").contains("| `false` |"));
        assert!(
            row("--verify-credentials [<VERIFY_CREDENTIALS>]").contains("Needs `--probe-target`")
        );
        // Defaults computed in code are stated in the meaning, the default column has none.
        let ns = row("--operator-namespace");
        assert!(ns.contains("| – |"), "{ns}");
        assert!(
            ns.contains("`POD_NAMESPACE`, else `--namespace`, else `default`"),
            "{ns}"
        );
        // The deprecated alias is named.
        assert!(row("--provider-timeout").contains("--provider-timeout-secs"));
    }

    #[test]
    fn hidden_arguments_are_left_out_and_pipes_escaped() {
        let cmd = Command::new("t")
            .arg(
                Arg::new("shown")
                    .long("shown")
                    .env("T_SHOWN")
                    .default_value("a|b")
                    .help("Either `x|y`\nor z."),
            )
            .arg(
                Arg::new("secret")
                    .long("secret")
                    .hide(true)
                    .help("Not listed."),
            )
            .arg(Arg::new("list").long("list").value_delimiter(','));
        let page = flags_page(cmd);
        let rows = rows(&page);
        assert_eq!(rows.len(), 2, "{page}");
        assert_eq!(
            rows[0],
            "| `--shown <shown>` | `T_SHOWN` | `a\\|b` | Either `x\\|y` or z. |"
        );
        assert_eq!(rows[1], "| `--list <list>[,<list>...]` | – | – |  |");
        assert!(!page.contains("secret"), "{page}");
    }

    #[test]
    fn crd_page_lists_fields_types_rules_and_status() {
        let crds: Vec<_> = proxy_order_api::crds()
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        let page = crds_page(&crds).unwrap();
        assert!(page.contains("\n## ProxyOrder\n"), "{page}");
        assert!(page.contains("\n## ProxyProvider\n"), "{page}");
        assert!(page.contains("| API version | `proxy-solutions.net/v1alpha1` |"));
        assert!(page.contains("| short names | `pxo` |"));
        assert!(page.contains("| scope | Cluster |"));
        let row = |path: &str| {
            page.lines()
                .find(|l| l.starts_with(&format!("| `{path}` |")))
                .unwrap_or_else(|| panic!("no row for {path}:\n{page}"))
        };
        let order_id = row("spec.orderId");
        assert!(order_id.contains("| yes |"), "{order_id}");
        assert!(
            order_id.contains("Rules: orderId is immutable"),
            "{order_id}"
        );
        assert!(
            row("spec.currency").contains("one of `USD`, `EUR`, `RUB`, `UAH`, `KZT`"),
            "{}",
            row("spec.currency")
        );
        assert!(row("spec.port").contains("integer (int32); minimum 1; maximum 65535"));
        assert!(
            row("spec.ipAuth")
                .contains("array of string; maxItems 1000; nullable; items: maxLength 45")
        );
        assert!(row("spec.secret.rolloutTargets[]").contains("exactly one of name or selector"));
        assert!(row("spec.secret.rolloutTargets[].kind").contains("| yes |"));
        assert!(row("spec.secret.labels").contains("map of string"));
        assert!(row("status.conditions").contains("list type `map` (keys `type`)"));
        assert!(page.contains("### `status`\n\nSet by the operator"));
        // Every row has its four cells: a `|` inside a cell is escaped.
        for r in rows(&page)
            .iter()
            .filter(|r| r.starts_with("| `spec") || r.starts_with("| `status"))
        {
            let cells = r.replace("\\|", "").matches('|').count();
            assert_eq!(cells, 5, "{r}");
        }
    }

    #[test]
    fn schema_rendering_escapes_and_nests() {
        let schema: JSONSchemaProps = serde_json::from_value(serde_json::json!({
            "type": "object",
            "required": ["mode"],
            "properties": {
                "mode": {
                    "type": "string",
                    "enum": ["a|b", "c"],
                    "description": "How.\nOn two lines.",
                    "x-kubernetes-validations": [{"rule": "self != 'c'"}]
                },
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"n": {"type": "integer", "maximum": 2.5}}
                    }
                }
            }
        }))
        .unwrap();
        let mut out = String::new();
        field_rows(&mut out, "spec", &schema, Some(true));
        assert_eq!(
            out,
            "| `spec` | object | yes |  |\n\
             | `spec.items` | array of object | no |  |\n\
             | `spec.items[]` | object | – |  |\n\
             | `spec.items[].n` | integer; maximum 2.5 | no |  |\n\
             | `spec.mode` | string; one of `a\\|b`, `c` | yes | \
             How. On two lines. Rules: `self != 'c'`. |\n"
        );
    }
}
