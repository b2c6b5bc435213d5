use super::*;
use alloc::collections::BTreeMap;
use alloc::vec;

fn ms(t: u64) -> Instant {
    Instant::from_millis(t)
}

fn config(max_size: usize, min_idle: usize) -> PoolConfig {
    PoolConfig {
        max_size,
        min_idle,
        ..PoolConfig::default()
    }
}

fn actions(p: &mut Pool) -> Vec<PoolAction> {
    core::iter::from_fn(|| p.poll_action()).collect()
}

fn created(p: &mut Pool, now: Instant) -> SlotId {
    let a = actions(p);
    let [PoolAction::Create(slot)] = a[..] else {
        panic!("expected one Create, got {a:?}")
    };
    p.handle_created(now, slot).unwrap();
    slot
}

/// HikariCP's example: a warm pool (min idle 5), then 50 requests at once, each holding a
/// connection for 2 ms, with connections taking 150 ms to open. The returned connections
/// serve the burst within ~20 ms; the one creation started for the waiters completes into
/// an idle pool, and no more are started: at most 6 connections.
#[test]
fn a_burst_of_50_with_slow_connects_ends_with_at_most_6_connections() {
    #[derive(Debug)]
    enum Ev {
        CreateDone(SlotId),
        Release(SlotId),
    }
    let connect = Duration::from_millis(150);
    let hold = Duration::from_millis(2);
    let mut c = config(20, 5);
    c.check_after_idle = None;
    let mut pool = Pool::new(c, ms(0)).unwrap();
    let mut events: BTreeMap<(Instant, u64), Ev> = BTreeMap::new();
    let mut seq = 0;
    let mut schedule = |events: &mut BTreeMap<(Instant, u64), Ev>, at: Instant, ev: Ev| {
        seq += 1;
        events.insert((at, seq), ev);
    };
    let (mut served, mut max_size) = (0, 0);
    let mut now = ms(0);
    let mut burst_sent = false;
    loop {
        while let Some(a) = pool.poll_action() {
            match a {
                PoolAction::Create(s) => {
                    schedule(&mut events, now.saturating_add(connect), Ev::CreateDone(s))
                }
                PoolAction::Grant { slot, .. } => {
                    served += 1;
                    schedule(&mut events, now.saturating_add(hold), Ev::Release(slot));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        pool.validate();
        max_size = max_size.max(pool.size());
        if !burst_sent && now >= ms(1000) {
            assert_eq!((pool.idle(), pool.size()), (5, 5), "warm before the burst");
            burst_sent = true;
            for _ in 0..50 {
                if let Get::Ready(slot) = pool.get(now, ms(5000)) {
                    served += 1;
                    schedule(&mut events, now.saturating_add(hold), Ev::Release(slot));
                }
            }
            continue;
        }
        let next_ev = events.keys().next().map(|k| k.0);
        let next = match (next_ev, burst_sent) {
            (Some(t), false) => t.min(ms(1000)),
            (Some(t), true) => t,
            (None, false) => ms(1000),
            (None, true) => break,
        };
        now = next;
        if let Some(entry) = events.first_entry()
            && entry.key().0 == now
        {
            match entry.remove() {
                Ev::CreateDone(s) => pool.handle_created(now, s).unwrap(),
                Ev::Release(s) => pool.release(now, s, Health::Healthy).unwrap(),
            }
        }
    }
    assert_eq!(served, 50);
    assert!(max_size <= 6, "the pool grew to {max_size}");
    let s = pool.stats(now);
    assert!(s.created <= 6);
    assert_eq!((s.gets_direct, s.gets_waited), (5, 45));
    assert_eq!(s.wait_ms.count, 45);
    assert!(s.wait_ms.max < 25.0, "waits were short: {}", s.wait_ms.max);
}

#[test]
fn waiters_are_granted_in_fifo_order() {
    let mut p = Pool::new(config(1, 0), ms(0)).unwrap();
    let w: Vec<_> = (0..3)
        .map(|_| match p.get(ms(0), ms(1000)) {
            Get::Queued(w) => w,
            g => panic!("{g:?}"),
        })
        .collect();
    let slot = created(&mut p, ms(10));
    for (i, want) in w.iter().enumerate() {
        let a = actions(&mut p);
        assert_eq!(
            a,
            [PoolAction::Grant {
                waiter: *want,
                slot
            }]
        );
        p.validate();
        p.release(ms(20 + i as u64), slot, Health::Healthy).unwrap();
    }
    assert_eq!(p.idle(), 1);
    assert_eq!(p.stats(ms(30)).reused, 2);
    p.validate();
}

#[test]
fn an_idle_connection_is_checked_before_reuse_and_replaced_if_broken() {
    let mut c = config(2, 0);
    c.check_after_idle = Some(Duration::from_millis(500));
    let mut p = Pool::new(c, ms(0)).unwrap();
    let Get::Queued(w1) = p.get(ms(0), ms(10_000)) else {
        panic!()
    };
    let slot = created(&mut p, ms(5));
    assert_eq!(actions(&mut p), [PoolAction::Grant { waiter: w1, slot }]);
    p.release(ms(10), slot, Health::Healthy).unwrap();
    // Soon after: served directly, no check.
    assert_eq!(p.get(ms(100), ms(10_000)), Get::Ready(slot));
    p.release(ms(110), slot, Health::Healthy).unwrap();
    // After 1 s idle: the get waits for a check.
    let Get::Queued(w2) = p.get(ms(1200), ms(10_000)) else {
        panic!()
    };
    assert_eq!(actions(&mut p), [PoolAction::Check(slot)]);
    p.validate();
    p.handle_checked(ms(1201), slot, Health::Broken).unwrap();
    let a = actions(&mut p);
    assert_eq!(
        a[0],
        PoolAction::Close {
            slot,
            cause: CloseCause::Broken
        }
    );
    let PoolAction::Create(fresh) = a[1] else {
        panic!("{a:?}")
    };
    p.handle_created(ms(1300), fresh).unwrap();
    assert_eq!(
        actions(&mut p),
        [PoolAction::Grant {
            waiter: w2,
            slot: fresh
        }]
    );
    let s = p.stats(ms(1300));
    assert_eq!((s.checks, s.check_failures, s.closed_broken), (1, 1, 1));
    p.validate();
}

#[test]
fn lifetimes_are_jittered_and_expired_connections_are_replaced() {
    let mut c = config(3, 3);
    c.max_lifetime = Some(Duration::from_secs(100));
    c.lifetime_jitter = Duration::from_secs(10);
    c.idle_timeout = None;
    c.max_concurrent_creates = 3;
    c.seed = 7;
    let mut p = Pool::new(c, ms(0)).unwrap();
    let a = actions(&mut p);
    assert_eq!(a.len(), 3, "min_idle creations at start: {a:?}");
    for act in a {
        let PoolAction::Create(s) = act else { panic!() };
        p.handle_created(ms(0), s).unwrap();
    }
    let first = p.poll_timeout().unwrap();
    assert!(first > ms(90_000) && first <= ms(100_000), "{first}");
    // Nothing expires before 90 s; all have by 100 s and are replaced.
    p.handle_timeout(ms(89_999));
    assert!(actions(&mut p).is_empty());
    p.handle_timeout(ms(100_000));
    let a = actions(&mut p);
    let closes = a
        .iter()
        .filter(|a| {
            matches!(
                a,
                PoolAction::Close {
                    cause: CloseCause::Expired,
                    ..
                }
            )
        })
        .count();
    let creates = a
        .iter()
        .filter(|a| matches!(a, PoolAction::Create(_)))
        .count();
    assert_eq!((closes, creates), (3, 3));
    p.validate();
}

#[test]
fn an_expired_connection_in_use_is_closed_on_return() {
    let mut c = config(1, 0);
    c.max_lifetime = Some(Duration::from_secs(10));
    c.lifetime_jitter = Duration::ZERO;
    let mut p = Pool::new(c, ms(0)).unwrap();
    let _ = p.get(ms(0), ms(1000));
    let slot = created(&mut p, ms(0));
    actions(&mut p);
    p.release(ms(10_000), slot, Health::Healthy).unwrap();
    assert_eq!(
        actions(&mut p),
        [PoolAction::Close {
            slot,
            cause: CloseCause::Expired
        }]
    );
    assert_eq!(p.size(), 0);
    p.validate();
}

#[test]
fn the_idle_timeout_closes_only_connections_beyond_min_idle() {
    let mut c = config(4, 1);
    c.idle_timeout = Some(Duration::from_secs(60));
    c.max_concurrent_creates = 4;
    c.check_after_idle = None;
    let mut p = Pool::new(c, ms(0)).unwrap();
    let first = created(&mut p, ms(1));
    let mut held = vec![p.get(ms(2), ms(2))];
    // Three more waiters: three creations at once.
    for _ in 0..3 {
        let _ = p.get(ms(2), ms(10_000));
    }
    for a in actions(&mut p) {
        if let PoolAction::Create(s) = a {
            p.handle_created(ms(3), s).unwrap();
        }
    }
    // The replenishment for min_idle may have been asked for too.
    for a in actions(&mut p) {
        match a {
            PoolAction::Create(s) => p.handle_created(ms(3), s).unwrap(),
            PoolAction::Grant { slot, .. } => held.push(Get::Ready(slot)),
            _ => {}
        }
    }
    assert_eq!(held[0], Get::Ready(first));
    for h in held {
        let Get::Ready(s) = h else { panic!() };
        p.release(ms(10), s, Health::Healthy).unwrap();
    }
    assert_eq!(p.idle(), 4);
    p.handle_timeout(ms(60_009));
    assert!(actions(&mut p).is_empty());
    p.handle_timeout(ms(60_010));
    assert_eq!(p.idle(), 1);
    assert_eq!(p.stats(ms(60_010)).closed_idle, 3);
    p.validate();
}

#[test]
fn a_held_connection_is_reported_once_as_a_suspected_leak() {
    let mut c = config(1, 1);
    c.leak_threshold = Some(Duration::from_secs(5));
    let mut p = Pool::new(c, ms(0)).unwrap();
    let slot = created(&mut p, ms(0));
    assert_eq!(p.get(ms(0), ms(0)), Get::Ready(slot));
    assert!(p.poll_timeout().unwrap() <= ms(5000));
    p.handle_timeout(ms(5000));
    assert_eq!(
        actions(&mut p),
        [PoolAction::LeakSuspected {
            slot,
            held_for: Duration::from_secs(5)
        }]
    );
    p.handle_timeout(ms(9000));
    assert!(actions(&mut p).is_empty());
    assert_eq!(p.stats(ms(9000)).leaks, 1);
    p.validate();
}

#[test]
fn failed_creations_back_off_and_waiters_learn_why_they_timed_out() {
    let mut c = config(2, 0);
    c.create_backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(400),
    };
    let mut p = Pool::new(c, ms(0)).unwrap();
    let Get::Queued(w) = p.get(ms(0), ms(1000)) else {
        panic!()
    };
    let mut now = ms(0);
    let mut delays = Vec::new();
    for _ in 0..4 {
        let a = actions(&mut p);
        let [PoolAction::Create(s)] = a[..] else {
            panic!("{a:?}")
        };
        p.handle_create_failed(now, s, CreateFailure::Transient)
            .unwrap();
        assert!(actions(&mut p).is_empty(), "no retry before the backoff");
        let next = p.poll_timeout().unwrap();
        delays.push(next.saturating_duration_since(now));
        now = next;
        p.handle_timeout(now);
        p.validate();
    }
    let ceilings = [100, 200, 400, 400];
    for (d, c) in delays.iter().zip(ceilings) {
        let c = Duration::from_millis(c);
        assert!(
            *d >= c / 2 && *d <= c,
            "delay {d:?} outside [{:?}, {c:?}]",
            c / 2
        );
    }
    p.handle_timeout(ms(1000));
    let a = actions(&mut p);
    assert!(a.contains(&PoolAction::TimedOut {
        waiter: w,
        last_failure: Some(CreateFailure::Transient)
    }));
    p.validate();
}

#[test]
fn a_fatal_failure_fails_every_waiter_at_once() {
    let mut p = Pool::new(config(2, 0), ms(0)).unwrap();
    let Get::Queued(a) = p.get(ms(0), ms(1000)) else {
        panic!()
    };
    let Get::Queued(b) = p.get(ms(0), ms(1000)) else {
        panic!()
    };
    let acts = actions(&mut p);
    let PoolAction::Create(s) = acts[0] else {
        panic!()
    };
    p.handle_create_failed(ms(1), s, CreateFailure::Fatal)
        .unwrap();
    let failure = CreateFailure::Fatal;
    assert_eq!(
        actions(&mut p),
        [
            PoolAction::Failed { waiter: a, failure },
            PoolAction::Failed { waiter: b, failure }
        ]
    );
    assert_eq!(p.waiting(), 0);
    assert_eq!(p.stats(ms(1)).failed, 2);
    p.validate();
}

#[test]
fn cancelling_never_leaks_a_slot() {
    let mut p = Pool::new(config(1, 0), ms(0)).unwrap();
    let Get::Queued(a) = p.get(ms(0), ms(1000)) else {
        panic!()
    };
    let Get::Queued(b) = p.get(ms(0), ms(1000)) else {
        panic!()
    };
    assert_eq!(p.cancel(ms(1), a), Ok(Cancelled::Dequeued));
    assert_eq!(p.cancel(ms(1), a), Err(PoolError::UnknownWaiter(a)));
    let slot = created(&mut p, ms(2));
    assert_eq!(actions(&mut p), [PoolAction::Grant { waiter: b, slot }]);
    // b's future was dropped before the grant was delivered.
    assert_eq!(p.cancel(ms(3), b), Ok(Cancelled::Released(slot)));
    assert_eq!((p.in_use(), p.idle()), (0, 1));
    assert_eq!(
        p.release(ms(4), slot, Health::Healthy),
        Err(PoolError::UnknownSlot(slot))
    );
    assert_eq!(p.get(ms(5), ms(5)), Get::Ready(slot));
    p.validate();
}

#[test]
fn bad_settings_are_typed_errors() {
    let err = |c: PoolConfig| Pool::new(c, ms(0)).unwrap_err();
    assert_eq!(err(config(0, 0)), PoolError::MaxSizeZero);
    assert_eq!(
        err(config(2, 3)),
        PoolError::MinIdleAboveMax {
            min_idle: 3,
            max_size: 2
        }
    );
    let mut c = config(2, 0);
    c.idle_timeout = Some(Duration::ZERO);
    assert_eq!(err(c), PoolError::ZeroDuration("idle_timeout"));
    let mut c = config(2, 0);
    c.max_lifetime = Some(Duration::from_secs(1));
    assert!(matches!(err(c), PoolError::JitterTooLarge { .. }));
    let mut c = config(2, 0);
    c.create_backoff.initial = Duration::from_secs(10);
    assert!(matches!(err(c), PoolError::BackoffOrder { .. }));
    let mut c = config(2, 0);
    c.max_concurrent_creates = 0;
    assert_eq!(err(c), PoolError::ZeroCount("max_concurrent_creates"));
    assert_eq!(
        alloc::format!("{}", err(config(1, 2))),
        "min_idle (2) must not be above max_size (1)"
    );
}

#[test]
fn stats_serialize_for_the_report() {
    let mut p = Pool::new(config(1, 1), ms(0)).unwrap();
    let slot = created(&mut p, ms(0));
    assert_eq!(p.get(ms(1), ms(1)), Get::Ready(slot));
    p.release(ms(4), slot, Health::Healthy).unwrap();
    let v = serde_json::to_value(p.stats(ms(4))).unwrap();
    assert_eq!(v["created"], 1);
    assert_eq!(v["gets_direct"], 1);
    assert_eq!(v["held_ms"]["count"], 1);
}

#[test]
fn close_refuses_waiters_and_closes_what_comes_back() {
    let mut config = PoolConfig::new(2);
    config.check_after_idle = None;
    let mut p = Pool::new(config, ms(0)).unwrap();
    let Get::Queued(first) = p.get(ms(0), ms(1000)) else {
        panic!("nothing idle yet")
    };
    let Some(PoolAction::Create(a)) = p.poll_action() else {
        panic!("a creation")
    };
    p.handle_created(ms(1), a).unwrap();
    assert_eq!(
        p.poll_action(),
        Some(PoolAction::Grant {
            waiter: first,
            slot: a
        })
    );
    let Get::Queued(second) = p.get(ms(2), ms(1000)) else {
        panic!("the only connection is in use")
    };
    let Some(PoolAction::Create(b)) = p.poll_action() else {
        panic!("a second creation")
    };
    p.close(ms(3));
    p.validate();
    assert_eq!(
        p.poll_action(),
        Some(PoolAction::Rejected {
            waiter: second,
            rejection: Rejection::Closed
        })
    );
    assert_eq!(p.get(ms(4), ms(1000)), Get::Rejected(Rejection::Closed));
    // A creation that completes and a connection that comes back are closed.
    p.handle_created(ms(5), b).unwrap();
    p.release(ms(6), a, Health::Healthy).unwrap();
    let closes: Vec<_> = core::iter::from_fn(|| p.poll_action()).collect();
    assert_eq!(
        closes,
        [
            PoolAction::Close {
                slot: b,
                cause: CloseCause::Shutdown
            },
            PoolAction::Close {
                slot: a,
                cause: CloseCause::Shutdown
            }
        ]
    );
    assert_eq!((p.size(), p.idle(), p.in_use()), (0, 0, 0));
    assert_eq!(p.stats(ms(6)).closed_shutdown, 2);
    p.validate();
}
