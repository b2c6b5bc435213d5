//! The fuzz targets' bodies, shared by the libFuzzer binaries in `fuzz/fuzz_targets/` and by
//! the corpus replay test of the workspace (`tests/tests/fuzz_replay.rs`, which includes this
//! file with `#[path]`). Each takes arbitrary bytes and panics only on a real bug.

use perfopt_core::Instant;
use perfopt_core::report::Report;
use perfopt_core::rules::{Aggregate, MetricSource, Rule, RuleEngine};
use std::time::Duration;

/// Report JSON → parse and validate → every renderer (`report show`, `/metrics`, HTML).
pub fn report_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(report) = Report::from_json(text) else {
        return;
    };
    let shown = perfopt::show::render(&report);
    // `report show` never passes a control character through (terminal injection).
    assert!(
        !shown.chars().any(|c| c.is_control() && c != '\n'),
        "control character in report show output"
    );
    let _ = perfopt::prometheus::render(&report);
    let html = perfopt::html_report::render(&report);
    assert!(html.starts_with("<!doctype html>") || html.starts_with("<!DOCTYPE html>"));
    // A valid report round-trips.
    let again = Report::from_json(&report.to_json()).expect("a valid report re-reads");
    assert_eq!(again.series.len(), report.series.len());
}

/// Values for the rule engine, from the fuzz input.
struct Values<'a>(&'a [u8]);

impl MetricSource for Values<'_> {
    fn aggregate(&self, metric: &str, _: Aggregate, _: Duration, now: Instant) -> Option<f64> {
        let i = (metric.len() + now.as_nanos() as usize) % self.0.len().max(1);
        let b = *self.0.get(i)?;
        (b != 0).then(|| f64::from(b) - 100.0)
    }
}

/// A rules file (JSON list of rules) → the engine → ticks with values from the input.
pub fn rules_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(rules) = serde_json::from_str::<Vec<Rule>>(text) else {
        return;
    };
    let n = rules.len();
    let Ok(mut engine) = RuleEngine::new(rules) else {
        return;
    };
    // The event stream against the engine's states (not a model of *when* a rule should
    // fire): each rule's state moves only by the allowed transitions (inactive/resolved ->
    // pending -> firing -> resolved; pending -> inactive), events carry their tick's time,
    // the states the events imply equal the engine's after every tick, and the findings'
    // fired counts equal the firing events.
    use perfopt_core::rules::AlertState::{Firing, Inactive, Pending, Resolved};
    let mut model = vec![Inactive; n];
    let mut fired = vec![0u32; n];
    for s in 0..16u64 {
        let now = Instant::from_secs(s);
        engine.handle_tick(now, &Values(data));
        while let Some(ev) = engine.poll_event() {
            let from = model[ev.rule];
            let allowed = matches!(
                (from, ev.state),
                (Inactive | Resolved, Pending) | (Pending, Firing | Inactive) | (Firing, Resolved)
            );
            assert!(allowed, "rule {}: {from:?} -> {:?}", ev.rule, ev.state);
            assert_eq!(ev.at, now, "an event carries its tick's time");
            model[ev.rule] = ev.state;
            fired[ev.rule] += u32::from(ev.state == Firing);
        }
        for (i, want) in model.iter().enumerate() {
            assert_eq!(engine.state(i), *want, "rule {i} after tick {s}");
        }
    }
    for f in engine.findings() {
        assert!(f.fired_count >= 1 && f.fired_at >= f.since);
        assert_eq!(f.fired_count, fired[f.rule], "rule {}: times fired", f.rule);
    }
    let with_findings = engine.findings().count();
    assert_eq!(with_findings, fired.iter().filter(|&&c| c > 0).count());
}

/// One chat protocol line: parse; a rejection is a one-line `ERR <code> <message>`.
pub fn chat_line(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.split('\n') {
        match perfopt::demo::protocol::parse(line) {
            Ok(_) => {}
            Err(e) => {
                let reply = e.to_string();
                assert!(reply.starts_with("ERR "), "{reply}");
                assert!(!reply.contains('\n'), "a reply is one line: {reply:?}");
            }
        }
    }
}

/// Operation sequences on the cache and limiter machines, `validate()` after each step.
pub fn machines(data: &[u8]) {
    use perfopt_core::cache::{Cache, CacheConfig};
    use perfopt_core::limiter::{Acquire, Algorithm, Limiter, LimiterConfig, Outcome};
    let Some((&first, ops)) = data.split_first() else {
        return;
    };
    let capacity = u64::from(first % 16) + 1;
    let Ok(mut cache) = Cache::<u8, u8>::new(CacheConfig::new(capacity)) else {
        return;
    };
    let algorithm = match first % 3 {
        0 => Algorithm::Fixed(u32::from(first % 5) + 1),
        1 => Algorithm::Aimd(Default::default()),
        _ => Algorithm::Gradient(Default::default()),
    };
    let mut config = LimiterConfig::new(algorithm);
    config.max_waiters = usize::from(first % 7);
    let Ok(mut limiter) = Limiter::new(config) else {
        return;
    };
    let mut now = Instant::ZERO;
    let mut permits = Vec::new();
    let mut waiters = Vec::new();
    let mut cancelled = Vec::new();
    let mut untracked = Vec::new();
    for pair in ops.chunks(2) {
        let (op, arg) = (pair[0], *pair.get(1).unwrap_or(&0));
        match op % 12 {
            0 => {
                let _ = cache.get(now, &arg);
            }
            1 => {
                let _ = cache.insert(now, arg, op);
            }
            2 => {
                let _ =
                    cache.insert_with_ttl(now, arg, op, Duration::from_millis(u64::from(arg) + 1));
            }
            3 => {
                let _ = cache.remove(&arg);
            }
            4 => {
                now = now.saturating_add(Duration::from_millis(u64::from(arg) * 7));
                cache.handle_timeout(now);
                limiter.handle_timeout(now);
            }
            5 => while cache.poll_event().is_some() {},
            // Untracked permits (a host's lock-free fast path): admitted, or released with
            // the epoch they were admitted in.
            7 if arg % 2 == 0 => {
                if limiter.admit_untracked() {
                    untracked.push(limiter.epoch());
                }
            }
            7 if !untracked.is_empty() => {
                let epoch = untracked.swap_remove(usize::from(arg) % untracked.len());
                let outcome = [
                    Outcome::Success,
                    Outcome::Dropped,
                    Outcome::Timeout,
                    Outcome::Ignored,
                ][usize::from(arg / 2) % 4];
                let latency = (arg % 4 == 1).then(|| Duration::from_millis(u64::from(arg)));
                // Unmeasured and signal-free releases carry no time: the latest instant seen.
                let at = (latency.is_some() || arg % 3 != 0).then_some(now);
                limiter
                    .release_untracked(at, outcome, latency, epoch)
                    .expect("a held untracked permit releases");
            }
            6 | 7 => match limiter.acquire(
                now,
                now.saturating_add(Duration::from_millis(u64::from(arg))),
            ) {
                Acquire::Admitted(p) => permits.push(p),
                Acquire::Queued(w) => waiters.push(w),
                _ => {}
            },
            8 => {
                if !permits.is_empty() {
                    let p = permits.swap_remove(usize::from(arg) % permits.len());
                    let outcome = [Outcome::Success, Outcome::Dropped, Outcome::Timeout]
                        [usize::from(arg) % 3];
                    limiter
                        .release_with_latency(
                            now,
                            p,
                            outcome,
                            Duration::from_millis(u64::from(arg)),
                        )
                        .expect("a held permit releases");
                }
            }
            9 => {
                if !waiters.is_empty() {
                    let w = waiters.swap_remove(usize::from(arg) % waiters.len());
                    if let Ok(perfopt_core::limiter::Cancelled::Released(p)) =
                        limiter.cancel(now, w)
                    {
                        // Granted but not yet seen: its event must not hand it out again.
                        permits.retain(|q| *q != p);
                        cancelled.push(p);
                    }
                }
            }
            10 => {
                while let Some(ev) = limiter.poll_event() {
                    match ev {
                        perfopt_core::limiter::LimiterEvent::Granted { waiter, permit } => {
                            waiters.retain(|w| *w != waiter);
                            if !cancelled.contains(&permit) {
                                permits.push(permit);
                            }
                        }
                        perfopt_core::limiter::LimiterEvent::TimedOut { waiter } => {
                            waiters.retain(|w| *w != waiter);
                        }
                        _ => {}
                    }
                }
            }
            _ => {
                if let Some(p) = limiter.try_acquire(now) {
                    permits.push(p);
                }
            }
        }
        cache.validate();
        limiter.validate();
        assert!(cache.weight() <= capacity, "cache over capacity");
    }
}

/// Operation sequences on the pool machine, driven the way a host drives it (create, check,
/// grant, release, cancel, timers, close), `validate()` after every step. The host's own
/// book-keeping is checked against the pool's counts: connections in use are exactly the
/// slots the host holds.
pub fn pool_machine(data: &[u8]) {
    use perfopt_core::pool::{
        Cancelled, CreateFailure, Get, Health, Pool, PoolAction, PoolConfig, SlotId, WaiterId,
    };
    let Some((&first, ops)) = data.split_first() else {
        return;
    };
    let mut config = PoolConfig::new(usize::from(first % 6) + 1);
    config.min_idle = usize::from(first / 6 % 3).min(config.max_size);
    config.max_waiters = usize::from(first / 18 % 5);
    config.max_lifetime = (first & 0x40 != 0).then(|| Duration::from_millis(400));
    config.idle_timeout = (first & 0x80 != 0).then(|| Duration::from_millis(300));
    config.check_after_idle = (first & 0x20 != 0).then(|| Duration::from_millis(50));
    config.leak_threshold = Some(Duration::from_millis(500));
    let mut now = Instant::ZERO;
    let Ok(mut pool) = Pool::new(config, now) else {
        return;
    };
    let mut held: Vec<SlotId> = Vec::new();
    let mut waiters: Vec<WaiterId> = Vec::new();
    let mut cancelled: Vec<WaiterId> = Vec::new();
    let mut creating: Vec<SlotId> = Vec::new();
    let mut checking: Vec<SlotId> = Vec::new();
    let pick = |len: usize, arg: u8| usize::from(arg) % len;
    let health = |broken: bool| {
        if broken {
            Health::Broken
        } else {
            Health::Healthy
        }
    };
    for pair in ops.chunks(2) {
        let (op, arg) = (pair[0], *pair.get(1).unwrap_or(&0));
        match op % 10 {
            0 | 1 => {
                let deadline = now.saturating_add(Duration::from_millis(u64::from(arg) * 3));
                match pool.get(now, deadline) {
                    Get::Ready(slot) => held.push(slot),
                    Get::Queued(w) => waiters.push(w),
                    _ => {}
                }
            }
            2 if !held.is_empty() => {
                let slot = held.swap_remove(pick(held.len(), arg));
                let health = health(arg % 5 == 0);
                pool.release(now, slot, health)
                    .expect("a held connection is returned");
            }
            3 if !waiters.is_empty() => {
                let w = waiters.swap_remove(pick(waiters.len(), arg));
                // Granted but its Grant not yet drained: the host never holds that slot.
                if let Cancelled::Released(_) =
                    pool.cancel(now, w).expect("a queued waiter cancels")
                {
                    cancelled.push(w);
                }
            }
            4 if !creating.is_empty() => {
                let slot = creating.swap_remove(pick(creating.len(), arg));
                // The creation may already have timed out (the pool then forgot the slot).
                let _ = match arg % 4 {
                    0 => pool.handle_create_failed(now, slot, CreateFailure::Transient),
                    1 => pool.handle_create_failed(now, slot, CreateFailure::Fatal),
                    _ => pool.handle_created(now, slot),
                };
            }
            5 if !checking.is_empty() => {
                let slot = checking.swap_remove(pick(checking.len(), arg));
                let health = health(arg % 3 == 0);
                let _ = pool.handle_checked(now, slot, health);
            }
            6 => {
                now = now.saturating_add(Duration::from_millis(u64::from(arg) * 5));
                pool.handle_timeout(now);
            }
            7 => {
                if let Some(at) = pool.poll_timeout() {
                    now = now.max(at);
                    pool.handle_timeout(now);
                }
            }
            8 if arg == 0xff => pool.close(now),
            _ => {}
        }
        while let Some(action) = pool.poll_action() {
            match action {
                PoolAction::Create(slot) => creating.push(slot),
                PoolAction::Check(slot) => checking.push(slot),
                PoolAction::Close { slot, .. } => {
                    assert!(!held.contains(&slot), "a held connection was closed");
                    creating.retain(|s| *s != slot);
                    checking.retain(|s| *s != slot);
                }
                PoolAction::Grant { waiter, slot } => {
                    waiters.retain(|w| *w != waiter);
                    if let Some(i) = cancelled.iter().position(|w| *w == waiter) {
                        cancelled.swap_remove(i);
                    } else {
                        held.push(slot);
                    }
                }
                PoolAction::TimedOut { waiter, .. }
                | PoolAction::Failed { waiter, .. }
                | PoolAction::Rejected { waiter, .. } => waiters.retain(|w| *w != waiter),
                _ => {}
            }
        }
        pool.validate();
        assert_eq!(pool.in_use(), held.len(), "in use vs the host's held slots");
        assert_eq!(
            pool.waiting(),
            waiters.len(),
            "waiting vs the host's waiters"
        );
        assert!(pool.size() <= pool.config().max_size, "over max_size");
    }
}
