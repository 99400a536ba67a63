//! Condition transition times.

use super::*;

// ---------------------------------------------------------------------------------------------
// 16: condition transition times
// ---------------------------------------------------------------------------------------------

#[test]
fn transition_times_move_only_when_a_condition_changes() {
    let (res, data) = applied(base_spec());
    let t0 = now();
    assert_eq!(cond(&res.status, READY).last_transition_time, t0);

    // Re-asserting Ready at a later time keeps t0.
    let s = expect_settle(res.plan(&Observed {
        now: at(3600),
        ..with_secret(&data)
    }));
    assert_eq!(cond(&s.status, READY).last_transition_time, t0);
    assert_eq!(cond(&s.status, SYNCED).last_transition_time, t0);

    // Synced turns False at t1 and stays False through a later failure.
    let res = res.edit(|s| s.port = Some(8001));
    let obs1 = Observed {
        now: at(100),
        ..with_secret(&data)
    };
    let call = expect_call(res.plan(&obs1));
    let s = res.after(&obs1, &call, Err(&http_error(503, None, "")));
    assert_eq!(cond(&s.status, SYNCED).last_transition_time, at(100));
    assert_eq!(cond(&s.status, READY).last_transition_time, at(100));
    let res = res.with_status(s.status);
    let obs2 = Observed {
        now: at(200),
        ..with_secret(&data)
    };
    let s = res.after(&obs2, &call, Err(&http_error(502, None, "")));
    assert_eq!(cond(&s.status, SYNCED).last_transition_time, at(100));

    // And back to True at t3.
    let obs3 = Observed {
        now: at(300),
        ..with_secret(&data)
    };
    let s = res.after(&obs3, &call, Ok(&with_port(active_order(), 8001)));
    assert_eq!(cond(&s.status, SYNCED).last_transition_time, at(300));
    assert_eq!(cond(&s.status, READY).last_transition_time, at(300));
}
