"""The CDNOW sample's transaction log as churnwatch order events (JSON lines).

Usage: events.py CDNOW_sample.txt > events.jsonl

Each row (master id, sample id 1..2357, YYYYMMDD, CDs, dollars) becomes one order of
member `c<sample id>` at midnight UTC of its day, moved forward by SHIFT_DAYS: the engine
holds order instants from 2000 on, and 28 years later every date falls on the same
weekday and day of the year (no 29 February in either range). Rows are written in time
order (the file is sorted by customer), as a producer would have sent them; several rows
of one customer on one day stay several orders, and the engine counts them as one
purchase day, as lifetimes does.
"""

import datetime
import sys

SHIFT_DAYS = 10227  # 1997-01-01 -> 2025-01-01
EPOCH = datetime.date(1970, 1, 1)


def main(path):
    rows = []
    with open(path) as f:
        for n, line in enumerate(f):
            fields = line.split()
            if not fields:
                continue
            _, sample_id, date, _cds, dollars = fields
            day = datetime.datetime.strptime(date, "%Y%m%d").date()
            day += datetime.timedelta(days=SHIFT_DAYS)
            rows.append((day, n, sample_id, dollars))
    rows.sort()
    out = sys.stdout
    for day, n, sample_id, dollars in rows:
        ms = (day - EPOCH).days * 86_400_000
        amount = "%.2f" % float(dollars)
        out.write(
            '{"event_id":"cdnow-%d","member_id":"c%s","ts":%d,"type":"order",'
            '"order_id":"o%d","amount":"%s","category":"other"}\n'
            % (n, sample_id, ms, n, amount)
        )


if __name__ == "__main__":
    main(sys.argv[1])
