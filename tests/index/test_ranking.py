from appsync.index.ranking import fuse, lexical_terms


def test_lexical_terms_drop_stopwords_and_punctuation() -> None:
    """Query terms are lower-cased words without stopwords, duplicates or punctuation."""
    assert ["create", "refund", "charge"] == lexical_terms(
        "How do I create a Refund for a charge? refund!"
    )


def test_lexical_terms_keep_a_query_of_only_stopwords() -> None:
    """A query made only of stopwords still searches with its words."""
    assert ["who", "are", "you"] == lexical_terms("Who are you")


def test_lexical_terms_cannot_carry_fulltext_syntax() -> None:
    """Quotes, operators and parentheses never reach the full-text engine."""
    assert ["refunds", "near", "x", "y"] == lexical_terms('"refunds" NEAR(x OR y) *:-^')


def test_fuse_ranks_an_item_high_in_both_lists_first() -> None:
    """An item second in both lists beats items first in only one."""
    fused = fuse([("a", 9.0), ("both", 5.0)], [("b", 0.9), ("both", 0.8)], lexical_weight=1.0)
    assert ["both", "a", "b"] == [uid for uid, _ in fused]


def test_fuse_weights_change_the_order() -> None:
    """A heavier vector weight puts the vector list's first item above the lexical one's."""
    fused = fuse([("a", 1.0)], [("b", 1.0)], lexical_weight=1.0, vector_weight=2.0)
    assert ["b", "a"] == [uid for uid, _ in fused]


def test_fuse_scores_are_reciprocal_ranks() -> None:
    """The fused score is the sum of weight / (k + rank) over the lists."""
    fused = dict(fuse([("x", 0.0)], [("y", 0.0), ("x", 0.0)], rrf_k=10, lexical_weight=0.5))
    assert {"x": 0.5 / 11 + 1 / 12, "y": 1 / 11} == fused


def test_fuse_of_empty_lists_is_empty() -> None:
    """Nothing in, nothing out."""
    assert [] == fuse([], [])
