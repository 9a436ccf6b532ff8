"""bench/requests_row.py: the Python requests row of the sequential table.

    /usr/bin/python3 bench/requests_row.py BASE_URL COUNT [CA_FILE]

One requests.Session (a keep-alive pool), the same GET as every other row,
.json() on each answer. Prints the mean microseconds per call after a
warm-up that is not counted.
"""
import sys
import time

import requests

ID = "3f2a9c4e-1b7d-4e0a-9c1f-2d8e5b6ae91c"


def main():
    base, count = sys.argv[1], int(sys.argv[2])
    verify = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else True
    url = "%s/v4/crawl/%s/status" % (base, ID)
    s = requests.Session()
    s.headers["x-api-key"] = "bench-key"

    def call():
        r = s.get(url, verify=verify)
        r.raise_for_status()
        return r.json()

    for _ in range(max(5, count // 10)):
        assert call()["sessionId"] == ID
    t0 = time.perf_counter()
    for _ in range(count):
        call()
    print("%.3f" % ((time.perf_counter() - t0) * 1e6 / count))


if __name__ == "__main__":
    main()
