//! `WasmCache` in headless Chromium: hits and misses, TTL expiry (default and per entry),
//! the timer contract, statistics as a plain object, and bad settings refused by name.
//!
//! ```text
//! cargo test -p perfopt-web --target wasm32-unknown-unknown --tests
//! ```
#![cfg(target_arch = "wasm32")]

use js_sys::Reflect;
use perfopt_web::WasmCache;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// `obj[key]` as a number (NaN when missing).
fn num(obj: &JsValue, path: &[&str]) -> f64 {
    let mut v = obj.clone();
    for key in path {
        v = Reflect::get(&v, &JsValue::from_str(key)).expect("an object");
    }
    v.as_f64().unwrap_or(f64::NAN)
}

fn message(err: wasm_bindgen::JsError) -> String {
    let value: JsValue = err.into();
    value
        .dyn_into::<js_sys::Error>()
        .expect("a JS Error")
        .message()
        .into()
}

#[wasm_bindgen_test]
fn hits_misses_and_stats_as_a_plain_object() {
    let mut cache = WasmCache::new(100.0, Some(20.0), None).unwrap();
    let t = Some(1_000.0);
    assert!(cache.get("a", t).unwrap().is_undefined()); // miss
    assert!(
        cache
            .insert("a".into(), JsValue::from(1), t)
            .unwrap()
            .is_undefined()
    );
    assert_eq!(cache.get("a", t).unwrap().as_f64(), Some(1.0)); // hit (L2, promoted)
    assert_eq!(cache.get("a", t).unwrap().as_f64(), Some(1.0)); // hit (L1)
    // Any JS value, held by reference.
    let obj = js_sys::Object::new();
    cache.insert("o".into(), obj.clone().into(), t).unwrap();
    assert!(Object_is(&cache.peek("o", t).unwrap(), &obj));
    let old = cache.insert("a".into(), JsValue::from("two"), t).unwrap();
    assert_eq!(old.as_f64(), Some(1.0));
    assert_eq!(cache.len(), 2);
    assert!(!cache.is_empty());

    let stats = cache.stats().unwrap();
    assert!(stats.is_object());
    assert_eq!(num(&stats, &["hits"]), 2.0);
    assert_eq!(num(&stats, &["misses"]), 1.0);
    assert_eq!(num(&stats, &["lookups"]), 3.0);
    assert!((num(&stats, &["hit_rate"]) - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(num(&stats, &["capacity"]), 100.0);
    assert_eq!(num(&stats, &["l1_capacity"]), 20.0);
    // A lookup asks L1, then L2: the tiers' counters add up to the totals.
    assert_eq!(
        num(&stats, &["l1", "hits"]) + num(&stats, &["l1", "misses"]),
        3.0
    );
    assert_eq!(
        num(&stats, &["l2", "hits"]) + num(&stats, &["l2", "misses"]),
        num(&stats, &["l1", "misses"])
    );
    assert_eq!(num(&stats, &["l2", "inserts"]), 2.0);
    assert_eq!(
        num(&stats, &["l2", "updates"]) + num(&stats, &["l1", "updates"]),
        1.0
    );
    assert_eq!(
        num(&stats, &["l1", "len"]) + num(&stats, &["l2", "len"]),
        2.0
    );
    // It is plain data: JSON round-trips it.
    let text = js_sys::JSON::stringify(&stats).unwrap();
    assert!(String::from(text).contains("\"l1\":{"));

    assert_eq!(cache.remove("a").as_string().as_deref(), Some("two"));
    assert!(cache.remove("a").is_undefined());
    cache.clear();
    assert_eq!(cache.len(), 0);
    assert!(cache.get("o", t).unwrap().is_undefined());
}

#[wasm_bindgen_test]
fn entries_expire_at_their_ttl() {
    // Default TTL 1 s; "long" gets its own 10 s.
    let mut cache = WasmCache::new(10.0, None, Some(1_000.0)).unwrap();
    let t0 = 5_000.0;
    cache
        .insert("short".into(), JsValue::from(1), Some(t0))
        .unwrap();
    cache
        .insert_with_ttl("long".into(), JsValue::from(2), 10_000.0, Some(t0))
        .unwrap();
    assert_eq!(
        cache.get("short", Some(t0 + 999.0)).unwrap().as_f64(),
        Some(1.0)
    );
    assert!(
        cache
            .get("short", Some(t0 + 1_000.0))
            .unwrap()
            .is_undefined()
    );
    assert_eq!(
        cache.get("long", Some(t0 + 9_999.0)).unwrap().as_f64(),
        Some(2.0)
    );

    // Driven as a host would: sleep until pollTimeout, then handleTimeout.
    let horizon = t0 + 10_002.0;
    for _ in 0..64 {
        let Some(wake) = cache.poll_timeout() else {
            break;
        };
        assert!(
            wake <= t0 + 10_000.0 + 1.0,
            "woken no later than ~1 ms past a deadline"
        );
        if wake > horizon {
            break;
        }
        cache.handle_timeout(Some(wake)).unwrap();
    }
    assert_eq!(cache.len(), 0);
    assert_eq!(cache.poll_timeout(), None);
    let stats = cache.stats().unwrap();
    assert_eq!(
        num(&stats, &["l1", "expirations"]) + num(&stats, &["l2", "expirations"]),
        2.0
    );
    assert_eq!(num(&stats, &["misses"]), 1.0);
}

#[wasm_bindgen_test]
fn the_clock_is_date_now_when_no_time_is_given() {
    let mut cache = WasmCache::new(10.0, None, Some(60_000.0)).unwrap();
    cache.insert("k".into(), JsValue::from(7), None).unwrap();
    assert_eq!(cache.get("k", None).unwrap().as_f64(), Some(7.0));
    // Same scale as Date.now(): a minute later by the caller's clock, it is gone.
    let later = js_sys::Date::now() + 61_000.0;
    assert!(cache.get("k", Some(later)).unwrap().is_undefined());
}

#[wasm_bindgen_test]
fn bad_settings_and_times_are_refused_with_a_named_error() {
    let e = |r: Result<WasmCache, wasm_bindgen::JsError>| message(r.err().expect("an error"));
    assert!(e(WasmCache::new(0.0, None, None)).contains("capacity must be at least 1"));
    assert!(e(WasmCache::new(2.5, None, None)).starts_with("capacity:"));
    assert!(e(WasmCache::new(10.0, Some(10.0), None)).contains("l1_capacity (10)"));
    assert!(e(WasmCache::new(10.0, None, Some(0.0))).contains("longer than zero"));
    assert!(e(WasmCache::new(10.0, None, Some(f64::NAN))).starts_with("ttl_ms:"));

    let mut cache = WasmCache::new(10.0, None, None).unwrap();
    let err = message(cache.get("k", Some(-1.0)).unwrap_err());
    assert!(err.starts_with("now_ms:"), "{err}");
    let err = message(
        cache
            .insert_with_ttl("k".into(), JsValue::NULL, 0.0, Some(1.0))
            .unwrap_err(),
    );
    assert!(err.contains("longer than zero"), "{err}");
    assert_eq!(cache.len(), 0, "a refused insert changes nothing");
}

#[allow(non_snake_case)]
fn Object_is(a: &JsValue, b: &js_sys::Object) -> bool {
    js_sys::Object::is(a, b)
}
