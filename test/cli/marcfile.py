"""A tiny, independent ISO 2709 reader for the CLI and example tests.

It computes expectations (record counts, ISBNs, languages) from the bundled
sample without going through marcpipe, so the tests do not check marcpipe
against itself. It only needs to handle well-formed records; a record whose
directory does not parse is returned with `damaged=True`.
"""


class Record:
    def __init__(self, offset, raw):
        self.offset = offset
        self.raw = raw
        self.leader = raw[:24].decode("ascii", "replace")
        self.fields = []  # (tag, ind1, ind2, [(code, value)]) or (tag, value) for control
        self.damaged = False
        try:
            base = int(raw[12:17])
            directory = raw[24:base - 1]
            for i in range(0, len(directory), 12):
                entry = directory[i:i + 12]
                tag = entry[:3].decode("ascii")
                length = int(entry[3:7])
                start = int(entry[7:12])
                body = raw[base + start:base + start + length - 1]
                if tag < "010":
                    self.fields.append((tag, body.decode("utf-8", "replace")))
                else:
                    subs = []
                    for part in body[2:].split(b"\x1f")[1:]:
                        subs.append((chr(part[0]), part[1:].decode("utf-8", "replace")))
                    self.fields.append((tag, chr(body[0]), chr(body[1]), subs))
        except (ValueError, IndexError):
            self.damaged = True

    def get(self, tag):
        return [f for f in self.fields if f[0] == tag]

    def control(self, tag):
        for f in self.get(tag):
            return f[1]
        return None

    def subfields(self, tag, code):
        out = []
        for f in self.get(tag):
            if len(f) == 4:
                out.extend(v for c, v in f[3] if c == code)
        return out


def read(path_or_bytes):
    data = path_or_bytes
    if isinstance(path_or_bytes, str):
        with open(path_or_bytes, "rb") as f:
            data = f.read()
    records = []
    off = 0
    while off + 24 <= len(data):
        length = int(data[off:off + 5])
        records.append(Record(off, data[off:off + length]))
        off += length
    return records
