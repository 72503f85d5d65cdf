"""Any CLI agent: the prompt as a Markdown file, the failures as JSON, the tree to edit."""

from __future__ import annotations

import json
import shlex
import shutil
import time
from collections.abc import Sequence

from bot.agent.base import AgentOutcome, AgentRequest
from bot.agent.prompt import markdown_prompt
from bot.errors import BadInput
from bot.guard.confine import replace_file
from bot.proc import run_process
from bot.secrets import environment, redact, redact_data, secret_values

PLACEHOLDER = "{prompt_file}"
AGENT_OUTPUT_CAP = 128 * 1024
# Never handed to an agent, whatever a passthrough list says: GitHub's and the runner's tokens.
NEVER_PASSED = frozenset(
    {"GITHUB_TOKEN", "GH_TOKEN", "ACTIONS_RUNTIME_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"}
)


def split_command(command: str) -> list[str]:
    """The agent command split like a shell would; BadInput when it cannot be."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise BadInput(f"--agent-command {command!r} cannot be split: {exc}") from exc
    if not argv:
        raise BadInput("--agent-command is empty")
    return argv


class CommandAgent:
    """Runs `CMD {prompt_file}` (or CMD with the prompt on stdin) in the worktree.

    The agent's environment is the scrubbed one the gate gets, plus the variables named in
    `env_passthrough` copied from ours (an agent's own API key, say): those reach this
    agent's process only, never the gate's.
    """

    name = "command"

    def __init__(self, command: str, note: str = "", env_passthrough: Sequence[str] = ()) -> None:
        self.argv = split_command(command)
        self.note = note
        refused = sorted(n for n in env_passthrough if n.upper() in NEVER_PASSED)
        if refused:
            raise BadInput(f"{', '.join(refused)} is never passed to an agent")
        self.env_passthrough = tuple(dict.fromkeys(env_passthrough))

    def check_installed(self, path: str | None) -> None:
        """BadInput when the agent's program is not on `path`: said before any work, not
        after a whole gate run."""
        program = self.argv[0] if self.argv else ""
        if program and "/" not in program and shutil.which(program, path=path) is None:
            raise BadInput(
                f"the agent program {program!r} is not installed or not on PATH"
                + (f" ({self.note})" if self.note else "")
            )

    def attempt(self, request: AgentRequest) -> AgentOutcome:
        request.scratch.mkdir(parents=True, exist_ok=True)
        # Test output in the failures may hold a secret (or an encoding of one): never sent.
        secrets = secret_values()
        prompt = redact(markdown_prompt(request.rules, request.task, request.context), secrets)
        # An earlier attempt's agent may have left a link at these names: replace, never follow.
        prompt_file = replace_file(request.scratch, f"prompt-{request.attempt}.md", prompt)
        failures_file = replace_file(
            request.scratch,
            f"failures-{request.attempt}.json",
            json.dumps(
                redact_data([f.model_dump(mode="json") for f in request.failures], secrets),
                indent=2,
            ),
        )
        uses_file = any(PLACEHOLDER in word for word in self.argv)
        argv = [word.replace(PLACEHOLDER, str(prompt_file)) for word in self.argv]
        # Secrets are no longer in os.environ once selfheal has sealed them (bot.secrets).
        given = environment()
        passed = {n: given[n] for n in self.env_passthrough if n in given}
        env = {
            **request.env,
            **passed,
            "SELFHEAL_PROMPT_FILE": str(prompt_file),
            "SELFHEAL_FAILURES_JSON": str(failures_file),
            "SELFHEAL_ATTEMPT": str(request.attempt),
            "SELFHEAL_REPO": str(request.workdir),
        }
        timeout = None if request.deadline is None else max(request.deadline - time.monotonic(), 1)
        result = run_process(
            argv,
            request.workdir,
            env=env,
            timeout=timeout,
            stdin=None if uses_file else prompt,
            output_cap=AGENT_OUTPUT_CAP,
        )
        if result.start_error:
            raise BadInput(f"the agent command could not start: {result.stderr}")
        summary = _last_line(result.stdout) or (
            f"agent killed after {result.duration_s:.0f}s (budget)" if result.timed_out else ""
        )
        return AgentOutcome(
            summary=summary,
            exit_code=result.returncode,
            log=result.output,
            events=[
                {
                    "event": "agent",
                    "agent": self.name,
                    "argv": list(result.argv),
                    "env_passthrough": sorted(passed),  # names only, never values
                    "exit_code": result.returncode,
                    "timed_out": result.timed_out,
                    "duration_s": round(result.duration_s, 3),
                    "output": result.output,
                }
            ],
        )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
