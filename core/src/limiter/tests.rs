use super::*;
use alloc::vec::Vec;

fn ms(t: u64) -> Instant {
    Instant::from_millis(t)
}

fn fixed(limit: u32, max_queue: usize) -> Limiter {
    let mut c = LimiterConfig::new(Algorithm::Fixed(limit));
    c.max_waiters = max_queue;
    Limiter::new(c).unwrap()
}

fn admitted(a: Acquire) -> PermitId {
    match a {
        Acquire::Admitted(p) => p,
        other => panic!("expected admission, got {other:?}"),
    }
}

fn queued(a: Acquire) -> WaiterId {
    match a {
        Acquire::Queued(w) => w,
        other => panic!("expected queueing, got {other:?}"),
    }
}

fn events(l: &mut Limiter) -> Vec<LimiterEvent> {
    core::iter::from_fn(|| l.poll_event()).collect()
}

#[test]
fn grants_go_to_waiters_in_fifo_order() {
    let mut l = fixed(1, 10);
    let p = admitted(l.acquire(ms(0), ms(1000)));
    let w: Vec<_> = (0..3).map(|_| queued(l.acquire(ms(1), ms(1000)))).collect();
    l.validate();
    let mut permit = p;
    for (i, want) in w.iter().enumerate() {
        l.release(ms(10 + i as u64), permit, Outcome::Success)
            .unwrap();
        let ev = events(&mut l);
        let [
            LimiterEvent::Granted {
                waiter,
                permit: next,
            },
        ] = ev[..]
        else {
            panic!("{ev:?}")
        };
        assert_eq!(waiter, *want);
        assert_eq!(next.as_u64(), waiter.as_u64());
        permit = next;
        l.validate();
    }
    l.release(ms(20), permit, Outcome::Success).unwrap();
    assert_eq!((l.in_flight(), l.waiting()), (0, 0));
    let s = l.stats(ms(20));
    assert_eq!((s.admitted, s.admitted_after_wait, s.succeeded), (4, 3, 4));
    assert_eq!(s.wait_ms.count, 3);
    l.validate();
}

#[test]
fn a_full_queue_rejects_at_once_and_newcomers_never_overtake() {
    let mut l = fixed(1, 2);
    let p = admitted(l.acquire(ms(0), ms(100)));
    queued(l.acquire(ms(0), ms(100)));
    queued(l.acquire(ms(0), ms(100)));
    assert_eq!(
        l.acquire(ms(0), ms(100)),
        Acquire::Rejected(Rejection::QueueFull)
    );
    assert_eq!(l.try_acquire(ms(0)), None);
    assert_eq!(l.stats(ms(0)).rejected, 2);
    // With the permit back and a waiter ahead, try_acquire still may not overtake.
    l.release(ms(1), p, Outcome::Success).unwrap();
    assert_eq!(l.try_acquire(ms(1)), None);
    l.validate();
}

#[test]
fn waiters_time_out_at_their_deadline_and_are_never_granted_late() {
    let mut l = fixed(1, 10);
    let p = admitted(l.acquire(ms(0), ms(0)));
    let a = queued(l.acquire(ms(0), ms(50)));
    let b = queued(l.acquire(ms(0), ms(80)));
    let c = queued(l.acquire(ms(0), Instant::MAX));
    assert_eq!(l.poll_timeout(), Some(ms(50)));
    l.handle_timeout(ms(49)); // early: harmless
    assert!(events(&mut l).is_empty());
    l.handle_timeout(ms(60));
    assert_eq!(events(&mut l), [LimiterEvent::TimedOut { waiter: a }]);
    assert_eq!(l.poll_timeout(), Some(ms(80)));
    // The permit frees after b's deadline but before handle_timeout ran for it: b times
    // out, c gets the permit.
    l.release(ms(90), p, Outcome::Success).unwrap();
    let ev = events(&mut l);
    assert_eq!(ev[0], LimiterEvent::TimedOut { waiter: b });
    assert!(matches!(ev[1], LimiterEvent::Granted { waiter, .. } if waiter == c));
    assert_eq!(l.poll_timeout(), None);
    assert_eq!(l.stats(ms(90)).timed_out, 2);
    l.validate();
}

#[test]
fn cancelling_never_leaks_a_permit() {
    let mut l = fixed(1, 10);
    let p = admitted(l.acquire(ms(0), ms(100)));
    let a = queued(l.acquire(ms(0), ms(100)));
    let b = queued(l.acquire(ms(0), ms(100)));
    assert_eq!(l.cancel(ms(1), a), Ok(Cancelled::Dequeued));
    assert_eq!(l.cancel(ms(1), a), Err(LimiterError::UnknownWaiter(a)));
    l.release(ms(2), p, Outcome::Success).unwrap();
    // b is granted, but its future was dropped before the host delivered the grant.
    let ev = events(&mut l);
    assert!(matches!(ev[..], [LimiterEvent::Granted { waiter, .. }] if waiter == b));
    assert_eq!(
        l.cancel(ms(3), b),
        Ok(Cancelled::Released(PermitId(b.as_u64())))
    );
    assert_eq!((l.in_flight(), l.waiting()), (0, 0));
    assert_eq!(
        l.release(ms(4), PermitId(b.as_u64()), Outcome::Success),
        Err(LimiterError::UnknownPermit(PermitId(b.as_u64())))
    );
    assert!(admitted(l.acquire(ms(5), ms(5))).as_u64() != b.as_u64());
    l.validate();
}

#[test]
fn double_release_is_an_error_and_changes_nothing() {
    let mut l = fixed(2, 0);
    let p = admitted(l.acquire(ms(0), ms(0)));
    let _q = admitted(l.acquire(ms(0), ms(0)));
    l.release(ms(1), p, Outcome::Dropped).unwrap();
    assert_eq!(
        l.release(ms(1), p, Outcome::Success),
        Err(LimiterError::UnknownPermit(p))
    );
    assert_eq!(l.in_flight(), 1);
    l.validate();
}

#[test]
fn time_going_back_uses_the_latest_instant() {
    let mut l = fixed(1, 10);
    let p = admitted(l.acquire(ms(100), ms(100)));
    let w = queued(l.acquire(ms(100), ms(150)));
    // A clock that steps back does not resurrect the waiter's deadline window.
    l.release(ms(10), p, Outcome::Success).unwrap();
    assert!(matches!(events(&mut l)[..], [LimiterEvent::Granted { waiter, .. }] if waiter == w));
    l.validate();
}

#[test]
fn aimd_limit_falls_on_drops_and_the_history_records_it() {
    let c = AimdConfig {
        initial_limit: 10,
        min_limit: 2,
        ..AimdConfig::default()
    };
    let mut cfg = LimiterConfig::new(Algorithm::Aimd(c));
    cfg.max_waiters = 100;
    let mut l = Limiter::new(cfg).unwrap();
    let permits: Vec<_> = (0..10).map(|_| admitted(l.acquire(ms(0), ms(0)))).collect();
    let waiters: Vec<_> = (0..5).map(|_| queued(l.acquire(ms(0), ms(1000)))).collect();
    // Each drop is from a new round (admitted after the previous cut), so each cuts.
    let mut t = 1;
    for p in permits {
        l.release(ms(t), p, Outcome::Dropped).unwrap();
        l.validate();
        t += 1;
    }
    assert_eq!(l.limit(), 9, "one episode, one cut");
    assert_eq!(
        events(&mut l).len(),
        5,
        "the waiters fit under the new limit"
    );
    let s = l.stats(ms(t));
    assert_eq!(s.limit_history.first().map(|p| p.limit), Some(10));
    assert_eq!(s.limit_history.last().map(|p| p.limit), Some(9));
    assert_eq!(s.dropped, 10);
    assert_eq!(waiters.len(), 5);
}

#[test]
fn a_lower_limit_holds_waiters_until_in_flight_falls_below_it() {
    let c = AimdConfig {
        initial_limit: 4,
        backoff_ratio: 0.5,
        ..AimdConfig::default()
    };
    let mut l = Limiter::new(LimiterConfig::new(Algorithm::Aimd(c))).unwrap();
    let p: Vec<_> = (0..4).map(|_| admitted(l.acquire(ms(0), ms(0)))).collect();
    let w = queued(l.acquire(ms(0), ms(1000)));
    l.release(ms(10), p[0], Outcome::Dropped).unwrap(); // limit 4 -> 2, in flight 3
    assert_eq!(l.limit(), 2);
    assert!(events(&mut l).is_empty());
    l.release(ms(11), p[1], Outcome::Ignored).unwrap(); // in flight 2
    assert!(events(&mut l).is_empty());
    l.release(ms(12), p[2], Outcome::Ignored).unwrap(); // in flight 1 -> grant
    assert!(matches!(events(&mut l)[..], [LimiterEvent::Granted { waiter, .. }] if waiter == w));
    l.validate();
}

#[test]
fn bad_settings_are_typed_errors() {
    let mut c = LimiterConfig::new(Algorithm::Fixed(1));
    c.stats_slots = 0;
    assert!(matches!(Limiter::new(c), Err(LimiterError::Stats(_))));
    let c = LimiterConfig {
        limit_history: 0,
        ..LimiterConfig::default()
    };
    assert_eq!(
        Limiter::new(c).unwrap_err(),
        LimiterError::ZeroCount("limit_history")
    );
    let g = GradientConfig {
        sample_interval: Duration::ZERO,
        ..GradientConfig::default()
    };
    assert_eq!(
        Limiter::new(LimiterConfig::new(Algorithm::Gradient(g))).unwrap_err(),
        LimiterError::ZeroDuration("sample_interval")
    );
    let a = AimdConfig {
        latency_threshold: Some(Duration::ZERO),
        ..AimdConfig::default()
    };
    let e = Limiter::new(LimiterConfig::new(Algorithm::Aimd(a))).unwrap_err();
    assert_eq!(e, LimiterError::ZeroDuration("latency_threshold"));
    assert_eq!(
        alloc::format!("{e}"),
        "latency_threshold must be longer than zero"
    );
}

#[test]
fn stats_serialize_for_the_report() {
    let mut l = fixed(2, 4);
    let p = admitted(l.acquire(ms(0), ms(0)));
    l.release(ms(5), p, Outcome::Success).unwrap();
    let v = serde_json::to_value(l.stats(ms(5))).unwrap();
    assert_eq!(v["algorithm"], "fixed");
    assert_eq!(v["limit"], 2);
    assert_eq!(v["latency_ms"]["count"], 1);
    assert!((v["latency_ms"]["max"].as_f64().unwrap() - 5.0).abs() < 0.05);
}
