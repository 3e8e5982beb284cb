"""AI SDK 6 UI messages and UI-message stream chunks as typed dicts (the `ai` package's `UIMessage`,
`UIMessagePart` and `UIMessageChunk`, field for field).

On the wire these are plain JSON objects, so they stay dicts here: one `TypedDict` per chunk type
and per part type, discriminated by `type`. The agent runtime, the model loop, the adapters and the
Python client all speak these, so a misspelt chunk type or field is a mypy error, and
`match chunk["type"]` with `assert_never` proves every case is handled. Optional fields are
`NotRequired`, as the AI SDK's `?:` fields. `data-*` chunks and parts carry an open `type`
(`data-<name>`), and tool parts `tool-<name>`, which a `Literal` cannot spell.

Imports only `typing` (and `typing_extensions`, which pydantic brings): the light client uses it too.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypeAlias, TypedDict

from typing_extensions import TypeIs

ProviderMetadata: TypeAlias = dict[str, dict[str, Any]]
FinishReason = Literal["stop", "length", "content-filter", "tool-calls", "error", "other"]

# ------------------------------------------------------------------ chunks (UIMessageChunk)


class StartChunk(TypedDict):
    type: Literal["start"]
    messageId: NotRequired[str]
    messageMetadata: NotRequired[Any]


class FinishChunk(TypedDict):
    type: Literal["finish"]
    finishReason: NotRequired[FinishReason]
    messageMetadata: NotRequired[Any]


class AbortChunk(TypedDict):
    type: Literal["abort"]
    reason: NotRequired[str]


class MessageMetadataChunk(TypedDict):
    type: Literal["message-metadata"]
    messageMetadata: Any


class StartStepChunk(TypedDict):
    type: Literal["start-step"]


class FinishStepChunk(TypedDict):
    type: Literal["finish-step"]


class ErrorChunk(TypedDict):
    type: Literal["error"]
    errorText: str


class TextStartChunk(TypedDict):
    type: Literal["text-start"]
    id: str
    providerMetadata: NotRequired[ProviderMetadata]


class TextDeltaChunk(TypedDict):
    type: Literal["text-delta"]
    id: str
    delta: str
    providerMetadata: NotRequired[ProviderMetadata]


class TextEndChunk(TypedDict):
    type: Literal["text-end"]
    id: str
    providerMetadata: NotRequired[ProviderMetadata]


class ReasoningStartChunk(TypedDict):
    type: Literal["reasoning-start"]
    id: str
    providerMetadata: NotRequired[ProviderMetadata]


class ReasoningDeltaChunk(TypedDict):
    type: Literal["reasoning-delta"]
    id: str
    delta: str
    providerMetadata: NotRequired[ProviderMetadata]


class ReasoningEndChunk(TypedDict):
    type: Literal["reasoning-end"]
    id: str
    providerMetadata: NotRequired[ProviderMetadata]


class ToolInputStartChunk(TypedDict):
    type: Literal["tool-input-start"]
    toolCallId: str
    toolName: str
    providerExecuted: NotRequired[bool]
    dynamic: NotRequired[bool]
    title: NotRequired[str]


class ToolInputDeltaChunk(TypedDict):
    type: Literal["tool-input-delta"]
    toolCallId: str
    inputTextDelta: str


class ToolInputAvailableChunk(TypedDict):
    """The model called a tool with this input; a client tool's call stays here until answered."""

    type: Literal["tool-input-available"]
    toolCallId: str
    toolName: str
    input: Any
    providerExecuted: NotRequired[bool]
    providerMetadata: NotRequired[ProviderMetadata]
    dynamic: NotRequired[bool]
    title: NotRequired[str]


class ToolInputErrorChunk(TypedDict):
    type: Literal["tool-input-error"]
    toolCallId: str
    toolName: str
    input: Any
    errorText: str
    providerExecuted: NotRequired[bool]
    dynamic: NotRequired[bool]


class ToolApprovalRequestChunk(TypedDict):
    """The call waits for `addToolApprovalResponse({id: approvalId, approved})`."""

    type: Literal["tool-approval-request"]
    approvalId: str
    toolCallId: str


class ToolOutputAvailableChunk(TypedDict):
    type: Literal["tool-output-available"]
    toolCallId: str
    output: Any
    providerExecuted: NotRequired[bool]
    dynamic: NotRequired[bool]
    preliminary: NotRequired[bool]


class ToolOutputErrorChunk(TypedDict):
    type: Literal["tool-output-error"]
    toolCallId: str
    errorText: str
    providerExecuted: NotRequired[bool]
    dynamic: NotRequired[bool]


class ToolOutputDeniedChunk(TypedDict):
    """The person denied the call: it never executed."""

    type: Literal["tool-output-denied"]
    toolCallId: str


class SourceUrlChunk(TypedDict):
    type: Literal["source-url"]
    sourceId: str
    url: str
    title: NotRequired[str]
    providerMetadata: NotRequired[ProviderMetadata]


class SourceDocumentChunk(TypedDict):
    type: Literal["source-document"]
    sourceId: str
    mediaType: str
    title: str
    filename: NotRequired[str]
    providerMetadata: NotRequired[ProviderMetadata]


class FileChunk(TypedDict):
    type: Literal["file"]
    url: str
    mediaType: str
    providerMetadata: NotRequired[ProviderMetadata]


class DataChunk(TypedDict):
    """`data-<name>`; `transient` ones reach the client but never the message."""

    type: str
    data: Any
    id: NotRequired[str]
    transient: NotRequired[bool]


ToolChunk: TypeAlias = (
    ToolInputStartChunk
    | ToolInputDeltaChunk
    | ToolInputAvailableChunk
    | ToolInputErrorChunk
    | ToolApprovalRequestChunk
    | ToolOutputAvailableChunk
    | ToolOutputErrorChunk
    | ToolOutputDeniedChunk
)

UIMessageChunk: TypeAlias = (
    StartChunk
    | FinishChunk
    | AbortChunk
    | MessageMetadataChunk
    | StartStepChunk
    | FinishStepChunk
    | ErrorChunk
    | TextStartChunk
    | TextDeltaChunk
    | TextEndChunk
    | ReasoningStartChunk
    | ReasoningDeltaChunk
    | ReasoningEndChunk
    | ToolChunk
    | SourceUrlChunk
    | SourceDocumentChunk
    | FileChunk
    | DataChunk
)

# ------------------------------------------------------------------ parts (UIMessagePart)

ToolState = Literal[
    "input-streaming",
    "input-available",
    "approval-requested",
    "approval-responded",
    "output-available",
    "output-error",
    "output-denied",
]


class TextUIPart(TypedDict):
    type: Literal["text"]
    text: str
    state: NotRequired[Literal["streaming", "done"]]
    providerMetadata: NotRequired[ProviderMetadata]


class ReasoningUIPart(TypedDict):
    type: Literal["reasoning"]
    text: str
    state: NotRequired[Literal["streaming", "done"]]
    providerMetadata: NotRequired[ProviderMetadata]


class StepStartUIPart(TypedDict):
    type: Literal["step-start"]


class ToolApproval(TypedDict):
    """`approval` on a tool part: `id` from the request; `approved` and `reason` once answered."""

    id: str
    approved: NotRequired[bool]
    reason: NotRequired[str]


class ToolUIPart(TypedDict):
    """`tool-<name>` (`dynamic-tool` parts also carry `toolName`); fields by `state` as in the AI SDK."""

    type: str
    toolCallId: str
    state: ToolState
    toolName: NotRequired[str]
    input: NotRequired[Any]
    output: NotRequired[Any]
    errorText: NotRequired[str]
    approval: NotRequired[ToolApproval]
    providerExecuted: NotRequired[bool]
    title: NotRequired[str]


class SourceUrlUIPart(TypedDict):
    type: Literal["source-url"]
    sourceId: str
    url: str
    title: NotRequired[str]


class SourceDocumentUIPart(TypedDict):
    type: Literal["source-document"]
    sourceId: str
    mediaType: str
    title: str
    filename: NotRequired[str]


class FileUIPart(TypedDict):
    type: Literal["file"]
    mediaType: str
    url: str
    filename: NotRequired[str]


class DataUIPart(TypedDict):
    type: str
    data: Any
    id: NotRequired[str]


UIMessagePart: TypeAlias = (
    TextUIPart
    | ReasoningUIPart
    | StepStartUIPart
    | ToolUIPart
    | SourceUrlUIPart
    | SourceDocumentUIPart
    | FileUIPart
    | DataUIPart
)

Role = Literal["system", "user", "assistant"]


class UIMessage(TypedDict):
    id: str
    role: Role
    parts: list[UIMessagePart]
    metadata: NotRequired[Any]


TOOL_CHUNK_TYPES = frozenset(
    {
        "tool-input-start",
        "tool-input-delta",
        "tool-input-available",
        "tool-input-error",
        "tool-approval-request",
        "tool-output-available",
        "tool-output-error",
        "tool-output-denied",
    }
)


def is_tool_part_type(part_type: str) -> bool:
    """`tool-<name>` or `dynamic-tool` (the AI SDK's `isToolUIPart` test on `type`)."""
    return part_type.startswith("tool-") or part_type == "dynamic-tool"


def is_data_chunk(chunk: UIMessageChunk) -> TypeIs[DataChunk]:
    """A `data-<name>` chunk (narrows both ways, so the other branch is the closed union)."""
    return chunk["type"].startswith("data-")
