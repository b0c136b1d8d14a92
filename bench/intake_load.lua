-- wrk script of bench/intake.py: POST one referral per request on keep-alive connections,
-- each with its own member (name and birth date), so duplicate detection sees distinct
-- people as it would in real traffic.
--
--   wrk -t1 -c16 -d10s -s bench/intake_load.lua http://127.0.0.1:PORT -- TEMPLATE TOKEN TAG \
--       [PATH CONTENT_TYPE]
--
-- TEMPLATE is a file holding the JSON body with the markers __LAST__ and __BIRTH__ (in
-- that order); TAG (letters) keeps members of different runs apart. done() prints one
-- line "BENCH_RESULT {json}" that bench/intake.py reads. PATH (default /api/v1/referrals)
-- and CONTENT_TYPE (default application/json) serve the FHIR path: /fhir with a
-- transaction Bundle as application/fhir+json.

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_index", thread_count)
  table.insert(threads, thread)
end

local LETTERS = "abcdefghijklmnopqrstuvwxyz"

local function as_letters(n)
  local out = {}
  repeat
    local r = n % 26
    out[#out + 1] = LETTERS:sub(r + 1, r + 1)
    n = (n - r) / 26
  until n == 0
  return table.concat(out)
end

local head, middle, tail, headers, prefix, path
local counter = 0

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local template = file:read("*a")
  file:close()
  local a1, b1 = template:find("__LAST__", 1, true)
  local a2, b2 = template:find("__BIRTH__", b1 + 1, true)
  assert(a1 and a2, "template needs __LAST__ then __BIRTH__")
  head = template:sub(1, a1 - 1)
  middle = template:sub(b1 + 1, a2 - 1)
  tail = template:sub(b2 + 1)
  path = args[4] or "/api/v1/referrals"
  headers = {
    ["Content-Type"] = args[5] or "application/json",
    ["Authorization"] = "Bearer " .. args[2],
  }
  -- thread_index is the global set by setup() for this thread's interpreter.
  prefix = "Hale" .. args[3] .. as_letters(thread_index) .. "x"
end

function request()
  counter = counter + 1
  local birth = string.format(
    "%04d-%02d-%02d",
    1930 + counter % 40,
    1 + math.floor(counter / 40) % 12,
    1 + math.floor(counter / 480) % 28
  )
  local body = head .. prefix .. as_letters(counter) .. middle .. birth .. tail
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT {\"completed\": %d, \"duration_s\": %.6f, \"non_2xx\": %d, "
      .. "\"socket_errors\": %d, \"timeouts\": %d, \"p50_ms\": %.3f, \"p90_ms\": %.3f, "
      .. "\"p99_ms\": %.3f, \"max_ms\": %.3f, \"mean_ms\": %.3f}\n",
    summary.requests,
    summary.duration / 1e6,
    e.status,
    e.connect + e.read + e.write,
    e.timeout,
    latency:percentile(50) / 1000,
    latency:percentile(90) / 1000,
    latency:percentile(99) / 1000,
    latency.max / 1000,
    latency.mean / 1000
  ))
end
