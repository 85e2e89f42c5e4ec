"""Conversations: the papers of earlier answers, follow-ups that stay, new questions that leave.

Unit tests read conversations from messages; integration tests hold real conversations with
the extractive answerer over the shared ingested index, each turn sent with the system's own
earlier answers exactly as the API returns them. The conversations quoted in the issue that
asked for this are here: each failed before.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fake_llm import FakeLLM
from paperchat.answering import Answerer
from paperchat.cli import main
from paperchat.conversation import (
    MAX_SOURCES,
    Conversation,
    after_a_decline,
    assistant_content,
    cited_papers,
    compares_back,
    compares_both,
    listed_back,
    placed_beside_it,
    pointed_papers,
    read_conversation,
    refers_back,
)
from paperchat.corpus import load_papers, paper_id_for
from paperchat.evaluation.conversations import CONVERSATIONS_FILE, read_conversations, summarise
from paperchat.extractive import asks_which_one
from paperchat.pipeline import Pipeline
from paperchat.records import Answer, Citation, Hit, Turn
from paperchat.server.indexing import IndexStatus
from paperchat.server.metrics import Metrics
from paperchat.server.serving import ChatService
from paperchat.server.ui import ChatUI, history_turns
from paperchat.settings import SHIPPED_CORPUS, Settings

ELECTRA = "ELECTRA: Pre-training Text Encoders as Discriminators Rather Than Generators"
DEBERTA = (
    "DeBERTaV3: Improving DeBERTa using ELECTRA-Style Pre-Training with Gradient-Disentangled "
    "Embedding Sharing"
)
EVOLVE = (
    "EvolveDirector: Approaching Advanced Text-to-Image Generation with Large Vision-Language "
    "Models"
)
YOUKU = (
    "Youku-mPLUG: A 10 Million Large-scale Chinese Video-Language Dataset for Pre-training and "
    "Benchmarks"
)
TTM = "Tiny Time Mixers (TTMs): Fast Pre-trained Models"


# -- reading messages --------------------------------------------------------------------------


def answer_citing(*titles: str, text: str = "") -> str:
    citations = [Citation(n, paper_id_for(t), t, url="https://x.org/a") for n, t in titles]
    return assistant_content(Answer(text=text, citations=citations))


def test_cited_papers_are_read_from_a_bare_title_line():
    content = f"{ELECTRA} [1]."
    assert [p.title for p in cited_papers(content)] == [ELECTRA]
    assert cited_papers("The collection does not answer this question.") == []


def test_cited_papers_are_read_from_the_sources_block_in_citation_order():
    content = answer_citing(
        (1, ELECTRA), (2, TTM + ": for Time Series"), text="First [2]. Then [1]."
    )
    papers = cited_papers(content)
    assert [p.title for p in papers] == [TTM + ": for Time Series", ELECTRA]  # cited [2] first
    assert papers[1].paper_id == paper_id_for(ELECTRA)  # the link is not part of the title


def test_without_a_sources_block_the_quoted_titles_count():
    content = f'According to "{ELECTRA}" [1], the authors propose replaced token detection.'
    assert [p.title for p in cited_papers(content)] == [ELECTRA]
    # ... also followed by the name the abstract coins.
    named = f'The paper is "{ELECTRA}" (RTD) [1]. According to "{TTM}" [2], it forecasts.'
    assert [p.title for p in cited_papers(named)] == [ELECTRA, TTM]


def test_an_endless_sources_block_is_bounded():
    lines = "\n".join(f"[{n}] Paper number {n}" for n in range(1, 500))
    assert len(cited_papers(f"Text [1].\n\nSources:\n{lines}")) <= MAX_SOURCES


def test_the_conversation_is_the_last_answer_and_the_questions():
    history = [
        Turn("user", "What is ELECTRA?"),
        Turn("assistant", answer_citing((1, ELECTRA), text="It detects [1].")),
        Turn("user", "What is DeBERTaV3?"),
        Turn("assistant", answer_citing((1, DEBERTA), text="It improves [1].")),
    ]
    conversation = read_conversation(history)
    assert conversation.questions == ("What is ELECTRA?", "What is DeBERTaV3?")
    assert [p.title for p in conversation.papers] == [DEBERTA]
    # ... and the papers earlier answers cited besides, the latest first.
    assert [p.title for p in conversation.earlier] == [ELECTRA]
    again = [*history, Turn("user", "More?"), Turn("assistant", answer_citing((1, ELECTRA)))]
    assert [p.title for p in read_conversation(again).earlier] == [DEBERTA]
    # ... and the papers the answer before the last cited.
    assert [p.title for p in conversation.previous] == [ELECTRA]


def test_the_gold_conversations_are_well_formed():
    papers, _ = load_papers([SHIPPED_CORPUS])
    conversations = read_conversations(CONVERSATIONS_FILE, papers)  # raises on any problem
    assert len(conversations) >= 40
    kinds = {t.kind for c in conversations for t in c.turns[1:]}
    assert kinds == {"pronoun", "elliptical", "comparison", "switch"}
    assert {c.split for c in conversations} == {"fit", "test"}


# -- conversations with the real answerer ------------------------------------------------------


@pytest.fixture(scope="module")
def answerer(ingested: Pipeline) -> Answerer:
    return ingested.answerer("extractive")


def converse(answerer: Answerer, *questions: str) -> list[Answer]:
    """Each question sent after the earlier ones and the system's own answers to them."""
    history: list[Turn] = []
    answers = []
    for question in questions:
        answer = answerer.answer(question, history)
        answers.append(answer)
        history += [Turn("user", question), Turn("assistant", assistant_content(answer))]
    return answers


def titles(answer: Answer) -> list[str]:
    return [c.title for c in answer.citations]


@pytest.mark.parametrize(
    ("opening", "follow_up", "title"),
    [
        # "big" is rare and ChiMed-GPT's "big data" held it all; CLIP's abstract holds
        # "training" and "data" more than StructTuning's: both turns were read as new ones.
        ("What does ERNIE 3.0 add to pre-training?", "How big is it?", "ERNIE 3.0:"),
        ("What is StructTuning?", "How much training data does it need?", "Educating LLMs"),
    ],
)
def test_a_turn_about_it_stays_with_the_conversation_s_paper(
    answerer, opening: str, follow_up: str, title: str
) -> None:
    first, second = converse(answerer, opening, follow_up)
    assert titles(first)[0].startswith(title)
    assert not second.abstained and titles(second) == titles(first)[:1], second.text


def test_refers_back_reads_it_as_the_conversation_s_paper() -> None:
    assert refers_back("How big is it?")
    assert refers_back("How many parameters does this model have?")
    # A question asking for a paper of its own, or a dummy "it": no reference back.
    assert not refers_back("which paper learns football player data, and what's its task?")
    assert not refers_back("Which dataset has 37.6M examples, and how many languages does it span?")
    assert refers_back("How big is it and how was it trained?")
    assert refers_back("And how big is it?")  # a conjunction opening the turn
    assert compares_back("And how does it compare to BLIP-2?")


def test_it_compared_with_a_name_not_here_says_so_and_answers_it(answerer) -> None:
    *_, compared = converse(
        answerer,
        "What is mBLIP?",
        "What about its training cost?",
        "And how does it compare to BLIP-2?",
    )
    assert compared.text.startswith("The collection holds no paper called BLIP-2. ")
    assert [t.split(":")[0] for t in titles(compared)] == ["mBLIP"]


def test_a_turn_after_a_decline_is_about_the_paper_before_it(answerer) -> None:
    first, declined, after = converse(
        answerer,
        "Which paper introduced KIND?",
        "Does it use LoRA?",
        "What does the abstract say about SVD?",
    )
    assert titles(first)[0].startswith("KIND:")
    # KIND's abstract never mentions LoRA: declined, saying so, citing nothing.
    assert declined.abstained and "does not mention LoRA" in declined.text
    # The conversation's paper is still KIND, whose abstract writes "(SVD)".
    assert not after.abstained and titles(after) == titles(first)[:1], after.text
    # With no answer that cited a paper, nothing is taken from the declines.
    assert after_a_decline(read_conversation([])) == read_conversation([])


def test_who_else_asks_for_other_papers(answerer) -> None:
    first, others = converse(answerer, "What is Chat-UniVi?", "Who else works on video LLMs?")
    assert titles(first)[0].startswith("Chat-UniVi")
    assert titles(others) and not any(t.startswith("Chat-UniVi") for t in titles(others))
    assert not refers_back("Is it possible to pre-train without masking?")
    assert not refers_back("How many parameters does ELECTRA have?")


def test_a_new_question_with_its_leaves_the_last_paper(answerer):
    _, switch = converse(
        answerer,
        "What is Text2NeRF?",
        "which paper learns football player representations from match data, and what's its "
        "pretraining task?",
    )
    assert titles(switch)[0].startswith("RisingBALLER")
    assert not any(t.startswith("Text2NeRF") for t in titles(switch))
    assert "masked player prediction" in switch.text


def test_a_described_paper_is_found_after_another_topic(answerer):
    _, switch = converse(
        answerer,
        "What does the Youku-mPLUG dataset contain?",
        "Which work quantizes 175B-parameter GPT models to 3 or 4 bits per weight?",
    )
    assert titles(switch)[0].startswith("GPTQ")
    assert not any(t.startswith("Youku-mPLUG") for t in titles(switch))


def test_a_follow_up_without_a_pronoun_stays_on_the_paper(answerer):
    first, follow_up = converse(
        answerer, "What is EvolveDirector?", "what's the final model called?"
    )
    assert titles(first)[0] == EVOLVE
    assert titles(follow_up)[0] == EVOLVE
    assert "Edgen" in follow_up.text


def test_an_elliptical_follow_up_is_not_declined(answerer):
    _, follow_up = converse(
        answerer, "What is mPLUG-DocOwl 1.5?", "and how big are the gains over previous MLLMs?"
    )
    assert not follow_up.abstained
    assert titles(follow_up)[0].startswith("mPLUG-DocOwl 1.5")
    assert "10 points" in follow_up.text


def test_an_answer_written_elsewhere_is_read_for_the_titles_it_cites(answerer):
    # An earlier answer from another client: the title inside a sentence, no Sources block.
    question = "Is there a paper that compresses vision-language pre-training datasets?"
    written = "Yes, Too Large; Data Reduction for Vision-Language Pre-Training [1] proposes TL;DR."
    history = [Turn("user", question), Turn("assistant", written)]
    follow_up = answerer.answer("How much does it shrink CC3M?", history)
    assert not follow_up.abstained
    assert titles(follow_up) == ["Too Large; Data Reduction for Vision-Language Pre-Training"]
    assert "0.67M" in follow_up.text
    # A whole line "Yes, <title> [1]." is no title: the title it holds is found instead.
    written = "Yes, GraphCodeBERT: Pre-training Code Representations with Data Flow [1]."
    history = [Turn("user", "Is there a code model pre-trained with data flow?")]
    follow_up = answerer.answer(
        "Which tasks is it evaluated on?", [*history, Turn("assistant", written)]
    )
    assert titles(follow_up) == ["GraphCodeBERT: Pre-training Code Representations with Data Flow"]
    # A declined answer lists the closest papers, and cites none: no paper is taken from it.
    declined = answerer.answer("What MMLU score does Llama 3 405B get?")
    history = [Turn("user", "Llama 3 405B MMLU?"), Turn("assistant", declined.text)]
    reading = answerer.read("and on GSM8K?", history)
    assert declined.abstained and not any(h.named for h in reading.hits)


def test_a_follow_up_is_answered_with_the_sentences_it_asks_for(answerer):
    _, improvements = converse(
        answerer, "What is SLCA?", "how large are the improvements they report?"
    )
    assert titles(improvements)[0].startswith("SLCA")
    assert "49.76%" in improvements.text
    assert "Code has been made available" not in improvements.text
    _, benchmarks = converse(answerer, "What is CLIM?", "which benchmarks did they test on?")
    assert titles(benchmarks)[0].startswith("CLIM")
    assert "OV-COCO" in benchmarks.text


def test_the_answer_names_the_paper_it_quotes(answerer):
    _, follow_up = converse(answerer, "What is SLCA?", "what do they propose?")
    assert 'According to "SLCA' in follow_up.text
    assert " we " not in f" {follow_up.text.lower()} "  # the abstract's "we" is third person


def test_a_comparison_cites_both_papers(answerer):
    first, comparison = converse(
        answerer, "What is ELECTRA's pre-training task?", "How does DeBERTaV3 compare with it?"
    )
    assert titles(first)[0] == ELECTRA
    assert titles(comparison)[:2] == [DEBERTA, ELECTRA]  # the turn's subject first
    _, captions = converse(
        answerer,
        "How does FLAME handle long captions?",
        "how does LLM2CLIP's way of handling long captions differ?",
    )
    cited = titles(captions)
    assert any(t.startswith("LLM2CLIP") for t in cited)
    assert any(t.startswith("FLAME") for t in cited)


def test_a_follow_up_naming_a_paper_of_the_answer_is_about_that_paper(answerer):
    first = (
        "Chinesewebtext: Large-scale high-quality Chinese web text extracted with effective "
        "evaluation model"
    )
    second = (
        "ChineseWebText 2.0: Large-Scale High-quality Chinese Web Text with Multi-dimensional "
        "and fine-grained information"
    )
    history = [
        Turn("user", "What is ChineseWebText?"),
        Turn("assistant", answer_citing((1, first), (2, second))),
    ]
    answer = answerer.answer("And what about ChineseWebText 2.0?", history)
    # Not the answer's first paper, which "it" would mean: the one the turn names.
    assert titles(answer) == [second], answer.text


def test_comparing_the_two_papers_of_the_conversation_cites_both(answerer):
    # The last answer is about one paper; "the two" are it and the one before.
    *_, compared = converse(
        answerer, "Tell me about SELFormer.", "And 3D-MolT5?", "How do the two differ?"
    )
    cited = titles(compared)
    assert cited[0].startswith("SELFormer:") and cited[1].startswith("3D-MolT5:"), cited
    *_, compared = converse(answerer, "What is ELECTRA?", "What is BART?", "Compare them.")
    assert titles(compared)[0] == ELECTRA and titles(compared)[1].startswith("BART:")
    assert compares_both("How do they compare?")
    assert not compares_both("How does it compare to BART?")  # one side is its own
    assert not compares_both("Which datasets do they use?")  # no comparison
    # "they" compare, not are compared: a question about the one paper.
    assert not compares_both("Which datasets do they compare against?")
    assert compares_both("How are they different?")


def test_asking_which_of_the_two_does_better_cites_both(answerer):
    # "which one" after two one-paper answers: the two papers, not the last one alone.
    *_, better = converse(
        answerer,
        "What does ELECTRA replace masked language modeling with?",
        "and DeBERTaV3?",
        "which one is more efficient?",
    )
    assert titles(better)[:2] == [DEBERTA, ELECTRA] or titles(better)[:2] == [ELECTRA, DEBERTA]
    assert compares_both("Which of the two performs better?")
    # Picking by what one does, not by how well: no comparison.
    assert not compares_both("Which of them uses game theory?")


def test_it_compared_to_a_paper_the_turn_names_cites_both(answerer):
    # The conversation's paper is the subject ("How is it different from ..."), and the
    # other is named by its whole title.
    _, comparison = converse(
        answerer,
        "What is HoVLE?",
        "How is it different from Unveiling Encoder-Free Vision-Language Models?",
    )
    cited = titles(comparison)
    # In the order the turn names its sides: "it" first.
    assert cited[0].startswith("HoVLE")
    assert cited[1] == "Unveiling Encoder-Free Vision-Language Models"
    assert compares_back("How does it compare to BART?")
    assert not compares_back("Which datasets does it use?")
    # "it" as what a new question asks about is no comparison with the conversation's paper.
    assert not compares_back(
        "Which paper builds a dataset, and how large is it compared with earlier datasets?"
    )


def test_it_as_the_object_of_compare_is_the_conversations_paper(answerer):
    _, comparison = converse(answerer, "What is ALBEF?", "Compare it with TCL.")
    assert [t.split(":")[0] for t in titles(comparison)] == [
        "Align before Fuse",
        "Vision-Language Pre-Training with Triple Contrastive Learning",
    ]
    assert compares_back("Contrast this one to BART.")
    assert not compares_back("Compare the results on COCO.")


def test_papers_pointed_to_by_their_place_in_the_last_answer(answerer):
    listing, second = converse(
        answerer,
        "give me papers on text-to-SQL",
        "How does the second one differ from the first one?",
    )
    listed = titles(listing)
    assert len(listed) >= 2
    assert titles(second) == [listed[1], listed[0]]  # in the order the turn points to them


def test_places_written_without_their_noun_point_to_papers(answerer):
    question = "Which papers do video-text retrieval?"
    listing, second = converse(answerer, question, "How does the second differ from the first?")
    listed = titles(listing)
    assert len(listed) >= 3
    assert titles(second) == [listed[1], listed[0]]
    _, both = converse(answerer, question, "Compare the first and second papers")
    assert titles(both) == [listed[0], listed[1]]  # not every listed paper


def test_it_compared_with_a_place_of_an_earlier_list(answerer):
    listing, last, compared = converse(
        answerer,
        "Which papers study continual learning with pre-trained models?",
        "What does the last one propose?",
        "How does it differ from the first?",
    )
    listed = titles(listing)
    assert len(listed) >= 2 and titles(last) == [listed[-1]]
    # "it" is the last answer's paper; "the first" the list's first, not "it" again.
    assert titles(compared) == [listed[-1], listed[0]]


def test_a_place_beyond_the_last_answer_points_into_the_list_before_it(answerer):
    listing, narrowed, second = converse(
        answerer,
        "Which papers study speech tokenizers?",
        "Which of them uses a codec?",
        "Tell me more about the second one.",
    )
    listed = titles(listing)
    assert len(listed) >= 2 and len(titles(narrowed)) == 1
    # The last answer cited one paper: "the second one" is the list's second.
    assert titles(second) == [listed[1]]


def test_which_one_of_the_listed_papers_is_the_one_its_words_fit(answerer):
    listing, which = converse(
        answerer, "Which papers pre-train on source code?", "Which one uses data flow?"
    )
    graphcodebert = next(t for t in titles(listing) if t.startswith("GraphCodeBERT"))
    assert titles(listing)[0] != graphcodebert  # not simply the first one listed
    assert titles(which) == [graphcodebert]
    # The sentence that says so, not "One is to predict ..." for the word "one".
    assert "use data flow" in which.text, which.text
    # Both abstracts mention LLMs; the paper whose title holds the word is the one using one.
    listing, which = converse(
        answerer,
        "Which papers forecast time series with pre-trained models?",
        "Which of them uses an LLM?",
    )
    assert len(titles(listing)) > 1
    assert [t.split(":")[0] for t in titles(which)] == [r"$\textbf{S}^2$IP-LLM"], titles(which)


def test_the_other_one_is_the_listed_paper_the_last_answer_left(answerer):
    listing, which, other = converse(
        answerer,
        "Which papers build Vietnamese or Portuguese language models?",
        "Which of them uses OpenLLaMA?",
        "What benchmark does the other one report?",
    )
    assert len(titles(listing)) == 2
    assert [t.split(":")[0] for t in titles(which)] == ["Cabrita"]
    assert [t.split(":")[0] for t in titles(other)] == ["Vi-Mistral-X"], titles(other)
    # "the other paper" is that paper too, not "other papers" on the topic.
    *_, paper = converse(
        answerer,
        "Which papers build Vietnamese or Portuguese language models?",
        "Which of them uses OpenLLaMA?",
        "Which benchmark does the other paper use?",
    )
    assert [t.split(":")[0] for t in titles(paper)] == ["Vi-Mistral-X"], titles(paper)


def test_other_papers_are_papers_besides_the_conversations(answerer):
    first, others = converse(
        answerer, "What is RecInDial?", "Is there any other paper on recommendation?"
    )
    assert titles(first)[0].startswith("RecInDial")
    assert not others.abstained and titles(others)
    assert not any(t.startswith("RecInDial") for t in titles(others))
    assert any("Recommendation" in t for t in titles(others)), titles(others)
    # With no topic of its own, "like this" is the conversation paper's topic.
    _, like = converse(answerer, "Tell me about mBLIP", "Are there other papers like this?")
    assert not like.abstained and titles(like)
    assert not any(t.startswith("mBLIP") for t in titles(like))


def test_anything_else_on_a_topic_asks_for_other_papers_and_what_else_about_the_paper(answerer):
    listed, more = converse(
        answerer, "Which papers use ControlNet?", "Anything else on video editing?"
    )
    assert not more.abstained and titles(more), more.text
    assert not set(titles(more)) & set(titles(listed))
    assert any("Video Editing" in t for t in titles(more)), titles(more)
    # "else" is no term a paper must hold: the question is about the paper just cited.
    first, again = converse(
        answerer, "Which paper proposes LoRA?", "What else does that paper propose?"
    )
    assert not again.abstained and titles(again) == titles(first)[:1], again.text


def test_papers_using_the_conversations_paper_are_others_found_by_its_name(answerer):
    clip = "Learning Transferable Visual Models From Natural Language Supervision"
    first, using = converse(
        answerer, "What is CLIP?", "Which papers build on it for medical images?"
    )
    assert titles(first) == [clip]
    # Not CLIP again: papers adapting CLIP to medicine.
    assert clip not in titles(using) and len(titles(using)) >= 2, titles(using)
    assert all("CLIP" in c.title or "Medical" in c.title for c in using.citations[:2])
    # Asked of the paper's name as written, in the place of "it".
    assert using.question == "Which papers build on CLIP for medical images?"


def test_papers_using_the_conversations_paper_when_none_does_are_declined_saying_so(answerer):
    _, using = converse(answerer, "What is UNITER?", "Which papers use it?")
    assert using.abstained
    assert "Besides UNITER's own paper, it holds none that mentions UNITER." in using.text


@pytest.mark.parametrize(
    ("turns", "asked"),
    [
        # The question before, asked of another name: papers using LLaMA, not GPT-4's users.
        (("Which papers use GPT-4?", "And LLaMA?"), "Which papers use LLaMA?"),
        # ... the name a cited paper carries, not the benchmark beside it.
        (
            ("What does BridgeTower score on VQAv2?", "What about ALBEF?"),
            "What does ALBEF score on VQAv2?",
        ),
        # "the X paper" is X.
        (
            ("Which paper proposes MagicMix?", "What about the DOM-LM paper?"),
            "Which paper proposes DOM-LM?",
        ),
        # ... and again: the question before is the last that named its own subject.
        (("Which papers use GPT-4?", "And LLaMA?", "And BERT?"), "Which papers use BERT?"),
    ],
)
def test_a_name_alone_asks_the_question_before_of_it(answerer, turns, asked):
    *_, last = converse(answerer, *turns)
    assert last.question == asked


def test_papers_asked_for_by_another_name_are_the_ones_writing_it(answerer):
    first, again = converse(answerer, "Which papers use GPT-4?", "And LLaMA?")
    assert titles(again) and titles(again) != titles(first)
    assert any(t.startswith("Towards Effective and Efficient Continual") for t in titles(again))


def test_a_similar_paper_is_another_on_the_conversations_topic(answerer):
    _, similar = converse(
        answerer, "Which paper introduced Zecoler?", "Is there a similar paper for vision?"
    )
    assert not similar.abstained and titles(similar)
    assert not any(t.startswith("Zero-Shot Code Representation") for t in titles(similar))
    # Prompt tuning, as Zecoler's title says, for vision.
    assert any("Prompt" in t for t in titles(similar)), titles(similar)


def test_asks_which_one_reads_the_ways_of_picking_from_a_list() -> None:
    assert asks_which_one("Which one uses data flow?")
    assert asks_which_one("which of them needs less memory?")
    assert asks_which_one("Which of the two is faster?")
    assert not asks_which_one("Which paper uses data flow?")  # a question of its own
    assert not asks_which_one("Is this one faster?")


def listed_then_one(turn: str, title: str) -> Conversation:
    """Three papers listed (T0, T1, T2), then `turn` answered from the one called `title`."""
    return read_conversation(
        [
            Turn("user", "Which papers ...?"),
            Turn("assistant", answer_citing((1, "T0"), (2, "T1"), (3, "T2"))),
            Turn("user", turn),
            Turn("assistant", answer_citing((1, title))),
        ]
    )


def test_listed_back_keeps_the_last_answer_while_it_has_the_place() -> None:
    conversation = listed_then_one("Which of them ...?", "T1")
    assert [p.title for p in conversation.papers] == ["T1"]
    assert [p.title for p in listed_back("the second one?", conversation).papers] == [
        "T0",
        "T1",
        "T2",
    ]
    # "the first one", "the last one", or no place: the last answer is what it means.
    for turn in ("Tell me about the first one.", "and the last one?", "What does it do?"):
        assert listed_back(turn, conversation) == conversation
    # No earlier answer has a fourth paper: nothing to point into.
    assert listed_back("the fourth one", conversation) == conversation


def test_placed_beside_it_is_the_earlier_list_s_paper_a_comparison_points_to() -> None:
    conversation = listed_then_one("What does the last one propose?", "T2")
    beside = placed_beside_it("How does it differ from the first?", conversation)
    assert beside is not None and beside.title == "T0"
    # The comparison keeps "it": the last answer is not swapped for the list.
    assert listed_back("How does it differ from the second one?", conversation) == conversation
    assert placed_beside_it("How does it differ from the last one?", conversation) is None
    assert placed_beside_it("Tell me about the first one.", conversation) is None


def test_pointed_papers_reads_places_and_ignores_what_is_not_there() -> None:
    ours = [Hit(f"p{i}", f"T{i}", 1.0, "") for i in range(3)]

    def ids(turn: str) -> list[str]:
        return [h.paper_id for h in pointed_papers(turn, ours)]

    assert ids("What does the latter propose?") == ["p2"]
    assert ids("Compare the third paper with the first one.") == ["p2", "p0"]
    assert ids("What do they propose first?") == []  # "first" alone points to nothing
    # A place whose noun is left out, and places listed with one noun.
    assert ids("How does the second differ from the first?") == ["p1", "p0"]
    assert ids("Compare the first and second papers") == ["p0", "p1"]
    assert ids("the first, second and third ones") == ["p0", "p1", "p2"]
    assert ids("compare the first two") == ["p0", "p1"]
    assert ids("What do the last two papers propose?") == ["p1", "p2"]
    # Not a place in the last answer: "the first time", "the first to ...".
    assert ids("Is this the first time CLIP is used for it?") == []
    assert ids("Was it the first to use CLIP?") == []
    assert ids("What does the fourth one do?") == []  # the answer listed three


def test_a_question_naming_another_paper_leaves_the_conversation(answerer):
    _, switch = converse(
        answerer, "What is EvolveDirector?", "What is ELECTRA's pre-training task?"
    )
    assert titles(switch) == [ELECTRA]


def test_a_model_rewrite_that_finds_another_paper_is_not_used(ingested: Pipeline):
    # The model "rewrites" the follow-up into a question about another paper: retrieval for
    # that rewrite disagrees with the evidence, so the conversation's paper is answered.
    llm = FakeLLM(["What is MOS model surgery for class-incremental learning?", "Edgen."])
    settings = ingested.settings.answer.model_copy(update={"condense": "llm"})
    answerer = Answerer(
        ingested.retriever,
        ingested.embedder,
        ingested.prompts,
        llm,
        settings,
        ingested.settings.llm,
    )
    history = [
        Turn("user", "What is EvolveDirector?"),
        Turn("assistant", answer_citing((1, EVOLVE), text="EvolveDirector trains [1].")),
    ]
    answer = answerer.answer("what's the final model called?", history)
    assert "MOS" not in answer.question
    assert answer.hits[0].title == EVOLVE
    assert answer.citations and answer.citations[0].title == EVOLVE


# -- the same path through the UI and `paperchat chat` -----------------------------------------


@pytest.fixture(scope="module")
def service(ingested: Pipeline) -> ChatService:
    status = IndexStatus()
    status.done(1, 1)
    return ChatService(ingested, status, Metrics(), "paperchat", backend="extractive")


def ui_turn(ui: ChatUI, question: str, history: list[dict]) -> list[dict]:
    """The chat's history after one more question, as Gradio keeps it in the browser."""
    *_, last = ui.respond(question, history, 5, "hybrid", "extractive")
    return [*history, {"role": "user", "content": question}, *last[0]]


def test_the_ui_keeps_the_thread(service):
    ui = ChatUI(service, "extractive")
    history = ui_turn(ui, "What is EvolveDirector?", [])
    history = ui_turn(ui, "what's the final model called?", history)
    answer = history_turns(history)[-1].content  # what the UI sends back, as an API client
    assert "Edgen" in answer
    assert f"[1] {EVOLVE}" in answer  # the first cited source is the conversation's paper
    history = ui_turn(ui, "How does DeBERTaV3 compare with ELECTRA?", history)
    last = history_turns(history)[-1].content
    assert DEBERTA in last and EVOLVE not in last


def test_paperchat_chat_keeps_the_thread(index_copy: Settings, monkeypatch, capsys):
    monkeypatch.setenv("PAPERCHAT_DATA_DIR", str(index_copy.data_dir))
    questions: Iterator[str] = iter(
        ["What is EvolveDirector?", "what's the final model called?", "/quit"]
    )
    monkeypatch.setattr("builtins.input", lambda _prompt="": next(questions))
    assert main(["chat", "--backend", "extractive"]) == 0
    out = capsys.readouterr().out
    second = out.split("Edgen", 1)
    assert len(second) == 2  # the follow-up's answer names the final model
    cited = [line for line in out.splitlines() if line.startswith("[1] ")]
    assert cited[-1].startswith(f"[1] {EVOLVE}")  # the follow-up's first source


def test_the_replayed_summary_counts_leaks(answerer):
    from paperchat.evaluation.conversations import GoldConversation, GoldTurn, replay

    youku = paper_id_for(YOUKU)
    conversation = GoldConversation(
        "t-1",
        "switch",
        "test",
        (
            GoldTurn("What does the Youku-mPLUG dataset contain?", "opening", (), (), (youku,)),
            GoldTurn(
                "What is ELECTRA's pre-training task?",
                "switch",
                (),
                ("replaced token detection",),
                (paper_id_for(ELECTRA),),
            ),
        ),
    )
    stats = summarise(replay(answerer, [conversation]))
    assert stats["switch"]["first_cited_right"] == 1.0
    assert stats["switch"]["leaks"] == 0
    assert stats["switch"]["must_include"] == 1.0
