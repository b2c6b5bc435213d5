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

/// Counters of `stats`, the part a fast path must keep exact.
fn counts(s: &LimiterStats) -> [u64; 12] {
    [
        s.limit.into(),
        s.in_flight as u64,
        s.waiting as u64,
        s.admitted,
        s.admitted_after_wait,
        s.rejected,
        s.timed_out,
        s.cancelled,
        s.succeeded,
        s.dropped + s.deadline_exceeded,
        s.ignored,
        s.peak_in_flight as u64,
    ]
}

#[test]
fn quiet_releases_absorbed_in_bulk_decide_as_one_by_one() {
    // `one` admits and releases each untracked permit through the machine; `bulk` hears
    // the fast admissions and the quiet releases (unmeasured successes of current-epoch
    // permits below `quiet_below`) only as counts, as a host's fast path reports them. Both
    // also hold tracked permits, queue waiters and take measured releases and congestion
    // signals in between. Limits, epochs, counters and events must stay equal, and the
    // threshold must not move under quiet releases.
    let mut aimd = AimdConfig::default();
    (aimd.initial_limit, aimd.min_limit, aimd.max_limit) = (6, 1, 24);
    aimd.latency_threshold = Some(Duration::from_millis(30));
    let mut gradient = GradientConfig::default();
    (
        gradient.initial_limit,
        gradient.min_limit,
        gradient.max_limit,
    ) = (6, 1, 24);
    gradient.min_samples = 3;
    gradient.sample_interval = Duration::from_millis(4);
    gradient.probe_interval = Duration::from_millis(150);
    for (seed, algorithm) in [
        (0x853c_49e6_748f_ea9b_u64, Algorithm::Fixed(8)),
        (0x2545_f491_4f6c_dd1d, Algorithm::Aimd(aimd)),
        (0x9e37_79b9_7f4a_7c15, Algorithm::Gradient(gradient)),
    ] {
        let mut rng = seed;
        let mut next = |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let fixed = matches!(algorithm, Algorithm::Fixed(_));
        let mut config = LimiterConfig::new(algorithm);
        config.max_waiters = 4;
        let mut one = Limiter::new(config.clone()).unwrap();
        let mut bulk = Limiter::new(config).unwrap();
        // Untracked permits held, by admission epoch; tracked ones by id.
        let (mut held, mut tracked): (Vec<u32>, Vec<PermitId>) = (Vec::new(), Vec::new());
        let (mut fast_in_flight, mut fast_ok, mut peak) = (0usize, 0u64, 0usize);
        let mut quiet_below = bulk.quiet_below();
        let (mut t, mut quiet, mut decisions) = (0u64, 0u64, 0u64);
        for _ in 0..10_000 {
            t += next(3);
            let current = one.epoch();
            let pick = held.iter().position(|&e| e == current);
            match next(10) {
                0..=2 if one.waiting() == 0 && one.in_flight() < one.limit() as usize => {
                    assert!(one.admit_untracked());
                    held.push(current);
                    fast_in_flight += 1;
                    peak = peak.max(fast_in_flight);
                }
                3..=5 if one.waiting() == 0 && pick.is_some() && one.in_flight() < quiet_below => {
                    assert_eq!(one.quiet_below(), quiet_below, "moved under quiet releases");
                    held.swap_remove(pick.unwrap());
                    one.release_untracked(None, Outcome::Success, None, current)
                        .unwrap();
                    fast_in_flight -= 1;
                    fast_ok += 1;
                    quiet += 1;
                }
                n => {
                    bulk.absorb_untracked(fast_in_flight, fast_ok, peak);
                    (fast_ok, peak) = (0, 0);
                    let (a, b) = (&mut one, &mut bulk);
                    assert_eq!(a.limit(), b.limit());
                    let limit = a.limit();
                    match n {
                        6 => {
                            let deadline = ms(t + 1 + next(8));
                            let (ra, rb) = (a.acquire(ms(t), deadline), b.acquire(ms(t), deadline));
                            assert_eq!(ra, rb);
                            if let Acquire::Admitted(p) = ra {
                                tracked.push(p);
                            }
                        }
                        3..=5 | 7 if !held.is_empty() => {
                            // Through the machine: a success that is not quiet (3..=5),
                            // or measured, or a congestion signal (7).
                            let i = next(held.len() as u64) as usize;
                            let epoch = held.swap_remove(i);
                            let (outcome, latency) = if n == 7 {
                                let outcomes = [
                                    Outcome::Success,
                                    Outcome::Dropped,
                                    Outcome::Timeout,
                                    Outcome::Ignored,
                                ];
                                let latency = Duration::from_millis(next(36));
                                (
                                    outcomes[next(9).saturating_sub(5) as usize],
                                    (next(2) == 0).then_some(latency),
                                )
                            } else {
                                (Outcome::Success, None)
                            };
                            a.release_untracked(Some(ms(t)), outcome, latency, epoch)
                                .unwrap();
                            b.release_untracked(Some(ms(t)), outcome, latency, epoch)
                                .unwrap();
                        }
                        _ if !tracked.is_empty() => {
                            let p = tracked.swap_remove(next(tracked.len() as u64) as usize);
                            let outcome =
                                [Outcome::Success, Outcome::Dropped][usize::from(next(6) == 0)];
                            let latency = Duration::from_millis(next(36));
                            a.release_with_latency(ms(t), p, outcome, latency).unwrap();
                            b.release_with_latency(ms(t), p, outcome, latency).unwrap();
                        }
                        _ => {
                            a.handle_timeout(ms(t));
                            b.handle_timeout(ms(t));
                        }
                    }
                    let (ea, eb) = (events(a), events(b));
                    assert_eq!(ea, eb);
                    for e in ea {
                        if let LimiterEvent::Granted { permit, .. } = e {
                            tracked.push(permit);
                        }
                    }
                    a.validate();
                    b.validate();
                    assert_eq!((a.limit(), a.epoch()), (b.limit(), b.epoch()));
                    assert_eq!(counts(&a.stats(ms(t))), counts(&b.stats(ms(t))));
                    decisions += u64::from(a.limit() != limit);
                    fast_in_flight = a.in_flight();
                    quiet_below = b.quiet_below();
                    assert_eq!(a.quiet_below(), quiet_below);
                }
            }
        }
        assert!(quiet > 500, "quiet releases ran: {quiet}");
        assert!(fixed || decisions > 20, "the limit moved {decisions} times");
        bulk.absorb_untracked(fast_in_flight, fast_ok, peak);
        assert_eq!(counts(&one.stats(ms(t))), counts(&bulk.stats(ms(t))));
        for _ in 0..held.len() {
            bulk.release_untracked(None, Outcome::Success, None, bulk.epoch())
                .unwrap();
        }
        assert_eq!(
            bulk.release_untracked(None, Outcome::Success, None, 0),
            Err(LimiterError::NoUntrackedPermit)
        );
    }
}

#[test]
fn an_untracked_permit_is_before_or_after_a_cut_by_its_epoch() {
    // The AIMD episode rule (drops of permits admitted before the last cut do not cut
    // again) decided by epochs matches the rule decided by instants.
    let c = AimdConfig {
        initial_limit: 10,
        ..AimdConfig::default()
    };
    let mut timed = Limiter::new(LimiterConfig::new(Algorithm::Aimd(c.clone()))).unwrap();
    let mut untracked = Limiter::new(LimiterConfig::new(Algorithm::Aimd(c))).unwrap();
    let early: Vec<_> = (0..3)
        .map(|_| admitted(timed.acquire(ms(1), ms(1))))
        .collect();
    let e0 = untracked.epoch();
    for _ in 0..3 {
        assert!(untracked.admit_untracked());
    }
    // The first drop cuts (admitted in the current epoch), the second does not.
    for (i, p) in early[..2].iter().enumerate() {
        let t = ms(10 + i as u64);
        timed.release(t, *p, Outcome::Dropped).unwrap();
        untracked
            .release_untracked(Some(t), Outcome::Dropped, None, e0)
            .unwrap();
        assert_eq!(timed.limit(), untracked.limit());
    }
    assert_eq!(untracked.limit(), 9);
    assert_ne!(untracked.epoch(), e0, "the cut began an epoch");
    // A permit admitted after the cut cuts again.
    let late = admitted(timed.acquire(ms(20), ms(20)));
    assert!(untracked.admit_untracked());
    let e1 = untracked.epoch();
    timed.release(ms(30), late, Outcome::Timeout).unwrap();
    untracked
        .release_untracked(Some(ms(30)), Outcome::Timeout, None, e1)
        .unwrap();
    assert_eq!((timed.limit(), untracked.limit()), (8, 8));
    // Successes without a measured latency still grow the limit like measured ones.
    timed.release(ms(40), early[2], Outcome::Success).unwrap();
    untracked
        .release_untracked(None, Outcome::Success, None, e0)
        .unwrap();
    assert_eq!(
        counts(&timed.stats(ms(40))),
        counts(&untracked.stats(ms(40)))
    );
    timed.validate();
    untracked.validate();
}

#[test]
fn unmeasured_untracked_releases_first_keep_the_starting_limit_in_the_history() {
    // The host's first releases may be unmeasured successes (`now: None`): the machine has
    // seen no instant yet; the history still starts with the starting limit.
    let c = AimdConfig {
        initial_limit: 2,
        max_limit: 10,
        ..AimdConfig::default()
    };
    let mut l = Limiter::new(LimiterConfig::new(Algorithm::Aimd(c))).unwrap();
    for _ in 0..6 {
        assert!(l.admit_untracked() || l.in_flight() >= 2);
        if l.in_flight() == 2 {
            l.release_untracked(None, Outcome::Success, None, l.epoch())
                .unwrap();
        }
    }
    let h = l.stats(ms(100)).limit_history;
    assert_eq!(h.first().map(|p| p.limit), Some(2), "history {h:?}");
    assert!(
        h.len() > 1 && h.windows(2).all(|w| w[0].limit != w[1].limit),
        "{h:?}"
    );
}
