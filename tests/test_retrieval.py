"""Hybrid retrieval over the real ingested corpus (embedded Qdrant, real embedder)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from paperchat.cli import main
from paperchat.corpus import load_papers
from paperchat.embedding import term_id
from paperchat.errors import BadQuestionError, ConfigError
from paperchat.index import Filters
from paperchat.records import Hit
from paperchat.retrieval import (
    Retriever,
    coverage,
    covering_first,
    distinctive_terms,
    held_words,
    idf,
    readings,
    titled_first,
    used_by_asked,
)
from paperchat.settings import Settings

# Questions phrased without the title's words -> the paper that answers them.
PARAPHRASES = {
    "a discriminator learns to spot which input words were swapped by a small generator network": (
        "ELECTRA"
    ),
    "speech language model trained on text turned into speech tokens without real audio, "
    "chatbot that talks": "Scaling Speech-Text Pre-training with Synthetic Interleaved Data",
    "medical model for cancer diagnosis from slide images using a disease knowledge graph": (
        "A Knowledge-enhanced Pathology Vision-language Foundation Model"
    ),
    "football players treated like words in a sentence": "RisingBALLER",
}


@pytest.mark.parametrize(("question", "title"), PARAPHRASES.items())
def test_hybrid_finds_paraphrased_papers_first(ingested, question: str, title: str) -> None:
    hits = ingested.retriever.search(question, k=5)
    assert hits[0].title.startswith(title)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "sparse"])
def test_every_mode_returns_distinct_papers_ranked(ingested, mode: str) -> None:
    hits = ingested.retriever.search("replaced token detection pre-training", k=5, mode=mode)
    assert len(hits) == 5
    assert len({h.paper_id for h in hits}) == 5  # grouped per paper, not raw chunks
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].title.startswith("ELECTRA")
    assert all(h.relevance is not None for h in hits)


def test_best_chunks_come_with_each_paper(ingested) -> None:
    (hit,) = ingested.retriever.search("replaced token detection", k=1)
    assert hit.title.startswith("ELECTRA")
    assert hit.text == hit.chunks[0] and "replaced token detection" in hit.text
    assert 1 <= len(hit.chunks) <= ingested.settings.retrieval.chunks_per_paper


def test_hybrid_breaks_a_mirrored_tie_for_the_bm25_top_paper(ingested) -> None:
    # BM25 ranks ELECTRA first and DeBERTaV3 lower; the dense branch has them the other way
    # round. Fusion alone must let the BM25 favourite win: the engine's fused ranking, before
    # the retriever puts the paper the question names first.
    question = "What pre-training task does electra propose instead of masked language modeling?"

    def fused(mode: str, k: int) -> list[Hit]:
        vectors = ingested.retriever.query_vectors(question, mode, k)
        return ingested.index.query(
            vectors, mode, k, ingested.settings.retrieval.chunks_per_paper, None
        )

    assert fused("sparse", 3)[0].title.startswith("ELECTRA")
    assert not fused("dense", 3)[0].title.startswith("ELECTRA")
    hits = fused("hybrid", 5)
    assert hits[0].title.startswith("ELECTRA")
    assert hits[0].score > hits[1].score


def test_bm25s_far_ahead_top_paper_can_lead_hybrid_search(ingested) -> None:
    # Words of ShiftAddViT's abstract: BM25 scores it over three times any other paper, the
    # dense branch's top 40 lacks it, and rank fusion leaves it out of the top 5.
    question = "reparameterize attention with additive kernels and binary codes"
    retrieval = ingested.settings.retrieval
    vectors = ingested.retriever.query_vectors(question, "hybrid", 5)
    fused = ingested.index.query(vectors, "hybrid", 5, retrieval.chunks_per_paper, None)
    assert not any(h.title.startswith("ShiftAddViT") for h in fused)
    leads = retrieval.model_copy(update={"sparse_lead": 1.5})
    leading = Retriever(ingested.index, ingested.embedder, leads)
    top = leading.search(question, k=5)[0]
    assert top.title.startswith("ShiftAddViT") and top.chunks
    assert "additive kernels" in " ".join(top.chunks)
    # Off by default: the fused order.
    assert not ingested.retriever.search(question, k=5)[0].title.startswith("ShiftAddViT")
    # A lead that is not far ahead changes nothing: the fused order stands.
    question = "Which paper introduces a Chinese and English text-to-image model?"
    vectors = ingested.retriever.query_vectors(question, "hybrid", 5)
    fused = ingested.index.query(vectors, "hybrid", 5, retrieval.chunks_per_paper, None)
    assert [h.paper_id for h in leading.search(question, k=5)] == [h.paper_id for h in fused]


def test_a_named_paper_leads_every_mode(ingested) -> None:
    question = "What pre-training task does ELECTRA propose instead of masked language modeling?"
    for mode in ("hybrid", "dense", "sparse"):
        (top, *_) = ingested.retriever.search(question, k=3, mode=mode)
        assert top.title.startswith("ELECTRA") and top.named, mode


def test_a_word_sharing_letters_with_a_coined_acronym_names_no_paper(ingested) -> None:
    # One abstract coins "ADapt And Merge (ADAM)"; "Adam" the optimizer is not that paper.
    optimizer = "Which paper replaces Adam with a sign-based optimizer found by program search?"
    assert not any(h.named for h in ingested.retriever.search(optimizer, k=5))
    (top, *_) = ingested.retriever.search("What is ADAM in class-incremental learning?", k=5)
    assert top.named and top.title.startswith("Revisiting Class-Incremental Learning")


def test_an_acronym_in_capitals_names_its_paper_though_the_word_is_common(ingested) -> None:
    # "GRAIN" is coined by one abstract; "grain" is in 88 chunks, as in "fine-grained".
    (top, *_) = ingested.retriever.search("Which paper proposes GRAIN?", k=5)
    assert top.named and top.title.startswith("Grounding Descriptions in Images")
    # The word in lower case, or inside another word, names nothing.
    for question in ("fine-grained visual categorization", "grain of the data"):
        assert not any(h.named for h in ingested.retriever.search(question, k=5)), question


@pytest.mark.parametrize(
    ("question", "title"),
    [
        # Capitalised coinages of papers whose titles hold no name.
        ("Which paper introduced Zecoler?", "Zero-Shot Code Representation Learning"),
        ("What is Voltron?", "Language-Driven Representation Learning for Robotics"),
        # "Fusioner" is stemmed "fusion", a term of many chunks; as written, one paper's.
        ("Which paper proposed Fusioner?", "Open-vocabulary Semantic Segmentation with Frozen"),
        # A title opening with a slogan; its abstract names the method.
        ("What is StructTuning?", "Educating LLMs like Human Students"),
    ],
)
def test_a_capitalised_name_an_abstract_coins_names_its_paper(ingested, question, title) -> None:
    (top, *_) = ingested.retriever.search(question, k=5)
    assert top.named and top.title.startswith(title)
    # The common word it is stemmed as names nothing.
    assert not any(h.named for h in ingested.retriever.search("early fusion of modalities", k=5))


def test_the_name_of_the_code_a_paper_releases_names_it(ingested) -> None:
    # The CLIP paper's title holds no name; its abstract writes "CLIP" only in the address of
    # the code it releases, and dozens of other papers use CLIP: it is still CLIP's paper.
    clip = "Learning Transferable Visual Models From Natural Language Supervision"
    asked = ("What is CLIP?", "Which paper introduced CLIP?", "How was CLIP trained?")
    # Another name and the comparing words ask nothing of CLIP's abstract: ALIGN is no paper here.
    for question in (*asked, "How does CLIP differ from ALIGN?"):
        (top, *_) = ingested.retriever.search(question, k=5)
        assert top.named and top.title == clip, question
        assert top.lacks_names is ("ALIGN" in question)  # it holds the name it releases
    # Dozens of papers use CLIP: a question about one of them does not name CLIP's paper.
    for question in (
        "Which medical papers fine-tune CLIP?",
        "Which paper aligns CLIP with 3D point clouds?",
    ):
        assert not any(h.named for h in ingested.retriever.search(question, k=5)), question


def test_papers_asked_for_by_what_they_do_with_a_named_paper_are_not_it(ingested) -> None:
    # "Which papers build on ELECTRA?": ELECTRA is what they build on; DeBERTaV3 does.
    (top, *_) = ingested.retriever.search("Which papers build on ELECTRA?", k=5)
    assert not top.named and top.title.startswith("DeBERTaV3")
    hits = ingested.retriever.search("Which papers use CLIP?", k=5)
    assert not any(h.named for h in hits)
    assert hits[0].title != "Learning Transferable Visual Models From Natural Language Supervision"
    # A paper named before the verb is still named.
    (named, *_) = ingested.retriever.search(
        "Which papers besides ELECTRA use a discriminator?", k=5
    )
    assert named.named and named.title.startswith("ELECTRA")


def test_papers_using_a_named_paper_lead_and_its_own_paper_is_left_out(ingested) -> None:
    search = ingested.retriever.search
    # BART's own paper writes "BART" most; the question asks for the one summarising with it.
    hits = search("Which papers build on BART?", k=5)
    assert hits[0].holds_names and hits[0].title.startswith("Summarizing Patients Problems")
    assert not any(h.title.startswith("BART:") for h in hits)
    # Fetched though retrieval ranks it nowhere near: the question says nothing but the name.
    (top, *_) = search("Which papers compare with ALBEF?", k=5)
    assert top.holds_names and top.title.startswith("Set-level Guidance Attack")
    assert not any(
        h.title.startswith("Align before Fuse")
        for h in search("Which papers compare with ALBEF?", k=5)
    )
    # Only UNITER's own paper writes it: none leads, and UNITER's is still left out.
    hits = search("Which papers use UNITER?", k=5)
    assert not any(h.holds_names or h.title.startswith("UNITER") for h in hits)
    # Papers a question calls by the words of their name, not by one written as a name, stay.
    hits = search("Which papers build large Chinese web text datasets for pre-training?", k=5)
    assert {h.title[:16] for h in hits[:2]} == {"ChineseWebText 2", "Chinesewebtext: "}
    # "ELECTRA-style pre-training" is a kind of pre-training, ELECTRA's own among it.
    hits = search("Which papers use ELECTRA-style pre-training?", k=5)
    assert any(h.title.startswith("ELECTRA:") for h in hits)


def test_papers_using_a_name_without_a_paper_of_its_own_are_the_ones_writing_it(ingested) -> None:
    # No paper of the collection is GPT-4's, yet a few write it: they are the answer.
    hits = ingested.retriever.search("Which works rely on GPT-4 for data generation?", k=5)
    assert hits and all(h.holds_names for h in hits), [h.title for h in hits]
    # "Llama-3" writes LLaMA: the paper continually pre-training Llama-3 is among them.
    hits = ingested.retriever.search("Which papers fine-tune LLaMA?", k=5)
    assert all(h.holds_names for h in hits)
    assert any(h.title.startswith("Towards Effective and Efficient Continual") for h in hits)


def test_a_paper_whose_title_holds_the_name_inside_its_own_uses_it(ingested) -> None:
    # "Medical mT5" is not mT5's own paper: it is one built on mT5.
    hits = ingested.retriever.search("Which papers use mT5?", k=5)
    assert any(h.title.startswith("Medical mT5") for h in hits), [h.title for h in hits]


def test_a_paper_named_after_what_it_builds_on_uses_it(ingested) -> None:
    # ConceptCLIP's abstract never writes "CLIP" alone; its name is built on it.
    hits = ingested.retriever.search("Which papers build on CLIP for medical images?", k=5)
    assert any(h.title.startswith("ConceptCLIP") for h in hits), [h.title for h in hits]
    assert all(h.holds_names for h in hits)


def test_how_papers_relate_to_a_name_is_no_term_they_must_hold() -> None:
    assert distinctive_terms("Which papers cite ELECTRA?") == ["electra"]
    assert distinctive_terms("What papers rely on GPT-4 for grading?") == ["gpt", "4", "grade"]
    # Without a name, the verb is what the papers do.
    assert "extend" in distinctive_terms("Which papers extend the context window?")
    # Asked for by a name they use: one right after the verb, not an example further on.
    assert used_by_asked("Which papers use the ViT backbone?") == "the ViT backbone?"
    assert used_by_asked("Which papers fine-tune models with few parameters, like SVFit?") is None


@pytest.mark.parametrize(
    ("question", "title"),
    [
        # Misspelt by a letter, in lower case, and not among the papers retrieval found.
        ("what is brigdetower", "BridgeTower: Building Bridges"),
        ("what is zecolor", "Zero-Shot Code Representation Learning"),
    ],
)
def test_a_misspelt_name_of_a_paper_retrieval_missed_names_it(ingested, question, title) -> None:
    (top, *_) = ingested.retriever.search(question, k=5)
    assert top.named and top.title.startswith(title)


def test_a_word_of_the_collection_is_no_misspelt_name(ingested) -> None:
    # "selfies" is a word of SELFormer's abstract, a letter from Selfie's name: no typo.
    for question in ("What are selfies used for in chemistry?", "How do I cook risotto?"):
        assert not any(h.named for h in ingested.retriever.search(question, k=5)), question


def test_the_one_paper_whose_title_holds_the_questions_phrase_leads(ingested) -> None:
    # A shorter abstract saying "speech translation" twice wins BM25; the paper on it leads.
    for question in ("Tell me about speech translation", "video moment retrieval"):
        (top, *_) = ingested.retriever.search(question, k=5)
        assert "Speech Translation" in top.title or "Video Moment Retrieval" in top.title
    # A name still decides; one term alone decides nothing.
    (named, *_) = ingested.retriever.search("What does ELECTRA do for speech translation?", k=5)
    assert named.title.startswith("ELECTRA")


def test_a_paper_called_by_a_word_of_its_title_is_named_beside_the_others(ingested) -> None:
    question = "Compare GLSCL, TVTS and the Banzhaf paper on text-video retrieval"
    hits = ingested.retriever.search(question, k=5)
    assert [h.named for h in hits[:4]] == [True, True, True, False]
    assert "Banzhaf" in hits[2].title  # in the order the question calls them
    (top, second, *_) = ingested.retriever.search("How does the Banzhaf paper compare with GLSCL?")
    assert "Banzhaf" in top.title and top.named and second.named


def test_a_versioned_name_names_its_paper_and_the_bare_name_its_own_first(ingested) -> None:
    search = ingested.retriever.search
    # ChineseWebText 2.0 also carries "ChineseWebText", the name of the paper before it.
    (top, second, *_) = search("What is ChineseWebText 2.0?", k=5)
    assert top.title.startswith("ChineseWebText 2.0") and top.named and not second.named
    (top, second, *_) = search("What is ChineseWebText?", k=5)
    assert top.title.startswith("Chinesewebtext:") and top.named and second.named
    (top, second, *_) = search("Compare ChineseWebText and ChineseWebText 2.0", k=5)
    assert top.title.startswith("Chinesewebtext:") and second.title.startswith("ChineseWebText 2")


def test_titled_first_moves_only_the_one_titled_paper() -> None:
    hits = [
        Hit("a", "Augmentation Invariant Units", 0.3, ""),
        Hit("b", "Pre-training for Speech Translation", 0.2, ""),
    ]
    assert [h.paper_id for h in titled_first("Tell me about speech translation", hits)] == [
        "b",
        "a",
    ]
    two = [*hits, Hit("c", "Speech Translation at Scale", 0.1, "")]
    assert titled_first("speech translation", two) == two  # two titles hold it: no lead
    assert titled_first("translation", hits) == hits  # one term


def test_hits_carry_their_coverage_of_the_question(ingested) -> None:
    hits = ingested.retriever.search("replaced token detection pre-training", k=3)
    assert all(h.coverage is not None and 0.0 <= h.coverage <= 1.0 for h in hits)
    assert hits[0].coverage == 1.0
    (off,) = ingested.retriever.search("Which paper detects sarcasm in tweets?", k=1)
    assert off.coverage is not None and off.coverage < 0.5  # neither word is in the corpus


def test_coverage_weighs_distinctive_terms_and_ignores_question_words() -> None:
    terms = distinctive_terms("Which paper proposes a method for counting crowds in images?")
    assert terms == ["count", "crowd", "imag"]  # stemmed; no "paper", "propose", "method"
    weights = {"count": 6.0, "crowd": 6.0, "imag": 1.0}
    assert coverage(terms, weights, "Image models count cars.") == pytest.approx(7 / 13)
    assert coverage(terms, weights, "Counting the crowd in an image") == 1.0
    assert coverage([], weights, "anything") == 1.0
    # One word family the stemmer leaves apart ("molecul", "molecular") is one term; short
    # stems ("medic", "medicin") and longer extensions are not.
    family = {"molecul": 1.0, "synthes": 1.0}
    assert coverage(["molecul", "synthes"], family, "Molecular speech synthesis") == 1.0
    assert coverage(["medic"], {"medic": 1.0}, "medicine") == 0.0
    assert coverage(["transform"], {"transform": 1.0}, "TransformerXL") == 0.0  # a name
    # How a question says what a paper is about is no part of the topic.
    assert distinctive_terms("Which paper talks about Maltese?") == ["maltes"]
    # ... nor how a user asks the collection itself.
    assert distinctive_terms("Does the collection have anything on time series forecasting?") == [
        "time",
        "seri",
        "forecast",
    ]
    assert distinctive_terms("Tell me about speech translation.") == ["speech", "translat"]
    # "Which papers build ..." says that a paper does it, as "use" does: "Building Bridges"
    # in a title is no part of a text-to-SQL topic.
    assert distinctive_terms("Which papers build text-to-SQL models?") == ["text", "sql"]
    # "CLIP-style" asks about CLIP: the suffix is no topic of its own (alone it is one).
    assert distinctive_terms("CLIP-style models for medical images") == ["clip", "medic", "imag"]
    assert distinctive_terms("style transfer") == ["style", "transfer"]
    # Nor how a question asks for a definition or a reading: "mean", "read", "learn".
    assert distinctive_terms("What does replaced token detection mean?") == [
        "replac",
        "token",
        "detect",
    ]
    question = "Which paper should I read to learn about continual pre-training?"
    assert distinctive_terms(question) == ["continu", "pre", "train"]
    assert distinctive_terms("I want to know about speech tokenizers") == ["speech", "token"]
    assert distinctive_terms("What is the abstract of HostileNet?") == ["hostilenet"]
    # ... but "mean" in a question about it, and "stand for", which its answer says, stay.
    assert "mean" in distinctive_terms("Which paper uses a mean teacher?")
    assert "stand" in distinctive_terms("What does POA stand for?")


def test_a_question_asking_what_a_term_means_is_covered_by_its_paper(ingested) -> None:
    question = "What does replaced token detection mean?"
    (electra, *_) = ingested.retriever.search(question, k=5)
    assert electra.title.startswith("ELECTRA:") and electra.coverage == pytest.approx(1.0)


def test_a_question_with_or_is_read_once_per_alternative() -> None:
    def read(question: str) -> list[list[str]]:
        return readings(question, distinctive_terms(question))

    # Both verbs act on "large models": each reading keeps those words.
    assert read("Which papers quantize or sparsify large models?") == [
        ["quantiz", "larg"],
        ["sparsifi", "larg"],
    ]
    # Alternatives of several words: as many words on each side of "or".
    assert read("Which papers do visual place recognition or 3D scene editing?") == [
        ["visual", "place", "recognit"],
        ["3d", "scene", "edit"],
    ]
    # A word that is also outside its alternative stays in both readings.
    assert read("graph neural networks or graph foundation models") == [
        ["graph", "neural", "network"],
        ["graph", "foundat"],
    ]
    # A stop word right after "or" opens the second alternative, as one opened the first.
    assert read("images at 4K resolution or from bilingual prompts") == [
        ["imag", "4k", "resolut"],
        ["imag", "bilingu", "prompt"],
    ]
    # No word on one side, or no "or": one reading, all the terms.
    assert read("Is ELECTRA good or not?") == [["electra", "good"]]
    assert read("Which paper detects sarcasm in tweets?") == [["detect", "sarcasm", "tweet"]]


def test_a_paper_holding_one_alternative_covers_the_question(ingested) -> None:
    # GPTQ quantizes and never sparsifies: read with "quantize" it holds enough of the
    # question to answer it, read as one topic it does not.
    question = "Which papers quantize or sparsify large models?"
    hits = ingested.retriever.search(question, k=5)
    gptq = next(h for h in hits if h.title.startswith("GPTQ:"))
    enough = Settings().answer.coverage_threshold
    assert gptq.coverage is not None and gptq.coverage >= enough, gptq.coverage
    terms = distinctive_terms(question)
    chunks, df = ingested.index.document_frequencies([term_id(t) for t in terms])
    weights = {t: idf(t, df, chunks) for t in terms}
    text = " ".join((gptq.title, *gptq.chunks, gptq.text))
    assert coverage(terms, weights, text) < enough


def test_a_name_the_paper_writes_out_counts_in_its_coverage(ingested) -> None:
    # xRAG writes "retrieval-augmented generation", never "RAG"; the name check already
    # takes it for RAG, and so does coverage: one of the question's rarest words is held.
    question = "Can retrieved documents be squeezed into a single token for RAG?"
    hits = ingested.retriever.search(question, k=5)
    xrag = next(h for h in hits if h.title.startswith("xRAG:"))
    assert not xrag.lacks_names
    terms = distinctive_terms(question)
    chunks, df = ingested.index.document_frequencies([term_id(t) for t in terms])
    weights = {t: idf(t, df, chunks) for t in terms}
    text = " ".join((xrag.title, *xrag.chunks, xrag.text))
    literal = coverage(terms, weights, text)
    assert xrag.coverage == pytest.approx(literal + weights["rag"] / sum(weights.values()))


def test_filters_by_source_and_date(ingested) -> None:
    only5 = Filters(sources=("listing-5-jan-8.txt",))
    hits = ingested.retriever.search("vision-language pre-training", k=8, filters=only5)
    assert hits and all("listing-5-jan-8.txt" in h.sources for h in hits)
    recent = Filters(date_from="2025-01-01")
    hits = ingested.retriever.search("speech", k=5, filters=recent)
    assert hits and all(h.date and h.date >= "2025-01-01" for h in hits)


def test_bad_queries_are_refused_clearly(ingested) -> None:
    with pytest.raises(BadQuestionError, match="empty"):
        ingested.retriever.search("   ")
    with pytest.raises(ConfigError, match="allowed: hybrid, dense, sparse"):
        ingested.retriever.search("speech", mode="fuzzy")


def test_search_json_contract(index_copy: Settings, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PAPERCHAT_DATA_DIR", str(index_copy.data_dir))
    assert main(["search", "replaced token detection", "--k", "3", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["rank"] for r in records] == [1, 2, 3]
    assert set(records[0]) == {"rank", "paper_id", "title", "score", "text"}
    assert records[0]["title"].startswith("ELECTRA")
    assert "replaced token detection" in records[0]["text"]


def _covering(title: str, cover: float, *, named: bool = False) -> Hit:
    return Hit(paper_id=title, title=title, score=0.0, text="", coverage=cover, named=named)


@pytest.mark.parametrize(
    ("covers", "named", "order"),
    [
        # The paper holding every term leads the one holding half of them ...
        ((0.52, 1.0, 0.52), False, ["b", "a", "c"]),
        # ... also from further down the top five ("rnns embed text", three words of an
        # abstract, was another paper's by fusion) ...
        ((0.56, 0.32, 1.0), False, ["c", "a", "b"]),
        ((0.3, 0.2, 0.5, 0.4, 0.95, 1.0), False, ["e", "a", "b", "c", "d", "f"]),
        # ... not one holding somewhat more, nor one holding most but not all of them, nor one
        # below the top five ...
        ((0.7, 1.0, 0.5), False, ["a", "b", "c"]),
        ((0.3, 0.85, 0.5), False, ["a", "b", "c"]),
        ((0.3, 0.2, 0.5, 0.4, 0.5, 1.0), False, ["a", "b", "c", "d", "e", "f"]),
        # ... and a paper the question names keeps its lead.
        ((0.2, 1.0, 0.5), True, ["a", "b", "c"]),
    ],
)
def test_the_paper_holding_the_questions_terms_leads_one_holding_far_fewer(
    covers: tuple[float, ...], named: bool, order: list[str]
) -> None:
    titles = "abcdef"[: len(covers)]
    hits = [_covering(t, c, named=named and t == "a") for t, c in zip(titles, covers, strict=True)]
    assert [h.title for h in covering_first(hits)] == order


def _keyword_queries():
    path = Path(__file__).parents[1] / "eval" / "keyword_queries.py"
    spec = importlib.util.spec_from_file_location("keyword_queries", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_keyword_queries_are_a_few_words_of_their_papers_abstract(ingested) -> None:
    module = _keyword_queries()
    queries = module.draw(ingested.settings, 20, seed=3)
    assert queries == module.draw(ingested.settings, 20, seed=3)  # the same set every run
    assert len(queries) >= 15 and len({q.paper_id for q in queries}) == len(queries)
    papers, _ = load_papers(ingested.settings.corpus.paths)
    abstracts = {p.paper_id: p.abstract.lower() for p in papers}
    for query in queries:
        words = query.text.split()
        assert 3 <= len(words) <= 5
        assert all(w in abstracts[query.paper_id] for w in words), query
        assert not set(words) & module._FILLER
    mrr, r1, r5 = module.scores(ingested.retriever, queries, "sparse", 10)
    assert 0 < r1 <= r5 <= 1 and r1 <= mrr <= 1


def test_a_hyphenated_word_is_held_written_closed_up_too() -> None:
    # The stemmer keeps "pre-training" ("pre", "train") and "pretraining" ("pretrain") apart.
    assert "pretrain" in held_words("Medical vision-language pre-training.", "pretraining")
    assert {"pre", "train"} <= held_words("Pretraining at scale.", "What is pre-training?")
    assert "multimod" in held_words("A multi-modal model.", "multimodal models")
    # Only the question's hyphenated words are read apart: "training" alone is no "pre".
    assert "pre" not in held_words("Pretraining at scale.", "What is training?")


def test_a_paper_writing_the_other_form_of_a_hyphenated_word_covers_it(ingested) -> None:
    hits = ingested.retriever.search("Which papers do medical vision-language pretraining?", k=5)
    unifier = next(h for h in hits if h.title.startswith("Towards Unifying Medical Vision"))
    assert unifier.coverage == 1.0  # its title writes "Pre-training"


def test_asking_for_pros_and_cons_or_an_explanation_is_no_term_a_paper_must_hold() -> None:
    asked = "What are the pros and cons of synthetic data?"
    assert distinctive_terms(asked) == ["synthet", "data"]
    assert distinctive_terms("Strengths and weaknesses of ELECTRA?") == ["electra"]
    looking = "I'm looking for good references on speech tokenizers"
    assert distinctive_terms(looking) == ["speech", "token"]
    # Only as such phrases: the words alone are terms of other questions.
    assert distinctive_terms("Which objects look like animals?") == [
        "object",
        "look",
        "like",
        "anim",
    ]
    assert distinctive_terms("Which papers study recommendation?") == ["recommend"]
    assert distinctive_terms("explain uniter") == ["unit"]
    assert distinctive_terms("Can you briefly summarize the GPTQ paper?") == ["gptq"]
    # Not a request opening the question: papers explaining predictions.
    assert "explain" in distinctive_terms("Which papers explain model predictions?")
