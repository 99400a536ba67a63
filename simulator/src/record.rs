//! The log of provider-API requests the simulator received (`GET /_sim/requests`).
//!
//! Bodies are stored with every `password` value replaced by `"[REDACTED]"`, and the query map
//! never holds the API key, so the log can be printed in test output safely.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;
use serde_json::Value;

/// Placeholder for redacted values.
pub const REDACTED: &str = "[REDACTED]";

/// One provider-API request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RequestRecord {
    #[serde(skip)]
    pub seq: u64,
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// The order id from the path, when the path names one.
    pub order_id: Option<u64>,
    /// Query parameters, without the API key.
    pub query: BTreeMap<String, String>,
    /// Parsed JSON body (redacted), the raw text when it is not JSON, or `null` when empty.
    pub body: Value,
    /// HTTP status answered; 0 while in flight or when the connection was dropped.
    pub status: u16,
}

/// Replaces every value under a `password` key, at any depth.
pub fn redact_passwords(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    if k == "password" {
                        (k, Value::String(REDACTED.to_string()))
                    } else {
                        (k, redact_passwords(v))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact_passwords).collect()),
        other => other,
    }
}

/// How a request body is recorded: `null` if empty, the redacted JSON if it parses, otherwise
/// the raw text — unless the text mentions a password, then only a placeholder.
pub fn record_body(bytes: &[u8]) -> Value {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        return redact_passwords(v);
    }
    match std::str::from_utf8(bytes) {
        Ok(text) if text.to_ascii_lowercase().contains("password") => Value::String(format!(
            "{REDACTED} (unparseable body mentioning a password)"
        )),
        Ok(text) => Value::String(text.to_string()),
        Err(_) => Value::String(format!("[{} bytes of non-UTF-8 data]", bytes.len())),
    }
}

/// Bounded, ordered request log.
#[derive(Debug)]
pub struct RequestLog {
    next_seq: u64,
    capacity: usize,
    records: VecDeque<RequestRecord>,
}

impl RequestLog {
    pub fn new(capacity: usize) -> Self {
        RequestLog {
            next_seq: 0,
            capacity: capacity.max(1),
            records: VecDeque::new(),
        }
    }

    /// Appends a record in arrival order (status 0 until [`RequestLog::finish`]); returns its
    /// sequence number. The oldest record is dropped when the log is full.
    pub fn start(&mut self, mut record: RequestRecord) -> u64 {
        self.next_seq += 1;
        record.seq = self.next_seq;
        record.status = 0;
        if self.records.len() >= self.capacity {
            self.records.pop_front();
        }
        self.records.push_back(record);
        self.next_seq
    }

    /// Sets the final status of a record (no-op if it was cleared or evicted meanwhile).
    pub fn finish(&mut self, seq: u64, status: u16) {
        if let Some(r) = self.records.iter_mut().rev().find(|r| r.seq == seq) {
            r.status = status;
        }
    }

    /// Records, oldest first, optionally only those for one order.
    pub fn list(&self, order_id: Option<u64>) -> Vec<RequestRecord> {
        self.records
            .iter()
            .filter(|r| order_id.is_none() || r.order_id == order_id)
            .cloned()
            .collect()
    }

    pub fn clear(&mut self) -> usize {
        std::mem::take(&mut self.records).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(path: &str, order_id: Option<u64>) -> RequestRecord {
        RequestRecord {
            seq: 0,
            method: "POST".into(),
            path: path.into(),
            order_id,
            query: BTreeMap::new(),
            body: Value::Null,
            status: 0,
        }
    }

    #[test]
    fn passwords_are_redacted_at_any_depth() {
        let v = redact_passwords(
            json!({"password": "p1", "gen_password": true, "x": [{"password": 5}]}),
        );
        assert_eq!(
            v,
            json!({"password": REDACTED, "gen_password": true, "x": [{"password": REDACTED}]})
        );
    }

    #[test]
    fn bodies() {
        assert_eq!(record_body(b""), Value::Null);
        assert_eq!(record_body(b" \n"), Value::Null);
        assert_eq!(
            record_body(br#"{"password":"secret-1"}"#),
            json!({"password": REDACTED})
        );
        assert_eq!(record_body(b"{not json"), json!("{not json"));
        let v = record_body(br#"{"password": "secret-2""#);
        assert!(!v.to_string().contains("secret-2"), "{v}");
    }

    #[test]
    fn log_orders_filters_finishes_and_evicts() {
        let mut log = RequestLog::new(2);
        let a = log.start(rec("/a", Some(1)));
        let b = log.start(rec("/b", Some(2)));
        log.finish(b, 200);
        log.finish(a, 422);
        let all = log.list(None);
        assert_eq!(
            all.iter()
                .map(|r| (r.path.as_str(), r.status))
                .collect::<Vec<_>>(),
            vec![("/a", 422), ("/b", 200)]
        );
        assert_eq!(log.list(Some(2)).len(), 1);
        log.start(rec("/c", None));
        assert_eq!(
            log.list(None)
                .iter()
                .map(|r| r.path.as_str())
                .collect::<Vec<_>>(),
            vec!["/b", "/c"]
        );
        assert_eq!(log.clear(), 2);
        assert!(log.list(None).is_empty());
    }
}
