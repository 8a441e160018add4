"""``python -P -m unleak.agent.brokered ARGS``: unleak ARGS as the broker runs it for the agent (see
``Broker._command``), every git it starts confined to the agent's sandbox.

A module of its own so that the broker does not import the command line (which imports the broker back).
"""

from __future__ import annotations

import sys

from unleak.agent.broker import confine_git
from unleak.fastpath import main

if __name__ == "__main__":
    confine_git()
    main(sys.argv[1:])
