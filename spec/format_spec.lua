-- kadoa.format: status results and errors as text for people.

local errors = require("kadoa.errors")
local kformat = require("kadoa.format")
local format, format_error = kformat.format, kformat.format_error

local null = require("cjson.safe").null
local E = "\226\128\166" -- the ellipsis, U+2026
local UUID = "3f2a1b2c-0000-4111-8222-33334444e91c"

-- True when s is well-formed UTF-8.
local function valid_utf8(s)
  local i = 1
  while i <= #s do
    local b = s:byte(i)
    local n
    if b < 0x80 then n = 1
    elseif b >= 0xC2 and b <= 0xDF then n = 2
    elseif b >= 0xE0 and b <= 0xEF then n = 3
    elseif b >= 0xF0 and b <= 0xF4 then n = 4
    else return false end
    for k = i + 1, i + n - 1 do
      local c = s:byte(k)
      if not c or c < 0x80 or c > 0xBF then return false end
    end
    i = i + n
  end
  return true
end

-- Characters in s (s is valid UTF-8).
local function chars(s)
  local _, n = s:gsub("[^\128-\191]", "")
  return n
end

-- No C0 control, no DEL, no C1 control encoded as UTF-8, valid UTF-8.
local function printable(s)
  return type(s) == "string" and valid_utf8(s) and not s:find("[%c\127]")
    and not s:find("\194[\128-\159]")
end

local function res(payload, fields)
  local r = { sessionId = "abc", payload = payload }
  for k, v in pairs(fields or {}) do r[k] = v end
  return r
end

describe("kadoa.format", function()
  describe("short style", function()
    it("shows a crawl in progress with pages and jobs", function()
      local r = { sessionId = UUID, error = nil,
        payload = { crawledPages = 14, activeJobs = 2, waitingJobs = 5, finished = false } }
      assert.are.equal("3f2a" .. E .. "e91c  crawling  14 pages (2 active, 5 waiting)", format(r))
    end)

    it("shows a finished crawl", function()
      assert.are.equal("abc  finished  14 pages", format(res({ crawledPages = 14, finished = true })))
      assert.are.equal("abc  finished  14 pages (0 active, 0 waiting)",
        format(res({ crawledPages = 14, activeJobs = 0, waitingJobs = 0, finished = true })))
    end)

    it("shows a failed crawl with its error", function()
      assert.are.equal("abc  failed: Proxy blocked  3 pages",
        format(res({ crawledPages = 3 }, { error = "Proxy blocked" })))
      assert.are.equal("abc  failed: boom", format(res(nil, { error = "boom" })))
      assert.are.equal("abc  failed", format(res(nil, { error = "" })))
    end)

    it("lets the error win over finished", function()
      assert.are.equal("abc  failed: boom  1 page",
        format(res({ crawledPages = 1, finished = true }, { error = "boom" })))
    end)

    it("renders an error that is not a string", function()
      assert.are.equal("abc  failed: 42", format(res(nil, { error = 42 })))
      assert.are.equal('abc  failed: {"code":"E1"}', format(res(nil, { error = { code = "E1" } })))
    end)

    it("does not take a null or false error as a failure", function()
      assert.are.equal("abc  crawling  2 pages", format(res({ crawledPages = 2 }, { error = null })))
      assert.are.equal("abc  crawling  2 pages", format(res({ crawledPages = 2 }, { error = false })))
    end)

    it("leaves out the parts that are absent", function()
      assert.are.equal("abc  crawling  7 pages (2 active)", format(res({ crawledPages = 7, activeJobs = 2 })))
      assert.are.equal("abc  crawling  7 pages (5 waiting)",
        format(res({ crawledPages = 7, waitingJobs = 5 })))
      assert.are.equal("abc  crawling  7 pages", format(res({ crawledPages = 7 })))
      assert.are.equal("abc  crawling  2 active, 5 waiting", format(res({ activeJobs = 2, waitingJobs = 5 })))
      assert.are.equal("abc  crawling", format(res({})))
      assert.are.equal("abc  crawling", format(res(nil)))
      assert.are.equal("abc  crawling  7 pages", format(res({ crawledPages = 7, activeJobs = null })))
    end)

    it("says page for one and pages otherwise", function()
      assert.are.equal("abc  crawling  1 page", format(res({ crawledPages = 1 })))
      assert.are.equal("abc  crawling  1 page", format(res({ crawledPages = 1.0 })))
      assert.are.equal("abc  crawling  0 pages", format(res({ crawledPages = 0 })))
      assert.are.equal("abc  crawling  2 pages", format(res({ crawledPages = 2 })))
      assert.are.equal("abc  crawling  1.5 pages", format(res({ crawledPages = 1.5 })))
    end)

    it("takes the id from opts.id, before sessionId", function()
      local r = { payload = { crawledPages = 14, finished = true } }
      assert.are.equal("finished  14 pages", format(r))
      assert.are.equal("xyz  finished  14 pages", format(r, { id = "xyz" }))
      r.sessionId = "abc"
      assert.are.equal("xyz  finished  14 pages", format(r, { id = "xyz" }))
      assert.are.equal("abc  finished  14 pages", format(r, { style = "short" }))
      assert.are.equal("finished  14 pages", format({ sessionId = "", payload = r.payload }))
    end)

    it("renders an id that is not a string", function()
      assert.are.equal("12345  crawling", format({ sessionId = 12345 }))
      assert.are.equal('{"a":1}  crawling', format({ sessionId = { a = 1 } }))
    end)

    it("caps a long error", function()
      local line = format(res({ crawledPages = 3 }, { error = string.rep("x", 1000) }))
      assert.are.equal("abc  failed: " .. string.rep("x", 200) .. E .. "  3 pages", line)
    end)

    it("never cuts a UTF-8 sequence when it caps", function()
      local line = format(res(nil, { error = string.rep("\195\169", 500) }))
      assert.is_true(valid_utf8(line))
      assert.are.equal("abc  failed: " .. string.rep("\195\169", 200) .. E, line)
    end)
  end)

  describe("ids", function()
    it("keeps ids of up to 20 characters", function()
      assert.are.equal("abcdefghijklmnopqrst  crawling", format({ sessionId = "abcdefghijklmnopqrst" }))
      assert.are.equal("", kformat.short_id(""))
    end)

    it("shortens longer ids in the middle", function()
      assert.are.equal("abcd" .. E .. "rstu  crawling", format({ sessionId = "abcdefghijklmnopqrstu" }))
      assert.are.equal("3f2a" .. E .. "e91c", kformat.short_id(UUID))
    end)

    it("counts UTF-8 characters, not bytes", function()
      local twenty = string.rep("\195\164", 20) -- 20 x a-umlaut, 40 bytes
      assert.are.equal(twenty, kformat.short_id(twenty))
      assert.are.equal(string.rep("\195\164", 4) .. E .. "ffff",
        kformat.short_id(string.rep("\195\164", 4) .. "bbbbccccddddeeeeffff"))
      local euro = "\226\130\172"
      assert.are.equal("a" .. euro .. "b" .. euro .. E .. "y" .. euro .. "z" .. euro,
        kformat.short_id("a" .. euro .. "b" .. euro .. "cdefghijklmnop" .. "y" .. euro .. "z" .. euro))
    end)

    it("keeps four-byte characters whole at both ends", function()
      local grin, wink = "\240\159\152\128", "\240\159\152\137"
      local id = string.rep(grin, 4) .. string.rep("x", 16) .. string.rep(wink, 4)
      local short = kformat.short_id(id)
      assert.are.equal(string.rep(grin, 4) .. E .. string.rep(wink, 4), short)
      assert.are.equal(9, chars(short))
    end)

    it("escapes bytes that are not UTF-8 and counts each as one character", function()
      assert.are.equal("\\xFF\\xFEab" .. E .. "wxyz", kformat.short_id("\255\254abcdefghijklmnopqrstuvwxyz"))
      assert.are.equal("abcd" .. E .. "xyz\\xC3", kformat.short_id("abcdefghijklmnopqrstuvwxyz\195"))
      assert.is_true(printable(kformat.short_id("\195\195\195\195\195\195\195\195\195\195\195\195\195\195")))
    end)

    it("escapes control characters in ids", function()
      assert.are.equal("a\\27[2Jb  crawling", format({ sessionId = "a\27[2Jb" }))
      assert.are.equal("\\27\\27\\27\\27" .. E .. "\\27\\27\\27\\27", kformat.short_id(string.rep("\27", 24)))
    end)
  end)

  describe("long style", function()
    local long = { style = "long" }

    it("lists the known fields, then unknown payload fields sorted, then unknown top-level ones", function()
      local r = {
        sessionId = UUID, error = null, requestCount = 3,
        payload = { crawledPages = 14, activeJobs = 2, waitingJobs = 5, finished = false,
          startedAt = "2024-05-01", zeta = { 1, 2 }, alpha = { b = 1, a = "x" }, Beta = true },
      }
      assert.are.equal(table.concat({
        "session       " .. UUID,
        "state         crawling",
        "pages         14",
        "active jobs   2",
        "waiting jobs  5",
        "Beta          true",
        'alpha         {"a":"x","b":1}',
        "startedAt     2024-05-01",
        "zeta          [1,2]",
        "requestCount  3",
      }, "\n"), format(r, long))
    end)

    it("shows the error row only for a failed crawl", function()
      local text = format(res({ crawledPages = 3, finished = true }, { error = "Proxy blocked" }), long)
      assert.are.equal(table.concat({
        "session       abc",
        "state         failed",
        "pages         3",
        "active jobs   -",
        "waiting jobs  -",
        "error         Proxy blocked",
      }, "\n"), text)
      assert.is_nil(format(res({ finished = true }), long):find("error", 1, true))
      assert.matches("state         finished", format(res({ finished = true }), long), 1, true)
    end)

    it("aligns every value on the widest name", function()
      local text = format({ payload = { averagePageSizeBytes = 512 } }, long)
      local column
      for line in (text .. "\n"):gmatch("(.-)\n") do
        local name_end = line:find("  %S")
        assert.is_not_nil(name_end, line)
        local at = line:find("%S", name_end + 2)
        column = column or at
        assert.are.equal(column, at, line)
      end
      assert.are.equal(23, column)
      assert.matches("^session               %-\n", text)
    end)

    it("aligns names with UTF-8 characters by characters", function()
      local text = format({ sessionId = "s", payload = { ["gr\195\182\195\159e"] = 1 } }, long)
      assert.matches("\ngr\195\182\195\159e         1$", text)
    end)

    it("shows a payload that is not a table as a row of its own", function()
      assert.matches("\npayload       weird$", format(res("weird"), long))
      assert.matches("\npayload       42$", format(res(42), long))
    end)

    it("lists a finished field that is not a boolean", function()
      local text = format(res({ finished = "yes" }), long)
      assert.matches("state         crawling", text, 1, true)
      assert.matches("\nfinished      yes", text, 1, true)
    end)

    it("caps long values, deep nesting and cycles", function()
      local deep = { a = { b = { c = { d = { e = 1 } } } } }
      local cyc = { name = "loop" }
      cyc.self = cyc
      local text = format(res({ big = string.rep("y", 500), deep = deep, cyc = cyc }), long)
      assert.matches('\nbig           ' .. string.rep("y", 120) .. E .. "\n", text, 1, true)
      assert.matches('\ndeep          {"a":{"b":{"c":{"d":{' .. E .. '}}}}}', text, 1, true)
      assert.matches('\ncyc           {"name":"loop","self":<cycle>}\n', text, 1, true)
    end)

    it("caps a value made of many parts", function()
      local list = {}
      for i = 1, 1000 do list[i] = i end
      local text = format(res({ list = list }), long)
      local line = text:match("\nlist +([^\n]*)")
      assert.is_true(chars(line) <= 121, line)
      assert.are.equal(E, line:sub(-3))
    end)

    it("lists at most 100 extra fields", function()
      local p = {}
      for i = 1, 105 do p[string.format("f%03d", i)] = i end
      local text = format(res(p), long)
      local _, lines = text:gsub("\n", "")
      assert.are.equal(5 + 100 + 1, lines + 1)
      assert.matches("\nf100 +100\n" .. E .. " +5 more fields$", text)
    end)

    it("shows absent numbers and id as a dash", function()
      assert.are.equal(table.concat({
        "session       -",
        "state         crawling",
        "pages         -",
        "active jobs   -",
        "waiting jobs  -",
      }, "\n"), format({}, long))
    end)

    it("shows the full id", function()
      assert.matches("^session       " .. UUID:gsub("%-", "%%-") .. "\n", format({ sessionId = UUID }, long))
    end)
  end)

  describe("any input", function()
    it("says so when there is no status", function()
      assert.are.equal("no status", format(nil))
      assert.are.equal("no status", format(null))
      assert.are.equal("no status", format(nil, { style = "long" }))
      assert.are.equal("xyz  no status", format(nil, { id = "xyz" }))
    end)

    it("names a value that is not a status", function()
      assert.are.equal("not a status: 42", format(42))
      assert.are.equal('not a status: "x"', format("x"))
      assert.are.equal("not a status: true", format(true))
      assert.are.equal("not a status: <function>", format(print))
    end)

    it("ignores opts that are not a table and styles it does not know", function()
      local r = res({ crawledPages = 2 })
      assert.are.equal("abc  crawling  2 pages", format(r, "long"))
      assert.are.equal("abc  crawling  2 pages", format(r, 5))
      assert.are.equal("abc  crawling  2 pages", format(r, { style = "fancy" }))
    end)

    it("handles payload numbers of any type", function()
      assert.are.equal("abc  crawling  14 pages", format(res({ crawledPages = "14" })))
      assert.are.equal("abc  crawling  nan pages", format(res({ crawledPages = 0 / 0 })))
      assert.are.equal("abc  crawling  inf pages (-inf active)",
        format(res({ crawledPages = math.huge, activeJobs = -math.huge })))
      assert.are.equal("abc  crawling  1e+300 pages", format(res({ crawledPages = 1e300 })))
      assert.are.equal("abc  crawling  -3 pages", format(res({ crawledPages = -3 })))
      assert.are.equal("abc  crawling  [1,2] pages", format(res({ crawledPages = { 1, 2 } })))
      assert.are.equal("abc  crawling  true pages", format(res({ crawledPages = true })))
    end)

    it("survives a table that contains itself", function()
      local r = { sessionId = "abc" }
      r.payload = r
      r.error = r
      assert.is_string(format(r))
      assert.is_string(format(r, { style = "long" }))
      assert.matches("<cycle>", format(r, { style = "long" }), 1, true)
    end)

    it("survives hostile metatables", function()
      local mt = {
        __index = function() error("no index") end,
        __newindex = function() error("no newindex") end,
        __pairs = function() error("no pairs") end,
        __len = function() error("no len") end,
        __tostring = function() error("no tostring") end,
        __eq = function() error("no eq") end,
        __lt = function() error("no lt") end,
        __le = function() error("no le") end,
        __concat = function() error("no concat") end,
      }
      local payload = setmetatable({ crawledPages = 3 }, mt)
      local r = setmetatable({ sessionId = "abc", payload = payload }, mt)
      assert.are.equal("abc  crawling  3 pages", format(r))
      assert.is_string(format(r, { style = "long" }))
      assert.is_string(format_error(r))
      assert.is_string(format_error(setmetatable({ kind = "network", message = "down" }, mt)))
    end)

    it("returns a printable string for every combination it is given", function()
      local cyc = {}
      cyc[1] = cyc
      local values = { false, true, 0, 1, -1, 0.5, 0 / 0, math.huge, "", "x", "\27[2J", "\255",
        {}, { 1, 2 }, { a = {} }, cyc, print, coroutine.create(function() end), io.stdout, null }
      local n = 0
      for _, v in ipairs(values) do
        for _, w in ipairs(values) do
          for _, style in ipairs({ "short", "long" }) do
            local shapes = {
              v, { sessionId = v, payload = w }, { error = v, payload = { crawledPages = w, finished = v } },
              { payload = { activeJobs = v, waitingJobs = w, [v == v and v or 1] = w } },
              { [w == w and w or 1] = v },
            }
            for _, shape in ipairs(shapes) do
              local text = format(shape, { style = style, id = (n % 7 == 0) and w or nil })
              if style == "short" then assert.is_nil(text:find("\n"), text) end
              assert.is_true(printable((text:gsub("\n", " "))), text)
              n = n + 1
            end
          end
          assert.is_true(printable(format_error(v)))
          assert.is_true(printable(format_error({ kind = v, message = w, status = v, request_id = w })))
        end
      end
      assert.is_true(n > 1000)
    end)
  end)

  describe("control characters", function()
    it("escapes them in the error so the terminal never sees them raw", function()
      local line = format(res(nil, { error = "\27[2Jgone\7" }))
      assert.are.equal("abc  failed: \\27[2Jgone\\7", line)
      assert.is_true(printable(line))
    end)

    it("writes newline, tab and carriage return as \\n, \\t and \\r", function()
      assert.are.equal("abc  failed: a\\nb\\tc\\rd", format(res(nil, { error = "a\nb\tc\rd" })))
    end)

    it("pads a numeric escape that a digit follows", function()
      assert.are.equal("abc  failed: \\0275 and \\27x and \\127",
        format(res(nil, { error = "\0275 and \27x and \127" })))
      assert.are.equal("abc  failed: \\0", format(res(nil, { error = "\0" })))
    end)

    it("escapes C1 controls, bidi overrides and bytes that are not UTF-8", function()
      assert.are.equal("abc  failed: a\\u{9B}2J", format(res(nil, { error = "a\194\1552J" })))
      assert.are.equal("abc  failed: \\u{202E}txt.exe", format(res(nil, { error = "\226\128\174txt.exe" })))
      assert.are.equal("abc  failed: \\xFFok", format(res(nil, { error = "\255ok" })))
      assert.are.equal("abc  failed: \\xED\\xA0\\x80", format(res(nil, { error = "\237\160\128" })))
    end)

    it("keeps ordinary UTF-8 text", function()
      assert.are.equal("abc  failed: Zugriff verweigert \226\128\147 gr\195\182\195\159er",
        format(res(nil, { error = "Zugriff verweigert \226\128\147 gr\195\182\195\159er" })))
    end)

    it("escapes them in the long view, in names and in nested values", function()
      local r = res({ ["k\27]0;x\7"] = { ["\27"] = "\27[31m" } }, { error = "e\r" })
      local text = format(r, { style = "long" })
      assert.is_true(printable(text:gsub("\n", " ")))
      assert.matches('k\\27]0;x\\7    {"\\27":"\\27[31m"}', text, 1, true)
      assert.matches("error         e\\r", text, 1, true)
    end)
  end)

  describe("format_error", function()
    it("writes one line with kind, message, status and request id", function()
      local err = errors.new("not_found", "Session not found", { status = 404, request_id = "abc" })
      assert.are.equal("not found: Session not found (HTTP 404, request-id abc)", format_error(err))
    end)

    local cases = {
      { "auth", "Invalid API key", { status = 401 }, "auth: Invalid API key (HTTP 401)" },
      { "bad_request", "Invalid session id", { status = 400 }, "bad request: Invalid session id (HTTP 400)" },
      { "rate_limited", "Too many requests", { status = 429, retry_after = 30 },
        "rate limited: Too many requests (HTTP 429, retry after 30 s)" },
      { "server", "HTTP 503 Service Unavailable", { status = 503 }, "server: HTTP 503 Service Unavailable" },
      { "http", "HTTP 302 Found", { status = 302 }, "http: HTTP 302 Found" },
      { "timeout", "no answer within 30 s", { attempts = 3 }, "timeout: no answer within 30 s (3 attempts)" },
      { "network", "could not connect", { attempts = 1 }, "network: could not connect" },
      { "network", "could not connect", { failures = 5 },
        "network: could not connect (5 failures in a row)" },
      { "tls", "certificate verify failed", nil, "tls: certificate verify failed" },
      { "decode", "body is not JSON", { status = 200, request_id = "r-1" },
        "decode: body is not JSON (HTTP 200, request-id r-1)" },
      { "too_large", "body over 1048576 bytes", nil, "too large: body over 1048576 bytes" },
      { "usage", "wait: the session id is empty", nil, "usage: wait: the session id is empty" },
      { "crawl_failed", "Proxy blocked", { result = {} }, "crawl failed: Proxy blocked" },
      { "timeout", "crawl not finished after 12.0 s", { result = {}, gave_up = "deadline" },
        "timeout: crawl not finished after 12.0 s" },
    }
    for _, case in ipairs(cases) do
      it("writes a " .. case[1] .. " error", function()
        assert.are.equal(case[4], format_error(errors.new(case[1], case[2], case[3])))
      end)
    end

    it("writes errors made from responses", function()
      local err = errors.from_report({ status = 502, content_type = "text/html",
        body = "<html><title>502 Bad Gateway</title></html>", request_id = "x-9" })
      assert.are.equal("server: 502 Bad Gateway (HTTP 502, request-id x-9)", format_error(err))
      err = errors.from_report({ status = 404, content_type = "application/json",
        body = '{"error":true,"message":"Session not found"}',
        json = { error = true, message = "Session not found" } })
      assert.are.equal("not found: Session not found (HTTP 404)", format_error(err))
    end)

    it("escapes control characters and caps the message", function()
      assert.are.equal("server: \\27[2Jx (request-id a\\nb)",
        format_error(errors.new("server", "\27[2Jx", { request_id = "a\nb" })))
      local text = format_error(errors.new("server", string.rep("m", 1000)))
      assert.are.equal("server: " .. string.rep("m", 300) .. E, text)
    end)

    it("takes values that are not errors", function()
      assert.are.equal("unknown error", format_error(nil))
      assert.are.equal("unknown error", format_error(null))
      assert.are.equal("unknown error", format_error(""))
      assert.are.equal("plain text", format_error("plain text"))
      assert.are.equal("a\\27b", format_error("a\27b"))
      assert.are.equal("error: 42", format_error(42))
      assert.are.equal("error: true", format_error(true))
      assert.are.equal("error: {}", format_error({}))
      assert.are.equal('error: {"code":7}', format_error({ code = 7 }))
      assert.are.equal("only a message", format_error({ message = "only a message" }))
      assert.are.equal("auth", format_error({ kind = "auth" }))
      assert.are.equal("7: m", format_error({ kind = 7, message = "m" }))
      local custom = setmetatable({}, { __tostring = function() return "custom" end })
      assert.are.equal("custom", format_error(custom))
      local broken = setmetatable({}, { __tostring = function() error("x") end })
      assert.are.equal("error: {}", format_error(broken))
    end)
  end)

  describe("helpers", function()
    it("text() makes untrusted text safe and caps it", function()
      assert.are.equal("a\\27b", kformat.text("a\27b"))
      assert.are.equal("abc" .. E, kformat.text("abcdef", 3))
      assert.are.equal("42", kformat.text(42))
      assert.are.equal("null", kformat.text(nil))
    end)

    it("number() writes whole numbers without a fraction", function()
      assert.are.equal("14", kformat.number(14.0))
      assert.are.equal("2.5", kformat.number(2.5))
      assert.are.equal("nan", kformat.number(0 / 0))
      assert.are.equal("x", kformat.number("x"))
    end)
  end)
end)
