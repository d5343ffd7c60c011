"""Pure queue core: the queued call (`leg`), service-level measurement, interval statistics,
queue_log, Erlang staffing, calendar days in the center's time zone (`days`).

Nothing here does I/O or reads a clock: times are passed in as POSIX seconds (UTC).
"""
