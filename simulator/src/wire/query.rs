//! The `lang` and `currency` query parameters (`provider-api.md` §1.3), which the list, create
//! and change answers echo.

use serde::{Deserialize, Serialize};

/// `lang`: `EN` (default), `RU` or `UA`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Lang {
    #[default]
    #[serde(rename = "EN")]
    En,
    #[serde(rename = "RU")]
    Ru,
    #[serde(rename = "UA")]
    Ua,
}

/// `currency`: `USD` (default), `EUR`, `RUB`, `UAH` or `KZT`. Also the payer currency of a
/// charge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// The provider's spelling, for a query string.
    pub fn code(self) -> &'static str {
        match self {
            Currency::Usd => "USD",
            Currency::Eur => "EUR",
            Currency::Rub => "RUB",
            Currency::Uah => "UAH",
            Currency::Kzt => "KZT",
        }
    }
}
