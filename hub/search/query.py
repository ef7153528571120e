"""What a search asks for, what it returns, and how the text becomes a Whoosh query."""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass, field
from itertools import islice

from whoosh.query import And, Or, Phrase, Query, Term

SORTS = ("relevance", "downloads", "rating", "newest")
NAME_BOOST = 3.0
PREFIX_MAX_TERMS = 12  # a prefix expands to at most this many terms (the most frequent ones)
PREFIX_SCAN_TERMS = 3000  # ... chosen among at most this many candidates
FUZZY_MAX_TERMS = 6
_TOKENS = re.compile(r'"([^"]*)"|(\S+)')


class SearchError(ValueError):
    """A search parameter is invalid (the message names it)."""


@dataclass(frozen=True)
class SearchQuery:
    text: str = ""
    types: tuple[str, ...] = ()
    base_models: tuple[str, ...] = ()
    creator: str | None = None
    tags: tuple[str, ...] = ()
    nsfw: bool | None = None  # None: any; False: hide NSFW; True: only NSFW
    sort: str = "relevance"
    page: int = 1
    page_size: int = 20
    as_you_type: bool = False  # the last word is still being typed: match it as a prefix
    fuzzy: bool = True  # when nothing matches, retry allowing one typo per word

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise SearchError(f"sort: must be one of {', '.join(SORTS)}, got {self.sort!r}")
        if self.page < 1:
            raise SearchError("page: must be >= 1")
        if not 1 <= self.page_size <= 200:
            raise SearchError("page_size: must be between 1 and 200")


@dataclass
class SearchResult:
    ids: list[int]
    total: int
    page: int
    page_size: int
    total_is_estimate: bool = False
    fuzzy_used: bool = False
    expanded: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class ParsedText:
    words: tuple[str, ...]
    phrases: tuple[tuple[str, ...], ...]
    fuzzy_words: tuple[str, ...]
    prefix: str | None


def parse_text(text: str, analyzer, as_you_type: bool) -> ParsedText:
    """Split `text` into words, "quoted phrases", word~ (typo allowed) and a trailing prefix."""

    def analyse(chunk: str) -> list[str]:
        return [t.text for t in analyzer(chunk)]

    words: list[str] = []
    phrases: list[tuple[str, ...]] = []
    fuzzy: list[str] = []
    matches = list(_TOKENS.finditer(text))
    prefix = None
    for index, match in enumerate(matches):
        phrase, word = match.group(1), match.group(2)
        if phrase is not None:
            tokens = analyse(phrase)
            if len(tokens) > 1:
                phrases.append(tuple(tokens))
            else:
                words.extend(tokens)
            continue
        is_last = index == len(matches) - 1 and not text[match.end() :].strip() and not text.endswith(" ")
        if word.endswith("~"):
            fuzzy.extend(analyse(word[:-1]))
        elif as_you_type and is_last:
            tokens = [t.text for t in analyzer(word, removestops=False)]
            if tokens:
                words.extend(tokens[:-1])
                prefix = tokens[-1]
        else:
            words.extend(analyse(word))
    return ParsedText(tuple(words), tuple(phrases), tuple(fuzzy), prefix)


def _word_clause(term: str) -> Query:
    return Or([Term("name", term, boost=NAME_BOOST), Term("content", term)])


def _any_of(terms: list[str]) -> Query | None:
    if not terms:
        return None
    return Or([clause for t in terms for clause in (Term("name", t, boost=NAME_BOOST), Term("content", t))])


def prefix_terms(reader, prefix: str) -> list[str]:
    candidates = islice(reader.iter_prefix("content", prefix), PREFIX_SCAN_TERMS)
    best = heapq.nlargest(PREFIX_MAX_TERMS, candidates, key=lambda item: item[1].doc_frequency())
    return [term.decode("utf-8") if isinstance(term, bytes) else term for term, _ in best]


def fuzzy_terms(reader, word: str) -> list[str]:
    near = [t for t in reader.terms_within("content", word, 1, prefix=1)]
    near.sort(key=lambda t: -reader.doc_frequency("content", t))
    return near[:FUZZY_MAX_TERMS]


def build_text_query(parsed: ParsedText, reader, force_fuzzy: bool = False) -> tuple[Query | None, dict]:
    """The Whoosh query for the parsed text (None when there is no text), and the expansions."""
    clauses: list[Query] = []
    expanded: dict[str, list[str]] = {}
    fuzzy_words = list(parsed.fuzzy_words)
    for word in parsed.words:
        if force_fuzzy and reader.doc_frequency("content", word) == 0:
            fuzzy_words.append(word)
        else:
            clauses.append(_word_clause(word))
    for word in fuzzy_words:
        terms = fuzzy_terms(reader, word)
        expanded[word + "~"] = terms
        clause = _any_of(terms)
        if clause is None:
            return Or([]), expanded  # a word that matches nothing, even with a typo
        clauses.append(clause)
    for phrase in parsed.phrases:
        clauses.append(Phrase("content", list(phrase)))
    if parsed.prefix is not None:
        terms = prefix_terms(reader, parsed.prefix)
        expanded[parsed.prefix + "*"] = terms
        clause = _any_of(terms)
        if clause is None:
            return Or([]), expanded
        clauses.append(clause)
    if not clauses:
        return None, expanded
    return (clauses[0] if len(clauses) == 1 else And(clauses)), expanded
