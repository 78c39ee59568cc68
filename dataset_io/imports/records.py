"""What a parsed line becomes: plain records, applied to the database by dataset_io.importing."""

from dataclasses import dataclass, field

Messages = list[dict[str, str]]


class LineError(ValueError):
    """This line cannot be imported; the message says why."""


@dataclass(frozen=True)
class PromptRecord:
    messages: Messages
    category: str = "other"
    language: str = "en"


@dataclass(frozen=True)
class DemonstrationRecord:
    messages: Messages  # the prompt: ends on a user turn
    content: str  # the ideal assistant reply
    language: str = "en"


@dataclass(frozen=True)
class PreferenceRecord:
    """Replies to one prompt, ranked: `ranking` holds indices into `replies`, best first."""

    messages: Messages
    replies: list[str]
    ranking: list[list[int]]
    models: list[str] = field(default_factory=list)
    language: str = "en"


@dataclass(frozen=True)
class CandidatesRecord:
    """Replies to be ranked by our raters (nothing known about their order yet)."""

    messages: Messages
    replies: list[str]
    models: list[str]
    overlap: int = 3


Record = PromptRecord | DemonstrationRecord | PreferenceRecord | CandidatesRecord
