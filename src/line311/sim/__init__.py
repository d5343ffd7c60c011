"""Simulated load: a call-center day in silico, and simulated people on the running stack.

    model     arrival curves, caller and CCR mixes, `SimConfig`, results (pure)
    day       the roster and the event loop of one simulated day (pure)
    simulate  `simulate`: one day through the real router and SL code (pure), vs Erlang C/A
    sipp      SIPp callers and CCR phones (subprocesses; scenario templates in ``scenarios/``)
    demo      ``line311 demo``: residents and CCRs against the running stack

Nothing in the controller or the CRM bridge imports this package.
"""
