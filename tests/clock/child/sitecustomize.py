"""Started by Python in the processes the tests launch: their clock starts at ``HTSD_TEST_NOW``
and ticks on, as the test process's does (see ``tests/clock``)."""

import os

if os.environ.get("HTSD_TEST_CLOCK") == "1" and os.environ.get("HTSD_TEST_NOW"):
    import time_machine

    _traveller = time_machine.travel(os.environ["HTSD_TEST_NOW"], tick=True)
    _traveller.start()
