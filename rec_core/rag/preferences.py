"""What a chat message says the user likes and dislikes, per mention, and the hard constraints it implies.

A message is cut into spans: at sentence ends, semicolons, commas, and the words "and" / "but" / "however"
/ "while" / "whereas" / "though" / "yet" — never inside a matched title. Every mentioned title and genre takes
the polarity of its own span, from rule cues ("loved", "hated", "adored", "don't like", "not", "boring", …;
a negation flips the cue that follows it). A span without any cue takes the polarity of the previous span of
the same sentence ("I loved Alien and Aliens"), and otherwise the sentiment scorer's P(positive) of the span.

Constraints (`Preferences.allows`) are a hard filter on recommendations: disliked titles, their franchise
(`franchise_key`: the title stem before a colon, a sequel number or "and the …"), the mentioned titles
themselves, and excluded genres ("I don't like horror movies", "but not animated") are never recommended.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rec_core.rag.titles import normalise_title

# canonical genre -> the catalogue genre names it covers (MovieLens and TMDB spell some differently)
GENRE_GROUPS: dict[str, set[str]] = {
    "Action": {"Action"},
    "Adventure": {"Adventure"},
    "Animation": {"Animation"},
    "Children": {"Children", "Family"},
    "Comedy": {"Comedy"},
    "Crime": {"Crime"},
    "Documentary": {"Documentary"},
    "Drama": {"Drama"},
    "Fantasy": {"Fantasy"},
    "Film-Noir": {"Film-Noir"},
    "Horror": {"Horror"},
    "Musical": {"Musical", "Music"},
    "Mystery": {"Mystery"},
    "Romance": {"Romance"},
    "Sci-Fi": {"Sci-Fi", "Science Fiction"},
    "Thriller": {"Thriller"},
    "War": {"War"},
    "Western": {"Western"},
    "History": {"History"},
}
# words people use for a genre (lower case, matched as whole words)
_GENRE_WORDS: list[tuple[str, str]] = [
    (r"horror|horrors|scary|slasher|slashers|gore|gory|zombies?|vampires?|ghost stor(?:y|ies)", "Horror"),
    (r"animated|animation|animations|cartoon|cartoons|anime|pixar", "Animation"),
    (r"comedy|comedies|funny|rom-?coms?", "Comedy"),
    (r"romance|romances|romantic|love stor(?:y|ies)|rom-?coms?", "Romance"),
    (r"sci-?fi|science fiction|science-fiction", "Sci-Fi"),
    (r"action", "Action"),
    (r"adventure|adventures", "Adventure"),
    (r"thriller|thrillers|suspense", "Thriller"),
    (r"drama|dramas", "Drama"),
    (r"documentary|documentaries|docs", "Documentary"),
    (r"musical|musicals", "Musical"),
    (r"western|westerns", "Western"),
    (r"war movies?|war films?", "War"),
    (r"crime|gangster|gangsters|heist", "Crime"),
    (r"mystery|mysteries|whodunit|whodunits", "Mystery"),
    (r"fantasy|fantasies", "Fantasy"),
    (r"kids'? movies?|kids|children's|children|family movies?|family films?", "Children"),
    (r"film[- ]noir|noir", "Film-Noir"),
]
_GENRE_RE = re.compile(
    r"(?<![\w-])(?:" + "|".join(f"(?P<g{i}>{p})" for i, (p, _) in enumerate(_GENRE_WORDS)) + r")(?![\w-])",
    re.IGNORECASE,
)

# rule cues; each matched as whole words on the lower-cased span (longer phrases first)
_POSITIVE = [
    r"loved",
    r"love",
    r"loving",
    r"adored?",
    r"enjoyed",
    r"enjoy",
    r"liked",
    r"like",
    r"likes",
    r"into",
    r"fan of",
    r"favou?rites?",
    r"great",
    r"amazing",
    r"awesome",
    r"brilliant",
    r"fantastic",
    r"excellent",
    r"wonderful",
    r"masterpiece",
    r"beautiful",
    r"superb",
    r"perfect",
    r"good",
    r"best",
    r"classic",
    r"fun",
    r"gripping",
    r"moving",
    r"similar to",
    r"in the mood for",
    r"want",
    r"prefer",
    r"more of",
    r"blew me away",
    r"blew my mind",
    r"dig",
    r"cherish",
    r"appreciated?",
    r"rewatch(?:ed)?",
    r"recommend",
    r"(?:was|is) a blast",
    r"outstanding",
    r"riveting",
    r"stayed with me",
    r"moved me",
    r"gem",
    r"delight(?:ful|ed|s)?",
    r"charming",
    r"stunning",
    r"gorgeous",
    r"hilarious",
    r"heart-?warming",
    r"warmed my heart",
    r"touching",
    r"terrific",
    r"phenomenal",
    r"incredible",
    r"magnificent",
    r"enjoyable",
    r"lovely",
    r"clever",
    r"thrilling",
    r"thrill ride",
    r"captivating",
    r"mesmeri[sz]ing",
    r"unforgettable",
    r"flawless",
    r"stylish",
    r"slick",
    r"sharp",
    r"epic",
    r"sweet",
    r"a joy",
    r"pure joy",
    r"a treat",
    r"rocks",
    r"rocked",
    r"hooked",
    r"adrenaline",
    r"holds up",
    r"edge of my seat",
    r"in stitches",
    r"laughed",
    r"cheers? me up",
    r"sucker for",
    r"comfort (?:film|movie)",
    r"top notch",
    r"speechless",
    r"exceeded (?:my |all )?expectations",
    r"a riot",
    r"fine",
]
_NEGATIVE = [
    r"hated",
    r"hate",
    r"hates",
    r"disliked",
    r"dislike",
    r"detest(?:ed|s)?",
    r"despised?",
    r"loathed?",
    r"can'?t stand",
    r"cannot stand",
    r"couldn'?t stand",
    r"boring",
    r"bored me",
    r"dull",
    r"terrible",
    r"awful",
    r"horrible",
    r"worst",
    r"bad",
    r"overrated",
    r"sucked",
    r"sucks",
    r"garbage",
    r"trash",
    r"rubbish",
    r"disappointing",
    r"disappointed",
    r"disappointment",
    r"annoying",
    r"stupid",
    r"waste",
    r"fell asleep",
    r"walked out",
    r"avoid",
    r"skip",
    r"tedious",
    r"unwatchable",
    r"pointless",
    r"mess",
    r"meh",
    r"regret",
    r"cringe",
    r"too long",
    r"too slow",
    r"letdown",
    r"let me down",
    r"dumb",
    r"lame",
    r"forgettable",
    r"hated every",
    r"except",
    r"without",
    r"unlike",
    r"nothing like",
    r"no more",
    r"enough of",
    r"sick of",
    r"tired of",
    r"done with",
    r"tiresome",
    r"dragged",
    r"drags",
    r"dragged on",
    r"unbearable",
    r"insufferable",
    r"painful",
    r"chore",
    r"slog",
    r"cash grab",
    r"laughable",
    r"embarrassing",
    r"silly",
    r"lazy",
    r"hollow",
    r"bland",
    r"mediocre",
    r"weak",
    r"predictable",
    r"overlong",
    r"bleak",
    r"disaster",
    r"nightmare",
    r"underwhelm(?:ed|ing)",
    r"cringe-?y",
    r"unpleasant",
    r"gross",
    r"flop",
    r"sank",
    r"snooze",
    r"put me to sleep",
    r"checking my phone",
    r"could do without",
    r"cheesy",
    r"clich(?:e|é|ed|éd)",
    r"pretentious",
    r"shallow",
    r"soulless",
    r"dreadful",
    r"atrocious",
    r"abysmal",
    r"ridiculous",
    r"got old",
    r"away from me",
    r"i'?m over",
    r"i am over",
    r"spare me",
    r"no thanks",
    r"rehash",
    r"wore out its welcome",
    r"anything but",
    r"keep(?: \w+){1,3} away",
]
# phrases with a negation inside that mean the opposite of what the negation would make of them; tried first
_IDIOMS_POSITIVE = [
    r"can'?t get enough",
    r"cannot get enough",
    r"never gets? old",
    r"never gets? tired of",
    r"never fails? to",
    r"can'?t stop (?:thinking about|watching|rewatching|quoting)",
    r"not bad at all",
]
_NEGATION = (
    r"not|never|no|nothing|none|don'?t|doesn'?t|didn'?t|isn'?t|wasn'?t|won'?t|wouldn'?t|do not|did not|does not"
    r"|nor|hardly"
)


def _alt(words: list[str]) -> str:
    return "|".join(sorted(words, key=len, reverse=True))


_CUE_RE = re.compile(
    rf"(?<![\w'])(?:(?P<idiom>{_alt(_IDIOMS_POSITIVE)})|(?P<neg>{_NEGATION})|(?P<pos>{_alt(_POSITIVE)})"
    rf"|(?P<bad>{_alt(_NEGATIVE)}))(?![\w'])",
    re.IGNORECASE,
)
_SENTENCE_RE = re.compile(r"[.!?\n]+")
_SPAN_RE = re.compile(
    # "anything but romance" is one clause
    r"[;,:]\s*|(?<!anything)(?<!everything)\s+(?:and|but|however|whereas|although|though|while|yet|plus)\b\s*"
    r"|\s*[—–]\s*|\s+-\s+",
    re.IGNORECASE,
)


@dataclass
class Span:
    start: int
    end: int
    text: str
    polarity: int  # +1 liked, -1 disliked, 0 no cue
    sentence: int
    has_mention: bool = False  # holds a matched title or a genre word


def split_spans(text: str, protected: list[tuple[int, int]] = ()) -> list[Span]:
    """Cut `text` into spans at sentence ends and clause joints, never inside a `protected` (start, end) range."""

    def inside(i: int) -> bool:
        return any(s < i < e for s, e in protected)

    cuts: list[tuple[int, int, bool]] = []  # (start, end, ends a sentence)
    for m in _SENTENCE_RE.finditer(text):
        if not inside(m.start()):
            cuts.append((m.start(), m.end(), True))
    for m in _SPAN_RE.finditer(text):
        if not inside(m.start()) and not inside(m.end() - 1):
            cuts.append((m.start(), m.end(), False))
    cuts.sort()
    spans, pos, sentence = [], 0, 0
    for s, e, ends_sentence in cuts:
        if s < pos:
            continue
        if text[pos:s].strip():
            spans.append(Span(pos, s, text[pos:s], 0, sentence))
        pos = e
        sentence += ends_sentence
    if text[pos:].strip():
        spans.append(Span(pos, len(text), text[pos:], 0, sentence))
    return spans


def cue_polarity(text: str) -> int:
    """+1 / -1 / 0 from the rule cues of one span; a negation flips the next cue within three words, and a
    negation with no cue after it ("but not animated") is negative."""
    polarity, pending_neg = 0, None
    for m in _CUE_RE.finditer(text.replace("’", "'")):
        if m.group("neg"):
            pending_neg = m.end()
            continue
        cue = 1 if m.group("pos") or m.group("idiom") else -1
        if pending_neg is not None and len(text[pending_neg : m.start()].split()) <= 3:
            cue = -cue
        pending_neg = None
        polarity = cue  # the last cue of the span wins ("not bad, actually great")
    if polarity == 0 and pending_neg is not None:
        polarity = -1
    return polarity


def genre_mentions(text: str, skip: list[tuple[int, int]] = ()) -> list[tuple[int, int, str]]:
    """(start, end, canonical genre) of genre words in `text` outside the `skip` ranges (matched titles)."""
    out = []
    for m in _GENRE_RE.finditer(text):
        if any(s < m.end() and m.start() < e for s, e in skip):
            continue
        name = next(_GENRE_WORDS[int(k[1:])][1] for k, v in m.groupdict().items() if v is not None)
        out.append((m.start(), m.end(), name))
    return out


def genre_set(genres: str | None) -> set[str]:
    return {g.strip() for g in (genres or "").split(",") if g.strip()}


_SEQUEL_TAIL = re.compile(r"\s+(?:part\s+|chapter\s+|episode\s+|vol\s+|volume\s+)?(?:\d+|[ivx]+)$")


def franchise_key(title: str) -> str:
    """The series stem of a title: 'Transformers: Revenge of the Fallen' -> 'transformers', 'Toy Story 2' ->
    'toy story', 'Harry Potter and the Goblet of Fire' -> 'harry potter', 'Aliens' -> 'alien'."""
    t = str(title)
    t = re.sub(r"\s*\(.*\)\s*$", "", t)  # MovieLens alternative titles in brackets
    t = re.split(r":|\s+-\s+", t)[0]
    n = normalise_title(t)
    m = re.match(r"^(.+?) and the ", n)
    if m and len(m.group(1).split()) >= 2:
        n = m.group(1)
    n = _SEQUEL_TAIL.sub("", n).strip()
    if n.endswith("s") and len(n) > 4 and not n.endswith("ss"):
        n = n[:-1]
    return n


def same_franchise(key: str, title: str) -> bool:
    """True when `title` belongs to the series whose `franchise_key` is `key`."""
    if not key:
        return False
    if franchise_key(title) == key:
        return True
    n = normalise_title(re.sub(r"\s*\(.*\)\s*$", "", str(title)))
    # 'Transformers Age of Extinction' written without the colon; only stems long enough not to be a common word
    return len(key) >= 5 and (n.startswith(key + " ") or n.startswith(key + "s "))


@dataclass
class Preferences:
    mentions: list[dict] = field(default_factory=list)  # each: item_id, title, year, span, clause, sentiment, source
    liked_genres: list[str] = field(default_factory=list)
    excluded_genres: list[str] = field(default_factory=list)

    @property
    def liked(self) -> list[dict]:
        return [m for m in self.mentions if m["sentiment"] == "liked"]

    @property
    def disliked(self) -> list[dict]:
        return [m for m in self.mentions if m["sentiment"] == "disliked"]

    def excluded_genre_names(self) -> set[str]:
        return set().union(*(GENRE_GROUPS.get(g, {g}) for g in self.excluded_genres)) if self.excluded_genres else set()

    def violation(self, movie: dict) -> str | None:
        """Why `movie` (item_id, title, genres) must not be recommended, or None."""
        iid = int(movie["item_id"])
        for m in self.mentions:
            if iid == m["item_id"]:
                return f"mentioned ({m['sentiment']})"
        # another movie of the same name ("The Revenant", 2009 and 2015); titles come from the same store, so a
        # case-folded comparison finds them (normalise_title here cost ~20 ms a query over 1,000 candidates)
        name = str(movie["title"]).split(" (", 1)[0].casefold()  # MovieLens keeps other names in brackets
        for m in self.mentions:
            if name == str(m["title"]).split(" (", 1)[0].casefold():
                return f"same title as mentioned {m['title']} ({m['sentiment']})"
        for m in self.disliked:
            if same_franchise(franchise_key(m["title"]), movie["title"]):
                return f"franchise of disliked {m['title']}"
        bad = genre_set(movie.get("genres")) & self.excluded_genre_names()
        if bad:
            return "excluded genre " + ", ".join(sorted(bad))
        return None

    def allows(self, movie: dict) -> bool:
        return self.violation(movie) is None


_BEFORE_ADJECTIVE = {"in", "a", "an", "the", "so", "very", "too", "of", "at", "for", "is", "was", "were", "are", "be"}


def is_word_not_title(text: str, mention) -> bool:
    """A one-word lower-case match that is a cue or genre word ("perfect", "romance"), or follows a word that
    makes it an ordinary word ("in general", "was beautiful"), is not a movie title; nor is a longer match that
    starts with a cue and is lower case after its first word ("Never again ..."), nor a capitalised cue word that
    starts a sentence and goes on ("Nothing animated.")."""
    span = mention.span
    words = span.split()
    if len(words) > 1:
        # "Never again Battlefield Earth": a cue phrase capitalised only because it starts the sentence
        return all(w.islower() for w in words[1:]) and bool(_CUE_RE.match(span.replace("’", "'")))
    if not span.islower():
        # "Nothing animated.": a cue word capitalised because it starts the sentence, followed by more words
        starts_sentence = not text[: mention.start].strip() or bool(re.search(r"[.!?]\s*$", text[: mention.start]))
        rest = text[mention.end :].strip()
        return starts_sentence and bool(_CUE_RE.fullmatch(span.lower())) and bool(rest) and rest[0].isalpha()
    if _CUE_RE.fullmatch(span) or _GENRE_RE.fullmatch(span):
        return True
    before = text[: mention.start].split()
    return bool(before) and before[-1].lower().strip(",;") in _BEFORE_ADJECTIVE


def _at(spans: list[Span], i: int | None) -> Span | None:
    return spans[i] if i is not None else None


_FILLER = re.compile(r"\b(?:and|or|also|too|both|plus|as well|either|neither)\b|[^\w]+", re.IGNORECASE)


_BACK_REFERENCE = re.compile(r"\b(?:it|that one|this one)\b", re.IGNORECASE)


def _inherit(spans: list[Span], bare: list[bool], text: str) -> list[int]:
    """Each span's polarity. A span without a cue that is nothing but titles ("I loved Alien and Aliens"; "Titanic,
    Avatar and Cars were all dull") takes the resolved polarity of the previous span of its sentence or, failing
    that, of the next span of the sentence with a cue; a sentence that is only such a list ("Braveheart?") takes
    the next sentence's cue when that sentence names no title ("Fantastic."). A span without a cue that says
    something of its own ("Ocean's Eleven was slick; ...") is left to the scorer, except that a comment with no
    title of its own after a plain comma ("Terminator Salvation, not so much"), or after "and" when it points back
    ("X terrified me and I loved it"), speaks for it."""
    resolved: list[int] = []
    for i, sp in enumerate(spans):
        pol = sp.polarity
        same = [j for j in range(len(spans)) if spans[j].sentence == sp.sentence]
        if pol == 0 and bare[i]:
            if i > 0 and i - 1 in same:
                pol = resolved[-1]
            if pol == 0:
                pol = next((spans[j].polarity for j in same if j > i and spans[j].polarity), 0)
            if pol == 0 and all(bare[j] or not spans[j].polarity for j in same):
                nxt = [j for j in range(len(spans)) if spans[j].sentence == sp.sentence + 1]
                if nxt and not any(spans[j].has_mention for j in nxt):
                    pol = next((spans[j].polarity for j in nxt if spans[j].polarity), 0)
        elif pol == 0 and i + 1 in same:
            nxt, sep = spans[i + 1], text[sp.end : spans[i + 1].start].strip().lower()
            points_back = sep in ("and", ", and") and _BACK_REFERENCE.search(nxt.text)
            if (sep == "," or points_back) and not nxt.has_mention:
                pol = nxt.polarity
        resolved.append(pol)
    return resolved


def _mask_titles(text: str, span: Span | None, protected: list[tuple[int, int]], stand_in: str = "this movie") -> str:
    """The span (or the whole text) with every matched title replaced by `stand_in`."""
    start, end = (span.start, span.end) if span is not None else (0, len(text))
    out, pos = [], start
    for s, e in sorted(protected):
        if s >= start and e <= end and s >= pos:
            out += [text[pos:s], stand_in]
            pos = e
    out.append(text[pos:end])
    return "".join(out).strip()


def parse_preferences(text: str, mentions: list, scorer, positive_threshold: float = 0.5) -> Preferences:
    """mentions: `titles.Mention`s found in `text`; scorer: texts -> P(positive) for spans without a rule cue."""
    mentions = [m for m in mentions if not is_word_not_title(text, m)]
    # a title's own closing mark ("Mamma Mia!") is part of it, not the end of the sentence
    protected = [(m.start, m.end + (text[m.end : m.end + 1] == str(m.title)[-1:] in "!?.")) for m in mentions]
    spans = split_spans(text, protected)
    for sp in spans:
        # a title's own words are not cues ("Love Actually", "The Good, the Bad and the Ugly")
        masked = "".join(
            " " if any(s <= sp.start + i < e for s, e in protected) else ch for i, ch in enumerate(sp.text)
        )
        sp.polarity = cue_polarity(masked)
    genres = genre_mentions(text, protected)
    bare = []
    for sp in spans:
        titles = [(s, e) for s, e in protected if sp.start <= s < sp.end]
        sp.has_mention = bool(titles) or any(sp.start <= g < sp.end for g, _, _ in genres)
        rest = _mask_titles(text, sp, protected, stand_in=" ")
        bare.append(bool(titles) and not _FILLER.sub("", rest).strip())
    resolved = _inherit(spans, bare, text)

    def span_of(start: int) -> int | None:
        for i, sp in enumerate(spans):
            if sp.start <= start < sp.end:
                return i
        return None

    out = Preferences()
    need_model = []
    for m in mentions:
        i = span_of(m.start)
        pol = resolved[i] if i is not None else 0
        clause = spans[i].text.strip() if i is not None else text
        out.mentions.append(
            dict(
                item_id=m.item_id,
                title=m.title,
                year=m.year,
                span=m.span,
                clause=clause,
                start=m.start,
                end=m.end,
                sentiment="liked" if pol > 0 else "disliked" if pol < 0 else None,
                source="rule" if pol else "model",
            )
        )
        if not pol:
            need_model.append(len(out.mentions) - 1)
    if need_model:
        # the scorer reads the clause with every title in it replaced: a title's own words ("Parasite", "Hated",
        # "Suicide Squad") would otherwise outweigh what the user says about it
        probs = scorer(
            [_mask_titles(text, _at(spans, span_of(out.mentions[k]["start"])), protected) for k in need_model]
        )
        for k, p in zip(need_model, probs):
            out.mentions[k]["p_positive"] = round(float(p), 4)
            out.mentions[k]["sentiment"] = "liked" if p >= positive_threshold else "disliked"
    for s, _, genre in genres:
        i = span_of(s)
        pol = resolved[i] if i is not None else 0
        if pol < 0 and genre not in out.excluded_genres:
            out.excluded_genres.append(genre)
        elif pol > 0 and genre not in out.liked_genres:
            out.liked_genres.append(genre)
    out.liked_genres = [g for g in out.liked_genres if g not in out.excluded_genres]
    return out
