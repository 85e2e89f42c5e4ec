"""Paper names from titles, and the names a question mentions (unit tier, no index)."""

from __future__ import annotations

import random
import re

import pytest

from paperchat.names import _spelled_acronym as spelled_acronym
from paperchat.names import (
    abbreviates,
    asked_names,
    coined_name,
    compared_words,
    defined_names,
    distinctive_names,
    first_mention,
    holds_name,
    indexed_names,
    inner_names,
    mentioned_apart,
    misspells,
    name_like,
    normalise,
    paper_names,
    plain_words,
    question_names,
    quotes_title,
    recased,
    spells_out,
    text_names,
    title_called,
    writes_title_name,
)

DEBERTA = (
    "DeBERTaV3: Improving DeBERTa using ELECTRA-Style Pre-Training with Gradient-Disentangled "
    "Embedding Sharing"
)
ELECTRA = "ELECTRA: Pre-training Text Encoders as Discriminators Rather Than Generators"


@pytest.mark.parametrize(
    ("title", "names"),
    [
        (ELECTRA, ["electra"]),
        (DEBERTA, ["debertav3"]),  # ELECTRA-Style deeper in the title is not its name
        ("Inverse-LLaVA: Eliminating Alignment Pre-training", ["inverse-llava", "inverse llava"]),
        ("Align before Fuse: Vision and Language Representation Learning", ["align before fuse"]),
        ("Medical mT5: An Open-Source Multilingual LLM", ["medical mt5", "mt5"]),
        (
            "Tiny Time Mixers (TTMs): Fast Pre-trained Models",
            ["tiny time mixers (ttms)", "ttms", "tiny time mixers"],
        ),
        ("MDETR -- Modulated Detection for End-to-End Multi-Modal Understanding", ["mdetr"]),
        ("LegalTurk Optimized BERT for Multi-Label Text Classification", ["legalturk"]),
        ("End-to-End Semi-Supervised Object Detection with Soft Teacher", []),
        ("Scaling Speech-Text Pre-training with Synthetic Interleaved Data", []),
        # TeX as arXiv keeps it: the name is also stored as a user types it.
        (
            r"$\textbf{S}^2$IP-LLM: Semantic Space Informed Prompt Learning",
            [r"$\textbf{s}^2$ip-llm", "s2ip-llm", r"$\textbf{s}^2$ip llm", "s2ip llm"],
        ),
        (
            r"$\mathcal{B}$-Coder: Value-Based Deep Reinforcement Learning",
            [r"$\mathcal{b}$-coder", "b-coder", r"$\mathcal{b}$ coder", "b coder"],
        ),
        (
            r"$\alpha$-CLIP: A CLIP Model",
            [r"$\alpha$-clip", "alpha-clip", r"$\alpha$ clip", "alpha clip"],
        ),
    ],
)
def test_names_come_from_the_title_prefix_and_leading_name(title: str, names: list[str]) -> None:
    assert paper_names(title) == names


def test_distinctive_names_are_whole_names_written_as_names() -> None:
    assert distinctive_names(ELECTRA) == ["electra"]
    assert distinctive_names("Medical mT5: An Open-Source Multilingual LLM") == ["medical mt5"]
    # Plain words and words inside a longer prefix need the collection's term statistics.
    assert distinctive_names("Pre-Trained Models: Past, Present and Future") == []
    assert distinctive_names("Align before Fuse: Vision and Language") == []
    assert "llm" not in distinctive_names("Aligned with LLM: a new multi-modal paradigm")
    assert "llm" in paper_names("Aligned with LLM: a new multi-modal paradigm")


def test_a_name_inside_another_title_is_not_that_papers_name() -> None:
    asked = question_names("What is ELECTRA's pre-training task?")
    assert "electra" in asked
    assert not set(asked) & set(paper_names(DEBERTA))
    assert set(asked) & set(paper_names(ELECTRA))


def test_plain_lower_case_words_never_name_a_paper() -> None:
    # A paper called KIND or POINTS must not be named by "what kind of points".
    asked = question_names("what kind of points does the model use")
    assert "kind" not in asked and "points" not in asked
    assert "kind" in question_names("What does KIND do?")


def test_compared_words_are_the_sides_of_a_question_of_nothing_else() -> None:
    assert compared_words("ovis vs points") == ["ovis", "points"]
    assert compared_words("Compare kite and TERA?") == ["kite", "tera"]
    assert compared_words("bert, gpt or t5") == ["bert", "gpt", "t5"]
    # A side of several words, or words around the sides: no bare comparison.
    assert compared_words("lora vs full fine-tuning") == []
    assert compared_words("what kind of points vs lines") == []


def test_multi_word_names_match_case_and_hyphen_insensitively() -> None:
    asked = question_names("How does align before fuse work? And Inverse LLaVA?")
    assert "align before fuse" in asked
    assert "inverse llava" in asked
    assert "inverse-llava" in question_names("What is Inverse-LLaVA?")
    # A hyphen the name does not write ("DeBERTa-V3"), and a model size after the name.
    assert "debertav3" in question_names("How does DeBERTa-V3 improve?")
    assert "electra" in question_names("What does ELECTRA-Small score?")
    assert "llama" in question_names("Is LLaMA-7B used?")
    assert "electra" not in question_names("Is ELECTRA-Style pre-training better?")
    # A name typed apart: "GraphCode BERT", "Deberta v3"; plain words are not joined.
    assert "graphcodebert" in question_names("What is GraphCode BERT?")
    assert "debertav3" in question_names("What does Deberta v3 improve?")
    assert "allinone" not in question_names("is it all in one model?")


def test_normalise_folds_case_dashes_and_possessives() -> None:
    assert normalise("  PixArt\u2013\u03a3 ") == "pixart-\u03c3"
    assert question_names("GENIUS's objective?")[0] == "genius"


@pytest.mark.parametrize(
    ("word", "expected"),
    [("ELECTRA", True), ("DeBERTaV3", True), ("Coarse-to-Fine", False), ("15M", False)],
)
def test_name_like_words(word: str, expected: bool) -> None:
    assert name_like(word) is expected


VILD = "Open-vocabulary Object Detection via Vision and Language Knowledge Distillation"


@pytest.mark.parametrize(
    ("abstract", "title", "name"),
    [
        ("To overcome this, we propose ViLD, a training method via distillation.", VILD, "ViLD"),
        ("We introduce Programming Every Example (ProX), a framework.", "Programming Data", "ProX"),
        ("We propose a novel method ZSCL to prevent degradation.", "Preventing Forgetting", "ZSCL"),
        ("This yields WebPerson, a dataset of 5M pairs.", "Robust Person Retrieval", "WebPerson"),
        # The defined acronym, not the first word of the phrase it abbreviates.
        ("We propose ADapt And Merge (ADAM), which aggregates.", "Revisiting Learning", "ADAM"),
        # The field's abbreviations and plurals are no coinage ...
        ("We propose a model for natural language processing (NLP).", "Plain Title", None),
        ("We present results on COCO and LVIS.", "Plain Title", None),
        ("We introduce LLMs that reason.", "Plain Title", None),
        ("Two tasks, API call and API usage prediction.", "Plain Title", None),
        ("We propose a straightforward MLP diffusion network.", "Plain Title", None),
        ("We propose a novel Text4Point framework to build models.", "Plain Title", "Text4Point"),
        ("We propose a framework, dubbed as Learning-Accumulation-Ensemble (LAE).", "T", "LAE"),
        # A capitalised word given as a name, not the first word of a capitalised phrase,
        # nor a word the abstract also writes in lower case.
        ("In this paper, we propose Zecoler, a zero-shot approach.", "Zero-Shot Code", "Zecoler"),
        ("We introduce Fusioner, with a lightweight fusion module.", "Segmentation", "Fusioner"),
        ("A framework called Self-Lengthen that extends replies.", "Long Replies", "Self-Lengthen"),
        ("We propose Learning from the Void (LfVoid), a method.", "Visual Goals", "LfVoid"),
        ("We introduce a new pretext task, Turning to Video for Transcript.", "Video", None),
        ("We present Mosaic, a method. Our mosaic augments images.", "Augmentation", None),
        # ... and a title that has a name keeps it.
        ("We propose replaced token detection (RTD).", ELECTRA, None),
        # A prefix of plain words is the name, unless the abstract gives it an acronym.
        ("We propose MCRVQ, a quantizer.", "Language-Codec: Reducing Gaps", None),
        ("We introduce Programming Every Example (ProX).", "Programming Every Example: X", "ProX"),
        # A prefix of four words or more is a slogan: the abstract's name is the paper's.
        (
            "We present a method, termed DocTune, a tuner.",
            "Teaching LLMs like Pupils: X",
            "DocTune",
        ),
        # The plural acronym after it is the field's: the name before it is coined.
        (
            "A method, termed DocTune, to turn Large Language Models (LLMs) into experts.",
            "T",
            "DocTune",
        ),
    ],
)
def test_coined_name_is_the_name_an_abstract_gives_its_idea(
    abstract: str, title: str, name: str | None
) -> None:
    assert coined_name(abstract, title) == name


@pytest.mark.parametrize(
    ("abstract", "name"),
    [
        # The first place the prefix is followed by an acronym, not the prefix's first place.
        ("Programming every example is hard. So Programming Every Example (ProX) helps.", "ProX"),
        ("Programming Every Example\n  (ProX-2) and Programming Every Example (PX).", "ProX-2"),
        ("Programming Every Example (P, X) then Programming Every Example (PEEx).", "PEEx"),
        ("Programming Every Example (X) is too short to be its name.", None),
        ("Programming every example (PROX), in other case: its written form.", "PROX"),
    ],
)
def test_a_plain_prefix_is_named_by_the_acronym_the_abstract_gives_it(
    abstract: str, name: str | None
) -> None:
    assert coined_name(abstract, "Programming Every Example: Lifting Data Quality") == name


ALBEF = "Align before Fuse: Vision and Language Representation Learning"


@pytest.mark.parametrize(
    ("abstract", "name"),
    [
        # The acronym is given where the prefix is not written out: its capitals spell it.
        ("We introduce a loss to ALign representations BEfore Fusing (ALBEF) them.", "ALBEF"),
        # The first acronym of the prefix, after others that abbreviate something else.
        ("We use masked modeling (MLM) and momentum distillation (MoD) in AbF (AbF).", "AbF"),
        # An acronym of the abstract's own phrase is no name of the paper.
        ("We propose Mask Channel Residual Vector Quantization (MCRVQ).", None),
        ("Results on (COCO) and (ALIGN).", None),
    ],
)
def test_a_plain_prefix_is_named_by_an_acronym_of_its_words(
    abstract: str, name: str | None
) -> None:
    assert coined_name(abstract, ALBEF) == name


@pytest.mark.parametrize(
    ("abstract", "names"),
    [
        # The phrase right after the naming verb spells the acronym: by its words ...
        ("We propose Representation-Aligned Preference-based Learning (RAPL), a method.", ["RAPL"]),
        # ... by its capitals, after a few plain words ...
        (
            "We introduce a novel Gradient-RegulAted Meta-prompt learning (GRAM) framework.",
            ["GRAM"],
        ),
        # ... or after "referred to as", though "propose" came earlier in the sentence.
        (
            "We propose a generic method, referred to as Visual-Dynamic Injection (VDI), to help.",
            ["VDI"],
        ),
        # Not what the paper works with or on ...
        (
            "We propose to explore the power of Contrastive Language-Image Pre-training (CLIP).",
            [],
        ),
        ("We propose Dynamic Rank-Selective Low Rank Adaptation (LoRA).", []),
        ("Results on the Waymo Open Dataset (WOD) are strong. We propose it.", []),
        # ... nor the field's terms, named by no verb, nor plurals, nor unspelled words.
        ("The development of Vision-Language Pre-training (VLP) is fast.", []),
        ("We present Large Language Models (LLMs) that reason.", []),
        ("We present a monolingual BERT model trained from scratch (BERTu).", []),
    ],
)
def test_the_acronyms_an_abstract_defines_for_what_it_proposes(
    abstract: str, names: list[str]
) -> None:
    assert defined_names(abstract) == names


def test_the_index_stores_the_acronym_defined_for_what_a_paper_proposes() -> None:
    # A title whose prefix names something else: users call the paper by the acronym.
    title = "Maximizing Alignment with Minimal Feedback: Learning Rewards for Robots"
    abstract = "We propose Representation-Aligned Preference-based Learning (RAPL), a method."
    assert "rapl" in indexed_names(title, abstract)
    assert coined_name(abstract, title) is None  # shown with the title's own name only
    # A title without a name is shown with it: "Advancing ..." (HD-VILA).
    abstract = "We propose a novel High-resolution and Diversified VIdeo-LAnguage model (HD-VILA)."
    assert coined_name(abstract, "Advancing High-Resolution Video-Language Learning") == "HD-VILA"


@pytest.mark.parametrize(
    ("acronym", "phrase", "expected"),
    [
        ("ALBEF", "Align before Fuse", True),
        ("ADAM", "ADapt And Merge", True),  # a small word may give letters ...
        ("AM", "Adapt and Merge", True),  # ... or none
        ("PEE", "Programming Every Example", True),
        ("PE", "Programming Every Example", False),  # every other word gives one at least
        ("ALIGN", "Align before Fuse", False),
        ("MCRVQ", "Language-Codec", False),
        ("LC", "Language-Codec", True),
    ],
)
def test_abbreviates(acronym: str, phrase: str, expected: bool) -> None:
    assert abbreviates(acronym, phrase) is expected


def _words_of(rng: random.Random, pieces: str, most: int) -> str:
    return "".join(rng.choice(pieces) for _ in range(rng.randint(0, most)))


def test_the_spelled_acronym_is_the_first_match_of_the_prefix_and_parentheses() -> None:
    """Found without compiling an expression per title, and the same as that expression."""
    rng = random.Random(7)
    pieces = ["ab", "ab ", "a", " ", "\n", "(", ")", "(ab)", "(a)", "(a b)", "(a,b)", "x", "é"]
    for _ in range(20_000):
        name = _words_of(rng, ["ab", "a", " ", "b", "(", "."], 3) or "ab"
        text = _words_of(rng, [*pieces, name, name + " (xy)"], 12)
        searched = re.search(re.escape(name) + r"\s*\(([^()\s,;]{2,24})\)", text)
        assert spelled_acronym(name, text) == (searched.group(1) if searched else None)


def test_name_like_matches_its_plain_definition_on_any_word() -> None:
    """Its shortcut for plain words ("Improving") gives what the full rule gives."""

    def plain(word: str) -> bool:
        if sum(ch.isalpha() for ch in word) < 2:
            return False
        inner = any(ch.isupper() for part in word.split("-") for ch in part[1:])
        return inner or any(ch.isdigit() for ch in word)

    rng = random.Random(3)
    for _ in range(50_000):
        word = _words_of(
            rng, "aZb-1\u00b2\u01c5\u01c6\u0130\u03a3\u03c3\u4e2d\u2167\u0663_'\u00e9", 6
        )
        assert name_like(word) is plain(word), word


def test_a_word_other_papers_use_is_no_coined_name() -> None:
    abstract = "We propose ViLD, a training method via distillation."
    assert coined_name(abstract, VILD, elsewhere=frozenset({"vild"})) is None


def test_the_index_stores_the_coined_name_beside_the_titles_names() -> None:
    abstract = "We propose ViLD, a training method via distillation."
    assert indexed_names(VILD, abstract) == ["vild"]
    assert indexed_names(ELECTRA, "We propose replaced token detection (RTD).") == ["electra"]


def test_a_slogan_with_an_acronym_of_the_abstract_gets_no_other_coined_name() -> None:
    # Its paper has a name already: further capitalised words are what it works with.
    abstract = "We propose ADapt And Merge (ADAM). We construct the ImageNet-B benchmark."
    assert indexed_names(
        "Revisiting Incremental Learning with Pre-Trained Models: X", abstract
    ) == [
        "revisiting incremental learning with pre-trained models",
        "adam",
        "revisiting incremental learning with pre trained models",
    ]


def test_a_name_inside_a_longer_one_of_plain_words_is_what_the_paper_builds_on() -> None:
    assert inner_names("Medical mT5: A Model for the Medical Domain") == ["mt5"]
    # A longer name opening with a name holds the paper's own names.
    assert inner_names("JM3D & JM3D-LLM: Elevating 3D Representation") == []
    assert inner_names("UNITER: UNiversal Image-TExt Representation Learning") == []


def test_the_index_stores_every_name_the_abstract_coins() -> None:
    abstract = "This yields WebPerson, a dataset. Second, we introduce the GA-DMS framework."
    assert indexed_names("Robust Person Retrieval", abstract) == ["webperson", "ga-dms", "ga dms"]


def test_the_names_a_question_asks_about_and_whether_a_text_holds_them() -> None:
    assert asked_names("What MMLU score does GPT-4 get?") == ["mmlu", "gpt-4"]
    # A plain-word suffix describes the name: "CLIP-like" asks about CLIP.
    assert asked_names("Which papers adapt CLIP-like or wav2vec-style models?") == [
        "clip",
        "wav2vec",
    ]
    assert asked_names("Which paper trains with DP-SGD?") == ["dp-sgd"]
    assert asked_names("Which papers study speech?") == []
    assert asked_names("Which work quantizes 175B-parameter models to 4-bit at 4K?") == []
    held = text_names("We compare CLIP-based models with GPT-like ones on MMLU.")
    assert holds_name("clip", held) and holds_name("mmlu", held)
    assert not holds_name("gpt-4", held)  # "GPT-like" is no GPT-4
    # A paper whose own name is built on the asked one speaks of it: xRAG of RAG.
    assert holds_name("rag", frozenset(), own=("xrag",))
    assert not holds_name("rag", frozenset(), own=("rag",))  # its name is no text of it
    assert not holds_name("t5", frozenset(), own=("mt5",))  # too short to tell
    assert not holds_name("gpt-4", held, own=("clip",))


def test_a_text_holds_a_name_in_the_plural_or_singular() -> None:
    assert holds_name("llm", text_names("Large language models (LLMs) are trained."))
    assert holds_name("cnns", text_names("A CNN reads the image."))
    assert not holds_name("llm", text_names("Large language models are trained."))
    assert not holds_name("mos", text_names("An MO head"))  # too short to drop an "s"
    # A verb made of a name asks about the name: "OCR'd text".
    assert asked_names("Which paper filters OCR'd public domain data?") == ["ocr"]


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("cnns", "trained on Convolutional Neural Networks", True),
        ("mllm", "Current Multimodal Large Language Models (MLLMs)", True),
        ("vlm", "Vision-Language Models", True),  # a hyphenated word, part by part
        ("mlm", "a masked-language-modeling objective", True),
        ("t2i", "advances in text-to-image generation", True),  # "2" is "to"
        ("tti", "advances in text-to-image generation", False),  # "to" gives no letter
        ("llm", "a large and language model", False),  # not consecutive words
        ("mmlu", "the model makes little use of", True),
        ("mmlu", "the model is", False),
        ("gpt", "Generative Pre-trained Transformer", True),
        ("ml", "machine learning", False),  # two letters: any two words' initials
        ("gpt-4", "Generative Pre-trained Transformer", False),
    ],
)
def test_spells_out_an_acronym_written_as_words(name: str, text: str, expected: bool) -> None:
    assert spells_out(name, text) is expected


def test_plain_words_are_the_lower_case_words_question_names_leaves_out() -> None:
    question = "what is electra's task, and how does DeBERTaV3 use it?"
    assert "electra" in plain_words(question) and "electra" not in question_names(question)
    assert "debertav3" not in plain_words(question)  # written as a name: question_names has it
    assert "is" not in plain_words(question)  # too short to be a name
    # Hyphenated in lower case too; not a word with capitals, digits first or other marks.
    assert plain_words("explain chimed-gpt, cv-vae") == ["explain", "chimed-gpt", "cv-vae"]
    assert plain_words("Is RAD-DINO like pvt++ or 3d-vae?") == ["like"]


def test_a_question_writing_out_a_title_names_its_paper() -> None:
    title = "Unveiling Encoder-Free Vision-Language Models"
    assert quotes_title("How is HoVLE different from unveiling encoder-free VLMs?", title) is False
    assert quotes_title(
        "How is HoVLE different from Unveiling Encoder-Free Vision-Language Models?", title
    )
    assert quotes_title("what does 'unveiling encoder free vision language models' do", title)
    # The part before the colon is enough; a short one is a phrase used by chance.
    assert quotes_title(
        "Summarize Language-Driven Representation Learning for Robotics, please",
        "Language-Driven Representation Learning for Robotics: A Study",
    )
    assert not quotes_title(
        "Which models stay frozen in time?",
        "Frozen in Time: A Joint Video and Image Encoder for End-to-End Retrieval",
    )
    assert not quotes_title(
        "What is BART: what does it do?", "BART: Denoising Sequence-to-Sequence Pre-training"
    )
    # Whole words only: a title is not found inside longer words.
    assert not quotes_title(
        "Pre-training Text Encoders as Discriminatorsss",
        "Pre-training Text Encoders as Discriminators",
    )


def test_the_paper_called_by_words_of_its_title_is_the_one_title_holding_them() -> None:
    titles = [
        "Text-Video Retrieval with Global-Local Semantic Consistent Learning",
        "Video-Text as Game Players: Hierarchical Banzhaf Interaction for Cross-Modal Learning",
        "Starbucks: Improved Training for 2D Matryoshka Embeddings",
        "2D Matryoshka Sentence Embeddings",
    ]
    question = "Compare GLSCL and the Banzhaf paper"
    assert title_called(question, titles) == (1, question.index("Banzhaf"))
    assert title_called("what does the game players paper say?", titles) == (1, 14)
    # Two titles hold it; words pointing at a paper; a name (matched by stored names).
    assert title_called("What does the Matryoshka paper do?", titles) is None
    assert title_called("What does the first paper say on text-video retrieval?", titles) is None
    assert title_called("Is the GLSCL paper about retrieval?", titles) is None
    assert title_called("What are the main findings of the paper?", titles) is None


def test_a_name_written_only_inside_a_longer_one_is_not_mentioned_apart() -> None:
    name, longer = "chinesewebtext", ["chinesewebtext 2.0"]
    assert not mentioned_apart("What is ChineseWebText 2.0?", name, longer)
    assert mentioned_apart("Compare ChineseWebText and ChineseWebText 2.0", name, longer)
    assert mentioned_apart("What is ChineseWebText?", name, longer)
    assert not mentioned_apart("What is ChineseWebText-2.0?", name, longer)
    # Joined to a word by a hyphen it is still written: "ELECTRA-Small", "DeBERTa-V3".
    assert mentioned_apart("What does ELECTRA-Small score?", "electra", ["electra 2"])
    assert mentioned_apart("How does DeBERTa-V3 improve on DeBERTa?", "deberta", ["deberta v3"])


def test_a_title_prefix_written_with_its_capitals_mid_question_names_its_paper() -> None:
    title = "All in One: Exploring Unified Video-Language Pre-training"
    assert writes_title_name("Compare HiTeA and All in One.", title)
    assert writes_title_name("How does All in One encode video?", title)
    # Lower case, or only the question's first word capitalised, is the plain phrase.
    assert not writes_title_name("Compare HiTeA and all in one.", title)
    assert not writes_title_name("All in one, which papers use video?", title)
    assert not writes_title_name("All in One: what is it?", title)  # its first word
    # Whole words only; a prefix of one capitalised word is left to the other name rules.
    assert not writes_title_name("Is there an All in Ones paper?", title)
    assert not writes_title_name("Is Frozen in time?", "Frozen in time: A Joint Encoder")
    # A title without a prefix has no such name.
    assert not writes_title_name("Compare it with Pre-training Text Encoders", "Pre-training Text")


def test_first_mention_is_where_the_question_first_uses_a_name() -> None:
    question = "How is ELECTRA different from DeBERTaV3?"
    assert first_mention(question, ["debertav3"]) > first_mention(question, ["electra"]) >= 0
    # Written with a hyphen the name does not have, it is a mention all the same.
    hyphened = "Compare DeBERTa-V3 and ELECTRA-Large."
    assert first_mention(hyphened, ["debertav3"]) < first_mention(hyphened, ["electra"])
    # Whole words only, and a paper the question does not name comes last.
    assert first_mention("What does embarrassingly simple mean?", ["bart"]) == len(
        "what does embarrassingly simple mean?"
    )


@pytest.mark.parametrize(
    ("asked", "name", "expected"),
    [
        ("electa", "electra", True),  # a letter dropped
        ("selformmer", "selformer", True),  # ... added
        ("eletcra", "electra", True),  # two swapped
        ("visfocs", "visfocus", True),
        ("electra", "electra", False),  # the name itself is no misspelling
        ("llama-2", "llama-3", False),  # another version, not a typo
        ("debertav3", "deberta", False),  # another model
        ("xlectra", "electra", False),  # the first letter is kept
        ("bart", "bert", False),  # short names are a letter from each other
    ],
)
def test_a_misspelt_name_is_one_letter_from_the_name(asked: str, name: str, expected: bool) -> None:
    assert misspells(asked, name) is expected


def test_a_capitalised_word_is_no_acronym_written_in_capitals() -> None:
    abstract = "We propose ADapt And Merge (ADAM), which aggregates the embeddings."
    assert recased("adam", "Which paper replaces Adam with a sign-based optimizer?", abstract)
    # The acronym as the paper writes it, or typed in lower case, is the paper's name.
    assert not recased("adam", "What is ADAM in class-incremental learning?", abstract)
    assert not recased("adam", "what is adam in class-incremental learning?", abstract)
    # A name the paper writes capitalised, or does not write in the text at hand.
    assert not recased("ovis", "What does Ovis align?", "Ovis aligns visual embeddings.")
    assert not recased("adam", "Does Adam help?", "An abstract without the name.")
    assert not recased("gpt-4", "Is Gpt-4 used?", "GPT-4 is used.")  # one word of letters only
