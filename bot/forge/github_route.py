"""Where the heal job runs: on a GPU runner when a GPU job failed, else on ubuntu-latest.

The result feeds a workflow's `runs-on: ${{ fromJSON(needs.<job>.outputs.runs-on) }}`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.forge.github_models import FAILED, WorkflowJob

GPU_LABEL = "gpu"
GPU_RUNS_ON = ("self-hosted", GPU_LABEL)
CPU_RUNS_ON = ("ubuntu-latest",)
# Labels come from the workflow file, which a pull request can change: keep plain words only,
# and never GitHub-hosted image names, which no self-hosted runner carries.
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HOSTED_IMAGE = re.compile(r"^(ubuntu|windows|macos)-", re.IGNORECASE)
_MAX_LABELS = 10


def runs_on_for(jobs: Sequence[WorkflowJob]) -> list[str]:
    """Runner labels for the heal job.

    The first failed job whose labels include "gpu" gives ["self-hosted", "gpu", *its other
    labels] (runner names and hosted images left out, so the heal job lands on the same kind
    of machine); with no failed GPU job, ["ubuntu-latest"].
    """
    for job in jobs:
        if job.conclusion not in FAILED:
            continue
        if GPU_LABEL not in (label.lower() for label in job.labels):
            continue
        labels = list(GPU_RUNS_ON)
        for label in job.labels:
            known = {name.lower() for name in labels}
            if (
                label.lower() in known
                or label == job.runner_name
                or not _LABEL.match(label)
                or _HOSTED_IMAGE.match(label)
            ):
                continue
            labels.append(label)
        return labels[:_MAX_LABELS]
    return list(CPU_RUNS_ON)
