//! Status helpers: the Ready and Synced conditions for a success or a failure, the reason and
//! requeue for a provider error, and the order summary.

use super::{Inputs, Observed, Requeue, secret::secret_is_current};
use crate::{
    controller::conditions::{self, READY, Reason, SYNCED},
    provider::{Currency, Order, ProviderError},
};
use proxy_order_api::{OrderSummary, ProxyOrderStatus};

pub(super) fn summary(order: &Order, currency: Option<Currency>) -> OrderSummary {
    let location = order.location.as_ref().map(|l| {
        if l.country_name.is_empty() || l.country_name == l.name {
            l.name.clone()
        } else {
            format!("{}, {}", l.name, l.country_name)
        }
    });
    OrderSummary {
        status: order.status.to_string(),
        service: Some(order.service.name.clone()).filter(|s| !s.is_empty()),
        location,
        operator: order.operator.as_ref().map(|o| o.name.clone()),
        period: order.period,
        quantity: order.quantity,
        amount: money(order.amount),
        converted_amount: order.converted_amount.map(money),
        currency: Some(currency.unwrap_or_default().as_str().to_string()),
        auto_continuation: order.auto_continuation,
        allowed_operations: order.allowed_operations.clone(),
        resources_allocated: order.resources_allocated,
    }
}

/// Money as the shortest decimal that reads back as the same number (`1.81`, `100`).
fn money(v: f64) -> String {
    format!("{v}")
}

pub(super) fn set_ready(status: &mut ProxyOrderStatus, inp: &Inputs, obs: &Observed) {
    let name = inp.secret_name();
    conditions::set(
        &mut status.conditions,
        READY,
        true,
        if inp.spec.observes() {
            Reason::Observed
        } else {
            Reason::Applied
        },
        format!("credentials are published in Secret {name}"),
        inp.generation,
        &obs.now,
    );
}

pub(super) fn succeed(
    status: &mut ProxyOrderStatus,
    inp: &Inputs,
    obs: &Observed,
    held: Option<&str>,
) {
    set_ready(status, inp, obs);
    match held {
        Some(msg) => conditions::set(
            &mut status.conditions,
            SYNCED,
            false,
            if status.planned_changes.iter().all(|p| p.approved) {
                Reason::WaitingForExpiry
            } else {
                Reason::AwaitingApproval
            },
            msg,
            inp.generation,
            &obs.now,
        ),
        None => conditions::set(
            &mut status.conditions,
            SYNCED,
            true,
            Reason::Applied,
            "the provider matches the spec",
            inp.generation,
            &obs.now,
        ),
    }
}

pub(super) fn fail_both(
    status: &mut ProxyOrderStatus,
    inp: &Inputs,
    obs: &Observed,
    reason: Reason,
    message: String,
) {
    for t in [READY, SYNCED] {
        conditions::set(
            &mut status.conditions,
            t,
            false,
            reason,
            message.clone(),
            inp.generation,
            &obs.now,
        );
    }
}

/// The condition reason for a provider error.
pub fn reason_for(e: &ProviderError) -> Reason {
    match e {
        ProviderError::Unauthorized { .. } => Reason::Unauthorized,
        ProviderError::NotFound { .. } => Reason::OrderNotFound,
        ProviderError::Rejected { .. }
        | ProviderError::UnexpectedStatus { .. }
        | ProviderError::InvalidRequest(_) => Reason::ProviderRejected,
        _ => Reason::ProviderUnavailable,
    }
}

pub(super) fn requeue_for(e: &ProviderError) -> Requeue {
    if e.is_transient() {
        Requeue::Backoff {
            retry_after: e.retry_after(),
        }
    } else {
        Requeue::Terminal
    }
}

/// Terminal failures make both conditions false. A transient failure leaves a Ready resource
/// Ready only while its Secret still holds the live credentials: not when the Secret is gone or
/// stale, and not when the failed request may have changed them at the provider
/// (`may_have_changed`).
pub(super) fn record_failure(
    status: &mut ProxyOrderStatus,
    inp: &Inputs,
    obs: &Observed,
    e: &ProviderError,
    may_have_changed: bool,
) {
    let reason = reason_for(e);
    let message = e.to_string();
    conditions::set(
        &mut status.conditions,
        SYNCED,
        false,
        reason,
        message.clone(),
        inp.generation,
        &obs.now,
    );
    let keep_ready = e.is_transient()
        && !may_have_changed
        && conditions::is_true(&status.conditions, READY)
        && secret_is_current(status, inp, obs);
    if !keep_ready {
        conditions::set(
            &mut status.conditions,
            READY,
            false,
            reason,
            message,
            inp.generation,
            &obs.now,
        );
    }
}
