package = "kadoa"
version = "scm-1"

source = {
  url = "git+https://github.com/kadoa-lua/kadoa.git",
}

description = {
  summary = "Kadoa crawl-status client for Lua: a libcurl core, native tables, waiting and formatting",
  detailed = [[
kadoa.status(session_id) asks the Kadoa API how far a crawl got and returns
a plain Lua table. A small C core does the request with libcurl and decodes
with lua-cjson; Lua helpers wait for a crawl to finish and format it.
Works on Lua 5.1 to 5.4 and LuaJIT, in scripts, Neovim and OpenResty.
]],
  license = "MIT",
}

dependencies = {
  "lua >= 5.1, < 5.5",
  "lua-cjson >= 2.1",
}

-- Only the library is declared: on Debian the header sits in the
-- multiarch include folder, which the compiler searches by itself.
external_dependencies = {
  CURL = { library = "curl" },
}

build = {
  type = "builtin",
  modules = {
    ["kadoa"] = "lua/kadoa/init.lua",
    ["kadoa.cli"] = "lua/kadoa/cli/init.lua",
    ["kadoa.cli.args"] = "lua/kadoa/cli/args.lua",
    ["kadoa.cli.commands.status"] = "lua/kadoa/cli/commands/status.lua",
    ["kadoa.cli.commands.wait"] = "lua/kadoa/cli/commands/wait.lua",
    ["kadoa.cli.display"] = "lua/kadoa/cli/display.lua",
    ["kadoa.cli.env"] = "lua/kadoa/cli/env.lua",
    ["kadoa.cli.exit"] = "lua/kadoa/cli/exit.lua",
    ["kadoa.cli.help"] = "lua/kadoa/cli/help.lua",
    ["kadoa.cli.key"] = "lua/kadoa/cli/key.lua",
    ["kadoa.cli.output"] = "lua/kadoa/cli/output.lua",
    ["kadoa.errors"] = "lua/kadoa/errors.lua",
    ["kadoa.format"] = "lua/kadoa/format.lua",
    ["kadoa.health"] = "lua/kadoa/health.lua",
    ["kadoa.many"] = "lua/kadoa/many.lua",
    ["kadoa.nvim"] = "lua/kadoa/nvim.lua",
    ["kadoa.request"] = "lua/kadoa/request.lua",
    ["kadoa.resty"] = "lua/kadoa/resty/init.lua",
    ["kadoa.resty.transport"] = "lua/kadoa/resty/transport.lua",
    ["kadoa.retry"] = "lua/kadoa/retry.lua",
    ["kadoa.text"] = "lua/kadoa/text.lua",
    ["kadoa.wait"] = "lua/kadoa/wait.lua",
    ["kadoa.core"] = {
      sources = { "src/core.c", "src/transfer.c", "src/multi.c", "src/decode.c", "src/escape.c" },
      defines = { "_POSIX_C_SOURCE=200809L" },
      libraries = { "curl", "pthread" },
      libdirs = { "$(CURL_LIBDIR)" },
    },
  },
  install = {
    bin = { ["kadoa"] = "bin/kadoa" },
  },
}
