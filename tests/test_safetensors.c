/* test_safetensors.c - save and load named tensors in the safetensors format
   (autograd.h, >>safetensors): C round trips (file and memory), about 40 corrupt or mismatched
   files that must fail cleanly (and every truncation of a small file), and, when
   /usr/bin/python3 with torch is installed, a round trip through PyTorch (the Python
   side parses the format with struct + json; the safetensors package is not needed).

   cc -std=c99 -O2 -Wall -Wextra -pedantic -I. tests/test_safetensors.c -o build/test_safetensors -lm
   (run from the repository root) */
#include "autograd.h"
#include "harness.h"
#include <stdlib.h>
#include <time.h>

static char tmp_a[256], tmp_b[256], tmp_py[256];

static ag_tensor *filled(ag_ctx *ctx, ag_dtype dt, int ndim, const int64_t *shape, double (*f)(int64_t)) {
    ag_tensor *t = ag_persistent(ctx, dt, ndim, shape, NULL);
    int64_t i;
    for (i = 0; i < ag_numel(t); i++) {
        if (dt == AG_F32) ((float *)ag_data(t))[i] = (float)f(i); else ((double *)ag_data(t))[i] = f(i);   /* F32 or F64 */
    }
    return t;
}
static double f_w(int64_t i) { return (double)i * 0.5 - 1; }
static double f_d(int64_t i) { return 1.0 / (double)(i + 1); }
static double f_s(int64_t i) { (void)i; return 3.25; }
static double f_x(int64_t i) { return (double)i / 3; }
static double f_y(int64_t i) { return sin((double)i); }

/* every element of t (row-major, any strides) equals f(i), converted to t's dtype */
static bool equals(ag_tensor *t, double (*f)(int64_t)) {
    int64_t i, n = ag_numel(t);
    double *buf;
    bool ok = true;
    if (!t) return false;
    buf = (double *)malloc((size_t)(n ? n : 1) * sizeof(double));
    ag_copy_out(t, AG_F64, buf);
    for (i = 0; i < n; i++) {
        double want = ag_type(t) == AG_F32 ? (double)(float)f(i) : f(i);
        if (buf[i] != want) ok = false;
    }
    free(buf);
    return ok;
}

static const char *NAMES[6] = {"w", "d", "scalar", "empty", "wT", "odd \"name\"\\ \xc3\xa9\n"};

static void test_roundtrip(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    int64_t s23[2] = {2, 3}, s4[1] = {4}, s05[2] = {0, 5}, s32[2] = {3, 2};
    ag_tensor *T[6], *L[6], *base;
    unsigned char *buf;
    size_t need, need2;
    uint64_t hlen = 0;
    int i;
    T[0] = filled(ctx, AG_F32, 2, s23, f_w);
    T[1] = filled(ctx, AG_F64, 1, s4, f_d);
    T[2] = filled(ctx, AG_F32, 0, NULL, f_s);
    T[3] = filled(ctx, AG_F64, 2, s05, f_d);
    base = filled(ctx, AG_F32, 2, s32, f_w);
    T[4] = ag_transpose(base, 0, 1);            /* non-contiguous [2, 3] */
    T[5] = filled(ctx, AG_F64, 1, s4, f_w);
    CHECK(!ag_is_contiguous(T[4]), "the view is strided");
    /* memory: size query, then the bytes */
    need = ag_save_safetensors_mem(ctx, NULL, 0, 6, NAMES, T);
    CHECK(need > 8 && !ag_error(ctx), "size query: %zu", need);
    buf = (unsigned char *)malloc(need + 16);
    memset(buf, 0xAB, need + 16);
    CHECK(ag_save_safetensors_mem(ctx, buf, need - 1, 6, NAMES, T) == need && buf[0] == 0xAB, "too small a buffer is not written");
    need2 = ag_save_safetensors_mem(ctx, buf, need + 16, 6, NAMES, T);
    CHECK(need2 == need && buf[need] == 0xAB, "wrote %zu of %zu bytes", need2, need);
    for (i = 7; i >= 0; i--) hlen = (hlen << 8) | buf[i];
    CHECK(hlen % 8 == 0 && buf[8] == '{' && (buf[8 + hlen - 1] == ' ' || buf[8 + hlen - 1] == '}'), "header size %llu padded to 8", (unsigned long long)hlen);
    CHECK(need == 8 + hlen + 6 * 4 + 4 * 8 + 4 + 0 + 6 * 4 + 4 * 8, "file size %zu", need);
    for (i = 0; i < 6; i++) L[i] = NULL;
    CHECK(ag_load_safetensors_mem(ctx, buf, need, 6, NAMES, L) == 0, "load: %s", ag_error(ctx) ? ag_error(ctx) : "");
    CHECK(equals(L[0], f_w) && ag_type(L[0]) == AG_F32 && ag_ndim(L[0]) == 2 && ag_dim(L[0], 1) == 3, "w");
    CHECK(equals(L[1], f_d) && ag_type(L[1]) == AG_F64, "d");
    CHECK(L[2] && ag_ndim(L[2]) == 0 && ag_item(L[2]) == 3.25, "0-d");
    CHECK(L[3] && ag_numel(L[3]) == 0 && ag_dim(L[3], 1) == 5, "empty");
    {   /* the transposed view was written in row-major order of the view */
        float want[6];
        ag_copy_out(T[4], AG_F32, want);
        CHECK(L[4] && !memcmp(ag_data(L[4]), want, sizeof want), "strided save");
    }
    CHECK(equals(L[5], f_w), "escaped name");
    /* into existing tensors, including a strided one */
    {
        ag_tensor *E[2];
        const char *nm[2] = {"w", "wT"};
        ag_tensor *dst = ag_persistent(ctx, AG_F32, 2, s32, NULL);
        E[0] = ag_persistent(ctx, AG_F32, 2, s23, NULL);
        E[1] = ag_transpose(dst, 0, 1);
        CHECK(ag_load_safetensors_mem(ctx, buf, need, 2, nm, E) == 0 && equals(E[0], f_w) && equals(dst, f_w), "load into existing: %s",
              ag_error(ctx) ? ag_error(ctx) : "");
    }
    /* the same through a file */
    CHECK(ag_save_safetensors(ctx, tmp_a, 6, NAMES, T) == 0, "save: %s", ag_error(ctx) ? ag_error(ctx) : "");
    {
        FILE *f = fopen(tmp_a, "rb");
        unsigned char *fb = (unsigned char *)malloc(need + 1);
        size_t got = f ? fread(fb, 1, need + 1, f) : 0;
        if (f) fclose(f);
        CHECK(got == need && !memcmp(fb, buf, need), "the file and the memory image agree (%zu bytes)", got);
        free(fb);
    }
    for (i = 0; i < 6; i++) L[i] = NULL;
    CHECK(ag_load_safetensors(ctx, tmp_a, 6, NAMES, L) == 0 && equals(L[0], f_w) && equals(L[1], f_d) && equals(L[5], f_w),
          "file load: %s", ag_error(ctx) ? ag_error(ctx) : "");
    CHECK(ag_load_safetensors(ctx, tmp_a, 0, NULL, NULL) == 0, "validate only");
    /* every truncation fails cleanly */
    {
        size_t len;
        int fails = 0;
        for (len = 0; len < need; len++) {
            if (ag_load_safetensors_mem(ctx, buf, len, 0, NULL, NULL) == -1 && ag_error(ctx)) fails++;
            ag_clear_error(ctx);
        }
        CHECK(fails == (int)need, "%d of %zu truncations rejected", fails, need);
    }
    /* save errors */
    {
        const char *dup[2] = {"a", "a"}, *meta[1] = {"__metadata__"};
        ag_tensor *two[2];
        two[0] = T[0]; two[1] = T[1];
        CHECK(ag_save_safetensors_mem(ctx, NULL, 0, 2, dup, two) == 0 && strstr(ag_error(ctx), "twice"), "duplicate names");
        ag_clear_error(ctx);
        CHECK(ag_save_safetensors(ctx, tmp_a, 1, meta, two) == -1 && strstr(ag_error(ctx), "reserved"), "reserved name");
        ag_clear_error(ctx);
        CHECK(ag_save_safetensors(ctx, "/nonexistent-dir/x.safetensors", 1, dup, two) == -1 && strstr(ag_error(ctx), "cannot open"), "bad path");
        ag_clear_error(ctx);
        CHECK(ag_load_safetensors(ctx, "/nonexistent-dir/x.safetensors", 0, NULL, NULL) == -1 && strstr(ag_error(ctx), "cannot open"), "missing file");
        ag_clear_error(ctx);
    }
    free(buf);
    ag_ctx_free(ctx);
}

/* a file from a header text and data_len zero bytes; hlen_override != 0 replaces the size field */
static size_t make(unsigned char *out, const char *header, size_t data_len, uint64_t hlen_override) {
    size_t h = strlen(header), i;
    uint64_t hl = hlen_override ? hlen_override : h;
    for (i = 0; i < 8; i++) out[i] = (unsigned char)(hl >> (8 * i));
    memcpy(out + 8, header, h);
    memset(out + 8 + h, 0, data_len);
    return 8 + h + data_len;
}

static void test_corrupt(void) {
    static const struct { const char *header; size_t data; uint64_t hlen; const char *word; } bad[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, 0, "expected ','"},       /* unclosed */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},}", 8, 0, "string"},        /* trailing comma */
        {"{'a':{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "string"},           /* single quotes */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, 0, "integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, 0, "integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}}", 8, 0, "leading zero"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2e0],\"data_offsets\":[0,8]}}", 8, 0, "integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, 0, "past the end"},   /* offsets out of range */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, 0, "overlap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, 0, "gap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, 0, "cover"},          /* data not all used */
        {"{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "unknown dtype"},
        {"{\"a\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "unknown dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, 0, "span"},            /* shape/offsets mismatch */
        {"{\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "span"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, 0, "end before"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, (uint64_t)-1, "limit"},   /* huge header size */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 200, "truncated"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, 0, "twice"},
        {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "repeated"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8, 0, "unknown"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, 0, "needs"},
        {"{\"a\":{}}", 0, 0, "needs"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[[2]],\"data_offsets\":[0,8]}}", 8, 0, "integer"},
        {"{\"a\":{\"dtype\":null,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "string"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,16]}}", 8, 0, "']'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}x", 8, 0, "trailing"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}{}", 8, 0, "trailing"},
        {"{\"a\x01\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "control"},
        {"{\"a\\x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "escape"},
        {"{\"a\\ud800\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "surrogate"},
        {"{\"a\\u0000\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "u0000"},
        {"{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "UTF-8"},
        {"{\"a\xc0\xaf\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "UTF-8"},        /* overlong */
        {"{\"__metadata__\":{\"k\":1},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "string"},
        {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, 0, "two __metadata__"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}", 8, 0, "too large"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8, 0, "too many"},
        {"[]", 0, 0, "expected '{'"},
        {"{}", 0, 1, "too short"},
        {"\"a\"", 0, 0, "expected '{'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 3, "unterminated"},       /* header cut mid-way */
    };
    static unsigned char file[1024];
    ag_ctx *ctx = ag_ctx_new(NULL);
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len = make(file, bad[i].header, bad[i].data, bad[i].hlen);
        int rc = ag_load_safetensors_mem(ctx, file, len, 0, NULL, NULL);
        CHECK(rc == -1 && ag_error(ctx) && strstr(ag_error(ctx), bad[i].word), "corrupt file %d (%s) gave %d: %s",
              (int)i, bad[i].header, rc, ag_error(ctx) ? ag_error(ctx) : "no error");
        ag_clear_error(ctx);
    }
    /* valid oddities: whitespace, escapes, metadata, other dtypes, zero-size tensors, any data order */
    {
        const char *ok = " {\"__metadata__\" : {\"format\":\"pt\", \"k\\u00e9\":\"\\ud83d\\ude00\"},\n"
                         "\t\"b\":{\"data_offsets\":[8,16],\"shape\":[2],\"dtype\":\"F32\"},"
                         "\"z\":{\"dtype\":\"F64\",\"shape\":[0,3],\"data_offsets\":[8,8]},"
                         "\"a\\\"\\n\":{\"dtype\":\"I16\",\"shape\":[2,2],\"data_offsets\":[0,8]}}  ";
        size_t len = make(file, ok, 16, 0);
        const char *nm[2] = {"b", "z"}, *bfn[1] = {"a\"\n"}, *missing[2] = {"b", "nope"};
        ag_tensor *L[2] = {NULL, NULL}, *E[2];
        int64_t s2[1] = {2}, s3[1] = {3};
        float two[2] = {7, 8};
        memcpy(file + len - 8, two, 8);
        CHECK(ag_load_safetensors_mem(ctx, file, len, 2, nm, L) == 0 && L[0] && ((float *)ag_data(L[0]))[1] == 8 && ag_numel(L[1]) == 0,
              "valid oddities: %s", ag_error(ctx) ? ag_error(ctx) : "");
        ag_clear_error(ctx);
        L[0] = NULL;
        CHECK(ag_load_safetensors_mem(ctx, file, len, 1, bfn, L) == -1 && strstr(ag_error(ctx), "I16"), "I16 requested: %s", ag_error(ctx));
        ag_clear_error(ctx);
        /* wrong dtype, wrong shape, missing name: clear errors, and nothing written */
        E[0] = ag_persistent(ctx, AG_F64, 1, s2, NULL);
        CHECK(ag_load_safetensors_mem(ctx, file, len, 1, nm, E) == -1 && strstr(ag_error(ctx), "F32 [2] in the file, the tensor is F64 [2]"),
              "dtype mismatch: %s", ag_error(ctx));
        ag_clear_error(ctx);
        E[0] = ag_persistent(ctx, AG_F32, 1, s3, NULL);
        CHECK(ag_load_safetensors_mem(ctx, file, len, 1, nm, E) == -1 && strstr(ag_error(ctx), "F32 [2] in the file, the tensor is F32 [3]"),
              "shape mismatch: %s", ag_error(ctx));
        ag_clear_error(ctx);
        E[0] = ag_persistent(ctx, AG_F32, 1, s2, NULL);
        E[1] = NULL;
        CHECK(ag_load_safetensors_mem(ctx, file, len, 2, missing, E) == -1 && strstr(ag_error(ctx), "no tensor named 'nope'") &&
              ((float *)ag_data(E[0]))[1] == 0 && E[1] == NULL, "missing name, nothing written: %s", ag_error(ctx));
        ag_clear_error(ctx);
        {   /* a zero-size tensor with a huge other dim validates, but does not load */
            const char *hz = "{\"h\":{\"dtype\":\"F32\",\"shape\":[0,9007199254740992],\"data_offsets\":[0,0]}}";
            const char *hn[1] = {"h"};
            ag_tensor *H[1] = {NULL};
            size_t hl = make(file, hz, 0, 0);
            CHECK(ag_load_safetensors_mem(ctx, file, hl, 0, NULL, NULL) == 0, "huge empty validates: %s", ag_error(ctx) ? ag_error(ctx) : "");
            CHECK(ag_load_safetensors_mem(ctx, file, hl, 1, hn, H) == -1 && strstr(ag_error(ctx), "too many") && !H[0], "huge empty refused");
            ag_clear_error(ctx);
        }
        CHECK(ag_load_safetensors_mem(ctx, NULL, 0, 0, NULL, NULL) == -1 && ag_load_safetensors_mem(ctx, file, len, 1, NULL, E) == -1,
              "NULL arguments");
        ag_clear_error(ctx);
    }
    ag_ctx_free(ctx);
}

/* C -> PyTorch -> C, when python3 and torch are there */
static const char *PY =
    "import json, struct, sys, math\n"
    "import torch\n"
    "DT = {'F32': torch.float32, 'F64': torch.float64, 'I64': torch.int64}\n"
    "def load(path):\n"
    "    b = open(path, 'rb').read()\n"
    "    n = struct.unpack('<Q', b[:8])[0]\n"
    "    h = json.loads(b[8:8 + n])\n"
    "    h.pop('__metadata__', None)\n"
    "    out = {}\n"
    "    for k, v in h.items():\n"
    "        s, e = v['data_offsets']\n"
    "        t = torch.frombuffer(bytearray(b[8 + n + s:8 + n + e]), dtype=DT[v['dtype']]) if e > s else torch.zeros(0, dtype=DT[v['dtype']])\n"
    "        out[k] = t.reshape(v['shape'])\n"
    "    return out\n"
    "def save(path, ts):\n"
    "    head, blobs, off = {}, [], 0\n"
    "    for k, t in ts:\n"
    "        raw = t.contiguous().numpy().tobytes()\n"
    "        head[k] = {'dtype': {torch.float32: 'F32', torch.float64: 'F64', torch.int64: 'I64'}[t.dtype], 'shape': list(t.shape), 'data_offsets': [off, off + len(raw)]}\n"
    "        blobs.append(raw); off += len(raw)\n"
    "    head['__metadata__'] = {'format': 'pt'}\n"
    "    hb = json.dumps(head).encode()\n"
    "    hb += b' ' * (-len(hb) % 8)\n"
    "    open(path, 'wb').write(struct.pack('<Q', len(hb)) + hb + b''.join(blobs))\n"
    "a = load(sys.argv[1])\n"
    "w = torch.arange(6, dtype=torch.float32).reshape(2, 3) * 0.5 - 1\n"
    "d = 1 / torch.arange(1, 5, dtype=torch.float64)\n"
    "ok = a['w'].dtype == torch.float32 and torch.equal(a['w'], w) and a['d'].dtype == torch.float64 and torch.equal(a['d'], d)\n"
    "ok = ok and a['scalar'].shape == () and a['scalar'].item() == 3.25 and a['empty'].shape == (0, 5)\n"
    "ok = ok and torch.equal(a['wT'], (torch.arange(6, dtype=torch.float32) * 0.5 - 1).reshape(3, 2).t())\n"
    "ok = ok and torch.equal(a['odd \"name\"\\\\ \\u00e9\\n'], torch.arange(4, dtype=torch.float64) * 0.5 - 1)\n"
    "if not ok:\n"
    "    print('python: the C-written file did not match', a); sys.exit(1)\n"
    "x = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 3\n"
    "y = torch.sin(torch.arange(8, dtype=torch.float64)).reshape(2, 2, 2)\n"
    "save(sys.argv[2], [('idx', torch.tensor([1, 2, 3])), ('y', y), ('x', x.t().contiguous().t().contiguous())])\n"
    "print('python: read the C file, wrote', sys.argv[2])\n";

static void test_pytorch(void) {
    FILE *f;
    char cmd[1024];
    int rc;
    ag_ctx *ctx;
    if (system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
        printf("  (PyTorch round trip skipped: /usr/bin/python3 with torch not found; Debian: python3-torch)\n");
        return;
    }
    ctx = ag_ctx_new(NULL);
    {   /* the C side writes the same tensors as test_roundtrip */
        int64_t s23[2] = {2, 3}, s4[1] = {4}, s05[2] = {0, 5}, s32[2] = {3, 2};
        ag_tensor *T[6];
        T[0] = filled(ctx, AG_F32, 2, s23, f_w); T[1] = filled(ctx, AG_F64, 1, s4, f_d); T[2] = filled(ctx, AG_F32, 0, NULL, f_s);
        T[3] = filled(ctx, AG_F64, 2, s05, f_d); T[4] = ag_transpose(filled(ctx, AG_F32, 2, s32, f_w), 0, 1); T[5] = filled(ctx, AG_F64, 1, s4, f_w);
        CHECK(ag_save_safetensors(ctx, tmp_a, 6, NAMES, T) == 0, "save for python");
    }
    f = fopen(tmp_py, "w");
    CHECK(f != NULL, "write %s", tmp_py);
    if (!f) { ag_ctx_free(ctx); return; }
    fputs(PY, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s %s", tmp_py, tmp_a, tmp_b);
    rc = system(cmd);
    CHECK(rc == 0, "python side failed (%d)", rc);
    if (rc == 0) {
        const char *nm[3] = {"x", "y", "idx"};
        ag_tensor *L[3] = {NULL, NULL, NULL};
        CHECK(ag_load_safetensors(ctx, tmp_b, 2, nm, L) == 0, "load the PyTorch file: %s", ag_error(ctx) ? ag_error(ctx) : "");
        CHECK(L[0] && ag_type(L[0]) == AG_F32 && ag_dim(L[0], 0) == 3 && ag_dim(L[0], 1) == 4 && equals(L[0], f_x), "x from PyTorch");
        if (L[1]) {
            int64_t i;
            double err = 0;
            for (i = 0; i < 8; i++) err = fmax(err, fabs(((double *)ag_data(L[1]))[i] - f_y(i)));
            CHECK(ag_type(L[1]) == AG_F64 && ag_ndim(L[1]) == 3 && err < 1e-15, "y from PyTorch: err %g", err);
        } else CHECK(0, "y missing");
        ag_clear_error(ctx);
        L[0] = L[1] = L[2] = NULL;
        CHECK(ag_load_safetensors(ctx, tmp_b, 3, nm, L) == 0 && L[2] && ag_type(L[2]) == AG_I64 && ag_numel(L[2]) == 3 &&
              ((const int64_t *)ag_data(L[2]))[0] == 1 && ((const int64_t *)ag_data(L[2]))[2] == 3, "PyTorch's I64 tensor loads: %s",
              ag_error(ctx) ? ag_error(ctx) : "");
        printf("  PyTorch round trip: C -> torch -> C ok\n");
    }
    ag_ctx_free(ctx);
}


/* F16 and BF16: the C round trip (bits kept, NaN payloads too), a mismatched dtype refused, and
   PyTorch reading ours and writing its own (when /usr/bin/python3 with torch is there) */
static const char *PY16 =
    "import json, struct, sys\n"
    "import torch\n"
    "DT = {'F16': torch.float16, 'BF16': torch.bfloat16}\n"
    "b = open(sys.argv[1], 'rb').read()\n"
    "n = struct.unpack('<Q', b[:8])[0]\n"
    "h = json.loads(b[8:8 + n]); h.pop('__metadata__', None)\n"
    "a = {k: torch.frombuffer(bytearray(b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]]), dtype=torch.int16)"
    ".view(DT[v['dtype']]).reshape(v['shape']) for k, v in h.items()}\n"
    "d = 1 / torch.arange(1, 7, dtype=torch.float64)\n"
    "ok = a['h'].dtype == torch.float16 and torch.equal(a['h'], d.to(torch.float16).reshape(2, 3))\n"
    "ok = ok and a['b'].dtype == torch.bfloat16 and torch.equal(a['b'], d.to(torch.bfloat16))\n"
    "head, blobs, off = {}, [], 0\n"
    "for k, t in (('h', torch.linspace(-3, 3, 7).to(torch.float16)), ('b', torch.linspace(-3, 3, 7).to(torch.bfloat16))):\n"
    "    raw = t.view(torch.int16).numpy().tobytes()\n"
    "    head[k] = {'dtype': 'F16' if t.dtype == torch.float16 else 'BF16', 'shape': [7], 'data_offsets': [off, off + len(raw)]}\n"
    "    blobs.append(raw); off += len(raw)\n"
    "hb = json.dumps(head).encode(); hb += b' ' * (-len(hb) % 8)\n"
    "open(sys.argv[2], 'wb').write(struct.pack('<Q', len(hb)) + hb + b''.join(blobs))\n"
    "sys.exit(0 if ok else 1)\n";

static void test_half16(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    int64_t s23[2] = {2, 3}, s6 = 6, s2 = 2;
    uint16_t nan16[2] = { 0x7e01, 0xfd55 };
    const char *nm[3] = { "h", "b", "nan" };
    ag_tensor *T[3], *L[3] = { NULL, NULL, NULL }, *f32;
    unsigned char buf[1024];
    size_t len;
    T[0] = ag_to(filled(ctx, AG_F64, 2, s23, f_d), AG_F16);
    T[1] = ag_to(filled(ctx, AG_F64, 1, &s6, f_d), AG_BF16);
    T[2] = ag_from(ctx, AG_F16, 1, &s2, nan16);
    len = ag_save_safetensors_mem(ctx, buf, sizeof buf, 3, nm, T);
    CHECK(len > 0 && len <= sizeof buf, "save F16 and BF16: %s", ag_error(ctx) ? ag_error(ctx) : "");
    CHECK(len > 0 && strstr((const char *)buf + 8, "\"dtype\":\"F16\"") && strstr((const char *)buf + 8, "\"dtype\":\"BF16\""), "the header names F16 and BF16");
    CHECK(ag_load_safetensors_mem(ctx, buf, len, 3, nm, L) == 0, "load F16 and BF16: %s", ag_error(ctx) ? ag_error(ctx) : "");
    CHECK(L[0] && ag_type(L[0]) == AG_F16 && !memcmp(ag_data(L[0]), ag_data(T[0]), 12), "F16 round trip, bit for bit");
    CHECK(L[1] && ag_type(L[1]) == AG_BF16 && !memcmp(ag_data(L[1]), ag_data(T[1]), 12), "BF16 round trip, bit for bit");
    CHECK(L[2] && !memcmp(ag_data(L[2]), nan16, 4), "F16 NaN payloads survive the round trip");
    f32 = ag_persistent(ctx, AG_F32, 2, s23, NULL);
    CHECK(ag_load_safetensors_mem(ctx, buf, len, 1, nm, &f32) == -1 && strstr(ag_error(ctx), "'h' is F16 [2, 3] in the file, the tensor is F32 [2, 3]"),
          "loading F16 into an F32 tensor is refused: %s", ag_error(ctx));
    ag_clear_error(ctx);
    L[0] = ag_persistent(ctx, AG_F16, 2, s23, NULL);
    CHECK(ag_load_safetensors_mem(ctx, buf, len, 1, nm, L) == 0 && !memcmp(ag_data(L[0]), ag_data(T[0]), 12), "load into an existing F16 tensor");
    if (system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0) {
        FILE *f = fopen(tmp_py, "w");
        char cmd[1024];
        int rc;
        CHECK(ag_save_safetensors(ctx, tmp_a, 2, nm, T) == 0, "save F16/BF16 for python");
        if (f) { fputs(PY16, f); fclose(f); }
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s %s", tmp_py, tmp_a, tmp_b);
        rc = system(cmd);
        CHECK(rc == 0, "PyTorch reads our F16 and BF16 as its own conversions of the same numbers (%d)", rc);
        if (rc == 0) {
            ag_tensor *P[2] = { NULL, NULL };
            float lin[7] = { -3, -2, -1, 0, 1, 2, 3 };
            int64_t s7 = 7;
            ag_tensor *x = ag_from_f32(ctx, 1, &s7, lin);
            CHECK(ag_load_safetensors(ctx, tmp_b, 2, nm, P) == 0, "load PyTorch's F16/BF16 file: %s", ag_error(ctx) ? ag_error(ctx) : "");
            CHECK(P[0] && ag_type(P[0]) == AG_F16 && !memcmp(ag_data(P[0]), ag_data(ag_to(x, AG_F16)), 14), "PyTorch's F16 = ours");
            CHECK(P[1] && ag_type(P[1]) == AG_BF16 && !memcmp(ag_data(P[1]), ag_data(ag_to(x, AG_BF16)), 14), "PyTorch's BF16 = ours");
        }
    }
    ag_ctx_free(ctx);
}

int main(void) {
    unsigned long tag = (unsigned long)time(NULL) ^ (unsigned long)(size_t)&tag;
    snprintf(tmp_a, sizeof tmp_a, "/tmp/ag_test_st_%lx_a.safetensors", tag);
    snprintf(tmp_b, sizeof tmp_b, "/tmp/ag_test_st_%lx_b.safetensors", tag);
    snprintf(tmp_py, sizeof tmp_py, "/tmp/ag_test_st_%lx.py", tag);
    test_roundtrip();
    test_corrupt();
    test_pytorch();
    test_half16();
    remove(tmp_a); remove(tmp_b); remove(tmp_py);
    return harness_finish("test_safetensors");
}
