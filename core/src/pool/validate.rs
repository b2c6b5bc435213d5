//! The pool's invariants, checked by tests after every step.

use super::{Pool, State};
use crate::Instant;
use crate::wait::Entry;

impl Pool {
    /// Checks every invariant; panics naming the broken one. Test support (the `validate`
    /// feature), not API.
    #[doc(hidden)]
    pub fn validate(&self) {
        self.slots.validate();
        self.waiters.validate();
        let queued = self.waiters.queued();
        let c = &self.config;
        let (mut creating, mut checking, mut in_use, mut idle) = (0, 0, 0, 0);
        for (key, slot) in self.slots.iter() {
            match slot.state {
                State::Creating => {
                    creating += 1;
                    assert_eq!(slot.uses, 0, "a slot being created was used");
                }
                State::Checking => checking += 1,
                State::Idle { .. } => {
                    idle += 1;
                    assert_eq!(
                        self.idle.iter().filter(|&&k| k == key).count(),
                        1,
                        "idle slot {key} not listed exactly once"
                    );
                }
                State::InUse { holder, .. } => {
                    in_use += 1;
                    assert!(slot.uses >= 1);
                    if let Some(w) = holder {
                        assert_eq!(
                            self.waiters.get(w),
                            Some(&Entry::Granted(key)),
                            "slot {key} and its holder disagree"
                        );
                    }
                }
            }
        }
        assert_eq!(creating, self.creating, "creating count");
        assert_eq!(checking, self.checking, "checking count");
        assert_eq!(in_use, self.in_use, "in-use count");
        assert_eq!(idle, self.idle.len(), "idle list holds a non-idle slot");
        assert!(self.slots.len() <= c.max_size, "above max_size");
        assert!(
            self.creating <= c.max_concurrent_creates,
            "too many creations"
        );
        let mut last = Instant::ZERO;
        for &key in &self.idle {
            let Some(State::Idle { since }) = self.slots.get(key).map(|s| s.state) else {
                panic!("idle list holds {key}, which is not idle");
            };
            assert!(since >= last, "idle list out of order");
            last = since;
        }
        for (key, waiter) in self.waiters.iter() {
            if let Entry::Granted(slot) = *waiter {
                assert!(
                    matches!(
                        self.slots.get(slot).map(|s| s.state),
                        Some(State::InUse { holder: Some(h), .. }) if h == key
                    ),
                    "waiter {key} holds slot {slot}, which does not name it"
                );
            }
        }
        if queued > 0
            && let Some(&top) = self.idle.last()
        {
            let Some(slot) = self.slots.get(top).copied() else {
                panic!("idle top {top} missing");
            };
            let State::Idle { since } = slot.state else {
                panic!("idle top {top} not idle");
            };
            assert!(
                self.now < slot.expires_at,
                "expired idle slot beside a waiter"
            );
            assert!(
                self.needs_check(since, self.now) && self.checking >= queued,
                "a waiter waits beside a usable idle connection"
            );
        }
        assert!(
            !self.wants_creation() || self.now < self.next_create_at,
            "a needed creation was not started"
        );
        let k = &self.counters;
        let closed = k.closed_broken + k.closed_expired + k.closed_idle + k.closed_shutdown;
        if self.closed {
            assert_eq!(
                queued + self.idle.len(),
                0,
                "a closed pool keeps waiters or idle"
            );
        }
        assert_eq!(
            k.created - closed,
            (self.idle.len() + self.in_use + self.checking) as u64,
            "created - closed != live connections"
        );
        if let Some(exact) = self.exact_slot_timer() {
            assert!(
                self.slot_timer.is_some_and(|t| t <= exact),
                "slot timer {:?} later than the earliest slot deadline {exact:?}",
                self.slot_timer
            );
        }
    }
}
