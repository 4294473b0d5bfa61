-- wrk: authenticated POST /api/v1/projects with real client briefs, each made unique so that
-- no analysis is answered from the cache.
--   TM_BENCH_TOKEN    the client's access token
--   TM_BENCH_BRIEFS   a Lua file returning a list of JSON-escaped briefs
--   TM_BENCH_TAG      put in every title, so the bench can find its projects afterwards
--   TM_BENCH_RATE     requests per second for the whole run (0: as fast as possible); the
--                     pace is kept per connection, so it holds while replies are fast
--   TM_BENCH_CONNS    connections of the run (to split the rate among them)
local briefs, tag, n, salt, pause_ms

function init(args)
	briefs = dofile(os.getenv("TM_BENCH_BRIEFS"))
	tag = os.getenv("TM_BENCH_TAG") or "bench"
	wrk.method = "POST"
	wrk.headers["Authorization"] = "Bearer " .. os.getenv("TM_BENCH_TOKEN")
	wrk.headers["Content-Type"] = "application/json"
	local rate = tonumber(os.getenv("TM_BENCH_RATE") or "0")
	local conns = tonumber(os.getenv("TM_BENCH_CONNS") or "1")
	pause_ms = rate > 0 and math.floor(1000 * conns / rate) or 0
	math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
	salt = math.random(1, 1000000000)
	n = 0
end

-- wrk asks for delay() only when the script defines it: only for a paced run
if tonumber(os.getenv("TM_BENCH_RATE") or "0") > 0 then
	function delay()
		return pause_ms
	end
end

function request()
	n = n + 1
	local b = briefs[(salt + n) % #briefs + 1]
	local body = string.format('{"title":"%s %d-%d","description":"%s (ref %d-%d)"}', tag,
		salt, n, b, salt, n)
	return wrk.format(nil, "/api/v1/projects", nil, body)
end
