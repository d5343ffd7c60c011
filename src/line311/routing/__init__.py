"""Skill-based routing: which CCR takes which waiting call, and when (pure: no I/O, no clock).

Modules, from the bottom up:

    errors      RoutingError tree
    skills      skills (``lang:ru``, ``topic:housing``), proficiency 1-5, Requirements
    agents      CCR profiles, the agent state machine (one transition table), figures
    waiting     WaitingCall and WaitingList: waiting calls in service order
    queues      queue definitions, escalation steps, loading from YAML/dicts, defaults
    strategies  routing strategies registered by name (best_skill_longest_idle ...)
    store       RoutingStore protocol (shared-store ready) and its in-memory form
    results     Offer, WaitExpired, QueueStats: what the router hands the edge
    roster      the CCR roster (plain data or the YAML file named by the settings)
    decide      bucket plans, candidates, the strategy's pick: the reservations of a round
    figures     real-time figures of a queue
    staff       the router's CCR side: log in/out, pauses, wrap-up, missed offers
    router      Router: events in (with ``now``), offers out; escalation, callbacks, stats
"""
