-- The README's "Bring your own event loop" example, exactly as printed,
-- run as a script against the mock server.

local mock = require("spec.helpers.mock")

local function readme_example()
  local f = assert(io.open("README.md"))
  local text = f:read("*a")
  f:close()
  return assert(text:match("<!%-%- byol example %-%->\n```lua\n(.-)```"), "no example in README.md")
end

describe("the README's own event loop", function()
  local has_socket = pcall(require, "socket")
  if not has_socket then
    pending("lua-socket is not installed for this Lua")
    return
  end
  local srv
  setup(function() srv = mock.start({ key = "byol-key" }) end)
  teardown(function() srv:stop() end)

  local function run(id)
    local chunk = assert((loadstring or load)(readme_example(), "=README"))
    -- the chunk sees the real globals (_G), not this file's environment
    local lines, real_print, real_arg = {}, _G.print, _G.arg
    local getenv = os.getenv
    os.getenv = function(k)   -- luacheck: ignore
      if k == "KADOA_API_KEY" then return "byol-key" end
      if k == "KADOA_BASE_URL" then return srv.url end
      return getenv(k)
    end
    _G.print = function(...)
      lines[#lines + 1] = tostring(select(1, ...)) .. "\t" .. tostring(select(2, ...))
    end
    _G.arg = { [0] = "byol", id }
    local ok, err = pcall(chunk)
    os.getenv, _G.print, _G.arg = getenv, real_print, real_arg   -- luacheck: ignore
    assert(ok, err)
    return lines
  end

  it("answers a call through select(2), socket events and the timer", function()
    assert.are.same({ "slow-300\tnil" }, run("slow-300"))
  end)

  it("waits out a retry on its timer", function()
    local id = "flaky-1-byol" .. os.time() .. math.random(1e6)
    assert.are.same({ id .. "\tnil" }, run(id))
  end)
end)
