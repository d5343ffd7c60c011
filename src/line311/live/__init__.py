"""Live shared state in Redis: what outlives a controller process (edge; issue 12).

    errors    LiveError tree
    server    RedisServer: our own redis-server (system binary or the Debian sid root's), AOF on
    codec     how routing records look in Redis (pure)
    scripts   the Lua scripts that make every routing change atomic
    routing   LiveRouting: waiting calls, agents, reservations shared by several controllers
    sessions  RedisSessionStore: each live call's session state

Nothing here is imported by the pure core; the router decides, this package shares.
"""
