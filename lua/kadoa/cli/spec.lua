-- kadoa.cli.spec: the command's verbs and flags described for the shells
-- and the man page (completions/gen.lua writes completions/* and doc/kadoa.1
-- from it). args.lua's OPTIONS says what the parser accepts; this adds what
-- a completion or a man page needs besides: order, one-line descriptions,
-- the placeholder of a value and what kind of word it is (a file, a
-- directory, one of a few words, or free text never completed: completion
-- makes no request, so session and config ids are not offered).
-- spec/completions_spec.lua holds the two tables to each other.

local M = {}

-- Verbs in the order `kadoa --help` lists them. args: what the words after
-- the verb are, for completion: "file"/"dir" per position (nil: not
-- completed), or words = a fixed list for the first one.
---@class kadoa.cli.spec.Verb
---@field name string
---@field desc string one line, for --help, the man page and the shells
---@field args? (string|nil)[] per word after the verb: "file", "dir" or nil (not completed)
---@field words? string[]|"verbs" the first word's choices ("verbs": the verbs' names)

---@type kadoa.cli.spec.Verb[]
M.verbs = {
  { name = "crawl", desc = "start a crawl; prints only its session id" },
  { name = "status", desc = "print the status of one or more crawls" },
  { name = "wait", desc = "poll a crawl until it finishes, fails or times out" },
  { name = "pause", desc = "pause a crawl" },
  { name = "resume", desc = "resume a paused crawl" },
  { name = "pages", desc = "list every page of a crawl" },
  { name = "page", desc = "print one page's content" },
  { name = "sessions", desc = "list every crawl session of the account" },
  { name = "top", desc = "a live view of every crawl of the account" },
  { name = "export", desc = "write every crawled page to a directory", args = { nil, "dir" } },
  { name = "config", desc = "crawl configs: create, get or delete",
    words = { "create", "get", "delete" } },
  { name = "help", desc = "show the help of kadoa or of a command", words = "verbs" },
}

-- Flags in the order a man page lists them; the ones every verb takes
-- first. value: placeholder of its value (none: a switch); kind: "file",
-- "dir", or a list of words; short: its one-letter spelling.
---@class kadoa.cli.spec.Flag
---@field name string the long name, without --
---@field desc string one line
---@field value? string the placeholder of its value (none: a switch)
---@field kind? "file"|"dir"|string[] what its value is, for completion (none: free text)
---@field short? string its one-letter spelling

---@type kadoa.cli.spec.Flag[]
M.flags = {
  { name = "api-key-file", value = "PATH", kind = "file",
    desc = "read the API key from PATH (\"-\": stdin)" },
  { name = "base-url", value = "URL", desc = "the API's address" },
  { name = "help", short = "h", desc = "show help and exit" },
  { name = "version", desc = "show the version and exit" },
  { name = "json", desc = "print JSON, one object per line" },
  { name = "long", desc = "an aligned multi-line view per crawl" },
  { name = "plain", desc = "plain lines, even on a terminal" },
  { name = "interval", value = "T", desc = "first and shortest pause between polls" },
  { name = "max-interval", value = "T", desc = "longest pause between polls" },
  { name = "timeout", value = "T", desc = "give up after T" },
  { name = "wait", desc = "watch the crawl until it is over" },
  { name = "max-pages", value = "N", desc = "stop after N pages" },
  { name = "max-depth", value = "N", desc = "follow links at most N deep" },
  { name = "filter-in", value = "RE", desc = "crawl only paths matching RE (repeatable)" },
  { name = "filter-out", value = "RE", desc = "skip paths matching RE (repeatable)" },
  { name = "body", value = "FILE.json", kind = "file",
    desc = "a JSON object of the API's fields (\"-\": stdin)" },
  { name = "config", value = "CONFIG_ID", desc = "start the crawl of a saved config" },
  { name = "status", value = "S", desc = "only pages with status S" },
  { name = "format", value = "F", kind = { "markdown", "md", "html" }, desc = "the page format" },
  { name = "output", short = "o", value = "FILE", kind = "file", desc = "write the content to FILE" },
  { name = "concurrency", value = "N", desc = "requests at once" },
  { name = "once", desc = "print one snapshot and exit" },
}

-- flags_of(verb) -> the flags `kadoa VERB` takes, in M.flags' order; the
-- verbs each flag belongs to come from args.lua, the parser's own table.
---@param verb string
---@return kadoa.cli.spec.Flag[]
function M.flags_of(verb)
  local options = require("kadoa.cli.args").OPTIONS
  local t = {}
  for _, f in ipairs(M.flags) do
    local only = options[f.name] and options[f.name].commands
    local fits = not only
    for _, c in ipairs(only or {}) do fits = fits or c == verb end
    if fits then t[#t + 1] = f end
  end
  return t
end

return M
