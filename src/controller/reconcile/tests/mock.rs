//! A scripted Kubernetes API server: the kube client runs over a `tower_test` mock service, and
//! [`ApiServer::serve`] answers its requests from a list of expected ones while a reconcile
//! runs. Each expected request is matched by method and path (in order), its body checked, and
//! answered with JSON; anything else fails the test at once, naming what came and what was
//! expected. Events (`events.k8s.io`) are accepted wherever they come and echoed back.

use std::{collections::VecDeque, future::Future, time::Duration};

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};
use tower_test::mock::{self, Handle, SendResponse};

/// How long one scripted exchange may take before the test fails instead of hanging.
const LIMIT: Duration = Duration::from_secs(20);

/// Path prefix of the Events API: those requests are accepted at any point.
const EVENTS: &str = "/apis/events.k8s.io/";

/// One request as the server received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: Method,
    pub path: String,
    /// The query string (empty when none).
    pub query: String,
    /// The JSON body (`Null` when empty).
    pub body: Value,
}

impl Received {
    /// `METHOD path`.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// Whether this is an Event write.
    pub fn is_event(&self) -> bool {
        self.path.starts_with(EVENTS)
    }
}

type Check = Box<dyn FnOnce(&Received) + Send>;
type Reply = Box<dyn FnOnce(&Received) -> (StatusCode, Value) + Send>;

/// One expected request and its answer.
pub struct Step {
    method: Method,
    path: String,
    check: Option<Check>,
    reply: Reply,
}

impl Step {
    fn new(method: Method, path: impl Into<String>) -> Self {
        Step {
            method,
            path: path.into(),
            check: None,
            reply: Box::new(|_| (StatusCode::OK, json!({}))),
        }
    }

    pub fn get(path: impl Into<String>) -> Self {
        Step::new(Method::GET, path)
    }

    pub fn post(path: impl Into<String>) -> Self {
        Step::new(Method::POST, path)
    }

    pub fn patch(path: impl Into<String>) -> Self {
        Step::new(Method::PATCH, path)
    }

    pub fn put(path: impl Into<String>) -> Self {
        Step::new(Method::PUT, path)
    }

    pub fn delete(path: impl Into<String>) -> Self {
        Step::new(Method::DELETE, path)
    }

    /// Asserts about the request (its body, its query) before it is answered, after the
    /// checks already added.
    pub fn check(mut self, f: impl FnOnce(&Received) + Send + 'static) -> Self {
        let before = self.check.take();
        self.check = Some(Box::new(move |req| {
            if let Some(before) = before {
                before(req);
            }
            f(req);
        }));
        self
    }

    /// Answers with this status and JSON body.
    pub fn reply(mut self, status: u16, body: Value) -> Self {
        let status = StatusCode::from_u16(status).expect("a valid status code");
        self.reply = Box::new(move |_| (status, body));
        self
    }

    /// Answers with what `f` makes of the request (e.g. the object it wrote).
    pub fn reply_with(
        mut self,
        f: impl FnOnce(&Received) -> (u16, Value) + Send + 'static,
    ) -> Self {
        self.reply = Box::new(move |req| {
            let (status, body) = f(req);
            (
                StatusCode::from_u16(status).expect("a valid status code"),
                body,
            )
        });
        self
    }

    /// Answers with a `Status` failure: `code`, `reason` (e.g. `NotFound`, `Conflict`).
    pub fn fail(self, code: u16, reason: &str) -> Self {
        let body = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": format!("scripted {reason} for {}", self.path),
            "reason": reason,
            "code": code,
        });
        self.reply(code, body)
    }

    fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// The API server's side of the kube client.
pub struct ApiServer {
    handle: Handle<Request<Body>, Response<Body>>,
    /// Every request answered so far, Events included, in arrival order.
    pub received: Vec<Received>,
}

impl ApiServer {
    /// A kube client whose requests go to the returned server.
    pub fn client() -> (kube::Client, ApiServer) {
        let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
        let client = kube::Client::new(service, "default");
        (
            client,
            ApiServer {
                handle,
                received: Vec::new(),
            },
        )
    }

    /// Runs `work` (a reconcile) while answering its requests with `steps`, in order. Fails
    /// the test on a request out of script, on steps left over when `work` ends, and when the
    /// exchange takes longer than [`LIMIT`].
    pub async fn serve<F: Future>(&mut self, steps: Vec<Step>, work: F) -> F::Output {
        let mut steps: VecDeque<Step> = steps.into();
        let Self { handle, received } = self;
        let run = async {
            let mut work = std::pin::pin!(work);
            loop {
                tokio::select! {
                    out = &mut work => return out,
                    next = handle.next_request() => {
                        let (request, respond) = next.expect("the kube client went away");
                        answer(request, respond, &mut steps, received).await;
                    }
                }
            }
        };
        let out = match tokio::time::timeout(LIMIT, run).await {
            Ok(out) => out,
            Err(_) => panic!(
                "no progress within {LIMIT:?}; still expected: {}",
                pending(&steps)
            ),
        };
        assert!(
            steps.is_empty(),
            "the reconcile ended without these requests: {}",
            pending(&steps)
        );
        out
    }

    /// The requests answered so far, without Events, as `METHOD path`.
    pub fn lines(&self) -> Vec<String> {
        self.received
            .iter()
            .filter(|r| !r.is_event())
            .map(Received::line)
            .collect()
    }

    /// The Events written so far (their bodies).
    pub fn events(&self) -> Vec<&Value> {
        self.received
            .iter()
            .filter(|r| r.is_event())
            .map(|r| &r.body)
            .collect()
    }

    /// Forgets what was received (between two reconciles of one test).
    pub fn clear(&mut self) {
        self.received.clear();
    }
}

fn pending(steps: &VecDeque<Step>) -> String {
    if steps.is_empty() {
        return "nothing".to_string();
    }
    steps.iter().map(Step::line).collect::<Vec<_>>().join(", ")
}

async fn answer(
    request: Request<Body>,
    respond: SendResponse<Response<Body>>,
    steps: &mut VecDeque<Step>,
    received: &mut Vec<Received>,
) {
    let (parts, body) = request.into_parts();
    let bytes = body.collect_bytes().await.expect("a readable request body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("a JSON request body")
    };
    let req = Received {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        body,
    };
    received.push(req.clone());
    let (status, reply) = if req.is_event() {
        // The Event as written, as the API server would store it.
        let status = if req.method == Method::POST {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        (status, req.body.clone())
    } else {
        let Some(step) = steps.pop_front() else {
            panic!("unexpected request {} after the script ended", req.line());
        };
        assert!(
            step.method == req.method && step.path == req.path,
            "unexpected request {}; expected {}",
            req.line(),
            step.line()
        );
        if let Some(check) = step.check {
            check(&req);
        }
        (step.reply)(&req)
    };
    let response = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(&reply).expect("JSON")))
        .expect("a response");
    respond.send_response(response);
}

/// The harness itself: what it lets through and what it fails on.
mod selftest {
    use k8s_openapi::api::core::v1::{ObjectReference, Secret};
    use kube::{
        Api,
        runtime::events::{Event, EventType, Recorder, Reporter},
    };

    use super::{ApiServer, Step};

    const A: &str = "/api/v1/namespaces/default/secrets/a";
    const B: &str = "/api/v1/namespaces/default/secrets/b";

    fn secrets() -> (Api<Secret>, ApiServer) {
        let (client, server) = ApiServer::client();
        (Api::default_namespaced(client), server)
    }

    #[tokio::test]
    #[should_panic(
        expected = "unexpected request GET /api/v1/namespaces/default/secrets/a; \
                               expected GET /api/v1/namespaces/default/secrets/b"
    )]
    async fn a_request_out_of_script_fails() {
        let (api, mut server) = secrets();
        let _ = server.serve(vec![Step::get(B)], api.get_opt("a")).await;
    }

    #[tokio::test]
    #[should_panic(
        expected = "unexpected request GET /api/v1/namespaces/default/secrets/a \
                               after the script ended"
    )]
    async fn a_request_after_the_script_fails() {
        let (api, mut server) = secrets();
        let _ = server.serve(Vec::new(), api.get_opt("a")).await;
    }

    #[tokio::test]
    #[should_panic(expected = "the reconcile ended without these requests: \
                               GET /api/v1/namespaces/default/secrets/b")]
    async fn a_request_never_made_fails_when_the_work_ends() {
        let (_api, mut server) = secrets();
        server.serve(vec![Step::get(B)], async {}).await;
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "no progress within 20s; still expected: \
                               GET /api/v1/namespaces/default/secrets/b")]
    async fn work_that_hangs_fails_after_the_limit() {
        let (_api, mut server) = secrets();
        server
            .serve(vec![Step::get(B)], std::future::pending::<()>())
            .await;
    }

    #[tokio::test]
    #[should_panic(expected = "a failing check")]
    async fn a_failing_check_fails() {
        let (api, mut server) = secrets();
        let step = Step::get(A).check(|_| panic!("a failing check"));
        let _ = server.serve(vec![step], api.get_opt("a")).await;
    }

    #[tokio::test]
    async fn events_are_answered_wherever_they_come_and_steps_in_order() {
        let (client, mut server) = ApiServer::client();
        let reporter = Reporter {
            controller: "test".into(),
            instance: None,
        };
        let recorder = Recorder::new(client.clone(), reporter);
        let api: Api<Secret> = Api::default_namespaced(client);
        let reference = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Secret".into()),
            name: Some("a".into()),
            namespace: Some("default".into()),
            ..Default::default()
        };
        let event = Event {
            type_: EventType::Normal,
            reason: "Tested".into(),
            note: None,
            action: "Test".into(),
            secondary: None,
        };
        let work = async {
            let a = api.get_opt("a").await.unwrap();
            recorder.publish(&event, &reference).await.unwrap();
            let b = api.get_opt("b").await.unwrap();
            (a, b)
        };
        let steps = vec![
            Step::get(A).fail(404, "NotFound"),
            Step::get(B).reply(200, serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b"}})),
        ];
        let (a, b) = server.serve(steps, work).await;
        assert!(a.is_none());
        assert_eq!(b.unwrap().metadata.name.as_deref(), Some("b"));
        assert_eq!(server.lines(), [format!("GET {A}"), format!("GET {B}")]);
        let events = server.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["reason"], "Tested");
    }
}
