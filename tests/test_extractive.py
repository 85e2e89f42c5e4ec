"""Extractive answers: sentence splitting, third person, paper choice (unit tier)."""

from __future__ import annotations

import pytest

from paperchat.citations import split_sentences
from paperchat.extractive import (
    MAX_PAPERS,
    Candidate,
    abstract_sentence,
    asked_count,
    asks_abstract,
    asks_code,
    asks_for_several,
    asks_gist,
    asks_how,
    asks_only_paper,
    asks_which_paper,
    asks_which_papers,
    candidates,
    choose_papers,
    code_sentence,
    compared_count,
    is_keywords,
    pick_sentences,
    third_person,
    with_method,
    with_number,
    with_result,
    write,
)
from paperchat.prompts import Source
from paperchat.records import Hit
from paperchat.tex import plain


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        (
            "The codec runs at a low frame rate (e.g. 12.5Hz). It keeps quality.",
            ["The codec runs at a low frame rate (e.g. 12.5Hz).", "It keeps quality."],
        ),
        (
            "Smith et al. show gains, i.e. 3.5 points. Next.",
            ["Smith et al. show gains, i.e. 3.5 points.", "Next."],
        ),
        ("BERT vs. GPT in Fig. 3 is close. Done.", ["BERT vs. GPT in Fig. 3 is close.", "Done."]),
        (
            "Qwen2.5 and v1.5 models score 91.37% on GLUE. Then more.",
            ["Qwen2.5 and v1.5 models score 91.37% on GLUE.", "Then more."],
        ),
        (
            "It has two parts (A. one. B. two) in total. Fine.",
            ["It has two parts (A. one. B. two) in total.", "Fine."],
        ),
        ("Tokens are replaced [1]. Next one.", ["Tokens are replaced [1].", "Next one."]),
        ("It ranks No. 1 on MTEB. Next.", ["It ranks No. 1 on MTEB.", "Next."]),
        ("The answer is no. Then yes.", ["The answer is no.", "Then yes."]),
        # A quotation closing the sentence: the next sentence starts after the quote.
        (
            'Inputs like "Grab the left ear." To tackle this, we propose KITE.',
            ['Inputs like "Grab the left ear."', "To tackle this, we propose KITE."],
        ),
        ("They say \u201cstop.\u201d Then go [2].", ["They say \u201cstop.\u201d", "Then go [2]."]),
    ],
)
def test_splitter_keeps_abbreviations_numbers_and_parentheses(
    text: str, sentences: list[str]
) -> None:
    assert split_sentences(text) == sentences


@pytest.mark.parametrize(
    ("sentence", "rewritten"),
    [
        (
            "We propose a new pre-training task.",
            "The authors propose a new pre-training task.",
        ),
        (
            "Our analysis shows that we can beat BERT with our model.",
            "Their analysis shows that the authors can beat BERT with their model.",
        ),
        ("This lets us train faster than ours.", "This lets them train faster than theirs."),
        ("The US dataset is weird.", "The US dataset is weird."),
        # A single author: "I" opening a sentence or a clause, with the verb to match.
        (
            "In this paper, I introduce RisingBALLER, my model.",
            "In this paper, the author introduces RisingBALLER, their model.",
        ),
        ("I also study tokens.", "The author also studies tokens."),
        ("I have shown it.", "The author has shown it."),
        ("Type I errors fall.", "Type I errors fall."),
        # "The authors" once; then "they".
        (
            "We demonstrate that we can induce up to 75% sparsity.",
            "The authors demonstrate that they can induce up to 75% sparsity.",
        ),
        (
            "In this paper we propose X, which we train.",
            "In this paper the authors propose X, which they train.",
        ),
        # A sentence the abstract forgot to capitalise still opens with a capital.
        (
            "We measured it. we observed a drop.",
            "The authors measured it. They observed a drop.",
        ),
        (
            "during the process. we observed a drop.",
            "during the process. The authors observed a drop.",
        ),
        # "This paper" doing something is the paper cited; "in this paper" stays.
        ("This paper presents CoCa.", "The paper presents CoCa."),
        ("To be clear, this work presents a report.", "To be clear, the work presents a report."),
        ("We study it in this work.", "The authors study it in this work."),
        # A name, not the authors: the benchmark We-Math.
        ("Benchmarks such as MathVerse and We-Math.", "Benchmarks such as MathVerse and We-Math."),
    ],
)
def test_third_person_rewrite(sentence: str, rewritten: str) -> None:
    assert third_person(sentence) == rewritten


def test_keywords_are_told_from_questions_and_requests() -> None:
    assert is_keywords("replaced token detection")
    assert is_keywords("code robustness contrastive pre-training augmentation")
    assert not is_keywords("What is ELECTRA's pre-training task?")
    assert not is_keywords("Compare UL2 and BART.")
    assert not is_keywords("tell me about sparse attention")
    assert not is_keywords("ELECTRA?")


def test_requests_for_a_papers_gist_are_told_from_questions_about_an_aspect() -> None:
    assert asks_gist("Summarize the BART paper.")
    assert asks_gist("Tell me about SpeechT5")
    assert asks_gist("What is the GPTQ paper about?")
    assert asks_gist("Give me an overview of MoMa.")
    assert not asks_gist("What is ELECTRA's pre-training task?")
    assert not asks_gist("Which papers study summarization?")


def test_questions_asking_how_a_paper_works_are_told_from_quantities() -> None:
    assert asks_how("How does MOS reduce forgetting in class-incremental learning?")
    assert asks_how("how do they align speech with the LLM?")
    assert not asks_how("How many tokens were synthetic?")
    assert not asks_how("How much data does MeCo save?")
    assert not asks_how("What is ELECTRA's pre-training task?")
    assert not asks_how("Which paper shows how to do X?")


def test_question_forms() -> None:
    assert asks_which_paper("Which paper trains a discriminator?")
    assert asks_which_papers("Which recent papers train discriminators?")
    assert not asks_which_papers("Which paper trains a discriminator?")
    # A hyphenated word before "papers" is one word of the question's kind of paper.
    assert asks_which_papers("Which vision-language papers came out in 2023?")
    assert asks_which_papers("Any text-to-image papers on layouts?")
    # A need said as such asks for papers too.
    for need in (
        "I'm looking for work on speech tokenizers",
        "need refs for continual pretraining",
    ):
        assert asks_which_papers(need), need
    assert asks_which_paper("What recent work proposes replaced token detection?")
    assert not asks_which_paper("What is ELECTRA's pre-training task?")
    assert asks_for_several("Compare ELECTRA and BART.")
    # A request for papers is a plural "which papers" question.
    for request in ("give me papers on text-to-SQL", "Are there any papers on Maltese?"):
        assert asks_for_several(request) and asks_which_papers(request), request
    assert not asks_which_paper("Does any paper pre-train on Maltese?")
    # Asking the collection for anything on a topic is asking for its papers.
    for request in ("Does the collection have anything on OCR?", "Is there anything about GANs?"):
        assert asks_for_several(request) and asks_which_papers(request), request
    assert not asks_for_several("Is there something wrong with ELECTRA?")
    assert asks_for_several("How is HoVLE different from EVE?")
    assert not asks_for_several("Which paper trains on different image resolutions?")
    assert asks_for_several("Which papers study speech?")
    assert not asks_for_several("What problem does SpeechT5 address?")
    assert asks_for_several("Which vision-language pre-training methods add captions?")
    assert not asks_for_several("Which method adds contrast within each modality?")
    assert not asks_for_several("Is there a paper on models that detect swapped words?")


def _source(n: int, title: str, *, named: bool = False) -> Source:
    hit = Hit(paper_id=f"p{n}", title=title, score=1.0 / n, text="", named=named)
    return Source(n=n, hit=hit, passage="")


def _scored(rows: list[tuple[Source, float]]) -> list[Candidate]:
    return [
        Candidate(src, f"Sentence {i} of {src.n}.", i, score) for i, (src, score) in enumerate(rows)
    ]


def _abstract(src: Source, *sentences: tuple[str, float]) -> list[Candidate]:
    """A paper's sentences in the abstract's order, each with its score."""
    return [Candidate(src, text, i, score) for i, (text, score) in enumerate(sentences)]


def test_second_paper_is_cited_only_when_it_answers_clearly_better() -> None:
    one, two = _source(1, "A"), _source(2, "B")
    better = _scored([(one, 0.80), (two, 0.90)])
    close = _scored([(one, 0.80), (two, 0.78)])
    assert choose_papers("What does A do?", better) == [1, 2]
    assert choose_papers("What does A do?", close) == [1]  # not by default


def test_a_second_paper_for_one_thing_holds_as_much_of_the_question() -> None:
    # "Which paper studies whether gender affects self-supervised speech models?": a gender
    # bias paper's sentence scored higher, but it holds less of the question than the lead.
    def src(n: int, coverage: float) -> Source:
        hit = Hit(paper_id=f"p{n}", title=f"T{n}", score=1.0 / n, text="", coverage=coverage)
        return Source(n=n, hit=hit, passage="")

    question = "Which paper studies gender in speech models?"
    lead, narrower, as_broad = src(1, 0.6), src(2, 0.3), src(3, 0.6)
    assert choose_papers(question, _scored([(lead, 0.80), (narrower, 0.90)])) == [1]
    assert choose_papers(question, _scored([(lead, 0.80), (as_broad, 0.90)])) == [1, 3]


def test_a_question_naming_several_papers_is_about_those_only() -> None:
    ul2, bart = _source(1, "UL2", named=True), _source(2, "BART", named=True)
    other = _source(3, "Pre-Trained Models")
    scored = _scored([(ul2, 0.6), (bart, 0.5), (other, 0.95)])
    assert choose_papers("How do UL2 and BART differ?", scored) == [1, 2]


def _whole(n: int, relevance: float, coverage: float) -> Source:
    """A source whose paper retrieval found this similar, holding this share of the terms."""
    hit = Hit(f"p{n}", f"T{n}", 1.0 / n, "", relevance=relevance, coverage=coverage)
    return Source(n=n, hit=hit, passage="")


def test_which_papers_lists_the_papers_near_the_lead_on_the_whole_paper() -> None:
    # The second paper's best sentence is far below the lead's, but the paper holds as much
    # of the question and is nearly as similar: a list is about whole papers.
    rows = [(_whole(1, 0.70, 0.9), 0.9), (_whole(2, 0.55, 0.9), 0.4), (_whole(3, 0.45, 0.5), 0.4)]
    assert choose_papers("Which papers study vocabulary expansion?", _scored(rows)) == [1, 2]
    # Not for a question about one paper: there a sentence must answer.
    assert choose_papers("Which paper studies vocabulary expansion?", _scored(rows)) == [1]


def test_a_list_longer_than_an_answer_holds_keeps_the_best_standing_papers() -> None:
    # Six papers near the lead: the list holds four, the lead and the three standing best,
    # the fifth in retrieval's order among them; still listed in retrieval's order.
    similar = {2: 0.60, 3: 0.50, 4: 0.55, 5: 0.65, 6: 0.45}
    rows = [(_whole(1, 0.7, 0.9), 0.9)] + [(_whole(n, r, 0.9), 0.8) for n, r in similar.items()]
    assert choose_papers("Which papers study speech tokenizers?", _scored(rows)) == [1, 2, 4, 5]


def test_a_listed_paper_must_hold_some_of_the_questions_terms() -> None:
    rows = [(_whole(1, 0.7, 0.6), 0.9), (_whole(2, 0.7, 0.5), 0.8), (_whole(3, 0.7, 0.1), 0.85)]
    # The third is as close in embedding space, but holds little of what is asked.
    assert choose_papers("Which papers build cancer foundation models?", _scored(rows)) == [1, 2]


@pytest.mark.parametrize(
    ("question", "count"),
    [
        ("Give me 3 papers about diffusion models", 3),
        ("List five papers on speech", 5),
        ("Which 2 works study CLIP?", 2),
        ("a couple of papers on retrieval-augmented generation", 2),
        ("Give me one paper about speech recognition", 1),
        ("Give me 500 papers on anything", 10),  # bounded
        ("What are the 2 main contributions of ELECTRA?", None),  # not papers
        ("Which papers use 4-bit quantization?", None),
    ],
)
def test_the_number_of_papers_a_question_asks_for(question: str, count: int | None) -> None:
    assert asked_count(question) == count


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("What is the abstract of ELECTRA?", True),
        ("Show me its abstract", True),
        ("What does the abstract of KIND say?", True),
        ("Give me the full abstract.", True),
        ("Which papers learn abstract representations?", False),
        ("Which paper parses abstract syntax trees?", False),
        ("What is the abstract idea behind UL2?", False),
        ("What does the abstract say?", True),
        ("What is ELECTRA?", False),
    ],
)
def test_a_request_for_the_abstract_itself(question: str, asks: bool) -> None:
    assert asks_abstract(question) is asks


def test_the_abstract_is_quoted_whole_with_tex_read_as_text() -> None:
    text = abstract_sentence("$\\mathcal{B}$-Coder: RL", "We  propose\nB-Coder, 4.9\\% better.", 2)
    assert text == 'The abstract of "B-Coder: RL" [2]: "We propose B-Coder, 4.9% better."'


def test_as_many_papers_are_listed_as_asked_for() -> None:
    # Five papers, all holding the terms; the fourth stands far below the lead.
    rows = _scored(
        [(_whole(n, rel, 0.6), 0.9) for n, rel in enumerate([0.7, 0.6, 0.5, 0.1, 0.4], 1)]
    )
    assert choose_papers("Which papers study diffusion models?", rows) == [1, 2, 3, 5]
    assert choose_papers("Give me 2 papers about diffusion models", rows) == [1, 2]
    # The best standing ones, in retrieval's order; even the weakest when five are asked.
    assert choose_papers("Give me 3 papers about diffusion models", rows) == [1, 2, 3]
    assert choose_papers("List 5 papers on diffusion models", rows) == [1, 2, 3, 4, 5]
    # One asked for: the lead alone, though others would answer a list.
    assert choose_papers("Give me one paper on diffusion models", rows) == [1]


def test_similarity_and_coverage_both_count_towards_a_listed_paper() -> None:
    def rows(relevance: float, coverage: float = 0.6) -> list[Candidate]:
        return _scored([(_whole(1, 0.57, 0.6), 0.95), (_whole(2, relevance, coverage), 0.70)])

    plural = "Which papers build models for Indian languages?"
    assert choose_papers(plural, rows(0.55)) == [1, 2]  # nearly as similar as the lead
    assert choose_papers(plural, rows(0.35)) == [1, 2]  # ... or less, holding as much
    assert choose_papers(plural, rows(0.25)) == [1]  # a distant neighbour is no answer
    assert choose_papers(plural, rows(0.30, coverage=1.0)) == [1, 2]  # more makes up for less
    assert choose_papers(plural, rows(0.05, coverage=1.0)) == [1]
    # ... nor one holding much less of the terms than the best ("quantize GPT models": a
    # paper about GPT's pre-training, not its quantization), however similar.
    assert choose_papers(plural, rows(0.60, coverage=0.25)) == [1]
    # "Which paper ... comparing ...": asked about several things, but for one paper.
    assert choose_papers("Which paper ranks languages by comparing them?", rows(0.55)) == [1]


def test_comparison_questions_take_each_paper_that_answers() -> None:
    one, two, three = _source(1, "A"), _source(2, "B"), _source(3, "C")
    scored = _scored([(one, 0.80), (two, 0.72), (three, 0.30)])
    assert choose_papers("Compare the two approaches.", scored) == [1, 2]


def test_a_named_paper_leads_and_stands_alone_for_a_question_about_it() -> None:
    top, named = _source(1, "Top"), _source(2, "ELECTRA", named=True)
    scored = _scored([(top, 0.9), (named, 0.5)])
    assert choose_papers("What is ELECTRA's task?", scored) == [2]


def test_a_named_paper_compared_with_a_name_outside_the_collection_stands_alone() -> None:
    named = _source(1, "ELECTRA: Pre-training Text Encoders", named=True)
    other = _source(2, "bert2BERT: Towards Reusable Pretrained Language Models")
    scored = _scored([(named, 0.8), (other, 0.75)])
    # BERT would be named too were it a paper of the collection.
    assert choose_papers("How is ELECTRA different from BERT?", scored) == [1]
    # Compared with the collection's other papers, those that answer still join.
    assert choose_papers("How does ELECTRA compare with other methods?", scored) == [1, 2]


def test_which_paper_answers_lead_with_the_title() -> None:
    src = _source(1, "ELECTRA: Pre-training Text Encoders")
    chosen = {1: [Candidate(src, "We propose replaced token detection.", 0, 1.0)]}
    sentences = write("Which paper proposes replaced token detection?", [1], chosen)
    assert sentences[0].text == 'The paper is "ELECTRA: Pre-training Text Encoders" [1].'
    assert sentences[1].text == (
        'According to "ELECTRA: Pre-training Text Encoders" [1], the authors propose '
        "replaced token detection."
    )
    assert all(s.cited == [1] for s in sentences)


def test_a_paper_is_called_by_the_name_its_abstract_coins() -> None:
    passage = "We propose ViLD, a training method via knowledge distillation."
    hit = Hit(paper_id="p1", title="Open-vocabulary Detection via Distillation", score=1.0, text="")
    src = Source(n=1, hit=hit, passage=passage)
    chosen = {1: [Candidate(src, passage, 0, 1.0)]}
    sentences = write("Which papers address open-vocabulary detection?", [1], chosen)
    assert sentences[0].text == (
        'The paper is "Open-vocabulary Detection via Distillation" (ViLD) [1].'
    )
    # Named once: the quoted sentence then speaks by the title alone.
    assert sentences[1].text.startswith('According to "Open-vocabulary Detection via')
    assert "(ViLD) [1]" not in sentences[1].text
    alone = write("What does it distil?", [1], chosen)
    assert alone[0].text.startswith(
        'According to "Open-vocabulary Detection via Distillation" '
        "(ViLD) [1], the authors propose ViLD"
    )


def test_each_of_several_papers_is_introduced_by_what_it_proposes() -> None:
    rows = _abstract(
        _source(1, "BART"),
        ("We report ablations of other pretraining schemes.", 0.63),
        ("BART is trained by corrupting text with a noising function.", 0.46),
        ("BART works well for comprehension tasks too.", 0.47),
        ("We present BART, a denoising autoencoder.", 0.40),
    )
    picked = [c.position for c in pick_sentences(rows, 2, 0.4, introduce=True)]
    assert picked == [0, 3]  # the best sentence, and what the paper is
    assert [c.position for c in pick_sentences(rows, 2, 0.4)] == [0, 2]


def test_the_fields_background_before_what_a_paper_proposes_is_not_quoted() -> None:
    src = _source(1, "HiTeA: Hierarchical Temporal-Aware Video-Language Pre-training")
    rows = [
        Candidate(src, "Video-language pre-training has advanced many video tasks.", 0, 0.9),
        Candidate(src, "Existing HiTeA-like models lack moments.", 1, 0.5),  # names the paper
        Candidate(src, "We propose HiTeA, a hierarchical pre-training framework.", 2, 0.7),
        Candidate(src, "Temporal pre-training helps on SSv2.", 3, 0.6),  # after: a finding
    ]
    picked = [c.position for c in pick_sentences(rows, 3, 0.5, introduce=True)]
    assert picked == [1, 2, 3]
    # Quoted for its own best sentences, not introduced: the best one is the best one.
    assert [c.position for c in pick_sentences(rows, 3, 0.5)] == [0, 2, 3]


def test_what_a_paper_made_introduces_it_only_when_nothing_is_proposed() -> None:
    src = _source(1, "GECOBench: A Gender-Controlled Text Dataset")
    background = Candidate(src, "Large language models carry gender biases.", 0, 0.9)
    made = Candidate(src, "We create a gender-controlled text dataset, GECO.", 1, 0.5)
    finding = Candidate(src, "Explanations differ between the male and female forms.", 2, 0.6)
    rows = [background, made, finding]
    assert pick_sentences(rows, 3, 0.5, introduce=True) == [made, finding]
    # Beside what the paper proposes, what it made is a part of it: the proposal introduces
    # the paper, and the finding before it is background there.
    proposal = Candidate(src, "We propose GECOBench, a benchmark of explanations.", 3, 0.4)
    assert pick_sentences([*rows, proposal], 3, 0.5, introduce=True) == [made, proposal]


def test_a_sentence_pointing_back_is_quoted_only_after_the_one_it_points_to() -> None:
    src = _source(1, "ELECTRA")
    back = Candidate(src, "While they work well, they need much compute.", 1, 0.9)
    main = Candidate(src, "We propose replaced token detection.", 3, 0.8)
    assert pick_sentences([back, main], 3, 0.4) == [main]
    before = Candidate(src, "Masked language models corrupt the input.", 0, 0.7)
    assert pick_sentences([before, back, main], 3, 0.4) == [before, back, main]


def test_the_best_sentence_pointing_back_comes_with_the_one_it_points_to() -> None:
    # "It cuts the training corpus to 0.3% ..." answers "How much corpus does StructTuning
    # need?"; dropped for its "It", the number never reached the answer.
    src = _source(1, "StructTuning")
    named = Candidate(src, "This paper presents StructTuning, a methodology.", 0, 0.3)
    best = Candidate(src, "It cuts the training corpus to a mere 0.3%.", 1, 0.9)
    other = Candidate(src, "We propose a two-stage injection strategy.", 2, 0.7)
    assert pick_sentences([named, best, other], 3, 0.4) == [named, best, other]
    assert pick_sentences([best, other], 3, 0.4) == [other]  # what "It" is was not retrieved


def test_what_a_paper_proposes_joins_its_best_sentence_even_one_pointing_back() -> None:
    src = _source(1, "Frozen")
    intro = Candidate(src, "We propose an end-to-end trainable video model.", 0, 0.5)
    best = Candidate(src, "It is trained with a curriculum learning schedule.", 4, 0.9)
    assert pick_sentences([intro, best], 3, 0.2, introduce=True) == [intro, best]
    # ... but never opens the answer as "it": after it, the proposal comes alone.
    late = Candidate(src, "We propose an end-to-end trainable video model.", 6, 0.5)
    assert pick_sentences([late, best], 3, 0.2, introduce=True) == [late]
    assert pick_sentences([best], 3, 0.2) == [best]  # the best there is, alone


@pytest.mark.parametrize(
    ("sentence", "passage", "quoted"),
    [
        ("Language models translate questions.", "", "language models translate questions."),
        # A proper noun: the abstract capitalises it mid-sentence too.
        ("India has 22 languages.", "Languages of India differ.", "India has 22 languages."),
        ("Ovis aligns the embeddings.", "", "Ovis aligns the embeddings."),  # the paper's name
        ("BERT is strong.", "", "BERT is strong."),
        # A function word capitalised after a colon in the abstract is still no proper noun.
        ("We align the views.", "Two issues: The data is noisy.", "the authors align the views."),
        # "A" opening a sentence is the article.
        ("A crucial step is grounding.", "", "a crucial step is grounding."),
    ],
)
def test_a_quoted_sentence_keeps_its_proper_nouns_capitalised(
    sentence: str, passage: str, quoted: str
) -> None:
    hit = Hit("p1", "Ovis: Structural Embedding Alignment for Language Models", 1.0, "")
    source = Source(n=1, hit=hit, passage=f"{sentence} {passage}")
    (written,) = write("What does it do?", [1], {1: [Candidate(source, sentence, 0, 1.0)]})
    assert written.text == f'According to "{hit.title}" [1], {quoted}'


@pytest.mark.parametrize(
    ("sentence", "quoted"),
    [
        ("First, we explore repeating the data.", "the authors explore repeating the data."),
        ("Next, we present a unified view.", "the authors present a unified view."),
        ("Here, we propose a two-stage model.", "the authors propose a two-stage model."),
        ("Secondly, the model is small.", "the model is small."),
        # What the sentence before posed ("this gap", "the above problems"), quoted alone.
        ("To bridge this gap, we propose a unified model.", "the authors propose a unified model."),
        ("In order to solve the above problems, we propose X.", "the authors propose X."),
        ("Motivated by this observation, we build Y.", "the authors build Y."),
        ("Based on these findings, we design Z.", "the authors design Z."),
        ("Based on CLIP, we design Z.", "based on CLIP, the authors design Z."),
        ("To overcome this, we add noise.", "the authors add noise."),
        ("To answer these questions, we probe it.", "the authors probe it."),
        ("In this survey we review models.", "the authors review models."),
        ("In this survey of LMs, we list them.", "in this survey of LMs, the authors list them."),
        # One opener after another.
        ("To address the above issues, in this paper, we grow it.", "the authors grow it."),
        # Not an opener: the word begins the claim.
        ("Firstborn models are rare.", "firstborn models are rare."),
        ("Recently, models grew.", "recently, models grew."),
    ],
)
def test_a_quoted_sentence_loses_the_step_it_opened_with(sentence: str, quoted: str) -> None:
    hit = Hit("p1", "A Plain Title", 1.0, "")
    source = Source(n=1, hit=hit, passage=sentence)
    (written,) = write("What does it do?", [1], {1: [Candidate(source, sentence, 0, 1.0)]})
    assert written.text == f'According to "{hit.title}" [1], {quoted}'


def test_one_well_scoring_sentence_does_not_list_a_paper() -> None:
    # "Which papers represent molecules with language models?": a retrieval paper's sentence
    # on "representative words" scored above SELFormer's best; SELFormer holds more of the
    # question and is closer to it.
    lead, selformer, prop = _whole(1, 0.62, 0.65), _whole(2, 0.55, 1.0), _whole(4, 0.30, 0.41)
    listing = "Which papers represent molecules with language models?"
    scored = _scored([(lead, 1.02), (selformer, 0.80), (prop, 0.83)])
    assert choose_papers(listing, scored) == [1, 2]


def test_a_paper_asked_for_also_reports_what_it_achieves() -> None:
    source = _source(1, "VDI: Visual-Dynamic Injection")
    texts = [
        "Pre-trained models have achieved dramatic improvements on many tasks.",
        "We propose Visual-Dynamic Injection to model video changes.",
        "Experiments on Charades-STA show that VDI achieves state-of-the-art results.",
        "VDI outperforms earlier methods by 3% on unseen scenes.",
    ]
    scores = [0.6, 0.9, 0.4, 0.3]
    scored = [
        Candidate(source, t, i, s) for i, (t, s) in enumerate(zip(texts, scores, strict=True))
    ]
    proposal, result = scored[1], scored[2]
    # The best sentence on the paper's own result joins, in the abstract's order; the field's
    # background ("have achieved ...") is no result of the paper.
    assert with_result(scored, [proposal], 4) == [proposal, result]
    # With no room left it takes the place of the weakest sentence, never of the proposal.
    assert with_result(scored, [proposal], 1) == [proposal]
    weak = Candidate(source, "The task needs no extra labels at all.", 5, 0.2)
    assert with_result([*scored, weak], [proposal, weak], 2) == [proposal, result]
    assert with_result(scored, [proposal, scored[3]], 4) == [proposal, scored[3]]  # has one


def test_results_asked_for_are_answered_with_a_measured_result() -> None:
    # "How does CoCa perform?": "achieves state-of-the-art performance" is a result, but the
    # abstract also measures one.
    source = _source(1, "CoCa: Contrastive Captioners")
    proposal = Candidate(source, "We present CoCa, a minimalist image-text model.", 0, 0.9)
    claimed = Candidate(
        source, "CoCa achieves state-of-the-art results on Kinetics-400 and VQAv2.", 1, 0.8
    )
    measured = Candidate(source, "CoCa obtains 86.3% zero-shot top-1 accuracy on ImageNet.", 2, 0.5)
    scored = [proposal, claimed, measured]
    assert with_result(scored, [proposal, claimed], 4, measured=True) == scored
    assert with_result(scored, [proposal, claimed], 4) == [proposal, claimed]  # not asked
    # A paper that measures nothing keeps its claimed result.
    assert with_result(scored[:2], [proposal, claimed], 4, measured=True) == [proposal, claimed]


def test_a_gist_follows_what_the_paper_proposes_with_how_it_works() -> None:
    # "augmentation-free self-supervised tabular data": the keywords match the background and
    # the results; the sentence after the proposal says how T-JEPA works.
    source = _source(1, "T-JEPA: Augmentation-Free Self-Supervised Learning for Tabular Data")
    rows = _abstract(
        source,
        ("We propose a novel augmentation-free SSL method for tables.", 1.2),
        ("Our approach relies on a Joint Embedding Predictive model.", 0.4),
        ("It predicts the latent representation of a feature subset.", 0.3),
        ("We use our method as a pre-training technique for tables.", 0.8),
        ("Experiments show it outperforms gradient boosted trees.", 0.9),
    )
    proposal, after, further, used, result = rows
    # Full, the sentence after the proposal takes the weakest other one's place; a result stays.
    assert with_method(rows, [proposal, used, result], 3) == [proposal, after, result]
    # With room, the following sentences come in order; one place is left for a result.
    assert with_method(rows, [proposal], 4) == [proposal, after, further]
    assert with_method(rows, [proposal, result], 4) == [proposal, after, further, result]
    # The sentence after the proposal, already chosen, is not what gives way to a result.
    assert with_method(rows, [proposal, after, further, used], 4) == [proposal, after, used]
    # A sentence before the proposal that speaks of the paper keeps its place.
    opening = Candidate(source, "We analyse why tabular SSL lags behind.", -1, 0.2)
    assert with_method([opening, *rows], [opening, proposal, result], 3) == [
        opening,
        proposal,
        result,
    ]
    # Side by side, every sentence chosen for the question stays, and the next one joins.
    assert with_method(rows, [proposal, used, result], 3, gist=False) == [
        proposal,
        after,
        used,
        result,
    ]
    assert with_method(rows, [proposal, after], 3, gist=False) == [proposal, after]
    # Without a sentence saying what the paper proposes, there is nothing to follow.
    assert with_method(rows, [used, result], 4) == [used, result]


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("Where can I find the code for BridgeTower?", True),
        ("Is ALBEF open source?", True),
        ("Is there a GitHub link for Language-Codec?", True),
        ("Is the code of UniQA available?", True),
        ("Where are DreamLIP's weights?", True),
        ("Which paper pre-trains on code?", False),
        ("Is CodeS an open-source language model for text-to-SQL?", False),
        ("How does GraphCodeBERT represent code?", False),
        ("Where does ELECTRA get its gains?", False),
    ],
)
def test_a_request_for_a_papers_code(question: str, asks: bool) -> None:
    assert asks_code(question) is asks


def test_the_code_sentence_gives_the_abstracts_links_or_says_it_has_none() -> None:
    abstract = (
        "We propose X. Code is available at https://github.com/ms/BridgeTower. Data at "
        "www.example.org/data, and again https://github.com/ms/BridgeTower."
    )
    assert code_sentence("BridgeTower: Bridges", abstract, 2) == (
        'The abstract of "BridgeTower: Bridges" [2] gives the links '
        "https://github.com/ms/BridgeTower and www.example.org/data."
    )
    assert code_sentence("ELECTRA: Discriminators", "We propose RTD.", 1) == (
        'The abstract of "ELECTRA: Discriminators" [1] gives no link to its code.'
    )


def test_a_gist_is_introduced_by_the_papers_main_proposal() -> None:
    # "What is DCD?": a later "we propose" (a part of DCD) may score higher than the sentence
    # proposing DCD itself; the paper's gist opens with the first.
    source = _source(1, "Dynamic Contrastive Distillation for Image-Text Retrieval", named=True)
    rows = _abstract(
        source,
        ("Retrieval models grow ever larger.", 0.1),
        ("We present a novel dynamic contrastive distillation (DCD) framework.", 0.12),
        ("We try to overcome these challenges from two points.", 0.24),
        ("First, we propose to use a teacher network for hard samples.", 0.3),
    )
    background, main, points, part = rows
    gist = pick_sentences(rows, 2, 0.45, introduce=True, main=True)
    assert main in gist and background not in gist  # the field's background is not the paper
    assert pick_sentences(rows, 2, 0.45, introduce=True) == [points, part]


@pytest.mark.parametrize(
    ("question", "only"),
    [
        ("What is DCD?", True),
        ("What does DCD do?", True),
        ("DCD?", True),
        ("What is DCD's speed-up?", False),
        ("What datasets does DCD use?", False),
    ],
)
def test_a_question_asking_nothing_but_the_named_paper(question: str, only: bool) -> None:
    source = _source(1, "DCD: Dynamic Contrastive Distillation", named=True)
    assert asks_only_paper(question, _scored([(source, 0.3)]), 1) is only
    # A paper the question does not name is not what it asks about.
    unnamed = _source(1, "DCD: Dynamic Contrastive Distillation")
    assert not asks_only_paper(question, _scored([(unnamed, 0.3)]), 1)


def test_a_quantity_asked_for_is_answered_with_a_number() -> None:
    # "How fast is DiffRhythm?": its best sentence says "fast inference speeds"; the one with
    # "4m45s in only ten seconds" answers.
    source = _source(1, "DiffRhythm: Fast Song Generation")
    fast = Candidate(source, "Its non-autoregressive structure ensures fast inference.", 1, 0.9)
    timed = Candidate(source, "DiffRhythm generates songs of up to 4m45s in ten seconds.", 0, 0.5)
    assert with_number([fast, timed], [fast], 4) == [timed, fast]
    # A chosen sentence already holding a number answers, even one that points back.
    said = Candidate(source, "It cuts the corpus to a mere 0.3% of the data.", 2, 0.8)
    assert with_number([fast, timed, said], [said], 4) == [said]


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("One For All (\\textsc{Ofa}), which", "One For All (Ofa), which"),
        ("we introduce PixArt-\\Sigma, a model", "we introduce PixArt-Σ, a model"),
        ("up to 5.18\\times$ latency reductions", "up to 5.18\u00d7 latency reductions"),
        (
            "comes from {\\em parameter and retrieval} size",
            "comes from parameter and retrieval size",
        ),
        ("our framework (\\ModelName) strategically", "our framework (ModelName) strategically"),
        ("the process, \\eg, from an hour", "the process, e.g., from an hour"),
        ("a Diffusion Transformer model~(DiT)", "a Diffusion Transformer model (DiT)"),
        ("costs $5 and saves ~42.9% energy", "costs $5 and saves ~42.9% energy"),  # no TeX
        # Escaped characters, ties glued to a word, inline math and raised digits.
        ("reduction by 4.9\\% in ImageNet", "reduction by 4.9% in ImageNet"),
        ("our model shows~5\\% to~10\\% less", "our model shows 5% to 10% less"),
        ("than wav2vec~2.0 on Libri-Light~60k", "than wav2vec 2.0 on Libri-Light 60k"),
        ("achieves 76\\(\\%\\) accuracy", "achieves 76% accuracy"),
        ("$\\textbf{S}^2$IP-LLM", "S\u00b2IP-LLM"),
        ("with LLM (S^2IP-LLM) to align", "with LLM (S\u00b2IP-LLM) to align"),
        ("their G_{stack} model converges", "their G_stack model converges"),
        ("a learning rate $\\eta=10^{-3}$", "a learning rate \u03b7=10\u207b\u00b3"),
        ("R\\&D costs \\$5", "R&D costs $5"),
        ("cuts 5~10\\% of it", "cuts 5~10% of it"),  # a range, not a tie
        ("a framework, ``SimVLG'', for", "a framework, \u201cSimVLG\u201d, for"),
    ],
)
def test_tex_in_an_abstract_reads_as_text(text: str, read: str) -> None:
    assert plain(text) == read


def test_a_quoted_title_reads_tex_as_text() -> None:
    title = "$\\textbf{S}^2$IP-LLM: Semantic Space Informed Prompt Learning with LLM"
    passage = "We propose a Semantic Space Informed Prompt learning with LLM for forecasting."
    source = Source(1, Hit("p1", title, 1.0, passage), passage)
    (sentence,) = write("How does it forecast?", [1], {1: candidates([source])})
    assert sentence.text.startswith('According to "S\u00b2IP-LLM: Semantic Space')
    assert "\\" not in sentence.text and "$" not in sentence.text


def test_quoted_sentences_read_tex_as_text() -> None:
    passage = "We propose One For All (\\textsc{Ofa}), which initializes unseen subword embeddings."
    hit = Hit("p1", "OFA: A Framework of Initializing Unseen Subword Embeddings", 1.0, passage)
    source = Source(1, hit, passage)
    (sentence,) = write("What is OFA?", [1], {1: candidates([source])})
    assert "(Ofa)" in sentence.text and "\\" not in sentence.text


@pytest.mark.parametrize(
    ("question", "count"),
    [
        ("Compare LexLIP and Unified Lexical Representation.", 2),
        ("How do TERA and W2v-BERT differ?", 2),
        ("What is the difference between CoCa and ALBEF?", 2),
        ("Compare the two.", 2),
        ("Compare UNITER, FILIP and CoCa.", 3),
        ("What is ELECTRA?", MAX_PAPERS),  # no comparison: no bound of its own
        # The answer's own papers compared: their number is the answer's.
        ("What video-text datasets exist, and how do they differ?", MAX_PAPERS),
    ],
)
def test_a_comparison_compares_as_many_papers_as_it_lists(question: str, count: int) -> None:
    assert compared_count(question) == count
