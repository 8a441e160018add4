"""The agent wing: everything a coding agent talks to, and everything that decides what an agent may do.

- ``mcp_server``: the stdio MCP server (the agent's tools and their redacted answers).
- ``hooks`` and ``agent_hooks``: the hooks Claude Code, Codex and Cursor call before a tool runs, and their
  installers.
- ``policy``: grants, approval requests and the user's policy (who may run what with which secrets).
- ``approval`` and ``presence``: the loopback pages a human approves on, and the proof that the human, not the
  agent, approved.
- ``runguard``: who may start ``unleak run`` without a grant (the agent's shell may not).
- ``display``: escaping of text an agent chose before a human reads it.

What stays outside: the child-process runtime (``run``, ``masking``, ``reaper``, ``confine``), which a human's own
``unleak run`` uses as much as an agent's; ``integrity`` and ``audit``, which the human's commands use too;
``userenv`` (user directories and identity), which the pre-commit path uses.
"""
