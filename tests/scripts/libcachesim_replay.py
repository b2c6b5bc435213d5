#!/usr/bin/env python3
"""Replays plain-text cache traces through libCacheSim's policies; prints hit counts as JSON.

Used by `cargo run --release -p perfopt-tests --example cache_hit_ratio`, which writes every
trace of its table as a plain-text file (one u64 key a line) and merges the counts printed
here into the same table. Each request is a get-or-insert of an object of size 1, so a
cache size counts objects, as in the Rust caches.

    python3 tests/scripts/libcachesim_replay.py TRACE.txt:CAP[,CAP...] [TRACE.txt:CAP...]

Output (stdout): {"TRACE.txt": {"CAP": {"ARC": hits, ...}, ...}, ...}, hits counted over all
requests (cold misses included), as the Rust side counts them.
Needs `pip install libcachesim` (0.3.x); exits 2 with a one-line message if it is missing.
"""

import json
import sys

# Display name -> libCacheSim class and keyword arguments (libCacheSim's defaults).
POLICIES = {
    "ARC": ("ARC", {}),
    "LIRS": ("LIRS", {}),
    "S3-FIFO": ("S3FIFO", {}),
    "SIEVE": ("Sieve", {}),
    "W-TinyLFU": ("WTinyLFU", {}),
    "2Q": ("TwoQ", {}),
}


def main(argv):
    try:
        import libcachesim as lcs
    except ImportError as e:
        print(f"libcachesim_replay: cannot import libcachesim ({e}); run `pip install libcachesim`", file=sys.stderr)
        return 2
    jobs = []
    for arg in argv:
        path, sep, caps = arg.rpartition(":")
        if not sep or not path:
            print(f"libcachesim_replay: bad argument {arg!r}: expected TRACE.txt:CAP[,CAP...]", file=sys.stderr)
            return 2
        try:
            jobs.append((path, [int(c) for c in caps.split(",")]))
        except ValueError:
            print(f"libcachesim_replay: bad capacity list in {arg!r}: expected integers", file=sys.stderr)
            return 2
    params = lcs.ReaderInitParam(obj_id_is_num=True, obj_id_is_num_set=True, ignore_obj_size=True)
    out = {}
    for path, caps in jobs:
        per_cap = out.setdefault(path, {})
        for cap in caps:
            row = per_cap.setdefault(str(cap), {})
            for name, (cls, kwargs) in POLICIES.items():
                kwargs = dict(kwargs)
                if cls == "WTinyLFU":
                    # libCacheSim sizes the window as int(cap * window_size): below 100
                    # objects its 1 % default window is empty and the cache never hits.
                    kwargs["window_size"] = max(0.01, 1.0 / cap)
                reader = lcs.TraceReader(path, lcs.TraceType.PLAIN_TXT_TRACE, params)
                requests = reader.get_num_of_req()
                cache = getattr(lcs, cls)(cache_size=cap, **kwargs)
                miss_ratio, _ = cache.process_trace(reader)
                row[name] = round((1.0 - miss_ratio) * requests)
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
