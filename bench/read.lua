-- wrk: authenticated GET /api/v1/projects/{id}, a random one of the seeded projects each time.
-- TM_BENCH_TOKEN: the client's access token; TM_BENCH_IDS: a file with one project id per line.
local ids = {}

function init(args)
	for line in io.lines(os.getenv("TM_BENCH_IDS")) do
		ids[#ids + 1] = line
	end
	wrk.headers["Authorization"] = "Bearer " .. os.getenv("TM_BENCH_TOKEN")
	math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
	return wrk.format("GET", "/api/v1/projects/" .. ids[math.random(#ids)])
end
