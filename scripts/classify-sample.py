#!/usr/bin/env python3
"""Draws a seeded random sample of autonomous systems from the whole AS table, for labelling by hand.

The classifier is measured on networks nobody picked: this script draws them from `@ip-location-db/asn`
(fetched by scripts/fetch-asn-data.sh), in two samples:

- **by size**: the same number of ASes from each IPv4 size stratum (256-4,095 addresses, 4,096-65,535,
  65,536 and more), so small and large networks are both well measured;
- **by addresses**: ASes drawn with probability proportional to their IPv4 addresses, without replacement
  (Efraimidis-Spirakis keys), which is how visitors arrive; the plain accuracy on this sample estimates the
  address-weighted accuracy.

Each drawn AS gets a half (`dev` or `test`) at random. ASes already in an evaluation file (the hand-picked
fixtures, an earlier sample) are left out with `--exclude`, so a fresh test half can be drawn after its
misses have been read. The sheet has what a labeller may look at (the name as the data spells it, the
countries its ranges are placed in, its size) and nothing the rules answer.

    scripts/fetch-asn-data.sh
    python3 scripts/classify-sample.py --seed 20261206 --per-stratum 540 --by-addresses 400 \\
        --exclude fixtures/classify-eval.csv --exclude fixtures/classify-holdout.csv > sheet.csv

Output columns: asn,name,countries,v4_addresses,v4_ranges,v6_ranges,sample,stratum,half. Only the standard
library is used, so the same seed draws the same sample on any machine with the same data.
"""

import argparse
import csv
import heapq
import ipaddress
import math
import os
import random
import sys
from collections import Counter, defaultdict

STRATA = [("small", 256, 4096), ("medium", 4096, 65536), ("large", 65536, 1 << 40)]


def read_asn(path, v4):
    """Yields (start, end, asn, name) of an `@ip-location-db/asn` CSV."""
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            if len(row) < 4 or not row[2].isdigit():
                continue
            if v4:
                yield int(ipaddress.IPv4Address(row[0])), int(ipaddress.IPv4Address(row[1])), int(row[2]), row[3]
            else:
                yield None, None, int(row[2]), row[3]


def countries_by_asn(asn_rows, country_path):
    """The countries each AS's IPv4 addresses are placed in, by addresses, from the country ranges."""
    ranges = []
    with open(country_path, newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            if len(row) >= 3:
                ranges.append((int(ipaddress.IPv4Address(row[0])), int(ipaddress.IPv4Address(row[1])), row[2]))
    ranges.sort()
    out = defaultdict(Counter)
    i = 0
    for start, end, asn, _ in sorted(asn_rows):
        while i < len(ranges) and ranges[i][1] < start:
            i += 1
        j = i
        while j < len(ranges) and ranges[j][0] <= end:
            lo, hi = max(start, ranges[j][0]), min(end, ranges[j][1])
            if lo <= hi:
                out[asn][ranges[j][2]] += hi - lo + 1
            j += 1
    return out


def excluded(paths):
    asns = set()
    for path in paths:
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                asns.add(int(row["asn"]))
    return asns


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cache = os.environ.get("VTRACK_DATA_CACHE", os.path.join(root, ".cache", "ip-location-db"))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, required=True, help="the draw's seed; the same seed draws the same sample")
    p.add_argument("--per-stratum", type=int, default=540, help="ASes drawn from each size stratum")
    p.add_argument("--by-addresses", type=int, default=400, help="ASes drawn in proportion to their addresses")
    p.add_argument("--exclude", action="append", default=[], help="a CSV with an `asn` column to leave out")
    p.add_argument("--asn-dir", default=os.path.join(cache, "asn"))
    p.add_argument("--country-dir", default=os.path.join(cache, "country"))
    args = p.parse_args()

    v4_rows = list(read_asn(os.path.join(args.asn_dir, "asn-ipv4.csv"), True))
    names, addresses, v4_ranges, v6_ranges = {}, Counter(), Counter(), Counter()
    for start, end, asn, name in v4_rows:
        names.setdefault(asn, name)
        addresses[asn] += end - start + 1
        v4_ranges[asn] += 1
    for _, _, asn, name in read_asn(os.path.join(args.asn_dir, "asn-ipv6.csv"), False):
        names.setdefault(asn, name)
        v6_ranges[asn] += 1
    countries = countries_by_asn(v4_rows, os.path.join(args.country_dir, "geo-whois-asn-country-ipv4.csv"))
    skip = excluded(args.exclude)

    rng = random.Random(args.seed)
    drawn = []  # (asn, sample, stratum)
    for stratum, lo, hi in STRATA:
        pool = sorted(a for a, n in addresses.items() if lo <= n < hi and a not in skip)
        for asn in rng.sample(pool, min(args.per_stratum, len(pool))):
            drawn.append((asn, "size", stratum))
    taken = {a for a, _, _ in drawn} | skip
    # Weighted without replacement: the largest keys u^(1/w), computed as log(u)/w.
    keyed = ((math.log(rng.random() or 1e-300) / n, a) for a, n in sorted(addresses.items()) if a not in taken)
    for _, asn in heapq.nlargest(args.by_addresses, keyed):
        stratum = next(s for s, lo, hi in STRATA if addresses[asn] < hi) if addresses[asn] >= 256 else "tiny"
        drawn.append((asn, "addresses", stratum))

    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["asn", "name", "countries", "v4_addresses", "v4_ranges", "v6_ranges", "sample", "stratum", "half"])
    for asn, sample, stratum in drawn:
        total = sum(countries[asn].values()) or 1
        places = " ".join(f"{c}:{100 * n // total}%" for c, n in countries[asn].most_common(4))
        half = rng.choice(["dev", "test"])
        out.writerow([asn, names[asn], places, addresses[asn], v4_ranges[asn], v6_ranges[asn], sample, stratum, half])


if __name__ == "__main__":
    main()
