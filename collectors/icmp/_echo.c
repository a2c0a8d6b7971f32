/* The compiled ICMP echo path: the same table as collectors/icmp/packets.py's EchoTable (its
 * docstring is the specification), plus two calls that keep the per-packet work out of the
 * interpreter on the running agent:
 *
 *   send_burst(sock, batch, sent, targets, start, stop, monotonic)
 *       register and send targets[start:stop] with sendmmsg(2), 64 at a time;
 *   drain(sock, offset, now, limit)
 *       read every queued reply with recvmmsg(2), its kernel receive time (SO_TIMESTAMPNS)
 *       mapped onto the monotonic clock, and match it.
 *
 * A matched reply calls batch.on_reply(index, rtt), as the Python table does. The wire format,
 * the random draws (sequence, identifier, payload from the `random` callable, 4096 at a
 * time) and every rule for ignoring a packet are the Python table's: tests run both.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define SEQ_SPACE 65536
#define PAYLOAD_BYTES 8
#define ECHO_BYTES 16
#define DRAW_BYTES 12 /* sequence, identifier, payload */
#define DRAWS_PER_CALL 4096
#define BURST 64      /* replies read per recvmmsg */
#define SEND_BURST 32 /* requests per sendmmsg: one send time for all, so keep it short */
#define RX_BYTES 192 /* an IPv4 header with options (60) and the echo header, with room */
#define CONTROL_BYTES 64

typedef struct {
    PyObject *batch; /* strong reference while in flight; NULL when the slot is free */
    Py_ssize_t index;
    double sent_at;
    int32_t pos; /* where this sequence sits in `used` */
    uint16_t ident;
    unsigned char addr[16];
    unsigned char payload[PAYLOAD_BYTES];
} Entry;

typedef struct {
    PyObject_HEAD
    int family;
    int raw;
    int offset_ip; /* raw IPv4: replies carry the IP header, we write the checksum */
    int addr_len;  /* 4 or 16 */
    unsigned char request, reply;
    Entry *entries;   /* SEQ_SPACE of them */
    uint16_t *used;   /* the sequences in flight, densely */
    Py_ssize_t count; /* how many */
    PyObject *random; /* random(n) -> n bytes */
    PyObject *pool;   /* bytes from random() */
    Py_ssize_t at;
    /* receive buffers, reused by every drain */
    struct mmsghdr rx_msgs[BURST];
    struct iovec rx_iov[BURST];
    struct sockaddr_in6 rx_names[BURST];
    unsigned char rx_data[BURST][RX_BYTES];
    unsigned char rx_control[BURST][CONTROL_BYTES];
} Table;

static PyObject *str_on_reply;


static int
parse_address(Table *t, PyObject *text, unsigned char *out)
{
    /* 1 parsed, 0 not an address of our family, -1 error set */
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(text, &n);
    if (s == NULL)
        return -1;
    char host[INET6_ADDRSTRLEN + 1];
    const char *pct = memchr(s, '%', (size_t)n);
    Py_ssize_t len = pct ? pct - s : n;
    if (len <= 0 || len >= (Py_ssize_t)sizeof(host))
        return 0;
    memcpy(host, s, (size_t)len);
    host[len] = 0;
    return inet_pton(t->family, host, out) == 1;
}

static int
draw(Table *t, uint16_t *seq, uint16_t *ident, const unsigned char **payload)
{
    if (t->pool == NULL || t->at + DRAW_BYTES > PyBytes_GET_SIZE(t->pool)) {
        PyObject *fresh = PyObject_CallFunction(t->random, "n", (Py_ssize_t)DRAW_BYTES * DRAWS_PER_CALL);
        if (fresh == NULL)
            return -1;
        if (!PyBytes_Check(fresh) || PyBytes_GET_SIZE(fresh) < DRAW_BYTES) {
            Py_DECREF(fresh);
            PyErr_SetString(PyExc_ValueError, "random(n) must return at least 12 bytes");
            return -1;
        }
        Py_XSETREF(t->pool, fresh);
        t->at = 0;
    }
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(t->pool) + t->at;
    t->at += DRAW_BYTES;
    *seq = (uint16_t)(p[0] << 8 | p[1]);
    *ident = (uint16_t)(p[2] << 8 | p[3]);
    *payload = p + 4;
    return 0;
}

/* Reserve a sequence for one request and write its packet: the sequence, -1 when all are in
 * flight, -2 with an exception set. */
static int
take(Table *t, const unsigned char *addr, PyObject *batch, Py_ssize_t index, double sent_at,
     unsigned char *packet)
{
    if (t->count >= SEQ_SPACE)
        return -1;
    uint16_t seq, ident;
    const unsigned char *payload;
    if (draw(t, &seq, &ident, &payload) < 0)
        return -2;
    while (t->entries[seq].batch != NULL)
        seq = (uint16_t)(seq + 1);
    unsigned checksum = 0;
    if (!t->raw) {
        ident = 0; /* the kernel writes the socket's port */
    } else if (t->offset_ip) {
        uint32_t total = ((uint32_t)t->request << 8) + ident + seq;
        for (int i = 0; i < PAYLOAD_BYTES; i += 2)
            total += (uint32_t)(payload[i] << 8 | payload[i + 1]);
        total = (total >> 16) + (total & 0xFFFF);
        total += total >> 16;
        checksum = ~total & 0xFFFF;
    }
    Entry *e = &t->entries[seq];
    Py_INCREF(batch);
    e->batch = batch;
    e->index = index;
    e->sent_at = sent_at;
    e->ident = ident;
    memcpy(e->addr, addr, (size_t)t->addr_len);
    memcpy(e->payload, payload, PAYLOAD_BYTES);
    e->pos = (int32_t)t->count;
    t->used[t->count++] = seq;
    packet[0] = t->request;
    packet[1] = 0;
    packet[2] = (unsigned char)(checksum >> 8);
    packet[3] = (unsigned char)checksum;
    packet[4] = (unsigned char)(ident >> 8);
    packet[5] = (unsigned char)ident;
    packet[6] = (unsigned char)(seq >> 8);
    packet[7] = (unsigned char)seq;
    memcpy(packet + 8, payload, PAYLOAD_BYTES);
    return seq;
}

/* Forget `seq` and hand back its batch reference to the caller. */
static PyObject *
forget(Table *t, uint16_t seq)
{
    Entry *e = &t->entries[seq];
    PyObject *batch = e->batch;
    int32_t pos = e->pos;
    uint16_t last = t->used[--t->count];
    t->used[pos] = last;
    t->entries[last].pos = pos;
    e->batch = NULL;
    return batch;
}

/* 1 answered one of our requests, 0 ignored, -1 on_reply raised. */
static int
match(Table *t, const unsigned char *source, const unsigned char *data, Py_ssize_t len,
      double received_at)
{
    Py_ssize_t off = 0;
    if (t->offset_ip) {
        if (len < 20)
            return 0;
        off = (data[0] & 0x0F) * 4;
    }
    if (len < off + ECHO_BYTES)
        return 0;
    const unsigned char *h = data + off;
    if (h[0] != t->reply || h[1] != 0)
        return 0;
    uint16_t ident = (uint16_t)(h[4] << 8 | h[5]);
    uint16_t seq = (uint16_t)(h[6] << 8 | h[7]);
    Entry *e = &t->entries[seq];
    if (e->batch == NULL || memcmp(e->addr, source, (size_t)t->addr_len) != 0
        || memcmp(e->payload, h + 8, PAYLOAD_BYTES) != 0)
        return 0;
    if (t->raw && ident != e->ident)
        return 0;
    Py_ssize_t index = e->index;
    double rtt = received_at - e->sent_at;
    PyObject *batch = forget(t, seq);
    PyObject *args[3] = {batch, NULL, NULL};
    args[1] = PyLong_FromSsize_t(index);
    args[2] = PyFloat_FromDouble(rtt > 0.0 ? rtt : 0.0);
    PyObject *r = NULL;
    if (args[1] != NULL && args[2] != NULL)
        r = PyObject_VectorcallMethod(str_on_reply, args, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    Py_XDECREF(args[1]);
    Py_XDECREF(args[2]);
    Py_DECREF(batch);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 1;
}

static int
table_init(Table *t, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"family", "raw", "random", NULL};
    int family, raw;
    PyObject *random;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "$ipO", kwlist, &family, &raw, &random))
        return -1;
    if (family != AF_INET && family != AF_INET6) {
        PyErr_Format(PyExc_ValueError, "family must be AF_INET or AF_INET6, not %d", family);
        return -1;
    }
    if (!PyCallable_Check(random)) {
        PyErr_SetString(PyExc_TypeError, "random must be callable");
        return -1;
    }
    if (t->entries != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the table is already initialised");
        return -1;
    }
    t->family = family;
    t->raw = raw;
    t->offset_ip = raw && family == AF_INET;
    t->addr_len = family == AF_INET ? 4 : 16;
    t->request = family == AF_INET ? 8 : 128;
    t->reply = family == AF_INET ? 0 : 129;
    t->entries = PyMem_Calloc(SEQ_SPACE, sizeof(Entry));
    t->used = PyMem_Calloc(SEQ_SPACE, sizeof(uint16_t));
    if (t->entries == NULL || t->used == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_INCREF(random);
    t->random = random;
    for (int i = 0; i < BURST; i++) {
        t->rx_iov[i].iov_base = t->rx_data[i];
        t->rx_iov[i].iov_len = RX_BYTES;
    }
    return 0;
}

static int
table_traverse(Table *t, visitproc visit, void *arg)
{
    Py_VISIT(t->random);
    Py_VISIT(t->pool);
    for (Py_ssize_t i = 0; i < t->count; i++)
        Py_VISIT(t->entries[t->used[i]].batch);
    return 0;
}

static int
table_clear(Table *t)
{
    while (t->count > 0) {
        PyObject *batch = forget(t, t->used[t->count - 1]);
        Py_DECREF(batch);
    }
    Py_CLEAR(t->random);
    Py_CLEAR(t->pool);
    return 0;
}

static void
table_dealloc(Table *t)
{
    PyObject_GC_UnTrack(t);
    if (t->entries != NULL)
        table_clear(t);
    Py_CLEAR(t->random);
    Py_CLEAR(t->pool);
    PyMem_Free(t->entries);
    PyMem_Free(t->used);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static int
ready(Table *t)
{
    if (t->entries == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the table is not initialised");
        return 0;
    }
    return 1;
}

/* The table is initialised and called with `want` arguments; else an error naming the call. */
static int
called(Table *t, Py_ssize_t nargs, Py_ssize_t want, const char *usage)
{
    if (!ready(t))
        return 0;
    if (nargs != want) {
        PyErr_Format(PyExc_TypeError, "expected %s", usage);
        return 0;
    }
    return 1;
}

static Py_ssize_t
table_len(Table *t)
{
    return t->count;
}

static PyObject *
table_register(Table *t, PyObject *const *args, Py_ssize_t nargs)
{
    if (!called(t, nargs, 4, "register(address, batch, index, sent_at)"))
        return NULL;
    unsigned char addr[16];
    int ok = parse_address(t, args[0], addr);
    if (ok < 0)
        return NULL;
    if (ok == 0)
        return PyErr_Format(PyExc_ValueError, "not an address of this table's family: %R", args[0]);
    Py_ssize_t index = PyLong_AsSsize_t(args[2]);
    double sent_at = PyFloat_AsDouble(args[3]);
    if (PyErr_Occurred())
        return NULL;
    unsigned char packet[ECHO_BYTES];
    int seq = take(t, addr, args[1], index, sent_at, packet);
    if (seq == -2)
        return NULL;
    if (seq == -1)
        Py_RETURN_NONE;
    return Py_BuildValue("(iy#)", seq, (const char *)packet, (Py_ssize_t)ECHO_BYTES);
}

static PyObject *
table_release(Table *t, PyObject *const *args, Py_ssize_t nargs)
{
    if (!called(t, nargs, 2, "release(seq, batch)"))
        return NULL;
    long seq = PyLong_AsLong(args[0]);
    if (seq == -1 && PyErr_Occurred())
        return NULL;
    if (seq < 0 || seq >= SEQ_SPACE || t->entries[seq].batch != args[1])
        Py_RETURN_FALSE;
    PyObject *batch = forget(t, (uint16_t)seq);
    Py_DECREF(batch);
    Py_RETURN_TRUE;
}

static PyObject *
table_release_batch(Table *t, PyObject *batch)
{
    if (!ready(t))
        return NULL;
    int any = 0;
    for (Py_ssize_t i = t->count - 1; i >= 0; i--) {
        uint16_t seq = t->used[i];
        if (t->entries[seq].batch == batch) {
            PyObject *mine = forget(t, seq); /* moves the last one into position i */
            Py_DECREF(mine);
            any = 1;
        }
    }
    return PyBool_FromLong(any);
}

static PyObject *
table_on_packet(Table *t, PyObject *const *args, Py_ssize_t nargs)
{
    if (!called(t, nargs, 3, "on_packet(source, data, received_at)"))
        return NULL;
    unsigned char source[16];
    int ok = parse_address(t, args[0], source);
    if (ok < 0)
        return NULL;
    Py_buffer data;
    if (PyObject_GetBuffer(args[1], &data, PyBUF_SIMPLE) < 0)
        return NULL;
    double at = PyFloat_AsDouble(args[2]);
    int r = 0;
    if (!PyErr_Occurred() && ok)
        r = match(t, source, data.buf, data.len, at);
    PyBuffer_Release(&data);
    if (PyErr_Occurred())
        return NULL;
    return PyBool_FromLong(r);
}

static int
bump(PyObject *sent, Py_ssize_t index)
{
    PyObject *old = PyList_GET_ITEM(sent, index);
    Py_ssize_t n = PyLong_AsSsize_t(old);
    if (n == -1 && PyErr_Occurred())
        return -1;
    PyObject *now = PyLong_FromSsize_t(n + 1);
    if (now == NULL)
        return -1;
    PyList_SET_ITEM(sent, index, now);
    Py_DECREF(old);
    return 0;
}

/* send_burst(sock, batch, sent, targets, start, stop, monotonic) -> (next, errno, count)
 *
 * targets: list of packets.Target tuples, of which this reads (index, the address as
 * inet_pton() gives it (4 or 16 bytes), IPv6 scope id). Sends targets[start:stop] and adds one
 * to sent[index] for each request that went out. Stops early at the first target whose send
 * failed (errno > 0; that target was not sent and holds no sequence) or when every sequence
 * is in flight (errno -1). `count`: requests sent. monotonic() gives the send time, once per
 * sendmmsg. */
static PyObject *
table_send_burst(Table *t, PyObject *const *args, Py_ssize_t nargs)
{
    if (!called(t, nargs, 7, "send_burst(sock, batch, sent, targets, start, stop, monotonic)"))
        return NULL;
    int fd = PyObject_AsFileDescriptor(args[0]);
    if (fd < 0)
        return NULL;
    PyObject *batch = args[1], *sent = args[2], *targets = args[3];
    if (!PyList_Check(sent) || !PyList_Check(targets)) {
        PyErr_SetString(PyExc_TypeError, "sent and targets must be lists");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[4]);
    Py_ssize_t stop = PyLong_AsSsize_t(args[5]);
    PyObject *monotonic = args[6];
    if (PyErr_Occurred())
        return NULL;
    if (pos < 0 || stop > PyList_GET_SIZE(targets) || pos > stop) {
        PyErr_SetString(PyExc_IndexError, "start/stop outside targets");
        return NULL;
    }
    struct mmsghdr msgs[SEND_BURST];
    struct iovec iov[SEND_BURST];
    struct sockaddr_in6 names[SEND_BURST];
    unsigned char packets[SEND_BURST][ECHO_BYTES];
    int seqs[SEND_BURST];
    Py_ssize_t indices[SEND_BURST];
    Py_ssize_t total = 0;
    int err = 0;
    while (pos < stop && err == 0) {
        int n = 0;
        PyObject *now = PyObject_CallNoArgs(monotonic);
        if (now == NULL)
            goto fail;
        double at = PyFloat_AsDouble(now);
        Py_DECREF(now);
        if (at == -1.0 && PyErr_Occurred())
            goto fail;
        while (n < SEND_BURST && pos + n < stop) {
            PyObject *item = PyList_GET_ITEM(targets, pos + n);
            Py_ssize_t size = PyTuple_Check(item) ? PyTuple_GET_SIZE(item) : 0;
            if (size < 3) {
                PyErr_SetString(PyExc_TypeError, "a target is (index, packed address, scope, ...)");
                goto fail;
            }
            Py_ssize_t index = PyLong_AsSsize_t(PyTuple_GET_ITEM(item, 0));
            if (index == -1 && PyErr_Occurred())
                goto fail;
            PyObject *packed = PyTuple_GET_ITEM(item, 1);
            if (index < 0 || index >= PyList_GET_SIZE(sent) || !PyBytes_Check(packed)
                || PyBytes_GET_SIZE(packed) != t->addr_len) {
                PyErr_SetString(PyExc_ValueError, "a target's index or packed address is wrong");
                goto fail;
            }
            unsigned long scope = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(item, 2));
            if (PyErr_Occurred())
                goto fail;
            const unsigned char *addr = (const unsigned char *)PyBytes_AS_STRING(packed);
            int seq = take(t, addr, batch, index, at, packets[n]);
            if (seq == -2)
                goto fail;
            if (seq == -1) {
                err = -1;
                break;
            }
            memset(&names[n], 0, sizeof(names[n]));
            if (t->family == AF_INET) {
                struct sockaddr_in *sin = (struct sockaddr_in *)&names[n];
                sin->sin_family = AF_INET;
                memcpy(&sin->sin_addr, addr, 4);
                msgs[n].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
            } else {
                names[n].sin6_family = AF_INET6;
                memcpy(&names[n].sin6_addr, addr, 16);
                names[n].sin6_scope_id = (uint32_t)scope;
                msgs[n].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
            }
            iov[n].iov_base = packets[n];
            iov[n].iov_len = ECHO_BYTES;
            msgs[n].msg_hdr.msg_name = &names[n];
            msgs[n].msg_hdr.msg_iov = &iov[n];
            msgs[n].msg_hdr.msg_iovlen = 1;
            msgs[n].msg_hdr.msg_control = NULL;
            msgs[n].msg_hdr.msg_controllen = 0;
            msgs[n].msg_hdr.msg_flags = 0;
            seqs[n] = seq;
            indices[n] = index;
            n++;
        }
        int done = 0;
        while (done < n) {
            int r = sendmmsg(fd, msgs + done, (unsigned)(n - done), 0);
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                err = errno;
                break;
            }
            done += r;
        }
        for (int j = 0; j < done; j++)
            if (bump(sent, indices[j]) < 0) {
                for (int k = j; k < n; k++) /* not counted: forget them */
                    if (t->entries[seqs[k]].batch == batch)
                        Py_DECREF(forget(t, (uint16_t)seqs[k]));
                goto fail;
            }
        for (int j = done; j < n; j++) /* not sent */
            Py_DECREF(forget(t, (uint16_t)seqs[j]));
        total += done;
        pos += done;
    }
    return Py_BuildValue("(nin)", pos, err, total);
fail:
    return NULL;
}

/* drain(sock, offset, now, limit) -> (matched, errno)
 *
 * Reads up to `limit` queued packets. A packet's receive time is its kernel timestamp minus
 * `offset` (wall clock minus monotonic), unless that is not before `now`; without a
 * timestamp it is `now`. errno is 0 once the queue is empty, else the error that stopped the
 * reading (a queued error report: read on at the next readiness). */
static PyObject *
table_drain(Table *t, PyObject *const *args, Py_ssize_t nargs)
{
    if (!called(t, nargs, 4, "drain(sock, offset, now, limit)"))
        return NULL;
    int fd = PyObject_AsFileDescriptor(args[0]);
    if (fd < 0)
        return NULL;
    double offset = PyFloat_AsDouble(args[1]);
    double now = PyFloat_AsDouble(args[2]);
    Py_ssize_t limit = PyLong_AsSsize_t(args[3]);
    if (PyErr_Occurred())
        return NULL;
    Py_ssize_t read = 0, matched = 0;
    int err = 0, failed = 0;
    PyObject *exc_type = NULL, *exc_value = NULL, *exc_tb = NULL;
    while (read < limit) {
        unsigned want = limit - read < BURST ? (unsigned)(limit - read) : BURST;
        for (unsigned i = 0; i < want; i++) {
            struct msghdr *h = &t->rx_msgs[i].msg_hdr;
            h->msg_name = &t->rx_names[i];
            h->msg_namelen = sizeof(t->rx_names[i]);
            h->msg_iov = &t->rx_iov[i];
            h->msg_iovlen = 1;
            h->msg_control = t->rx_control[i];
            h->msg_controllen = CONTROL_BYTES;
            h->msg_flags = 0;
        }
        int r = recvmmsg(fd, t->rx_msgs, want, MSG_DONTWAIT, NULL);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                err = errno;
            break;
        }
        read += r;
        for (int i = 0; i < r; i++) {
            struct msghdr *h = &t->rx_msgs[i].msg_hdr;
            const unsigned char *source;
            struct sockaddr *name = (struct sockaddr *)&t->rx_names[i];
            if (name->sa_family != t->family)
                continue;
            if (t->family == AF_INET)
                source = (const unsigned char *)&((struct sockaddr_in *)name)->sin_addr;
            else
                source = (const unsigned char *)&t->rx_names[i].sin6_addr;
            double received = now;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS
                    && c->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
                    struct timespec ts;
                    memcpy(&ts, CMSG_DATA(c), sizeof(ts));
                    double at = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 - offset;
                    if (at < now)
                        received = at;
                    break;
                }
            }
            Py_ssize_t len = t->rx_msgs[i].msg_len;
            if (len > RX_BYTES)
                len = RX_BYTES;
            int m = match(t, source, t->rx_data[i], len, received);
            if (m < 0) {
                /* keep matching what was read; the first error is raised at the end */
                if (!failed) {
                    PyErr_Fetch(&exc_type, &exc_value, &exc_tb);
                    failed = 1;
                } else {
                    PyErr_Clear();
                }
            } else {
                matched += m;
            }
        }
        if ((unsigned)r < want)
            break; /* the queue is empty: no call just to hear EAGAIN */
    }
    if (failed) {
        PyErr_Restore(exc_type, exc_value, exc_tb);
        return NULL;
    }
    return Py_BuildValue("(ni)", matched, err);
}

static PyMethodDef table_methods[] = {
    {"register", (PyCFunction)(void (*)(void))table_register, METH_FASTCALL,
     "register(address, batch, index, sent_at) -> (seq, packet) | None"},
    {"release", (PyCFunction)(void (*)(void))table_release, METH_FASTCALL,
     "release(seq, batch) -> bool"},
    {"release_batch", (PyCFunction)table_release_batch, METH_O, "release_batch(batch) -> bool"},
    {"on_packet", (PyCFunction)(void (*)(void))table_on_packet, METH_FASTCALL,
     "on_packet(source, data, received_at) -> bool"},
    {"send_burst", (PyCFunction)(void (*)(void))table_send_burst, METH_FASTCALL,
     "send_burst(sock, batch, sent, targets, start, stop, monotonic) -> (next, errno, sent)"},
    {"drain", (PyCFunction)(void (*)(void))table_drain, METH_FASTCALL,
     "drain(sock, offset, now, limit) -> (matched, errno)"},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods table_as_sequence = {
    .sq_length = (lenfunc)table_len,
};

static PyTypeObject TableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "collectors.icmp._echo.EchoTable",
    .tp_doc = "The echo requests in flight on one socket (compiled; see packets.EchoTable).",
    .tp_basicsize = sizeof(Table),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)table_init,
    .tp_dealloc = (destructor)table_dealloc,
    .tp_traverse = (traverseproc)table_traverse,
    .tp_clear = (inquiry)table_clear,
    .tp_methods = table_methods,
    .tp_as_sequence = &table_as_sequence,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "collectors.icmp._echo",
    "The compiled ICMP echo path (send_burst with sendmmsg, drain with recvmmsg).", -1, NULL,
};

PyMODINIT_FUNC
PyInit__echo(void)
{
    if (PyType_Ready(&TableType) < 0)
        return NULL;
    str_on_reply = PyUnicode_InternFromString("on_reply");
    if (str_on_reply == NULL)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&TableType);
    if (PyModule_AddObject(m, "EchoTable", (PyObject *)&TableType) < 0) {
        Py_DECREF(&TableType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
