//! Tiered retention: full-resolution samples for a recent span, compactly encoded, then
//! rollups (1 minute, 1 hour by default) that keep count, min, max, mean and a mergeable
//! histogram of each metric per step.
//!
//! Everything is held in encoded blocks (see [`super::encoding`]): blocks of
//! [`BLOCK_ROWS`] rows, dropped whole once their newest row is older than the tier's span.
//! Appending is `O(metrics)` per sample; decoding a tier is `O(retained rows)`. Full blocks
//! are shared (`Arc`): a report's [`Rollup`] holds the tier's blocks as they are, so
//! building a report costs `O(blocks)` per tier, and rows are decoded when read (JSON,
//! analysis) — outside the recorder's lock, and for a live update only the new rows.

use alloc::borrow::Cow;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

use super::Series;
use super::encoding::{
    TimeEncoder, ValueEncoder, decode_times, decode_values, dequantise, get_varint, put_varint,
    quantise, round, unzigzag, zigzag,
};

/// Rows per encoded block.
pub(crate) const BLOCK_ROWS: usize = 512;

/// How long each tier keeps its data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Full-resolution samples newer than this (ms) are kept (default 24 h).
    pub full_ms: u64,
    /// Rollup tiers, finest first (default 1 min for 30 days, 1 h for 365 days).
    pub tiers: Vec<TierSpec>,
}

/// One rollup tier's step and span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierSpec {
    /// Width of a row, ms.
    pub step_ms: u64,
    /// Rows newer than this (ms) are kept.
    pub span_ms: u64,
}

const MINUTE: u64 = 60_000;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

impl Default for Retention {
    fn default() -> Self {
        Retention {
            full_ms: DAY,
            tiers: vec![
                TierSpec {
                    step_ms: MINUTE,
                    span_ms: 30 * DAY,
                },
                TierSpec {
                    step_ms: HOUR,
                    span_ms: 365 * DAY,
                },
            ],
        }
    }
}

impl Retention {
    /// Checks that spans and steps are positive and that each step is a multiple of the one
    /// before (so coarser rows are exact merges of finer ones).
    ///
    /// # Errors
    /// What is wrong, in one line.
    pub fn validate(&self) -> Result<(), String> {
        if self.full_ms == 0 {
            return Err(String::from("retention.full_ms must be > 0"));
        }
        let mut prev = 0u64;
        for (i, t) in self.tiers.iter().enumerate() {
            if t.step_ms == 0 || t.span_ms == 0 {
                return Err(format!(
                    "retention.tiers[{i}]: step_ms and span_ms must be > 0"
                ));
            }
            if prev != 0 && (t.step_ms <= prev || t.step_ms % prev != 0) {
                return Err(format!(
                    "retention.tiers[{i}]: step_ms {} must be a larger multiple of {prev}",
                    t.step_ms
                ));
            }
            prev = t.step_ms;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Rollup histogram

/// log2 of the sub-buckets per power of two of a rollup histogram.
const RH_SUB_BITS: u32 = 4;
const RH_SUB: u64 = 1 << RH_SUB_BITS;

/// The bucket of a quantised value in a rollup histogram: values below 32 exactly, above
/// that 16 equal sub-buckets per power of two. Negative values count as zero.
pub fn rollup_bucket(q: i64) -> u16 {
    let v = q.max(0) as u64;
    let bits = 64 - v.leading_zeros();
    let shift = bits.saturating_sub(RH_SUB_BITS + 1);
    (u64::from(shift) * RH_SUB + (v >> shift)) as u16
}

/// The lowest quantised value of bucket `index`, and its width.
fn bucket_range(index: u16) -> (u64, u64) {
    let i = u64::from(index);
    if i < 2 * RH_SUB {
        return (i, 1);
    }
    let shift = i / RH_SUB - 1;
    let sub = i - shift * RH_SUB;
    (sub << shift, 1 << shift)
}

/// Per-step aggregate of one metric, in quantised units.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Agg {
    pub(crate) count: u64,
    pub(crate) min: i64,
    pub(crate) max: i64,
    pub(crate) sum: i64,
    /// Sorted `(bucket, count)` of non-empty buckets.
    pub(crate) hist: Vec<(u16, u64)>,
}

impl Agg {
    fn record(&mut self, q: i64) {
        if self.count == 0 {
            self.min = q;
            self.max = q;
        } else {
            self.min = self.min.min(q);
            self.max = self.max.max(q);
        }
        self.count += 1;
        self.sum = self.sum.saturating_add(q);
        let b = rollup_bucket(q);
        match self.hist.binary_search_by_key(&b, |e| e.0) {
            Ok(i) => self.hist[i].1 += 1,
            Err(i) => self.hist.insert(i, (b, 1)),
        }
    }

    fn merge(&mut self, other: &Agg) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other.clone();
            return;
        }
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum = self.sum.saturating_add(other.sum);
        for &(b, c) in &other.hist {
            match self.hist.binary_search_by_key(&b, |e| e.0) {
                Ok(i) => self.hist[i].1 += c,
                Err(i) => self.hist.insert(i, (b, c)),
            }
        }
    }

    fn encode(&self, out: &mut Vec<u8>, prev_min: &mut i64) {
        put_varint(out, self.count);
        if self.count == 0 {
            return;
        }
        put_varint(out, zigzag(self.min - *prev_min));
        *prev_min = self.min;
        put_varint(out, (self.max - self.min) as u64);
        let excess = self
            .sum
            .saturating_sub((self.count as i64).saturating_mul(self.min));
        put_varint(out, excess.max(0) as u64);
        put_varint(out, self.hist.len() as u64);
        let mut prev = 0u16;
        for &(b, c) in &self.hist {
            put_varint(out, u64::from(b - prev));
            put_varint(out, c);
            prev = b;
        }
    }

    fn decode(bytes: &[u8], pos: &mut usize, prev_min: &mut i64) -> Option<Agg> {
        let count = get_varint(bytes, pos)?;
        if count == 0 {
            return Some(Agg::default());
        }
        let min = prev_min.wrapping_add(unzigzag(get_varint(bytes, pos)?));
        *prev_min = min;
        let max = min.wrapping_add(get_varint(bytes, pos)? as i64);
        let sum = (get_varint(bytes, pos)? as i64).wrapping_add((count as i64).wrapping_mul(min));
        let n = get_varint(bytes, pos)?;
        let mut hist = Vec::with_capacity(usize::try_from(n).ok()?.min(1024));
        let mut prev = 0u64;
        for _ in 0..n {
            prev += get_varint(bytes, pos)?;
            hist.push((u16::try_from(prev).ok()?, get_varint(bytes, pos)?));
        }
        Some(Agg {
            count,
            min,
            max,
            sum,
            hist,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Encoded blocks

#[derive(Clone, Debug)]
struct Column {
    scale: f64,
    /// Rows of the block before this column's first entry (all empty).
    start: usize,
    /// Entries written since `start`.
    written: usize,
    bytes: Vec<u8>,
    enc: ValueEncoder,
    prev_min: i64,
    /// Every value of a sealed full-resolution column is a multiple of this; the stream
    /// holds the quotients.
    factor: i64,
}

#[derive(Clone, Debug, Default)]
struct Block {
    len: usize,
    last_t: u64,
    times: Vec<u8>,
    tenc: TimeEncoder,
    columns: BTreeMap<String, Column>,
}

impl Block {
    fn column(&mut self, name: &str, scale: f64) -> &mut Column {
        let len = self.len;
        if !self.columns.contains_key(name) {
            self.columns.insert(
                String::from(name),
                Column {
                    scale,
                    start: len,
                    written: 0,
                    bytes: Vec::new(),
                    enc: ValueEncoder::default(),
                    prev_min: 0,
                    factor: 1,
                },
            );
        }
        self.columns.get_mut(name).expect("inserted above")
    }

    fn times(&self) -> Vec<u64> {
        let mut t = Vec::with_capacity(self.len);
        // Our own encoding: a failure would be a bug, and leaves the column short.
        let _ = decode_times(&self.times, self.len, &mut t);
        t
    }

    fn heap_bytes(&self) -> usize {
        self.times.capacity()
            + self
                .columns
                .iter()
                .map(|(k, c)| k.capacity() + c.bytes.capacity() + core::mem::size_of::<Column>())
                .sum::<usize>()
    }
}

/// A list of blocks with a span: rows older than `newest - span` are dropped a block at a
/// time.
#[derive(Clone, Debug, Default)]
struct Blocks {
    span_ms: u64,
    blocks: VecDeque<Arc<Block>>,
}

impl Blocks {
    fn new(span_ms: u64) -> Blocks {
        Blocks {
            span_ms,
            blocks: VecDeque::new(),
        }
    }

    /// Starts a row at `t`: the block it goes to.
    fn start_row(&mut self, t: u64) -> &mut Block {
        if self.blocks.back().is_none_or(|b| b.len >= BLOCK_ROWS) {
            self.blocks.push_back(Arc::new(Block::default()));
        }
        while self.blocks.len() > 1
            && self
                .blocks
                .front()
                .is_some_and(|b| b.last_t.saturating_add(self.span_ms) < t)
        {
            self.blocks.pop_front();
        }
        // Copied first if a report still holds it (once per report and open block).
        let block = Arc::make_mut(self.blocks.back_mut().expect("just pushed"));
        let (times, tenc) = (&mut block.times, &mut block.tenc);
        tenc.push(times, t);
        block
    }

    /// Ends the row started at `t`: columns without an entry get `empty`.
    fn end_row(block: &mut Block, t: u64, empty: impl Fn(&mut Column)) {
        block.len += 1;
        block.last_t = t;
        let len = block.len;
        for c in block.columns.values_mut() {
            if c.start + c.written < len {
                empty(c);
                c.written += 1;
            }
        }
    }

    fn rows(&self) -> usize {
        self.blocks.iter().map(|b| b.len).sum()
    }

    fn heap_bytes(&self) -> usize {
        self.blocks.iter().map(|b| b.heap_bytes()).sum::<usize>()
            + self.blocks.len() * core::mem::size_of::<Block>()
            + self.blocks.capacity() * core::mem::size_of::<Arc<Block>>()
    }

    fn names(&self) -> BTreeMap<&str, f64> {
        let mut names = BTreeMap::new();
        for b in &self.blocks {
            for (k, c) in &b.columns {
                names.insert(k.as_str(), c.scale);
            }
        }
        names
    }
}

// ---------------------------------------------------------------------------------------
// Full resolution

/// Full-resolution samples of the recent span, quantised and delta-encoded.
#[derive(Clone, Debug)]
pub(crate) struct FullRes {
    blocks: Blocks,
}

impl FullRes {
    pub(crate) fn new(span_ms: u64) -> FullRes {
        FullRes {
            blocks: Blocks::new(span_ms),
        }
    }

    /// Appends a sample of quantised values `(name, q, scale)` (each name once).
    pub(crate) fn push(&mut self, t: u64, values: &[(&str, i64, f64)]) {
        let block = self.blocks.start_row(t);
        for &(name, q, scale) in values {
            let c = block.column(name, scale);
            c.enc.push(&mut c.bytes, Some(q));
            c.written += 1;
        }
        Blocks::end_row(block, t, |c| c.enc.push(&mut c.bytes, None));
        if block.len == BLOCK_ROWS {
            seal(block);
        }
    }

    /// Samples held.
    pub(crate) fn len(&self) -> usize {
        self.blocks.rows()
    }

    /// Encoded bytes held (times, values and per-column overhead), and values held.
    pub(crate) fn footprint(&self) -> (usize, usize) {
        let values = self
            .blocks
            .blocks
            .iter()
            .map(|b| b.columns.values().map(|c| c.written).sum::<usize>())
            .sum();
        (self.blocks.heap_bytes(), values)
    }

    /// Decodes everything held into a [`Series`].
    pub(crate) fn to_series(&self) -> Series {
        let names = self.blocks.names();
        let total = self.blocks.rows();
        let mut t_ms = Vec::with_capacity(total);
        let mut columns: BTreeMap<String, Vec<Option<f64>>> = names
            .keys()
            .map(|k| (String::from(*k), Vec::with_capacity(total)))
            .collect();
        for b in &self.blocks.blocks {
            t_ms.extend(b.times());
            for (name, col) in &mut columns {
                if let Some(c) = b.columns.get(name.as_str()) {
                    col.resize(col.len() + c.start, None);
                    let (scale, factor) = (c.scale, c.factor);
                    let _ = decode_values(&c.bytes, c.written, |q| {
                        col.push(q.map(|q| dequantise(q * factor, scale)));
                    });
                }
                col.resize(t_ms.len(), None);
            }
        }
        Series::from_parts(t_ms, columns)
    }
}

/// Re-encodes the columns of a full block whose values share a common factor (byte counts
/// in whole pages, for example) as quotients, and trims spare capacity. `O(block)`, once per
/// [`BLOCK_ROWS`] samples.
fn seal(block: &mut Block) {
    block.times.shrink_to_fit();
    for c in block.columns.values_mut() {
        let mut values = Vec::with_capacity(c.written);
        let _ = decode_values(&c.bytes, c.written, |q| values.push(q));
        let g = values.iter().flatten().fold(0i64, |g, &q| gcd(g, q.abs()));
        if g > 1 && values.len() == c.written {
            let mut bytes = Vec::new();
            let mut enc = ValueEncoder::default();
            for q in values {
                enc.push(&mut bytes, q.map(|q| q / g));
            }
            c.bytes = bytes;
            c.factor = g;
        }
        c.bytes.shrink_to_fit();
    }
}

fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

// ---------------------------------------------------------------------------------------
// Rollup tiers

/// One rollup tier being filled: encoded closed rows plus the open one.
#[derive(Clone, Debug)]
pub(crate) struct TierStore {
    spec: TierSpec,
    blocks: Blocks,
    open: Option<Row>,
}

/// A row: its start time and, per metric, the scale and the aggregate.
type Row = (u64, BTreeMap<String, (f64, Agg)>);

impl TierStore {
    pub(crate) fn new(spec: TierSpec) -> TierStore {
        TierStore {
            spec,
            blocks: Blocks::new(spec.span_ms),
            open: None,
        }
    }

    /// Merges `f` into the row of `t`; returns the row this closed, if any (already stored).
    fn add(&mut self, t: u64, f: impl FnOnce(&mut BTreeMap<String, (f64, Agg)>)) -> Option<Row> {
        let row_t = t - t % self.spec.step_ms;
        let mut closed = None;
        if self.open.as_ref().is_some_and(|(ot, _)| *ot != row_t) {
            closed = self.open.take();
            if let Some(row) = &closed {
                self.store(row);
            }
        }
        let (_, aggs) = self.open.get_or_insert_with(|| (row_t, BTreeMap::new()));
        f(aggs);
        closed
    }

    fn store(&mut self, (t, aggs): &Row) {
        let block = self.blocks.start_row(*t);
        for (name, (scale, agg)) in aggs {
            let c = block.column(name, *scale);
            agg.encode(&mut c.bytes, &mut c.prev_min);
            c.written += 1;
        }
        Blocks::end_row(block, *t, |c| put_varint(&mut c.bytes, 0));
        if block.len == BLOCK_ROWS {
            block.times.shrink_to_fit();
            for c in block.columns.values_mut() {
                c.bytes.shrink_to_fit();
            }
        }
    }

    /// The tier as report data: its blocks shared, its open row copied (`O(blocks +
    /// metrics)`); rows are decoded when read.
    pub(crate) fn to_rollup(&self) -> Rollup {
        Rollup {
            step_ms: self.spec.step_ms,
            span_ms: self.spec.span_ms,
            data: Data::Blocks(Arc::new(Shared {
                blocks: self.blocks.blocks.iter().cloned().collect(),
                open: self.open.clone(),
            })),
        }
    }

    /// Rebuilds the tier from report data; the last row becomes the open one.
    pub(crate) fn from_rollup(r: &Rollup) -> TierStore {
        let mut store = TierStore::new(TierSpec {
            step_ms: r.step_ms,
            span_ms: r.span_ms,
        });
        let r = r.rows();
        let mut rows: Vec<Row> = r.t_ms.iter().map(|&t| (t, BTreeMap::new())).collect();
        for (name, col) in &r.metrics {
            for (i, row) in rows.iter_mut().enumerate() {
                if let Some(agg) = col.agg(i) {
                    row.1.insert(name.clone(), (col.scale, agg));
                }
            }
        }
        let open = rows.pop();
        for row in &rows {
            store.store(row);
        }
        store.open = open;
        store
    }

    fn heap_bytes(&self) -> usize {
        self.blocks.heap_bytes()
    }
}

/// Full resolution plus the rollup tiers, fed one sample at a time.
#[derive(Clone, Debug)]
pub(crate) struct Tiers {
    pub(crate) full: FullRes,
    pub(crate) rollups: Vec<TierStore>,
}

impl Tiers {
    pub(crate) fn new(retention: &Retention) -> Tiers {
        Tiers {
            full: FullRes::new(retention.full_ms),
            rollups: retention.tiers.iter().map(|&s| TierStore::new(s)).collect(),
        }
    }

    /// Appends a sample to the full-resolution tier and every rollup.
    pub(crate) fn push(&mut self, t: u64, values: &[(&str, i64, f64)]) {
        self.full.push(t, values);
        self.roll(t, values);
    }

    /// Feeds the rollups only (the full-resolution tier already has the sample).
    pub(crate) fn roll(&mut self, t: u64, values: &[(&str, i64, f64)]) {
        let Some((first, rest)) = self.rollups.split_first_mut() else {
            return;
        };
        let mut closed = first.add(t, |aggs| {
            for &(name, q, scale) in values {
                aggs.entry(String::from(name))
                    .or_insert_with(|| (scale, Agg::default()))
                    .1
                    .record(q);
            }
        });
        for tier in rest {
            let Some((row_t, row)) = closed else { break };
            closed = tier.add(row_t, |aggs| {
                for (name, (scale, agg)) in &row {
                    aggs.entry(name.clone())
                        .or_insert_with(|| (*scale, Agg::default()))
                        .1
                        .merge(agg);
                }
            });
        }
    }

    /// Heap bytes held by the encoded tiers (approximate: capacities plus per-column
    /// overhead).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.full.footprint().0
            + self
                .rollups
                .iter()
                .map(TierStore::heap_bytes)
                .sum::<usize>()
    }
}

// ---------------------------------------------------------------------------------------
// Report data

/// A rollup tier in a report: one row per `step_ms` that had samples ([`RollupRows`]).
///
/// A tier read from JSON or built by a merge holds its rows; a tier of a report the
/// [`Recorder`](super::Recorder) built shares the recorder's encoded blocks and decodes
/// its rows when they are read ([`rows`](Rollup::rows)), so that building a report does
/// not grow with the tier. In JSON it is `{step_ms, span_ms, t_ms, metrics}` either way.
#[derive(Clone)]
pub struct Rollup {
    /// Width of a row, ms.
    pub step_ms: u64,
    /// How far back the tier reaches, ms.
    pub span_ms: u64,
    data: Data,
}

/// The rows of a rollup tier.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RollupRows {
    /// Row start times, ms since the report start, increasing, multiples of `step_ms`.
    pub t_ms: Vec<u64>,
    /// Per metric: one entry per row in each array.
    pub metrics: BTreeMap<String, RollupColumn>,
}

#[derive(Clone)]
enum Data {
    Rows(RollupRows),
    Blocks(Arc<Shared>),
}

/// A recorder tier's blocks as a report took them, and its open row.
struct Shared {
    blocks: Vec<Arc<Block>>,
    open: Option<Row>,
}

impl Shared {
    /// Rows in `blocks` (some of ours) and the open row.
    fn rows(&self, blocks: &[Arc<Block>]) -> usize {
        blocks.iter().map(|b| b.len).sum::<usize>() + usize::from(self.open.is_some())
    }

    /// The rows of `blocks` (all, or the newest from `first_block` on) and of the open row,
    /// column by column straight from the encoded blocks: no per-row map, one histogram
    /// allocation per non-empty row.
    fn decode(&self, first_block: usize) -> RollupRows {
        let blocks = self.blocks.get(first_block..).unwrap_or_default();
        let rows = self.rows(blocks);
        let mut t_ms = Vec::with_capacity(rows);
        let mut metrics: BTreeMap<String, RollupColumn> = BTreeMap::new();
        for b in blocks {
            let base = t_ms.len();
            t_ms.extend(b.times());
            for (name, c) in &b.columns {
                let col = match metrics.get_mut(name.as_str()) {
                    Some(col) => col,
                    None => metrics
                        .entry(name.clone())
                        .or_insert_with(|| RollupColumn::empty(c.scale, rows)),
                };
                let (mut pos, mut prev_min) = (0, 0);
                for i in 0..c.written {
                    let Some(agg) = Agg::decode(&c.bytes, &mut pos, &mut prev_min) else {
                        break;
                    };
                    let row = base + c.start + i;
                    if agg.count > 0 && row < rows {
                        col.set(row, c.scale, &agg);
                    }
                }
            }
        }
        if let Some((t, aggs)) = &self.open {
            t_ms.push(*t);
            for (name, (scale, agg)) in aggs {
                let col = metrics
                    .entry(name.clone())
                    .or_insert_with(|| RollupColumn::empty(*scale, rows));
                if agg.count > 0 {
                    col.set(rows - 1, *scale, agg);
                }
            }
        }
        RollupRows { t_ms, metrics }
    }
}

impl Rollup {
    /// A tier of `rows`.
    pub fn new(step_ms: u64, span_ms: u64, rows: RollupRows) -> Rollup {
        Rollup {
            step_ms,
            span_ms,
            data: Data::Rows(rows),
        }
    }

    /// The rows: borrowed when held, decoded from the shared blocks otherwise
    /// (`O(rows)`).
    pub fn rows(&self) -> Cow<'_, RollupRows> {
        match &self.data {
            Data::Rows(rows) => Cow::Borrowed(rows),
            Data::Blocks(shared) => Cow::Owned(shared.decode(0)),
        }
    }

    /// The rows to change (decoded once, then held).
    pub fn rows_mut(&mut self) -> &mut RollupRows {
        if let Data::Blocks(shared) = &self.data {
            self.data = Data::Rows(shared.decode(0));
        }
        match &mut self.data {
            Data::Rows(rows) => rows,
            Data::Blocks(_) => unreachable!("decoded above"),
        }
    }

    /// Rows held, without decoding them.
    pub fn len(&self) -> usize {
        match &self.data {
            Data::Rows(rows) => rows.t_ms.len(),
            Data::Blocks(shared) => shared.rows(&shared.blocks),
        }
    }

    /// Whether the tier has no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first row's start time (ms), without decoding the rows.
    pub fn first_t_ms(&self) -> Option<u64> {
        match &self.data {
            Data::Rows(rows) => rows.t_ms.first().copied(),
            Data::Blocks(shared) => shared
                .blocks
                .first()
                .and_then(|b| b.times().first().copied())
                .or_else(|| shared.open.as_ref().map(|(t, _)| *t)),
        }
    }
}

impl fmt::Debug for Rollup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = self.rows();
        f.debug_struct("Rollup")
            .field("step_ms", &self.step_ms)
            .field("span_ms", &self.span_ms)
            .field("t_ms", &rows.t_ms)
            .field("metrics", &rows.metrics)
            .finish()
    }
}

impl PartialEq for Rollup {
    fn eq(&self, other: &Rollup) -> bool {
        self.step_ms == other.step_ms
            && self.span_ms == other.span_ms
            && self.rows() == other.rows()
    }
}

/// The JSON form, written.
#[derive(Serialize)]
struct RollupOut<'a> {
    step_ms: u64,
    span_ms: u64,
    t_ms: &'a [u64],
    metrics: &'a BTreeMap<String, RollupColumn>,
}

/// The JSON form, read.
#[derive(Deserialize)]
struct RollupIn {
    step_ms: u64,
    span_ms: u64,
    t_ms: Vec<u64>,
    metrics: BTreeMap<String, RollupColumn>,
}

impl Serialize for Rollup {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let rows = self.rows();
        RollupOut {
            step_ms: self.step_ms,
            span_ms: self.span_ms,
            t_ms: &rows.t_ms,
            metrics: &rows.metrics,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Rollup {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Rollup, D::Error> {
        let r = RollupIn::deserialize(d)?;
        Ok(Rollup::new(
            r.step_ms,
            r.span_ms,
            RollupRows {
                t_ms: r.t_ms,
                metrics: r.metrics,
            },
        ))
    }
}

/// One metric of a rollup tier. A row with `count` 0 had no value (`null` elsewhere).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RollupColumn {
    /// Histogram units per metric unit (`round(value × scale)` is what is counted).
    pub scale: f64,
    /// Values in the row.
    pub count: Vec<u64>,
    /// Smallest value.
    pub min: Vec<Option<f64>>,
    /// Largest value.
    pub max: Vec<Option<f64>>,
    /// Mean value.
    pub mean: Vec<Option<f64>>,
    /// `[bucket, count]` of the non-empty histogram buckets (see [`rollup_bucket`]). In
    /// JSON each row is one flat array `[b0, c0, b1 - b0, c1, …]` (bucket deltas); rows of
    /// `[bucket, count]` pairs, as older reports wrote them, are read too.
    #[serde(with = "hist_rows")]
    pub histogram: Vec<Vec<[u64; 2]>>,
}

/// JSON form of rollup histogram rows: each row a flat array of bucket deltas and counts,
/// `[b0, c0, b1 - b0, c1, …]` (half the brackets and smaller numbers than pairs); reads
/// rows of `[bucket, count]` pairs too.
mod hist_rows {
    use alloc::vec::Vec;
    use core::fmt;

    use serde::de::{self, Deserializer, SeqAccess, Visitor};
    use serde::ser::{SerializeSeq, Serializer};

    /// A row as written.
    struct Flat<'a>(&'a [[u64; 2]]);

    impl serde::Serialize for Flat<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(self.0.len() * 2))?;
            let mut prev = 0u64;
            for &[b, c] in self.0 {
                // Buckets increase (checked by `validate`); wrapping keeps a bad row lossless.
                seq.serialize_element(&b.wrapping_sub(prev))?;
                seq.serialize_element(&c)?;
                prev = b;
            }
            seq.end()
        }
    }

    pub(super) fn serialize<S: Serializer>(
        rows: &[Vec<[u64; 2]>],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(rows.len()))?;
        for row in rows {
            seq.serialize_element(&Flat(row))?;
        }
        seq.end()
    }

    /// One element of a row: a number (flat form) or a `[bucket, count]` pair (old form).
    enum Elem {
        Num(u64),
        Pair([u64; 2]),
    }

    impl<'de> serde::Deserialize<'de> for Elem {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Elem, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Elem;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a non-negative integer or a [bucket, count] pair")
                }
                fn visit_u64<E: de::Error>(self, v: u64) -> Result<Elem, E> {
                    Ok(Elem::Num(v))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Elem, A::Error> {
                    let b = a
                        .next_element()?
                        .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                    let c = a
                        .next_element()?
                        .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                    if a.next_element::<de::IgnoredAny>()?.is_some() {
                        return Err(de::Error::invalid_length(3, &self));
                    }
                    Ok(Elem::Pair([b, c]))
                }
            }
            d.deserialize_any(V)
        }
    }

    /// One row in either form.
    struct Row(Vec<[u64; 2]>);

    impl<'de> serde::Deserialize<'de> for Row {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Row, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Row;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a histogram row: [bucket delta, count, …] or [[bucket, count], …]")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Row, A::Error> {
                    let mut out: Vec<[u64; 2]> = Vec::new();
                    let (mut flat, mut pairs) = (false, false);
                    let mut pending: Option<u64> = None;
                    let mut prev = 0u64;
                    while let Some(e) = a.next_element::<Elem>()? {
                        match e {
                            Elem::Pair(p) => {
                                pairs = true;
                                out.push(p);
                            }
                            Elem::Num(n) => {
                                flat = true;
                                match pending.take() {
                                    None => pending = Some(n),
                                    Some(delta) => {
                                        prev = prev.wrapping_add(delta);
                                        out.push([prev, n]);
                                    }
                                }
                            }
                        }
                        if flat && pairs {
                            return Err(de::Error::custom(
                                "a histogram row mixes numbers and [bucket, count] pairs",
                            ));
                        }
                    }
                    if pending.is_some() {
                        return Err(de::Error::custom(
                            "a histogram row has an odd number of entries (bucket delta, count, …)",
                        ));
                    }
                    Ok(Row(out))
                }
            }
            d.deserialize_seq(V)
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<Vec<[u64; 2]>>, D::Error> {
        let rows: Vec<Row> = serde::Deserialize::deserialize(d)?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }
}

impl RollupColumn {
    fn empty(scale: f64, rows: usize) -> RollupColumn {
        RollupColumn {
            scale,
            count: vec![0; rows],
            min: vec![None; rows],
            max: vec![None; rows],
            mean: vec![None; rows],
            histogram: vec![Vec::new(); rows],
        }
    }

    fn set(&mut self, i: usize, scale: f64, agg: &Agg) {
        self.count[i] = agg.count;
        self.min[i] = Some(dequantise(agg.min, scale));
        self.max[i] = Some(dequantise(agg.max, scale));
        self.mean[i] = Some(agg.sum as f64 / agg.count as f64 / scale);
        self.histogram[i] = agg.hist.iter().map(|&(b, c)| [u64::from(b), c]).collect();
    }

    /// Row `i` back in quantised units (`None` when empty or malformed).
    fn agg(&self, i: usize) -> Option<Agg> {
        let count = *self.count.get(i)?;
        if count == 0 {
            return None;
        }
        let q = |v: Option<&Option<f64>>| v.copied().flatten().map(|v| quantise(v, self.scale));
        let mean = (*self.mean.get(i)?)?;
        let sum = round(mean * self.scale * count as f64);
        Some(Agg {
            count,
            min: q(self.min.get(i))?,
            max: q(self.max.get(i))?,
            sum,
            hist: self
                .histogram
                .get(i)?
                .iter()
                .map(|&[b, c]| (u16::try_from(b).unwrap_or(u16::MAX), c))
                .collect(),
        })
    }
}

impl Rollup {
    /// Checks equal lengths, increasing aligned times and histograms that add up.
    ///
    /// # Errors
    /// The first inconsistency, naming the tier by `name`.
    pub fn validate(&self, name: &str) -> Result<(), String> {
        if self.step_ms == 0 {
            return Err(format!("{name}.step_ms must be > 0"));
        }
        let rows = self.rows();
        if let Some(i) = rows.t_ms.windows(2).position(|w| w[1] <= w[0]) {
            return Err(format!("{name}.t_ms is not increasing at index {}", i + 1));
        }
        if let Some(t) = rows.t_ms.iter().find(|&&t| t % self.step_ms != 0) {
            return Err(format!("{name}.t_ms: {t} is not a multiple of step_ms"));
        }
        let n = rows.t_ms.len();
        for (m, c) in &rows.metrics {
            let lens = [
                c.count.len(),
                c.min.len(),
                c.max.len(),
                c.mean.len(),
                c.histogram.len(),
            ];
            if lens.iter().any(|&l| l != n) {
                return Err(format!(
                    "{name}.metrics.{m}: arrays must all have {n} entries (one per t_ms)"
                ));
            }
            if !(c.scale.is_finite() && c.scale > 0.0) {
                return Err(format!("{name}.metrics.{m}.scale must be > 0"));
            }
            for i in 0..n {
                let total: u64 = c.histogram[i]
                    .iter()
                    .map(|e| e[1])
                    .fold(0, u64::saturating_add);
                let filled = c.min[i].is_some() && c.max[i].is_some() && c.mean[i].is_some();
                if total != c.count[i] || (c.count[i] > 0) != filled {
                    return Err(format!(
                        "{name}.metrics.{m}: row {i} has count {} but its histogram or min/max/mean disagree",
                        c.count[i]
                    ));
                }
                if c.histogram[i].iter().any(|e| e[0] > u64::from(u16::MAX))
                    || c.histogram[i].windows(2).any(|w| w[1][0] <= w[0][0])
                {
                    return Err(format!(
                        "{name}.metrics.{m}: row {i} histogram buckets must increase"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The `q`-quantile (0..=1) of `metric` over rows with `from_ms <= t < to_ms`, merging
    /// their histograms: within 1/32 (3.1 %) of the exact value (plus the unit's
    /// resolution), and clamped to the exact min and max of those rows.
    pub fn quantile(&self, metric: &str, from_ms: u64, to_ms: u64, q: f64) -> Option<f64> {
        let rows = self.rows();
        let col = rows.metrics.get(metric)?;
        let mut merged = Agg::default();
        for (i, &t) in rows.t_ms.iter().enumerate() {
            if t >= from_ms
                && t < to_ms
                && let Some(agg) = col.agg(i)
            {
                merged.merge(&agg);
            }
        }
        if merged.count == 0 {
            return None;
        }
        let x = q.clamp(0.0, 1.0) * merged.count as f64;
        let rank = (x as u64 + u64::from((x as u64 as f64) < x)).max(1);
        let mut seen = 0;
        for &(b, c) in &merged.hist {
            seen += c;
            if seen >= rank {
                let (lo, width) = bucket_range(b);
                let mid = lo as f64 + (width as f64 - 1.0) / 2.0;
                let v = mid.clamp(merged.min as f64, merged.max as f64);
                return Some(v / col.scale);
            }
        }
        Some(dequantise(merged.max, col.scale))
    }
}

// ---------------------------------------------------------------------------------------
// Live deltas and fleet merges

impl Rollup {
    /// A copy of the rows starting at or after `from_ms` (columns without a value among
    /// them left out). From shared blocks only the blocks that reach `from_ms` are
    /// decoded: a live update costs the new rows, not the tier.
    pub(crate) fn tail(&self, from_ms: u64) -> Rollup {
        let rows = match &self.data {
            Data::Rows(rows) => rows.tail(from_ms),
            Data::Blocks(shared) => {
                let first = shared.blocks.partition_point(|b| b.last_t < from_ms);
                shared.decode(first).tail(from_ms)
            }
        };
        Rollup::new(self.step_ms, self.span_ms, rows)
    }

    /// Replaces the rows from `tail`'s first on by `tail`'s rows, then drops the rows
    /// before `keep_from_ms` and the columns left without a value.
    pub(crate) fn splice(&mut self, tail: &Rollup, keep_from_ms: Option<u64>) {
        self.step_ms = tail.step_ms;
        self.span_ms = tail.span_ms;
        self.rows_mut().splice(&tail.rows(), keep_from_ms);
    }
}

impl RollupRows {
    fn tail(&self, from_ms: u64) -> RollupRows {
        let lo = self.t_ms.partition_point(|&t| t < from_ms);
        let metrics = self
            .metrics
            .iter()
            .filter(|(_, c)| c.count.get(lo..).is_some_and(|n| n.iter().any(|&n| n > 0)))
            .map(|(name, c)| {
                let col = RollupColumn {
                    scale: c.scale,
                    count: c.count[lo..].to_vec(),
                    min: c.min[lo..].to_vec(),
                    max: c.max[lo..].to_vec(),
                    mean: c.mean[lo..].to_vec(),
                    histogram: c.histogram[lo..].to_vec(),
                };
                (name.clone(), col)
            })
            .collect();
        RollupRows {
            t_ms: self.t_ms[lo..].to_vec(),
            metrics,
        }
    }

    fn splice(&mut self, tail: &RollupRows, keep_from_ms: Option<u64>) {
        let cut = tail.t_ms.first().map_or(self.t_ms.len(), |&first| {
            self.t_ms.partition_point(|&t| t < first)
        });
        self.t_ms.truncate(cut);
        self.t_ms.extend_from_slice(&tail.t_ms);
        for (name, c) in &tail.metrics {
            let col = self
                .metrics
                .entry(name.clone())
                .or_insert_with(|| RollupColumn::empty(c.scale, cut));
            col.keep(0..cut);
            col.count.extend_from_slice(&c.count);
            col.min.extend_from_slice(&c.min);
            col.max.extend_from_slice(&c.max);
            col.mean.extend_from_slice(&c.mean);
            col.histogram.extend_from_slice(&c.histogram);
        }
        let rows = self.t_ms.len();
        for (name, col) in &mut self.metrics {
            if !tail.metrics.contains_key(name) {
                col.keep(0..cut);
                col.append(&RollupColumn::empty(col.scale, rows - cut));
            }
        }
        let lo = keep_from_ms.map_or(0, |k| self.t_ms.partition_point(|&t| t < k));
        self.t_ms.drain(..lo);
        for col in self.metrics.values_mut() {
            col.keep(lo..rows);
        }
        self.metrics.retain(|_, c| c.count.iter().any(|&n| n > 0));
    }
}

impl RollupColumn {
    /// Keeps rows `range` only (a prefix cut is a no-op when the column is already that
    /// short).
    fn keep(&mut self, range: core::ops::Range<usize>) {
        let (lo, hi) = (range.start, range.end.min(self.count.len()));
        if hi == self.count.len() && lo == 0 {
            return;
        }
        fn cut<T>(v: &mut Vec<T>, lo: usize, hi: usize) {
            v.truncate(hi);
            v.drain(..lo.min(v.len()));
        }
        cut(&mut self.count, lo, hi);
        cut(&mut self.min, lo, hi);
        cut(&mut self.max, lo, hi);
        cut(&mut self.mean, lo, hi);
        cut(&mut self.histogram, lo, hi);
    }

    fn append(&mut self, other: &RollupColumn) {
        self.count.extend_from_slice(&other.count);
        self.min.extend_from_slice(&other.min);
        self.max.extend_from_slice(&other.max);
        self.mean.extend_from_slice(&other.mean);
        self.histogram.extend_from_slice(&other.histogram);
    }
}

/// Why rollups do not merge: a metric with different scales in two inputs.
pub(crate) struct ScaleMismatch {
    /// Index of the input.
    pub(crate) input: usize,
    /// The metric.
    pub(crate) metric: String,
}

/// Merges the rollup tiers of several reports, each given with its start offset (ms) from
/// the merged report's start. Tiers of the same `step_ms` merge; a row at offset + `t` goes
/// to the merged row `floor((offset + t) / step) × step`: exact (count, min, max, histogram;
/// mean weighted by count) when every offset is a multiple of the step, otherwise a merged
/// row mixes windows shifted by `offset mod step` (less than one step).
pub(crate) fn merge_rollups(inputs: &[(u64, &[Rollup])]) -> Result<Vec<Rollup>, ScaleMismatch> {
    // step -> (span, row start -> metric -> (scale, agg))
    type Aggs = BTreeMap<String, (f64, Agg)>;
    let mut tiers: BTreeMap<u64, (u64, BTreeMap<u64, Aggs>)> = BTreeMap::new();
    for (input, &(offset, rollups)) in inputs.iter().enumerate() {
        for r in rollups {
            let step = r.step_ms.max(1);
            let (span, rows) = tiers.entry(step).or_insert((r.span_ms, BTreeMap::new()));
            *span = (*span).max(r.span_ms);
            let r = r.rows();
            for (name, col) in &r.metrics {
                for (i, &t) in r.t_ms.iter().enumerate() {
                    let Some(agg) = col.agg(i) else { continue };
                    let abs = offset.saturating_add(t);
                    let row = rows.entry(abs - abs % step).or_default();
                    match row.get_mut(name) {
                        Some((scale, _)) if *scale != col.scale => {
                            return Err(ScaleMismatch {
                                input,
                                metric: name.clone(),
                            });
                        }
                        Some((_, acc)) => acc.merge(&agg),
                        None => {
                            row.insert(name.clone(), (col.scale, agg));
                        }
                    }
                }
            }
        }
    }
    Ok(tiers
        .into_iter()
        .map(|(step_ms, (span_ms, rows))| {
            let mut metrics: BTreeMap<String, RollupColumn> = BTreeMap::new();
            for (i, aggs) in rows.values().enumerate() {
                for (name, (scale, agg)) in aggs {
                    metrics
                        .entry(name.clone())
                        .or_insert_with(|| RollupColumn::empty(*scale, rows.len()))
                        .set(i, *scale, agg);
                }
            }
            let t_ms = rows.keys().copied().collect();
            Rollup::new(step_ms, span_ms, RollupRows { t_ms, metrics })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn sealed_blocks_store_common_factors_and_decode_exactly() {
        let mut full = FullRes::new(u64::MAX);
        let mut expect_pages = Vec::new();
        let mut expect_odd = Vec::new();
        for i in 0..(BLOCK_ROWS as i64 * 2 + 17) {
            let pages = (i % 7 != 3).then_some(4096 * (1000 + (i * 37) % 101));
            let odd = (i % 5 != 0).then_some(-3 * i + 1);
            let mut values = Vec::new();
            if let Some(q) = pages {
                values.push(("pages", q, 1.0));
            }
            if let Some(q) = odd {
                values.push(("odd", q, 100.0));
            }
            full.push(i as u64 * 1000, &values);
            expect_pages.push(pages.map(|q| q as f64));
            expect_odd.push(odd.map(|q| q as f64 / 100.0));
        }
        let b = &full.blocks.blocks[0];
        assert_eq!(b.columns["pages"].factor, 4096);
        assert_eq!(b.columns["odd"].factor, 1);
        let series = full.to_series();
        assert_eq!(series.column("pages").unwrap(), &expect_pages[..]);
        assert_eq!(series.column("odd").unwrap(), &expect_odd[..]);
        // Quotients below 2^14 take at most two bytes each.
        let pages_bytes = b.columns["pages"].bytes.len();
        assert!(pages_bytes <= 2 * BLOCK_ROWS, "{pages_bytes}");
    }

    #[test]
    fn retention_settings_are_checked() {
        assert!(Retention::default().validate().is_ok());
        let mut r = Retention::default();
        r.tiers[1].step_ms = 90_000;
        assert!(r.validate().unwrap_err().contains("multiple"));
        r = Retention::default();
        r.full_ms = 0;
        assert!(r.validate().is_err());
    }

    #[test]
    fn a_report_shares_the_blocks_and_decodes_what_it_reads() {
        // 3,000 one-second rows (six blocks and an open row) of two metrics, one of them
        // only now and then.
        let mut store = TierStore::new(TierSpec {
            step_ms: 1000,
            span_ms: u64::MAX,
        });
        for i in 0..3_000_500u64 / 1000 {
            store.add(i * 1000, |aggs| {
                let rec = |aggs: &mut BTreeMap<String, (f64, Agg)>, name: &str, q| {
                    let (_, agg) = aggs
                        .entry(String::from(name))
                        .or_insert((100.0, Agg::default()));
                    agg.record(q);
                };
                rec(aggs, "a", (i * 37 % 1000) as i64);
                if i % 7 == 0 {
                    rec(aggs, "b", i as i64);
                }
            });
        }
        let shared = store.to_rollup();
        assert!(matches!(shared.data, Data::Blocks(_)));
        let rows = shared.rows().into_owned();
        let held = Rollup::new(1000, u64::MAX, rows.clone());
        assert_eq!(shared, held);
        assert_eq!(
            (shared.len(), shared.first_t_ms()),
            (rows.t_ms.len(), Some(0))
        );
        assert_eq!(rows.t_ms.len(), 3_000);
        // A tail from anywhere (block edges, inside a block, the open row, past the end)
        // is the same decoded from the blocks as cut from the rows.
        for from in [
            0, 1, 511_000, 512_000, 513_500, 2_047_000, 2_999_000, 5_000_000,
        ] {
            assert_eq!(shared.tail(from), held.tail(from), "tail from {from}");
        }
        // Appending after a report copies the open block; the report keeps what it saw.
        store.add(3_000_000, |aggs| {
            aggs.entry(String::from("a"))
                .or_insert((100.0, Agg::default()))
                .1
                .record(1);
        });
        assert_eq!(shared.rows().t_ms.len(), 3_000);
        assert_eq!(store.to_rollup().len(), 3_001);
        // JSON holds the rows either way.
        let json = serde_json::to_string(&shared).unwrap();
        assert_eq!(json, serde_json::to_string(&held).unwrap());
        let back: Rollup = serde_json::from_str(&json).unwrap();
        assert!(matches!(back.data, Data::Rows(_)) && back == shared);
    }

    #[test]
    fn rollup_histograms_are_written_flat_and_read_in_both_forms() {
        let mut store = TierStore::new(TierSpec {
            step_ms: 1000,
            span_ms: u64::MAX,
        });
        for i in 0..2000u64 {
            store.add(i * 100, |aggs| {
                let (_, agg) = aggs
                    .entry(String::from("m"))
                    .or_insert((100.0, Agg::default()));
                agg.record(((i * 7919) % 5000) as i64);
            });
        }
        let rollup = store.to_rollup();
        assert_eq!(rollup.rows().t_ms.len(), 200);
        let col = &rollup.rows().metrics["m"];
        assert!(col.histogram.iter().all(|row| row.len() > 1));
        let flat = serde_json::to_string(&rollup).unwrap();
        // No pairs in the flat form (every row is a list of numbers), and it reads back to
        // the same rows.
        let value: serde_json::Value = serde_json::from_str(&flat).unwrap();
        let written = value["metrics"]["m"]["histogram"].as_array().unwrap();
        assert_eq!(written.len(), col.histogram.len());
        for row in written {
            let row = row.as_array().unwrap();
            assert!(
                row.len() % 2 == 0 && row.iter().all(|x| x.is_u64()),
                "{row:?}"
            );
        }
        let back: Rollup = serde_json::from_str(&flat).unwrap();
        assert_eq!(back, rollup);
        // The older form, [bucket, count] pairs, reads to the same rows as well.
        let rows: Vec<String> = col
            .histogram
            .iter()
            .map(|row| serde_json::to_string(row).unwrap())
            .collect();
        let mut old: serde_json::Value = serde_json::from_str(&flat).unwrap();
        old["metrics"]["m"]["histogram"] =
            serde_json::from_str(&format!("[{}]", rows.join(","))).unwrap();
        let back: Rollup = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(back, rollup);
        // Malformed rows are errors that say what is wrong.
        for (bad, says) in [
            ("[[1, 2, 3]]", "length"),
            ("[[1, 2], 3]", "mixes"),
            ("[1, 2, 3]", "odd"),
        ] {
            let mut v = old.clone();
            v["metrics"]["m"]["histogram"] = serde_json::from_str(&format!("[{bad}]")).unwrap();
            let e = serde_json::from_value::<Rollup>(v).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
