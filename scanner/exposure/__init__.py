"""Exposure: for every distinct secret ever committed, where and since when it is exposed, and how to rotate it.

A secret that was committed once must be treated as compromised, even after the line was deleted: every clone,
fork and pushed ref keeps it. This package answers, per fingerprint, which commits' trees hold it, whether HEAD still
does, which branches and tags have it in their history, whether a remote-tracking ref has it (it was pushed) and
whether an agent transcript carries it. Read-only, like the rest of ``scanner``.

Counting: ``scan`` reports findings (each place a secret was added: a commit, a path, a line), ``exposure`` reports
distinct secrets (by fingerprint). One secret added in three commits is three findings and one secret; both
numbers are in the report.

- ``model``: the records (one :class:`~scanner.exposure.model.Exposure` per secret, the report, the rotation
  checklist) and what callers do with a report (choose by fingerprint, attach verification verdicts);
- ``analysis``: ``analyze``, which builds the report: history scan, values, presence walk, refs, agent logs;
- ``values``: each secret's value cut out of the file version where the scan found it (the scan cache holds none);
- ``presence``: the walk of all history that tells which commits' trees, and which commits' histories, hold each
  secret;
- ``matcher``: which of a set of values a blob holds, in one pass (substring, Aho-Corasick or hyperscan);
- ``blobcache``: what each file version holds, kept between runs (fingerprints by object id, no values).

The text, markdown and JSON renderings live in :mod:`scanner.report.exposure`, the HTML page in
:mod:`scanner.report.exposure_html`.
"""
