//! Integration tests of `proxy-solutions-sim` over real HTTP: each test starts its own
//! simulator on 127.0.0.1:0 and talks to it with raw reqwest requests.
//!
//! One module per topic; the simulator and client helpers they share are in `support.rs`.

mod admin;
mod auth;
mod change;
mod faults;
mod golden;
mod perform_charge;
mod proxy;
mod request_log;
mod support;
