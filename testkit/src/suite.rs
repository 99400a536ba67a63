//! For suites that run without the test harness (the fault suites, the benchmark): their
//! runtime, their settings from the environment, and work spread over a few tasks.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Result, anyhow};

/// A multi-threaded tokio runtime with two workers.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The environment variable `name` parsed, or `default` when it is unset or empty.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    parse_or(name, std::env::var(name).ok(), default)
}

fn parse_or<T: std::str::FromStr>(name: &str, value: Option<String>, default: T) -> Result<T> {
    match value {
        Some(v) if !v.is_empty() => v.parse().map_err(|_| anyhow!("{name}={v:?} is not valid")),
        _ => Ok(default),
    }
}

/// Runs `make(i)` for every i in 0..n on `tasks` tasks, each taking the next i when its last
/// is done; returns how long it took, or the first error.
pub async fn run_on_tasks<F, Fut>(n: usize, tasks: usize, make: F) -> Result<Duration>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<()>> + Send,
{
    let start = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let next = next.clone();
        let make = make.clone();
        handles.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(());
                }
                make(i).await?;
            }
        }));
    }
    for h in handles {
        h.await??;
    }
    Ok(start.elapsed())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn a_setting_is_parsed_or_defaulted() {
        assert_eq!(parse_or("N", Some("12".into()), 5).unwrap(), 12);
        assert_eq!(parse_or("N", Some(String::new()), 5).unwrap(), 5);
        assert_eq!(parse_or("N", None, 5).unwrap(), 5);
        let err = parse_or("N", Some("x".into()), 5).unwrap_err();
        assert_eq!(err.to_string(), r#"N="x" is not valid"#);
    }

    #[tokio::test]
    async fn every_index_runs_once() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        run_on_tasks(50, 4, move |i| {
            let s = s.clone();
            async move {
                s.lock().unwrap().push(i);
                Ok(())
            }
        })
        .await
        .unwrap();
        let mut seen = seen.lock().unwrap().clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn the_first_error_is_returned() {
        let err = run_on_tasks(10, 2, |i| async move {
            anyhow::ensure!(i != 7, "item {i} failed");
            Ok(())
        })
        .await
        .unwrap_err();
        assert_eq!(err.to_string(), "item 7 failed");
    }
}
