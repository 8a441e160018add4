import json
from pathlib import Path
from urllib.parse import urlsplit

import nbformat

NOTEBOOK = Path(__file__).resolve().parents[1] / "churn.ipynb"


def run_cells() -> dict:
    """Runs the code cells as the kernel would, shell and magic lines left out (no network)."""
    ns: dict = {}
    for cell in json.loads(NOTEBOOK.read_text())["cells"]:
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            exec("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("!", "%"))), ns)
    return ns


def test_notebook_is_valid():
    nbformat.validate(nbformat.read(NOTEBOOK, as_version=4))


def test_cells_read_the_credentials(expect):
    ns = run_cells()
    expect(ns["HF_TOKEN"], "huggingface_token#1", r"hf_[A-Za-z]{34}")
    assert ns["headers"]["Authorization"] == f"Bearer {ns['HF_TOKEN']}"
    expect(urlsplit(ns["WAREHOUSE"]).password, "url_password#1", r"[\w.~-]{18}")
    expect(ns["llm"]["api_key"], "groq_key#1", r"gsk_[A-Za-z0-9]{52}")
