-- Lint rule: every public function carries its LuaCATS annotations.
--
--   lua5.4 spec/lint/annotations.lua                 the whole tree (make lint)
--   lua5.4 spec/lint/annotations.lua FILE...         just these modules
--   lua5.4 spec/lint/annotations.lua --api A --types T [FILE...]
--                                                    A's calls against T
--
-- Editors (lua-language-server) read `---@param` and `---@return`; a
-- public function without them is one users must guess at. This reads
-- the annotations themselves, not a naming convention, and reports
-- file:line (exit status 1):
--
-- * Public functions: `function X.f(`, `function X:f(`, `X.f = function(`,
--   and `local function f(` / `local f = function(` when f itself is
--   exported, where X is public: the table the module returns
--   (`return M`, `return setmetatable(M, mt)`, or the names in a returned
--   `{ k = v }`), a table stored
--   in a public one (`M.Client = Client`), or a class whose objects go
--   out (`X.__index = X`). Names starting with `_` (private fields,
--   metamethods) are skipped, and so is all of `local function` else.
--   The comment block right above (consecutive `--` lines) must hold a
--   `---@param NAME` for each parameter but `self` (`...` included), no
--   `---@param` for a name that is not a parameter (left by a rename), and
--   at least one `---@return` when the function returns a value at its
--   own level (a `return` with an expression, not inside a nested
--   function).
-- * Generated methods: every call declared in `lua/kadoa/api.lua`'s
--   `M.calls` (made into client methods at load time, so no source line
--   can carry them) must have an entry in `types/kadoa.lua`: a
--   `---@field NAME` or a `function X:NAME(` / `function X.NAME(` stub.
-- * Definition files (`types/**.lua`, `---@meta`): each stub's parameters
--   need their `---@param` too (stubs have no body, so no @return rule).
--
-- Plain Lua (written for 5.4, runs on 5.1 too); no libraries. The
-- tokenizer is private_fields.lua's (comments and strings of every form
-- handled once, there).

local function here()
  local src = debug.getinfo(1, "S").source
  return (src:sub(1, 1) == "@" and src:sub(2) or src):match("^(.*)/[^/]+$") or "."
end

local pf = assert(loadfile(here() .. "/private_fields.lua"))("spec.lint.private_fields")

local M = {}

local OPENERS = { ["function"] = true, ["if"] = true, ["do"] = true, ["repeat"] = true }
local CLOSERS = { ["end"] = true, ["until"] = true }
local NO_VALUE = { ["end"] = true, ["else"] = true, ["elseif"] = true, ["until"] = true }

local function lines_of(src)
  local out = {}
  for l in (src .. "\n"):gmatch("([^\n]*)\n") do out[#out + 1] = l end
  return out
end

-- The annotations in the comment block that ends right above line n:
-- { params = { name = true }, returns = count }.
local function block_above(lines, n)
  local params, returns = {}, 0
  local i = n - 1
  while i >= 1 and lines[i]:match("^%s*%-%-") do
    local l = lines[i]
    local p = l:match("^%s*%-%-%-%s*@param%s+([%w_%.]+)")
    if p then params[p] = true end
    if l:match("^%s*%-%-%-%s*@return") then returns = returns + 1 end
    i = i - 1
  end
  return { params = params, returns = returns }
end

-- The public names of a token list: the returned table (or the values of
-- a returned constructor), what public tables hold, and classes.
local function public_names(toks)
  local pub = {}
  -- the last top-level `return`: everything after it is the returned value
  local last
  for k, t in ipairs(toks) do
    if t.t == "keyword" and t.v == "return" then last = k end
  end
  if last then
    local a = toks[last + 1]
    if a and a.t == "name" and (not toks[last + 2]) then
      pub[a.v] = true
    elseif a and a.v == "setmetatable" and toks[last + 2] and toks[last + 2].v == "("
        and toks[last + 3] and toks[last + 3].t == "name" and toks[last + 4] and toks[last + 4].v == "," then
      pub[toks[last + 3].v] = true       -- return setmetatable(M, { ... })
    elseif a and a.v == "{" then
      local depth = 0
      for k = last + 1, #toks do
        local t = toks[k]
        if t.v == "{" or t.v == "(" or t.v == "[" then depth = depth + 1
        elseif t.v == "}" or t.v == ")" or t.v == "]" then depth = depth - 1
        elseif depth == 1 and t.v == "=" and toks[k + 1] and toks[k + 1].t == "name"
            and toks[k + 2] and (toks[k + 2].v == "," or toks[k + 2].v == "}" or toks[k + 2].v == ";") then
          pub[toks[k + 1].v] = true
        end
      end
    end
  end
  -- classes: X.__index = X
  for k, t in ipairs(toks) do
    if t.t == "name" and toks[k + 1] and toks[k + 1].v == "." and toks[k + 2]
        and toks[k + 2].v == "__index" and toks[k + 3] and toks[k + 3].v == "="
        and toks[k + 4] and toks[k + 4].v == t.v then
      pub[t.v] = true
    end
  end
  -- what public tables hold: P.f = X (X a plain name, the whole value)
  local grew = true
  while grew do
    grew = false
    for k, t in ipairs(toks) do
      local prev = toks[k - 1]
      if t.t == "name" and pub[t.v] and not (prev and (prev.v == "." or prev.v == ":"))
          and toks[k + 1] and toks[k + 1].v == "." and toks[k + 2] and toks[k + 2].t == "name"
          and toks[k + 3] and toks[k + 3].v == "=" and toks[k + 4] and toks[k + 4].t == "name" then
        local after = toks[k + 5]
        local v = toks[k + 4].v
        if not (after and (after.v == "." or after.v == ":" or after.v == "(" or after.v == "["
            or after.v == "{" or after.t == "string")) and not pub[v] then
          pub[v] = true
          grew = true
        end
      end
    end
  end
  return pub
end

-- The parameters between the `(` at toks[k] and its `)`: names, and the
-- index of the `)`.
local function params_at(toks, k)
  local names = {}
  local j = k + 1
  while toks[j] and toks[j].v ~= ")" do
    if toks[j].t == "name" or toks[j].v == "..." then names[#names + 1] = toks[j].v end
    j = j + 1
  end
  return names, j
end

-- Whether the function whose body starts after toks[k] returns a value
-- at its own level (not from a nested function).
local function returns_value(toks, k)
  local stack, fdepth = { "function" }, 1
  local j = k + 1
  while toks[j] and #stack > 0 do
    local t = toks[j]
    if t.t == "keyword" then
      if OPENERS[t.v] then
        stack[#stack + 1] = t.v
        if t.v == "function" then fdepth = fdepth + 1 end
      elseif CLOSERS[t.v] then
        local top = table.remove(stack)
        if top == "function" then fdepth = fdepth - 1 end
      elseif t.v == "return" and fdepth == 1 then
        local n = toks[j + 1]
        if n and not (n.t == "keyword" and NO_VALUE[n.v]) and n.v ~= ";" then return true end
      end
    end
    j = j + 1
  end
  return false
end

-- The definitions a file makes: { line, name, params, open } where open
-- is the index of the `(` of its parameter list; `public` filters.
local function definitions(toks, pub, all)
  local defs = {}
  local function add(line, name, key, colon, open)
    if key:sub(1, 1) == "_" then return end
    local params = params_at(toks, open)
    local ps = {}
    for _, p in ipairs(params) do if p ~= "self" then ps[#ps + 1] = p end end
    defs[#defs + 1] = { line = line, name = name, params = ps, open = open, key = key, colon = colon }
  end
  for k, t in ipairs(toks) do
    local prev = toks[k - 1]
    if t.t == "keyword" and t.v == "function" and toks[k + 1] and toks[k + 1].t == "name" then
      if prev and prev.v == "local" then
        local n = toks[k + 1].v
        if pub[n] and toks[k + 2] and toks[k + 2].v == "(" then
          add(prev.line, n, n, false, k + 2)
        end
      else
        -- function A.b.c(  /  function A:b(
        local j, path, colon = k + 2, { toks[k + 1].v }, false
        while toks[j] and (toks[j].v == "." or toks[j].v == ":") and toks[j + 1]
            and toks[j + 1].t == "name" do
          if toks[j].v == ":" then colon = true end
          path[#path + 1] = toks[j + 1].v
          j = j + 2
        end
        if #path >= 2 and toks[j] and toks[j].v == "(" and (all or pub[path[1]]) then
          local key = table.remove(path)
          add(t.line, table.concat(path, ".") .. (colon and ":" or ".") .. key, key, colon, j)
        end
      end
    elseif t.t == "name" and not (prev and (prev.v == "." or prev.v == ":"))
        and toks[k + 1] and toks[k + 1].v == "." and toks[k + 2] and toks[k + 2].t == "name"
        and toks[k + 3] and toks[k + 3].v == "=" and toks[k + 4] and toks[k + 4].v == "function"
        and toks[k + 5] and toks[k + 5].v == "(" and (all or pub[t.v]) then
      -- A.b = function(
      add(t.line, t.v .. "." .. toks[k + 2].v, toks[k + 2].v, false, k + 5)
    elseif t.t == "name" and prev and prev.v == "local" and pub[t.v] and toks[k + 1]
        and toks[k + 1].v == "=" and toks[k + 2] and toks[k + 2].v == "function"
        and toks[k + 3] and toks[k + 3].v == "(" then
      -- local f = function(   (f exported)
      add(prev.line, t.v, t.v, false, k + 3)
    end
  end
  return defs
end

-- Every violation in one module's source: { line = n, what = "..." }.
-- opts.stubs: a definition file (no bodies: no @return rule; every
-- function counts, whatever table it hangs on).
function M.check(src, opts)
  opts = opts or {}
  local toks, lines, found = pf.tokens(src), lines_of(src), {}
  local pub = public_names(toks)
  for _, d in ipairs(definitions(toks, pub, opts.stubs)) do
    local a = block_above(lines, d.line)
    local named = {}
    for _, p in ipairs(d.params) do
      named[p] = true
      if not a.params[p] then
        found[#found + 1] = { line = d.line, what = ("%s: no ---@param for '%s'"):format(d.name, p) }
      end
    end
    -- a @param left behind by a rename tells the editor about a parameter
    -- that is not there (sorted: the same order every run)
    local stale = {}
    for p in pairs(a.params) do
      if not named[p] and p ~= "self" then stale[#stale + 1] = p end
    end
    table.sort(stale)
    for _, p in ipairs(stale) do
      found[#found + 1] = { line = d.line,
        what = ("%s: ---@param '%s' names no parameter"):format(d.name, p) }
    end
    if not opts.stubs and a.returns == 0 then
      local _, close = params_at(toks, d.open)
      if returns_value(toks, close) then
        found[#found + 1] = { line = d.line, what = d.name .. ": returns a value but has no ---@return" }
      end
    end
  end
  -- in source order, parameters as declared
  return found
end

-- The calls declared in an api.lua source: { { name, line } ... }, in
-- order: the keys at the first level of `M.calls = { ... }`.
function M.calls(src)
  local toks, out = pf.tokens(src), {}
  for k, t in ipairs(toks) do
    if t.v == "calls" and toks[k - 1] and toks[k - 1].v == "." and toks[k + 1]
        and toks[k + 1].v == "=" and toks[k + 2] and toks[k + 2].v == "{" then
      local depth = 0
      for j = k + 2, #toks do
        local v = toks[j]
        if v.v == "{" or v.v == "(" or v.v == "[" then depth = depth + 1
        elseif v.v == "}" or v.v == ")" or v.v == "]" then
          depth = depth - 1
          if depth == 0 then break end
        end
        if depth == 1 and toks[j + 1] and toks[j + 1].v == "=" then
          if v.t == "name" and (toks[j - 1].v == "{" or toks[j - 1].v == "," or toks[j - 1].v == ";") then
            out[#out + 1] = { name = v.v, line = v.line }
          end
        elseif depth == 2 and v.t == "string" and toks[j - 1].v == "[" and toks[j - 2]
            and (toks[j - 2].v == "{" or toks[j - 2].v == "," or toks[j - 2].v == ";")
            and toks[j + 1] and toks[j + 1].v == "]" and toks[j + 2] and toks[j + 2].v == "=" then
          out[#out + 1] = { name = v.v, line = v.line }
        end
      end
      break
    end
  end
  return out
end

-- The calls of api_src with no entry in the definition file types_src:
-- { line = n, what = "..." } (line in api_src).
function M.check_calls(api_src, types_src)
  local have = {}
  for l in (types_src .. "\n"):gmatch("([^\n]*)\n") do
    local f = l:match("^%s*%-%-%-%s*@field%s+([%w_]+)")
    if f then have[f] = true end
  end
  local toks = pf.tokens(types_src)
  for k, t in ipairs(toks) do
    if t.v == "function" and t.t == "keyword" then
      local j, last = k + 1, nil
      while toks[j] and (toks[j].t == "name" or toks[j].v == "." or toks[j].v == ":") do
        if toks[j].t == "name" then last = toks[j].v end
        j = j + 1
      end
      if last and toks[j] and toks[j].v == "(" and j > k + 2 then have[last] = true end
    end
  end
  local found = {}
  for _, c in ipairs(M.calls(api_src)) do
    if not have[c.name] then
      found[#found + 1] = { line = c.line,
        what = ("call '%s' has no ---@field or function entry in the definition file"):format(c.name) }
    end
  end
  return found
end

local read = pf.read

local function find(root, dirs, extra)
  local q = "'" .. root:gsub("'", "'\\''") .. "'"
  local p = assert(io.popen("cd " .. q .. " && find " .. dirs .. " -type f -name '*.lua' "
    .. (extra or "") .. " 2>/dev/null | LC_ALL=C sort"))
  local files = {}
  for f in p:lines() do files[#files + 1] = f end
  p:close()
  return files
end

local function main(args)
  local files, stubs, root = {}, {}, "."
  local api, types
  local i = 1
  while args[i] do
    local a = args[i]
    if a == "--api" then api, i = args[i + 1], i + 2
    elseif a == "--types" then types, i = args[i + 1], i + 2
    elseif a == "--stubs" then stubs[#stubs + 1], i = args[i + 1], i + 2
    else files[#files + 1], i = a, i + 1 end
  end
  if #args == 0 then
    -- this file is spec/lint/annotations.lua: the root is two up
    root = (arg and arg[0] or ""):match("^(.*)/spec/lint/[^/]+$") or "."
    files = find(root, "lua/kadoa")
    stubs = find(root, "types")
    api, types = "lua/kadoa/api.lua", "types/kadoa.lua"
  end
  local function path(f) return (#args > 0 or root == ".") and f or (root .. "/" .. f) end
  local bad, checked = 0, 0
  local function run(list, opts)
    for _, f in ipairs(list) do
      checked = checked + 1
      local src = read(path(f))
      if not src then
        io.stderr:write(f, ": cannot read\n")
        bad = bad + 1
      else
        for _, v in ipairs(M.check(src, opts)) do
          print(("%s:%d: %s"):format(f, v.line, v.what))
          bad = bad + 1
        end
      end
    end
  end
  run(files)
  run(stubs, { stubs = true })
  if api or types then
    local a, t = api and read(path(api)), types and read(path(types))
    if not a or not t then
      io.stderr:write(tostring(a and types or api), ": cannot read\n")
      bad = bad + 1
    else
      for _, v in ipairs(M.check_calls(a, t)) do
        print(("%s:%d: %s (%s)"):format(api, v.line, v.what, types))
        bad = bad + 1
      end
    end
  end
  pf.finish("annotations", bad, "problem", checked)
end

-- Run as a script (make lint); required (the spec), give the module.
if ... == nil or ... ~= "spec.lint.annotations" then
  main(arg or {})
end
return M
