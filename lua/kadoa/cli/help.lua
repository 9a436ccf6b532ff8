-- kadoa.cli.help: the help texts of the kadoa command, one per topic
-- ("main", and one per command). Text only: main decides when to show
-- which and where. The main text's lists of commands and common options
-- come from kadoa.cli.verbs; each command's text is its manual.

local verbs = require("kadoa.cli.verbs")

local M = {}

-- What several texts say alike, written once.
local CONNECTION = [[
  --api-key-file PATH  read the API key from PATH (see kadoa --help)
  --base-url URL       the API's address
  -h, --help           show this help
]]

local LISTING_EXIT = [[
Exit codes:
  0    every listing page was fetched
  2    usage error
  3    API or network error (what came before it is printed)
  130  interrupted (Ctrl-C)
]]

-- "  name ARGS           one line": a left column of 21, wrapped when wider.
local function entry(left, desc)
  left = "  " .. left
  if #left > 22 then return left .. "\n" .. string.rep(" ", 23) .. desc .. "\n" end
  return left .. string.rep(" ", 23 - #left) .. desc .. "\n"
end

local commands, common = {}, {}
for _, v in ipairs(verbs.verbs) do
  commands[#commands + 1] = entry(v.name .. (v.usage ~= "" and (" " .. v.usage) or ""), v.desc)
end
for _, f in ipairs(verbs.flags_of(nil)) do
  common[#common + 1] = entry((f.short and ("-" .. f.short .. ", ") or "") .. "--" .. f.name
    .. (f.value and (" " .. f.value) or ""), f.desc)
end

M.main = [[
Usage: kadoa [OPTIONS] COMMAND [ARGS]

Start crawls with the Kadoa API, watch them, list and fetch their pages,
export them to a directory; any call of the API with kadoa api.

Commands:
]] .. table.concat(commands) .. [[

Options (every command):
]] .. table.concat(common) .. [[

The API key comes from the environment variable KADOA_API_KEY or from
--api-key-file. There is deliberately no --api-key option: a command's
arguments can be read by every user of the machine (ps, /proc/PID/cmdline)
and land in shell history. The key is never printed.

Environment:
  KADOA_API_KEY        the API key
  KADOA_BASE_URL       the API's address (--base-url wins)
  NO_COLOR             when set and not empty: plain output, no live line

Exit codes:
  0    done: the crawl finished (wait), every status was fetched (status),
       every page exported (export), the call succeeded (the others)
  1    the crawl failed (its status reports an error)
  2    usage error: bad command or option, no API key
  3    API or network error (not found, unauthorised, unreachable, ...);
       export: some pages failed
  4    timed out: the crawl did not finish within wait --timeout
  130  interrupted (Ctrl-C)
]]

M.status = [[
Usage: kadoa status [--json | --long] ID [ID...]

Print the status of each crawl, one line per session id, in order:
  3f2a…e91c  crawling  14 pages (2 active, 5 waiting)

Options:
  --json               print the API's JSON exactly as it came, one object
                       per line (for jq and friends)
  --long               an aligned multi-line view per crawl, listing every
                       field of the answer
]] .. CONNECTION .. [[

A status that cannot be fetched is reported on stderr and the others are
still printed.

Exit codes:
  0    every status was fetched (crawls may still be running)
  1    every status was fetched and at least one crawl failed
  2    usage error
  3    at least one status could not be fetched (API or network error)
  130  interrupted
]]

M.wait = [[
Usage: kadoa wait [OPTIONS] ID

Poll one crawl until it is over. On a terminal one line is redrawn in
place: a spinner, pages crawled, active and waiting jobs, pages per minute,
elapsed time. When stdout is not a terminal, NO_COLOR is set or --plain is
given, one plain line is printed each time the numbers change instead.

The interval starts at --interval, grows by half while nothing changes, up
to --max-interval, and drops back as soon as the crawl moves. Network and
server errors are retried (5 in a row end the wait); a missing crawl or a
rejected key end it at once.

Options:
  --interval T         first and shortest pause between polls (default 2s)
  --max-interval T     longest pause between polls (default 30s, or the
                       interval when that is longer)
  --timeout T          give up after T (default 1h); 0 polls once
  --plain              one plain line per change, even on a terminal
]] .. CONNECTION .. [[

T is a number of seconds, or a number with a unit: 500ms, 2s, 5m, 1h.

Exit codes:
  0    the crawl finished
  1    the crawl failed
  2    usage error
  3    API or network error (after retries, or one that retrying cannot fix)
  4    timed out
  130  interrupted (Ctrl-C); the last known state is printed first
]]

M.crawl = [[
Usage: kadoa crawl [OPTIONS] URL [URL...]
       kadoa crawl --body FILE.json [OPTIONS] [URL...]
       kadoa crawl --config CONFIG_ID [--wait ...]

Start a crawl and print its session id, and nothing else, on stdout:
  id=$(kadoa crawl https://example.com) && kadoa wait "$id"
One URL is sent as "url", several as "startUrls".

With --wait the id is printed first, then the crawl is watched exactly as
`kadoa wait` does (live line on a terminal, plain lines otherwise) and the
exit code is wait's.

Options:
  --max-pages N        stop after N pages (maxPages)
  --max-depth N        follow links at most N deep (maxDepth)
  --filter-in RE       crawl only paths matching RE (pathsFilterIn; repeatable)
  --filter-out RE      skip paths matching RE (pathsFilterOut; repeatable)
  --body FILE.json     a JSON object of the API's own fields ("-": stdin);
                       URLs and the options above override its fields
  --config CONFIG_ID   start the crawl of a saved config (kadoa config create);
                       no URL, --body or crawl options with it
  --wait               watch the crawl until it is over
  --interval T, --max-interval T, --timeout T, --plain
                       with --wait: as for `kadoa wait`
]] .. CONNECTION .. [[

Exit codes:
  0    the crawl started (with --wait: it finished)
  1    with --wait: the crawl failed
  2    usage error (no URL, a bad option, a --body that is no JSON object)
  3    API or network error
  4    with --wait: timed out
  130  interrupted (Ctrl-C)
]]

local function control(verb, what)
  return ([[
Usage: kadoa %s ID

%s the crawl ID and print one line saying so:
  3f2a0c4e-...  Crawl %sd
%s
Options:
]] .. CONNECTION .. [[

Exit codes:
  0    done (doing it twice is fine)
  2    usage error
  3    API or network error (for example: no such crawl)
  130  interrupted (Ctrl-C)
]]):format(verb, what, verb, verb == "pause"
    and "A paused crawl keeps its pages; `kadoa resume ID` goes on.\n" or "")
end
M.pause = control("pause", "Pause")
M.resume = control("resume", "Resume")

M.pages = [[
Usage: kadoa pages [--status S] [--json] ID

List every page of a crawl, all listing pages, in the order found: one
line each, page id, status and URL:
  p0003  DONE      https://example.com/about/page-3

Options:
  --status S           only pages with status S (DONE, CRAWLING, PENDING or
                       whatever the API says, e.g. READY; any case)
  --json               one JSON object per page: {"id","url","status"}
]] .. CONNECTION .. [[

]] .. LISTING_EXIT

M.page = [[
Usage: kadoa page [--format F] [-o FILE] ID PAGE_ID

Print the content of one crawled page (PAGE_ID as `kadoa pages` lists
it). To a pipe or a file it is written byte for byte; on a terminal each
line is cleaned, so escape sequences in a page are shown, not obeyed.

Options:
  --format F           markdown, md or html (default: the API's, html)
  -o, --output FILE    write the content to FILE instead of stdout
]] .. CONNECTION .. [[

Exit codes:
  0    the page was printed or written
  2    usage error
  3    API or network error (no such page, not crawled yet, ...), or FILE
       could not be written
  130  interrupted (Ctrl-C)
]]

M.sessions = [[
Usage: kadoa sessions [--json]

List every crawl session of the account, newest first, all listing pages:
one line each, session id (shortened), domain, state, pages:
  3f2a…e91c  example.com               finished  47 pages

Options:
  --json               one JSON object per session with the API's fields
                       (full ids, start URLs, creation time, ...)
]] .. CONNECTION .. [[

]] .. LISTING_EXIT

M.top = [[
Usage: kadoa top [--once] [--json] [--plain] [--interval DURATION]
                 [--max-interval DURATION] [--concurrency N]

Watch every crawl of the account at once. On a terminal: a full-screen
view, refreshed every 2 s while anything moves and more slowly (up to
30 s) while all is still; a header with the totals, one row per session,
running ones first, fastest first.

Keys:
  up/down, j/k         select a session (PgUp/PgDn, Home/End, g/G too)
  p                    pause the selected session (asks y/n first)
  r                    resume the selected session (asks y/n first)
  s                    change the order: activity, pages, domain, newest
  /                    filter by domain: type, Enter applies, Esc clears
  q                    quit (Ctrl-C too)

Not on a terminal (or with --plain, NO_COLOR, TERM=dumb), and with --once:
one snapshot as a table, then exit.

Options:
  --once               one refresh, one table (or one JSON line), then exit
  --json               the model as JSON lines, one per refresh, until
                       Ctrl-C (--once: one line)
  --plain              no full-screen view: one table, then exit
  --interval DURATION  the fastest refresh, while crawls move (default 2s)
  --max-interval DURATION  the slowest refresh, while all is still (default 30s)
  --concurrency N      status requests in flight at once (default 16)
  --api-key-file PATH  read the API key from PATH (see kadoa --help)
  --base-url URL       the API's address
  -h, --help           show this help

Exit codes:
  0    quit with q, or the snapshot was printed
  2    usage error
  3    API or network error (--once, --plain: the refresh failed)
  130  interrupted (Ctrl-C)
]]

M.export = [[
Usage: kadoa export [OPTIONS] ID DIR

Write every crawled page of a crawl into DIR (created when missing), one
file each, and DIR/index.jsonl, one JSON line per page (its URL, file and
outcome). Pages already in DIR are skipped, so running the command again
resumes an export that was interrupted or had failures.

On a terminal a progress bar is redrawn in place: pages done of the total,
pages per second, time left. When stdout is not a terminal, NO_COLOR is
set or --plain is given, a plain line is printed each tenth of the way
instead. A summary line ends it either way.

Options:
  --format F           markdown (default), md or html
  --concurrency N      pages fetched at once (default 16)
  --plain              plain lines, even on a terminal
]] .. CONNECTION .. [[

Exit codes:
  0    every page was written or was already there
  2    usage error
  3    some pages failed (listed in the index; run again to retry them),
       or an API or network error
  130  interrupted (Ctrl-C); run the same command again to resume
]]

M.config = [[
Usage: kadoa config create [--body FILE.json] [URL...]
       kadoa config get CONFIG_ID
       kadoa config delete CONFIG_ID

Crawl configs: saved crawl settings to start crawls from.
  create   store a config made of the URLs (one is "url", several
           "startUrls") and/or a --body file of the API's fields (URLs
           override its url and startUrls); prints only the new config id
           (start its crawl with: kadoa crawl --config CONFIG_ID)
  get      print the config as one JSON object
  delete   delete the config and print one line saying so

Options:
  --body FILE.json     (create) a JSON object of the API's fields ("-": stdin)
]] .. CONNECTION .. [[

Exit codes:
  0    done
  2    usage error (no action, no URL or --body, a bad --body file)
  3    API or network error (for example: no such config)
  130  interrupted (Ctrl-C)
]]

M.files = [[
Usage: kadoa files [--all] [--json] ID

List what is stored for a crawl's pages (the API's session_files call):
one line each, status, URL and the stored file's name, which
`kadoa file NAME` fetches:
  DONE      https://example.com/about  ZWNoby0xL3Aw...

Options:
  --all                every known page, not only the crawled ones
  --json               one JSON object per page with the API's fields
]] .. CONNECTION .. [[

Exit codes:
  0    the list was printed
  2    usage error
  3    API or network error (for example: no such crawl)
  130  interrupted (Ctrl-C)
]]

M.file = [[
Usage: kadoa file [-o FILE] NAME

Fetch one stored file (NAME as `kadoa files` lists it, an html_filename)
to standard output, byte for byte to a pipe or a file, cleaned line by
line on a terminal; with -o, streamed into FILE (written as FILE.part,
then renamed, so FILE is never half there).

Options:
  -o, --output FILE    write the file to FILE instead of stdout
]] .. CONNECTION .. [[

Exit codes:
  0    the file was printed or written
  2    usage error
  3    API or network error (no such file, ...), or FILE could not be written
  130  interrupted (Ctrl-C)
]]

M.api = [[
Usage: kadoa api CALL [ARG...] [--OPTION VALUE...] [--body FILE.json|-]

Make any call of the API (the names of the Lua client's methods: status,
pages, page, session_files, file, sessions, crawl, pause, ...) and print
its answer as JSON on one line, as it was decoded; a call whose answer is
bytes (file) prints them as they came. The checks are the Lua call's own:
its arguments, and its options by their declaration, so a number must be
a number and a misspelt name gets a suggestion.

  kadoa api pages 3f2a0c4e-... --page 2 --page_size 50
  kadoa api crawl https://example.com
  kadoa api config_create --body config.json

Arguments:
  ARG                  the call's words in order: session id, page id, ...
                       (a call that sends a JSON body takes it from --body,
                       or crawl a URL)
  --OPTION VALUE       an option of the call (page, page_size, format,
                       include_all, timeout, retries, raw, path, ...; -
                       and _ alike): true or false for a switch
  --body FILE.json     the JSON body of crawl or config_create ("-": stdin)
]] .. CONNECTION .. [[

Exit codes:
  0    the call succeeded
  2    usage error: no such call or option, a bad value or argument
  3    API or network error
  130  interrupted (Ctrl-C)
]]

M.help = M.main

return M
