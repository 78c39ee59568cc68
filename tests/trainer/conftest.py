# The dataset fixtures the training tests start from: a guideline, imports (the real
# OpenAssistant trees among them) and an exports folder of each test's own.
from tests.datasets.conftest import (  # noqa: F401 (fixtures)
    _own_exports_dir,
    guideline,
    oasst,
    queue_import,
)

# A few training steps on short sequences: every part works, quickly on a CPU.
QUICK = {"max_steps": 6, "batch_size": 4, "max_length": 96, "log_every": 2, "checkpoint_every": 0}
