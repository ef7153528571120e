"""What a search asks for, what it returns, and how the text becomes clauses."""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass, field
from itertools import islice, pairwise

from hub.search.columnar import Clause

SORTS = ("relevance", "downloads", "rating", "newest")
KIND_CHOICES = ("model", "article")
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
    # "model", "article", or None for both (one ranking). Type and base-model filters only
    # models can pass; creator (an article's author), tags and nsfw apply to both.
    kind: str | None = "model"

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in KIND_CHOICES:
            raise SearchError(
                f"kind: must be one of {', '.join(KIND_CHOICES)} (or none for both), got {self.kind!r}"
            )
        if self.sort not in SORTS:
            raise SearchError(f"sort: must be one of {', '.join(SORTS)}, got {self.sort!r}")
        if self.page < 1:
            raise SearchError("page: must be >= 1")
        if not 1 <= self.page_size <= 200:
            raise SearchError("page_size: must be between 1 and 200")


@dataclass
class SearchResult:
    ids: list[int]  # the page's model (or article) ids, best first
    total: int  # matches of the asked kind
    page: int
    page_size: int
    fuzzy_used: bool = False
    expanded: dict[str, list[str]] = field(default_factory=dict)
    kinds: list[str] = field(default_factory=list)  # the kind of each of `ids`
    facets: dict[str, int] = field(default_factory=dict)  # matches per kind, whatever kind was asked


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
        is_last = index == len(matches) - 1 and not text.endswith((" ", "\t"))
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


def prefix_terms(reader, prefix: str) -> list[str]:
    """The most frequent completions of `prefix` among title words (name, tags, trained words),
    capped: an uncapped `vin*` over every description word once took 1.7 s."""
    candidates = islice(reader.iter_prefix("name", prefix), PREFIX_SCAN_TERMS)
    best = heapq.nlargest(PREFIX_MAX_TERMS, candidates, key=lambda item: item[1].doc_frequency())
    return [term.decode("utf-8") if isinstance(term, bytes) else term for term, _ in best]


def fuzzy_terms(reader, word: str) -> list[str]:
    """Terms within one edit of `word` (same first letter), most frequent first, capped. Title
    words first (a small vocabulary: fast); every indexed word only when no title word is near."""
    near = list(reader.terms_within("name", word, 1, prefix=1)) or list(
        reader.terms_within("content", word, 1, prefix=1)
    )
    near.sort(key=lambda t: -(reader.doc_frequency("name", t) + reader.doc_frequency("content", t)))
    return near[:FUZZY_MAX_TERMS]


def build_clauses(parsed: ParsedText, reader, force_fuzzy: bool = False) -> tuple[list[Clause] | None, dict]:
    """Clauses for the parsed text (None: no text at all; a clause with no terms matches nothing)."""
    clauses: list[Clause] = []
    expanded: dict[str, list[str]] = {}
    fuzzy_words = list(parsed.fuzzy_words)
    for word in parsed.words:
        if force_fuzzy and not (reader.doc_frequency("name", word) or reader.doc_frequency("content", word)):
            fuzzy_words.append(word)
        else:
            clauses.append(Clause((word,)))
    for word in fuzzy_words:
        terms = fuzzy_terms(reader, word)
        expanded[word + "~"] = terms
        clauses.append(Clause(tuple(terms)))
    for phrase in parsed.phrases:
        for first, second in pairwise(phrase):
            clauses.append(Clause((f"{first} {second}",), field="pairs"))
    if parsed.prefix is not None:
        terms = prefix_terms(reader, parsed.prefix)
        expanded[parsed.prefix + "*"] = terms
        clauses.append(Clause(tuple(terms)))
    if not clauses:
        return None, expanded
    return clauses, expanded
