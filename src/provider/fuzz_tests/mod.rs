//! Property tests ("fuzzing") of how provider responses are read: the 2xx decoder
//! (`client::decode`), the classification of other answers (`ProviderError::from_response`)
//! and `parse_retry_after`, fed arbitrary bytes, arbitrary JSON values, and mutated,
//! truncated or retyped copies of real bodies as the simulator sends them.
//!
//! Properties: nothing panics; a failed decode is a `Decode` error; no error's `Display` or
//! `Debug` output contains a secret the body held (a password, or the API key the request
//! carried); a decoded order's `Debug` output does not depend on its password.
//!
//! The default of 512 cases per property keeps this module to about 3 s of a debug
//! `cargo test` on two cores (`make test` runs it). `PROPTEST_CASES` overrides every count
//! here; the long run is
//!
//! ```sh
//! PROPTEST_CASES=100000 cargo test --release --lib provider::fuzz_tests
//! ```
//!
//! A failing case is saved under `proptest-regressions/` and replayed first from then on;
//! commit that file with the fix.

use std::{
    fmt::Debug,
    time::{Duration, UNIX_EPOCH},
};

use proptest::{
    collection::{btree_map, vec},
    prelude::*,
    sample::{Index, select},
    test_runner::TestCaseError,
};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{
    client::decode,
    error::{MAX_MESSAGE_CHARS, ProviderError, parse_retry_after},
    models::{
        Access, ChargeResponse, Currency, Lang, Order, OrderList, OrderResponse, PerformResponse,
        Proxy,
    },
};

/// The live password in the bodies (alphanumeric, so that no fixed text contains it).
const PW: &str = "pwCanary7Hq2LzR";
/// The API key the request carried: passed as a secret, and planted in bodies.
const KEY: &str = "keyCanary4Rt9VbX";
/// Secrets handed to `from_response`, as `ProviderClient` does for a change request.
const SECRETS: &[&str] = &[KEY, PW];

/// Cases per property unless `PROPTEST_CASES` is set.
fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config
}

mod bodies;
mod checks;
mod strategies;

use bodies::*;
use checks::*;
use strategies::*;

#[test]
fn real_bodies_decode_and_hide_the_password() {
    let bodies = real_bodies();
    let change: OrderResponse = decode(StatusCode::OK, &bodies[0]).unwrap();
    assert_eq!(
        change
            .order
            .access
            .as_ref()
            .unwrap()
            .password
            .expose_secret(),
        PW
    );
    let list: OrderList = decode(StatusCode::OK, &bodies[1]).unwrap();
    assert!(list.orders.len() >= 5);
    assert!(!format!("{change:?} {list:?}").contains(PW));
    let _: OrderList = decode(StatusCode::OK, &bodies[2]).unwrap();
    let _: PerformResponse = decode(StatusCode::OK, &bodies[3]).unwrap();
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn arbitrary_bytes(
        body in vec(any::<u8>(), 0..512),
        ok in 200u16..300,
        status in status_code(),
        ra in retry_after(),
    ) {
        check_body(ok, status, ra, &body)?;
    }

    #[test]
    fn arbitrary_json_values(
        v in shaped_value(),
        pretty in any::<bool>(),
        ok in 200u16..300,
        status in status_code(),
        ra in retry_after(),
    ) {
        let body = if pretty {
            serde_json::to_vec_pretty(&v).unwrap()
        } else {
            serde_json::to_vec(&v).unwrap()
        };
        check_body(ok, status, ra, &body)?;
    }

    #[test]
    fn mutated_real_bodies(
        body in mutated_body(),
        ok in 200u16..300,
        status in status_code(),
        ra in retry_after(),
    ) {
        check_body(ok, status, ra, &body)?;
    }

    #[test]
    fn retyped_real_bodies(
        body in retyped_body(),
        ok in 200u16..300,
        status in status_code(),
        ra in retry_after(),
    ) {
        check_body(ok, status, ra, &body)?;
    }

    #[test]
    fn truncated_real_bodies(body in select(real_bodies()), at in any::<Index>()) {
        let cut = &body[..at.index(body.len())];
        check_body(200, 422, None, cut)?;
        let e = decode::<OrderList>(StatusCode::OK, cut).unwrap_err();
        prop_assert!(e.to_string().contains("JSON"), "{e}");
    }

    #[test]
    fn retry_after_never_panics(
        value in prop_oneof![
            any::<String>(),
            "[ -~]{0,40}",
            "[ \t]*-?[0-9]{0,30}[ \t]*",
            "[0-9]{1,5}\\.[0-9]{1,3}",
            "(Mon|Sun|Xyz), [0-9]{1,3} (Jan|Dec|Foo) [0-9]{1,6} [0-9]{1,3}:[0-9]{1,3}:[0-9]{1,3} (GMT|UTC|)",
            "[A-Za-z]{3,9},? [0-9]{1,2}[ -][A-Za-z]{3}[ -][0-9]{2,4} [0-9:]{8} GMT",
        ],
        now in 0u64..(1 << 40),
    ) {
        let _ = parse_retry_after(&value, UNIX_EPOCH + Duration::from_secs(now));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates(
        secs in any::<u64>(),
        ahead in 0u64..100_000_000,
        now in 0u64..(1 << 34),
    ) {
        let at = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
        prop_assert_eq!(
            parse_retry_after(&format!(" {secs}\t"), at(now)),
            Some(Duration::from_secs(secs))
        );
        let date = httpdate::fmt_http_date(at(now + ahead));
        prop_assert_eq!(parse_retry_after(&date, at(now)), Some(Duration::from_secs(ahead)));
        // A date in the past is no delay.
        if now > ahead {
            let past = httpdate::fmt_http_date(at(now - ahead - 1));
            prop_assert_eq!(parse_retry_after(&past, at(now)), Some(Duration::ZERO));
        }
    }
}
