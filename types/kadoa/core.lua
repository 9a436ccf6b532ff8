---@meta kadoa.core
-- kadoa.core: LuaCATS definitions for the C module (src/core.c, multi.c,
-- route.c, outcome.c), which has no Lua source for an editor to read. Internal: the
-- library's modules use it; scripts use kadoa.client. doc/HACKING.md
-- ("The C core's Lua surface") says the same in prose. Read by
-- lua-language-server only; never loaded.

---The outcome record of a call that did not succeed: facts only, the API key
---already redacted (src/outcome.c; kadoa.resty.transport makes the same);
---errors.from_report makes the kadoa.Error, kind and message, from it.
---Without `failure` it is an HTTP answer that is not 2xx.
---@class kadoa.core.Report
---@field failure? string what went wrong below HTTP: a class of kadoa.errors.failures
---@field detail? string what the layer below said (libcurl, the socket, the decoder) or a usage reason
---@field curl? integer the CURLcode of a failed libcurl transfer
---@field elapsed number seconds
---@field sent boolean whether any of the request may have reached the server
---@field status? integer
---@field body? string an answer: the body
---@field json? table an answer: the body decoded, when a JSON object
---@field content_type? string
---@field request_id? string
---@field retry_after? number seconds
---@field max_body? integer too_large: the limit the body crossed
---@field size? integer json, memory: the bytes that would not decode
---@field file? string io: the file, when known

---@class kadoa.core.Config
---@field api_key string
---@field base_url string no trailing slash
---@field user_agent string whole
---@field ca_file? string
---@field timeout number seconds
---@field connect_timeout number seconds
---@field max_body number bytes
---@field decode fun(text: string): any the JSON decoder every answer goes through
---@field null any the decoder's null

---The extra table of fetch/start/path.
---@class kadoa.core.Extra
---@field raw? boolean the body as sent, not decoded
---@field body? string JSON text to send
---@field query? string[] name, value, ... (encoded by the core)
---@field file? string a 2xx body goes to this file ({ bytes = n } comes back)
---@field field? string with file: only this top-level string field goes there

---A compiled API path (core.route).
---@class kadoa.core.Route

---A response head read by core.head.
---@class kadoa.core.Head
---@field status integer
---@field version string
---@field request_id? string
---@field content_type? string
---@field retry_after? number
---@field content_length integer -1 when unreadable
---@field chunked? boolean
---@field close? boolean
---@field content_encoding? string

---A non-blocking exchange (t:start); __gc and __close cancel it.
---@class kadoa.core.Handle
local Handle = {}

---Nothing while running; then the value, or nil and a report (once).
---@return any value
---@return kadoa.core.Report|nil report
function Handle:result() end

---@return boolean
function Handle:done() end

---Stop and free the transfer. Idempotent.
function Handle:cancel() end

---The client userdata: one libcurl easy handle, a multi handle, the key.
---@class kadoa.core.Transport
local Transport = {}

---One blocking exchange.
---@param route kadoa.core.Route
---@param timeout number seconds
---@param extra kadoa.core.Extra|nil
---@param ... string path segments (each percent-encoded; empty or over 4096 bytes: usage)
---@return any|nil value the decoded answer, a string with raw, { bytes = n } with file
---@return kadoa.core.Report|nil report
function Transport:fetch(route, timeout, extra, ...) end

---Start a non-blocking exchange on the multi handle.
---@param route kadoa.core.Route
---@param timeout number
---@param extra kadoa.core.Extra|nil
---@param ... string path segments
---@return kadoa.core.Handle|nil handle
---@return kadoa.core.Report|nil report
function Transport:start(route, timeout, extra, ...) end

---One step of the multi handle.
---@return integer running
---@return kadoa.core.Handle[] finished the handles finished since the last perform (each once)
function Transport:perform() end

---Block until there is something to do, ms at most.
---@param ms integer
function Transport:wait(ms) end

---@return integer ms until curl's timer is due; -1 for none
function Transport:timeout() end

---The sockets whose wanted events changed since the last call, for a loop
---outside the core; from the first call on, closes of sockets it was told
---about wait for release().
---@return integer[] changes fd, want, ... (want 1 read, 2 write, 3 both, 0 stop watching)
---@return integer ms until curl's timer is due; -1 for none
function Transport:changes() end

---Tell libcurl a socket is ready, or with fd -1 that its timer fired.
---@param fd integer
---@param ev integer 1 read, 2 write, 4 error (any sum)
---@return integer running
function Transport:action(fd, ev) end

---The loop stopped watching every socket changes() reported as forgotten.
function Transport:release() end

---@return kadoa.core.Handle[] finished the handles finished since the last call (each once)
function Transport:finished() end

---The request target, for other hosts' transports.
---@param route kadoa.core.Route
---@param timeout number
---@param extra kadoa.core.Extra|nil
---@param ... string
---@return string|nil path "/v4/...?..."
---@return kadoa.core.Report|nil report
function Transport:path(route, timeout, extra, ...) end

---What fetch would return for an answer received elsewhere.
---@param status integer
---@param body string
---@param head kadoa.core.Head|table
---@param raw boolean|nil
---@param elapsed? number
---@return any|nil value
---@return kadoa.core.Report|nil report
function Transport:finish(status, body, head, raw, elapsed) end

---@param text string
---@return any|nil value
---@return string|nil message
function Transport:decode(text) end

---@return number r in [0, 1), from the client's own generator (seeded from /dev/urandom)
function Transport:random() end

---@return string uuid a fresh version 4 UUID
function Transport:request_id() end

---@param text string
---@return string text with the API key replaced by [redacted]
function Transport:redact(text) end

---Take every transfer back and scrub the key. Idempotent.
function Transport:close() end

---@return boolean
function Transport:closed() end

---/dev/tty, opened by core.terminal(); it keeps the mode it found and puts it back on
---close, or when collected.
---@class kadoa.core.Tty
local Tty = {}

---Raw mode: keys one by one, no echo, Ctrl-C a byte, reads that never block.
---@return true|nil ok
---@return string|nil message
function Tty:raw() end

---@param n integer bytes at most, 1 to 256
---@param wait? number seconds to wait for the first (default 0)
---@return string|nil bytes "" when none came
---@return string|nil message the terminal is gone
function Tty:read(n, wait) end

---The kept mode back, /dev/tty closed. Idempotent.
function Tty:close() end

---@class kadoa.core
---@field version string the library's version
local core = {}

---@param cfg kadoa.core.Config
---@return kadoa.core.Transport
function core.new(cfg) end

---@param method "GET"|"POST"|"DELETE"
---@param template string a path with {name} segments ("/v4/crawl/{session id}/status")
---@return kadoa.core.Route
function core.route(method, template) end

---A response's status line and header lines, read by libcurl's rules.
---@param block string
---@return kadoa.core.Head|nil
function core.head(block) end

---@param seconds number
---@return boolean slept false when a signal cut it short
---@return string|nil reason "interrupted"
function core.sleep(seconds) end

---@return number seconds on a monotonic clock
function core.monotime() end

---A file's size, modification time and inode as one string ("size sec.nsec inode"), or
---nothing when it cannot be read: what the command's module cache checks its entries against.
---@param path string
---@return string|nil stamp
function core.stamp(path) end

---A folder and any missing parents, as mkdir -p: mode 0755, the folder itself
---0700 when private; one that is already there is fine.
---@param path string
---@param private? boolean
---@return true|nil ok
---@return string|nil message
function core.mkdir(path, private) end

---A new file (never an existing one, never through a link), mode 0600, holding bytes, synced.
---@param path string
---@param bytes string
---@return true|nil ok
---@return string|nil message
function core.private_file(path, bytes) end

---nbytes (default 16) from /dev/urandom as lowercase hex: a secret (a callback's token).
---@param nbytes? integer 1 to 256
---@return string|nil hex
---@return string|nil message /dev/urandom could not be read
function core.token(nbytes) end

---@return { version: string, ssl: string, zlib: string, http2: boolean, brotli: boolean }
function core.curl_info() end

---Is the file descriptor (0 stdin, 1 stdout, 2 stderr) a terminal?
---@param fd integer 0 to 1024
---@return boolean
function core.isatty(fd) end

---The size of /dev/tty (the controlling terminal).
---@return integer|nil lines
---@return integer|string|nil columns or, without a size, the message why
function core.term_size() end

---@return kadoa.core.Tty|nil tty /dev/tty, its mode kept
---@return string|nil message no terminal
function core.terminal() end

return core
