"""The judge protocol: one prompt and one verdict parser shared by training, serving and evaluation.

Anything that renders a judge prompt or reads a judge's answer goes through this package, so that the
prompt a judge was trained on is byte-for-byte the prompt it is served with. `PROMPT_VERSION` names the
template; it is written into adapter metadata and into every verdict-cache key.
"""

from daj.protocol.evidence import EVIDENCE_FIELD_CHARS, Disagreement, render_evidence
from daj.protocol.prompt import (
    EVIDENCE_VERSIONS,
    PROMPT_V1,
    PROMPT_V2,
    PROMPT_V3,
    PROMPT_VERSION,
    PROMPT_VERSIONS,
    VERDICT_CHOICES,
    JudgeMode,
    build_messages,
    encode_prompt,
    fence,
    neutralize_special_tokens,
    render_prompt,
    special_tokens_of,
    target_text,
)
from daj.protocol.tokens import answer_token_ids, choice_token_ids
from daj.protocol.verdict import (
    Choice,
    Verdict,
    combine_votes,
    parse_reasoning_output,
    parse_verdict_output,
    verdict_from_logprobs,
)

__all__ = [
    "EVIDENCE_FIELD_CHARS",
    "EVIDENCE_VERSIONS",
    "PROMPT_V1",
    "PROMPT_V2",
    "PROMPT_V3",
    "PROMPT_VERSION",
    "PROMPT_VERSIONS",
    "VERDICT_CHOICES",
    "Choice",
    "Disagreement",
    "JudgeMode",
    "Verdict",
    "answer_token_ids",
    "build_messages",
    "choice_token_ids",
    "combine_votes",
    "encode_prompt",
    "fence",
    "neutralize_special_tokens",
    "parse_reasoning_output",
    "parse_verdict_output",
    "render_evidence",
    "render_prompt",
    "special_tokens_of",
    "target_text",
    "verdict_from_logprobs",
]
