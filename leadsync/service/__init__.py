"""`leadsync run`: the pipeline on a clock, with a forms inbox, health and metrics.

``schedule`` reads the config's schedules, ``jobs`` runs each job in its turn and
remembers how it went, ``listener`` answers HTTP (forms, health, metrics),
``metrics`` holds the Prometheus instruments, and ``process`` starts and stops it all.
"""
