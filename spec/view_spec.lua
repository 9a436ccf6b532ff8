-- kadoa.fleet.view: the text and JSON every view of the fleet shows (cells
-- with hostile server text, the columns a width keeps, totals, the view
-- orders and filter, the one JSON snapshot shape), and that no Neovim
-- module reaches the command's modules, directly or through another.

local view = require("kadoa.fleet.view")
local errors = require("kadoa.errors")
local text = require("kadoa.text")
local sub = require("spec.helpers.subprocess")

local function decode(s) return require("cjson").decode(s) end

local ID = "3f2a6c1e-0000-4000-8000-00000000e91c"
-- control characters (a retitle, a screen clear, a bell, a newline), a
-- bidi override, markup, and a byte that is not UTF-8
local HOSTILE = "evil\27]0;owned\7.example.com\r\n<img src=x onerror=alert(1)>\226\128\174moc\255"

local function snap_of(rows, fields)
  local s = { rows = rows, totals = { sessions = #rows, running = 0, paused = 0, finished = 0, failed = 0,
    pages = 0, pages_per_minute = 0, errors = 0 }, stale = false, refreshes = 1, refreshed = 10 }
  for k, v in pairs(fields or {}) do s[k] = v end
  return s
end

describe("kadoa.fleet.view", function()
  describe("text", function()
    it("puts hostile server text on one clean line, cut to the width", function()
      local r = { id = ID, domain = HOSTILE, state = "failed", pages = 12, error = "boom\27[2J\r\nagain" }
      for _, width in ipairs({ 200, 80, 40 }) do
        local line = view.row_line(r, width)
        assert.is_nil(line:find("%c"), line)             -- no ESC, BEL, CR, LF
        assert.is_nil(line:find("\226\128\174", 1, true)) -- the override is shown escaped, never obeyed
        assert.is_true(text.width(line) <= width, line)
        assert.matches("^3f2a…e91c  failed", line)
      end
      local wide = view.row_line(r, 200)
      assert.is_truthy(wide:find("evil ]0;owned .example.com <img", 1, true), wide)
      assert.is_truthy(wide:find("boom [2J again", 1, true), wide)
      -- markup is only text on a terminal: it stays readable
      r.domain = "<img src=x onerror=alert(1)>"
      assert.matches("  <img src=x onerror=alert%(1%)>  boom", view.row_line(r, 200))
      assert.are.equal("", view.cell(nil, 10))
      assert.are.equal("abcdefghij…", view.cell("abcdefghijklmnop", 10))   -- max, then the mark
    end)

    it("drops the optional columns of a narrow view, ELAPSED first, then ACTIVE, then WAIT", function()
      assert.matches("^SESSION +STATE +PAGES +PG/MIN +ACTIVE +WAIT +ELAPSED +DOMAIN$", view.heading(120))
      assert.matches("^SESSION +STATE +PAGES +PG/MIN +WAIT +DOMAIN$", view.heading(80))
      assert.matches("^SESSION +STATE +PAGES +PG/MIN +DOMAIN$", view.heading(70))
      assert.are.equal(40, text.width(view.heading(40)))
      local r = { id = "s1", domain = "a.example", state = "running", pages = 1500, pages_per_minute = 7.26,
        active = 3, waiting = 10, elapsed = 125 }
      assert.matches("^s1 +running +1500 +7%.3 +3 +10 +2m05s  a%.example$", view.row_line(r, 120))
      assert.matches("^s1 +running +1500 +7%.3  a%.example$", view.row_line(r, 70))
      -- nothing known: a dash, never "nil" or "nan"
      assert.matches("^s2 +unknown +%- +%- +%- +%- +%-  $",
        view.row_line({ id = "s2", domain = "", state = "unknown", pages = 0 / 0 }, 120))
    end)

    it("says the totals, what matters most first", function()
      local s = snap_of({})
      s.totals = { sessions = 12, running = 2, paused = 1, finished = 8, failed = 1, pages = 5678,
        pages_per_minute = 1234.4, errors = 1 }
      assert.are.equal("2 running  1234 pages/min  1 error  |  12 sessions, 1 paused, 8 finished, "
        .. "1 failed, 5678 pages", view.totals_line(s))
      s.totals.pages_per_minute, s.totals.errors, s.totals.sessions, s.totals.pages = 2.5, 0, 1, 1
      assert.matches("^2 running  2%.5 pages/min  0 errors  |  1 session, .* 1 page$", view.totals_line(s))
    end)

    it("tells an error value or a host's message in one cell", function()
      local e = errors.new("auth", "bad key", { status = 401 })
      assert.are.equal("auth: bad key (HTTP 401)", view.error_text(e))
      assert.are.equal("it\\nbroke", view.error_text("it\nbroke"))
      assert.are.equal("", view.error_text(nil))
      assert.are.equal(11, text.width(view.error_text(string.rep("x", 50), 10)))
    end)
  end)

  describe("rows", function()
    local rows = {
      { id = "b", domain = "Beta.example", state = "running", pages = 5, created = 2 },
      { id = "a", domain = "alpha.example", state = "running", pages = 50, created = 1 },
      { id = "c", domain = "gamma.example", state = "finished", created = 3 },
      { id = "d", domain = "alpha.example", state = "failed", pages = 50 },
    }
    local s = snap_of(rows)
    local function ids(list)
      local out = {}
      for i, r in ipairs(list) do out[i] = r.id end
      return table.concat(out, " ")
    end

    it("keeps the model's order for activity, sorts for the others, the id breaking ties", function()
      assert.are.equal("b a c d", ids(view.rows(s, "activity")))
      assert.are.equal("b a c d", ids(view.rows(s, nil)))
      assert.are.equal("a d b c", ids(view.rows(s, "pages")))      -- no pages sorts last
      assert.are.equal("a d b c", ids(view.rows(s, "domain")))     -- any case
      assert.are.equal("c b a d", ids(view.rows(s, "newest")))     -- no createdAt sorts last
      assert.are.equal("b a c d", ids(s.rows), "the snapshot's own rows stay in their order")
      assert.are.same({ "activity", "pages", "domain", "newest" }, view.SORTS)
    end)

    it("filters by domain, any case, as plain text", function()
      assert.are.equal("a d", ids(view.rows(s, "activity", "ALPHA")))
      assert.are.equal("b a c d", ids(view.rows(s, "activity", "")))
      assert.are.equal("", ids(view.rows(s, "activity", "a.e%")))   -- % is no pattern
      assert.are.equal("a d", ids(view.rows(s, "pages", "alpha.")))
    end)
  end)

  describe("json", function()
    it("has one shape: the rows (an array), totals, refresh facts and the host's fields", function()
      local row = { id = ID, domain = "a.example", state = "running", pages = 10, active = 3, waiting = 4,
        pages_per_minute = 0 / 0, elapsed = 5.5, seen = 99, created = 1.5e9,
        created_at = "2026-11-30T12:00:00Z",
        -- what is not in the shape never leaks, whatever it is
        at = 1, first = 2, hook = print, meta = setmetatable({}, { __tostring = error }) }
      local s = snap_of({ row })
      local text_ = view.json(s, { version = 7, at = 12.5, next = 2, bad = print, inf = math.huge })
      assert.is_nil(text_:find("[\n\r]"), "one line")
      local v = decode(text_)
      assert.are.same({ "at", "next", "refreshed", "refreshes", "rows", "stale", "totals", "version" },
        (function() local k = {} for n in pairs(v) do k[#k + 1] = n end table.sort(k) return k end)())
      assert.are.same({ id = ID, domain = "a.example", state = "running", pages = 10, active = 3, waiting = 4,
        elapsed = 5.5, seen = 99, created = 1.5e9, created_at = "2026-11-30T12:00:00Z" }, v.rows[1])
      assert.are.same(s.totals, v.totals)
      assert.are.same({ 7, 12.5, 2, 10, 1, false },
        { v.version, v.at, v.next, v.refreshed, v.refreshes, v.stale })
      -- no sessions: still an array, for every reader
      assert.matches('"rows":%[%]', view.json(snap_of({})))
      -- the same snapshot, the same text (keys in order)
      assert.are.equal(view.json(s), view.json(s))
    end)

    it("says a failed refresh as { kind, message, status, request_id }, a host bug as internal", function()
      local e = errors.new("server", "Service Unavailable",
        { status = 503, request_id = "req-1", attempts = 3, details = { x = 1 } })
      local v = decode(view.json(snap_of({}, { stale = true, error = e })))
      assert.is_true(v.stale)
      assert.are.same(
        { kind = "server", message = "Service Unavailable", status = 503, request_id = "req-1" }, v.error)
      v = decode(view.json(snap_of({}, { stale = true, error = "kadoa: top failed: boom" })))
      assert.are.same({ kind = "internal", message = "kadoa: top failed: boom" }, v.error)
      assert.is_nil(decode(view.json(snap_of({}))).error)
      -- text that is not UTF-8 anywhere: still JSON, that text escaped
      v = decode(view.json(snap_of({}, { stale = true, error = errors.new("decode", "bad \255 byte") })))
      assert.are.equal("bad \\xFF byte", v.error.message)
      v = decode(view.json(snap_of({}, { stale = true, error = {} })))
      assert.are.same("internal", v.error.kind)
    end)

    it("carries a hostile domain exactly, escaped as JSON and never as raw control bytes", function()
      local clean = HOSTILE:gsub("\255", "")
      local s = snap_of({ { id = "x", domain = clean, state = "failed", error = "boom\27[2J" } })
      local out = view.json(s)
      assert.is_nil(out:find("[%z\1-\31]"), "a raw control byte in " .. out)
      assert.is_truthy(out:find("\\u001b]0;owned\\u0007", 1, true), out)
      local back = decode(out).rows[1]
      assert.are.equal(clean, back.domain)        -- the markup is data: the page shows it as text
      assert.are.equal("boom\27[2J", back.error)
      -- a byte that is not UTF-8: still JSON, the text escaped for reading
      back = decode(view.json(snap_of({ { id = "x", domain = HOSTILE, state = "failed" } }))).rows[1]
      assert.matches("^evil\\27%]0;owned", back.domain)
      assert.matches("<img src=x onerror=alert%(1%)>", back.domain)
      assert.is_nil(back.domain:find("\255", 1, true))
    end)
  end)
end)

describe("Neovim and the command", function()
  -- the kadoa modules a file requires by name
  local function requires(src)
    local out = {}
    for name in src:gmatch("require%s*%(?%s*[\"']([%w_.]+)[\"']") do out[#out + 1] = name end
    return out
  end
  local function file_of(name)
    local base = "lua/" .. name:gsub("%.", "/")
    if sub.exists(base .. ".lua") then return base .. ".lua" end
    if sub.exists(base .. "/init.lua") then return base .. "/init.lua" end
  end

  it("the scan finds a require of the command in every spelling", function()
    assert.are.same({ "kadoa.cli.commands.top", "kadoa.cli", "kadoa.text" },
      requires([[local a = require("kadoa.cli.commands.top") require 'kadoa.cli' require "kadoa.text"]]))
  end)

  it("no Neovim module requires kadoa.cli.*, directly or through the modules it requires", function()
    local todo = { "plugin/kadoa.lua", "lua/kadoa/health.lua" }
    for f in sub.sh("ls lua/kadoa/nvim/*.lua"):gmatch("[^\n]+") do todo[#todo + 1] = f end
    assert.is_true(#todo > 5)
    local seen, bad = {}, {}
    while #todo > 0 do
      local f = table.remove(todo)
      if not seen[f] then
        seen[f] = true
        for _, name in ipairs(requires(assert(sub.read(f), f))) do
          if name == "kadoa.cli" or name:match("^kadoa%.cli%.") then bad[#bad + 1] = f .. " -> " .. name end
          local g = name:match("^kadoa") and file_of(name)
          if g and not seen[g] then todo[#todo + 1] = g end
        end
      end
    end
    assert.are.same({}, bad)
    assert.is_truthy(seen["lua/kadoa/fleet/view.lua"], "the scan does not reach the view's module")
  end)
end)
