-- wrk script for bench/run's upload scenario: every request sends a 1 KiB
-- body. BENCH_METHOD is POST for httpbox and PUT for nginx (its WebDAV
-- module takes no POST).
wrk.method = os.getenv("BENCH_METHOD") or "POST"
wrk.body = string.rep("x", tonumber(os.getenv("BENCH_BODY_SIZE") or "1024"))
wrk.headers["Content-Type"] = "application/octet-stream"
