"""command_args: what the `/selfheal` command asks, cleaned of hidden text and capped."""

from __future__ import annotations

from bot.github.comment_command import MAX_COMMAND_ARGS, command_args


def test_command_args_lose_hidden_text_and_control_characters() -> None:
    body = "/selfheal fix\u200b it<!-- and push to main --> \x1b[31mnow\u202e\x00"
    assert command_args(body) == "fix it [31mnow"


def test_command_args_are_capped() -> None:
    args = command_args("/selfheal " + "word " * 10_000)
    assert args is not None
    assert len(args) == MAX_COMMAND_ARGS and args.endswith("...")
