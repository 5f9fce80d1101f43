"""The model's YAML reader (libyaml where PyYAML has it): what it gives for the files
it reads must be yaml.safe_load's, and it must stay a safe loader."""

from __future__ import annotations

import pytest
import yaml
from conftest import REPO

from ventlab.model import model

READ = sorted([*REPO.glob("pillar/vent/*.sls"), *REPO.glob("formulas/*/*/schema.yaml"),
               *REPO.glob("formulas/*/*/defaults.yaml")])


def test_there_are_files_to_compare():
    assert len(READ) >= 10, READ


@pytest.mark.parametrize("path", READ, ids=lambda p: str(p.relative_to(REPO)))
def test_each_file_reads_as_safe_load_reads_it(path):
    text = path.read_text()
    assert model.load_yaml(text) == yaml.safe_load(text)


def test_types_are_yaml_1_1s_as_safe_load_gives_them():
    text = "a: 10\nb: 0755\nc: on\nd: 1.5\ne: null\nf: '10'\ng: 2026-12-07\n"
    assert model.load_yaml(text) == yaml.safe_load(text)
    assert model.load_yaml(text)["a"] == 10 and model.load_yaml(text)["c"] is True


def test_documents_are_split_as_safe_load_all_splits_them():
    text = "kind: A\n---\n---\nkind: B\n"
    assert model.load_yaml_all(text) == list(yaml.safe_load_all(text)) == [{"kind": "A"}, None,
                                                                              {"kind": "B"}]


@pytest.mark.parametrize("read", [model.load_yaml, model.load_yaml_all])
def test_python_tags_are_refused(read):
    with pytest.raises(yaml.constructor.ConstructorError):
        read("x: !!python/object/apply:os.system ['true']\n")
