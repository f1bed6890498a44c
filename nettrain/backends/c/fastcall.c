/* nettrain's call path in C: a function call's input checks, its steps and its outputs.
 *
 * Built (once per toolchain, through the compile cache) and loaded by fastcall.py.
 * Three objects, each replacing a Python loop whose interpreter overhead dominated
 * calls on small arrays:
 *
 *   Runner(plan, fail)      runs a linker's steps: for each (runner, node, input cells,
 *                           output cells, cells to clear) calls runner(node, [values], outs);
 *                           on an Exception calls fail(node, values, exc) (which re-raises
 *                           it with the node's context).
 *   Elemwise(addr, ...)     the contiguous case of an Elemwise kernel: exact ndarrays of the
 *                           node's dtypes and one shape, small outputs; anything else goes to
 *                           the Python driver it was given (same contract as Op.perform).
 *   Call(...).call(args)    Function.__call__'s common case: every input given by position as
 *                           an ndarray of the exact type (or a NumPy scalar for a rank-0 input);
 *                           returns NotImplemented, before touching anything, when some input
 *                           needs Python's checks (whose error messages stay the reference).
 *
 * Cells are one-element Python lists (checked in fastcall.py before these are built).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>
#include <stdint.h>

#define MAX_OPS 12
#define MAX_IN 64

static inline void set_cell(PyObject *cell, PyObject *v)  /* steals nothing */
{
    PyObject *old = PyList_GET_ITEM(cell, 0);
    Py_INCREF(v);
    PyList_SET_ITEM(cell, 0, v);
    Py_XDECREF(old);
}

/* ------------------------------------------------------------------ Runner */
typedef struct {
    PyObject_HEAD
    PyObject *plan, *fail, *dict;
} Runner;

static int runner_traverse(Runner *self, visitproc visit, void *arg)
{
    Py_VISIT(self->plan);
    Py_VISIT(self->fail);
    Py_VISIT(self->dict);
    return 0;
}

static int runner_clear(Runner *self)
{
    Py_CLEAR(self->plan);
    Py_CLEAR(self->fail);
    Py_CLEAR(self->dict);
    return 0;
}

static void runner_dealloc(Runner *self)
{
    PyObject_GC_UnTrack(self);
    runner_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int runner_init(Runner *self, PyObject *args, PyObject *kw)
{
    PyObject *plan, *fail;
    if (!PyArg_ParseTuple(args, "O!O", &PyTuple_Type, &plan, &fail))
        return -1;
    Py_INCREF(plan); Py_XSETREF(self->plan, plan);
    Py_INCREF(fail); Py_XSETREF(self->fail, fail);
    return 0;
}

static PyObject *runner_call(Runner *self, PyObject *args, PyObject *kw)
{
    PyObject *plan = self->plan;
    if (plan == NULL || self->fail == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_ntfast.Runner: not initialized");
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(plan);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *st = PyTuple_GET_ITEM(plan, i);
        PyObject *fn = PyTuple_GET_ITEM(st, 0), *node = PyTuple_GET_ITEM(st, 1);
        PyObject *ins = PyTuple_GET_ITEM(st, 2), *outs = PyTuple_GET_ITEM(st, 3);
        PyObject *clear = PyTuple_GET_ITEM(st, 4);
        Py_ssize_t k = PyTuple_GET_SIZE(ins);
        PyObject *vals = PyList_New(k);
        if (vals == NULL)
            return NULL;
        for (Py_ssize_t j = 0; j < k; j++) {
            PyObject *v = PyList_GET_ITEM(PyTuple_GET_ITEM(ins, j), 0);
            Py_INCREF(v);
            PyList_SET_ITEM(vals, j, v);
        }
        PyObject *cargs[3] = {node, vals, outs};
        PyObject *r = PyObject_Vectorcall(fn, cargs, 3, NULL);
        if (r == NULL) {
            if (PyErr_ExceptionMatches(PyExc_Exception)) {
                PyObject *t, *v, *tb;
                PyErr_Fetch(&t, &v, &tb);
                PyErr_NormalizeException(&t, &v, &tb);
                if (tb != NULL)
                    PyException_SetTraceback(v, tb);
                PyObject *fargs[3] = {node, vals, v};
                PyObject *r2 = PyObject_Vectorcall(self->fail, fargs, 3, NULL);  /* raises */
                Py_XDECREF(r2);
                Py_XDECREF(t); Py_XDECREF(v); Py_XDECREF(tb);
                if (r2 != NULL && !PyErr_Occurred())
                    PyErr_SetString(PyExc_RuntimeError, "nettrain: a step failed");
            }
            Py_DECREF(vals);
            return NULL;
        }
        Py_DECREF(r);
        Py_DECREF(vals);
        Py_ssize_t nc = PyTuple_GET_SIZE(clear);
        for (Py_ssize_t j = 0; j < nc; j++)
            set_cell(PyTuple_GET_ITEM(clear, j), Py_None);
    }
    Py_RETURN_NONE;
}

static PyMemberDef runner_members[] = {
    {"plan", T_OBJECT, offsetof(Runner, plan), READONLY, "the steps: (runner, node, inputs, outputs, clear)"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject RunnerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_ntfast.Runner",
    .tp_basicsize = sizeof(Runner),
    .tp_dealloc = (destructor)runner_dealloc,
    .tp_call = (ternaryfunc)runner_call,
    .tp_getattro = PyObject_GenericGetAttr,
    .tp_setattro = PyObject_GenericSetAttr,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)runner_traverse,
    .tp_clear = (inquiry)runner_clear,
    .tp_doc = "Runner(plan, fail): runs a linker's steps",
    .tp_dictoffset = offsetof(Runner, dict),
    .tp_members = runner_members,
    .tp_init = (initproc)runner_init,
    .tp_new = PyType_GenericNew,
};

/* ---------------------------------------------------------------- Elemwise */
typedef void (*kern_t)();

typedef struct {
    PyObject_HEAD
    kern_t fn;
    int nin, nout, ndim, nfull, nscal;
    int in_types[MAX_OPS], out_types[MAX_OPS], full[MAX_OPS], scal[MAX_OPS];
    PyArray_Descr *in_descr[MAX_OPS];
    Py_ssize_t max_elems;
    PyObject *fallback;
} Elemwise;

static void elemwise_dealloc(Elemwise *self)
{
    for (int i = 0; i < self->nin; i++)
        Py_XDECREF(self->in_descr[i]);
    Py_XDECREF(self->fallback);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int int_list(PyObject *seq, int *dst, int *count, const char *what)
{
    PyObject *t = PySequence_Tuple(seq);
    if (t == NULL)
        return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(t);
    if (n > MAX_OPS) {
        Py_DECREF(t);
        PyErr_Format(PyExc_ValueError, "_ntfast.Elemwise: too many %s", what);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        long v = PyLong_AsLong(PyTuple_GET_ITEM(t, i));
        if (v == -1 && PyErr_Occurred()) {
            Py_DECREF(t);
            return -1;
        }
        dst[i] = (int)v;
    }
    *count = (int)n;
    Py_DECREF(t);
    return 0;
}

static int elemwise_init(Elemwise *self, PyObject *args, PyObject *kw)
{
    unsigned long long addr;
    PyObject *it, *ot, *full, *scal, *fallback;
    if (!PyArg_ParseTuple(args, "KOOOOinO", &addr, &it, &ot, &full, &scal, &self->ndim, &self->max_elems, &fallback))
        return -1;
    if (int_list(it, self->in_types, &self->nin, "inputs") || int_list(ot, self->out_types, &self->nout, "outputs")
        || int_list(full, self->full, &self->nfull, "inputs") || int_list(scal, self->scal, &self->nscal, "inputs"))
        return -1;
    if (self->nin + self->nout > MAX_OPS) {
        PyErr_SetString(PyExc_ValueError, "_ntfast.Elemwise: too many operands");
        return -1;
    }
    for (int i = 0; i < self->nin; i++) {
        self->in_descr[i] = PyArray_DescrFromType(self->in_types[i]);
        if (self->in_descr[i] == NULL)
            return -1;
    }
    self->fn = (kern_t)(uintptr_t)addr;
    Py_INCREF(fallback);
    Py_XSETREF(self->fallback, fallback);
    return 0;
}

static inline int exact_array(PyObject *a, PyArray_Descr *want)
{
    if (!PyArray_CheckExact(a))
        return 0;
    PyArray_Descr *d = PyArray_DESCR((PyArrayObject *)a);
    return d == want || PyArray_EquivTypes(d, want);
}

static void call_kernel(kern_t fn, int64_t n, int nops, char **p)
{
    const int64_t *meta = NULL;
    switch (nops) {
    case 1: ((void (*)(int64_t, const int64_t *, char *))fn)(n, meta, p[0]); break;
    case 2: ((void (*)(int64_t, const int64_t *, char *, char *))fn)(n, meta, p[0], p[1]); break;
    case 3: ((void (*)(int64_t, const int64_t *, char *, char *, char *))fn)(n, meta, p[0], p[1], p[2]); break;
#define P4 char *, char *, char *, char *
    case 4: ((void (*)(int64_t, const int64_t *, P4))fn)(n, meta, p[0], p[1], p[2], p[3]); break;
    case 5: ((void (*)(int64_t, const int64_t *, P4, char *))fn)(n, meta, p[0], p[1], p[2], p[3], p[4]); break;
    case 6: ((void (*)(int64_t, const int64_t *, P4, char *, char *))fn)(n, meta, p[0], p[1], p[2], p[3], p[4], p[5]);
        break;
    case 7: ((void (*)(int64_t, const int64_t *, P4, char *, char *, char *))fn)(n, meta, p[0], p[1], p[2], p[3], p[4],
                                                                              p[5], p[6]);
        break;
    case 8: ((void (*)(int64_t, const int64_t *, P4, P4))fn)(n, meta, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]);
        break;
    case 9: ((void (*)(int64_t, const int64_t *, P4, P4, char *))fn)(n, meta, p[0], p[1], p[2], p[3], p[4], p[5], p[6],
                                                                   p[7], p[8]);
        break;
    case 10: ((void (*)(int64_t, const int64_t *, P4, P4, char *, char *))fn)(n, meta, p[0], p[1], p[2], p[3], p[4],
                                                                            p[5], p[6], p[7], p[8], p[9]);
        break;
    case 11: ((void (*)(int64_t, const int64_t *, P4, P4, char *, char *, char *))fn)(
        n, meta, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10]);
        break;
    case 12: ((void (*)(int64_t, const int64_t *, P4, P4, P4))fn)(n, meta, p[0], p[1], p[2], p[3], p[4], p[5], p[6],
                                                                p[7], p[8], p[9], p[10], p[11]);
        break;
#undef P4
    }
}

/* 1: done, 0: not the fast case (nothing written), -1: error */
static int elemwise_fast(Elemwise *self, PyObject *vals, PyObject *outs)
{
    int nin = self->nin, nout = self->nout, nd = self->ndim;
    if (!PyList_CheckExact(vals) || PyList_GET_SIZE(vals) != nin || !PyList_CheckExact(outs)
        || PyList_GET_SIZE(outs) != nout)
        return 0;
    for (int k = 0; k < nout; k++) {
        PyObject *cell = PyList_GET_ITEM(outs, k);
        if (!PyList_CheckExact(cell) || PyList_GET_SIZE(cell) != 1)
            return 0;
    }
    char *p[MAX_OPS];
    for (int i = 0; i < nin; i++) {
        PyObject *a = PyList_GET_ITEM(vals, i);
        if (!exact_array(a, self->in_descr[i]) || PyArray_NDIM((PyArrayObject *)a) != nd)
            return 0;
        p[i] = PyArray_BYTES((PyArrayObject *)a);
    }
    npy_intp ones[NPY_MAXDIMS], *shape = ones;
    for (int d = 0; d < nd; d++)
        ones[d] = 1;
    if (self->nfull) {
        PyArrayObject *ref = (PyArrayObject *)PyList_GET_ITEM(vals, self->full[0]);
        shape = PyArray_DIMS(ref);
        for (int f = 0; f < self->nfull; f++) {
            PyArrayObject *a = (PyArrayObject *)PyList_GET_ITEM(vals, self->full[f]);
            if (!PyArray_IS_C_CONTIGUOUS(a))
                return 0;
            if (f && memcmp(PyArray_DIMS(a), shape, nd * sizeof(npy_intp)) != 0)
                return 0;
        }
    }
    for (int s = 0; s < self->nscal; s++) {
        PyArrayObject *a = (PyArrayObject *)PyList_GET_ITEM(vals, self->scal[s]);
        if (memcmp(PyArray_DIMS(a), ones, nd * sizeof(npy_intp)) != 0)
            return 0;
    }
    int64_t n = 1;
    for (int d = 0; d < nd; d++)
        n *= shape[d];
    if (n >= self->max_elems)  /* big outputs: the Python driver reuses buffers (buffers.py) */
        return 0;
    PyObject *res[MAX_OPS];
    npy_intp dims[NPY_MAXDIMS];
    memcpy(dims, shape, nd * sizeof(npy_intp));
    for (int k = 0; k < nout; k++) {
        res[k] = PyArray_SimpleNew(nd, dims, self->out_types[k]);
        if (res[k] == NULL) {
            for (int j = 0; j < k; j++)
                Py_DECREF(res[j]);
            return -1;
        }
        p[nin + k] = PyArray_BYTES((PyArrayObject *)res[k]);
    }
    if (n)
        call_kernel(self->fn, n, nin + nout, p);
    for (int k = 0; k < nout; k++) {
        PyObject *cell = PyList_GET_ITEM(outs, k);
        PyObject *old = PyList_GET_ITEM(cell, 0);
        PyList_SET_ITEM(cell, 0, res[k]);
        Py_XDECREF(old);
    }
    return 1;
}

static PyObject *elemwise_vcall(PyObject *obj, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Elemwise *self = (Elemwise *)obj;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs == 3 && kwnames == NULL) {
        int r = elemwise_fast(self, args[1], args[2]);
        if (r < 0)
            return NULL;
        if (r > 0)
            Py_RETURN_NONE;
    }
    return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
}

static PyObject *elemwise_call(PyObject *self, PyObject *args, PyObject *kw)
{
    return PyVectorcall_Call(self, args, kw);
}

typedef struct {
    Elemwise base;
    vectorcallfunc vectorcall;
} ElemwiseV;

static int elemwisev_init(PyObject *self, PyObject *args, PyObject *kw)
{
    ((ElemwiseV *)self)->vectorcall = elemwise_vcall;
    return elemwise_init((Elemwise *)self, args, kw);
}

static PyTypeObject ElemwiseType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_ntfast.Elemwise",
    .tp_basicsize = sizeof(ElemwiseV),
    .tp_dealloc = (destructor)elemwise_dealloc,
    .tp_call = elemwise_call,
    .tp_vectorcall_offset = offsetof(ElemwiseV, vectorcall),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "Elemwise(addr, in_types, out_types, full, scal, ndim, max_elems, fallback)",
    .tp_init = elemwisev_init,
    .tp_new = PyType_GenericNew,
};

/* -------------------------------------------------------------------- Call */
typedef struct {
    PyObject *cell;
    PyArray_Descr *descr;  /* NULL: not a tensor type: checked in Python unless trusted */
    int ndim, free;
    PyObject *scalar;      /* NumPy scalar type accepted for a rank-0 input, or NULL */
    int clear;
} InSpec;

typedef struct {
    PyObject_HEAD
    int n_in, n_out, single, n_upd, trust;
    InSpec in[MAX_IN];
    PyObject *run, *out_cells, *upd;  /* upd: tuple of (container, cell) */
} Call;

static void call_dealloc(Call *self)
{
    for (int i = 0; i < self->n_in; i++) {
        Py_XDECREF(self->in[i].cell);
        Py_XDECREF(self->in[i].descr);
        Py_XDECREF(self->in[i].scalar);
    }
    Py_XDECREF(self->run);
    Py_XDECREF(self->out_cells);
    Py_XDECREF(self->upd);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Call(inputs, run, out_cells, single, updates) with inputs: tuple of (cell, dtype or None, ndim, free, scalar
   type or None, clear after the call) */
static int call_init(Call *self, PyObject *args, PyObject *kw)
{
    PyObject *ins, *run, *outc, *upd;
    int single;
    if (!PyArg_ParseTuple(args, "O!OO!pO!", &PyTuple_Type, &ins, &run, &PyTuple_Type, &outc, &single, &PyTuple_Type,
                          &upd))
        return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(ins);
    if (n > MAX_IN) {
        PyErr_SetString(PyExc_ValueError, "_ntfast.Call: too many inputs");
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *cell, *dt, *scalar;
        int nd, free, clear;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(ins, i), "O!OipOp", &PyList_Type, &cell, &dt, &nd, &free, &scalar,
                              &clear))
            return -1;
        InSpec *s = &self->in[i];
        Py_INCREF(cell);
        s->cell = cell;
        s->descr = NULL;
        if (dt != Py_None && !PyArray_DescrConverter(dt, &s->descr))
            return -1;
        s->ndim = nd;
        s->free = free;
        s->scalar = scalar == Py_None ? NULL : scalar;
        Py_XINCREF(s->scalar);
        s->clear = clear;
        self->n_in = (int)i + 1;
    }
    self->n_in = (int)n;
    Py_INCREF(run); Py_XSETREF(self->run, run);
    Py_INCREF(outc); Py_XSETREF(self->out_cells, outc);
    Py_INCREF(upd); Py_XSETREF(self->upd, upd);
    self->n_out = (int)PyTuple_GET_SIZE(outc);
    self->n_upd = (int)PyTuple_GET_SIZE(upd);
    self->single = single;
    return 0;
}

static PyObject *call_call(Call *self, PyObject *args)
{
    if (!PyTuple_Check(args) || PyTuple_GET_SIZE(args) != self->n_in)
        Py_RETURN_NOTIMPLEMENTED;
    int n = self->n_in;
    PyObject *conv[MAX_IN];
    for (int i = 0; i < n; i++) {
        PyObject *a = PyTuple_GET_ITEM(args, i);
        InSpec *s = &self->in[i];
        conv[i] = NULL;
        if (self->trust)
            continue;
        if (s->descr != NULL && s->free && exact_array(a, s->descr) && PyArray_NDIM((PyArrayObject *)a) == s->ndim)
            continue;
        if (s->scalar != NULL && (PyObject *)Py_TYPE(a) == s->scalar) {
            conv[i] = PyArray_FromScalar(a, NULL);
            if (conv[i] != NULL)
                continue;
            PyErr_Clear();
        }
        for (int j = 0; j < i; j++)
            Py_XDECREF(conv[j]);
        Py_RETURN_NOTIMPLEMENTED;  /* Python's checks handle (and explain) it */
    }
    for (int i = 0; i < n; i++) {
        PyObject *v = conv[i] ? conv[i] : PyTuple_GET_ITEM(args, i);
        set_cell(self->in[i].cell, v);
        Py_XDECREF(conv[i]);
    }
    PyObject *r = PyObject_CallNoArgs(self->run);
    if (r == NULL)
        return NULL;
    Py_DECREF(r);
    PyObject *out;
    if (self->single) {
        out = PyList_GET_ITEM(PyTuple_GET_ITEM(self->out_cells, 0), 0);
        Py_INCREF(out);
    } else {
        out = PyList_New(self->n_out);
        if (out == NULL)
            return NULL;
        for (int k = 0; k < self->n_out; k++) {
            PyObject *v = PyList_GET_ITEM(PyTuple_GET_ITEM(self->out_cells, k), 0);
            Py_INCREF(v);
            PyList_SET_ITEM(out, k, v);
        }
    }
    if (self->n_upd) {
        /* read every new value before writing any: an update may be another shared variable's container */
        PyObject *vals[MAX_IN * 4];
        int nu = self->n_upd;
        if (nu > MAX_IN * 4) {
            Py_DECREF(out);
            PyErr_SetString(PyExc_RuntimeError, "_ntfast.Call: too many updates");
            return NULL;
        }
        for (int u = 0; u < nu; u++) {
            vals[u] = PyList_GET_ITEM(PyTuple_GET_ITEM(PyTuple_GET_ITEM(self->upd, u), 1), 0);
            Py_INCREF(vals[u]);
        }
        for (int u = 0; u < nu; u++) {
            set_cell(PyTuple_GET_ITEM(PyTuple_GET_ITEM(self->upd, u), 0), vals[u]);
            Py_DECREF(vals[u]);
        }
    }
    for (int i = 0; i < n; i++)
        if (self->in[i].clear)
            set_cell(self->in[i].cell, Py_None);
    return out;
}

static PyObject *call_set_trust(Call *self, PyObject *arg)
{
    int t = PyObject_IsTrue(arg);
    if (t < 0)
        return NULL;
    self->trust = t;
    Py_RETURN_NONE;
}

static PyMethodDef call_methods[] = {
    {"call", (PyCFunction)call_call, METH_O, "call(args): the outputs, or NotImplemented (nothing done)"},
    {"set_trust", (PyCFunction)call_set_trust, METH_O, "set_trust(flag): skip the input checks"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CallType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_ntfast.Call",
    .tp_basicsize = sizeof(Call),
    .tp_dealloc = (destructor)call_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Call(inputs, run, out_cells, single, updates)",
    .tp_methods = call_methods,
    .tp_init = (initproc)call_init,
    .tp_new = PyType_GenericNew,
};

/* ------------------------------------------------------------------ module */
static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "_ntfast", "nettrain's call path in C", -1, NULL};

PyMODINIT_FUNC PyInit__ntfast(void)
{
    import_array();
    if (PyType_Ready(&RunnerType) < 0 || PyType_Ready(&ElemwiseType) < 0 || PyType_Ready(&CallType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (m == NULL)
        return NULL;
    Py_INCREF(&RunnerType);
    Py_INCREF(&ElemwiseType);
    Py_INCREF(&CallType);
    if (PyModule_AddObject(m, "Runner", (PyObject *)&RunnerType) < 0
        || PyModule_AddObject(m, "Elemwise", (PyObject *)&ElemwiseType) < 0
        || PyModule_AddObject(m, "Call", (PyObject *)&CallType) < 0)
        return NULL;
    return m;
}
