"""SARIF 2.1.0 for GitHub code scanning: rule metadata, partialFingerprints, commit provenance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from scanner import archives
from scanner.result import ScanResult
from scanner.rules import Rule, all_rules
from scanner.version import VERSION

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"high": "error", "medium": "error", "low": "warning", "unlikely": "note"}
_SEVERITY = {"high": "9.0", "medium": "7.0", "low": "4.0", "unlikely": "1.0"}
_PRECISION = {"high": "very-high", "medium": "high", "low": "medium", "unlikely": "low"}


def _rule(rule: Rule) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": rule.id,
        "name": "".join(w.capitalize() for w in rule.title.replace("-", " ").split()),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.description or rule.title},
        "defaultConfiguration": {"level": _LEVEL[rule.confidence.value]},
        "help": {"text": "Move the value into a vault with `unleak fix`, then rotate it if it was ever committed."
                 + (f" Revoke at: {rule.revoke}" if rule.revoke else "")},
        "properties": {
            "tags": ["security", "secret", rule.family],
            "precision": _PRECISION[rule.confidence.value],
            "security-severity": _SEVERITY[rule.confidence.value],
        },
    }
    if rule.revoke.startswith("https://"):
        d["helpUri"] = rule.revoke
    return d


def document(result: ScanResult, root: str | None = None, extra_rules: dict[str, Rule] | None = None
             ) -> dict[str, Any]:
    rules = {**all_rules(), **result.rules, **(extra_rules or {})}
    used = sorted({f.rule_id for f in result.findings})
    rule_list = [_rule(rules[r]) for r in used if r in rules]
    index = {r["id"]: i for i, r in enumerate(rule_list)}
    results: list[dict[str, Any]] = []
    for f in result.findings:
        res: dict[str, Any] = {
            "ruleId": f.rule_id,
            "level": _LEVEL[f.confidence.value],
            "message": {"text": f"{f.title} ({f.confidence.value} confidence): {f.preview}"},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": {"uri": quote(f.path), "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": f.line, "startColumn": f.column, "endColumn": max(f.end_column,
                                                                                              f.column + 1)},
                }
            }],
            "partialFingerprints": {"unleakFingerprint/v1": f.fingerprint},
            "properties": {"confidence": f.confidence.value, "source": f.source},
        }
        if f.line_context:
            # The whole line with every literal shaped (never a character of the value), for triage in the UI.
            res["locations"][0]["physicalLocation"]["contextRegion"] = {
                "startLine": f.line, "snippet": {"text": f.line_context}}
        if f.rule_id in index:
            res["ruleIndex"] = index[f.rule_id]
        verdict = result.verifications.get(f.fingerprint)
        if verdict is not None:
            res["properties"]["verified"] = verdict.to_dict()
            res["message"]["text"] += f" [verified: {verdict.status.value}]"
        if f.source == archives.SOURCE:
            # The artifact is the archive on disk; the member and the line inside it are properties and in the text.
            archive, member = archives.split(f.path)
            location = res["locations"][0]["physicalLocation"]
            location["artifactLocation"]["uri"] = quote(archive)
            location["region"] = {"startLine": 1}
            context = location.pop("contextRegion", None)
            res["properties"]["archiveMember"] = {"path": member, "line": f.line, "column": f.column,
                                                  **({"context": context["snippet"]["text"]} if context else {})}
            res["message"]["text"] += f" (in archive member {member} line {f.line})"
        if f.commit is not None:
            res["properties"]["commit"] = f.commit.to_dict()
            res["message"]["text"] += f" (introduced in commit {f.commit.sha[:12]} by {f.commit.author})"
        results.append(res)
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "unleak", "version": VERSION, "semanticVersion": VERSION,
                            "informationUri": "https://pypi.org/project/unleak/", "rules": rule_list}},
        "results": results,
        "invocations": [{"executionSuccessful": True}],
        "columnKind": "unicodeCodePoints",
    }
    # What history holds but git could not read: counted, named (commit and path), and a warning for the run.
    run["properties"] = {"skipped": len(result.skipped), "skippedObjects": [s.to_dict() for s in result.skipped]}
    if result.skipped:
        from scanner.report.text import skipped_warning

        run["invocations"][0]["toolExecutionNotifications"] = [
            {"level": "warning", "message": {"text": skipped_warning(result.skipped)}}]
    if root:
        run["originalUriBaseIds"] = {"%SRCROOT%": {"uri": Path(root).resolve().as_uri() + "/"}}
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def render(result: ScanResult, root: str | None = None) -> str:
    return json.dumps(document(result, root), indent=2, ensure_ascii=False) + "\n"
