"""Supervised processes: ``line311 run`` keeps Asterisk, Redis, the CRM bridge and the
controller up as separate processes; ``line311 status`` shows them.

    policy.py      PURE: one process's restart policy (events + now -> start decisions)
    processes.py   EDGE: a command we run, or a daemon one of our managers runs
    supervisor.py  EDGE: the asyncio loop that starts, watches, restarts and stops them
    status.py      the status file, written atomically, read with the PIDs checked
    stack.py       the processes of ``line311 run``, built from the settings
"""
