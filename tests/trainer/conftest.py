import pytest

from guidelines.services import guideline_create, version_draft_create, version_publish
from labeling.services import prompt_import

# The dataset fixtures the training tests start from: a guideline, imports (the real
# OpenAssistant trees among them) and an exports folder of each test's own.
from tests.datasets.conftest import (  # noqa: F401 (fixtures)
    _own_exports_dir,
    guideline,
    oasst,
    queue_import,
)
from tests.sources.conftest import training_queue_emptied  # noqa: F401 (a fixture)

# A few training steps on short sequences: every part works, quickly on a CPU.
QUICK = {"max_steps": 6, "batch_size": 4, "max_length": 96, "log_every": 2, "checkpoint_every": 0}


@pytest.fixture
def prompts(carol):
    """Three prompts of a published guideline, `assistant`, for the generation and drafts
    forms to choose from."""
    assistant = guideline_create(slug="assistant", title="Assistant")
    version_publish(
        version=version_draft_create(guideline=assistant, body="# Data\n", summary="", author=carol)
    )
    return [
        prompt_import(guideline=assistant, messages=[{"role": "user", "content": f"Task {n}?"}])[0]
        for n in range(3)
    ]
