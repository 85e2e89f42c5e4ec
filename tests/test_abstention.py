"""The abstention rule: relevance, term coverage, and a paraphrase's closest sentence.

Unit tests of `off_topic` on hand-made hits, and the rule on the real index and embedder:
questions near the collection's fields but about something else are declined, paraphrases
of one abstract sentence are answered.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

import pytest

from paperchat.abstention import (
    called_missing,
    compared_missing,
    introduces,
    introducing,
    off_topic,
    origin_asked,
    origin_missing,
    ranks_papers,
    sentence_relevance,
    tentative,
    unheld_name,
    unused_name,
)
from paperchat.prompts import ABSTAIN_PHRASE, TENTATIVE_NOTE
from paperchat.records import Hit
from paperchat.retrieval import distinctive_terms
from paperchat.settings import AnswerSettings
from test_answering import make_answerer

RULE = AnswerSettings(abstain_threshold=0.2, coverage_threshold=0.5, coverage_relevance=0.6)


def _hit(relevance: float, coverage: float | None) -> Hit:
    return Hit("p", "A paper", 0.1, "text", relevance=relevance, coverage=coverage)


def _sentence(value: float) -> Callable[[], float]:
    return lambda: value


def _never() -> float:
    raise AssertionError("the sentences were embedded although coverage decided")


def test_off_topic_rule_combines_relevance_coverage_and_the_closest_sentence() -> None:
    assert off_topic([], RULE, _never)
    assert off_topic([_hit(0.1, 1.0)], RULE, _never)  # too dissimilar, whatever the words
    assert not off_topic([_hit(0.4, 0.8)], RULE, _never)  # the terms are there
    # Few of the question's terms: answered only as a paraphrase, close to a chunk and
    # closer still to one of its sentences.
    assert off_topic([_hit(0.4, 0.3)], RULE, _sentence(0.5))
    assert not off_topic([_hit(0.55, 0.3)], RULE, _sentence(0.7))
    # A chunk as similar as a paraphrase's, but no sentence restating the question.
    assert off_topic([_hit(0.62, 0.3)], RULE, _sentence(0.5))
    # No distinctive terms ("How many papers are there?"): only similarity answers.
    assert off_topic([_hit(0.4, None)], RULE, _sentence(0.5))
    assert not off_topic([_hit(0.7, None)], RULE, _sentence(0.7))
    # The covering paper must itself be similar enough: "thanks!" and "Thanks to ...".
    floor = RULE.model_copy(update={"abstain_threshold": 0.05, "coverage_min_relevance": 0.15})
    assert off_topic([_hit(0.3, 0.0), _hit(0.11, 1.0)], floor, _sentence(0.3))
    assert not off_topic([_hit(0.3, 0.0), _hit(0.2, 1.0)], floor, _never)


def test_weak_evidence_makes_an_answer_tentative() -> None:
    sure = RULE.model_copy(update={"sure_coverage": 0.8, "sure_relevance": 0.55})
    # Most of the terms held: sure at any similarity ("Which paper uses SELFIES?").
    assert not tentative([_hit(0.3, 0.9)], sure, _never)
    # Part of them, and no closer than a near-field question: tentative.
    assert tentative([_hit(0.5, 0.6)], sure, _sentence(0.5))
    assert tentative([_hit(0.5, None)], sure, _sentence(0.5))  # no distinctive terms
    # Part of them, but a sentence restating the question: a paraphrase, sure.
    assert not tentative([_hit(0.6, 0.3)], sure, _sentence(0.7))
    # A question naming a paper is sure of it.
    assert not tentative([replace(_hit(0.3, 0.2), named=True)], sure, _never)
    assert not tentative([], sure, _never)


def test_a_near_field_question_is_answered_tentatively(ingested) -> None:
    # A time-series paper holds "graph neural networks" and forecasting but no traffic: the
    # answer says it may not match, and calls its paper the closest, not "the paper".
    question = "Which paper uses graph neural networks for traffic forecasting?"
    answer = make_answerer(ingested, None).answer(question)
    assert not answer.abstained and answer.tentative
    assert answer.text.startswith(TENTATIVE_NOTE + " The closest paper")
    assert answer.citations
    # Named, or restating a sentence of its paper: sure, worded as before.
    for sure in (
        "What is ELECTRA's pre-training task?",
        "Which paper trains a discriminator to detect tokens replaced by a small generator?",
    ):
        answer = make_answerer(ingested, None).answer(sure)
        assert not answer.tentative and TENTATIVE_NOTE not in answer.text, sure


def test_a_name_no_retrieved_paper_mentions_is_off_topic() -> None:
    lacking = replace(_hit(0.4, 0.8), lacks_names=True)  # "GPT-4": the other terms are there
    assert off_topic([lacking, lacking], RULE, _never)
    assert not off_topic([lacking, _hit(0.4, 0.8)], RULE, _never)  # one paper mentions it
    # However similar: a paper on the topic is no answer about a method it never names.
    assert off_topic([replace(lacking, relevance=0.7)], RULE, _sentence(0.9))
    named = replace(lacking, relevance=0.7, named=True)
    assert not off_topic([named], RULE, _never)  # named: answered


def test_sentence_relevance_is_the_closest_sentence_of_the_lead_papers(ingested) -> None:
    embedder = ingested.embedder
    question = "Which model is trained to tell original input words from swapped ones?"
    replaced = "The discriminator is trained to tell original tokens from replaced ones."
    lead = Hit("a", "A paper", 0.1, "We study transfer. " + replaced, chunks=())
    far = Hit("b", "Another", 0.1, "Bread needs flour, water and salt.", chunks=())
    exact = float(embedder.embed([replaced])[0] @ embedder.embed_query(question))
    assert sentence_relevance(embedder, question, [far, lead]) == pytest.approx(exact, abs=1e-5)
    # Past the lead papers, a sentence does not count.
    assert sentence_relevance(embedder, question, [far, far, far, lead]) < exact - 0.2
    assert sentence_relevance(embedder, question, []) == 0.0


# Near the collection's fields (graph networks, LLM inference, social media with language
# models) but answered by none of its papers: a chunk is about as similar as a paraphrase's.
NEAR_FIELDS = [
    "Which paper uses graph neural networks to predict traffic flow on road networks?",
    "Which paper detects fake news or misinformation on social media with pre-trained "
    "language models?",
]

# Paraphrases sharing few words with their abstract, each restating one of its sentences;
# the chunk similarity alone (0.50, 0.51) declined them.
RESTATED = {
    "Which work adds descriptions of happenings and their order to web clips so that "
    "searching clips by text captures what occurs when?": "EA-VTR: Event-Aware Video-Text",
    "Which system lets a user steer the style of the body movements that accompany speech "
    "using a sentence, a sample motion sequence, or a video?": "GestureDiffuCLIP",
}


@pytest.mark.parametrize("question", NEAR_FIELDS)
def test_questions_near_the_collections_fields_are_declined(ingested, question) -> None:
    answer = make_answerer(ingested, None).answer(question)
    assert answer.abstained, [(h.title, h.relevance, h.coverage) for h in answer.hits[:3]]


@pytest.mark.parametrize(("question", "title"), RESTATED.items())
def test_paraphrases_of_one_sentence_are_answered(ingested, question, title) -> None:
    answer = make_answerer(ingested, None).answer(question)
    assert not answer.abstained, [(h.title, h.relevance, h.coverage) for h in answer.hits[:3]]
    assert answer.citations[0].title.startswith(title)


# Acronyms the abstract writes out or uses in the plural, a digit read as a word, a verb made
# of a name: the paper does speak of them, so the questions are answered.
ACRONYMS = {
    "Which paper does sentiment analysis of IMDB reviews with ImageNet-pretrained CNNs on "
    "t-SNE pictures?": "Classifying Textual Data with Pre-trained Vision Models",
    "Which paper combines sparse and low-rank factors for LLM pretraining?": "SLTrain",
    "Which paper builds a universal multimodal embedder from an MLLM with hard-negative "
    "enhanced instruction tuning?": "Breaking the Modality Barrier",
    "Which paper improves bilingual T2I generation for Chinese and English?": "Taiyi-Diffusion",
    "Which paper filters toxic content from OCR'd public domain data?": "Toxicity of the Commons",
}


@pytest.mark.parametrize(("question", "title"), ACRONYMS.items())
def test_acronyms_a_paper_writes_out_are_names_it_uses(ingested, question, title) -> None:
    answer = make_answerer(ingested, None).answer(question)
    assert not answer.abstained, [(h.title, h.lacks_names) for h in answer.hits[:3]]
    assert answer.citations[0].title.startswith(title)


def test_another_form_of_a_word_the_paper_holds_covers_it(ingested) -> None:
    # No chunk says "sparsification"; SPDF says "sparsity". Counted as missing, the word held
    # coverage below the threshold and the question was declined.
    question = "Which papers use weight sparsification to cut pre-training cost?"
    top = ingested.retriever.search(question)[0]
    assert top.title.startswith("SPDF") and top.coverage > 0.58
    assert not make_answerer(ingested, None).answer(question).abstained
    # A typo of a word the paper holds counts too: "transfomer".
    typo = "Which work replaces the matrix multiplications of a vision transfomer with bit shifts?"
    top = ingested.retriever.search(typo)[0]
    exact = ingested.retriever.search(typo.replace("transfomer", "transformer"))[0]
    # Held, the typo weighs as a word no chunk uses: more than the word itself, not nothing.
    assert top.title.startswith("ShiftAddViT") and top.coverage >= exact.coverage


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("Which paper introduced BERT?", ["bert"]),
        ("Who proposed CLIP?", ["clip"]),
        ("In which paper was LoRA introduced?", ["lora"]),
        ("Which paper introduced T5?", ["t5"]),
        ("Which paper introduces W2PGNN to decide when to pre-train?", ["w2pgnn"]),
        # A name describing what was proposed, or no name first: a question about content.
        ("Which paper proposes SQL-guided pre-training with schema tracking?", []),
        ("Which paper presents a vision-language model without a vision encoder?", []),
        ("What is BERT?", []),
        # A capitalised word alone, or before what it names, is a name; a phrase's first is not.
        ("Which paper proposes the Transformer architecture?", ["transformer"]),
        ("Which paper introduced Dropout?", ["dropout"]),
        ("Who proposed the Adam optimizer?", ["adam"]),
        ("Which paper introduced the CLIP model?", ["clip"]),
        ("Which paper introduced Contrastive Language-Image Pre-training?", []),
    ],
)
def test_the_name_a_question_asks_the_origin_of(question: str, names: list[str]) -> None:
    assert origin_asked(question) == names


def _paper(title: str, abstract: str) -> Hit:
    return Hit("p", title, 0.1, abstract, chunks=(abstract,))


def test_a_paper_introduces_the_name_it_proposes_not_one_it_builds_on() -> None:
    pubmed = _paper(
        "Does CLIP Benefit Visual Question Answering in the Medical Domain?",
        "In this work, we present PubMedCLIP, a fine-tuned version of CLIP for the medical domain.",
    )
    assert introduces(pubmed, "pubmedclip") and not introduces(pubmed, "clip")
    builds = _paper("Boosting BERT", "This paper designs a new approach to train BERT models.")
    assert not introduces(builds, "bert")
    assert introduces(_paper("TERA: Self-Supervised Learning", "Speech."), "tera")
    framework = _paper("Joint Learning", "We propose a novel Text4Point framework for 3D.")
    assert introduces(framework, "text4point")
    coined = _paper("Time-Aware Language", "Our research introduces BiTimeBERT 2.0, a model.")
    assert introduces(coined, "bitimebert")
    # The question asks where BERT comes from; the retrieved papers only build on it.
    assert origin_missing("Which paper introduced BERT?", [builds, pubmed]) == "BERT"
    # No retrieved paper even holds the name: the collection lacks its paper too; unless
    # retrieval named a paper for it (a misspelt name, "Electa", that no text holds).
    assert origin_missing("Which paper introduced TERA?", [builds, coined]) == "TERA"
    named = replace(coined, named=True)
    assert origin_missing("Which paper introduced TERRA?", [named, builds]) is None
    tera = _paper("TERA: Self-Supervised Learning", "We introduce TERA, which alters frames.")
    assert origin_missing("Which paper introduced TERA?", [builds, tera]) is None


def test_a_proposal_built_upon_a_name_does_not_introduce_it() -> None:
    upon = _paper("LOVECon: Video Editing", "We build the pipeline upon ControlNet, which excels.")
    action = _paper("ShiftAddViT: Fast ViTs", "We propose to reparameterize the pre-trained ViT.")
    assert not introduces(upon, "controlnet") and not introduces(action, "vit")
    assert origin_missing("Which paper introduced ControlNet?", [upon]) == "ControlNet"
    # What a proposal is given as, after the verb, is still its own.
    assert introduces(_paper("Editing: X", "We build ControlNet, which adds it."), "controlnet")


def test_the_paper_introducing_the_asked_name_is_found_among_those_using_it() -> None:
    uses = _paper("Chatting and Deciding", "We leverage LoRA to fine-tune a pre-trained LLM.")
    defines = _paper("Adaptive Rank", "We propose Rank-Selective Low Rank Adaptation (LoRA).")
    assert introducing("Which paper proposes LoRA?", [uses, defines]) == [defines]
    assert introducing("Which paper proposes LoRA?", [uses]) == []
    assert introducing("What is LoRA?", [uses, defines]) == []  # no origin asked


def test_which_paper_proposes_a_name_leads_with_the_paper_introducing_it(ingested) -> None:
    answer = make_answerer(ingested, None).answer("Which paper proposes LoRA?")
    # Ranked first is a paper fine-tuning with LoRA; the one defining its own LoRA answers.
    assert not answer.abstained and answer.citations, answer.text
    assert answer.citations[0].title.startswith("Adaptive Rank, Reduced Forgetting")
    assert answer.text.startswith('The paper is "Adaptive Rank, Reduced Forgetting')


def test_a_paper_introduces_the_acronym_it_defines_for_what_it_proposes() -> None:
    gram = _paper(
        "Gradient-Regulated Meta-Prompt Learning",
        "We introduce a novel Gradient-RegulAted Meta-prompt learning (GRAM) framework.",
    )
    albef = _paper(
        "Align before Fuse: Vision and Language Representation Learning",
        "We introduce a contrastive loss to ALign the image and text representations BEfore "
        "Fusing (ALBEF) them through cross-modal attention.",
    )
    modx = _paper("Continual Learning", "We propose a new framework Mod-X: Maintain it.")
    assert introduces(gram, "gram") and introduces(albef, "albef") and introduces(modx, "mod-x")
    assert origin_missing("Which paper proposes GRAM?", [gram, albef]) is None


def test_a_capitalised_name_is_introduced_only_where_given_as_one() -> None:
    selfie = _paper("Self-supervised Pretraining", "We introduce a technique called Selfie.")
    voltron = _paper("Representation Learning", "We then introduce Voltron, a framework.")
    assert introduces(selfie, "selfie") and introduces(voltron, "voltron")
    # "Transformer" inside what a paper introduces is what it builds on, not its name.
    video = _paper("All in One", "We introduce a model, namely all-in-one Transformer, here.")
    pixart = _paper("PixArt", "We introduce PixArt, a Diffusion Transformer model.")
    assert not introduces(video, "transformer") and not introduces(pixart, "transformer")
    said = origin_missing("Which paper introduced the Transformer?", [video, pixart])
    assert said == "the Transformer"


def test_a_paper_introduces_the_code_it_releases() -> None:
    clip = _paper(
        "Learning Transferable Visual Models From Natural Language Supervision",
        "We learn from captions. We release our code at https://github.com/OpenAI/CLIP.",
    )
    assert introduces(clip, "clip")
    uses = _paper("Medical CLIP", "We fine-tune the model of github.com/OpenAI/CLIP on X-rays.")
    assert not introduces(uses, "clip")  # an address alone is no release


def test_a_name_a_paper_writes_only_in_capitals_is_another_name() -> None:
    # ADAM, an acronym a paper coins, is not Adam, the optimizer the question asks about.
    adam = _paper("Revisiting Learning", "We propose ADAM, which adapts and merges models.")
    assert introduces(adam, "adam")
    said = origin_missing("Which paper proposed the Adam optimizer?", [adam])
    assert said == "the Adam optimizer"
    assert origin_missing("Which paper proposed ADAM?", [adam]) is None


@pytest.mark.parametrize(
    ("question", "declined"),
    [
        ("Which paper introduced BERT?", "BERT"),
        ("Which paper introduced RoBERTa?", "RoBERTa"),
        ("Which paper introduced the Transformer?", "the Transformer"),
        ("Which paper introduced the RoBERTa model?", "the RoBERTa model"),
        # Papers building on them: "upon ControlNet", "to reparameterize the pre-trained ViT".
        ("Which paper introduced ControlNet?", "ControlNet"),
        ("Which paper proposed ViT?", "ViT"),
        # The CLIP paper's abstract names CLIP only in the address of the code it releases.
        ("Which paper introduced CLIP?", None),
        # Acronyms abstracts define for what they propose.
        ("Which paper proposes ALBEF?", None),
        ("Which paper proposes WebPerson?", None),
        ("Which paper introduced Zecoler?", None),
        ("Which paper proposed Fusioner?", None),
        ("Which paper introduced TERA?", None),
        ("Which paper proposed BiTimeBERT 2.0?", None),
        ("Which paper introduces SpeechInstructBench?", None),
    ],
)
def test_which_paper_introduced_a_name_the_collection_only_uses_is_declined(
    ingested, question: str, declined: str | None
) -> None:
    answer = make_answerer(ingested, None).answer(question)
    if declined:
        said = f"{ABSTAIN_PHRASE} It holds no paper that introduces {declined}."
        assert answer.abstained and answer.text.startswith(said)
    else:
        assert not answer.abstained and answer.citations, answer.text


def test_the_paper_called_by_a_name_no_retrieved_title_or_name_holds_is_missing() -> None:
    adapting = _paper("Adapting Stable Diffusion for Meshes", "We adapt Stable Diffusion.")
    gpt = _paper("Multi-Document Modeling", "We compare with GPT-4 on summaries.")
    asked = "What does the Stable Diffusion 3 paper propose?"
    assert called_missing(asked, [adapting, gpt]) == "Stable Diffusion 3"
    assert called_missing("What is the GPT-4 paper about?", [gpt]) == "GPT-4"
    # A name a retrieved title holds, or a paper retrieval named, is left to the answer.
    matryoshka = _paper("2D Matryoshka Sentence Embeddings", "We train embeddings.")
    assert called_missing("What does the Matryoshka paper do?", [matryoshka, gpt]) is None
    named = replace(gpt, named=True)
    assert called_missing("What is the GPT-4 paper about?", [named]) is None
    assert called_missing("What does the paper propose?", [gpt]) is None


@pytest.mark.parametrize(
    ("question", "reason"),
    [
        ("What does the Stable Diffusion 3 paper propose?", "Stable Diffusion 3"),
        ("What is the GPT-4 paper about?", "GPT-4"),
        ("Summarize the OFA paper", None),
        ("What does the Matryoshka paper do?", None),
    ],
)
def test_a_paper_called_by_a_name_the_collection_lacks_is_declined(
    ingested, question: str, reason: str | None
) -> None:
    answer = make_answerer(ingested, None).answer(question)
    if reason:
        said = f"{ABSTAIN_PHRASE} It holds no paper called {reason}."
        assert answer.abstained and answer.text.startswith(said), answer.text
    else:
        assert not answer.abstained and answer.citations, answer.text


@pytest.mark.parametrize(
    ("question", "ranks"),
    [
        ("Which paper has the largest model?", True),
        ("What is the best paper on CLIP?", True),
        ("Which paper reports the highest accuracy on ImageNet?", True),
        ("What is the most cited paper?", True),
        ("What is the best text-to-image model?", True),
        ("What is the best optimizer for training transformers?", True),
        ("Which is the largest Chinese dataset?", True),
        ("What are the fastest approaches to decoding?", True),
        ("What is the most common failure mode of CLIP?", False),
        ("What is the best result ELECTRA reports on GLUE?", False),
        ("Which paper studies the most common failure modes of CLIP?", False),
        ("Which paper first introduced replaced token detection?", False),
        ("Which paper makes training faster?", False),
    ],
)
def test_a_question_ranking_the_papers(question: str, ranks: bool) -> None:
    assert ranks_papers(question) is ranks


def test_a_ranking_question_gets_the_closest_papers_tentatively(ingested) -> None:
    answerer = make_answerer(ingested, None)
    ranked = answerer.answer("Which paper has the largest model?")
    assert ranked.tentative and not ranked.abstained
    assert ranked.text.startswith(f"{TENTATIVE_NOTE} The closest paper is ")
    # About one named paper, it is that paper's own answer.
    assert not answerer.answer("What is the largest model in UL2?").tentative


def test_papers_using_a_name_no_retrieved_abstract_writes_are_missing() -> None:
    users = _paper("Adversarial Attacks on Vision-Language Models", "We attack ALBEF and TCL.")
    other = _paper("Speech Pre-Training", "We pre-train speech encoders.")
    assert unused_name("Which papers compare with ALBEF?", [users, other]) is None
    assert unused_name("Which papers use UNITER?", [users, other]) == "UNITER"
    assert unused_name("What works build on UNITER?", [other]) == "UNITER"
    # A name in a longer one writes it: "Llama-3", "CLIP-based".
    llama = _paper("Continual Pre-training", "We continually pre-train Llama-3 on Chinese.")
    assert unused_name("Which papers fine-tune LLaMA?", [llama]) is None
    # ... not a word of other letters' case: "video clips" write no CLIP.
    clips = _paper("Video Pre-training", "We encode video clips with a ClipBERT-like model.")
    assert unused_name("Which papers extend CLIP?", [clips]) == "CLIP"
    # Not a question asking for papers by what they use, nor by a name: SVFit is an example.
    assert unused_name("What is UNITER?", [other]) is None
    assert unused_name("Which papers fine-tune models, like SVFit?", [other]) is None


@pytest.mark.parametrize(
    ("question", "reason", "cited"),
    [
        # Only UNITER's own paper writes "UNITER": it is no paper using UNITER.
        ("Which papers use UNITER?", "Besides UNITER's own paper, it holds none that", None),
        ("Which works extend SpeechT5?", "Besides SpeechT5's own paper, it holds none", None),
        # "JM3D & JM3D-LLM: ..." is JM3D's own paper, though its name holds more.
        ("Which papers use JM3D?", "Besides JM3D's own paper, it holds none", None),
        # A paper attacking ALBEF among its victims; the question says little else.
        ("Which papers compare with ALBEF?", None, "Set-level Guidance Attack"),
        # "cite" is how papers relate to ELECTRA, not a word their abstracts write.
        ("Which papers cite ELECTRA?", None, "DeBERTaV3"),
        ("Which papers build on BART?", None, "Summarizing Patients Problems"),
    ],
)
def test_papers_asked_for_by_what_they_use_are_the_ones_writing_it(
    ingested, question: str, reason: str | None, cited: str | None
) -> None:
    answer = make_answerer(ingested, None).answer(question)
    if reason:
        assert answer.abstained and answer.text.startswith(f"{ABSTAIN_PHRASE} {reason}")
    else:
        assert not answer.abstained, answer.text
        assert [c.title[: len(cited)] for c in answer.citations] == [cited], answer.text


def test_a_compared_name_no_paper_here_carries_is_missing() -> None:
    ptp = replace(_paper("Position-guided Text Prompt", "We propose PTP."), named=True)
    known = {"ptp", "electra"}.__contains__
    assert compared_missing("PTP vs BLIP", [ptp], known) == ["BLIP"]
    assert compared_missing("How does PTP differ from the BLIP model?", [ptp], known) == ["BLIP"]
    # GLUE is where they are compared, not a side.
    asked = "How does ELECTRA compare with BERT on GLUE?"
    assert compared_missing(asked, [ptp], known) == ["BERT"]
    # No paper of the collection compared (papers asked for by what they compare with), or
    # no comparison: nothing to say.
    assert (
        compared_missing("Which papers compare with BLIP?", [replace(ptp, named=False)], known)
        == []
    )
    assert compared_missing("What does PTP add to BLIP?", [ptp], known) == []
    # The compared paper's abstract speaks of it: the answer does too.
    beside = replace(ptp, chunks=("We propose PTP, improving BLIP by 3 points.",))
    assert compared_missing("PTP vs BLIP", [beside], known) == []


def test_a_name_the_named_paper_never_mentions_is_unheld() -> None:
    mt5 = replace(
        _paper(
            "Medical mT5: An Open-Source Multilingual Text-to-Text LLM",
            "We release Medical mT5, a multimodal large language model, and evaluate it on VQA.",
        ),
        named=True,
    )
    known = {"electra"}.__contains__
    assert unheld_name("What MMLU score does Medical mT5 get?", [mt5], known) == "MMLU"
    # What its abstract writes, spells out, or a variant of: no gap.
    assert unheld_name("Is Medical mT5 an MLLM?", [mt5], known) is None
    assert unheld_name("How does Medical mT5 do on VQAv2?", [mt5], known) is None
    assert unheld_name("What does Medical mT5-Large score?", [mt5], known) is None
    assert unheld_name("What MMLU score does Medicl mT5 get?", [mt5], known) == "MMLU"
    selformer = replace(_paper("SELFormer: Molecular Representation", "SELFormer."), named=True)
    assert unheld_name("What does SELFormmer do?", [selformer], known) is None  # misspelt
    # A paper of the collection, a comparison, or no paper named: other rules answer them.
    assert unheld_name("Is Medical mT5 trained like ELECTRA?", [mt5], known) is None
    assert unheld_name("Compare Medical mT5 with MMLU", [mt5], known) is None
    assert unheld_name("What MMLU score does it get?", [replace(mt5, named=False)], known) is None


def test_a_question_on_what_the_named_paper_never_mentions_is_declined(ingested) -> None:
    answerer = make_answerer(ingested, None)
    answer = answerer.answer("What MMLU score does Medical mT5 get?")
    reason = "The abstract of the paper asked about does not mention MMLU."
    assert answer.abstained and answer.text.startswith(f"{ABSTAIN_PHRASE} {reason}")
    assert "Medical mT5: An Open-Source Multilingual" in answer.text  # the closest paper
    # A variant of the paper's own name, and a variant its abstract writes: answered.
    for question in ("What does ELECTRA-Small score on GLUE?", "What does FIBER do on VQAv2?"):
        named = answerer.answer(question)
        assert not named.abstained and len(named.citations) == 1, named.text


def test_a_comparison_with_a_paper_not_here_says_so_and_answers_the_other(ingested) -> None:
    answerer = make_answerer(ingested, None)
    answer = answerer.answer("How does CLIP differ from ALIGN?")
    assert answer.text.startswith("The collection holds no paper called ALIGN. ")
    assert [c.title for c in answer.citations] == [
        "Learning Transferable Visual Models From Natural Language Supervision"
    ]
    # Every side held: no such sentence.
    both = answerer.answer("How is ELECTRA different from DeBERTaV3?")
    assert "holds no paper" not in both.text and len(both.citations) == 2


def test_vs_sets_sides_side_by_side_and_is_no_term_a_title_may_hold(ingested) -> None:
    # "Dual Process Learning: ... In-Context vs. In-Weights ..." held "vs" and was cited as
    # the other side; no paper here is LAION's.
    answer = make_answerer(ingested, None).answer("RealSyn vs LAION")
    assert answer.text.startswith("The collection holds no paper called LAION. "), answer.text
    assert [c.title[:8] for c in answer.citations] == ["RealSyn:"]
    assert "vs" not in distinctive_terms("realsyn vs laion")


def test_papers_using_a_name_dozens_write_are_the_ones_writing_it(ingested) -> None:
    # Retrieval's video papers do not write CLIP; the ones writing it are asked for.
    question = "Which papers extend CLIP to video?"
    answer = make_answerer(ingested, None).answer(question)
    assert not answer.abstained, answer.text
    assert answer.citations, answer.text
    whole = {h.paper_id: h for h in ingested.retriever.whole_papers(question, answer.hits)}
    for paper in answer.citations:
        text = " ".join((paper.title, *whole[paper.paper_id].chunks))
        assert re.search(r"\bCLIP\b", text) and "video" in text.lower(), paper.title


def test_a_request_to_explain_a_paper_typed_in_lower_case_is_answered(ingested) -> None:
    # "explain" is how it asks; "uniter" alone, in lower case, is no name but its term.
    answer = make_answerer(ingested, None).answer("explain uniter")
    assert not answer.abstained, answer.text
    assert answer.citations[0].title.startswith("UNITER:")


def test_a_name_typed_in_lower_case_names_its_paper_though_its_code_address_writes_it(
    ingested,
) -> None:
    # MDETR's abstract ends with "github.com/ashkamath/mdetr": an address, not a lower-case
    # word; "mdetr" names the paper, and "explain ... simply" is how the question asks.
    (top, *_) = ingested.retriever.search("explain mdetr simply", k=3)
    assert top.title.startswith("MDETR") and top.named
    answer = make_answerer(ingested, None).answer("explain mdetr simply")
    assert not answer.abstained and answer.citations[0].title.startswith("MDETR"), answer.text


@pytest.mark.parametrize(
    ("question", "title"),
    [("explain chimed-gpt simply", "ChiMed-GPT:"), ("what is pangu-draw?", "PanGu-Draw:")],
)
def test_a_hyphenated_name_typed_in_lower_case_names_its_paper(ingested, question, title) -> None:
    (top, *_) = ingested.retriever.search(question, k=3)
    assert top.title.startswith(title) and top.named
    # A hyphenated word the collection writes in lower case names nothing.
    assert not any(h.named for h in ingested.retriever.search("explain pre-training simply"))


def test_words_only_set_side_by_side_name_the_papers_called_by_them(ingested) -> None:
    # "points" and "kind" are words of the language, so alone they name nothing; a question
    # that is nothing but them compared calls POINTS and KIND by their names.
    answer = make_answerer(ingested, None).answer("ovis vs points")
    assert [c.title.split(":")[0] for c in answer.citations] == ["Ovis", "POINTS"], answer.text
    both = ingested.retriever.search("compare kind and attencraft")
    assert {h.title.split(":")[0] for h in both if h.named} == {"KIND", "AttenCraft"}
    # Inside a question, the words stay words.
    assert not any(h.named for h in ingested.retriever.search("what kind of points matter"))


def test_papers_holding_the_name_a_short_question_asks_about_cover_it(ingested) -> None:
    # "RAG" alone is far from every chunk in embedding space (similarity about 0.1); the
    # papers writing it, or spelling it out as xRAG does, answer it.
    answer = make_answerer(ingested, None).answer("papers on RAG")
    assert not answer.abstained, answer.text
    assert any(c.title.startswith("xRAG") for c in answer.citations)
