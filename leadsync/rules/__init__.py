"""The business rules, pure functions with no I/O: the condition language
(``conditions``), scoring (``scoring``), lifecycle stages (``lifecycle``),
routing and weighted round robin (``routing``, ``roundrobin``), the follow-up task
and nurture (``handoff``), and one lead's whole decision (``decide``). The
pipeline reads and writes what they need around them (``sync.decide``).
"""
