"""vidlm.metrics.ptb gives exactly what pycocoevalcap's PTBTokenizer (Java, CoreNLP 3.4.1) gives."""

import shutil

import pytest

from vidlm.metrics.ptb import ptb_tokenize, ptb_tokenize_many

# Compared with the Java tokenizer in one pycocoevalcap call, in this order: the order matters, since each caption is
# followed by the next one in the file the toolkit writes ("Plan A." then "The end.", "page no." then "5 dogs", and
# the last caption, which nothing follows).
CAPTIONS = [
    # realistic video captions
    "A man in a red shirt is playing the guitar on stage.",
    "The camera pans left; two dogs (a puppy and its mother) run across the yard!",
    "a woman is slicing onions in a kitchen",
    "Two kids are jumping on a trampoline while their dad films them.",
    "A chef prepares pasta, then adds tomato sauce and basil.",
    "Someone is riding a bike down a steep, muddy hill.",
    "A cat knocks a glass off the table -- it shatters.",
    "People are dancing at a wedding reception.",
    "A news anchor talks about the weather forecast for Monday.",
    "A little girl in a pink dress blows out the candles on her cake.",
    "The soccer player kicks the ball into the net and celebrates!!!",
    "a time-lapse of clouds moving over a mountain range",
    "A drone flies over the city at night; the lights twinkle below.",
    "Close-up of hands kneading dough on a wooden board.",
    "A man explains how to change a car's tire.",
    "Two men are boxing in a ring while the crowd cheers.",
    "A woman applies makeup in front of a mirror",
    "The astronaut floats inside the space station.",
    "A group of friends is playing cards around a table.",
    "A dog catches a frisbee in mid-air.",
    "What is the man holding? A fishing rod.",
    "Is it raining? Yes, it's pouring.",
    "A boy (about 10 years old) skateboards down the street.",
    "A video game character runs through a forest [gameplay footage].",
    "the teacher writes on the blackboard: 2 + 2 = 4",
    "A woman sings into a microphone... then the music stops.",
    "a man is cooking ; he adds salt , pepper , and oil .",
    "  A man   walks  slowly\tacross the room.  ",
    "A MAN IS PLAYING A PIANO.",
    "A Man Is Playing A Piano",
    # punctuation of every kind
    "wow ... what a goal … unbelievable",
    "an em—dash, an en–dash, a hyphen-ated word and a -- double dash",
    "brackets ( round ) [ square ] { curly } <angle>",
    "quotes \"double\" 'single' `back` ``latex''",
    "slashes / and \\ and a/b and km/h",
    "symbols & % $ # @ * + = < > | ~ ^",
    "more symbols: a&b, 50%, #1, @home, x*y, a+b, a=b, a|b, ~5, 2^3",
    "semi;colon, com,ma, col:on, bang! ques?tion",
    "?!?! !!! ??? ...",
    "a---b a----b ----- --",
    "underscores __init__ and snake_case",
    # sentence-final periods vs abbreviations
    "He moved to the U.S. last year.",
    "She lives in the U.S.",
    "Mr. Smith and Mrs. Jones met Dr. Who.",
    "apples, pears, etc. are on the table",
    "They sell fruit, vegetables, etc.",
    "The meeting is at 10 a.m. on Jan. 5th.",
    "e.g. a cat, i.e. an animal, vs. a dog",
    "Washington, D.C. is the capital.",
    "He works for Apple Inc. in California.",
    "St. Louis and Mt. Everest",
    "See fig. 3 and no. 5 on p. 12.",
    "The letter A. Then the letter B.",
    "a man. a woman. a child.",
    "Plan A.",
    "The end.",
    "Turn to page no.",
    "5 dogs run in the park.",
    "Look at item x. It is big.",
    # contractions and possessives
    "I don't know why he can't swim.",
    "They won't come, and we cannot wait.",
    "I'm sure it's fine; they're here and we've eaten.",
    "You'll see that he'd rather stay.",
    "The dog's bone and the dogs' toys.",
    "James' car is parked at o'clock 'til noon.",
    "Y'all gonna wanna see this, gotta go!",
    "Gimme that and lemme see.",
    "She isn't, wasn't, hasn't and shouldn't be.",
    "DON'T YOU DARE! I'M SERIOUS.",
    "rock 'n' roll is cool 'cause it's loud",
    "'Tis the season and 'twas the night.",
    "He said 'hello' and 'bye'.",
    "the '90s and the 1990s",
    "O'Brien and d'Arcy ate at McDonald's.",
    "it’s a dog’s life, don’t worry",
    # case
    "ThE cAmErA zOoMs In",
    "iPhone and eBay and NASA",
    # hyphenated words
    "a well-known 3-year-old uses e-mail",
    "a self-driving car on a two-lane road",
    "mid-1990s x86-64 T-shirt co-op",
    "a state-of-the-art, high-quality video",
    # numbers
    "3.5 1,000 10:30 50% $20 1/2 -5 2nd 1990s",
    "He scored 3 goals in 90 minutes.",
    "It costs $3.50, or 2.99 euros.",
    "The temperature is -5 degrees, +3 tomorrow.",
    "1st, 2nd, 3rd and 4th place",
    "a 1 1/2 inch pipe and 3/4 cup of milk",
    "call 555-1234 or (555) 555-5678",
    "on 12/25/2020 at 7pm",
    "version 2.0.1 of python3",
    "1.5m tall and 5km away",
    "a score of 3-2 in the 24/7 league",
    "in 1,000,000 years",
    "16:9 vs 4:3 aspect ratios",
    "a 4K 60fps video in 3D",
    "100 % sure and 50 percent",
    # unicode
    "café naïve émigré",
    "ÉMIGRÉ CAFÉ ÀLA",
    "Zürich, São Paulo and Kraków",
    "一个男人在弹吉他",
    "男の人がギターを弾いている",
    "한 남자가 기타를 치고 있다",
    "Москва и Санкт-Петербург",
    "Η ΟΔΟΣ και η οδός",
    "a dog 😀 runs 🐕 fast",
    "“curly double” and ‘curly single’ quotes",
    "a\u00a0non-breaking\u00a0space",
    "em dash—inside and ellipsis…inside",
    "« guillemets » and „low quotes“",
    "5°C at 90° angle, x² and H₂O",
    "price: €10, £5, ¥100 or 50¢",
    "½ cup and ¼ teaspoon",
    "naïve façade résumé",
    "the word cafe\u0301 with a combining accent",
    "thin\u2009space and ideographic\u3000space",
    "zero\u200bwidth space",
    "soft\u00adhyphen in the mid\u00addle",
    "★ stars → arrows ✓ checks ♥ hearts",
    "a heart ❤️ emoji",
    "Ünïcödé ĄĆĘŁŃÓŚŹŻ",
    "arabic العربية and hebrew עברית",
    "hindi हिन्दी and thai ไทย",
    "fullwidth ＡＢＣ！？",
    # URLs and e-mails
    "visit https://www.youtube.com/watch?v=abc123 now",
    "go to www.google.com or example.org/page",
    "mail john.doe@example.com for info",
    "follow @john and #tag on twitter",
    "see the file report.pdf and data.txt",
    # whitespace
    "tab\tseparated\twords",
    "a newline\ninside the caption",
    "   leading and trailing spaces   ",
    "multiple     spaces",
    "",
    "   ",
    "\t",
    # odd things the Java tokenizer does
    "he said :) and :( and ;-)",
    "AT&T and R&D and Q&A",
    "C++ and C# and F#",
    "a <b>bold</b> word",
    "&amp; &lt; &gt; &quot;",
    "&nbsp; is a space",
    "no. 1 fan",
    "what?! no!!",
    "the U.S.A. and the U.K.",
    "Ph.D. student",
    "a.b.c. and x.y",
    "hello.world and dog.cat",
    "2 x 3 = 6",
    "3x4 grid",
    "the 1920s-era car",
    "a 5-year-old's toy",
    "cont'd. and li'l and ma'am",
    "he's gonna cannot gotta",
    "5 p.m. Then",
    "...and then",
    ". . . spaced dots",
    "end with a dash -",
    "(parenthetical)",
    "\"quoted sentence.\"",
    "'single quoted sentence.'",
    "a woman's hands",
    "it's 5 o'clock",
    "the players' jerseys",
    "there're two, there'd be three",
    "I'd've done it",
    "ok",
    "A.",
    ".",
    "!",
    "...",
    "I said you'll",
]


def test_equals_pycocoevalcaps_java_tokenizer():
    if shutil.which("java") is None:
        pytest.fail("Java is required (make setup installs it): it runs pycocoevalcap's PTB tokenizer, the reference")
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    java = PTBTokenizer().tokenize({i: [{"caption": c}] for i, c in enumerate(CAPTIONS)})
    expected = [java[i][0] for i in range(len(CAPTIONS))]
    got = ptb_tokenize_many(CAPTIONS)
    differences = [(c, e, g) for c, e, g in zip(CAPTIONS, expected, got) if e != g]
    assert not differences, "(caption, Java, Python): " + repr(differences)


@pytest.mark.parametrize("caption, tokens", [
    ("Don't stop, it's 3.5 m/s!", "do n't stop it 's 3.5 m/s"),
    ("The camera pans left; two dogs (a puppy and its mother) run across the yard!",
     "the camera pans left two dogs -lrb- a puppy and its mother -rrb- run across the yard"),
    ("He moved to the U.S. last year. Mr. Smith, etc.", "he moved to the u.s. last year mr. smith etc."),
    ("Y'all gonna wanna see this, gotta go! I cannot.", "y' all gon na wan na see this got ta go i can not"),
    ("“Curly” ‘quotes’, an em—dash and an ellipsis…", "curly quotes an em dash and an ellipsis"),
    ("a 1 1/2 inch pipe", "a 1\u00a01/2 inch pipe"),  # a fraction keeps its space, as a non-breaking one
    ("price: €10, £5, ¥100 or 50¢", "price $ 10 # 5 ¥ 100 or 50 cents"),
    ("Η ΟΔΟΣ, café, 中文 and a dog 😀", "η οδος café 中文 and a dog"),
    ("  A man\twalks\na dog.  ", "a man walks a dog"),
    ("", ""),
    ("   ", ""),
])
def test_examples(caption, tokens):
    assert ptb_tokenize(caption) == tokens


def test_what_follows_a_caption_in_the_toolkits_file_can_matter():
    assert ptb_tokenize("I said you'll") == "i said you ll"  # the very end of the file
    assert ptb_tokenize_many(["I said you'll", "x"]) == ["i said you 'll", "x"]
    assert ptb_tokenize("Plan A.") == "plan a."
    assert ptb_tokenize_many(["Plan A.", "The end."]) == ["plan a", "the end"]  # "A. The" ends a sentence
    assert ptb_tokenize_many([]) == []


def test_a_line_break_other_than_newline_ends_the_caption():
    # Java starts a new line there, and pycocoevalcap returns only the first one for the caption
    for line_break in "\r", "\x0b", "\x0c", "\u2028", "\u2029":
        assert ptb_tokenize(f"a man{line_break}walks") == "a man"
