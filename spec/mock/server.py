#!/usr/bin/python3
"""Mock Kadoa crawl-status server for the kadoa test suite and `make demo`.

Python 3 standard library only.  Listens on 127.0.0.1 only.

Usage:
    python3 spec/mock/server.py [--port N] [--key KEY] [--verbose] [--die-with-parent]

    --port N            port to listen on; 0 (the default) picks a free port
    --key KEY           the API key to accept (default: test-key)
    --verbose           log each request and every handler error to stderr
    --die-with-parent   exit when the process that started us goes away, or
                        when nobody reads our stdout pipe any more
                        (spec/helpers/mock.lua passes it, so a crashed test run
                        leaves no server behind)

Once listening it prints exactly one line to stdout, "PORT PID", and flushes.
Nothing else ever goes to stdout; stderr stays silent unless --verbose.
SIGTERM and SIGINT end the process at once, even with hanging connections.

HTTP/1.1 with keep-alive; one thread per connection, so connections that hang
or trickle never block the others.

ROUTING
  The only route is   GET /v4/crawl/<segment>/status   with no query string
  (not even a bare "?").  <segment> must be non-empty, contain no "/", and not
  be "." or ".." (dot segments that a real proxy would resolve).  It is
  percent-decoded at the byte level to give the session id; an id that is not
  valid UTF-8 is sent back byte for byte, so any byte string round-trips.
  Anything else, any method other than GET included:
      404 {"error":true,"message":"no such route: <raw path as received>"}
  Route before auth: an unknown route is 404 whatever the key.

AUTH
  Exactly one "x-api-key" header, equal to the key, else
      401 {"error":true,"message":"Unauthorized: invalid or missing API key","details":null}
  Every session id below goes through this check, except "leak-key".

ON EVERY RESPONSE
  x-request-id: echoes the request's x-request-id header when it had one
                (overridden by "request-id", left out by "amzn-request-id").
  Content-Type: application/json on JSON bodies.  Content-Length is always
                set except on a 204 and where a behaviour says "chunked".
  A request that is not valid HTTP gets http.server's own 400 HTML page.
  A request body (any method) is read and ignored.

BEHAVIOURS BY SESSION ID  (<n>, <code>, <ms>, <bytes>, <depth> are decimal
digits; <code> is 200-599; <seconds> may have a fraction, e.g. 1.5; <tag> is
anything)
  (any other id)      200 {"payload":{"crawledPages":14,"finished":true,
                      "activeJobs":0,"waitingJobs":0},"sessionId":<id>,"error":null}

  -- introspection
  echo...             (any id starting with "echo") 200, sessionId = the decoded
                      id, payload {"finished":true,"crawledPages":1,"request":{
                        "method":"GET", "path":<raw path as received>,
                        "query":<raw query or ""> (always "": a query
                        string makes the request a 404),
                        "headers":{<lowercased name>:<value>, ...},
                        "connection":<serial of the TCP connection: 1,2,3...>,
                        "index":<number of this request on that connection: 1,2...>}}
                      Repeated headers are joined with ", ".  The value of
                      x-api-key is replaced by "<ok>" (the key is never echoed).

  -- HTTP errors
  status-<code>       <code> {"error":true,"message":"mock <code>: <reason phrase>",
                      "details":{"code":<code>}}   (204 and 304: no body)
  old-shape-<code>    <code> {"message":"mock old <code>","error":"Old style error"}
  html-<code>         <code>, text/html, a ~3 KB multi-line HTML error page whose
                      title is "<code> <reason phrase>" (html-200 is a 200 page)
  empty-<code>        <code>, empty body, Content-Length: 0, no Content-Type
                      (empty-200 is a 200 with an empty body)
  text-<code>         <code>, text/plain, body "upstream connect error"
  retry-after-<n>     429, Retry-After: <n>, API-shape body
  retry-after-date    429, Retry-After: an HTTP-date 2 s in the future (rounded
                      up to the next whole second, so 2-3 s away), API-shape body
  retry-after-junk    429, Retry-After: "soon-ish" (unparsable), API-shape body
  flaky-<n>-<tag>     503 (API shape) for the first <n> requests of this exact
                      id, then the default 200.  Counted per id, thread-safe,
                      for the life of the server: use a fresh <tag> per test.
                      ("flaky-<n>" without a tag works too.)
  redirect            302, Location: http://127.0.0.1:<port>/v4/crawl/echo/status,
                      small text/plain body
  request-id          500 (API shape) with x-request-id: req-mock-123
  amzn-request-id     500 (API shape) with x-amzn-requestid: amzn-mock-456 and
                      no x-request-id at all
  leak-key            400 {"error":true,"message":"bad key <KEY> for this session",
                      "details":null} where <KEY> is the x-api-key value the
                      server received (empty if none).  NOT subject to auth, so
                      it echoes whatever key the client sent.

  -- 200 bodies
  failed              200 {"payload":{"crawledPages":3,"finished":false},
                      "sessionId":<id>,"error":"Crawl failed: target returned HTTP 500"}
  nulls               200 {"payload":{"a":null,"list":[1,null,3],"nested":{"x":null,
                      "y":1},"empty":{}},"sessionId":<id>,"error":null}
  types               200, payload is exactly this JSON text:
                      {"int":42,"neg":-7,"float":1.5,"big":9007199254740993,
                      "exp":1e300,"unicode":"h\\u00e9llo \\u2713 \\u65e5\\u672c",
                      "emoji":"\\ud83d\\ude00","emptyObj":{},"emptyArr":[],
                      "nested":[[1,2],[]],"bool":false}
  invalid-json        200, body {"payload": {"crawledPages": 14,   (cut short)
  json-array          200 [1,2,3]
  json-string         200 "hello"
  json-null           200 null
  invalid-utf8        200, a JSON object whose payload.note string contains the
                      raw bytes \\xff\\xfe
  nested-<depth>      200 {"payload": + <depth> "[" + <depth> "]" +
                      ,"sessionId":"x","error":null}   (streamed)
  huge-<bytes>        200, Content-Length <bytes>, a valid JSON object of exactly
                      that many bytes ({"payload":{...,"padding":"xxx..."},...});
                      streamed in 64 KiB writes, never built in memory.  Below
                      the minimum size it is "{" + spaces + "}".
  huge-chunked-<bytes>  the same body, Transfer-Encoding: chunked, chunks of at
                      most 64 KiB, no Content-Length
  big-header-<bytes>  the default 200 plus a header "X-Big" whose value is
                      <bytes> bytes of "x"
  gzip                the default 200; gzip-compressed with Content-Encoding:
                      gzip only if the request's Accept-Encoding mentions gzip,
                      plain otherwise.  Always "Vary: Accept-Encoding".
  gzip-corrupt        200, Content-Encoding: gzip, a gzip header followed by
                      garbage bytes (whatever the request's Accept-Encoding)

  -- faults
  truncated           200 headers with Content-Length: 1000, 50 bytes of body,
                      then the connection is closed (FIN)
  reset               the request is read, then the connection is reset (RST:
                      SO_LINGER on with a 0 timeout) before anything is sent
  reset-mid-body      200 headers with Content-Length: 1000, 100 bytes of body,
                      a 50 ms pause, then RST
  chunked-cut         200, Transfer-Encoding: chunked, one chunk holding the whole
                      default JSON body, then close (FIN) with no final 0-chunk
  hang                the request is read and never answered; the thread ends
                      when the client goes away (or the server stops)
  slow-<ms>           the default 200 after <ms> milliseconds (nothing is sent
                      if the client gives up first)
  trickle             200 headers with Content-Length: 100000, then one body byte
                      every 100 ms until the client disconnects

  -- scripted crawls (for `wait` and `make demo`).  State is per exact id and
  -- starts at that id's first (authorised) request; add a -<tag> to get a
  -- fresh crawl: demo-finishing-2-test7.
  demo-finishing, demo-finishing-<seconds>[-<tag>]     (T = 10 s by default)
                      until T: finished:false, crawledPages grows in 10 steps
                      (0,5,9,14,19,24,28,33,38,42: polls within one step see no
                      change), activeJobs 1-3 and waitingJobs shrinking to 0;
                      from T on: {"crawledPages":47,"finished":true,
                      "activeJobs":0,"waitingJobs":0}, error null
  demo-failing, demo-failing-<seconds>[-<tag>]         (T = 6 s by default)
                      grows the same way (up to 27 pages); from T on: 200 with
                      payload {"crawledPages":27,"finished":false,"activeJobs":0,
                      "waitingJobs":0} and error "Crawl failed: target site
                      blocked the crawler"
  demo-slow, demo-slow-<ms>[-<tag>]                    (3000 ms by default)
                      the default 200, each answer delayed by that long
"""

import argparse
import email.utils
import gzip
import json
import math
import os
import re
import select
import signal
import socket
import socketserver
import stat
import struct
import sys
import threading
import time
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

JSON = "application/json"
BLOCK = 64 * 1024
VERBOSE = False

ROUTE = re.compile(rb"/v4/crawl/([^/]+)/status")


def log(fmt, *args):
    if VERBOSE:
        sys.stderr.write("mock: " + (fmt % args) + "\n")
        sys.stderr.flush()


# ---------------------------------------------------------------- encoding
# Session ids and header values are str holding arbitrary bytes thanks to
# surrogateescape; encoding with it again gives the original bytes back.

def b2s(b):
    return b.decode("utf-8", "surrogateescape")


def s2b(s):
    return s.encode("utf-8", "surrogateescape")


def jdump(obj):
    """Compact JSON as bytes; escaped bytes of a str go out raw."""
    return s2b(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))


def header_str(value):
    """http.client hands header values over as latin-1 text: recover bytes."""
    try:
        return b2s(value.encode("latin-1"))
    except UnicodeEncodeError:
        return value


def phrase(code):
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Unknown Status"


def api_error(code, message, details=None):
    return jdump({"error": True, "message": message, "details": details})


def mock_error(code):
    return api_error(code, "mock %d: %s" % (code, phrase(code)), {"code": code})


def default_body(sid):
    return jdump({
        "payload": {"crawledPages": 14, "finished": True, "activeJobs": 0, "waitingJobs": 0},
        "sessionId": sid, "error": None,
    })


def html_page(code):
    title = "%d %s" % (code, phrase(code))
    rows = "\n".join(
        '        <tr><th scope="row">%s</th><td><code>%s</code></td></tr>' % kv
        for kv in [("Status", title), ("Host", "api.kadoa.com"),
                   ("Edge location", "mock-edge-1 (loopback)"),
                   ("Trace", "0f3c9a7e-5d21-4b8e-9e42-7c1d2b3a4f56"),
                   ("Upstream", "crawl-status-service:8080"),
                   ("Time", "Thu, 01 Jan 2026 00:00:00 GMT")])
    return ("""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="robots" content="noindex, nofollow">
  <title>%(title)s</title>
  <style type="text/css">
    html, body { margin: 0; padding: 0; background: #f4f5f7; color: #1f2933; }
    body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; line-height: 1.5; }
    .wrap { max-width: 46rem; margin: 4rem auto; padding: 0 1.5rem; }
    header { border-bottom: 1px solid #d9dde3; margin-bottom: 1.5rem; }
    header .brand { font-weight: 700; letter-spacing: .04em; color: #52606d; }
    h1 { font-size: 2.25rem; margin: .5rem 0 1rem 0; color: #102a43; }
    h2 { font-size: 1.1rem; margin-top: 2rem; color: #334e68; }
    p { margin: 0 0 1rem 0; }
    table { border-collapse: collapse; width: 100%%; font-size: .9rem; }
    th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #e4e7eb; }
    th { width: 30%%; color: #52606d; font-weight: 600; }
    code { font-family: "SFMono-Regular", Consolas, monospace; font-size: .85rem; }
    .hint { background: #fffbea; border-left: 4px solid #f0b429; padding: .75rem 1rem; }
    footer { margin-top: 3rem; font-size: .8rem; color: #7b8794; }
    footer a { color: #486581; }
  </style>
</head>
<body>
  <div class="wrap">
    <header>
      <p class="brand">EDGE GATEWAY</p>
    </header>
    <main>
      <h1>%(title)s</h1>
      <p>The server, while acting as a gateway or proxy, could not complete your
      request. This is usually temporary: the service behind this gateway may be
      restarting, overloaded, or briefly unreachable.</p>
      <div class="hint">
        <p><strong>What can I do?</strong> Wait a few seconds and try again. If the
        problem persists, contact the site owner and quote the trace id below.</p>
      </div>
      <h2>Details</h2>
      <table>
        <tbody>
%(rows)s
        </tbody>
      </table>
      <h2>Why am I seeing this page?</h2>
      <p>This page was generated by the gateway, not by the application you were
      trying to reach. Automated clients should not try to parse it.</p>
      <ul>
        <li>The upstream did not answer within the allotted time, or</li>
        <li>the upstream closed the connection without a valid response, or</li>
        <li>the upstream is being deployed and has no healthy instances.</li>
      </ul>
    </main>
    <footer>
      <p>Served by mock-gateway &middot; <a href="#">Status page</a> &middot;
      <a href="#">Support</a></p>
      <!-- a padding comment, as real gateways send: browsers that see a short
           error page may replace it with their own "friendly" one, so gateways
           make sure the page is comfortably over half a kilobyte long. -->
    </footer>
  </div>
</body>
</html>
""" % {"title": title, "rows": rows}).encode("ascii")


# The payload of "types", written out literally so every number and escape
# is exactly what the client has to cope with.
TYPES_PAYLOAD = (rb'{"int":42,"neg":-7,"float":1.5,"big":9007199254740993,"exp":1e300,'
                 rb'"unicode":"h\u00e9llo \u2713 \u65e5\u672c","emoji":"\ud83d\ude00",'
                 rb'"emptyObj":{},"emptyArr":[],"nested":[[1,2],[]],"bool":false}')


# ---------------------------------------------------------------- per-id state

STATE_LOCK = threading.Lock()
COUNTS = {}        # flaky-*: requests seen per id
FIRST_SEEN = {}    # demo-*: monotonic time of the first request per id


def bump(sid):
    with STATE_LOCK:
        COUNTS[sid] = COUNTS.get(sid, 0) + 1
        return COUNTS[sid]


def first_seen(sid):
    with STATE_LOCK:
        return FIRST_SEEN.setdefault(sid, time.monotonic())


# ---------------------------------------------------------------- behaviours
# Each takes (handler, session id, regex match) and answers the request.

def b_default(h, sid, m):
    h.reply(200, default_body(sid))


def b_echo(h, sid, m):
    headers = {}
    for name, value in h.headers.items():
        name = name.lower()
        value = "<ok>" if name == "x-api-key" else header_str(value)
        headers[name] = headers[name] + ", " + value if name in headers else value
    path, _, query = h.raw_target.partition(b"?")
    h.reply(200, jdump({
        "payload": {"finished": True, "crawledPages": 1, "request": {
            "method": h.command, "path": b2s(path), "query": b2s(query),
            "headers": headers, "connection": h.conn_serial, "index": h.req_index}},
        "sessionId": sid, "error": None}))


def b_status(h, sid, m):
    code = int(m.group(1))
    h.reply(code, b"" if code in (204, 304) else mock_error(code))


def b_old_shape(h, sid, m):
    code = int(m.group(1))
    h.reply(code, jdump({"message": "mock old %d" % code, "error": "Old style error"}))


def b_html(h, sid, m):
    h.reply(int(m.group(1)), html_page(int(m.group(1))), "text/html")


def b_empty(h, sid, m):
    h.reply(int(m.group(1)), b"", None)


def b_text(h, sid, m):
    h.reply(int(m.group(1)), b"upstream connect error", "text/plain")


def b_retry_after(h, sid, m):
    h.reply(429, mock_error(429), headers=[("Retry-After", m.group(1))])


def b_retry_after_date(h, sid, m):
    when = email.utils.formatdate(math.ceil(time.time()) + 2, usegmt=True)
    h.reply(429, mock_error(429), headers=[("Retry-After", when)])


def b_retry_after_junk(h, sid, m):
    h.reply(429, mock_error(429), headers=[("Retry-After", "soon-ish")])


def b_flaky(h, sid, m):
    if bump(sid) <= int(m.group(1)):
        h.reply(503, mock_error(503))
    else:
        b_default(h, sid, m)


def b_redirect(h, sid, m):
    where = "http://127.0.0.1:%d/v4/crawl/echo/status" % h.server.server_address[1]
    h.reply(302, ("Found. Redirecting to %s\n" % where).encode(), "text/plain",
            headers=[("Location", where)])


def b_failed(h, sid, m):
    h.reply(200, jdump({"payload": {"crawledPages": 3, "finished": False},
                        "sessionId": sid, "error": "Crawl failed: target returned HTTP 500"}))


def b_nulls(h, sid, m):
    h.reply(200, jdump({"payload": {"a": None, "list": [1, None, 3],
                                    "nested": {"x": None, "y": 1}, "empty": {}},
                        "sessionId": sid, "error": None}))


def b_types(h, sid, m):
    h.reply(200, b'{"payload":' + TYPES_PAYLOAD + b',"sessionId":' + jdump(sid) + b',"error":null}')


def b_fixed(body, ctype=JSON):
    return lambda h, sid, m: h.reply(200, body, ctype)


def b_leak_key(h, sid, m):
    got = header_str(h.headers.get("x-api-key", ""))
    h.reply(400, api_error(400, "bad key %s for this session" % got))


def b_request_id(h, sid, m):
    h.rid = "req-mock-123"
    h.reply(500, mock_error(500))


def b_amzn_request_id(h, sid, m):
    h.rid = None
    h.reply(500, mock_error(500), headers=[("x-amzn-requestid", "amzn-mock-456")])


def b_invalid_utf8(h, sid, m):
    h.reply(200, b'{"payload":{"crawledPages":1,"finished":true,"note":"bad \xff\xfe bytes"},'
                 b'"sessionId":' + jdump(sid) + b',"error":null}')


def b_nested(h, sid, m):
    depth = int(m.group(1))
    head, tail = b'{"payload":', b',"sessionId":"x","error":null}'
    h.head(200, len(head) + 2 * depth + len(tail))
    h.stream([head, (b"[", depth), (b"]", depth), tail])


def sized_json(n, sid):
    """Pieces of a JSON object exactly n bytes long, for h.stream."""
    head = b'{"payload":{"crawledPages":14,"finished":true,"padding":"'
    tail = b'"},"sessionId":' + jdump(sid) + b',"error":null}'
    pad = n - len(head) - len(tail)
    if pad >= 0:
        return [head, (b"x", pad), tail]
    if n >= 2:
        return [b"{", (b" ", n - 2), b"}"]
    return [(b" ", n)]


def b_huge(h, sid, m):
    n = int(m.group(1))
    h.head(200, n)
    h.stream(sized_json(n, sid))


def b_huge_chunked(h, sid, m):
    h.head(200, None, chunked=True)
    h.stream(sized_json(int(m.group(1)), sid), chunked=True)


def b_big_header(h, sid, m):
    h.reply(200, default_body(sid), headers=[("X-Big", "x" * int(m.group(1)))])


def b_gzip(h, sid, m):
    if "gzip" in h.headers.get("Accept-Encoding", "").lower():
        h.reply(200, gzip.compress(default_body(sid), mtime=0),
                headers=[("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")])
    else:
        h.reply(200, default_body(sid), headers=[("Vary", "Accept-Encoding")])


def b_gzip_corrupt(h, sid, m):
    garbage = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + bytes(range(7, 256, 3)) * 4
    h.reply(200, garbage, headers=[("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")])


def b_truncated(h, sid, m):
    h.head(200, 1000)
    h.send(default_body(sid)[:50])
    h.close_connection = True


def b_reset(h, sid, m):
    h.reset()


def b_reset_mid_body(h, sid, m):
    h.head(200, 1000)
    h.send((default_body(sid) + b" " * 100)[:100])
    time.sleep(0.05)
    h.reset()


def b_chunked_cut(h, sid, m):
    body = default_body(sid)
    h.head(200, None, chunked=True)
    h.send(b"%x\r\n%s\r\n" % (len(body), body))
    h.close_connection = True


def b_hang(h, sid, m):
    h.close_connection = True
    sock = h.connection
    while True:
        if readable(sock, 0.5):
            try:
                if not sock.recv(65536):
                    return          # the client closed its end
            except OSError:
                return              # reset by the client


def b_slow(h, sid, m):
    if h.pause(int(m.group(1)) / 1000.0):
        b_default(h, sid, m)


def b_trickle(h, sid, m):
    h.close_connection = True
    n = 100000
    h.head(200, n)
    body = b"".join(p if isinstance(p, bytes) else p[0] * p[1] for p in sized_json(n, sid))
    for i in range(n):
        h.send(body[i:i + 1])
        if not h.pause(0.1):
            return


# Scripted crawls: 10 steps between the first request and T.
ACTIVE = [3, 3, 3, 3, 3, 3, 2, 2, 1, 1]
WAITING = [20, 18, 15, 13, 10, 8, 5, 3, 1, 0]


def crawl_payload(sid, seconds, final, fail):
    t = time.monotonic() - first_seen(sid)
    if seconds > 0 and t < seconds:
        step = min(9, int(10 * t / seconds))
        return {"crawledPages": int(final * step / 10.0 + 0.5), "finished": False,
                "activeJobs": ACTIVE[step], "waitingJobs": WAITING[step]}, None
    if fail:
        return {"crawledPages": int(final * 0.9 + 0.5), "finished": False,
                "activeJobs": 0, "waitingJobs": 0}, "Crawl failed: target site blocked the crawler"
    return {"crawledPages": final, "finished": True, "activeJobs": 0, "waitingJobs": 0}, None


def b_demo_finishing(h, sid, m):
    payload, err = crawl_payload(sid, float(m.group(1) or 10), 47, False)
    h.reply(200, jdump({"payload": payload, "sessionId": sid, "error": err}))


def b_demo_failing(h, sid, m):
    payload, err = crawl_payload(sid, float(m.group(1) or 6), 30, True)
    h.reply(200, jdump({"payload": payload, "sessionId": sid, "error": err}))


def b_demo_slow(h, sid, m):
    if h.pause(int(m.group(1) or 3000) / 1000.0):
        b_default(h, sid, m)


CODE = "([2-5][0-9][0-9])"
SECONDS = "([0-9]+(?:\\.[0-9]+)?)"

# The table: the first pattern that matches the whole id wins; else b_default.
BEHAVIOURS = [
    ("echo.*", b_echo),
    ("status-" + CODE, b_status),
    ("old-shape-" + CODE, b_old_shape),
    ("html-" + CODE, b_html),
    ("empty-" + CODE, b_empty),
    ("text-" + CODE, b_text),
    ("retry-after-([0-9]+)", b_retry_after),
    ("retry-after-date", b_retry_after_date),
    ("retry-after-junk", b_retry_after_junk),
    ("flaky-([0-9]+)(?:-.*)?", b_flaky),
    ("redirect", b_redirect),
    ("failed", b_failed),
    ("nulls", b_nulls),
    ("types", b_types),
    ("invalid-json", b_fixed(b'{"payload": {"crawledPages": 14,')),
    ("json-array", b_fixed(b"[1,2,3]")),
    ("json-string", b_fixed(b'"hello"')),
    ("json-null", b_fixed(b"null")),
    ("leak-key", b_leak_key),
    ("request-id", b_request_id),
    ("amzn-request-id", b_amzn_request_id),
    ("invalid-utf8", b_invalid_utf8),
    ("nested-([0-9]+)", b_nested),
    ("huge-([0-9]+)", b_huge),
    ("huge-chunked-([0-9]+)", b_huge_chunked),
    ("big-header-([0-9]+)", b_big_header),
    ("gzip", b_gzip),
    ("gzip-corrupt", b_gzip_corrupt),
    ("truncated", b_truncated),
    ("reset", b_reset),
    ("reset-mid-body", b_reset_mid_body),
    ("chunked-cut", b_chunked_cut),
    ("hang", b_hang),
    ("slow-([0-9]+)", b_slow),
    ("trickle", b_trickle),
    ("demo-finishing(?:-" + SECONDS + "(?:-.*)?)?", b_demo_finishing),
    ("demo-failing(?:-" + SECONDS + "(?:-.*)?)?", b_demo_failing),
    ("demo-slow(?:-([0-9]+)(?:-.*)?)?", b_demo_slow),
]
BEHAVIOURS = [(re.compile(p, re.DOTALL), f) for p, f in BEHAVIOURS]
NO_AUTH = {"leak-key"}


# ---------------------------------------------------------------- the server

def readable(sock, timeout):
    p = select.poll()
    p.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(p.poll(timeout * 1000))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kadoa-mock/1"

    def version_string(self):
        return self.server_version

    _serial_lock = threading.Lock()
    _serial = 0

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes: without NODELAY, Nagle
        # holds the body until the client's delayed ACK, 40 ms per request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with Handler._serial_lock:
            Handler._serial += 1
            self.conn_serial = Handler._serial
        self.req_index = 0

    # ---- plumbing the behaviours use

    def head(self, code, length, ctype=JSON, headers=(), chunked=False):
        """Status line and headers; length None means no Content-Length."""
        self.send_response(code)
        if self.rid is not None:
            self.send_header("x-request-id", self.rid)
        if ctype is not None:
            self.send_header("Content-Type", ctype)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif length is not None:
            self.send_header("Content-Length", str(length))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()

    def send(self, data):
        self.wfile.write(data)

    def reply(self, code, body, ctype=JSON, headers=()):
        """A whole response; a JSON content type is dropped for empty bodies,
        and 204/304 (and HEAD) get no body, as HTTP wants."""
        if not body and ctype == JSON:
            ctype = None
        self.head(code, None if code == 204 else len(body), ctype, headers)
        if self.command != "HEAD" and code not in (204, 304):
            self.send(body)

    def stream(self, pieces, chunked=False):
        """Write bytes / (byte, count) pieces in writes of at most 64 KiB."""
        buf = bytearray()

        def flush():
            if chunked:
                self.send(b"%x\r\n%s\r\n" % (len(buf), bytes(buf)))
            else:
                self.send(bytes(buf))
            del buf[:]

        for piece in pieces:
            if isinstance(piece, bytes):
                buf += piece
            else:
                byte, count = piece
                while count > 0:
                    take = min(count, BLOCK - len(buf))
                    buf += byte * take
                    count -= take
                    if len(buf) >= BLOCK:
                        flush()
            if len(buf) >= BLOCK:
                flush()
        if buf:
            flush()
        if chunked:
            self.send(b"0\r\n\r\n")

    def pause(self, seconds):
        """Sleep; False (and stop talking) if the client went away meanwhile."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return True
            if readable(self.connection, min(left, 0.25)):
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        self.close_connection = True
                        return False
                except OSError:
                    self.close_connection = True
                    return False
                time.sleep(min(max(left, 0), 0.05))   # a pipelined request waits

    def reset(self):
        """Abort the connection with a TCP RST."""
        self.close_connection = True
        sock = self.connection
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # detach() so the fd really closes now (rfile still holds the socket
        # object) and a later close() cannot hit a reused descriptor.
        os.close(sock.detach())

    # ---- dispatch

    def dispatch(self):
        self.req_index += 1
        # From the request line itself: self.path has had "//" folded to "/".
        self.raw_target = self.raw_requestline.split()[1]
        self.rid = self.headers.get("x-request-id")
        self.drain_request_body()

        m = ROUTE.fullmatch(self.raw_target)
        if self.command != "GET" or not m or m.group(1) in (b".", b".."):
            msg = "no such route: " + b2s(self.raw_target)
            return self.reply(404, jdump({"error": True, "message": msg}))

        sid = b2s(urllib.parse.unquote_to_bytes(m.group(1)))
        for pattern, fn in BEHAVIOURS:
            match = pattern.fullmatch(sid)
            if match:
                break
        else:
            fn, match = b_default, None

        if sid not in NO_AUTH and not self.authorised():
            return self.reply(401, api_error(401, "Unauthorized: invalid or missing API key"))
        fn(self, sid, match)

    def authorised(self):
        keys = self.headers.get_all("x-api-key") or []
        return len(keys) == 1 and keys[0].encode("latin-1", "replace") == self.server.key

    def drain_request_body(self):
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True       # not worth decoding: just hang up after
            return
        try:
            n = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            n = -1
        if 0 < n <= 1 << 20:
            self.rfile.read(n)
        elif n != 0:
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = dispatch

    def log_message(self, fmt, *args):
        log("[conn %s] %s", getattr(self, "conn_serial", "?"), fmt % args)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def server_bind(self):
        # Skip HTTPServer.server_bind: its getfqdn() would ask a resolver.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        if VERBOSE:
            super().handle_error(request, client_address)


def watch_parent():
    """--die-with-parent: exit once the parent is gone, or once nobody reads
    our stdout pipe any more.  The second matters: a Lua state that closes
    with the server still running pclose()s the pipe, which closes the read
    end and then waits for us to exit."""
    parent = os.getppid()
    pipe = None
    if stat.S_ISFIFO(os.fstat(1).st_mode):
        pipe = select.poll()
        pipe.register(1, 0)        # POLLERR comes anyway once the reader is gone
    while True:
        if pipe is not None:
            if pipe.poll(250):
                os._exit(0)
        else:
            time.sleep(0.25)
        if os.getppid() != parent:
            os._exit(0)


def main():
    global VERBOSE
    ap = argparse.ArgumentParser(description="Mock Kadoa crawl-status server (127.0.0.1 only)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--key", default="test-key")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--die-with-parent", action="store_true")
    args = ap.parse_args()
    VERBOSE = args.verbose

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: os._exit(0))

    server = Server(("127.0.0.1", args.port), Handler)
    server.key = os.fsencode(args.key)
    if args.die_with_parent:
        threading.Thread(target=watch_parent, daemon=True).start()

    sys.stdout.write("%d %d\n" % (server.server_address[1], os.getpid()))
    sys.stdout.flush()
    log("listening on 127.0.0.1:%d", server.server_address[1])
    server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
