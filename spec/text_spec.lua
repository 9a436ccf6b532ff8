-- kadoa.text: the text rules shared by errors, format and the command.

local text = require("kadoa.text")
local errors = require("kadoa.errors")
local format = require("kadoa.format")

local E = "\226\128\166" -- the ellipsis, U+2026

-- True when s is well-formed UTF-8 (Lua 5.1 has no utf8 library).
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

describe("kadoa.text", function()
  describe("clean", function()
    it("escapes C0 controls and DEL, naming tab, newline and return", function()
      assert.are.equal("a\\27[2Jb", (text.clean("a\27[2Jb")))
      assert.are.equal("\\t\\n\\r\\127", (text.clean("\t\n\r\127")))
      -- a digit after the escape: three digits, so it reads one way only
      assert.are.equal("\\0275", (text.clean("\0275")))
    end)

    it("escapes C1 controls, separators and bidi overrides by code point", function()
      assert.are.equal("\\u{9B}", (text.clean("\194\155")))
      assert.are.equal("x\\u{202E}y", (text.clean("x\226\128\174y")))
      assert.are.equal("\\u{2028}\\u{2069}", (text.clean("\226\128\168\226\129\169")))
    end)

    it("shows invalid UTF-8 byte by byte as \\xFF and keeps valid text", function()
      assert.are.equal("\\xFF\\xC3", (text.clean("\255\195")))
      assert.are.equal("h\195\169llo \226\156\147", (text.clean("h\195\169llo \226\156\147")))
      assert.are.equal("\\xED\\xA0\\x80", (text.clean("\237\160\128")))   -- a surrogate
      assert.are.equal("\\xC0\\xAF", (text.clean("\192\175")))             -- overlong
    end)

    it("caps at max characters with an ellipsis and says so", function()
      local s, w, cut = text.clean("\195\164\195\164\195\164\195\164", 2)
      assert.are.equal("\195\164\195\164" .. E, s)
      assert.are.equal(3, w)
      assert.is_true(cut)
      s, w, cut = text.clean("abc", 3)
      assert.are.same({ "abc", 3, false }, { s, w, cut })
      -- an escape is never split: it goes whole or not at all
      assert.are.equal("a" .. E, (text.clean("a\27", 3)))
    end)
  end)

  describe("cut", function()
    it("counts characters, never splitting a sequence", function()
      assert.are.equal("ab", text.cut("abcd", 2))
      assert.are.equal("\226\156\147\195\169", text.cut("\226\156\147\195\169z", 2))
      assert.are.equal("", text.cut("\240\159\152\128", 0))
      assert.are.equal("x\240\159\152\128", text.cut("x\240\159\152\128", 5))
      for n = 0, 6 do
        assert.is_true(valid_utf8(text.cut("\195\169\226\156\147\240\159\152\128ab", n)))
      end
    end)

    it("counts a byte that is not UTF-8 as one character", function()
      assert.are.equal("\255a", text.cut("\255ab", 2))
    end)
  end)

  describe("width", function()
    it("is one per character", function()
      assert.are.equal(0, text.width(""))
      assert.are.equal(5, text.width("h\195\169llo"))
      assert.are.equal(2, text.width("\255\240\159\152\128"))
    end)
  end)

  describe("one_line", function()
    it("turns controls into spaces and folds blanks", function()
      assert.are.equal("a b c", text.one_line("  a\n\n b\t\27c \r", 100))
    end)

    it("cuts at max bytes with ... and never inside a UTF-8 sequence", function()
      assert.are.equal("abc...", text.one_line("abcdef", 3))
      local s = string.rep("\226\156\147", 10)    -- 30 bytes
      for max = 1, 29 do
        local line = text.one_line(s, max)
        assert.is_true(#line <= max + 3)
        assert.is_true(valid_utf8(line), "cut at " .. max)
      end
      assert.are.equal(s, text.one_line(s, 30))
    end)

    it("is the one errors uses", function()
      local e = errors.new("server", "line one\nline two\27[2J")
      assert.are.equal("kadoa: server: line one line two [2J", tostring(e))
    end)
  end)

  describe("short_id", function()
    it("keeps short ids and shortens long ones around an ellipsis", function()
      assert.are.equal("demo-finishing", text.short_id("demo-finishing"))
      assert.are.equal("3f2a" .. E .. "e91c", text.short_id("3f2a1b2c-0000-4111-8222-33334444e91c"))
      assert.are.equal("\\27a", text.short_id("\27a"))
    end)

    it("is what format shows for a string id", function()
      local id = "\195\164\195\164\195\164\195\164-long-session-identifier-\226\156\147"
      assert.are.equal(text.short_id(id), format.short_id(id))
    end)
  end)
end)
