"""What the causal-LM tasks are for, in the words people use: the method advisor's view of SFT, DPO, ORPO and KTO."""

from __future__ import annotations

from trainer.data import kinds
from trainer.tasks.base import Purpose
from trainer.tasks.causal_lm.sizing import CPU_DEFAULT_MODEL

FAMILY = "a small instruct chat model (SmolLM2-135M-Instruct on a CPU; on a GPU the largest that fits) with LoRA"
LORA = (
    " LoRA trains small adapters beside the frozen weights, so it fits in memory and keeps most of what the "
    "model already knows."
)

SFT = Purpose(
    title="chat fine-tuning (SFT)",
    kind=kinds.CHAT_SFT,
    examples=(
        "make the model answer in our house style",
        "a chatbot that answers questions from our FAQ",
        "teach the assistant about our product",
        "write replies to customers the way our support team does",
        "summarise meeting notes in our format",
        "turn bullet points into a polite email",
        "answer with JSON that follows our schema",
        "make an assistant that follows our support playbook",
        "fine-tune a model to draft answers to customer questions",
        "generate product descriptions from a list of features",
    ),
    # Not "answer", "reply" or "assistant": every chat-model goal has those, so they would pull preference data
    # to SFT; the examples carry them, by meaning.
    cues=(
        r"chat ?bot",
        r"style",
        r"tone",
        r"voice of",
        r"brand voice",
        r"house style",
        r"faqs?",
        r"instructions?",
        r"conversations?",
        r"write(s)?",
        r"generate(s)?",
        r"summari[sz](e|es|ing)",
        r"rewrite(s)?",
        r"translate(s)?",
        r"talk(s)? like",
        r"persona",
        r"friendl(y|ier)",
        r"(more |less )?(formal|professional|casual)",
    ),
    model=CPU_DEFAULT_MODEL,
    family=FAMILY,
    why=(
        "Teaching a model how to answer (a style, your FAQ's content, a format) is supervised fine-tuning on "
        "example conversations: it learns to write the assistant's turns you show it." + LORA
    ),
    data="conversations (messages), prompt/completion pairs or instructions with answers",
)

DPO = Purpose(
    title="preference tuning (DPO)",
    kind=kinds.PREFERENCE,
    examples=(
        "it should prefer the polite answer",
        "make it choose the better of two answers",
        "we have pairs of a good and a bad reply to each prompt",
        "prefer short answers over long ones",
        "it should stop giving rude replies and give the helpful one instead",
        "reviewers picked the better of two model answers",
        "teach it to favour helpful answers over evasive ones",
        "we compared two responses and marked the winner",
        "make it less verbose by showing which reply we like more",
    ),
    cues=(
        r"prefer(s|red|ence|ences)?",
        r"chosen",
        r"rejected",
        r"better (answer|reply|response)s?",
        r"(answer|reply|response) (is|was) better",
        r"rather than",
        r"instead of",
        r"over (the )?(rude|long|wrong|bad|worse)",
        r"pairs? of (answers|replies|responses)",
        r"polite(r)?",
        r"dpo",
    ),
    model=CPU_DEFAULT_MODEL,
    family=FAMILY,
    why=(
        "When you can say which of two answers is better, DPO trains on those preference pairs directly: it "
        "raises the chosen answer's likelihood over the rejected one's, with the base model as the reference "
        "that keeps it from drifting." + LORA
    ),
    data="preference pairs: a prompt, a chosen answer and a rejected answer",
)

ORPO = Purpose(
    title="preference tuning without a reference model (ORPO)",
    kind=kinds.PREFERENCE,
    examples=("train with ORPO on my preference pairs", "preference tuning in one stage without a reference model"),
    cues=(r"orpo", r"without a reference( model)?", r"no reference model"),
    model=CPU_DEFAULT_MODEL,
    family=FAMILY,
    why=(
        "ORPO learns from the same preference pairs as DPO in one stage and needs no reference model, which "
        "saves memory when full fine-tuning." + LORA
    ),
    data="preference pairs: a prompt, a chosen answer and a rejected answer",
)

KTO = Purpose(
    title="preference tuning on answers marked good or bad (KTO)",
    kind=kinds.KTO,
    examples=(
        "we have thumbs up and thumbs down on the bot's answers",
        "users marked each reply as good or bad",
        "learn from likes and dislikes on our assistant's responses",
        "each chatbot answer has a yes or no from the user on whether it helped",
        "learn from upvotes and downvotes on single answers",
        "our agents approved or rejected each suggested reply",
    ),
    cues=(
        r"thumbs?[ -]?(up|down)",
        r"up ?votes?|down ?votes?",
        r"likes? and dislikes?|dislikes?",
        r"good or bad",
        r"marked (as )?(good|bad)",
        r"feedback",
        r"kto",
    ),
    model=CPU_DEFAULT_MODEL,
    family=FAMILY,
    why=(
        "Feedback on single answers, each marked good or bad with no better answer beside it, is what KTO "
        "trains on: it pushes the model toward the answers marked good and away from the bad ones." + LORA
    ),
    data="prompts with one answer each and a true/false label (good or bad)",
)
