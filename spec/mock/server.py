#!/usr/bin/python3
"""Mock Kadoa crawler API server for the kadoa test suite and `make demo`.

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
    --break-contract    (for the mock's own spec) drop the first required key
                        of every contract answer, so the self-check below
                        turns each into a 500

It answers every call of spec/contract/crawler.openapi.json (see CONTRACT
ROUTES), keeps the crawls, sessions and configs it is asked to make in memory
for its lifetime, and has a table of deliberately broken answers (BEHAVIOURS)
that tests pick by session id.

Once listening it prints exactly one line to stdout, "PORT PID", and flushes.
Nothing else ever goes to stdout; stderr stays silent unless --verbose.
SIGTERM and SIGINT end the process at once, even with hanging connections.

HTTP/1.1 with keep-alive; one thread per connection, so connections that hang
or trickle never block the others.

ROUTING
  Routes are tried in this order; the first match answers.
  1. GET /v4/crawl/<segment>/status   with no query string (not even a bare
     "?").  <segment> must be non-empty, contain no "/", and not be "." or
     ".." (dot segments that a real proxy would resolve).  It is
     percent-decoded at the byte level to give the session id; an id that is
     not valid UTF-8 is sent back byte for byte, so any byte string
     round-trips.  The id of a crawl started here answers live (CONTRACT
     ROUTES); any other id answers from BEHAVIOURS BY SESSION ID below.
  2. GET /mock/starts, /mock/callbacks, /mock/hits/<id>, /mock/last-query (no key
     needed): see INTROSPECTION.
  3. The other contract routes, matched on the path without its query
     string (ROUTES in the code; path segments are percent-decoded; "." and
     ".." segments never match).
  Anything else, a wrong method included (POST .../status, GET /v4/crawl/):
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
  A request body (any method) is read (up to 1 MiB with a Content-Length;
  a chunked or larger body is not read and the connection closes after the
  answer); only the contract routes that take a body look at it.

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
  close-after         the default 200, keep-alive style (no "Connection:
                      close"), then the server closes the connection (FIN)
                      right after: a client that pools it finds it dead
  close-after-next    the default 200, keep-alive style; the NEXT request on
                      that connection is read and served (a start is recorded
                      and a crawl started) but its answer is never sent: the
                      connection closes (FIN) instead.  For proving a client
                      does not resend a POST whose answer was lost.

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

CONTRACT ROUTES  (spec/contract/crawler.openapi.json; all need the key: 401
as above otherwise; every error is {"error":true,"message":...,"details":...})
  A body is required JSON: not JSON, not an object, a missing required field
  or a wrong type per the contract's request schema gives 400, details
  {"problem":"body.<field>: ..."}.  Unknown fields are ignored.  Query
  numbers must be whole numbers ("2" and "2.0" are fine): 400 otherwise.
  POST /v4/crawl/ (also /v4/crawl)   body StartCrawlerSessionRequest; "url" or
                      "startUrls" (non-empty) is required, "maxPages" caps the
                      page count.  200 {"message":"Crawl started",
                      "sessionId":<uuid4>,"error":null}.  Also stores a config
                      (the body's contract fields) that the crawl points to.
  POST /v4/crawl/start  {"configId"}: 200 {"message":"Crawl started",
                      "sessionId":<uuid4>,"error":null,"configId":<id>};
                      404 unknown (or deleted) config
  POST /v4/crawl/pause, POST /v4/crawl/resume   {"sessionId"}:
                      200 {"message":"Crawl paused"|"Crawl resumed",
                      "sessionId":<id>,"error":null}, idempotent (pausing a
                      paused or finished crawl is a 200 too); 404 unknown id
  GET /v4/crawl/<id>/status   (no query string) 200 {"payload":{"crawledPages",
                      "activeJobs","waitingJobs","finished"},"sessionId",
                      "error":null or the failure string}
  GET /v4/crawl/<id>/pages?currentPage=&pageSize=   currentPage from 1
                      (default 1; below 1 is a 400), pageSize from 1 (default
                      100, no maximum).  200 {"payload":[{"id","url","status"}],
                      "pagination":{"page","pageSize","totalItems",
                      "totalPages","hasMore"},"sessionId","error"}.  The list
                      holds the pages known so far, in discovery order; past
                      the last page: an empty payload, hasMore false.
  GET /v4/crawl/<id>/pages/<pageId>?format=html|md|markdown   (default html)
                      200 {"payload":<the page as HTML or Markdown, a string>,
                      "pageId","pageFormat":<format as asked, or "html">,
                      "sessionId","error":null}.  Other format: 400.  A page
                      id the crawl does not have (yet): 404 "no such page";
                      a known page not DONE yet: 404 "page not crawled yet",
                      details {"status":"CRAWLING"|"PENDING"}.
  GET /v4/crawl/<id>/list?includeAll=true|false   (default false; other: 400)
                      200 {"totalPages":<len(data)>,"data":[{"url","status",
                      "created_at","html_filename","screenshot_filename":null,
                      "processed_html_filename":null,"json_filename":null,
                      "match_score":null,"matched_fields":null,
                      "total_fields":null,"is_match":false}]}: the DONE pages,
                      or with includeAll every known page (html_filename null
                      until DONE).  html_filename is "<sessionId>/<pageId>.html" in
                      base64, as the contract describes it.
  GET /v4/crawl/bucket/data/<b64>   <b64> is the html_filename in base64,
                      standard or URL-safe, padding optional (a "/" in it must
                      be sent as %2F).  200 text/html; charset=utf-8, the same
                      HTML the page route gives; 404 (JSON) for anything else.
  GET /v4/crawl/sessions?page=&pageSize=&userId=   page from 1 (default 1),
                      pageSize 1-100 (default 25): 400 outside.  200 {"data":
                      [{"sessionId","configId","domain","startUrls","userId":
                      "mock-user","createdAt","crawledPages","activeJobs",
                      "waitingJobs","finished"}],"pagination":{"page",
                      "pageSize","totalItems","totalPages","hasMore"}}, newest
                      start first, live stats.  Every crawl belongs to user
                      "mock-user": another userId lists nothing.
  POST /v4/crawl/config   body CreateCrawlerConfigRequest, "url" or "startUrls"
                      required (400 otherwise): 200 the stored config: the
                      body's contract fields plus "configId" (uuid4), "userId":
                      "mock-user", "createdAt" (ISO 8601 UTC)
  GET /v4/crawl/config/<configId>   200 that config; 404 unknown or deleted
  DELETE /v4/crawl/config   {"configId"}: 200 {"configId","deleted":true};
                      404 unknown or already deleted
  Ambiguity: /v4/crawl/config/status, /v4/crawl/sessions/status and the like
  are status calls (route 1 wins), and .../config/pages is never a config.

CRAWLS  (started by POST /v4/crawl/ or /v4/crawl/start)
  A crawl of N pages over T seconds of crawl time (defaults: N 47, T 10 s:
  the README demo `kadoa crawl https://example.com --wait`).  Page i (from 0)
  is DONE once crawl time reaches T*(i+1)/N; the 3 pages after the DONE ones
  are CRAWLING, the 10 after those PENDING, later ones not known yet.  So:
  crawledPages = number of DONE pages = floor(N*t/T), activeJobs = pages
  CRAWLING, waitingJobs = pages PENDING, finished = all N DONE.  At the
  start pages 0-12 are known (0-2 CRAWLING); T 0 means all DONE at once.
  Crawl time stops while paused (pause/resume), so nothing moves, and no
  job is active (activeJobs 0: those pages count as waiting).
  Page i's URL: startUrls[i] (url counts as startUrls[0]) while there are
  any, then <scheme>://<host of the first URL>/<docs|blog|products|about|help,
  by i mod 5>/page-<i>.  Page id: "p" + i as 4 or more digits (p0000, p0001,
  ... p1000).  Page content is made on demand from (crawl, i), never stored:
  HTML <title>Page <i> of <host></title>, an <h1>, the source URL, links to
  pages i+1 and i+7 (mod N), then paragraphs up to about B bytes (default
  1500); Markdown has the same parts ("# Page <i> of <host>", "Source: <url>",
  "- [Page j](<url>)", the paragraphs).

URL LABELS  (the host labels of the first start URL tune its crawl; labels
may be combined in any order: https://pages-250.seconds-0.5.example.com/)
  pages-<N>           N pages (at least 1); "maxPages" in the body caps it
  seconds-<S>         whole crawl takes S seconds of crawl time (fraction ok;
                      0 = everything DONE at the start).  "seconds-0.5" and
                      "fresh404-1.5" work: a label of digits after one ending
                      in -<digits> is taken as its fraction.
  bytes-<B>           each page's content about B bytes (up to MiBs is fine)
  latency-<MS>        each page-content answer (pages/<pageId>, bucket file)
                      is sent MS ms late
  fresh404-<S>        status, pages, pages/<pageId> and list answer 404
                      {"error":true,"message":"Session not found",...} for the
                      first S wall-clock seconds after the start
  failing             the crawl dies when floor(0.6*N) pages are DONE (at 0.6
                      T): from then on error "Crawl failed: target site blocked
                      the crawler" on status and pages, finished false, active
                      and waiting 0, only the DONE pages listed
  oldpages            pages pagination in the OLD shape {"currentPage",
                      "pageSize","totalRecords","totalPages"} (off contract)
  zeropage            pages numbered from 0: currentPage defaults to 0 and 0
                      is the first page; pagination.page says the same
  ready               DONE pages are listed with status "READY" (off contract)
  endless             pages pagination never ends: hasMore always true,
                      totalPages = page + 1, and any page past the last real
                      one repeats the last real page's items
  hostile             page URLs (after the start URLs) cycle through names
                      that are dangerous as file names: ../ and ..%2f and
                      %2e%2e escapes, //etc/shadow, C:/Windows/win.ini, %00,
                      CON, aux.txt, nul, COM1.txt, LPT9, "con.", a 324-char
                      path, percent-encoded and raw unicode (café/日本語, an
                      emoji), trailing "." and "%20", /Case/Page vs
                      /case/page, /q?x=1 vs /q?x=2, backslashes, /.hidden,
                      /a/./b/../c, %2F%2F; past the list they repeat with
                      ?r=<round> (or &r=) appended
  shuffle             the pages listing reorders its entries: every 200 ms
                      (wall clock) they come in another order, so an entry
                      moves between listing pages from one poll to the next
  lag-<S>             the pages listing (and /list) shows the crawl as it was S
                      seconds of crawl time ago: status counts run ahead of
                      what is listed, and a finished crawl lists its last
                      pages only S seconds later (page content answers as
                      soon as the page is DONE)
  early-<S>           for the first S wall-clock seconds after the start, status
                      says finished with nothing done ({"crawledPages":0,
                      "activeJobs":0,"waitingJobs":0,"finished":true}) and the
                      listing is empty: a fresh session that looks over
  fault-<behaviour>   as the FIRST label: see FAULT INJECTION
  Unknown labels are ignored (example.com is the default site).

FAULT INJECTION ON THE CONTRACT ROUTES
  Every route has a key that is looked up in BEHAVIOURS BY SESSION ID:
      status, pages, pages/<pageId>, list      the session id in the path
      pause, resume                            the body's "sessionId"
      POST /v4/crawl/start, DELETE config      the body's "configId"
      GET config/<configId>                    the configId in the path
      bucket/data/<b64>                        the segment itself, else the
                                               name it base64-decodes to
      sessions                                 the "userId" query parameter
      POST /v4/crawl/                          <b> of a first host label
                                               fault-<b> of the start URL
  (status: only for ids that are not started crawls, as always; POST
  /v4/crawl/config has no key).  When the key matches a behaviour, that
  behaviour answers instead (auth first, unless it is leak-key), exactly as
  on the status route, except that wherever it says "the default 200" it
  sends the route's own 200 answer: so flaky-2-<tag>, slow-<ms>, gzip,
  truncated, chunked-cut, close-after... carry a real route answer.  For
  that answer a fault session id stands for a finished 14-page crawl of
  https://example.com/ (T 0), a fault configId for a config of that URL.
  Starts really start: https://fault-hang.example/ records the start and
  starts its crawl (listed by /v4/crawl/sessions, counted by /mock/starts)
  before hanging; the same for /v4/crawl/start with a fault configId.  A
  request the route would reject (400, 404) gets that answer, not the fault.
  Fault answers are not self-checked (they are broken on purpose).

INTROSPECTION
  GET /mock/starts    (no key) 200 {"count":<n>,"urls":[...]}: every POST
                      received on /v4/crawl/, /v4/crawl or /v4/crawl/start,
                      in order, whatever it was answered (401, 400, a fault,
                      a lost answer included); urls holds what each asked to
                      crawl: url, else startUrls[0], else (/start) its
                      config's, else null.
  GET /mock/hits/<sessionId>   (no key) 200 {"status":<n>,"pages":<n>,
                      "page":<n>,"listing":{"<currentPage>":<n>,...}}: the
                      requests a started crawl's status, pages (the listing,
                      and per listing page number) and pages/<pageId> routes
                      answered with its live answer (not 404s of fresh404 or
                      faults); 404 for an unknown session
  GET /mock/callbacks (no key) 200 {"count":<n>,"calls":[{"url","sessionId",
                      "code" (the answer's status, or null),"error"(or null)}]}
CALLBACKS
  A start whose body has "callbackUrl" gets a POST of {"sessionId","finished",
  "crawledPages","error"} (JSON) to that URL once its crawl is over (finished
  or failed), from a thread that looks every 50 ms (for at most an hour).
  Only an http URL whose host is a literal loopback address (127.x.x.x or
  [::1]) is ever called; any other URL is ignored (listed in /mock/callbacks
  with error "not loopback"), so no test can send traffic off this machine.
  The call is made once, with a 5 s timeout; its outcome goes to
  /mock/callbacks.
  GET /mock/last-query (no key) 200 {"query":<raw query string or "">}: the
                      query string of the last request a contract route
                      (not status) received, exactly as it came.

SELF-CHECK
  Every JSON answer of a contract route (not the fault behaviours, not the
  legacy status table, not the off-contract labels oldpages and ready) is
  checked, before it is sent, against the contract's response schema for
  that route and status code: type, nullable, required, properties (no
  undeclared property unless the schema allows them), additionalProperties,
  items, enum, allOf, oneOf, minimum, maximum, minLength, $ref.  A violation,
  or a status code the contract does not list for that route, is answered
  500 {"error":true,"message":"mock contract violation: <where>: <what>"}
  instead, so a drifting mock fails any test that touches it.
"""

import argparse
import base64
import email.utils
import gzip
import html
import json
import math
import os
import random
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
import urllib.error
import urllib.parse
import urllib.request
import uuid
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
    h.reply(200, h.normal_body(sid), h.ctype)


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
    h.reply(200, h.normal_body(sid), h.ctype, headers=[("X-Big", "x" * int(m.group(1)))])


def b_gzip(h, sid, m):
    if "gzip" in h.headers.get("Accept-Encoding", "").lower():
        h.reply(200, gzip.compress(h.normal_body(sid), mtime=0), h.ctype,
                headers=[("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")])
    else:
        h.reply(200, h.normal_body(sid), h.ctype, headers=[("Vary", "Accept-Encoding")])


def b_gzip_corrupt(h, sid, m):
    garbage = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + bytes(range(7, 256, 3)) * 4
    h.reply(200, garbage, headers=[("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")])


def b_truncated(h, sid, m):
    h.head(200, 1000, h.ctype)
    h.send(h.normal_body(sid)[:50])
    h.close_connection = True


def b_reset(h, sid, m):
    h.reset()


def b_reset_mid_body(h, sid, m):
    h.head(200, 1000, h.ctype)
    h.send((h.normal_body(sid) + b" " * 100)[:100])
    time.sleep(0.05)
    h.reset()


def b_chunked_cut(h, sid, m):
    body = h.normal_body(sid)
    h.head(200, None, h.ctype, chunked=True)
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


def b_close_after(h, sid, m):
    b_default(h, sid, m)
    h.close_connection = True          # after the answer, with no "Connection: close"


def b_close_after_next(h, sid, m):
    b_default(h, sid, m)
    h.swallow_next = True


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
    ("close-after", b_close_after),
    ("close-after-next", b_close_after_next),
    ("demo-finishing(?:-" + SECONDS + "(?:-.*)?)?", b_demo_finishing),
    ("demo-failing(?:-" + SECONDS + "(?:-.*)?)?", b_demo_failing),
    ("demo-slow(?:-([0-9]+)(?:-.*)?)?", b_demo_slow),
]
BEHAVIOURS = [(re.compile(p, re.DOTALL), f) for p, f in BEHAVIOURS]
NO_AUTH = {"leak-key"}


def behaviour(key):
    """(behaviour, match) for the first table entry matching key, else (None, None)."""
    for pattern, fn in BEHAVIOURS:
        match = pattern.fullmatch(key)
        if match:
            return fn, match
    return None, None


# ---------------------------------------------------------------- the contract
# A JSON-schema subset, enough for crawler.openapi.json: $ref, type, nullable,
# required, properties, additionalProperties, items, enum, allOf, oneOf,
# minimum, maximum, minLength.  "format" is not checked.

CONTRACT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                             "..", "contract", "crawler.openapi.json")
CONTRACT = None     # loaded by main(), or on first use


def contract():
    global CONTRACT
    if CONTRACT is None:
        with open(CONTRACT_PATH, encoding="utf-8") as f:
            CONTRACT = json.load(f)
    return CONTRACT


def resolve(schema):
    while "$ref" in schema:
        node = contract()
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def component(name):
    return contract()["components"]["schemas"][name]


TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
}


def check(schema, v, where="$", strict=True):
    """The first way v breaks schema, as "where: what", or None.  strict:
    an object may hold no property its schema does not declare (unless the
    schema has additionalProperties); the mock's answers are checked strictly,
    request bodies are not (but additionalProperties false still holds)."""
    schema = resolve(schema)
    if v is None:
        if schema.get("nullable") or "type" not in schema:
            return None
        return "%s: null where %s is wanted" % (where, schema["type"])
    for sub in schema.get("allOf", []):
        err = check(sub, v, where, strict)
        if err:
            return err
    if "oneOf" in schema:
        errs = [check(sub, v, where, strict) for sub in schema["oneOf"]]
        if all(errs):
            return errs[0]
    t = schema.get("type")
    if t and not TYPES[t](v):
        return "%s: %s where %s is wanted" % (where, type(v).__name__, t)
    if "enum" in schema and v not in schema["enum"]:
        return "%s: %r is not one of %s" % (where, v, schema["enum"])
    if TYPES["number"](v):
        if "minimum" in schema and v < schema["minimum"]:
            return "%s: %r is below %r" % (where, v, schema["minimum"])
        if "maximum" in schema and v > schema["maximum"]:
            return "%s: %r is above %r" % (where, v, schema["maximum"])
    if isinstance(v, str) and len(v) < schema.get("minLength", 0):
        return "%s: shorter than %d" % (where, schema["minLength"])
    if isinstance(v, dict):
        for key in schema.get("required", []):
            if key not in v:
                return "%s: required %s is missing" % (where, key)
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, value in v.items():
            if key in props:
                err = check(props[key], value, where + "." + key, strict)
            elif isinstance(extra, dict):
                err = check(extra, value, where + "." + key, strict)
            elif extra is False or (strict and extra is None and "properties" in schema):
                err = "%s: %s is not in the contract" % (where, key)
            else:
                err = None
            if err:
                return err
    if isinstance(v, list) and "items" in schema:
        for i, item in enumerate(v):
            err = check(schema["items"], item, "%s[%d]" % (where, i), strict)
            if err:
                return err
    return None


def response_schema(op, code):
    """The contract's schema for answering op = (method, path) with code."""
    method, path = op
    responses = contract()["paths"][path][method.lower()]["responses"]
    r = responses.get(str(code))
    if r is None:
        return None
    return r.get("content", {}).get("application/json", {}).get("schema", {})


def check_response(op, code, obj):
    schema = response_schema(op, code)
    if schema is None:
        return "%s %s does not answer %d" % (op[0], op[1], code)
    return check(schema, obj)


def break_contract(op, code, obj):
    """--break-contract: drop the first required key, so the self-check fires."""
    schema = resolve(response_schema(op, code) or {})
    for key in schema.get("required", []):
        if isinstance(obj, dict) and key in obj:
            obj = dict(obj)
            del obj[key]
            return obj
    return [obj]


# ---------------------------------------------------------------- crawls
# A started crawl is a Crawl in SESSIONS, keyed by its uuid4.  Nothing is
# stored per page: every page's URL, status and content is computed from
# (crawl, page index) when asked for.

USER = "mock-user"
SESSIONS = {}          # sessionId -> Crawl, oldest first
VIRTUAL = {}           # fault ids used as session ids -> Crawl (not listed)
CONFIGS = {}           # configId -> stored config dict
STARTS = []            # every POST start received: its url or None
CALLBACKS = []         # every completion callback: {url, sessionId, code, error}
LAST_QUERY = [""]      # the raw query of the last contract route request

LOOKAHEAD = 13         # pages discovered ahead of the last DONE one
WORKERS = 3            # pages CRAWLING at once
FAIL_AT = 0.6          # a failing crawl dies this far in
FAIL_MESSAGE = "Crawl failed: target site blocked the crawler"

HOSTILE = [
    "/../../../etc/passwd", "/..%2f..%2f..%2fescape.html", "/%2e%2e/%2e%2e/dotdot",
    "//etc/shadow", "/C:/Windows/win.ini", "/a%00b.html", "/CON", "/aux.txt", "/nul",
    "/" + "long-" * 64 + "end", "/caf%C3%A9/%E6%97%A5%E6%9C%AC.html", "/café/日本語",
    "/trailing-dot.", "/trailing-space%20", "/Case/Page", "/case/page",
    "/q?x=1", "/q?x=2", "/back\\slash\\..\\..\\up", "/dir/", "/.hidden", "/a/./b/../c",
    "/emoji-\U0001F600", "/COM1.txt", "/LPT9", "/con.", "/%2F%2Froot",
]
SECTIONS = ["docs", "blog", "products", "about", "help"]
WORDS = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod "
         "tempor incididunt ut labore et dolore magna aliqua").split()


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)


def first_url(urls):
    return urls[0] if urls else "https://example.com/"


def host_labels(url):
    """The host's labels, a fraction kept whole: "seconds-0.5.x" gives
    ["seconds-0.5", "x"]."""
    try:
        host = urllib.parse.urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    labels = []
    for label in host.split("."):
        if labels and label.isdigit() and re.search("-[0-9]+$", labels[-1]):
            labels[-1] += "." + label
        else:
            labels.append(label)
    return labels


def fault_label(url):
    """The behaviour a start URL asks for with a first host label fault-<b>."""
    first = host_labels(url)[0]
    return first[len("fault-"):] if first.startswith("fault-") else None


LABELS = [   # (host label, Crawl attribute, parser)
    ("pages-([0-9]+)", "n", int),
    ("seconds-([0-9]+(?:\\.[0-9]+)?)", "seconds", float),
    ("bytes-([0-9]+)", "size", int),
    ("latency-([0-9]+)", "latency", lambda s: int(s) / 1000.0),
    ("fresh404-([0-9]+(?:\\.[0-9]+)?)", "fresh404", float),
    ("lag-([0-9]+(?:\\.[0-9]+)?)", "lag", float),
    ("early-([0-9]+(?:\\.[0-9]+)?)", "early", float),
    ("(failing|oldpages|zeropage|ready|endless|hostile|shuffle)", None, None),
]
LABELS = [(re.compile(p), a, f) for p, a, f in LABELS]


class Crawl:
    def __init__(self, sid, urls, config_id, max_pages=None):
        self.sid, self.urls, self.config_id = sid, list(urls), config_id
        self.created = time.time()
        self.t0 = time.monotonic()
        self.n, self.seconds, self.size, self.latency, self.fresh404 = 47, 10.0, 1500, 0.0, 0.0
        self.lag, self.early = 0.0, 0.0
        self.hits = {"status": 0, "pages": 0, "page": 0, "listing": {}}
        self.flags = set()
        for label in host_labels(first_url(urls)):
            for pattern, attr, parse in LABELS:
                m = pattern.fullmatch(label)
                if m and attr:
                    setattr(self, attr, parse(m.group(1)))
                elif m:
                    self.flags.add(m.group(1))
        if max_pages:
            self.n = min(self.n, int(max_pages))
        self.n = max(1, self.n)
        split = urllib.parse.urlsplit(first_url(urls))
        self.origin = "%s://%s" % (split.scheme or "https", split.netloc or "example.com")
        self.domain = split.hostname or ""
        self.banked, self.running_since = 0.0, self.t0

    # -- the clock: crawl time stands still while paused
    def elapsed(self):
        with STATE_LOCK:
            run = time.monotonic() - self.running_since if self.running_since is not None else 0
            return self.banked + run

    def pause(self):
        with STATE_LOCK:
            if self.running_since is not None:
                self.banked += time.monotonic() - self.running_since
                self.running_since = None

    def resume(self):
        with STATE_LOCK:
            if self.running_since is None:
                self.running_since = time.monotonic()

    def paused(self):
        return self.running_since is None

    def too_fresh(self):
        return time.monotonic() - self.t0 < self.fresh404

    def looks_over(self):
        """early-<S>: the fresh session says finished with nothing done."""
        return time.monotonic() - self.t0 < self.early

    def hit(self, route, page=None):
        with STATE_LOCK:
            self.hits[route] += 1
            if page is not None:
                self.hits["listing"][str(page)] = self.hits["listing"].get(str(page), 0) + 1

    def progress(self, lag=0.0):
        """(done, visible, error): pages 0..done-1 are DONE, pages up to
        visible-1 are known (the next WORKERS CRAWLING, the rest PENDING);
        as it was `lag` seconds of crawl time ago."""
        if self.seconds <= 0:
            done = self.n
        else:
            t = max(0.0, self.elapsed() - lag)
            done = min(self.n, int(t * self.n / self.seconds + 1e-9))
        if "failing" in self.flags:
            dead = max(1, int(self.n * FAIL_AT))
            if done >= dead:
                return dead, dead, FAIL_MESSAGE
        return done, min(self.n, done + LOOKAHEAD), None

    def stats(self):
        if self.looks_over():
            return {"crawledPages": 0, "activeJobs": 0, "waitingJobs": 0, "finished": True}, None
        done, visible, error = self.progress()
        active = 0 if self.paused() else min(WORKERS, visible - done)
        return {"crawledPages": done, "activeJobs": active,
                "waitingJobs": visible - done - active,
                "finished": done >= self.n and error is None}, error

    def status_of(self, i, done):
        if i < done:
            return "READY" if "ready" in self.flags else "DONE"
        return "CRAWLING" if i < done + WORKERS else "PENDING"

    # -- pages, all derived from the index
    def page_id(self, i):
        return "p%04d" % i

    def page_index(self, page_id):
        m = re.fullmatch("p([0-9]{4,})", page_id)
        return int(m.group(1)) if m and int(m.group(1)) < self.n else None

    def url(self, i):
        if i < len(self.urls):
            return self.urls[i]
        if "hostile" in self.flags:
            path = HOSTILE[(i - 1) % len(HOSTILE)]
            rnd = (i - 1) // len(HOSTILE)
            if rnd:
                path += ("&" if "?" in path else "?") + "r=%d" % rnd
            return self.origin + path
        return "%s/%s/page-%d" % (self.origin, SECTIONS[i % len(SECTIONS)], i)

    def filename(self, i):
        return "%s/%s.html" % (self.sid, self.page_id(i))

    def done_at(self, i):
        return self.created + (self.seconds * (i + 1) / self.n if self.seconds > 0 else 0)

    def content(self, i, fmt):
        """Page i as HTML or Markdown, about self.size bytes, made on demand."""
        title = "Page %d of %s" % (i, self.domain)
        links = [(j, self.url(j)) for j in ((i + 1) % self.n, (i + 7) % self.n)]
        para = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(40)) + "."
        if fmt == "html":
            head = ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>%s</title></head>\n'
                    "<body>\n<h1>%s</h1>\n<p>Source: <a href=\"%s\">%s</a></p>\n<ul>\n%s</ul>\n"
                    % (title, title, html.escape(self.url(i)), html.escape(self.url(i)),
                       "".join('<li><a href="%s">Page %d</a></li>\n' % (html.escape(u), j)
                               for j, u in links)))
            tail, block = "</body></html>\n", "<p>%s</p>\n" % para
        else:
            head = "# %s\n\nSource: <%s>\n\n%s\n" % (
                title, self.url(i), "".join("- [Page %d](<%s>)\n" % (j, u) for j, u in links))
            tail, block = "", "\n%s\n" % para
        room = self.size - len(head.encode()) - len(tail)
        return head + block * max(1, room // len(block)) + tail


def new_crawl(urls, config_id, max_pages, callback=None):
    sid = str(uuid.uuid4())
    crawl = Crawl(sid, urls, config_id, max_pages)
    with STATE_LOCK:
        SESSIONS[sid] = crawl
    if isinstance(callback, str) and callback:
        threading.Thread(target=call_back, args=(crawl, callback), daemon=True).start()
    return crawl


def loopback_url(url):
    """True for an http URL whose host is a literal loopback address."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        parts.port      # raises on a bad port
    except ValueError:
        return False
    if parts.scheme != "http":
        return False
    if host == "::1":
        return True
    return re.fullmatch(r"127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}", host) is not None


def call_back(crawl, url):
    """Wait for the crawl to be over, then POST its outcome to url (loopback only)."""
    record = {"url": url, "sessionId": crawl.sid, "code": None, "error": None}
    if not loopback_url(url):
        record["error"] = "not loopback"
    else:
        end = time.monotonic() + 3600
        while time.monotonic() < end:
            stats, error = crawl.stats()
            if (stats["finished"] or error) and not crawl.looks_over():
                break
            time.sleep(0.05)
        stats, error = crawl.stats()
        body = jdump({"sessionId": crawl.sid, "finished": stats["finished"],
                      "crawledPages": stats["crawledPages"], "error": error})
        req = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": JSON})
        try:
            with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                    req, timeout=5) as r:
                record["code"] = r.status
        except urllib.error.HTTPError as e:
            record["code"] = e.code
        except Exception as e:      # the receiver is the test's: say what went wrong
            record["error"] = str(e)
    with STATE_LOCK:
        CALLBACKS.append(record)


def find_crawl(sid, virtual):
    """The started crawl sid, or (virtual: a fault id standing in for one) a
    finished 14-page crawl of https://example.com/ made up for it."""
    with STATE_LOCK:
        crawl = SESSIONS.get(sid)
        if crawl is None and virtual:
            crawl = VIRTUAL.get(sid)
            if crawl is None:
                crawl = VIRTUAL[sid] = Crawl(sid, ["https://pages-14.seconds-0.example.com/"], sid)
                crawl.urls = ["https://example.com/"]
                crawl.origin, crawl.domain = "https://example.com", "example.com"
        return crawl


def virtual_config(cid):
    return {"url": "https://example.com/", "configId": cid, "userId": USER,
            "createdAt": iso(time.time())}


# ---------------------------------------------------------------- contract routes
# Each takes (handler, request) and returns an Answer; it never talks to the
# socket.  Handler.contract() does auth, faults, the self-check and sending.

class Answer:
    def __init__(self, code, obj=None, raw=None, ctype=JSON, exempt=False, delay=0.0):
        self.code, self.obj, self.raw, self.ctype = code, obj, raw, ctype
        self.exempt, self.delay = exempt, delay

    def body(self):
        return self.raw if self.raw is not None else jdump(self.obj)


def err(code, message, details=None):
    return Answer(code, {"error": True, "message": message, "details": details})


class Request:
    def __init__(self, ids, query, body):
        self.ids, self.query, self.raw_body = ids, query, body

    def json(self):
        """The body as a JSON object, or None."""
        try:
            obj = json.loads(self.raw_body.decode("utf-8"))
        except (AttributeError, ValueError):
            return None
        return obj if isinstance(obj, dict) else None

    def body(self, schema_name):
        """(body, None) or (None, a 400 Answer)."""
        if self.raw_body is None:
            return None, err(400, "request body missing or too large")
        obj = self.json()
        if obj is None:
            return None, err(400, "request body is not a JSON object")
        problem = check(component(schema_name), obj, "body", strict=False)
        if problem:
            return None, err(400, "invalid request body: " + problem, {"problem": problem})
        return obj, None

    def number(self, name, default, low, high=None):
        """A whole number from the query, or raises ValueError with the reason."""
        text = self.query.get(name)
        if text is None or text == "":
            return default
        try:
            v = float(text)
        except ValueError:
            raise ValueError("%s must be a number, not %r" % (name, text))
        if v != v or v % 1 or v < low or (high is not None and v > high):
            raise ValueError("%s must be a whole number from %d%s" % (
                name, low, "" if high is None else " to %d" % high))
        return int(v)


def paginate(items, page, size, first):
    """Slice a list for page number `page` (numbered from `first`)."""
    total = len(items)
    pages = (total + size - 1) // size
    start = (page - first) * size
    return items[start:start + size], total, pages, page - first + 1 < pages


def start_answer(crawl, with_config):
    a = {"message": "Crawl started", "sessionId": crawl.sid, "error": None}
    if with_config:
        a["configId"] = crawl.config_id
    return Answer(200, a)


def record_start(url):
    with STATE_LOCK:
        STARTS.append(url)


def store_config(body):
    """Keep a config: the body's contract fields, a new configId, user, time."""
    known = component("CreateCrawlerConfigRequest")["properties"]
    config = {k: v for k, v in body.items() if k in known}
    config.update(configId=str(uuid.uuid4()), userId=USER, createdAt=iso(time.time()))
    with STATE_LOCK:
        CONFIGS[config["configId"]] = config
    return config


def start_url_of(op, req):
    """For /mock/starts: the URL a start asked for (for /start, its config's), or None."""
    body = req.json() or {}
    if op[1] == "/v4/crawl/start":
        cid = body.get("configId")
        with STATE_LOCK:
            body = CONFIGS.get(cid, {}) if isinstance(cid, str) else {}
    url = body.get("url")
    if not url and isinstance(body.get("startUrls"), list) and body["startUrls"]:
        url = body["startUrls"][0]
    return url if isinstance(url, str) else None


def start_urls(body):
    """url (when given) first, then startUrls."""
    return ([body["url"]] if body.get("url") else []) + list(body.get("startUrls") or [])


def r_start(h, req, virtual):
    body, bad = req.body("StartCrawlerSessionRequest")
    if bad:
        return bad
    urls = start_urls(body)
    if not urls:
        return err(400, "invalid request body: url or startUrls is required")
    config = store_config(body)
    return start_answer(new_crawl(urls, config["configId"], body.get("maxPages"),
                                  body.get("callbackUrl")), False)


def r_start_config(h, req, virtual):
    body, bad = req.body("StartSessionWithConfigRequest")
    if bad:
        return bad
    with STATE_LOCK:
        config = CONFIGS.get(body["configId"])
    if config is None and virtual:
        config = virtual_config(body["configId"])
    if config is None:
        return err(404, "no such config: " + body["configId"])
    crawl = new_crawl(start_urls(config), config["configId"], config.get("maxPages"))
    return start_answer(crawl, True)


def pause_or_resume(req, virtual, what):
    body, bad = req.body("PauseCrawlerSessionRequest" if what == "pause"
                         else "ResumeCrawlerSessionRequest")
    if bad:
        return bad
    crawl = find_crawl(body["sessionId"], virtual)
    if crawl is None:
        return err(404, "no such session: " + body["sessionId"])
    if what == "pause":
        crawl.pause()
    else:
        crawl.resume()
    return Answer(200, {"message": "Crawl paused" if what == "pause" else "Crawl resumed",
                        "sessionId": crawl.sid, "error": None})


def r_pause(h, req, virtual):
    return pause_or_resume(req, virtual, "pause")


def r_resume(h, req, virtual):
    return pause_or_resume(req, virtual, "resume")


def session_for(req, virtual):
    """(crawl, None) or (None, a 404 Answer) for the session id in the path."""
    crawl = find_crawl(req.ids[0], virtual)
    if crawl is None:
        return None, err(404, "no such session: " + req.ids[0])
    if crawl.too_fresh():
        return None, err(404, "Session not found", {"sessionId": crawl.sid})
    return crawl, None


def r_status(h, req, virtual):
    crawl, missing = session_for(req, virtual)
    if missing:
        return missing
    payload, error = crawl.stats()
    crawl.hit("status")
    return Answer(200, {"payload": payload, "sessionId": crawl.sid, "error": error})


def r_pages(h, req, virtual):
    crawl, missing = session_for(req, virtual)
    if missing:
        return missing
    first = 0 if "zeropage" in crawl.flags else 1
    try:
        page = req.number("currentPage", first, first)
        size = req.number("pageSize", 100, 1)
    except ValueError as e:
        return err(400, str(e))
    crawl.hit("pages", page)
    done, visible, error = crawl.progress(crawl.lag)
    if crawl.looks_over():
        done, visible = 0, 0
    order = list(range(visible))
    if "shuffle" in crawl.flags:
        random.Random("%s/%d" % (crawl.sid, int(time.monotonic() / 0.2))).shuffle(order)
    if "endless" in crawl.flags:
        last = max(first, first + (visible + size - 1) // size - 1)
        page_items = range(min(page, last) * size - first * size, visible)
        items = [{"id": crawl.page_id(i), "url": crawl.url(i), "status": crawl.status_of(i, done)}
                 for i in list(page_items)[:size]]
        total, pages, more = visible, page - first + 2, True
    else:
        wanted, total, pages, more = paginate(order, page, size, first)
        items = [{"id": crawl.page_id(i), "url": crawl.url(i), "status": crawl.status_of(i, done)}
                 for i in wanted]
    if "oldpages" in crawl.flags:
        pagination = {"currentPage": page, "pageSize": size, "totalRecords": total,
                      "totalPages": pages}
    else:
        pagination = {"page": page, "pageSize": size, "totalItems": total,
                      "totalPages": pages, "hasMore": more}
    return Answer(200, {"payload": items, "pagination": pagination, "sessionId": crawl.sid,
                        "error": error},
                  exempt=bool(crawl.flags & {"oldpages", "ready"}))


FORMATS = {"html": "html", "md": "md", "markdown": "md"}


def r_page(h, req, virtual):
    crawl, missing = session_for(req, virtual)
    if missing:
        return missing
    fmt = req.query.get("format") or "html"
    if fmt not in FORMATS:
        return err(400, "unknown format %r: html, md or markdown" % fmt)
    i = crawl.page_index(req.ids[1])
    done, visible, error = crawl.progress()
    if i is None or i >= visible:
        return err(404, "no such page: " + req.ids[1])
    if i >= done:
        return err(404, "page not crawled yet: " + req.ids[1], {"status": crawl.status_of(i, done)})
    crawl.hit("page")
    return Answer(200, {"payload": crawl.content(i, FORMATS[fmt]), "pageId": req.ids[1],
                        "pageFormat": fmt, "sessionId": crawl.sid, "error": None},
                  delay=crawl.latency)


def r_list(h, req, virtual):
    crawl, missing = session_for(req, virtual)
    if missing:
        return missing
    every = req.query.get("includeAll", "false")
    if every not in ("true", "false", ""):
        return err(400, "includeAll must be true or false, not %r" % every)
    done, visible, error = crawl.progress(crawl.lag)
    data = []
    for i in range(visible if every == "true" else done):
        ok = i < done
        data.append({"url": crawl.url(i), "status": crawl.status_of(i, done),
                     "created_at": iso(crawl.done_at(i) if ok else crawl.created),
                     "html_filename": b64name(crawl.filename(i)) if ok else None,
                     "screenshot_filename": None, "processed_html_filename": None,
                     "json_filename": None, "match_score": None, "matched_fields": None,
                     "total_fields": None, "is_match": False})
    return Answer(200, {"totalPages": len(data), "data": data})


def b64name(name):
    """What the contract's *_filename fields hold: the file name in base64."""
    return base64.b64encode(name.encode("utf-8")).decode("ascii")


def decode_filename(text):
    """A bucket file name from standard or URL-safe base64, padding optional."""
    try:
        t = text.replace("-", "+").replace("_", "/")
        return base64.b64decode(t + "=" * (-len(t) % 4), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def r_bucket(h, req, virtual):
    if virtual:
        crawl = find_crawl(req.ids[0], True)
        return Answer(200, raw=s2b(crawl.content(0, "html")), ctype="text/html; charset=utf-8")
    name = decode_filename(req.ids[0])
    m = re.fullmatch(r"(.+)/(p[0-9]+)\.html", name or "")
    crawl = m and find_crawl(m.group(1), False)
    i = crawl and crawl.page_index(m.group(2))
    if i is None or i >= crawl.progress()[0]:
        return err(404, "no such file: %s" % (name if name is not None else req.ids[0]))
    return Answer(200, raw=s2b(crawl.content(i, "html")), ctype="text/html; charset=utf-8",
                  delay=crawl.latency)


def r_sessions(h, req, virtual):
    try:
        page = req.number("page", 1, 1)
        size = req.number("pageSize", 25, 1, 100)
    except ValueError as e:
        return err(400, str(e))
    user = req.query.get("userId")
    with STATE_LOCK:
        crawls = list(SESSIONS.values())[::-1]          # newest first
    if user is not None:
        crawls = [c for c in crawls if user == USER]
    wanted, total, pages, more = paginate(crawls, page, size, 1)
    data = []
    for c in wanted:
        item = {"sessionId": c.sid, "configId": c.config_id, "domain": c.domain,
                "startUrls": c.urls, "userId": USER, "createdAt": iso(c.created)}
        item.update(c.stats()[0])
        data.append(item)
    return Answer(200, {"data": data, "pagination": {"page": page, "pageSize": size,
                                                     "totalItems": total, "totalPages": pages,
                                                     "hasMore": more}})


def r_config_create(h, req, virtual):
    body, bad = req.body("CreateCrawlerConfigRequest")
    if bad:
        return bad
    if not start_urls(body):
        return err(400, "invalid request body: url or startUrls is required")
    return Answer(200, store_config(body))


def r_config_get(h, req, virtual):
    with STATE_LOCK:
        config = CONFIGS.get(req.ids[0])
    if config is None and virtual:
        config = virtual_config(req.ids[0])
    return Answer(200, config) if config else err(404, "no such config: " + req.ids[0])


def r_config_delete(h, req, virtual):
    body, bad = req.body("DeleteCrawlerConfigRequest")
    if bad:
        return bad
    with STATE_LOCK:
        gone = CONFIGS.pop(body["configId"], None)
    if gone is None and not virtual:
        return err(404, "no such config: " + body["configId"])
    return Answer(200, {"configId": body["configId"], "deleted": True})


# Which id a route's faults are keyed on (see FAULT INJECTION in the docstring).
def key_path(req):
    return req.ids[0]


def key_body(name):
    return lambda req: (req.json() or {}).get(name) if isinstance(
        (req.json() or {}).get(name), str) else None


def key_start_url(req):
    body = req.json() or {}
    urls = start_urls(body) if isinstance(body.get("url", ""), str) else []
    return fault_label(urls[0]) if urls and isinstance(urls[0], str) else None


def key_bucket(req):
    """The raw segment when it names a behaviour itself, else the decoded name."""
    return req.ids[0] if behaviour(req.ids[0])[0] else decode_filename(req.ids[0])


def key_user(req):
    return req.query.get("userId")


# The routes besides the legacy status route (Handler.status_route): method,
# path pattern (matched without the query string; groups are percent-decoded
# into request.ids), handler, the contract path it answers for, and what its
# faults are keyed on.  The first match wins.
ROUTES = [
    ("POST", "/v4/crawl/?", r_start, "/v4/crawl/", key_start_url),
    ("POST", "/v4/crawl/start", r_start_config, "/v4/crawl/start", key_body("configId")),
    ("POST", "/v4/crawl/pause", r_pause, "/v4/crawl/pause", key_body("sessionId")),
    ("POST", "/v4/crawl/resume", r_resume, "/v4/crawl/resume", key_body("sessionId")),
    ("GET", "/v4/crawl/sessions", r_sessions, "/v4/crawl/sessions", key_user),
    ("POST", "/v4/crawl/config", r_config_create, "/v4/crawl/config", None),
    ("DELETE", "/v4/crawl/config", r_config_delete, "/v4/crawl/config", key_body("configId")),
    ("GET", "/v4/crawl/config/([^/]+)", r_config_get, "/v4/crawl/config/{configId}", key_path),
    ("GET", "/v4/crawl/bucket/data/([^/]+)", r_bucket, "/v4/crawl/bucket/data/{filenameb64}",
     key_bucket),
    ("GET", "/v4/crawl/([^/]+)/pages", r_pages, "/v4/crawl/{sessionId}/pages", key_path),
    ("GET", "/v4/crawl/([^/]+)/pages/([^/]+)", r_page, "/v4/crawl/{sessionId}/pages/{pageId}",
     key_path),
    ("GET", "/v4/crawl/([^/]+)/list", r_list, "/v4/crawl/{sessionId}/list", key_path),
]
ROUTES = [(m, re.compile(p.encode()), f, (m, op), k) for m, p, f, op, k in ROUTES]
STATUS_OP = ("GET", "/v4/crawl/{sessionId}/status")
START_OPS = {("POST", "/v4/crawl/"), ("POST", "/v4/crawl/start")}


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
        self.swallow_next = False       # close-after-next: drop the next answer
        self.swallow = False

    # ---- plumbing the behaviours use

    def head(self, code, length, ctype=JSON, headers=(), chunked=False):
        """Status line and headers; length None means no Content-Length."""
        if self.swallow:
            return
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
        if not self.swallow:
            self.wfile.write(data)

    def normal_body(self, sid):
        """What behaviours send as "the default 200": the route's own answer."""
        return self.normal if self.normal is not None else default_body(sid)

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
        self.body = self.read_request_body()
        self.normal, self.ctype = None, JSON
        if self.swallow_next:
            # close-after-next: this request is served (a start is recorded)
            # but its answer is dropped and the connection closed (FIN).
            self.swallow, self.close_connection = True, True

        m = ROUTE.fullmatch(self.raw_target)
        if self.command == "GET" and m and m.group(1) not in (b".", b".."):
            return self.status_route(b2s(urllib.parse.unquote_to_bytes(m.group(1))))

        path, _, query = self.raw_target.partition(b"?")
        if self.command == "GET" and path == b"/mock/starts":
            with STATE_LOCK:
                return self.reply(200, jdump({"count": len(STARTS), "urls": list(STARTS)}))
        if self.command == "GET" and path == b"/mock/callbacks":
            with STATE_LOCK:
                return self.reply(200, jdump({"count": len(CALLBACKS), "calls": list(CALLBACKS)}))
        if self.command == "GET" and path.startswith(b"/mock/hits/"):
            crawl = find_crawl(b2s(urllib.parse.unquote_to_bytes(path[len(b"/mock/hits/"):])), False)
            if crawl is None:
                return self.reply(404, jdump({"error": True, "message": "no such session"}))
            with STATE_LOCK:
                return self.reply(200, jdump(crawl.hits))
        if self.command == "GET" and path == b"/mock/last-query":
            with STATE_LOCK:
                return self.reply(200, jdump({"query": LAST_QUERY[0]}))
        for method, pattern, fn, op, key in ROUTES:
            m = pattern.fullmatch(path)
            if m and method == self.command and not {b".", b".."} & set(m.groups()):
                ids = [b2s(urllib.parse.unquote_to_bytes(g)) for g in m.groups()]
                with STATE_LOCK:
                    LAST_QUERY[0] = b2s(query)
                q = dict(urllib.parse.parse_qsl(b2s(query), keep_blank_values=True))
                return self.contract(op, Request(ids, q, self.body), fn, key)

        msg = "no such route: " + b2s(self.raw_target)
        return self.reply(404, jdump({"error": True, "message": msg}))

    def status_route(self, sid):
        """GET /v4/crawl/<id>/status: a started crawl answers live, any other id
        goes through the behaviour table exactly as it always has."""
        if find_crawl(sid, False):
            return self.contract(STATUS_OP, Request([sid], {}, self.body), r_status, None)
        fn, match = behaviour(sid)
        if fn is None:
            fn = b_default
        if sid not in NO_AUTH and not self.authorised():
            return self.reply(401, api_error(401, "Unauthorized: invalid or missing API key"))
        fn(self, sid, match)

    def contract(self, op, req, fn, key):
        """Answer a contract route: auth, then either the route's answer
        (self-checked against the contract) or, when the route's key names a
        behaviour, that behaviour with the route's answer as its "default 200"."""
        if op in START_OPS:
            record_start(start_url_of(op, req))
        key = key(req) if key else None
        bfn, match = behaviour(key) if isinstance(key, str) else (None, None)
        if not (bfn and key in NO_AUTH) and not self.authorised():
            return self.answer(op, err(401, "Unauthorized: invalid or missing API key"))
        a = fn(self, req, bfn is not None)
        if bfn is None or a.code != 200:
            return self.answer(op, a)
        self.normal, self.ctype = a.body(), a.ctype
        bfn(self, key, match)

    def answer(self, op, a):
        if a.delay and not self.pause(a.delay):
            return
        if a.raw is not None:
            return self.reply(a.code, a.raw, a.ctype)
        obj = a.obj
        if self.server.break_contract:
            obj = break_contract(op, a.code, obj)
        problem = None if a.exempt else check_response(op, a.code, obj)
        if problem:
            log("contract violation: %s", problem)
            obj = {"error": True, "message": "mock contract violation: " + problem}
            return self.reply(500, jdump(obj))
        self.reply(a.code, jdump(obj))

    def authorised(self):
        keys = self.headers.get_all("x-api-key") or []
        return len(keys) == 1 and keys[0].encode("latin-1", "replace") == self.server.key

    def read_request_body(self):
        """The body (at most 1 MiB) as bytes, or None when it was not read."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True       # not worth decoding: just hang up after
            return None
        try:
            n = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            n = -1
        if 0 < n <= 1 << 20:
            return self.rfile.read(n)
        if n != 0:
            self.close_connection = True
            return None
        return b""

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
    ap.add_argument("--break-contract", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    VERBOSE = args.verbose

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: os._exit(0))

    server = Server(("127.0.0.1", args.port), Handler)
    server.key = os.fsencode(args.key)
    server.break_contract = args.break_contract
    contract()
    if args.die_with_parent:
        threading.Thread(target=watch_parent, daemon=True).start()

    sys.stdout.write("%d %d\n" % (server.server_address[1], os.getpid()))
    sys.stdout.flush()
    log("listening on 127.0.0.1:%d", server.server_address[1])
    server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
