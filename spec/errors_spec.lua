-- kadoa.errors.kinds is the complete list of error kinds: every error the
-- library makes has one of them (errors.new refuses any other), and every
-- report the C core and the HTTP status rules can give maps into it.

local errors = require("kadoa.errors")
local core = require("kadoa.core")

describe("errors.kinds", function()
  it("is what errors.new accepts, and nothing else", function()
    for kind in pairs(errors.kinds) do
      assert.are.equal(kind, errors.new(kind, "m").kind)
    end
    for _, bad in ipairs({ "response", "oops", "", 1, false }) do
      assert.has_error(function() errors.new(bad, "m") end,
        "kadoa: internal error: unknown error kind " .. tostring(bad))
    end
    assert.has_error(function() errors.new(nil, "m") end)
  end)

  it("holds the kind of every HTTP status", function()
    for status = 100, 599 do
      assert.is_true(errors.kinds[errors.kind_of_status(status)] == true, tostring(status))
    end
  end)

  it("holds the kind of every report the C core makes", function()
    -- a response, and each final kind the core can report (doc/HACKING.md)
    for _, r in ipairs({
      { kind = "response", status = 503, body = "" },
      { kind = "response", status = 200, body = "x" },
      { kind = "timeout", message = "t" }, { kind = "network", message = "n" },
      { kind = "tls", message = "t" }, { kind = "decode", message = "d" },
      { kind = "too_large", message = "b" }, { kind = "usage", message = "u" },
      { kind = "memory", message = "m" },
    }) do
      local e = errors.from_report(r, "k")
      assert.is_true(errors.is(e))
      assert.is_true(errors.kinds[e.kind] == true, r.kind)
    end
    -- and a real one, from a client that cannot connect (a closed loopback port)
    local json = require("kadoa.codec").get()
    local c = core.new({ api_key = "k", base_url = "http://127.0.0.1:9", timeout = 2,
                         connect_timeout = 2, max_body = 1000, user_agent = "t",
                         decode = json.decode, null = json.null })
    local res, r = c:fetch(require("kadoa.api").calls.status.route, nil, nil, "x")
    c:close()
    assert.is_nil(res)
    assert.is_true(errors.kinds[errors.from_report(r, "k").kind] == true, r.kind)
  end)
end)
