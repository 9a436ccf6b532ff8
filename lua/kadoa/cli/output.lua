-- kadoa.cli.output: everything the command writes goes through here, the API
-- key blanked once known, whatever a server echoes back.

local errors = require("kadoa.errors")
local format = require("kadoa.format")
local exit = require("kadoa.cli.exit")

local M = {}

local Output = {}
Output.__index = Output

---@param env table kadoa.cli.env's
---@return table output
function M.new(env)
  return setmetatable({ stdout = env.stdout, stderr = env.stderr }, Output)
end

---@param secret string blanked in everything written from now on
function Output:hide(secret) self._secret = secret end

-- write(stream, s): flushed at once: a live line must show before a slow request
---@param stream file*
---@param s string
function Output:write(stream, s)
  if self._secret then s = errors.redact(s, self._secret) end
  stream:write(s)
  if stream.flush then stream:flush() end
end

---@param s string a line of results on stdout
function Output:out(s) self:write(self.stdout, s .. "\n") end

---@param s string a message on stderr, named as kadoa's
function Output:say(s) self:write(self.stderr, "kadoa: " .. s .. "\n") end

-- usage_error(message [, command]) -> exit.usage, after a pointer to the help
---@param msg string
---@param command? string the command whose help to point to
---@return integer code
function Output:usage_error(msg, command)
  self:say(msg)
  self:write(self.stderr, ("Try 'kadoa %s--help'.\n"):format(command and (command .. " ") or ""))
  return exit.usage
end

-- fail(err [, what]) -> exit code: a library error said on stderr
---@param err kadoa.Error
---@param what? string
---@return integer code 2 for usage, else 3
function Output:fail(err, what)
  self:say((what and (what .. ": ") or "") .. format.format_error(err))
  return type(err) == "table" and err.kind == "usage" and exit.usage or exit.api
end

-- content(s, terminal): data as it came to a pipe or a file; on a terminal
-- each line cleaned (escapes shown, not obeyed), breaks and tabs kept.
---@param s string
---@param terminal boolean stdout is a terminal
function Output:content(s, terminal)
  if terminal then
    local text = require("kadoa.text")
    s = s:gsub("[^\n\t]+", function(piece) return (text.clean(piece)) end)
    if s ~= "" and s:sub(-1) ~= "\n" then s = s .. "\n" end
  end
  self:write(self.stdout, s)
end

-- has_error(e): an answer's "error" field says something went wrong
---@param e any
---@return boolean
function M.has_error(e)
  return e ~= nil and e ~= require("kadoa.codec").get().null and e ~= false
end

---@param v any
---@return true|nil ok
---@return string|nil message what kept v from being JSON
function Output:json(v)
  local s, err = require("kadoa.json").encode(v)
  if not s then return nil, err end
  self:out(M.json_line(s))
  return true
end

-- json_line(s): JSON text safe for a terminal and the same JSON: the encoder
-- escapes C0 controls only; DEL, C1 controls, line separators and bidi
-- overrides (raw UTF-8 inside strings) become \uXXXX here.
local function u(cp) return ("\\u%04x"):format(cp) end
---@param s string JSON text
---@return string
function M.json_line(s)
  s = s:gsub("\127", u(0x7f))
  s = s:gsub("\194([\128-\159])", function(b) return u(b:byte()) end)
  s = s:gsub("\226\128([\168-\174])", function(b) return u(0x2000 + b:byte() - 128) end)
  s = s:gsub("\226\129([\166-\169])", function(b) return u(0x2040 + b:byte() - 128) end)
  return s
end

-- shown(s [, n]): any text made safe to echo, cut at n characters (80)
---@param s any
---@param n? integer
---@return string
function M.shown(s, n) return format.text(s, n or 80) end

return M
