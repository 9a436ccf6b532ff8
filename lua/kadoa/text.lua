-- kadoa.text: untrusted text made fit for a terminal or a log line, the one
-- copy of the rules every front end shares. No dependencies: kadoa.errors,
-- which everything loads, loads it.

local M = {}

local ELLIPSIS = "\226\128\166" -- U+2026
M.ELLIPSIS = ELLIPSIS

local ID_MAX = 20      -- characters of a session id before it is shortened (a UUID has 36)
local ID_KEEP = 4      -- characters kept at each end of a shortened id

-- Byte length of the valid UTF-8 sequence at byte i of s, or nil (a stray
-- continuation byte, an overlong form, a surrogate, a truncated sequence).
local function seq_len(s, i)
  local b = s:byte(i)
  if b < 0x80 then return 1 end
  local n
  local lo, hi = 0x80, 0xBF
  if b >= 0xC2 and b <= 0xDF then
    n = 2
  elseif b >= 0xE0 and b <= 0xEF then
    n = 3
    if b == 0xE0 then lo = 0xA0 elseif b == 0xED then hi = 0x9F end
  elseif b >= 0xF0 and b <= 0xF4 then
    n = 4
    if b == 0xF0 then lo = 0x90 elseif b == 0xF4 then hi = 0x8F end
  else
    return nil
  end
  local c = s:byte(i + 1)
  if not c or c < lo or c > hi then return nil end
  for k = i + 2, i + n - 1 do
    c = s:byte(k)
    if not c or c < 0x80 or c > 0xBF then return nil end
  end
  return n
end

-- Valid code points that still control the terminal or the text direction:
-- C1 controls, line/paragraph separators, bidi embeddings and isolates.
local function is_control_cp(cp)
  return (cp >= 0x80 and cp <= 0x9F) or cp == 0x2028 or cp == 0x2029
    or (cp >= 0x202A and cp <= 0x202E) or (cp >= 0x2066 and cp <= 0x2069)
end

-- Where s stops being valid UTF-8 (RFC 3629), or nil when all of it is.
---@param s string
---@return string|nil where ("at position n, byte 0x.."); nil: all valid
function M.utf8_error(s)
  local i = 1
  while true do
    -- skip ASCII in one step: most strings are plain
    i = s:find("[\128-\255]", i)
    if not i then return nil end
    local n = seq_len(s, i)
    if not n then return string.format("at position %d, byte 0x%02x", i, s:byte(i)) end
    i = i + n
  end
end

local named = { [9] = "\\t", [10] = "\\n", [13] = "\\r" }

-- One character of s at byte i: the byte where it ends, the text shown for
-- it (controls as Lua escapes: \27, \n, \u{9B}; a stray byte \xFF), its width.
local function piece(s, i)
  local b = s:byte(i)
  local n = seq_len(s, i)
  if not n then return i, ("\\x%02X"):format(b), 4 end
  if n == 1 then
    if b >= 32 and b ~= 127 then return i, s:sub(i, i), 1 end
    local nxt = s:byte(i + 1)
    -- \0275, not \275: a digit after the escape must not join it
    local e = named[b] or ((nxt and nxt >= 48 and nxt <= 57) and "\\%03d" or "\\%d"):format(b)
    return i, e, #e
  end
  local j = i + n - 1
  local b2, b3 = s:byte(i + 1, i + 2)
  local cp = n == 2 and (b - 0xC0) * 64 + (b2 - 0x80)
    or n == 3 and (b - 0xE0) * 4096 + (b2 - 0x80) * 64 + (b3 - 0x80)
  if cp and is_control_cp(cp) then
    local e = ("\\u{%X}"):format(cp)
    return j, e, #e
  end
  return j, s:sub(i, j), 1
end

-- s made safe to print: at most `max` characters, then an ellipsis.
---@param s any
---@param max? integer characters at most
---@return string text
---@return integer width
---@return boolean cut
function M.clean(s, max)
  local out, width, i, len = {}, 0, 1, #s
  while i <= len do
    local j, p, w = piece(s, i)
    if max and width + w > max then
      out[#out + 1] = ELLIPSIS
      return table.concat(out), width + 1, true
    end
    out[#out + 1] = p
    width = width + w
    i = j + 1
  end
  return table.concat(out), width, false
end
local clean = M.clean

-- Characters in s: a UTF-8 sequence or a stray byte counts one.
---@param s string
---@return integer
function M.width(s)
  local w, i = 0, 1
  while i <= #s do
    w = w + 1
    i = i + (seq_len(s, i) or 1)
  end
  return w
end

-- s and spaces up to n characters (before it when `right`); a longer s stays.
---@param s string
---@param n integer characters
---@param right? boolean align right (numbers)
---@return string
function M.pad(s, n, right)
  local fill = string.rep(" ", n - M.width(s))
  return right and fill .. s or s .. fill
end

-- The first `max` characters of s (as width counts them), never half of one.
---@param s string
---@param max integer characters
---@return string
function M.cut(s, max)
  local n, i = 0, 1
  while i <= #s do
    n = n + 1
    if n > max then return s:sub(1, i - 1) end
    i = i + (seq_len(s, i) or 1)
  end
  return s
end

-- One line of at most `max` bytes (error messages): controls become spaces,
-- blanks fold, a cut is marked "..." and never splits a UTF-8 sequence.
---@param s string
---@param max integer bytes
---@return string
function M.one_line(s, max)
  s = s:gsub("[%c]", " "):gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")
  if #s > max then
    local cut = max
    -- step back over UTF-8 continuation bytes so the cut lands on a boundary
    while cut > 0 and s:byte(cut + 1) and s:byte(cut + 1) >= 0x80 and s:byte(cut + 1) < 0xC0 do
      cut = cut - 1
    end
    s = s:sub(1, cut) .. "..."
  end
  return s
end

-- Start byte of the last character of s[1..e] (a stray byte is one).
local function last_char_start(s, e)
  for k = 0, 3 do
    local st = e - k
    if st < 1 then break end
    local b = s:byte(st)
    if b < 0x80 or b >= 0xC0 then
      if seq_len(s, st) == k + 1 then return st end
      break
    end
  end
  return e
end

-- A session id for one line, cleaned: a UUID becomes 3f2a…e91c, a name
-- like demo-finishing stays.
---@param s any
---@return string
function M.short_id(s)
  if M.width(s) <= ID_MAX then return (clean(s)) end
  local e = #s
  for _ = 1, ID_KEEP do e = last_char_start(s, e) - 1 end
  return clean(M.cut(s, ID_KEEP)) .. ELLIPSIS .. clean(s:sub(e + 1))
end

return M
