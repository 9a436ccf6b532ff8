-- kadoa.options, by what it promises: every option declared once with a
-- type and a meaning; groups saying who takes what; check refusing bad
-- options with one message wherever they are given (ranges, types, typos
-- with a did-you-mean), filling defaults but letting a call inherit the
-- client's; and merge layering tables deeply.
local kadoa = require("kadoa")
local options = require("kadoa.options")

-- the usage message check gives for opts in group g
local function refused(g, opts)
  local o, err = options.check(g, opts, "f")
  assert.is_nil(o)
  assert.are.equal("usage", err.kind)
  return err.message
end

describe("kadoa.options", function()
  describe("declarations", function()
    it("declares what each option means", function()
      for name, d in pairs(options.declarations) do
        assert.is_string(d.doc, name)
        assert.is_string(d[1], name)
      end
    end)
  end)

  describe("check", function()
    it("refuses unknown options by name", function()
      assert.are.equal("f: unknown option 'frobnicate'", refused("wait", { frobnicate = 2 }))
      assert.are.equal("f: unknown option of type number", refused("wait", { [1] = true }))
    end)

    it("names the option meant by a typo", function()
      local _, e = kadoa.client({ api_key = "sk-options-4a1c", timout = 3 })
      assert.matches("unknown option 'timout' %(did you mean 'timeout'%?%)", e.message)
      local _, e2 = options.check("wait", { Interval = 2 }, "wait")
      assert.matches("did you mean 'interval'", e2.message)
      assert.matches("did you mean 'interval'", refused("wait", { intervall = 2 }))
    end)

    it("refuses options of the wrong type", function()
      assert.matches("option 'interval' must be a number, got string$", refused("wait", { interval = "2" }))
      assert.matches("option 'timeout' must be a number, got boolean$", refused("wait", { timeout = true }))
      assert.matches("option 'sleep' must be a function, got number$", refused("wait", { sleep = 1 }))
      assert.matches("option 'on_update' must be a function, got string$",
        refused("wait", { on_update = "print" }))
      assert.matches("option 'done' must be a function, got table$", refused("wait", { done = {} }))
      assert.matches("option 'random' must be a function, got number$", refused("wait", { random = 0.5 }))
      assert.matches("option 'allow_insecure' must be a boolean, got string$",
        refused("client", { allow_insecure = "yes" }))
    end)

    it("refuses numbers out of range", function()
      local cases = {
        { "wait", { interval = 0 }, "option 'interval' must be greater than 0, got 0" },
        { "wait", { interval = -1 }, "option 'interval' must be greater than 0, got %-1" },
        { "wait", { interval = 0 / 0 }, "option 'interval' must be a number, got NaN" },
        { "wait", { interval = math.huge }, "option 'interval' must be finite, got inf" },
        { "wait", { factor = 0.5 }, "option 'factor' must be at least 1, got 0.5" },
        { "wait", { max_interval = 0 }, "option 'max_interval' must be greater than 0, got 0" },
        { "wait", { jitter = 1 }, "option 'jitter' must be less than 1, got 1" },
        { "wait", { jitter = -0.1 }, "option 'jitter' must be at least 0, got %-0.1" },
        { "wait", { max_failures = 0 }, "option 'max_failures' must be at least 1, got 0" },
        { "wait", { max_failures = 2.5 }, "option 'max_failures' must be a whole number, got 2.5" },
        { "wait", { timeout = -1 }, "option 'timeout' must be at least 0, got %-1" },
        { "client", { timeout = 0 / 0 }, "option 'timeout' must be a number, got NaN" },
        { "client", { max_body = 1.5 }, "option 'max_body' must be a whole number, got 1.5" },
        { "client", { max_body = 2 ^ 41 }, "option 'max_body' must be at most 1099511627776, got" },
        { "client", { connect_timeout = -1 }, "option 'connect_timeout' must be greater than 0, got %-1" },
      }
      for _, c in ipairs(cases) do
        assert.matches("^f: " .. c[3], refused(c[1], c[2]))
      end
    end)

    it("accepts the edge values of each range", function()
      assert.is_table(options.check("wait",
        { timeout = math.huge, max_failures = math.huge, jitter = 0, factor = 1, interval = 0.001 }))
      assert.is_table(options.check("client", { max_body = 1, retries = 0, max_retry_wait = 0 }))
    end)

    it("refuses control characters and NUL bytes where a string goes on the wire or to C", function()
      assert.matches("'user_agent' must not contain control characters",
        refused("client", { user_agent = "a\r\nX-Evil: 1" }))
      assert.matches("'ca_file' must not contain NUL", refused("client", { ca_file = "/x\0y" }))
    end)

    it("refuses options that are not a table", function()
      assert.are.equal("f: options must be a table, got number", refused("wait", 5))
      assert.are.equal("f: options must be a table, got string", refused("client", "http://x"))
    end)

    it("says the same about an option wherever it is given", function()
      local msgs = {}
      for _, g in ipairs({ "client", "call", "many" }) do
        local _, e = options.check(g, { timeout = -1 }, "f")
        msgs[#msgs + 1] = e.message
      end
      assert.are.same({ "f: option 'timeout' must be greater than 0, got -1" }, { msgs[1] })
      assert.are.equal(msgs[1], msgs[2])
      assert.are.equal(msgs[1], msgs[3])
    end)

    it("lets a call inherit the client's timeout and retries", function()
      local o = assert(options.check("call", {}, "status"))
      assert.is_nil(o.timeout)
      assert.is_nil(o.retries)
      assert.are.equal(16, assert(options.check("many", nil, "status_many")).concurrency)
    end)
  end)

  describe("merge", function()
    it("merges deeply", function()
      local m = options.merge({ client = { timeout = 5 }, notify = true }, { client = { retries = 0 } })
      assert.are.same({ client = { timeout = 5, retries = 0 }, notify = true }, m)
    end)
  end)
end)
