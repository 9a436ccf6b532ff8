-- The annotations lint rule (spec/lint/annotations.lua, run by `make
-- lint`): on small sample files it reports a public function that lacks a
-- ---@param or a ---@return, and a kadoa.api call with no entry in the
-- definition file, and stays quiet on annotated code and on what is not
-- public. The script runs as `make lint` runs it (lua5.4, exit status and
-- file:line); its checker is also called directly. types/kadoa/core.lua
-- has a stub for each function the C module registers. Last, the LuaCATS
-- classes of kadoa.options and the kind alias of kadoa.errors name exactly
-- what those modules declare, so the editor's view cannot drift from the
-- checks.

local sub = require("spec.helpers.subprocess")
local lint = require("spec.lint.annotations")

local SCRIPT = "spec/lint/annotations.lua"
local LUA54 = sub.exists("/usr/bin/lua5.4") and "/usr/bin/lua5.4" or "lua5.4"

-- the "what" of every report in src, in order
local function found(src, opts)
  local out = {}
  for _, v in ipairs(lint.check(src, opts)) do out[#out + 1] = v.what end
  return out
end

-- run the script with these arguments, sources written to temporary
-- files first (their names replace { src } entries): output, exit status
local function run(args)
  local dir = sub.sh("mktemp -d"):gsub("%s+$", "")
  local cmd = LUA54 .. " " .. sub.quote(os.getenv("PWD") .. "/" .. SCRIPT)
  for i, a in ipairs(args) do
    if type(a) == "table" then
      local name = dir .. "/sample" .. i .. ".lua"
      sub.write(name, a[1])
      a = name
    end
    cmd = cmd .. " " .. sub.quote(a)
  end
  local p = assert(io.popen(cmd .. " 2>&1; echo \"rc=$?\""))
  local out = p:read("*a")
  p:close()
  os.execute("rm -rf " .. sub.quote(dir))
  local rc = tonumber(out:match("rc=(%d+)%s*$"))
  return (out:gsub("rc=%d+%s*$", "")), rc
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

describe("lint: annotations", function()
  describe("catches", function()
    it("a missing ---@param on a module function", function()
      assert.same({ "M.f: no ---@param for 'b'" }, found([[
local M = {}
---@param a string
---@return string
function M.f(a, b) return a .. b end
return M
]]))
    end)

    it("a ---@param naming no parameter (left behind by a rename)", function()
      assert.same({ "M.f: no ---@param for 'name'", "M.f: ---@param 'id' names no parameter" }, found([[
local M = {}
---@param id string
function M.f(name) print(name) end
return M
]]))
    end)

    it("a missing ---@return on a function that returns a value", function()
      assert.same({ "M.f: returns a value but has no ---@return" }, found([[
local M = {}
---@param a number
function M.f(a)
  if a then return nil, "no" end
end
return M
]]))
    end)

    it("methods of a class whose objects go out (X.__index = X); self needs nothing", function()
      assert.same({ "Obj:get: no ---@param for 'k'", "Obj:get: returns a value but has no ---@return" },
        found([[
local Obj = {}
Obj.__index = Obj
function Obj:get(k) return self[k] end
local M = {}
function M.new() end
return M
]]))
    end)

    it("M.f = function(...) and a vararg", function()
      assert.same({ "M.f: no ---@param for '...'" }, found([[
local M = {}
---@return integer
M.f = function(...) return select("#", ...) end
return M
]]))
    end)

    it("a local function the module exports, or returns itself", function()
      assert.same({ "helper: no ---@param for 'x'" }, found([[
local M = {}
local function helper(x) print(x) end
M.helper = helper
return M
]]))
      assert.same({ "call: no ---@param for 'x'", "call: returns a value but has no ---@return" },
        found([[
local function call(x) return x end
return call
]]))
    end)

    it("the module as return setmetatable(M, mt), and the values of a returned constructor", function()
      assert.same({ "M.f: no ---@param for 'x'" }, found([[
local M = {}
function M.f(x) print(x) end
return setmetatable(M, { __call = function() end })
]]))
      assert.same({ "run: no ---@param for 'x'" }, found([[
local function run(x) print(x) end
local function helper(y) print(y) end
helper(1)
return { run = run, version = "1" }
]]))
    end)

    it("a public table stored in the module (M.Sub = Sub)", function()
      assert.same({ "Sub.f: no ---@param for 'x'" }, found([[
local Sub = {}
function Sub.f(x) print(x) end
local M = { }
M.Sub = Sub
return M
]]))
    end)

    it("a stub of a definition file without its ---@param (no @return rule there)", function()
      assert.same({ "Client:status: no ---@param for 'opts'" }, found([[
---@meta
---@class kadoa.Client
local Client = {}
---@param id string
function Client:status(id, opts) end
]], { stubs = true }))
    end)

    it("a call of M.calls with no entry in the definition file", function()
      local api = [[
local M = {}
M.calls = {
  status = { "GET", "/v4/crawl/{session id}/status", query = { page = { "p" } } },
  ["pages"] = { "GET", "/x" },
  crawl = { "POST", "/v4/crawl/" },
}
return M
]]
      local types = [[
---@meta
---@class kadoa.Client
---@field crawl fun(self: kadoa.Client, body: table): table
local Client = {}
---@param id string
function Client:status(id) end
]]
      local out = lint.check_calls(api, types)
      assert.equal(1, #out)
      assert.equal(4, out[1].line)
      assert.matches("call 'pages' has no", out[1].what, 1, true)
    end)
  end)

  describe("passes", function()
    it("annotated functions, including optional and vararg parameters", function()
      assert.same({}, found([[
local M = {}
-- f(a [, opts]) -> a | nil, err: why it exists
---@param a string
---@param opts? table
---@return string|nil
---@return table|nil err
function M.f(a, opts) if opts then return nil, {} end return a end
---@param ... any
---@return integer
M.g = function(...) return select("#", ...) end
return M
]]))
    end)

    it("a function that returns nothing needs no ---@return (a nested function's return is its own)",
      function()
        assert.same({}, found([[
local M = {}
---@param list table
function M.each(list)
  table.sort(list, function(a, b) return a < b end)
  for _ = 1, 2 do if list then return end end
end
return M
]]))
      end)

    it("private and local functions, metamethods and functions of other tables", function()
      assert.same({}, found([[
local M = {}
local Obj = {}
Obj.__index = Obj
function Obj:__tostring() return "obj" end
function Obj:_secret(x) return x end
function M._internal(x) return x end
local function helper(x) return x end
local other = {}
function other.f(x) return helper(x) end
return M
]]))
    end)

    it("a comment block broken by a blank line does not count", function()
      assert.same({ "M.f: no ---@param for 'a'" }, found([[
local M = {}
---@param a string

function M.f(a) print(a) end
return M
]]))
    end)
  end)

  describe("the script", function()
    it("lists file:line and exits 1; exits 0 on clean files", function()
      local out, rc = run({ { "local M = {}\n\nfunction M.f(a) return a end\nreturn M\n" } })
      assert.equal(1, rc)
      assert.matches("sample1.lua:3: M.f: no ---@param for 'a'", out, 1, true)
      assert.matches("sample1.lua:3: M.f: returns a value but has no ---@return", out, 1, true)
      out, rc = run({ { "local M = {}\n---@param a any\n---@return any\n"
        .. "function M.f(a) return a end\nreturn M\n" } })
      assert.equal(0, rc, out)
      assert.equal("", out)
    end)

    it("checks the calls of --api against --types", function()
      local out, rc = run({ "--api", { "local M = {}\nM.calls = { a = {}, b = {} }\nreturn M\n" },
        "--types", { "---@meta\n---@field a any\nlocal X = {}\n" } })
      assert.equal(1, rc)
      assert.matches("call 'b' has no", out, 1, true)
    end)

    it("finds the tree's API calls all in types/kadoa.lua", function()
      local calls = lint.calls(read("lua/kadoa/api.lua"))
      local n = 0
      for _ in pairs(require("kadoa.api").calls) do n = n + 1 end
      assert.equal(n, #calls)
      assert.same({}, lint.check_calls(read("lua/kadoa/api.lua"), read("types/kadoa.lua")))
    end)
  end)

  describe("types/kadoa/core.lua says what the C module registers", function()
    -- the names of a luaL_Reg table in C source: { "name", fn }, ...
    local function registered(src, tbl)
      local body = src:match("luaL_Reg%s+" .. tbl .. "%[%]%s*=%s*(%b{})")
      assert(body, "no luaL_Reg " .. tbl)
      local out = {}
      for name in body:gmatch('{%s*"([%w_]+)"') do out[#out + 1] = name end
      return out
    end
    local types = read("types/kadoa/core.lua")
    local function stub(class, sep, name)
      return types:find("\nfunction " .. class .. sep .. name .. "(", 1, true) ~= nil
    end
    local cases = {
      { "src/core.c", "module_funcs", "core", "." },
      { "src/core.c", "client_methods", "Transport", ":" },
      { "src/multi.c", "kd_multi_methods", "Transport", ":" },
      { "src/multi.c", "req_methods", "Handle", ":" },
      { "src/term.c", "tty_methods", "Tty", ":" },
    }
    for _, c in ipairs(cases) do
      it(c[2] .. " of " .. c[1] .. ": each has its stub on " .. c[3], function()
        local names = registered(read(c[1]), c[2])
        assert.is_true(#names > 0)
        local missing = {}
        for _, n in ipairs(names) do
          if not stub(c[3], c[4], n) then missing[#missing + 1] = n end
        end
        assert.same({}, missing)
      end)
    end
  end)

  describe("the classes say what the modules declare", function()
    -- the ---@field names of class `name` in src (and of its parents)
    local function fields(src, name)
      local out, on = {}, false
      for line in (src .. "\n"):gmatch("([^\n]*)\n") do
        local cls, parent = line:match("^%-%-%-@class%s+([%w_.]+)%s*:?%s*([%w_.]*)")
        if cls then
          on = cls == name
          if on and parent ~= "" then
            for k in pairs(fields(src, parent)) do out[k] = true end
          end
        elseif on then
          local f = line:match("^%-%-%-@field%s+([%w_]+)")
          if f then out[f] = true elseif not line:match("^%-%-%-") then on = false end
        end
      end
      return out
    end

    -- every group of kadoa.options, including ones added later: its class
    -- is kadoa.<Group>Options unless named here
    local CLASSES = { nvim = "kadoa.nvim.Options", resty = "kadoa.resty.Options" }
    local options = require("kadoa.options")
    local groups = {}
    for group in pairs(options.groups) do groups[#groups + 1] = group end
    table.sort(groups)

    for _, group in ipairs(groups) do
      local class = CLASSES[group] or ("kadoa." .. group:sub(1, 1):upper() .. group:sub(2) .. "Options")
      it(class .. " has a field for each option of group " .. group .. ", and no other", function()
        -- the class may live beside the code that takes the options
        local parts = {}
        local p = assert(io.popen("find lua/kadoa -name '*.lua' | LC_ALL=C sort"))
        for f in p:lines() do parts[#parts + 1] = read(f) end
        p:close()
        local src = table.concat(parts, "\n")
        local want, have = {}, fields(src, class)
        for k in pairs(options.groups[group]) do want[k] = true end
        if group == "nvim" then want.client, want.wait, want.top = true, true, true end   -- setup's tables
        if group == "resty" then have.ca_file = nil end   -- nginx decides trust
        assert.same(want, have)
      end)
    end

    it("kadoa.ErrorKind lists exactly errors.kinds", function()
      local src = read("lua/kadoa/errors.lua")
      local alias, on = {}, false
      for line in (src .. "\n"):gmatch("([^\n]*)\n") do
        if line:match("^%-%-%-@alias%s+kadoa%.ErrorKind") then on = true
        elseif on then
          local k = line:match('^%-%-%-|%s*"([%w_]+)"')
          if k then alias[k] = true else on = false end
        end
      end
      assert.same(require("kadoa.errors").kinds, alias)
    end)
  end)
end)
