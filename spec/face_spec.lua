-- One face per call: every call of kadoa.api, in every front end of plain
-- Lua (the blocking method, the kadoa.NAME shortcut, client:send, many at
-- once), is there, takes each option it declares (against the mock) and
-- refuses a misspelt one with did-you-mean. The same walk runs in Neovim
-- (spec/hosts/nvim_test.lua) and nginx (spec/hosts/nginx_test.lua).

local kadoa = require("kadoa")
local api = require("kadoa.api")
local errors = require("kadoa.errors")
local face = require("spec.helpers.face")
local fixture = require("spec.helpers.fixture")

local KEY = "sk-face-4b1d9e"
local unpack = table.unpack or unpack   -- LuaJIT: the global

describe("one face per call", function()
  local fx = fixture.mock_client(KEY, { retries = 0 })
  local srv, client, ids
  local dir = os.tmpname()
  setup(function()
    srv, client = fx.start()
    ids = face.prepare(client)
    os.remove(dir)
    assert(require("kadoa.core").mkdir(dir))
  end)
  teardown(function()
    fx.stop()
    os.remove(dir)
  end)

  -- a shortcut's client options pick its default client: the mock's
  local function with_client(name, args)
    local n = api.calls[name].nargs
    local out, opts = { unpack(args, 1, n) }, {}
    for k, v in pairs(args[n + 1] or {}) do opts[k] = v end
    opts.api_key, opts.base_url = KEY, srv.url
    out[n + 1] = opts
    return out
  end

  local fronts = {
    method = function(name, args) return client[name](client, unpack(args)) end,
    shortcut = function(name, args) return kadoa[name](unpack(with_client(name, args))) end,
    send = function(name, args)
      local req, err = client:send(name, unpack(args))
      if not req then return nil, err end
      return req:await(20)
    end,
    many = function(name, args)
      local results, err = client:many(name, { args })
      if not results then return nil, err end
      local v = results[1]
      if errors.is(v) then return nil, v end
      return v
    end,
  }

  it("(control) the walk fails a front end that drops the options, or refuses good ones", function()
    local cases = face.cases(ids, dir)
    assert.is_true(#cases > 4 * #face.calls())
    local failed, want = 0, 0
    for _, c in ipairs(cases) do   -- the options never reach the call
      local args = { unpack(c.args, 1, api.calls[c.name].nargs) }
      if not face.judge(c, client[c.name](client, unpack(args))) then failed = failed + 1 end
      if c.typo or c.file then want = want + 1 end   -- no refusal; no file written
    end
    assert.are.equal(#face.calls() + 2, want)
    assert.are.equal(want, failed)
    local c = cases[2]
    assert.is_nil(face.judge(c, nil, errors.new("usage", "no")))
    assert.is_nil((face.judge({ name = "page", what = "path", file = dir .. "/none" }, {}, nil)))
  end)

  it("sends query parameters sorted by name, whatever order the options were made in", function()
    local LAST = require("kadoa.core").route("GET", "/mock/last-query")
    local function last_query() return assert(client.transport:fetch(LAST)).query end
    for _, o in ipairs({ { page = 1, page_size = 10 }, { page_size = 10, page = 1 } }) do
      for _ = 1, 4 do
        assert(client:pages(ids.session, o))
        assert.are.equal("currentPage=1&pageSize=10", last_query())
      end
    end
    local o = {}
    o.user_id, o.page_size, o.page = "u-1", 5, 2
    assert(client:sessions(o))
    assert.are.equal("page=2&pageSize=5&userId=u-1", last_query())
    -- the control: the mock does see another order
    client.transport:fetch(api.calls.sessions.route, nil, { query = { "userId", "u", "page", "1" } })
    assert.are.equal("userId=u&page=1", last_query())
  end)

  for _, fname in ipairs({ "method", "shortcut", "send", "many" }) do
    describe(fname, function()
      it("is there for every call", function()
        for name in pairs(api.calls) do
          if fname == "method" then assert.is_function(client[name], name) end
          if fname == "shortcut" then assert.is_function(kadoa[name], name) end
        end
        assert.is_function(client.send)
        assert.is_function(client.many)
        assert.is_function(kadoa.many)
      end)

      it("takes every declared option of every call, and refuses a misspelt one", function()
        local front = fronts[fname]
        for _, c in ipairs(face.cases(ids, dir)) do
          local res, err = front(c.name, c.args)
          assert(face.judge(c, res, err))
        end
      end)
    end)
  end
end)
