"""MUTATION SAMPLE (about half a minute of CPU): a few deliberate bugs in the access checks and in
money's amounts, always the same ones, each run against those modules' fast tests in a copy of the
work tree; a bug no test catches fails the suite (tests/mutation.py, `SAMPLE`; docs/mutation.md).
Alone: `./dev mutate --sample` or `./dev test -m mutation`."""
import pytest

from tests import mutation


@pytest.mark.mutation
def test_a_sample_of_deliberate_bugs_in_access_and_money_is_caught(tmp_path):
    tried = mutation.sample(tmp_path)
    assert len(tried) == mutation.SAMPLE_SIZE * len(mutation.SAMPLE)
    survived = [f"{t.where}: " + " / ".join(t.diff) for t in tried if not t.killed]
    assert survived == [], "no test fails on these mutants (kill them, or explain them in EQUIVALENT):\n" + "\n".join(survived)
