"""Helpers shared by the tests: plain modules (the fixtures are in the conftest.py files).

* ``rides``: ride events as the producer sends them;
* ``senders``: ``ScriptedSender`` and ``KinesisRulesSender``, the publish port scripted;
* ``streams``: write and read streams on the emulator, run the event source mapping;
* ``clock``: ``FakeClock``, time for the event source mapping that passes when told;
* ``cli``: the ``streaming`` command in a fresh interpreter;
* ``web``: ``streaming serve`` on a free port, and clients for it;
* ``fault_proxy``: faults injected between the code and the emulator;
* ``kpl_build``, ``strategies``, ``budget``: KPL aggregates, hypothesis inputs and budgets;
* ``tools``: host tools of the static checks; ``fixes``, ``slow_handler``: CLI plug-ins.
"""
