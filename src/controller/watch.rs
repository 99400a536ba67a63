//! The ProxyOrder watch, read as untyped objects and decoded one by one, so that one object
//! that does not decode (stored before the CRD had its bounds, or written around them) cannot
//! stop the list and watch, and so the controller, for every other ProxyOrder.

use std::{collections::HashMap, sync::Arc};

use kube::{
    Resource, ResourceExt,
    api::DynamicObject,
    runtime::{
        events::{Event as KubeEvent, EventType, Recorder},
        watcher::Event,
    },
};
use parking_lot::Mutex;
use tracing::{debug, warn};

use proxy_order_api::{ProxyOrder, ProxyOrderSpec, ProxyOrderStatus, events::EventOnlyReason};

/// A stored object that is not a readable ProxyOrder, and why.
#[derive(Debug)]
pub struct Unreadable {
    pub obj: Box<DynamicObject>,
    pub why: String,
}

/// A ProxyOrder as stored, or why it cannot be read.
pub fn decode(obj: DynamicObject) -> Result<ProxyOrder, Unreadable> {
    let parts = field::<ProxyOrderSpec>(&obj, "spec")
        .and_then(|spec| Ok((spec, field::<Option<ProxyOrderStatus>>(&obj, "status")?)));
    match parts {
        Ok((spec, status)) => Ok(ProxyOrder {
            metadata: obj.metadata,
            spec,
            status,
        }),
        Err(why) => Err(Unreadable {
            obj: Box::new(obj),
            why,
        }),
    }
}

/// Top-level field `name` of `obj` as a `T`, or which part of it does not fit and why.
fn field<T: serde::de::DeserializeOwned>(obj: &DynamicObject, name: &str) -> Result<T, String> {
    let value = obj
        .data
        .get(name)
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    serde_path_to_error::deserialize(value)
        .map_err(|e| format!("{name}.{}: {}", e.path(), e.inner()))
}

/// A stand-in carrying only the metadata of an object that cannot be decoded, to remove an
/// earlier, decodable version of it from the cache.
fn tombstone(obj: Box<DynamicObject>) -> ProxyOrder {
    ProxyOrder {
        metadata: obj.metadata,
        spec: ProxyOrderSpec {
            order_id: 0,
            provider_ref: None,
            api_key_secret_ref: None,
            management_policy: None,
            max_quantity: None,
            quantity: None,
            remove_proxies: None,
            port: None,
            login: None,
            password: None,
            ip_auth: None,
            lang: None,
            currency: None,
            secret: None,
            deletion_policy: None,
        },
        status: None,
    }
}

/// What the stream tells about objects that could not be decoded: each version once.
pub trait InvalidSink: Send + Sync {
    fn invalid(&self, obj: &DynamicObject, why: &str);
}

/// Turns an untyped watch event into a typed one. An object that does not decode is left out
/// of the cache (an update that breaks a cached object removes it, like a deletion, so nothing
/// acts on its old spec) and reported once per version; the others are unaffected.
pub fn decode_event(ev: Event<DynamicObject>, sink: &dyn InvalidSink) -> Option<Event<ProxyOrder>> {
    let one = |obj: DynamicObject| match decode(obj) {
        Ok(po) => Ok(po),
        Err(u) => {
            sink.invalid(&u.obj, &u.why);
            Err(u.obj)
        }
    };
    match ev {
        Event::Init => Some(Event::Init),
        Event::InitDone => Some(Event::InitDone),
        Event::InitApply(obj) => one(obj).ok().map(Event::InitApply),
        Event::Apply(obj) => Some(match one(obj) {
            Ok(po) => Event::Apply(po),
            Err(obj) => Event::Delete(tombstone(obj)),
        }),
        Event::Delete(obj) => Some(Event::Delete(match decode(obj) {
            Ok(po) => po,
            Err(u) => tombstone(u.obj),
        })),
    }
}

/// Reports undecodable ProxyOrders in the log and as a Warning Event on the object, once per
/// resourceVersion (a relist repeats them).
pub struct Reporter {
    recorder: Recorder,
    seen: Mutex<HashMap<String, String>>,
}

impl Reporter {
    pub fn new(recorder: Recorder) -> Arc<Self> {
        Arc::new(Reporter {
            recorder,
            seen: Mutex::default(),
        })
    }
}

impl InvalidSink for Reporter {
    fn invalid(&self, obj: &DynamicObject, why: &str) {
        let uid = obj.uid().unwrap_or_default();
        let rv = obj.resource_version().unwrap_or_default();
        {
            let mut seen = self.seen.lock();
            if seen.get(&uid) == Some(&rv) {
                return;
            }
            seen.insert(uid, rv);
        }
        warn!(
            name = %obj.name_any(),
            namespace = obj.namespace().unwrap_or_default(),
            error = %why,
            "ProxyOrder cannot be read; it is ignored until it is fixed or deleted"
        );
        let event = KubeEvent {
            type_: EventType::Warning,
            reason: EventOnlyReason::InvalidObject.as_str().to_string(),
            note: Some(format!(
                "the operator cannot read this ProxyOrder and ignores it until it is fixed: {why}"
            )),
            action: "Decode".to_string(),
            secondary: None,
        };
        let recorder = self.recorder.clone();
        let reference = obj.object_ref(&kube::discovery::ApiResource::erase::<ProxyOrder>(&()));
        tokio::spawn(async move {
            if let Err(e) = recorder.publish(&event, &reference).await {
                debug!(error = %e, "could not publish event");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Default)]
    struct Collect(Mutex<Vec<String>>);
    impl InvalidSink for Collect {
        fn invalid(&self, obj: &DynamicObject, why: &str) {
            self.0.lock().push(format!("{}: {why}", obj.name_any()));
        }
    }

    fn object(name: &str, spec: serde_json::Value) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "proxy-solutions.net/v1alpha1", "kind": "ProxyOrder",
            "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"),
                         "resourceVersion": "7"},
            "spec": spec,
        }))
        .unwrap()
    }

    #[test]
    fn a_good_object_decodes_a_bad_one_is_named_and_left_out() {
        let sink = Collect::default();
        let good = object("good", json!({"orderId": 10000, "port": 8000}));
        match decode_event(Event::InitApply(good), &sink) {
            Some(Event::InitApply(po)) => {
                assert_eq!(po.spec.order_id, 10000);
                assert_eq!(po.spec.port, Some(8000));
                assert_eq!(po.name_any(), "good");
            }
            other => panic!("{other:?}"),
        }
        // A port that does not fit u16, as an older CRD without bounds could have stored.
        let bad = object("bad", json!({"orderId": 10000, "port": 70000}));
        assert!(decode_event(Event::InitApply(bad.clone()), &sink).is_none());
        // An update that breaks a cached object removes it from the cache.
        match decode_event(Event::Apply(bad.clone()), &sink) {
            Some(Event::Delete(po)) => assert_eq!(po.name_any(), "bad"),
            other => panic!("{other:?}"),
        }
        match decode_event(Event::Delete(bad), &sink) {
            Some(Event::Delete(po)) => assert_eq!(po.name_any(), "bad"),
            other => panic!("{other:?}"),
        }
        let reports = sink.0.lock().clone();
        assert_eq!(reports.len(), 2, "{reports:?}");
        assert!(reports[0].starts_with("bad: spec.port:"), "{reports:?}");
        assert!(matches!(
            decode_event(Event::Init, &sink),
            Some(Event::Init)
        ));
        assert!(matches!(
            decode_event(Event::InitDone, &sink),
            Some(Event::InitDone)
        ));
    }

    #[test]
    fn a_bad_status_is_named_too() {
        let mut obj = object("s", json!({"orderId": 1}));
        obj.data["status"] = json!({"order": {"status": "active", "period": -1, "quantity": 1,
                                              "amount": "1", "autoContinuation": false,
                                              "resourcesAllocated": true}});
        let why = decode(obj).unwrap_err().why;
        assert!(why.starts_with("status.order.period"), "{why}");
    }
}
