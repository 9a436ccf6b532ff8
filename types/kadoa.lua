---@meta
-- kadoa: LuaCATS definitions for what is made at load time and so has no
-- source line to carry its annotations: the client methods kadoa.client
-- generates from kadoa.api's declarations (one per call), the kadoa.*
-- shortcuts kadoa/init.lua makes from them, and the result tables of the
-- calls (the API's answers, decoded: open tables, the server may add
-- fields). Read by lua-language-server only (see the README: add `types/`
-- to `workspace.library`); never loaded, never installed as a module.
-- `make lint` (spec/lint/annotations.lua) fails when a call of
-- kadoa.api's `M.calls` has no entry here.

-- Results ---------------------------------------------------------------------

---A crawled page's state in a listing. Open: the API may add states.
---@alias kadoa.PageStatus "DONE"|"CRAWLING"|"PENDING"|"READY"|string

---@class kadoa.StatusPayload
---@field crawledPages? integer pages crawled so far
---@field activeJobs? integer pages being crawled now
---@field waitingJobs? integer pages queued
---@field finished? boolean the crawl is over
---@field error? string why a crawl failed, when it did
---@field [string] any

---status: how far a crawl got.
---@class kadoa.StatusResult
---@field payload kadoa.StatusPayload
---@field sessionId? string
---@field error? string
---@field callback_token? string a crawl's with `wait` and `callback`: its secret
---@field [string] any

---crawl, crawl_with_config: a started crawl (with `wait`: the final kadoa.StatusResult).
---@class kadoa.StartResult
---@field sessionId string the new crawl's session id
---@field callback_token? string with opts.callback: the secret added to its URL (wait: on the final status)
---@field message? string
---@field configId? string
---@field error? string
---@field [string] any

---pause, resume.
---@class kadoa.ControlResult
---@field sessionId? string
---@field message? string
---@field error? string
---@field mark_error? string why the paused mark (kadoa.marks) could not be written; the call itself succeeded
---@field [string] any

---@class kadoa.Pagination
---@field page? integer
---@field pageSize? integer
---@field totalItems? integer
---@field totalPages? integer
---@field hasMore? boolean

---@class kadoa.PageItem
---@field id string the page id (for `page`)
---@field url string
---@field status kadoa.PageStatus
---@field [string] any

---pages: one page of the list of crawled pages.
---@class kadoa.PagesResult
---@field payload kadoa.PageItem[]
---@field pagination? kadoa.Pagination
---@field sessionId? string
---@field [string] any

---page: one crawled page's content (with opts.path: payload is `{ bytes = n }`).
---@class kadoa.PageResult
---@field payload string|{ bytes: integer } the content in pageFormat
---@field pageId? string
---@field pageFormat? string "markdown", "html", ...
---@field sessionId? string
---@field [string] any

---@class kadoa.SessionFile
---@field url string
---@field status kadoa.PageStatus
---@field created_at? string
---@field html_filename? string a name for `file`
---@field screenshot_filename? string
---@field processed_html_filename? string
---@field json_filename? string
---@field [string] any

---session_files: everything stored for a session.
---@class kadoa.SessionFilesResult
---@field totalPages? integer
---@field data kadoa.SessionFile[]
---@field [string] any

---@class kadoa.SessionItem
---@field sessionId string
---@field configId? string
---@field domain? string
---@field startUrls? string[]
---@field userId? string
---@field createdAt? string
---@field activeJobs? integer
---@field waitingJobs? integer
---@field crawledPages? integer
---@field finished? boolean
---@field [string] any

---sessions: one page of your crawl sessions.
---@class kadoa.SessionsResult
---@field data kadoa.SessionItem[]
---@field pagination? kadoa.Pagination
---@field [string] any

---config, config_create: a saved crawl config (the body's fields, and its id).
---@class kadoa.CrawlConfig
---@field configId? string
---@field url? string
---@field startUrls? string[]
---@field maxPages? number
---@field maxDepth? number
---@field createdAt? string
---@field [string] any

---config_delete.
---@class kadoa.ConfigDeleteResult
---@field configId? string
---@field deleted? boolean
---@field [string] any

---file with opts.path, or page with opts.path: what went to the file.
---@class kadoa.FileWritten
---@field bytes integer

-- Call options (beside kadoa.CallOptions: timeout, retries, raw) -------------

---@class kadoa.PagesOptions: kadoa.CallOptions
---@field page? integer currentPage, from 0
---@field page_size? integer pageSize, at least 1

---@class kadoa.PageOptions: kadoa.CallOptions
---@field format? string "markdown", "html", ...
---@field path? string stream the payload to this file instead

---@class kadoa.SessionFilesOptions: kadoa.CallOptions
---@field include_all? boolean

---@class kadoa.FileOptions: kadoa.CallOptions
---@field path? string stream the bytes to this file instead

---@class kadoa.SessionsOptions: kadoa.CallOptions
---@field page? integer from 1
---@field page_size? integer 1 to 100
---@field user_id? string

---@class kadoa.BodyOptions: kadoa.CallOptions
---@field extra? table fields this version does not know, sent as they are

---@class kadoa.CrawlOptions: kadoa.BodyOptions
---@field wait? true|kadoa.WaitOptions wait for the crawl too: returns its final status
---@field callback? string crawl: the http(s) URL Kadoa calls once the crawl is over (a kadoa_token added)

---The body of a crawl: the API's StartCrawlerSessionRequest fields.
---@class kadoa.CrawlBody
---@field url? string
---@field startUrls? string[]
---@field maxPages? number
---@field maxDepth? number
---@field [string] any

-- The client's call methods (made from kadoa.api) -----------------------------

---@class kadoa.Client
local Client = {}

---How far a crawl got.
---@param id string session id
---@param opts? kadoa.CallOptions
---@return kadoa.StatusResult|string|nil res a string with opts.raw
---@return kadoa.Error|nil err
function Client:status(id, opts) end

---Start a crawl. With opts.wait, wait for it too and return its final status.
---@param body kadoa.CrawlBody|string the API's fields, or a URL
---@param opts? kadoa.CrawlOptions
---@return kadoa.StartResult|kadoa.StatusResult|nil res
---@return kadoa.Error|nil err with opts.wait, err.session_id names the crawl
function Client:crawl(body, opts) end

---Start a crawl from a saved config. With opts.wait, wait for it too.
---@param config_id string
---@param opts? kadoa.CrawlOptions
---@return kadoa.StartResult|kadoa.StatusResult|nil res
---@return kadoa.Error|nil err
function Client:crawl_with_config(config_id, opts) end

---Pause a crawl.
---@param session_id string
---@param opts? kadoa.BodyOptions
---@return kadoa.ControlResult|nil res
---@return kadoa.Error|nil err
function Client:pause(session_id, opts) end

---Resume a paused crawl.
---@param session_id string
---@param opts? kadoa.BodyOptions
---@return kadoa.ControlResult|nil res
---@return kadoa.Error|nil err
function Client:resume(session_id, opts) end

---One page of the list of crawled pages.
---@param id string session id
---@param opts? kadoa.PagesOptions
---@return kadoa.PagesResult|nil res
---@return kadoa.Error|nil err
function Client:pages(id, opts) end

---One crawled page's content.
---@param id string session id
---@param page_id string
---@param opts? kadoa.PageOptions
---@return kadoa.PageResult|nil res
---@return kadoa.Error|nil err
function Client:page(id, page_id, opts) end

---Everything stored for a session.
---@param id string session id
---@param opts? kadoa.SessionFilesOptions
---@return kadoa.SessionFilesResult|nil res
---@return kadoa.Error|nil err
function Client:session_files(id, opts) end

---A stored file's bytes (name: a *_filename of session_files).
---@param name string
---@param opts? kadoa.FileOptions
---@return string|kadoa.FileWritten|nil res
---@return kadoa.Error|nil err
function Client:file(name, opts) end

---One page of your crawl sessions.
---@param opts? kadoa.SessionsOptions
---@return kadoa.SessionsResult|nil res
---@return kadoa.Error|nil err
function Client:sessions(opts) end

---Save a crawl config.
---@param body table the API's CreateCrawlerConfigRequest fields
---@param opts? kadoa.BodyOptions
---@return kadoa.CrawlConfig|nil res
---@return kadoa.Error|nil err
function Client:config_create(body, opts) end

---A saved crawl config.
---@param config_id string
---@param opts? kadoa.CallOptions
---@return kadoa.CrawlConfig|nil res
---@return kadoa.Error|nil err
function Client:config(config_id, opts) end

---Delete a saved crawl config.
---@param config_id string
---@param opts? kadoa.BodyOptions
---@return kadoa.ConfigDeleteResult|nil res
---@return kadoa.Error|nil err
function Client:config_delete(config_id, opts) end

-- The kadoa.* shortcuts: the same calls on the default client -----------------
-- (each one's options may hold client options too, api_key, base_url...:
-- they pick the default client; see kadoa.client.split_options)

---@class kadoa
local kadoa = {}

---@param body kadoa.CrawlBody|string
---@param opts? kadoa.CrawlOptions
---@return kadoa.StartResult|kadoa.StatusResult|nil res
---@return kadoa.Error|nil err
function kadoa.crawl(body, opts) end

---@param config_id string
---@param opts? kadoa.CrawlOptions
---@return kadoa.StartResult|kadoa.StatusResult|nil res
---@return kadoa.Error|nil err
function kadoa.crawl_with_config(config_id, opts) end

---@param session_id string
---@param opts? kadoa.BodyOptions
---@return kadoa.ControlResult|nil res
---@return kadoa.Error|nil err
function kadoa.pause(session_id, opts) end

---@param session_id string
---@param opts? kadoa.BodyOptions
---@return kadoa.ControlResult|nil res
---@return kadoa.Error|nil err
function kadoa.resume(session_id, opts) end

---@param id string
---@param opts? kadoa.PagesOptions
---@return kadoa.PagesResult|nil res
---@return kadoa.Error|nil err
function kadoa.pages(id, opts) end

---@param id string
---@param page_id string
---@param opts? kadoa.PageOptions
---@return kadoa.PageResult|nil res
---@return kadoa.Error|nil err
function kadoa.page(id, page_id, opts) end

---@param id string
---@param opts? kadoa.SessionFilesOptions
---@return kadoa.SessionFilesResult|nil res
---@return kadoa.Error|nil err
function kadoa.session_files(id, opts) end

---@param name string
---@param opts? kadoa.FileOptions
---@return string|kadoa.FileWritten|nil res
---@return kadoa.Error|nil err
function kadoa.file(name, opts) end

---@param opts? kadoa.SessionsOptions
---@return kadoa.SessionsResult|nil res
---@return kadoa.Error|nil err
function kadoa.sessions(opts) end

---@param body table
---@param opts? kadoa.BodyOptions
---@return kadoa.CrawlConfig|nil res
---@return kadoa.Error|nil err
function kadoa.config_create(body, opts) end

---@param config_id string
---@param opts? kadoa.CallOptions
---@return kadoa.CrawlConfig|nil res
---@return kadoa.Error|nil err
function kadoa.config(config_id, opts) end

---@param config_id string
---@param opts? kadoa.BodyOptions
---@return kadoa.ConfigDeleteResult|nil res
---@return kadoa.Error|nil err
function kadoa.config_delete(config_id, opts) end

---@param id string
---@param opts? kadoa.CallOptions
---@return string|nil json the body exactly as the API sent it
---@return kadoa.Error|nil err
function kadoa.status_json(id, opts) end

---@param id string
---@param opts? kadoa.WaitOptions
---@return kadoa.StatusResult|nil res the final status
---@return kadoa.Error|nil err
function kadoa.wait(id, opts) end

---@param ids string[]
---@param opts? kadoa.ManyOptions
---@return table<string, kadoa.StatusResult|string|kadoa.Error>|nil results by id
---@return kadoa.Error|nil err
function kadoa.status_many(ids, opts) end

---@param id string
---@param opts? kadoa.EachPageOptions
---@return fun(): (kadoa.PageItem|false|nil), kadoa.Error|nil iterator # false, err once on failure
function kadoa.each_page(id, opts) end

---@param opts? kadoa.SessionsOptions
---@return fun(): (kadoa.SessionItem|false|nil), kadoa.Error|nil iterator # false, err once on failure
function kadoa.each_session(opts) end

---@param id string
---@param dir string
---@param opts? kadoa.ExportOptions
---@return kadoa.ExportResult|nil summary
---@return kadoa.Error|nil err
function kadoa.export(id, dir, opts) end

---Any call of kadoa.api many at once: calls[i] holds one call's arguments
---(its options last); results[i] its result or error value.
---@param name string a call of kadoa.api
---@param calls any[][]
---@param opts? kadoa.ManyOptions concurrency and on_result(i, res, err)
---@return table<integer, any|kadoa.Error>|nil results by index
---@return kadoa.Error|nil err
function kadoa.many(name, calls, opts) end
