/*
 * build.c - editable records and record views (marcpipe/build.h).
 *
 * An editable record is one allocation holding the mp_record and its
 * mp__edit: the leader, the field array (grown by doubling) and, per
 * field, the storage it owns. mp_record_edit() starts from a clone of the
 * source (mp_record_clone: one block with the index and every byte of
 * text); a field points into that block until it is edited, then it gets
 * a body of its own (copy-on-write). An owned data field keeps the same
 * shape as a parsed one: `data` is its body (indicators, then 0x1F + code
 * + value per subfield) and every subfield points into that body, so
 * accessors and serialisers cannot tell the kinds of record apart.
 *
 * Every edit builds the new storage first and frees the old one last, so
 * a value may alias the record being edited and a failure (MP_ENOMEM)
 * leaves the record as it was. Single owner thread (see build.h).
 */
#include <string.h>
#include <marcpipe/build.h>
#include "alloc.h"
#include "marc.h"

/* Storage a field owns; body == NULL: the field points into the base. */
typedef struct mp__own {
    char *body;        /* control data, or indicators + subfields */
    mp_subfield *subs; /* data fields: nsubfields entries pointing into body */
} mp__own;

struct mp__edit {
    char leader[MP__LEADER_LEN];
    uint32_t cap;    /* entries allocated in rec->fields and own */
    mp__own *own;    /* per field */
    mp_record *base; /* mp_record_edit: the clone unowned fields point into */
};

/* The record and its edit state in one allocation. */
typedef struct mp__edit_block {
    mp_record rec;
    mp__edit ed;
} mp__edit_block;

static int mp__is_edit(const mp_record *rec)
{
    return rec && rec->owner == MP__OWN_EDIT && rec->edit;
}

static int mp__tag_ok(const char *tag)
{
    if (!tag)
        return 0;
    for (int i = 0; i < 3; i++)
        if ((unsigned char)tag[i] < 0x20 || (unsigned char)tag[i] > 0x7E)
            return 0;
    return 1;
}

static int mp__ind_ok(char c)
{
    return (unsigned char)c >= 0x20 && (unsigned char)c <= 0x7E;
}

static int mp__code_ok(char c)
{
    return (unsigned char)c > 0x20 && (unsigned char)c <= 0x7E;
}

/* A value may hold anything but the field terminator and the delimiter. */
static int mp__value_ok(const char *v, size_t n)
{
    if (n == 0)
        return 1;
    if (!v || n > UINT32_MAX)
        return 0;
    return !memchr(v, MP__FT, n) && !memchr(v, MP__SD, n);
}

/* The 001 data: first control field tagged 001. */
static void mp__edit_cn(mp_record *rec)
{
    rec->cn = NULL;
    rec->cn_len = 0;
    for (uint32_t i = 0; i < rec->nfields; i++) {
        const mp_field *f = &rec->fields[i];
        if (f->is_control && memcmp(f->tag, "001", 3) == 0) {
            rec->cn = f->data;
            rec->cn_len = f->len;
            return;
        }
    }
}

static void mp__own_free(mp__own *o)
{
    mp__free(o->body);
    mp__free(o->subs);
    o->body = NULL;
    o->subs = NULL;
}

static mp_record *mp__edit_alloc(void)
{
    mp__edit_block *b = mp__calloc(1, sizeof *b);
    if (!b)
        return NULL;
    mp_record *rec = &b->rec;
    rec->owner = MP__OWN_EDIT;
    rec->no_input = 1;
    rec->edit = &b->ed;
    memcpy(b->ed.leader, MP_DEFAULT_LEADER, MP__LEADER_LEN);
    rec->raw = (const unsigned char *)b->ed.leader;
    rec->raw_len = MP__LEADER_LEN;
    return rec;
}

void mp__record_edit_free(mp_record *rec)
{
    mp__edit *ed = rec->edit;
    for (uint32_t i = 0; i < rec->nfields; i++)
        mp__own_free(&ed->own[i]);
    mp__free(ed->own);
    mp__free(rec->fields);
    mp_record_free(ed->base);
    mp__free((mp__edit_block *)rec);
}

/* Room for one more field. */
static int mp__edit_grow(mp_record *rec)
{
    mp__edit *ed = rec->edit;
    if (rec->nfields < ed->cap)
        return MP_OK;
    if (ed->cap > UINT32_MAX / 2 - 1)
        return MP_ENOMEM;
    uint32_t ncap = ed->cap ? ed->cap * 2 : 8;
    mp_field *nf = mp__malloc((size_t)ncap * sizeof *nf);
    mp__own *no = mp__calloc(ncap, sizeof *no);
    if (!nf || !no) {
        mp__free(nf);
        mp__free(no);
        return MP_ENOMEM;
    }
    if (rec->nfields) {
        memcpy(nf, rec->fields, (size_t)rec->nfields * sizeof *nf);
        memcpy(no, ed->own, (size_t)rec->nfields * sizeof *no);
    }
    mp__free(rec->fields);
    mp__free(ed->own);
    rec->fields = nf;
    ed->own = no;
    ed->cap = ncap;
    return MP_OK;
}

MP_EXPORT int mp_record_new(mp_record **out)
{
    if (!out)
        return MP_EINVAL;
    *out = mp__edit_alloc();
    return *out ? MP_OK : MP_ENOMEM;
}

MP_EXPORT int mp_record_edit(const mp_record *src, mp_record **out)
{
    if (!out)
        return MP_EINVAL;
    *out = NULL;
    if (!src)
        return MP_EINVAL;
    mp_record *rec = mp__edit_alloc();
    if (!rec)
        return MP_ENOMEM;
    mp__edit *ed = rec->edit;
    int rc = mp_record_clone(src, &ed->base);
    if (rc < 0)
        goto fail;
    size_t ll = src->raw_len < MP__LEADER_LEN ? src->raw_len : MP__LEADER_LEN;
    memset(ed->leader, ' ', MP__LEADER_LEN);
    memcpy(ed->leader, src->raw, ll);
    uint32_t n = ed->base->nfields;
    if (n) {
        rec->fields = mp__malloc((size_t)n * sizeof *rec->fields);
        ed->own = mp__calloc(n, sizeof *ed->own);
        if (!rec->fields || !ed->own) {
            rc = MP_ENOMEM;
            goto fail;
        }
        memcpy(rec->fields, ed->base->fields, (size_t)n * sizeof *rec->fields);
        ed->cap = n;
    }
    rec->nfields = n;
    rec->text_raw = src->text_raw;
    rec->offset = src->offset;
    rec->ordinal = src->ordinal;
    mp__edit_cn(rec);
    *out = rec;
    return MP_OK;
fail:
    mp__record_edit_free(rec);
    return rc;
}

MP_EXPORT int mp_record_view(mp_record **out, const char *leader, const mp_field *fields,
                             uint32_t nfields)
{
    if (!out)
        return MP_EINVAL;
    *out = NULL;
    if (!leader || (nfields && !fields))
        return MP_EINVAL;
    mp_record *rec = mp__calloc(1, sizeof *rec);
    if (!rec)
        return MP_ENOMEM;
    rec->owner = MP__OWN_VIEW;
    rec->no_input = 1;
    rec->raw = (const unsigned char *)leader;
    rec->raw_len = MP__LEADER_LEN;
    rec->fields = (mp_field *)(uintptr_t)fields; /* never written through: a view is read-only */
    rec->nfields = nfields;
    for (uint32_t i = 0; i < nfields; i++) {
        if (fields[i].is_control && memcmp(fields[i].tag, "001", 3) == 0) {
            rec->cn = fields[i].data;
            rec->cn_len = fields[i].len;
            break;
        }
    }
    *out = rec;
    return MP_OK;
}

MP_EXPORT int mp_record_set_leader(mp_record *rec, const char *leader)
{
    if (!mp__is_edit(rec) || !leader)
        return MP_EINVAL;
    for (int i = 0; i < (int)MP__LEADER_LEN; i++) {
        unsigned char c = (unsigned char)leader[i];
        if (c == 0 || c == MP__RT || c == MP__FT || c == MP__SD)
            return MP_EINVAL;
    }
    memmove(rec->edit->leader, leader, MP__LEADER_LEN);
    return MP_OK;
}

/*
 * Builds owned storage for a control field: *o gets a body with the data,
 * f's data/len point at it. Nothing of the old field is touched.
 */
static int mp__make_control(mp__own *o, mp_field *f, const char *data, size_t len)
{
    o->subs = NULL;
    o->body = mp__malloc(len ? len : 1);
    if (!o->body)
        return MP_ENOMEM;
    if (len)
        memcpy(o->body, data, len);
    f->data = o->body;
    f->len = (uint32_t)len;
    f->is_control = 1;
    f->ind1 = f->ind2 = ' ';
    f->nsubfields = 0;
    f->subfields = NULL;
    return MP_OK;
}

/*
 * Builds owned storage for a data field from a subfield list whose
 * values may point anywhere (also into the storage being replaced):
 * body = ind1 ind2 (0x1F code value)*, subfields pointing into it.
 * `skip` (or UINT32_MAX) is an entry of subs left out; `extra` (or NULL)
 * an entry inserted before index `extra_at`.
 */
static int mp__make_data(mp__own *o, mp_field *f, char ind1, char ind2, const mp_subfield *subs,
                         uint32_t n, uint32_t skip, const mp_subfield *extra, uint32_t extra_at)
{
    size_t len = 2, count = 0;
    for (uint32_t j = 0; j < n; j++) {
        if (j == skip)
            continue;
        len += 2 + (size_t)subs[j].len;
        count++;
    }
    if (extra) {
        len += 2 + (size_t)extra->len;
        count++;
    }
    if (len > UINT32_MAX || count > UINT32_MAX)
        return MP_EINVAL;
    char *body = mp__malloc(len);
    mp_subfield *ns = mp__malloc((count ? count : 1) * sizeof *ns);
    if (!body || !ns) {
        mp__free(body);
        mp__free(ns);
        return MP_ENOMEM;
    }
    body[0] = ind1;
    body[1] = ind2;
    size_t p = 2;
    uint32_t k = 0;
    for (uint32_t j = 0; j <= n; j++) {
        const mp_subfield *s = NULL;
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 0)
                s = extra && j == extra_at ? extra : NULL;
            else
                s = j < n && j != skip ? &subs[j] : NULL;
            if (!s)
                continue;
            body[p++] = MP__SD;
            body[p++] = s->code;
            if (s->len)
                memcpy(body + p, s->data, s->len);
            ns[k].code = s->code;
            ns[k].data = body + p;
            ns[k].len = s->len;
            p += s->len;
            k++;
        }
    }
    o->body = body;
    o->subs = ns;
    f->data = body;
    f->len = (uint32_t)len;
    f->is_control = 0;
    f->ind1 = ind1;
    f->ind2 = ind2;
    f->nsubfields = k;
    f->subfields = ns;
    return MP_OK;
}

/* Checks a field given by the caller (insert_field / replace_field). */
static int mp__field_ok(const mp_field *f)
{
    if (!f || !mp__tag_ok(f->tag))
        return 0;
    if (f->is_control)
        return mp__value_ok(f->data, f->len);
    if (!mp__ind_ok(f->ind1) || !mp__ind_ok(f->ind2))
        return 0;
    if (f->nsubfields && !f->subfields)
        return 0;
    for (uint32_t j = 0; j < f->nsubfields; j++)
        if (!mp__code_ok(f->subfields[j].code) ||
            !mp__value_ok(f->subfields[j].data, f->subfields[j].len))
            return 0;
    return 1;
}

/* Builds owned storage for a copy of f into (*o, *g). */
static int mp__make_copy(mp__own *o, mp_field *g, const mp_field *f)
{
    memcpy(g->tag, f->tag, 3);
    g->tag[3] = 0;
    if (f->is_control)
        return mp__make_control(o, g, f->data, f->len);
    return mp__make_data(o, g, f->ind1, f->ind2, f->subfields, f->nsubfields, UINT32_MAX, NULL, 0);
}

/* Opens a slot at `at` (fields and own shift up); the slot is garbage. */
static void mp__open_slot(mp_record *rec, uint32_t at)
{
    mp__edit *ed = rec->edit;
    uint32_t tail = rec->nfields - at;
    memmove(&rec->fields[at + 1], &rec->fields[at], (size_t)tail * sizeof *rec->fields);
    memmove(&ed->own[at + 1], &ed->own[at], (size_t)tail * sizeof *ed->own);
    rec->nfields++;
}

static int mp__insert(mp_record *rec, uint32_t at, mp_field *g, mp__own *o)
{
    if (at == MP_END)
        at = rec->nfields;
    if (at > rec->nfields) {
        mp__own_free(o);
        return MP_EINVAL;
    }
    if (mp__edit_grow(rec) < 0) {
        mp__own_free(o);
        return MP_ENOMEM;
    }
    mp__open_slot(rec, at);
    rec->fields[at] = *g;
    rec->edit->own[at] = *o;
    mp__edit_cn(rec);
    return MP_OK;
}

MP_EXPORT int mp_record_insert_control(mp_record *rec, uint32_t at, const char *tag,
                                       const char *data, size_t len)
{
    if (!mp__is_edit(rec) || !mp__tag_ok(tag) || !mp__value_ok(data, len))
        return MP_EINVAL;
    if (at != MP_END && at > rec->nfields)
        return MP_EINVAL;
    mp_field g;
    mp__own o;
    memset(&g, 0, sizeof g);
    memcpy(g.tag, tag, 3);
    if (mp__make_control(&o, &g, data, len) < 0)
        return MP_ENOMEM;
    return mp__insert(rec, at, &g, &o);
}

MP_EXPORT int mp_record_insert_data(mp_record *rec, uint32_t at, const char *tag, char ind1,
                                    char ind2)
{
    if (!mp__is_edit(rec) || !mp__tag_ok(tag) || !mp__ind_ok(ind1) || !mp__ind_ok(ind2))
        return MP_EINVAL;
    if (at != MP_END && at > rec->nfields)
        return MP_EINVAL;
    mp_field g;
    mp__own o;
    memset(&g, 0, sizeof g);
    memcpy(g.tag, tag, 3);
    int rc = mp__make_data(&o, &g, ind1, ind2, NULL, 0, UINT32_MAX, NULL, 0);
    if (rc < 0)
        return rc;
    return mp__insert(rec, at, &g, &o);
}

MP_EXPORT int mp_record_insert_field(mp_record *rec, uint32_t at, const mp_field *f)
{
    if (!mp__is_edit(rec) || !mp__field_ok(f))
        return MP_EINVAL;
    if (at != MP_END && at > rec->nfields)
        return MP_EINVAL;
    mp_field g;
    mp__own o;
    memset(&g, 0, sizeof g);
    int rc = mp__make_copy(&o, &g, f); /* before the array moves: f may point into it */
    if (rc < 0)
        return rc;
    return mp__insert(rec, at, &g, &o);
}

MP_EXPORT int mp_record_replace_field(mp_record *rec, uint32_t i, const mp_field *f)
{
    if (!mp__is_edit(rec) || i >= rec->nfields || !mp__field_ok(f))
        return MP_EINVAL;
    mp_field g;
    mp__own o;
    memset(&g, 0, sizeof g);
    int rc = mp__make_copy(&o, &g, f);
    if (rc < 0)
        return rc;
    mp__own_free(&rec->edit->own[i]);
    rec->fields[i] = g;
    rec->edit->own[i] = o;
    mp__edit_cn(rec);
    return MP_OK;
}

MP_EXPORT int mp_record_remove_field(mp_record *rec, uint32_t i)
{
    if (!mp__is_edit(rec) || i >= rec->nfields)
        return MP_EINVAL;
    mp__edit *ed = rec->edit;
    mp__own_free(&ed->own[i]);
    uint32_t tail = rec->nfields - i - 1;
    memmove(&rec->fields[i], &rec->fields[i + 1], (size_t)tail * sizeof *rec->fields);
    memmove(&ed->own[i], &ed->own[i + 1], (size_t)tail * sizeof *ed->own);
    rec->nfields--;
    mp__edit_cn(rec);
    return MP_OK;
}

MP_EXPORT int mp_record_set_tag(mp_record *rec, uint32_t i, const char *tag)
{
    if (!mp__is_edit(rec) || i >= rec->nfields || !mp__tag_ok(tag))
        return MP_EINVAL;
    memmove(rec->fields[i].tag, tag, 3); /* the tag lives in the field itself: no copy-on-write */
    rec->fields[i].tag[3] = 0;
    mp__edit_cn(rec);
    return MP_OK;
}

MP_EXPORT int mp_record_set_data(mp_record *rec, uint32_t i, const char *data, size_t len)
{
    if (!mp__is_edit(rec) || i >= rec->nfields || !rec->fields[i].is_control ||
        !mp__value_ok(data, len))
        return MP_EINVAL;
    mp_field g = rec->fields[i];
    mp__own o;
    if (mp__make_control(&o, &g, data, len) < 0)
        return MP_ENOMEM;
    mp__own_free(&rec->edit->own[i]);
    rec->fields[i] = g;
    rec->edit->own[i] = o;
    mp__edit_cn(rec);
    return MP_OK;
}

/* Rebuilds data field i from its own subfields with one change. */
static int mp__rebuild(mp_record *rec, uint32_t i, char ind1, char ind2, uint32_t skip,
                       const mp_subfield *extra, uint32_t extra_at)
{
    mp_field g = rec->fields[i];
    mp__own o;
    int rc = mp__make_data(&o, &g, ind1, ind2, g.subfields, g.nsubfields, skip, extra, extra_at);
    if (rc < 0)
        return rc;
    mp__own_free(&rec->edit->own[i]);
    rec->fields[i] = g;
    rec->edit->own[i] = o;
    return MP_OK;
}

static int mp__data_field_at(const mp_record *rec, uint32_t i)
{
    return mp__is_edit(rec) && i < rec->nfields && !rec->fields[i].is_control;
}

MP_EXPORT int mp_record_set_indicators(mp_record *rec, uint32_t i, char ind1, char ind2)
{
    if (!mp__data_field_at(rec, i) || !mp__ind_ok(ind1) || !mp__ind_ok(ind2))
        return MP_EINVAL;
    return mp__rebuild(rec, i, ind1, ind2, UINT32_MAX, NULL, 0);
}

MP_EXPORT int mp_record_insert_subfield(mp_record *rec, uint32_t i, uint32_t at, char code,
                                        const char *value, size_t len)
{
    if (!mp__data_field_at(rec, i) || !mp__code_ok(code) || !mp__value_ok(value, len))
        return MP_EINVAL;
    const mp_field *f = &rec->fields[i];
    if (at == MP_END)
        at = f->nsubfields;
    if (at > f->nsubfields)
        return MP_EINVAL;
    mp_subfield s = {value, (uint32_t)len, code};
    return mp__rebuild(rec, i, f->ind1, f->ind2, UINT32_MAX, &s, at);
}

MP_EXPORT int mp_record_set_subfield(mp_record *rec, uint32_t i, uint32_t j, char code,
                                     const char *value, size_t len)
{
    if (!mp__data_field_at(rec, i) || !mp__code_ok(code) || !mp__value_ok(value, len))
        return MP_EINVAL;
    const mp_field *f = &rec->fields[i];
    if (j >= f->nsubfields)
        return MP_EINVAL;
    mp_subfield s = {value, (uint32_t)len, code};
    return mp__rebuild(rec, i, f->ind1, f->ind2, j, &s, j);
}

MP_EXPORT int mp_record_remove_subfield(mp_record *rec, uint32_t i, uint32_t j)
{
    if (!mp__data_field_at(rec, i) || j >= rec->fields[i].nsubfields)
        return MP_EINVAL;
    const mp_field *f = &rec->fields[i];
    return mp__rebuild(rec, i, f->ind1, f->ind2, j, NULL, 0);
}
