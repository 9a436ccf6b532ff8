-- Lint rule: no module reads or writes another's `_`-prefixed fields.
--
--   lua5.4 spec/lint/private_fields.lua            the whole tree (make lint)
--   lua5.4 spec/lint/private_fields.lua FILE...    just these files
--
-- A field whose name starts with one underscore is private to the code
-- that owns the table, which reaches it through `self`. Anything else
-- doing so couples to internals that may change under it, so these are
-- reported (file:line) and the exit status is 1:
--
--   X._name  X._name = v   X:_name(...)   X["_name"]     (X not `self`)
--   rawget(x, "_name")     rawset(x, "_name", v)         (x not `self`)
--
-- Not reported: `__metamethods` (two underscores), `_G`, `_VERSION` and
-- `_ENV` (the language's own names), private fields set in a table
-- constructor (`{ _pipe = f }`: the owner making its object), and
-- anything inside comments or strings (all forms, long brackets too), for
-- which a small tokenizer reads the source instead of a pattern search.
--
-- The tree: every .lua file under lua/, bin/, plugin/, examples/, spec/,
-- and every file in bin/ (bin/kadoa has no suffix). Plain Lua (written for
-- 5.4, runs on 5.1 too); no libraries.

local M = {}

local ALLOWED = { _G = true, _VERSION = true, _ENV = true }

local KEYWORDS = {}
for w in ([[and break do else elseif end false for function goto if in
  local nil not or repeat return then true until while]]):gmatch("%a+") do
  KEYWORDS[w] = true
end

-- true for a name the rule guards: one leading underscore, not two
local function private(name)
  return name:sub(1, 1) == "_" and name:sub(2, 2) ~= "_" and not ALLOWED[name]
end

-- The level of a long bracket opening at i ("[[" is 0, "[==[" is 2), or nil.
local function long_open(src, i)
  local eq = src:match("^%[(=*)%[", i)
  return eq and #eq
end

-- Split Lua source into tokens { t = kind, v = text or string value,
-- line = n }; kinds: name, string, number, op. Comments are dropped.
function M.tokens(src)
  local out, i, line, n = {}, 1, 1, #src
  local function count_lines(s) local _, k = s:gsub("\n", "") line = line + k end
  if src:sub(1, 1) == "#" then           -- a shebang line
    i = (src:find("\n", 1, true) or n) + 1
    line = 2
  end
  while i <= n do
    local c = src:sub(i, i)
    if c == "\n" then
      line, i = line + 1, i + 1
    elseif c:match("%s") then
      i = i + 1
    elseif src:sub(i, i + 1) == "--" then
      local level = long_open(src, i + 2)
      if level then
        local close = "]" .. string.rep("=", level) .. "]"
        local e = src:find(close, i, true) or n
        count_lines(src:sub(i, e))
        i = e + #close
      else
        i = (src:find("\n", i, true) or n + 1)
      end
    elseif c == "[" and long_open(src, i) then
      local level = long_open(src, i)
      local close = "]" .. string.rep("=", level) .. "]"
      local s = i + level + 2
      local e = src:find(close, s, true) or n + 1
      local body = src:sub(s, e - 1)
      out[#out + 1] = { t = "string", v = body:gsub("^\r?\n", ""), line = line }
      count_lines(src:sub(i, e))
      i = e + #close
    elseif c == '"' or c == "'" then
      local j, buf, start = i + 1, {}, line
      while j <= n do
        local d = src:sub(j, j)
        if d == c then break end
        if d == "\\" then
          local e = src:sub(j + 1, j + 1)
          if e == "\n" then line = line + 1 end
          if e == "z" then          -- \z skips the blanks after it
            local ws = src:match("^%s*", j + 2)
            count_lines(ws)
            j = j + 2 + #ws
          else
            buf[#buf + 1] = ({ n = "\n", t = "\t", r = "\r", a = "\a", b = "\b",
                               f = "\f", v = "\v" })[e] or e
            j = j + 2
          end
        else
          if d == "\n" then line = line + 1 end  -- an unfinished string: keep going
          buf[#buf + 1] = d
          j = j + 1
        end
      end
      out[#out + 1] = { t = "string", v = table.concat(buf), line = start }
      i = j + 1
    elseif c:match("[%a_]") then
      local w = src:match("^[%w_]+", i)
      out[#out + 1] = { t = KEYWORDS[w] and "keyword" or "name", v = w, line = line }
      i = i + #w
    elseif c:match("%d") or (c == "." and src:sub(i + 1, i + 1):match("%d")) then
      local j = i
      while j <= n do
        local d = src:sub(j, j)
        if d:match("[eEpP]") and src:sub(j + 1, j + 1):match("[%+%-]") then
          j = j + 2
        elseif d:match("[%w_.]") then
          j = j + 1
        else
          break
        end
      end
      out[#out + 1] = { t = "number", v = src:sub(i, j - 1), line = line }
      i = j
    else
      local op = src:match("^%.%.%.", i) or src:match("^::", i) or src:match("^%.%.", i)
        or src:match("^[=~<>]=", i) or src:match("^//", i) or src:match("^<<", i)
        or src:match("^>>", i) or c
      out[#out + 1] = { t = "op", v = op, line = line }
      i = i + #op
    end
  end
  return out
end

-- A token that can end an expression being indexed: X in X._f, X["_f"].
local function ends_expr(tok)
  return tok and (tok.t == "name" or (tok.t == "op" and (tok.v == ")" or tok.v == "]")))
end

-- Every violation in one source text: { line = n, what = "..." }.
function M.check(src)
  local toks, found = M.tokens(src), {}
  local function report(tok, what) found[#found + 1] = { line = tok.line, what = what } end
  for k, tok in ipairs(toks) do
    local prev, nxt = toks[k - 1], toks[k + 1]
    if tok.t == "op" and (tok.v == "." or tok.v == ":") and nxt and nxt.t == "name"
        and private(nxt.v) and ends_expr(prev) and prev.v ~= "self" then
      local x = prev.t == "name" and prev.v or "(...)"
      report(nxt, tok.v == ":" and (x .. ":" .. nxt.v .. "(") or (x .. "." .. nxt.v))
    elseif tok.t == "op" and tok.v == "[" and nxt and nxt.t == "string" and private(nxt.v)
        and toks[k + 2] and toks[k + 2].v == "]" and ends_expr(prev) and prev.v ~= "self" then
      report(nxt, (prev.t == "name" and prev.v or "(...)") .. '["' .. nxt.v .. '"]')
    elseif tok.t == "name" and (tok.v == "rawget" or tok.v == "rawset")
        and nxt and nxt.v == "(" and not (prev and prev.t == "op" and (prev.v == "." or prev.v == ":")) then
      -- the second argument: after the first top-level comma
      local depth, j, first = 0, k + 2, {}
      while toks[j] do
        local v = toks[j]
        local op = v.t == "op" and v.v
        if depth == 0 and op == "," then
          local key, after = toks[j + 1], toks[j + 2]
          local x = (#first == 1 and first[1].t == "name") and first[1].v or "..."
          if key and key.t == "string" and private(key.v) and x ~= "self"
              and after and (after.v == "," or after.v == ")") then
            report(key, tok.v .. "(" .. x .. ', "' .. key.v .. '")')
          end
          break
        elseif op == "(" or op == "[" or op == "{" then
          depth = depth + 1
        elseif op == ")" or op == "]" or op == "}" then
          if depth == 0 then break end
          depth = depth - 1
        end
        first[#first + 1] = v
        j = j + 1
      end
    end
  end
  return found
end

-- the spec helpers, found from this file wherever it is run from
do
  local root = (debug.getinfo(1, "S").source:match("^@(.-)/?spec/lint/[^/]*$"))
  if root then package.path = (root == "" and "." or root) .. "/?.lua;" .. package.path end
end
local read = require("spec.helpers.subprocess").read
M.read = read   -- for spec/lint/annotations.lua, which loads this file

-- The files the rule covers, from the repository root.
function M.tree_files(root)
  local q = "'" .. root:gsub("'", "'\\''") .. "'"
  local p = assert(io.popen("cd " .. q .. " && find lua bin plugin examples spec -type f"
    .. " \\( -name '*.lua' -o -path 'bin/*' \\) 2>/dev/null | LC_ALL=C sort"))
  local files = {}
  for f in p:lines() do files[#files + 1] = f end
  p:close()
  return files
end

-- finish(rule, bad, noun, checked): a lint script's last word: how many
-- problems in how many files, and exit 1 when there were any.
function M.finish(rule, bad, noun, checked)
  if bad > 0 then
    io.stderr:write(("%s: %d %s%s in %d file%s checked\n"):format(
      rule, bad, noun, bad == 1 and "" or "s", checked, checked == 1 and "" or "s"))
    os.exit(1)
  end
end

local function main(args)
  local files, root = {}, "."
  if #args > 0 then
    for _, a in ipairs(args) do files[#files + 1] = a end
  else
    -- this file is spec/lint/private_fields.lua: the root is two up
    root = (arg and arg[0] or ""):match("^(.*)/spec/lint/[^/]+$") or "."
    files = M.tree_files(root)
  end
  local bad = 0
  for _, f in ipairs(files) do
    local path = (#args > 0 or root == ".") and f or (root .. "/" .. f)
    local src = read(path)
    if not src then
      io.stderr:write(f, ": cannot read\n")
      bad = bad + 1
    else
      for _, v in ipairs(M.check(src)) do
        print(("%s:%d: %s: another module's private field"):format(f, v.line, v.what))
        bad = bad + 1
      end
    end
  end
  M.finish("private_fields", bad, "violation", #files)
end

-- Run as a script (make lint); required (the lint spec), give the module.
if ... == nil or ... ~= "spec.lint.private_fields" then
  main(arg or {})
end
return M
