/* Native helpers for the text parsers' hot loops (see rowscan.py, which wraps them and says when
   they are used). Every function here either gives exactly what the pure-Python code gives or
   declines (returns None), and the caller then runs the pure-Python code.

   scan(block, select, by_prefix, template, marker, first_line, strict)

   Walks the '\n'-separated lines of `block` (a str, read as its UTF-8). A line is *selected* when it
   starts with `select` (by_prefix true) or holds it anywhere (by_prefix false). A selected line must
   match `template` exactly; when one does not, the result is None (strict) or the line is returned
   with the others (not strict), for the caller to look at.

   template: a tuple of items, matched in order:
     str              a literal (ASCII)
     NUM (1)          [-+]?\d+\.?\d*(?:[eE][-+]?\d+)?   value kept
     INT (2)          \d+ without a leading zero ("0" itself is fine)   value kept
     WS  (3)          [ \t]*
     REST(4)          the rest of the line (last item only)
     (STAR, chars)    [chars]*     (chars: ASCII)
     (PLUS, chars)    [chars]+
     (OPT, str)       (?:literal)?
     (GROUP, items)   (?:items)?   an optional group (no NUM/INT inside)
   The line must end after the last item (unless it is REST).

   Each item is taken the way Python's `re` tries it first (the longest run; an optional part when
   it is there; the exponent when it is complete) and never backtracked: so when this path matches
   the whole line, a regex made of the same items finds the same groups, and when it does not, the
   scan declines instead of guessing. Digits, word characters and sets are ASCII: a line where `re`
   would see a non-ASCII digit or letter fails here. Values are converted exactly as float() converts
   them (see to_double).

   Returns (values, lines, other_lines, other_texts):
     values       bytes: the kept values as C doubles, row by row (array('d').frombytes)
     lines        list[int]: first_line + index of each matched line
     other_lines  list[int]: first_line + index of each line not matched that holds `marker`
                  (or is selected, not strict); an empty marker: every line not matched
     other_texts  list[str]: those lines' texts

   lf(data) -> bytes: the bytes with each "\r\n" made "\n" and a last "\r" dropped.
   last_frames(data) -> bytes | None: each '\n'-separated line replaced by its last '\r' frame,
   where that frame holds a visible ASCII character (else None: the caller's clean_line decides).
*/

#define _GNU_SOURCE /* memmem */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { T_LIT = 0, T_NUM = 1, T_INT = 2, T_WS = 3, T_REST = 4, T_STAR = 5, T_PLUS = 6, T_OPT = 7, T_GROUP = 8 };
#define MAX_ITEMS 96
#define MAX_TOKEN 64

typedef struct {
    int kind;
    const char *lit; /* T_LIT, T_OPT: the literal; T_STAR, T_PLUS: the set */
    Py_ssize_t len;  /* its length; T_GROUP: how many items follow inside the group */
} Item;

#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')

static const char *digits(const char *p, const char *end) {
    while (p < end && IS_DIGIT(*p))
        p++;
    return p;
}

/* End of a NUM token starting at p, or NULL. */
static const char *num_end(const char *p, const char *end) {
    if (p < end && (*p == '-' || *p == '+'))
        p++;
    const char *q = digits(p, end);
    if (q == p)
        return NULL;
    if (q < end && *q == '.')
        q = digits(q + 1, end);
    if (q < end && (*q == 'e' || *q == 'E')) {
        const char *r = q + 1;
        if (r < end && (*r == '-' || *r == '+'))
            r++;
        const char *s = digits(r, end);
        if (s > r)
            q = s; /* a complete exponent; else the 'e' is not part of the number */
    }
    return q;
}

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                               1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The double of the token [a, b) (a NUM or INT), as float() gives it.

   Clinger's fast path where it is exact: a decimal mantissa up to 2^53 and a power of ten up to
   1e22 are both exact doubles, so one IEEE multiplication or division rounds the true value
   correctly, which is what the correctly rounded conversion float() uses (PyOS_string_to_double)
   returns. Every other token goes to PyOS_string_to_double itself. */
static int to_double(const char *a, const char *b, double *out) {
    const char *p = a;
    int neg = 0;
    if (*p == '-' || *p == '+') {
        neg = *p == '-';
        p++;
    }
    uint64_t m = 0;
    int nd = 0, frac = 0, ok = 1;
    for (; p < b && IS_DIGIT(*p); p++) {
        if (nd || *p != '0')
            nd++;
        m = m * 10 + (uint64_t)(*p - '0');
        if (nd > 18)
            ok = 0;
    }
    if (p < b && *p == '.') {
        for (p++; p < b && IS_DIGIT(*p); p++) {
            if (nd || *p != '0')
                nd++;
            m = m * 10 + (uint64_t)(*p - '0');
            frac++;
            if (nd > 18)
                ok = 0;
        }
    }
    long e = -frac;
    if (p < b && (*p == 'e' || *p == 'E')) {
        p++;
        int eneg = 0;
        if (*p == '-' || *p == '+') {
            eneg = *p == '-';
            p++;
        }
        long x = 0;
        for (; p < b && IS_DIGIT(*p); p++) {
            if (x < 100000)
                x = x * 10 + (*p - '0');
        }
        e += eneg ? -x : x;
    }
    if (ok && m <= (1ULL << 53) && e >= -22 && e <= 22) {
        double v = (double)m;
        v = e < 0 ? v / POW10[-e] : v * POW10[e];
        *out = neg ? -v : v;
        return 1;
    }
    char buf[MAX_TOKEN + 1];
    if (b - a > MAX_TOKEN)
        return 0;
    memcpy(buf, a, (size_t)(b - a));
    buf[b - a] = '\0';
    char *endp = NULL;
    double v = PyOS_string_to_double(buf, &endp, NULL);
    if (v == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    if (endp != buf + (b - a))
        return 0;
    *out = v;
    return 1;
}

static int in_set(char c, const Item *it) {
    return c != '\0' && memchr(it->lit, c, (size_t)it->len) != NULL;
}

/* Match items[0:n] from p (not past end); the new position, or NULL. Values go to vals[*nv...]. */
static const char *match_items(const char *p, const char *end, const Item *items, int n, double *vals, int *nv) {
    for (int k = 0; k < n; k++) {
        const Item *it = &items[k];
        switch (it->kind) {
        case T_LIT:
            if (end - p < it->len || memcmp(p, it->lit, (size_t)it->len) != 0)
                return NULL;
            p += it->len;
            break;
        case T_OPT:
            if (end - p >= it->len && memcmp(p, it->lit, (size_t)it->len) == 0)
                p += it->len;
            break;
        case T_WS:
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
            break;
        case T_STAR:
        case T_PLUS: {
            const char *q = p;
            while (q < end && in_set(*q, it))
                q++;
            if (it->kind == T_PLUS && q == p)
                return NULL;
            p = q;
            break;
        }
        case T_GROUP: {
            int inner = (int)it->len;
            const char *q = match_items(p, end, items + k + 1, inner, vals, nv);
            if (q != NULL)
                p = q;
            k += inner;
            break;
        }
        case T_REST:
            return end;
        case T_INT:
        case T_NUM: {
            const char *e = it->kind == T_INT ? digits(p, end) : num_end(p, end);
            if (e == NULL || e <= p)
                return NULL;
            if (it->kind == T_INT && *p == '0' && e - p > 1)
                return NULL; /* "007" and "7" are one value but not one text */
            if (!to_double(p, e, &vals[(*nv)++]))
                return NULL;
            p = e;
            break;
        }
        default:
            return NULL;
        }
    }
    return p;
}

static int match_line(const char *p, const char *end, const Item *items, int n_items, double *vals) {
    int nv = 0;
    return match_items(p, end, items, n_items, vals, &nv) == end;
}

static Py_ssize_t count_nl(const char *p, const char *end) {
    Py_ssize_t c = 0;
    for (; p < end; p++)
        c += *p == '\n';
    return c;
}

static int is_ascii_str(PyObject *o) {
    return PyUnicode_Check(o) && PyUnicode_IS_ASCII(o);
}

/* Flatten `template` into items[*n...]; counts kept values. 0 with an exception set on a bad item. */
static int compile_items(PyObject *template, Item *items, int *n, int *n_vals, int top) {
    Py_ssize_t size = PyTuple_GET_SIZE(template);
    for (Py_ssize_t k = 0; k < size; k++) {
        PyObject *o = PyTuple_GET_ITEM(template, k);
        if (*n >= MAX_ITEMS) {
            PyErr_SetString(PyExc_ValueError, "template too long");
            return 0;
        }
        Item *it = &items[(*n)++];
        if (PyUnicode_Check(o)) {
            if (!is_ascii_str(o)) {
                PyErr_SetString(PyExc_ValueError, "template literals must be ASCII");
                return 0;
            }
            it->kind = T_LIT;
            it->lit = (const char *)PyUnicode_DATA(o);
            it->len = PyUnicode_GET_LENGTH(o);
        } else if (PyLong_Check(o)) {
            long c = PyLong_AsLong(o);
            if (c < T_NUM || c > T_REST || (c == T_REST && (k != size - 1 || !top)) ||
                ((c == T_NUM || c == T_INT) && !top)) {
                PyErr_SetString(PyExc_ValueError, "bad template item");
                return 0;
            }
            it->kind = (int)c;
            *n_vals += (c == T_NUM || c == T_INT);
        } else if (PyTuple_Check(o) && PyTuple_GET_SIZE(o) == 2 && PyLong_Check(PyTuple_GET_ITEM(o, 0))) {
            long c = PyLong_AsLong(PyTuple_GET_ITEM(o, 0));
            PyObject *arg = PyTuple_GET_ITEM(o, 1);
            if ((c == T_STAR || c == T_PLUS || c == T_OPT) && is_ascii_str(arg) && PyUnicode_GET_LENGTH(arg) > 0) {
                it->kind = (int)c;
                it->lit = (const char *)PyUnicode_DATA(arg);
                it->len = PyUnicode_GET_LENGTH(arg);
            } else if (c == T_GROUP && PyTuple_Check(arg)) {
                it->kind = T_GROUP;
                int before = *n;
                if (!compile_items(arg, items, n, n_vals, 0))
                    return 0;
                it->len = *n - before;
            } else {
                PyErr_SetString(PyExc_ValueError, "bad template item");
                return 0;
            }
        } else {
            PyErr_SetString(PyExc_TypeError, "template items are str, int or (int, arg)");
            return 0;
        }
    }
    return 1;
}

static PyObject *scan(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *block, *select, *template, *marker;
    int by_prefix, strict = 1;
    Py_ssize_t first_line;
    if (!PyArg_ParseTuple(args, "UUpO!On|p", &block, &select, &by_prefix, &PyTuple_Type, &template, &marker,
                          &first_line, &strict))
        return NULL;
    if (marker != Py_None && !PyUnicode_Check(marker)) {
        PyErr_SetString(PyExc_TypeError, "marker must be a str or None");
        return NULL;
    }
    Item items[MAX_ITEMS];
    int n_items = 0, n_vals = 0;
    if (!compile_items(template, items, &n_items, &n_vals, 1))
        return NULL;
    if (!is_ascii_str(select) || PyUnicode_GET_LENGTH(select) == 0 || (marker != Py_None && !is_ascii_str(marker))) {
        PyErr_SetString(PyExc_ValueError, "select must be non-empty ASCII, marker ASCII");
        return NULL;
    }
    const char *sel = (const char *)PyUnicode_DATA(select);
    size_t sel_len = (size_t)PyUnicode_GET_LENGTH(select);
    const char *mk = marker == Py_None ? NULL : (const char *)PyUnicode_DATA(marker);
    size_t mk_len = marker == Py_None ? 0 : (size_t)PyUnicode_GET_LENGTH(marker);
    /* every selected line holds the key: lines without it are skipped without a look */
    const char *key = mk ? mk : sel;
    size_t key_len = mk ? mk_len : sel_len;
    if (mk && !(by_prefix ? (mk_len <= sel_len && memcmp(sel, mk, mk_len) == 0)
                          : memmem(sel, sel_len, mk, mk_len) != NULL)) {
        PyErr_SetString(PyExc_ValueError, "marker must be part of select");
        return NULL;
    }

    Py_ssize_t n;
    const char *buf = PyUnicode_AsUTF8AndSize(block, &n);
    if (buf == NULL)
        return NULL;
    const char *end_all = buf + n;
    PyObject *lines = PyList_New(0), *olines = PyList_New(0), *otexts = PyList_New(0), *values = NULL;
    size_t cap = 4096, nv = 0;
    double *vals = PyMem_Malloc(cap * sizeof(double));
    if (!lines || !olines || !otexts || !vals)
        goto fail;
    const char *pos = buf, *counted = buf;
    Py_ssize_t line_no = first_line;
    while (pos <= end_all) {
        /* an empty marker: every line is looked at */
        const char *hit = key_len ? memmem(pos, (size_t)(end_all - pos), key, key_len) : pos;
        if (hit == NULL)
            break;
        const char *start = hit;
        while (start > pos && start[-1] != '\n')
            start--;
        const char *end = memchr(hit, '\n', (size_t)(end_all - hit));
        if (end == NULL)
            end = end_all;
        line_no += count_nl(counted, start);
        counted = start;
        int selected = by_prefix ? ((size_t)(end - start) >= sel_len && memcmp(start, sel, sel_len) == 0)
                                 : (key == sel || memmem(start, (size_t)(end - start), sel, sel_len) != NULL);
        int matched = 0;
        if (selected) {
            if (nv + (size_t)n_vals > cap) {
                cap *= 2;
                double *grown = PyMem_Realloc(vals, cap * sizeof(double));
                if (!grown)
                    goto fail;
                vals = grown;
            }
            matched = match_line(start, end, items, n_items, vals + nv);
            if (!matched && strict) {
                Py_DECREF(lines);
                Py_DECREF(olines);
                Py_DECREF(otexts);
                PyMem_Free(vals);
                Py_RETURN_NONE;
            }
        }
        if (matched) {
            nv += (size_t)n_vals;
            PyObject *ln = PyLong_FromSsize_t(line_no);
            if (!ln || PyList_Append(lines, ln) < 0) {
                Py_XDECREF(ln);
                goto fail;
            }
            Py_DECREF(ln);
        } else if (selected || mk) {
            PyObject *ln = PyLong_FromSsize_t(line_no);
            PyObject *tx = PyUnicode_DecodeUTF8(start, end - start, "strict");
            if (!ln || !tx || PyList_Append(olines, ln) < 0 || PyList_Append(otexts, tx) < 0) {
                Py_XDECREF(ln);
                Py_XDECREF(tx);
                goto fail;
            }
            Py_DECREF(ln);
            Py_DECREF(tx);
        }
        pos = end + 1;
    }
    values = PyBytes_FromStringAndSize((const char *)vals, (Py_ssize_t)(nv * sizeof(double)));
    PyMem_Free(vals);
    vals = NULL;
    if (!values)
        goto fail;
    return Py_BuildValue("(NNNN)", values, lines, olines, otexts);
fail:
    Py_XDECREF(lines);
    Py_XDECREF(olines);
    Py_XDECREF(otexts);
    if (vals)
        PyMem_Free(vals);
    return NULL;
}

/* lf(data) -> bytes: "\r\n" -> "\n", and a "\r" at the very end dropped (the last line's CRLF). */
static PyObject *lf(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data))
        return NULL;
    const char *b = data.buf;
    Py_ssize_t n = data.len;
    PyObject *out = PyBytes_FromStringAndSize(NULL, n);
    if (out == NULL) {
        PyBuffer_Release(&data);
        return NULL;
    }
    char *o = PyBytes_AS_STRING(out), *w = o;
    const char *p = b, *end = b + n;
    while (p < end) {
        const char *cr = memchr(p, '\r', (size_t)(end - p));
        if (cr == NULL) {
            memcpy(w, p, (size_t)(end - p));
            w += end - p;
            break;
        }
        memcpy(w, p, (size_t)(cr - p));
        w += cr - p;
        if (cr + 1 == end || cr[1] == '\n') { /* dropped: a CRLF's '\r' or the last byte */
            p = cr + 1;
        } else {
            *w++ = '\r';
            p = cr + 1;
        }
    }
    PyBuffer_Release(&data);
    if (_PyBytes_Resize(&out, w - o) < 0)
        return NULL;
    return out;
}

/* last_frames(data) -> bytes | None: each line's last '\r' frame, where it holds a visible ASCII
   character (so that `frame.strip()` is not empty whatever else it holds); None if one does not. */
static PyObject *last_frames(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data))
        return NULL;
    const char *b = data.buf, *end = b + data.len;
    PyObject *out = PyBytes_FromStringAndSize(NULL, data.len);
    if (out == NULL) {
        PyBuffer_Release(&data);
        return NULL;
    }
    char *o = PyBytes_AS_STRING(out), *w = o;
    const char *p = b;
    while (p <= end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *cr = NULL;
        for (const char *q = le; q > p; q--)
            if (q[-1] == '\r') {
                cr = q - 1;
                break;
            }
        const char *s = cr ? cr + 1 : p;
        if (cr) {
            int visible = 0;
            for (const char *q = s; q < le && !visible; q++)
                visible = *q > ' ' && *q < 127;
            if (!visible) {
                PyBuffer_Release(&data);
                Py_DECREF(out);
                Py_RETURN_NONE;
            }
        }
        memcpy(w, s, (size_t)(le - s));
        w += le - s;
        if (!nl)
            break;
        *w++ = '\n';
        p = nl + 1;
    }
    PyBuffer_Release(&data);
    if (_PyBytes_Resize(&out, w - o) < 0)
        return NULL;
    return out;
}

/* contains_any(data, needles) -> bool: does `data` (bytes, or a str: its UTF-8, where an ASCII needle
   is found exactly where the str holds it) hold any of `needles` (a tuple of at most
   64 bytes objects, each at least 2 long)? What the text-event pre-filter asks of every block.

   One pass over the data: each needle is looked for by its rarest pair of adjacent bytes (counted
   in the first 64 KiB of the data), a bitmap of those pairs picks the few positions worth a memcmp. */
#define MAX_NEEDLES 64
static PyObject *contains_any(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer data;
    PyObject *src, *needles;
    if (!PyArg_ParseTuple(args, "OO!", &src, &PyTuple_Type, &needles))
        return NULL;
    if (PyUnicode_Check(src)) { /* the str's own UTF-8 (no copy for ASCII; cached otherwise) */
        Py_ssize_t size;
        const char *utf8 = PyUnicode_AsUTF8AndSize(src, &size);
        if (utf8 == NULL || PyBuffer_FillInfo(&data, src, (void *)utf8, size, 1, PyBUF_SIMPLE) < 0)
            return NULL;
    } else if (PyObject_GetBuffer(src, &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    Py_ssize_t k = PyTuple_GET_SIZE(needles);
    const unsigned char *b = data.buf;
    Py_ssize_t n = data.len;
    if (k > MAX_NEEDLES) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "too many needles");
        return NULL;
    }
    uint32_t *freq = PyMem_Calloc(65536, sizeof(uint32_t));
    unsigned char *pairs = PyMem_Calloc(65536 / 8, 1);
    if (freq == NULL || pairs == NULL) {
        PyMem_Free(freq);
        PyMem_Free(pairs);
        PyBuffer_Release(&data);
        return PyErr_NoMemory();
    }
    Py_ssize_t sample = n < 65536 ? n : 65536;
    for (Py_ssize_t i = 0; i + 1 < sample; i++)
        freq[(unsigned)b[i] << 8 | b[i + 1]]++;
    const unsigned char *word[MAX_NEEDLES];
    Py_ssize_t len[MAX_NEEDLES], off[MAX_NEEDLES];
    unsigned pair[MAX_NEEDLES];
    for (Py_ssize_t j = 0; j < k; j++) {
        PyObject *o = PyTuple_GET_ITEM(needles, j);
        if (!PyBytes_Check(o) || PyBytes_GET_SIZE(o) < 2) {
            PyMem_Free(freq);
            PyMem_Free(pairs);
            PyBuffer_Release(&data);
            PyErr_SetString(PyExc_ValueError, "needles are bytes of at least 2");
            return NULL;
        }
        word[j] = (const unsigned char *)PyBytes_AS_STRING(o);
        len[j] = PyBytes_GET_SIZE(o);
        off[j] = 0;
        for (Py_ssize_t q = 1; q + 1 < len[j]; q++)
            if (freq[(unsigned)word[j][q] << 8 | word[j][q + 1]] <
                freq[(unsigned)word[j][off[j]] << 8 | word[j][off[j] + 1]])
                off[j] = q;
        pair[j] = (unsigned)word[j][off[j]] << 8 | word[j][off[j] + 1];
        pairs[pair[j] >> 3] |= (unsigned char)(1u << (pair[j] & 7));
    }
    int found = 0;
    for (Py_ssize_t i = 0; i + 1 < n && !found; i++) {
        unsigned v = (unsigned)b[i] << 8 | b[i + 1];
        if (!(pairs[v >> 3] & (1u << (v & 7))))
            continue;
        for (Py_ssize_t j = 0; j < k; j++) {
            Py_ssize_t at = i - off[j];
            if (pair[j] == v && at >= 0 && len[j] <= n - at && memcmp(b + at, word[j], (size_t)len[j]) == 0) {
                found = 1;
                break;
            }
        }
    }
    PyMem_Free(freq);
    PyMem_Free(pairs);
    PyBuffer_Release(&data);
    return PyBool_FromLong(found);
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, "scan(block, select, by_prefix, template, marker, first_line, strict=True) -> tuple | None"},
    {"lf", lf, METH_VARARGS, "lf(data) -> bytes"},
    {"last_frames", last_frames, METH_VARARGS, "last_frames(data) -> bytes | None"},
    {"contains_any", contains_any, METH_VARARGS, "contains_any(data, needles) -> bool"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_rowscan", "Native row scanner (see rowscan.py).", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__rowscan(void) {
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddIntConstant(m, "NUM", T_NUM) < 0 || PyModule_AddIntConstant(m, "INT", T_INT) < 0 ||
        PyModule_AddIntConstant(m, "WS", T_WS) < 0 || PyModule_AddIntConstant(m, "REST", T_REST) < 0 ||
        PyModule_AddIntConstant(m, "STAR", T_STAR) < 0 || PyModule_AddIntConstant(m, "PLUS", T_PLUS) < 0 ||
        PyModule_AddIntConstant(m, "OPT", T_OPT) < 0 || PyModule_AddIntConstant(m, "GROUP", T_GROUP) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
