/* The catch-up loops of the engine's window statistics (losswatch/engine/functions.py), in C.
 *
 * A lazy stream catches up on a run of points (functions.Points: lists of steps, values and wall
 * times; the run is values[lo:]) in `push_many`. Each function here is the Python loop of one stream class, statement for statement:
 * the same IEEE operations in the same order (built with -ffp-contract=off, so no fused
 * multiply-add), the same comparisons, libm's exp and log as Python's math module calls them. So the
 * state it leaves and the values it emits are the ones the Python loop gives, bit for bit;
 * tests/test_kernels.py holds the two to that.
 *
 * Every function first checks that each value of the run (and each step it computes with) is an
 * exact float, and its state of the types the Python code keeps; otherwise it returns NotImplemented
 * before touching anything, and the caller runs the Python loop. A stream with readers gets the list
 * of its values after each point of the run (the steps and times are the run's own).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

#define AT(list, i) PyFloat_AS_DOUBLE(PyList_GET_ITEM((list), (i)))
#define FINITE(x) ((x) - (x) == 0)

static PyObject *str_append, *str_pop, *str_popleft;

/* values is a list whose items from lo on are exact floats, 0 <= lo <= len(values). */
static int
floats_ok(PyObject *values, Py_ssize_t lo)
{
    if (!PyList_CheckExact(values))
        return 0;
    Py_ssize_t n = PyList_GET_SIZE(values);
    if (lo < 0 || lo > n)
        return 0;
    for (Py_ssize_t i = lo; i < n; i++) {
        if (!PyFloat_CheckExact(PyList_GET_ITEM(values, i)))
            return 0;
    }
    return 1;
}

/* A new list of floats from an array. */
static PyObject *
float_list(const double *v, Py_ssize_t n)
{
    PyObject *out = PyList_New(n);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *f = PyFloat_FromDouble(v[i]);
        if (f == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, f);
    }
    return out;
}

/* None or an exact float: *has = 0/1, *v = the value. */
static int
opt_float(PyObject *o, int *has, double *v)
{
    if (o == Py_None) {
        *has = 0;
        *v = 0.0;
        return 1;
    }
    if (!PyFloat_CheckExact(o))
        return 0;
    *has = 1;
    *v = PyFloat_AS_DOUBLE(o);
    return 1;
}

static PyObject *
opt_out(int has, double v)
{
    if (!has)
        Py_RETURN_NONE;
    return PyFloat_FromDouble(v);
}

/* Ema.push_many: ema(steps, xs, lo, value, last_step, n, emit) -> (value, last_step, out, first):
 * out (None unless emit) holds the value after each point from `first` on (before the first finite
 * point there is none). */
static PyObject *
k_ema(PyObject *self, PyObject *args)
{
    PyObject *steps, *xs, *value_o;
    Py_ssize_t lo;
    double last, n;
    int emit, has;
    double value;
    if (!PyArg_ParseTuple(args, "OOnOddp", &steps, &xs, &lo, &value_o, &last, &n, &emit))
        return NULL;
    if (!floats_ok(xs, lo) || !floats_ok(steps, lo) || PyList_GET_SIZE(steps) != PyList_GET_SIZE(xs) ||
        !opt_float(value_o, &has, &value) || !(n > 0))
        Py_RETURN_NOTIMPLEMENTED;
    Py_ssize_t end = PyList_GET_SIZE(xs), first = -1;
    double *out = NULL;
    if (emit && (out = PyMem_Malloc(sizeof(double) * (end - lo + 1))) == NULL)
        return PyErr_NoMemory();
    Py_ssize_t nout = 0;
    for (Py_ssize_t i = lo; i < end; i++) {
        double step = AT(steps, i), x = AT(xs, i);
        if (FINITE(x)) {
            if (!has) {
                value = x;
                has = 1;
            } else {
                double d = step - last;
                if (!(d > 0))
                    d = 1.0;
                value += (1.0 - exp(-d / n)) * (x - value);
            }
            last = step;
        }
        if (out != NULL && has) {
            if (first < 0)
                first = i;
            out[nout++] = value;
        }
    }
    PyObject *v = opt_out(has, value), *o;
    if (out != NULL) {
        o = float_list(out, nout);
        PyMem_Free(out);
    } else {
        o = Py_None;
        Py_INCREF(o);
    }
    if (v == NULL || o == NULL) {
        Py_XDECREF(v);
        Py_XDECREF(o);
        return NULL;
    }
    return Py_BuildValue("NdNn", v, last, o, first);
}

/* Rebound.push_many: rebound(xs, lo, peak, low, value, decayed) -> (peak, low, value, decayed) */
static PyObject *
k_rebound(PyObject *self, PyObject *args)
{
    PyObject *items, *peak_o, *low_o, *value_o;
    Py_ssize_t lo;
    int decayed, hp, hl, hv;
    double peak, low, value;
    if (!PyArg_ParseTuple(args, "OnOOOp", &items, &lo, &peak_o, &low_o, &value_o, &decayed))
        return NULL;
    if (!floats_ok(items, lo) || !opt_float(peak_o, &hp, &peak) || !opt_float(low_o, &hl, &low) ||
        !opt_float(value_o, &hv, &value))
        Py_RETURN_NOTIMPLEMENTED;
    Py_ssize_t end = PyList_GET_SIZE(items);
    for (Py_ssize_t i = lo; i < end; i++) {
        double x = AT(items, i);
        if (!FINITE(x))
            continue;
        if (!decayed) {
            if (!hp || x >= peak) {
                peak = low = x;
                hp = hl = 1;
            } else {
                decayed = 1;
                low = x;
                hl = 1;
            }
        } else if (!hl || x < low) {
            low = x;
            hl = 1;
        }
        value = (decayed && hl && low != 0 && low > 0) ? x / low : 1.0;
        hv = 1;
    }
    PyObject *a = opt_out(hp, peak), *b = opt_out(hl, low), *c = opt_out(hv, value);
    if (a == NULL || b == NULL || c == NULL) {
        Py_XDECREF(a);
        Py_XDECREF(b);
        Py_XDECREF(c);
        return NULL;
    }
    return Py_BuildValue("NNNO", a, b, c, decayed ? Py_True : Py_False);
}

/* Best.push_many, and Extreme.push_many over the whole run (rising = is_max):
 * best(steps, xs, lo, best, best_step, rising) -> (best, best_step); best_step is the step object of
 * the point that set it (or the one passed in). */
static PyObject *
k_best(PyObject *self, PyObject *args)
{
    PyObject *steps, *items, *b_o, *bs;
    Py_ssize_t lo;
    int rising, hb;
    double b;
    if (!PyArg_ParseTuple(args, "OOnOOp", &steps, &items, &lo, &b_o, &bs, &rising))
        return NULL;
    if (!floats_ok(items, lo) || !PyList_CheckExact(steps) || PyList_GET_SIZE(steps) != PyList_GET_SIZE(items) ||
        !opt_float(b_o, &hb, &b))
        Py_RETURN_NOTIMPLEMENTED;
    Py_ssize_t end = PyList_GET_SIZE(items);
    for (Py_ssize_t i = lo; i < end; i++) {
        double x = AT(items, i);
        if (FINITE(x) && (!hb || (rising ? x > b : x < b))) {
            b = x;
            hb = 1;
            bs = PyList_GET_ITEM(steps, i);
        }
    }
    PyObject *v = opt_out(hb, b);
    if (v == NULL)
        return NULL;
    return Py_BuildValue("NO", v, bs);
}

/* Extreme.push_many over the last n points (monotonic deque):
 * extreme_win(xs, lo, dq, i, n, is_max) -> (list of (i, x) for the new deque, i).
 * dq: the current deque of (int, float) pairs. */
static PyObject *
k_extreme_win(PyObject *self, PyObject *args)
{
    PyObject *items, *dq;
    Py_ssize_t lo;
    long long i, n;
    int is_max;
    if (!PyArg_ParseTuple(args, "OnOLLp", &items, &lo, &dq, &i, &n, &is_max))
        return NULL;
    if (!floats_ok(items, lo) || n <= 0)
        Py_RETURN_NOTIMPLEMENTED;
    PyObject *cur = PySequence_List(dq);
    if (cur == NULL)
        return NULL;
    Py_ssize_t have = PyList_GET_SIZE(cur), end = PyList_GET_SIZE(items);
    Py_ssize_t cap = have + (end - lo) + 1;
    long long *qi = PyMem_Malloc(sizeof(long long) * cap);
    double *qx = PyMem_Malloc(sizeof(double) * cap);
    if (qi == NULL || qx == NULL) {
        PyMem_Free(qi);
        PyMem_Free(qx);
        Py_DECREF(cur);
        return PyErr_NoMemory();
    }
    Py_ssize_t head = 0, tail = 0; /* qi/qx[head:tail] */
    for (Py_ssize_t k = 0; k < have; k++) {
        PyObject *p = PyList_GET_ITEM(cur, k);
        if (!PyTuple_CheckExact(p) || PyTuple_GET_SIZE(p) != 2 || !PyLong_CheckExact(PyTuple_GET_ITEM(p, 0)) ||
            !PyFloat_CheckExact(PyTuple_GET_ITEM(p, 1))) {
            PyMem_Free(qi);
            PyMem_Free(qx);
            Py_DECREF(cur);
            Py_RETURN_NOTIMPLEMENTED;
        }
        qi[tail] = PyLong_AsLongLong(PyTuple_GET_ITEM(p, 0));
        qx[tail++] = PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(p, 1));
    }
    Py_DECREF(cur);
    if (PyErr_Occurred()) {
        PyMem_Free(qi);
        PyMem_Free(qx);
        return NULL;
    }
    if (end - lo > n) { /* only the last n points can be in the window at the end */
        i += end - lo - n;
        lo = end - n;
        head = tail = 0;
    }
    for (Py_ssize_t k = lo; k < end; k++) {
        double x = AT(items, k);
        i += 1;
        if (FINITE(x)) {
            if (is_max) {
                while (tail > head && qx[tail - 1] <= x)
                    tail--;
            } else {
                while (tail > head && qx[tail - 1] >= x)
                    tail--;
            }
            qi[tail] = i;
            qx[tail++] = x;
        }
        while (tail > head && qi[head] <= i - n)
            head++;
    }
    PyObject *res = PyList_New(tail - head);
    if (res != NULL) {
        for (Py_ssize_t k = head; k < tail; k++) {
            PyObject *p = Py_BuildValue("(Ld)", qi[k], qx[k]);
            if (p == NULL) {
                Py_CLEAR(res);
                break;
            }
            PyList_SET_ITEM(res, k - head, p);
        }
    }
    PyMem_Free(qi);
    PyMem_Free(qx);
    if (res == NULL)
        return NULL;
    return Py_BuildValue("NL", res, i);
}

/* Elementwise.push_many with safe_log: log_points(xs, lo) -> [safe_log(x) for x in xs[lo:]] */
static PyObject *
k_log_points(PyObject *self, PyObject *args)
{
    PyObject *items;
    Py_ssize_t lo;
    if (!PyArg_ParseTuple(args, "On", &items, &lo))
        return NULL;
    if (!floats_ok(items, lo))
        Py_RETURN_NOTIMPLEMENTED;
    Py_ssize_t end = PyList_GET_SIZE(items);
    PyObject *out = PyList_New(end - lo);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = lo; i < end; i++) {
        double x = AT(items, i), y;
        if (x != x || x == Py_HUGE_VAL)
            y = x;
        else if (x <= 0)
            y = x == 0 ? -Py_HUGE_VAL : Py_NAN;
        else
            y = log(x);
        PyObject *fv = PyFloat_FromDouble(y);
        if (fv == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i - lo, fv);
    }
    return out;
}

/* Ordered.push_many for a median whose window is full and that has readers:
 * medians(xs, lo, win, sorted) -> (out, new window list, new sorted list), where out holds the
 * median after every point: each finite point enters the window (after its equals in the
 * sorted list, as insort) and the oldest leaves (the first of its equals, as bisect_left + del). */
static PyObject *
k_medians(PyObject *self, PyObject *args)
{
    PyObject *items, *win, *srt;
    Py_ssize_t lo;
    if (!PyArg_ParseTuple(args, "OnOO", &items, &lo, &win, &srt))
        return NULL;
    if (!floats_ok(items, lo) || !PyList_CheckExact(srt))
        Py_RETURN_NOTIMPLEMENTED;
    PyObject *w = PySequence_List(win);
    if (w == NULL)
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(w);
    if (n == 0 || PyList_GET_SIZE(srt) != n) {
        Py_DECREF(w);
        Py_RETURN_NOTIMPLEMENTED;
    }
    double *ring = PyMem_Malloc(sizeof(double) * n), *s = PyMem_Malloc(sizeof(double) * n);
    if (ring == NULL || s == NULL) {
        PyMem_Free(ring);
        PyMem_Free(s);
        Py_DECREF(w);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *a = PyList_GET_ITEM(w, k), *b = PyList_GET_ITEM(srt, k);
        if (!PyFloat_CheckExact(a) || !PyFloat_CheckExact(b)) {
            PyMem_Free(ring);
            PyMem_Free(s);
            Py_DECREF(w);
            Py_RETURN_NOTIMPLEMENTED;
        }
        ring[k] = PyFloat_AS_DOUBLE(a);
        s[k] = PyFloat_AS_DOUBLE(b);
    }
    Py_DECREF(w);
    Py_ssize_t oldest = 0, h = n / 2, end = PyList_GET_SIZE(items);
    PyObject *out = PyList_New(end - lo);
    if (out == NULL)
        goto fail;
    for (Py_ssize_t i = lo; i < end; i++) {
        double x = AT(items, i);
        if (FINITE(x)) {
            double old = ring[oldest];
            ring[oldest] = x;
            oldest = oldest + 1 == n ? 0 : oldest + 1;
            /* del s[bisect_left(s, old)] then insort(s, x): one move of the elements in between */
            Py_ssize_t a = 0, b = n;
            while (a < b) {
                Py_ssize_t m = (a + b) / 2;
                if (s[m] < old)
                    a = m + 1;
                else
                    b = m;
            }
            Py_ssize_t del = a; /* s without s[del] has n - 1 elements; insert x after its equals */
            a = 0;
            b = n - 1;
            while (a < b) {
                Py_ssize_t m = (a + b) / 2;
                double sm = s[m < del ? m : m + 1];
                if (x < sm)
                    b = m;
                else
                    a = m + 1;
            }
            Py_ssize_t ins = a; /* index in the list without s[del] */
            if (ins < del) {
                memmove(s + ins + 1, s + ins, sizeof(double) * (del - ins));
            } else if (ins > del) {
                memmove(s + del, s + del + 1, sizeof(double) * (ins - del));
            }
            s[ins] = x;
        }
        PyObject *fv = PyFloat_FromDouble(n % 2 ? s[h] : 0.5 * (s[h - 1] + s[h]));
        if (fv == NULL)
            goto fail;
        PyList_SET_ITEM(out, i - lo, fv);
    }
    PyObject *nw = PyList_New(n), *ns = PyList_New(n);
    if (nw == NULL || ns == NULL) {
        Py_XDECREF(nw);
        Py_XDECREF(ns);
        goto fail;
    }
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *a = PyFloat_FromDouble(ring[(oldest + k) % n]), *b = PyFloat_FromDouble(s[k]);
        if (a == NULL || b == NULL) {
            Py_XDECREF(a);
            Py_XDECREF(b);
            Py_DECREF(nw);
            Py_DECREF(ns);
            goto fail;
        }
        PyList_SET_ITEM(nw, k, a);
        PyList_SET_ITEM(ns, k, b);
    }
    PyMem_Free(ring);
    PyMem_Free(s);
    return Py_BuildValue("NNN", out, nw, ns);
fail:
    Py_XDECREF(out);
    PyMem_Free(ring);
    PyMem_Free(s);
    return NULL;
}

/* guard.py's medians over a run of lines: sliding_medians(a, n) -> bytes of float64, the median of
 * each window a[j+1 : j+1+n] (j = 0 .. len(a) - n - 1) of a C-contiguous float64 buffer `a` of
 * finite values, as functions.window_medians gives it: the window kept sorted (a point goes after
 * its equals, the oldest of equals leaves first), so each median is the stream's own value. */
static PyObject *
k_sliding_medians(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "y*n", &buf, &n))
        return NULL;
    Py_ssize_t m = buf.len / (Py_ssize_t)sizeof(double);
    if (n < 1 || m <= n || buf.len % (Py_ssize_t)sizeof(double)) {
        PyBuffer_Release(&buf);
        Py_RETURN_NOTIMPLEMENTED;
    }
    const double *a = buf.buf;
    double *s = PyMem_Malloc(sizeof(double) * n);
    PyObject *res = PyBytes_FromStringAndSize(NULL, (m - n) * (Py_ssize_t)sizeof(double));
    if (s == NULL || res == NULL) {
        PyMem_Free(s);
        Py_XDECREF(res);
        PyBuffer_Release(&buf);
        return PyErr_NoMemory();
    }
    double *out = (double *)PyBytes_AS_STRING(res);
    Py_ssize_t h = n / 2;
    for (Py_ssize_t k = 0; k < n; k++) { /* insort each of the first n */
        double x = a[k];
        Py_ssize_t lo = 0, hi = k;
        while (lo < hi) {
            Py_ssize_t mid = (lo + hi) / 2;
            if (x < s[mid])
                hi = mid;
            else
                lo = mid + 1;
        }
        memmove(s + lo + 1, s + lo, sizeof(double) * (k - lo));
        s[lo] = x;
    }
    for (Py_ssize_t j = 0; j < m - n; j++) {
        double old = a[j], x = a[j + n];
        Py_ssize_t lo = 0, hi = n;
        while (lo < hi) { /* bisect_left(s, old) */
            Py_ssize_t mid = (lo + hi) / 2;
            if (s[mid] < old)
                lo = mid + 1;
            else
                hi = mid;
        }
        Py_ssize_t del = lo;
        lo = 0;
        hi = n - 1;
        while (lo < hi) { /* bisect_right in s without s[del] */
            Py_ssize_t mid = (lo + hi) / 2;
            if (x < s[mid < del ? mid : mid + 1])
                hi = mid;
            else
                lo = mid + 1;
        }
        if (lo < del)
            memmove(s + lo + 1, s + lo, sizeof(double) * (del - lo));
        else if (lo > del)
            memmove(s + del, s + del + 1, sizeof(double) * (lo - del));
        s[lo] = x;
        out[j] = n % 2 ? s[h] : 0.5 * (s[h - 1] + s[h]);
    }
    PyMem_Free(s);
    PyBuffer_Release(&buf);
    return res;
}

/* RelImprovement.push_many: relimp(xs, lo, blocks, dq, state, rising, n, frac) -> state, where
 * state = (i, old_best, open_best, open_n, open_cap); blocks and dq are the stream's deques of
 * (point index, best) pairs, changed in place (a block closes every open_cap points). */
static PyObject *
k_relimp(PyObject *self, PyObject *args)
{
    PyObject *items, *blocks, *dq, *ob_o, *opb_o;
    Py_ssize_t lo;
    long long i, open_n, open_cap, n;
    int rising, hob, hopb;
    double frac, old_best, open_best;
    if (!PyArg_ParseTuple(args, "OnOO(LOOLL)pLd", &items, &lo, &blocks, &dq, &i, &ob_o, &opb_o, &open_n,
                          &open_cap, &rising, &n, &frac))
        return NULL;
    if (!floats_ok(items, lo) || !opt_float(ob_o, &hob, &old_best) || !opt_float(opb_o, &hopb, &open_best) ||
        n < 0 || !(frac >= 0 && frac <= 1))
        Py_RETURN_NOTIMPLEMENTED;
    Py_ssize_t end = PyList_GET_SIZE(items);
    for (Py_ssize_t k = lo; k < end; k++) {
        double x = AT(items, k);
        i += 1;
        if (FINITE(x) && (!hopb || (rising ? x > open_best : x < open_best))) {
            open_best = x;
            hopb = 1;
        }
        open_n += 1;
        long long size = n;
        if (frac != 0) {
            long long f = (long long)(frac * (double)i);
            if (f > size)
                size = f;
        }
        if (open_n >= open_cap) {
            PyObject *bo = opt_out(hopb, open_best);
            if (bo == NULL)
                return NULL;
            PyObject *pair = Py_BuildValue("(LO)", i, bo);
            PyObject *r0 = pair ? PyObject_CallMethodOneArg(blocks, str_append, pair) : NULL;
            if (r0 == NULL) {
                Py_DECREF(bo);
                Py_XDECREF(pair);
                return NULL;
            }
            Py_DECREF(r0);
            if (hopb) {
                for (;;) {
                    Py_ssize_t len = PyObject_Length(dq);
                    if (len < 0) {
                        Py_DECREF(bo);
                        Py_DECREF(pair);
                        return NULL;
                    }
                    if (len == 0)
                        break;
                    PyObject *last = PySequence_GetItem(dq, len - 1);
                    if (last == NULL) {
                        Py_DECREF(bo);
                        Py_DECREF(pair);
                        return NULL;
                    }
                    double lv = PyFloat_AsDouble(PyTuple_GET_ITEM(last, 1));
                    Py_DECREF(last);
                    if (rising ? lv > open_best : lv < open_best)
                        break;
                    PyObject *r = PyObject_CallMethodNoArgs(dq, str_pop);
                    if (r == NULL) {
                        Py_DECREF(bo);
                        Py_DECREF(pair);
                        return NULL;
                    }
                    Py_DECREF(r);
                }
                PyObject *r = PyObject_CallMethodOneArg(dq, str_append, pair);
                if (r == NULL) {
                    Py_DECREF(bo);
                    Py_DECREF(pair);
                    return NULL;
                }
                Py_DECREF(r);
            }
            Py_DECREF(bo);
            Py_DECREF(pair);
            hopb = 0;
            open_best = 0.0;
            open_n = 0;
            open_cap = size / 256;
            if (open_cap < 1)
                open_cap = 1;
        }
        long long lim = i - size;
        for (;;) {
            Py_ssize_t len = PyObject_Length(blocks);
            if (len < 0)
                return NULL;
            if (len == 0)
                break;
            PyObject *first = PySequence_GetItem(blocks, 0);
            if (first == NULL)
                return NULL;
            long long last = PyLong_AsLongLong(PyTuple_GET_ITEM(first, 0));
            Py_DECREF(first);
            if (last == -1 && PyErr_Occurred())
                return NULL;
            if (last > lim)
                break;
            PyObject *blk = PyObject_CallMethodNoArgs(blocks, str_popleft);
            if (blk == NULL)
                return NULL;
            PyObject *b_o = PyTuple_GET_ITEM(blk, 1);
            if (b_o != Py_None) {
                double b = PyFloat_AsDouble(b_o);
                if (!hob || (rising ? b > old_best : b < old_best)) {
                    old_best = b;
                    hob = 1;
                }
            }
            Py_DECREF(blk);
            Py_ssize_t dlen = PyObject_Length(dq);
            if (dlen < 0)
                return NULL;
            if (dlen) {
                PyObject *head = PySequence_GetItem(dq, 0);
                if (head == NULL)
                    return NULL;
                long long hi = PyLong_AsLongLong(PyTuple_GET_ITEM(head, 0));
                Py_DECREF(head);
                if (hi == last) {
                    PyObject *r = PyObject_CallMethodNoArgs(dq, str_popleft);
                    if (r == NULL)
                        return NULL;
                    Py_DECREF(r);
                }
            }
        }
    }
    PyObject *a = opt_out(hob, old_best), *b = opt_out(hopb, open_best);
    if (a == NULL || b == NULL) {
        Py_XDECREF(a);
        Py_XDECREF(b);
        return NULL;
    }
    return Py_BuildValue("(LNNLL)", i, a, b, open_n, open_cap);
}

static PyMethodDef methods[] = {
    {"ema", k_ema, METH_VARARGS,
     "Ema.push_many: (steps, xs, lo, value, last_step, n, emit) -> (value, last_step, out, first)"},
    {"rebound", k_rebound, METH_VARARGS, "Rebound.push_many: (xs, lo, peak, low, value, decayed) -> state"},
    {"best", k_best, METH_VARARGS,
     "Best.push_many, Extreme.push_many over the run: (steps, xs, lo, best, best_step, rising) -> (best, best_step)"},
    {"extreme_win", k_extreme_win, METH_VARARGS,
     "Extreme.push_many, last n points: (xs, lo, dq, i, n, is_max) -> (dq pairs, i)"},
    {"log_points", k_log_points, METH_VARARGS, "Elementwise safe_log: (xs, lo) -> [log x for x in xs[lo:]]"},
    {"medians", k_medians, METH_VARARGS, "Ordered.push_many, full median window: (xs, lo, win, sorted)"},
    {"sliding_medians", k_sliding_medians, METH_VARARGS,
     "guard medians: (float64 buffer a, n) -> bytes, the median of each window a[j+1:j+1+n]"},
    {"relimp", k_relimp, METH_VARARGS, "RelImprovement.push_many: (xs, lo, blocks, dq, state, rising, n, frac)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels", "Catch-up loops of the engine's streams.", -1,
                                    methods};

PyMODINIT_FUNC
PyInit__kernels(void)
{
    str_append = PyUnicode_InternFromString("append");
    str_pop = PyUnicode_InternFromString("pop");
    str_popleft = PyUnicode_InternFromString("popleft");
    if (str_append == NULL || str_pop == NULL || str_popleft == NULL)
        return NULL;
    return PyModule_Create(&module);
}
