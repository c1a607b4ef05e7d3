#!/usr/bin/python3
"""Generate examples/data/sample.mrc: the sample `make run` and the examples use.

Deterministic (fixed seed, fixed dates): running it again writes the same
bytes, so the committed file and the golden outputs in test/cli/golden/ stay
valid.  Usage:

    /usr/bin/python3 examples/data/make_sample.py [OUT] [--records N] [--seed S]

The default output is 120 records (about 90 KB):
  * 118 well-formed UTF-8 bibliographic records (leader/09 = 'a') with the
    usual fields: 001, 003, 005, 008, 020 (one or two ISBNs), 040, 050, 082,
    100, 245, 250, 264 or 260, 300, 336-338, 490, 504, 650 x1-3, 700 x0-2;
  * record 30 is MARC-8 (leader/09 = ' ') with ANSEL combining diacritics, so
    the reader converts it to UTF-8 (it dumps as "Dvořák", "číslo", "Pérez");
  * record 60 is deliberately damaged: a non-digit in a directory entry.
    Framing stays intact (leader length and terminator are right), so the
    reader reports one error item (kind DIRECTORY) and goes on.

With --records N (N != 120) the special records are placed at N/4 and N/2;
test/cli uses that to make a larger input for the progress-bar test.
"""
import random
import sys

FT = b"\x1e"  # field terminator
RT = b"\x1d"  # record terminator
SF = b"\x1f"  # subfield delimiter

FIRST = ["Anna", "Tobias", "María", "Jürgen", "Chloé", "Kenji", "Olga", "Samuel", "Inês",
         "Aleksandr", "Fatima", "Liam", "Søren", "Zoë", "Rajesh", "Ewa", "Hannah", "Luís"]
LAST = ["Martinsson", "García Márquez", "Müller", "Dubois", "Tanaka", "Ivanova", "Okafor",
        "Nørgaard", "Kowalski", "Rossi", "Smith", "Brontë", "Hernández", "Lindqvist", "O'Brien",
        "Chen", "Novák", "Haddad"]
TOPICS = [("Bibliographic data", "Standards"), ("Library catalogs", "Automation"),
          ("Parallel programming (Computer science)", None), ("Museums", "Collection management"),
          ("Art", "History"), ("Printing", "History"), ("Cataloging of rare books", None),
          ("Metadata", None), ("Concurrency control (Computers)", None),
          ("Photography", "Technique"), ("Textile fabrics", "Conservation and restoration"),
          ("Ceramics", "Catalogs"), ("Manuscripts, Medieval", "Facsimiles"),
          ("Architecture", "Designs and plans"), ("Bookbinding", "History")]
TITLE_A = ["Reading records", "The catalogue", "Notes on", "A history of", "Threads and queues",
           "The quiet archive", "Lost leaders", "Ordering the world", "Small machines",
           "Ink and metal", "Fields and subfields", "The museum library", "Letters from"]
TITLE_B = ["a practical guide", "essays", "an introduction", "selected papers", "a catalogue",
           "from manuscript to MARC", "1850-1950", "new perspectives", "a field guide"]
PLACES = [("New York", "Metropolitan Museum of Art"), ("London", "Thames & Hudson"),
          ("Paris", "Éditions du Seuil"), ("Berlin", "Deutscher Kunstverlag"),
          ("Cambridge, MA", "MIT Press"), ("Tokyo", "Iwanami Shoten"),
          ("Chicago", "University of Chicago Press"), ("Madrid", "Cátedra")]
LANGS = ["eng", "eng", "eng", "eng", "fre", "ger", "spa", "jpn"]


def isbn13(rng):
    digits = [9, 7, 8] + [rng.randrange(10) for _ in range(9)]
    s = sum(d * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits))
    digits.append((10 - s % 10) % 10)
    return "".join(map(str, digits))


def data_field(ind, subfields, enc="utf-8"):
    body = ind.encode("ascii")
    for code, value in subfields:
        body += SF + code.encode("ascii") + (value if isinstance(value, bytes) else value.encode(enc))
    return body


def build(fields, coding=b"a", damage_directory=False):
    """fields: list of (tag, bytes body without terminator)."""
    directory = b""
    data = b""
    for tag, body in fields:
        body += FT
        directory += tag.encode("ascii") + b"%04d%05d" % (len(body), len(data))
        data += body
    if damage_directory:
        # Replace a digit of the 2nd entry's length with a letter.
        directory = directory[:12 + 4] + b"X" + directory[12 + 5:]
    directory += FT
    base = 24 + len(directory)
    total = base + len(data) + 1
    leader = b"%05dnam %s22%05d i 4500" % (total, coding, base)
    assert len(leader) == 24, leader
    return leader + directory + data + RT


def bib_record(rng, n):
    first, last = rng.choice(FIRST), rng.choice(LAST)
    born = rng.randrange(1920, 1990)
    year = rng.randrange(1965, 2025)
    lang = rng.choice(LANGS)
    place, publisher = rng.choice(PLACES)
    title_a = rng.choice(TITLE_A)
    if title_a in ("Notes on", "A history of", "Letters from"):
        title_a += " " + rng.choice(TOPICS)[0].split(" (")[0].lower()
    title_b = rng.choice(TITLE_B)
    pages = rng.randrange(48, 900)
    f008 = "%02d%02d%02ds%d    %s      b    001 0 %s d" % (
        rng.randrange(70, 100), rng.randrange(1, 13), rng.randrange(1, 29), year,
        {"New York": "nyu", "London": "enk", "Paris": "fr ", "Berlin": "gw ",
         "Cambridge, MA": "mau", "Tokyo": "ja ", "Chicago": "ilu", "Madrid": "sp "}[place],
        lang)
    f008 = f008[:40].ljust(40)
    fields = [
        ("001", ("mp%06d" % n).encode()),
        ("003", b"MaPiP"),
        ("005", ("2025%02d%02d%02d%02d%02d.0" % (rng.randrange(1, 13), rng.randrange(1, 29),
                                                   rng.randrange(24), rng.randrange(60),
                                                   rng.randrange(60))).encode()),
        ("008", f008.encode()),
    ]
    fields.append(("020", data_field("  ", [("a", isbn13(rng)), ("q", "hardcover")])))
    if rng.random() < 0.3:
        fields.append(("020", data_field("  ", [("a", isbn13(rng)), ("q", "paperback")])))
    fields.append(("040", data_field("  ", [("a", "MaPiP"), ("b", "eng"), ("e", "rda"),
                                            ("c", "MaPiP")])))
    fields.append(("050", data_field(" 4", [("a", "Z%d.%d" % (rng.randrange(100, 999),
                                                              rng.randrange(1, 99))),
                                            ("b", ".%s%d %d" % (last[0], rng.randrange(10, 99),
                                                                year))])))
    fields.append(("082", data_field("04", [("a", "%03d.%d" % (rng.randrange(0, 999),
                                                               rng.randrange(1, 99))),
                                            ("2", "23")])))
    fields.append(("100", data_field("1 ", [("a", "%s, %s," % (last, first)),
                                            ("d", "%d-" % born), ("e", "author.")])))
    resp = "%s %s" % (first, last)
    fields.append(("245", data_field("10", [("a", title_a + " :"), ("b", title_b + " /"),
                                            ("c", resp + ".")])))
    if rng.random() < 0.3:
        fields.append(("250", data_field("  ", [("a", "%s edition." % rng.choice(
            ["Second", "Third", "Revised"]))])))
    if year >= 2010:
        fields.append(("264", data_field(" 1", [("a", place + " :"), ("b", publisher + ","),
                                                ("c", "[%d]" % year)])))
    else:
        fields.append(("260", data_field("  ", [("a", place + " :"), ("b", publisher + ","),
                                                ("c", "%d." % year)])))
    fields.append(("300", data_field("  ", [("a", "xii, %d pages :" % pages),
                                            ("b", "illustrations ;"), ("c", "24 cm")])))
    fields.append(("336", data_field("  ", [("a", "text"), ("b", "txt"), ("2", "rdacontent")])))
    fields.append(("337", data_field("  ", [("a", "unmediated"), ("b", "n"),
                                            ("2", "rdamedia")])))
    fields.append(("338", data_field("  ", [("a", "volume"), ("b", "nc"),
                                            ("2", "rdacarrier")])))
    if rng.random() < 0.25:
        fields.append(("490", data_field("0 ", [("a", "Studies in %s ;" % rng.choice(
            TOPICS)[0].split(" (")[0].lower()), ("v", "v. %d" % rng.randrange(1, 40))])))
    fields.append(("504", data_field("  ", [("a", "Includes bibliographical references "
                                             "(pages %d-%d) and index." % (pages - 20,
                                                                           pages - 4))])))
    for topic, sub in rng.sample(TOPICS, rng.randrange(1, 4)):
        sfs = [("a", topic)]
        if sub:
            sfs.append(("x", sub + "."))
        else:
            sfs[0] = ("a", topic + ".")
        fields.append(("650", data_field(" 0", sfs)))
    for _ in range(rng.randrange(0, 3)):
        fields.append(("700", data_field("1 ", [("a", "%s, %s," % (rng.choice(LAST),
                                                                   rng.choice(FIRST))),
                                                ("e", "editor.")])))
    return fields


def marc8_record(n):
    # ANSEL: 0xE9 caron, 0xE2 acute, 0xE8 umlaut precede their base letter.
    return [
        ("001", b"mp%06d" % n),
        ("003", b"MaPiP"),
        ("005", b"20250401120000.0"),
        ("008", b"990101s1999    xr            000 0 cze d"),
        ("020", data_field("  ", [("a", b"9788020001234")])),
        ("040", data_field("  ", [("a", b"MaPiP"), ("c", b"MaPiP")])),
        ("100", data_field("1 ", [("a", b"Dvo\xe9r\xe2ak, Anton\xe2in,"), ("d", b"1841-1904.")])),
        ("245", data_field("10", [("a", b"Symfonie \xe9c\xe2islo 9 :"),
                                  ("b", b"Z Nov\xe2eho sv\xe2eta /"),
                                  ("c", b"Anton\xe2in Dvo\xe9r\xe2ak ; edited by Jos\xe2e P\xe2erez.")])),
        ("260", data_field("  ", [("a", b"Praha :"), ("b", b"Supraphon,"), ("c", b"1999.")])),
        ("300", data_field("  ", [("a", b"1 score (184 pages) ;"), ("c", b"31 cm")])),
        ("650", data_field(" 0", [("a", b"Symphonies"), ("v", b"Scores.")])),
        ("700", data_field("1 ", [("a", b"P\xe2erez, Jos\xe2e,"), ("e", b"editor.")])),
    ]


def main(argv):
    out = "examples/data/sample.mrc"
    count, seed = 120, 20250401
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--records":
            count = int(args.pop(0))
        elif a == "--seed":
            seed = int(args.pop(0))
        else:
            out = a
    rng = random.Random(seed)
    special_marc8 = 30 if count == 120 else count // 4
    special_damaged = 60 if count == 120 else count // 2
    with open(out, "wb") as f:
        for n in range(1, count + 1):
            if n == special_marc8:
                f.write(build(marc8_record(n), coding=b" "))
            elif n == special_damaged:
                f.write(build(bib_record(rng, n), damage_directory=True))
            else:
                f.write(build(bib_record(rng, n)))


if __name__ == "__main__":
    main(sys.argv[1:])
