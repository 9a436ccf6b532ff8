-- kadoa.cli.verbs: the kadoa command described once, in two tables: the
-- parser, the dispatch, the help, the completions and the man page read them.

local M = {}

---@class kadoa.cli.Flag
---@field name string the long name, without --
---@field desc string one line, for the man page and the shells
---@field value? string the placeholder of its value (none: a switch)
---@field kind? "file"|"dir"|string[] its value: a file, a directory, one of these words (checked)
---@field short? string its one-letter spelling
---@field list? boolean may be given again: a list
---@field verbs? string[] the only verbs that take it (none: every verb)
---@field whole? integer a whole number of at least this
---@field duration? "positive"|"any" a duration (2, 500ms, 5m, 1h)

-- In the order the man page lists them; the ones every verb takes first.
---@type kadoa.cli.Flag[]
M.flags = {
  { name = "api-key-file", value = "PATH", kind = "file",
    desc = "read the API key from PATH (\"-\": stdin)" },
  { name = "base-url", value = "URL", desc = "the API's address" },
  { name = "help", short = "h", desc = "show help and exit" },
  { name = "version", desc = "show the version and exit" },
  { name = "json", desc = "print JSON, one object per line",
    verbs = { "status", "pages", "sessions", "top", "files" } },
  { name = "long", desc = "an aligned multi-line view per crawl", verbs = { "status" } },
  { name = "plain", desc = "plain lines, even on a terminal", verbs = { "wait", "crawl", "export", "top" } },
  { name = "follow", desc = "go on as the crawl runs, until it is over", verbs = { "export", "pages" } },
  { name = "interval", value = "T", duration = "positive", desc = "first and shortest pause between polls",
    verbs = { "wait", "crawl", "top" } },
  { name = "max-interval", value = "T", duration = "positive", desc = "longest pause between polls",
    verbs = { "wait", "crawl", "top" } },
  { name = "timeout", value = "T", duration = "any", desc = "give up after T", verbs = { "wait", "crawl" } },
  { name = "wait", desc = "watch the crawl until it is over", verbs = { "crawl" } },
  { name = "export", value = "DIR", kind = "dir", desc = "write its pages to DIR as they are crawled",
    verbs = { "crawl" } },
  { name = "max-pages", value = "N", whole = 1, desc = "stop after N pages", verbs = { "crawl" } },
  { name = "max-depth", value = "N", whole = 0, desc = "follow links at most N deep", verbs = { "crawl" } },
  { name = "filter-in", value = "RE", list = true, desc = "crawl only paths matching RE (repeatable)",
    verbs = { "crawl" } },
  { name = "filter-out", value = "RE", list = true, desc = "skip paths matching RE (repeatable)",
    verbs = { "crawl" } },
  { name = "body", value = "FILE.json", kind = "file",
    desc = "a JSON object of the API's fields (\"-\": stdin)", verbs = { "crawl", "config", "api" } },
  { name = "config", value = "CONFIG_ID", desc = "start the crawl of a saved config", verbs = { "crawl" } },
  { name = "status", value = "S", desc = "only pages with status S", verbs = { "pages" } },
  { name = "all", desc = "every known page, not only the crawled ones", verbs = { "files" } },
  { name = "format", value = "F", kind = { "markdown", "md", "html" }, desc = "the page format",
    verbs = { "page", "export" } },
  { name = "output", short = "o", value = "FILE", kind = "file", desc = "write the content to FILE",
    verbs = { "page", "file" } },
  { name = "concurrency", value = "N", whole = 1, desc = "requests at once", verbs = { "export", "top" } },
  { name = "once", desc = "print one snapshot and exit", verbs = { "top" } },
}

---@class kadoa.cli.Verb
---@field name string
---@field usage string what follows the verb, for the main help and the man page
---@field desc string one line
---@field takes? string[] the words after the verb ("session id", ...): so many, and what to say when not
---@field max? number more words it takes (math.huge: any number)
---@field actions? table<string, kadoa.cli.Verb> the word after the verb picks one (config)
---@field args? (string|nil)[] per word after the verb, for completion: "file", "dir" or nil (not completed)
---@field words? string[]|"verbs" the first word's choices, for completion ("verbs": the verbs' names)
---@field any_option? boolean takes --NAME VALUE options of its own (kadoa api: a call's options)
---@field module? string its module, kadoa.cli.commands.<module> (default: the verb's name)
---@field fn? string the module's function that runs it, given a kadoa.cli.Context (default: "run")

---@class kadoa.cli.Context
---@field out table kadoa.cli.output's
---@field env table kadoa.cli.env's
---@field client kadoa.Client
---@field verb string
---@field action? string config's
---@field ids string[] the words after the verb (and its action)
---@field opts table the parsed options
---@field wopts? table wait's timing and display (args.wait_options, display.live), for wait and crawl --wait
---@field live fun(): boolean the live display on a terminal (display.live)

local ID, huge = { "session id" }, math.huge

-- In the order `kadoa --help` lists them.
---@type kadoa.cli.Verb[]
M.verbs = {
  { name = "crawl", usage = "URL...", desc = "start a crawl; prints only its session id", max = huge },
  { name = "status", usage = "ID [ID...]", desc = "print the status of one or more crawls", takes = ID,
    max = huge },
  { name = "wait", usage = "ID", desc = "poll a crawl until it finishes, fails or times out", takes = ID },
  { name = "pause", usage = "ID", desc = "pause a crawl", module = "control", takes = ID },
  { name = "resume", usage = "ID", desc = "resume a paused crawl", module = "control", takes = ID },
  { name = "pages", usage = "ID", desc = "list every page of a crawl", takes = ID, fn = "list" },
  { name = "page", usage = "ID PAGE_ID", desc = "print one page's content", module = "pages",
    takes = { "session id", "page id" }, fn = "show" },
  { name = "files", usage = "ID", desc = "list what is stored for a crawl's pages", takes = ID, fn = "list" },
  { name = "file", usage = "NAME [-o FILE]", desc = "fetch one stored file (a name `kadoa files` lists)",
    takes = { "file name" }, module = "files", fn = "fetch" },
  { name = "sessions", usage = "", desc = "list every crawl session of the account" },
  { name = "top", usage = "", desc = "a live view of every crawl of the account" },
  { name = "export", usage = "ID DIR", desc = "write every crawled page to a directory",
    takes = { "session id", "directory" }, args = { nil, "dir" } },
  { name = "config", usage = "create|get|delete", desc = "crawl configs: create, get or delete",
    words = { "create", "get", "delete" },
    actions = { create = { max = huge }, get = { takes = { "config id" } },
      delete = { takes = { "config id" } } } },
  { name = "api", usage = "CALL [ARG...]", desc = "any call of the API; prints its answer as JSON",
    takes = { "call name" }, max = huge, any_option = true },
  { name = "help", usage = "[COMMAND]", desc = "show the help of kadoa or of a command", words = "verbs",
    max = huge },
}

M.by_name = {}
for _, v in ipairs(M.verbs) do M.by_name[v.name] = v end
M.flag = {}
for _, f in ipairs(M.flags) do M.flag[f.name] = f end

-- takes(flag, verb): verb nil is before any verb, where only every verb's flags go
---@param f kadoa.cli.Flag
---@param verb string|nil
---@return boolean
function M.takes(f, verb)
  if not f.verbs then return true end
  for _, v in ipairs(f.verbs) do if v == verb then return true end end
  return false
end

---@param verb string|nil
---@return kadoa.cli.Flag[]
function M.flags_of(verb)
  local t = {}
  for _, f in ipairs(M.flags) do if M.takes(f, verb) then t[#t + 1] = f end end
  return t
end

return M
