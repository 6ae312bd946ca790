#!/usr/bin/env python3
"""Writes scenario.jsonl (the INPUT only; expected.jsonl is hand-written, see DERIVATION.md).
Each member lives in its own hour of the day (UTC) so no two members' instants collide."""
import json
from datetime import datetime, timedelta, timezone

UTC = timezone.utc
CAT = ["apparel_bags", "fresh_food", "home", "nutrition", "skincare", "cosmetics", "personal_care", "mother_baby"]
lines = []  # (utc datetime, seq, dict)
seq = 0

def at(y, m, d, hh, mm=0, ss=0, ms=0):
    return datetime(y, m, d, hh, mm, ss, ms * 1000, tzinfo=UTC)

def fmt(t, offset_hours=0):
    tz = timezone(timedelta(hours=offset_hours))
    s = t.astimezone(tz).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}"
    return s + ("Z" if offset_hours == 0 else "+%02d:00" % offset_hours)

def add(t, member, typ, eid, off=0, **extra):
    global seq
    obj = {"event_id": eid, "member_id": member, "ts": fmt(t, off), "type": typ}
    obj.update(extra)
    lines.append((t, seq, obj))
    seq += 1

def order(t, member, oid, amount, cat, off=0, eid=None):
    add(t, member, "order", eid or f"e-{oid}", off, order_id=oid, amount=amount, category=cat)

def profile(t, member, group, tutor, tier, joined, off=0):
    add(t, member, "member", f"e-{member}-profile", off, group_id=group, tutor_id=tutor,
        fee_tier=tier, joined_at=joined)

def login(t, member, n, off=0):
    add(t, member, "login", f"e-{member}-login{n}", off, channel="mini_program")

def every(start, days, count):
    return [start + timedelta(days=days * k) for k in range(count)]

# ---- G1 (tutor T1, tier 399, all joined in 2024 => tenure month 13+, benchmark 40) ----
# B: 600 on Jan 1 (important_development), decays into decline, recall 1 and 2,
#    then reorders 110 every 9 days from Feb 4 (important_retain, stable).
order(at(2026, 1, 1, 11), "B", "b1", "600.00", "mother_baby")
lines.append((at(2026, 1, 1, 11), seq, dict(lines[-1][2]))); seq += 1   # exact duplicate line
profile(at(2026, 1, 1, 11, 0, 30), "B", "G1", "T1", "399", "2024-04-15T11:00:00Z")
for k, t in enumerate(every(at(2026, 2, 4, 11), 9, 10)):
    order(t, "B", f"b{k + 2}", "110.00", CAT[k % 8])
order(at(2026, 2, 20, 11, 10), "B", "b2", "900.00", "nutrition", eid="e-b2-redelivered")  # dup order_id
for n, t in enumerate([at(2026, 1, 25, 11, 30), at(2026, 2, 20, 11, 30), at(2026, 3, 18, 11, 30), at(2026, 4, 12, 11, 30)]):
    login(t, "B", n + 1)

# C: whale, 1000 on Jan 1 then 250 every 4 days (important_value throughout);
#    an after-sales ticket resolved within 24 h.
order(at(2026, 1, 1, 12), "C", "c00", "1000.00", "skincare")
profile(at(2026, 1, 1, 12, 0, 30), "C", "G1", "T1", "399", "2024-02-01T12:00:00Z")
for k, t in enumerate(every(at(2026, 1, 5, 12), 4, 29)):
    order(t, "C", f"c{k + 1:02d}", "250.00", CAT[(k + 3) % 8])
add(at(2026, 3, 3, 12, 15), "C", "after_sales", "e-C-tk1-open", ticket_id="tk-c1", order_id="c15",
    status="opened", reason="wrong_item")
add(at(2026, 3, 4, 12, 15), "C", "after_sales", "e-C-tk1-resolved", ticket_id="tk-c1", order_id="c15",
    status="resolved", reason="wrong_item", refund_amount="250.00")
for n, t in enumerate([at(2026, 1, 20, 12, 30), at(2026, 2, 15, 12, 30), at(2026, 3, 12, 12, 30), at(2026, 4, 6, 12, 30)]):
    login(t, "C", n + 1)

# D: one order of 80 on Jan 1 (general_development), never again; login lapse subject.
order(at(2026, 1, 1, 13), "D", "d1", "80.00", "fresh_food")
profile(at(2026, 1, 1, 13, 0, 30), "D", "G1", "T1", "399", "2024-05-20T13:00:00Z")
login(at(2026, 1, 8, 13, 0, 0, 1), "D", 1, off=8)
login(at(2026, 3, 20, 13, 30), "D", 2)

# A: important_value (1200 on Jan 2), never orders again; ticket overdue.
order(at(2026, 1, 2, 10), "A", "a1", "1200.00", "nutrition", off=8)
profile(at(2026, 1, 2, 10, 0, 30), "A", "G1", "T1", "399", "2024-03-10T18:00:00+08:00")
add(at(2026, 1, 3, 10), "A", "after_sales", "e-A-tk1-open", ticket_id="tk-a1", order_id="a1",
    status="opened", reason="damaged_package")
add(at(2026, 1, 6, 10, 15), "A", "after_sales", "e-A-tk1-resolved", ticket_id="tk-a1", order_id="a1",
    status="resolved", reason="damaged_package", refund_amount="120.00")
for n, t in enumerate([at(2026, 1, 20, 10, 30), at(2026, 2, 15, 10, 30), at(2026, 3, 12, 10, 30), at(2026, 4, 6, 10, 30)]):
    login(t, "A", n + 1)

# E: one order of 50 on Jan 2 (general_development), leaves on Feb 5.
order(at(2026, 1, 2, 14), "E", "e1", "50.00", "home")
profile(at(2026, 1, 2, 14, 0, 30), "E", "G1", "T1", "399", "2024-06-05T14:00:00Z")
login(at(2026, 1, 20, 14, 30), "E", 1)
add(at(2026, 2, 5, 14, 30), "E", "member_left", "e-E-left", off=8)

# ---- G2 (tutor T2, tier 199) ----
# F, G: joined 2024, 110 every 9 days all period (important_retain, stable).
order(at(2026, 1, 1, 15), "F", "f01", "110.00", "fresh_food")
profile(at(2026, 1, 1, 15, 0, 30), "F", "G2", "T2", "199", "2024-07-01T15:00:00Z")
for k, t in enumerate(every(at(2026, 1, 10, 15), 9, 13)):
    order(t, "F", f"f{k + 2:02d}", "110.00", CAT[k % 8])
for n, t in enumerate([at(2026, 1, 25, 15, 30), at(2026, 2, 20, 15, 30), at(2026, 3, 18, 15, 30), at(2026, 4, 12, 15, 30)]):
    login(t, "F", n + 1)

order(at(2026, 1, 2, 16), "G", "g01", "110.00", "personal_care")
profile(at(2026, 1, 2, 16, 0, 30), "G", "G2", "T2", "199", "2024-08-01T16:00:00Z")
for k, t in enumerate(every(at(2026, 1, 11, 16), 9, 13)):
    order(t, "G", f"g{k + 2:02d}", "110.00", CAT[(k + 5) % 8])
for n, t in enumerate([at(2026, 1, 26, 16, 30), at(2026, 2, 21, 16, 30), at(2026, 3, 19, 16, 30), at(2026, 4, 13, 16, 30)]):
    login(t, "G", n + 1)

# N1: joins Feb 20 (profile first), first order Feb 25 (no warning), then 110 every 9 days.
profile(at(2026, 2, 20, 17), "N1", "G2", "T2", "199", "2026-02-21T01:00:00+08:00", off=8)
for k, t in enumerate(every(at(2026, 2, 25, 17), 9, 8)):
    order(t, "N1", f"n1-{k + 1}", "110.00", CAT[(k + 2) % 8])
login(at(2026, 3, 10, 17, 30), "N1", 1)
login(at(2026, 4, 5, 17, 30), "N1", 2)

# N2: joins Apr 10, never orders.
profile(at(2026, 4, 10, 18), "N2", "G2", "T2", "199", "2026-04-10T18:00:00Z")

lines.sort(key=lambda x: (x[0], x[1]))
with open(__file__.rsplit("/", 1)[0] + "/scenario.jsonl", "w") as f:
    for _, _, obj in lines:
        f.write(json.dumps(obj, separators=(",", ":")) + "\n")
print(len(lines), "lines")
