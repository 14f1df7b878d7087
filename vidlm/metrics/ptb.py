"""Tokenize captions exactly as the COCO caption toolkit (pycocoevalcap) does, in pure Python.

Why it is written here: pycocoevalcap tokenizes every caption with Stanford CoreNLP 3.4.1's PTBTokenizer, a Java
program (`-preserveLines -lowerCase`), then drops its punctuation tokens; BLEU, METEOR, ROUGE-L and CIDEr are computed
on those tokens, so scores match the toolkit's only if the tokens do. This module is an equivalent of that tokenizer
and filter: same output, no Java, and faster (no JVM to start; tokens of repeated words are cached). It was written
from the Java tokenizer's observed behaviour (millions of strings compared against it), not from its source.

What it does not cover, as far as is known:
- characters assigned in Unicode after the Java tokenizer was built (recent letters, digits, marks and symbols) and
  a few older combining marks: Java drops them, this module may keep them;
- a capital sigma inside a token mixed with digits or punctuation may be lower-cased to σ where Java writes ς or the
  other way round (Java decides with its own word segmentation);
- in a batch, pycocoevalcap misaligns every caption after one that contains a line break other than \\n (\\r, \\v,
  \\f, U+2028, U+2029); here each caption keeps its own text up to that break, which is what the toolkit returns for
  the caption itself.
"""

from __future__ import annotations

import functools
import re
import unicodedata

__all__ = ["ptb_tokenize", "ptb_tokenize_many"]

# pycocoevalcap's PUNCTUATIONS, compared after Java lower-cased the tokens (so "-lrb-" survives, "-LRB-" never occurs).
_DROPPED = {"''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";"}


def _char_class(predicate) -> str:
    """A regex character-class body listing the BMP characters (above ASCII) for which predicate holds."""
    out, start = [], None
    for code in range(0x80, 0x10001):
        ok = code < 0x10000 and not 0xD800 <= code < 0xE000 and predicate(chr(code))
        if ok and start is None:
            start = code
        elif not ok and start is not None:
            out.append(re.escape(chr(start)) + ("-" + re.escape(chr(code - 1)) if code - 1 > start else ""))
            start = None
    return "".join(out)


# Java's tokenizer only knows the Basic Multilingual Plane (other characters arrive as surrogate pairs it deletes),
# and its word pattern adds most combining marks and a few modifier symbols to Unicode's letters.
_NOT_IN_WORDS = ((0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0x302A, 0x302F), (0x3099, 0x309A),
                 (0xFE00, 0xFE0F), (0xFE20, 0xFE2F))


def _is_word_mark(ch: str) -> bool:
    return unicodedata.category(ch) in ("Mn", "Mc") and not any(a <= ord(ch) <= b for a, b in _NOT_IN_WORDS)


_LETTERS = "A-Za-z" + _char_class(lambda ch: unicodedata.category(ch)[0] == "L")
_DIGITS = "0-9" + _char_class(lambda ch: unicodedata.category(ch) == "Nd")
_WORD_EXTRA = ("\u00ad\u02c2-\u02c5\u02d2-\u02df\u02e5-\u02eb\u02ed\u02ef-\u02ff\u0375\u0384\u0385\u03f6\u055a-\u055f"
               "\u06dd\u06de\u06e9\u06fd\u06fe\u070f" + _char_class(_is_word_mark))
# Standalone symbols: each is a token of its own; other characters outside every pattern are deleted.
_SYMBOLS = "".join(chr(int(a, 16)) + ("-" + chr(int(b, 16)) if b else "") for a, _, b in (r.partition("-") for r in """
    00A1 00A5-00A9 00AC 00AE-00B4 00B6-00B9 00BF 00D7 00F7 037E 0387 0589 05BE 05C0 05C3 05C6 05F3-0603 0606-060C
    0614 061B 061E-061F 066A 066D 06D4 0700-070D 07F6-07F8 0964-0965 0E3F 0E4F 1FBD 2016-2017 201A 201E-2023
    2030-2038 203B 203E-2042 2044 2070 2074-207E 2080-208E 20A4 2100-2101 2103-2106 2108-2109 2114 2116-2118
    211E-2123 2125 2127 2129 212E 213A-213B 2140-2144 214A-214D 214F 2155-215E 2190-2BFF 3001-3002 3012 30FB
    FF01-FF0F FF1A-FF20 FF3B-FF40 FF5B-FF65 FFE0-FFE1 FFE5-FFE6""".split()))

# Java's word pattern takes letters with marks, soft hyphens and "&eacute;"-style entities (L, LD: or a digit); its
# other patterns take Unicode letters only (JL, JLD).
_ACCENT_ENTITY = "(?i:&[aeiou](?:acute|grave|uml);)"
L = f"(?:[{_LETTERS}{_WORD_EXTRA}]|{_ACCENT_ENTITY})"
LD = f"(?:[{_LETTERS}{_WORD_EXTRA}{_DIGITS}]|{_ACCENT_ENTITY})"
JL = f"[{_LETTERS}]"
JLD = f"[{_LETTERS}{_DIGITS}]"
D = f"[{_DIGITS}]"
SPACE = "[ \t\u00a0\u2000-\u200a\u3000]"
SPACE_NL = "[ \t\u00a0\u2000-\u200a\u3000\n\r\x0b\x0c\x85\u2028\u2029]"
APOS = "(?:['\u2019\u0092]|(?i:&apos;))"
APOS_ALL = "(?:['\u2019\u0092`\u0091\u2018\u201b]|(?i:&apos;))"
QUOTE_CHARS = "`\u2018\u2019\u201c\u201d\u00ab\u00bb\u2039\u203a\u201a\u201e\u201b\u201f\u0091-\u0094"

WORD = f"{L}{LD}*(?:[.!?]{L}{LD}*)*"
PART = f"(?:[dDoOlL]{APOS_ALL}{JLD})?{JLD}+"
THING = f"{PART}(?:[-_\u058a\u2010\u2011]{PART})*"
AUX = f"{APOS}(?:[sSmMdD]|[rRvV][eE]|[lL][lL])"  # 's 're 've 'll 'm 'd
NOT = f"[nN]{APOS_ALL}[tT]"
NUM_SEP = "[.:,\u00ad\u066b\u066c]"

# Abbreviations that keep their period; ABBREV_1 ones look two characters ahead, so text after them matters.
_AB1 = ("al ala apr ariz assn aug bancorp bhd bldg blvd bros calif co colo conn corp cos ct dak dec ed.d esq est etc "
        "ext feb fla fri ga ind inc intl jan jr jul jun kan kans ky ltd mar md mich minn mo mon mont neb nev nov oct "
        "okla penn ph.d plc rd rt sep sept seq sq sr sys tel tenn thu thurs tue tues univ va vt wed wis wisc wyo")
_AB1_CAPITALIZED = "Ark Az Del Ill La Mass Miss Ore Pa Tex Wash"  # common words otherwise, so only capitalized
_AB2 = ("a.k.a adj adm adv alex assoc asst atty attys ave brig capt cf cie cmdr col comdr cpl dept det dr drs elec ens "
        "ft gen gov govs hon insp invt jos lieut lt maj messrs mlle mme mr mrs ms msgr mt natl pfc ph pres prof profs "
        "pvt rep reps rev sen sens sfc sgt spc st ste supt supts treas vs wm")
_BEFORE_NUMBER = "ca no op pp art fig nos figs prop"  # abbreviations only before a number: "no. 5"


def _any_case(words: str, first_as_written: bool = False) -> str:
    """Alternatives matching the words in any case (but the first letter as written, if asked), longest first."""
    words = sorted(words.split(), key=len, reverse=True)
    if first_as_written:
        return "|".join(f"{re.escape(w[0])}(?i:{re.escape(w[1:])})" for w in words)
    return "|".join(f"(?i:{re.escape(w)})" for w in words)


# "A. The" reads as a sentence end: a single letter then loses its period.
SENTENCE_START = _any_case("A About According Additionally After An As At But Earlier He Her Here However If In It "
                           "Last Many More Mr. Ms. Now Once One Other Our She Since So Some Such That The Their Then "
                           "There These They This We When While What Yet You", first_as_written=True)
_IS_ABBREV = r"(?=[A-Za-z][A-Za-z.]*\.)"  # a cheap test first: the alternatives are slow to try
ABBREV_1 = rf"{_IS_ABBREV}(?:{_any_case(_AB1)}|{_any_case(_AB1_CAPITALIZED, True)}|[Pp][Pp]?[Tt][ye][Ss]?)\."
ABBREV_2 = rf"{_IS_ABBREV}(?:{_any_case(_AB2)}|[Mm][ft][Gg]|[A-Za-z](?:\.[A-Za-z])*)\."
SGML = (r"<(?:[!?][A-Za-z-][^>\r\n]*|/[A-Za-z][A-Za-z0-9_:.-]* *|[A-Za-z][A-Za-z0-9_:.-]*"
        r"""(?: +[A-Za-z][A-Za-z0-9_:.-]*(?: *= *(?:'[^']*'|"[^"]*"))?)* */?)>""")
NOT_URL = r' \t\n\f\r"<>|(){}'
URL_PATH = r'(?:/[^ \t\n\f\r"<>|()]+[^ \t\n\f\r"<>|.!?(){},-])?'
FILE_PART = f"[{_LETTERS}{_WORD_EXTRA}{_DIGITS}]+"
FILE_EXT = "c|h|x|gz|pl|ps|py|bat|bmp|cgi|cpp|dll|doc|docx|exe|gif|htm|html|jar|java|jpeg|jpg|mov|pdf|php|png|ppt|" \
           "sql|tar|txt|wav|xml|zip|class"
EYES = "[-^x=~<>']"

# (action, pattern, trailing context). Like the Java lexer, the longest match wins, counting its trailing context;
# on a tie the earlier rule wins. Alternatives are separate rules so that each one is matched at its longest.
_RULES = [
    ("cannot", "(?i:cannot)", None),
    ("assimilation", "(?i:gonna|gotta|lemme|gimme|wanna)", None),
    ("tis", "(?i:'tis|'twas)", None),
    ("sgml", SGML, None),
    ("entity", "(?i:&(?:amp|lt|gt|mdash|ndash|md|nbsp);)|&quot;", None),
    ("apos", "&apos;", None),
    ("keep", "(?i:&(?:HT|TL|UR|LR|QC|QL|QR|odq|cdq|#[0-9]+|quot|apos|[aeiou](?:acute|grave|uml));)", None),
    ("amp", "[A-Z]+(?:(?:[+&]|(?i:&amp;))[A-Z]+)+", None),
    ("keep", r"[Cc]\+\+", None),
    ("dash", "[\u2013\u2014\u2015\u0096\u0097]", None),
    ("word", WORD, AUX),
    ("word", "[A-Za-z\u00ad]*[A-MO-Za-mo-z]\u00ad*", NOT),
    ("word", WORD, None),
    ("word", THING, None),
    ("word", f"{APOS}[nN]{APOS}?", None),
    ("word", f"[lLdDjJ]{APOS}", None),
    ("word", f"[A-HJ-XZn]{APOS_ALL}{JL}{{2,}}", None),
    ("word", f"{JL}+[aeiouyAEIOUY]{APOS_ALL}[aeiouA-Z]{JL}*", None),
    ("word", f"(?i:{APOS}(?:cause|em|till?|[2-9]0s)|(?:dunkin|somethin|ol){APOS}|c'mon|nor'easter|s'mores|ev'ry|li'l"
             f"|nat'l|e'er|cont'd\\.?|o{APOS_ALL}o)", None),
    ("word", "[A-Za-z0-9][A-Za-z0-9.,\u00ad]*(?:-[A-Za-z0-9\u00ad]+)+", None),
    ("word", "[A-Za-z0-9][A-Za-z0-9.,\u00ad]*(?:-[A-Za-z0-9\u00ad]+)*-[A-Za-z](?:\\.[A-Za-z])+\\.", None),
    ("keep", f"[yY]{APOS}", JL),
    ("keep", f"{APOS}[0-9]{{2}}", SPACE_NL),
    ("aux", AUX, "[^A-Za-z]"),
    ("aux", NOT, "[^A-Za-z]"),
    ("number", f"[-+]?{D}+(?:{NUM_SEP}{D}+)*", None),
    ("number", f"[-+]?(?:{NUM_SEP}{D}+)+", None),
    ("spaced", f"(?:{D}{{1,4}}[- \u00a0])?{D}{{1,4}}(?:\\\\?/|\u2044){D}{{1,4}}", None),  # fractions: 2 1/2
    ("keep", f"{D}{{1,2}}[-/]{D}{{1,2}}[-/]{D}{{2,4}}", None),
    ("keep", r"[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}(?:\\?/[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}){1,2}", None),
    ("spaced", r"(?:\([0-9]{2,3}\)[ \u00a0]?|(?:\+\+?)?(?:[0-9]{2,4}[- \u00a0])?[0-9]{2,4}[- \u00a0])"
               r"[0-9]{3,4}[- \u00a0]?[0-9]{3,5}", None),  # phone numbers
    ("keep", r"(?:(?:\+\+?)?[0-9]{2,4}\.)?[0-9]{2,4}\.[0-9]{3,4}\.[0-9]{3,5}", None),
    ("keep", f"(?:<|&lt;)?[a-zA-Z0-9][^{NOT_URL}\u00a0]*@(?:[^{NOT_URL}.\u00a0]+\\.)*[^{NOT_URL}.\u00a0]+(?:>|&gt;)?",
     None),  # e-mail
    ("keep", f"(?i:https?)://[^{NOT_URL}]+[^{NOT_URL}.!?,-]", None),
    ("keep", f"(?i:www)\\.(?:[^{NOT_URL}.!?,]+\\.)+[a-zA-Z]{{2,4}}{URL_PATH}", None),
    ("keep", r"(?:[^ \t\n\f\r\"`'<>|.!?(){},-_$]+\.)+(?:com|net|org|edu)" + URL_PATH, None),
    ("initial", r"[A-Za-z](?:\.[A-Za-z])*\.", f"{SPACE_NL}+(?:{SENTENCE_START}|{SGML}){SPACE_NL}"),
    ("keep", ABBREV_1, r"[\s\S]{2}"),
    ("pushback", ABBREV_1, None),  # near the end the period is also read again, as the start of what follows
    ("keep", ABBREV_2, None),
    ("keep", rf"{_IS_ABBREV}(?:{_any_case(_BEFORE_NUMBER)})\.", f"{SPACE_NL}?{D}"),
    ("word", f"(?:{WORD}|{THING})\\.", "[,;:\u3001]"),
    ("keep", f"{FILE_PART}(?:\\.{FILE_PART})*\\.(?i:{FILE_EXT})", f"{SPACE_NL}|[.?!,]"),
    ("quotes", '"', None),
    ("bracket", r"[()\[\]{}]", None),
    ("hyphens", "-+", None),
    ("dots", r"\.{3,5}", None),
    ("dots", "\\.(?:[ \u00a0]\\.){2,}", None),
    ("dots", "[\u2026\u0085]", None),
    ("keep", r"\.", None),
    ("keep", "[?!]+", None),
    ("keep", "[,;:]", None),
    ("keep", "'", f"{JL}[^ \t\u00a0\n]"),
    ("keep", "''|'", None),
    ("quotes", f"[{QUOTE_CHARS}]{{1,2}}", None),
    ("aux", AUX, None),
    ("aux", NOT, None),
    ("keep", r"[#$%&*+/<=>@\\^|~]", None),
    ("keep", "_+", None),
    ("keep", f"[{_SYMBOLS}]", None),
    ("special", "[\u00a2\u00a3\u00a4\u0080\u20a0\u20ac\u00bc\u00bd\u00be\u2153\u2154]", None),
    ("paren", r"[<>]?[:;=][-o*']?[()DPdpO\\{@|\[\]]", "[^A-Za-z0-9]"),  # smileys
    ("paren", f"{EYES}_{EYES}|\\({EYES}[_.]?{EYES}\\)|\\([\\^x=~<>']-[\\^x=~<>'`]\\)", None),
    ("keep", "[CcFf]#", None),
    ("keep", "[\u207a\u207b\u208a\u208b]?(?:[\u2070\u00b9\u00b2\u00b3\u2074-\u2079]+|[\u2080-\u2089]+)", None),
    ("keep", "<<|>>|@+", None),
    ("keep", r"[A-Z]*\$", None),
    ("keep", r"\\\*|\*+", None),
    ("keep", f"#{L}+|#+", None),
    ("keep", "@[A-Za-z_][A-Za-z_0-9]*", None),
]
_COMPILED = [(action, re.compile(f"(?:{pattern})" + (f"(?=(?P<ctx>{context}))" if context else "")), bool(context))
             for action, pattern, context in _RULES]

_BRACKETS = str.maketrans({"(": "-LRB-", ")": "-RRB-", "[": "-LSB-", "]": "-RSB-", "{": "-LCB-", "}": "-RCB-"})
_QUOTES = str.maketrans({'"': "''", "\u2018": "`", "\u2019": "'", "\u201c": "``", "\u201d": "''", "\u00ab": "``",
                         "\u00bb": "''", "\u2039": "`", "\u203a": "'", "\u201b": "`", "\u0091": "`", "\u0092": "'",
                         "\u0093": "``", "\u0094": "''"})
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u0092": "'", "\u2018": "`", "\u0091": "`", "\u201b": "`"})
_ENTITIES = {"&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": "''"}
_SPECIAL = {"\u00a2": "cents", "\u00a3": "#", "\u00bc": "1/4", "\u00bd": "1/2", "\u00be": "3/4", "\u2153": "1/3",
            "\u2154": "2/3"}  # the other currency signs become "$"


def _emit(action: str, tok: str) -> tuple[str, int]:
    """The token Java writes for the matched text, and how many characters it consumes."""
    if action == "keep":
        return tok, len(tok)
    if action == "word":
        return tok.replace("\u00ad", "") or "-", len(tok)
    if action == "cannot":
        return tok[:3], 3
    if action == "assimilation":  # gonna -> gon na
        return tok[:-2], len(tok) - 2
    if action == "tis":  # 'tis -> 't is
        return tok[:2], 2
    if action == "pushback":
        return tok, len(tok) - 1
    if action == "initial":  # the period is read again, as a token of its own
        return (tok[0] if len(tok) == 2 else tok), len(tok) - 1
    if action == "aux":
        return tok.replace("&apos;", "'").translate(_APOSTROPHES), len(tok)
    if action == "number":
        return tok.replace("\u00ad", ""), len(tok)
    if action == "spaced":
        return tok.replace(" ", "\u00a0").replace("(", "-LRB-").replace(")", "-RRB-"), len(tok)
    if action == "sgml":
        return tok.replace(" ", "\u00a0"), len(tok)
    if action == "paren":
        return tok.replace("(", "-LRB-").replace(")", "-RRB-"), len(tok)
    if action == "bracket":
        return tok.translate(_BRACKETS), len(tok)
    if action == "quotes":
        return tok.translate(_QUOTES), len(tok)
    if action == "dash":
        return "--", len(tok)
    if action == "hyphens":
        return ("--" if 3 <= len(tok) <= 4 else tok), len(tok)
    if action == "dots":
        return "...", len(tok)
    if action == "entity":
        return _ENTITIES.get(tok.lower(), "--"), len(tok)
    if action == "apos":
        return "'", len(tok)
    if action == "amp":
        return re.sub("(?i)&amp;", "&", tok), len(tok)
    if action == "special":
        return _SPECIAL.get(tok, "$"), 1
    raise AssertionError(action)


_SKIP = re.compile("[ \t\n]+|(?i:&nbsp;)")


def _lex(text: str, stop: int) -> tuple[list[str], int]:
    """Java's tokens for text[:stop] (text may continue, for lookahead); also the position where lexing ended."""
    tokens, pos = [], 0
    while pos < stop:
        skip = _SKIP.match(text, pos)
        if skip:
            pos = skip.end()
            continue
        best, best_len = None, 0
        for action, rx, has_context in _COMPILED:
            m = rx.match(text, pos)
            if m:
                length = (m.end("ctx") if has_context else m.end()) - pos
                if length > best_len:
                    best, best_len = (action, m.group()), length
        if best is None:
            pos += 1  # untokenizable: Java deletes it
            continue
        tok, consumed = _emit(*best)
        if tok:
            tokens.append(tok)
        pos += consumed
    return tokens, pos


@functools.lru_cache(maxsize=None)
def _sigma_words() -> re.Pattern:
    """Java's word segmentation, roughly: runs of letters (accents included, ideographs apart) joined by dashes,
    periods, quotes or underscores, and runs of numerals, one after the other."""
    def in_word(ch: str) -> bool:  # kana and ideographs are words of their own
        category = unicodedata.category(ch)
        return (category[0] == "L" or category in ("Mn", "Me", "Cf")) and not (
            0x3040 <= ord(ch) <= 0x30FF or 0x3400 <= ord(ch) <= 0x9FFF)

    letter = _char_class(in_word)
    number = _char_class(lambda ch: unicodedata.category(ch)[0] == "N")
    letters, digits = f"[A-Za-z{letter}]+", f"[0-9{number}]+"
    return re.compile(f"(?:{letters}(?:[-_.'\"\u00ad\u2010-\u2015]{letters})*|{digits}(?:[.,'\"]{digits})*)+")


def _lower(tok: str) -> str:
    """Java's String.toLowerCase: a capital sigma becomes ς when a cased letter precedes it in its word and none
    follows."""
    if "\u03a3" not in tok:
        return tok.lower()
    out = list(tok.lower())
    for m in _sigma_words().finditer(tok):
        word, start = m.group(), m.start()
        for i, ch in enumerate(word):
            if ch == "\u03a3":
                cased_before = any(c.isupper() or c.islower() for c in word[:i])
                cased_after = any(c.isupper() or c.islower() for c in word[i + 1:])
                out[start + i] = "\u03c2" if cased_before and not cased_after else "\u03c3"
    return "".join(out)


# A token spans a space only in fractions and phone numbers (digit, space, digit), SGML tags and ". . .";
# captions without those are tokenized chunk by chunk below.
_WHOLE_LINE = re.compile(r"[\d)] \d|<|\. \.")
# Java looks further than the character after a space only behind a single letter and its period, to see whether a
# sentence starts there ("A. The"), even on the next line.
_SENTENCE_AHEAD = re.compile(f"{SPACE_NL}+(?:{SENTENCE_START}|{SGML}){SPACE_NL}")
_INITIAL_AT_END = re.compile(f"[A-Za-z]\\.({SPACE}*)$")
_LINE_BREAK = re.compile("[\r\x0b\x0c\u2028\u2029]")
_chunks: dict[tuple[str, str], tuple[list[str], bool | None, str | None] | None] = {}
_SPLIT_WORDS = {"cannot", "gonna", "gotta", "lemme", "gimme", "wanna"}


def _chunk(chunk: str, following: str) -> tuple[list[str], bool | None, str | None] | None:
    """For a chunk without ASCII spaces: its kept tokens; whether its last token ends in white space, which the
    toolkit strips at the end of a line (None: no tokens); if the chunk ends with a single letter, its period and
    maybe other spaces, those spaces. None if a token runs past the chunk."""
    tokens, end = _lex(chunk + following, len(chunk))
    if end != len(chunk):
        return None
    if not tokens:
        return [], None, None
    kept = [t for t in map(_lower, tokens) if t not in _DROPPED]
    initial = _INITIAL_AT_END.search(chunk)
    initial_spaces = initial.group(1) if initial and initial.group(0).startswith(tokens[-1]) else None
    return kept, tokens[-1][-1].isspace(), initial_spaces


def _tokenize(caption: str, after: str) -> str:
    """One caption as pycocoevalcap returns it. after: what follows its line in the toolkit's file: nothing for the
    last caption, else a newline and (the start of) the next captions."""
    text = caption.replace("\n", " ")
    line_break = _LINE_BREAK.search(text)
    if line_break:  # Java starts a new output line there; the toolkit keeps the first one for this caption
        text, after = text[:line_break.start()], text[line_break.start():] + after
    if not _WHOLE_LINE.search(text):
        # Chunk by chunk, with a cache: past a space Java only asks whether a character follows and whether it is a
        # digit, and tabs and spaces only differ inside tokens that span them, which _WHOLE_LINE sends below.
        kept, strip_last = [], False
        parts = text.replace("\t", " ").split(" ")
        last = len(parts) - 1
        for i, part in enumerate(parts):
            if not part:
                continue
            if i == last:
                following = after[:1] + ("0" if after[1:2].isdecimal() else after[1:2] and "x")
            elif parts[i + 1]:
                following = " 0" if parts[i + 1][0].isdecimal() else " x"
            else:
                following = " " if i + 1 == last and not after else " x"
            if part.isalpha() and part.isascii() and part.lower() not in _SPLIT_WORDS:
                kept.append(part.lower())  # a plain word, whatever follows it
                strip_last = False
                continue
            key = (part, following)
            if key not in _chunks:
                if len(_chunks) > 100_000:
                    _chunks.clear()
                _chunks[key] = _chunk(part, following)
            entry = _chunks[key]
            if entry is None:
                break
            kept += entry[0]
            if entry[1] is not None:
                strip_last = entry[1]
            if entry[2] is not None and _SENTENCE_AHEAD.match(
                    entry[2] + (" " + " ".join(parts[i + 1:]) + after if i < last else after)):
                kept[-1] = kept[-1][:-1]  # "A. The": the letter without its period
        else:
            if not strip_last:
                return " ".join(kept)
    line = " ".join(_lower(t) for t in _lex(text + after, len(text))[0]).rstrip()
    return " ".join(t for t in line.split(" ") if t not in _DROPPED)


def ptb_tokenize(text: str) -> str:
    """pycocoevalcap's tokenization of one caption: lower-cased PTB tokens without punctuation, space-separated.

    >>> ptb_tokenize("Don't stop, it's 3.5 m/s!")
    "do n't stop it 's 3.5 m/s"
    """
    return _tokenize(text, after="")


def ptb_tokenize_many(texts: list[str]) -> list[str]:
    """ptb_tokenize for each caption, as one pycocoevalcap call on the whole list returns them.

    The toolkit writes the captions one per line to a single file, and the Java tokenizer sometimes looks past the
    end of a line: "I'LL" as the very last word is split differently, and "the letter A." keeps its period unless the
    next caption starts with "The", "A", "He"... So each caption is tokenized with what follows it in that file.
    """
    out = []
    for i, text in enumerate(texts):
        after, j = "", i + 1
        while j < len(texts) and len(after) < 100:  # more than Java ever looks ahead here
            after += "\n" + texts[j].replace("\n", " ")
            j += 1
        out.append(_tokenize(text, after))
    return out
