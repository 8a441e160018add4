"""The agent wing: everything a coding agent talks to, and everything that decides what an agent may do.

- ``mcp_server`` (the tools), ``mcp_tools`` (their schemas), ``answer_guard``, ``masked_exec``, ``mcp_transport``:
  the stdio MCP server and its redacted answers.
- ``hooks`` (Claude Code's protocol: a payload in, a decision out) and ``agent_hooks`` (Codex's and Cursor's
  payloads judged the same way, and their installers): the hooks agents call before a tool runs. What the checks
  look at: ``hook_scan`` (content), ``hook_writes`` (what a write tool adds to a file), ``secret_reads`` (reads and
  shell commands that expose values); ``hook_installers`` writes Claude Code's settings and git's pre-commit hook.
- ``policy``: the user's policy, grant and request records, and what a grant covers; ``grantstore`` keeps them,
  ``shellrisk`` (the one shell-risk model), ``runtarget`` (what a run really executes) and ``tiers`` feed it.
- ``approval``, ``pages`` and ``presence``: the loopback pages a human approves on, and the proof that the human,
  not the agent, approved.
- ``runguard``: who may start ``unleak run`` without a grant (the agent's shell may not).
- ``display``: escaping of text an agent chose before a human reads it.

What stays outside: the child-process runtime (``run``, ``masking``, ``reaper``, ``confine``), which a human's own
``unleak run`` uses as much as an agent's; ``integrity`` and ``audit``, which the human's commands use too;
``userenv`` (user directories and identity), which the pre-commit path uses.
"""
