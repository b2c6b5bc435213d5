//! W-TinyLFU: where entries go on insert and access, and which one leaves when full.
//!
//! See the [module documentation](super) for the segments and tiers. Everything here runs
//! inside one public call and leaves the cache within its capacities.

use core::hash::{BuildHasher, Hash};
use core::mem;

pub(super) use super::ghost::{Ghost, Ghosts};
use super::sketch::Sketch;
use super::stats::CacheEvent;
use super::store::{Entry, NEVER, Segment, Slot, nonzero_deadline};
use super::{Cache, Weigher};

/// The sketch is sized for at most this many entries up front; it doubles (and restarts
/// counting) as the cache fills, up to the most entries the cache can hold.
pub(super) const INITIAL_SKETCH_ENTRIES: usize = 1 << 14;
/// A candidate at least this frequent is admitted over an equally or more frequent victim
/// once in [`WARM_ADMISSION_ODDS`] times, so crafted collisions cannot lock the main space
/// (Caffeine's guard against hash flooding); it also unfreezes a main space filled by
/// early arrivals. Measured: 1/512 beats 1/64…1/256 on loops, and never admitting loses
/// 0.6 points on Zipf at 10,000 entries.
const WARM_CANDIDATE: u8 = 6;
const WARM_ADMISSION_ODDS: u64 = 512;

/// Settings of the hill climber. The defaults are the measured choice; other values exist
/// only so the benchmark can sweep them (`cache_hit_ratio --ours`). Not API.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClimberTuning {
    /// Lookups per sample, per unit of capacity.
    pub sample_per_capacity: u64,
    /// Fewest lookups per sample: below this, a sample's hit rate is mostly noise.
    pub min_sample: u64,
    /// Step after a restart, in per mille of the capacity.
    pub step_per_mille: u64,
    /// Each sample multiplies the step by this, in per mille, so the window settles.
    pub decay_per_mille: u64,
    /// A change of the hit rate by at least this much (per million lookups) between two
    /// samples means the workload changed: the step restarts at full size.
    pub restart_ppm: u64,
    /// The window at first, in per mille of the capacity.
    pub initial_window_per_mille: u64,
    /// Whether the first step grows the window.
    pub grow_first: bool,
    /// Sketch increments between two agings (all counters halved), per entry.
    pub sketch_sample_factor: usize,
    /// Entries the window moves per unit of ghost evidence (0: ghosts off). A unit is one
    /// return of a ghost, weighted by ARC's ratio of the other kind's ghosts to its own.
    pub ghost_gain: u64,
    /// A ghost counts only if it returns within this many lookups, in per mille of the
    /// most entries the cache holds (older returns say nothing a resized window could fix:
    /// a loop longer than the cache).
    pub ghost_age_per_mille: u64,
    /// A candidate replaces the victim only if the sketch counts it more than this many
    /// times above the victim. The candidate's count already holds the request that just
    /// brought it in, while the victim's next request is still to come: under a loop
    /// longer than the cache every key is equally frequent, yet without a margin the
    /// candidate wins by that one request and evicts the resident key needed soonest
    /// (LRU's failure). A margin of 1 keeps the resident set stable, as LIRS and
    /// quick_cache do.
    pub admit_margin: u8,
}

impl Default for ClimberTuning {
    fn default() -> Self {
        ClimberTuning {
            sample_per_capacity: 10,
            min_sample: 512,
            step_per_mille: 30,
            decay_per_mille: 990,
            restart_ppm: 50_000,
            initial_window_per_mille: 10,
            grow_first: false,
            sketch_sample_factor: 64,
            ghost_gain: 8,
            ghost_age_per_mille: 1000,
            admit_margin: 1,
        }
    }
}

/// The adaptive window: a hill climber on the hit rate (as Caffeine's, in integers so
/// adaptation is deterministic and no_std). Every sample of lookups it moves the window
/// by a step in the direction that last raised the hit rate, reverses when the hit rate
/// fell, lets the step decay so the window settles, and restarts the step when the hit
/// rate jumps (a new workload). A recency-heavy workload rewards a larger window (more of
/// the cache is LRU-like recency), a frequency-heavy one a smaller window (more of it is
/// guarded by TinyLFU admission).
#[derive(Debug)]
pub(super) struct HillClimber {
    capacity: u64,
    tuning: ClimberTuning,
    lookups: u64,
    hits: u64,
    sample: u64,
    /// Hit rate of the previous sample, per million lookups (`None` before the first).
    previous: Option<u64>,
    /// Size of the next step, in weight units.
    step: u64,
    /// Direction of the next step.
    grow: bool,
    /// Current target of the window.
    window: u64,
}

impl HillClimber {
    /// A climber for a cache of `capacity`.
    pub(super) fn new(capacity: u64, tuning: ClimberTuning) -> HillClimber {
        HillClimber {
            capacity,
            tuning,
            lookups: 0,
            hits: 0,
            sample: capacity
                .saturating_mul(tuning.sample_per_capacity)
                .clamp(tuning.min_sample.max(1), 1 << 24),
            previous: None,
            step: full_step(capacity, tuning.step_per_mille),
            grow: tuning.grow_first,
            window: mul_per_mille(capacity, tuning.initial_window_per_mille)
                .max(1)
                .min(capacity.saturating_sub(1)),
        }
    }

    /// Counts a lookup; at the end of a sample returns the window capacity to use next.
    #[inline]
    pub(super) fn record(&mut self, hit: bool) -> Option<u64> {
        self.hits += u64::from(hit);
        self.lookups += 1;
        if self.lookups < self.sample {
            return None;
        }
        Some(self.climb())
    }

    #[cold]
    fn climb(&mut self) -> u64 {
        let rate = self.hits * 1_000_000 / self.lookups;
        self.lookups = 0;
        self.hits = 0;
        if let Some(previous) = self.previous {
            if rate < previous {
                self.grow = !self.grow;
            }
            if rate.abs_diff(previous) >= self.tuning.restart_ppm {
                self.step = full_step(self.capacity, self.tuning.step_per_mille);
            } else {
                self.step = mul_per_mille(self.step, self.tuning.decay_per_mille).max(1);
            }
        }
        self.previous = Some(rate);
        self.window = if self.grow {
            self.window
                .saturating_add(self.step)
                .min(self.capacity.saturating_sub(1))
        } else {
            self.window.saturating_sub(self.step)
        };
        self.window
    }

    /// Moves the window by `amount` now (a ghost's evidence), within the capacity; the
    /// climb goes on from there.
    pub(super) fn nudge(&mut self, grow: bool, amount: u64) -> u64 {
        self.window = if grow {
            self.window
                .saturating_add(amount)
                .min(self.capacity.saturating_sub(1))
        } else {
            self.window.saturating_sub(amount)
        };
        self.window
    }

    /// Lookups per sample.
    #[cfg(test)]
    pub(super) fn sample_len(&self) -> u64 {
        self.sample
    }

    /// The settings.
    pub(super) fn tuning(&self) -> &ClimberTuning {
        &self.tuning
    }

    /// Current target of the window.
    pub(super) fn window(&self) -> u64 {
        self.window
    }
}

fn full_step(capacity: u64, per_mille: u64) -> u64 {
    mul_per_mille(capacity, per_mille).max(1)
}

/// `x × per_mille / 1000` without overflow.
pub(super) fn mul_per_mille(x: u64, per_mille: u64) -> u64 {
    (u128::from(x) * u128::from(per_mille) / 1000) as u64
}

/// The most L1 may hold while the window takes `window` of `capacity`: `l1_capacity`
/// scaled down to the main space (`capacity - window`), so probation keeps its share.
pub(super) fn l1_target(capacity: u64, l1_capacity: u64, window: u64) -> u64 {
    let main = capacity.saturating_sub(window);
    (u128::from(l1_capacity) * u128::from(main) / u128::from(capacity.max(1))) as u64
}

/// The oldest ghost that still counts as evidence, in lookups (`None`: ghosts are off).
pub(super) fn ghost_max_age(max_entries: usize, tuning: &ClimberTuning) -> Option<u64> {
    (tuning.ghost_gain != 0).then(|| mul_per_mille(max_entries as u64, tuning.ghost_age_per_mille))
}

/// The hash of the key at slab index `i`, for the index table's rehashing.
pub(super) fn rehash<K: Hash, V, S: BuildHasher>(slots: &[Slot<K, V>], hasher: &S, i: u32) -> u64 {
    match &slots[i as usize].entry {
        Some(e) => hasher.hash_one(&e.key),
        // Invariant: the table only holds occupied indices (checked by `validate`).
        None => unreachable!("index table holds a vacant slot"),
    }
}

impl<K: Hash + Eq, V, W: Weigher<K, V>, S: BuildHasher> Cache<K, V, W, S> {
    /// The weight of the entry at `idx` (weights are recomputed, not stored).
    #[inline]
    pub(super) fn weight_of(&self, idx: u32) -> u64 {
        let e = self.store.entry(idx);
        self.weigher.weight(&e.key, &e.value).max(1)
    }

    fn hash_of(&self, idx: u32) -> u64 {
        self.hasher.hash_one(&self.store.entry(idx).key)
    }

    /// Stores a new entry of `weight` (at most `max_entry_weight`) whose key is not in
    /// the table, then evicts what no longer fits.
    pub(super) fn insert_new(&mut self, hash: u64, entry: Entry<K, V>, weight: u64) -> u32 {
        let idx = self.store.alloc(entry, self.max_entries + 1);
        let slots = &self.store.slots;
        let hasher = &self.hasher;
        self.table
            .insert_unique(hash, idx, |&i| rehash(slots, hasher, i));
        self.link_new(idx, weight);
        idx
    }

    /// Links a new entry (already in the slab and the table) into the window and the
    /// wheel, then evicts what no longer fits.
    pub(super) fn link_new(&mut self, idx: u32, weight: u64) {
        if self.store.entry(idx).deadline.get() != NEVER {
            self.wheel.insert(&mut self.store.slots, idx);
        }
        self.store.push_back(Segment::Window, idx);
        self.weights[Segment::Window as usize] += weight;
        if self.store.len() > self.sketch.entries() && self.sketch.entries() < self.max_entries {
            let entries = self
                .sketch
                .entries()
                .saturating_mul(2)
                .min(self.max_entries);
            self.sketch = Sketch::new(entries, self.climber.tuning().sketch_sample_factor);
            self.ghosts = Ghosts::new(entries);
        }
        self.evict_overflow();
    }

    /// Replaces the value of the live entry at `idx`; returns the old value.
    pub(super) fn update(
        &mut self,
        idx: u32,
        hash: u64,
        value: V,
        weight: u64,
        deadline: u64,
    ) -> V {
        let seg = self.store.segment(idx);
        if weight > self.max_entry_weight {
            // Too heavy to keep: the old entry is removed, the new value rejected.
            let (old, seg) = self.remove_index(idx, hash);
            self.tier_counters(seg).removals += 1;
            self.counters[1].inserts += 1;
            self.counters[1].evictions += 1;
            self.emit(CacheEvent::Evicted {
                key: old.key,
                value,
                tier: super::Tier::L2,
            });
            return old.value;
        }
        let old_weight = self.weight_of(idx);
        let e = self.store.entry_mut(idx);
        let old = mem::replace(&mut e.value, value);
        let had_deadline = e.deadline.get() != NEVER;
        e.deadline = nonzero_deadline(deadline);
        if had_deadline {
            self.wheel.remove(&mut self.store.slots, idx);
        }
        if deadline != NEVER {
            self.wheel.insert(&mut self.store.slots, idx);
        }
        self.weights[seg as usize] = self.weights[seg as usize] - old_weight + weight;
        self.tier_counters(seg).updates += 1;
        self.on_access(idx);
        self.shrink_l1();
        self.evict_overflow();
        old
    }

    /// Records a hit or an update: the entry is marked referenced, and the policy acts on
    /// the mark lazily (CLOCK-style), so a hit touches no list.
    #[inline]
    pub(super) fn on_access(&mut self, idx: u32) {
        self.store.touch(idx);
    }

    /// Moves a probation entry (hit since it was linked) to L1, then shrinks L1 to its
    /// target; an entry heavier than the target stays on probation, at its newest end.
    pub(super) fn promote(&mut self, idx: u32) {
        let w = self.weight_of(idx);
        if w > self.l1_target {
            self.store.move_to_back(idx, Segment::Probation);
            return;
        }
        self.move_segment(idx, Segment::Probation, Segment::Protected, w);
        self.counters[0].promotions += 1;
        self.shrink_l1();
    }

    /// Demotes L1's oldest unreferenced entries to probation while L1 is over capacity;
    /// a referenced one gets a second chance (its mark is cleared, it moves to the back).
    pub(super) fn shrink_l1(&mut self) {
        let l1 = Segment::Protected as usize;
        while self.weights[l1] > self.l1_target {
            let Some(oldest) = self.store.front(Segment::Protected) else {
                break;
            };
            if self.store.is_referenced(oldest) {
                self.store.move_to_back(oldest, Segment::Protected);
                continue;
            }
            let w = self.weight_of(oldest);
            self.move_segment(oldest, Segment::Protected, Segment::Probation, w);
            self.counters[0].demotions += 1;
        }
    }

    fn move_segment(&mut self, idx: u32, from: Segment, to: Segment, weight: u64) {
        self.store.move_to_back(idx, to);
        self.weights[from as usize] -= weight;
        self.weights[to as usize] += weight;
    }

    /// The oldest unreferenced probation entry; referenced ones met on the way are
    /// promoted to L1 (the lazy half of "a probation hit promotes").
    fn probation_victim(&mut self) -> Option<u32> {
        loop {
            let oldest = self.store.front(Segment::Probation)?;
            if !self.store.is_referenced(oldest) {
                return Some(oldest);
            }
            self.promote(oldest);
        }
    }

    /// Moves the window's overflow to probation as candidates (a referenced window entry
    /// gets a second chance instead), then evicts until the cache fits: each candidate
    /// against probation's oldest unreferenced entry, the less frequent one leaves.
    pub(super) fn evict_overflow(&mut self) {
        if self.evict_one_candidate() {
            return;
        }
        let mut candidate = None;
        // Candidates moved, and second chances given (at most one pass over the window).
        let (mut left, mut chances) = (0usize, 0usize);
        while self.weights[Segment::Window as usize] > self.window_capacity {
            let Some(oldest) = self.store.front(Segment::Window) else {
                break;
            };
            if self.store.is_referenced(oldest) && chances < self.store.count(Segment::Window) {
                self.store.move_to_back(oldest, Segment::Window);
                chances += 1;
                continue;
            }
            let w = self.weight_of(oldest);
            self.move_segment(oldest, Segment::Window, Segment::Probation, w);
            candidate.get_or_insert(oldest);
            left += 1;
        }
        // The `left` candidates are contiguous from `candidate` towards the back of
        // probation; entries demoted meanwhile land behind them and are not candidates.
        while self.weight() > self.config.capacity || self.store.len() > self.max_entries {
            let victim = self.probation_victim();
            let c = candidate.filter(|_| left > 0);
            match (c, victim) {
                (Some(c), Some(v)) if c != v => {
                    let (ch, vh) = (self.hash_of(c), self.hash_of(v));
                    if self.admit(ch, vh) {
                        self.ghosts.record(vh, Ghost::Victim, self.lookups());
                        self.evict(v, vh);
                    } else {
                        candidate = self.store.next(c);
                        left -= 1;
                        self.ghosts.record(ch, Ghost::Rejected, self.lookups());
                        self.evict(c, ch);
                    }
                }
                (Some(c), _) => {
                    candidate = self.store.next(c);
                    left -= 1;
                    self.evict(c, self.hash_of(c));
                }
                (None, Some(v)) => {
                    let vh = self.hash_of(v);
                    self.ghosts.record(vh, Ghost::Victim, self.lookups());
                    self.evict(v, vh);
                }
                (None, None) => {
                    // L2 is empty only if L1 alone overflows, which its own bound prevents;
                    // kept total so a misbehaving weigher cannot loop forever.
                    let any = self
                        .store
                        .front(Segment::Window)
                        .or_else(|| self.store.front(Segment::Protected));
                    let Some(v) = any else {
                        self.weights = [0; 3];
                        break;
                    };
                    self.evict(v, self.hash_of(v));
                }
            }
        }
    }

    /// The common case of [`evict_overflow`](Self::evict_overflow), decided before any
    /// entry moves: the window is over by its oldest entry alone, which is unreferenced;
    /// probation's oldest entry is unreferenced (no promotion on the way to the victim);
    /// and one eviction makes the cache fit. The general loop would move the candidate
    /// to probation's back, compare it with that victim and evict one of the two, so a
    /// rejected candidate is evicted straight from the window and an admitted one moves
    /// as before: the same decisions, events and final lists, one list move fewer per
    /// rejection. Returns whether it applied (nothing changes otherwise).
    #[inline]
    fn evict_one_candidate(&mut self) -> bool {
        let window = self.weights[Segment::Window as usize];
        if window <= self.window_capacity
            || self.weight() > self.config.capacity.saturating_add(1)
            || self.store.len() > self.max_entries + 1
            || (self.weight() <= self.config.capacity && self.store.len() <= self.max_entries)
        {
            return false;
        }
        let (Some(c), Some(v)) = (
            self.store.front(Segment::Window),
            self.store.front(Segment::Probation),
        ) else {
            return false;
        };
        if self.store.is_referenced(c) || self.store.is_referenced(v) {
            return false;
        }
        let w = self.weight_of(c);
        if window - w > self.window_capacity {
            return false;
        }
        let (ch, vh) = (self.hash_of(c), self.hash_of(v));
        if self.admit(ch, vh) {
            self.move_segment(c, Segment::Window, Segment::Probation, w);
            self.ghosts.record(vh, Ghost::Victim, self.lookups());
            self.evict(v, vh);
        } else {
            self.ghosts.record(ch, Ghost::Rejected, self.lookups());
            self.evict(c, ch);
        }
        true
    }

    /// The ghost of the key of `hash`, if the policy turned it away lately (and ghosts
    /// are on), forgotten as it is returned.
    #[inline]
    pub(super) fn take_ghost(&mut self, hash: u64) -> Option<Ghost> {
        let max_age = self.ghost_max_age?;
        self.ghosts.take(hash, self.lookups(), max_age)
    }

    /// Lookups so far (every lookup is an L1 hit or an L1 miss).
    #[inline]
    fn lookups(&self) -> u64 {
        self.counters[0].hits + self.counters[0].misses
    }

    /// A miss on a key the policy turned away lately: moves the window towards the half
    /// that would have kept it. As ARC: each return counts the other kind's ghosts over
    /// its own kind's, so the evidence the policy makes plenty of (rejections, under a
    /// frequency-heavy workload) weighs less per return; evidence accumulates in
    /// thousandths of an entry and moves the window by whole entries.
    #[cold]
    pub(super) fn ghost_nudge(&mut self, kind: Ghost) {
        let gain = self.climber.tuning().ghost_gain;
        let (this, other) = match kind {
            Ghost::Rejected => (Ghost::Rejected, Ghost::Victim),
            Ghost::Victim => (Ghost::Victim, Ghost::Rejected),
        };
        let weight = (u64::from(self.ghosts.count(other)) * 1000 * gain
            / u64::from(self.ghosts.count(this)).max(1))
        .clamp(1, 64_000) as i64;
        self.ghost_credit += if kind == Ghost::Rejected {
            weight
        } else {
            -weight
        };
        let entries = self.ghost_credit / 1000;
        if entries == 0 {
            return;
        }
        self.ghost_credit -= entries * 1000;
        let unit = (self.weight() / (self.store.len().max(1) as u64)).max(1);
        let window = self
            .climber
            .nudge(entries > 0, entries.unsigned_abs().saturating_mul(unit));
        self.window_capacity = window;
        self.l1_target = l1_target(self.config.capacity, self.config.l1_capacity, window);
        self.shrink_l1();
    }

    /// TinyLFU admission: should the candidate replace the victim (more frequent by more
    /// than the margin)?
    fn admit(&mut self, candidate: u64, victim: u64) -> bool {
        let c = self.sketch.frequency(candidate);
        let v = self.sketch.frequency(victim);
        if c > v.saturating_add(self.climber.tuning().admit_margin) {
            return true;
        }
        if c < WARM_CANDIDATE {
            return false;
        }
        // xorshift64
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng.is_multiple_of(WARM_ADMISSION_ODDS)
    }

    fn evict(&mut self, idx: u32, hash: u64) {
        let (entry, seg) = self.remove_index(idx, hash);
        self.tier_counters(seg).evictions += 1;
        self.emit(CacheEvent::Evicted {
            key: entry.key,
            value: entry.value,
            tier: seg.tier(),
        });
    }

    /// Unlinks the entry at `idx` from the table, its list and the wheel, and frees it.
    pub(super) fn remove_index(&mut self, idx: u32, hash: u64) -> (Entry<K, V>, Segment) {
        match self.table.find_entry(hash, |&i| i == idx) {
            Ok(found) => {
                found.remove();
            }
            // Invariant: every live index is in the table under its key's hash.
            Err(_) => unreachable!("cache index {idx} missing from the table"),
        }
        let weight = self.weight_of(idx);
        let seg = self.store.segment(idx);
        self.store.unlink(idx);
        self.wheel.remove(&mut self.store.slots, idx);
        let w = &mut self.weights[seg as usize];
        *w = w.saturating_sub(weight);
        (self.store.free(idx), seg)
    }
}
