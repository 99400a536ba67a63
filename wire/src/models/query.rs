//! The `lang` and `currency` query parameters, which the provider echoes in its answers.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Language of human-readable texts in provider responses (query parameter `lang`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Lang {
    #[default]
    #[serde(rename = "EN")]
    En,
    #[serde(rename = "RU")]
    Ru,
    #[serde(rename = "UA")]
    Ua,
}

impl Lang {
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "EN",
            Lang::Ru => "RU",
            Lang::Ua => "UA",
        }
    }
}

/// Currency used for `converted_amount` (query parameter `currency`). `amount` is always USD.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Currency {
    #[default]
    #[serde(rename = "USD")]
    Usd,
    #[serde(rename = "EUR")]
    Eur,
    #[serde(rename = "RUB")]
    Rub,
    #[serde(rename = "UAH")]
    Uah,
    #[serde(rename = "KZT")]
    Kzt,
}

impl Currency {
    pub fn as_str(self) -> &'static str {
        match self {
            Currency::Usd => "USD",
            Currency::Eur => "EUR",
            Currency::Rub => "RUB",
            Currency::Uah => "UAH",
            Currency::Kzt => "KZT",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn enums_use_provider_spelling() {
        assert_eq!(serde_json::to_value(Lang::Ua).unwrap(), json!("UA"));
        assert_eq!(serde_json::to_value(Currency::Kzt).unwrap(), json!("KZT"));
        assert!(serde_json::from_value::<Currency>(json!("GBP")).is_err());
    }
}
