//! The `lang` and `currency` query parameters and money arithmetic: the simulator's fixed
//! exchange rates and rounding to cents.

use std::collections::BTreeMap;

use crate::wire::{Currency, Lang};

use super::ValidationErrors;

/// Validates the `lang` and `currency` query parameters (defaults EN / USD).
pub fn parse_lang_currency(
    query: &BTreeMap<String, String>,
) -> Result<(Lang, Currency), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let lang = match query.get("lang") {
        None => Lang::default(),
        Some(v) => serde_json::from_value::<Lang>(serde_json::Value::String(v.clone()))
            .unwrap_or_else(|_| {
                errors.add(
                    "lang",
                    format!("The selected lang `{v}` is invalid (allowed: EN, RU, UA)."),
                );
                Lang::default()
            }),
    };
    let currency = match query.get("currency") {
        None => Currency::default(),
        Some(v) => serde_json::from_value::<Currency>(serde_json::Value::String(v.clone()))
            .unwrap_or_else(|_| {
                errors.add(
                    "currency",
                    format!(
                        "The selected currency `{v}` is invalid (allowed: USD, EUR, RUB, UAH, KZT)."
                    ),
                );
                Currency::default()
            }),
    };
    errors.into_result((lang, currency))
}

/// Fixed, made-up exchange rates (units of `currency` per USD) used for `converted_amount` and
/// `payer_amount`. The provider's real rates are not documented.
pub fn usd_rate(currency: Currency) -> f64 {
    match currency {
        Currency::Usd => 1.0,
        Currency::Eur => 0.92,
        Currency::Rub => 92.0,
        Currency::Uah => 41.0,
        Currency::Kzt => 480.0,
    }
}

/// Rounds money to cents.
pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lang_currency_parse() {
        let mut q = BTreeMap::new();
        assert_eq!(parse_lang_currency(&q).unwrap(), (Lang::En, Currency::Usd));
        q.insert("lang".to_string(), "UA".to_string());
        q.insert("currency".to_string(), "EUR".to_string());
        assert_eq!(parse_lang_currency(&q).unwrap(), (Lang::Ua, Currency::Eur));
        q.insert("lang".to_string(), "de".to_string());
        q.insert("currency".to_string(), "GBP".to_string());
        let err = parse_lang_currency(&q).unwrap_err();
        assert!(err.field("lang")[0].contains("de"));
        assert!(err.field("currency")[0].contains("GBP"));
    }
}
