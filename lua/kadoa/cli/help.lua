-- kadoa.cli.help: the help texts of the kadoa command, one per topic
-- ("main", and one per command). Text only: main decides when to show
-- which and where.

local M = {}

M.main = [[
Usage: kadoa [OPTIONS] COMMAND [ARGS]

Ask the Kadoa API how far a crawl got, or watch it until it is over.

Commands:
  status ID [ID...]    print the status of one or more crawls, one line each
  wait ID              poll a crawl until it finishes, fails or times out
  help [COMMAND]       show this help, or a command's (also: kadoa COMMAND --help)

Options (every command):
  --api-key-file PATH  read the API key from PATH (first line; "-" reads stdin)
  --base-url URL       the API's address (default: $KADOA_BASE_URL, else
                       https://api.kadoa.com)
  -h, --help           show help and exit
  --version            show the version and exit

The API key comes from the environment variable KADOA_API_KEY or from
--api-key-file. There is deliberately no --api-key option: a command's
arguments can be read by every user of the machine (ps, /proc/PID/cmdline)
and land in shell history. The key is never printed.

Environment:
  KADOA_API_KEY        the API key
  KADOA_BASE_URL       the API's address (--base-url wins)
  NO_COLOR             when set and not empty: plain output, no live line

Exit codes:
  0    done: the crawl finished (wait), every status was fetched (status)
  1    the crawl failed (its status reports an error)
  2    usage error: bad command or option, no API key
  3    API or network error (not found, unauthorised, unreachable, ...)
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
  --api-key-file PATH  read the API key from PATH (see kadoa --help)
  --base-url URL       the API's address
  -h, --help           show this help

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
  --api-key-file PATH  read the API key from PATH (see kadoa --help)
  --base-url URL       the API's address
  -h, --help           show this help

T is a number of seconds, or a number with a unit: 500ms, 2s, 5m, 1h.

Exit codes:
  0    the crawl finished
  1    the crawl failed
  2    usage error
  3    API or network error (after retries, or one that retrying cannot fix)
  4    timed out
  130  interrupted (Ctrl-C); the last known state is printed first
]]

return M
