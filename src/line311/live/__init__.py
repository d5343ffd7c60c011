"""Live shared state in Redis: what outlives a controller process (edge; issue 12).

    errors    LiveError tree (LiveAuthError: a refused redis_password)
    server    RedisServer: our own redis-server (system binary or the Debian sid root's), AOF on,
              requirepass redis_password
    client    connect(url), live_client(settings): the redis-py client the live store needs
              (line311's loopback Redis, or the primary named by redis_sentinels), with AUTH
    codec     how routing records look in Redis (pure)
    scripts   the Lua scripts that make every routing change atomic
    ops       each change as a value (script, arguments, reply reader): run alone or batched
    routing   LiveRouting: waiting calls, agents, reservations shared by several controllers
    sessions  RedisSessionStore: each live call's session state
    figures   LiveIntervals: service-level counters per (queue, 15-minute interval)
    journal   LiveJournal: the wallboard's facts and each CCR's state, written behind and
              read back by the next controller (what the running controller uses today)

Nothing here is imported by the pure core; the router decides, this package shares.
"""
