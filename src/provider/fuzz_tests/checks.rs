//! What every property checks of an outcome: no panic, decode failures are `Decode` errors,
//! no secret in any output.

use super::*;

pub(super) fn no_secret(text: &str) -> Result<(), TestCaseError> {
    for s in SECRETS {
        prop_assert!(!text.contains(s), "secret {s} in {text}");
    }
    Ok(())
}

/// `Debug` of an order shows nothing of its password: it is the same with an empty one.
pub(super) fn password_hidden(order: &Order) -> Result<(), TestCaseError> {
    if let Some(access) = &order.access
        && !access.password.expose_secret().is_empty()
    {
        let mut blank = order.clone();
        if let Some(a) = blank.access.as_mut() {
            a.password = SecretString::from(String::new());
        }
        prop_assert_eq!(format!("{order:?}"), format!("{blank:?}"));
    }
    Ok(())
}

/// Decodes `body` as `T`: never a panic; an error is a short `Decode` error without secrets;
/// a success hides the passwords of the orders `orders` returns.
pub(super) fn check_decode_as<T: DeserializeOwned + Debug>(
    status: StatusCode,
    body: &[u8],
    orders: impl Fn(&T) -> Vec<&Order>,
) -> Result<(), TestCaseError> {
    match decode::<T>(status, body) {
        Err(e) => {
            prop_assert!(matches!(e, ProviderError::Decode(_)), "{e:?}");
            prop_assert!(e.is_transient());
            let text = format!("{e} {e:?}");
            no_secret(&text)?;
            prop_assert!(text.len() < 300, "{text}");
        }
        Ok(value) => {
            for order in orders(&value) {
                password_hidden(order)?;
            }
        }
    }
    Ok(())
}

pub(super) fn check_decode(status: StatusCode, body: &[u8]) -> Result<(), TestCaseError> {
    check_decode_as::<OrderResponse>(status, body, |r| vec![&r.order])?;
    check_decode_as::<OrderList>(status, body, |l| l.orders.iter().collect())?;
    check_decode_as::<PerformResponse>(status, body, |r| vec![&r.order])?;
    check_decode_as::<ChargeResponse>(status, body, |_| vec![])
}

/// Classifies `body` as the answer of a change request that carried [`SECRETS`]: never a
/// panic, the status kept, no secret in the output, the message bounded.
pub(super) fn check_from_response(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<(), TestCaseError> {
    let e = ProviderError::from_response(status, retry_after, body, SECRETS);
    let shown = e.to_string();
    let debug = format!("{e:?}");
    no_secret(&shown)?;
    no_secret(&debug)?;
    prop_assert_eq!(e.status(), Some(status));
    let retried = status == 429 || (500..=599).contains(&status);
    prop_assert_eq!(e.retry_after(), if retried { retry_after } else { None });
    prop_assert!(shown.chars().count() <= MAX_MESSAGE_CHARS + 100, "{shown}");
    // At most 32 fields of at most 8 messages, each cut at the limit.
    prop_assert!(debug.len() < 32 * 9 * (MAX_MESSAGE_CHARS + 8) * 4 + 1000);
    Ok(())
}

pub(super) fn check_body(
    status2xx: u16,
    status: u16,
    ra: Option<Duration>,
    body: &[u8],
) -> Result<(), TestCaseError> {
    check_decode(StatusCode::from_u16(status2xx).unwrap(), body)?;
    check_from_response(status, ra, body)
}
