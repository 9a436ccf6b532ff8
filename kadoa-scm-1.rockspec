-- The LuaRocks build of kadoa: the Lua modules, the C core (built by the
-- Makefile's rock-core target, with the suite's flags) and the kadoa command.

-- Format 3.0 for the test section (luarocks test).
rockspec_format = "3.0"
package = "kadoa"
version = "scm-1"

source = {
  url = "git+https://github.com/kadoa-lua/kadoa.git",
}

description = {
  summary = "Kadoa web-crawling API client for Lua: a libcurl core, the whole crawler API, the kadoa command",
  detailed = [[
Start crawls with the Kadoa API, watch them, list and fetch their pages and
export them, from Lua: every call returns plain Lua tables, request bodies
are checked against Kadoa's contract, and one request engine (retries,
budgets) serves blocking calls, non-blocking requests, Neovim and
OpenResty. A small C core does the requests with libcurl. The kadoa command
does the same from a shell. Lua 5.1, 5.3, 5.4 and LuaJIT.
]],
  homepage = "https://github.com/kadoa-lua/kadoa",
  license = "MIT",
}

-- Lua 5.1 (and LuaJIT), 5.3 and 5.4: what the suite runs on. 5.2 is not
-- built or tested, so it is excluded ("~= 5.2": LuaRocks 3.8 has no "or"
-- between ranges; it provides Lua as "5.2-1", which "~= 5.2" refuses).
dependencies = {
  "lua >= 5.1, < 5.5, ~= 5.2",
  "lua-cjson >= 2.1",
}

-- Only the library is declared, not the header: on Debian curl/curl.h
-- sits in the multiarch include folder (/usr/include/x86_64-linux-gnu),
-- where LuaRocks does not look but the compiler does. CURL_INCDIR is then
-- /usr/include, harmless; with libcurl elsewhere pass CURL_DIR=... or
-- CURL_INCDIR=... and CURL_LIBDIR=... to luarocks.
external_dependencies = {
  CURL = { library = "curl" },
}

-- Type "make", not "builtin": builtin takes its compiler flags only from
-- LuaRocks' own CFLAGS, so the rock could not be built with the
-- Makefile's -std=c99, warnings and -fvisibility=hidden (only
-- luaopen_kadoa_core is exported). `make rock-core` (Makefile) compiles
-- with exactly those; the install table below places every file.
build = {
  type = "make",
  build_target = "rock-core",
  build_variables = {
    CC = "$(CC)",
    CFLAGS = "$(CFLAGS)",
    LIBFLAG = "$(LIBFLAG)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    CURL_INCDIR = "$(CURL_INCDIR)",
    CURL_LIBDIR = "$(CURL_LIBDIR)",
  },
  install_pass = false,
  install = {
    lua = {
      ["kadoa.api"] = "lua/kadoa/api.lua",
      ["kadoa.body"] = "lua/kadoa/body.lua",
      ["kadoa.cli.args"] = "lua/kadoa/cli/args.lua",
      ["kadoa.cli.call"] = "lua/kadoa/cli/call.lua",
      ["kadoa.cli.cache"] = "lua/kadoa/cli/cache.lua",
      ["kadoa.cli.poller"] = "lua/kadoa/cli/poller.lua",
      ["kadoa.cli.commands.api"] = "lua/kadoa/cli/commands/api.lua",
      ["kadoa.cli.commands.config"] = "lua/kadoa/cli/commands/config.lua",
      ["kadoa.cli.commands.control"] = "lua/kadoa/cli/commands/control.lua",
      ["kadoa.cli.commands.crawl"] = "lua/kadoa/cli/commands/crawl.lua",
      ["kadoa.cli.commands.export"] = "lua/kadoa/cli/commands/export.lua",
      ["kadoa.cli.commands.files"] = "lua/kadoa/cli/commands/files.lua",
      ["kadoa.cli.commands.pages"] = "lua/kadoa/cli/commands/pages.lua",
      ["kadoa.cli.commands.sessions"] = "lua/kadoa/cli/commands/sessions.lua",
      ["kadoa.cli.commands.status"] = "lua/kadoa/cli/commands/status.lua",
      ["kadoa.cli.commands.top"] = "lua/kadoa/cli/commands/top.lua",
      ["kadoa.cli.commands.wait"] = "lua/kadoa/cli/commands/wait.lua",
      ["kadoa.cli.display"] = "lua/kadoa/cli/display.lua",
      ["kadoa.cli.env"] = "lua/kadoa/cli/env.lua",
      ["kadoa.cli.exit"] = "lua/kadoa/cli/exit.lua",
      ["kadoa.cli.help"] = "lua/kadoa/cli/help.lua",
      ["kadoa.cli.init"] = "lua/kadoa/cli/init.lua",
      ["kadoa.cli.key"] = "lua/kadoa/cli/key.lua",
      ["kadoa.cli.output"] = "lua/kadoa/cli/output.lua",
      ["kadoa.cli.progress"] = "lua/kadoa/cli/progress.lua",
      ["kadoa.cli.verbs"] = "lua/kadoa/cli/verbs.lua",
      ["kadoa.client"] = "lua/kadoa/client.lua",
      ["kadoa.codec"] = "lua/kadoa/codec.lua",
      ["kadoa.engine"] = "lua/kadoa/engine.lua",
      ["kadoa.errors"] = "lua/kadoa/errors.lua",
      ["kadoa.export"] = "lua/kadoa/export.lua",
      ["kadoa.fleet"] = "lua/kadoa/fleet.lua",
      ["kadoa.fleet.view"] = "lua/kadoa/fleet/view.lua",
      ["kadoa.format"] = "lua/kadoa/format.lua",
      ["kadoa.health"] = "lua/kadoa/health.lua",
      ["kadoa.init"] = "lua/kadoa/init.lua",
      ["kadoa.json"] = "lua/kadoa/json.lua",
      ["kadoa.many"] = "lua/kadoa/many.lua",
      ["kadoa.marks"] = "lua/kadoa/marks.lua",
      ["kadoa.task"] = "lua/kadoa/task.lua",
      ["kadoa.luv"] = "lua/kadoa/luv.lua",
      ["kadoa.cqueues"] = "lua/kadoa/cqueues.lua",
      ["kadoa.nvim.browse"] = "lua/kadoa/nvim/browse.lua",
      ["kadoa.nvim.commands"] = "lua/kadoa/nvim/commands.lua",
      ["kadoa.nvim.driver"] = "lua/kadoa/nvim/driver.lua",
      ["kadoa.nvim.init"] = "lua/kadoa/nvim/init.lua",
      ["kadoa.nvim.loader"] = "lua/kadoa/nvim/loader.lua",
      ["kadoa.nvim.top"] = "lua/kadoa/nvim/top.lua",
      ["kadoa.nvim.watch"] = "lua/kadoa/nvim/watch.lua",
      ["kadoa.nvim.async"] = "lua/kadoa/nvim/async.lua",
      ["kadoa.options"] = "lua/kadoa/options.lua",
      ["kadoa.paginate"] = "lua/kadoa/paginate.lua",
      ["kadoa.request"] = "lua/kadoa/request.lua",
      ["kadoa.resty.init"] = "lua/kadoa/resty/init.lua",
      ["kadoa.resty.transport"] = "lua/kadoa/resty/transport.lua",
      ["kadoa.resty.callback"] = "lua/kadoa/resty/callback.lua",
      ["kadoa.schema"] = "lua/kadoa/schema.lua",
      ["kadoa.text"] = "lua/kadoa/text.lua",
      ["kadoa.wait"] = "lua/kadoa/wait.lua",
    },
    lib = {
      ["kadoa.core"] = "build/rock/kadoa/core.so",
    },
    bin = { ["kadoa"] = "bin/kadoa" },
    -- A rock can place files only in its own folder, not in the tree's
    -- share/: the man page and completions go to the rock's conf folder
    -- ($(luarocks show --rock-dir kadoa)/conf), where README's Install
    -- section tells how to use them.
    conf = {
      ["man/man1/kadoa.1"] = "doc/kadoa.1",
      ["bash-completion/completions/kadoa"] = "completions/kadoa.bash",
      ["zsh/site-functions/_kadoa"] = "completions/_kadoa",
      ["fish/vendor_completions.d/kadoa.fish"] = "completions/kadoa.fish",
    },
  },
}

-- `luarocks --lua-version=V test [--deps-mode=none] ROCKSPEC [-- busted args]`:
-- LuaRocks runs the script with the Lua of --lua-version; it runs that
-- Lua's `make test` (or busted with the arguments) and exits as it does.
test = {
  type = "command",
  script = ".ci/luarocks-test.lua",
}
