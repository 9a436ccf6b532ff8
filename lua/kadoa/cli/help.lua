-- kadoa.cli.help: the help texts, one per topic ("main", one per command). Usage
-- lines and options come from kadoa.cli.verbs; here is what each command does.

local verbs = require("kadoa.cli.verbs")

local M = {}

-- "  name ARGS           one line": a left column of 21, wrapped when wider.
local function entry(left, desc)
  left = "  " .. left
  if #left > 22 then return left .. "\n" .. string.rep(" ", 23) .. desc .. "\n" end
  return left .. string.rep(" ", 23 - #left) .. desc .. "\n"
end

local function flag_lines(verb)
  local t = {}
  for _, f in ipairs(verbs.flags_of(verb)) do
    if f.name ~= "version" or not verb then
      t[#t + 1] = entry((f.short and ("-" .. f.short .. ", ") or "") .. "--" .. f.name
        .. (f.value and (" " .. f.value) or ""), f.desc)
    end
  end
  return table.concat(t)
end

-- text(name, about, exits): exits, its own codes' meanings ({ [0] = ..., ... });
-- 2 and 130 are every command's.
local function text(name, about, exits)
  exits[2], exits[130] = exits[2] or "usage error", exits[130] or "interrupted (Ctrl-C)"
  local codes = {}
  for _, code in ipairs({ 0, 1, 2, 3, 4, 130 }) do
    if exits[code] then codes[#codes + 1] = ("  %-4d %s\n"):format(code, exits[code]) end
  end
  local usage = verbs.by_name[name].usage
  -- more usage lines (indented) follow the first directly
  return "Usage: kadoa " .. name .. " [OPTIONS]" .. (usage ~= "" and (" " .. usage) or "")
    .. (about:find("^ ") and "\n" or "\n\n") .. about .. "\nOptions:\n" .. flag_lines(name)
    .. "\nExit codes:\n" .. table.concat(codes)
end

local commands = {}
for _, v in ipairs(verbs.verbs) do
  commands[#commands + 1] = entry(v.name .. (v.usage ~= "" and (" " .. v.usage) or ""), v.desc)
end

M.main = [[
Usage: kadoa [OPTIONS] COMMAND [ARGS]

Start crawls with the Kadoa API, watch them, list and fetch their pages,
export them to a directory; any call of the API with kadoa api.

Commands:
]] .. table.concat(commands) .. [[

Options (every command):
]] .. flag_lines(nil) .. [[

The API key comes from the environment variable KADOA_API_KEY or from
--api-key-file. There is deliberately no --api-key option: a command's
arguments can be read by every user of the machine (ps, /proc/PID/cmdline)
and land in shell history. The key is never printed.

Environment:
  KADOA_API_KEY        the API key
  KADOA_BASE_URL       the API's address (--base-url wins; default
                       https://api.kadoa.com)
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
M.help = M.main

local API_ERROR = "API or network error"

M.status = text("status", [[
Print the status of each crawl, one line per session id, in order:
  3f2a…e91c  crawling  14 pages (2 active, 5 waiting)
--long: an aligned multi-line view per crawl, every field of the answer;
--json: the API's JSON exactly as it came, one object per line. A status
that cannot be fetched is reported on stderr and the others are printed.
The API has no paused state: a crawl paused through kadoa on this machine
says "paused" (until `kadoa resume ID`); the marks live in
$XDG_STATE_HOME/kadoa/marks.json (else ~/.local/state/kadoa/).
]], { [0] = "every status was fetched (crawls may still be running)",
  [1] = "every status was fetched and at least one crawl failed",
  [3] = "at least one status could not be fetched (" .. API_ERROR .. ")" })

local WAIT = [[
The interval starts at --interval (2s), grows by half while nothing
changes, up to --max-interval (30s, or the interval when longer), and
drops back as soon as the crawl moves; --timeout (1h; 0 polls once).
T is a number of seconds, or a number with a unit: 500ms, 2s, 5m, 1h.
]]

M.wait = text("wait", [[
Poll one crawl until it is over. On a terminal one line is redrawn in
place: a spinner, pages crawled, active and waiting jobs, pages per minute,
elapsed time. When stdout is not a terminal, NO_COLOR is set or --plain is
given, one plain line is printed each time the numbers change instead.
]] .. WAIT .. [[
Network and server errors are retried (5 in a row end the wait); a missing
crawl or a rejected key end it at once.
]], { [0] = "the crawl finished", [1] = "the crawl failed",
  [3] = API_ERROR .. " (after retries, or one that retrying cannot fix)", [4] = "timed out",
  [130] = "interrupted (Ctrl-C); the last known state is printed first" })

M.crawl = text("crawl", [[
       kadoa crawl --body FILE.json [OPTIONS] [URL...]
       kadoa crawl --config CONFIG_ID [--wait ...]

Start a crawl and print its session id, and nothing else, on stdout:
  id=$(kadoa crawl https://example.com) && kadoa wait "$id"
One URL is sent as "url", several as "startUrls"; --body's fields
(maxPages, ...) come first, URLs and flags override them. --config starts
a saved config's crawl (kadoa config create): no URL, --body or crawl
options with it. With --wait the id is printed first, then the crawl is
watched exactly as `kadoa wait` does, and the exit code is wait's. With
--export DIR the id is printed first, then its pages are written to DIR
as they are crawled, exactly as `kadoa export ID DIR --follow` does (its
progress line and exit codes; --plain too); after Ctrl-C that command
goes on where it stopped.
]], { [0] = "the crawl started (--wait: it finished; --export: all is home)",
  [1] = "with --wait or --export: the crawl failed",
  [2] = "usage error (no URL, a bad option, a --body that is no JSON object)",
  [3] = API_ERROR, [4] = "with --wait: timed out" })

local function control(verb, what)
  local after = verb == "pause" and "A paused crawl keeps its pages; `kadoa resume ID` goes on.\n" or ""
  return text(verb, ([[
%s the crawl ID and print one line saying so:
  3f2a0c4e-...  Crawl %sd
]]):format(what, verb) .. after,
    { [0] = "done (doing it twice is fine)", [3] = API_ERROR .. " (for example: no such crawl)" })
end
M.pause = control("pause", "Pause")
M.resume = control("resume", "Resume")

local LISTED = { [0] = "every listing page was fetched",
  [3] = API_ERROR .. " (what came before it is printed)" }

M.pages = text("pages", [[
List every page of a crawl, all listing pages, in the order found: one
line each, page id, status and URL (--json: {"id","url","status"}):
  p0003  DONE      https://example.com/about/page-3
--status: DONE, CRAWLING, PENDING or whatever the API says; any case.
--follow: on a running crawl, each page as it finishes, until the crawl
is over; "paused" (or "stalled": no move, no active job) is said on
stderr while it keeps waiting.
]], LISTED)

M.page = text("page", [[
Print the content of one crawled page (PAGE_ID as `kadoa pages` lists
it): markdown, md or html (--format; default: the API's, html). To a pipe
or a file it is written byte for byte; on a terminal each line is cleaned,
so escape sequences in a page are shown, not obeyed.
]], { [0] = "the page was printed or written",
  [3] = API_ERROR .. " (no such page, not crawled yet, ...), or FILE could not be written" })

M.files = text("files", [[
List what is stored for a crawl's pages (the API's session_files): one
line each, status, the stored file's name (`kadoa file NAME` fetches it)
and URL; --json: the API's fields.
]], { [0] = "the list was printed", [3] = API_ERROR .. " (for example: no such crawl)" })

M.file = text("file", [[
Fetch one stored file (NAME as `kadoa files` lists it) to stdout, byte for
byte to a pipe or a file, cleaned line by line on a terminal; with -o,
streamed into FILE (written as FILE.part, then renamed).
]], { [0] = "the file was printed or written",
  [3] = API_ERROR .. " (no such file, ...), or FILE could not be written" })

M.sessions = text("sessions", [[
List every crawl session of the account, newest first, all listing pages:
one line each, session id (shortened), domain, state, pages (--json: one
object per session with the API's fields):
  3f2a…e91c  example.com               finished  47 pages
]], LISTED)

M.top = text("top", [[
Watch every crawl of the account at once. On a terminal: a full-screen
view, refreshed every --interval while anything moves and more slowly (up
to --max-interval) while all is still; a header with the totals, one row
per session, running ones first, fastest first; a crawl paused through
kadoa shows "paused", one that has not moved with no active job over
several refreshes "stalled" (paused elsewhere, or stuck). Keys: up/down,
j/k (and PgUp/PgDn, Home/End, g/G) select a session; p pauses it, r
resumes it (asking y/n first); s changes the order (activity, pages,
domain, newest); / filters by domain (Enter applies, Esc clears); q
quits (Ctrl-C too).
Not on a terminal (or with --plain, NO_COLOR, TERM=dumb), and with --once:
one snapshot as a table, then exit. --json: the model as JSON lines, one
per refresh, until Ctrl-C (--once: one line). --concurrency: status
requests in flight at once (16).
]], { [0] = "quit with q, or the snapshot was printed",
  [3] = API_ERROR .. " (--once, --plain: the refresh failed)" })

M.export = text("export", [[
Write every crawled page of a crawl into DIR (created when missing), one
file each (--format: markdown, md or html; default markdown), and
DIR/index.jsonl, one JSON line per page (its URL, file and outcome). Pages
already in DIR are skipped, so running the command again resumes an export
that was interrupted or had failures. On a terminal a progress bar is
redrawn in place: pages done of the total, pages per second, time left;
otherwise (NO_COLOR, --plain) a plain line each tenth of the way. A
summary line ends it either way. --concurrency: pages fetched at once (16).
--follow: on a running crawl, pages are written as they are crawled, and
the export ends when the crawl is over and every page is home; the line
shows pages crawled, exported and the rate (and "paused" while the crawl
is; it keeps waiting). Ctrl-C leaves DIR resumable: the same command goes
on.
]], { [0] = "every page was written or was already there",
  [1] = "--follow: the crawl failed (what came home is in DIR)",
  [3] = "some pages failed (listed in the index; run again to retry them), or an " .. API_ERROR,
  [130] = "interrupted (Ctrl-C); run the same command again to resume" })

M.config = text("config", [[
       kadoa config create [--body FILE.json] [URL...]
       kadoa config get|delete CONFIG_ID

Crawl configs: saved crawl settings to start crawls from.
  create   store a config made of the URLs (one is "url", several
           "startUrls") and/or a --body file of the API's fields (URLs
           override its url and startUrls); prints only the new config id
           (start its crawl with: kadoa crawl --config CONFIG_ID)
  get      print the config as one JSON object
  delete   delete the config and print one line saying so
]], { [0] = "done", [2] = "usage error (no action, no URL or --body, a bad --body file)",
  [3] = API_ERROR .. " (for example: no such config)" })

M.api = text("api", [[
Make any call of the API (the names of the Lua client's methods: status,
pages, page, session_files, file, sessions, crawl, pause, ...) and print
its answer as the API sent it. ARG: the call's words in order (session
id, page id, ...); a call that sends a JSON body takes it from --body
("-": stdin), or crawl a URL. --OPTION VALUE: an option of the call (page,
page_size, format, include_all, timeout, retries, path, ...; - and _
alike; true or false for a switch; --raw false: the decoded answer as one
line of JSON). The checks are the Lua call's own: a number must be a
number, a misspelt name gets a suggestion.
  kadoa api pages 3f2a0c4e-... --page 2 --page_size 50
  kadoa api config_create --body config.json
]], { [0] = "the call succeeded",
  [2] = "usage error: no such call or option, a bad value or argument", [3] = API_ERROR })

return M
