#!/usr/bin/env python3
"""Where two callgrind runs differ, per request, grouped by part.

    callgrind-groups.py A.out B.out REQUESTS [-v]

prints, for each part of the code (the regexes below), the self cost of
A minus that of B divided by REQUESTS, largest first; -v lists each
part's six largest functions. The runs are the `floor` example's
(benches/examples/floor.rs), e.g. the transport and reqwest used
directly; see BENCHMARKS.md ("What the reqwest transport's cost over
reqwest buys").
"""
import re
import subprocess
import sys

GROUPS = [
    ("memcpy", r"memmove|memcpy"),
    ("allocation", r"malloc|free|realloc|arena"),
    ("read timeout", r"TimerCache|TakenTimer|ReusableTimer|tokio::time|runtime::time|Timespec|Instant|timer"),
    ("slot", r"Slot|semaphore|Semaphore"),
    ("prepare", r"prepare|origin::|credentials|userinfo|proxy_for|check_unix|for_request|SharedEvents|CaptureConnection"),
    ("head", r"accept_head|HeadLimits|check_response_head|Connections|observe|RawTable|hashbrown"),
    ("body", r"[Bb]ody|poll_frame|chunk|Frame"),
    ("uri", r"Uri|PathAndQuery|Authority|Scheme|url::|Url|url_text"),
    ("request build", r"request::Builder|Subject::call|Client::request"),
    ("headers", r"HeaderMap|header::|Bucket"),
    ("state machine", r"httpswap|Either|MapErr|Drive"),
]


def self_costs(path):
    out = subprocess.run(
        ["callgrind_annotate", "--threshold=100", path],
        capture_output=True, text=True, check=True,
    ).stdout
    costs = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(.*?) \[", line)
        if m and "PROGRAM TOTALS" not in line:
            name = m.group(2)
            costs[name] = costs.get(name, 0) + int(m.group(1).replace(",", ""))
    return costs


def main():
    a, b, n = self_costs(sys.argv[1]), self_costs(sys.argv[2]), int(sys.argv[3])
    verbose = "-v" in sys.argv[4:]
    totals, items = {}, {}
    for name in set(a) | set(b):
        d = a.get(name, 0) - b.get(name, 0)
        group = next((g for g, p in GROUPS if re.search(p, name)), "other")
        totals[group] = totals.get(group, 0) + d
        items.setdefault(group, []).append((d, name))
    for group, total in sorted(totals.items(), key=lambda x: -x[1]):
        print(f"{total / n:8.0f} {group}")
        if verbose:
            for d, name in sorted(items[group], reverse=True)[:6]:
                print(f"        {d / n:6.0f} {name[:110]}")
    print(f"{(sum(a.values()) - sum(b.values())) / n:8.0f} total")


if __name__ == "__main__":
    main()
