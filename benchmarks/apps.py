#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""apps.py WORKLOAD ARG...: the Python halves of make bench's apps scenario.

Each workload builds its data, prints "ready" and waits for one line on
stdin (bench-guest.sh surveys the memory meanwhile), then runs its timed
phase and prints key=value lines:

  memcached SOCKET N  a client: fills the server at the unix socket
                      SOCKET with N keys of 64-byte values, N/4 of 1 KiB and
                      N/32 of 16 KiB, then sends N requests, 9 gets to 1 set
  dicts N             builds dicts of N small records and lists of their
                      keys (the heap of a typical Python service), then
                      looks up N random keys and rebuilds one index
  sqlite N            an in-memory SQLite database of N orders over N/16
                      customers with an index, then joins and aggregates

Only the standard library is used. The random sequences are seeded, so
every policy gets the same requests.
"""
import random
import socket
import sqlite3
import sys
import time


def wait_go():
    print("ready", flush=True)
    sys.stdin.readline()


def memcached(path, n):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    f = sock.makefile("rwb")
    rnd = random.Random(1)

    def store(key, value):
        f.write(b"set %s 0 0 %d\r\n%s\r\n" % (key, len(value), value))
        f.flush()
        if f.readline() != b"STORED\r\n":
            raise RuntimeError("memcached: set %r not stored" % key)

    def get(key):
        f.write(b"get %s\r\n" % key)
        f.flush()
        line = f.readline()
        hit = line.startswith(b"VALUE ")
        if hit:
            f.read(int(line.split()[3]) + 2)
            line = f.readline()
        if line != b"END\r\n":
            raise RuntimeError("memcached: bad reply to get %r" % key)
        return hit

    sizes = ((b"s", 64, n), (b"m", 1024, n // 4), (b"l", 16384, n // 32))
    for prefix, size, count in sizes:
        value = b"v" * size
        for i in range(count):
            store(b"%s:%d" % (prefix, i), value)
    wait_go()
    hits = 0
    t0 = time.monotonic()
    for _ in range(n):
        prefix, size, count = sizes[rnd.randrange(3)]
        key = b"%s:%d" % (prefix, rnd.randrange(count))
        if rnd.randrange(10):
            hits += get(key)
        else:
            store(key, b"w" * size)
    dt = time.monotonic() - t0
    print("ops_per_s=%.1f" % (n / dt))
    print("hits=%d" % hits)


def dicts(n):
    rnd = random.Random(2)
    records = {}
    for i in range(n):
        key = "user:%08d" % rnd.randrange(1 << 30)
        records[key] = {"id": i, "name": "name-%d" % i,
                        "score": rnd.random(), "tags": ["a", "b", str(i % 97)]}
    keys = list(records)
    wait_go()
    t0 = time.monotonic()
    found = 0
    for _ in range(n):
        found += records.get(keys[rnd.randrange(len(keys))]) is not None
    by_score = sorted(keys, key=lambda k: records[k]["score"])
    dt = time.monotonic() - t0
    print("ops_per_s=%.1f" % (n / dt))
    print("found=%d" % found)
    print("first=%s" % by_score[0])


def sqlite(n):
    rnd = random.Random(3)
    db = sqlite3.connect(":memory:")
    db.execute("PRAGMA cache_size = -262144")
    db.execute("CREATE TABLE customer (id INTEGER PRIMARY KEY, region TEXT)")
    db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER,"
               " amount REAL, note TEXT)")
    ncust = max(n // 16, 1)
    db.executemany("INSERT INTO customer VALUES (?, ?)",
                   ((i, "r%d" % (i % 13)) for i in range(ncust)))
    db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)",
                   ((i, rnd.randrange(ncust), rnd.random() * 100, "x" * rnd.randrange(200))
                    for i in range(n)))
    db.execute("CREATE INDEX orders_customer ON orders (customer)")
    db.commit()
    wait_go()
    queries = 0
    t0 = time.monotonic()
    for _ in range(5):
        db.execute("SELECT c.region, count(*), sum(o.amount) FROM orders o"
                   " JOIN customer c ON c.id = o.customer GROUP BY c.region").fetchall()
        queries += 1
    for _ in range(2000):
        db.execute("SELECT sum(amount) FROM orders WHERE customer = ?",
                   (rnd.randrange(ncust),)).fetchone()
        queries += 1
    dt = time.monotonic() - t0
    print("queries_per_s=%.1f" % (queries / dt))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    work = sys.argv[1]
    if work == "memcached" and len(sys.argv) == 4:
        memcached(sys.argv[2], int(sys.argv[3]))
    elif work == "dicts":
        dicts(int(sys.argv[2]))
    elif work == "sqlite":
        sqlite(int(sys.argv[2]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
